/**
 * Output discovery: every file a prediction's `output` points at, at any depth. A file is a
 * string that is wholly a URL (`scheme://…`, no whitespace) or a `data:` URI. Anything else is
 * text (streamed language-model tokens, captions) and stays in the archived payload only.
 * Pure: no I/O. Whether a URL may be fetched is the fetcher's decision, so a hostile URL is
 * still discovered, refused there, and listed as a failure; likewise a `data:` URI that does not
 * decode is still discovered, and listed as a failure (`invalid_data_uri`) where it is archived.
 */

/** An output file to archive. */
export interface DiscoveredFile {
  /** Position in discovery order; the archive key starts with it, so keys are deterministic. */
  readonly index: number;
  /** `data`: a `data:` URI, whether or not it decodes (`parseDataUri` says). */
  readonly kind: 'url' | 'data';
  /** The URL or the whole `data:` URI. */
  readonly source: string;
  /** Where it sits in `output`, e.g. `[0]`, `.frames[1]`; several if the same source repeats. */
  readonly paths: readonly string[];
  /** Further places the same source sits, past the first MAX_PATHS_PER_OUTPUT. */
  readonly omittedPaths?: number;
  /** A safe file name for the archive key. */
  readonly fileName: string;
}

/**
 * Why a found output is not archived: past the file count (`too_many_outputs`), nested deeper
 * than MAX_DEPTH (`too_deep`), or beyond the values discovery inspects (`discovery_limit`; a
 * JSON body of Lambda's 6 MB cannot reach it, only a cyclic or generated object can).
 */
export type SkipReason = 'too_many_outputs' | 'too_deep' | 'discovery_limit';

/** Outputs found but not archived: one listed output, or a summary of many. */
export interface SkippedOutputs {
  readonly index: number;
  readonly kind: 'skipped';
  readonly reason: SkipReason;
  /** The URL (a data URI as `data:<type> (<n> bytes)`), or for a summary, what it stands for. */
  readonly source: string;
  readonly paths: readonly string[];
  readonly omittedPaths?: number;
  /**
   * Set on a summary entry only: how many distinct outputs it stands for, not listed one by one.
   * Absent for one listed output, and for `discovery_limit` (how many is unknown).
   */
  readonly count?: number;
}

export type DiscoveredOutput = DiscoveredFile | SkippedOutputs;

// Deep enough for any real output; past it, files are reported (`too_deep`), not archived.
export const MAX_DEPTH = 64;
export const MAX_FILES = 10_000;
// Skipped outputs are listed one by one up to this many; the rest are one summary entry per
// reason with a count, so a hostile output cannot turn the manifest into millions of failures.
export const MAX_LISTED_SKIPPED = 100;
export const MAX_PATHS_PER_OUTPUT = 100;
// A 6 MB JSON body holds at most about 3 million values; this only stops cyclic objects.
const MAX_VISITS = 10_000_000;
const MAX_PATH_CHARS = 1_000;
const MAX_KEY_CHARS = 100;

const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/\S+$/;
const DATA_URI = /^data:[^,\s]*,/i;
const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";
// A `type/…` broken by a control character or a line break (CR/LF injected into the media type)
// is a hostile data: URI, not text: found, so it is settled like any other, never dropped. Prose
// that merely starts with `data:` (a space after it, no `type/`) stays text.
const DATA_URI_WITH_CONTROLS = new RegExp(`^data:${TOKEN}/[^,]*[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029][^,]*,`, 'i');
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

type CountedReason = Exclude<SkipReason, 'discovery_limit'>;

/** One source as discovery saw it. */
interface Sighting {
  readonly kind: 'url' | 'data';
  readonly paths: string[];
  omittedPaths: number;
}

const addPath = (sighting: Sighting, path: string): void => {
  if (sighting.paths.length < MAX_PATHS_PER_OUTPUT) sighting.paths.push(path);
  else sighting.omittedPaths++;
};

/** Where discovery puts what it sees: files to archive, skipped ones listed, skipped ones only counted. */
class Sightings {
  readonly files = new Map<string, Sighting>();
  readonly listed: Record<CountedReason, Map<string, Sighting>> = { too_many_outputs: new Map(), too_deep: new Map() };
  // Past the listing limit a source is only counted (distinct), never kept with its paths.
  readonly unlisted: Record<CountedReason, Set<string>> = { too_many_outputs: new Set(), too_deep: new Set() };

  /** `pathOf` is called only when the path is kept: building paths of uncounted sources would be wasted work. */
  note(value: string, pathOf: () => string, deep: boolean): void {
    const known =
      this.files.get(value) ?? this.listed.too_many_outputs.get(value) ?? (deep ? this.listed.too_deep.get(value) : undefined);
    if (known) return addPath(known, pathOf());
    if (this.unlisted.too_many_outputs.has(value) || (deep && this.unlisted.too_deep.has(value))) return;
    const kind = classify(value);
    if (!kind) return;
    // A source seen deep first and shallow later is archived: `settle` drops its deep sighting.
    const reason: CountedReason | undefined = deep ? 'too_deep' : this.files.size < MAX_FILES ? undefined : 'too_many_outputs';
    if (!reason) this.files.set(value, { kind, paths: [pathOf()], omittedPaths: 0 });
    else if (this.listed[reason].size < MAX_LISTED_SKIPPED)
      this.listed[reason].set(value, { kind, paths: [pathOf()], omittedPaths: 0 });
    else this.unlisted[reason].add(value);
  }

  /** Deep sightings of sources also found within MAX_DEPTH are not failures. */
  settle(): void {
    const shallow = (source: string) =>
      this.files.get(source) ?? this.listed.too_many_outputs.get(source) ?? this.unlisted.too_many_outputs.has(source);
    for (const [source, sighting] of this.listed.too_deep) {
      const found = shallow(source);
      if (!found) continue;
      if (typeof found === 'object') for (const path of sighting.paths) addPath(found, path);
      this.listed.too_deep.delete(source);
    }
    for (const source of this.unlisted.too_deep) if (shallow(source)) this.unlisted.too_deep.delete(source);
  }
}

/**
 * Finds every output file. Work and memory are bounded whatever the shape: the walk is
 * iterative (JSON.parse builds nesting far deeper than any call stack), paths are only built
 * down to MAX_DEPTH and cut at MAX_PATH_CHARS, and no more than MAX_VISITS values are looked at.
 * Order: the files to archive (pre-order, the first MAX_FILES distinct sources), then the skipped
 * ones listed individually (up to MAX_LISTED_SKIPPED per reason), then one summary entry per
 * reason with the count of the rest.
 */
export function discoverOutputs(output: unknown): DiscoveredOutput[] {
  const sightings = new Sightings();
  let visits = 0;
  let complete = true;

  // Below MAX_DEPTH only files are looked for, to be reported with the path where it got too deep.
  const walkDeep = (root: object, path: string): void => {
    const pathOf = () => path;
    const pending: unknown[] = [root];
    while (pending.length > 0) {
      if (visits >= MAX_VISITS) {
        complete = false;
        return;
      }
      const current = pending.pop();
      visits++;
      if (typeof current === 'string') sightings.note(current, pathOf, true);
      else if (typeof current === 'object' && current !== null) {
        // Pushed in reverse, so they are visited in order; never spread (argument count limits).
        const children = Array.isArray(current) ? current : Object.values(current);
        for (let i = children.length - 1; i >= 0; i--) pending.push(children[i]);
      }
    }
  };

  // Down to MAX_DEPTH, with paths. A frame holds a cursor, so a wide container costs no memory.
  interface Frame {
    readonly container: unknown[] | Record<string, unknown>;
    readonly keys: readonly string[] | undefined;
    readonly path: string;
    readonly depth: number;
    next: number;
  }
  const stack: Frame[] = [];
  // The child's path is built only for what needs one: a file, or a container to descend into.
  const enter = (value: unknown, parent: Frame | undefined, key: string | number): void => {
    visits++;
    if (typeof value === 'string') return sightings.note(value, () => (parent ? childPath(parent.path, key) : ''), false);
    if (typeof value !== 'object' || value === null) return;
    const path = parent ? childPath(parent.path, key) : '';
    const depth = parent ? parent.depth + 1 : 0;
    if (depth >= MAX_DEPTH) walkDeep(value, cutPath(`${path}…`));
    else if (Array.isArray(value)) stack.push({ container: value, keys: undefined, path, depth, next: 0 });
    else stack.push({ container: value as Record<string, unknown>, keys: Object.keys(value), path, depth, next: 0 });
  };
  enter(output, undefined, '');
  while (stack.length > 0 && complete) {
    if (visits >= MAX_VISITS) {
      complete = false;
      break;
    }
    const frame = stack[stack.length - 1];
    const length = frame.keys ? frame.keys.length : (frame.container as unknown[]).length;
    if (frame.next >= length) {
      stack.pop();
      continue;
    }
    const position = frame.next++;
    if (frame.keys) {
      const key = frame.keys[position];
      enter((frame.container as Record<string, unknown>)[key], frame, key);
    } else {
      enter((frame.container as unknown[])[position], frame, position);
    }
  }
  sightings.settle();

  const result: DiscoveredOutput[] = [];
  const morePaths = (omittedPaths: number) => (omittedPaths > 0 ? { omittedPaths } : {});
  for (const [source, { kind, paths, omittedPaths }] of sightings.files) {
    const index = result.length;
    const fileName =
      kind === 'url' ? fileNameFromUrl(source, index) : `output-${index}.${extensionFor(parseDataUri(source)?.contentType)}`;
    result.push({ index, kind, source, paths, ...morePaths(omittedPaths), fileName });
  }
  const summaries: ReadonlyArray<readonly [CountedReason, string]> = [
    ['too_many_outputs', `past the first ${MAX_FILES} files`],
    ['too_deep', `nested deeper than ${MAX_DEPTH} levels`],
  ];
  for (const [reason] of summaries) {
    for (const [source, { kind, paths, omittedPaths }] of sightings.listed[reason]) {
      const shown = kind === 'data' ? describeDataUri(source) : source;
      result.push({ index: result.length, kind: 'skipped', reason, source: shown, paths, ...morePaths(omittedPaths) });
    }
  }
  for (const [reason, why] of summaries) {
    const count = sightings.unlisted[reason].size;
    if (count === 0) continue;
    result.push({ index: result.length, kind: 'skipped', reason, source: `(${count} more outputs ${why})`, paths: [], count });
  }
  if (!complete) {
    result.push({
      index: result.length,
      kind: 'skipped',
      reason: 'discovery_limit',
      source: `(output not inspected past its first ${MAX_VISITS} values)`,
      paths: [],
    });
  }
  return result;
}

function childPath(parent: string, key: string | number): string {
  // Once cut, a path stays as it is: its descendants share it.
  if (parent.endsWith('…')) return parent;
  if (typeof key === 'number') return cutPath(`${parent}[${key}]`);
  if (IDENTIFIER.test(key) && key.length <= MAX_KEY_CHARS) return cutPath(`${parent}.${key}`);
  const shown = key.length <= MAX_KEY_CHARS ? JSON.stringify(key) : `${JSON.stringify(key.slice(0, MAX_KEY_CHARS))}…`;
  return cutPath(`${parent}[${shown}]`);
}

const cutPath = (path: string): string =>
  path.length <= MAX_PATH_CHARS ? path : `${wellFormedPrefix(path, MAX_PATH_CHARS - 1)}…`;

/** The first `length` UTF-16 units, without splitting a surrogate pair. */
export function wellFormedPrefix(text: string, length: number): string {
  if (text.length <= length) return text;
  const cut = text.charCodeAt(length - 1);
  return text.slice(0, cut >= 0xd800 && cut <= 0xdbff ? length - 1 : length);
}

function classify(value: string): 'url' | 'data' | undefined {
  // Whether it decodes is settled where it is archived: one that does not is a failure, not text.
  if (DATA_URI.test(value) || DATA_URI_WITH_CONTROLS.test(value)) return 'data';
  if (!URL_LIKE.test(value)) return undefined;
  try {
    new URL(value);
    return 'url';
  } catch {
    return undefined;
  }
}

/** How a data URI is shown in the manifest and the notification: never its (possibly huge) data. */
function describeDataUri(uri: string): string {
  const decoded = parseDataUri(uri);
  return decoded ? `data:${decoded.contentType} (${decoded.bytes.length} bytes)` : 'data: (malformed)';
}

function fileNameFromUrl(source: string, index: number): string {
  let last = '';
  try {
    last = decodeURIComponent(new URL(source).pathname.split('/').pop() ?? '');
  } catch {
    // a malformed escape: fall back to the generic name
  }
  return sanitizeFileName(last) || `output-${index}`;
}

/** Letters, digits, dot, dash and underscore only; no leading dots; at most 100 characters. */
export function sanitizeFileName(name: string): string {
  // Bounded first (normalising a megabyte-long name is wasted work), keeping both ends: the extension is at the end.
  const bounded = name.length <= 1_000 ? name : `${name.slice(0, 500)}${name.slice(-500)}`;
  const cleaned = bounded
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._]+/, '');
  if (cleaned.length <= 100) return cleaned;
  const dot = cleaned.lastIndexOf('.');
  const extension = dot > 0 && cleaned.length - dot <= 10 ? cleaned.slice(dot) : '';
  return cleaned.slice(0, 100 - extension.length) + extension;
}

export interface DecodedDataUri {
  /** Always usable as an HTTP header value: see normalizeMediaType. */
  readonly contentType: string;
  readonly bytes: Buffer;
}

/** RFC 2397: `data:[<mediatype>][;base64],<data>`. Undefined when malformed. */
export function parseDataUri(uri: string): DecodedDataUri | undefined {
  const comma = uri.indexOf(',');
  if (!/^data:/i.test(uri) || comma < 0) return undefined;
  const meta = uri.slice(5, comma);
  const data = uri.slice(comma + 1);
  const parameters = meta.split(';');
  const isBase64 = parameters.length > 1 && parameters[parameters.length - 1].toLowerCase() === 'base64';
  const mediaParameters = isBase64 ? parameters.slice(0, -1) : parameters;
  // The media type becomes S3's Content-Type header: one that is not a sane header value would
  // fail the upload on every try, so it is replaced rather than passed on.
  const contentType = mediaParameters[0]
    ? (normalizeMediaType(mediaParameters.join(';')) ?? 'application/octet-stream')
    : 'text/plain;charset=US-ASCII';
  if (isBase64) {
    const compact = data.replace(/%0[aAdD]|\s/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
    return { contentType, bytes: Buffer.from(compact, 'base64') };
  }
  try {
    return { contentType, bytes: Buffer.from(decodeURIComponent(data), 'utf8') };
  } catch {
    return undefined;
  }
}

// `type/subtype`, then optional parameters in printable ASCII: what every HTTP stack and S3 accept.
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[\\x20-\\x7e]*)?$`);
const MAX_MEDIA_TYPE_CHARS = 200;

/** The media type if it can be a Content-Type header as is (bounded, `type/subtype[; params]`), else undefined. */
export function normalizeMediaType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.length <= MAX_MEDIA_TYPE_CHARS ? value.replace(/^[ \t]+|[ \t]+$/g, '') : '';
  return MEDIA_TYPE.test(trimmed) ? trimmed : undefined;
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/svg+xml': 'svg',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/mpeg': 'mp3',
  'video/mp4': 'mp4',
  'application/json': 'json',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/csv': 'csv',
};

function extensionFor(contentType: string | undefined): string {
  const mediaType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return EXTENSIONS[mediaType] ?? 'bin';
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
  mp4: 'video/mp4',
  webm: 'video/webm',
  mov: 'video/quicktime',
  json: 'application/json',
  pdf: 'application/pdf',
  txt: 'text/plain',
  csv: 'text/csv',
};

/** A content type guessed from a file name, for servers that send none. */
export function contentTypeForFileName(fileName: string): string {
  const extension = fileName.split('.').pop()?.toLowerCase() ?? '';
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}
