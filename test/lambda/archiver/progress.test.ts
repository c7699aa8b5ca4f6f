/**
 * What one try of an archival leaves for the next: the outputs it stored, bounded so the record
 * stays small, and read back defensively.
 */
import {
  ARCHIVED_SO_FAR_MAX_BYTES,
  decodeArchivedSoFar,
  encodeArchivedSoFar,
  type StoredOutput,
} from '../../../lambda/archiver/progress';

const file = (n: number): StoredOutput => ({
  bucket: 'archive',
  bytes: 1000 + n,
  sha256: 'a'.repeat(63) + (n % 10),
  contentType: 'image/png',
});
const key = (n: number) => `predictions/p1/outputs/${n}-frame-${n}.png`;

describe('outputs remembered between tries', () => {
  test('round-trip: every entry comes back as it was stored, in order', () => {
    const stored = new Map([0, 1, 2].map((n) => [key(n), file(n)]));
    const decoded = decodeArchivedSoFar(encodeArchivedSoFar(stored));
    expect([...decoded]).toEqual([...stored]);
  });

  test('nothing stored: nothing written', () => {
    expect(encodeArchivedSoFar(new Map())).toBeUndefined();
    expect(decodeArchivedSoFar(undefined).size).toBe(0);
  });

  test('bounded: a long list keeps the first entries that fit, and the record never grows past the bound', () => {
    const stored = new Map(Array.from({ length: 2000 }, (_, n) => [key(n), file(n)] as const));
    const text = encodeArchivedSoFar(stored)!;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(ARCHIVED_SO_FAR_MAX_BYTES);
    const decoded = decodeArchivedSoFar(text);
    expect(decoded.size).toBeGreaterThan(100);
    expect(decoded.size).toBeLessThan(2000);
    expect([...decoded.keys()]).toEqual([...stored.keys()].slice(0, decoded.size));
  });

  test('the bound counts bytes, not characters', () => {
    const wide = 'é'.repeat(300);
    const stored = new Map(Array.from({ length: 200 }, (_, n) => [`${wide}/${n}`, file(n)] as const));
    expect(Buffer.byteLength(encodeArchivedSoFar(stored)!)).toBeLessThanOrEqual(ARCHIVED_SO_FAR_MAX_BYTES);
  });

  test.each([
    ['not JSON', '{"a":'],
    ['an array', '[["archive",1,"h","t"]]'],
    ['null', 'null'],
  ])('an attribute that is %s is ignored: every output is fetched again', (_, text) => {
    expect(decodeArchivedSoFar(text).size).toBe(0);
  });

  test('entries of the wrong shape are dropped, the others kept', () => {
    const text = JSON.stringify({
      good: ['archive', 5, 'h', 'image/png'],
      short: ['archive', 5, 'h'],
      negative: ['archive', -1, 'h', 'image/png'],
      fraction: ['archive', 1.5, 'h', 'image/png'],
      textBytes: ['archive', '5', 'h', 'image/png'],
      noBucket: [null, 5, 'h', 'image/png'],
      noHash: ['archive', 5, 7, 'image/png'],
      noType: ['archive', 5, 'h', false],
      object: { bucket: 'archive' },
    });
    expect([...decodeArchivedSoFar(text)]).toEqual([
      ['good', { bucket: 'archive', bytes: 5, sha256: 'h', contentType: 'image/png' }],
    ]);
  });
});
