/**
 * The verifier's store on its own, against DynamoDB Local: its one write applies exactly the
 * state rule, costs one write unit for an intermediate webhook, which failures are worth a retry
 * (5xx) and which can never succeed, and where a terminal payload goes.
 */
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes, randomUUID } from 'node:crypto';
import { brotliDecompressSync } from 'node:zlib';
import { compressPayload, payloadOfItem } from '../../../lambda/shared/payload-item';
import { STATUS_RANK, type Prediction, type PredictionStatus } from '../../../lambda/shared/prediction';
import {
  FOLLOW_INDEX,
  MAX_INLINE_PAYLOAD_BYTES,
  decideTransition,
  predictionItemKey,
  type StoredProgress,
} from '../../../lambda/shared/state';
import {
  RecordTooLargeError,
  StoreUnavailableError,
  WebhookStore,
  bodySha256,
  buildPayloadItem,
  buildUpdate,
  placePayload,
  type InlinePlacement,
  validationFailure,
  type StoreSettings,
  type WebhookRecord,
} from '../../../lambda/store/webhook-store';
import { itemSize } from '../../../bench/write-units';
import { createTestTable, dynamoDbEndpoint } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';

const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
let dynamodb: DynamoDBClient;
let s3: S3Client;
let tableName: string;

beforeAll(async () => {
  dynamodb = new DynamoDBClient({ endpoint: dynamoDbEndpoint(), ...local });
  // Never called: these records are not spilled.
  s3 = new S3Client({ endpoint: 'http://127.0.0.1:9', ...local });
  ({ tableName } = await createTestTable());
});

afterAll(() => {
  dynamodb.destroy();
  s3.destroy();
});

const settings = (overrides: Partial<StoreSettings> = {}): StoreSettings => ({
  tableName,
  bucketName: 'unused',
  archivePrefix: '',
  maxInlinePayloadBytes: 16 * 1024,
  ...overrides,
});

function webhookRecord(prediction: Partial<Prediction> = {}, bodyBytes = 100): WebhookRecord {
  const id = `p${randomUUID().replace(/-/g, '')}`;
  return {
    webhookId: `msg_${randomUUID()}`,
    timestampSeconds: Math.floor(Date.now() / 1000),
    prediction: { id, status: 'processing', output: null, error: null, ...prediction },
    body: '{}',
    bodyBytes,
    receivedAt: new Date(),
  };
}

describe('where a terminal payload goes', () => {
  /** A terminal webhook whose body is `bytes` long: tqdm-like logs (about 3× smaller compressed), or random base64 (about ¾). */
  const terminal = (bytes: number, logs: 'tqdm' | 'random' = 'tqdm'): WebhookRecord => {
    const record = webhookRecord({ status: 'succeeded' });
    const frame = JSON.stringify({ id: record.prediction.id, status: 'succeeded', logs: '' });
    const room = bytes - Buffer.byteLength(frame);
    const filler =
      logs === 'tqdm'
        ? Array.from(
            { length: Math.ceil(room / 20) },
            (_, i) => ` ${i % 100}%|#### | ${i}/${room} [00:0${i % 7}, 4.${i % 89}it/s]`,
          ).join(' ')
        : randomBytes(room).toString('base64');
    const body = JSON.stringify({ id: record.prediction.id, status: 'succeeded', logs: filler.slice(0, room) });
    expect(Buffer.byteLength(body)).toBe(bytes);
    return { ...record, body, bodyBytes: bytes };
  };
  const compressedSize = (record: WebhookRecord) => compressPayload(record.body)!.length;

  test('into an item of its own when its compressed size is at most the configured size, Brotli as stored; intermediate payloads nowhere', () => {
    const record = terminal(3 * 1024);
    const placement = placePayload(record, settings());
    expect(placement).toEqual({
      kind: 'inline',
      key: `payload#${record.prediction.id}#${bodySha256(record.body)}`,
      compressed: expect.any(Buffer),
    });
    const { compressed } = placement as InlinePlacement;
    expect(brotliDecompressSync(compressed).toString('utf8')).toBe(record.body);
    expect(compressed.length).toBeLessThan(record.bodyBytes / 2);
    expect(placePayload(webhookRecord({}, 5_000_000), settings())).toEqual({ kind: 'none' });
  });

  test('the limit is on the compressed size: a body of 40 KiB that compresses well stays, one of 24 KiB that does not goes to S3', () => {
    const compressible = terminal(40 * 1024);
    expect(compressedSize(compressible)).toBeLessThan(16 * 1024);
    expect(placePayload(compressible, settings()).kind).toBe('inline');
    const random = terminal(24 * 1024, 'random');
    expect(compressedSize(random)).toBeGreaterThan(16 * 1024);
    expect(placePayload(random, settings()).kind).toBe('spill');
    // To the byte: a limit of exactly its compressed size keeps it, a byte less spills it.
    const size = compressedSize(compressible);
    expect(placePayload(compressible, settings({ maxInlinePayloadBytes: size })).kind).toBe('inline');
    expect(placePayload(compressible, settings({ maxInlinePayloadBytes: size - 1 })).kind).toBe('spill');
    // 0: every terminal payload goes to S3.
    expect(placePayload(terminal(100), settings({ maxInlinePayloadBytes: 0 })).kind).toBe('spill');
  });

  test('never into the item above the ceiling an item can hold, whatever is configured', () => {
    const generous = settings({ maxInlinePayloadBytes: 6 * 1024 * 1024 });
    // Random base64 compresses to about ¾: 330 KiB of it is about 250 KiB stored, 360 KiB about 270.
    const under = terminal(330 * 1024, 'random');
    const over = terminal(360 * 1024, 'random');
    expect(compressedSize(under)).toBeLessThanOrEqual(MAX_INLINE_PAYLOAD_BYTES);
    expect(compressedSize(over)).toBeGreaterThan(MAX_INLINE_PAYLOAD_BYTES);
    expect(placePayload(under, generous).kind).toBe('inline');
    expect(placePayload(over, generous).kind).toBe('spill');
    expect(MAX_INLINE_PAYLOAD_BYTES).toBeLessThan(400 * 1000 - 16 * 1024);
  });

  test('the payload item DynamoDB stores is the compressed body, under the ceiling, and costs a write unit per KB of it', async () => {
    const generous = settings({ maxInlinePayloadBytes: MAX_INLINE_PAYLOAD_BYTES });
    for (const record of [terminal(3 * 1024), terminal(330 * 1024, 'random')]) {
      const placement = placePayload(record, generous) as InlinePlacement;
      const put = await dynamodb.send(
        new PutItemCommand({ ...buildPayloadItem(record, placement, generous), ReturnConsumedCapacity: 'TOTAL' }),
      );
      const { Item } = await dynamodb.send(
        new GetItemCommand({ TableName: tableName, Key: { pk: { S: placement.key } }, ConsistentRead: true }),
      );
      expect(Item?.payload).toBeUndefined();
      expect(Buffer.from(Item!.payloadBr.B!).equals(placement.compressed)).toBe(true);
      expect(payloadOfItem(Item)).toBe(record.body);
      expect(itemSize(Item!)).toBeLessThan(placement.compressed.length + 200);
      expect(put.ConsumedCapacity?.CapacityUnits).toBe(Math.ceil(itemSize(Item!) / 1024));
    }
  });
});

describe('a write DynamoDB refuses as invalid is not retried as an outage', () => {
  test('a record larger than an item (fields that skipped the bounds) → RecordTooLargeError, nothing written', async () => {
    const record = webhookRecord({ model: 'x'.repeat(410 * 1024) });
    const store = new WebhookStore(dynamodb, s3, settings());
    const error = await store.record(record).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RecordTooLargeError);
    const { Item } = await dynamodb.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: predictionItemKey(record.prediction.id) } },
        ConsistentRead: true,
      }),
    );
    expect(Item).toBeUndefined();
  });

  test('any other validation error (here: a table of another key schema) is raised as it is, not as unavailable', async () => {
    const otherSchema = `other-schema-${randomUUID()}`;
    await dynamodb.send(
      new CreateTableCommand({
        TableName: otherSchema,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const store = new WebhookStore(dynamodb, s3, settings({ tableName: otherSchema }));
    const error = await store.record(webhookRecord()).catch((caught: unknown) => caught);
    expect(error).not.toBeInstanceOf(StoreUnavailableError);
    expect(error).toMatchObject({ name: 'ValidationException' });
  });

  test.each([
    [
      'ValidationException about size',
      'item_too_large',
      { name: 'ValidationException', message: 'Item size has exceeded the maximum allowed size' },
    ],
    [
      'another ValidationException',
      'invalid',
      { name: 'ValidationException', message: 'The provided key element does not match the schema' },
    ],
    ['a refused condition', undefined, { name: 'ConditionalCheckFailedException', message: 'The conditional request failed' }],
    ['an outage', undefined, { name: 'TimeoutError', message: 'socket hang up' }],
  ])('%s → %s', (_name, expected, error) => {
    expect(validationFailure(error)).toBe(expected);
  });
});

describe('the one write', () => {
  const statuses: PredictionStatus[] = ['starting', 'processing', 'processing', 'succeeded'];

  test('its condition and the state rule agree, whatever is delivered in whatever order', async () => {
    const delivery = fc.record({
      status: fc.constantFrom(...statuses),
      // Few values, so that ties (same rank, second and progress) are common.
      timestampSeconds: fc.integer({ min: 1_700_000_000, max: 1_700_000_001 }),
      logs: fc.constantFrom('', 'a'),
      outputs: fc.nat(1),
    });
    // A redelivery, signed again: at its first timestamp, or later.
    const redelivery = fc.record({ pick: fc.nat(), later: fc.nat(1) });
    await fc.assert(
      fc.asyncProperty(
        fc.array(delivery, { minLength: 1, maxLength: 4 }),
        fc.array(redelivery, { maxLength: 4 }),
        async (sent, again) => {
          const predictionId = `p${randomUUID().replace(/-/g, '')}`;
          const records = sent.map((webhook, index): WebhookRecord => ({
            webhookId: `msg_${index}`,
            timestampSeconds: webhook.timestampSeconds,
            prediction: {
              id: predictionId,
              status: webhook.status,
              logs: webhook.logs,
              output: Array.from({ length: webhook.outputs }, (_, i) => `https://replicate.delivery/${i}`),
              error: null,
            },
            body: '{}',
            bodyBytes: 2,
            receivedAt: new Date(),
          }));
          const store = new WebhookStore(dynamodb, s3, settings());
          let stored: StoredProgress | undefined;
          const redelivered = again.map(({ pick, later }) => {
            const first = records[pick % records.length];
            return { ...first, timestampSeconds: first.timestampSeconds + later };
          });
          for (const record of [...records, ...redelivered]) {
            const progress = {
              logsBytes: record.prediction.logs!.length,
              outputCount: (record.prediction.output as string[]).length,
            };
            const expected = decideTransition(stored, { ...record, status: record.prediction.status, ...progress });
            const outcome = await store.record(record);
            expect(outcome).toBe(expected === 'apply' ? 'accepted' : expected);
            if (outcome === 'accepted') {
              stored = {
                statusRank: STATUS_RANK[record.prediction.status],
                lastWebhookAt: record.timestampSeconds,
                lastWebhookId: record.webhookId,
                ...progress,
              };
            }
          }
          const { Item } = await dynamodb.send(
            new GetItemCommand({
              TableName: tableName,
              Key: { pk: { S: predictionItemKey(predictionId) } },
              ConsistentRead: true,
            }),
          );
          expect(Item?.lastWebhookId?.S).toBe(stored?.lastWebhookId);
          expect(Number(Item?.lastWebhookAt?.N)).toBe(stored?.lastWebhookAt);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('an intermediate webhook costs one write unit, whatever the size of its logs and output (the first one a second, for its follow index entry)', async () => {
    const costs: number[] = [];
    const indexCosts: number[] = [];
    const record = webhookRecord({ status: 'starting' });
    for (const [index, update] of [
      { status: 'starting' as const },
      { status: 'processing' as const, logs: 'x'.repeat(100 * 1024), output: ['https://replicate.delivery/a'] },
      { status: 'processing' as const, logs: 'y'.repeat(400 * 1024), output: Array.from({ length: 5000 }, (_, i) => `tok${i}`) },
    ].entries()) {
      const next: WebhookRecord = {
        ...record,
        webhookId: `msg_${index}`,
        timestampSeconds: record.timestampSeconds + index,
        prediction: { ...record.prediction, ...update },
        bodyBytes: 1_000_000,
      };
      const input = buildUpdate(next, placePayload(next, settings()), settings());
      const result = await dynamodb.send(new UpdateItemCommand({ ...input, ReturnConsumedCapacity: 'INDEXES' }));
      costs.push(result.ConsumedCapacity?.CapacityUnits ?? NaN);
      indexCosts.push(result.ConsumedCapacity?.GlobalSecondaryIndexes?.[FOLLOW_INDEX.indexName]?.CapacityUnits ?? 0);
    }
    // The open record enters the follow index once; later webhooks leave its keys as they are.
    expect(indexCosts).toEqual([1, 0, 0]);
    expect(costs).toEqual([2, 1, 1]);
  });
});

describe('one webhook id, another body: a conflict that changes nothing', () => {
  let fauxqs: Fauxqs;
  let spillS3: S3Client;
  const bucket = 'store-conflict-test';
  beforeAll(async () => {
    fauxqs = await startFauxqs();
    fauxqs.createBucket(bucket);
    spillS3 = new S3Client({ endpoint: fauxqs.s3Endpoint, ...local });
  });
  afterAll(async () => {
    spillS3.destroy();
    await fauxqs.stop();
  });

  const store = (maxInlinePayloadBytes = 16 * 1024) =>
    new WebhookStore(dynamodb, spillS3, settings({ bucketName: bucket, maxInlinePayloadBytes }));
  /** The same webhook id, twice, with bodies that differ: a success with output A, a failure with output B. */
  function twoBodies(padding = 0) {
    const id = `p${randomUUID().replace(/-/g, '')}`;
    const webhookId = `msg_${randomUUID()}`;
    const record = (status: 'succeeded' | 'failed', output: string): WebhookRecord => {
      // Random, so that a padded body stays above the inline limit compressed too.
      const body = JSON.stringify({ id, status, output: [output], logs: randomBytes(padding).toString('base64') });
      return {
        webhookId,
        timestampSeconds: 1_800_000_000,
        prediction: { id, status, output: [output], error: null },
        body,
        bodyBytes: Buffer.byteLength(body),
        receivedAt: new Date(),
      };
    };
    return {
      id,
      first: record('succeeded', 'https://replicate.delivery/a.png'),
      second: record('failed', 'https://replicate.delivery/b.png'),
    };
  }
  const item = async (key: string) =>
    (await dynamodb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }))).Item;
  /** The payload the record points at, wherever it is. */
  async function storedPayload(id: string): Promise<string | undefined> {
    const record = await item(predictionItemKey(id));
    if (record?.payloadItem?.S) return payloadOfItem(await item(record.payloadItem.S));
    const object = await spillS3.send(new GetObjectCommand({ Bucket: record!.payloadBucket.S!, Key: record!.payloadKey.S! }));
    return object.Body!.transformToString();
  }

  test.each([
    ['in its own item', 0, 16 * 1024],
    ['spilled to S3', 20 * 1024, 16 * 1024],
  ])(
    'terminal, %s: the second body is refused, and the record and its payload stay the first',
    async (_where, padding, inline) => {
      const { id, first, second } = twoBodies(padding);
      expect(await store(inline).record(first)).toBe('accepted');
      expect(await store(inline).record(second)).toBe('conflict');
      expect(await store(inline).record(first)).toBe('duplicate');
      expect((await item(predictionItemKey(id)))?.status?.S).toBe('succeeded');
      expect(await storedPayload(id)).toBe(first.body);
    },
  );

  test('sent at once, one body wins, the other is a conflict, and the record and payload agree', async () => {
    for (let round = 0; round < 10; round++) {
      const { id, first, second } = twoBodies(round % 2 === 0 ? 0 : 20 * 1024);
      const outcomes = await Promise.all([store().record(first), store().record(second)]);
      expect([...outcomes].sort()).toEqual(['accepted', 'conflict']);
      const winner = outcomes[0] === 'accepted' ? first : second;
      expect((await item(predictionItemKey(id)))?.status?.S).toBe(winner.prediction.status);
      expect(await storedPayload(id)).toBe(winner.body);
    }
  });

  test('a terminal record from before digests were kept (its payload named by webhook id) cannot tell, and says duplicate', async () => {
    const { id, first, second } = twoBodies();
    expect(await store().record(first)).toBe('accepted');
    // As earlier versions left it: the payload item named by the webhook id, no digest anywhere.
    const oldKey = `payload#${id}#${first.webhookId}`;
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: predictionItemKey(id) } },
        UpdateExpression: 'SET payloadItem = :old',
        ExpressionAttributeValues: { ':old': { S: oldKey } },
      }),
    );
    expect(await store().record(second)).toBe('duplicate');
    expect((await item(predictionItemKey(id)))?.payloadItem?.S).toBe(oldKey);
  });

  test('a terminal record keeps its digest in its payload location only', async () => {
    const { id, first } = twoBodies();
    expect(await store().record(first)).toBe('accepted');
    const record = await item(predictionItemKey(id));
    expect(record?.bodyDigest).toBeUndefined();
    expect(record?.payloadItem?.S).toBe(`payload#${id}#${bodySha256(first.body)}`);
  });

  test('an intermediate webhook too; a record from before digests were kept cannot tell, and says duplicate', async () => {
    const running = webhookRecord({ status: 'processing', logs: 'a' });
    expect(await store().record({ ...running, body: '{"logs":"a"}' })).toBe('accepted');
    expect(await store().record({ ...running, body: '{"logs":"b"}' })).toBe('conflict');
    expect(await store().record({ ...running, body: '{"logs":"a"}' })).toBe('duplicate');
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { pk: { S: predictionItemKey(running.prediction.id) } },
        UpdateExpression: 'REMOVE bodyDigest',
      }),
    );
    expect(await store().record({ ...running, body: '{"logs":"b"}' })).toBe('duplicate');
  });
});
