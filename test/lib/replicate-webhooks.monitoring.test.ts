/** The construct, synthesized: its alarms, metrics and dashboard. */
import { Match, Template } from 'aws-cdk-lib/assertions';
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

  test('throttles of any function on the path: the verifier, the forwarder (whose throttled batches nothing else reports) and the archiver', () => {
    const [alarm] = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Metrics: Match.arrayWith([Match.objectLike({ Expression: 'verifier + forwarder + archiver' })]) },
      }),
    );
    const throttled = (
      alarm.Properties.Metrics as Array<{ MetricStat?: { Metric: { MetricName: string; Dimensions: unknown } } }>
    )
      .filter((metric) => metric.MetricStat)
      .map((metric) => [metric.MetricStat!.Metric.MetricName, JSON.stringify(metric.MetricStat!.Metric.Dimensions)]);
    expect(throttled).toEqual(
      [hooks.verifier, hooks.archiveForwarder, hooks.archiver].map((fn) => [
        'Throttles',
        JSON.stringify([{ Name: 'FunctionName', Value: { Ref: stack.getLogicalId(fn.node.defaultChild as never) } }]),
      ]),
    );
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
    const none = synth({ alarms: { enabled: false } });
    none.template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    none.template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(none.hooks.dashboard).toBeUndefined();
  });

  test('a dashboard of the flow and every metric, both opt-in ($3.00 and about $9 a month)', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(hooks.dashboard).toBeUndefined();
    const handlers = (t: Template) =>
      Object.values(t.findResources('AWS::Lambda::Function')).filter(
        (fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME,
      );
    expect(handlers(template)).toHaveLength(3);
    for (const fn of handlers(template)) expect(fn.Properties.Environment.Variables.DETAILED_METRICS).toBe('false');
    const detailed = synth({ dashboard: true, detailedMetrics: true });
    detailed.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    for (const fn of handlers(detailed.template)) expect(fn.Properties.Environment.Variables.DETAILED_METRICS).toBe('true');
    const body = JSON.stringify(detailed.template.findResources('AWS::CloudWatch::Dashboard'));
    for (const metric of [
      'WebhooksReceived',
      'WebhooksAccepted',
      'WebhooksRejected',
      'FilesArchived',
      'ArchiveFailures',
      'ArchivalsFailed',
      'ApproximateAgeOfOldestMessage',
      'NotificationsPublished',
      'ArchiveRequestsFailed',
      'IteratorAge',
    ]) {
      expect(body).toContain(metric);
    }
  });

  test('lean verifier logs by default: refusals and failures, one accepted webhook in a hundred, no Lambda records', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Verifies'),
      LoggingConfig: { LogFormat: 'JSON', SystemLogLevel: 'WARN' },
      Environment: { Variables: Match.objectLike({ POWERTOOLS_LOG_LEVEL: 'WARN', POWERTOOLS_LOGGER_SAMPLE_RATE: '0.01' }) },
    });
    const verbose = synth({ verboseLogs: true });
    const [fn] = Object.values(
      verbose.template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('^Verifies') },
      }),
    );
    expect(fn.Properties.LoggingConfig).toEqual({ LogFormat: 'JSON', LogGroup: expect.anything(), SystemLogLevel: 'INFO' });
    expect(fn.Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe('INFO');
    expect(fn.Properties.Environment.Variables.POWERTOOLS_LOGGER_SAMPLE_RATE).toBeUndefined();
  });

  test('lean logs for every per-event function by default: what goes wrong, the INFO lines of one invocation in a hundred, no Lambda records; verboseLogs adds both', () => {
    const forwarderOf = (t: Template) =>
      Object.values(
        t.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^Queues each') } }),
      )[0];
    const lean = forwarderOf(template);
    expect(lean.Properties.LoggingConfig.SystemLogLevel).toBe('WARN');
    expect(lean.Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe('WARN');
    expect(lean.Properties.Environment.Variables.POWERTOOLS_LOGGER_SAMPLE_RATE).toBe('0.01');
    const verboseTemplate = synth({ verboseLogs: true }).template;
    const verbose = forwarderOf(verboseTemplate);
    expect(verbose.Properties.LoggingConfig.SystemLogLevel).toBe('INFO');
    expect(verbose.Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe('INFO');
    expect(verbose.Properties.Environment.Variables.POWERTOOLS_LOGGER_SAMPLE_RATE).toBeUndefined();
    // The archiver alike; the reconciler, on a schedule, logs every run either way.
    const byDescription = (t: Template, start: string) =>
      Object.values(
        t.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp(`^${start}`) } }),
      )[0];
    const archiver = byDescription(template, 'Copies the outputs');
    expect(archiver.Properties.LoggingConfig.SystemLogLevel).toBe('WARN');
    expect(archiver.Properties.Environment.Variables).toMatchObject({
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_LOGGER_SAMPLE_RATE: '0.01',
    });
    expect(byDescription(verboseTemplate, 'Copies the outputs').Properties.Environment.Variables.POWERTOOLS_LOG_LEVEL).toBe(
      'INFO',
    );
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
