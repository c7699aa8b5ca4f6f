/**
 * How a terminal payload is kept in its own item of the table: Brotli-compressed, as the Binary
 * attribute `payloadBr`. DynamoDB bills a write per started KB of the item, and a webhook body
 * (JSON: keys, URLs, tqdm lines) compresses 2–3.5× at the sizes Replicate sends (`npm run bench --
 * units`): the cost model's 3 KiB payload makes an item under 1 KB, one write unit instead of 2
 * gzip-compressed or 4 as a string. Items written before payloads were compressed hold the body
 * as the string `payload`; they live until their TTL (30 days), so every reader goes through
 * `payloadOfItem`, which reads both.
 *
 * The bytes compressed are the body as the verifier verified it, and decompressing gives them
 * back exactly. Brotli carries no checksum of its own (a flipped byte can decode to another
 * body), so `payloadOfItem` checks the bytes against the digest the item's key names
 * (`bodySha256` over the raw body): a payload item reads as the body it was written for, or not
 * at all.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { ATTR, PARTITION_KEY } from './state';

/**
 * Brotli quality 5, chosen on size and CPU, measured (node:zlib, best of several runs, one core)
 * with the window below; gzip level 6 (what was used before) for comparison:
 *
 * | body                            | gzip 6           | q 4              | q 5              | q 6              | q 9              | q 11                |
 * | ------------------------------- | ---------------- | ---------------- | ---------------- | ---------------- | ---------------- | ------------------- |
 * | samples (0.9–1.3 KB, 9 of them) | Σ 4,666, ≤35 µs  | Σ 4,561, ≤36 µs  | Σ 4,280, ≤36 µs  | Σ 4,280, ≤36 µs  | Σ 4,254, ≤0.9 ms | Σ 4,091, ≤2.1 ms    |
 * | the cost model's 3 KiB          | 998, 34 µs       | 956, 50 µs       | 888, 55 µs       | 884, 57 µs       | 883, 1.9 ms      | 802, 4.1 ms         |
 * | 16 KiB of tqdm logs             | 3,020, 0.27 ms   | 3,001, 0.17 ms   | 2,694, 0.32 ms   | 2,689, 0.36 ms   | 2,677, 5.3 ms    | 2,100, 21 ms        |
 * | 64 KiB of tqdm logs             | 10,449, 1.4 ms   | 10,433, 0.63 ms  | 9,191, 1.2 ms    | 9,127, 1.6 ms    | 9,091, 11 ms     | 6,630, 86 ms        |
 * | 6 MB of tqdm lines, whole       | 611,734, 72 ms   | 391,000, 45 ms   | 264,474, 74 ms   | 267,413, 112 ms  | 216,626, 341 ms  | 189,265, 10.5 s     |
 * | the same, given up at 16 KiB    | 7.1 ms           | 7.4 ms           | 12.5 ms          | 18.7 ms          | 64 ms            | 2.5 s               |
 *
 * (Bytes, then time. The 3 KiB body varies by a few bytes with the scenario's random ids.)
 * Quality 5 is 7–9% smaller than gzip 6 on every sample and 10–12% on the 3 KiB–64 KiB logs,
 * which is what takes the 3 KiB payload's item under 1 KB (966 bytes in `npm run bench --
 * units`, against 1,073 gzipped). Quality 4 is barely smaller than gzip (that item would stay
 * over 1 KB); quality 6 saves under 1% more for 5–50% more CPU; quality 9 as little for 9–35×
 * the CPU. Quality 11 is 4–28% smaller again (the longer the logs, the more) but takes 4 ms on a
 * 3 KiB body and 86 ms on 64 KiB, and DynamoDB bills by the started KB: the 3 KiB payload's item
 * is one unit either way.
 */
export const PAYLOAD_BROTLI_QUALITY = 5;

/**
 * A window of 256 KiB (2^18) instead of Brotli's 4 MiB default. Sizes are the same up to 64 KiB
 * (and within 0.5% at 1 MB), and it keeps the early stop of `compressPayload`: the encoder only
 * emits output a meta-block at a time, a meta-block being up to twice the window, so with the
 * default window a body of highly compressible logs is compressed whole before a byte comes out
 * and the limit is noticed (6 MB of tqdm lines: 97 ms to give up at 16 KiB, as long as compressing
 * it all), while with this one it is given up after the first 512 KiB at most (12.5 ms).
 */
export const PAYLOAD_BROTLI_WINDOW_BITS = 18;

/**
 * The body Brotli-compressed, or undefined when that would take more than `maxBytes`: compression
 * stops as soon as its output passes the limit (zlib's maxOutputLength, checked as each piece
 * comes out), so a body that is going to S3 anyway costs the CPU of about `maxBytes` × its
 * compression ratio, or of one meta-block (512 KiB of input) if more, not of the whole body.
 * Text mode and the size hint are given as hints; at this quality neither changes a byte
 * (measured on the bodies above).
 */
export function compressPayload(body: string | Buffer, maxBytes = Number.POSITIVE_INFINITY): Buffer | undefined {
  // Nothing fits in no bytes (even an empty body takes 1), and zlib refuses a limit of 0.
  if (!(maxBytes >= 1)) return undefined;
  try {
    return brotliCompressSync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: PAYLOAD_BROTLI_QUALITY,
        [constants.BROTLI_PARAM_LGWIN]: PAYLOAD_BROTLI_WINDOW_BITS,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: typeof body === 'string' ? Buffer.byteLength(body) : body.length,
      },
      ...(Number.isFinite(maxBytes) ? { maxOutputLength: Math.floor(maxBytes) } : {}),
    });
  } catch (error) {
    if ((error as { code?: string } | undefined)?.code === 'ERR_BUFFER_TOO_LARGE') return undefined;
    throw error;
  }
}

/**
 * The bytes of a compressed payload. Unchecked: a corrupted item can decompress to other bytes,
 * so readers of an item go through `payloadOfItem`, which checks them against the item's key.
 */
export function decompressPayload(compressed: Uint8Array): Buffer {
  return brotliDecompressSync(compressed);
}

/**
 * The body's digest: the first 128 bits of its SHA-256, base64url (22 characters, safe in keys).
 * Short because it sits on the record the archiver writes three times, billed per KB; 128 bits
 * leave no practical way to make a second body that passes for the first. It names the payload
 * item (`payloadItemKey`), and a webhook's body on the record (`lastWebhookSha256`).
 */
export function bodySha256(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest().subarray(0, 16).toString('base64url');
}

/**
 * The terminal payload a payload item holds: `payloadBr` (written by this version), decompressed
 * and checked against the digest its key ends with, or the string `payload` (written by earlier
 * ones); undefined when it holds neither (or there is no item). Throws when the compressed bytes
 * do not decompress, or not to the body the key names. A Binary attribute comes back from the SDK
 * as a Uint8Array.
 */
export function payloadOfItem(item: Readonly<Record<string, AttributeValue>> | undefined): string | undefined {
  const compressed = item?.[ATTR.payloadBr]?.B;
  if (compressed !== undefined) {
    const bytes = decompressPayload(compressed);
    const key = item?.[PARTITION_KEY]?.S ?? '';
    const named = key.slice(key.lastIndexOf('#') + 1);
    if (key === '' || named !== bodySha256(bytes)) {
      throw Object.assign(new Error(`payload item ${key || '(no key)'} does not hold the body its key names`), {
        name: 'PayloadDigestMismatch',
      });
    }
    return bytes.toString('utf8');
  }
  return item?.[ATTR.payload]?.S;
}
