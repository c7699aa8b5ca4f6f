/**
 * The forwarder against a real SQS peer (fauxqs): called as Lambda calls it, then on DynamoDB
 * Local's stream as the construct's event source runs it. Every finished prediction becomes one
 * message with the body the EventBridge Pipe's template produced; a record that could not be
 * queued is named as the first failure, so the event source retries from it: none is dropped.
 */
import { DynamoDBClient, PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
  type SendMessageBatchCommandInput,
} from '@aws-sdk/client-sqs';
import type { AttributeValue as StreamAttributeValue, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { ATTR, PARTITION_KEY, payloadItemKey, predictionItemKey } from '../../../lambda/shared/state';
import type { StreamBatchFailure, StreamPoller } from '../../../local/aws/stream-poller';
import { createTestTable, dynamoDbEndpoint, useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';
import { buildForwarder, startForwarder } from '../../support/forwarder';

let fauxqs: Fauxqs;
let sqs: SQSClient;
let dynamodb: DynamoDBClient;
const clients: SQSClient[] = [];
const pollers: StreamPoller[] = [];

beforeAll(async () => {
  fauxqs = await startFauxqs();
  useStandInEnvironment({ dynamodb: dynamoDbEndpoint(), sqs: fauxqs.sqsEndpoint });
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  sqs = new SQSClient({});
  dynamodb = new DynamoDBClient({});
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  for (const client of clients.splice(0)) client.destroy();
});

afterAll(async () => {
  sqs.destroy();
  dynamodb.destroy();
  await fauxqs.stop();
});

const queueUrlFor = (queueName: string) => `${fauxqs.sqsEndpoint}/000000000000/${queueName}`;

async function createQueue(queueName = `archive-${randomUUID()}`): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: queueName }))).QueueUrl!;
}

/** Everything in the queue, in order (the default 30 s visibility keeps a message from being read twice). */
async function bodies(queueUrl: string): Promise<string[]> {
  const messages: Message[] = [];
  for (;;) {
    const { Messages: batch = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    if (batch.length === 0) return messages.map((message) => message.Body!);
    messages.push(...batch);
  }
}
const requestFor = (predictionId: string) => `{"predictionId": "${predictionId}"}`;

/**
 * An SQS client whose SendMessageBatch entries for `refused` carry a character SQS does not allow
 * in a message: SQS (here fauxqs, which validates as SQS does) rejects those entries alone, as it
 * rejects an entry under a KMS or internal failure.
 */
function clientRefusing(refused: Set<string>): SQSClient {
  const client = new SQSClient({});
  clients.push(client);
  client.middlewareStack.add(
    (next) => async (args) => {
      for (const entry of (args.input as Partial<SendMessageBatchCommandInput>).Entries ?? []) {
        if ([...refused].some((id) => entry.MessageBody === requestFor(id))) entry.MessageBody += '\u0000';
      }
      return next(args);
    },
    { step: 'initialize', name: 'refuseEntries' },
  );
  return client;
}

let sequence = 1_000;
/** A stream record as Lambda hands it over: a prediction that became terminal (or, with `open`, one that did not). */
function record(predictionId: StreamAttributeValue | undefined, options: { open?: boolean } = {}): DynamoDBRecord {
  const image = (terminal: boolean): Record<string, StreamAttributeValue> => ({
    [PARTITION_KEY]: { S: predictionItemKey(predictionId?.S ?? 'unknown') },
    ...(predictionId ? { [ATTR.predictionId]: predictionId } : {}),
    [ATTR.status]: { S: terminal ? 'succeeded' : 'processing' },
    ...(terminal ? { [ATTR.terminalStatus]: { S: 'succeeded' } } : {}),
  });
  return {
    eventID: randomUUID(),
    eventName: 'MODIFY',
    eventSource: 'aws:dynamodb',
    dynamodb: { NewImage: image(!options.open), OldImage: image(false), SequenceNumber: String(sequence++) },
  };
}
const streamEvent = (...records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });
const failureAt = (failed: DynamoDBRecord) => ({ batchItemFailures: [{ itemIdentifier: failed.dynamodb!.SequenceNumber! }] });

describe('called as Lambda calls it', () => {
  test('each record in which a prediction became terminal is queued once, in stream order, with the body the Pipe produced', async () => {
    const queueUrl = await createQueue();
    const forwarder = buildForwarder(sqs, queueUrl);
    const event = streamEvent(record({ S: 'pa' }), record({ S: 'popen' }, { open: true }), record({ S: 'pb' }));
    expect(await forwarder(event)).toEqual({ batchItemFailures: [] });
    expect(await bodies(queueUrl)).toEqual(['{"predictionId": "pa"}', '{"predictionId": "pb"}']);
  });

  test('more records than one SendMessageBatch takes are sent ten at a time (SQS refuses a call of 11)', async () => {
    const queueUrl = await createQueue();
    const ids = Array.from({ length: 23 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    expect(await buildForwarder(sqs, queueUrl)(streamEvent(...ids.map((id) => record({ S: id }))))).toEqual({
      batchItemFailures: [],
    });
    expect(await bodies(queueUrl)).toEqual(ids.map(requestFor));
  });

  test('an entry SQS rejects is named as the first failure; the retry from it queues it: none dropped, later ones maybe twice', async () => {
    const queueUrl = await createQueue();
    const refused = new Set(['pc']);
    const forwarder = buildForwarder(clientRefusing(refused), queueUrl);
    const records = ['pa', 'pb', 'pc', 'pd'].map((id) => record({ S: id }));
    expect(await forwarder(streamEvent(...records))).toEqual(failureAt(records[2]));
    // The entries of the same call SQS took stay queued.
    expect(await bodies(queueUrl)).toEqual(['pa', 'pb', 'pd'].map(requestFor));

    // Lambda checkpoints before the failed record and retries from it: the same until SQS takes it.
    expect(await forwarder(streamEvent(...records.slice(2)))).toEqual(failureAt(records[2]));
    refused.clear();
    expect(await forwarder(streamEvent(...records.slice(2)))).toEqual({ batchItemFailures: [] });
    expect(await bodies(queueUrl)).toEqual(['pd', 'pc', 'pd'].map(requestFor));
  });

  test('a failed call (the queue cannot be reached) names the first record of the batch; the retry queues them all', async () => {
    const queueName = `archive-${randomUUID()}`;
    const forwarder = buildForwarder(sqs, queueUrlFor(queueName));
    const records = ['pa', 'pb'].map((id) => record({ S: id }));
    expect(await forwarder(streamEvent(...records))).toEqual(failureAt(records[0]));
    const queueUrl = await createQueue(queueName);
    expect(await forwarder(streamEvent(...records))).toEqual({ batchItemFailures: [] });
    expect(await bodies(queueUrl)).toEqual(['pa', 'pb'].map(requestFor));
  });

  test.each([
    ['without a prediction id', undefined],
    ['whose prediction id is not one', { S: 'not an id/..' }],
  ])(
    'a finished prediction %s is never skipped: the records before it are queued, it is named, none after it is sent',
    async (_name, id) => {
      const queueUrl = await createQueue();
      const records = [record({ S: 'pa' }), record(id), record({ S: 'pb' })];
      expect(await buildForwarder(sqs, queueUrl)(streamEvent(...records))).toEqual(failureAt(records[1]));
      expect(await bodies(queueUrl)).toEqual([requestFor('pa')]);
    },
  );
});

describe("on the table's stream, as the construct's event source runs it", () => {
  const put = (tableName: string, item: Record<string, AttributeValue>) =>
    dynamodb.send(new PutItemCommand({ TableName: tableName, Item: item }));
  const putFinished = (tableName: string, predictionId: string) =>
    put(tableName, {
      [PARTITION_KEY]: { S: predictionItemKey(predictionId) },
      [ATTR.predictionId]: { S: predictionId },
      [ATTR.status]: { S: 'succeeded' },
      [ATTR.terminalStatus]: { S: 'succeeded' },
    });
  const set = (tableName: string, predictionId: string, name: string, value: AttributeValue) =>
    dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [PARTITION_KEY]: { S: predictionItemKey(predictionId) } },
        UpdateExpression: 'SET #n = :v',
        ExpressionAttributeNames: { '#n': name },
        ExpressionAttributeValues: { ':v': value },
      }),
    );

  async function setUp(
    sqsClient: SQSClient,
    options: { maxRetryAttempts?: number; before?: (tableName: string) => Promise<void> } = {},
  ) {
    const { tableName, streamArn } = await createTestTable();
    const queueUrl = await createQueue();
    await options.before?.(tableName);
    const failures: StreamBatchFailure[] = [];
    const poller = startForwarder({
      streamArn,
      queueUrl,
      sqs: sqsClient,
      maxRetryAttempts: options.maxRetryAttempts,
      pollIntervalMs: 20,
      retryDelayMs: 10,
      onFailure: async (failure) => void failures.push(failure),
      onError: () => undefined,
    });
    pollers.push(poller);
    return { tableName, streamArn, queueUrl, poller, failures };
  }

  test('a prediction that finishes is one message; its other changes, payload items and later updates none', async () => {
    const { tableName, queueUrl, poller } = await setUp(sqs);
    await put(tableName, {
      [PARTITION_KEY]: { S: predictionItemKey('p1') },
      [ATTR.predictionId]: { S: 'p1' },
      [ATTR.status]: { S: 'starting' },
    });
    await set(tableName, 'p1', ATTR.status, { S: 'processing' });
    await put(tableName, { [PARTITION_KEY]: { S: payloadItemKey('p1', 'digest1') }, expiresAt: { N: '1900000000' } });
    await set(tableName, 'p1', ATTR.terminalStatus, { S: 'succeeded' });
    await set(tableName, 'p1', ATTR.archiveStatus, { S: 'archived' });
    await putFinished(tableName, 'p2');
    await poller.drain(10_000);

    expect(await bodies(queueUrl)).toEqual([requestFor('p1'), requestFor('p2')]);
    expect(poller.stats).toMatchObject({ recordsDelivered: 2, recordsFiltered: 4, failedBatches: 0 });
  });

  test('an entry rejected past the retries: the rest of its batch is described in the failure destination, and the forwarder moves on', async () => {
    const refused = new Set(['prefused']);
    const { tableName, streamArn, queueUrl, poller, failures } = await setUp(clientRefusing(refused), {
      maxRetryAttempts: 1,
      before: async (table) => {
        for (const id of ['pbefore', 'prefused', 'pafter']) await putFinished(table, id);
      },
    });
    await poller.drain(10_000);
    await putFinished(tableName, 'plater');
    await poller.drain(10_000);

    // `pafter` went out with each try of the call SQS rejected `prefused` in.
    expect(await bodies(queueUrl)).toEqual(['pbefore', 'pafter', 'pafter', 'plater'].map(requestFor));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
      DDBStreamBatchInfo: { batchSize: 2, streamArn },
    });
  });
});
