/**
 * What the estimate assumes and does not read from the template: the traffic (stated here, each
 * with its reason) and the requests, write units and log bytes measured per webhook and per
 * archival (`npm run bench -- units` writes docs/measured-units.json).
 */
import MEASURED_DURATIONS from '../../docs/measured-durations.json';
import MEASURED_UNITS from '../../docs/measured-units.json';

/** Measured by `npm run bench -- units`: local mode's handlers on DynamoDB Local, asked for consumed capacity. */
export const MEASURED = MEASURED_UNITS;

export const WEBHOOKS = 1_000_000;
/** start, 4 logs/output, completed */
export const WEBHOOKS_PER_PREDICTION = 6;
export const OUTPUT_FILES_PER_PREDICTION = 3;
export const OUTPUT_FILE_MB = 2;
/** Measured by `npm run bench -- duration`: an archival of OUTPUT_FILES_PER_PREDICTION × OUTPUT_FILE_MB, warm, at several memory sizes. */
export const MEASURED_DURATION_FIGURES = MEASURED_DURATIONS;

export interface MeasuredSeconds {
  readonly seconds: number;
  /** The memory size the figure was measured at: `memoryMb`'s, or the nearest one measured. */
  readonly measuredAtMb: number;
}

/** The mean billed seconds per invocation at `memoryMb`, from a table of measured means by memory size. */
function secondsAt(measured: Record<string, number>, memoryMb: number): MeasuredSeconds {
  const sizes = Object.keys(measured).map(Number);
  const nearest = sizes.reduce((best, size) => (Math.abs(size - memoryMb) < Math.abs(best - memoryMb) ? size : best));
  return { seconds: measured[String(nearest)] / 1000, measuredAtMb: nearest };
}

/** The archiver's billed seconds per prediction (one per invocation at this traffic). */
export const archiverSecondsAt = (memoryMb: number): MeasuredSeconds => secondsAt(MEASURED_DURATIONS.archiverMs, memoryMb);

/** The forwarder's billed seconds per invocation (one finished prediction each at this traffic). */
export const forwarderSecondsAt = (memoryMb: number): MeasuredSeconds => secondsAt(MEASURED_DURATIONS.forwarderMs, memoryMb);

/** The verifier's billed seconds per webhook, averaged over a prediction's webhooks. */
export const verifierSecondsAt = (memoryMb: number): MeasuredSeconds => secondsAt(MEASURED_DURATIONS.verifierMs, memoryMb);
/**
 * https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html: SNS reuses a data key for up
 * to 5 minutes and makes 2 KMS requests per reuse period per publishing principal (here the
 * archiver's role), whatever the number of publishes: R = B / D × 2P per topic.
 */
export const SNS_DATA_KEY_REUSE_SECONDS = 300;
export const SNS_KMS_REQUESTS_PER_REUSE_PERIOD = 2;
export const COMPLETION_TOPIC_PUBLISHERS = 1;
/**
 * Forwarder invocations and SendMessageBatch calls per prediction. Up to 10 records share one
 * invocation and one call, but at this traffic (a finished prediction every few seconds) a batch
 * seldom holds two: 1 is the upper bound, 1/10 the floor with full batches.
 */
export const FORWARDER_INVOCATIONS_PER_PREDICTION = 1;
export const QUEUE_SENDS_PER_PREDICTION = 1;
/** Each message ends one poller's long poll early; the poller's next poll is counted with the idle ones. */
export const QUEUE_RECEIVES_PER_PREDICTION = 1;
/** One DeleteMessageBatch per invocation; one prediction per invocation at this traffic. */
export const QUEUE_DELETES_PER_PREDICTION = 1;
/** The archiver holds its batch a minute and a half at a time (one ChangeMessageVisibilityBatch per invocation), so a crash hands it back soon. */
export const QUEUE_HOLDS_PER_PREDICTION = 1;
/** Predictions archived on a second try; each retry costs a ChangeMessageVisibility and a ReceiveMessage. */
export const ARCHIVE_RETRY_RATE = 0.01;
export const QUEUE_REQUESTS_PER_RETRY = 2;
/**
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: Lambda long-polls an idle
 * queue with five concurrent pollers and may drop to two, except when a maximum concurrency is set.
 */
export const IDLE_QUEUE_POLLERS = 5;
export const IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY = 2;
/** SQS's longest long poll; assumed for Lambda's pollers. */
export const LONG_POLL_SECONDS = 20;
/** A new on-demand table's stream; more shards come with more partitions. */
export const STREAM_SHARDS = 4;
/** Lambda's documented rate for DynamoDB streams: 4 GetRecords a second per shard. */
export const STREAM_POLLS_PER_SHARD_PER_SECOND = 4;
export const WARM_VERIFIERS = 10;
/**
 * Lambda's own records per invocation in the JSON log format (start, runtimeDone, report), with
 * typical values: an upper bound, as Lambda may write fewer. Counted beside what the handlers log
 * (measured) and the API's access log line (its format, from the template, with ACCESS_LOG_SAMPLE).
 */
const SAMPLE_REQUEST_ID = '6f7f0961-7a1b-4d3e-9a2c-0b8d5a4e3c21';
export const LAMBDA_SYSTEM_RECORDS: readonly string[] = [
  `{"time":"2026-11-30T13:53:15.123Z","type":"platform.start","record":{"requestId":"${SAMPLE_REQUEST_ID}","version":"$LATEST"}}`,
  `{"time":"2026-11-30T13:53:15.161Z","type":"platform.runtimeDone","record":{"requestId":"${SAMPLE_REQUEST_ID}","status":"success","metrics":{"durationMs":37.52,"producedBytes":51}}}`,
  `{"time":"2026-11-30T13:53:15.162Z","type":"platform.report","record":{"requestId":"${SAMPLE_REQUEST_ID}","metrics":{"durationMs":37.52,"billedDurationMs":38,"memorySizeMB":256,"maxMemoryUsedMB":92},"status":"success"}}`,
];
/**
 * The forwarder's one line per invocation at INFO (with `verboseLogs`; otherwise it logs only what
 * goes wrong), as its handler prints it for one prediction, with a 64-character function name,
 * CloudFormation's longest.
 */
const SAMPLE_FUNCTION_NAME = 'ReplicateWebhooksStack-HooksArchiveForwarder298D451A-AbCdEfGhIjK';
export const FORWARDER_LOG_LINE = `{"level":"INFO","message":"archive requests queued","timestamp":"2026-11-30T13:53:15.140Z","service":"replicate-webhooks","cold_start":false,"function_arn":"arn:aws:lambda:us-east-1:123456789012:function:${SAMPLE_FUNCTION_NAME}","function_memory_size":"128","function_name":"${SAMPLE_FUNCTION_NAME}","function_request_id":"${SAMPLE_REQUEST_ID}","sampling_rate":0,"predictionIds":["ufawqhfynnddngldkgtslldrkq"]}`;
/** Typical values of the access log's variables (an HTTP API's request id is 16 characters). */
export const ACCESS_LOG_SAMPLE: Readonly<Record<string, string>> = {
  'context.requestId': 'Jc6pDiLsIAMEV1A=',
  'context.identity.sourceIp': '34.201.120.27',
  'context.requestTime': '30/Nov/2026:13:53:15 +0000',
  'context.status': '200',
  'context.responseLength': '51',
  'context.responseLatency': '41',
  'context.integrationStatus': '200',
  'context.integrationLatency': '38',
  'context.integrationErrorMessage': '-',
};
/** Series with a `reason` dimension seen in a month (e.g. bad_signature, timestamp_out_of_tolerance, http_error). */
export const REASON_METRIC_SERIES = 3;
/** Control Tower's CT.CLOUDWATCH.PR.2: log groups kept at least a year (the README's strict props). */
export const STRICT_LOG_RETENTION_DAYS = 365;
/** The reconciler's run: a few pages of Replicate's list, a few look-ups, the stuck-archival query. */
export const RECONCILER_SECONDS_PER_RUN = 2;
/** Secrets read per run: the API token and the signing secret (compared with Replicate's key). */
export const RECONCILER_SECRET_READS_PER_RUN = 2;
/** Query of the archive-pending index per run (sparse: nearly always empty, one read unit's minimum). */
export const RECONCILER_INDEX_QUERIES_PER_RUN = 1;
export const RECONCILER_INDEX_RRU_PER_QUERY = 0.5;
/** The prediction items it looks up (BatchGetItem, strongly consistent) are at most 4 KB: one read unit each. */
export const RECONCILER_RRU_PER_LOOKUP = 1;
/** AWS prices a month as 730 hours. */
export const HOURS_PER_MONTH = 730;

export const MB_PER_GB = 1024;
export const KB_PER_GB = 1024 * 1024;
export const MIB = 1024 * 1024;
export const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
export const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;
