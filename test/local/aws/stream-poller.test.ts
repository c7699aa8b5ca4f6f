/**
 * The local event source mapping against DynamoDB Local's real stream: Lambda's record shape,
 * the construct's filter, batching, retries, partial batch responses, bisect and shutdown.
 */
import {
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ATTR, PARTITION_KEY, payloadItemKey, predictionItemKey } from '../../../lambda/shared/state';
import { BECAME_TERMINAL_PATTERNS } from '../../../lambda/shared/stream-filter';
import {
  startStreamPoller,
  type StreamBatchFailure,
  type StreamPoller,
  type StreamPollerOptions,
} from '../../../local/aws/stream-poller';
import { createTestTable, dynamoDbEndpoint, useStandInEnvironment } from '../../support/aws';

const execFileAsync = promisify(execFile);
let dynamodb: DynamoDBClient;
const pollers: StreamPoller[] = [];

beforeAll(() => {
  useStandInEnvironment({ dynamodb: dynamoDbEndpoint() });
  dynamodb = new DynamoDBClient({});
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});

afterAll(() => dynamodb.destroy());

/** A table with a stream, and a poller on it with test-speed timings. */
async function setUp(options: Partial<StreamPollerOptions> = {}, before?: (tableName: string) => Promise<void>) {
  const { tableName, streamArn } = await createTestTable();
  await before?.(tableName);
  const batches: DynamoDBRecord[][] = [];
  const failures: StreamBatchFailure[] = [];
  const errors: unknown[] = [];
  const poller = startStreamPoller({
    streamArn,
    handler: async (event) => void batches.push(event.Records),
    pollIntervalMs: 20,
    retryDelayMs: 5,
    onFailure: async (failure) => void failures.push(failure),
    onError: (error) => void errors.push(error),
    ...options,
  });
  pollers.push(poller);
  return { tableName, streamArn, poller, batches, failures, errors };
}

const put = (tableName: string, item: Record<string, AttributeValue>) =>
  dynamodb.send(new PutItemCommand({ TableName: tableName, Item: item }));
const putKeys = async (tableName: string, keys: readonly string[], extra: Record<string, AttributeValue> = {}) => {
  for (const key of keys) await put(tableName, { [PARTITION_KEY]: { S: key }, ...extra });
};
const update = (tableName: string, key: string, set: Record<string, AttributeValue>) =>
  dynamodb.send(
    new UpdateItemCommand({
      TableName: tableName,
      Key: { [PARTITION_KEY]: { S: key } },
      UpdateExpression: `SET ${Object.keys(set)
        .map((_, i) => `#n${i} = :v${i}`)
        .join(', ')}`,
      ExpressionAttributeNames: Object.fromEntries(Object.keys(set).map((name, i) => [`#n${i}`, name])),
      ExpressionAttributeValues: Object.fromEntries(Object.values(set).map((value, i) => [`:v${i}`, value])),
    }),
  );

const keyOf = (record: DynamoDBRecord) => record.dynamodb?.Keys?.[PARTITION_KEY]?.S;
const sequenceOf = (record: DynamoDBRecord) => record.dynamodb?.SequenceNumber ?? '';
const keys = (n: number, prefix = 'item') => Array.from({ length: n }, (_, i) => `${prefix}#${i}`);
const hasPoison = (records: readonly DynamoDBRecord[]) =>
  records.some((record) => record.dynamodb?.NewImage?.poison !== undefined);

test("delivers every change in order, in Lambda's record shape", async () => {
  const { tableName, streamArn, poller, batches } = await setUp();
  const key = 'prediction#shape';
  await put(tableName, { [PARTITION_KEY]: { S: key }, status: { S: 'starting' }, blob: { B: Uint8Array.from([1, 2, 3]) } });
  await update(tableName, key, { status: { S: 'processing' }, count: { N: '3' } });
  await dynamodb.send(new DeleteItemCommand({ TableName: tableName, Key: { [PARTITION_KEY]: { S: key } } }));
  await poller.drain();

  const records = batches.flat();
  expect(records.map((record) => record.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
  const [insert, modify, remove] = records as [DynamoDBRecord, DynamoDBRecord, DynamoDBRecord];
  for (const record of records) {
    expect(record).toMatchObject({
      eventSource: 'aws:dynamodb',
      eventVersion: '1.1',
      awsRegion: 'us-east-1',
      eventSourceARN: streamArn,
    });
    expect(typeof record.eventID).toBe('string');
    expect(record.dynamodb).toMatchObject({ Keys: { [PARTITION_KEY]: { S: key } }, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(typeof record.dynamodb?.SizeBytes).toBe('number');
    // Epoch seconds; DynamoDB Local rounds the time down to the minute.
    const created = record.dynamodb?.ApproximateCreationDateTime;
    expect(typeof created).toBe('number');
    expect(Math.abs(Date.now() / 1000 - created!)).toBeLessThan(120);
  }
  expect(insert.dynamodb?.NewImage).toEqual({ [PARTITION_KEY]: { S: key }, status: { S: 'starting' }, blob: { B: 'AQID' } });
  expect(insert.dynamodb).not.toHaveProperty('OldImage');
  expect(modify.dynamodb?.OldImage).toEqual(insert.dynamodb?.NewImage);
  expect(modify.dynamodb?.NewImage).toMatchObject({ status: { S: 'processing' }, count: { N: '3' } });
  expect(remove.dynamodb?.OldImage).toEqual(modify.dynamodb?.NewImage);
  expect(remove.dynamodb).not.toHaveProperty('NewImage');
  const sequences = records.map((record) => BigInt(sequenceOf(record)));
  expect([...sequences].sort((a, b) => (a < b ? -1 : 1))).toEqual(sequences);
  expect(poller.stats).toEqual({ invocations: batches.length, recordsDelivered: 3, recordsFiltered: 0, failedBatches: 0 });
});

test('BECAME_TERMINAL_PATTERNS lets through only predictions becoming terminal', async () => {
  const { tableName, poller, batches } = await setUp({ filterPatterns: BECAME_TERMINAL_PATTERNS });
  const p1 = predictionItemKey('p1');
  const p2 = predictionItemKey('p2');
  await put(tableName, { [PARTITION_KEY]: { S: p1 }, [ATTR.status]: { S: 'starting' }, [ATTR.statusRank]: { N: '1' } });
  await update(tableName, p1, { [ATTR.status]: { S: 'processing' }, [ATTR.statusRank]: { N: '2' } });
  await put(tableName, { [PARTITION_KEY]: { S: payloadItemKey('p1', 'digest1') }, expiresAt: { N: '1900000000' } });
  await update(tableName, p1, { [ATTR.status]: { S: 'succeeded' }, [ATTR.terminalStatus]: { S: 'succeeded' } });
  await update(tableName, p1, { [ATTR.archiveStatus]: { S: 'archived' } });
  await put(tableName, { [PARTITION_KEY]: { S: p2 }, [ATTR.status]: { S: 'failed' }, [ATTR.terminalStatus]: { S: 'failed' } });
  await dynamodb.send(new DeleteItemCommand({ TableName: tableName, Key: { [PARTITION_KEY]: { S: p2 } } }));
  await poller.drain();

  const records = batches.flat();
  expect(records.map((record) => [record.eventName, keyOf(record)])).toEqual([
    ['MODIFY', p1],
    ['INSERT', p2],
  ]);
  expect(records[0]?.dynamodb?.NewImage?.[ATTR.terminalStatus]).toEqual({ S: 'succeeded' });
  expect(poller.stats).toMatchObject({ recordsDelivered: 2, recordsFiltered: 5 });
});

test('batches hold at most batchSize records, in stream order', async () => {
  const written = keys(7);
  const { poller, batches } = await setUp({ batchSize: 3 }, (tableName) => putKeys(tableName, written));
  await poller.drain();

  expect(batches.map((batch) => batch.length)).toEqual([3, 3, 1]);
  expect(batches.flat().map(keyOf)).toEqual(written);
});

test('LATEST skips what was written before the poller started', async () => {
  const { tableName, poller, batches } = await setUp({ startingPosition: 'LATEST' }, (table) => putKeys(table, ['before']));
  await poller.drain();
  await putKeys(tableName, ['after']);
  await poller.drain();

  expect(batches.flat().map(keyOf)).toEqual(['after']);
});

test('a handler that throws is retried, then the batch goes to onFailure and the poller moves on', async () => {
  let calls = 0;
  const { tableName, streamArn, poller, batches, failures, errors } = await setUp(
    {
      bisectBatchOnError: false,
      maxRetryAttempts: 2,
      handler: async (event) => {
        calls += 1;
        if (hasPoison(event.Records)) throw new Error('poisoned batch');
        batches.push(event.Records);
      },
    },
    (table) => putKeys(table, ['bad#1', 'bad#2'], { poison: { BOOL: true } }),
  );
  await poller.drain();
  await putKeys(tableName, ['good']);
  await poller.drain();

  expect(calls).toBe(4); // 1 + 2 retries, then the next record
  expect(batches.flat().map(keyOf)).toEqual(['good']);
  expect(errors).toEqual([new Error('poisoned batch'), new Error('poisoned batch'), new Error('poisoned batch')]);
  expect(failures).toHaveLength(1);
  const [failure] = failures as [StreamBatchFailure];
  expect(failure).toMatchObject({
    requestContext: {
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:local',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: 3,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    DDBStreamBatchInfo: { batchSize: 2, streamArn },
  });
  expect(failure.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(new Date(failure.timestamp).toISOString()).toBe(failure.timestamp);
  const info = failure.DDBStreamBatchInfo;
  expect(info.shardId).toMatch(/^shardId-/);
  expect(BigInt(info.endSequenceNumber)).toBeGreaterThan(BigInt(info.startSequenceNumber));
  expect(info.approximateArrivalOfFirstRecord).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect(info.approximateArrivalOfLastRecord).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect(poller.stats).toMatchObject({ invocations: 4, recordsDelivered: 1, failedBatches: 1 });
});

test('a partial batch failure retries from the lowest failed record only', async () => {
  const calls: string[][] = [];
  const { poller, failures } = await setUp(
    {
      handler: async (event) => {
        calls.push(event.Records.map((record) => keyOf(record)!));
        if (calls.length > 1) return { batchItemFailures: [] };
        // Out of order on purpose: Lambda checkpoints before the lowest sequence number.
        const [, , third, , fifth] = event.Records;
        return { batchItemFailures: [{ itemIdentifier: sequenceOf(fifth) }, { itemIdentifier: sequenceOf(third) }] };
      },
    },
    (table) => putKeys(table, keys(5)),
  );
  await poller.drain();

  expect(calls).toEqual([keys(5), keys(5).slice(2)]);
  expect(failures).toEqual([]);
  expect(poller.stats).toMatchObject({ invocations: 2, recordsDelivered: 5, failedBatches: 0 });
});

test('an empty or unknown itemIdentifier fails the whole batch', async () => {
  const calls: string[][] = [];
  const { poller, errors } = await setUp(
    {
      bisectBatchOnError: false,
      handler: async (event) => {
        calls.push(event.Records.map((record) => keyOf(record)!));
        if (calls.length === 1) return { batchItemFailures: [{ itemIdentifier: '' }] };
        if (calls.length === 2) return { batchItemFailures: [{ itemIdentifier: 'not-a-sequence-number' }] };
        return { batchItemFailures: [] };
      },
    },
    (table) => putKeys(table, keys(3)),
  );
  await poller.drain();

  expect(calls).toEqual([keys(3), keys(3), keys(3)]);
  expect(errors).toHaveLength(2);
});

test('bisecting isolates a poison record: the others are delivered, only it goes to onFailure', async () => {
  const written = keys(6);
  const { poller, batches, failures } = await setUp(
    {
      maxRetryAttempts: 1,
      handler: async (event) => {
        if (hasPoison(event.Records)) throw new Error('poison');
        batches.push(event.Records);
      },
    },
    async (table) => {
      await putKeys(table, written.slice(0, 3));
      await putKeys(table, ['poison'], { poison: { S: 'yes' } });
      await putKeys(table, written.slice(3));
    },
  );
  await poller.drain();

  expect(batches.flat().map(keyOf)).toEqual(written);
  expect(failures).toHaveLength(1);
  const info = failures[0].DDBStreamBatchInfo;
  expect(info.batchSize).toBe(1);
  expect(info.startSequenceNumber).toBe(info.endSequenceNumber);
  expect(failures[0].requestContext.approximateInvokeCount).toBe(2);
  expect(poller.stats).toMatchObject({ recordsDelivered: 6, failedBatches: 1 });
});

test('stop() interrupts retry and poll waits, and a stopped poller refuses to drain', async () => {
  const { poller } = await setUp(
    {
      retryDelayMs: 60_000,
      pollIntervalMs: 60_000,
      handler: async () => {
        throw new Error('always');
      },
    },
    (table) => putKeys(table, ['waits-for-a-retry']),
  );
  while (poller.stats.invocations === 0) await new Promise((resolve) => setTimeout(resolve, 10));

  const started = Date.now();
  await poller.stop();
  expect(Date.now() - started).toBeLessThan(1_000);
  await expect(poller.drain()).rejects.toThrow(/stopped/);
});

test('after stop() nothing keeps the process alive', async () => {
  // A process of its own: it must exit by itself, with no timer, socket or loop left behind.
  const { tableName, streamArn } = await createTestTable();
  await putKeys(tableName, ['waits-for-a-retry']);
  const script = `
    const { startStreamPoller } = require(${JSON.stringify(join(__dirname, '../../../local/aws/stream-poller.ts'))});
    const poller = startStreamPoller({
      streamArn: process.env.STREAM_ARN,
      retryDelayMs: 60000,
      pollIntervalMs: 60000,
      handler: async () => { throw new Error('always'); },
      onError: () => {},
    });
    const started = setInterval(async () => {
      if (poller.stats.invocations === 0) return;
      clearInterval(started);
      await poller.stop();
      const stoppedAt = Date.now();
      process.on('exit', () => console.log(JSON.stringify({ invocations: poller.stats.invocations, exitMs: Date.now() - stoppedAt })));
    }, 10);
  `;
  const { stdout } = await execFileAsync(process.execPath, ['--require', 'tsx/cjs', '--eval', script], {
    cwd: join(__dirname, '..', '..', '..'),
    env: { ...process.env, NODE_OPTIONS: '', STREAM_ARN: streamArn },
    timeout: 15_000,
  });
  const { invocations, exitMs } = JSON.parse(stdout) as { invocations: number; exitMs: number };
  expect(invocations).toBe(1);
  // The poller's shortest wait here is 2 s (shard discovery): any timer left running would show.
  expect(exitMs).toBeLessThan(500);
});
