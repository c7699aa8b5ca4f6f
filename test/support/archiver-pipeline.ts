/**
 * The archiver's test rig (test/lambda/archiver/handler.*.test.ts): DynamoDB Local's real stream
 * through the forwarder (on the local stream event source, with the construct's own filter and
 * settings) into an SQS queue in fauxqs, consumed through the local SQS event source; fauxqs for S3 and SNS, and a loopback file server
 * standing in for replicate.delivery. `usePeers()` starts the shared peers for a test file;
 * `withPipeline` gives one test its own table, queues and archiver.
 */
import { readArchiverConfig } from '../../lambda/archiver/config';
import { archiverDependencies } from '../../lambda/archiver/dependencies';
import { createArchiverHandler } from '../../lambda/archiver/handler';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parsePrediction } from '../../lambda/shared/prediction';
import { ARCHIVE_PENDING_INDEX, predictionItemKey } from '../../lambda/shared/state';
import { WebhookStore } from '../../lambda/store/webhook-store';
import { startSqsPoller, type SqsPoller } from '../../local/aws/sqs-poller';
import type { StreamBatchFailure, StreamPoller } from '../../local/aws/stream-poller';
import { createTestTable, dynamoDbEndpoint, useStandInEnvironment } from './aws';
import { startFauxqs, type Fauxqs } from './fauxqs';
import { startFileServer, type FileServer } from './file-server';
import { startForwarder } from './forwarder';
import { createTopic, subscribeQueue, type Subscriber } from './notifications';
import { fixture } from './webhooks';

export type Archiver = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

export const MiB = 1024 * 1024;
export const bucket = 'archiver-test-archive';
export let fauxqs: Fauxqs;
export let files: FileServer;
export let s3: S3Client;
export let sns: SNSClient;
export let sqsClient: SQSClient;
export let dynamodb: DynamoDBClient;

/** The peers every archiver test file shares (fauxqs, the file server, SDK clients): started once per file. */
export function usePeers(): void {
  beforeAll(async () => {
    fauxqs = await startFauxqs();
    fauxqs.createBucket(bucket);
    files = await startFileServer();
    useStandInEnvironment({ dynamodb: dynamoDbEndpoint(), s3: fauxqs.s3Endpoint, sns: fauxqs.endpoint, sqs: fauxqs.sqsEndpoint });
    s3 = new S3Client({});
    sns = new SNSClient({});
    sqsClient = new SQSClient({});
    dynamodb = new DynamoDBClient({});
  });

  afterAll(async () => {
    for (const client of [s3, sns, sqsClient, dynamodb]) client.destroy();
    await files.stop();
    await fauxqs.stop();
  });
}

export interface PipelineOptions {
  topicArn?: string;
  maxReceiveCount?: number;
  batchSize?: number;
  maxConcurrency?: number;
}

export interface Pipeline {
  readonly tableName: string;
  readonly streamArn: string;
  readonly topicArn: string;
  readonly subscriber: Subscriber;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** Stream batches the forwarder could not queue (its event source's on-failure destination). */
  readonly failures: StreamBatchFailure[];
  readonly prefix: string;
  /** The archiver of this pipeline (a cold start with its environment). */
  readonly archiver: Archiver;
  /** Records a prediction's webhooks the way the verifier does. */
  record(...payloads: Array<Record<string, unknown> | string>): Promise<void>;
  /** Waits until every finished prediction has been queued and every message settled. */
  drain(timeoutMs?: number): Promise<void>;
  /** Messages waiting in the dead-letter queue (bodies). */
  deadLetters(): Promise<string[]>;
  stop(): Promise<void>;
}

/** A table, a topic with a subscribed queue, the archive queue and its DLQ, the archiver (a cold start with this env), the forwarder and the event sources. */
export async function startPipeline(env: Record<string, string> = {}, options: PipelineOptions = {}): Promise<Pipeline> {
  const maxReceiveCount = options.maxReceiveCount ?? 3;
  const { tableName, streamArn } = await createTestTable();
  const topicArn = options.topicArn ?? (await createTopic(sns));
  const subscriber = await subscribeQueue(sns, sqsClient, topicArn).catch(() => undefined);
  const prefix = `run-${randomUUID().slice(0, 8)}/`;
  const deadLetterQueueUrl = (await sqsClient.send(new CreateQueueCommand({ QueueName: `dlq-${randomUUID()}` }))).QueueUrl!;
  const { Attributes } = await sqsClient.send(
    new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const queueUrl = (
    await sqsClient.send(
      new CreateQueueCommand({
        QueueName: `archive-${randomUUID()}`,
        Attributes: {
          VisibilityTimeout: '30',
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl!;
  Object.assign(process.env, {
    TABLE_NAME: tableName,
    BUCKET_NAME: bucket,
    ARCHIVE_PREFIX: prefix,
    COMPLETION_TOPIC_ARN: topicArn,
    ARCHIVE_QUEUE_URL: queueUrl,
    MAX_RECEIVE_COUNT: String(maxReceiveCount),
    RETRY_QUEUE_BASE_DELAY_SECONDS: '0',
    ALLOWED_OUTPUT_HOSTS: `replicate.delivery,*.replicate.delivery,http://${files.host}`,
    ALLOW_PRIVATE_ADDRESSES: 'true',
    FETCH_ATTEMPTS: '2',
    FETCH_RETRY_DELAY_MS: '20',
    PART_SIZE_BYTES: String(5 * MiB),
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    ...env,
  });
  const archiver = loadArchiver();
  const failures: StreamBatchFailure[] = [];
  const forwarder: StreamPoller = startForwarder({
    streamArn,
    queueUrl,
    sqs: sqsClient,
    maxRetryAttempts: 2,
    pollIntervalMs: 50,
    retryDelayMs: 20,
    onFailure: async (failure) => void failures.push(failure),
  });
  const consumer: SqsPoller = startSqsPoller({
    queueUrl,
    handler: (event) => archiver(event),
    batchSize: options.batchSize ?? 10,
    maxConcurrency: options.maxConcurrency ?? 2,
    waitTimeSeconds: 0,
    pollIntervalMs: 50,
    sqsClient,
    onError: () => undefined,
  });
  const store = new WebhookStore(dynamodb, s3, {
    tableName,
    bucketName: bucket,
    archivePrefix: prefix,
    maxInlinePayloadBytes: 16 * 1024,
  });
  let clock = Math.floor(Date.now() / 1000) - 100;
  return {
    tableName,
    streamArn,
    topicArn,
    subscriber: subscriber!,
    queueUrl,
    deadLetterQueueUrl,
    failures,
    prefix,
    archiver,
    async record(...payloads) {
      for (const payload of payloads) {
        const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
        const parsed = parsePrediction(body);
        if (!parsed.ok) throw new Error(`bad test payload: ${parsed.reason}`);
        const outcome = await store.record({
          webhookId: `msg_${randomUUID()}`,
          timestampSeconds: clock++,
          prediction: parsed.prediction,
          body,
          bodyBytes: Buffer.byteLength(body),
          receivedAt: new Date(),
        });
        if (outcome !== 'accepted') throw new Error(`webhook not accepted: ${outcome}`);
      }
    },
    async drain(timeoutMs = 30_000) {
      await forwarder.drain(timeoutMs);
      await consumer.drain(timeoutMs);
    },
    async deadLetters() {
      const { Messages = [] } = await sqsClient.send(
        new ReceiveMessageCommand({ QueueUrl: deadLetterQueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
      );
      return Messages.map((message) => message.Body!);
    },
    async stop() {
      await forwarder.stop();
      await consumer.stop();
    },
  };
}

/** The archiver as its entry builds it, from the environment startPipeline set. */
export function loadArchiver(): Archiver {
  return createArchiverHandler(archiverDependencies(readArchiverConfig()));
}

/** A Lambda context with `remainingMs` of the timeout left. */
export function contextWith(remainingMs: number): Context {
  const deadline = Date.now() + remainingMs;
  return { getRemainingTimeInMillis: () => deadline - Date.now() } as Context;
}

/** An SQS event as Lambda builds it, for messages that never went through the queue. */
export function sqsEvent(bodies: string[], receiveCount = 1): SQSEvent {
  return {
    Records: bodies.map((body) => ({
      messageId: randomUUID(),
      receiptHandle: randomUUID(),
      body,
      attributes: {
        ApproximateReceiveCount: String(receiveCount),
        SentTimestamp: String(Date.now()),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:archive',
      awsRegion: 'us-east-1',
    })),
  };
}

/** What is printed to stdout and stderr until `stop`: the handlers' JSON log lines and embedded metrics. */
export function captureOutput(): { stop(): void; jsonLines(): Array<Record<string, unknown>> } {
  const output: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    }),
  );
  return {
    stop: () => spies.forEach((spy) => spy.mockRestore()),
    jsonLines: () =>
      output
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** Runs the shipped archiver bundle once, in a process of its own (bench/processes/archive-once.cjs). */
export const ARCHIVE_ONCE = join(__dirname, '..', '..', 'bench', 'processes', 'archive-once.cjs');

/** The first value `read` gives that is not undefined, polled until `timeoutMs`. */
export async function waitFor<T>(read: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const newId = () => `p${randomBytes(12).toString('hex')}`;
export const prediction = (id: string, name: string, overrides: Record<string, unknown> = {}) => ({
  ...fixture(name),
  id,
  ...overrides,
});

export async function getObject(key: string): Promise<{ bytes: Buffer; contentType?: string }> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { bytes: Buffer.from(await object.Body!.transformToByteArray()), contentType: object.ContentType };
}
export const readJson = async <T>(key: string) => JSON.parse((await getObject(key)).bytes.toString('utf8')) as T;
export async function listKeys(prefix: string): Promise<string[]> {
  const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return Contents.map((object) => object.Key!).sort();
}
export async function item(tableName: string, predictionId: string) {
  const { Item } = await dynamodb.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: predictionItemKey(predictionId) } }, ConsistentRead: true }),
  );
  return Item;
}
/** The predictions in one partition of the archive-pending index (`pending`: what the reconciler redrives; `failed`: given up). */
export async function inArchivePendingPartition(tableName: string, partition: string): Promise<string[]> {
  const { Items = [] } = await dynamodb.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: ARCHIVE_PENDING_INDEX.indexName,
      KeyConditionExpression: '#partition = :partition',
      ExpressionAttributeNames: { '#partition': ARCHIVE_PENDING_INDEX.partitionKey },
      ExpressionAttributeValues: { ':partition': { S: partition } },
    }),
  );
  return Items.map((found) => found.predictionId.S!).sort();
}

/**
 * A pipeline for one test: started, handed to `use`, and stopped however `use` ends.
 * `withPipeline(use)`, `withPipeline(env, use)` or `withPipeline(env, options, use)`, with the
 * arguments of `startPipeline`.
 */
export async function withPipeline(
  ...args:
    | [use: (pipeline: Pipeline) => Promise<void>]
    | [env: Record<string, string>, use: (pipeline: Pipeline) => Promise<void>]
    | [env: Record<string, string>, options: PipelineOptions, use: (pipeline: Pipeline) => Promise<void>]
): Promise<void> {
  const use = args[args.length - 1] as (pipeline: Pipeline) => Promise<void>;
  const env = args.length > 1 ? (args[0] as Record<string, string>) : {};
  const options = args.length > 2 ? (args[1] as PipelineOptions) : {};
  const pipeline = await startPipeline(env, options);
  try {
    await use(pipeline);
  } finally {
    await pipeline.stop();
  }
}
