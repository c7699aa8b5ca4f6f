/**
 * Logs and metrics as the handlers emit them: JSON logs and embedded-metric-format metrics in
 * one namespace (the construct names it through POWERTOOLS_METRICS_NAMESPACE).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { DETAILED_METRICS_ENV, isAlarmedSeries, METRICS_NAMESPACE, REASON_DIMENSION, SERVICE_NAME } from './shared/metrics';

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

/**
 * Publishes only the series the alarms read (`ALARMED_SERIES`): every custom series is billed by
 * the month, and the others only feed graphs. Without the cold-start metric for the same reason.
 */
class AlarmedMetrics extends Metrics {
  public override addMetric(
    name: string,
    unit: Parameters<Metrics['addMetric']>[1],
    value: number,
    resolution?: Parameters<Metrics['addMetric']>[3],
  ): this {
    return isAlarmedSeries(name) ? super.addMetric(name, unit, value, resolution) : this;
  }

  public override captureColdStartMetric(): void {}
}

export function createTelemetry(): Telemetry {
  const logger = new Logger({ serviceName: SERVICE_NAME, logRecordOrder: ['level', 'message'] });
  const detailed = process.env[DETAILED_METRICS_ENV] !== 'false';
  const options = { namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE, serviceName: SERVICE_NAME };
  const metrics = detailed ? new Metrics(options) : new AlarmedMetrics(options);
  const countReason = (name: string, reason: string) => {
    if (detailed || isAlarmedSeries(name, reason)) {
      metrics.singleMetric().addDimension(REASON_DIMENSION, reason).addMetric(name, MetricUnit.Count, 1);
    }
  };
  const countFailure = (name: string, reason: string) => {
    metrics.addMetric(name, MetricUnit.Count, 1);
    countReason(name, reason);
  };
  return { logger, metrics, countReason, countFailure };
}
