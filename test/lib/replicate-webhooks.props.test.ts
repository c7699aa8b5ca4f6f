/** The construct, synthesized: props, subscribing and reading, and the handler code it ships. */
import { Duration, FileSystem, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CompletionKind, type StateTableProps } from '../../lib';
import { HANDLER_RUNTIME, handlerAssetPath } from '../../lib/handler-code';
import { synth, pending } from '../support/construct';

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
        hooks.onCompletion(new snsSubscriptions.EmailSubscription('ml@example.com'), {
          kinds: [CompletionKind.TRAINING],
          statuses: ['succeeded'],
        });
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
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Endpoint: 'ml@example.com',
      FilterPolicy: { status: ['succeeded'], kind: ['training'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', FilterPolicy: Match.absent() });
  });

  test('grantReadArchive grants reading the predictions and trainings folders only', () => {
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
    expect(JSON.stringify(reader)).toContain('/team/trainings/*');
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
