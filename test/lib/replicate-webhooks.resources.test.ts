/** The construct, synthesized: the resources the construct creates and their key settings. */
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { IConstruct } from 'constructs';
import { readArchiverConfig } from '../../lambda/archiver/config';
import { readForwarderConfig } from '../../lambda/forwarder/config';
import { ARCHIVER_DEFAULTS, fileConcurrencyFor } from '../../lambda/archiver/settings';
import { ARCHIVER_FUNCTION_DEFAULTS } from '../../lambda/shared/function-defaults';
import { readVerifierConfig } from '../../lambda/verifier/config';
import { VERIFIER_DEFAULTS } from '../../lambda/verifier/settings';
import { BECAME_TERMINAL_PATTERNS } from '../../lambda/shared/stream-filter';
import { synth } from '../support/construct';

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
      { Effect: 'Allow', Action: putActions, Resource: objects('/trainings/*') },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objects('/trainings/*') },
      { Effect: 'Allow', Action: 's3:GetObject', Resource: objects('/webhook-payloads/*') },
      { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: logicalId(hooks.completionTopic as sns.Topic) } },
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: { 'Fn::GetAtt': [logicalId(hooks.topicKey as kms.Key), 'Arn'] },
      },
    ]);
  });

  test("IAM: the forwarder may read only this table's stream and send only to the archive and failure queues", () => {
    const stream = { 'Fn::GetAtt': [logicalId(hooks.table), 'StreamArn'] };
    const send = ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'];
    expect(statementsOf(hooks.archiveForwarder)).toEqual([
      // Its event source's on-failure destination, sent to with the function's role.
      { Effect: 'Allow', Action: send, Resource: { 'Fn::GetAtt': [logicalId(hooks.archiveFailureQueue), 'Arn'] } },
      { Effect: 'Allow', Action: 'dynamodb:ListStreams', Resource: stream },
      {
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        Resource: stream,
      },
      { Effect: 'Allow', Action: send, Resource: { 'Fn::GetAtt': [logicalId(hooks.archiveQueue), 'Arn'] } },
    ]);
  });

  test('no policy anywhere grants on "*"', () => {
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toMatch(/"Resource":"\*"/);
  });

  test('the forwarder: the stream filtered to terminal transitions, from its oldest record, with bisect, retries and a failure destination; no Pipe', () => {
    template.resourceCountIs('AWS::Pipes::Pipe', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^Queues each Replicate prediction'),
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 128,
      Timeout: 30,
      LoggingConfig: { LogFormat: 'JSON', LogGroup: Match.anyValue(), SystemLogLevel: 'WARN' },
      Environment: {
        Variables: Match.objectLike({
          ARCHIVE_QUEUE_URL: { Ref: logicalId(hooks.archiveQueue) },
          POWERTOOLS_LOG_LEVEL: 'WARN',
        }),
      },
    });
    // One reader of the stream: the forwarder's event source.
    const streamReaders = template.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { EventSourceArn: { 'Fn::GetAtt': [logicalId(hooks.table), 'StreamArn'] } },
    });
    expect(Object.keys(streamReaders)).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(hooks.archiveForwarder) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(hooks.table), 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 10,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(hooks.archiveFailureQueue), 'Arn'] } } },
      FilterCriteria: { Filters: BECAME_TERMINAL_PATTERNS.map((pattern) => ({ Pattern: JSON.stringify(pattern) })) },
    });
  });

  test('the archiver: the archive queue with partial batch responses, bounded concurrency, retries and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      Timeout: 600,
      Environment: {
        Variables: Match.objectLike({
          COMPLETION_TOPIC_ARN: { Ref: logicalId(hooks.completionTopic) },
          ARCHIVE_QUEUE_URL: { Ref: logicalId(hooks.archiveQueue) },
          ALLOWED_OUTPUT_HOSTS: 'replicate.delivery,*.replicate.delivery',
          MAX_FILE_BYTES: String(5 * 1024 ** 3),
          MAX_TRAINING_FILE_BYTES: String(50 * 1024 ** 3),
          // 256 MB holds 4 large files at once (fileConcurrencyFor).
          FILE_CONCURRENCY: '4',
          MAX_RECEIVE_COUNT: '5',
          PREDICTION_DOCUMENT: 'false',
        }),
      },
    });
    // The forwarder's on the stream, the archiver's on the queue.
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(hooks.archiver) },
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
      (resource) => resource.Properties.Environment?.Variables?.COMPLETION_TOPIC_ARN,
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
    expect(config.fileConcurrency).toBe(fileConcurrencyFor(ARCHIVER_FUNCTION_DEFAULTS.memorySizeMb));
    expect(config.fetchPolicy.maxBytes).toBe(ARCHIVER_DEFAULTS.maxFileBytes);
    expect(config.queueUrl).toBe('resolved-archive_queue_url');
    expect(config.fetchPolicy.allowedHosts).toHaveLength(ARCHIVER_DEFAULTS.allowedOutputHosts.length);
    expect(config.predictionDocument).toBe(false);
  });

  test('predictionDocument: true has the archiver write prediction.json too', () => {
    const { template: withDocument } = synth({ predictionDocument: true });
    withDocument.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ BUCKET_NAME: Match.anyValue(), PREDICTION_DOCUMENT: 'true' }) },
    });
    const archiver = Object.values(withDocument.findResources('AWS::Lambda::Function')).find(
      (fn) => fn.Properties.Environment?.Variables?.COMPLETION_TOPIC_ARN,
    )!;
    const environment = Object.fromEntries(
      Object.entries(archiver.Properties.Environment.Variables as Record<string, unknown>).map(([name, value]) => [
        name,
        typeof value === 'string' ? value : `resolved-${name.toLowerCase()}`,
      ]),
    );
    expect(readArchiverConfig(environment).predictionDocument).toBe(true);
  });

  test('the forwarder reads back exactly what the construct wires: the archive queue', () => {
    const fn = template.toJSON().Resources[logicalId(hooks.archiveForwarder)];
    const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
    expect(variables.ARCHIVE_QUEUE_URL).toEqual({ Ref: logicalId(hooks.archiveQueue) });
    expect(readForwarderConfig({ ...variables, ARCHIVE_QUEUE_URL: 'resolved-archive_queue_url' })).toEqual({
      queueUrl: 'resolved-archive_queue_url',
    });
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
