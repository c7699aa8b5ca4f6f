import { App, Duration, FileSystem, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { BECAME_TERMINAL_PATTERNS, HANDLER_RUNTIME, ReplicateWebhooks, type ReplicateWebhooksProps } from '../lib';
import { handlerAssetPath } from '../lib/handler-code';

/** Work to do on the construct once it exists (subscriptions, grants), queued by `configure`. */
let pending: Array<(hooks: ReplicateWebhooks) => void> = [];

function synth(props?: ReplicateWebhooksProps, configure?: (stack: Stack) => ReplicateWebhooksProps) {
  const app = new App({ context: { 'aws:cdk:enable-asset-metadata': true } });
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
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
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
          DEDUP_TTL_SECONDS: String(7 * 24 * 3600),
          KEY_CACHE_TTL_SECONDS: '300',
        },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  test('the state table: on-demand, PITR, encrypted, TTL, NEW_AND_OLD_IMAGES stream, retained', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
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
  const statementsOf = (fn: lambda.Function) =>
    Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(logicalId(fn.role!)))
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

  test("IAM: the archiver may read only this table's stream, write only its bucket folder, publish only to its topic", () => {
    const stream = { 'Fn::GetAtt': [logicalId(hooks.table), 'StreamArn'] };
    expect(statementsOf(hooks.archiver)).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        Resource: { 'Fn::GetAtt': [logicalId(hooks.archiveFailureQueue), 'Arn'] },
      },
      { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: stream },
      {
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: stream,
      },
      { Effect: 'Allow', Action: 'dynamodb:UpdateItem', Resource: { 'Fn::GetAtt': [logicalId(hooks.table), 'Arn'] } },
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

  test('no policy anywhere grants on "*"', () => {
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toMatch(/"Resource":"\*"/);
  });

  test('the archiver: stream event source filtered to terminal transitions, partial batches, bisect, bounded retries, failure queue', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      Timeout: 600,
      Environment: {
        Variables: Match.objectLike({
          COMPLETION_TOPIC_ARN: { Ref: logicalId(hooks.completionTopic as sns.Topic) },
          ALLOWED_OUTPUT_HOSTS: 'replicate.delivery,*.replicate.delivery',
          MAX_FILE_BYTES: String(5 * 1024 ** 3),
          FINAL_ATTEMPT: '5',
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [logicalId(hooks.table), 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 5,
      ParallelizationFactor: 2,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 4,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(hooks.archiveFailureQueue), 'Arn'] } } },
      FilterCriteria: { Filters: BECAME_TERMINAL_PATTERNS.map((pattern) => ({ Pattern: JSON.stringify(pattern) })) },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
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

  test('eight alarms, each notifying the alarm topic when it fires and when it clears', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: alarmTopic(), OKActions: alarmTopic() });
    expect(Object.keys(hooks.alarms).sort()).toEqual([
      'api5xx',
      'archiveFailureQueue',
      'archiveFileFailures',
      'archiverErrors',
      'iteratorAge',
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
    ['anything in the failure queue', { Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 }],
    ['archive file failures', { Namespace: 'ReplicateWebhooks', MetricName: 'ArchiveFailures', Period: 900 }],
    ['stream iterator age', { Namespace: 'AWS/Lambda', MetricName: 'IteratorAge', Statistic: 'Maximum', Threshold: 600_000 }],
  ])('%s', (_name, properties) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      ...properties,
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
    const tuned = synth({ alarms: { disable: ['iteratorAge', 'archiveFileFailures'], rejectedSignaturesPerFiveMinutes: 100 } });
    tuned.template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
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
      'IteratorAge',
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
    expect(hooks.metricArchiverIteratorAge().statistic).toBe('Maximum');
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

  test('lifecycle: incomplete uploads aborted, spilled payloads expired, archive transitions and expiry configurable', () => {
    synth().template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: [
          { Id: 'abort-incomplete-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
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
      },
    }).template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
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
    const functions = synth({ verifier: { reservedConcurrentExecutions: 'none' } }).template.findResources(
      'AWS::Lambda::Function',
    );
    expect(JSON.stringify(functions)).not.toContain('ReservedConcurrentExecutions');
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
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 200 },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      ReservedConcurrentExecutions: 20,
      Environment: { Variables: Match.objectLike({ TIMESTAMP_TOLERANCE_SECONDS: '120', ARCHIVE_PREFIX: 'team-a/' }) },
    });
    expect(hooks.archivePrefix).toBe('team-a/');
    expect(JSON.stringify(stack.resolve(hooks.webhookUrl))).toContain('/hooks/replicate');
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
    const { template } = synth({ tableProps: { deletionProtection: true, timeToLiveAttribute: 'other' } });
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
    const app = new App();
    const stack = new Stack(app, 'Nag');
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
