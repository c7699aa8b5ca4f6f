/**
 * The verifier's store on its own, against DynamoDB Local: which failures are worth a retry
 * (5xx) and which can never succeed, and where a terminal payload goes.
 */
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import type { Prediction } from '../lambda/shared/prediction';
import { MAX_INLINE_PAYLOAD_BYTES, predictionItemKey } from '../lambda/shared/state';
import {
  RecordTooLargeError,
  StoreUnavailableError,
  WebhookStore,
  placePayload,
  validationFailure,
  type StoreSettings,
  type WebhookRecord,
} from '../lambda/store/webhook-store';
import { createTestTable, dynamoDbEndpoint } from './support/aws';

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
  dedupTtlSeconds: 3600,
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

  test('up to the configured size into the item, above it to S3; intermediate payloads nowhere', () => {
    expect(placePayload(terminal(16 * 1024), settings())).toEqual({ kind: 'inline' });
    expect(placePayload(terminal(16 * 1024 + 1), settings()).kind).toBe('spill');
    expect(placePayload(webhookRecord({}, 5_000_000), settings())).toEqual({ kind: 'none' });
  });

  test('never into the item above the ceiling an item can hold, whatever is configured', () => {
    const generous = settings({ maxInlinePayloadBytes: 6 * 1024 * 1024 });
    expect(placePayload(terminal(MAX_INLINE_PAYLOAD_BYTES), generous)).toEqual({ kind: 'inline' });
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

  // DynamoDB reports a too-large item inside a transaction as a cancellation reason, which
  // DynamoDB Local does not reproduce (it raises ValidationException): the shape, from the API reference.
  test.each([
    [
      'a ValidationError cancellation about size',
      'item_too_large',
      {
        name: 'TransactionCanceledException',
        CancellationReasons: [
          { Code: 'None' },
          { Code: 'ValidationError', Message: 'Item size to update has exceeded the maximum allowed size' },
        ],
      },
    ],
    [
      'ValidationException about size',
      'item_too_large',
      { name: 'ValidationException', message: 'Item size has exceeded the maximum allowed size' },
    ],
    [
      'another ValidationError cancellation',
      'invalid',
      {
        name: 'TransactionCanceledException',
        CancellationReasons: [
          { Code: 'None' },
          { Code: 'ValidationError', Message: 'One or more parameter values were invalid' },
        ],
      },
    ],
    [
      'another ValidationException',
      'invalid',
      { name: 'ValidationException', message: 'The provided key element does not match the schema' },
    ],
    [
      'a lost race',
      undefined,
      { name: 'TransactionCanceledException', CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }] },
    ],
    [
      'a duplicate',
      undefined,
      { name: 'TransactionCanceledException', CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }] },
    ],
    ['an outage', undefined, { name: 'TimeoutError', message: 'socket hang up' }],
  ])('%s → %s', (_name, expected, error) => {
    expect(validationFailure(error)).toBe(expected);
  });
});
