/**
 * The completion announcement as an EventBridge event: what the archiver puts on the bus, and the
 * rule patterns that match it (the construct's `onCompletionEvent` and local mode use the same
 * function, so a rule and the events it should see cannot drift apart). Pure.
 */
import { COMPLETION_KINDS, CompletionKind, TERMINAL_STATUSES, type TerminalStatus } from './prediction';

/** The `source` of every completion event. Ours, not Replicate's: nothing else puts it. */
export const COMPLETION_EVENT_SOURCE = 'replicate-webhooks';

const STATUS_WORDS: Readonly<Record<TerminalStatus, string>> = {
  succeeded: 'Succeeded',
  failed: 'Failed',
  canceled: 'Canceled',
  aborted: 'Aborted',
};
const KIND_WORDS: Readonly<Record<CompletionKind, string>> = {
  [CompletionKind.PREDICTION]: 'Prediction',
  [CompletionKind.TRAINING]: 'Training',
};

/**
 * The `detail-type` of a finished prediction's (or training's) event: one per kind and terminal
 * status, so rules can match on them: `Replicate Prediction Succeeded`, `Replicate Training Failed`.
 */
export function completionEventDetailType(status: string, kind: string = CompletionKind.PREDICTION): string {
  const kindWord = KIND_WORDS[kind as CompletionKind] ?? KIND_WORDS[CompletionKind.PREDICTION];
  return `Replicate ${kindWord} ${STATUS_WORDS[status as TerminalStatus] ?? 'Finished'}`;
}

/**
 * Bytes EventBridge counts for an entry besides its detail (source and detail-type; we set no
 * time or resources), at its widest: the completion message is cut to leave this much room, so
 * the same body fits both SNS and EventBridge's 256 KB entry limit.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
 */
export const EVENT_ENVELOPE_BYTES =
  Buffer.byteLength(COMPLETION_EVENT_SOURCE) +
  Math.max(
    ...COMPLETION_KINDS.flatMap((kind) =>
      [...TERMINAL_STATUSES, ''].map((status) => completionEventDetailType(status, kind)),
    ).map((type) => Buffer.byteLength(type)),
  );

/** One PutEvents entry: the completion message (JSON text) as the detail. */
export interface CompletionEventEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName: string;
}

export function completionEventEntry(
  status: string,
  body: string,
  eventBusName: string,
  kind: string = CompletionKind.PREDICTION,
): CompletionEventEntry {
  return {
    Source: COMPLETION_EVENT_SOURCE,
    DetailType: completionEventDetailType(status, kind),
    Detail: body,
    EventBusName: eventBusName,
  };
}

/** Which completion events a rule matches. Empty or absent lists match everything. */
export interface CompletionEventSelection {
  readonly statuses?: readonly string[];
  readonly models?: readonly string[];
  /** Predictions, trainings or both (absent or empty: both). */
  readonly kinds?: readonly string[];
}

/** An EventBridge event pattern, as JSON. */
export type EventPattern = Record<string, unknown>;

/** The pattern matching exactly the completion events of these statuses, models and kinds. */
export function completionEventPattern(selection: CompletionEventSelection = {}): EventPattern {
  const statuses = selection.statuses ?? [];
  const models = selection.models ?? [];
  const kinds = selection.kinds ?? [];
  return {
    source: [COMPLETION_EVENT_SOURCE],
    // Kind and status are both in the detail-type: one list matches their every pair.
    'detail-type': (kinds.length > 0 ? kinds : COMPLETION_KINDS).flatMap((kind) =>
      (statuses.length > 0 ? statuses : TERMINAL_STATUSES).map((status) => completionEventDetailType(status, kind)),
    ),
    ...(models.length > 0 ? { detail: { model: [...models] } } : {}),
  };
}
