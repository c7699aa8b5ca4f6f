/**
 * The chain-models example's handler end to end, against real peers: the Replicate API stand-in
 * (which records the predictions it is asked to create), fauxqs S3 (the archive, and the host the
 * presigned URL must really download from), DynamoDB Local (the claims table) and the Secrets
 * Manager stand-in (the token). The events carry a detail built by the archiver's own
 * `buildCompletionMessage`.
 */
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { EventBridgeEvent } from 'aws-lambda';
import { randomBytes, randomUUID } from 'node:crypto';
import { ChainInProgressError, handler, ReplicateRequestError } from '../../../examples/chain-models/handler';
import { CHAIN_ENV } from '../../../examples/chain-models/settings';
import { buildCompletionMessage, objectLocation, type CompletionMessage } from '../../../lambda/shared/completion-message';
import type { PredictionStatus } from '../../../lambda/shared/prediction';
import { startReplicateApi, type ReplicateApiStandIn } from '../../../local/standins/replicate-api';
import { startSecretsManager, type SecretsManagerStandIn } from '../../../local/aws/standins/secrets-manager';
import { dynamoDbEndpoint, useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';

const TOKEN = 'r8_chain_test_token_never_logged';
const WEBHOOK_URL = 'https://abc123.execute-api.us-east-1.amazonaws.com/webhook';
const BUCKET = 'chain-test-archive';
const CONTEXT = { getRemainingTimeInMillis: () => 30_000 };

let fauxqs: Fauxqs;
let secrets: SecretsManagerStandIn;
let replicate: ReplicateApiStandIn;
let dynamodb: DynamoDBClient;
let s3: S3Client;
let logged: string[];

beforeAll(async () => {
  fauxqs = await startFauxqs();
  fauxqs.createBucket(BUCKET);
  secrets = await startSecretsManager();
  replicate = await startReplicateApi({ token: TOKEN });
  useStandInEnvironment({ dynamodb: dynamoDbEndpoint(), s3: fauxqs.s3Endpoint, secretsmanager: secrets.endpoint });
  dynamodb = new DynamoDBClient({});
  s3 = new S3Client({});
});

afterAll(async () => {
  dynamodb.destroy();
  s3.destroy();
  await replicate.stop();
  await secrets.stop();
  await fauxqs.stop();
});

beforeEach(() => {
  logged = [];
  jest.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void logged.push(parts.join(' ')));
});
afterEach(() => jest.restoreAllMocks());

/** A fresh claims table and token secret, and the environment the stack would give the function. */
async function deploy(options: { nextModel?: string; tokenSecret?: string } = {}) {
  const claimsTable = `chain-claims-${randomUUID()}`;
  await dynamodb.send(
    new CreateTableCommand({
      TableName: claimsTable,
      AttributeDefinitions: [{ AttributeName: 'sourcePredictionId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'sourcePredictionId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const tokenSecretId = `replicate-token-${randomUUID()}`;
  secrets.putSecret(tokenSecretId, options.tokenSecret ?? JSON.stringify({ token: TOKEN }));
  Object.assign(process.env, {
    [CHAIN_ENV.tokenSecretId]: tokenSecretId,
    [CHAIN_ENV.apiBaseUrl]: replicate.endpoint,
    [CHAIN_ENV.nextModel]: options.nextModel ?? 'black-forest-labs/flux-kontext-pro',
    [CHAIN_ENV.nextInputField]: 'input_image',
    [CHAIN_ENV.nextInput]: JSON.stringify({ prompt: 'Make it a watercolour painting' }),
    [CHAIN_ENV.webhookUrl]: WEBHOOK_URL,
    [CHAIN_ENV.claimsTable]: claimsTable,
  });
  return { claimsTable };
}

/** An archived output in the bucket, and the completion event the archiver would put for it. */
async function archivedPrediction(status: PredictionStatus = 'succeeded', fileCount = 1) {
  const predictionId = randomUUID().replace(/-/g, '').slice(0, 26);
  const at = (key: string) => objectLocation(BUCKET, key);
  const bytes = randomBytes(2048);
  const files = [];
  for (let index = 0; index < fileCount; index++) {
    const key = `predictions/${predictionId}/outputs/${index}-out-${index}.webp`;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes, ContentType: 'image/webp' }));
    files.push({
      source: `https://replicate.delivery/xezq/${predictionId}/out-${index}.webp`,
      paths: [`[${index}]`],
      ...at(key),
      bytes: bytes.length,
      sha256: '00'.repeat(32),
      contentType: 'image/webp',
    });
  }
  const { message } = buildCompletionMessage(
    {
      id: predictionId,
      status,
      model: 'black-forest-labs/flux-schnell',
      version: 'hidden',
      output: files.map((file) => file.source),
      error: status === 'failed' ? 'CUDA out of memory' : null,
      metrics: { predict_time: 1.2 },
    },
    {
      predictionId,
      status,
      archivedAt: new Date().toISOString(),
      files,
      failures: [],
    },
    at(`predictions/${predictionId}/manifest.json`),
  );
  return { predictionId, bytes, message };
}

const event = (message: CompletionMessage): EventBridgeEvent<string, CompletionMessage> => ({
  version: '0',
  id: randomUUID(),
  'detail-type': `Replicate Prediction ${message.status[0].toUpperCase()}${message.status.slice(1)}`,
  source: 'replicate-webhooks',
  account: '123456789012',
  time: new Date().toISOString(),
  region: 'us-east-1',
  resources: [],
  detail: message,
});

const creations = () => replicate.requests.filter((request) => request.method === 'POST');

/** The prediction the stand-in created last, as GET /v1/predictions/{id} answers it. */
async function created(id: string) {
  const response = await fetch(`${replicate.endpoint}/v1/predictions/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as {
    model: string;
    version: string;
    input: Record<string, string>;
    webhook: string;
    webhook_events_filter: string[];
  };
}

test('a succeeded prediction starts the next model with a presigned URL of its archived output and the webhook URL', async () => {
  await deploy();
  const before = creations().length;
  const { predictionId, bytes, message } = await archivedPrediction();

  const result = await handler(event(message), CONTEXT);

  expect(result).toMatchObject({ sourcePredictionId: predictionId, outcome: 'started' });
  expect(creations().slice(before)).toEqual([
    expect.objectContaining({ path: '/v1/models/black-forest-labs/flux-kontext-pro/predictions', status: 201 }),
  ]);
  const next = await created(result.nextPredictionId!);
  expect(next).toMatchObject({
    model: 'black-forest-labs/flux-kontext-pro',
    input: { prompt: 'Make it a watercolour painting', input_image: expect.any(String) },
    webhook: WEBHOOK_URL,
    webhook_events_filter: ['completed'],
  });
  const url = new URL(next.input.input_image);
  expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
  expect(url.pathname).toContain(`predictions/${predictionId}/outputs/0-out-0.webp`);
  // Anyone holding the URL, no credentials, downloads the archived bytes.
  const download = await fetch(url);
  expect(download.status).toBe(200);
  expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
  expect(logged.join('\n')).not.toContain(TOKEN);
});

test('a model pinned to a version is started through POST /v1/predictions; a plain-text token secret works too', async () => {
  await deploy({
    nextModel: 'nightmareai/real-esrgan:f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa',
    tokenSecret: TOKEN,
  });
  const before = creations().length;
  const { message } = await archivedPrediction();

  const result = await handler(event(message), CONTEXT);

  expect(creations().slice(before)).toEqual([expect.objectContaining({ path: '/v1/predictions', status: 201 })]);
  // The bare version id, the form Replicate has always taken (the stand-in cannot tell its model).
  expect(await created(result.nextPredictionId!)).toMatchObject({
    version: 'f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa',
    webhook: WEBHOOK_URL,
  });
});

test('a redelivered event, or a second event for the same prediction, starts nothing more', async () => {
  const { claimsTable } = await deploy();
  const before = creations().length;
  const { predictionId, message } = await archivedPrediction();
  const first = event(message);

  const started = await handler(first, CONTEXT);
  const redelivered = await handler(first, CONTEXT);
  const putAgain = await handler(event(message), CONTEXT);

  expect(creations().slice(before)).toHaveLength(1);
  for (const duplicate of [redelivered, putAgain]) {
    expect(duplicate).toEqual({
      sourcePredictionId: predictionId,
      outcome: 'already_started',
      nextPredictionId: started.nextPredictionId,
    });
  }
  const claim = await dynamodb.send(
    new GetItemCommand({ TableName: claimsTable, Key: { sourcePredictionId: { S: predictionId } } }),
  );
  expect(claim.Item).toMatchObject({ state: { S: 'started' }, nextPredictionId: { S: started.nextPredictionId } });
});

test('two deliveries at once: one starts the model, the other is retried later and finds it started', async () => {
  await deploy();
  const before = creations().length;
  const { message } = await archivedPrediction();

  const results = await Promise.allSettled([handler(event(message), CONTEXT), handler(event(message), CONTEXT)]);

  expect(creations().slice(before)).toHaveLength(1);
  const outcomes = results.map((result) =>
    result.status === 'fulfilled' ? result.value.outcome : (result.reason as Error).constructor,
  );
  expect(outcomes).toContain('started');
  // The loser either saw the claim still held (and throws, so Lambda retries it) or already done.
  expect([ChainInProgressError, 'already_started']).toContain(outcomes.find((outcome) => outcome !== 'started'));
  expect((await handler(event(message), CONTEXT)).outcome).toBe('already_started');
});

test('Replicate failing: the invocation throws and releases its claim, and the retry starts the model once', async () => {
  await deploy();
  const before = creations().length;
  const { message } = await archivedPrediction();
  replicate.faults.fail({ status: 503, requests: 1, path: '/v1/models/black-forest-labs/flux-kontext-pro/predictions' });

  const failure = await handler(event(message), CONTEXT).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(ReplicateRequestError);
  expect((failure as ReplicateRequestError).status).toBe(503);

  const retried = await handler(event(message), CONTEXT);
  expect(retried.outcome).toBe('started');
  expect(
    creations()
      .slice(before)
      .map((request) => request.status),
  ).toEqual([503, 201]);
});

test('a refused token: the error says 401 and never carries the token', async () => {
  await deploy({ tokenSecret: JSON.stringify({ token: 'r8_revoked_token_never_logged' }) });
  const { message } = await archivedPrediction();
  // The previous tests cached the good token for a few minutes; a new module instance reads afresh.
  let isolated: typeof handler;
  jest.isolateModules(() => {
    isolated = (require('../../../examples/chain-models/handler') as typeof import('../../../examples/chain-models/handler'))
      .handler;
  });
  const failure = (await isolated!(event(message), CONTEXT).catch((error: unknown) => error)) as ReplicateRequestError;
  expect(failure.status).toBe(401);
  expect(failure.message).toMatch(/401/);
  expect(`${failure.message}${failure.stack}${logged.join('')}`).not.toContain('r8_revoked_token_never_logged');
});

test.each([
  ['a failed prediction', 'failed' as const, 1],
  ['a prediction without an archived file', 'succeeded' as const, 0],
])('%s starts nothing', async (_case, status, files) => {
  await deploy();
  const before = creations().length;
  const { message } = await archivedPrediction(status, files);
  expect((await handler(event(message), CONTEXT)).outcome).toBe('skipped');
  expect(creations().slice(before)).toEqual([]);
});
