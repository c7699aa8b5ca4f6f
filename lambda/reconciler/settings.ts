/**
 * The reconciler's settings, defined once: what the construct and local mode wire (each one an
 * environment variable). Pure, so the construct imports it without the handler's code.
 */
import { environmentOf } from '../shared/env';
import { RECONCILIATION_DEFAULTS, ReconciliationScope } from '../shared/reconcile';

export const RECONCILER_DEFAULTS = {
  apiBaseUrl: 'https://api.replicate.com',
  scope: RECONCILIATION_DEFAULTS.scope,
  lookbackSeconds: RECONCILIATION_DEFAULTS.lookbackSeconds,
  stuckAfterSeconds: RECONCILIATION_DEFAULTS.stuckAfterSeconds,
  rotationGraceSeconds: RECONCILIATION_DEFAULTS.rotationGraceSeconds,
  maxPagesPerRun: RECONCILIATION_DEFAULTS.maxPagesPerRun,
  intervalSeconds: RECONCILIATION_DEFAULTS.intervalSeconds,
  maxArchiveAttempts: RECONCILIATION_DEFAULTS.maxArchiveAttempts,
} as const;

export interface ReconcilerWiring {
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly signingSecretId: string;
  readonly tokenSecretId: string;
  readonly archiveQueueUrl: string;
  /** This deployment's webhook URL, for the default scope. */
  readonly webhookUrl: string;
  /** More URLs whose predictions are this deployment's (a custom domain, a proxy, an earlier URL). */
  readonly webhookUrls?: readonly string[];
  /** Whether to put Replicate's signing key into the signing secret (bootstrap and rotation). */
  readonly manageSigningKey: boolean;
  readonly apiBaseUrl?: string;
  readonly scope?: ReconciliationScope;
  readonly lookbackSeconds?: number;
  readonly stuckAfterSeconds?: number;
  readonly rotationGraceSeconds?: number;
  readonly maxPagesPerRun?: number;
  /** Seconds between runs (the schedule's rate). */
  readonly intervalSeconds?: number;
  /** Archival tries (claims) after which a stuck prediction is marked failed instead of queued again. */
  readonly maxArchiveAttempts?: number;
  readonly maxInlinePayloadBytes?: number;
}

export const RECONCILER_ENV: { readonly [K in keyof ReconcilerWiring]-?: string } = {
  tableName: 'TABLE_NAME',
  bucketName: 'BUCKET_NAME',
  archivePrefix: 'ARCHIVE_PREFIX',
  signingSecretId: 'SIGNING_SECRET_ID',
  tokenSecretId: 'REPLICATE_API_TOKEN_SECRET_ID',
  archiveQueueUrl: 'ARCHIVE_QUEUE_URL',
  webhookUrl: 'WEBHOOK_URL',
  webhookUrls: 'WEBHOOK_URLS',
  manageSigningKey: 'MANAGE_SIGNING_KEY',
  apiBaseUrl: 'REPLICATE_API_BASE_URL',
  scope: 'RECONCILIATION_SCOPE',
  lookbackSeconds: 'LOOKBACK_SECONDS',
  stuckAfterSeconds: 'STUCK_AFTER_SECONDS',
  rotationGraceSeconds: 'ROTATION_GRACE_SECONDS',
  maxPagesPerRun: 'MAX_PAGES_PER_RUN',
  intervalSeconds: 'RECONCILE_INTERVAL_SECONDS',
  maxArchiveAttempts: 'MAX_ARCHIVE_ATTEMPTS',
  maxInlinePayloadBytes: 'MAX_INLINE_PAYLOAD_BYTES',
};

export function reconcilerEnvironment(wiring: ReconcilerWiring): Record<string, string> {
  return environmentOf(RECONCILER_ENV, wiring);
}
