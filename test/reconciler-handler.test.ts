/**
 * The reconciler against real peers: DynamoDB Local (the same store and state rule as the
 * verifier, and the archive-pending index), fauxqs for S3 and the archive queue, the Secrets
 * Manager stand-in for the token and the signing secret, and the Replicate API stand-in.
 */
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type { ReconcileReport } from '../lambda/reconciler/index';
import { reconcilerEnvironment } from '../lambda/reconciler/settings';
import { parsePrediction } from '../lambda/shared/prediction';
import { ReconciliationScope } from '../lambda/shared/reconcile';
import { predictionItemKey } from '../lambda/shared/state';
import { WebhookStore } from '../lambda/store/webhook-store';
import { startReplicateApi, type ReplicateApiStandIn } from '../local/standins/replicate-api';
import { startSecretsManager, type SecretsManagerStandIn } from '../local/standins/secrets-manager';
import { createTestTable, dynamoDbEndpoint, storedPayload, useStandInEnvironment } from './support/aws';
import { startFauxqs, type Fauxqs } from './support/fauxqs';
import { fixture } from './support/webhooks';

type Reconciler = (event: unknown, context?: Context) => Promise<ReconcileReport>;

const TOKEN = 'r8_test_token';
const WEBHOOK_URL = 'https://hooks.example.com/webhook';
const bucket = 'reconciler-test-archive';
let fauxqs: Fauxqs;
let secrets: SecretsManagerStandIn;
let replicate: ReplicateApiStandIn;
let dynamodb: DynamoDBClient;
let sqs: SQSClient;
let s3: S3Client;

beforeAll(async () => {
  fauxqs = await startFauxqs();
  fauxqs.createBucket(bucket);
  secrets = await startSecretsManager();
  replicate = await startReplicateApi({ token: TOKEN });
  useStandInEnvironment({
    dynamodb: dynamoDbEndpoint(),
    s3: fauxqs.s3Endpoint,
    sqs: fauxqs.sqsEndpoint,
    secretsmanager: secrets.endpoint,
  });
  dynamodb = new DynamoDBClient({});
  sqs = new SQSClient({});
  s3 = new S3Client({});
});

afterAll(async () => {
  for (const client of [dynamodb, sqs, s3]) client.destroy();
  await replicate.stop();
  await secrets.stop();
  await fauxqs.stop();
});

interface Setup {
  readonly tableName: string;
  readonly queueUrl: string;
  readonly signingSecretId: string;
  readonly reconcile: () => Promise<ReconcileReport>;
  readonly store: WebhookStore;
  readonly item: (id: string) => Promise<Record<string, { S?: string; N?: string }> | undefined>;
  readonly queued: () => Promise<string[]>;
}

async function setUp(options: { scope?: ReconciliationScope; token?: string; stuckAfterSeconds?: number } = {}): Promise<Setup> {
  const { tableName } = await createTestTable();
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `archive-${randomUUID()}` }))).QueueUrl!;
  const signingSecretId = `signing-${randomUUID()}`;
  const tokenSecretId = `token-${randomUUID()}`;
  // What CloudFormation puts in a new secret: no whsec_ key yet.
  secrets.putSecret(signingSecretId, 'Q2hhbmdlTWVQbGVhc2VDaGFuZ2VNZQ');
  secrets.putSecret(tokenSecretId, JSON.stringify({ token: options.token ?? TOKEN }));
  Object.assign(
    process.env,
    reconcilerEnvironment({
      tableName,
      bucketName: bucket,
      archivePrefix: '',
      signingSecretId,
      tokenSecretId,
      archiveQueueUrl: queueUrl,
      webhookUrl: WEBHOOK_URL,
      manageSigningKey: true,
      apiBaseUrl: replicate.endpoint,
      scope: options.scope ?? ReconciliationScope.WEBHOOK_URL,
      stuckAfterSeconds: options.stuckAfterSeconds ?? 900,
    }),
    { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  );
  let reconciler: Reconciler | undefined;
  jest.isolateModules(() => {
    reconciler = (require('../lambda/reconciler/index') as { handler: Reconciler }).handler;
  });
  const store = new WebhookStore(dynamodb, s3, {
    tableName,
    bucketName: bucket,
    archivePrefix: '',
    maxInlinePayloadBytes: 16 * 1024,
    dedupTtlSeconds: 3600,
  });
  return {
    tableName,
    queueUrl,
    signingSecretId,
    store,
    reconcile: () => reconciler!({}, { getRemainingTimeInMillis: () => 60_000 } as Context),
    item: async (id) =>
      (
        await dynamodb.send(
          new GetItemCommand({ TableName: tableName, Key: { pk: { S: predictionItemKey(id) } }, ConsistentRead: true }),
        )
      ).Item as Record<string, { S?: string; N?: string }> | undefined,
    queued: async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      return Messages.map((message) => (JSON.parse(message.Body!) as { predictionId: string }).predictionId);
    },
  };
}

const newId = () => `r${randomUUID().replace(/-/g, '').slice(0, 20)}`;
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/** A prediction at Replicate, as the API would hold it. */
function atReplicate(overrides: Record<string, unknown> = {}) {
  const id = newId();
  return replicate.putPrediction({
    ...fixture('succeeded-images'),
    id,
    output: [],
    webhook: WEBHOOK_URL,
    created_at: minutesAgo(10),
    completed_at: minutesAgo(9),
    ...overrides,
  });
}

async function recordWebhook(store: WebhookStore, payload: Record<string, unknown>, webhookId = `msg_${randomUUID()}`) {
  const body = JSON.stringify(payload);
  const parsed = parsePrediction(body);
  if (!parsed.ok) throw new Error(parsed.reason);
  return store.record({
    webhookId,
    timestampSeconds: Math.floor(Date.now() / 1000),
    prediction: parsed.prediction,
    body,
    bodyBytes: Buffer.byteLength(body),
    receivedAt: new Date(),
  });
}

test('a finished prediction whose terminal webhook never came is recorded once, verbatim, for the archiver; a late webhook then changes nothing', async () => {
  const setup = await setUp();
  const missed = atReplicate();
  const first = await setup.reconcile();
  expect(first.recovered).toEqual([{ predictionId: missed.id, status: 'succeeded' }]);
  const item = await setup.item(missed.id);
  expect(item?.terminalStatus?.S).toBe('succeeded');
  expect(item?.archivePending?.S).toBe('pending');
  expect(JSON.parse((await storedPayload(dynamodb, setup.tableName, item))!)).toMatchObject({
    id: missed.id,
    status: 'succeeded',
  });

  const again = await setup.reconcile();
  expect(again.recovered).toEqual([]);
  // Replicate's own retry, arriving late, is answered as after the terminal state.
  expect(await recordWebhook(setup.store, { ...fixture('succeeded-images'), id: missed.id })).toBe('after_terminal');
});

test('scope: other applications are left alone, a prediction we saw in progress is ours, the account scope takes all', async () => {
  const setup = await setUp();
  const others = atReplicate({ webhook: 'https://other.example/hook' });
  const noWebhook = atReplicate({ webhook: null });
  const seenStarting = atReplicate({ webhook: null });
  await recordWebhook(setup.store, { ...fixture('starting'), id: seenStarting.id });
  const running = atReplicate({ status: 'processing', completed_at: null });
  const tooOld = atReplicate({ created_at: minutesAgo(200), completed_at: minutesAgo(199) });

  const report = await setup.reconcile();
  const recovered = report.recovered.map((entry) => entry.predictionId);
  expect(recovered).toContain(seenStarting.id);
  for (const id of [others.id, noWebhook.id, running.id, tooOld.id]) expect(recovered).not.toContain(id);
  expect(await setup.item(others.id)).toBeUndefined();

  const account = await setUp({ scope: ReconciliationScope.ACCOUNT });
  const all = (await account.reconcile()).recovered.map((entry) => entry.predictionId);
  expect(all).toEqual(expect.arrayContaining([others.id, noWebhook.id]));
  expect(all).not.toContain(running.id);
  expect(all).not.toContain(tooOld.id);
});

test('the signing key: bootstrapped from Replicate, rotated with the old key kept for the grace period, never logged', async () => {
  const setup = await setUp();
  const keyA = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
  replicate.setSecret(keyA);
  expect((await setup.reconcile()).signingKey).toBe('bootstrap');
  const read = async () => {
    const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const client = new SecretsManagerClient({});
    try {
      return JSON.parse((await client.send(new GetSecretValueCommand({ SecretId: setup.signingSecretId }))).SecretString!);
    } finally {
      client.destroy();
    }
  };
  expect(await read()).toEqual({ key: keyA });
  expect((await setup.reconcile()).signingKey).toBe('unchanged');
  const keyB = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
  replicate.setSecret(keyB);
  expect((await setup.reconcile()).signingKey).toBe('rotation');
  expect(await read()).toEqual({ key: keyB, keys: [keyA], rotatedAt: expect.any(String) });
});

test("429 with Retry-After and 500s from Replicate's API are waited out within the run", async () => {
  const setup = await setUp();
  const missed = atReplicate();
  replicate.faults.throttle({ requests: 2, retryAfterSeconds: 1 });
  replicate.faults.fail({ status: 503, requests: 2 });
  const started = Date.now();
  const report = await setup.reconcile();
  expect(report.recovered.map((entry) => entry.predictionId)).toContain(missed.id);
  expect(report.apiError).toBeUndefined();
  expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  replicate.faults.clear();
});

test('an invalid token is reported, not retried, and nothing is written', async () => {
  const setup = await setUp({ token: 'r8_wrong' });
  const missed = atReplicate();
  const before = replicate.requests.length;
  const report = await setup.reconcile();
  expect(report).toMatchObject({ apiError: 'unauthorized', signingKey: 'failed', recovered: [] });
  // One refused call for the key; the listing is not even tried with a token known to be bad.
  expect(replicate.requests.slice(before).map((request) => request.status)).toEqual([401]);
  expect(await setup.item(missed.id)).toBeUndefined();
});

test('a finished prediction not announced long after goes back to the archive queue; one left for a person does not', async () => {
  const setup = await setUp({ stuckAfterSeconds: 0 });
  const stuck = newId();
  const deadLettered = newId();
  await recordWebhook(setup.store, { ...fixture('succeeded-images'), id: stuck, output: [] });
  await recordWebhook(setup.store, { ...fixture('failed'), id: deadLettered });
  await dynamodb.send(
    new UpdateItemCommand({
      TableName: setup.tableName,
      Key: { pk: { S: predictionItemKey(deadLettered) } },
      UpdateExpression: 'SET archiveFailedAt = :now',
      ExpressionAttributeValues: { ':now': { S: new Date().toISOString() } },
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 1100)); // terminalAt strictly before the cutoff
  const report = await setup.reconcile();
  // (Predictions this run recovered are pending too, and with a cutoff of 0 already "stuck".)
  expect(report.redriven).toContain(stuck);
  expect(report.redriven).not.toContain(deadLettered);
  const queued = [...(await setup.queued()), ...(await setup.queued())];
  expect(queued).toContain(stuck);
  expect(queued).not.toContain(deadLettered);
});

test('a listing without webhook fields: the whole prediction decides the scope', async () => {
  const sparse = await startReplicateApi({ token: TOKEN, listOmits: ['logs', 'webhook'] });
  try {
    const setup = await setUp();
    process.env.REPLICATE_API_BASE_URL = sparse.endpoint;
    let reconciler: Reconciler | undefined;
    jest.isolateModules(() => {
      reconciler = (require('../lambda/reconciler/index') as { handler: Reconciler }).handler;
    });
    const base = { ...fixture('succeeded-images'), output: [], created_at: minutesAgo(10), completed_at: minutesAgo(9) };
    const ours = sparse.putPrediction({ ...base, id: newId(), webhook: WEBHOOK_URL });
    const theirs = sparse.putPrediction({ ...base, id: newId(), webhook: 'https://other.example/hook' });
    const report = await reconciler!({}, { getRemainingTimeInMillis: () => 60_000 } as Context);
    expect(report.recovered.map((entry) => entry.predictionId)).toEqual([ours.id]);
    expect(await setup.item(theirs.id)).toBeUndefined();
  } finally {
    await sparse.stop();
  }
});

test('a failure partway through a run keeps what it recorded in the report, and says what failed', async () => {
  const setup = await setUp();
  const recordable = atReplicate();
  const refused = atReplicate();
  replicate.faults.respond({ status: 400, body: '{"detail":"bad request"}', path: `/v1/predictions/${refused.id}`, requests: 5 });
  try {
    const report = await setup.reconcile();
    expect(report.recovered.map((entry) => entry.predictionId)).toContain(recordable.id);
    expect(report.recovered.map((entry) => entry.predictionId)).not.toContain(refused.id);
    expect(report).toMatchObject({ apiError: 'status_400', stoppedEarly: true });
    expect((await setup.item(recordable.id))?.terminalStatus?.S).toBe('succeeded');
  } finally {
    replicate.faults.clear();
  }
});
