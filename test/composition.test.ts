/**
 * The construct as a consumer would use it: next to their own key, secret, bucket, subscribers
 * and readers, in one stack that passes cdk-nag with no finding left open.
 */
import { App, Duration, FileSystem, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicateWebhooks } from '../lib';
import { handlerAssetPath } from '../lib/handler-code';
import { TEMPLATE_RULES_AS_ERRORS } from './support/cdk';

const PREFIX = 'replicate';
const FAILED_STATUSES = ['failed', 'aborted'];
const SQS_MODELS = ['black-forest-labs/flux-schnell', 'stability-ai/sdxl'];

/**
 * Asset hashes are content hashes of the handler bundles: they change with every handler edit,
 * which would make the snapshot churn for reasons the snapshot does not test. The fingerprint
 * test below pins them instead.
 */
function stripAssetHashes<T>(json: T): T {
  return JSON.parse(JSON.stringify(json).replace(/\b[0-9a-f]{64}\b/g, '<hash>')) as T;
}

const outdirs: string[] = [];
afterAll(() => {
  for (const directory of outdirs) rmSync(directory, { recursive: true, force: true });
});

function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

function compose({ nag }: { nag: boolean }) {
  const outdir = mkdtempSync(join(tmpdir(), 'composition-'));
  outdirs.push(outdir);
  const app = new App({
    outdir,
    context: {
      'aws:cdk:enable-asset-metadata': true,
      ...TEMPLATE_RULES_AS_ERRORS,
      // As in every app `cdk init` creates: log delivery through a bucket policy, not the legacy ACL.
      '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
    },
  });
  // Template.fromStack runs the plugins too, so the snapshot comes from an app without them.
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const stack = new Stack(app, 'Consumer', { env: { account: '111111111111', region: 'eu-west-1' } });

  const key = new kms.Key(stack, 'AppKey', {
    description: 'Encrypts everything of the Replicate integration',
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  // The construct lets CloudWatch use only a topic key it creates itself; the alarm topic is
  // encrypted with this key instead, and alarms cannot publish to it without this grant.
  key.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');

  const signingSecret = new secretsmanager.Secret(stack, 'ReplicateSigningKey', {
    description: 'Replicate webhook signing key',
    encryptionKey: key,
  });
  acknowledge(
    signingSecret,
    'AwsSolutions-SMG4',
    'Replicate issues the signing key and rotates it on its side; there is no rotation Lambda that could do it here.',
  );

  const accessLogs = new s3.Bucket(stack, 'AccessLogs', {
    // Server access log delivery supports SSE-S3 only on the target bucket.
    encryption: s3.BucketEncryption.S3_MANAGED,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    lifecycleRules: [{ expiration: Duration.days(365) }],
  });
  acknowledge(
    accessLogs,
    'AwsSolutions-S1',
    'This is the server access log bucket itself; logging its own access would log the log deliveries in a loop.',
  );

  const dataLake = new s3.Bucket(stack, 'DataLake', {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    versioned: true,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: 'data-lake/',
  });

  const hooks = new ReplicateWebhooks(stack, 'Hooks', {
    encryptionKey: key,
    existingSigningSecret: signingSecret,
    existingBucket: dataLake,
    archivePrefix: PREFIX,
  });

  // Where SNS puts the notifications it could not deliver to a subscriber, after its retries.
  const undelivered = new sqs.Queue(stack, 'UndeliveredNotifications', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  // SNS encrypts what it moves into the queue with the queue's key.
  key.grant(new iam.ServicePrincipal('sns.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');

  // Lambda subscriber: SNS invokes it asynchronously, so its failures go to an encrypted DLQ.
  const notifierDlq = new sqs.Queue(stack, 'NotifierDlq', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  for (const [queue, owner] of [
    [undelivered, 'the completion subscriptions'],
    [notifierDlq, 'the notifier Lambda'],
  ] as const) {
    const reason = `This queue is itself the dead-letter queue of ${owner}; a dead-letter queue of a dead-letter queue would only move the same messages again.`;
    acknowledge(queue, 'AwsSolutions-SQS3', reason);
    acknowledge(queue, 'Serverless-SQSRedrivePolicy', reason);
  }
  const notifier = new lambda.Function(stack, 'Notifier', {
    description: 'Tells the team that a prediction succeeded',
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async (event) => console.log(JSON.stringify(event));'),
    memorySize: 256,
    timeout: Duration.seconds(10),
    deadLetterQueue: notifierDlq,
    tracing: lambda.Tracing.ACTIVE,
    logGroup: new logs.LogGroup(stack, 'NotifierLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    }),
  });
  acknowledge(
    notifier,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'The AWS managed basic execution policy only lets the function write its own CloudWatch logs.',
  );
  acknowledge(
    notifier,
    'AwsSolutions-IAM5[Resource::*]',
    'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions, so Lambda grants them on every resource.',
  );
  hooks.onCompletion(new snsSubscriptions.LambdaSubscription(notifier, { deadLetterQueue: undelivered }), {
    statuses: ['succeeded'],
  });

  // SQS subscriber: only successful predictions of two models, with its own DLQ.
  const imagesDlq = new sqs.Queue(stack, 'ImagesDlq', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  const imagesDlqReason =
    'This queue is itself the dead-letter queue of the images queue; a dead-letter queue of a dead-letter queue would only move the same messages again.';
  acknowledge(imagesDlq, 'AwsSolutions-SQS3', imagesDlqReason);
  acknowledge(imagesDlq, 'Serverless-SQSRedrivePolicy', imagesDlqReason);
  const images = new sqs.Queue(stack, 'Images', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    deadLetterQueue: { queue: imagesDlq, maxReceiveCount: 5 },
  });
  hooks.onCompletion(new snsSubscriptions.SqsSubscription(images, { rawMessageDelivery: true, deadLetterQueue: undelivered }), {
    statuses: ['succeeded'],
    models: SQS_MODELS,
  });

  hooks.onCompletion(new snsSubscriptions.EmailSubscription('ops@example.com', { deadLetterQueue: undelivered }), {
    statuses: FAILED_STATUSES,
  });

  const reader = new iam.Role(stack, 'ArchiveReader', {
    description: 'Reads archived Replicate predictions for the analytics jobs',
    assumedBy: new iam.AccountRootPrincipal(),
  });
  hooks.grantReadArchive(reader);
  const readerReason =
    "grantReadArchive: the object reads are limited to the archive's predictions folder, and the listing actions need the bucket itself.";
  // cdk-nag names a GetAtt resource by the logical id, which carries a hash of the path.
  const dataLakeArn = `<${stack.getLogicalId(dataLake.node.defaultChild as s3.CfnBucket)}.Arn>`;
  for (const id of [
    'Action::s3:GetObject*',
    'Action::s3:GetBucket*',
    'Action::s3:List*',
    `Resource::${dataLakeArn}/${PREFIX}/predictions/*`,
  ]) {
    acknowledge(reader, `AwsSolutions-IAM5[${id}]`, readerReason);
  }

  return { app, outdir, stack, key, signingSecret, dataLake, hooks, reader, notifier, images, undelivered };
}

interface Finding {
  rule: string;
  path: string;
}

/** Synthesizes under the nag packs and lists what they report; an empty list means synth passed. */
function nagFindings(): { findings: Finding[]; hooksPath: string } {
  const { app, outdir, hooks } = compose({ nag: true });
  try {
    app.synth();
    return { findings: [], hooksPath: hooks.node.path };
  } catch (error) {
    const reportFile = join(outdir, 'validation-report.json');
    if (!existsSync(reportFile)) throw error;
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as {
      pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
    };
    const findings = report.pluginReports.flatMap((plugin) =>
      plugin.violations.flatMap((violation) =>
        violation.violatingConstructs.map((construct) => ({ rule: violation.ruleName, path: construct.constructPath })),
      ),
    );
    // A failed synth with nothing in the report would be some other error: do not hide it.
    if (findings.length === 0) throw error;
    return { findings, hooksPath: hooks.node.path };
  }
}

const composed = compose({ nag: false });
const { stack, hooks } = composed;
const template = Template.fromStack(stack);
const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as never);
const keyArn = { 'Fn::GetAtt': [logicalId(composed.key), 'Arn'] };

describe('AwsSolutions and Serverless packs', () => {
  const { findings, hooksPath } = nagFindings();
  const inHooks = (finding: Finding) => finding.path.startsWith(`${hooksPath}/`);

  test("no unacknowledged finding on the consumer's own resources", () => {
    expect(findings.filter((finding) => !inHooks(finding))).toEqual([]);
  });

  // Given a customer managed key (or a bucket encrypted with one), the construct's own grants
  // on that key are wildcard actions it does not acknowledge; a consumer cannot fix that.
  test('no unacknowledged finding on the construct, given a customer managed key and a KMS-encrypted bucket', () => {
    expect(findings.filter(inHooks)).toEqual([]);
  });
});

test('subscriptions carry the filter policies of onCompletion', () => {
  template.resourceCountIs('AWS::SNS::Subscription', 3);
  template.hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'lambda',
    Endpoint: { 'Fn::GetAtt': [logicalId(composed.notifier), 'Arn'] },
    FilterPolicy: { status: ['succeeded'] },
  });
  template.hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'sqs',
    Endpoint: { 'Fn::GetAtt': [logicalId(composed.images), 'Arn'] },
    RawMessageDelivery: true,
    FilterPolicy: { status: ['succeeded'], model: SQS_MODELS },
  });
  template.hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'email',
    Endpoint: 'ops@example.com',
    FilterPolicy: { status: FAILED_STATUSES },
  });
  template.allResourcesProperties('AWS::SNS::Subscription', {
    TopicArn: { Ref: logicalId(hooks.completionTopic) },
  });
});

test("the reader may read only the archive's predictions folder", () => {
  const [policy, ...others] = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, resource]) =>
    JSON.stringify(resource.Properties.Roles).includes(logicalId(composed.reader)),
  );
  expect(others).toEqual([]);
  const statements = (
    policy[1].Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>
  ).map((statement) => ({ ...statement, Action: [statement.Action].flat() }));
  const bucketArn = { 'Fn::GetAtt': [logicalId(composed.dataLake), 'Arn'] };
  const s3Resources = statements.filter((statement) => statement.Action.some((action) => action.startsWith('s3:')));
  expect(s3Resources).toHaveLength(1);
  expect(s3Resources[0].Resource).toEqual([bucketArn, { 'Fn::Join': ['', [bucketArn, `/${PREFIX}/predictions/*`]] }]);
  // Spilled raw webhooks hold whole payloads; they are the construct's, not the reader's.
  expect(JSON.stringify(policy)).not.toContain('webhook-payloads');
  const kmsStatement = statements.find((statement) => statement.Action.includes('kms:Decrypt'));
  expect(kmsStatement?.Resource).toEqual(keyArn);
});

test('the given secret and bucket are used: the construct creates neither', () => {
  expect(hooks.signingSecret).toBe(composed.signingSecret);
  expect(hooks.bucket).toBe(composed.dataLake);
  const created = hooks.node.findAll().map((construct) => construct.node.defaultChild ?? construct);
  expect(created.filter((construct) => construct instanceof s3.CfnBucket)).toEqual([]);
  expect(created.filter((construct) => construct instanceof secretsmanager.CfnSecret)).toEqual([]);
  template.resourceCountIs('AWS::SecretsManager::Secret', 1);
  template.resourceCountIs('AWS::S3::Bucket', 2);
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({
        SIGNING_SECRET_ID: { Ref: logicalId(composed.signingSecret) },
        BUCKET_NAME: { Ref: logicalId(composed.dataLake) },
        ARCHIVE_PREFIX: `${PREFIX}/`,
      }),
    },
  });
});

test('everything encrypted uses the given key, and no other key exists', () => {
  template.resourceCountIs('AWS::KMS::Key', 1);
  expect(hooks.topicKey).toBe(composed.key);
  template.allResourcesProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
  template.allResourcesProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyArn });
  template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: keyArn });
  template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
    SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
    Replicas: [Match.objectLike({ SSESpecification: { KMSMasterKeyId: keyArn } })],
  });
  template.hasResourceProperties('AWS::S3::Bucket', {
    BucketEncryption: {
      ServerSideEncryptionConfiguration: [
        { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn } },
      ],
    },
  });
});

describe('snapshot', () => {
  const functions = () =>
    template.findResources('AWS::Lambda::Function') as Record<string, { Properties: { Code: { S3Key?: string } } }>;

  test('the template, asset hashes stripped', () => {
    expect(stripAssetHashes(template.toJSON())).toMatchSnapshot();
  });

  test('stripAssetHashes replaces the hashes and nothing else', () => {
    const hash = 'ab'.repeat(32);
    expect(
      stripAssetHashes({
        S3Key: `${hash}.zip`,
        S3Bucket: 'cdk-hnb659fds-assets-111111111111-eu-west-1',
        path: `asset.${hash}`,
        short: 'ab'.repeat(31),
      }),
    ).toEqual({
      S3Key: '<hash>.zip',
      S3Bucket: 'cdk-hnb659fds-assets-111111111111-eu-west-1',
      path: 'asset.<hash>',
      short: 'ab'.repeat(31),
    });
    // Every hash of the template was replaced, and it held some.
    const raw = JSON.stringify(template.toJSON());
    expect(raw).toMatch(/[0-9a-f]{64}/);
    expect(JSON.stringify(stripAssetHashes(template.toJSON()))).not.toMatch(/[0-9a-f]{64}/);
  });

  test('is stable: a second synthesis gives the same template, byte for byte', () => {
    const again = Template.fromStack(compose({ nag: false }).stack).toJSON();
    expect(JSON.stringify(stripAssetHashes(again))).toBe(JSON.stringify(stripAssetHashes(template.toJSON())));
    // The hashes themselves are deterministic too: nothing time- or path-dependent goes into them.
    expect(JSON.stringify(again)).toBe(JSON.stringify(template.toJSON()));
  });

  test('the stripped hashes are content hashes of the handler bundles', () => {
    const code = (fn: lambda.Function) => functions()[logicalId(fn)].Properties.Code.S3Key;
    expect(code(hooks.verifier)).toBe(`${FileSystem.fingerprint(handlerAssetPath('verifier'))}.zip`);
    expect(code(hooks.archiver)).toBe(`${FileSystem.fingerprint(handlerAssetPath('archiver'))}.zip`);
    expect(code(hooks.verifier)).not.toBe(code(hooks.archiver));
  });
});
