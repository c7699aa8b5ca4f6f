/**
 * `replicate-webhooks replay --local` against local mode in its own process: the completions of
 * announced predictions are published again, the same messages, marked as replays, on the topic
 * or the event bus.
 */
import { SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli/index';
import { LOCAL_ENDPOINTS_VARIABLE } from '../../cli/local-endpoints';
import type { ReplayReport } from '../../cli/operate/replay';
import type { PredictionStatusReport } from '../../cli/operate/status';
import { buildScenario, seededRandom } from '../../cli/scenarios';
import { sendDelivery } from '../../cli/send';
import { startLocalMode, type LocalModeProcess } from '../support/local-mode';
import { subscribeQueue, type Subscriber } from '../support/notifications';

const SECRET = 'whsec_' + Buffer.alloc(24, 5).toString('base64');
let local: LocalModeProcess;
let directory: string;
let sns: SNSClient;
let sqs: SQSClient;
let subscriber: Subscriber;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'replay-test-'));
  const endpointsFile = join(directory, 'local.json');
  process.env[LOCAL_ENDPOINTS_VARIABLE] = endpointsFile;
  local = await startLocalMode({
    PORT: '0',
    REPLICATE_WEBHOOK_SECRET: SECRET,
    RECONCILE_INTERVAL_SECONDS: '0',
    INSPECTOR: 'off',
    EVENT_RULE_STATUSES: '',
    EVENT_RULE_MODELS: '',
    [LOCAL_ENDPOINTS_VARIABLE]: endpointsFile,
  });
  const client = { region: local.ready.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  sns = new SNSClient({ ...client, endpoint: local.ready.endpoints.sns });
  sqs = new SQSClient({ ...client, endpoint: local.ready.endpoints.sqs, useQueueUrlAsEndpoint: false });
  subscriber = await subscribeQueue(sns, sqs, local.ready.completionTopicArn);
}, 120_000);

afterAll(() => {
  delete process.env[LOCAL_ENDPOINTS_VARIABLE];
  sns?.destroy();
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
  const canceled = [await announcedPrediction(51, 'canceled'), await announcedPrediction(52, 'canceled')];
  const failed = await announcedPrediction(53, 'failed');
  const originals = await subscriber.receiveAll(500);
  expect(originals).toHaveLength(3);
  await drainEvents(500);

  const onTopic = await run(['replay', '--local', '--since', '1h', '--status', 'canceled']);
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

  const onBus = await run(['replay', '--local', '--since', '1h', '--to', 'events', '--json']);
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
