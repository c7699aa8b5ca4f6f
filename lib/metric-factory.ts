/**
 * Every metric the construct reads, built in one place: the `metric*` methods, the alarms and
 * the dashboard take them from here, so a metric is defined once.
 */
import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { METRIC, REASON_DIMENSION, SERVICE_NAME } from '../lambda/shared/metrics';
import type { HandlerMetricOptions } from './props';

export interface MetricSources {
  readonly namespace: string;
  readonly httpApi: apigwv2.HttpApi;
  readonly verifier: lambda.IFunction;
  readonly forwarder: lambda.IFunction;
  readonly archiver: lambda.IFunction;
  readonly archiveQueue: sqs.IQueue;
  readonly archiveDeadLetterQueue: sqs.IQueue;
  readonly archiveFailureQueue: sqs.IQueue;
  readonly reconciler?: lambda.IFunction;
  /** Whether the archiver puts completion events on a bus. */
  readonly putsCompletionEvents: boolean;
}

export class WebhooksMetricFactory {
  constructor(private readonly sources: MetricSources) {}

  /** A metric the handlers emit (embedded metric format, `service` dimension), optionally for one `reason`. */
  handlerMetric(name: string, options: HandlerMetricOptions = {}): cloudwatch.Metric {
    const { reason, ...metricOptions } = options;
    return new cloudwatch.Metric({
      namespace: this.sources.namespace,
      metricName: name,
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...metricOptions,
      dimensionsMap: {
        service: SERVICE_NAME,
        ...(reason ? { [REASON_DIMENSION]: reason } : {}),
        ...metricOptions.dimensionsMap,
      },
    });
  }

  /** Every reason's series of one handler metric (a SEARCH expression, for graphs). */
  handlerMetricByReason(name: string, label: string): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${this.sources.namespace},${REASON_DIMENSION},service} MetricName="${name}"', 'Sum', 300)`,
      label,
      period: Duration.minutes(5),
    });
  }

  /** How long the oldest finished prediction has waited in the archive queue (seconds). */
  archiveBacklogAge(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.sources.archiveQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', ...options });
  }

  /** Predictions waiting in the archive queue. */
  archiveBacklog(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.sources.archiveQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', ...options });
  }

  /** Predictions in the dead-letter queue, waiting for a redrive. */
  archiveDeadLetters(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.sources.archiveDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', ...options });
  }

  /** Stream batches the forwarder could not queue, after its event source's retries. */
  archiveFailureQueueDepth(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.sources.archiveFailureQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', ...options });
  }

  /**
   * How old the last stream record the forwarder was handed is (milliseconds, maximum): near zero
   * while it keeps up; it grows while a batch is retried or the function is throttled.
   */
  forwarderIteratorAge(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.sources.forwarder.metric('IteratorAge', { statistic: 'Maximum', ...options });
  }

  verifierErrors(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.sources.verifier.metricErrors(options);
  }

  archiverErrors(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.sources.archiver.metricErrors(options);
  }

  api5xx(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.sources.httpApi.metricServerError({ statistic: 'Sum', ...options });
  }

  /**
   * The percentage of the API's requests answered 4xx, counted only from `minimum4xx` answers on
   * (below that it reads 0): a few refusals among a handful of requests are not a trend.
   */
  api4xxPercent(period: Duration = Duration.minutes(5), minimum4xx = 10): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `IF(clientErrors >= ${minimum4xx}, 100 * clientErrors / requests, 0)`,
      usingMetrics: {
        clientErrors: this.sources.httpApi.metricClientError({ statistic: 'Sum', period }),
        requests: this.sources.httpApi.metricCount({ statistic: 'Sum', period }),
      },
      label: '4xx (% of requests)',
      period,
    });
  }

  /**
   * Throttles of the verifier, the forwarder or the archiver, as one series. The forwarder's
   * matter most: its stream event source retries a throttled batch without counting it against
   * its retries, until the records leave the stream (24 hours), so nothing else would tell.
   */
  throttles(period: Duration = Duration.minutes(5)): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'verifier + forwarder + archiver',
      usingMetrics: {
        verifier: this.sources.verifier.metricThrottles({ period }),
        forwarder: this.sources.forwarder.metricThrottles({ period }),
        archiver: this.sources.archiver.metricThrottles({ period }),
      },
      label: 'Throttles',
      period,
    });
  }

  /** Finished predictions the reconciler recorded because no terminal webhook had arrived. */
  predictionsRecovered(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.handlerMetric(METRIC.predictionsRecovered, options);
  }

  /** Predictions whose archival was given up: the last try failed, or the attempt cap was passed. */
  archivalsFailed(options: HandlerMetricOptions = {}): cloudwatch.Metric {
    return this.handlerMetric(METRIC.archivalsFailed, options);
  }

  /** Finished predictions the reconciler sent to the archive queue again, not announced long after. */
  archivalsRedriven(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.handlerMetric(METRIC.archivalsRedriven, options);
  }

  /** How far behind the reconciler's complete listing of Replicate's predictions is (seconds, maximum); one value a run. */
  reconcilerListingLag(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.handlerMetric(METRIC.reconcilerListingLag, { statistic: 'Maximum', ...options });
  }

  /** How long the oldest finished prediction not yet announced has waited (seconds, maximum), as the reconciler finds it. */
  oldestPendingArchivalAge(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.handlerMetric(METRIC.oldestPendingArchivalAge, { statistic: 'Maximum', ...options });
  }

  /**
   * Reconciler runs that crashed, calls to Replicate's API that failed after their retries, and
   * predictions it gave up recovering after a day; undefined without a reconciler.
   */
  reconcilerFailures(period: Duration = Duration.minutes(15)): cloudwatch.MathExpression | undefined {
    const reconciler = this.sources.reconciler;
    if (!reconciler) return undefined;
    return new cloudwatch.MathExpression({
      expression: 'errors + apiErrors + givenUp',
      usingMetrics: {
        errors: reconciler.metricErrors({ period }),
        apiErrors: this.handlerMetric(METRIC.replicateApiErrors, { period }),
        // A prediction it tried to recover for a day and could not: lost unless a person acts.
        givenUp: this.handlerMetric(METRIC.reconcileItemFailures, { period, reason: 'gave_up' }),
      },
      label: 'Reconciler failures',
      period,
    });
  }

  /** PutEvents calls or entries that failed (retried ones included); undefined without an event bus. */
  completionEventPutFailures(options: HandlerMetricOptions = {}): cloudwatch.Metric | undefined {
    return this.sources.putsCompletionEvents ? this.handlerMetric(METRIC.completionEventPutFailures, options) : undefined;
  }

  /** Convenience names for the handler metrics the alarms and dashboard use. */
  rejectedSignatures(): cloudwatch.Metric {
    return this.handlerMetric(METRIC.rejected, { reason: 'bad_signature' });
  }
}
