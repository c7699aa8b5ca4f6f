/**
 * The construct as a consumer would use it: next to their own key, secret, bucket, subscribers
 * and readers, in one stack that passes cdk-nag with no finding left open.
 */
import { FileSystem } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { IConstruct } from 'constructs';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { handlerAssetPath } from '../../lib/handler-code';
import { composeConsumerStack, FAILED_STATUSES, PREFIX, SQS_MODELS } from '../support/composition';

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

function compose(options: { nag: boolean }) {
  const composed = composeConsumerStack(options);
  outdirs.push(composed.outdir);
  return composed;
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

test("the reader may read only the archive's predictions and trainings folders", () => {
  const [policy, ...others] = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, resource]) =>
    JSON.stringify(resource.Properties.Roles).includes(logicalId(composed.reader)),
  );
  expect(others).toEqual([]);
  const statements = (
    policy[1].Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>
  ).map((statement) => ({ ...statement, Action: [statement.Action].flat() }));
  const bucketArn = { 'Fn::GetAtt': [logicalId(composed.dataLake), 'Arn'] };
  const s3Resources = statements.filter((statement) => statement.Action.some((action) => action.startsWith('s3:')));
  expect(s3Resources.map((statement) => statement.Resource)).toEqual(
    ['predictions', 'trainings'].map((folder) => [bucketArn, { 'Fn::Join': ['', [bucketArn, `/${PREFIX}/${folder}/*`]] }]),
  );
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
