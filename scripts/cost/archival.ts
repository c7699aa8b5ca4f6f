/**
 * The archive path: the forwarder from the table's stream to the archive queue, the archiver,
 * what it writes to the table, S3 and the completion topic, and the archive it leaves.
 */
import {
  ARCHIVE_RETRY_RATE,
  archiverSecondsAt,
  DAYS_PER_MONTH,
  FORWARDER_INVOCATIONS_PER_PREDICTION,
  forwarderSecondsAt,
  HOURS_PER_MONTH,
  LONG_POLL_SECONDS,
  MB_PER_GB,
  MEASURED,
  OUTPUT_FILE_MB,
  OUTPUT_FILES_PER_PREDICTION,
  QUEUE_DELETES_PER_PREDICTION,
  QUEUE_HOLDS_PER_PREDICTION,
  QUEUE_RECEIVES_PER_PREDICTION,
  QUEUE_REQUESTS_PER_RETRY,
  QUEUE_SENDS_PER_PREDICTION,
  SECONDS_PER_MONTH,
  STREAM_POLLS_PER_SHARD_PER_SECOND,
  STREAM_SHARDS,
} from './assumptions';
import type { Flow } from './flow';
import { count, num, price } from './format';
import {
  DYNAMODB_PER_MILLION_RRU,
  DYNAMODB_PER_MILLION_WRU,
  DYNAMODB_STREAMS_LAMBDA_PER_100K_READS,
  LAMBDA_PER_MILLION_REQUESTS,
  lambdaPricePerGbSecond,
  S3_PER_THOUSAND_GETS,
  S3_PER_THOUSAND_PUTS,
  S3_STANDARD_PER_GB_MONTH,
  SNS_PER_MILLION_PUBLISHES,
  SQS_PER_MILLION_REQUESTS,
} from './prices';
import { fixedMonthly, perMillionWebhooks, row, type CostRow } from './rows';

/**
 * From the stream to the archive queue. The event source's filtering is free: only the record
 * that made a prediction terminal invokes the forwarder.
 */
function queueingPerMillionWebhooks({ settings, predictions }: Flow): CostRow[] {
  const invocations = predictions * FORWARDER_INVOCATIONS_PER_PREDICTION;
  const forwarderGb = settings.forwarder.memoryMb / MB_PER_GB;
  const { seconds: forwarderSeconds } = forwarderSecondsAt(settings.forwarder.memoryMb);
  const forwarderGbSeconds = invocations * forwarderSeconds * forwarderGb;
  const gbSecondPrice = lambdaPricePerGbSecond('forwarder', settings.forwarder.architecture);
  const queueRequestsPerPrediction =
    QUEUE_SENDS_PER_PREDICTION +
    QUEUE_RECEIVES_PER_PREDICTION +
    QUEUE_DELETES_PER_PREDICTION +
    QUEUE_HOLDS_PER_PREDICTION +
    ARCHIVE_RETRY_RATE * QUEUE_REQUESTS_PER_RETRY;
  const queueRequests = predictions * queueRequestsPerPrediction;
  return [
    perMillionWebhooks(
      'forwarder-requests',
      'Lambda',
      'forwarder requests (one per finished prediction: the records past the filter)',
      `${count(invocations)} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
      (invocations * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
    ),
    perMillionWebhooks(
      'forwarder-compute',
      'Lambda',
      `forwarder compute (${settings.forwarder.memoryMb} MB, ${settings.forwarder.architecture})`,
      `${count(invocations)} × ${num(forwarderSeconds, 4)} s × ${num(forwarderGb, 3)} GB = ${num(forwarderGbSeconds, 0)} GB-s × ${price(gbSecondPrice)}`,
      forwarderGbSeconds * gbSecondPrice,
    ),
    perMillionWebhooks(
      'queue-requests',
      'SQS',
      'archive queue: send, receive, hold and delete per prediction; change visibility and receive per retry',
      `${count(predictions)} × (${QUEUE_SENDS_PER_PREDICTION} send + ${QUEUE_RECEIVES_PER_PREDICTION} receive + ${QUEUE_HOLDS_PER_PREDICTION} hold + ${QUEUE_DELETES_PER_PREDICTION} delete + ${num(ARCHIVE_RETRY_RATE * 100)}% × ${QUEUE_REQUESTS_PER_RETRY} per retry) = ${count(queueRequests)} × ${price(SQS_PER_MILLION_REQUESTS)}/M`,
      (queueRequests * SQS_PER_MILLION_REQUESTS) / 1e6,
    ),
  ];
}

/** The archiver's invocations and what they write to the table. */
function archiverPerMillionWebhooks({ settings, predictions, archival, terminalItemKb }: Flow): CostRow[] {
  const gbSecondPrice = lambdaPricePerGbSecond('archiver', settings.archiver.architecture);
  const archiverGb = settings.archiver.memoryMb / MB_PER_GB;
  const { seconds } = archiverSecondsAt(settings.archiver.memoryMb);
  const archiverGbSeconds = predictions * seconds * archiverGb;
  const rows = [
    // Batches of several predictions only form under load; one invocation each is the upper bound.
    perMillionWebhooks(
      'archiver-requests',
      'Lambda',
      'archiver requests (one per prediction)',
      `${count(predictions)} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
      (predictions * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
    ),
    perMillionWebhooks(
      'archiver-compute',
      'Lambda',
      `archiver compute (${settings.archiver.memoryMb} MB, ${settings.archiver.architecture}; measured duration)`,
      `${count(predictions)} × ${num(seconds, 4)} s × ${num(archiverGb, 3)} GB = ${num(archiverGbSeconds, 0)} GB-s × ${price(gbSecondPrice)}`,
      archiverGbSeconds * gbSecondPrice,
    ),
    // UpdateItem is billed on the larger of the item before and after: the terminal item.
    perMillionWebhooks(
      'archiver-updates',
      'DynamoDB',
      `archiver UpdateItem ×${archival.dynamodbWrites} on the ${num(terminalItemKb, 1)} KB item (measured, the index included)`,
      `${count(predictions)} × ${archival.wru} WRU × ${price(DYNAMODB_PER_MILLION_WRU)}/M`,
      (predictions * archival.wru * DYNAMODB_PER_MILLION_WRU) / 1e6,
    ),
  ];
  if (archival.rru > 0) {
    rows.push(
      perMillionWebhooks(
        'archiver-payload-read',
        'DynamoDB',
        'archiver GetItem of the payload item (measured, strongly consistent)',
        `${count(predictions)} × ${num(archival.rru)} RRU × ${price(DYNAMODB_PER_MILLION_RRU)}/M`,
        (predictions * archival.rru * DYNAMODB_PER_MILLION_RRU) / 1e6,
      ),
    );
  }
  return rows;
}

/** What the archiver writes to and reads from S3 per prediction. */
function archiveRequestsPerMillionWebhooks({
  settings,
  predictions,
  spilled,
  archival,
  documentPuts,
  outputPutsPerFile,
}: Flow): CostRow[] {
  const outputPuts = OUTPUT_FILES_PER_PREDICTION * outputPutsPerFile;
  const puts = outputPuts + documentPuts;
  const documents = settings.predictionDocument
    ? `${documentPuts} documents (manifest.json, measured; prediction.json, with predictionDocument)`
    : `${documentPuts} document${documentPuts === 1 ? '' : 's'} (measured: manifest.json, the payload in it)`;
  const rows = [
    perMillionWebhooks(
      'archiver-puts',
      'S3',
      `PUTs: ${OUTPUT_FILES_PER_PREDICTION} outputs (${outputPutsPerFile} each) + ${documents}`,
      `${count(predictions)} × ${puts} PUT × ${price(S3_PER_THOUSAND_PUTS)}/1,000`,
      (predictions * puts * S3_PER_THOUSAND_PUTS) / 1000,
    ),
  ];
  // Only prediction.json, written before the outputs, is written again by a retried archival.
  if (settings.archiveVersioning && settings.predictionDocument)
    rows.push(noncurrentVersions(predictions, settings.archiveVersioning.noncurrentDays));
  if (spilled) {
    rows.push(
      perMillionWebhooks(
        'archiver-spill-gets',
        'S3',
        'GET of spilled terminal payloads (measured)',
        `${count(predictions)} × ${archival.s3Gets} GET × ${price(S3_PER_THOUSAND_GETS)}/1,000`,
        (predictions * archival.s3Gets * S3_PER_THOUSAND_GETS) / 1000,
      ),
    );
  }
  return rows;
}

/**
 * Keys are deterministic: with `predictionDocument`, a retried archival overwrites prediction.json,
 * and versioning keeps what it overwrote. The manifest is written once, last; outputs an earlier try
 * stored are listed, not fetched and written again.
 */
function noncurrentVersions(predictions: number, days: number | undefined): CostRow {
  const payloadKb = MEASURED.webhooks.terminalInline.bodyBytes / 1024;
  const overwrittenGb = (predictions * ARCHIVE_RETRY_RATE * payloadKb) / (1024 * 1024);
  const overwritten = `${count(predictions)} × ${num(ARCHIVE_RETRY_RATE * 100)}% × ${num(payloadKb)} KB ÷ ${count(1024 * 1024)} KB/GB = ${num(overwrittenGb, 3)} GB`;
  const months = days === undefined ? 1 : days / DAYS_PER_MONTH;
  return perMillionWebhooks(
    'archive-noncurrent-versions',
    'S3',
    days === undefined
      ? 'noncurrent versions: prediction.json overwritten by retried archivals, kept forever (each month)'
      : `noncurrent versions: prediction.json overwritten by retried archivals, kept ${days} days`,
    days === undefined
      ? `${overwritten} × ${price(S3_STANDARD_PER_GB_MONTH)}/GB-month`
      : `${overwritten} × ${num(months)} months × ${price(S3_STANDARD_PER_GB_MONTH)}/GB-month`,
    overwrittenGb * months * S3_STANDARD_PER_GB_MONTH,
  );
}

function completionPerMillionWebhooks({ predictions, archival }: Flow): CostRow[] {
  return [
    perMillionWebhooks(
      'completion-publishes',
      'SNS',
      'completion messages (under 64 KB; measured: 1 publish)',
      `${count(predictions)} × ${archival.snsPublishes} × ${price(SNS_PER_MILLION_PUBLISHES)}/M`,
      (predictions * archival.snsPublishes * SNS_PER_MILLION_PUBLISHES) / 1e6,
    ),
  ];
}

export function archivalPerMillionWebhooks(flow: Flow): CostRow[] {
  return [
    ...queueingPerMillionWebhooks(flow),
    ...archiverPerMillionWebhooks(flow),
    ...archiveRequestsPerMillionWebhooks(flow),
    ...completionPerMillionWebhooks(flow),
  ];
}

/**
 * What the archive path costs while idle: the forwarder's event source polling the stream (free:
 * a Lambda function's reads), the archiver's polling the queue.
 */
export function archivalMonthly({ idlePollers }: Flow): CostRow[] {
  const streamReads = STREAM_SHARDS * STREAM_POLLS_PER_SHARD_PER_SECOND * SECONDS_PER_MONTH;
  const pollsPerHour = 3600 / LONG_POLL_SECONDS;
  const idlePolls = idlePollers * HOURS_PER_MONTH * pollsPerHour;
  return [
    fixedMonthly(
      'stream-reads',
      'DynamoDB Streams',
      `GetRecords by the forwarder's event source, ${STREAM_SHARDS} shards polled ${STREAM_POLLS_PER_SHARD_PER_SECOND} times a second (free: a Lambda function's reads)`,
      `${STREAM_SHARDS} shards × ${STREAM_POLLS_PER_SHARD_PER_SECOND}/s × ${count(SECONDS_PER_MONTH)} s = ${count(streamReads)} × ${price(DYNAMODB_STREAMS_LAMBDA_PER_100K_READS)}/100,000`,
      (streamReads * DYNAMODB_STREAMS_LAMBDA_PER_100K_READS) / 100_000,
    ),
    fixedMonthly(
      'queue-idle-polls',
      'SQS',
      `long polls of the archive queue by the archiver's event source (${idlePollers} pollers, ${LONG_POLL_SECONDS} s each)`,
      `${idlePollers} pollers × ${HOURS_PER_MONTH} h × ${num(pollsPerHour)}/h = ${count(idlePolls)} × ${price(SQS_PER_MILLION_REQUESTS)}/M`,
      (idlePolls * SQS_PER_MILLION_REQUESTS) / 1e6,
    ),
  ];
}

/** The outputs of a million predictions, kept a month: what the archive grows by. */
export function archiveStorage(): CostRow[] {
  const storedPredictions = 1_000_000;
  const storedMb = storedPredictions * OUTPUT_FILES_PER_PREDICTION * OUTPUT_FILE_MB;
  const storedGb = storedMb / MB_PER_GB;
  return [
    row(
      'output-storage',
      'storage',
      'S3',
      'S3 Standard, outputs of 1,000,000 predictions, per month',
      `${count(storedPredictions)} × ${OUTPUT_FILES_PER_PREDICTION} × ${OUTPUT_FILE_MB} MB ÷ ${count(MB_PER_GB)} MB/GB = ${num(storedGb)} GB × ${price(S3_STANDARD_PER_GB_MONTH)}/GB-month`,
      storedGb * S3_STANDARD_PER_GB_MONTH,
    ),
  ];
}
