/**
 * The signing keys, cached in memory. A mismatch against a cached key may mean the key was
 * rotated, so it can trigger a refetch, at most once per refresh interval, so that forged
 * requests cannot turn into a flood of Secrets Manager calls.
 */
import { SigningSecretError, parseSigningSecret } from '../shared/signature';

export interface SigningKeyCacheOptions {
  readonly ttlMs: number;
  readonly minRefreshIntervalMs: number;
  readonly now?: () => number;
  /** Told when a refetch failed and the last good keys are used instead. Never given a key. */
  readonly onStaleKeys?: (error: unknown) => void;
}

export class SigningKeyCache {
  private keys: Buffer[] | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<Buffer[]> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly fetchSecretValue: () => Promise<string>,
    private readonly options: SigningKeyCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The cached keys, fetched when missing or older than the TTL. */
  async current(): Promise<readonly Buffer[]> {
    if (this.keys && this.now() - this.fetchedAt < this.options.ttlMs) return this.keys;
    // After a failed refetch, keep the last good keys for a while instead of asking again.
    if (this.keys && this.now() - this.attemptedAt < this.options.minRefreshIntervalMs) return this.keys;
    return this.fetch();
  }

  /**
   * After a signature did not match: refetch if the last fetch is older than the refresh
   * interval, and return the keys only if they changed; otherwise undefined. Never throws: a
   * failed refetch is reported through `onStaleKeys`.
   */
  async refreshAfterMismatch(): Promise<readonly Buffer[] | undefined> {
    if (this.now() - this.attemptedAt < this.options.minRefreshIntervalMs) return undefined;
    const before = this.keys;
    let after: Buffer[];
    try {
      after = await this.fetch();
    } catch (error) {
      // Outages are reported inside load(); a secret value that no longer parses arrives here,
      // and the caller goes on answering with the cached keys.
      this.options.onStaleKeys?.(error);
      return undefined;
    }
    return before && sameKeys(before, after) ? undefined : after;
  }

  private fetch(): Promise<Buffer[]> {
    // Concurrent callers share one request.
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<Buffer[]> {
    this.attemptedAt = this.now();
    try {
      const keys = parseSigningSecret(await this.fetchSecretValue());
      this.keys = keys;
      this.fetchedAt = this.now();
      return keys;
    } catch (error) {
      // A Secrets Manager outage should not stop verification with a key we already trust;
      // a secret that no longer parses is different: that is a configuration change to surface.
      if (this.keys && !(error instanceof SigningSecretError)) {
        this.options.onStaleKeys?.(error);
        return this.keys;
      }
      throw error;
    }
  }
}

function sameKeys(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  return a.length === b.length && a.every((key, index) => key.equals(b[index]));
}
