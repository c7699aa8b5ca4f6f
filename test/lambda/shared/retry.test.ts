import { backoffDelay, isTransientInfrastructureError, retryTransient } from '../../../lambda/shared/retry';

test.each([
  [{ name: 'TimeoutError' }, true],
  [{ name: 'ThrottlingException' }, true],
  [{ name: 'Error', code: 'ECONNREFUSED' }, true],
  [{ name: 'Error', code: 'ECONNRESET' }, true],
  [{ name: 'S3ServiceException', $metadata: { httpStatusCode: 503 } }, true],
  [{ name: 'X', $retryable: {} }, true],
  [{ name: 'ArchiveWriteError', cause: { name: 'SlowDown' } }, true],
  [new Error('AWS SDK error wrapper for TimeoutError: socket hang up'), true],
  [{ name: 'NotFound', $metadata: { httpStatusCode: 404 } }, false],
  [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, false],
  [{ name: 'ArchiveWriteError', cause: { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } } }, false],
  [new TypeError('bug'), false],
  [
    (() => {
      const looped: { name: string; cause?: unknown } = { name: 'Wrapper' };
      looped.cause = looped;
      return looped;
    })(),
    false,
  ],
  [undefined, false],
])('%j transient: %s', (error, transient) => {
  expect(isTransientInfrastructureError(error)).toBe(transient);
});

test('backoff doubles up to the cap, with full jitter', () => {
  expect(backoffDelay(1, 500, 20_000, () => 1)).toBe(1000);
  expect(backoffDelay(3, 500, 20_000, () => 1)).toBe(4000);
  expect(backoffDelay(10, 500, 20_000, () => 1)).toBe(20_000);
  expect(backoffDelay(10, 500, 20_000, () => 0.5)).toBe(10_000);
});

test('an outage is retried until it heals', async () => {
  let calls = 0;
  const result = await retryTransient(
    async () => {
      if (++calls < 4) throw Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
      return 'ok';
    },
    { deadline: Date.now() + 5_000, baseDelayMs: 5, maxDelayMs: 20 },
  );
  expect(result).toBe('ok');
  expect(calls).toBe(4);
});

test('a permanent error is not retried; a deadline ends the retries', async () => {
  let calls = 0;
  const denied = Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
  await expect(
    retryTransient(
      async () => {
        calls++;
        throw denied;
      },
      { deadline: Date.now() + 5_000, baseDelayMs: 5 },
    ),
  ).rejects.toBe(denied);
  expect(calls).toBe(1);
  calls = 0;
  const started = Date.now();
  const down = Object.assign(new Error('down'), { code: 'ECONNRESET' });
  await expect(
    retryTransient(
      async () => {
        calls++;
        throw down;
      },
      { deadline: Date.now() + 200, baseDelayMs: 20, maxDelayMs: 40 },
    ),
  ).rejects.toBe(down);
  expect(calls).toBeGreaterThan(1);
  expect(Date.now() - started).toBeLessThan(1000);
});
