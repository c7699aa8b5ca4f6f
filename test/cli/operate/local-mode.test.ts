/**
 * `replicate-webhooks status|redrive|replay` against one local mode in its own process
 * (started once for the three: it is most of their time). The commands find it through the
 * endpoints file local mode writes, and read and write the same table, archive, queues, topic and
 * bus a deployed stack has, with the same SDK calls. The first block runs them with `--stack`,
 * local mode described as a deployed stack by the CloudFormation and Lambda stand-ins. The blocks
 * run in this order because each leaves things behind: redrive lists the whole dead-letter queue
 * (so the --stack block and redrive come before status, which leaves a message in it), and replay
 * takes its window from its own start.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../cli/index';
import { LOCAL_ENDPOINTS_VARIABLE, type LocalEndpoints } from '../../../cli/local-endpoints';
import { startOutputServer, type OutputServer } from '../../../cli/output-server';
import type { RedriveReport } from '../../../cli/operate/redrive';
import type { ReplayReport } from '../../../cli/operate/replay';
import type { PredictionStatusReport } from '../../../cli/operate/status';
import { buildScenario, seededRandom } from '../../../cli/scenarios';
import { sendDelivery } from '../../../cli/send';
import { manifestKey, predictionDocumentKey } from '../../../lambda/shared/archive-layout';
import { manifestPayloadText, objectLocation, type ArchiveManifest } from '../../../lambda/shared/completion-message';
import { predictionItemKey } from '../../../lambda/shared/state';
import { archiverEnvironment } from '../../../lambda/archiver/settings';
import { startCloudFormation, type CloudFormationStandIn, type StandInStack } from '../../../local/aws/standins/cloudformation';
import { freePort } from '../../../local/aws/standins/dynamodb-local';
import type { JsonProtocolServer } from '../../../local/aws/standins/json-protocol';
import { startLambda } from '../../../local/aws/standins/lambda';
import { startLocalMode, type LocalModeProcess } from '../../support/local-mode';
import { subscribeQueue, type Subscriber } from '../../support/notifications';
import { startSqsWithMoveTasks } from '../../support/sqs-move-task';

const SECRET = 'whsec_' + Buffer.alloc(24, 7).toString('base64');
let local: LocalModeProcess;
let files: OutputServer;
let directory: string;
let endpointsFile: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'operate-test-'));
  endpointsFile = join(directory, 'local.json');
  // The commands read the variable from their own environment, as a user's shell would set it.
  process.env[LOCAL_ENDPOINTS_VARIABLE] = endpointsFile;
  const filesPort = await freePort();
  files = await startOutputServer({ port: filesPort });
  local = await startLocalMode({
    PORT: '0',
    ALLOWED_OUTPUT_HOSTS: `127.0.0.1:${filesPort}`,
    REPLICATE_WEBHOOK_SECRET: SECRET,
    RECONCILE_INTERVAL_SECONDS: '0',
    INSPECTOR: 'off',
    // Every completion event reaches the bus rule's queue (replay reads it).
    EVENT_RULE_STATUSES: '',
    EVENT_RULE_MODELS: '',
    [LOCAL_ENDPOINTS_VARIABLE]: endpointsFile,
  });
}, 120_000);

afterAll(async () => {
  delete process.env[LOCAL_ENDPOINTS_VARIABLE];
  await files?.stop();
  if (local?.child.exitCode === null) local.child.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

const run = async (argv: string[]) => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (line) => stdout.push(line), stderr: (line) => stderr.push(line) });
  return { code, stdout, stderr };
};

const localClient = () => ({ region: local.ready.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });

describe('--stack, local mode as a deployed stack', () => {
  let cloudformation: CloudFormationStandIn;
  let lambda: JsonProtocolServer;
  let restoreDns: () => void;
  let savedEnv: NodeJS.ProcessEnv;

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
    savedEnv = { ...process.env };
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
  });

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
        new SendMessageCommand({
          QueueUrl: local.ready.archiveDeadLetterQueueUrl,
          MessageBody: JSON.stringify({ predictionId }),
        }),
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
});

describe('replay', () => {
  let sns: SNSClient;
  let sqs: SQSClient;
  let subscriber: Subscriber;

  beforeAll(async () => {
    sns = new SNSClient({ ...localClient(), endpoint: local.ready.endpoints.sns });
    sqs = new SQSClient({ ...localClient(), endpoint: local.ready.endpoints.sqs, useQueueUrlAsEndpoint: false });
    subscriber = await subscribeQueue(sns, sqs, local.ready.completionTopicArn);
  });

  afterAll(() => {
    sns?.destroy();
    sqs?.destroy();
  });

  async function announcedPrediction(seed: number, scenarioName: 'canceled' | 'failed'): Promise<string> {
    const scenario = buildScenario(scenarioName, { fileBaseUrl: 'http://127.0.0.1:9', random: seededRandom(seed) });
    for (const delivery of scenario.deliveries)
      expect((await sendDelivery(local.ready.webhookUrl, SECRET, delivery)).status).toBe(200);
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      const { stdout } = await run(['status', scenario.predictionId, '--local', '--json']);
      if ((JSON.parse(stdout.join('\n')) as PredictionStatusReport).channels.notifiedAt) return scenario.predictionId;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`${scenario.predictionId} was not announced`);
  }

  async function drainEvents(waitMs: number): Promise<Array<{ detail: Record<string, unknown> }>> {
    const events: Array<{ detail: Record<string, unknown> }> = [];
    for (const until = Date.now() + waitMs; ;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: local.ready.eventQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      for (const message of Messages) {
        events.push(JSON.parse(message.Body!) as { detail: Record<string, unknown> });
        await sqs.send(new DeleteMessageCommand({ QueueUrl: local.ready.eventQueueUrl, ReceiptHandle: message.ReceiptHandle }));
      }
      if (Messages.length === 0) {
        if (Date.now() >= until) return events;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  test('the same completion messages again, marked replay, on the topic or the bus; --status and the window select', async () => {
    // The --stack block's predictions finished before: the window leaves them out.
    const since = new Date().toISOString();
    const canceled = [await announcedPrediction(51, 'canceled'), await announcedPrediction(52, 'canceled')];
    const failed = await announcedPrediction(53, 'failed');
    const originals = await subscriber.receiveAll(500);
    expect(originals).toHaveLength(3);
    await drainEvents(500);

    const onTopic = await run(['replay', '--local', '--since', since, '--status', 'canceled']);
    expect(onTopic.stderr).toEqual([]);
    expect(onTopic.code).toBe(0);
    expect(onTopic.stdout).toEqual([
      `[1/2] ${canceled[0]} canceled → sns`,
      `[2/2] ${canceled[1]} canceled → sns`,
      '2 completion message(s) published again to the completion topic, marked replay',
    ]);
    const replayed = await subscriber.receiveAll(500);
    expect(replayed.map((notification) => notification.message.predictionId).sort()).toEqual([...canceled].sort());
    for (const notification of replayed) {
      const original = originals.find((candidate) => candidate.message.predictionId === notification.message.predictionId)!;
      expect(notification.published.body).toBe(original.published.body);
      expect(notification.attributes).toEqual({ ...original.attributes, replay: 'true' });
    }

    const onBus = await run(['replay', '--local', '--since', since, '--to', 'events', '--json']);
    const report = JSON.parse(onBus.stdout.join('\n')) as ReplayReport;
    expect(report).toMatchObject({ to: 'events', replayed: 3, skipped: [] });
    expect(report.predictionIds).toEqual([...canceled, failed]);
    const events = await drainEvents(1000);
    expect(events.map((event) => [event.detail.predictionId, event.detail.replay]).sort()).toEqual(
      [...canceled, failed].map((predictionId) => [predictionId, true]).sort(),
    );

    const none = await run(['replay', '--local', '--since', '2h', '--until', '1h', '--json']);
    expect(JSON.parse(none.stdout.join('\n'))).toMatchObject({ replayed: 0 });
  }, 90_000);

  test('an archive written before the manifest carried the payload is replayed from its prediction.json', async () => {
    const s3 = new S3Client({ ...localClient(), endpoint: local.ready.endpoints.s3, forcePathStyle: true });
    try {
      const since = new Date().toISOString();
      const predictionId = await announcedPrediction(54, 'failed');
      const [original] = await subscriber.receiveAll(500);
      const bucket = local.ready.bucketName;
      const read = async (key: string) =>
        (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
      // Rewritten as the archiver wrote it before: prediction.json beside a manifest without the payload.
      const written = await read(manifestKey('', predictionId));
      const payload = manifestPayloadText(written)!;
      const { payload: _carried, ...fields } = JSON.parse(written) as ArchiveManifest;
      const location = objectLocation(bucket, predictionDocumentKey('', predictionId));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: location.key, Body: payload }));
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: manifestKey('', predictionId),
          Body: JSON.stringify({ ...fields, prediction: location }, null, 2),
        }),
      );

      const { code, stdout } = await run(['replay', '--local', '--since', since, '--json']);
      expect(code).toBe(0);
      expect(JSON.parse(stdout.join('\n'))).toMatchObject({ replayed: 1, predictionIds: [predictionId], skipped: [] });
      const [replayed] = await subscriber.receiveAll(500);
      expect(replayed.message).toEqual({ ...original.message, archive: { ...original.message.archive, prediction: location } });
    } finally {
      s3.destroy();
    }
  }, 60_000);

  test.each([
    [['replay', '--local'], 'replay needs --since TIME'],
    [['replay', '--local', '--since', '1h', '--to', 'email'], '--to takes sns or events'],
    [['replay', '--local', '--since', '1h', '--status', 'processing'], '--status takes a terminal status'],
    [['replay', '--since', '1h'], 'say where: --local'],
  ])('%j is a usage error, exit 2', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr[0]).toContain(message);
  });

  test('--help and -h print the usage', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await run(['replay', flag]);
      expect(code).toBe(0);
      expect(stdout[0]).toContain('replicate-webhooks replay --local --since TIME');
    }
  });
});

describe('redrive', () => {
  let dynamodb: DynamoDBClient;
  let sqs: SQSClient;

  beforeAll(() => {
    dynamodb = new DynamoDBClient({ ...localClient(), endpoint: local.ready.endpoints.dynamodb });
    sqs = new SQSClient({ ...localClient(), endpoint: local.ready.endpoints.sqs, useQueueUrlAsEndpoint: false });
  });

  afterAll(() => {
    dynamodb?.destroy();
    sqs?.destroy();
  });

  async function status(predictionId: string): Promise<PredictionStatusReport> {
    const { stdout } = await run(['status', predictionId, '--local', '--json']);
    return JSON.parse(stdout.join('\n')) as PredictionStatusReport;
  }

  async function until(predictionId: string, test: (report: PredictionStatusReport) => boolean): Promise<PredictionStatusReport> {
    for (const deadline = Date.now() + 30_000; ;) {
      const report = await status(predictionId);
      if (test(report) || Date.now() > deadline) return report;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** A finished prediction, archived and announced by local mode. */
  async function announcedPrediction(seed: number): Promise<string> {
    const scenario = buildScenario('canceled', { fileBaseUrl: 'http://127.0.0.1:9', random: seededRandom(seed) });
    for (const delivery of scenario.deliveries)
      expect((await sendDelivery(local.ready.webhookUrl, SECRET, delivery)).status).toBe(200);
    expect((await until(scenario.predictionId, (report) => !!report.channels.notifiedAt)).channels.notifiedAt).toBeDefined();
    return scenario.predictionId;
  }

  /** As the archiver leaves a prediction it gave up on (its last try failed): not announced, in the failed partition. */
  async function markFailed(predictionId: string, inFailedPartition: boolean): Promise<void> {
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: local.ready.tableName,
        Key: { pk: { S: predictionItemKey(predictionId) } },
        UpdateExpression: inFailedPartition
          ? 'SET archiveStatus = :failed, archivePending = :failed, archiveError = :error REMOVE notifiedAt'
          : 'SET archiveStatus = :failed, archiveError = :error REMOVE notifiedAt',
        ExpressionAttributeValues: { ':failed': { S: 'failed' }, ':error': { S: 'attempts_exhausted' } },
      }),
    );
  }

  const deadLetterCount = async () => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: local.ready.archiveDeadLetterQueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    // Still in the queue, whether or not a peek has just received them.
    return Number(Attributes?.ApproximateNumberOfMessages) + Number(Attributes?.ApproximateNumberOfMessagesNotVisible);
  };

  test('a dry run counts and moves nothing; --apply moves dead letters and re-queues failed records, which are announced again', async () => {
    const failed = await announcedPrediction(31);
    const deadLettered = await announcedPrediction(32);
    await markFailed(failed, true);
    await markFailed(deadLettered, false);
    const queue = local.ready.archiveDeadLetterQueueUrl;
    await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: JSON.stringify({ predictionId: deadLettered }) }));
    await sqs.send(new SendMessageCommand({ QueueUrl: queue, MessageBody: 'not an archive request' }));

    const dry = await run(['redrive', '--local']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toEqual([
      `would move ${deadLettered} (dead-letter queue → archive queue)`,
      `would re-queue ${failed} (marked failed)`,
      '1 dead-lettered archive request(s) would be moved to the archive queue; 1 left (older than --since, or not an archive request)',
      '1 record(s) marked failed would be re-queued for archiving',
      'Dry run: nothing moved. Run again with --apply to move them.',
    ]);
    expect(await deadLetterCount()).toBe(2);
    expect((await status(failed)).archive).toMatchObject({ status: 'failed', error: 'attempts_exhausted' });

    // Nothing since a time to come.
    const none = await run(['redrive', '--local', '--since', '2099-01-01T00:00:00Z', '--json']);
    expect(JSON.parse(none.stdout.join('\n'))).toMatchObject({
      applied: false,
      deadLetters: { moved: 0, skipped: 2 },
      failedRecords: { requeued: 0 },
    });

    const applied = await run(['redrive', '--local', '--apply', '--json']);
    expect(applied.code).toBe(0);
    const report = JSON.parse(applied.stdout.join('\n')) as RedriveReport;
    expect(report).toMatchObject({
      applied: true,
      deadLetters: { moved: 1, skipped: 1, predictionIds: [deadLettered] },
      failedRecords: { requeued: 1, predictionIds: [failed] },
    });
    expect(await deadLetterCount()).toBe(1); // the message that is not an archive request stays

    for (const predictionId of [failed, deadLettered]) {
      const again = await until(predictionId, (status) => !!status.channels.notifiedAt);
      expect(again.channels.notifiedAt).toBeDefined();
      expect(again.archive?.status).toBe('archived');
    }
  }, 90_000);

  test.each([
    [['redrive'], 'say where: --local (the running npm start)'],
    [['redrive', '--local', '--since', 'yesterday'], '--since takes an ISO 8601 time'],
    [['redrive', '--local', 'extra'], 'Unexpected argument'],
  ])('%j is a usage error, exit 2', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr[0]).toContain(message);
  });

  test('--help and -h print the usage', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await run(['redrive', flag]);
      expect(code).toBe(0);
      expect(stdout[0]).toContain('replicate-webhooks redrive --local [--dlq] [--failed]');
    }
  });
});

describe('status', () => {
  async function statusJson(predictionId: string): Promise<PredictionStatusReport> {
    const { code, stdout, stderr } = await run(['status', predictionId, '--local', '--json']);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    return JSON.parse(stdout.join('\n')) as PredictionStatusReport;
  }

  async function untilAnnounced(predictionId: string): Promise<PredictionStatusReport> {
    for (const deadline = Date.now() + 30_000; ;) {
      const report = await statusJson(predictionId);
      if (report.channels.notifiedAt || Date.now() > deadline) return report;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  test('local mode leaves its endpoints and names for the CLI, and no secret', () => {
    const written = readFileSync(endpointsFile, 'utf8');
    const endpoints = JSON.parse(written) as LocalEndpoints;
    expect(endpoints).toMatchObject({
      pid: local.child.pid,
      tableName: local.ready.tableName,
      bucketName: local.ready.bucketName,
      archiveDeadLetterQueueUrl: local.ready.archiveDeadLetterQueueUrl,
    });
    expect(written).not.toContain(SECRET);
  });

  test('an archived prediction: its record, every file with its S3 URI, a failure with its reason, its channels', async () => {
    const scenario = buildScenario('image', { fileBaseUrl: files.origin, random: seededRandom(11) });
    // The second output is never served: the archiver records it as a failure and announces the rest.
    files.add(scenario.files.slice(0, 1));
    for (const delivery of scenario.deliveries)
      expect((await sendDelivery(local.ready.webhookUrl, SECRET, delivery)).status).toBe(200);

    const report = await untilAnnounced(scenario.predictionId);
    const folder = `s3://${local.ready.bucketName}/predictions/${scenario.predictionId}/`;
    expect(report.record).toMatchObject({
      status: 'succeeded',
      terminal: true,
      model: 'black-forest-labs/flux-schnell',
      webhooksApplied: scenario.deliveries.length,
      lastWebhookId: scenario.deliveries.at(-1)!.webhookId,
    });
    // No prediction.json by default: the manifest carries the payload.
    expect(report.archive).not.toHaveProperty('prediction');
    expect(report.archive).toMatchObject({
      status: 'archived_with_failures',
      manifest: `${folder}manifest.json`,
      files: [{ s3Uri: expect.stringMatching(new RegExp(`^${folder}outputs/0-`)), bytes: scenario.files[0].bytes.length }],
      failures: [{ source: expect.stringContaining(files.origin), reason: 'http_error', status: 404 }],
    });
    expect(report.deadLetterQueue).toMatchObject({ holdsIt: false, queueUrl: local.ready.archiveDeadLetterQueueUrl });
    expect(report.channels).toMatchObject({
      completionTopicArn: local.ready.completionTopicArn,
      eventBusName: local.ready.eventBusName,
      notifiedAt: expect.any(String),
    });

    // The same, for a person.
    const { code, stdout } = await run(['status', scenario.predictionId, '--local']);
    expect(code).toBe(0);
    expect(stdout[0]).toBe(
      `${scenario.predictionId} succeeded (black-forest-labs/flux-schnell), in local mode (pid ${local.child.pid})`,
    );
    expect(stdout).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ {2}archive {5}archived_with_failures at \S+, 1 attempt$/),
        `    manifest.json    ${folder}manifest.json`,
        expect.stringMatching(new RegExp(`^ {4}${folder}outputs/0-\\S+ {2}\\(\\d+ bytes, image/png\\)$`)),
        expect.stringMatching(/^ {4}✗ http:\/\/127\.0\.0\.1:\d+\/\S+: http_error \(HTTP 404\)$/),
        expect.stringMatching(/^ {2}dead-letter not in the archive dead-letter queue/),
        expect.stringMatching(
          /^ {2}channels {4}announced at \S+: SNS arn:aws:sns:\S+, EventBridge bus replicate-webhooks-events$/,
        ),
      ]),
    );
    expect(stdout.join('\n')).not.toContain('prediction.json');
  }, 60_000);

  test('a prediction whose archive request sits in the dead-letter queue says so, and leaves it there', async () => {
    const { ready } = local;
    const sqs = new SQSClient({
      region: ready.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      endpoint: ready.endpoints.sqs,
      useQueueUrlAsEndpoint: false,
    });
    const scenario = buildScenario('canceled', { fileBaseUrl: files.origin, random: seededRandom(12) });
    await sendDelivery(ready.webhookUrl, SECRET, scenario.deliveries[0]);
    const body = JSON.stringify({ predictionId: scenario.predictionId });
    await sqs.send(new SendMessageCommand({ QueueUrl: ready.archiveDeadLetterQueueUrl, MessageBody: body }));
    sqs.destroy();

    for (let time = 0; time < 2; time++) {
      const report = await statusJson(scenario.predictionId);
      expect(report.deadLetterQueue).toMatchObject({ holdsIt: true });
      expect(report.record).toMatchObject({ status: 'starting', terminal: false });
      expect(report.archive).toBeUndefined();
    }
  });

  test('a prediction with no record exits 1 and says so; an id that cannot be one exits 2 before any call', async () => {
    const missing = await run(['status', 'nosuchprediction0000000000', '--local']);
    expect(missing.code).toBe(1);
    expect(missing.stdout[0]).toBe(`nosuchprediction0000000000: no record in local mode (pid ${local.child.pid})`);

    const invalid = await run(['status', '../etc/passwd', '--local']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr[0]).toBe(
      'error: "../etc/passwd" is not a prediction id (letters, digits, - and _, at most 128, as Replicate\'s ids are)',
    );
  });

  test('local mode not running: a clear error naming the file, exit 1', async () => {
    const elsewhere = join(directory, 'none.json');
    process.env[LOCAL_ENDPOINTS_VARIABLE] = elsewhere;
    try {
      const { code, stderr } = await run(['status', 'abc', '--local']);
      expect(code).toBe(1);
      expect(stderr).toEqual([`error: local mode is not running: no ${elsewhere} (start it with npm start, in this checkout)`]);
    } finally {
      process.env[LOCAL_ENDPOINTS_VARIABLE] = endpointsFile;
    }
  });

  test.each([[['status', '--help']], [['status', '-h']], [['status', 'abc', '--local', '-h']]])(
    '%j prints the usage',
    async (argv) => {
      const { code, stdout } = await run(argv);
      expect(code).toBe(0);
      expect(stdout[0]).toContain('replicate-webhooks status <prediction-id> --local');
    },
  );
});
