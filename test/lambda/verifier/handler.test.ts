/**
 * The verifier handler against real peers: DynamoDB Local (through a switchable proxy, for
 * outages), the Secrets Manager stand-in, and fauxqs for the spill bucket.
 */
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { brotliDecompressSync } from 'node:zlib';
import { startSecretsManager, type SecretsManagerStandIn } from '../../../local/aws/standins/secrets-manager';
import { readVerifierConfig } from '../../../lambda/verifier/config';
import { verifierDependencies } from '../../../lambda/verifier/dependencies';
import { createVerifierHandler } from '../../../lambda/verifier/handler';
import { predictionItemKey } from '../../../lambda/shared/state';
import { createTestTable, dynamoDbEndpoint, storedPayload, useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy';
import { apiGatewayEvent, newSecret, newWebhookId, prediction, signedEvent } from '../../support/webhooks';

type Handler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

let fauxqs: Fauxqs;
let secrets: SecretsManagerStandIn;
let dynamodbProxy: TcpProxy;
let dynamodb: DynamoDBClient;
let s3: S3Client;
let tableName: string;
const bucketName = 'verifier-test-archive';
const secretName = 'replicate-signing-secret';
let secret: string;
let handler: Handler;

/** A cold start: a handler built as index.ts builds it, from this configuration. */
function coldStart(overrides: Record<string, string> = {}): Handler {
  const environment = {
    ...process.env,
    TABLE_NAME: tableName,
    SIGNING_SECRET_ID: secretName,
    BUCKET_NAME: bucketName,
    ARCHIVE_PREFIX: 'archive/',
    TIMESTAMP_TOLERANCE_SECONDS: '300',
    MAX_BODY_BYTES: String(6 * 1024 * 1024),
    MAX_INLINE_PAYLOAD_BYTES: String(16 * 1024),
    KEY_REFRESH_INTERVAL_SECONDS: '30',
    ...overrides,
  };
  // Powertools and the SDK read their own settings from the environment when they are built.
  Object.assign(process.env, {
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...Object.fromEntries(Object.entries(overrides).filter(([name]) => /^(POWERTOOLS|AWS)_/.test(name))),
  });
  return createVerifierHandler(verifierDependencies(readVerifierConfig(environment)));
}

beforeAll(async () => {
  fauxqs = await startFauxqs();
  fauxqs.createBucket(bucketName);
  secrets = await startSecretsManager();
  dynamodbProxy = await startTcpProxy(dynamoDbEndpoint());
  ({ tableName } = await createTestTable());
  useStandInEnvironment({ dynamodb: dynamodbProxy.endpoint, s3: fauxqs.s3Endpoint, secretsmanager: secrets.endpoint });
  secret = newSecret();
  secrets.putSecret(secretName, secret);
  dynamodb = new DynamoDBClient({ endpoint: dynamoDbEndpoint() });
  s3 = new S3Client({});
  handler = coldStart();
});

afterAll(async () => {
  dynamodb.destroy();
  s3.destroy();
  await dynamodbProxy.stop();
  await secrets.stop();
  await fauxqs.stop();
});

const newPredictionId = () =>
  `p${newWebhookId()
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()}`;
const send = async (event: APIGatewayProxyEventV2, target: Handler = handler) => {
  const response = await target(event);
  return { status: response.statusCode, body: JSON.parse(response.body ?? '{}') as Record<string, unknown> };
};
const deliver = (body: Record<string, unknown> | string | Buffer, options: Partial<Parameters<typeof signedEvent>[1]> = {}) =>
  send(signedEvent(body, { secret, ...options }));

async function spilledPayloads(predictionId: string): Promise<number> {
  const listed = await s3.send(
    new ListObjectsV2Command({ Bucket: bucketName, Prefix: `archive/webhook-payloads/${predictionId}/` }),
  );
  return listed.KeyCount ?? 0;
}

/** What DynamoDB bills for an item: UTF-8 bytes of every attribute name and value. */
const itemBytes = (item: Record<string, AttributeValue>): number =>
  Object.entries(item).reduce(
    (total, [name, value]) => total + Buffer.byteLength(name) + Buffer.byteLength(value.S ?? value.N ?? JSON.stringify(value)),
    0,
  );

async function predictionItem(predictionId: string): Promise<Record<string, AttributeValue> | undefined> {
  const { Item } = await dynamodb.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: predictionItemKey(predictionId) } }, ConsistentRead: true }),
  );
  return Item;
}

describe('outcomes', () => {
  test('a new prediction is accepted and recorded before the answer', async () => {
    const id = newPredictionId();
    const webhookId = newWebhookId();
    const response = await deliver(prediction(id, 'starting'), { webhookId });
    expect(response).toEqual({ status: 200, body: { outcome: 'accepted', predictionId: id, webhookId } });
    const item = await predictionItem(id);
    expect(item).toMatchObject({
      status: { S: 'starting' },
      statusRank: { N: '1' },
      webhookCount: { N: '1' },
      lastWebhookId: { S: webhookId },
      model: { S: 'black-forest-labs/flux-schnell' },
    });
    // Intermediate webhooks record progress, not the payload.
    expect(item?.payload).toBeUndefined();
    expect(item?.terminalStatus).toBeUndefined();
  });

  test('a repeated webhook-id is a duplicate and changes nothing', async () => {
    const id = newPredictionId();
    const webhookId = newWebhookId();
    await deliver(prediction(id, 'processing'), { webhookId });
    const before = await predictionItem(id);
    const again = await deliver(prediction(id, 'processing'), { webhookId });
    expect(again).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
    expect(await predictionItem(id)).toEqual(before);
  });

  test('a webhook-id sent again with another body is a conflict: 409, nothing changed, nothing swapped', async () => {
    const id = newPredictionId();
    const webhookId = newWebhookId();
    await deliver(prediction(id, 'processing'), { webhookId });
    const before = await predictionItem(id);
    const other = await deliver(prediction(id, 'processing', { logs: 'different' }), { webhookId });
    expect(other).toMatchObject({ status: 409, body: { error: 'webhook_id_conflict' } });
    expect(await predictionItem(id)).toEqual(before);

    // The terminal one too: the record and the payload it points at stay the first body's.
    const terminalId = newWebhookId();
    const succeeded = prediction(id, 'succeeded', { output: ['https://replicate.delivery/a.png'] });
    expect(await deliver(succeeded, { webhookId: terminalId })).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
    const failed = prediction(id, 'failed', { output: ['https://replicate.delivery/b.png'] });
    expect(await deliver(failed, { webhookId: terminalId })).toMatchObject({
      status: 409,
      body: { error: 'webhook_id_conflict' },
    });
    const record = await predictionItem(id);
    expect(record?.status?.S).toBe('succeeded');
    expect(JSON.parse((await storedPayload(dynamodb, tableName, record))!)).toMatchObject({ status: 'succeeded' });
  });

  test('a status regression is stale and changes nothing', async () => {
    const id = newPredictionId();
    await deliver(prediction(id, 'processing'));
    const before = await predictionItem(id);
    expect(await deliver(prediction(id, 'starting'))).toMatchObject({ status: 200, body: { outcome: 'stale' } });
    expect(await predictionItem(id)).toEqual(before);
  });

  test('an older webhook of the same status does not overwrite a newer one', async () => {
    const id = newPredictionId();
    const now = Math.floor(Date.now() / 1000);
    await deliver(prediction(id, 'processing', { logs: 'newer logs, longer' }), { timestamp: now });
    expect(await deliver(prediction(id, 'processing', { logs: 'old' }), { timestamp: now - 5 })).toMatchObject({
      body: { outcome: 'stale' },
    });
    expect((await predictionItem(id))?.logsBytes).toEqual({ N: String('newer logs, longer'.length) });
    expect(await deliver(prediction(id, 'processing', { logs: 'newest logs, longest' }), { timestamp: now })).toMatchObject({
      body: { outcome: 'accepted' },
    });
  });

  test('the terminal state is recorded once, verbatim, then frozen', async () => {
    const id = newPredictionId();
    await deliver(prediction(id, 'processing'));
    const terminal = JSON.stringify(prediction(id, 'succeeded', { logs: 'naïve ✓ 🎉' }), null, 2);
    expect(await deliver(terminal)).toMatchObject({ body: { outcome: 'accepted' } });
    const frozen = await predictionItem(id);
    expect(frozen).toMatchObject({
      status: { S: 'succeeded' },
      terminalStatus: { S: 'succeeded' },
      archiveStatus: { S: 'pending' },
    });
    expect(await storedPayload(dynamodb, tableName, frozen)).toBe(terminal);

    for (const later of [prediction(id, 'processing'), prediction(id, 'failed'), prediction(id, 'succeeded')]) {
      expect(await deliver(later)).toMatchObject({ status: 200, body: { outcome: 'after_terminal' } });
    }
    expect(await predictionItem(id)).toEqual(frozen);
  });

  test('a prediction first seen in a terminal state is recorded (start webhooks are optional)', async () => {
    const id = newPredictionId();
    expect(await deliver(prediction(id, 'canceled'))).toMatchObject({ body: { outcome: 'accepted' } });
    expect((await predictionItem(id))?.terminalStatus).toEqual({ S: 'canceled' });
  });

  test('a webhook writes the prediction record alone: nothing that expires', async () => {
    const id = newPredictionId();
    const webhookId = newWebhookId();
    await deliver(prediction(id, 'starting'), { webhookId });
    const item = await predictionItem(id);
    expect(item?.lastWebhookId).toEqual({ S: webhookId });
    expect(item?.expiresAt).toBeUndefined();
  });

  test('an earlier webhook delivered again, after a later one was recorded, is stale and changes nothing', async () => {
    const id = newPredictionId();
    const now = Math.floor(Date.now() / 1000);
    const first = { webhookId: newWebhookId(), timestamp: now - 2 };
    await deliver(prediction(id, 'processing', { logs: 'a' }), first);
    await deliver(prediction(id, 'processing', { logs: 'ab' }), { timestamp: now - 1 });
    const before = await predictionItem(id);
    expect(await deliver(prediction(id, 'processing', { logs: 'a' }), first)).toMatchObject({ body: { outcome: 'stale' } });
    expect(await predictionItem(id)).toEqual(before);
  });

  test('within the same second, the webhook with more progress wins, and the same one never twice', async () => {
    const id = newPredictionId();
    const now = Math.floor(Date.now() / 1000);
    const less = { webhookId: newWebhookId(), timestamp: now };
    await deliver(prediction(id, 'processing', { logs: 'a' }), less);
    expect(await deliver(prediction(id, 'processing', { logs: 'ab' }), { timestamp: now })).toMatchObject({
      body: { outcome: 'accepted' },
    });
    const before = await predictionItem(id);
    expect(await deliver(prediction(id, 'processing', { logs: 'a' }), less)).toMatchObject({ body: { outcome: 'stale' } });
    expect(await deliver(prediction(id, 'processing', { logs: 'ab' }), { timestamp: now })).toMatchObject({
      body: { outcome: 'stale' },
    });
    expect(await predictionItem(id)).toEqual(before);
    expect(before?.webhookCount).toEqual({ N: '2' });
  });

  test('the latest webhook redelivered with a new signature and timestamp is still a duplicate', async () => {
    const id = newPredictionId();
    const now = Math.floor(Date.now() / 1000);
    const webhookId = newWebhookId();
    await deliver(prediction(id, 'processing', { logs: 'a' }), { webhookId, timestamp: now - 10 });
    const before = await predictionItem(id);
    expect(await deliver(prediction(id, 'processing', { logs: 'a' }), { webhookId, timestamp: now })).toMatchObject({
      body: { outcome: 'duplicate' },
    });
    expect(await predictionItem(id)).toEqual(before);
  });

  test('a base64-encoded body is verified and recorded on its decoded bytes', async () => {
    const id = newPredictionId();
    const event = signedEvent(prediction(id, 'starting'), { secret, base64: true });
    expect(event.isBase64Encoded).toBe(true);
    expect(await send(event)).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
  });
});

describe('out-of-order and duplicated deliveries', () => {
  const lifecycle = (id: string) => {
    const start = Math.floor(Date.now() / 1000) - 60;
    return [
      { id: newWebhookId(), timestamp: start, body: prediction(id, 'starting') },
      { id: newWebhookId(), timestamp: start + 1, body: prediction(id, 'processing', { logs: 'a' }) },
      { id: newWebhookId(), timestamp: start + 2, body: prediction(id, 'processing', { logs: 'ab' }) },
      { id: newWebhookId(), timestamp: start + 3, body: prediction(id, 'succeeded') },
    ];
  };

  test('any order, any duplicates: the terminal state wins exactly once and nothing goes backwards', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(fc.nat(3), { minLength: 4, maxLength: 10 })
          .chain((duplicates) => fc.shuffledSubarray([0, 1, 2, 3, ...duplicates], { minLength: 4 + duplicates.length })),
        async (order) => {
          const id = newPredictionId();
          const webhooks = lifecycle(id);
          // "duplicate" means: the webhook the record was last changed by. Any other webhook
          // not ahead of the record (rank, then timestamp: distinct here) is stale.
          const ranks = [1, 2, 2, 3];
          const ahead = (index: number, than: number) =>
            ranks[index] > ranks[than] || (ranks[index] === ranks[than] && webhooks[index].timestamp > webhooks[than].timestamp);
          let last: number | undefined;
          const accepted = new Set<number>();
          let acceptedTerminal = 0;
          for (const index of order) {
            const webhook = webhooks[index];
            const { status, body } = await deliver(webhook.body, { webhookId: webhook.id, timestamp: webhook.timestamp });
            expect(status).toBe(200);
            if (last === undefined) expect(body.outcome).toBe('accepted');
            else if (last === index) expect(body.outcome).toBe('duplicate');
            else if (ranks[last] === 3) expect(body.outcome).toBe('after_terminal');
            else expect(body.outcome).toBe(ahead(index, last) ? 'accepted' : 'stale');
            if (body.outcome === 'accepted') {
              expect(accepted.has(index)).toBe(false);
              accepted.add(index);
              last = index;
              if (index === 3) acceptedTerminal++;
            }
          }
          expect(acceptedTerminal).toBe(1);
          expect(await predictionItem(id)).toMatchObject({ status: { S: 'succeeded' }, terminalStatus: { S: 'succeeded' } });
        },
      ),
      { numRuns: 12 },
    );
  });

  test('concurrent deliveries of the same terminal webhook: exactly one wins', async () => {
    const id = newPredictionId();
    await deliver(prediction(id, 'processing'));
    const event = signedEvent(prediction(id, 'succeeded'), { secret });
    const responses = await Promise.all(Array.from({ length: 12 }, () => send(event)));
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
    const outcomes = responses.map((r) => r.body.outcome);
    expect(outcomes.filter((o) => o === 'accepted')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(11);
  });

  test('concurrent different terminal webhooks: exactly one terminal state is recorded', async () => {
    const id = newPredictionId();
    const statuses = ['succeeded', 'failed', 'canceled', 'aborted', 'succeeded', 'failed'];
    const responses = await Promise.all(statuses.map((status) => deliver(prediction(id, status))));
    const accepted = responses.filter((r) => r.body.outcome === 'accepted');
    expect(accepted).toHaveLength(1);
    expect(responses.filter((r) => r.body.outcome === 'after_terminal')).toHaveLength(statuses.length - 1);
    const item = await predictionItem(id);
    expect(statuses).toContain(item?.terminalStatus?.S);
  });
});

describe('bad input gets a clear 4xx and touches nothing', () => {
  test.each([
    ['no signature headers', { 'webhook-signature': undefined }, 401, 'missing_headers'],
    ['a forged signature', { 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') }, 401, 'bad_signature'],
    ['only a v2 signature', { 'webhook-signature': 'v2,' + Buffer.alloc(32).toString('base64') }, 401, 'no_v1_signature'],
    [
      'a stale timestamp (replay)',
      { 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) },
      401,
      'timestamp_out_of_tolerance',
    ],
  ])('%s', async (_name, headers, status, reason) => {
    const id = newPredictionId();
    const event = signedEvent(prediction(id, 'starting'), { secret, headers });
    expect(await send(event)).toEqual({ status, body: { error: reason } });
    expect(await predictionItem(id)).toBeUndefined();
  });

  test('a body signed with another key → 401', async () => {
    expect(await deliver(prediction(newPredictionId(), 'starting'), { secret: newSecret() })).toEqual({
      status: 401,
      body: { error: 'bad_signature' },
    });
  });

  test.each([
    ['not JSON', 'hello', 'invalid_json'],
    ['an empty body', '', 'empty_body'],
    ['a JSON array', '[]', 'not_a_prediction'],
    ['no id', JSON.stringify({ status: 'starting' }), 'invalid_prediction_id'],
    ['an id that is not a key segment', JSON.stringify({ id: '../etc', status: 'starting' }), 'invalid_prediction_id'],
    ['an unknown status', JSON.stringify({ id: 'abc', status: 'queued' }), 'unknown_status'],
  ])('a signed body that is %s → 400', async (_name, body, reason) => {
    expect(await deliver(body)).toEqual({ status: 400, body: { error: reason } });
  });

  test('a body over the limit → 413, before any signature work', async () => {
    const small = coldStart({ MAX_BODY_BYTES: '1024' });
    const event = apiGatewayEvent(Buffer.alloc(2048, 'a'), { 'content-type': 'application/json' });
    expect(await send(event, small)).toEqual({ status: 413, body: { error: 'payload_too_large' } });
  });

  test('no answer ever carries a stack trace', async () => {
    const event = signedEvent('{"id": "x", "status": "starting"', { secret });
    const response = await handler(event);
    expect(response.body).not.toMatch(/\bat\s|Error|\.ts:/);
  });
});

describe('what can never be stored is refused with a 4xx before anything is written', () => {
  const big = 'x'.repeat(400 * 1024);

  test.each(['model', 'version', 'created_at', 'started_at', 'completed_at'])(
    'a terminal payload with a 400 KB `%s` → 400 field_too_large; no item, nothing spilled',
    async (field) => {
      const id = newPredictionId();
      const webhookId = newWebhookId();
      expect(await deliver(prediction(id, 'succeeded', { [field]: big }), { webhookId })).toEqual({
        status: 400,
        body: { error: 'field_too_large' },
      });
      expect(await predictionItem(id)).toBeUndefined();
      expect(await spilledPayloads(id)).toBe(0);
    },
  );

  test('an intermediate payload with a 400 KB `model` → 400 field_too_large', async () => {
    const id = newPredictionId();
    expect(await deliver(prediction(id, 'processing', { model: big }))).toEqual({
      status: 400,
      body: { error: 'field_too_large' },
    });
    expect(await predictionItem(id)).toBeUndefined();
  });

  test('fields at their bounds are recorded, one character more is refused; the intermediate item stays small', async () => {
    const atBounds = {
      model: 'm'.repeat(256),
      version: 'v'.repeat(256),
      created_at: 'c'.repeat(64),
      started_at: 's'.repeat(64),
      completed_at: 'd'.repeat(64),
    };
    const id = newPredictionId();
    const logs = 'step ✓\n'.repeat(150_000); // ~1.3 MB of logs: counted, not stored
    expect(await deliver(prediction(id, 'processing', { ...atBounds, logs }))).toMatchObject({
      status: 200,
      body: { outcome: 'accepted' },
    });
    const item = await predictionItem(id);
    expect(item?.model).toEqual({ S: atBounds.model });
    expect(itemBytes(item!)).toBeLessThan(2048);

    for (const [field, value] of Object.entries(atBounds)) {
      const over = prediction(newPredictionId(), 'processing', { ...atBounds, [field]: `${value}x` });
      expect(await deliver(over)).toEqual({ status: 400, body: { error: 'field_too_large' } });
    }
  });

  test('a lone surrogate in a copied field → 400 invalid_field (refused, not rewritten)', async () => {
    const id = newPredictionId();
    const body = `{"id":"${id}","status":"succeeded","model":"owner/model-\\ud800","output":null}`;
    expect(await deliver(body)).toEqual({ status: 400, body: { error: 'invalid_field' } });
    expect(await predictionItem(id)).toBeUndefined();
  });

  test('a terminal payload too large for any item, even compressed, is spilled, whatever maxInlinePayloadSize says', async () => {
    const generous = coldStart({ MAX_INLINE_PAYLOAD_BYTES: String(1024 * 1024) });
    const id = newPredictionId();
    // Random base64 compresses to about ¾: 530 KB of it is about 400 KB compressed, over the 256 KiB ceiling.
    const body = Buffer.from(JSON.stringify(prediction(id, 'succeeded', { logs: randomBytes(400 * 1024).toString('base64') })));
    expect(await send(signedEvent(body, { secret }), generous)).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
    const item = await predictionItem(id);
    expect(item?.payload).toBeUndefined();
    expect(item?.payloadItem).toBeUndefined();
    expect(item?.payloadKey?.S).toMatch(`webhook-payloads/${id}/`);
    // Up to the ceiling, the configured size still decides: 200 KB of random base64 is about 150 KB compressed.
    const inlineId = newPredictionId();
    const inline = Buffer.from(
      JSON.stringify(prediction(inlineId, 'succeeded', { logs: randomBytes(150 * 1024).toString('base64') })),
    );
    expect(await send(signedEvent(inline, { secret }), generous)).toMatchObject({ status: 200 });
    expect(await storedPayload(dynamodb, tableName, await predictionItem(inlineId))).toBe(inline.toString());
  });

  test('a terminal payload is kept Brotli-compressed: 40 KB of logs that compress under the 16 KiB limit stay in the table', async () => {
    const id = newPredictionId();
    const logs = Array.from(
      { length: 1000 },
      (_, i) =>
        `${String(Math.floor(i / 10)).padStart(3)}%|${'#'.repeat(i % 11)}| ${i}/1000 [00:${i % 60}<01:00, ${(4 + Math.sin(i)).toFixed(2)}it/s]`,
    ).join('\n');
    const body = Buffer.from(JSON.stringify(prediction(id, 'succeeded', { logs })));
    expect(body.length).toBeGreaterThan(40 * 1024);
    expect(await deliver(body, { base64: true })).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
    const record = await predictionItem(id);
    expect(record?.payloadKey).toBeUndefined();
    expect(await spilledPayloads(id)).toBe(0);
    const { Item: payloadItem } = await dynamodb.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: record!.payloadItem }, ConsistentRead: true }),
    );
    expect(payloadItem?.payload).toBeUndefined();
    const compressed = Buffer.from(payloadItem!.payloadBr.B!);
    expect(compressed.length).toBeLessThanOrEqual(16 * 1024);
    // Plain Brotli of the very bytes that were signed; the record's size and the key's digest are the raw body's.
    expect(brotliDecompressSync(compressed).equals(body)).toBe(true);
    expect(record?.payloadBytes).toEqual({ N: String(body.length) });
    const digest = createHash('sha256').update(body).digest().subarray(0, 16).toString('base64url');
    expect(record?.payloadItem?.S).toBe(`payload#${id}#${digest}`);
  });
});

describe('bodies that are not UTF-8', () => {
  const notUtf8 = (id: string, padding = 0) =>
    Buffer.concat([
      Buffer.from(`{"id":"${id}","status":"succeeded","output":null,"logs":"${'.'.repeat(padding)}`),
      Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]),
      Buffer.from('"}'),
    ]);

  test.each([
    ['inline', 0],
    ['spill', 64 * 1024],
  ])('signed, of %s size → 400 invalid_utf8; nothing recorded, nothing spilled', async (_size, padding) => {
    const id = newPredictionId();
    const webhookId = newWebhookId();
    const event = signedEvent(notUtf8(id, padding), { secret, webhookId, base64: true });
    expect(await send(event)).toEqual({ status: 400, body: { error: 'invalid_utf8' } });
    expect(await predictionItem(id)).toBeUndefined();
    expect(await spilledPayloads(id)).toBe(0);
  });

  test('forged → 401 bad_signature: the signature is checked first', async () => {
    const event = signedEvent(notUtf8(newPredictionId()), { secret: newSecret(), base64: true });
    expect(await send(event)).toEqual({ status: 401, body: { error: 'bad_signature' } });
  });

  test('valid UTF-8 sent as bytes is stored verbatim inline', async () => {
    const id = newPredictionId();
    const body = Buffer.from(JSON.stringify(prediction(id, 'succeeded', { logs: 'naïve ✓ 🎉 日本語' })));
    expect(await send(signedEvent(body, { secret, base64: true }))).toMatchObject({ status: 200 });
    expect(Buffer.from((await storedPayload(dynamodb, tableName, await predictionItem(id)))!, 'utf8').equals(body)).toBe(true);
  });
});

describe('large payloads', () => {
  test('a 5 MB terminal payload is spilled to S3 first and round-trips byte-exact', async () => {
    const id = newPredictionId();
    const logs = Array.from({ length: 80_000 }, (_, i) => `step ${i}: loss=${Math.sin(i).toFixed(6)} ✓`).join('\n');
    const body = Buffer.from(JSON.stringify(prediction(id, 'succeeded', { logs: logs.padEnd(5 * 1024 * 1024, '.') })));
    expect(body.length).toBeGreaterThan(5 * 1024 * 1024);
    const webhookId = newWebhookId();
    expect(await deliver(body, { webhookId })).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
    const item = await predictionItem(id);
    expect(item?.payload).toBeUndefined();
    expect(item?.payloadBucket).toEqual({ S: bucketName });
    const digest = createHash('sha256').update(body).digest().subarray(0, 16).toString('base64url');
    expect(item?.payloadKey?.S).toBe(`archive/webhook-payloads/${id}/${digest}.json`);
    expect(item?.payloadBytes).toEqual({ N: String(body.length) });
    const stored = await s3.send(new GetObjectCommand({ Bucket: bucketName, Key: item!.payloadKey.S! }));
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(body)).toBe(true);
  });
});

describe('our own failures answer 5xx, so Replicate retries', () => {
  test('DynamoDB unreachable → 503; the retry of the same webhook-id is then accepted, not a duplicate', async () => {
    const id = newPredictionId();
    const event = signedEvent(prediction(id, 'succeeded'), { secret });
    dynamodbProxy.down();
    try {
      expect(await send(event)).toEqual({ status: 503, body: { error: 'state_store_unavailable' } });
    } finally {
      dynamodbProxy.up();
    }
    expect(await predictionItem(id)).toBeUndefined();
    expect(await send(event)).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
    expect(await send(event)).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
  });

  test.each([
    ['an intermediate webhook', 'processing', 1],
    // The payload's own item is written first; the record's write is the second.
    ['a terminal webhook', 'succeeded', 2],
  ] as const)('%s whose write was applied but whose reply was lost is answered 200: it is recorded', async (_, status, nth) => {
    const id = newPredictionId();
    const webhookId = newWebhookId();
    const lostBefore = dynamodbProxy.lostReplies;
    dynamodbProxy.loseReplies(1, nth);
    try {
      // The SDK's retry meets the write already applied, by this very webhook.
      expect(await deliver(prediction(id, status), { webhookId })).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
      expect(dynamodbProxy.lostReplies - lostBefore).toBe(1);
    } finally {
      dynamodbProxy.loseReplies(0);
    }
    expect(await predictionItem(id)).toMatchObject({ status: { S: status }, lastWebhookId: { S: webhookId } });
  });

  test('the spill bucket unavailable → 503 and nothing recorded', async () => {
    const broken = coldStart({ BUCKET_NAME: 'no-such-bucket', MAX_INLINE_PAYLOAD_BYTES: '10' });
    const id = newPredictionId();
    const event = signedEvent(prediction(id, 'succeeded'), { secret });
    expect(await send(event, broken)).toEqual({ status: 503, body: { error: 'payload_store_unavailable' } });
    expect(await predictionItem(id)).toBeUndefined();
  });

  test('Secrets Manager down at a cold start → 503; back up → accepted', async () => {
    const cold = coldStart();
    secrets.available = false;
    try {
      expect(await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).toEqual({
        status: 503,
        body: { error: 'signing_key_unavailable' },
      });
    } finally {
      secrets.available = true;
    }
    expect(await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).toMatchObject({ status: 200 });
  });

  test('a secret nobody has set yet → 503 (not 401): the operator must act, Replicate should retry', async () => {
    const unset = 'unset-secret';
    secrets.putSecret(unset, 'Q2hhbmdlTWVQbGVhc2VDaGFuZ2VNZQ');
    const cold = coldStart({ SIGNING_SECRET_ID: unset });
    expect(await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).toEqual({
      status: 503,
      body: { error: 'signing_key_unavailable' },
    });
  });
});

/**
 * A partition: the dependency accepts connections, or has them open already, and never answers.
 * The verifier must give its 5xx within PARTITION_ANSWER_MS (its settings add up to about
 * 2.05 s), not wait out its 10 s timeout. Answers are awaited for that timeout at most, so a
 * hang fails the test instead of holding it.
 */
describe('a dependency that stops answering gets a 5xx in seconds, not a hang', () => {
  const PARTITION_ANSWER_MS = 3000;
  const VERIFIER_TIMEOUT_MS = 10_000;

  /** The handler's answer and how long it took; `answer` is undefined when none came within the verifier's timeout. */
  async function timed(event: APIGatewayProxyEventV2, target: Handler) {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const answer = await Promise.race([
      send(event, target),
      new Promise<undefined>((resolve) => (timer = setTimeout(resolve, VERIFIER_TIMEOUT_MS, undefined))),
    ]);
    clearTimeout(timer);
    return { answer, ms: Math.round(performance.now() - started) };
  }

  /** A cold start whose `variable` endpoint goes through its own proxy; restored after `use`. */
  async function throughOwnProxy(
    variable: 'AWS_ENDPOINT_URL_DYNAMODB' | 'AWS_ENDPOINT_URL_SECRETS_MANAGER' | 'AWS_ENDPOINT_URL_S3',
    target: string,
    use: (proxy: TcpProxy, cold: Handler) => Promise<void>,
    overrides: Record<string, string> = {},
  ): Promise<void> {
    const proxy = await startTcpProxy(target);
    const saved = process.env[variable];
    try {
      // S3 keeps the bucket in the host name (virtual-hosted style): only the port changes.
      const endpoint = variable === 'AWS_ENDPOINT_URL_S3' ? `http://s3.localhost:${proxy.port}` : proxy.endpoint;
      await use(proxy, coldStart({ [variable]: endpoint, ...overrides }));
    } finally {
      process.env[variable] = saved;
      // Cuts whatever still waits on it, so nothing outlives the test.
      await proxy.stop();
    }
  }

  test('DynamoDB partitioned, warm (its open keep-alive connection frozen): 503 within 3 s; healed, the next delivery is accepted at once, through a new connection', async () => {
    await throughOwnProxy('AWS_ENDPOINT_URL_DYNAMODB', dynamoDbEndpoint(), async (proxy, cold) => {
      expect(await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).toMatchObject({ status: 200 });
      proxy.partition();
      expect(proxy.frozen).toBeGreaterThan(0);

      const id = newPredictionId();
      const event = signedEvent(prediction(id, 'succeeded'), { secret });
      const partitioned = await timed(event, cold);
      expect(partitioned.answer).toEqual({ status: 503, body: { error: 'state_store_unavailable' } });
      expect(partitioned.ms).toBeLessThan(PARTITION_ANSWER_MS);
      expect(await predictionItem(id)).toBeUndefined();

      proxy.heal();
      const healed = await timed(event, cold);
      expect(healed.answer).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
      // The connections the partition froze or held were given up, not kept for later.
      expect(proxy.sentToDeadConnections).toBe(0);
      expect(healed.ms).toBeLessThan(PARTITION_ANSWER_MS);
    });
  });

  test('a keep-alive connection that died silently while idle costs one short wait, then a new connection: accepted, not 503', async () => {
    await throughOwnProxy('AWS_ENDPOINT_URL_DYNAMODB', dynamoDbEndpoint(), async (proxy, cold) => {
      expect(await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).toMatchObject({ status: 200 });
      // A partition nobody met, over before the next webhook: its connection stays dead.
      proxy.partition();
      proxy.heal();
      const next = await timed(signedEvent(prediction(newPredictionId(), 'succeeded'), { secret }), cold);
      expect(next.answer).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
      expect(proxy.sentToDeadConnections).toBeGreaterThan(0);
      expect(next.ms).toBeLessThan(PARTITION_ANSWER_MS);
    });
  });

  test('Secrets Manager partitioned at a cold start: 503 signing_key_unavailable within 3 s; healed, the next delivery is accepted', async () => {
    await throughOwnProxy('AWS_ENDPOINT_URL_SECRETS_MANAGER', secrets.endpoint, async (proxy, cold) => {
      proxy.partition();
      const partitioned = await timed(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold);
      expect(partitioned.answer).toEqual({ status: 503, body: { error: 'signing_key_unavailable' } });
      expect(partitioned.ms).toBeLessThan(PARTITION_ANSWER_MS);
      expect(proxy.held).toBeGreaterThan(0);

      proxy.heal();
      const healed = await timed(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold);
      expect(healed.answer).toMatchObject({ status: 200, body: { outcome: 'accepted' } });
      expect(proxy.sentToDeadConnections).toBe(0);
      expect(healed.ms).toBeLessThan(PARTITION_ANSWER_MS);
    });
  });

  test('S3 partitioned under a 3 MB terminal payload (sent with Expect: 100-continue): 503 payload_store_unavailable within 3 s, nothing recorded', async () => {
    await throughOwnProxy('AWS_ENDPOINT_URL_S3', fauxqs.endpoint, async (proxy, cold) => {
      proxy.partition();
      const id = newPredictionId();
      // Random, so that it goes to S3 compressed too (3 MB of one character would compress to 3 KB).
      const body = JSON.stringify(prediction(id, 'succeeded', { logs: randomBytes(2.25 * 1024 * 1024).toString('base64') }));
      const partitioned = await timed(signedEvent(body, { secret }), cold);
      expect(partitioned.answer).toEqual({ status: 503, body: { error: 'payload_store_unavailable' } });
      expect(partitioned.ms).toBeLessThan(PARTITION_ANSWER_MS);
      expect(await predictionItem(id)).toBeUndefined();
    });
  });
});

describe('the signing key cache', () => {
  test('one Secrets Manager call serves many webhooks', async () => {
    const rotating = 'cache-secret';
    secrets.putSecret(rotating, secret);
    const cold = coldStart({ SIGNING_SECRET_ID: rotating });
    const before = secrets.getCalls;
    for (let i = 0; i < 5; i++)
      expect((await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).status).toBe(200);
    expect(secrets.getCalls - before).toBe(1);
  });

  test.each([
    ['holds a value that no longer parses', 'invalid_secret'],
    ['cannot be read (Secrets Manager down)', 'secret_unavailable'],
  ])(
    'a secret that, once cached, %s: 401 on a mismatch as before, and the failed reread is logged and counted',
    async (_case, reason) => {
      const name = `breaking-secret-${reason}`;
      secrets.putSecret(name, secret);
      const cold = coldStart({
        SIGNING_SECRET_ID: name,
        KEY_REFRESH_INTERVAL_SECONDS: '1',
        POWERTOOLS_LOG_LEVEL: 'WARN',
        POWERTOOLS_METRICS_DISABLED: 'false',
      });
      const brokenValue = 'whsec_not base64!';
      const output: string[] = [];
      const spies = [process.stdout, process.stderr].map((stream) =>
        jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
          output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
          return true;
        }),
      );
      try {
        expect((await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).status).toBe(200);
        if (reason === 'invalid_secret') secrets.putSecret(name, brokenValue);
        else secrets.available = false;
        await new Promise((resolve) => setTimeout(resolve, 1100));
        const forged = signedEvent(prediction(newPredictionId(), 'starting'), { secret: newSecret() });
        expect(await send(forged, cold)).toEqual({ status: 401, body: { error: 'bad_signature' } });
        // The cached key goes on verifying.
        expect((await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).status).toBe(200);
      } finally {
        spies.forEach((spy) => spy.mockRestore());
        secrets.available = true;
      }

      const lines = output
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'WARN', message: 'signing secret refetch failed; using the cached keys', reason }),
      );
      expect(lines).toContainEqual(expect.objectContaining({ SigningKeyRefreshFailed: 1, reason }));
      const printed = output.join('');
      expect(printed).not.toContain(secret.slice('whsec_'.length));
      expect(printed).not.toContain(brokenValue.slice('whsec_'.length));
    },
  );

  test('a rotated key takes effect without a cold start; forged requests cause at most one refetch per interval', async () => {
    const rotating = 'rotating-secret';
    secrets.putSecret(rotating, secret);
    const cold = coldStart({ SIGNING_SECRET_ID: rotating, KEY_REFRESH_INTERVAL_SECONDS: '1' });
    expect((await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret }), cold)).status).toBe(200);

    const rotated = newSecret();
    secrets.putSecret(rotating, rotated);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const callsBefore = secrets.getCalls;
    expect((await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret: rotated }), cold)).status).toBe(200);
    expect(secrets.getCalls - callsBefore).toBe(1);

    for (let i = 0; i < 20; i++) {
      expect((await send(signedEvent(prediction(newPredictionId(), 'starting'), { secret: newSecret() }), cold)).status).toBe(
        401,
      );
    }
    expect(secrets.getCalls - callsBefore).toBe(1);
  });
});
