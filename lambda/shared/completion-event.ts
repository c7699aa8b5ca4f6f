/**
 * The completion announcement as an EventBridge event: what the archiver puts on the bus, and the
 * rule patterns that match it (the construct's `onCompletionEvent` and local mode use the same
 * function, so a rule and the events it should see cannot drift apart). Pure.
 */
import { TERMINAL_STATUSES, type TerminalStatus } from './prediction';

/** The `source` of every completion event. Ours, not Replicate's: nothing else puts it. */
export const COMPLETION_EVENT_SOURCE = 'replicate-webhooks';

const DETAIL_TYPES: Readonly<Record<TerminalStatus, string>> = {
  succeeded: 'Replicate Prediction Succeeded',
  failed: 'Replicate Prediction Failed',
  canceled: 'Replicate Prediction Canceled',
  aborted: 'Replicate Prediction Aborted',
};

/** The `detail-type` of a finished prediction's event: one per terminal status, so rules can match on it. */
export function completionEventDetailType(status: string): string {
  return DETAIL_TYPES[status as TerminalStatus] ?? 'Replicate Prediction Finished';
}

/**
 * Bytes EventBridge counts for an entry besides its detail (source and detail-type; we set no
 * time or resources), at its widest: the completion message is cut to leave this much room, so
 * the same body fits both SNS and EventBridge's 256 KB entry limit.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
 */
export const EVENT_ENVELOPE_BYTES =
  Buffer.byteLength(COMPLETION_EVENT_SOURCE) +
  Math.max(...[...Object.values(DETAIL_TYPES), completionEventDetailType('')].map((type) => Buffer.byteLength(type)));

/** One PutEvents entry: the completion message (JSON text) as the detail. */
export interface CompletionEventEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName: string;
}

export function completionEventEntry(status: string, body: string, eventBusName: string): CompletionEventEntry {
  return {
    Source: COMPLETION_EVENT_SOURCE,
    DetailType: completionEventDetailType(status),
    Detail: body,
    EventBusName: eventBusName,
  };
}

/** Which completion events a rule matches. Empty or absent lists match everything. */
export interface CompletionEventSelection {
  readonly statuses?: readonly string[];
  readonly models?: readonly string[];
}

/** An EventBridge event pattern, as JSON. */
export type EventPattern = Record<string, unknown>;

/** The pattern matching exactly the completion events of these statuses and models. */
export function completionEventPattern(selection: CompletionEventSelection = {}): EventPattern {
  const statuses = selection.statuses ?? [];
  const models = selection.models ?? [];
  return {
    source: [COMPLETION_EVENT_SOURCE],
    'detail-type': (statuses.length > 0 ? statuses : TERMINAL_STATUSES).map(completionEventDetailType),
    ...(models.length > 0 ? { detail: { model: [...models] } } : {}),
  };
}
