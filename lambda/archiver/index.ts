/**
 * Archiver: driven by the state table's stream, filtered to predictions that became terminal.
 * For each: copy every output file into S3 before Replicate deletes it, write prediction.json
 * and manifest.json, mark the record archived, and announce it once on SNS.
 * Failures: an outage of S3, SNS or DynamoDB is waited out here (with backoff, for minutes);
 * beyond that, a partial batch response has the stream retry the record; on the last attempt
 * whatever still fails is recorded and announced, and the record goes to the failure queue.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CopyObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { manifestKey, predictionDocumentKey } from '../shared/archive-layout';
import {
  buildCompletionMessage,
  objectLocation,
  type ArchiveFailure,
  type ArchiveManifest,
  type ArchivedFile,
} from '../shared/completion-message';
import { METRIC } from '../shared/metrics';
import { discoverOutputs } from '../shared/outputs';
import { parsePrediction, type Prediction } from '../shared/prediction';
import { createTelemetry, MetricUnit } from '../telemetry';
import { archiveOutputs } from './archive-outputs';
import { readArchiverConfig } from './config';
import { ArchiveProgressStore } from './progress';
import { retryTransient } from './retry';
import { becameTerminal, type TerminalRecord } from './stream-record';

const config = readArchiverConfig();
const { logger, metrics, countReason } = createTelemetry();
const s3 = new S3Client({});
const sns = new SNSClient({});
const progress = new ArchiveProgressStore(new DynamoDBClient({}), config.tableName);

// Without a Lambda context (local mode), give a batch the same budget as the default timeout.
const DEFAULT_BUDGET_MS = 10 * 60 * 1000;
const SAFETY_MARGIN_MS = 20_000;

/** The record is to be retried: some files failed transiently and attempts remain. */
class RetryLater extends Error {
  constructor(readonly failures: readonly ArchiveFailure[]) {
    super(`${failures.length} output(s) failed transiently; retrying through the stream`);
    this.name = 'RetryLater';
  }
}

/** One I/O step of one record, retried through an outage until the record's deadline. */
type Io = <T>(operation: () => Promise<T>) => Promise<T>;

export const handler = async (event: DynamoDBStreamEvent, context?: Context): Promise<DynamoDBBatchResponse> => {
  const deadline = Date.now() + (context?.getRemainingTimeInMillis() ?? DEFAULT_BUDGET_MS) - SAFETY_MARGIN_MS;
  metrics.addMetric(METRIC.archiverRecords, MetricUnit.Count, event.Records.length);
  try {
    return await archiveRecords(event.Records, deadline);
  } finally {
    metrics.publishStoredMetrics();
  }
};

async function archiveRecords(records: readonly DynamoDBRecord[], deadline: number): Promise<DynamoDBBatchResponse> {
  for (const record of records) {
    const predictionId = record.dynamodb?.NewImage?.predictionId?.S;
    const retryUntil = Math.min(deadline, Date.now() + config.outageWindowMs);
    const io: Io = (operation) =>
      retryTransient(operation, {
        deadline: retryUntil,
        baseDelayMs: config.retryBaseDelayMs,
        onRetry: (error, delayMs) =>
          logger.warn('dependency failed; retrying', { predictionId, error: (error as Error)?.name, delayMs }),
      });
    try {
      await archiveRecord(record, io, retryUntil);
    } catch (error) {
      if ((error as Error)?.name === 'RetryLater') {
        logger.warn('archival will be retried', { predictionId, failures: (error as RetryLater).failures });
      } else {
        logger.error('archival failed', { predictionId, error: error as Error });
      }
      // The stream retries from this record; those after it have not been touched.
      return { batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }] };
    }
  }
  return { batchItemFailures: [] };
}

async function archiveRecord(record: DynamoDBRecord, io: Io, retryUntil: number): Promise<void> {
  const terminal = becameTerminal(record);
  if (!terminal) {
    logger.debug('not a terminal transition; skipped', { eventName: record.eventName });
    return;
  }
  const { predictionId } = terminal;
  const state = await io(() => progress.beginAttempt(predictionId, new Date()));
  if (!state || state.notifiedAt) return; // record gone, or already announced: a redelivery
  const isFinalAttempt = state.attempt >= config.finalAttempt;
  const prediction = parsed(await io(() => loadPayload(terminal)), terminal);
  const manifestLocation = objectLocation(config.bucketName, manifestKey(config.archivePrefix, predictionId));

  let manifest: ArchiveManifest;
  if (state.archiveStatus !== 'pending') {
    manifest = await io(() => readManifest(manifestLocation.key));
  } else {
    // A retry after a crash between writing the manifest and marking the record: the archival is
    // complete (a manifest is only written then), and the outputs may have expired since.
    const written = state.attempt > 1 ? await io(() => readManifestIfPresent(manifestLocation.key)) : undefined;
    manifest = written
      ? await markArchived(predictionId, written, manifestLocation.key, io)
      : await archive(terminal, prediction, isFinalAttempt, io, retryUntil);
  }

  const { body, attributes } = buildCompletionMessage(prediction, manifest, manifestLocation);
  await io(() =>
    sns.send(
      new PublishCommand({
        TopicArn: config.completionTopicArn,
        Message: body,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
        ),
      }),
    ),
  );
  metrics.addMetric(METRIC.notificationsPublished, MetricUnit.Count, 1);
  await io(() => progress.markNotified(predictionId, new Date()));
  logger.info('prediction archived and announced', {
    predictionId,
    status: prediction.status,
    files: manifest.files.length,
    failures: manifest.failures.length,
    attempt: state.attempt,
  });
  if (isFinalAttempt && manifest.failures.some((failure) => failure.transient)) {
    // Announced, with its failures; failing the record now puts it in the failure queue for operators.
    throw new Error(`archived with ${manifest.failures.length} failure(s) after the last attempt`);
  }
}

async function archive(
  terminal: TerminalRecord,
  prediction: Prediction,
  isFinalAttempt: boolean,
  io: Io,
  retryUntil: number,
): Promise<ArchiveManifest> {
  const { predictionId } = terminal;
  const predictionKey = predictionDocumentKey(config.archivePrefix, predictionId);
  await io(() => writePredictionDocument(terminal, predictionKey));

  const results = await archiveOutputs(s3, predictionId, discoverOutputs(prediction.output), config, retryUntil);
  const files: ArchivedFile[] = [];
  const failures: ArchiveFailure[] = [];
  for (const result of results) {
    if (result.ok) files.push(result.file);
    else failures.push(result.failure);
  }
  const transientFailures = failures.filter((failure) => failure.transient);
  if (transientFailures.length > 0 && !isFinalAttempt) throw new RetryLater(transientFailures);

  const manifest: ArchiveManifest = {
    predictionId,
    status: prediction.status,
    archivedAt: new Date().toISOString(),
    prediction: objectLocation(config.bucketName, predictionKey),
    files,
    failures,
  };
  const key = manifestKey(config.archivePrefix, predictionId);
  await io(() =>
    s3.send(
      new PutObjectCommand({
        Bucket: config.bucketName,
        Key: key,
        Body: JSON.stringify(manifest, null, 2),
        ContentType: 'application/json',
      }),
    ),
  );
  await markArchived(predictionId, manifest, key, io);
  countArchival(files, failures);
  return manifest;
}

async function markArchived(predictionId: string, manifest: ArchiveManifest, key: string, io: Io): Promise<ArchiveManifest> {
  const status = manifest.failures.length > 0 ? 'archived_with_failures' : 'archived';
  const counts = { files: manifest.files.length, failures: manifest.failures.length };
  await io(() => progress.markArchived(predictionId, status, key, counts, new Date()));
  return manifest;
}

function countArchival(files: readonly ArchivedFile[], failures: readonly ArchiveFailure[]): void {
  metrics.addMetric(METRIC.predictionsArchived, MetricUnit.Count, 1);
  metrics.addMetric(METRIC.filesArchived, MetricUnit.Count, files.length);
  metrics.addMetric(
    METRIC.bytesArchived,
    MetricUnit.Bytes,
    files.reduce((total, file) => total + file.bytes, 0),
  );
  metrics.addMetric(METRIC.archiveFailures, MetricUnit.Count, failures.length);
  for (const failure of failures) countReason(METRIC.archiveFailures, failure.reason);
}

/** prediction.json is the terminal payload verbatim: copied server-side when it was spilled. */
async function writePredictionDocument(terminal: TerminalRecord, key: string): Promise<void> {
  if (terminal.payloadLocation) {
    await s3.send(
      new CopyObjectCommand({
        Bucket: config.bucketName,
        Key: key,
        CopySource: `${terminal.payloadLocation.bucket}/${encodeURIComponent(terminal.payloadLocation.key).replace(/%2F/g, '/')}`,
        ContentType: 'application/json',
        MetadataDirective: 'REPLACE',
      }),
    );
  } else {
    await s3.send(
      new PutObjectCommand({
        Bucket: config.bucketName,
        Key: key,
        Body: terminal.payload ?? '',
        ContentType: 'application/json',
      }),
    );
  }
}

async function loadPayload(terminal: TerminalRecord): Promise<string> {
  if (!terminal.payloadLocation) return terminal.payload ?? '';
  const object = await s3.send(
    new GetObjectCommand({ Bucket: terminal.payloadLocation.bucket, Key: terminal.payloadLocation.key }),
  );
  return (await object.Body?.transformToString('utf8')) ?? '';
}

async function readManifest(key: string): Promise<ArchiveManifest> {
  const object = await s3.send(new GetObjectCommand({ Bucket: config.bucketName, Key: key }));
  return JSON.parse((await object.Body?.transformToString('utf8')) ?? '{}') as ArchiveManifest;
}

async function readManifestIfPresent(key: string): Promise<ArchiveManifest | undefined> {
  try {
    return await readManifest(key);
  } catch (error) {
    // Without s3:ListBucket (not granted), S3 answers a missing key with 403 rather than 404.
    // This probe only saves work, so either means: archive as usual.
    const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
    if ((error as Error)?.name === 'NoSuchKey' || status === 403 || status === 404) return undefined;
    throw error;
  }
}

/** The verifier only records valid predictions; should the payload not parse, archive what we know. */
function parsed(payload: string, terminal: TerminalRecord): Prediction {
  const result = parsePrediction(payload);
  if (result.ok) return result.prediction;
  logger.warn('terminal payload did not parse; archiving it without outputs', {
    predictionId: terminal.predictionId,
    reason: result.reason,
  });
  return { id: terminal.predictionId, status: terminal.terminalStatus as Prediction['status'], output: null, error: null };
}
