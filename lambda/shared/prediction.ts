/**
 * The Replicate prediction object as it arrives in a webhook: statuses, their order, and a
 * parser that turns raw body bytes into a checked prediction or a short rejection reason.
 * Pure: no AWS SDK, no I/O.
 */
import { isUtf8 } from 'node:buffer';

export const TERMINAL_STATUSES = ['succeeded', 'failed', 'canceled', 'aborted'] as const;
export const PREDICTION_STATUSES = ['starting', 'processing', ...TERMINAL_STATUSES] as const;

export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];
export type PredictionStatus = (typeof PREDICTION_STATUSES)[number];

/** Statuses move forward only: starting < processing < any terminal status. */
export const STATUS_RANK: Readonly<Record<PredictionStatus, number>> = {
  starting: 1,
  processing: 2,
  succeeded: 3,
  failed: 3,
  canceled: 3,
  aborted: 3,
};
export const TERMINAL_RANK = 3;

export function isPredictionStatus(value: unknown): value is PredictionStatus {
  return typeof value === 'string' && (PREDICTION_STATUSES as readonly string[]).includes(value);
}

export function isTerminalStatus(value: unknown): value is TerminalStatus {
  return typeof value === 'string' && (TERMINAL_STATUSES as readonly string[]).includes(value);
}

/**
 * What Replicate ran: a prediction, or a training (a fine-tune, whose output is a new model
 * version and its weights). Both arrive as the same signed webhooks and share the same statuses;
 * the kind decides the archive folder, the completion message's `kind`, its SNS attribute and its
 * EventBridge detail-type.
 */
export enum CompletionKind {
  /** A prediction (`/v1/predictions/{id}`). */
  PREDICTION = 'prediction',
  /** A training (`/v1/trainings/{id}`): its output is `{ version, weights }`. */
  TRAINING = 'training',
}

export const COMPLETION_KINDS: readonly CompletionKind[] = [CompletionKind.PREDICTION, CompletionKind.TRAINING];

export function isCompletionKind(value: unknown): value is CompletionKind {
  return typeof value === 'string' && (COMPLETION_KINDS as readonly string[]).includes(value);
}

// Replicate names the object's own API address in `urls` (`get`, `cancel`, `stream`); a training's
// are under /v1/trainings/. Matched on the path alone, so a proxy or the stand-in's host counts too.
const TRAINING_URL = /^https?:\/\/[^/]+(?:\/[^?#]*)?\/v1\/trainings\//;

/**
 * Whether a Replicate object (a webhook body, or an item of `GET /v1/trainings`) is a training:
 * one of its `urls` is under `/v1/trainings/`, or it names a `destination` (only trainings have
 * one). Not from `output` alone: a prediction's output may be any object, `{version, weights}`
 * included, and an early training webhook has none yet.
 */
export function completionKindOf(fields: Readonly<Record<string, unknown>>): CompletionKind {
  const urls = fields.urls;
  if (typeof urls === 'object' && urls !== null && !Array.isArray(urls)) {
    for (const name of ['get', 'cancel', 'stream'] as const) {
      const url = (urls as Record<string, unknown>)[name];
      if (typeof url === 'string' && TRAINING_URL.test(url)) return CompletionKind.TRAINING;
    }
  }
  return typeof fields.destination === 'string' ? CompletionKind.TRAINING : CompletionKind.PREDICTION;
}

/** The fields we rely on. Everything else stays in the raw body, which is kept verbatim. */
export interface Prediction {
  readonly id: string;
  readonly status: PredictionStatus;
  /** A prediction or a training; absent is read as a prediction (records and tests from before trainings). */
  readonly kind?: CompletionKind;
  readonly model?: string;
  readonly version?: string;
  readonly createdAt?: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  readonly output: unknown;
  readonly error: unknown;
  readonly logs?: string;
  readonly metrics?: Readonly<Record<string, unknown>>;
  /**
   * True when the payload says `"data_removed": true`: Replicate removed the prediction's data
   * (its `output` is then null), so whatever files it had can no longer be archived. Absent
   * otherwise, `false` or anything but `true` included.
   */
  readonly dataRemoved?: true;
}

export type PredictionRejection =
  | 'empty_body'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'not_a_prediction'
  | 'invalid_prediction_id'
  | 'unknown_status'
  | 'field_too_large'
  | 'invalid_field';

export type ParseResult =
  | { readonly ok: true; readonly prediction: Prediction }
  | { readonly ok: false; readonly reason: PredictionRejection; readonly field?: RecordedField };

// Replicate ids are short lowercase alphanumerics; the id also becomes an S3 key segment and a
// DynamoDB key, so anything outside this shape is refused rather than escaped.
const PREDICTION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Whether `value` has the shape of a prediction id this system records (and uses in keys and paths). */
export const isPredictionId = (value: string): boolean => PREDICTION_ID.test(value);

const optionalString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function parsePrediction(body: string | Uint8Array): ParseResult {
  if (body.length === 0) return { ok: false, reason: 'empty_body' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'),
    );
  } catch {
    return { ok: false, reason: 'invalid_json' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'not_a_prediction' };
  }
  const fields = parsed as Record<string, unknown>;
  if (typeof fields.id !== 'string' || !PREDICTION_ID.test(fields.id)) return { ok: false, reason: 'invalid_prediction_id' };
  if (!isPredictionStatus(fields.status)) return { ok: false, reason: 'unknown_status' };
  const metrics = fields.metrics;
  return {
    ok: true,
    prediction: {
      id: fields.id,
      status: fields.status,
      kind: completionKindOf(fields),
      model: optionalString(fields.model),
      version: optionalString(fields.version),
      createdAt: optionalString(fields.created_at),
      startedAt: optionalString(fields.started_at),
      completedAt: optionalString(fields.completed_at),
      output: fields.output ?? null,
      error: fields.error ?? null,
      logs: optionalString(fields.logs),
      metrics:
        typeof metrics === 'object' && metrics !== null && !Array.isArray(metrics)
          ? (metrics as Record<string, unknown>)
          : undefined,
      ...(fields.data_removed === true ? { dataRemoved: true as const } : {}),
    },
  };
}

/**
 * Longest value, in UTF-16 code units, of each field the verifier copies from the payload into
 * the table item. DynamoDB refuses an item over 400 KB whatever the retries, so a value that could
 * never be stored is refused before anything is written. Replicate's are far shorter: a model is
 * `owner/name`, a version 64 hex digits, a time 27 characters.
 */
export const RECORDED_FIELD_LIMITS = {
  model: 256,
  version: 256,
  createdAt: 64,
  startedAt: 64,
  completedAt: 64,
} as const satisfies Partial<Record<keyof Prediction, number>>;

export type RecordedField = keyof typeof RECORDED_FIELD_LIMITS;

/**
 * `parsePrediction` for a webhook about to be recorded: the body must be UTF-8, and every field
 * copied into the item must fit its bound and be valid Unicode. Run after the signature check,
 * so that a forged request is still a 401.
 */
export function parseRecordablePrediction(body: string | Uint8Array): ParseResult {
  // JSON is UTF-8 (RFC 8259) and Replicate sends UTF-8. Anything else would be stored altered
  // inline (decoding replaces bad bytes) but verbatim when spilled to S3: refuse it instead.
  if (!isUtf8Body(body)) return { ok: false, reason: 'invalid_utf8' };
  const parsed = parsePrediction(body);
  if (!parsed.ok) return parsed;
  for (const field of Object.keys(RECORDED_FIELD_LIMITS) as RecordedField[]) {
    const value = parsed.prediction[field];
    if (value === undefined) continue;
    if (value.length > RECORDED_FIELD_LIMITS[field]) return { ok: false, reason: 'field_too_large', field };
    // A JSON escape can carry a lone surrogate, which no UTF-8 string (so no DynamoDB string) can hold.
    if (!isWellFormed(value)) return { ok: false, reason: 'invalid_field', field };
  }
  return parsed;
}

/** True for bytes that are valid UTF-8, or text that is valid UTF-16 (no lone surrogate). */
function isUtf8Body(body: string | Uint8Array): boolean {
  return typeof body === 'string' ? isWellFormed(body) : isUtf8(body);
}

// ES2024's String.prototype.isWellFormed, native in Node 20 and later; TypeScript's ES2022 lib lacks it.
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();
