/** The verifier's wiring, read once from environment variables set by the construct. */
import { normalizePrefix } from '../shared/archive-layout';
import { integerVariable, requiredVariable } from '../shared/env';

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

// Defaults here match the construct's; the construct always sets every variable explicitly.
export function readVerifierConfig(env: NodeJS.ProcessEnv = process.env): VerifierConfig {
  return {
    tableName: requiredVariable(env, 'TABLE_NAME'),
    signingSecretId: requiredVariable(env, 'SIGNING_SECRET_ID'),
    bucketName: requiredVariable(env, 'BUCKET_NAME'),
    archivePrefix: normalizePrefix(env.ARCHIVE_PREFIX),
    timestampToleranceSeconds: integerVariable(env, 'TIMESTAMP_TOLERANCE_SECONDS', 300),
    maxBodyBytes: integerVariable(env, 'MAX_BODY_BYTES', 6 * 1024 * 1024),
    maxInlinePayloadBytes: integerVariable(env, 'MAX_INLINE_PAYLOAD_BYTES', 16 * 1024),
    dedupTtlSeconds: integerVariable(env, 'DEDUP_TTL_SECONDS', 7 * 24 * 3600),
    keyCacheTtlSeconds: integerVariable(env, 'KEY_CACHE_TTL_SECONDS', 300),
    keyRefreshIntervalSeconds: integerVariable(env, 'KEY_REFRESH_INTERVAL_SECONDS', 30),
  };
}
