/**
 * What the archiver writes (manifest.json) and announces (one SNS message per finished
 * prediction). Pure, and exported from the package so subscribers can type the message.
 */
import type { Prediction } from './prediction';

/** One output file, copied into the archive. */
export interface ArchivedFile {
  /** The URL it came from, or `data:<type> (<n> bytes)` for an inline data URI. */
  readonly source: string;
  /** Where it sat in the prediction's `output`, e.g. `[0]` or `.frames[1]`. */
  readonly paths: readonly string[];
  readonly bucket: string;
  readonly key: string;
  readonly s3Uri: string;
  readonly bytes: number;
  /** Hex SHA-256 of the stored bytes. */
  readonly sha256: string;
  readonly contentType: string;
}

/** An output file that could not be archived, and why. */
export interface ArchiveFailure {
  readonly source: string;
  readonly paths: readonly string[];
  /** e.g. `host_not_allowed`, `http_error`, `timeout`, `too_large`, `blocked_address`. */
  readonly reason: string;
  /** Whether retrying later might have succeeded (the archiver retried until its last attempt). */
  readonly transient: boolean;
  readonly status?: number;
}

export interface ObjectLocation {
  readonly bucket: string;
  readonly key: string;
  readonly s3Uri: string;
}

/** manifest.json: source → archived copy, for every output; written next to prediction.json. */
export interface ArchiveManifest {
  readonly predictionId: string;
  readonly status: string;
  readonly archivedAt: string;
  /** prediction.json: the terminal webhook payload, verbatim. */
  readonly prediction: ObjectLocation;
  readonly files: readonly ArchivedFile[];
  readonly failures: readonly ArchiveFailure[];
}

/** The body of a completion notification (JSON). Never carries logs. */
export interface CompletionMessage {
  readonly schemaVersion: 1;
  readonly predictionId: string;
  readonly status: string;
  readonly model?: string;
  /** The model version id (`hidden` for some official models). */
  readonly version?: string;
  readonly createdAt?: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  readonly archivedAt: string;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly error?: unknown;
  readonly archive: { readonly prediction: ObjectLocation; readonly manifest: ObjectLocation };
  readonly outputs: readonly ArchivedFile[];
  readonly failures: readonly ArchiveFailure[];
  /** How many outputs or failures were left out to stay under SNS's size limit (the manifest lists all). */
  readonly omitted?: { readonly outputs: number; readonly failures: number };
}

/** Message attributes, for subscription filter policies. */
export type CompletionAttributes = Readonly<{ status: string; prediction_id: string; model?: string }>;

export const s3Uri = (bucket: string, key: string): string => `s3://${bucket}/${key}`;
export const objectLocation = (bucket: string, key: string): ObjectLocation => ({ bucket, key, s3Uri: s3Uri(bucket, key) });

// SNS takes 256 KiB including attributes; leave room for them and the JSON envelope.
export const MAX_MESSAGE_BYTES = 240 * 1024;
const MAX_ERROR_CHARS = 8 * 1024;
const MAX_METRICS_BYTES = 8 * 1024;

export function buildCompletionMessage(
  prediction: Prediction,
  manifest: ArchiveManifest,
  manifestLocation: ObjectLocation,
): { readonly message: CompletionMessage; readonly body: string; readonly attributes: CompletionAttributes } {
  const metrics =
    prediction.metrics && JSON.stringify(prediction.metrics).length <= MAX_METRICS_BYTES ? prediction.metrics : undefined;
  const base = {
    schemaVersion: 1 as const,
    predictionId: prediction.id,
    status: prediction.status,
    model: prediction.model,
    version: prediction.version,
    createdAt: prediction.createdAt,
    startedAt: prediction.startedAt,
    completedAt: prediction.completedAt,
    archivedAt: manifest.archivedAt,
    metrics,
    error: truncateError(prediction.error),
    archive: { prediction: manifest.prediction, manifest: manifestLocation },
  };
  let outputs = manifest.files;
  let failures = manifest.failures;
  let message: CompletionMessage = { ...base, outputs, failures };
  let body = JSON.stringify(message);
  // Cut the lists, never the summary, until the message fits; the manifest keeps everything.
  while (Buffer.byteLength(body) > MAX_MESSAGE_BYTES && outputs.length + failures.length > 0) {
    const excess = Buffer.byteLength(body) - MAX_MESSAGE_BYTES;
    const average = Math.max(
      1,
      Math.ceil((Buffer.byteLength(body) - JSON.stringify(base).length) / (outputs.length + failures.length)),
    );
    const drop = Math.max(1, Math.ceil(excess / average));
    if (outputs.length >= failures.length) outputs = outputs.slice(0, Math.max(0, outputs.length - drop));
    else failures = failures.slice(0, Math.max(0, failures.length - drop));
    message = {
      ...base,
      outputs,
      failures,
      omitted: { outputs: manifest.files.length - outputs.length, failures: manifest.failures.length - failures.length },
    };
    body = JSON.stringify(message);
  }
  const attributes: CompletionAttributes = {
    status: prediction.status,
    prediction_id: prediction.id,
    ...(prediction.model ? { model: prediction.model } : {}),
  };
  return { message, body, attributes };
}

function truncateError(error: unknown): unknown {
  if (error === null || error === undefined) return undefined;
  const text = typeof error === 'string' ? error : JSON.stringify(error);
  if (text.length <= MAX_ERROR_CHARS) return error;
  return `${text.slice(0, MAX_ERROR_CHARS)}… (truncated; prediction.json has it whole)`;
}
