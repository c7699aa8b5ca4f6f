import { SigningKeyCache } from '../../../lambda/verifier/signing-keys';
import { decodeSigningKey } from '../../../lambda/shared/signature';

const KEY_A = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const KEY_B = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;

function setup(initial: string) {
  let value = initial;
  let now = 1_000_000;
  let failing = false;
  let fetches = 0;
  const stale: unknown[] = [];
  const cache = new SigningKeyCache(
    async () => {
      fetches++;
      if (failing) throw Object.assign(new Error('boom'), { name: 'InternalServiceError' });
      return value;
    },
    { ttlMs: 300_000, minRefreshIntervalMs: 30_000, now: () => now, onStaleKeys: (error) => stale.push(error) },
  );
  return {
    cache,
    set: (next: string) => (value = next),
    advance: (ms: number) => (now += ms),
    fail: (on: boolean) => (failing = on),
    fetches: () => fetches,
    stale,
  };
}

test('keys are fetched once and served from memory within the TTL', async () => {
  const s = setup(KEY_A);
  await s.cache.current();
  s.advance(299_000);
  const keys = await s.cache.current();
  expect(keys[0].equals(decodeSigningKey(KEY_A))).toBe(true);
  expect(s.fetches()).toBe(1);
  s.advance(2_000);
  await s.cache.current();
  expect(s.fetches()).toBe(2);
});

test('concurrent cold callers share one fetch', async () => {
  const s = setup(KEY_A);
  await Promise.all([s.cache.current(), s.cache.current(), s.cache.current()]);
  expect(s.fetches()).toBe(1);
});

test('a mismatch refetches at most once per interval, and reports only changed keys', async () => {
  const s = setup(KEY_A);
  await s.cache.current();
  expect(await s.cache.refreshAfterMismatch()).toBeUndefined(); // just fetched: rate limited
  expect(s.fetches()).toBe(1);
  s.advance(30_000);
  expect(await s.cache.refreshAfterMismatch()).toBeUndefined(); // fetched again, unchanged
  expect(s.fetches()).toBe(2);
  s.set(KEY_B);
  s.advance(10_000);
  expect(await s.cache.refreshAfterMismatch()).toBeUndefined(); // rate limited
  s.advance(20_000);
  const rotated = await s.cache.refreshAfterMismatch();
  expect(rotated?.[0].equals(decodeSigningKey(KEY_B))).toBe(true);
  expect(s.fetches()).toBe(3);
  // The rotated key is now what current() serves.
  expect((await s.cache.current())[0].equals(decodeSigningKey(KEY_B))).toBe(true);
});

test('an outage after a good fetch keeps the last good keys, and retries no more than once per interval', async () => {
  const s = setup(KEY_A);
  await s.cache.current();
  s.fail(true);
  s.advance(301_000);
  expect((await s.cache.current())[0].equals(decodeSigningKey(KEY_A))).toBe(true);
  expect(s.stale).toHaveLength(1);
  await s.cache.current();
  await s.cache.current();
  expect(s.fetches()).toBe(2);
  s.advance(30_000);
  await s.cache.current();
  expect(s.fetches()).toBe(3);
  s.fail(false);
  s.advance(30_000);
  await s.cache.current();
  expect(s.fetches()).toBe(4);
  s.advance(1_000);
  await s.cache.current();
  expect(s.fetches()).toBe(4);
});

test('an outage with nothing cached is an error', async () => {
  const s = setup(KEY_A);
  s.fail(true);
  await expect(s.cache.current()).rejects.toThrow('boom');
});

test('a secret changed to something unusable is an error, not a silent fallback', async () => {
  const s = setup(KEY_A);
  await s.cache.current();
  s.set('not a key');
  s.advance(301_000);
  await expect(s.cache.current()).rejects.toMatchObject({ name: 'SigningSecretError' });
});

test('a refetch after a mismatch that finds an unusable secret is reported, never thrown; the cached keys stay', async () => {
  const s = setup(KEY_A);
  await s.cache.current();
  s.set('not a key');
  s.advance(30_000);
  await expect(s.cache.refreshAfterMismatch()).resolves.toBeUndefined();
  expect(s.stale).toEqual([expect.objectContaining({ name: 'SigningSecretError' })]);
  expect((await s.cache.current())[0].equals(decodeSigningKey(KEY_A))).toBe(true);
});

test('an outage on a refetch after a mismatch is reported once, and the cached keys stay', async () => {
  const s = setup(KEY_A);
  await s.cache.current();
  s.fail(true);
  s.advance(30_000);
  await expect(s.cache.refreshAfterMismatch()).resolves.toBeUndefined();
  expect(s.stale).toEqual([expect.objectContaining({ name: 'InternalServiceError' })]);
  expect((await s.cache.current())[0].equals(decodeSigningKey(KEY_A))).toBe(true);
});
