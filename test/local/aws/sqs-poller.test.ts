/**
 * The local SQS event source mapping against fauxqs: Lambda's event shape, partial batch
 * responses, whole-batch failures, the queue's own retries and redrive, maximum concurrency,
 * visibility changes made by the handler, drain and shutdown.
 */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startSqsPoller, type SqsPoller, type SqsPollerOptions } from '../../../local/aws/sqs-poller';
import { useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';

const execFileAsync = promisify(execFile);
let fauxqs: Fauxqs;
let sqs: SQSClient;
const pollers: SqsPoller[] = [];
const openGates: Array<() => void> = [];

/** A promise a test opens; afterEach opens any left shut, so a failed assertion cannot hang stop(). */
function gate(): { readonly shut: Promise<void>; open(): void } {
  let open!: () => void;
  const shut = new Promise<void>((resolve) => (open = resolve));
  openGates.push(open);
  return { shut, open };
}

beforeAll(async () => {
  fauxqs = await startFauxqs();
  useStandInEnvironment({ sqs: fauxqs.sqsEndpoint });
  sqs = new SQSClient({});
});

afterEach(async () => {
  for (const open of openGates.splice(0)) open();
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});

afterAll(async () => {
  sqs.destroy();
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

async function createQueue(attributes: Record<string, string> = {}): Promise<{ queueUrl: string; queueArn: string }> {
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `q-${randomUUID()}`, Attributes: attributes }),
  );
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  return { queueUrl: queueUrl!, queueArn: Attributes!.QueueArn! };
}

async function queueCounts(queueUrl: string) {
  const { Attributes: attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(attributes.ApproximateNumberOfMessages),
    inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

/** Sends bodies in order and returns their message ids. */
async function send(
  queueUrl: string,
  bodies: readonly string[],
  extra: Partial<SendMessageBatchRequestEntry> = {},
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < bodies.length; start += 10) {
    const chunk = bodies.slice(start, start + 10);
    const { Successful = [] } = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((body, index) => ({ Id: `e${index}`, MessageBody: body, ...extra })),
      }),
    );
    ids.push(...chunk.map((_, index) => Successful.find((entry) => entry.Id === `e${index}`)!.MessageId!));
  }
  return ids;
}

/** A queue (created with attributes), optional messages sent before polling starts, and a poller at test speed. */
async function setUp(
  options: Partial<SqsPollerOptions> = {},
  { attributes = {}, before = [] }: { attributes?: Record<string, string>; before?: readonly string[] } = {},
) {
  const { queueUrl, queueArn } = await createQueue(attributes);
  const messageIds = await send(queueUrl, before);
  const batches: SQSRecord[][] = [];
  const errors: unknown[] = [];
  const poller = startSqsPoller({
    queueUrl,
    handler: async (event) => void batches.push(event.Records),
    waitTimeSeconds: 1,
    pollIntervalMs: 20,
    onError: (error) => void errors.push(error),
    ...options,
  });
  pollers.push(poller);
  return { queueUrl, queueArn, messageIds, poller, batches, errors };
}

const bodyOf = (record: SQSRecord) => record.body;
const receiveCountOf = (record: SQSRecord) => record.attributes.ApproximateReceiveCount;

test("delivers messages in Lambda's record shape and deletes them", async () => {
  const { queueUrl, queueArn, poller, batches } = await setUp({ maxConcurrency: 1 });
  const sentBefore = Date.now();
  const [plainId] = await send(queueUrl, ['plain']);
  const { MessageId: withAttributesId } = await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: '{"predictionId": "p1"}',
      MessageAttributes: {
        kind: { DataType: 'String', StringValue: 'terminal' },
        attempt: { DataType: 'Number', StringValue: '3' },
        blob: { DataType: 'Binary', BinaryValue: Uint8Array.from([1, 2, 3]) },
      },
    }),
  );
  await poller.drain(5_000);

  const records = batches.flat();
  expect(records.map(bodyOf)).toEqual(['plain', '{"predictionId": "p1"}']);
  const [plain, withAttributes] = records as [SQSRecord, SQSRecord];
  for (const record of records) {
    expect(Object.keys(record)).toEqual(
      expect.arrayContaining(['messageId', 'receiptHandle', 'body', 'attributes', 'messageAttributes', 'md5OfBody']),
    );
    expect(record).toMatchObject({ eventSource: 'aws:sqs', eventSourceARN: queueArn, awsRegion: 'us-east-1' });
    expect(typeof record.receiptHandle).toBe('string');
    expect(record.md5OfBody).toBe(createHash('md5').update(record.body).digest('hex'));
    expect(Object.keys(record.attributes)).toEqual([
      'ApproximateReceiveCount',
      'SentTimestamp',
      'SenderId',
      'ApproximateFirstReceiveTimestamp',
    ]);
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    expect(typeof record.attributes.SenderId).toBe('string');
    const sent = Number(record.attributes.SentTimestamp);
    expect(sent).toBeGreaterThanOrEqual(sentBefore);
    expect(Number(record.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(sent);
  }
  expect(plain.messageId).toBe(plainId);
  expect(plain.messageAttributes).toEqual({});
  expect(plain).not.toHaveProperty('md5OfMessageAttributes');
  expect(withAttributes.messageId).toBe(withAttributesId);
  expect(withAttributes.messageAttributes).toEqual({
    kind: { stringValue: 'terminal', stringListValues: [], binaryListValues: [], dataType: 'String' },
    attempt: { stringValue: '3', stringListValues: [], binaryListValues: [], dataType: 'Number' },
    blob: { binaryValue: 'AQID', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
  });
  expect(typeof withAttributes.md5OfMessageAttributes).toBe('string');
  expect(await queueCounts(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  expect(poller.stats).toEqual({
    invocations: batches.length,
    failedInvocations: 0,
    messagesReceived: 2,
    messagesDeleted: 2,
    messagesLeft: 0,
  });
});

test('batches hold at most batchSize messages', async () => {
  const bodies = Array.from({ length: 5 }, (_, i) => `m${i}`);
  const { poller, batches } = await setUp({ batchSize: 2, maxConcurrency: 1 }, { before: bodies });
  await poller.drain(5_000);

  expect(batches.map((batch) => batch.length)).toEqual([2, 2, 1]);
  expect(batches.flat().map(bodyOf)).toEqual(bodies);
});

test('a partial batch failure deletes the others; exactly the failed ones come back, received twice', async () => {
  const bodies = ['m0', 'm1', 'm2', 'm3'];
  const { poller, batches, messageIds, errors } = await setUp(
    {
      maxConcurrency: 1,
      handler: async (event) => {
        batches.push(event.Records);
        if (batches.length > 1) return { batchItemFailures: [] };
        const [, second, , fourth] = event.Records;
        return { batchItemFailures: [{ itemIdentifier: second.messageId }, { itemIdentifier: fourth.messageId }] };
      },
    },
    { attributes: { VisibilityTimeout: '1' }, before: bodies },
  );
  await poller.drain(5_000);

  expect(batches[0].map(bodyOf)).toEqual(bodies);
  const again = batches.slice(1).flat();
  expect(again.map(bodyOf).sort()).toEqual(['m1', 'm3']);
  expect(again.map((record) => record.messageId).sort()).toEqual([messageIds[1], messageIds[3]].sort());
  expect(again.map(receiveCountOf)).toEqual(['2', '2']);
  expect(errors).toEqual([]);
  expect(poller.stats).toMatchObject({ failedInvocations: 0, messagesReceived: 6, messagesDeleted: 4, messagesLeft: 2 });
});

test('without reportBatchItemFailures the response is ignored and the whole batch is deleted', async () => {
  const { poller, batches } = await setUp(
    {
      reportBatchItemFailures: false,
      handler: async (event) => {
        batches.push(event.Records);
        return { batchItemFailures: event.Records.map((record) => ({ itemIdentifier: record.messageId })) };
      },
    },
    { attributes: { VisibilityTimeout: '1' }, before: ['m0', 'm1'] },
  );
  await poller.drain(5_000);

  expect(batches.flat().map(bodyOf).sort()).toEqual(['m0', 'm1']);
  expect(poller.stats).toMatchObject({ messagesDeleted: 2, messagesLeft: 0 });
});

test('a handler that throws leaves the whole batch, which comes back after the visibility timeout', async () => {
  const bodies = ['m0', 'm1', 'm2'];
  const { poller, batches, errors } = await setUp(
    {
      maxConcurrency: 1,
      handler: async (event) => {
        batches.push(event.Records);
        if (batches.length === 1) throw new Error('handler failed');
      },
    },
    { attributes: { VisibilityTimeout: '1' }, before: bodies },
  );
  await poller.drain(5_000);

  expect(batches[0].map(bodyOf)).toEqual(bodies);
  const again = batches.slice(1).flat();
  expect(again.map(bodyOf).sort()).toEqual(bodies);
  expect(again.map(receiveCountOf)).toEqual(['2', '2', '2']);
  expect(errors).toEqual([new Error('handler failed')]);
  expect(poller.stats).toMatchObject({ invocations: batches.length, failedInvocations: 1, messagesDeleted: 3, messagesLeft: 3 });
});

test('an empty or unknown itemIdentifier fails the whole batch', async () => {
  const run = async (itemIdentifier: string) => {
    const calls: string[][] = [];
    const { poller, errors } = await setUp(
      {
        maxConcurrency: 1,
        handler: async (event) => {
          calls.push(event.Records.map(bodyOf));
          return calls.length === 1 ? { batchItemFailures: [{ itemIdentifier }] } : undefined;
        },
      },
      { attributes: { VisibilityTimeout: '1' }, before: ['m0', 'm1'] },
    );
    await poller.drain(5_000);
    return { calls, errors, stats: poller.stats };
  };
  // Both at once: each waits out one visibility timeout.
  const results = await Promise.all([run(''), run('not-a-message-id')]);

  for (const { calls, errors, stats } of results) {
    expect(calls[0]).toEqual(['m0', 'm1']);
    expect(calls.slice(1).flat().sort()).toEqual(['m0', 'm1']);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/invalid batchItemFailures/);
    expect(stats).toMatchObject({ failedInvocations: 1, messagesLeft: 2, messagesDeleted: 2 });
  }
});

test("the queue's redrive policy moves a message to the dead-letter queue after maxReceiveCount receives", async () => {
  const { queueUrl: dlqUrl, queueArn: dlqArn } = await createQueue();
  const { poller, batches } = await setUp(
    {
      handler: async (event) => {
        batches.push(event.Records);
        throw new Error('always fails');
      },
    },
    {
      attributes: {
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
      },
      before: ['poison'],
    },
  );
  await poller.drain(6_000);

  expect(batches.flat().map((record) => [record.body, receiveCountOf(record)])).toEqual([
    ['poison', '1'],
    ['poison', '2'],
  ]);
  const { Messages: dead = [] } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }),
  );
  expect(dead.map((message) => message.Body)).toEqual(['poison']);
  expect(dead[0].MessageId).toBe(batches[0][0].messageId);
  expect(poller.stats).toMatchObject({ invocations: 2, failedInvocations: 2, messagesDeleted: 0, messagesLeft: 2 });
});

test('at most maxConcurrency invocations run at once, and a slow one does not hold up the others', async () => {
  let running = 0;
  let maxRunning = 0;
  const slowGate = gate();
  const fastGate = gate();
  const done: string[] = [];
  const { queueUrl, poller } = await setUp({
    batchSize: 1,
    maxConcurrency: 3,
    handler: async (event) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      try {
        await (event.Records[0].body === 'slow' ? slowGate : fastGate).shut;
        done.push(...event.Records.map(bodyOf));
      } finally {
        running -= 1;
      }
    },
  });
  await send(queueUrl, ['slow']);
  await until(() => running === 1);
  const fast = Array.from({ length: 6 }, (_, i) => `fast${i}`);
  await send(queueUrl, fast);
  await until(() => running >= 3);
  // Time for an unbounded poller to start more invocations than it may.
  await sleep(300);
  expect(maxRunning).toBe(3);

  fastGate.open();
  await until(() => done.length === fast.length);
  expect(done.sort()).toEqual(fast);
  expect(running).toBe(1); // the slow invocation, still running all along

  slowGate.open();
  await poller.drain(5_000);
  expect(done).toContain('slow');
  expect(maxRunning).toBe(3);
});

test('a visibility timeout set by the handler decides when a failed message comes back', async () => {
  const receivedAt: number[] = [];
  const { queueUrl, poller, batches } = await setUp(
    {
      maxConcurrency: 1,
      handler: async (event) => {
        receivedAt.push(Date.now());
        batches.push(event.Records);
        if (batches.length > 1) return;
        const [record] = event.Records as [SQSRecord];
        // The queue would hide it for 30 s; the handler asks for 1 s.
        await sqs.send(
          new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle, VisibilityTimeout: 1 }),
        );
        return { batchItemFailures: [{ itemIdentifier: record.messageId }] };
      },
    },
    { attributes: { VisibilityTimeout: '30' }, before: ['retry-me'] },
  );
  await poller.drain(5_000);

  expect(batches.flat().map(receiveCountOf)).toEqual(['1', '2']);
  const [first, second] = receivedAt as [number, number];
  expect(second - first).toBeGreaterThanOrEqual(900);
  expect(second - first).toBeLessThan(3_000);
});

test('drain rejects with the queue state when messages stay in flight', async () => {
  const { poller, errors } = await setUp(
    {
      handler: async () => {
        throw new Error('always fails');
      },
    },
    { before: ['stuck'] },
  );

  await expect(poller.drain(300)).rejects.toThrow(/did not drain within 300 ms \(visible 0, in flight 1, delayed 0/);
  expect(errors).toEqual([new Error('always fails')]);
});

test('drain waits for a running invocation even when its messages are already gone from the queue', async () => {
  const invocation = gate();
  const { queueUrl, poller, batches } = await setUp(
    {
      handler: async (event) => {
        batches.push(event.Records);
        // A handler may delete its own message and keep working; the invocation is still running.
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: event.Records[0].receiptHandle }));
        await invocation.shut;
      },
    },
    { before: ['deletes-itself'] },
  );
  await until(() => batches.length === 1);
  let drained = false;
  const draining = poller.drain(5_000).then(() => (drained = true));
  await sleep(200);
  expect(await queueCounts(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  expect(drained).toBe(false);

  invocation.open();
  await draining;
});

test('stop() waits for a running invocation and its delete, then delivers nothing more', async () => {
  const invocation = gate();
  const { queueUrl, poller, batches } = await setUp(
    {
      // One worker, busy in the invocation: no long poll is left for stop() to cancel.
      maxConcurrency: 1,
      handler: async (event) => {
        batches.push(event.Records);
        await invocation.shut;
      },
    },
    { before: ['in-flight'] },
  );
  await until(() => batches.length === 1);

  let stopped = false;
  const stopping = poller.stop().then(() => (stopped = true));
  await sleep(100);
  expect(stopped).toBe(false);
  invocation.open();
  await stopping;
  expect(await queueCounts(queueUrl)).toEqual({ visible: 0, inFlight: 0 });

  await send(queueUrl, ['after-stop']);
  await sleep(200);
  expect(batches.flat().map(bodyOf)).toEqual(['in-flight']);
  expect(await queueCounts(queueUrl)).toEqual({ visible: 1, inFlight: 0 });
  await expect(poller.drain()).rejects.toThrow(/stopped/);
});

test('after stop() nothing keeps the process alive', async () => {
  // A process of its own: it must exit by itself, with no timer, socket or long poll left behind.
  const { queueUrl } = await createQueue();
  await send(queueUrl, ['one']);
  const script = `
    (async () => {
      (await import('fauxqs')).interceptLocalhostDns();
      const { startSqsPoller } = require(${JSON.stringify(join(__dirname, '../../../local/aws/sqs-poller.ts'))});
      let invocations = 0;
      const poller = startSqsPoller({ queueUrl: process.env.QUEUE_URL, handler: async () => void invocations++, onError: () => {} });
      await poller.drain(5000);
      // Every worker is now in a 20 s long poll, which stop() must cancel.
      await new Promise((resolve) => setTimeout(resolve, 100));
      await poller.stop();
      const stoppedAt = Date.now();
      process.on('exit', () => console.log(JSON.stringify({ invocations, exitMs: Date.now() - stoppedAt })));
    })();
  `;
  const { stdout } = await execFileAsync(process.execPath, ['--require', 'tsx/cjs', '--eval', script], {
    cwd: join(__dirname, '..', '..', '..'),
    env: { ...process.env, NODE_OPTIONS: '', QUEUE_URL: queueUrl },
    timeout: 15_000,
  });
  const { invocations, exitMs } = JSON.parse(stdout) as { invocations: number; exitMs: number };
  expect(invocations).toBe(1);
  expect(exitMs).toBeLessThan(500);
});

test('rejects settings Lambda would not accept', () => {
  const base = { queueUrl: 'http://unused', handler: async () => undefined };
  expect(() => startSqsPoller({ ...base, batchSize: 11 })).toThrow(/batchSize/);
  expect(() => startSqsPoller({ ...base, maxConcurrency: 0 })).toThrow(/maxConcurrency/);
  expect(() => startSqsPoller({ ...base, waitTimeSeconds: 21 })).toThrow(/waitTimeSeconds/);
});
