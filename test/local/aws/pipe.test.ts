/**
 * The local Pipe from DynamoDB Local's stream to a fauxqs queue: the construct's filter, the
 * InputTemplate, SendMessageBatch in calls of 10, and rejected entries or failed calls retried,
 * never dropped. The template renderer is tested alone first.
 */
import { DynamoDBClient, PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { ATTR, PARTITION_KEY, payloadItemKey, predictionItemKey } from '../../../lambda/shared/state';
import { BECAME_TERMINAL_PATTERNS } from '../../../lambda/shared/stream-filter';
import {
  renderInputTemplate,
  startStreamToQueuePipe,
  type StreamBatchFailure,
  type StreamToQueuePipe,
  type StreamToQueuePipeOptions,
} from '../../../local/aws/pipe';
import { createTestTable, dynamoDbEndpoint, useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';

describe('renderInputTemplate', () => {
  const record = {
    eventName: 'MODIFY',
    dynamodb: {
      NewImage: { predictionId: { S: 'p-1' }, outputCount: { N: '2' }, tags: { L: [{ S: 'a' }, { S: 'b' }] } },
      SequenceNumber: '100',
    },
    'dash-name': { under_score: true, 'with/slash': 'ok' },
    matrix: [
      [1, 2],
      [3, 4],
    ],
    nothing: null,
    tricky: 'say "hi"\\ \n\ttab \u0001 ünï',
  };

  test('a placeholder inside a JSON string is replaced by the value as text', () => {
    expect(renderInputTemplate('{"predictionId": "<$.dynamodb.NewImage.predictionId.S>"}', record)).toBe(
      '{"predictionId": "p-1"}',
    );
    expect(renderInputTemplate('"seq <$.dynamodb.SequenceNumber> of <$.eventName>"', record)).toBe('"seq 100 of MODIFY"');
    // Non-strings inside quotes: their JSON text, escaped for the string.
    expect(JSON.parse(renderInputTemplate('{"n": "<$.matrix[1][0]>", "image": "<$.dynamodb.NewImage.tags>"}', record))).toEqual({
      n: '3',
      image: '{"L":[{"S":"a"},{"S":"b"}]}',
    });
  });

  test('a placeholder outside quotes is replaced by the JSON of the value', () => {
    const rendered = renderInputTemplate(
      '{"image": <$.dynamodb.NewImage>, "name": <$.eventName>, "flag": <$.dash-name.under_score>, "row": <$.matrix[0]>, "nothing": <$.nothing>}',
      record,
    );
    expect(JSON.parse(rendered)).toEqual({
      image: record.dynamodb.NewImage,
      name: 'MODIFY',
      flag: true,
      row: [1, 2],
      nothing: null,
    });
    expect(renderInputTemplate('<$.eventName>', record)).toBe('"MODIFY"');
    expect(renderInputTemplate('<$>', { a: 1 })).toBe('{"a":1}');
  });

  test('array indices, dashes, underscores and slashes in names', () => {
    expect(renderInputTemplate('"<$.dynamodb.NewImage.tags.L[1].S>"', record)).toBe('"b"');
    expect(renderInputTemplate('<$.matrix[1][1]>', record)).toBe('4');
    expect(renderInputTemplate('"<$.dash-name.with/slash>"', record)).toBe('"ok"');
  });

  test('a missing path renders as null outside quotes and as an empty string inside', () => {
    const template =
      '{"a": <$.absent>, "b": "<$.absent.deeper>", "c": <$.matrix[5]>, "d": "<$.eventName.length>", "e": <$.matrix.0>}';
    expect(JSON.parse(renderInputTemplate(template, record))).toEqual({ a: null, b: '', c: null, d: '', e: null });
  });

  test('strings that need escaping stay valid JSON, quoted or not', () => {
    const rendered = renderInputTemplate('{"quoted": "<$.tricky>", "raw": <$.tricky>, "prefixed": "x: <$.tricky>"}', record);
    expect(JSON.parse(rendered)).toEqual({ quoted: record.tricky, raw: record.tricky, prefixed: `x: ${record.tricky}` });
  });

  test('quotes are tracked through escaped quotes and angle brackets in the static text', () => {
    const rendered = renderInputTemplate('{"said": "\\"<$.eventName>\\" < <$>", "n": <$.dynamodb.NewImage.outputCount.N>}', {
      eventName: 'INSERT',
      dynamodb: { NewImage: { outputCount: { N: '2' } } },
    });
    expect(JSON.parse(rendered)).toEqual({
      said: '"INSERT" < {"eventName":"INSERT","dynamodb":{"NewImage":{"outputCount":{"N":"2"}}}}',
      n: '2',
    });
    expect(renderInputTemplate('{"text": "a < b > c"}', record)).toBe('{"text": "a < b > c"}');
  });

  test('what is not emulated is refused, not passed through', () => {
    expect(() => renderInputTemplate('{"all": <$.Records[*].id>}', record)).toThrow(/wildcards are not emulated/);
    expect(() => renderInputTemplate('{"pipe": "<aws.pipes.pipe-arn>"}', record)).toThrow(/reserved variables are not emulated/);
    expect(() => renderInputTemplate('{"bad": <$.a..b>}', record)).toThrow(/<\$\.a\.\.b> at position 8/);
  });
});

describe('startStreamToQueuePipe', () => {
  let fauxqs: Fauxqs;
  let sqs: SQSClient;
  let dynamodb: DynamoDBClient;
  const pipes: StreamToQueuePipe[] = [];
  const PREDICTION_TEMPLATE = '{"predictionId": "<$.dynamodb.NewImage.predictionId.S>"}';

  beforeAll(async () => {
    fauxqs = await startFauxqs();
    useStandInEnvironment({ dynamodb: dynamoDbEndpoint(), sqs: fauxqs.sqsEndpoint });
    sqs = new SQSClient({});
    dynamodb = new DynamoDBClient({});
  });

  afterEach(async () => {
    await Promise.all(pipes.splice(0).map((pipe) => pipe.stop()));
  });

  afterAll(async () => {
    sqs.destroy();
    dynamodb.destroy();
    await fauxqs.stop();
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await sleep(10);
    }
  }

  const queueUrlFor = (queueName: string) => `${fauxqs.sqsEndpoint}/000000000000/${queueName}`;

  async function createQueue(queueName = `q-${randomUUID()}`, attributes: Record<string, string> = {}): Promise<string> {
    const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: attributes }));
    return queueUrl!;
  }

  /** Everything in the queue, in order (the default 30 s visibility keeps a message from being read twice). */
  async function receiveAll(queueUrl: string): Promise<Message[]> {
    const messages: Message[] = [];
    for (;;) {
      const { Messages: batch = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      if (batch.length === 0) return messages;
      messages.push(...batch);
    }
  }
  const bodies = async (queueUrl: string) => (await receiveAll(queueUrl)).map((message) => message.Body);

  const put = (tableName: string, item: Record<string, AttributeValue>) =>
    dynamodb.send(new PutItemCommand({ TableName: tableName, Item: item }));
  const putTerminal = (tableName: string, predictionId: string, extra: Record<string, AttributeValue> = {}) =>
    put(tableName, {
      [PARTITION_KEY]: { S: predictionItemKey(predictionId) },
      [ATTR.predictionId]: { S: predictionId },
      [ATTR.status]: { S: 'succeeded' },
      [ATTR.terminalStatus]: { S: 'succeeded' },
      ...extra,
    });
  const update = (tableName: string, predictionId: string, set: Record<string, AttributeValue>) =>
    dynamodb.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [PARTITION_KEY]: { S: predictionItemKey(predictionId) } },
        UpdateExpression: `SET ${Object.keys(set)
          .map((_, i) => `#n${i} = :v${i}`)
          .join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(Object.keys(set).map((name, i) => [`#n${i}`, name])),
        ExpressionAttributeValues: Object.fromEntries(Object.values(set).map((value, i) => [`:v${i}`, value])),
      }),
    );

  /** A table with a stream and a queue; `before` writes ahead of the pipe's start, so those records share a batch. */
  async function setUp(
    options: Partial<StreamToQueuePipeOptions> = {},
    { queueUrl, before }: { queueUrl?: string; before?: (tableName: string) => Promise<void> } = {},
  ) {
    const { tableName, streamArn } = await createTestTable();
    const targetUrl = queueUrl ?? (await createQueue());
    await before?.(tableName);
    const errors: unknown[] = [];
    const failures: StreamBatchFailure[] = [];
    const pipe = startStreamToQueuePipe({
      streamArn,
      queueUrl: targetUrl,
      filterPatterns: BECAME_TERMINAL_PATTERNS,
      inputTemplate: PREDICTION_TEMPLATE,
      pollIntervalMs: 20,
      retryDelayMs: 20,
      onFailure: async (failure) => void failures.push(failure),
      onError: (error) => void errors.push(error),
      ...options,
    });
    pipes.push(pipe);
    return { tableName, streamArn, queueUrl: targetUrl, pipe, errors, failures };
  }

  test('records in which a prediction became terminal become messages with the rendered body; others are dropped', async () => {
    const { tableName, queueUrl, pipe, errors } = await setUp();
    await put(tableName, {
      [PARTITION_KEY]: { S: predictionItemKey('p1') },
      [ATTR.predictionId]: { S: 'p1' },
      [ATTR.status]: { S: 'starting' },
    });
    await update(tableName, 'p1', { [ATTR.status]: { S: 'processing' } });
    await put(tableName, { [PARTITION_KEY]: { S: payloadItemKey('p1', 'digest1') }, expiresAt: { N: '1900000000' } });
    await update(tableName, 'p1', { [ATTR.status]: { S: 'succeeded' }, [ATTR.terminalStatus]: { S: 'succeeded' } });
    await update(tableName, 'p1', { [ATTR.archiveStatus]: { S: 'archived' } });
    await putTerminal(tableName, 'p2');
    await pipe.drain(10_000);

    expect(await bodies(queueUrl)).toEqual(['{"predictionId": "p1"}', '{"predictionId": "p2"}']);
    expect(errors).toEqual([]);
    expect(pipe.stats).toMatchObject({ recordsDelivered: 2, recordsFiltered: 4, messagesSent: 2, entriesRejected: 0 });
  });

  test('without an InputTemplate the message is the whole record', async () => {
    const { tableName, streamArn, queueUrl, pipe } = await setUp({ inputTemplate: undefined });
    await putTerminal(tableName, 'whole');
    await pipe.drain(10_000);

    const [body] = (await bodies(queueUrl)) as [string];
    expect(JSON.parse(body)).toMatchObject({
      eventName: 'INSERT',
      eventSource: 'aws:dynamodb',
      eventSourceARN: streamArn,
      dynamodb: { NewImage: { [ATTR.predictionId]: { S: 'whole' } } },
    });
  });

  test('a batch larger than 10 records is sent in SendMessageBatch calls of 10', async () => {
    const ids = Array.from({ length: 13 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    const { queueUrl, pipe, errors } = await setUp(
      { batchSize: 13 },
      {
        before: async (tableName) => {
          for (const id of ids) await putTerminal(tableName, id);
        },
      },
    );
    await pipe.drain(10_000);

    expect(errors).toEqual([]);
    expect(pipe.stats).toMatchObject({ invocations: 1, messagesSent: 13 });
    expect(await bodies(queueUrl)).toEqual(ids.map((id) => `{"predictionId": "${id}"}`));
  });

  test('an entry SQS rejects is retried from there until it is accepted, never dropped', async () => {
    // 1 KiB is the smallest MaximumMessageSize SQS allows; "large" renders to more than that.
    const queueUrl = await createQueue(undefined, { MaximumMessageSize: '1024' });
    const note = 'x'.repeat(1_500);
    const { pipe, errors } = await setUp(
      { inputTemplate: '{"predictionId": "<$.dynamodb.NewImage.predictionId.S>", "note": "<$.dynamodb.NewImage.note.S>"}' },
      {
        queueUrl,
        before: async (tableName) => {
          await putTerminal(tableName, 'small-1');
          await putTerminal(tableName, 'large', { note: { S: note } });
          await putTerminal(tableName, 'small-2');
        },
      },
    );
    await until(() => errors.length > 0);
    expect(String(errors[0])).toMatch(/SendMessageBatch rejected 1 of 3 message\(s\).*InvalidParameterValue/);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { MaximumMessageSize: '262144' } }));
    await pipe.drain(10_000);

    const ids = (await bodies(queueUrl)).map((body) => (JSON.parse(body!) as { predictionId: string }).predictionId);
    const attempts = pipe.stats.invocations;
    expect(attempts).toBeGreaterThanOrEqual(2);
    // Each attempt resent the batch from the rejected record on: at least once, never lost.
    expect(ids.filter((id) => id === 'small-1')).toHaveLength(1);
    expect(ids.filter((id) => id === 'large')).toHaveLength(1);
    expect(ids.filter((id) => id === 'small-2')).toHaveLength(attempts);
    expect(ids.indexOf('large')).toBeGreaterThan(ids.indexOf('small-1'));
    expect(pipe.stats).toMatchObject({ entriesRejected: attempts - 1, recordsDelivered: 3, failedBatches: 0 });
  });

  test('an entry rejected past maxRetryAttempts sends the rest of the batch to onFailure, and the pipe moves on', async () => {
    const queueUrl = await createQueue(undefined, { MaximumMessageSize: '1024' });
    const { tableName, pipe, failures, streamArn } = await setUp(
      {
        inputTemplate: '{"predictionId": "<$.dynamodb.NewImage.predictionId.S>", "note": "<$.dynamodb.NewImage.note.S>"}',
        maxRetryAttempts: 1,
      },
      {
        queueUrl,
        before: async (table) => {
          await putTerminal(table, 'small-1');
          await putTerminal(table, 'too-large', { note: { S: 'x'.repeat(1_500) } });
          await putTerminal(table, 'small-2');
        },
      },
    );
    await pipe.drain(10_000);
    await putTerminal(tableName, 'later');
    await pipe.drain(10_000);

    const ids = (await bodies(queueUrl)).map((body) => (JSON.parse(body!) as { predictionId: string }).predictionId);
    expect(ids).toEqual(['small-1', 'small-2', 'small-2', 'later']);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      requestContext: { functionArn: 'arn:aws:pipes:us-east-1:000000000000:pipe/local', approximateInvokeCount: 2 },
      DDBStreamBatchInfo: { batchSize: 2, streamArn },
    });
  });

  test('a failed SendMessageBatch call fails the batch, which is retried until the queue answers', async () => {
    const queueName = `q-${randomUUID()}`;
    const { tableName, pipe, errors } = await setUp({}, { queueUrl: queueUrlFor(queueName) });
    await putTerminal(tableName, 'waits-for-the-queue');
    await until(() => errors.length > 0);
    expect((errors[0] as { name?: string }).name).toMatch(/QueueDoesNotExist|NonExistentQueue/);
    const queueUrl = await createQueue(queueName);
    expect(queueUrl).toBe(queueUrlFor(queueName));
    await pipe.drain(10_000);

    expect(await bodies(queueUrl)).toEqual(['{"predictionId": "waits-for-the-queue"}']);
    expect(pipe.stats).toMatchObject({ messagesSent: 1, failedBatches: 0 });
    expect(pipe.stats.invocations).toBeGreaterThanOrEqual(2);
  });

  test('a template the emulation cannot render fails at start', () => {
    expect(() =>
      startStreamToQueuePipe({ streamArn: 'unused', queueUrl: 'unused', inputTemplate: '{"arn": "<aws.pipes.pipe-arn>"}' }),
    ).toThrow(/reserved variables/);
  });
});
