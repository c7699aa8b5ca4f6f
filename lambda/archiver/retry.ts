/**
 * Riding out an outage of S3, SNS or DynamoDB inside one invocation. A stream event source
 * retries a failed batch at once, with no backoff, so its retries alone would be spent within
 * seconds of an outage; waiting here (with backoff, up to a deadline) covers minutes.
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
export function isTransientInfrastructureError(error: unknown): boolean {
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
  if (candidate.name === 'ArchiveWriteError') return isTransientInfrastructureError(candidate.cause);
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
