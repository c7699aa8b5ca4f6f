/**
 * Which records of a stream batch become archive requests, decided without I/O: the records in
 * which a prediction became terminal, in stream order, up to the first one that cannot be read.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { isPredictionId } from '../shared/prediction';
import { ATTR } from '../shared/state';
import { becameTerminal } from '../shared/stream-filter';

/** SQS takes at most 10 messages per SendMessageBatch. */
export const SEND_MESSAGE_BATCH_LIMIT = 10;

export type UnreadableReason = 'no_prediction_id' | 'invalid_prediction_id';

/** One archive request: the prediction, and the position of its record in the batch. */
export interface PlannedRequest {
  readonly index: number;
  readonly predictionId: string;
}

export interface ForwardingPlan {
  /** What to queue, in stream order: only records before `unreadable`. */
  readonly requests: readonly PlannedRequest[];
  /**
   * The first record in which a prediction became terminal but whose id cannot be read. It is
   * never skipped: the batch fails from it, so the event source retries it and, after its
   * retries, records it in the failure queue (where the alarm is).
   */
  readonly unreadable?: { readonly index: number; readonly reason: UnreadableReason };
  /** Records that did not make a prediction terminal (the filter should have kept them out). */
  readonly skipped: number;
}

type Decision =
  | { readonly kind: 'queue'; readonly predictionId: string }
  | { readonly kind: 'skip' }
  | { readonly kind: 'unreadable'; readonly reason: UnreadableReason };

function decide(record: DynamoDBRecord): Decision {
  if (!becameTerminal(record)) return { kind: 'skip' };
  const predictionId = record.dynamodb?.NewImage?.[ATTR.predictionId]?.S;
  if (predictionId === undefined) return { kind: 'unreadable', reason: 'no_prediction_id' };
  if (!isPredictionId(predictionId)) return { kind: 'unreadable', reason: 'invalid_prediction_id' };
  return { kind: 'queue', predictionId };
}

export function planForwarding(records: readonly DynamoDBRecord[]): ForwardingPlan {
  const requests: PlannedRequest[] = [];
  let skipped = 0;
  for (const [index, record] of records.entries()) {
    const decision = decide(record);
    if (decision.kind === 'unreadable') return { requests, unreadable: { index, reason: decision.reason }, skipped };
    if (decision.kind === 'skip') skipped += 1;
    else requests.push({ index, predictionId: decision.predictionId });
  }
  return { requests, skipped };
}

/** `items` in groups of `size`, in order. */
export function groupsOf<T>(items: readonly T[], size: number): T[][] {
  const groups: T[][] = [];
  for (let start = 0; start < items.length; start += size) groups.push(items.slice(start, start + size));
  return groups;
}
