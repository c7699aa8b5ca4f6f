/**
 * Logs and metrics as the handlers emit them: JSON logs and embedded-metric-format metrics in
 * one namespace (the construct names it through POWERTOOLS_METRICS_NAMESPACE).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, REASON_DIMENSION, SERVICE_NAME } from './shared/metrics';

export { MetricUnit };

export interface Telemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** One count of `name` with a `reason` dimension, emitted at once (its own dimension set). */
  readonly countReason: (name: string, reason: string) => void;
  /** One count of `name` in all (what alarms read) and one for its `reason`. */
  readonly countFailure: (name: string, reason: string) => void;
}

/** An error's name (how errors from the SDK or another package are told apart), or its text. */
export const errorName = (error: unknown): string => (error as Error | undefined)?.name ?? String(error);

export function createTelemetry(): Telemetry {
  const logger = new Logger({ serviceName: SERVICE_NAME, logRecordOrder: ['level', 'message'] });
  const metrics = new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
    serviceName: SERVICE_NAME,
  });
  const countReason = (name: string, reason: string) =>
    void metrics.singleMetric().addDimension(REASON_DIMENSION, reason).addMetric(name, MetricUnit.Count, 1);
  const countFailure = (name: string, reason: string) => {
    metrics.addMetric(name, MetricUnit.Count, 1);
    countReason(name, reason);
  };
  return { logger, metrics, countReason, countFailure };
}
