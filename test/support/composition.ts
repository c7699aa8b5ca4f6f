/**
 * The construct as a consumer would use it: next to their own key, secret, bucket, subscribers
 * and readers, in one stack. test/lib/replicate-webhooks.composition.test.ts runs cdk-nag and a snapshot on it,
 * test/lib/control-tower.test.ts the Control Tower controls. The caller removes `outdir`.
 */
import { App, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
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
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplicateWebhooks } from '../../lib';
import { TEMPLATE_RULES_AS_ERRORS } from './cdk';

export const PREFIX = 'replicate';
export const FAILED_STATUSES = ['failed', 'aborted'];
export const SQS_MODELS = ['black-forest-labs/flux-schnell', 'stability-ai/sdxl'];

function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

export function composeConsumerStack({ nag }: { nag: boolean }) {
  const outdir = mkdtempSync(join(tmpdir(), 'composition-'));
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
    "grantReadArchive: the object reads are limited to the archive's predictions and trainings folders, and the listing actions need the bucket itself.";
  // cdk-nag names a GetAtt resource by the logical id, which carries a hash of the path.
  const dataLakeArn = `<${stack.getLogicalId(dataLake.node.defaultChild as s3.CfnBucket)}.Arn>`;
  for (const id of [
    'Action::s3:GetObject*',
    'Action::s3:GetBucket*',
    'Action::s3:List*',
    `Resource::${dataLakeArn}/${PREFIX}/predictions/*`,
    `Resource::${dataLakeArn}/${PREFIX}/trainings/*`,
  ]) {
    acknowledge(reader, `AwsSolutions-IAM5[${id}]`, readerReason);
  }

  return { app, outdir, stack, key, signingSecret, dataLake, hooks, reader, notifier, images, undelivered };
}
