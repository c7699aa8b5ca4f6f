/**
 * The work queue between the table stream and the archiver: one small message per finished
 * prediction, carrying only its id. One definition of the message, its template and the queue's
 * defaults, used by the construct (the Pipe's input template, the event source), the archiver
 * (parsing) and local mode (the Pipe and SQS emulations), so they cannot drift.
 */
import { isPredictionId } from './prediction';
import { ATTR } from './state';

/** The message body the archiver receives: the record itself is read from the table. */
export interface ArchiveRequest {
  readonly predictionId: string;
}

/**
 * The Pipe's input template, applied to each stream record that passed the filter. Replicate's
 * prediction ids are lowercase alphanumerics, so a quoted placeholder yields valid JSON.
 */
export const ARCHIVE_REQUEST_TEMPLATE = `{"predictionId": "<$.dynamodb.NewImage.${ATTR.predictionId}.S>"}`;

/** The prediction id of a queue message, or undefined when the body is not an archive request. */
export function parseArchiveRequest(body: string): string | undefined {
  if (body.length > 1024) return undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    const predictionId = (parsed as Partial<ArchiveRequest> | null)?.predictionId;
    return typeof predictionId === 'string' && isPredictionId(predictionId) ? predictionId : undefined;
  } catch {
    return undefined;
  }
}

/** Defaults of the Pipe, the queue and the archiver's event source (construct and local mode). */
export const ARCHIVE_QUEUE_DEFAULTS = {
  /** Stream records per Pipe batch: SQS takes at most 10 messages per SendMessageBatch. */
  pipeBatchSize: 10,
  /** Pipe retries of a batch SQS refused, before it goes to the failure queue. */
  pipeRetryAttempts: 10,
  /** Predictions per archiver invocation, archived at the same time. */
  batchSize: 10,
  /** Archiver invocations at once (Lambda's SQS event source allows 2 to 1,000). */
  maxConcurrency: 200,
  /** Tries of one prediction before its message goes to the dead-letter queue. */
  maxReceiveCount: 5,
  /** First wait before a failed prediction is tried again; doubled per try, with jitter. */
  retryBaseDelaySeconds: 30,
} as const;

/** SQS's ceiling for a message's visibility timeout. */
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 12 * 60 * 60;
