/**
 * Local mode end to end, over HTTP: `local/main.ts` in its own process on free ports, the sender
 * posting whole scenarios (serving their output files from loopback), and every check made
 * through the emulator endpoints it announces, with the AWS SDK, as a user would.
 */
import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { manifestPayloadText, type ArchiveManifest } from '../../lambda/shared/completion-message';
import { signWebhook } from '../../lambda/shared/signature';
import { predictionItemKey } from '../../lambda/shared/state';
import type { ReadyInfo } from '../../local/pipeline';
import { main as sender } from '../../cli/index';
import { buildScenario, planDeliveries, seededRandom } from '../../cli/scenarios';
import { registerPrediction } from '../../cli/register';
import { sendDelivery } from '../../cli/send';
import { startOutputServer, type OutputServer } from '../../cli/output-server';
import { freePort } from '../../local/aws/standins/dynamodb-local';
import { startLocalMode } from '../support/local-mode';
import { subscribeQueue, type ReceivedNotification, type Subscriber } from '../support/notifications';

let child: ChildProcess;
let ready: ReadyInfo;
let output: () => string;
let filesPort: number;
let dynamodb: DynamoDBClient;
let s3: S3Client;
let sns: SNSClient;
let sqs: SQSClient;
let subscriber: Subscriber;
const RECONCILE_INTERVAL_SECONDS = 3;

beforeAll(async () => {
  filesPort = await freePort();
  const started = await startLocalMode({
    PORT: '0',
    ALLOWED_OUTPUT_HOSTS: `127.0.0.1:${filesPort}`,
    REPLICATE_WEBHOOK_SECRET: '',
    RECONCILE_INTERVAL_SECONDS: String(RECONCILE_INTERVAL_SECONDS),
    REPLICATE_API_TOKEN: '',
    REPLICATE_API_BASE_URL: '',
    // Canceled predictions are put on the bus but not delivered: the rule's pattern decides.
    EVENT_RULE_STATUSES: 'succeeded,failed',
    EVENT_RULE_MODELS: '',
  });
  child = started.child;
  ready = started.ready;
  output = started.output;
  const client = { region: ready.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  dynamodb = new DynamoDBClient({ ...client, endpoint: ready.endpoints.dynamodb });
  s3 = new S3Client({ ...client, endpoint: ready.endpoints.s3, forcePathStyle: true });
  sns = new SNSClient({ ...client, endpoint: ready.endpoints.sns });
  sqs = new SQSClient({ ...client, endpoint: ready.endpoints.sqs, useQueueUrlAsEndpoint: false });
  subscriber = await subscribeQueue(sns, sqs, ready.completionTopicArn);
}, 120_000);

afterAll(async () => {
  for (const c of [dynamodb, s3, sns, sqs]) c?.destroy();
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
async function getObject(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: ready.bucketName, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}
async function predictionItem(id: string) {
  const { Item } = await dynamodb.send(
    new GetItemCommand({ TableName: ready.tableName, Key: { pk: { S: predictionItemKey(id) } }, ConsistentRead: true }),
  );
  return Item;
}
async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out; local mode printed:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('the ready line announces every endpoint and name', () => {
  expect(ready).toMatchObject({
    webhookUrl: expect.stringMatching(/^http:\/\/localhost:\d+\/webhook$/),
    secret: expect.stringMatching(/^whsec_/),
    endpoints: {
      dynamodb: expect.stringMatching(/^http:/),
      s3: expect.stringMatching(/^http:/),
      sns: expect.stringMatching(/^http:/),
      sqs: expect.stringMatching(/^http:/),
      secretsmanager: expect.stringMatching(/^http:/),
      eventbridge: expect.stringMatching(/^http:/),
    },
    eventBusName: expect.any(String),
    eventQueueUrl: expect.stringMatching(/^http:/),
    tableName: expect.any(String),
    bucketName: expect.any(String),
    completionTopicArn: expect.stringMatching(/^arn:aws:sns:/),
    alarmTopicArn: expect.stringMatching(/^arn:aws:sns:/),
    replicateApi: {
      endpoint: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      token: expect.stringMatching(/^r8_/),
      standIn: true,
    },
    reconcileIntervalSeconds: RECONCILE_INTERVAL_SECONDS,
  });
  expect(output()).toContain('webhook URL');
  expect(output()).toContain('(generated; set REPLICATE_WEBHOOK_SECRET to choose it)');
});

test('every scenario through the sender: states, archived bytes, manifests, exactly one notification each', async () => {
  const outputServer: OutputServer = await startOutputServer({ port: filesPort });
  const random = seededRandom(42);
  const predictions: Record<string, { status: string; files: Map<string, Buffer> }> = {};
  try {
    for (const name of ['image', 'llm', 'failed', 'canceled'] as const) {
      const scenario = buildScenario(name, { fileBaseUrl: outputServer.origin, random });
      outputServer.add(scenario.files);
      const plan = planDeliveries(scenario.deliveries, { duplicateRate: 0.3, reorderRate: 0.3, afterTerminal: 1, random });
      const outcomes: string[] = [];
      for (const delivery of plan) {
        const result = await sendDelivery(ready.webhookUrl, ready.secret, delivery);
        expect(result.status).toBe(200);
        outcomes.push((JSON.parse(result.body) as { outcome: string }).outcome);
      }
      expect(outcomes).toContain('accepted');
      expect(outcomes).toContain('after_terminal');
      const terminal = scenario.deliveries[scenario.deliveries.length - 1];
      predictions[scenario.predictionId] = {
        status: terminal.status,
        files: new Map(scenario.files.map((file) => [`${outputServer.origin}${file.path}`, file.bytes])),
      };
    }
    // The CLI itself, with its own file server, for one more image prediction.
    const lines: string[] = [];
    const code = await sender(
      [
        'send',
        '--url',
        ready.webhookUrl,
        '--secret',
        ready.secret,
        '--scenario',
        'image',
        '--files-port',
        '0',
        '--seed',
        '5',
        '--linger',
        '15',
      ],
      { stdout: (line) => lines.push(line), stderr: (line) => lines.push(line) },
    );
    expect(code).toBe(0);
    expect(lines.join('\n')).toMatch(/→ 200 accepted/);
    expect(await outputServer.waitUntilFetched(20_000)).toBe(true);
  } finally {
    await outputServer.stop();
  }

  for (const [id, expected] of Object.entries(predictions)) {
    const item = await waitFor(async () => {
      const current = await predictionItem(id);
      return current?.notifiedAt ? current : undefined;
    });
    expect(item.status).toEqual({ S: expected.status });
    const manifest = JSON.parse((await getObject(`predictions/${id}/manifest.json`)).toString()) as ArchiveManifest;
    expect(manifest.failures).toEqual([]);
    expect(manifest.files.map((file) => file.source).sort()).toEqual([...expected.files.keys()].sort());
    for (const file of manifest.files) {
      const bytes = await getObject(file.key);
      expect(sha256(bytes)).toBe(sha256(expected.files.get(file.source)!));
      expect(file.sha256).toBe(sha256(bytes));
    }
  }
  const notifications: ReceivedNotification[] = [];
  await waitFor(async () => {
    notifications.push(...(await subscriber.receiveAll(200)));
    return notifications.length >= 5 ? true : undefined;
  });
  notifications.push(...(await subscriber.receiveAll(1000))); // anything extra would be a duplicate
  const ids = notifications.map((notification) => notification.message.predictionId);
  expect(new Set(ids).size).toBe(ids.length); // exactly one each
  expect(ids).toHaveLength(5);
  for (const id of Object.keys(predictions)) expect(ids).toContain(id);
  expect(output()).toMatch(/✔ \w+ succeeded/); // local mode printed them too

  // Every prediction was put on the bus once; the local rule delivered those its pattern selects.
  const canceled = Object.entries(predictions).find(([, p]) => p.status === 'canceled')![0];
  const delivered: Array<{ source: string; 'detail-type': string; detail: { predictionId: string; status: string } }> = [];
  await waitFor(async () => {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: ready.eventQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    delivered.push(...Messages.map((message) => JSON.parse(message.Body!)));
    return delivered.length >= 4 ? true : undefined;
  });
  const { Messages: extra = [] } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: ready.eventQueueUrl, WaitTimeSeconds: 1 }),
  );
  expect(extra).toEqual([]);
  expect(delivered.map((event) => event.detail.predictionId).sort()).toEqual(ids.filter((id) => id !== canceled).sort());
  for (const event of delivered) {
    expect(event.source).toBe('replicate-webhooks');
    expect(event['detail-type']).toBe(
      event.detail.status === 'failed' ? 'Replicate Prediction Failed' : 'Replicate Prediction Succeeded',
    );
  }
  expect(output()).toContain(`⚡ event "Replicate Prediction Canceled" ${canceled}`);
  expect(output()).toMatch(new RegExp(`⚡ event "Replicate Prediction Canceled" ${canceled}.*: no rule matched`));
}, 120_000);

test('the reconciler records what no webhook delivered: archived byte-exact, announced once, a late webhook is after_terminal', async () => {
  const api = { url: ready.replicateApi!.endpoint, token: ready.replicateApi!.token! };
  const random = seededRandom(77);
  // One prediction whose terminal webhook is lost: everything before it arrives.
  const dropped = buildScenario('failed', { fileBaseUrl: 'http://127.0.0.1:1', random, webhookUrl: ready.webhookUrl });
  const terminal = dropped.deliveries.at(-1)!;
  for (const delivery of dropped.deliveries.slice(0, -1)) {
    expect((await sendDelivery(ready.webhookUrl, ready.secret, delivery)).status).toBe(200);
  }
  const started = Date.now();
  await registerPrediction(api, terminal.body);
  // One that delivered nothing at all, registered by the sender's CLI.
  const lines: string[] = [];
  const code = await sender(
    [
      'send',
      '--url',
      ready.webhookUrl,
      '--secret',
      ready.secret,
      '--scenario',
      'canceled',
      '--no-webhooks',
      '--replicate-api',
      api.url,
      '--replicate-token',
      api.token,
    ],
    { stdout: (line) => lines.push(line), stderr: (line) => lines.push(line) },
  );
  expect(code).toBe(0);
  const silent = /^ {2}([a-z0-9]{26}): registered/m.exec(lines.join('\n'))![1];
  // Another application's prediction in the same account: not this deployment's to record.
  const foreign = buildScenario('failed', {
    fileBaseUrl: 'http://127.0.0.1:1',
    random,
    webhookUrl: 'https://example.com/other-app',
  });
  await registerPrediction(api, foreign.deliveries.at(-1)!.body);

  const budgetMs = 2 * RECONCILE_INTERVAL_SECONDS * 1000 + 5_000; // two runs, and the archiver's part
  for (const [id, status] of [
    [dropped.predictionId, 'failed'],
    [silent, 'canceled'],
  ]) {
    const item = await waitFor(async () => {
      const current = await predictionItem(id);
      return current?.notifiedAt ? current : undefined;
    }, budgetMs + 10_000);
    expect(item.status).toEqual({ S: status });
    // The manifest's payload is exactly what Replicate's API answered.
    const answer = await fetch(`${api.url}/v1/predictions/${id}`, { headers: { authorization: `Bearer ${api.token}` } });
    expect(manifestPayloadText((await getObject(`predictions/${id}/manifest.json`)).toString())).toBe(await answer.text());
  }
  expect(Date.now() - started).toBeLessThan(budgetMs);
  expect(
    output().match(
      new RegExp(`↻ ${dropped.predictionId} failed: its terminal webhook never arrived; recorded from Replicate's API`, 'g'),
    ),
  ).toHaveLength(1);
  expect(output().match(new RegExp(`↻ ${silent} canceled: `, 'g'))).toHaveLength(1);

  // The terminal webhook arrives after all: recorded already, nothing more to do.
  const late = await sendDelivery(ready.webhookUrl, ready.secret, terminal);
  expect(late).toMatchObject({ status: 200 });
  expect(JSON.parse(late.body)).toMatchObject({ outcome: 'after_terminal', predictionId: dropped.predictionId });

  // Two more runs: still one announcement each, and the foreign prediction left alone.
  await new Promise((resolve) => setTimeout(resolve, 2 * RECONCILE_INTERVAL_SECONDS * 1000 + 1000));
  const notifications = (await subscriber.receiveAll(1000)).map((notification) => notification.message.predictionId);
  expect(notifications.filter((id) => id === dropped.predictionId)).toHaveLength(1);
  expect(notifications.filter((id) => id === silent)).toHaveLength(1);
  expect(await predictionItem(foreign.predictionId)).toBeUndefined();
  expect(output().match(/↻ /g)).toHaveLength(2);
}, 90_000);

test('forged and stale requests are rejected over HTTP and leave nothing behind', async () => {
  const scenario = buildScenario('llm', { fileBaseUrl: 'http://127.0.0.1:1' });
  const delivery = scenario.deliveries[0];
  const forged = await sendDelivery(ready.webhookUrl, `whsec_${Buffer.alloc(24, 1).toString('base64')}`, delivery);
  expect(forged).toMatchObject({ status: 401, body: '{"error":"bad_signature"}' });
  const stale = await sendDelivery(ready.webhookUrl, ready.secret, delivery, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
  expect(stale).toMatchObject({ status: 401, body: '{"error":"timestamp_out_of_tolerance"}' });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const unsigned = await fetch(ready.webhookUrl, {
    method: 'POST',
    body: delivery.body,
    headers: { 'content-type': 'application/json' },
  });
  expect(unsigned.status).toBe(401);
  const wrongRoute = await fetch(ready.webhookUrl.replace('/webhook', '/other'), {
    method: 'POST',
    body: delivery.body,
    headers: {
      'webhook-id': delivery.webhookId,
      'webhook-timestamp': timestamp,
      'webhook-signature': signWebhook(ready.secret, delivery.webhookId, timestamp, delivery.body),
    },
  });
  expect(wrongRoute.status).toBe(404);
  expect(await predictionItem(scenario.predictionId)).toBeUndefined();
  const { Count } = await dynamodb.send(new ScanCommand({ TableName: ready.tableName, Select: 'COUNT' }));
  expect(Count).toBeGreaterThan(0);
});

test('SIGTERM stops everything and the process exits on its own', async () => {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())]);
  expect(code).toBe(0);
  expect(output()).toContain('stopped');
  // DynamoDB Local (a JVM child) went with it.
  const port = Number(new URL(ready.endpoints.dynamodb).port);
  await expect(
    new Promise((resolve, reject) => connect(port, '127.0.0.1').once('connect', resolve).once('error', reject)),
  ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
}, 30_000);
