/**
 * `status`, `redrive` and `replay` with `--stack NAME` against local mode in its own process, as
 * a deployed stack: the CloudFormation and Lambda stand-ins describe a stack whose physical ids are
 * local mode's table, bucket, queues and topic, and every SDK client finds its service through the
 * standard `AWS_ENDPOINT_URL_<SERVICE>` variables, with credentials and region from the
 * environment, as a deployed stack's operator's would.
 */
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../cli/index';
import { LOCAL_ENDPOINTS_VARIABLE } from '../../../cli/local-endpoints';
import type { RedriveReport } from '../../../cli/operate/redrive';
import type { ReplayReport } from '../../../cli/operate/replay';
import type { PredictionStatusReport } from '../../../cli/operate/status';
import { buildScenario, seededRandom } from '../../../cli/scenarios';
import { sendDelivery } from '../../../cli/send';
import { archiverEnvironment } from '../../../lambda/archiver/settings';
import { startCloudFormation, type CloudFormationStandIn, type StandInStack } from '../../../local/aws/standins/cloudformation';
import { startLambda } from '../../../local/aws/standins/lambda';
import type { JsonProtocolServer } from '../../../local/aws/standins/json-protocol';
import { startLocalMode, type LocalModeProcess } from '../../support/local-mode';
import { startSqsWithMoveTasks } from '../../support/sqs-move-task';

const SECRET = 'whsec_' + Buffer.alloc(24, 3).toString('base64');
let local: LocalModeProcess;
let directory: string;
let cloudformation: CloudFormationStandIn;
let lambda: JsonProtocolServer;
let restoreDns: () => void;
const savedEnv = { ...process.env };

/** As CDK names a construct's resources: its id, the child's, an 8-character hash. */
function constructResources(id: string, ready: LocalModeProcess['ready'], archiverName: string): StandInStack['resources'] {
  return [
    { logicalId: `${id}StateTable0A1B2C3D`, physicalId: ready.tableName, type: 'AWS::DynamoDB::GlobalTable' },
    { logicalId: `${id}ArchiveBucket4E5F6A7B`, physicalId: ready.bucketName, type: 'AWS::S3::Bucket' },
    { logicalId: `${id}ArchiveQueue8C9D0E1F`, physicalId: ready.archiveQueueUrl, type: 'AWS::SQS::Queue' },
    { logicalId: `${id}ArchiveDeadLetterQueue2A3B4C5D`, physicalId: ready.archiveDeadLetterQueueUrl, type: 'AWS::SQS::Queue' },
    { logicalId: `${id}CompletionTopic6E7F8A9B`, physicalId: ready.completionTopicArn, type: 'AWS::SNS::Topic' },
    { logicalId: `${id}ArchiverServiceRoleC0D1E2F3`, physicalId: `${archiverName}-role`, type: 'AWS::IAM::Role' },
    { logicalId: `${id}Archiver45A6B7C8`, physicalId: archiverName, type: 'AWS::Lambda::Function' },
    { logicalId: `${id}VerifierD9E0F1A2`, physicalId: `${id}-verifier`, type: 'AWS::Lambda::Function' },
  ];
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'stack-test-'));
  const endpointsFile = join(directory, 'local.json');
  local = await startLocalMode({
    PORT: '0',
    REPLICATE_WEBHOOK_SECRET: SECRET,
    RECONCILE_INTERVAL_SECONDS: '0',
    INSPECTOR: 'off',
    [LOCAL_ENDPOINTS_VARIABLE]: endpointsFile,
  });
  const { ready } = local;
  // The SDK addresses a bucket as bucket.s3.<host> and a queue at its URL's host: *.localhost to loopback.
  restoreDns = (await import('fauxqs')).interceptLocalhostDns();
  const environment = archiverEnvironment({
    tableName: ready.tableName,
    bucketName: ready.bucketName,
    archivePrefix: '',
    completionTopicArn: ready.completionTopicArn,
    eventBusName: ready.eventBusName,
    queueUrl: ready.archiveQueueUrl,
  });
  lambda = await startLambda({
    functions: [
      { name: 'Hooks-Archiver', environment },
      { name: 'Twin-One-Archiver', environment },
      { name: 'Twin-Two-Archiver', environment },
      { name: 'Impostor-Archiver', environment: { TABLE_NAME: 'x' } },
    ],
  });
  cloudformation = await startCloudFormation({
    // Two resources a page: the CLI must follow NextToken to find the archiver.
    pageSize: 2,
    stacks: [
      { name: 'Hooks', resources: constructResources('Hooks', ready, 'Hooks-Archiver') },
      {
        name: 'Twin',
        resources: [
          ...constructResources('One', ready, 'Twin-One-Archiver'),
          ...constructResources('TeamTwo', ready, 'Twin-Two-Archiver'),
        ],
      },
      {
        name: 'Website',
        resources: [{ logicalId: 'SiteBucket397A1860', physicalId: 'site', type: 'AWS::S3::Bucket' }],
      },
      { name: 'Impostor', resources: constructResources('Fake', ready, 'Impostor-Archiver') },
    ],
  });
  const sqsOrigin = new URL(ready.archiveQueueUrl).origin;
  Object.assign(process.env, {
    // For the comparison with --local.
    [LOCAL_ENDPOINTS_VARIABLE]: endpointsFile,
    AWS_REGION: ready.region,
    AWS_ACCESS_KEY_ID: 'operator',
    AWS_SECRET_ACCESS_KEY: 'operator',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(directory, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(directory, 'no-credentials'),
    AWS_ENDPOINT_URL_CLOUDFORMATION: cloudformation.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: ready.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: `http://s3.localhost:${new URL(ready.endpoints.s3).port}`,
    AWS_ENDPOINT_URL_SQS: sqsOrigin,
    AWS_ENDPOINT_URL_SNS: ready.endpoints.sns,
    AWS_ENDPOINT_URL_EVENTBRIDGE: ready.endpoints.eventbridge,
  });
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
}, 120_000);

afterAll(async () => {
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
  await cloudformation?.stop();
  await lambda?.stop();
  restoreDns?.();
  if (local?.child.exitCode === null) local.child.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

const run = async (argv: string[]) => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (line) => stdout.push(line), stderr: (line) => stderr.push(line) });
  return { code, stdout, stderr };
};

async function statusJson(predictionId: string, where: string[] = ['--stack', 'Hooks']): Promise<PredictionStatusReport> {
  const { code, stdout, stderr } = await run(['status', predictionId, ...where, '--json']);
  expect(stderr).toEqual([]);
  expect(code).toBe(0);
  return JSON.parse(stdout.join('\n')) as PredictionStatusReport;
}

async function announcedPrediction(seed: number): Promise<string> {
  const scenario = buildScenario('canceled', { fileBaseUrl: 'http://127.0.0.1:9', random: seededRandom(seed) });
  for (const delivery of scenario.deliveries)
    expect((await sendDelivery(local.ready.webhookUrl, SECRET, delivery)).status).toBe(200);
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    if ((await statusJson(scenario.predictionId)).channels.notifiedAt) return scenario.predictionId;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${scenario.predictionId} was not announced`);
}

test('status --stack: the same answer as --local, from the resources CloudFormation and the archiver name', async () => {
  const predictionId = await announcedPrediction(71);
  const calls = cloudformation.calls.length;
  const report = await statusJson(predictionId);
  // DescribeStacks, then ListStackResources page after page (8 resources, 2 a page).
  expect(cloudformation.calls.slice(calls)).toEqual(['DescribeStacks', ...Array(4).fill('ListStackResources')]);
  const { target, ...fromStack } = report;
  expect(target).toBe('stack Hooks');
  const { target: localTarget, ...fromLocal } = await statusJson(predictionId, ['--local']);
  expect(localTarget).toMatch(/^local mode/);
  expect(fromStack).toEqual(fromLocal);
  expect(fromStack.record).toMatchObject({ status: 'canceled', terminal: true });
  expect(fromStack.archive?.manifest).toBe(`s3://${local.ready.bucketName}/predictions/${predictionId}/manifest.json`);

  const person = await run(['status', predictionId, '--stack', 'Hooks']);
  expect(person.stdout[0]).toBe(`${predictionId} canceled (${fromStack.record?.model}), in stack Hooks`);
}, 60_000);

test('two constructs in one stack: --construct picks one, and without it the error names them', async () => {
  const predictionId = await announcedPrediction(72);
  const ambiguous = await run(['status', predictionId, '--stack', 'Twin']);
  expect(ambiguous.code).toBe(1);
  expect(ambiguous.stderr).toEqual([
    `error: stack Twin in ${local.ready.region} holds 2 ReplicateWebhooks constructs (One, TeamTwo): pick one with --construct <id>`,
  ]);
  expect((await statusJson(predictionId, ['--stack', 'Twin', '--construct', 'TeamTwo'])).target).toBe(
    'stack Twin (construct TeamTwo)',
  );
  const unknown = await run(['status', predictionId, '--stack', 'Twin', '--construct', 'Three']);
  expect(unknown.stderr).toEqual([
    `error: stack Twin in ${local.ready.region} has no ReplicateWebhooks construct "Three"; it has: One, TeamTwo`,
  ]);
}, 60_000);

test('redrive --stack: dry run, then --apply moves the dead letters (one by one where SQS has no move task)', async () => {
  const predictionId = await announcedPrediction(73);
  const sqs = new SQSClient({});
  try {
    await sqs.send(
      new SendMessageCommand({ QueueUrl: local.ready.archiveDeadLetterQueueUrl, MessageBody: JSON.stringify({ predictionId }) }),
    );
  } finally {
    sqs.destroy();
  }
  const dry = await run(['redrive', '--stack', 'Hooks', '--dlq']);
  expect(dry.stderr).toEqual([]);
  expect(dry.stdout).toEqual([
    `would move ${predictionId} (dead-letter queue → archive queue)`,
    '1 dead-lettered archive request(s) would be moved to the archive queue',
    'Dry run: nothing moved. Run again with --apply to move them.',
  ]);
  // fauxqs has no StartMessageMoveTask: it answers InvalidAction, and the CLI moves them itself.
  const applied = await run(['redrive', '--stack', 'Hooks', '--dlq', '--apply']);
  expect(applied.stderr).toEqual([]);
  expect(applied.stdout).toEqual([
    "SQS's message move task is not available here (InvalidAction: Unknown action: StartMessageMoveTask): moving them one by one",
    `moved ${predictionId} (dead-letter queue → archive queue)`,
    '1 dead-lettered archive request(s) moved to the archive queue',
  ]);
  expect((await statusJson(predictionId)).deadLetterQueue.holdsIt).toBe(false);
}, 60_000);

test("redrive --stack --apply: SQS's message move task where SQS has it", async () => {
  const predictionId = await announcedPrediction(75);
  const { ready } = local;
  const sqsWithTasks = await startSqsWithMoveTasks(ready.endpoints.sqs, ready.region);
  const direct = process.env.AWS_ENDPOINT_URL_SQS;
  process.env.AWS_ENDPOINT_URL_SQS = `http://sqs.${ready.region}.localhost:${sqsWithTasks.port}`;
  const sqs = new SQSClient({});
  try {
    const body = JSON.stringify({ predictionId });
    await sqs.send(new SendMessageCommand({ QueueUrl: ready.archiveDeadLetterQueueUrl, MessageBody: body }));
    const applied = await run(['redrive', '--stack', 'Hooks', '--dlq', '--apply', '--json']);
    expect(applied.stderr).toEqual([]);
    expect(JSON.parse(applied.stdout.join('\n')) as RedriveReport).toMatchObject({
      deadLetters: { method: 'message-move-task', taskHandle: 'task-1', moved: 1, predictionIds: [predictionId] },
    });
    expect(sqsWithTasks.tasks).toEqual([
      {
        handle: 'task-1',
        sourceArn: expect.stringMatching(/:replicate-webhooks-archive-dlq$|dead/),
        destinationArn: expect.any(String),
        moved: 1,
      },
    ]);
    // --since: one by one, the task cannot filter by time.
    await sqs.send(new SendMessageCommand({ QueueUrl: ready.archiveDeadLetterQueueUrl, MessageBody: body }));
    const since = await run(['redrive', '--stack', 'Hooks', '--dlq', '--apply', '--since', '1h', '--json']);
    expect(JSON.parse(since.stdout.join('\n')) as RedriveReport).toMatchObject({
      deadLetters: { method: 'one-by-one', moved: 1 },
    });
    expect(sqsWithTasks.tasks).toHaveLength(1);
  } finally {
    sqs.destroy();
    process.env.AWS_ENDPOINT_URL_SQS = direct;
    await sqsWithTasks.stop();
  }
}, 60_000);

test('replay --stack: the completions again on the topic and the bus the archiver names', async () => {
  const since = new Date().toISOString();
  const predictionId = await announcedPrediction(74);
  for (const to of ['sns', 'events']) {
    const { code, stdout, stderr } = await run(['replay', '--stack', 'Hooks', '--since', since, '--to', to, '--json']);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout.join('\n')) as ReplayReport).toMatchObject({ to, replayed: 1, predictionIds: [predictionId] });
  }
}, 60_000);

describe('errors', () => {
  test('no credentials: the variables to set, exit 1', async () => {
    const keys = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      const { code, stderr } = await run(['status', 'abc', '--stack', 'Hooks']);
      expect(code).toBe(1);
      expect(stderr).toEqual([
        'error: no AWS credentials found: set AWS_PROFILE (a profile in ~/.aws/config, aws sso login for SSO), ' +
          'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them',
      ]);
    } finally {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: keys.id, AWS_SECRET_ACCESS_KEY: keys.secret });
    }
  });

  test('a stack that does not exist: CloudFormation says so, with the region looked in', async () => {
    const { code, stderr } = await run(['redrive', '--stack', 'Nowhere']);
    expect(code).toBe(1);
    expect(stderr).toEqual([
      `error: no stack Nowhere in ${local.ready.region}: Stack with id Nowhere does not exist (check the name, and AWS_REGION or the profile's region)`,
    ]);
  });

  test('a stack that is not ours: no archiver among its resources', async () => {
    const { code, stderr } = await run(['replay', '--stack', 'Website', '--since', '1h']);
    expect(code).toBe(1);
    expect(stderr).toEqual([
      `error: stack Website in ${local.ready.region} holds no ReplicateWebhooks construct: none of its 1 resources is an archiver ` +
        'function (an AWS::Lambda::Function with a logical id <construct id>Archiver<hash>)',
    ]);
  });

  test('a function named like an archiver that is not one', async () => {
    const { code, stderr } = await run(['status', 'abc', '--stack', 'Impostor']);
    expect(code).toBe(1);
    expect(stderr).toEqual([
      `error: stack Impostor in ${local.ready.region}: Impostor-Archiver is not a ReplicateWebhooks archiver ` +
        '(its environment has no BUCKET_NAME, COMPLETION_TOPIC_ARN, ARCHIVE_QUEUE_URL)',
    ]);
  });

  test('an invalid prediction id: exit 2 before any call', async () => {
    const calls = cloudformation.calls.length;
    const { code, stderr } = await run(['status', '../etc/passwd', '--stack', 'Hooks']);
    expect(code).toBe(2);
    expect(stderr[0]).toContain('"../etc/passwd" is not a prediction id');
    expect(cloudformation.calls.length).toBe(calls);
  });

  test.each([
    [['status', 'abc', '--local', '--stack', 'Hooks'], '--local or --stack, not both'],
    [['redrive', '--construct', 'Hooks'], '--construct goes with --stack NAME'],
    [['replay', '--since', '1h'], 'say where: --local (the running npm start) or --stack NAME (a deployed stack)'],
  ])('%j is a usage error, exit 2', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr[0]).toBe(`error: ${message}`);
  });
});
