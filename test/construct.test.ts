import { App, Duration, FileSystem, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { HANDLER_RUNTIME, ReplicateWebhooks, type ReplicateWebhooksProps } from '../lib';
import { handlerAssetPath } from '../lib/handler-code';

function synth(props?: ReplicateWebhooksProps, configure?: (stack: Stack) => ReplicateWebhooksProps) {
  const app = new App({ context: { 'aws:cdk:enable-asset-metadata': true } });
  const stack = new Stack(app, 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  const hooks = new ReplicateWebhooks(stack, 'Hooks', configure ? configure(stack) : props);
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

  test('IAM: the verifier may touch only its own table, secret and spill folder', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (policy) => (policy as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement,
    );
    const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
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
        Action: [
          's3:PutObject',
          's3:PutObjectLegalHold',
          's3:PutObjectRetention',
          's3:PutObjectTagging',
          's3:PutObjectVersionTagging',
          's3:Abort*',
        ],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(hooks.bucket), 'Arn'] }, '/webhook-payloads/*']] },
      },
    ]);
    // Nothing anywhere grants on '*'.
    expect(JSON.stringify(statements)).not.toMatch(/"Resource":"\*"/);
    expect(JSON.stringify(statements)).not.toMatch(/s3:GetObject|s3:DeleteObject|dynamodb:DeleteItem|dynamodb:Scan/);
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
