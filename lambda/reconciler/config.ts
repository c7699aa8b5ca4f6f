/** The reconciler's wiring, read once from environment variables set by the construct (see settings.ts). */
import { normalizePrefix } from '../shared/archive-layout';
import { booleanVariable, integerVariable, listVariable, requiredVariable } from '../shared/env';
import { ReconciliationScope } from '../shared/reconcile';
import { STORE_DEFAULTS } from '../shared/state';
import { RECONCILER_DEFAULTS as DEFAULTS, RECONCILER_ENV as ENV } from './settings';

export interface ReconcilerConfig {
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly signingSecretId: string;
  readonly tokenSecretId: string;
  readonly archiveQueueUrl: string;
  readonly webhookUrl: string;
  /** More URLs counted as this deployment's. */
  readonly webhookUrls: readonly string[];
  readonly manageSigningKey: boolean;
  readonly apiBaseUrl: string;
  readonly scope: ReconciliationScope;
  readonly lookbackSeconds: number;
  readonly stuckAfterSeconds: number;
  readonly rotationGraceSeconds: number;
  /** Pages of each listing (predictions, trainings) one run reads at most. */
  readonly maxPagesPerRun: number;
  readonly intervalSeconds: number;
  readonly maxArchiveAttempts: number;
  readonly maxInlinePayloadBytes: number;
}

export function readReconcilerConfig(env: NodeJS.ProcessEnv = process.env): ReconcilerConfig {
  const scope = env[ENV.scope] || DEFAULTS.scope;
  if (!Object.values(ReconciliationScope).includes(scope as ReconciliationScope)) {
    throw new Error(`environment variable ${ENV.scope} must be one of ${Object.values(ReconciliationScope).join(', ')}`);
  }
  return {
    tableName: requiredVariable(env, ENV.tableName),
    bucketName: requiredVariable(env, ENV.bucketName),
    archivePrefix: normalizePrefix(env[ENV.archivePrefix]),
    signingSecretId: requiredVariable(env, ENV.signingSecretId),
    tokenSecretId: requiredVariable(env, ENV.tokenSecretId),
    archiveQueueUrl: requiredVariable(env, ENV.archiveQueueUrl),
    webhookUrl: requiredVariable(env, ENV.webhookUrl),
    webhookUrls: listVariable(env, ENV.webhookUrls, []),
    manageSigningKey: booleanVariable(env, ENV.manageSigningKey, false),
    apiBaseUrl: env[ENV.apiBaseUrl] || DEFAULTS.apiBaseUrl,
    scope: scope as ReconciliationScope,
    lookbackSeconds: integerVariable(env, ENV.lookbackSeconds, DEFAULTS.lookbackSeconds),
    stuckAfterSeconds: integerVariable(env, ENV.stuckAfterSeconds, DEFAULTS.stuckAfterSeconds),
    rotationGraceSeconds: integerVariable(env, ENV.rotationGraceSeconds, DEFAULTS.rotationGraceSeconds),
    maxPagesPerRun: Math.max(1, integerVariable(env, ENV.maxPagesPerRun, DEFAULTS.maxPagesPerRun)),
    intervalSeconds: Math.max(1, integerVariable(env, ENV.intervalSeconds, DEFAULTS.intervalSeconds)),
    maxArchiveAttempts: Math.max(1, integerVariable(env, ENV.maxArchiveAttempts, DEFAULTS.maxArchiveAttempts)),
    maxInlinePayloadBytes: integerVariable(env, ENV.maxInlinePayloadBytes, STORE_DEFAULTS.maxInlinePayloadBytes),
  };
}
