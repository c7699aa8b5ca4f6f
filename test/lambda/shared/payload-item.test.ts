/**
 * A terminal payload in its own item: compressed by the verifier, read back by the archiver (and
 * every other reader) byte for byte, whether the item is of this version (Brotli, Binary, checked
 * against the digest in its key) or an earlier one (the body as a string).
 */
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gzipSync } from 'node:zlib';
import { bodySha256, compressPayload, decompressPayload, payloadOfItem } from '../../../lambda/shared/payload-item';
import { ATTR, PARTITION_KEY, payloadItemKey } from '../../../lambda/shared/state';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'replicate');
const fixtures = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.json'))
  .map((name) => [name, readFileSync(join(FIXTURES, name))] as const);

/** Valid UTF-8 JSON as a sender may format it: any values, any code point, any indentation. */
const jsonBody = fc
  .tuple(fc.jsonValue({ stringUnit: 'binary' }), fc.constantFrom(undefined, 1, 2, '\t'))
  .map(([value, indent]) => JSON.stringify(value, null, indent));

/** A payload item keyed by the body's digest, as the verifier keys it, holding `compressed`. */
const itemOf = (body: string | Buffer, compressed: Uint8Array) => ({
  [PARTITION_KEY]: { S: payloadItemKey('p', bodySha256(body)) },
  [ATTR.payloadBr]: { B: compressed },
});
/** The payload item the verifier writes for the body. */
const written = (body: string | Buffer) => itemOf(body, compressPayload(body)!);

describe('compressing a payload', () => {
  test('round-trips any valid UTF-8 JSON body byte-exact, given as a string or as its bytes', () => {
    fc.assert(
      fc.property(jsonBody, (body) => {
        const bytes = Buffer.from(body, 'utf8');
        for (const given of [body, bytes]) {
          const compressed = compressPayload(given)!;
          // Plain Brotli, readable by any tool (here zlib's own decoder), not a format of ours.
          expect(brotliDecompressSync(compressed).equals(bytes)).toBe(true);
          expect(decompressPayload(compressed).equals(bytes)).toBe(true);
          expect(payloadOfItem(itemOf(given, compressed))).toBe(body);
        }
      }),
      { numRuns: 300 },
    );
  });

  test.each(fixtures)(
    'the sample payload %s comes back as it was, at under half its size, and smaller than gzip',
    (_name, bytes) => {
      const compressed = compressPayload(bytes)!;
      expect(decompressPayload(compressed).equals(bytes)).toBe(true);
      expect(compressed.length).toBeLessThan(0.5 * bytes.length);
      // 6.5–9.5% smaller than gzip 6 (what was used before) on each sample.
      expect(compressed.length).toBeLessThan(0.95 * gzipSync(bytes, { level: 6 }).length);
    },
  );

  test('bytes a formatter would change are kept: spacing, key order, escapes, a byte order mark', () => {
    const body = '\uFEFF{ "b":1,\n\t"a" : "caf\\u00e9 café 🎨",  "z":[ ] }\r\n';
    expect(decompressPayload(compressPayload(body)!).equals(Buffer.from(body, 'utf8'))).toBe(true);
    expect(payloadOfItem(written(body))).toBe(body);
  });

  test('stops at the limit: exactly the limit fits, a byte less does not, and 0 keeps nothing', () => {
    const [, bytes] = fixtures[0];
    const size = compressPayload(bytes)!.length;
    expect(compressPayload(bytes, size)?.length).toBe(size);
    expect(compressPayload(bytes, size - 1)).toBeUndefined();
    expect(compressPayload(bytes, 0)).toBeUndefined();
    // An empty body compresses to 1 byte: it fits in 1, not in 0.
    expect(compressPayload('', 1)?.length).toBe(1);
    expect(compressPayload('', 0)).toBeUndefined();
  });

  test('a body far larger than the limit is given up without compressing it whole', () => {
    // 6 MB of tqdm-like lines: compressing all of it takes about six times as long as giving up at
    // 16 KiB (with Brotli's default window, which holds the whole body in one meta-block, as long).
    const lines = Array.from(
      { length: 110_000 },
      (_, i) => ` ${i % 100}%|#####     | ${i}/110000 [00:0${i % 10}<00:01,  4.${i % 97}it/s]\n`,
    );
    const body = Buffer.from(lines.join(''));
    const fastest = (run: () => void) =>
      Math.min(
        ...[1, 2, 3].map(() => {
          const started = process.hrtime.bigint();
          run();
          return Number(process.hrtime.bigint() - started);
        }),
      );
    const whole = fastest(() => expect(compressPayload(body)).toBeDefined());
    const cut = fastest(() => expect(compressPayload(body, 16 * 1024)).toBeUndefined());
    expect(cut * 3).toBeLessThan(whole);
  });
});

describe('reading a payload item', () => {
  const body = fixtures[0][1].toString('utf8');

  test('of this version: the compressed body, checked against its key', () => {
    expect(payloadOfItem(written(body))).toBe(body);
  });

  test('of an earlier version (written before payloads were compressed, kept 30 days): the string', () => {
    expect(payloadOfItem({ [PARTITION_KEY]: { S: 'payload#p#d' }, [ATTR.payload]: { S: body }, expiresAt: { N: '1' } })).toBe(
      body,
    );
  });

  test('no item, or an item with neither: nothing', () => {
    expect(payloadOfItem(undefined)).toBeUndefined();
    expect(payloadOfItem({ [PARTITION_KEY]: { S: 'payload#p#d' } })).toBeUndefined();
  });

  test('a corrupted one is refused, never read as another body: any byte changed, cut short, or not Brotli', () => {
    // Brotli has no checksum: about 4 in 10 of these changes decode without complaint, to other
    // bytes. The digest in the key is what refuses them.
    const compressed = compressPayload(body)!;
    let refused = 0;
    for (let at = 0; at < compressed.length; at++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const changed = Buffer.from(compressed);
        changed[at] ^= flip;
        let read: string | undefined;
        try {
          read = payloadOfItem(itemOf(body, changed));
        } catch {
          refused++;
          continue;
        }
        // A change Brotli ignores (a padding bit) still gives the body itself, never another.
        expect(read).toBe(body);
      }
    }
    expect(refused).toBeGreaterThan(compressed.length * 3 * 0.9);
    expect(() => payloadOfItem(itemOf(body, compressed.subarray(0, -1)))).toThrow();
    expect(() => payloadOfItem(itemOf(body, Buffer.from('not brotli at all')))).toThrow();
  });

  test('the compressed bytes of another body, or an item without its key, are refused too', () => {
    const other = fixtures[1][1].toString('utf8');
    expect(() => payloadOfItem(itemOf(body, compressPayload(other)!))).toThrow(/does not hold the body its key names/);
    expect(() => payloadOfItem({ [ATTR.payloadBr]: { B: compressPayload(body)! } })).toThrow(/\(no key\)/);
  });
});
