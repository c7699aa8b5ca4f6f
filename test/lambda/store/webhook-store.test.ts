/**
 * The verifier's store on its own, against DynamoDB Local: its one write applies exactly the
 * state rule, costs one write unit for an intermediate webhook, which failures are worth a retry
 * (5xx) and which can never succeed, and where a terminal payload goes.
 */
import { CreateTableCommand, DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
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
  buildUpdate,
  placePayload,
  validationFailure,
  type StoreSettings,
  type WebhookRecord,
} from '../../../lambda/store/webhook-store';
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
  const terminal = (bodyBytes: number) => webhookRecord({ status: 'succeeded' }, bodyBytes);

  test('up to the configured size into an item of its own, above it to S3; intermediate payloads nowhere', () => {
    const record = terminal(16 * 1024);
    expect(placePayload(record, settings())).toEqual({
      kind: 'inline',
      key: `payload#${record.prediction.id}#${bodySha256(record.body)}`,
    });
    expect(placePayload(terminal(16 * 1024 + 1), settings()).kind).toBe('spill');
    expect(placePayload(webhookRecord({}, 5_000_000), settings())).toEqual({ kind: 'none' });
  });

  test('never into the item above the ceiling an item can hold, whatever is configured', () => {
    const generous = settings({ maxInlinePayloadBytes: 6 * 1024 * 1024 });
    expect(placePayload(terminal(MAX_INLINE_PAYLOAD_BYTES), generous).kind).toBe('inline');
    expect(placePayload(terminal(MAX_INLINE_PAYLOAD_BYTES + 1), generous).kind).toBe('spill');
    expect(MAX_INLINE_PAYLOAD_BYTES).toBeLessThan(400 * 1000 - 16 * 1024);
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
      const body = JSON.stringify({ id, status, output: [output], logs: 'x'.repeat(padding) });
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
    if (record?.payloadItem?.S) return (await item(record.payloadItem.S))?.payload?.S;
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
