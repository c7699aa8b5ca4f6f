/**
 * The work queue between the table stream and the archiver: one small message per finished
 * prediction, carrying only its id. One definition of the message and the queue's defaults, used
 * by the forwarder and the reconciler's redrive (writing), the archiver (reading), the construct
 * (the event source) and local mode (the SQS emulation), so they cannot drift.
 */
import { isPredictionId } from './prediction';

/** The message body the archiver receives: the record itself is read from the table. */
export interface ArchiveRequest {
  readonly predictionId: string;
}

/**
 * The body of the message that asks for one prediction's archival. Byte for byte what the
 * EventBridge Pipe's input template produced before the forwarder replaced it, so messages
 * queued by either read the same.
 */
export function archiveRequestBody(predictionId: string): string {
  return `{"predictionId": ${JSON.stringify(predictionId)}}`;
}

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

/** Defaults of the queue and the archiver's event source (construct and local mode). */
export const ARCHIVE_QUEUE_DEFAULTS = {
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
