/** The verifier's wiring, read once from environment variables set by the construct. */
import { normalizePrefix } from '../shared/archive-layout';

export interface VerifierConfig {
  readonly tableName: string;
  readonly signingSecretId: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly timestampToleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly maxInlinePayloadBytes: number;
  readonly dedupTtlSeconds: number;
  readonly keyCacheTtlSeconds: number;
  readonly keyRefreshIntervalSeconds: number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`environment variable ${name} must be a non-negative integer`);
  return value;
}

// Defaults here match the construct's; the construct always sets every variable explicitly.
export function readVerifierConfig(env: NodeJS.ProcessEnv = process.env): VerifierConfig {
  return {
    tableName: required(env, 'TABLE_NAME'),
    signingSecretId: required(env, 'SIGNING_SECRET_ID'),
    bucketName: required(env, 'BUCKET_NAME'),
    archivePrefix: normalizePrefix(env.ARCHIVE_PREFIX),
    timestampToleranceSeconds: positiveInteger(env, 'TIMESTAMP_TOLERANCE_SECONDS', 300),
    maxBodyBytes: positiveInteger(env, 'MAX_BODY_BYTES', 6 * 1024 * 1024),
    maxInlinePayloadBytes: positiveInteger(env, 'MAX_INLINE_PAYLOAD_BYTES', 16 * 1024),
    dedupTtlSeconds: positiveInteger(env, 'DEDUP_TTL_SECONDS', 7 * 24 * 3600),
    keyCacheTtlSeconds: positiveInteger(env, 'KEY_CACHE_TTL_SECONDS', 300),
    keyRefreshIntervalSeconds: positiveInteger(env, 'KEY_REFRESH_INTERVAL_SECONDS', 30),
  };
}
