/**
 * The one retry policy: full-jitter exponential backoff up to a deadline, for failures that may
 * heal (5xx, throttling, timeouts, resets). A short outage is ridden out inside one invocation;
 * a longer one hands the prediction back to the queue, whose retries are minutes apart.
 */

// Error names and socket codes that say "try again later", whichever client raised them.
const TRANSIENT = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'Throttling',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'InternalServerError',
  'InternalError',
  // What PutEvents reports for an entry it could not take now (in a 200 answer).
  'InternalFailure',
  'ServiceUnavailable',
  'SlowDown',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** True for failures of our own dependencies that may heal: 5xx, throttling, timeouts, resets. */
export function isTransientInfrastructureError(error: unknown, depth = 0): boolean {
  const candidate = error as
    | {
        name?: string;
        code?: string;
        message?: string;
        $retryable?: unknown;
        $metadata?: { httpStatusCode?: number };
        cause?: unknown;
      }
    | undefined;
  if (!candidate) return false;
  // The SDK wraps what it does not recognise as an Error (one from another realm, say) by its text.
  const wrapped = /^AWS SDK error wrapper for (\w+)/.exec(candidate.message ?? '')?.[1];
  if (wrapped && TRANSIENT.has(wrapped)) return true;
  // Our own wrappers (a failed S3 write, say) are as transient as what they wrap.
  if (candidate.cause !== undefined && depth < 4 && isTransientInfrastructureError(candidate.cause, depth + 1)) return true;
  if (candidate.$retryable) return true;
  const status = candidate.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  return TRANSIENT.has(candidate.name ?? '') || TRANSIENT.has(candidate.code ?? '');
}

export interface RetryOptions {
  /** Epoch milliseconds after which no new try starts. */
  readonly deadline: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly onRetry?: (error: unknown, delayMs: number) => void;
}

/** Full-jitter exponential backoff: the n-th wait is random in [0, min(max, base × 2^n)]. */
export function backoffDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  return Math.round(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
}

export async function retryTransient<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  const base = options.baseDelayMs ?? 500;
  const max = options.maxDelayMs ?? 20_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      // At least a base delay, so an outage is not hammered by a run of near-zero waits.
      const delay = Math.max(base, backoffDelay(attempt, base, max));
      if (!isTransientInfrastructureError(error) || Date.now() + delay >= options.deadline) throw error;
      options.onRetry?.(error, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * How long a failed prediction's message stays invisible before its next try: doubling from
 * `baseSeconds` with the upper half jittered, so a burst of failures does not come back at once.
 */
export function requeueDelaySeconds(
  receiveCount: number,
  baseSeconds: number,
  maxSeconds: number,
  random: () => number = Math.random,
): number {
  const floor = Math.min(maxSeconds, baseSeconds * 2 ** Math.max(0, receiveCount - 1));
  return Math.min(maxSeconds, Math.round(floor * (1 + random())));
}
