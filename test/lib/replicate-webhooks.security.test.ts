/** The construct, synthesized: secure, explicit defaults, and cdk-nag with no finding left open. */
import { App, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ReplicateWebhooks, type ReplicateWebhooksProps } from '../../lib';
import { TEMPLATE_RULES_AS_ERRORS } from '../support/cdk';
import { synth } from '../support/construct';

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
          Match.objectLike({
            Id: 'archived-trainings',
            Prefix: 'x/trainings/',
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
    // The API's access logs, the verifier's, the forwarder's and the archiver's.
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } }, 4);
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
    for (const fn of [hooks.verifier, hooks.archiveForwarder, hooks.archiver]) {
      const policy = Object.values(template.findResources('AWS::IAM::Policy')).find((candidate) =>
        JSON.stringify(candidate.Properties.Roles).includes(stack.getLogicalId(fn.role!.node.defaultChild as never)),
      );
      expect(JSON.stringify(policy)).toContain('kms:Decrypt');
    }
    // The forwarder reads the encrypted stream and sends to the encrypted queues with that key alone.
    const forwarderPolicy = Object.values(template.findResources('AWS::IAM::Policy')).find((candidate) =>
      JSON.stringify(candidate.Properties.Roles).includes(
        stack.getLogicalId(hooks.archiveForwarder.role!.node.defaultChild as never),
      ),
    )!;
    const kmsStatements = (
      forwarderPolicy.Properties.PolicyDocument.Statement as Array<{ Action: unknown; Resource: unknown }>
    ).filter((statement) => JSON.stringify(statement.Action).includes('kms:'));
    expect(kmsStatements.map((statement) => statement.Resource)).toEqual([keyArn, keyArn]);
    expect(kmsStatements.flatMap((statement) => statement.Action as string[]).sort()).toEqual([
      'kms:Decrypt',
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:Encrypt',
      'kms:GenerateDataKey*',
      'kms:ReEncrypt*',
    ]);
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
