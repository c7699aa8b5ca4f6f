/**
 * Verifier: API Gateway (HTTP API, payload 2.0) → signature check → one atomic state write →
 * a fast answer. 2xx only once the webhook is durable; 4xx for bad input; 5xx for our failures,
 * so that Replicate retries. The logic, over the dependencies index.ts builds.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { METRIC } from '../shared/metrics';
import { parseRecordablePrediction } from '../shared/prediction';
import type { WriteOutcome } from '../shared/state';
import { SigningSecretError, checkHeaders, matchesAnyKey } from '../shared/signature';
import { errorName, MetricUnit, type Telemetry } from '../telemetry';
import type { VerifierConfig } from './config';
import { answer, header, readRawBody } from './http';
import { SigningKeyCache } from './signing-keys';
import { RecordTooLargeError, StoreUnavailableError, type WebhookStore } from '../store/webhook-store';

export interface VerifierDependencies {
  readonly config: VerifierConfig;
  readonly telemetry: Telemetry;
  readonly store: WebhookStore;
  /** The signing secret's text, read from where it is kept (Secrets Manager). */
  readonly readSigningSecret: () => Promise<string>;
}

export type VerifierHandler = (event: APIGatewayProxyEventV2, context?: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const OUTCOME_METRIC: Readonly<Record<Exclude<WriteOutcome, 'conflict'>, string>> = {
  accepted: METRIC.accepted,
  duplicate: METRIC.duplicate,
  stale: METRIC.stale,
  after_terminal: METRIC.afterTerminal,
};

export function createVerifierHandler({ config, telemetry, store, readSigningSecret }: VerifierDependencies): VerifierHandler {
  const { logger, metrics } = telemetry;
  const signingKeys = new SigningKeyCache(readSigningSecret, {
    ttlMs: config.keyCacheTtlSeconds * 1000,
    minRefreshIntervalMs: config.keyRefreshIntervalSeconds * 1000,
    onStaleKeys: (error) => {
      // Until the cache expires, a broken secret shows only as 401s: say why, and count it.
      const reason = error instanceof SigningSecretError ? 'invalid_secret' : 'secret_unavailable';
      logger.warn('signing secret refetch failed; using the cached keys', { reason, error: errorName(error) });
      telemetry.countFailure(METRIC.signingKeyRefreshFailed, reason);
    },
  });

  const handler: VerifierHandler = async (event, context) => {
    if (context) logger.addContext(context);
    // Sampled logging (POWERTOOLS_LOGGER_SAMPLE_RATE) picks each invocation afresh, not once per container.
    logger.refreshSampleRateCalculation();
    metrics.captureColdStartMetric();
    metrics.addMetric(METRIC.received, MetricUnit.Count, 1);
    try {
      return await handle(event);
    } catch (error) {
      // Our failure, never the sender's: answer 5xx so Replicate retries; no stack in the answer.
      logger.error('webhook not recorded', { error: error as Error });
      return fail(500, 'internal_error');
    } finally {
      // Powertools warns on an empty flush (a run that failed before counting anything).
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };

  async function handle(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const raw = readRawBody(event, config.maxBodyBytes);
    if (!raw.ok) return reject(413, 'payload_too_large', { size: raw.size });

    const checked = checkHeaders(
      {
        webhookId: header(event, 'webhook-id'),
        timestamp: header(event, 'webhook-timestamp'),
        signature: header(event, 'webhook-signature'),
        body: raw.body,
      },
      Math.floor(Date.now() / 1000),
      config.timestampToleranceSeconds,
    );
    if (!checked.ok) return reject(401, checked.reason);
    const { webhookId } = checked.request;

    let keys: readonly Buffer[];
    try {
      keys = await signingKeys.current();
    } catch (error) {
      logger.error('signing key unavailable', { webhookId, error: errorName(error), reason: (error as Error).message });
      return fail(503, 'signing_key_unavailable');
    }
    if (!matchesAnyKey(checked.request, keys)) {
      // Maybe the key was rotated since it was cached: look once more, rate limited.
      const rotated = await signingKeys.refreshAfterMismatch();
      if (!rotated || !matchesAnyKey(checked.request, rotated)) return reject(401, 'bad_signature', { webhookId });
    }

    // Everything that can never be stored is refused here, before any write (S3 included).
    const parsed = parseRecordablePrediction(raw.body);
    if (!parsed.ok) return reject(400, parsed.reason, { webhookId, field: parsed.field });
    const { prediction } = parsed;
    metrics.addMetric(METRIC.payloadBytes, MetricUnit.Bytes, raw.size);

    try {
      const outcome = await store.record({
        webhookId,
        timestampSeconds: checked.request.timestampSeconds,
        prediction,
        body: raw.body,
        bodyBytes: raw.size,
        receivedAt: new Date(),
      });
      // A webhook id names one message: another body under it changes nothing and is refused, not acknowledged.
      if (outcome === 'conflict') return reject(409, 'webhook_id_conflict', { webhookId, predictionId: prediction.id });
      logger.info('webhook recorded', { outcome, webhookId, predictionId: prediction.id, status: prediction.status });
      metrics.addMetric(OUTCOME_METRIC[outcome], MetricUnit.Count, 1);
      return answer(200, { outcome, predictionId: prediction.id, webhookId });
    } catch (error) {
      if (error instanceof RecordTooLargeError) {
        // Retrying cannot help, so no 5xx; but a payload got past the bounds: log it as an error.
        logger.error('webhook too large to record', { webhookId, predictionId: prediction.id, error: errorName(error.cause) });
        return reject(413, 'record_too_large', { webhookId });
      }
      if (!(error instanceof StoreUnavailableError)) throw error;
      const { dependency, cause } = error;
      logger.error('webhook not recorded', { webhookId, predictionId: prediction.id, dependency, error: errorName(cause) });
      return fail(503, `${dependency}_unavailable`);
    }
  }

  /** Bad input: 4xx with the reason, counted by reason. */
  function reject(statusCode: number, reason: string, context: Record<string, unknown> = {}): APIGatewayProxyStructuredResultV2 {
    logger.warn('webhook rejected', { reason, statusCode, ...context });
    telemetry.countFailure(METRIC.rejected, reason);
    return answer(statusCode, { error: reason });
  }

  /** Our failure: 5xx so Replicate retries, counted by reason. */
  function fail(statusCode: number, reason: string): APIGatewayProxyStructuredResultV2 {
    telemetry.countFailure(METRIC.failed, reason);
    return answer(statusCode, { error: reason });
  }

  return handler;
}
