/**
 * How a terminal payload is kept in its own item of the table: gzip-compressed, as a Binary
 * attribute. DynamoDB bills a write per started KB of the item, and a webhook body (JSON: keys,
 * URLs, tqdm lines) compresses 2–3× at the sizes Replicate sends (`npm run bench -- units`), so a
 * typical 3 KB payload costs 2 write units instead of 4. Items written before payloads were
 * compressed hold the body as the string `payload`; they live until their TTL (30 days), so every
 * reader goes through `payloadOfItem`, which reads both.
 *
 * The bytes compressed are the body as the verifier verified it, and decompressing gives them
 * back exactly: the digest in the item's key (`bodySha256` over the raw body) names them still.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ATTR } from './state';

/**
 * zlib's own default. Measured on the sample payloads (0.9–1.3 KB), the bench's bodies (3 KB,
 * 25 KB, 100 KB) and tqdm-style logs up to 6 MB: level 6 and 9 give the same size up to 3 KB,
 * level 1 is 5–12% larger (a 3 KB body: 1,130 bytes against 1,011), and all three take about
 * 20–35 µs there. Level 9 costs 8× level 6 on long repetitive logs (64 KB: 13 ms against 1.7 ms);
 * level 6 costs 2–4× level 1 on large bodies, which compression stops early (see compressPayload).
 */
export const PAYLOAD_GZIP_LEVEL = 6;

/**
 * The body gzip-compressed, or undefined when that would take more than `maxBytes`: zlib stops
 * as soon as its output passes the limit, so a body that is going to S3 anyway costs the CPU of
 * about `maxBytes` × its compression ratio, not of the whole body (a 6 MB body: about 10 ms at
 * 16 KiB, instead of 110 ms).
 */
export function compressPayload(body: string | Buffer, maxBytes = Number.POSITIVE_INFINITY): Buffer | undefined {
  try {
    return gzipSync(body, {
      level: PAYLOAD_GZIP_LEVEL,
      // At least 1: zlib refuses 0, and no gzip stream is shorter than 20 bytes anyway.
      ...(Number.isFinite(maxBytes) ? { maxOutputLength: Math.max(1, Math.floor(maxBytes)) } : {}),
    });
  } catch (error) {
    if ((error as { code?: string } | undefined)?.code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw error;
  }
}

/** The body of a compressed payload, as the verifier received it (its bytes are valid UTF-8). */
export function decompressPayload(compressed: Uint8Array): string {
  return gunzipSync(compressed).toString('utf8');
}

/**
 * The terminal payload a payload item holds: `payloadGzip` (written by this version), or the
 * string `payload` (written by earlier ones); undefined when it holds neither (or there is no item).
 * A Binary attribute comes back from the SDK as a Uint8Array.
 */
export function payloadOfItem(item: Readonly<Record<string, AttributeValue>> | undefined): string | undefined {
  const compressed = item?.[ATTR.payloadGzip]?.B;
  if (compressed !== undefined) return decompressPayload(compressed);
  return item?.[ATTR.payload]?.S;
}
