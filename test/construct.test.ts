import { App, Duration, FileSystem, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { readArchiverConfig } from '../lambda/archiver/config';
import { ARCHIVER_DEFAULTS } from '../lambda/archiver/settings';
import { readVerifierConfig } from '../lambda/verifier/config';
import { VERIFIER_DEFAULTS } from '../lambda/verifier/settings';
import { ARCHIVE_REQUEST_TEMPLATE } from '../lambda/shared/archive-queue';
import { BECAME_TERMINAL_PATTERNS } from '../lambda/shared/stream-filter';
import { AlarmName, ReconciliationScope, ReplicateWebhooks, type ReplicateWebhooksProps, type StateTableProps } from '../lib';
import { HANDLER_RUNTIME, handlerAssetPath } from '../lib/handler-code';
import { TEMPLATE_RULES_AS_ERRORS } from './support/cdk';

/** Work to do on the construct once it exists (subscriptions, grants), queued by `configure`. */
let pending: Array<(hooks: ReplicateWebhooks) => void> = [];

function synth(props?: ReplicateWebhooksProps, configure?: (stack: Stack) => ReplicateWebhooksProps) {
  const app = new App({ context: { 'aws:cdk:enable-asset-metadata': true, ...TEMPLATE_RULES_AS_ERRORS } });
  const stack = new Stack(app, 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  pending = [];
  const hooks = new ReplicateWebhooks(stack, 'Hooks', configure ? configure(stack) : props);
  for (const action of pending) action(hooks);
  return { app, stack, hooks, template: Template.fromStack(stack) };
}

describe('resources and their key settings', () => {
  const { template, hooks, stack } = synth();

  test('an HTTP API with one throttled, logged POST /webhook route to the verifier', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhook', AuthorizationType: 'NONE' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.requestId') },
    });
    const url = JSON.stringify(stack.resolve(hooks.webhookUrl));
    expect(url).toContain(stack.getLogicalId(hooks.httpApi.node.defaultChild as never));
    expect(url).toMatch(/\/webhook"\]\]\}$/);
  });

  test('the verifier: newest Node runtime, arm64, pre-bundled code, wiring from the environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 256,
      Timeout: 10,
      LoggingConfig: { LogFormat: 'JSON', LogGroup: Match.anyValue() },
      Environment: {
        Variables: {
          TABLE_NAME: Match.anyValue(),
          SIGNING_SECRET_ID: Match.anyValue(),
          BUCKET_NAME: Match.anyValue(),
          ARCHIVE_PREFIX: '',
          TIMESTAMP_TOLERANCE_SECONDS: '300',
          MAX_BODY_BYTES: String(6 * 1024 * 1024),
          MAX_INLINE_PAYLOAD_BYTES: String(16 * 1024),
          KEY_CACHE_TTL_SECONDS: '300',
        },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  test('the state table: on-demand, PITR, encrypted, TTL, NEW_AND_OLD_IMAGES stream, the archive-pending and follow indexes, retained', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'archivePending', AttributeType: 'S' },
          { AttributeName: 'terminalAt', AttributeType: 'S' },
          { AttributeName: 'follow', AttributeType: 'S' },
          { AttributeName: 'followAt', AttributeType: 'S' },
        ],
        GlobalSecondaryIndexes: [
          // Sparse: only finished predictions not announced yet carry its key.
          {
            IndexName: 'archive-pending',
            KeySchema: [
              { AttributeName: 'archivePending', KeyType: 'HASH' },
              { AttributeName: 'terminalAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['archiveFailedAt', 'predictionId'] },
          },
          // Sparse: open records and the reconciler's retries, keys only.
          {
            IndexName: 'follow',
            KeySchema: [
              { AttributeName: 'follow', KeyType: 'HASH' },
              { AttributeName: 'followAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
        Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
      },
    });
  });

  test('the archive bucket: encrypted, SSL only, public access blocked, retained', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } })]),
        },
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('the signing secret is created and retained', () => {
    template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain' });
  });

  const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
  const statementsOf = (principal: lambda.Function | iam.Role) =>
    Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) =>
        JSON.stringify(policy.Properties.Roles).includes(logicalId(principal instanceof iam.Role ? principal : principal.role!)),
      )
      .flatMap(
        (policy) => (policy as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement,
      );
  const objects = (folder: string) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(hooks.bucket), 'Arn'] }, folder]] });
  const putActions = [
    's3:PutObject',
    's3:PutObjectLegalHold',
    's3:PutObjectRetention',
    's3:PutObjectTagging',
    's3:PutObjectVersionTagging',
    's3:Abort*',
  ];

  test('IAM: the verifier may touch only its own table, secret and spill folder', () => {
    const statements = statementsOf(hooks.verifier);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [logicalId(hooks.table), 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: { Ref: logicalId(hooks.signingSecret) },
      },
      {
        Effect: 'Allow',
        Action: putActions,
        Resource: objects('/webhook-payloads/*'),
      },
    ]);
    expect(JSON.stringify(statements)).not.toMatch(/s3:GetObject|s3:DeleteObject|dynamodb:DeleteItem|dynamodb:Scan/);
  });

  test('IAM: the archiver may consume only its queue, update and read only this table, write only its bucket folder, publish only to its topic', () => {
    const queue = { 'Fn::GetAtt': [logicalId(hooks.archiveQueue), 'Arn'] };
    expect(statementsOf(hooks.archiver)).toEqual([
      {
        Effect: 'Allow',
        Action: [
          'sqs:ReceiveMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueUrl',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
        ],
        Resource: queue,
      },
      // GetItem: the terminal payload's own item.
      {
        Effect: 'Allow',
        Action: ['dynamodb:UpdateItem', 'dynamodb:GetItem'],
        Resource: { 'Fn::GetAtt': [logicalId(hooks.table), 'Arn'] },
      },
      { Effect: 'Allow', Action: putActions, Resource: objects('/predictions/*') },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objects('/predictions/*') },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objects('/webhook-payloads/*') },
      { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: logicalId(hooks.completionTopic as sns.Topic) } },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: { 'Fn::GetAtt': [logicalId(hooks.topicKey as kms.Key), 'Arn'] },
      },
    ]);
  });

  test("IAM: the Pipe may read only this table's stream and send only to the archive and failure queues", () => {
    const stream = { 'Fn::GetAtt': [logicalId(hooks.table), 'StreamArn'] };
    const role = hooks.node.findChild('ArchivePipeRole') as iam.Role;
    expect(statementsOf(role)).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: stream },
      {
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: stream,
      },
      {
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        Resource: { 'Fn::GetAtt': [logicalId(hooks.archiveQueue), 'Arn'] },
      },
      {
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        Resource: { 'Fn::GetAtt': [logicalId(hooks.archiveFailureQueue), 'Arn'] },
      },
    ]);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'pipes.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': '111111111111' } },
          }),
        ],
      },
    });
  });

  test('no policy anywhere grants on "*"', () => {
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toMatch(/"Resource":"\*"/);
  });

  test('the Pipe: the stream filtered to terminal transitions, one message per prediction into the archive queue', () => {
    template.resourceCountIs('AWS::Pipes::Pipe', 1);
    template.hasResourceProperties('AWS::Pipes::Pipe', {
      Source: { 'Fn::GetAtt': [logicalId(hooks.table), 'StreamArn'] },
      SourceParameters: {
        DynamoDBStreamParameters: {
          StartingPosition: 'TRIM_HORIZON',
          BatchSize: 10,
          MaximumRetryAttempts: 10,
          OnPartialBatchItemFailure: 'AUTOMATIC_BISECT',
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(hooks.archiveFailureQueue), 'Arn'] } },
        },
        FilterCriteria: { Filters: BECAME_TERMINAL_PATTERNS.map((pattern) => ({ Pattern: JSON.stringify(pattern) })) },
      },
      Target: { 'Fn::GetAtt': [logicalId(hooks.archiveQueue), 'Arn'] },
      TargetParameters: { InputTemplate: ARCHIVE_REQUEST_TEMPLATE },
    });
    // The role's policy exists before the Pipe, which checks its permissions when created.
    const pipe = Object.values(template.findResources('AWS::Pipes::Pipe'))[0] as { DependsOn?: string[] };
    expect(pipe.DependsOn?.some((id) => id.startsWith('HooksArchivePipeRoleDefaultPolicy'))).toBe(true);
  });

  test('the archiver: the archive queue with partial batch responses, bounded concurrency, retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 600,
      Environment: {
        Variables: Match.objectLike({
          COMPLETION_TOPIC_ARN: { Ref: logicalId(hooks.completionTopic as sns.Topic) },
          ARCHIVE_QUEUE_URL: { Ref: logicalId(hooks.archiveQueue) },
          ALLOWED_OUTPUT_HOSTS: 'replicate.delivery,*.replicate.delivery',
          MAX_FILE_BYTES: String(5 * 1024 ** 3),
          FILE_CONCURRENCY: '8',
          MAX_RECEIVE_COUNT: '5',
        }),
      },
    });
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(hooks.archiveQueue), 'Arn'] },
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 200 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 660,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(hooks.archiveDeadLetterQueue), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    template.resourceCountIs('AWS::SQS::Queue', 3);
  });

  test('the verifier reads back exactly what the construct wires: the defaults of its settings', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (resource) => resource.Properties.Environment?.Variables?.SIGNING_SECRET_ID,
    )!;
    const environment = Object.fromEntries(
      Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>).map(([name, value]) => [
        name,
        typeof value === 'string' ? value : `resolved-${name.toLowerCase()}`,
      ]),
    );
    const { tableName, signingSecretId, bucketName, archivePrefix, ...settings } = readVerifierConfig(environment);
    expect({ tableName, signingSecretId, bucketName, archivePrefix }).toEqual({
      tableName: 'resolved-table_name',
      signingSecretId: 'resolved-signing_secret_id',
      bucketName: 'resolved-bucket_name',
      archivePrefix: '',
    });
    expect(settings).toEqual(VERIFIER_DEFAULTS);
  });

  test("the archiver reads back exactly what the construct wires: its queue's receive count, the defaults", () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (resource) => resource.Properties.Environment?.Variables?.ARCHIVE_QUEUE_URL,
    )!;
    // Tokens (table name, queue URL, topic ARN) become plain strings, as Lambda sees them.
    const environment = Object.fromEntries(
      Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>).map(([name, value]) => [
        name,
        typeof value === 'string' ? value : `resolved-${name.toLowerCase()}`,
      ]),
    );
    const config = readArchiverConfig(environment);
    const queue = Object.values(template.findResources('AWS::SQS::Queue')).find((q) => q.Properties.RedrivePolicy)!;
    expect(config.maxReceiveCount).toBe(queue.Properties.RedrivePolicy.maxReceiveCount);
    expect(config.fileConcurrency).toBe(ARCHIVER_DEFAULTS.fileConcurrency);
    expect(config.fetchPolicy.maxBytes).toBe(ARCHIVER_DEFAULTS.maxFileBytes);
    expect(config.queueUrl).toBe('resolved-archive_queue_url');
    expect(config.fetchPolicy.allowedHosts).toHaveLength(ARCHIVER_DEFAULTS.allowedOutputHosts.length);
  });

  test('archiver options reach the function, the queue and the event source', () => {
    const tuned = synth({
      archiver: { timeout: Duration.minutes(5), batchSize: 3, maxConcurrency: 20, retryAttempts: 2, fileConcurrency: 2 },
    });
    tuned.template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 300,
      Environment: { Variables: Match.objectLike({ MAX_RECEIVE_COUNT: '3', FILE_CONCURRENCY: '2' }) },
    });
    tuned.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 3,
      ScalingConfig: { MaximumConcurrency: 20 },
    });
    tuned.template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 360,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
  });

  test('topics: encrypted with a rotating customer managed key CloudWatch may use, SSL only', () => {
    template.resourceCountIs('AWS::SNS::Topic', 2);
    template.allResourcesProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(hooks.topicKey as kms.Key), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.resourcePropertiesCountIs(
      'AWS::SNS::TopicPolicy',
      {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      },
      2,
    );
  });
});

describe('monitoring', () => {
  const { template, hooks, stack } = synth();
  const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
  const alarmTopic = () => [{ Ref: logicalId(hooks.alarmTopic as sns.Topic) }];

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
    expect(handlers(template)).toHaveLength(2);
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

describe('secure, explicit defaults', () => {
  test('bucket, table, secret and topic key are retained by default, and deleted on request', () => {
    const kept = synth().template;
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::GlobalTable', 'AWS::SecretsManager::Secret', 'AWS::KMS::Key']) {
      kept.hasResource(type, { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
    const dropped = synth({ removalPolicy: RemovalPolicy.DESTROY }).template;
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::GlobalTable', 'AWS::SecretsManager::Secret', 'AWS::KMS::Key']) {
      dropped.hasResource(type, { DeletionPolicy: 'Delete' });
    }
  });

  test('lifecycle: incomplete uploads aborted, overwritten versions and spilled payloads expired, archive transitions and expiry configurable', () => {
    synth().template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          { Id: 'abort-incomplete-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
          {
            Id: 'expire-noncurrent-versions',
            Status: 'Enabled',
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            ExpiredObjectDeleteMarker: true,
          },
          { Id: 'expire-spilled-payloads', Status: 'Enabled', Prefix: 'webhook-payloads/', ExpirationInDays: 30 },
        ],
      },
    });
    synth({
      archivePrefix: 'x',
      archiveLifecycle: {
        transitions: [{ storageClass: s3.StorageClass.INTELLIGENT_TIERING, transitionAfter: Duration.days(0) }],
        expiration: Duration.days(400),
        spilledPayloadExpiration: Duration.days(7),
        noncurrentVersionExpiration: Duration.days(3),
      },
    }).template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'expire-noncurrent-versions', NoncurrentVersionExpiration: { NoncurrentDays: 3 } }),
          Match.objectLike({ Id: 'expire-spilled-payloads', Prefix: 'x/webhook-payloads/', ExpirationInDays: 7 }),
          Match.objectLike({
            Id: 'archived-predictions',
            Prefix: 'x/predictions/',
            ExpirationInDays: 400,
            Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 0 }],
          }),
        ]),
      },
    });
  });

  test('the verifier has reserved concurrency by default, and none on request', () => {
    synth().template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 25,
    });
    const functions = synth({ verifier: { reserveConcurrency: false } }).template.findResources('AWS::Lambda::Function');
    expect(JSON.stringify(functions)).not.toContain('ReservedConcurrentExecutions');
  });

  test('the API may invoke the verifier only from this account and this API', () => {
    synth().template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'apigateway.amazonaws.com',
      SourceAccount: '111111111111',
      SourceArn: Match.anyValue(),
    });
  });

  test('only AWS services acting for a resource may create grants on the topic key', () => {
    synth().template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Sid: 'DenyGrantsExceptForAwsResources',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: 'kms:CreateGrant',
            Resource: '*',
            Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
          },
        ]),
      },
    });
  });

  test('the two dead-letter destinations are marked as such; the archive queue has its DLQ', () => {
    const queues = Object.values(synth().template.findResources('AWS::SQS::Queue')).map((queue) => queue.Properties);
    expect(queues.filter((queue) => queue.RedriveAllowPolicy)).toEqual([
      expect.objectContaining({ RedriveAllowPolicy: { redrivePermission: 'allowAll' } }),
      expect.objectContaining({ RedriveAllowPolicy: { redrivePermission: 'allowAll' } }),
    ]);
    expect(queues.filter((queue) => !queue.RedriveAllowPolicy)).toEqual([
      expect.objectContaining({ RedrivePolicy: expect.anything() }),
    ]);
  });

  test('log groups: encrypted with logEncryptionKey, which CloudWatch Logs of this account and region may use', () => {
    expect(JSON.stringify(synth().template.findResources('AWS::Logs::LogGroup'))).not.toContain('KmsKeyId');
    const { template, stack } = synth(undefined, (stack) => ({
      logEncryptionKey: new kms.Key(stack, 'LogKey', { enableKeyRotation: true }),
    }));
    const keyId = stack.getLogicalId(stack.node.findChild('LogKey').node.defaultChild as never);
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } }, 3);
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logs.eu-west-1.amazonaws.com' },
            Condition: {
              ArnLike: {
                'kms:EncryptionContext:aws:logs:arn': {
                  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':logs:eu-west-1:111111111111:log-group:*']],
                },
              },
            },
          }),
        ]),
      },
    });
  });

  test('X-Ray tracing on request', () => {
    synth({ tracing: true }).template.allResourcesProperties('AWS::Lambda::Function', { TracingConfig: { Mode: 'Active' } });
  });

  test('a customer managed key encrypts bucket, table, topics, queue and secret, and the handlers may use it', () => {
    const { template, stack, hooks } = synth(undefined, (stack) => ({
      encryptionKey: new kms.Key(stack, 'TeamKey', { enableKeyRotation: true }),
    }));
    const keyArn = { 'Fn::GetAtt': [stack.getLogicalId(hooks.encryptionKey!.node.defaultChild as never), 'Arn'] };
    template.resourceCountIs('AWS::KMS::Key', 1);
    expect(hooks.topicKey).toBe(hooks.encryptionKey);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn } },
        ],
      },
    });
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS' } });
    template.allResourcesProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
    template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyArn });
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: keyArn });
    for (const fn of [hooks.verifier, hooks.archiver]) {
      const policy = Object.values(template.findResources('AWS::IAM::Policy')).find((candidate) =>
        JSON.stringify(candidate.Properties.Roles).includes(stack.getLogicalId(fn.role!.node.defaultChild as never)),
      );
      expect(JSON.stringify(policy)).toContain('kms:Decrypt');
    }
  });
});

describe('subscribing and reading', () => {
  test('onCompletion builds the filter policy from statuses and models', () => {
    const { template } = synth(undefined, (stack) => {
      const queue = new sqs.Queue(stack, 'Subscriber', { enforceSSL: true });
      const fn = new lambda.Function(stack, 'Handler', {
        runtime: lambda.Runtime.NODEJS_24_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async () => {}'),
      });
      pending.push((hooks) => {
        hooks.onCompletion(new snsSubscriptions.SqsSubscription(queue, { rawMessageDelivery: true }), {
          statuses: ['succeeded'],
          models: ['black-forest-labs/flux-schnell'],
        });
        hooks.onCompletion(new snsSubscriptions.LambdaSubscription(fn), { statuses: ['failed', 'canceled', 'aborted'] });
        hooks.onCompletion(new snsSubscriptions.EmailSubscription('ops@example.com'));
      });
      return {};
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      FilterPolicy: { status: ['succeeded'], model: ['black-forest-labs/flux-schnell'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      FilterPolicy: { status: ['failed', 'canceled', 'aborted'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', FilterPolicy: Match.absent() });
  });

  test('grantReadArchive grants reading the predictions folder only', () => {
    const { template, stack, hooks } = synth({ archivePrefix: 'team' }, (stack) => {
      pending.push((hooks) =>
        hooks.grantReadArchive(new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() })),
      );
      return { archivePrefix: 'team' };
    });
    const reader = Object.entries(template.findResources('AWS::IAM::Policy')).find(([id]) =>
      id.startsWith('ReaderDefaultPolicy'),
    );
    expect(JSON.stringify(reader)).toContain('/team/predictions/*');
    expect(JSON.stringify(reader)).not.toContain('webhook-payloads');
    expect(stack.resolve(hooks.archivePrefix)).toBe('team/');
  });

  test('existing topics are used, and no topic key is created', () => {
    const { template, hooks } = synth(undefined, (stack) => ({
      existingCompletionTopic: sns.Topic.fromTopicArn(stack, 'Done', 'arn:aws:sns:eu-west-1:111111111111:done'),
      existingAlarmTopic: sns.Topic.fromTopicArn(stack, 'Alarms', 'arn:aws:sns:eu-west-1:111111111111:alarms'),
    }));
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    expect(hooks.topicKey).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ COMPLETION_TOPIC_ARN: 'arn:aws:sns:eu-west-1:111111111111:done' }) },
    });
  });
});

describe('props', () => {
  test('custom throttle, path, tolerance, limits and prefix reach the resources', () => {
    const { template, hooks, stack } = synth({
      webhookPath: '/hooks/replicate',
      throttle: { rateLimit: 5 },
      timestampTolerance: Duration.minutes(2),
      archivePrefix: '/team-a/',
      verifier: { memorySize: 512, reservedConcurrentExecutions: 20 },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /hooks/replicate' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 2000 },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      ReservedConcurrentExecutions: 20,
      Environment: { Variables: Match.objectLike({ TIMESTAMP_TOLERANCE_SECONDS: '120', ARCHIVE_PREFIX: 'team-a/' }) },
    });
    expect(hooks.archivePrefix).toBe('team-a/');
    expect(JSON.stringify(stack.resolve(hooks.webhookUrl))).toContain('/hooks/replicate');
  });

  test('a throttle limit left undefined keeps its default', () => {
    synth({ throttle: { rateLimit: undefined, burstLimit: 50 } }).template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 50 },
    });
  });

  test('an existing secret and bucket are used, not created, and granted narrowly', () => {
    const { template } = synth(undefined, (stack) => ({
      existingSigningSecret: secretsmanager.Secret.fromSecretNameV2(stack, 'Existing', 'replicate/signing'),
      existingBucket: s3.Bucket.fromBucketName(stack, 'Shared', 'shared-bucket'),
      archivePrefix: 'replicate',
    }));
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    template.resourceCountIs('AWS::S3::Bucket', 0);
    const policy = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policy).toContain('secret:replicate/signing-??????');
    expect(policy).toContain(':s3:::shared-bucket/replicate/webhook-payloads/*');
  });

  test("table props are merged, but the key schema, stream and TTL stay the construct's", () => {
    // The key schema, stream and TTL are not StateTableProps; JavaScript callers may pass them all the same.
    const tableProps = { deletionProtection: true, timeToLiveAttribute: 'other' } as StateTableProps;
    const { template } = synth({ tableProps });
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test('bucket props are merged over the defaults, and SSL stays enforced', () => {
    const { template } = synth({ bucketProps: { versioned: true, enforceSSL: false } });
    template.hasResourceProperties('AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
    template.resourceCountIs('AWS::S3::BucketPolicy', 1);
  });

  test.each([
    [
      'existingSigningSecret',
      'signingSecretProps',
      (stack: Stack) => ({
        existingSigningSecret: secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'x'),
        signingSecretProps: {},
      }),
    ],
    [
      'existingBucket',
      'bucketProps',
      (stack: Stack) => ({ existingBucket: s3.Bucket.fromBucketName(stack, 'B', 'bucket-b'), bucketProps: {} }),
    ],
  ])('%s and %s together fail at synth with a clear message', (existing, propsName, configure) => {
    expect(() => synth(undefined, configure)).toThrow(`pass either ${existing} or ${propsName}, not both`);
  });

  test('a webhook path that is not a path fails at synth', () => {
    expect(() => synth({ webhookPath: 'webhook' })).toThrow(/webhookPath/);
  });
});

describe('a custom domain', () => {
  const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111111111111:certificate/0f3e8c7a-1111-2222-3333-444455556666';
  const withDomain = (
    domain: { zone?: boolean; disableExecuteApiEndpoint?: boolean } = {},
    props: (stack: Stack) => ReplicateWebhooksProps = () => ({}),
  ) =>
    synth(undefined, (stack) => ({
      ...props(stack),
      domain: {
        domainName: 'hooks.example.com',
        certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', CERTIFICATE_ARN),
        hostedZone: domain.zone
          ? route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
              hostedZoneId: 'Z0123456789ABC',
              zoneName: 'example.com',
            })
          : undefined,
        disableExecuteApiEndpoint: domain.disableExecuteApiEndpoint,
      },
    }));
  /** `{"Fn::GetAtt": [<the API>, "ApiEndpoint"]}` followed by the path: the API's own URL. */
  const executeApiUrl = (stack: Stack, hooks: ReplicateWebhooks, path = '/webhook') => ({
    'Fn::Join': ['', [{ 'Fn::GetAtt': [stack.getLogicalId(hooks.httpApi.node.defaultChild as never), 'ApiEndpoint'] }, path]],
  });

  test("without one: no domain, and the webhook URL is the API's own", () => {
    const { template, hooks, stack } = synth();
    expect(hooks.customDomain).toBeUndefined();
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 0);
    expect(stack.resolve(hooks.webhookUrl)).toEqual(executeApiUrl(stack, hooks));
    expect(stack.resolve(hooks.executeApiWebhookUrl)).toEqual(executeApiUrl(stack, hooks));
    expect(
      template.findResources('AWS::ApiGatewayV2::Api')[stack.getLogicalId(hooks.httpApi.node.defaultChild as never)].Properties,
    ).not.toHaveProperty('DisableExecuteApiEndpoint');
  });

  test('with a zone: a regional TLS 1.2 domain mapped to the $default stage, A and AAAA aliases to it, and the webhook URL on it', () => {
    const { template, hooks, stack } = withDomain({ zone: true }, () => ({ webhookPath: '/hooks/replicate' }));
    const domainId = stack.getLogicalId(hooks.customDomain!.node.defaultChild as never);
    template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'hooks.example.com',
      DomainNameConfigurations: [
        { CertificateArn: CERTIFICATE_ARN, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2', IpAddressType: 'dualstack' },
      ],
    });
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    template.hasResource('AWS::ApiGatewayV2::ApiMapping', {
      Properties: {
        ApiId: { Ref: stack.getLogicalId(hooks.httpApi.node.defaultChild as never) },
        DomainName: { Ref: domainId },
        Stage: '$default',
      },
      DependsOn: [stack.getLogicalId(hooks.stage.node.defaultChild as never)],
    });
    const records = Object.values(template.findResources('AWS::Route53::RecordSet')).map((record) => record.Properties);
    expect(records.map((record) => record.Type).sort()).toEqual(['A', 'AAAA']);
    for (const record of records) {
      expect(record).toEqual({
        Type: record.Type,
        HostedZoneId: 'Z0123456789ABC',
        Name: 'hooks.example.com.',
        AliasTarget: {
          DNSName: { 'Fn::GetAtt': [domainId, 'RegionalDomainName'] },
          HostedZoneId: { 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] },
        },
      });
    }
    expect(hooks.webhookUrl).toBe('https://hooks.example.com/hooks/replicate');
    expect(stack.resolve(hooks.executeApiWebhookUrl)).toEqual(executeApiUrl(stack, hooks, '/hooks/replicate'));
    // Both answer until the execute-api endpoint is turned off on purpose.
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: Match.absent() });
  });

  test("the records name the domain itself, whatever the case of the zone's name", () => {
    for (const [domainName, zoneName] of [
      ['Hooks.Example.com', 'example.com'],
      ['hooks.eu.example.com', 'Example.COM.'],
    ]) {
      const { template } = synth(undefined, (stack) => ({
        domain: {
          domainName,
          certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', CERTIFICATE_ARN),
          hostedZone: route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABC', zoneName }),
        },
      }));
      const names = Object.values(template.findResources('AWS::Route53::RecordSet')).map((record) => record.Properties.Name);
      expect(names).toEqual([`${domainName}.`, `${domainName}.`]);
    }
  });

  test('without a zone: the domain and its mapping, no records (DNS is yours)', () => {
    const { template, hooks } = withDomain();
    expect(hooks.customDomain).toBeDefined();
    template.resourceCountIs('AWS::ApiGatewayV2::DomainName', 1);
    template.resourceCountIs('AWS::ApiGatewayV2::ApiMapping', 1);
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
    expect(hooks.webhookUrl).toBe('https://hooks.example.com/webhook');
  });

  test("disableExecuteApiEndpoint turns the API's own endpoint off; its URL is still known", () => {
    const { template, hooks, stack } = withDomain({ zone: true, disableExecuteApiEndpoint: true });
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { DisableExecuteApiEndpoint: true });
    expect(stack.resolve(hooks.executeApiWebhookUrl)).toEqual(executeApiUrl(stack, hooks));
  });

  test.each([
    ['with the execute-api endpoint on', false],
    ['with it disabled', true],
  ])(
    "the reconciler's scope: the domain's URL, the execute-api URL and any more URLs (%s)",
    (_name, disableExecuteApiEndpoint) => {
      const { template, hooks, stack } = withDomain({ zone: true, disableExecuteApiEndpoint }, (scope) => ({
        replicateApiToken: secretsmanager.Secret.fromSecretNameV2(scope, 'Token', 'replicate/api-token'),
        reconciliation: { webhookUrls: ['https://old-proxy.example.org/webhook'] },
      }));
      const id = stack.getLogicalId(hooks.reconciler!.node.defaultChild as never);
      const variables = template.findResources('AWS::Lambda::Function')[id].Properties.Environment.Variables;
      expect(variables.WEBHOOK_URL).toBe('https://hooks.example.com/webhook');
      const apiEndpoint = { 'Fn::GetAtt': [stack.getLogicalId(hooks.httpApi.node.defaultChild as never), 'ApiEndpoint'] };
      expect(variables.WEBHOOK_URLS).toEqual({
        'Fn::Join': ['', [apiEndpoint, '/webhook,https://old-proxy.example.org/webhook']],
      });
    },
  );

  test('with the reconciler and no more URLs, the list holds the execute-api URL alone', () => {
    const { template, hooks, stack } = withDomain({}, (scope) => ({
      replicateApiToken: secretsmanager.Secret.fromSecretNameV2(scope, 'Token', 'replicate/api-token'),
    }));
    const id = stack.getLogicalId(hooks.reconciler!.node.defaultChild as never);
    const variables = template.findResources('AWS::Lambda::Function')[id].Properties.Environment.Variables;
    expect(variables.WEBHOOK_URL).toBe('https://hooks.example.com/webhook');
    expect(variables.WEBHOOK_URLS).toEqual(executeApiUrl(stack, hooks));
  });
});

describe('packaging', () => {
  test('the runtime is the newest Node.js runtime aws-cdk-lib offers', () => {
    const nodeVersions = Object.values(lambda.Runtime)
      .filter((runtime): runtime is lambda.Runtime => runtime instanceof lambda.Runtime)
      .map((runtime) => /^nodejs(\d+)\.x$/.exec(runtime.name)?.[1])
      .filter((version): version is string => version !== undefined)
      .map(Number);
    expect(HANDLER_RUNTIME.name).toBe(`nodejs${Math.max(...nodeVersions)}.x`);
  });

  test('synthesis bundles nothing: the code is the pre-built asset folder, hashed as is', () => {
    const { template } = synth();
    const [verifier] = Object.values(template.findResources('AWS::Lambda::Function')) as Array<{
      Metadata: Record<string, unknown>;
      Properties: { Code: { S3Key: string } };
    }>;
    expect(verifier.Metadata['aws:asset:is-bundled']).toBe(false);
    // The asset hash is the fingerprint of the shipped folder itself: nothing was built.
    const fingerprint = FileSystem.fingerprint(handlerAssetPath('verifier'));
    expect(verifier.Properties.Code.S3Key).toBe(`${fingerprint}.zip`);
    expect(synth().template.toJSON()).toEqual(template.toJSON());
  });
});

describe('cdk-nag', () => {
  function nag(configure?: (stack: Stack) => ReplicateWebhooksProps) {
    const app = new App({ context: TEMPLATE_RULES_AS_ERRORS });
    // A region: a table under a customer managed key cannot be region-agnostic.
    const stack = new Stack(app, 'Nag', { env: { region: 'eu-west-1' } });
    const hooks = new ReplicateWebhooks(stack, 'Hooks', configure?.(stack));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    return { app, hooks };
  }

  test.each([
    ['defaults', undefined],
    [
      'existing resources, tracing on',
      (stack: Stack) => ({
        existingBucket: s3.Bucket.fromBucketName(stack, 'B', 'shared-bucket'),
        existingSigningSecret: secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'replicate'),
        tracing: true,
      }),
    ],
    [
      'the reconciler, with a customer managed key',
      (stack: Stack) => ({
        replicateApiToken: secretsmanager.Secret.fromSecretNameV2(stack, 'T', 'replicate/api-token'),
        encryptionKey: new kms.Key(stack, 'ReconcilerKey', { enableKeyRotation: true }),
      }),
    ],
    [
      'a custom domain with a zone, the execute-api endpoint disabled, the reconciler',
      (stack: Stack) => ({
        replicateApiToken: secretsmanager.Secret.fromSecretNameV2(stack, 'T', 'replicate/api-token'),
        domain: {
          domainName: 'hooks.example.com',
          certificate: acm.Certificate.fromCertificateArn(
            stack,
            'Certificate',
            'arn:aws:acm:eu-west-1:111111111111:certificate/abc',
          ),
          hostedZone: route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', {
            hostedZoneId: 'Z0123',
            zoneName: 'example.com',
          }),
          disableExecuteApiEndpoint: true,
        },
      }),
    ],
    [
      'the strict props of Control Tower accounts',
      (stack: Stack) => {
        const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
        return {
          encryptionKey: key,
          logEncryptionKey: key,
          logRetention: logs.RetentionDays.ONE_YEAR,
          bucketProps: { serverAccessLogsBucket: s3.Bucket.fromBucketName(stack, 'AccessLogs', 'access-logs') },
        };
      },
    ],
  ])('AwsSolutions and Serverless packs: no unacknowledged findings (%s)', (_name, configure) => {
    const { app } = nag(configure);
    expect(() => app.synth()).not.toThrow();
  });

  test('every acknowledgement carries a real reason', () => {
    const { hooks } = nag();
    const acknowledgements = hooks.node
      .findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .map(([key, reason]) => ({ id: key.replace(/^Annotation::/, ''), reason }));
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const { id, reason } of acknowledgements) {
      expect(id).toMatch(/^(AwsSolutions|Serverless)-/);
      expect(reason.split(' ').length).toBeGreaterThanOrEqual(10);
    }
  });
});

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
