/** The verifier's wiring, read once from environment variables set by the construct. */
import { normalizePrefix } from '../shared/archive-layout';
import { integerVariable, requiredVariable } from '../shared/env';
import { VERIFIER_DEFAULTS as DEFAULTS, VERIFIER_ENV as ENV } from './settings';

export interface VerifierConfig {
  readonly tableName: string;
  readonly signingSecretId: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly timestampToleranceSeconds: number;
  readonly maxBodyBytes: number;
  readonly maxInlinePayloadBytes: number;
  readonly keyCacheTtlSeconds: number;
  readonly keyRefreshIntervalSeconds: number;
}

export function readVerifierConfig(env: NodeJS.ProcessEnv = process.env): VerifierConfig {
  return {
    tableName: requiredVariable(env, ENV.tableName),
    signingSecretId: requiredVariable(env, ENV.signingSecretId),
    bucketName: requiredVariable(env, ENV.bucketName),
    archivePrefix: normalizePrefix(env[ENV.archivePrefix]),
    timestampToleranceSeconds: integerVariable(env, ENV.timestampToleranceSeconds, DEFAULTS.timestampToleranceSeconds),
    maxBodyBytes: integerVariable(env, ENV.maxBodyBytes, DEFAULTS.maxBodyBytes),
    maxInlinePayloadBytes: integerVariable(env, ENV.maxInlinePayloadBytes, DEFAULTS.maxInlinePayloadBytes),
    keyCacheTtlSeconds: integerVariable(env, ENV.keyCacheTtlSeconds, DEFAULTS.keyCacheTtlSeconds),
    keyRefreshIntervalSeconds: integerVariable(env, ENV.keyRefreshIntervalSeconds, DEFAULTS.keyRefreshIntervalSeconds),
  };
}
