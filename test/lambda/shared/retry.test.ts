import { backoffDelay, isTransientInfrastructureError, retryTransient, requeueDelaySeconds } from '../../../lambda/shared/retry';

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

/**
 * The retry policy's edges the main suite left undecided (found by mutation testing,
 * docs/mutation.md): which failures count as transient at their boundaries, the waits a caller
 * sees between tries, the deadline taken to the millisecond, and the queue's requeue delay.
 * Time is jest's fake clock, so no test waits and none depends on how fast the machine is.
 */
describe('edges', () => {
  describe('which failures are worth another try', () => {
    test('any 5xx from 500 up and 429 are transient; other 4xx are not', () => {
      const status = (httpStatusCode: number) => isTransientInfrastructureError({ name: 'X', $metadata: { httpStatusCode } });
      expect([500, 502, 599, 429].map(status)).toEqual([true, true, true, true]);
      expect([499, 400, 404, 428, 430].map(status)).toEqual([false, false, false, false, false]);
    });

    test("the SDK's wrapper counts only for a transient name, and only as the wrapper's own text", () => {
      const wrapped = (message: string) => isTransientInfrastructureError(new Error(message));
      expect(wrapped('AWS SDK error wrapper for ThrottlingException')).toBe(true);
      expect(wrapped('AWS SDK error wrapper for NoSuchBucket')).toBe(false);
      expect(wrapped('AWS SDK error wrapper for ')).toBe(false);
      // A permanent error that merely quotes the wrapper's text is still permanent.
      expect(wrapped('bad request: AWS SDK error wrapper for TimeoutError')).toBe(false);
    });

    test('a socket code alone decides when there is no name', () => {
      expect(isTransientInfrastructureError({ code: 'ETIMEDOUT' })).toBe(true);
      expect(isTransientInfrastructureError({ code: 'ENOENT' })).toBe(false);
      expect(isTransientInfrastructureError({})).toBe(false);
    });

    test('wrappers are looked through four deep, not further', () => {
      const wrap = (cause: unknown, times: number): unknown =>
        times === 0 ? cause : wrap({ name: 'ArchiveWriteError', cause }, times - 1);
      const timeout = { name: 'TimeoutError' };
      expect(isTransientInfrastructureError(wrap(timeout, 4))).toBe(true);
      expect(isTransientInfrastructureError(wrap(timeout, 5))).toBe(false);
    });
  });

  describe('retryTransient, on a fake clock', () => {
    const down = () => Object.assign(new Error('down'), { code: 'ECONNRESET' });

    beforeEach(() => {
      jest.useFakeTimers({ now: new Date('2026-11-30T12:00:00Z') });
    });
    afterEach(() => {
      jest.useRealTimers();
      jest.restoreAllMocks();
    });

    /** Runs `retryTransient` over an operation that fails `failures` times, and reports the waits. */
    async function run(failures: number, options: { deadlineInMs: number; baseDelayMs?: number; maxDelayMs?: number }) {
      const delays: number[] = [];
      let calls = 0;
      const settled = retryTransient(
        async () => {
          calls++;
          if (calls <= failures) throw down();
          return 'ok';
        },
        {
          deadline: Date.now() + options.deadlineInMs,
          baseDelayMs: options.baseDelayMs,
          maxDelayMs: options.maxDelayMs,
          onRetry: (_error, delayMs) => delays.push(delayMs),
        },
      ).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      await jest.advanceTimersByTimeAsync(10 * 60_000);
      return { outcome: await settled, delays, calls };
    }

    test('the waits double from twice the base, up to the cap', async () => {
      jest.spyOn(Math, 'random').mockReturnValue(1);
      const { outcome, delays, calls } = await run(5, { deadlineInMs: 60_000, baseDelayMs: 100, maxDelayMs: 1_000 });
      expect(outcome).toEqual({ value: 'ok' });
      expect(calls).toBe(6);
      expect(delays).toEqual([200, 400, 800, 1_000, 1_000]);
    });

    test('without options: from a second, up to 20 seconds', async () => {
      jest.spyOn(Math, 'random').mockReturnValue(1);
      const { outcome, delays } = await run(6, { deadlineInMs: 5 * 60_000 });
      expect(outcome).toEqual({ value: 'ok' });
      expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 20_000]);
    });

    test('never less than the base, even when the jitter draws zero', async () => {
      jest.spyOn(Math, 'random').mockReturnValue(0);
      const { delays } = await run(3, { deadlineInMs: 60_000, baseDelayMs: 250 });
      expect(delays).toEqual([250, 250, 250]);
    });

    test('a wait that would end exactly at the deadline is not started', async () => {
      jest.spyOn(Math, 'random').mockReturnValue(0);
      const atDeadline = await run(1, { deadlineInMs: 250, baseDelayMs: 250 });
      expect(atDeadline.calls).toBe(1);
      expect(atDeadline.outcome).toEqual({ error: expect.objectContaining({ code: 'ECONNRESET' }) });
      const justBefore = await run(1, { deadlineInMs: 251, baseDelayMs: 250 });
      expect(justBefore.calls).toBe(2);
      expect(justBefore.outcome).toEqual({ value: 'ok' });
    });

    test('a wait longer than the time left gives up at once', async () => {
      jest.spyOn(Math, 'random').mockReturnValue(0);
      const { calls, delays, outcome } = await run(1, { deadlineInMs: 100, baseDelayMs: 1_000 });
      expect(calls).toBe(1);
      expect(delays).toEqual([]);
      expect(outcome).toEqual({ error: expect.objectContaining({ code: 'ECONNRESET' }) });
    });
  });

  describe('how long a failed prediction waits in the queue', () => {
    test('the first retry waits between the base and twice it', () => {
      expect(requeueDelaySeconds(1, 30, 43_200, () => 0)).toBe(30);
      expect(requeueDelaySeconds(1, 30, 43_200, () => 0.5)).toBe(45);
      expect(requeueDelaySeconds(1, 30, 43_200, () => 1)).toBe(60);
    });

    test('each receive doubles the floor', () => {
      expect([1, 2, 3, 4].map((receiveCount) => requeueDelaySeconds(receiveCount, 30, 43_200, () => 0))).toEqual([
        30, 60, 120, 240,
      ]);
      expect(requeueDelaySeconds(4, 30, 43_200, () => 1)).toBe(480);
    });

    test('a count of zero (never received) waits as the first retry', () => {
      expect(requeueDelaySeconds(0, 30, 43_200, () => 0)).toBe(30);
    });

    test('never past the ceiling, however many receives or however the jitter draws', () => {
      expect(requeueDelaySeconds(30, 30, 43_200, () => 0)).toBe(43_200);
      expect(requeueDelaySeconds(3, 30, 200, () => 1)).toBe(200);
      expect(requeueDelaySeconds(3, 30, 130, () => 0)).toBe(120);
    });
  });
});
