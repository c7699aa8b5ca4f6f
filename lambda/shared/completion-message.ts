/**
 * What the archiver writes (manifest.json) and announces (one SNS message per finished
 * prediction). Pure, and exported from the package so subscribers can type the message.
 *
 * Every field copied from the payload (signed, but arbitrary) is bounded and made well-formed
 * here, so one prediction's odd model name, deep `error` or huge `metrics` can never make its
 * announcement fail: the message always fits SNS's and EventBridge's limits and always serialises.
 */
import { EVENT_ENVELOPE_BYTES } from './completion-event';
import { wellFormedPrefix } from './outputs';
import { CompletionKind, type Prediction } from './prediction';

/** One output file, copied into the archive. */
export interface ArchivedFile {
  /** The URL it came from, or `data:<type> (<n> bytes)` for an inline data URI. */
  readonly source: string;
  /** Where it sat in the prediction's `output`, e.g. `[0]` or `.frames[1]`; the first 100. */
  readonly paths: readonly string[];
  /** How many more places held the same source, past those listed in `paths`. */
  readonly omittedPaths?: number;
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
  /** As in ArchivedFile; for a summary entry (`count`), what it stands for. */
  readonly source: string;
  readonly paths: readonly string[];
  readonly omittedPaths?: number;
  /**
   * e.g. `host_not_allowed`, `http_error`, `timeout`, `too_large`, `blocked_address`, `deadline`,
   * `write_rejected`; for outputs found but not archived, `too_many_outputs`, `too_deep`,
   * `discovery_limit`; for the prediction as a whole, `data_removed` (see `removedDataFailures`).
   */
  readonly reason: string;
  /** Whether retrying later might have succeeded (the archiver retried until its last attempt). */
  readonly transient: boolean;
  readonly status?: number;
  /** Set when this one entry stands for several outputs that are not listed one by one. */
  readonly count?: number;
}

export interface ObjectLocation {
  readonly bucket: string;
  readonly key: string;
  readonly s3Uri: string;
}

/**
 * manifest.json, the archive's one document: the terminal payload, and source → archived copy for
 * every output. Written last, once the outputs are stored.
 */
export interface ArchiveManifest {
  readonly predictionId: string;
  /** `training` for a training; absent in manifests written before trainings were told apart (predictions). */
  readonly kind?: string;
  readonly status: string;
  readonly archivedAt: string;
  /**
   * prediction.json (training.json): the terminal webhook payload alone, verbatim, at a fixed path.
   * Present only when it was written: with the construct's `predictionDocument`, and in manifests
   * written before the manifest carried `payload`.
   */
  readonly prediction?: ObjectLocation;
  readonly files: readonly ArchivedFile[];
  readonly failures: readonly ArchiveFailure[];
  /**
   * The terminal webhook payload as Replicate sent it (or its API answered, for a prediction the
   * reconciler recorded), written into the manifest's text byte for byte (`manifestPayloadText`
   * gives those bytes back); the last field. Absent in manifests written before it was added: their
   * `prediction` has it. Were a stored payload ever not JSON (the verifier stores only JSON), it is
   * a JSON string holding the text.
   */
  readonly payload?: unknown;
}

/** Payload fields the message carries cut short or in part; the manifest's payload has them whole. */
export type TruncatedField =
  'model' | 'version' | 'trainedVersion' | 'createdAt' | 'startedAt' | 'completedAt' | 'metrics' | 'error';

/** The body of a completion notification (JSON). Never carries logs. */
export interface CompletionMessage {
  readonly schemaVersion: 1;
  /** The prediction's id, or the training's (`kind` says which; Replicate's ids do not overlap). */
  readonly predictionId: string;
  /** `prediction` or `training`, as the message attribute `kind` and the event's detail-type say. */
  readonly kind: `${CompletionKind}`;
  readonly status: string;
  /** At most 256 characters, like the `model` attribute. For a training, the model it trained from. */
  readonly model?: string;
  /**
   * The model version id (`hidden` for some official models); at most 256 characters. For a
   * training, the version it trained from: the new one is `trainedVersion`.
   */
  readonly version?: string;
  /**
   * A succeeded training's new version (its `output.version`, e.g. `owner/model:abc123`), ready
   * to run predictions with; at most 256 characters. Absent for predictions.
   */
  readonly trainedVersion?: string;
  readonly createdAt?: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  readonly archivedAt: string;
  /** The prediction's flat metrics: numbers, strings and booleans only, at most 8 KB. */
  readonly metrics?: Readonly<Record<string, number | string | boolean>>;
  /** The prediction's error as text (JSON text when it was not a string), cut at 8,192 characters. */
  readonly error?: string;
  /**
   * `manifest` always: the outputs and the terminal payload (its `payload`). `prediction`, the
   * payload alone, only when it was written (the construct's `predictionDocument`).
   */
  readonly archive: { readonly prediction?: ObjectLocation; readonly manifest: ObjectLocation };
  readonly outputs: readonly ArchivedFile[];
  readonly failures: readonly ArchiveFailure[];
  /** How many outputs or failures were left out to stay under SNS's size limit (the manifest lists all). */
  readonly omitted?: { readonly outputs: number; readonly failures: number };
  /** Which payload fields were cut or left out to keep the message bounded. */
  readonly truncated?: readonly TruncatedField[];
}

/** Message attributes, for subscription filter policies. Published as `String` attributes. */
export type CompletionAttributes = Readonly<{ status: string; kind: string; prediction_id: string; model?: string }>;

export interface CompletionNotification {
  readonly message: CompletionMessage;
  /** `message` as JSON. */
  readonly body: string;
  readonly attributes: CompletionAttributes;
}

/** What a `data_removed` entry says in place of a source: there is no URL left to name. */
export const DATA_REMOVED_SOURCE = '(output removed by Replicate)';

/**
 * What the payload itself says is lost, listed before the files' own failures: a prediction
 * whose data Replicate removed (`data_removed`) had its output files deleted with it, so it is
 * archived with one failure, never as a clean archive of nothing. The entry keeps the shape
 * subscribers parse: no source URL (`source` says what it stands for, as a summary entry's
 * does), `paths` empty, and not transient (no retry brings the data back).
 */
export function removedDataFailures(prediction: Pick<Prediction, 'dataRemoved'>): ArchiveFailure[] {
  if (prediction.dataRemoved !== true) return [];
  return [{ source: DATA_REMOVED_SOURCE, paths: [], reason: 'data_removed', transient: false }];
}

export const s3Uri = (bucket: string, key: string): string => `s3://${bucket}/${key}`;
export const objectLocation = (bucket: string, key: string): ObjectLocation => ({ bucket, key, s3Uri: s3Uri(bucket, key) });

/** SNS's limit for one message (body and attributes together), and EventBridge's for one entry. */
export const MAX_MESSAGE_BYTES = 262_144;
export const MAX_ERROR_CHARS = 8 * 1024;
const MAX_METRICS_BYTES = 8 * 1024;
const MAX_METRICS = 64;
// Keys looked at before giving up: bounded work on a metrics object with a million keys.
const MAX_METRIC_KEYS_EXAMINED = 256;
const MAX_METRIC_KEY_CHARS = 128;
const MAX_METRIC_TEXT_CHARS = 1_024;
// Real model names and version ids are far shorter; a longer one is cut, and said to be.
const MAX_NAME_CHARS = 256;
const MAX_TIME_CHARS = 64;
const MAX_ID_CHARS = 256;
const ERROR_CUT_NOTE = '… (truncated; manifest.json has it whole)';

// What precedes the payload in the manifest's text: `JSON.stringify` with an indent of 2 puts the
// top-level keys, alone, after a newline and two spaces, and no string it writes holds a newline.
const PAYLOAD_FIELD = '\n  "payload": ';

/**
 * manifest.json's text: `manifest` as indented JSON, then `payloadText` as its last field, `payload`,
 * spliced in as it is, so that the document holds the payload's bytes unchanged (a parse and
 * re-serialisation would reorder nothing but could change number spellings, escapes and spacing).
 */
export function manifestDocument(manifest: Omit<ArchiveManifest, 'payload'>, payloadText: string): string {
  const { payload: _ignored, ...fields } = manifest as ArchiveManifest;
  const head = JSON.stringify(fields, null, 2);
  const payload = isJson(payloadText) ? payloadText : JSON.stringify(payloadText);
  // `head` ends in `\n}`; the payload goes before it.
  return `${head.slice(0, -2)},${PAYLOAD_FIELD}${payload}\n}`;
}

/** The payload's bytes in a manifest written by `manifestDocument`; undefined for one without `payload`. */
export function manifestPayloadText(document: string): string | undefined {
  const start = document.indexOf(PAYLOAD_FIELD);
  if (start < 0 || !document.endsWith('\n}')) return undefined;
  return document.slice(start + PAYLOAD_FIELD.length, -2);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The bytes SNS counts for these attributes: each name, its data type (`String`) and its value. */
export function attributeBytes(attributes: CompletionAttributes): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) bytes += Buffer.byteLength(name) + Buffer.byteLength('String') + Buffer.byteLength(value);
  }
  return bytes;
}

/**
 * The notification for a finished prediction. Never throws, and the body plus the attributes
 * always fit in MAX_MESSAGE_BYTES: long lists are cut (with `omitted` counts; the manifest has
 * everything), and payload fields are bounded (listed in `truncated`).
 */
export function buildCompletionMessage(
  prediction: Prediction,
  manifest: ArchiveManifest,
  manifestLocation: ObjectLocation,
): CompletionNotification {
  const truncated: TruncatedField[] = [];
  const field = (name: TruncatedField, value: unknown, maxChars: number): string | undefined => {
    if (typeof value !== 'string') return undefined;
    if (value.length > maxChars) truncated.push(name);
    return wellFormed(wellFormedPrefix(value, maxChars));
  };
  const model = field('model', prediction.model, MAX_NAME_CHARS);
  const version = field('version', prediction.version, MAX_NAME_CHARS);
  const kind = prediction.kind === CompletionKind.TRAINING ? CompletionKind.TRAINING : CompletionKind.PREDICTION;
  const trainedVersion =
    kind === CompletionKind.TRAINING
      ? field('trainedVersion', trainingOutputVersion(prediction.output), MAX_NAME_CHARS)
      : undefined;
  const createdAt = field('createdAt', prediction.createdAt, MAX_TIME_CHARS);
  const startedAt = field('startedAt', prediction.startedAt, MAX_TIME_CHARS);
  const completedAt = field('completedAt', prediction.completedAt, MAX_TIME_CHARS);
  const metrics = flatMetrics(prediction.metrics);
  if (metrics.cut) truncated.push('metrics');
  const error = errorText(prediction.error);
  if (error.cut) truncated.push('error');
  // Both come from the checked record (a short id, a known status); bounded all the same.
  const predictionId = wellFormed(String(prediction.id).slice(0, MAX_ID_CHARS));
  const status = wellFormed(String(prediction.status).slice(0, MAX_TIME_CHARS));

  const attributes: CompletionAttributes = {
    status: attributeText(status),
    kind,
    prediction_id: attributeText(predictionId),
    // SNS refuses an empty attribute value.
    ...(model ? { model: attributeText(model) } : {}),
  };
  const base = {
    schemaVersion: 1 as const,
    predictionId,
    kind,
    status,
    model,
    version,
    trainedVersion,
    createdAt,
    startedAt,
    completedAt,
    archivedAt: manifest.archivedAt,
    metrics: metrics.value,
    error: error.text,
    archive: { ...(manifest.prediction ? { prediction: manifest.prediction } : {}), manifest: manifestLocation },
  };
  // The same body is the SNS message and the EventBridge detail: it leaves room for whichever
  // envelope is larger, SNS's attributes or the event's source and detail-type.
  const limit = MAX_MESSAGE_BYTES - Math.max(attributeBytes(attributes), EVENT_ENVELOPE_BYTES);
  // A manifest read back from S3 is ours, but this must not throw whatever it holds.
  const allOutputs = (manifest.files ?? []).map(messageEntry);
  const allFailures = (manifest.failures ?? []).map(messageEntry);
  const compose = (
    outputs: readonly ArchivedFile[],
    failures: readonly ArchiveFailure[],
    fields: typeof base = base,
  ): CompletionNotification => {
    const omitted = { outputs: allOutputs.length - outputs.length, failures: allFailures.length - failures.length };
    const message: CompletionMessage = {
      ...fields,
      outputs,
      failures,
      ...(omitted.outputs + omitted.failures > 0 ? { omitted } : {}),
      ...(truncated.length > 0 ? { truncated } : {}),
    };
    return { message, body: JSON.stringify(message), attributes };
  };
  const fits = ({ body }: CompletionNotification) => Buffer.byteLength(body) <= limit;

  const whole = compose(allOutputs, allFailures);
  if (fits(whole)) return whole;
  // Room for the lists: what is left beside the summary, measured with the largest `omitted` it can have.
  const widest = { ...compose([], []).message, omitted: { outputs: allOutputs.length, failures: allFailures.length } };
  const room = limit - Buffer.byteLength(JSON.stringify(widest));
  const outputSizes = allOutputs.map(entryBytes);
  const failureSizes = allFailures.map(entryBytes);
  // Each list gets half, and what one does not need goes to the other.
  const keptFailures = fill(allFailures, failureSizes, Math.max(Math.floor(room / 2), room - sum(outputSizes)));
  const keptOutputs = fill(allOutputs, outputSizes, room - keptFailures.bytes);
  const cut = compose(keptOutputs.kept, keptFailures.kept);
  if (fits(cut)) return cut;
  // Unreachable with the bounds above; kept so that no payload can ever make publishing fail.
  const bare = compose([], []);
  if (fits(bare)) return bare;
  for (const name of ['model', 'version', 'metrics', 'error'] as const) if (!truncated.includes(name)) truncated.push(name);
  if (trainedVersion !== undefined && !truncated.includes('trainedVersion')) truncated.push('trainedVersion');
  return compose([], [], {
    ...base,
    model: undefined,
    version: undefined,
    trainedVersion: undefined,
    metrics: undefined,
    error: undefined,
  });
}

/** A training's new version: `output.version` (`owner/model:id`), when it is text. */
function trainingOutputVersion(output: unknown): unknown {
  return typeof output === 'object' && output !== null && !Array.isArray(output)
    ? (output as Record<string, unknown>).version
    : undefined;
}

/** The entry as the message carries it: its payload-derived text made well-formed. */
function messageEntry<T extends ArchivedFile | ArchiveFailure>(entry: T): T {
  return { ...entry, source: wellFormed(entry.source), paths: entry.paths.map(wellFormed) };
}

const entryBytes = (entry: object): number => Buffer.byteLength(JSON.stringify(entry)) + 1; // and its comma
const sum = (sizes: readonly number[]): number => sizes.reduce((total, size) => total + size, 0);

/** The entries that fit in `room`, in order; one too large for what is left is passed over, not the rest. */
function fill<T>(entries: readonly T[], sizes: readonly number[], room: number): { kept: T[]; bytes: number } {
  const kept: T[] = [];
  let bytes = 0;
  entries.forEach((entry, index) => {
    if (bytes + sizes[index] <= room) {
      kept.push(entry);
      bytes += sizes[index];
    }
  });
  return { kept, bytes };
}

// Lone surrogates cannot be encoded (SNS refuses them, and other languages' JSON parsers choke);
// U+FFFE and U+FFFF are not characters, and SQS refuses them in a raw-delivered body.
const NOT_TEXT = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\uFFFE\uFFFF]/g;
// SNS attribute values are XML text: no control characters but tab, line feed and carriage return.
const NOT_ATTRIBUTE_TEXT = /[\x00-\x08\x0B\x0C\x0E-\x1F]/g;

/** The text with anything that is not a Unicode character replaced by U+FFFD. */
export function wellFormed(text: string): string {
  return text.replace(NOT_TEXT, '\uFFFD');
}

const attributeText = (text: string): string => wellFormed(text).replace(NOT_ATTRIBUTE_TEXT, '\uFFFD');

/** Only a flat object of numbers, strings and booleans is copied: nothing in it can be deep or huge. */
function flatMetrics(metrics: unknown): { value?: Record<string, number | string | boolean>; cut: boolean } {
  if (typeof metrics !== 'object' || metrics === null || Array.isArray(metrics)) return { cut: false };
  const kept: Array<[string, number | string | boolean]> = [];
  let bytes = 2;
  let cut = false;
  let examined = 0;
  for (const key in metrics) {
    if (!Object.prototype.hasOwnProperty.call(metrics, key)) continue;
    if (++examined > MAX_METRIC_KEYS_EXAMINED || kept.length >= MAX_METRICS) {
      cut = true;
      break;
    }
    const value = (metrics as Record<string, unknown>)[key];
    if (value === null || value === undefined) continue;
    const usable =
      (typeof value === 'number' && Number.isFinite(value)) ||
      typeof value === 'boolean' ||
      (typeof value === 'string' && value.length <= MAX_METRIC_TEXT_CHARS);
    if (!usable || key.length > MAX_METRIC_KEY_CHARS) {
      cut = true;
      continue;
    }
    const entry: [string, number | string | boolean] = [wellFormed(key), typeof value === 'string' ? wellFormed(value) : value];
    // `"key":value` is the array's length less its brackets and comma plus a colon; a comma before all but the first.
    const size = Buffer.byteLength(JSON.stringify(entry)) - 2 + (kept.length > 0 ? 1 : 0);
    if (bytes + size > MAX_METRICS_BYTES) {
      cut = true;
      continue;
    }
    kept.push(entry);
    bytes += size;
  }
  // fromEntries defines own properties, so even a `__proto__` key stays a plain field.
  return { ...(kept.length > 0 ? { value: Object.fromEntries(kept) } : {}), cut };
}

function errorText(error: unknown): { text?: string; cut: boolean } {
  if (error === null || error === undefined) return { cut: false };
  const json = typeof error === 'string' ? { text: error, complete: true } : boundedJson(error, MAX_ERROR_CHARS + 1);
  const { text } = json;
  if (text.length <= MAX_ERROR_CHARS) return { text: wellFormed(text), cut: !json.complete };
  return { text: `${wellFormed(wellFormedPrefix(text, MAX_ERROR_CHARS))}${ERROR_CUT_NOTE}`, cut: true };
}

// JSON.stringify recurses once per level: a few thousand levels in a 12 KB body overflow the stack.
const MAX_JSON_DEPTH = 8;

/**
 * JSON text of a parsed value, safe whatever its shape: nesting past MAX_JSON_DEPTH is shown as
 * `[…]` or `{…}`, and writing stops soon after `maxChars` (the caller cuts the rest), so neither
 * depth nor width costs more than a bounded amount of work.
 */
export function boundedJson(value: unknown, maxChars: number): { readonly text: string; readonly complete: boolean } {
  let text = '';
  let complete = true;
  const write = (item: unknown, depth: number): void => {
    if (text.length > maxChars) return;
    if (typeof item === 'string') {
      if (item.length > maxChars) complete = false;
      text += JSON.stringify(item.length > maxChars ? item.slice(0, maxChars) : item);
    } else if (typeof item === 'number') text += Number.isFinite(item) ? String(item) : 'null';
    else if (typeof item === 'boolean') text += String(item);
    else if (typeof item !== 'object' || item === null) text += 'null';
    else if (depth >= MAX_JSON_DEPTH) {
      complete = false;
      text += Array.isArray(item) ? '[…]' : '{…}';
    } else if (Array.isArray(item)) {
      text += '[';
      for (let index = 0; index < item.length && text.length <= maxChars; index++) {
        if (index > 0) text += ',';
        write(item[index], depth + 1);
      }
      text += ']';
    } else {
      text += '{';
      let first = true;
      for (const key in item) {
        if (text.length > maxChars) break;
        if (!Object.prototype.hasOwnProperty.call(item, key)) continue;
        text += `${first ? '' : ','}${JSON.stringify(key.length > maxChars ? key.slice(0, maxChars) : key)}:`;
        first = false;
        write((item as Record<string, unknown>)[key], depth + 1);
      }
      text += '}';
    }
  };
  try {
    write(value, 0);
  } catch {
    // Only an exotic object (a throwing getter) gets here; a parsed payload never does.
    return { text: '(unprintable)', complete: false };
  }
  // Past maxChars the rest was never written; the caller sees the length and cuts.
  return { text, complete: complete && text.length <= maxChars };
}
