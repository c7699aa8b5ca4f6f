/**
 * A terminal payload in its own item: compressed by the verifier, read back by the archiver (and
 * every other reader) byte for byte, whether the item is of this version (gzip, Binary) or an
 * earlier one (the body as a string).
 */
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { compressPayload, decompressPayload, payloadOfItem } from '../../../lambda/shared/payload-item';
import { ATTR, PARTITION_KEY } from '../../../lambda/shared/state';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'replicate');
const fixtures = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.json'))
  .map((name) => [name, readFileSync(join(FIXTURES, name))] as const);

/** Valid UTF-8 JSON as a sender may format it: any values, any code point, any indentation. */
const jsonBody = fc
  .tuple(fc.jsonValue({ stringUnit: 'binary' }), fc.constantFrom(undefined, 1, 2, '\t'))
  .map(([value, indent]) => JSON.stringify(value, null, indent));

describe('compressing a payload', () => {
  test('round-trips any valid UTF-8 JSON body byte-exact, given as a string or as its bytes', () => {
    fc.assert(
      fc.property(jsonBody, (body) => {
        const bytes = Buffer.from(body, 'utf8');
        for (const given of [body, bytes]) {
          const compressed = compressPayload(given)!;
          // Plain gzip, readable by any tool (here zlib's own gunzip), not a format of ours.
          expect(gunzipSync(compressed).equals(bytes)).toBe(true);
          expect(Buffer.from(decompressPayload(compressed), 'utf8').equals(bytes)).toBe(true);
          expect(payloadOfItem({ [ATTR.payloadGzip]: { B: compressed } })).toBe(body);
        }
      }),
      { numRuns: 300 },
    );
  });

  test.each(fixtures)('the sample payload %s comes back as it was, at about half its size or less', (_name, bytes) => {
    const compressed = compressPayload(bytes)!;
    expect(Buffer.from(decompressPayload(compressed), 'utf8').equals(bytes)).toBe(true);
    expect(compressed.length).toBeLessThan(0.6 * bytes.length);
  });

  test('bytes a formatter would change are kept: spacing, key order, escapes, a byte order mark', () => {
    const body = '\uFEFF{ "b":1,\n\t"a" : "caf\\u00e9 café 🎨",  "z":[ ] }\r\n';
    expect(Buffer.from(decompressPayload(compressPayload(body)!), 'utf8').equals(Buffer.from(body, 'utf8'))).toBe(true);
  });

  test('stops at the limit: exactly the limit fits, a byte less does not, and 0 keeps nothing', () => {
    const [, bytes] = fixtures[0];
    const size = compressPayload(bytes)!.length;
    expect(compressPayload(bytes, size)?.length).toBe(size);
    expect(compressPayload(bytes, size - 1)).toBeUndefined();
    expect(compressPayload(bytes, 0)).toBeUndefined();
    expect(compressPayload('', 0)).toBeUndefined();
  });

  test('a body far larger than the limit is given up without compressing it whole', () => {
    // 6 MB of tqdm-like lines: compressing all of it takes about ten times as long as reaching 16 KiB.
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

  test('of this version: the compressed body', () => {
    expect(payloadOfItem({ [PARTITION_KEY]: { S: 'payload#p#d' }, [ATTR.payloadGzip]: { B: compressPayload(body)! } })).toBe(
      body,
    );
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

  test('a corrupted one is refused, never read as another body', () => {
    const compressed = Buffer.from(compressPayload(body)!);
    compressed[compressed.length - 12] ^= 0xff;
    expect(() => payloadOfItem({ [ATTR.payloadGzip]: { B: compressed } })).toThrow();
  });
});
