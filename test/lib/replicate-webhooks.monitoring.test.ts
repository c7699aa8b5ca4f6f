/** The construct, synthesized: its alarms, metrics and dashboard. */
import { Match } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { AlarmName } from '../../lib';
import { synth } from '../support/construct';

describe('monitoring', () => {
  const { template, hooks, stack } = synth();
  const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
  const alarmTopic = () => [{ Ref: logicalId(hooks.alarmTopic) }];

  test('eleven alarms, each notifying the alarm topic when it fires and when it clears', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 11);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: alarmTopic(), OKActions: alarmTopic() });
    expect(Object.keys(hooks.alarms).sort()).toEqual([
      'api4xx',
      'api5xx',
      'archivalsFailed',
      'archiveBacklogAge',
      'archiveDeadLetters',
      'archiveFailureQueue',
      'archiveFileFailures',
      'archiverErrors',
      'rejectedSignatures',
      'throttles',
      'verifierErrors',
    ]);
  });

  test.each([
    ['verifier errors', { Namespace: 'AWS/Lambda', MetricName: 'Errors', Threshold: 1 }],
    ['API 5xx', { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Threshold: 1, Statistic: 'Sum' }],
    [
      'a spike of rejected signatures',
      {
        Namespace: 'ReplicateWebhooks',
        MetricName: 'WebhooksRejected',
        Dimensions: Match.arrayWith([{ Name: 'reason', Value: 'bad_signature' }]),
        Threshold: 21,
      },
    ],
    [
      'anything in the failure queue',
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(hooks.archiveFailureQueue), 'QueueName'] } }],
        Threshold: 1,
      },
    ],
    [
      'anything in the dead-letter queue',
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(hooks.archiveDeadLetterQueue), 'QueueName'] } }],
        Threshold: 1,
      },
    ],
    ['archive file failures', { Namespace: 'ReplicateWebhooks', MetricName: 'ArchiveFailures', Period: 900 }],
    [
      'an archival given up',
      {
        Namespace: 'ReplicateWebhooks',
        MetricName: 'ArchivalsFailed',
        Dimensions: [{ Name: 'service', Value: 'replicate-webhooks' }],
        Statistic: 'Sum',
        Period: 900,
        Threshold: 1,
      },
    ],
    [
      'archive backlog age',
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(hooks.archiveQueue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 600,
      },
    ],
  ])('%s', (_name, properties) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      ...properties,
    });
  });

  test('more than 5% of the requests answered 4xx, and at least 10 of them', () => {
    const alarm = Object.values(template.findResources('AWS::CloudWatch::Alarm')).find((resource) =>
      JSON.stringify(resource.Properties.Metrics ?? []).includes('clientErrors'),
    )!;
    const apiId = { Name: 'ApiId', Value: { Ref: logicalId(hooks.httpApi) } };
    expect(alarm.Properties).toMatchObject({
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 5,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      Metrics: [
        { Expression: 'IF(clientErrors >= 10, 100 * clientErrors / requests, 0)', ReturnData: true },
        {
          Id: 'clientErrors',
          MetricStat: {
            Metric: { Namespace: 'AWS/ApiGateway', MetricName: '4xx', Dimensions: [apiId] },
            Period: 300,
            Stat: 'Sum',
          },
          ReturnData: false,
        },
        {
          Id: 'requests',
          MetricStat: {
            Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: [apiId] },
            Period: 300,
            Stat: 'Sum',
          },
          ReturnData: false,
        },
      ],
    });
    synth({ alarms: { api4xxPercent: 20 } }).template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 20,
      Metrics: Match.arrayWith([Match.objectLike({ Expression: Match.stringLikeRegexp('clientErrors') })]),
    });
  });

  test('throttles of either function', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'verifier + archiver' }),
        Match.objectLike({ MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'Throttles' }) }) }),
      ]),
    });
  });

  test('alarms can be tuned, turned off one by one, or all', () => {
    const tuned = synth({
      alarms: {
        disable: [AlarmName.ARCHIVE_BACKLOG_AGE, AlarmName.ARCHIVE_FILE_FAILURES],
        rejectedSignaturesPerFiveMinutes: 100,
      },
    });
    tuned.template.resourceCountIs('AWS::CloudWatch::Alarm', 9);
    expect(tuned.hooks.alarm(AlarmName.ARCHIVE_BACKLOG_AGE)).toBeUndefined();
    expect(tuned.hooks.alarm(AlarmName.VERIFIER_ERRORS)).toBe(tuned.hooks.alarms.verifierErrors);
    tuned.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'WebhooksRejected', Threshold: 101 });
    const none = synth({ alarms: { enabled: false }, dashboard: false });
    none.template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    none.template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(none.hooks.dashboard).toBeUndefined();
  });

  test('a dashboard of the flow', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const metric of [
      'WebhooksReceived',
      'WebhooksAccepted',
      'WebhooksRejected',
      'FilesArchived',
      'ArchiveFailures',
      'ArchivalsFailed',
      'ApproximateAgeOfOldestMessage',
      'NotificationsPublished',
    ]) {
      expect(body).toContain(metric);
    }
  });

  test("metric methods for users' own alarms", () => {
    expect(stack.resolve(hooks.metricWebhooksRejected({ reason: 'bad_signature' }))).toMatchObject({
      namespace: 'ReplicateWebhooks',
      metricName: 'WebhooksRejected',
      dimensions: { service: 'replicate-webhooks', reason: 'bad_signature' },
    });
    expect(hooks.metricWebhooksAccepted().metricName).toBe('WebhooksAccepted');
    expect(hooks.metricFilesArchived().metricName).toBe('FilesArchived');
    expect(stack.resolve(hooks.metricArchiveBacklogAge())).toMatchObject({
      namespace: 'AWS/SQS',
      metricName: 'ApproximateAgeOfOldestMessage',
      statistic: 'Maximum',
    });
    expect(hooks.metricArchiveDeadLetters().metricName).toBe('ApproximateNumberOfMessagesVisible');
    expect(hooks.metricArchivalsFailed({ reason: 'TimeoutError' }).dimensions).toMatchObject({ reason: 'TimeoutError' });
    expect(stack.resolve(hooks.metricArchivalsRedriven())).toMatchObject({
      namespace: 'ReplicateWebhooks',
      metricName: 'ArchivalsRedriven',
      statistic: 'Sum',
      dimensions: { service: 'replicate-webhooks' },
    });
    for (const [method, metricName] of [
      [hooks.metricReconcilerListingLag(), 'ReconcilerListingLag'],
      [hooks.metricOldestPendingArchivalAge(), 'OldestPendingArchivalAge'],
    ] as const) {
      expect(stack.resolve(method)).toMatchObject({
        namespace: 'ReplicateWebhooks',
        metricName,
        statistic: 'Maximum',
        dimensions: { service: 'replicate-webhooks' },
      });
    }
    const custom = synth({ metricsNamespace: 'Team/Replicate' });
    expect(custom.hooks.metricWebhooksReceived().namespace).toBe('Team/Replicate');
    custom.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_METRICS_NAMESPACE: 'Team/Replicate' }) },
    });
  });
});
