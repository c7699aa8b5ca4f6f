/**
 * `replicate-webhooks redrive --local` against local mode in its own process: dead-lettered
 * archive requests move back to the archive queue and records marked failed are re-queued, both
 * archived and announced again by local mode's archiver; a dry run moves nothing.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/index';
import { LOCAL_ENDPOINTS_VARIABLE } from '../../cli/local-endpoints';
import type { RedriveReport } from '../../cli/operate/redrive';
import type { PredictionStatusReport } from '../../cli/operate/status';
import { buildScenario, seededRandom } from '../../cli/scenarios';
import { sendDelivery } from '../../cli/send';
import { predictionItemKey } from '../../lambda/shared/state';
import { startLocalMode, type LocalModeProcess } from '../support/local-mode';

const SECRET = 'whsec_' + Buffer.alloc(24, 9).toString('base64');
let local: LocalModeProcess;
let directory: string;
let dynamodb: DynamoDBClient;
let sqs: SQSClient;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'redrive-test-'));
  const endpointsFile = join(directory, 'local.json');
  process.env[LOCAL_ENDPOINTS_VARIABLE] = endpointsFile;
  local = await startLocalMode({
    PORT: '0',
    REPLICATE_WEBHOOK_SECRET: SECRET,
    RECONCILE_INTERVAL_SECONDS: '0',
    INSPECTOR: 'off',
    [LOCAL_ENDPOINTS_VARIABLE]: endpointsFile,
  });
  const client = { region: local.ready.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  dynamodb = new DynamoDBClient({ ...client, endpoint: local.ready.endpoints.dynamodb });
  sqs = new SQSClient({ ...client, endpoint: local.ready.endpoints.sqs, useQueueUrlAsEndpoint: false });
}, 120_000);

afterAll(() => {
  delete process.env[LOCAL_ENDPOINTS_VARIABLE];
  dynamodb?.destroy();
  sqs?.destroy();
  if (local?.child.exitCode === null) local.child.kill('SIGKILL');
  rmSync(directory, { recursive: true, force: true });
});

const run = async (argv: string[]) => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { stdout: (line) => stdout.push(line), stderr: (line) => stderr.push(line) });
  return { code, stdout, stderr };
};

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
