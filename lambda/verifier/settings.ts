/**
 * The verifier's settings, defined once: what the construct and local mode wire (each one an
 * environment variable) and the defaults the verifier falls back to. Pure, so the construct
 * imports it without the handler's code.
 */
import { environmentOf } from '../shared/env';
import { STORE_DEFAULTS } from '../shared/state';

export const VERIFIER_DEFAULTS = {
  timestampToleranceSeconds: 300,
  maxBodyBytes: 6 * 1024 * 1024,
  maxInlinePayloadBytes: STORE_DEFAULTS.maxInlinePayloadBytes,
  keyCacheTtlSeconds: 300,
  // Not a prop: it only bounds Secrets Manager reads while forged signatures keep arriving; a
  // rotated key is picked up within this long of the first webhook signed with it.
  keyRefreshIntervalSeconds: 30,
} as const;

/**
 * API Gateway's throttle of the webhook route (the stage's default route settings), defined here
 * so that local mode enforces the same numbers. A prediction sends `start`, then `output` and
 * `logs` at most every 500 ms each while it runs, then `completed`: about 4 webhooks a second
 * while it streams. Only the terminal one is retried, for about a minute, so a 429 that lasts can
 * lose a record; the limit must sit well above any real traffic. The real limits are the
 * verifier's reserved concurrency (25: some 800 webhooks a second at 30 ms each) and DynamoDB
 * on-demand (a new table takes about 4,000 writes a second); this one caps what a flood costs.
 */
export const WEBHOOK_THROTTLE_DEFAULTS = {
  /** Steady requests per second: some 250 predictions streaming at once. */
  rateLimit: 1000,
  /** Requests above the steady rate in a burst (API Gateway's token bucket size). */
  burstLimit: 2000,
} as const;

/** What the construct (or local mode) tells the verifier. */
export interface VerifierWiring {
  readonly tableName: string;
  readonly signingSecretId: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly timestampToleranceSeconds?: number;
  readonly maxBodyBytes?: number;
  readonly maxInlinePayloadBytes?: number;
  readonly keyCacheTtlSeconds?: number;
  readonly keyRefreshIntervalSeconds?: number;
}

export const VERIFIER_ENV: { readonly [K in keyof VerifierWiring]-?: string } = {
  tableName: 'TABLE_NAME',
  signingSecretId: 'SIGNING_SECRET_ID',
  bucketName: 'BUCKET_NAME',
  archivePrefix: 'ARCHIVE_PREFIX',
  timestampToleranceSeconds: 'TIMESTAMP_TOLERANCE_SECONDS',
  maxBodyBytes: 'MAX_BODY_BYTES',
  maxInlinePayloadBytes: 'MAX_INLINE_PAYLOAD_BYTES',
  keyCacheTtlSeconds: 'KEY_CACHE_TTL_SECONDS',
  keyRefreshIntervalSeconds: 'KEY_REFRESH_INTERVAL_SECONDS',
};

/** The environment variables for `wiring`; unset optional settings fall back to VERIFIER_DEFAULTS in the verifier. */
export function verifierEnvironment(wiring: VerifierWiring): Record<string, string> {
  return environmentOf(VERIFIER_ENV, wiring);
}
