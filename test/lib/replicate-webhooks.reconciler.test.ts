/** The construct, synthesized: the reconciler: its schedule, permissions and alarms. */
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ReconciliationScope, type ReplicateWebhooksProps } from '../../lib';
import { synth } from '../support/construct';

describe('the reconciler', () => {
  const withToken = (props: ReplicateWebhooksProps = {}) =>
    synth(undefined, (stack) => ({
      replicateApiToken: new secretsmanager.Secret(stack, 'Token'),
      ...props,
    }));

  test('without a token nothing of it exists', () => {
    const { template, hooks } = synth();
    expect(hooks.reconciler).toBeUndefined();
    template.resourceCountIs('AWS::Events::Rule', 0);
    expect(JSON.stringify(template.toJSON())).not.toMatch(/REPLICATE_API_TOKEN_SECRET_ID|Reconciler/);
  });

  test('with a token: a function on a schedule, one run at a time, wired from its settings', () => {
    const { template, hooks, stack } = withToken({
      replicateApiBaseUrl: 'https://replicate.internal.example',
      reconciliation: { interval: Duration.minutes(10), lookback: Duration.minutes(90), scope: ReconciliationScope.ACCOUNT },
    });
    expect(hooks.reconciler).toBeDefined();
    const id = stack.getLogicalId(hooks.reconciler!.node.defaultChild as never);
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Timeout: 300,
      Environment: {
        Variables: Match.objectLike({
          REPLICATE_API_BASE_URL: 'https://replicate.internal.example',
          RECONCILIATION_SCOPE: 'account',
          LOOKBACK_SECONDS: '5400',
          MANAGE_SIGNING_KEY: 'true',
          // The schedule's rate, so that the reconciler knows how often it runs.
          RECONCILE_INTERVAL_SECONDS: '600',
          MAX_ARCHIVE_ATTEMPTS: '15',
        }),
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(10 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [id, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 }, Input: '{}' })],
    });
  });

  test('more webhook URLs and the attempt cap reach it; no URLs, no variable', () => {
    const environmentOf = (props: ReplicateWebhooksProps) => {
      const { hooks, stack, template } = withToken(props);
      const id = stack.getLogicalId(hooks.reconciler!.node.defaultChild as never);
      return template.findResources('AWS::Lambda::Function')[id].Properties.Environment.Variables as Record<string, unknown>;
    };
    const tuned = environmentOf({
      reconciliation: {
        webhookUrls: ['https://hooks.example.com/replicate', 'https://old-api.example.com/webhook'],
        maxArchiveAttempts: 40,
      },
    });
    expect(tuned).toMatchObject({
      WEBHOOK_URLS: 'https://hooks.example.com/replicate,https://old-api.example.com/webhook',
      MAX_ARCHIVE_ATTEMPTS: '40',
      RECONCILE_INTERVAL_SECONDS: '300',
    });
    expect(environmentOf({})).not.toHaveProperty('WEBHOOK_URLS');
    expect(environmentOf({ reconciliation: { webhookUrls: [] } })).not.toHaveProperty('WEBHOOK_URLS');
  });

  test("least privilege: reads the token, writes only the signing secret's value, the store's actions, its two indexes, the spill folder and the queue", () => {
    const { template, hooks, stack } = withToken();
    const roleId = stack.getLogicalId(hooks.reconciler!.role!.node.defaultChild as never);
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>);
    const actions = statements.flatMap((statement) => [statement.Action].flat()).sort();
    expect(actions).toEqual(
      [
        'dynamodb:BatchGetItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
        's3:Abort*',
        's3:PutObject',
        's3:PutObjectLegalHold',
        's3:PutObjectRetention',
        's3:PutObjectTagging',
        's3:PutObjectVersionTagging',
        'secretsmanager:DescribeSecret',
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:GetSecretValue',
        'secretsmanager:PutSecretValue',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ].sort(),
    );
    const tableArn = { 'Fn::GetAtt': [stack.getLogicalId(hooks.table.node.defaultChild as never), 'Arn'] };
    const items = statements.find((statement) => [statement.Action].flat().includes('dynamodb:GetItem'))!;
    expect(items.Resource).toEqual(tableArn);
    // The two sparse indexes by name: not `index/*`, which would reach an index a user adds.
    const query = statements.find((statement) => statement.Action === 'dynamodb:Query')!;
    expect(query.Resource).toEqual([
      { 'Fn::Join': ['', [tableArn, '/index/archive-pending']] },
      { 'Fn::Join': ['', [tableArn, '/index/follow']] },
    ]);
    const noKeyManagement = withToken({ reconciliation: { manageSigningKey: false } });
    expect(JSON.stringify(noKeyManagement.template.findResources('AWS::IAM::Policy'))).not.toContain('PutSecretValue');
  });

  test('five more alarms, to the alarm topic: missed webhooks, reconciler failures, redrives, pending archivals and the listing lag', () => {
    const { template, hooks } = withToken();
    expect(Object.keys(hooks.alarms)).toEqual(
      expect.arrayContaining([
        'missedWebhooks',
        'reconcilerFailures',
        'archivalsRedriven',
        'pendingArchivalAge',
        'reconcilerListingLag',
      ]),
    );
    template.resourceCountIs('AWS::CloudWatch::Alarm', 16);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'PredictionsRecovered', Threshold: 1 });
    // Crashed runs, API calls that failed after their retries, and predictions given up after a day.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'errors + apiErrors + givenUp' }),
        Match.objectLike({
          Id: 'givenUp',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              MetricName: 'ReconcileItemFailures',
              Dimensions: Match.arrayWith([{ Name: 'reason', Value: 'gave_up' }]),
            }),
          }),
        }),
      ]),
    });
    const handlerMetric = { Namespace: 'ReplicateWebhooks', Dimensions: [{ Name: 'service', Value: 'replicate-webhooks' }] };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...handlerMetric,
      MetricName: 'ArchivalsRedriven',
      Statistic: 'Sum',
      Period: 900,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...handlerMetric,
      MetricName: 'OldestPendingArchivalAge',
      Statistic: 'Maximum',
      Period: 900,
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    // Emitted on every run: no data means no run finished, which is an alarm of its own.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...handlerMetric,
      MetricName: 'ReconcilerListingLag',
      Statistic: 'Maximum',
      Period: 900,
      EvaluationPeriods: 1,
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'breaching',
    });
  });

  test("the reconciler's alarms span three runs when that is longer than 15 minutes, and take their thresholds", () => {
    const { template } = withToken({
      reconciliation: { interval: Duration.minutes(10) },
      alarms: { maxListingLag: Duration.hours(1), maxPendingArchivalAge: Duration.minutes(45) },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ReconcilerListingLag',
      Period: 1800,
      Threshold: 3600,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'OldestPendingArchivalAge',
      Period: 1800,
      Threshold: 2700,
    });
    const daily = withToken({ reconciliation: { interval: Duration.hours(12) }, alarms: { maxListingLag: Duration.days(1) } });
    // CloudWatch's longest period: a day.
    daily.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ReconcilerListingLag', Period: 86_400 });
  });

  test('its dashboard lines: recoveries, redrives, item failures, the listing lag and the oldest pending archival', () => {
    const body = JSON.stringify(withToken({ dashboard: true }).template.findResources('AWS::CloudWatch::Dashboard'));
    for (const metric of [
      'PredictionsRecovered',
      'ArchivalsRedriven',
      'ReconcileItemFailures',
      'OpenRecordsFollowed',
      'ReconcilerListingLag',
      'OldestPendingArchivalAge',
    ]) {
      expect(body).toContain(metric);
    }
    expect(JSON.stringify(synth({ dashboard: true }).template.findResources('AWS::CloudWatch::Dashboard'))).not.toContain(
      'ReconcilerListingLag',
    );
  });

  test('disabled, it is not created even with a token', () => {
    expect(withToken({ reconciliation: { enabled: false } }).hooks.reconciler).toBeUndefined();
  });
});
