/**
 * Standard Webhooks v1 (symmetric) signatures, as Replicate sends them.
 *
 * Pure: no AWS SDK, no I/O. The signed content is `${id}.${timestamp}.${body}` over the raw
 * body bytes, HMAC-SHA256, standard base64.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

/** Why a request was not accepted as signed. Each is answered with 401. */
export type SignatureRejection =
  | 'missing_headers'
  | 'invalid_webhook_id'
  | 'invalid_timestamp'
  | 'timestamp_out_of_tolerance'
  | 'no_v1_signature'
  | 'bad_signature';

export interface SignedRequest {
  readonly webhookId: string | undefined;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  /** The raw body: bytes, or the text API Gateway decoded them into (hashed as UTF-8). */
  readonly body: string | Uint8Array;
}

/** A request whose headers are well formed and fresh, ready for the HMAC check. */
export interface WellFormedRequest {
  readonly webhookId: string;
  readonly timestampSeconds: number;
  /** The raw `webhook-timestamp` header: what the sender signed. */
  readonly timestamp: string;
  readonly v1Signatures: readonly string[];
  readonly body: string | Uint8Array;
}

export type HeaderCheck =
  { readonly ok: true; readonly request: WellFormedRequest } | { readonly ok: false; readonly reason: SignatureRejection };

// Bounds for header games: a real id is ~30 chars and Replicate sends one or two signatures.
const MAX_WEBHOOK_ID_LENGTH = 256;
const MAX_SIGNATURES = 16;
const WEBHOOK_ID = /^[\x21-\x7e]+$/;
const TIMESTAMP = /^[0-9]{1,12}$/;
// A SHA-256 digest in standard base64 is always 44 characters: 42 free ones, one whose last two
// bits are zero, then `=`. Nothing else can equal a computed signature.
const V1_PREFIX = 'v1,';
const V1_SIGNATURE_LENGTH = 44;
const V1_SIGNATURE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const V1_ENTRY = /(?:^| )v1,/;

/**
 * Checks everything that needs no key: presence, shape, timestamp tolerance (both ways) and
 * that at least one `v1` signature is offered. Cheap, so junk is refused before any key lookup.
 */
export function checkHeaders(request: SignedRequest, nowSeconds: number, toleranceSeconds: number): HeaderCheck {
  const { webhookId, timestamp, signature } = request;
  if (!webhookId || !timestamp || !signature) return { ok: false, reason: 'missing_headers' };
  if (webhookId.length > MAX_WEBHOOK_ID_LENGTH || !WEBHOOK_ID.test(webhookId)) {
    return { ok: false, reason: 'invalid_webhook_id' };
  }
  if (!TIMESTAMP.test(timestamp)) return { ok: false, reason: 'invalid_timestamp' };
  const timestampSeconds = Number(timestamp);
  if (Math.abs(nowSeconds - timestampSeconds) > toleranceSeconds) {
    return { ok: false, reason: 'timestamp_out_of_tolerance' };
  }
  const v1Signatures = parseV1Signatures(signature);
  if (v1Signatures.length === 0) {
    // `v1` entries that cannot be a signature are a failed signature, not a missing one: no key
    // could match them, so they are refused here, and still counted as bad signatures.
    return { ok: false, reason: V1_ENTRY.test(signature) ? 'bad_signature' : 'no_v1_signature' };
  }
  return { ok: true, request: { webhookId, timestamp, timestampSeconds, v1Signatures, body: request.body } };
}

/**
 * The well-formed `v1` signatures of a `webhook-signature` header (space-separated
 * `version,base64` pairs). Other versions and malformed entries are skipped, as the spec asks,
 * and do not count toward the cap: junk before a valid signature must not hide it. One pass
 * that copies only candidate entries, so thousands of entries stay cheap.
 */
export function parseV1Signatures(header: string): string[] {
  const found: string[] = [];
  const entryLength = V1_PREFIX.length + V1_SIGNATURE_LENGTH;
  for (let start = 0; start < header.length && found.length < MAX_SIGNATURES;) {
    let end = header.indexOf(' ', start);
    if (end === -1) end = header.length;
    if (end - start === entryLength && header.startsWith(V1_PREFIX, start)) {
      const signature = header.slice(start + V1_PREFIX.length, end);
      if (V1_SIGNATURE.test(signature)) found.push(signature);
    }
    start = end + 1;
  }
  return found;
}

/** The base64 HMAC-SHA256 of `${id}.${timestamp}.` followed by the body bytes. */
export function computeSignature(key: Uint8Array, webhookId: string, timestamp: string, body: string | Uint8Array): string {
  // Two update() calls: the body is never copied, and text is encoded to UTF-8 inside OpenSSL's feed.
  return createHmac('sha256', key).update(`${webhookId}.${timestamp}.`).update(body).digest('base64');
}

/** True when any offered `v1` signature matches any of the keys. Never throws. */
export function matchesAnyKey(request: WellFormedRequest, keys: readonly Uint8Array[]): boolean {
  const offered = request.v1Signatures
    .filter((signature) => signature.length === V1_SIGNATURE_LENGTH)
    .map((signature) => Buffer.from(signature, 'latin1'));
  if (offered.length === 0) return false;
  for (const key of keys) {
    const expected = Buffer.from(computeSignature(key, request.webhookId, request.timestamp, request.body), 'latin1');
    // Check every candidate, so the time taken does not tell which one matched.
    let matched = false;
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
    }
    if (matched) return true;
  }
  return false;
}

export type VerifyResult =
  | { readonly ok: true; readonly webhookId: string; readonly timestampSeconds: number }
  | { readonly ok: false; readonly reason: SignatureRejection };

/** The whole check in one call, for callers that already hold the keys. */
export function verifyWebhook(
  request: SignedRequest,
  keys: readonly Uint8Array[],
  nowSeconds: number,
  toleranceSeconds: number,
): VerifyResult {
  const checked = checkHeaders(request, nowSeconds, toleranceSeconds);
  if (!checked.ok) return checked;
  if (!matchesAnyKey(checked.request, keys)) return { ok: false, reason: 'bad_signature' };
  return { ok: true, webhookId: checked.request.webhookId, timestampSeconds: checked.request.timestampSeconds };
}

/** Signs like Replicate does: the `webhook-signature` header value for these inputs. */
export function signWebhook(secret: string, webhookId: string, timestamp: string, body: Uint8Array | string): string {
  return `v1,${computeSignature(decodeSigningKey(secret), webhookId, timestamp, body)}`;
}

/** Raised for a secret value that holds no usable key. Its message never contains the key. */
export class SigningSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningSecretError';
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The HMAC key of one `whsec_<base64>` secret: the decoded bytes after the prefix. */
export function decodeSigningKey(secret: string): Buffer {
  // The prefix is required: a value without it is the placeholder of a secret nobody has set.
  if (!secret.startsWith(SECRET_PREFIX)) throw new SigningSecretError('signing secret is not a whsec_ key');
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !BASE64.test(encoded)) {
    throw new SigningSecretError('signing secret is not a whsec_<base64> key');
  }
  return Buffer.from(encoded, 'base64');
}

/**
 * The keys held by a secret value. Accepted forms, so that rotation needs no code change:
 * - `whsec_…` (one key), or several separated by whitespace or commas;
 * - JSON `{"key": "whsec_…"}`, exactly what Replicate's `GET /v1/webhooks/default/secret`
 *   returns, optionally with `"keys": ["whsec_…", …]` for keys still accepted during a rotation.
 */
export function parseSigningSecret(secretValue: string): Buffer[] {
  const text = secretValue.trim();
  let encodedKeys: unknown[];
  if (text.startsWith('{')) {
    let parsed: { key?: unknown; keys?: unknown };
    try {
      parsed = JSON.parse(text) as { key?: unknown; keys?: unknown };
    } catch {
      throw new SigningSecretError('signing secret looks like JSON but does not parse');
    }
    encodedKeys = [
      ...(parsed.key === undefined ? [] : [parsed.key]),
      ...(Array.isArray(parsed.keys) ? (parsed.keys as unknown[]) : []),
    ];
  } else {
    encodedKeys = text.split(/[\s,]+/).filter((part) => part.length > 0);
  }
  if (encodedKeys.length === 0) throw new SigningSecretError('signing secret holds no key');
  return encodedKeys.map((encoded) => {
    if (typeof encoded !== 'string') throw new SigningSecretError('signing secret keys must be strings');
    return decodeSigningKey(encoded);
  });
}
