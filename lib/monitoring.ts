/**
 * Alarms (to the alarm topic) and a dashboard of the flow, built from the resources of a
 * ReplicateWebhooks construct and the metrics its handlers emit.
 */
import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, REASON_DIMENSION, SERVICE_NAME } from '../lambda/shared/metrics';
import type { AlarmName, AlarmOptions } from './props';

export interface MonitoredResources {
  readonly httpApi: apigwv2.HttpApi;
  readonly verifier: lambda.IFunction;
  readonly archiver: lambda.IFunction;
  readonly archiveFailureQueue: sqs.IQueue;
  readonly alarmTopic: sns.ITopic;
  readonly namespace: string;
}

/** A metric emitted by the handlers (embedded metric format, `service` dimension). */
export function handlerMetric(
  namespace: string,
  name: string,
  options: cloudwatch.MetricOptions & { reason?: string } = {},
): cloudwatch.Metric {
  const { reason, ...metricOptions } = options;
  return new cloudwatch.Metric({
    namespace,
    metricName: name,
    statistic: 'Sum',
    period: Duration.minutes(5),
    ...metricOptions,
    dimensionsMap: { service: SERVICE_NAME, ...(reason ? { [REASON_DIMENSION]: reason } : {}), ...metricOptions.dimensionsMap },
  });
}

export function createAlarms(
  scope: Construct,
  resources: MonitoredResources,
  options: AlarmOptions,
): Partial<Record<AlarmName, cloudwatch.Alarm>> {
  if (options.enabled === false) return {};
  const disabled = new Set(options.disable ?? []);
  const fiveMinutes = { period: Duration.minutes(5) };
  type Definition = Pick<cloudwatch.AlarmProps, 'alarmDescription' | 'metric' | 'threshold'>;
  const definitions: Record<AlarmName, () => Definition> = {
    verifierErrors: () => ({
      alarmDescription:
        'The verifier crashed or timed out: webhooks may be answered 5xx (Replicate retries only the terminal one).',
      metric: resources.verifier.metricErrors(fiveMinutes),
      threshold: 1,
    }),
    api5xx: () => ({
      alarmDescription:
        'The webhook API answered 5xx: webhooks were not recorded (DynamoDB, S3 or Secrets Manager failing, or the signing key not set).',
      metric: resources.httpApi.metricServerError({ ...fiveMinutes, statistic: 'Sum' }),
      threshold: options.api5xxPerFiveMinutes ?? 1,
    }),
    rejectedSignatures: () => ({
      alarmDescription:
        "Many requests failed the signature check: forged traffic, or a signing key that no longer matches Replicate's.",
      metric: handlerMetric(resources.namespace, METRIC.rejected, { reason: 'bad_signature' }),
      threshold: (options.rejectedSignaturesPerFiveMinutes ?? 20) + 1,
    }),
    archiverErrors: () => ({
      alarmDescription: 'The archiver crashed or timed out: outputs may not be archived before they expire.',
      metric: resources.archiver.metricErrors(fiveMinutes),
      threshold: 1,
    }),
    archiveFailureQueue: () => ({
      alarmDescription:
        'Stream batches ran out of retries: some predictions may not be fully archived (see the archive failure queue).',
      metric: resources.archiveFailureQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 1,
    }),
    archiveFileFailures: () => ({
      alarmDescription:
        'Output files could not be archived (refused, missing, too large or unreachable); see the manifests and notifications.',
      metric: handlerMetric(resources.namespace, METRIC.archiveFailures, { period: Duration.minutes(15) }),
      threshold: 1,
    }),
    iteratorAge: () => ({
      alarmDescription: 'The archiver lags the table stream; outputs expire about an hour after a prediction starts.',
      metric: resources.archiver.metric('IteratorAge', { period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: (options.maxIteratorAge ?? Duration.minutes(10)).toMilliseconds(),
    }),
    throttles: () => ({
      alarmDescription: 'The verifier or the archiver was throttled by Lambda.',
      metric: new cloudwatch.MathExpression({
        expression: 'verifier + archiver',
        usingMetrics: {
          verifier: resources.verifier.metricThrottles(fiveMinutes),
          archiver: resources.archiver.metricThrottles(fiveMinutes),
        },
        label: 'Throttles',
        period: Duration.minutes(5),
      }),
      threshold: 1,
    }),
  };
  const alarms: Partial<Record<AlarmName, cloudwatch.Alarm>> = {};
  const action = new cloudwatchActions.SnsAction(resources.alarmTopic);
  for (const [name, define] of Object.entries(definitions) as Array<[AlarmName, () => Definition]>) {
    if (disabled.has(name)) continue;
    const alarm = new cloudwatch.Alarm(scope, `${name[0].toUpperCase()}${name.slice(1)}Alarm`, {
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...define(),
    });
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    alarms[name] = alarm;
  }
  return alarms;
}

export function createDashboard(
  scope: Construct,
  resources: MonitoredResources,
  alarms: readonly cloudwatch.IAlarm[],
): cloudwatch.Dashboard {
  const metric = (name: string, label: string, extra: cloudwatch.MetricOptions & { reason?: string } = {}) =>
    handlerMetric(resources.namespace, name, { label, ...extra });
  const rejectedByReason = new cloudwatch.MathExpression({
    expression: `SEARCH('{${resources.namespace},${REASON_DIMENSION},service} MetricName="${METRIC.rejected}"', 'Sum', 300)`,
    label: 'rejected',
    period: Duration.minutes(5),
  });
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { defaultInterval: Duration.hours(6) });
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      markdown:
        '## Replicate webhooks\nReplicate → **API** → **verifier** (signature, one DynamoDB transaction) → table stream → ' +
        '**archiver** (outputs → S3) → **completion topic**',
      width: 24,
      height: 2,
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Webhooks by outcome',
      width: 12,
      left: [
        metric(METRIC.received, 'received'),
        metric(METRIC.accepted, 'accepted'),
        metric(METRIC.duplicate, 'duplicate'),
        metric(METRIC.stale, 'stale'),
        metric(METRIC.afterTerminal, 'after terminal'),
        metric(METRIC.rejected, 'rejected (4xx)'),
        metric(METRIC.failed, 'failed (5xx)'),
      ],
    }),
    new cloudwatch.GraphWidget({ title: 'Rejected by reason', width: 12, left: [rejectedByReason] }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'API',
      width: 8,
      left: [
        resources.httpApi.metricCount({ label: 'requests' }),
        resources.httpApi.metricClientError({ label: '4xx' }),
        resources.httpApi.metricServerError({ label: '5xx' }),
      ],
      right: [resources.httpApi.metricLatency({ label: 'latency p99', statistic: 'p99' })],
    }),
    new cloudwatch.GraphWidget({
      title: 'Verifier',
      width: 8,
      left: [resources.verifier.metricErrors(), resources.verifier.metricThrottles()],
      right: [
        resources.verifier.metricDuration({ statistic: 'p50', label: 'duration p50' }),
        resources.verifier.metricDuration({ statistic: 'p99', label: 'duration p99' }),
      ],
    }),
    new cloudwatch.GraphWidget({
      title: 'Payload size',
      width: 8,
      left: [
        metric(METRIC.payloadBytes, 'bytes (p99)', { statistic: 'p99' }),
        metric(METRIC.payloadBytes, 'bytes (max)', { statistic: 'Maximum' }),
      ],
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Archival',
      width: 8,
      left: [
        metric(METRIC.predictionsArchived, 'predictions archived'),
        metric(METRIC.filesArchived, 'files archived'),
        metric(METRIC.archiveFailures, 'files failed'),
        metric(METRIC.notificationsPublished, 'notifications'),
      ],
      right: [metric(METRIC.bytesArchived, 'bytes archived')],
    }),
    new cloudwatch.GraphWidget({
      title: 'Archiver',
      width: 8,
      left: [
        resources.archiver.metricErrors(),
        resources.archiver.metricThrottles(),
        resources.archiveFailureQueue.metricApproximateNumberOfMessagesVisible({ label: 'failure queue' }),
      ],
      right: [resources.archiver.metric('IteratorAge', { statistic: 'Maximum', label: 'iterator age (ms)' })],
    }),
    ...(alarms.length > 0 ? [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 8, alarms: [...alarms] })] : []),
  );
  return dashboard;
}
