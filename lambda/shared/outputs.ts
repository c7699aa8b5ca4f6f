/**
 * Output discovery: every file a prediction's `output` points at, at any depth. A file is a
 * string that is wholly a URL (`scheme://…`, no whitespace) or a `data:` URI. Anything else is
 * text (streamed language-model tokens, captions) and stays in prediction.json only.
 * Pure: no I/O. Whether a URL may be fetched is the fetcher's decision, so a hostile URL is
 * still discovered, refused there, and listed as a failure.
 */

/** Where Replicate serves output files; the construct's default allow-list for fetching them. */
export const DEFAULT_OUTPUT_HOSTS: readonly string[] = ['replicate.delivery', '*.replicate.delivery'];

export interface DiscoveredOutput {
  /** Position in discovery order; the archive key starts with it, so keys are deterministic. */
  readonly index: number;
  readonly kind: 'url' | 'data';
  /** The URL or the whole `data:` URI. */
  readonly source: string;
  /** Where it sits in `output`, e.g. `[0]`, `.frames[1]`; several if the same source repeats. */
  readonly paths: readonly string[];
  /** A safe file name for the archive key. */
  readonly fileName: string;
}

// Deep enough for any real output; bounded so a hostile payload cannot exhaust the stack.
const MAX_DEPTH = 64;
const MAX_FILES = 10_000;
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/\S+$/;
const DATA_URI = /^data:[^,\s]*,/i;

export function discoverOutputs(output: unknown): DiscoveredOutput[] {
  const bySource = new Map<string, { kind: 'url' | 'data'; paths: string[] }>();
  const visit = (value: unknown, path: string, depth: number): void => {
    if (depth > MAX_DEPTH || bySource.size >= MAX_FILES) return;
    if (typeof value === 'string') {
      const kind = classify(value);
      if (!kind) return;
      const found = bySource.get(value);
      if (found) found.paths.push(path);
      else bySource.set(value, { kind, paths: [path] });
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => visit(item, `${path}[${index}]`, depth + 1));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        visit(item, /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`, depth + 1);
      }
    }
  };
  visit(output, '', 0);
  return [...bySource.entries()].map(([source, { kind, paths }], index) => ({
    index,
    kind,
    source,
    paths,
    fileName:
      kind === 'url' ? fileNameFromUrl(source, index) : `output-${index}.${extensionFor(parseDataUri(source)?.contentType)}`,
  }));
}

function classify(value: string): 'url' | 'data' | undefined {
  if (DATA_URI.test(value)) return parseDataUri(value) ? 'data' : undefined;
  if (!URL_LIKE.test(value)) return undefined;
  try {
    new URL(value);
    return 'url';
  } catch {
    return undefined;
  }
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
  const cleaned = name
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
  const contentType = mediaParameters[0] ? mediaParameters.join(';') : 'text/plain;charset=US-ASCII';
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
