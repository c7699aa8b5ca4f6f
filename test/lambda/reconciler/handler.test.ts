/**
 * The reconciler against real peers: DynamoDB Local (the same store and state rule as the
 * verifier, the archive-pending and follow indexes), fauxqs for S3 and the archive queue, the
 * Secrets Manager stand-in for the token and the signing secret, and the Replicate API stand-in.
 * The handler is built as index.ts builds it, with these clients; a test that needs another time
 * hands it a clock.
 */
import { DynamoDBClient, GetItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { PendingArchivals } from '../../../lambda/reconciler/archivals';
import { readReconcilerConfig } from '../../../lambda/reconciler/config';
import { createReconcilerHandler, type ReconcileReport, type RunLimits } from '../../../lambda/reconciler/handler';
import { ReconcilerLedger } from '../../../lambda/reconciler/ledger';
import { RecordedPredictions } from '../../../lambda/reconciler/recorded';
import { ReplicateApiClient } from '../../../lambda/reconciler/replicate-api';
import { RecoveryRetries } from '../../../lambda/reconciler/retries';
import { reconcilerEnvironment } from '../../../lambda/reconciler/settings';
import { parsePrediction } from '../../../lambda/shared/prediction';
import { ReconciliationScope } from '../../../lambda/shared/reconcile';
import { FOLLOW_INDEX, predictionItemKey, recoveryRetryKey } from '../../../lambda/shared/state';
import { WebhookStore } from '../../../lambda/store/webhook-store';
import { RECONCILER_CLIENTS } from '../../../lambda/sdk-clients';
import { createTelemetry } from '../../../lambda/telemetry';
import { startReplicateApi, type ReplicateApiStandIn } from '../../../local/standins/replicate-api';
import { startSecretsManager, type SecretsManagerStandIn } from '../../../local/aws/standins/secrets-manager';
import { createTestTable, dynamoDbEndpoint, storedPayload, useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';
import { startTcpProxy } from '../../support/tcp-proxy';
import { fixture } from '../../support/webhooks';

const TOKEN = 'r8_test_token';
// Each test's deployment has a URL of its own: predictions other tests left at the shared stand-in are not its.
let WEBHOOK_URL = 'https://hooks.example.com/webhook';
beforeEach(() => {
  WEBHOOK_URL = `https://hooks.example.com/webhook/${randomUUID()}`;
});
const bucket = 'reconciler-test-archive';
const MINUTE = 60_000;
let fauxqs: Fauxqs;
let secrets: SecretsManagerStandIn;
let replicate: ReplicateApiStandIn;
let dynamodb: DynamoDBClient;
let sqs: SQSClient;
let s3: S3Client;
let secretsClient: SecretsManagerClient;

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
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  dynamodb = new DynamoDBClient({});
  sqs = new SQSClient({});
  s3 = new S3Client({});
  secretsClient = new SecretsManagerClient({});
});

afterAll(async () => {
  for (const client of [dynamodb, sqs, s3, secretsClient]) client.destroy();
  await replicate.stop();
  await secrets.stop();
  await fauxqs.stop();
});

afterEach(() => replicate.faults.clear());

interface Setup {
  readonly tableName: string;
  readonly queueUrl: string;
  readonly signingSecretId: string;
  /** A run, at the real time or at `at` (epoch ms). */
  readonly reconcile: (at?: number) => Promise<ReconcileReport>;
  readonly store: WebhookStore;
  readonly item: (id: string) => Promise<Record<string, { S?: string; N?: string }> | undefined>;
  readonly retryItem: (id: string) => Promise<Record<string, { S?: string; N?: string }> | undefined>;
  readonly queued: () => Promise<string[]>;
}

interface SetupOptions {
  readonly scope?: ReconciliationScope;
  readonly token?: string;
  readonly stuckAfterSeconds?: number;
  readonly api?: ReplicateApiStandIn;
  readonly webhookUrls?: string[];
  readonly maxArchiveAttempts?: number;
  readonly maxPagesPerRun?: number;
  readonly limits?: Partial<RunLimits>;
  /** The client the handler reaches the table with. @default the test's own */
  readonly tableClient?: DynamoDBClient;
}

async function setUp(options: SetupOptions = {}): Promise<Setup> {
  const { tableName } = await createTestTable();
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `archive-${randomUUID()}` }))).QueueUrl!;
  const signingSecretId = `signing-${randomUUID()}`;
  const tokenSecretId = `token-${randomUUID()}`;
  // What CloudFormation puts in a new secret: no whsec_ key yet.
  secrets.putSecret(signingSecretId, 'Q2hhbmdlTWVQbGVhc2VDaGFuZ2VNZQ');
  secrets.putSecret(tokenSecretId, JSON.stringify({ token: options.token ?? TOKEN }));
  const config = readReconcilerConfig(
    reconcilerEnvironment({
      tableName,
      bucketName: bucket,
      archivePrefix: '',
      signingSecretId,
      tokenSecretId,
      archiveQueueUrl: queueUrl,
      webhookUrl: WEBHOOK_URL,
      webhookUrls: options.webhookUrls,
      manageSigningKey: true,
      apiBaseUrl: (options.api ?? replicate).endpoint,
      scope: options.scope ?? ReconciliationScope.WEBHOOK_URL,
      stuckAfterSeconds: options.stuckAfterSeconds ?? 900,
      maxArchiveAttempts: options.maxArchiveAttempts,
      maxPagesPerRun: options.maxPagesPerRun,
    }),
  );
  const table = options.tableClient ?? dynamodb;
  const store = new WebhookStore(table, s3, config);
  let clock: number | undefined;
  const handler = createReconcilerHandler({
    config,
    telemetry: createTelemetry(),
    secrets: secretsClient,
    sqs,
    store,
    recorded: new RecordedPredictions(table, tableName),
    retries: new RecoveryRetries(table, tableName),
    archivals: new PendingArchivals(table, tableName),
    ledger: new ReconcilerLedger(table, tableName),
    // Short waits between tries: the tests' faults are a few requests long.
    replicateApi: (token, onRetry) =>
      new ReplicateApiClient({ baseUrl: config.apiBaseUrl, token, onRetry, baseDelayMs: 20, maxDelayMs: 100 }),
    now: () => clock ?? Date.now(),
    // A prediction that always fails gives up within a second, not twenty.
    limits: { itemBudgetMs: 1_000, ...options.limits },
  });
  const get = async (key: string) =>
    (await dynamodb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }))).Item as
      Record<string, { S?: string; N?: string }> | undefined;
  return {
    tableName,
    queueUrl,
    signingSecretId,
    store,
    reconcile: async (at) => {
      clock = at;
      return handler({}, { getRemainingTimeInMillis: () => 60_000 } as Context);
    },
    item: (id) => get(predictionItemKey(id)),
    retryItem: (id) => get(recoveryRetryKey(id)),
    queued: async () => {
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      return Messages.map((message) => (JSON.parse(message.Body!) as { predictionId: string }).predictionId);
    },
  };
}

const newId = () => `r${randomUUID().replace(/-/g, '').slice(0, 20)}`;
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * MINUTE).toISOString();
const recovered = (report: ReconcileReport) => report.recovered.map((entry) => entry.predictionId);

/** A prediction at Replicate, as the API would hold it. */
function atReplicate(overrides: Record<string, unknown> = {}, api: ReplicateApiStandIn = replicate) {
  const id = newId();
  return api.putPrediction({
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

async function followIndex(tableName: string, partition: string): Promise<string[]> {
  const { Items = [] } = await dynamodb.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: FOLLOW_INDEX.indexName,
      KeyConditionExpression: '#follow = :partition',
      ExpressionAttributeNames: { '#follow': FOLLOW_INDEX.partitionKey },
      ExpressionAttributeValues: { ':partition': { S: partition } },
    }),
  );
  return Items.map((item) => item.pk.S!);
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
  await recordWebhook(setup.store, { ...fixture('starting'), id: seenStarting.id, created_at: minutesAgo(10) });
  const running = atReplicate({ status: 'processing', completed_at: null });
  const tooOld = atReplicate({ created_at: minutesAgo(200), completed_at: minutesAgo(199) });

  const report = await setup.reconcile();
  expect(recovered(report)).toContain(seenStarting.id);
  for (const id of [others.id, noWebhook.id, running.id, tooOld.id]) expect(recovered(report)).not.toContain(id);
  expect(await setup.item(others.id)).toBeUndefined();
  expect(report.outOfScope).toBeGreaterThanOrEqual(2);

  const account = await setUp({ scope: ReconciliationScope.ACCOUNT });
  const all = recovered(await account.reconcile());
  expect(all).toEqual(expect.arrayContaining([others.id, noWebhook.id]));
  expect(all).not.toContain(running.id);
  expect(all).not.toContain(tooOld.id);
});

test('more webhook URLs: a prediction sent through a proxy or a custom domain is this deployment’s too', async () => {
  const proxy = 'https://replicate-hooks.example.org/in';
  const setup = await setUp({ webhookUrls: [proxy] });
  const viaProxy = atReplicate({ webhook: `${proxy}/` });
  const elsewhere = atReplicate({ webhook: 'https://replicate-hooks.example.org/other' });
  const report = await setup.reconcile();
  expect(recovered(report)).toContain(viaProxy.id);
  expect(recovered(report)).not.toContain(elsewhere.id);
  // Without the extra URL, the same prediction is another application's.
  const plain = await setUp();
  expect(recovered(await plain.reconcile())).not.toContain(viaProxy.id);
});

test('the signing key: bootstrapped from Replicate, rotated with the old key kept for the grace period, never logged', async () => {
  const setup = await setUp();
  const keyA = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
  replicate.setSecret(keyA);
  expect((await setup.reconcile()).signingKey).toBe('bootstrap');
  const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const read = async () =>
    JSON.parse((await secretsClient.send(new GetSecretValueCommand({ SecretId: setup.signingSecretId }))).SecretString!);
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
  expect(recovered(report)).toContain(missed.id);
  expect(report.apiError).toBeUndefined();
  expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
});

test('an invalid token is reported, not retried, and nothing is written; the listing stays where it was', async () => {
  const setup = await setUp({ token: 'r8_wrong' });
  const missed = atReplicate();
  const before = replicate.requests.length;
  const report = await setup.reconcile();
  expect(report).toMatchObject({ apiError: 'unauthorized', signingKey: 'failed', recovered: [], stoppedEarly: true });
  // One refused call for the key; the listing is not even tried with a token known to be bad.
  expect(replicate.requests.slice(before).map((request) => request.status)).toEqual([401]);
  expect(await setup.item(missed.id)).toBeUndefined();
  const later = await setup.reconcile(Date.now() + 30 * MINUTE);
  expect(later.listing.completeBefore).toBe(report.listing.completeBefore);
  expect(later.listing.lagSeconds).toBeGreaterThan(report.listing.lagSeconds);
});

describe('long jobs and absences: nothing outside the lookback is lost', () => {
  test('a job running for hours: its open record is followed by id, recorded when it finishes, forgotten if Replicate forgets it', async () => {
    const setup = await setUp();
    const created = minutesAgo(180);
    const finished = atReplicate({ status: 'processing', created_at: created, completed_at: null });
    const running = atReplicate({ status: 'processing', created_at: created, completed_at: null });
    const vanished = newId();
    for (const id of [finished.id, running.id, vanished]) {
      expect(await recordWebhook(setup.store, { ...fixture('starting'), id, created_at: created })).toBe('accepted');
    }
    expect(await followIndex(setup.tableName, FOLLOW_INDEX.openValue)).toHaveLength(3);
    // Three hours in, the first finishes; its terminal webhook is lost.
    replicate.putPrediction({ ...finished, status: 'succeeded', completed_at: minutesAgo(1) });

    const report = await setup.reconcile();
    expect(report.followed).toBe(3);
    expect(recovered(report)).toEqual([finished.id]);
    expect((await setup.item(finished.id))?.terminalStatus?.S).toBe('succeeded');
    // Still running: followed again next run, behind the ones not looked at yet.
    expect((await setup.item(running.id))?.follow?.S).toBe('open');
    expect(Date.parse((await setup.item(running.id))!.followAt.S!)).toBeGreaterThan(Date.parse(created));
    // Replicate never had it (or no longer has it): no longer followed, and said so.
    expect(await setup.item(vanished)).toMatchObject({ followEnded: { S: 'not_found' } });
    expect(report.itemFailures).toContainEqual({ predictionId: vanished, reason: 'not_found' });
    expect((await followIndex(setup.tableName, FOLLOW_INDEX.openValue)).sort()).toEqual([predictionItemKey(running.id)]);

    replicate.putPrediction({ ...running, status: 'failed', completed_at: minutesAgo(0) });
    expect(recovered(await setup.reconcile())).toEqual([running.id]);
    expect(await followIndex(setup.tableName, FOLLOW_INDEX.openValue)).toEqual([]);
  });

  test('a running prediction with no record at all is recorded as progress once settled, then followed to its end', async () => {
    const setup = await setUp();
    const silent = atReplicate({ status: 'processing', created_at: minutesAgo(20), completed_at: null });
    const young = atReplicate({ status: 'starting', created_at: minutesAgo(0), completed_at: null });
    const report = await setup.reconcile();
    expect(report.progressRecorded).toContain(silent.id);
    expect(report.progressRecorded).not.toContain(young.id);
    expect(await setup.item(silent.id)).toMatchObject({ status: { S: 'processing' }, follow: { S: 'open' } });
    expect(await setup.item(young.id)).toBeUndefined();
    // Its own webhooks still apply on top of what the reconciler recorded.
    expect(await recordWebhook(setup.store, { ...fixture('processing'), id: silent.id, logs: 'more' })).toBe('accepted');
    // Hours later, far outside the lookback, it finishes without a webhook.
    replicate.putPrediction({ ...silent, status: 'succeeded', completed_at: minutesAgo(0) });
    expect(recovered(await setup.reconcile(Date.now() + 4 * 60 * MINUTE))).toContain(silent.id);
  });

  test('a reconciler away for two hours lists the gap when it comes back; one that never left has nothing to catch up', async () => {
    const setup = await setUp();
    const away = Date.now() - 130 * MINUTE;
    // The last run before the token was revoked.
    const before = await setup.reconcile(away);
    expect(before.listing.backlog).toBeUndefined();
    // Finished while it was away, created after its last run and before the lookback of its next.
    const missedWhileAway = [100, 90, 80].map((minutes) =>
      atReplicate({ created_at: minutesAgo(minutes), completed_at: minutesAgo(minutes - 5) }),
    );
    const report = await setup.reconcile();
    expect(report.listing.backlog).toMatchObject({ complete: true });
    for (const prediction of missedWhileAway) expect(recovered(report)).toContain(prediction.id);
    expect(report.listing.lagSeconds).toBeLessThanOrEqual(180);

    const again = await setup.reconcile();
    expect(again.listing.backlog).toBeUndefined();
  });

  test('a backlog too long for one run carries on below where it stopped, and reaches the oldest', async () => {
    const paged = await startReplicateApi({ token: TOKEN, pageSize: 2 });
    try {
      // Three pages a run: one for the (empty) lookback, two of the backlog.
      const setup = await setUp({ api: paged, maxPagesPerRun: 3 });
      await setup.reconcile(Date.now() - 6 * 60 * MINUTE);
      const missed = [300, 250, 200, 150, 120, 100].map((minutes) =>
        atReplicate({ created_at: minutesAgo(minutes), completed_at: minutesAgo(minutes - 1) }, paged),
      );
      const first = await setup.reconcile();
      expect(first.listing.backlog).toMatchObject({ complete: false });
      expect(recovered(first).sort()).toEqual(
        missed
          .slice(2)
          .map((prediction) => prediction.id)
          .sort(),
      );
      const second = await setup.reconcile();
      expect(second.listing.backlog).toMatchObject({ complete: true });
      expect(recovered(second).sort()).toEqual(
        missed
          .slice(0, 2)
          .map((prediction) => prediction.id)
          .sort(),
      );
    } finally {
      await paged.stop();
    }
  });
});

describe('one prediction at a time: a bad one is counted and tried again, never the end of the run', () => {
  test('malformed list items, a prediction whose fetch always fails, one that cannot be recorded: the others are recovered', async () => {
    const setup = await setUp();
    const good = [atReplicate(), atReplicate()];
    replicate.putListItem({ status: 'succeeded', created_at: minutesAgo(8) }, minutesAgo(8));
    // A usable id with a broken status in the listing: the whole prediction decides.
    const brokenListing = atReplicate();
    replicate.putListItem({ id: brokenListing.id, status: 42, created_at: minutesAgo(7) }, minutesAgo(7));
    const unfetchable = atReplicate();
    replicate.faults.fail({ status: 500, path: `/v1/predictions/${unfetchable.id}` });
    const oversized = atReplicate({ model: `owner/${'m'.repeat(300)}` });

    const report = await setup.reconcile();
    for (const prediction of [...good, brokenListing]) expect(recovered(report)).toContain(prediction.id);
    expect(report.stoppedEarly).toBe(false);
    expect(report.itemFailures).toEqual(
      expect.arrayContaining([
        { reason: 'malformed_invalid_id' },
        { predictionId: brokenListing.id, reason: 'malformed_invalid_status' },
        { predictionId: unfetchable.id, reason: 'api_status_500' },
        { predictionId: oversized.id, reason: 'unrecordable_field_too_large' },
      ]),
    );
    // Both are saved to be tried again; the listing went past them.
    expect(await setup.retryItem(unfetchable.id)).toMatchObject({ attempts: { N: '1' }, reason: { S: 'api_status_500' } });
    expect(await setup.retryItem(oversized.id)).toMatchObject({ attempts: { N: '1' } });
    expect(report.listing.recent.complete).toBe(true);

    // Fixed at Replicate: the next run recovers it from its retry, and the retry goes.
    replicate.faults.clear();
    const next = await setup.reconcile();
    expect(recovered(next)).toContain(unfetchable.id);
    expect(await setup.retryItem(unfetchable.id)).toBeUndefined();
    expect(await setup.retryItem(oversized.id)).toMatchObject({ attempts: { N: '2' } });
    // A day later it is given up, counted, and no longer tried.
    const dayLater = await setup.reconcile(Date.now() + 25 * 60 * MINUTE);
    expect(dayLater.itemFailures).toContainEqual({ predictionId: oversized.id, reason: 'gave_up' });
    expect(await setup.retryItem(oversized.id)).toBeUndefined();
  });

  test('a failure in a listing the watermark then moves past is not lost: its retry recovers it', async () => {
    const setup = await setUp();
    await setup.reconcile(Date.now() - 130 * MINUTE);
    const old = atReplicate({ created_at: minutesAgo(100), completed_at: minutesAgo(99) });
    replicate.faults.fail({ status: 503, path: `/v1/predictions/${old.id}` });
    const away = await setup.reconcile();
    expect(away.listing.backlog).toMatchObject({ complete: true });
    expect(recovered(away)).not.toContain(old.id);
    // The backlog is done: no later listing sees it again, only its retry.
    replicate.faults.clear();
    const next = await setup.reconcile();
    expect(next.listing.backlog).toBeUndefined();
    expect(next.retried).toBe(1);
    expect(recovered(next)).toEqual([old.id]);
    expect(await setup.retryItem(old.id)).toBeUndefined();
  });

  test('an out-of-scope prediction the listing does not describe is fetched once, not every run', async () => {
    const sparse = await startReplicateApi({ token: TOKEN, listOmits: ['logs', 'webhook'] });
    try {
      const setup = await setUp({ api: sparse });
      const base = { ...fixture('succeeded-images'), output: [], created_at: minutesAgo(10), completed_at: minutesAgo(9) };
      const ours = sparse.putPrediction({ ...base, id: newId(), webhook: WEBHOOK_URL });
      const theirs = sparse.putPrediction({ ...base, id: newId(), webhook: 'https://other.example/hook' });
      const first = await setup.reconcile();
      expect(recovered(first)).toEqual([ours.id]);
      expect(await setup.item(theirs.id)).toBeUndefined();
      await setup.reconcile();
      await setup.reconcile();
      const fetches = sparse.requests.filter((request) => request.path === `/v1/predictions/${theirs.id}`);
      expect(fetches).toHaveLength(1);
    } finally {
      await sparse.stop();
    }
  });
});

describe('trainings: listed, fetched and followed at /v1/trainings, with a watermark of their own', () => {
  /** A training at Replicate: the same object as a prediction, with its output a new version and its weights. */
  function trainingAtReplicate(overrides: Record<string, unknown> = {}, api: ReplicateApiStandIn = replicate) {
    return api.putTraining({
      id: newId(),
      model: 'ostris/flux-dev-lora-trainer',
      version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
      destination: 'alice/my-flux',
      status: 'succeeded',
      output: { version: 'alice/my-flux:4f2b1c', weights: 'https://replicate.delivery/xezq/w/trained_model.tar' },
      webhook: WEBHOOK_URL,
      created_at: minutesAgo(10),
      completed_at: minutesAgo(9),
      ...overrides,
    });
  }

  test('a training among predictions whose terminal webhook never came is recorded as a training, and each kind keeps its own watermark', async () => {
    const setup = await setUp();
    const prediction = atReplicate();
    const training = trainingAtReplicate();
    const foreign = trainingAtReplicate({ webhook: 'https://elsewhere.example/hook' });
    const report = await setup.reconcile();
    expect(recovered(report).sort()).toEqual([prediction.id, training.id].sort());
    expect(await setup.item(training.id)).toMatchObject({ kind: { S: 'training' }, terminalStatus: { S: 'succeeded' } });
    expect(await setup.item(prediction.id)).toMatchObject({ kind: { S: 'prediction' } });
    expect(await setup.item(foreign.id)).toBeUndefined();
    expect(report.trainingListing.recent).toMatchObject({ complete: true });
    // Fetched where Replicate has it; a training is no prediction there.
    const paths = replicate.requests.map((request) => request.path);
    expect(paths).toContain('/v1/trainings');
    expect(paths).toContain(`/v1/trainings/${training.id}`);
    expect(paths).not.toContain(`/v1/predictions/${training.id}`);
    const state = (
      await dynamodb.send(
        new GetItemCommand({ TableName: setup.tableName, Key: { pk: { S: 'reconciler#state' } }, ConsistentRead: true }),
      )
    ).Item!;
    // The predictions' watermark keeps the names earlier versions wrote; the trainings' is beside it.
    expect(Object.keys(state)).toEqual(
      expect.arrayContaining([
        'completeBefore',
        'examinedFrom',
        'examinedUntil',
        'trainingsCompleteBefore',
        'trainingsExaminedUntil',
      ]),
    );
    expect(recovered(await setup.reconcile())).toEqual([]);
  });

  test('a training running for hours is followed by id at /v1/trainings/{id} and recorded when it finishes', async () => {
    const setup = await setUp();
    const created = minutesAgo(180);
    const training = trainingAtReplicate({ status: 'processing', created_at: created, completed_at: null, output: null });
    const { output: _none, ...starting } = training;
    expect(await recordWebhook(setup.store, { ...starting, status: 'starting', logs: '' })).toBe('accepted');
    expect(await setup.item(training.id)).toMatchObject({ kind: { S: 'training' }, follow: { S: 'open' } });
    replicate.putTraining({ ...training, status: 'succeeded', completed_at: minutesAgo(1) });
    const report = await setup.reconcile();
    expect(report.followed).toBe(1);
    expect(recovered(report)).toEqual([training.id]);
    expect(await setup.item(training.id)).toMatchObject({ kind: { S: 'training' }, terminalStatus: { S: 'succeeded' } });
    // The shared stand-in still lists an earlier test's malformed items: none of them is this one.
    expect(report.itemFailures.filter((failure) => failure.predictionId === training.id)).toEqual([]);
  });

  test('a training whose fetch fails is retried at /v1/trainings/{id} in a later run', async () => {
    const setup = await setUp();
    const training = trainingAtReplicate();
    replicate.faults.fail({ status: 503, path: `/v1/trainings/${training.id}` });
    const failed = await setup.reconcile();
    expect(recovered(failed)).toEqual([]);
    expect(await setup.retryItem(training.id)).toMatchObject({ kind: { S: 'training' } });
    replicate.faults.clear();
    const next = await setup.reconcile();
    expect(recovered(next)).toEqual([training.id]);
    expect(await setup.item(training.id)).toMatchObject({ kind: { S: 'training' } });
  });
});

describe('stuck archivals: queued again in turns, given up past the attempt cap', () => {
  async function stuckPrediction(setup: Setup, attempts = 0) {
    const id = newId();
    await recordWebhook(setup.store, { ...fixture('succeeded-images'), id, output: [] });
    if (attempts > 0) {
      await dynamodb.send(
        new UpdateItemCommand({
          TableName: setup.tableName,
          Key: { pk: { S: predictionItemKey(id) } },
          UpdateExpression: 'SET archiveAttempts = :n',
          ExpressionAttributeValues: { ':n': { N: String(attempts) } },
        }),
      );
    }
    return id;
  }

  test('a finished prediction not announced long after goes back to the archive queue; one left for a person does not', async () => {
    const setup = await setUp({ stuckAfterSeconds: 0 });
    const stuck = await stuckPrediction(setup);
    const deadLettered = await stuckPrediction(setup);
    // As versions before the failed partition left a prediction whose last try failed.
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
    expect(report.redriven).toContain(stuck);
    expect(report.redriven).not.toContain(deadLettered);
    const queued = [...(await setup.queued()), ...(await setup.queued())];
    expect(queued).toContain(stuck);
    expect(queued).not.toContain(deadLettered);
  });

  test('past the attempt cap a crashing archival is marked failed for a person, not queued again forever', async () => {
    const setup = await setUp({ stuckAfterSeconds: 0, maxArchiveAttempts: 5 });
    const hopeless = await stuckPrediction(setup, 5);
    const hopeful = await stuckPrediction(setup, 4);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const report = await setup.reconcile();
    expect(report.gaveUp).toEqual([hopeless]);
    expect(report.redriven).toEqual([hopeful]);
    expect(await setup.item(hopeless)).toMatchObject({
      archiveStatus: { S: 'failed' },
      archiveError: { S: 'attempts_exhausted' },
      archivePending: { S: 'failed' },
    });
    // Out of the pending partition: later runs neither queue it nor give it up again.
    const again = await setup.reconcile();
    expect(again.gaveUp).toEqual([]);
    expect(again.redriven).toEqual([hopeful]);
  });

  test('more stuck predictions than a run takes: the next run carries on, and wraps round to the oldest', async () => {
    const setup = await setUp({ stuckAfterSeconds: 0, limits: { stuckPerRun: 2 } });
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      ids.push(await stuckPrediction(setup));
      // Distinct terminal times, so the order is the order of creation.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const runs = [];
    for (let run = 0; run < 3; run++) runs.push((await setup.reconcile()).redriven);
    expect(runs).toEqual([ids.slice(0, 2), ids.slice(2, 4), [ids[4], ids[0]]]);
  });
});

describe('a table that stops answering', () => {
  // A run is handed 60 s (see setUp): its deadline is 45 s away.
  const DEADLINE_MS = 45_000;

  test('DynamoDB partitioned, its connections frozen: the run ends within seconds instead of running into its deadline; healed, the next run recovers as before', async () => {
    const proxy = await startTcpProxy(dynamoDbEndpoint());
    // As index.ts builds it, through the proxy.
    const table = new DynamoDBClient({ ...RECONCILER_CLIENTS.dynamodb, endpoint: proxy.endpoint });
    try {
      const setup = await setUp({ tableClient: table });
      const first = atReplicate();
      expect(recovered(await setup.reconcile())).toContain(first.id);
      proxy.partition();
      expect(proxy.frozen).toBeGreaterThan(0);

      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        setup.reconcile().then(
          () => 'completed',
          (error: Error) => `failed: ${error.name}`,
        ),
        new Promise<string>((resolve) => (timer = setTimeout(resolve, DEADLINE_MS, 'still running at its deadline'))),
      ]);
      clearTimeout(timer);
      // Its first read of the table (the ledger) fails after two tries of 2 s of silence.
      expect(ended).toBe('failed: TimeoutError');
      expect(performance.now() - started).toBeLessThan(DEADLINE_MS / 3);

      proxy.heal();
      const second = atReplicate();
      expect(recovered(await setup.reconcile())).toContain(second.id);
    } finally {
      table.destroy();
      await proxy.stop();
    }
  }, 120_000);
});
