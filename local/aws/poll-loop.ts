/**
 * The loop both local event source mappings run (the DynamoDB stream poller's and the SQS
 * poller's), written once: loops that poll until stop(), waits between polls that a wake or
 * stop() cuts short, a doubling backoff after a failed poll, error reporting that never stops a
 * loop, and a drain bounded by a timer of its own.
 */

/** The longest wait after failed polls, and between retries of a batch. */
export const MAX_BACKOFF_MS = 5_000;

/** The wait after failed polls: `firstMs`, doubled per failure up to MAX_BACKOFF_MS, `firstMs` again after a success. */
export class Backoff {
  private delayMs: number;

  constructor(private readonly firstMs: number) {
    this.delayMs = firstMs;
  }

  /** The wait before the next try; the one after it is twice as long. */
  next(): number {
    const delayMs = this.delayMs;
    this.delayMs = Math.min(delayMs * 2, MAX_BACKOFF_MS);
    return delayMs;
  }

  /** After a poll that succeeded. */
  reset(): void {
    this.delayMs = this.firstMs;
  }
}

/** What a poll (or a failed poll's handling) answers: poll 'again', or end the loop ('done'). */
export type PollResult = 'again' | 'done';

interface Sleeper<Kind extends string> {
  readonly kind: Kind | undefined;
  readonly wake: () => void;
}

/**
 * The loops of one poller. A poller runs each of its loops through `repeat`, waits with `sleep`,
 * passes `signal` to its SDK calls and reports trouble with `report`; `stop` ends it all.
 */
export class PollLoops<Kind extends string = never> {
  private readonly abort = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly sleepers = new Set<Sleeper<Kind>>();
  private stopping = false;

  /** `onError` gets poller-level problems; default console.error. */
  constructor(private readonly onError: ((error: unknown) => void) | undefined) {}

  /** True once stop() was called: loops end at their next check and waits end at once. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** Aborted by stop(): SDK calls given it are cancelled. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /**
   * Polls until stop(), or until `poll` answers 'done'. A poll that throws, unless stopping, goes
   * to `failed` (default: reported, then the backoff waited out), which may end the loop too. Both
   * get the loop's backoff; `poll` resets it once its request has succeeded.
   */
  repeat(
    options: { readonly backoffMs: number; readonly failed?: (error: unknown, backoff: Backoff) => Promise<PollResult> },
    poll: (backoff: Backoff) => Promise<PollResult>,
  ): void {
    const failed = options.failed ?? ((error, backoff) => this.reportAndBackOff(error, backoff));
    this.run(async () => {
      const backoff = new Backoff(options.backoffMs);
      while (!this.stopping) {
        try {
          if ((await poll(backoff)) === 'done') break;
        } catch (error) {
          if (this.stopping) break;
          if ((await failed(error, backoff)) === 'done') break;
        }
      }
    });
  }

  /** What a failed poll does by default: report the error, then wait out the backoff (a wait of `kind`), then poll again. */
  async reportAndBackOff(error: unknown, backoff: Backoff, kind?: Kind): Promise<PollResult> {
    this.report(error);
    await this.sleep(backoff.next(), kind);
    return 'again';
  }

  /** Waits `ms`, less if woken (by wake(kind) or stop()); returns at once once stopped. */
  sleep(ms: number, kind?: Kind): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper: Sleeper<Kind> = {
        kind,
        wake: () => {
          clearTimeout(timer);
          this.sleepers.delete(sleeper);
          resolve();
        },
      };
      const timer = setTimeout(sleeper.wake, ms);
      this.sleepers.add(sleeper);
    });
  }

  /** Ends the waits of `kind` now; every wait without one. */
  wake(kind?: Kind): void {
    for (const sleeper of [...this.sleepers]) if (kind === undefined || sleeper.kind === kind) sleeper.wake();
  }

  report(error: unknown): void {
    try {
      (this.onError ?? console.error)(error);
    } catch {
      // A failing error reporter must not stop the poller.
    }
  }

  /**
   * Stops polling: waits end, SDK calls given `signal` are cancelled, `stopping` runs (once, after
   * the waits are woken), and this resolves when every loop has returned.
   */
  async stop(stopping?: () => void): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.abort.abort();
      this.wake();
      stopping?.();
    }
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Runs a loop that stop() waits for; what it throws is reported. */
  private run(loop: () => Promise<void>): void {
    const tracked = loop()
      .catch((error: unknown) => this.report(error))
      .finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }
}

/**
 * A drain: `watch` starts watching and calls `finish` when drained (with an error to reject);
 * past `timeoutMs` the drain rejects with `timedOut()` instead, from a timer of its own, so a
 * request that hangs cannot hold it. What `watch` returns stops the watching, once settled.
 */
export function drainWithin(
  timeoutMs: number,
  timedOut: () => Error,
  watch: (finish: (error?: Error) => void) => (() => void) | void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let unwatch: (() => void) | void = undefined;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unwatch?.();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => finish(timedOut()), timeoutMs);
    unwatch = watch(finish);
    // Drained before watch returned: stop the watching now.
    if (settled) unwatch?.();
  });
}
