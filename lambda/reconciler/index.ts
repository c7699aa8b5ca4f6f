/**
 * Reconciler: makes the archive complete when Replicate's deliveries fail. On a schedule (the
 * event's content is ignored), it
 * 1. puts Replicate's signing key into the signing secret when it is missing or has changed
 *    (the previous key stays accepted for a grace period), so a deploy needs no manual step;
 * 2. lists recent predictions through Replicate's API and records each finished one, in scope,
 *    that the table does not have as finished: through the same store and the same state rule
 *    as the verifier, so the stream, the Pipe and the archiver do the rest, and a late webhook
 *    is answered duplicate/after_terminal;
 * 3. sends finished predictions that are still not announced long after back to the archive
 *    queue (the archiver's claim and `notifiedAt` keep that to one announcement).
 * A run ends well inside its timeout and carries on next time. Reruns and concurrent runs are
 * safe: every write is the store's conditional one, every redrive the archiver's claim.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { METRIC } from '../shared/metrics';
import { parseRecordablePrediction } from '../shared/prediction';
import { decideReconcile, nextSigningSecret, readStoredSigningSecret, type RecordedState } from '../shared/reconcile';
import { WebhookStore } from '../store/webhook-store';
import { createTelemetry, MetricUnit } from '../telemetry';
import { ConcurrencyLimit } from '../shared/concurrency-limit';
import { readReconcilerConfig } from './config';
import { RecordedPredictions } from './recorded';
import { ReplicateApiClient, ReplicateApiError, ReplicateAuthError, type ReplicatePrediction } from './replicate-api';

const config = readReconcilerConfig();
const { logger, metrics, countReason } = createTelemetry();
const secrets = new SecretsManagerClient({});
const dynamodb = new DynamoDBClient({});
const sqs = new SQSClient({});
const store = new WebhookStore(dynamodb, new S3Client({}), config);
const recorded = new RecordedPredictions(dynamodb, config.tableName);

const DEFAULT_BUDGET_MS = 5 * 60 * 1000;
const SAFETY_MARGIN_MS = 15_000;
const LOOKUP_BATCH = 100;
const STUCK_PER_RUN = 200;

/** What one run did: returned to the caller (local mode prints it) and logged. */
export interface ReconcileReport {
  readonly signingKey: 'unchanged' | 'bootstrap' | 'rotation' | 'grace_over' | 'not_managed' | 'failed';
  readonly examined: number;
  readonly recovered: ReadonlyArray<{ readonly predictionId: string; readonly status: string }>;
  readonly redriven: readonly string[];
  /** Listing stopped before the end of the lookback (deadline or page limit): the next run goes on. */
  readonly stoppedEarly: boolean;
  /** Replicate's API failed (after its retries) for this part of the run. */
  readonly apiError?: string;
}

export const handler = async (_event: unknown, context?: Context): Promise<ReconcileReport> => {
  if (context) logger.addContext(context);
  metrics.captureColdStartMetric();
  const deadline = Date.now() + (context?.getRemainingTimeInMillis() ?? DEFAULT_BUDGET_MS) - SAFETY_MARGIN_MS;
  try {
    const api = new ReplicateApiClient({
      baseUrl: config.apiBaseUrl,
      token: await readToken(),
      onRetry: (retry) => logger.warn("Replicate's API failed; retrying", { ...retry }),
    });
    let apiError: string | undefined;
    const apiFailed = (error: unknown): string => {
      // An invalid token is not retried here or next time by itself: it is alarmed.
      const reason =
        error instanceof ReplicateAuthError
          ? 'unauthorized'
          : error instanceof ReplicateApiError
            ? `status_${error.status ?? 'none'}`
            : 'network';
      if (!(error instanceof ReplicateApiError)) throw error;
      logger.error(
        error instanceof ReplicateAuthError
          ? 'Replicate refused the API token: check the token secret'
          : "Replicate's API failed",
        {
          reason,
          error: error.message,
        },
      );
      countReason(METRIC.replicateApiErrors, reason);
      metrics.addMetric(METRIC.replicateApiErrors, MetricUnit.Count, 1);
      apiError ??= reason;
      return reason;
    };

    const signingKey = config.manageSigningKey
      ? await syncSigningKey(api, deadline).catch((error: unknown) => (apiFailed(error), 'failed' as const))
      : ('not_managed' as const);
    const missed =
      apiError === 'unauthorized' ? { examined: 0, recovered: [], stoppedEarly: true } : await recoverMissed(api, deadline);
    const { error: listingError, ...listing }: typeof missed & { error?: unknown } = missed;
    // An API failure ends the listing, not the run; anything else (the table, say) is a crash.
    if (listingError !== undefined) apiFailed(listingError);
    const redriven = await redriveStuck();
    const report: ReconcileReport = { signingKey, ...listing, redriven, ...(apiError ? { apiError } : {}) };
    logger.info('reconciled', {
      signingKey,
      examined: report.examined,
      recovered: report.recovered.length,
      redriven: redriven.length,
      stoppedEarly: report.stoppedEarly,
    });
    return report;
  } finally {
    // Powertools warns on an empty flush (a run that failed before counting anything).
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
};

/** The token secret holds the plain token, or JSON `{"token": "r8_..."}`. */
async function readToken(): Promise<string> {
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: config.tokenSecretId }));
  const text = (secret.SecretString ?? '').trim();
  const token = text.startsWith('{') ? (JSON.parse(text) as { token?: unknown }).token : text;
  if (typeof token !== 'string' || token.length === 0) throw new Error('the Replicate API token secret holds no token');
  return token;
}

async function syncSigningKey(api: ReplicateApiClient, deadline: number): Promise<ReconcileReport['signingKey']> {
  const replicateKey = await api.getWebhookSigningSecret({ deadline });
  const current = await secrets.send(new GetSecretValueCommand({ SecretId: config.signingSecretId }));
  const stored = readStoredSigningSecret(current.SecretString);
  const next = nextSigningSecret(stored, replicateKey, new Date(), config.rotationGraceSeconds);
  if (!next) return 'unchanged';
  const kind = !stored?.key ? 'bootstrap' : stored.key !== replicateKey ? 'rotation' : 'grace_over';
  await secrets.send(new PutSecretValueCommand({ SecretId: config.signingSecretId, SecretString: JSON.stringify(next) }));
  // Never the key itself.
  logger.info('signing secret updated from Replicate', { kind, previousKeysKept: next.keys?.length ?? 0 });
  metrics.addMetric(METRIC.signingKeyUpdated, MetricUnit.Count, 1);
  countReason(METRIC.signingKeyUpdated, kind);
  return kind;
}

async function recoverMissed(
  api: ReplicateApiClient,
  deadline: number,
): Promise<Pick<ReconcileReport, 'examined' | 'recovered' | 'stoppedEarly'> & { readonly error?: unknown }> {
  const listing = api.listPredictions({
    since: new Date(Date.now() - config.lookbackSeconds * 1000),
    deadline,
    maxPages: config.maxPagesPerRun,
  });
  const recovered: Array<{ predictionId: string; status: string }> = [];
  const fetches = new ConcurrencyLimit(8);
  let examined = 0;
  let batch: ReplicatePrediction[] = [];
  let failure: unknown;
  const lookUp = async () => {
    if (batch.length === 0) return;
    const listed = batch;
    batch = [];
    examined += listed.length;
    const states = await recorded.states(
      listed.map((prediction) => prediction.id),
      deadline,
    );
    const candidates = listed.filter((prediction) =>
      ['record', 'check_webhook'].includes(
        decideReconcile(prediction, states.get(prediction.id) ?? 'absent', config.scope, config.webhookUrl),
      ),
    );
    // Settled one by one: what was recorded before a failure is reported (and counted) all the same.
    const results = await Promise.allSettled(
      candidates.map((prediction) =>
        fetches.run(() => recover(api, prediction.id, states.get(prediction.id) ?? 'absent', deadline)),
      ),
    );
    for (const result of results) {
      if (result.status === 'fulfilled') {
        if (result.value) recovered.push(result.value);
      } else {
        failure ??= result.reason;
      }
    }
    if (failure !== undefined) throw failure;
  };
  try {
    for await (const prediction of listing) {
      batch.push(prediction);
      if (batch.length >= LOOKUP_BATCH) await lookUp();
    }
    await lookUp();
  } catch (error) {
    failure ??= error;
  } finally {
    metrics.addMetric(METRIC.reconcilerPredictionsExamined, MetricUnit.Count, examined);
    metrics.addMetric(METRIC.predictionsRecovered, MetricUnit.Count, recovered.length);
  }
  const stoppedEarly = failure !== undefined || (listing.outcome?.stoppedEarly ?? true);
  return { examined, recovered, stoppedEarly, ...(failure !== undefined ? { error: failure } : {}) };
}

/** Fetches the whole prediction and records it as its terminal webhook would have been. */
async function recover(
  api: ReplicateApiClient,
  predictionId: string,
  recorded: RecordedState,
  deadline: number,
): Promise<{ predictionId: string; status: string } | undefined> {
  const fetched = await api.getPrediction(predictionId, { deadline });
  if (!fetched) return undefined;
  const parsed = parseRecordablePrediction(fetched.body);
  if (!parsed.ok) {
    logger.warn('a missed prediction cannot be recorded', { predictionId, reason: parsed.reason });
    metrics.addMetric(METRIC.replicateApiErrors, MetricUnit.Count, 1);
    countReason(METRIC.replicateApiErrors, `unrecordable_${parsed.reason}`);
    return undefined;
  }
  const { prediction } = parsed;
  // Decided again on the whole object: its webhook, and its status (listed as finished, or another one).
  const whole = { id: prediction.id, status: prediction.status, webhook: (fetched.prediction.webhook as string | null) ?? null };
  if (prediction.id !== predictionId || decideReconcile(whole, recorded, config.scope, config.webhookUrl) !== 'record') {
    return undefined;
  }
  const completedAt = Date.parse(prediction.completedAt ?? '');
  const outcome = await store.record({
    // One id per prediction, so reruns and concurrent runs are duplicates of one another.
    webhookId: `reconciled_${predictionId}`,
    timestampSeconds: Math.floor((Number.isNaN(completedAt) ? Date.now() : completedAt) / 1000),
    prediction,
    body: fetched.body,
    bodyBytes: Buffer.byteLength(fetched.body),
    receivedAt: new Date(),
  });
  if (outcome !== 'accepted') return undefined;
  logger.info('missed prediction recovered', { predictionId, status: prediction.status });
  countReason(METRIC.predictionsRecovered, prediction.status);
  return { predictionId, status: prediction.status };
}

/** Finished predictions not announced long after (their messages lost) go to the archive queue again. */
async function redriveStuck(): Promise<string[]> {
  const stuck = await recorded.stuck(new Date(Date.now() - config.stuckAfterSeconds * 1000), STUCK_PER_RUN);
  const sent: string[] = [];
  for (let start = 0; start < stuck.length; start += 10) {
    const ids = stuck.slice(start, start + 10);
    const result = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: config.archiveQueueUrl,
        Entries: ids.map((predictionId, index) => ({ Id: String(index), MessageBody: JSON.stringify({ predictionId }) })),
      }),
    );
    const failed = new Set((result.Failed ?? []).map((entry) => Number(entry.Id)));
    ids.forEach((predictionId, index) => (failed.has(index) ? undefined : sent.push(predictionId)));
    // Whatever failed is still pending: the next run finds it again.
    if (failed.size > 0) logger.warn('some stuck predictions could not be queued', { failed: failed.size });
  }
  if (sent.length > 0) logger.warn('stuck archivals sent to the archive queue again', { predictionIds: sent });
  metrics.addMetric(METRIC.archivalsRedriven, MetricUnit.Count, sent.length);
  return sent;
}
