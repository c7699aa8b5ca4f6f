/**
 * Alarms (to the alarm topic) and a dashboard of the flow, built from the resources of a
 * ReplicateWebhooks construct and the metrics its handlers emit.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC } from '../lambda/shared/metrics';
import type { WebhooksMetricFactory } from './metric-factory';
import type { AlarmName, AlarmOptions, HandlerMetricOptions } from './props';

export interface Monitored {
  readonly metrics: WebhooksMetricFactory;
  readonly alarmTopic: sns.ITopic;
  /** How often the reconciler runs, when there is one. */
  readonly reconcilerInterval?: Duration;
}

/** Thresholds of the alarms whose `AlarmOptions` are not given. */
export const ALARM_DEFAULTS = {
  api4xxPercent: 5,
  maxPendingArchivalAge: Duration.minutes(30),
  maxListingLag: Duration.minutes(30),
} as const;

/** The alarms' window over the reconciler's own metrics: at least 15 minutes, and at least three runs. */
export function reconcilerAlarmPeriod(interval: Duration): Duration {
  // A CloudWatch alarm's period is at most a day.
  return Duration.seconds(Math.min(24 * 3600, Math.max(15 * 60, 3 * interval.toSeconds())));
}

export function createAlarms(
  scope: Construct,
  { metrics, alarmTopic, reconcilerInterval }: Monitored,
  options: AlarmOptions,
): Partial<Record<AlarmName, cloudwatch.Alarm>> {
  if (options.enabled === false) return {};
  const disabled = new Set(options.disable ?? []);
  const fiveMinutes = { period: Duration.minutes(5) };
  const fifteenMinutes = { period: Duration.minutes(15) };
  type Definition = Pick<
    cloudwatch.AlarmProps,
    'alarmDescription' | 'metric' | 'threshold' | 'comparisonOperator' | 'treatMissingData'
  >;
  const withReconciler = metrics.reconcilerFailures() !== undefined;
  const reconcilerRuns = { period: reconcilerAlarmPeriod(reconcilerInterval ?? Duration.minutes(5)) };
  const api4xxPercent = options.api4xxPercent ?? ALARM_DEFAULTS.api4xxPercent;
  // An alarm whose metric does not exist here (no reconciler) is not created.
  const definitions: Record<AlarmName, () => Definition | undefined> = {
    verifierErrors: () => ({
      alarmDescription:
        'The verifier crashed or timed out: webhooks may be answered 5xx (Replicate retries only the terminal one).',
      metric: metrics.verifierErrors(fiveMinutes),
      threshold: 1,
    }),
    api5xx: () => ({
      alarmDescription:
        'The webhook API answered 5xx: webhooks were not recorded (DynamoDB, S3 or Secrets Manager failing, or the signing key not set).',
      metric: metrics.api5xx(fiveMinutes),
      threshold: options.api5xxPerFiveMinutes ?? 1,
    }),
    api4xx: () => ({
      alarmDescription: `More than ${api4xxPercent}% of the webhook API's requests in 5 minutes were answered 4xx (at least 10 of them): forged or misaddressed traffic, a signing key that no longer matches Replicate's, bodies that cannot be recorded, or the throttle answering 429 (see the access logs' status).`,
      metric: metrics.api4xxPercent(Duration.minutes(5)),
      threshold: api4xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    }),
    rejectedSignatures: () => ({
      alarmDescription:
        "Many requests failed the signature check: forged traffic, or a signing key that no longer matches Replicate's.",
      metric: metrics.rejectedSignatures(),
      threshold: (options.rejectedSignaturesPerFiveMinutes ?? 20) + 1,
    }),
    archiverErrors: () => ({
      alarmDescription: 'The archiver crashed or timed out: outputs may not be archived before they expire.',
      metric: metrics.archiverErrors(fiveMinutes),
      threshold: 1,
    }),
    archiveFailureQueue: () => ({
      alarmDescription:
        'The forwarder could not queue stream records after its retries: some finished predictions were not queued for archival (the archive failure queue holds their shard and sequence numbers).',
      metric: metrics.archiveFailureQueueDepth({ period: Duration.minutes(1) }),
      threshold: 1,
    }),
    archiveDeadLetters: () => ({
      alarmDescription:
        'Predictions failed every archival try and wait in the archive dead-letter queue: fix the cause, then redrive the queue.',
      metric: metrics.archiveDeadLetters({ period: Duration.minutes(1) }),
      threshold: 1,
    }),
    archivalsFailed: () => ({
      alarmDescription:
        'An archival was given up: its last try failed, or it passed maxArchiveAttempts. Its item says archiveStatus: failed, and why; fix the cause, then redrive it.',
      metric: metrics.archivalsFailed(fifteenMinutes),
      threshold: 1,
    }),
    archiveFileFailures: () => ({
      alarmDescription:
        'Output files could not be archived (refused, missing, too large or unreachable); see the manifests and notifications.',
      metric: metrics.handlerMetric(METRIC.archiveFailures, { period: Duration.minutes(15) }),
      threshold: 1,
    }),
    archiveBacklogAge: () => ({
      alarmDescription:
        'Finished predictions wait long in the archive queue; outputs expire about an hour after a prediction starts.',
      metric: metrics.archiveBacklogAge({ period: Duration.minutes(1) }),
      threshold: (options.maxArchiveBacklogAge ?? Duration.minutes(10)).toSeconds(),
    }),
    throttles: () => ({
      alarmDescription:
        'The verifier, the forwarder or the archiver was throttled by Lambda: a throttled forwarder leaves finished predictions on the stream, which keeps them 24 hours.',
      metric: metrics.throttles(),
      threshold: 1,
    }),
    missedWebhooks: () =>
      withReconciler
        ? {
            alarmDescription:
              'The reconciler recorded finished predictions whose terminal webhook never arrived: the webhook path is broken (wrong URL or signing key, endpoint down) or Replicate failed to deliver.',
            metric: metrics.predictionsRecovered({ period: Duration.minutes(15) }),
            threshold: 1,
          }
        : undefined,
    archivalsRedriven: () =>
      withReconciler
        ? {
            alarmDescription:
              'The reconciler sent finished predictions to the archive queue again: they were not announced long after finishing, so the table stream, the forwarder or the archive queue is not delivering them (see the archive failure queue).',
            metric: metrics.archivalsRedriven(fifteenMinutes),
            threshold: 1,
          }
        : undefined,
    pendingArchivalAge: () =>
      withReconciler
        ? {
            alarmDescription:
              'A finished prediction has waited long to be archived and announced, even after the reconciler sent it to the archive queue again; its outputs expire about an hour after it started.',
            metric: metrics.oldestPendingArchivalAge(reconcilerRuns),
            threshold: (options.maxPendingArchivalAge ?? ALARM_DEFAULTS.maxPendingArchivalAge).toSeconds(),
          }
        : undefined,
    reconcilerListingLag: () =>
      withReconciler
        ? {
            alarmDescription:
              "The reconciler's listing of Replicate's predictions has not been complete for long, or no run has finished (missing data counts): missed webhooks are not being recovered.",
            metric: metrics.reconcilerListingLag(reconcilerRuns),
            threshold: (options.maxListingLag ?? ALARM_DEFAULTS.maxListingLag).toSeconds(),
            // It is emitted on every run: no data means no run finished.
            treatMissingData: cloudwatch.TreatMissingData.BREACHING,
          }
        : undefined,
    completionEventFailures: () => {
      const metric = metrics.completionEventPutFailures(fiveMinutes);
      return metric
        ? {
            alarmDescription:
              'EventBridge refused or failed completion events (throttled, down, or the archiver may no longer put events on the bus); they are retried, and the prediction is announced on the topic once only.',
            metric,
            threshold: 1,
          }
        : undefined;
    },
    reconcilerFailures: () => {
      const metric = metrics.reconcilerFailures();
      return metric
        ? {
            alarmDescription:
              "The reconciler failed, Replicate's API refused it (an invalid token is not retried), or it gave up recovering a prediction after a day: missed webhooks are not being recovered.",
            metric,
            threshold: 1,
          }
        : undefined;
    },
  };
  const alarms: Partial<Record<AlarmName, cloudwatch.Alarm>> = {};
  const action = new cloudwatchActions.SnsAction(alarmTopic);
  for (const [name, define] of Object.entries(definitions) as Array<[AlarmName, () => Definition | undefined]>) {
    if (disabled.has(name)) continue;
    const definition = define();
    if (!definition) continue;
    const alarm = new cloudwatch.Alarm(scope, `${name[0].toUpperCase()}${name.slice(1)}Alarm`, {
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...definition,
    });
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    alarms[name] = alarm;
  }
  return alarms;
}

export function createDashboard(
  scope: Construct,
  { metrics }: Monitored,
  resources: {
    readonly httpApi: apigwv2.HttpApi;
    readonly verifier: lambda.IFunction;
    readonly archiveForwarder: lambda.IFunction;
    readonly archiver: lambda.IFunction;
  },
  alarms: readonly cloudwatch.IAlarm[],
): cloudwatch.Dashboard {
  const metric = (name: string, label: string, extra: HandlerMetricOptions = {}) =>
    metrics.handlerMetric(name, { label, ...extra });
  const rejectedByReason = metrics.handlerMetricByReason(METRIC.rejected, 'rejected');
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { defaultInterval: Duration.hours(6) });
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      markdown:
        '## Replicate webhooks\nReplicate → **API** → **verifier** (signature, one DynamoDB transaction) → table stream → ' +
        '**forwarder** → **archive queue** → **archiver** (outputs → S3) → **completion topic**',
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
        ...(metrics.completionEventPutFailures()
          ? [metric(METRIC.completionEventsPut, 'events put'), metric(METRIC.completionEventPutFailures, 'event put failures')]
          : []),
      ],
      right: [metric(METRIC.bytesArchived, 'bytes archived')],
    }),
    new cloudwatch.GraphWidget({
      title: 'Forwarder (stream → archive queue)',
      width: 8,
      left: [
        resources.archiveForwarder.metricErrors(),
        resources.archiveForwarder.metricThrottles(),
        metric(METRIC.archiveRequestsFailed, 'not queued (retried)'),
        metrics.archiveFailureQueueDepth({ label: 'failure queue' }),
      ],
      right: [metrics.forwarderIteratorAge({ label: 'iterator age (ms)' })],
    }),
    new cloudwatch.GraphWidget({
      title: 'Archiver',
      width: 8,
      left: [
        resources.archiver.metricErrors(),
        resources.archiver.metricThrottles(),
        metrics.archiveDeadLetters({ label: 'dead letters' }),
        metric(METRIC.archivalsFailed, 'archivals failed'),
      ],
      right: [metrics.archiveBacklogAge({ label: 'backlog age (s)' }), metrics.archiveBacklog({ label: 'waiting' })],
    }),
    ...(alarms.length > 0 ? [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 8, alarms: [...alarms] })] : []),
  );
  const reconcilerFailures = metrics.reconcilerFailures(Duration.minutes(5));
  if (reconcilerFailures) {
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Reconciler',
        width: 12,
        left: [
          metric(METRIC.predictionsRecovered, 'recovered (missed webhooks)'),
          metrics.archivalsRedriven({ label: 'archivals redriven' }),
          metric(METRIC.reconcilerPredictionsExamined, 'predictions examined'),
          metric(METRIC.openRecordsFollowed, 'open records followed'),
          metric(METRIC.reconcileItemFailures, 'item failures'),
        ],
        right: [reconcilerFailures],
      }),
      new cloudwatch.GraphWidget({
        title: 'Reconciler lag (s)',
        width: 12,
        left: [
          metrics.reconcilerListingLag({ label: 'listing lag' }),
          metrics.oldestPendingArchivalAge({ label: 'oldest pending archival' }),
        ],
      }),
    );
  }
  return dashboard;
}
