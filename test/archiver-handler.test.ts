/**
 * The archiver against real peers: DynamoDB Local's real stream through the local Pipe (the
 * construct's own filter and template) into an SQS queue in fauxqs, consumed through the local
 * SQS event source; fauxqs for S3 and SNS (read back through an SQS subscription), and a
 * loopback file server standing in for replicate.delivery.
 */
import { readArchiverConfig } from '../lambda/archiver/config';
import { archiverDependencies } from '../lambda/archiver/dependencies';
import { createArchiverHandler } from '../lambda/archiver/handler';
import { DynamoDBClient, GetItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { ArchiveProgressStore } from '../lambda/archiver/progress';
import { ARCHIVE_REQUEST_TEMPLATE } from '../lambda/shared/archive-queue';
import { COMPLETION_EVENT_SOURCE } from '../lambda/shared/completion-event';
import type { ArchiveManifest } from '../lambda/shared/completion-message';
import { parsePrediction } from '../lambda/shared/prediction';
import { ARCHIVE_PENDING_INDEX, predictionItemKey } from '../lambda/shared/state';
import { BECAME_TERMINAL_PATTERNS } from '../lambda/shared/stream-filter';
import { WebhookStore } from '../lambda/store/webhook-store';
import { CompletionKind, ReplicateWebhooks } from '../lib';
import { matchesPattern } from '../local/aws/event-filter';
import { startStreamToQueuePipe, type StreamBatchFailure, type StreamToQueuePipe } from '../local/aws/pipe';
import { startEventBridge, type EventBridgeStandIn } from '../local/aws/standins/eventbridge';
import { startSqsPoller, type SqsPoller } from '../local/aws/sqs-poller';
import { createTestTable, dynamoDbEndpoint, useStandInEnvironment } from './support/aws';
import { startFauxqs, type Fauxqs } from './support/fauxqs';
import { sha256, startFileServer, type FileServer } from './support/file-server';
import { createTopic, subscribeQueue, type Subscriber } from './support/notifications';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy';
import { fixture } from './support/webhooks';

type Archiver = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

const MiB = 1024 * 1024;
const bucket = 'archiver-test-archive';
let fauxqs: Fauxqs;
let files: FileServer;
let s3: S3Client;
let sns: SNSClient;
let sqsClient: SQSClient;
let dynamodb: DynamoDBClient;

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

interface Pipeline {
  readonly tableName: string;
  readonly topicArn: string;
  readonly subscriber: Subscriber;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** Stream batches the Pipe could not queue. */
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

/** A table, a topic with a subscribed queue, the archive queue and its DLQ, the archiver (a cold start with this env), the Pipe and the event source. */
async function startPipeline(
  env: Record<string, string> = {},
  options: { topicArn?: string; maxReceiveCount?: number; batchSize?: number; maxConcurrency?: number } = {},
): Promise<Pipeline> {
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
  const pipe: StreamToQueuePipe = startStreamToQueuePipe({
    streamArn,
    queueUrl,
    filterPatterns: BECAME_TERMINAL_PATTERNS,
    inputTemplate: ARCHIVE_REQUEST_TEMPLATE,
    maxRetryAttempts: 2,
    onPartialBatchItemFailure: 'AUTOMATIC_BISECT',
    pollIntervalMs: 50,
    retryDelayMs: 20,
    onFailure: async (failure) => void failures.push(failure),
    sqsClient,
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
      await pipe.drain(timeoutMs);
      await consumer.drain(timeoutMs);
    },
    async deadLetters() {
      const { Messages = [] } = await sqsClient.send(
        new ReceiveMessageCommand({ QueueUrl: deadLetterQueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
      );
      return Messages.map((message) => message.Body!);
    },
    async stop() {
      await pipe.stop();
      await consumer.stop();
    },
  };
}

/** The archiver as its entry builds it, from the environment startPipeline set. */
function loadArchiver(): Archiver {
  return createArchiverHandler(archiverDependencies(readArchiverConfig()));
}

/** A Lambda context with `remainingMs` of the timeout left. */
function contextWith(remainingMs: number): Context {
  const deadline = Date.now() + remainingMs;
  return { getRemainingTimeInMillis: () => deadline - Date.now() } as Context;
}

/** An SQS event as Lambda builds it, for messages that never went through the queue. */
function sqsEvent(bodies: string[], receiveCount = 1): SQSEvent {
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
function captureOutput(): { stop(): void; jsonLines(): Array<Record<string, unknown>> } {
  const output: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    }) as never),
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
const ARCHIVE_ONCE = join(__dirname, '..', 'bench', 'processes', 'archive-once.cjs');

/** The first value `read` gives that is not undefined, polled until `timeoutMs`. */
async function waitFor<T>(read: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const newId = () => `p${randomBytes(12).toString('hex')}`;
const prediction = (id: string, name: string, overrides: Record<string, unknown> = {}) => ({
  ...fixture(name),
  id,
  ...overrides,
});

async function getObject(key: string): Promise<{ bytes: Buffer; contentType?: string }> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { bytes: Buffer.from(await object.Body!.transformToByteArray()), contentType: object.ContentType };
}
const readJson = async <T>(key: string) => JSON.parse((await getObject(key)).bytes.toString('utf8')) as T;
async function listKeys(prefix: string): Promise<string[]> {
  const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return Contents.map((object) => object.Key!).sort();
}
async function item(tableName: string, predictionId: string) {
  const { Item } = await dynamodb.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: predictionItemKey(predictionId) } }, ConsistentRead: true }),
  );
  return Item;
}
/** The predictions in one partition of the archive-pending index (`pending`: what the reconciler redrives; `failed`: given up). */
async function inArchivePendingPartition(tableName: string, partition: string): Promise<string[]> {
  const { Items = [] } = await dynamodb.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: ARCHIVE_PENDING_INDEX.indexName,
      KeyConditionExpression: '#partition = :partition',
      ExpressionAttributeNames: { '#partition': ARCHIVE_PENDING_INDEX.partitionKey },
      ExpressionAttributeValues: { ':partition': { S: partition } },
    }),
  );
  return Items.map((found) => found.predictionId!.S!).sort();
}

describe('archiving finished predictions', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(() => pipeline.stop());

  test('every output lands byte-exact under deterministic keys, with manifest, prediction.json and one notification', async () => {
    const id = newId();
    const big = files.serveRandom(`/${id}/out-0.webp`, 12 * MiB + 123, 'image/webp'); // multipart: 3 parts of 5 MiB
    const small = files.serveRandom(`/${id}/out-1.png`, 2048); // no content type: guessed from the name
    const terminal = JSON.stringify(prediction(id, 'succeeded-images', { output: [big.url, small.url] }), null, 2);
    await pipeline.record(prediction(id, 'starting', {}), prediction(id, 'processing'), terminal);
    await pipeline.drain();

    const folder = `${pipeline.prefix}predictions/${id}/`;
    expect(await listKeys(folder)).toEqual(
      [
        `${folder}manifest.json`,
        `${folder}outputs/0-out-0.webp`,
        `${folder}outputs/1-out-1.png`,
        `${folder}prediction.json`,
      ].sort(),
    );
    const first = await getObject(`${folder}outputs/0-out-0.webp`);
    expect(sha256(first.bytes)).toBe(big.sha256);
    expect(first.contentType).toBe('image/webp');
    const second = await getObject(`${folder}outputs/1-out-1.png`);
    expect(second.bytes.equals(small.bytes)).toBe(true);
    expect(second.contentType).toBe('image/png');
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `${folder}outputs/1-out-1.png` }));
    expect(head.Metadata).toMatchObject({ 'prediction-id': id, 'source-url': small.url });

    expect((await getObject(`${folder}prediction.json`)).bytes.toString('utf8')).toBe(terminal);
    const manifest = await readJson<ArchiveManifest>(`${folder}manifest.json`);
    expect(manifest).toEqual({
      predictionId: id,
      status: 'succeeded',
      archivedAt: expect.any(String),
      prediction: { bucket, key: `${folder}prediction.json`, s3Uri: `s3://${bucket}/${folder}prediction.json` },
      files: [
        {
          source: big.url,
          paths: ['[0]'],
          bucket,
          key: `${folder}outputs/0-out-0.webp`,
          s3Uri: `s3://${bucket}/${folder}outputs/0-out-0.webp`,
          bytes: big.bytes.length,
          sha256: big.sha256,
          contentType: 'image/webp',
        },
        expect.objectContaining({ source: small.url, bytes: 2048, sha256: small.sha256, contentType: 'image/png' }),
      ],
      failures: [],
    });

    const notifications = await pipeline.subscriber.receiveAll();
    expect(notifications).toHaveLength(1);
    const [{ message, attributes }] = notifications;
    expect(attributes).toEqual({
      status: 'succeeded',
      kind: 'prediction',
      model: 'black-forest-labs/flux-schnell',
      prediction_id: id,
    });
    expect(message).toMatchObject({
      schemaVersion: 1,
      predictionId: id,
      status: 'succeeded',
      model: 'black-forest-labs/flux-schnell',
      version: expect.any(String),
      createdAt: '2026-11-20T10:00:00.000000Z',
      completedAt: '2026-11-20T10:00:03.400000Z',
      metrics: { predict_time: 2.296, total_time: 3.4 },
      archive: {
        prediction: { bucket, key: `${folder}prediction.json`, s3Uri: `s3://${bucket}/${folder}prediction.json` },
        manifest: { bucket, key: `${folder}manifest.json`, s3Uri: `s3://${bucket}/${folder}manifest.json` },
      },
      outputs: manifest.files,
      failures: [],
    });
    expect(JSON.stringify(message)).not.toContain('Using seed'); // never the logs

    expect(await item(pipeline.tableName, id)).toMatchObject({
      archiveStatus: { S: 'archived' },
      archivedFiles: { N: '2' },
      archiveFailures: { N: '0' },
      notifiedAt: { S: expect.any(String) },
    });
  });

  test('data: URIs, nested outputs and text tokens', async () => {
    const [dataId, nestedId, tokensId] = [newId(), newId(), newId()];
    const video = files.serveRandom(`/${nestedId}/output.mp4`, 100_000, 'video/mp4');
    const frame = files.serveRandom(`/${nestedId}/f0.png`, 5_000, 'image/png');
    await pipeline.record(
      prediction(dataId, 'succeeded-data-uri'),
      prediction(nestedId, 'succeeded-nested-output', { output: { video: video.url, frames: [frame.url], caption: 'a sunset' } }),
      prediction(tokensId, 'succeeded-llm-tokens'),
    );
    await pipeline.drain();

    const data = await getObject(`${pipeline.prefix}predictions/${dataId}/outputs/0-output-0.txt`);
    expect(data).toEqual({ bytes: Buffer.from('hello world\n'), contentType: 'text/plain' });
    const nested = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${nestedId}/manifest.json`);
    expect(nested.files.map((file) => [file.paths, file.sha256])).toEqual([
      [['.video'], video.sha256],
      [['.frames[0]'], frame.sha256],
    ]);
    const tokens = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${tokensId}/manifest.json`);
    expect(tokens).toMatchObject({ files: [], failures: [] });

    const notifications = await pipeline.subscriber.receiveAll();
    expect(notifications.map((n) => n.message.predictionId).sort()).toEqual([dataId, nestedId, tokensId].sort());
    const dataMessage = notifications.find((n) => n.message.predictionId === dataId)!.message;
    expect(dataMessage.outputs[0].source).toBe('data:text/plain (12 bytes)');
  });

  test('data: URIs that do not decode are listed as failures beside the outputs that were archived, and counted', async () => {
    const id = newId();
    const good = files.serveRandom(`/${id}/good.png`, 2000, 'image/png');
    const output = {
      inline: 'data:text/plain;base64,aGVsbG8=',
      url: good.url,
      badBase64: 'data:image/png;base64,!!!',
      badPercent: 'data:text/plain,%E0%A4%A',
    };
    await pipeline.record(prediction(id, 'succeeded-nested-output', { output }));
    await pipeline.drain();
    const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
    expect(manifest.files.map((file) => file.paths)).toEqual([['.inline'], ['.url']]);
    const invalid = (path: string) => ({
      source: 'data: (malformed)',
      paths: [path],
      reason: 'invalid_data_uri',
      transient: false,
    });
    expect(manifest.failures).toEqual([invalid('.badBase64'), invalid('.badPercent')]);
    const [notification] = await pipeline.subscriber.receiveAll();
    expect(notification.message.failures).toEqual(manifest.failures);
    expect(await item(pipeline.tableName, id)).toMatchObject({
      archiveStatus: { S: 'archived_with_failures' },
      archivedFiles: { N: '2' },
      archiveFailures: { N: '2' },
    });
  });

  test('a prediction whose data Replicate removed is archived with a data_removed failure, never as a clean archive of nothing', async () => {
    const pipeline = await startPipeline({ POWERTOOLS_METRICS_DISABLED: 'false' });
    const printed = captureOutput();
    try {
      await pipeline.stop();
      const [removed, removedWithOutput] = [newId(), newId()];
      const left = files.serveRandom(`/${removedWithOutput}/left.png`, 1000, 'image/png');
      const terminal = JSON.stringify(prediction(removed, 'succeeded-images', { output: null, data_removed: true }));
      await pipeline.record(
        terminal,
        prediction(removedWithOutput, 'succeeded-images', { output: [left.url], data_removed: true }),
      );
      const bodies = [removed, removedWithOutput].map((id) => JSON.stringify({ predictionId: id }));
      expect(await pipeline.archiver(sqsEvent(bodies), contextWith(60_000))).toEqual({ batchItemFailures: [] });
      printed.stop();

      const removedFailure = { source: '(output removed by Replicate)', paths: [], reason: 'data_removed', transient: false };
      const folder = `${pipeline.prefix}predictions/${removed}/`;
      expect((await getObject(`${folder}prediction.json`)).bytes.toString('utf8')).toBe(terminal);
      const manifest = await readJson<ArchiveManifest>(`${folder}manifest.json`);
      expect(manifest).toMatchObject({ files: [], failures: [removedFailure] });
      // Outputs the payload still lists are archived all the same, beside the failure.
      const withOutput = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${removedWithOutput}/manifest.json`);
      expect(withOutput.files.map((file) => file.sha256)).toEqual([left.sha256]);
      expect(withOutput.failures).toEqual([removedFailure]);

      const notifications = await pipeline.subscriber.receiveAll();
      expect(notifications.map((n) => [n.message.predictionId, n.message.failures]).sort()).toEqual(
        [
          [removed, [removedFailure]],
          [removedWithOutput, [removedFailure]],
        ].sort(),
      );
      expect(await item(pipeline.tableName, removed)).toMatchObject({
        archiveStatus: { S: 'archived_with_failures' },
        archivedFiles: { N: '0' },
        archiveFailures: { N: '1' },
        notifiedAt: { S: expect.any(String) },
      });
      expect((await item(pipeline.tableName, removedWithOutput))?.archiveStatus).toEqual({ S: 'archived_with_failures' });
      // Counted where the archiveFileFailures alarm looks: the total (one value per archival,
      // which Powertools may print as an array), and the series by reason.
      const counted = printed.jsonLines().filter((line) => line.ArchiveFailures !== undefined);
      const total = counted.filter((line) => line.reason === undefined).flatMap((line) => [line.ArchiveFailures].flat());
      expect(total).toEqual([1, 1]);
      expect(counted.filter((line) => line.reason !== undefined).map((line) => line.reason)).toEqual([
        'data_removed',
        'data_removed',
      ]);
    } finally {
      printed.stop();
      process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    }
  });

  test('failed, canceled and aborted predictions are announced too', async () => {
    const ids = { failed: newId(), canceled: newId(), aborted: newId() };
    for (const [status, id] of Object.entries(ids)) await pipeline.record(prediction(id, 'starting'), prediction(id, status));
    await pipeline.drain();
    const notifications = await pipeline.subscriber.receiveAll();
    expect(notifications.map((n) => [n.message.predictionId, n.attributes.status]).sort()).toEqual(
      Object.entries(ids)
        .map(([status, id]) => [id, status])
        .sort(),
    );
    const failed = notifications.find((n) => n.attributes.status === 'failed')!.message;
    expect(failed.error).toBe('CUDA out of memory. Tried to allocate 2.00 GiB');
    expect(failed.outputs).toEqual([]);
  });

  test('a 404 and refused URLs are listed as failures while the other files are archived', async () => {
    const id = newId();
    const good = files.serveRandom(`/${id}/good.png`, 4096, 'image/png');
    const output = {
      good: good.url,
      missing: `${files.origin}/${id}/missing.png`,
      plainHttp: 'http://replicate.delivery/x/plain.png',
      otherHost: 'https://replicate.delivery.evil.example/x.png',
      metadata: 'http://169.254.169.254/latest/meta-data/',
    };
    await pipeline.record(prediction(id, 'succeeded-nested-output', { output }));
    await pipeline.drain();
    const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
    expect(manifest.files.map((file) => file.sha256)).toEqual([good.sha256]);
    expect(manifest.failures).toEqual([
      { source: output.missing, paths: ['.missing'], reason: 'http_error', transient: false, status: 404 },
      { source: output.plainHttp, paths: ['.plainHttp'], reason: 'insecure_scheme', transient: false },
      { source: output.otherHost, paths: ['.otherHost'], reason: 'host_not_allowed', transient: false },
      { source: output.metadata, paths: ['.metadata'], reason: 'host_not_allowed', transient: false },
    ]);
    const [notification] = await pipeline.subscriber.receiveAll();
    expect(notification.message.failures).toEqual(manifest.failures);
    expect((await item(pipeline.tableName, id))?.archiveStatus).toEqual({ S: 'archived_with_failures' });
    expect(pipeline.failures).toEqual([]);
  });

  test('a transient failure is retried within the invocation', async () => {
    const id = newId();
    const bytes = randomBytes(3000);
    const url = files.serve(`/${id}/flaky.png`, { bytes, failFirst: 1 });
    await pipeline.record(prediction(id, 'succeeded-images', { output: [url] }));
    await pipeline.drain();
    const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
    expect(manifest.files[0].sha256).toBe(sha256(bytes));
    expect(files.hits.get(`/${id}/flaky.png`)).toBe(2);
    expect(await pipeline.subscriber.receiveAll()).toHaveLength(1);
  });

  test('a payload spilled to S3 becomes prediction.json byte-exact', async () => {
    const id = newId();
    const terminal = JSON.stringify(prediction(id, 'succeeded-llm-tokens', { logs: 'token ✓\n'.repeat(10_000) }));
    expect(Buffer.byteLength(terminal)).toBeGreaterThan(16 * 1024);
    await pipeline.record(terminal);
    await pipeline.drain();
    expect((await item(pipeline.tableName, id))?.payloadKey).toBeDefined();
    expect((await getObject(`${pipeline.prefix}predictions/${id}/prediction.json`)).bytes.toString('utf8')).toBe(terminal);
    const [notification] = await pipeline.subscriber.receiveAll();
    expect(notification.message.predictionId).toBe(id);
    expect(JSON.stringify(notification.message)).not.toContain('token ✓');
  });

  test('predictions that are not finished, unknown or already announced are skipped, even when a message arrives anyway', async () => {
    const running = newId();
    const finished = newId();
    await pipeline.record(prediction(running, 'starting'), prediction(running, 'processing'), prediction(finished, 'failed'));
    await pipeline.drain();
    expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([finished]);
    const bodies = [running, newId(), finished].map((id) => JSON.stringify({ predictionId: id }));
    expect(await pipeline.archiver(sqsEvent(bodies))).toEqual({ batchItemFailures: [] });
    expect(await pipeline.subscriber.receiveAll(200)).toEqual([]);
  });
});

describe('a training', () => {
  test('its weights, over the predictions cap but under the trainings one, land under trainings/<id>/ beside training.json; announced as a training with its new version', async () => {
    const pipeline = await startPipeline({ MAX_FILE_BYTES: String(1 * MiB), MAX_TRAINING_FILE_BYTES: String(64 * MiB) });
    try {
      const id = newId();
      const weights = files.serveRandom(`/${id}/trained_model.tar`, 12 * MiB + 7, 'application/x-tar');
      const training = (status: string, output: unknown) => ({
        id,
        model: 'ostris/flux-dev-lora-trainer',
        version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
        destination: 'alice/my-flux',
        input: { steps: 1000 },
        status,
        output,
        logs: 'step 1000/1000',
        created_at: '2026-11-20T10:00:00.000000Z',
        urls: {
          get: `https://api.replicate.com/v1/trainings/${id}`,
          cancel: `https://api.replicate.com/v1/trainings/${id}/cancel`,
        },
      });
      // A prediction beside it, with a file over the predictions' cap: still refused.
      const other = newId();
      const big = files.serveRandom(`/${other}/big.bin`, 2 * MiB);
      const terminal = JSON.stringify(training('succeeded', { version: 'alice/my-flux:4f2b1c', weights: weights.url }));
      await pipeline.record(training('starting', null), terminal, prediction(other, 'succeeded-images', { output: [big.url] }));
      expect(await item(pipeline.tableName, id)).toMatchObject({ kind: { S: 'training' } });
      expect(await item(pipeline.tableName, other)).toMatchObject({ kind: { S: 'prediction' } });
      await pipeline.drain();

      const folder = `${pipeline.prefix}trainings/${id}/`;
      expect(await listKeys(`${pipeline.prefix}predictions/${id}/`)).toEqual([]);
      expect(await listKeys(folder)).toEqual(
        [`${folder}manifest.json`, `${folder}outputs/0-trained_model.tar`, `${folder}training.json`].sort(),
      );
      expect(sha256((await getObject(`${folder}outputs/0-trained_model.tar`)).bytes)).toBe(weights.sha256);
      expect((await getObject(`${folder}training.json`)).bytes.toString('utf8')).toBe(terminal);
      const manifest = await readJson<ArchiveManifest>(`${folder}manifest.json`);
      expect(manifest).toMatchObject({ predictionId: id, kind: 'training', failures: [] });

      const notifications = await pipeline.subscriber.receiveAll();
      const trained = notifications.find((n) => n.message.predictionId === id)!;
      expect(trained.attributes).toMatchObject({ kind: 'training', status: 'succeeded', model: 'ostris/flux-dev-lora-trainer' });
      expect(trained.message).toMatchObject({
        kind: 'training',
        trainedVersion: 'alice/my-flux:4f2b1c',
        archive: { prediction: { key: `${folder}training.json` }, manifest: { key: `${folder}manifest.json` } },
        outputs: [expect.objectContaining({ key: `${folder}outputs/0-trained_model.tar`, bytes: weights.bytes.length })],
      });
      const refused = notifications.find((n) => n.message.predictionId === other)!;
      expect(refused.message).toMatchObject({ kind: 'prediction', failures: [expect.objectContaining({ reason: 'too_large' })] });
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveStatus: { S: 'archived' },
        archiveManifestKey: { S: `${folder}manifest.json` },
      });
    } finally {
      await pipeline.stop();
    }
  });
});

describe('one prediction never costs another', () => {
  test('a batch of five whose first prediction cannot be archived: the other four are archived and announced, the first is settled as failed and dead-lettered', async () => {
    const pipeline = await startPipeline({}, { maxReceiveCount: 3, maxConcurrency: 2 });
    try {
      const poisoned = newId();
      // Its payload was spilled to S3, and the object is gone: every try fails the same way.
      const terminal = JSON.stringify(prediction(poisoned, 'succeeded-llm-tokens', { logs: 'x'.repeat(20_000) }));
      await pipeline.record(terminal);
      const spilled = (await item(pipeline.tableName, poisoned))!.payloadKey!.S!;
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: spilled }));
      const good = [newId(), newId(), newId(), newId()];
      for (const id of good) {
        await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 2000).url] }));
      }
      await pipeline.drain();

      const announced = (await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId);
      expect(announced.sort()).toEqual([...good].sort());
      for (const id of good) expect((await item(pipeline.tableName, id))?.notifiedAt).toBeDefined();
      expect(await item(pipeline.tableName, poisoned)).toMatchObject({
        archiveStatus: { S: 'failed' },
        archiveError: { S: 'NoSuchKey' },
        archiveAttempts: { N: '3' },
        archivePending: { S: 'failed' },
      });
      expect((await item(pipeline.tableName, poisoned))?.notifiedAt).toBeUndefined();
      // Given up: out of the partition the reconciler redrives, into the one a person looks in.
      expect(await inArchivePendingPartition(pipeline.tableName, ARCHIVE_PENDING_INDEX.pendingValue)).toEqual([]);
      expect(await inArchivePendingPartition(pipeline.tableName, ARCHIVE_PENDING_INDEX.failedValue)).toEqual([poisoned]);
      expect((await pipeline.deadLetters()).map((body) => JSON.parse(body))).toEqual([{ predictionId: poisoned }]);
      expect(pipeline.failures).toEqual([]);
    } finally {
      await pipeline.stop();
    }
  });

  test('a prediction whose output stalls does not hold up the others of its batch', async () => {
    const pipeline = await startPipeline({}, { batchSize: 10 });
    try {
      const slow = newId();
      const stalled = files.serve(`/${slow}/stall.png`, { trickle: true });
      const fast = [newId(), newId(), newId()];
      const ids = [slow, ...fast];
      // One invocation gets all four, so the fast ones share a batch with the slow one.
      const event = sqsEvent(ids.map((id) => JSON.stringify({ predictionId: id })));
      await pipeline.stop();
      await pipeline.record(prediction(slow, 'succeeded-images', { output: [stalled] }));
      for (const id of fast) {
        await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 1000).url] }));
      }
      const started = Date.now();
      const invocation = pipeline.archiver(event, contextWith(25_000));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const notified = await Promise.all(fast.map(async (id) => (await item(pipeline.tableName, id))?.notifiedAt));
        if (notified.every(Boolean)) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const fastDoneAfter = Date.now() - started;
      expect((await item(pipeline.tableName, slow))?.notifiedAt).toBeUndefined();
      // The budget leaves 5 s before the deadline: the fast ones are done long before.
      expect(fastDoneAfter).toBeLessThan(3_000);
      const result = await invocation;
      // The slow one is handed back to the queue alone, before the invocation's deadline.
      expect(result.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0].messageId }]);
      expect(Date.now() - started).toBeLessThan(6_000);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId).sort()).toEqual([...fast].sort());
    } finally {
      await pipeline.stop();
    }
  });

  test('the same prediction delivered twice at once is archived and announced once', async () => {
    const pipeline = await startPipeline();
    try {
      const id = newId();
      await pipeline.stop();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 300_000).url] }));
      const body = JSON.stringify({ predictionId: id });
      const first = sqsEvent([body]);
      const second = sqsEvent([body]);
      const results = await Promise.all([pipeline.archiver(first), pipeline.archiver(second)]);
      // One archives it; the other hands its copy back for after the lease (never drops it).
      const failed = results.flatMap((result) => result.batchItemFailures.map((failure) => failure.itemIdentifier));
      expect(failed).toHaveLength(1);
      expect([first.Records[0].messageId, second.Records[0].messageId]).toContain(failed[0]);
      // Once the lease is gone, that copy finds the prediction announced and is done.
      expect(await pipeline.archiver(sqsEvent([body]))).toEqual({ batchItemFailures: [] });
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(files.hits.get(`/${id}/a.png`)).toBe(1);
    } finally {
      await pipeline.stop();
    }
  });

  test('a short lease, renewed while the archival works: another delivery waits about a lease, not the function timeout', async () => {
    const pipeline = await startPipeline({ LEASE_SECONDS: '1' });
    try {
      const id = newId();
      await pipeline.stop();
      // The origin takes 3 s to answer: the archival outlives its one-second lease three times.
      const url = files.serve(`/${id}/slow.png`, { bytes: Buffer.from('slow but sure'), delayMs: 3_000 });
      await pipeline.record(prediction(id, 'succeeded-images', { output: [url] }));
      const body = JSON.stringify({ predictionId: id });
      const working = pipeline.archiver(sqsEvent([body]), contextWith(25_000));
      const leases: number[] = [];
      for (let beat = 0; beat < 5; beat++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        leases.push(Number((await item(pipeline.tableName, id))?.archiveLeaseUntil?.N ?? 0));
      }
      // Held a second at a time (not the 25 s the invocation may run), and renewed while it works.
      expect(Math.max(...leases) - Date.now()).toBeLessThanOrEqual(1_500);
      expect(new Set(leases.filter(Boolean)).size).toBeGreaterThan(1);
      // Another delivery meanwhile is handed back for after the lease: it never archives it too.
      const again = sqsEvent([body]);
      expect(await pipeline.archiver(again, contextWith(25_000))).toEqual({
        batchItemFailures: [{ itemIdentifier: again.Records[0].messageId }],
      });
      expect(await working).toEqual({ batchItemFailures: [] });
      expect(await pipeline.archiver(sqsEvent([body], 2), contextWith(25_000))).toEqual({ batchItemFailures: [] });
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(files.hits.get(`/${id}/slow.png`)).toBe(1);
    } finally {
      await pipeline.stop();
    }
  });

  test('a given-up prediction redriven on purpose is back in the pending partition while it is tried, so a crash is seen again', async () => {
    const pipeline = await startPipeline();
    try {
      const id = newId();
      await pipeline.stop();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      const progress = new ArchiveProgressStore(dynamodb, pipeline.tableName);
      await progress.markFailed(id, 'attempts_exhausted', new Date());
      expect((await item(pipeline.tableName, id))?.archivePending?.S).toBe('failed');
      // The redriven try claims it, then dies without a word.
      expect((await progress.claim(id, new Date(), 1_000, 'a try that will crash')).kind).toBe('claimed');
      expect((await item(pipeline.tableName, id))?.archivePending?.S).toBe('pending');
    } finally {
      await pipeline.stop();
    }
  });

  test('a lease left behind (its holder could not release it) delays the prediction, never drops it', async () => {
    const pipeline = await startPipeline();
    try {
      const id = newId();
      await pipeline.stop();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 100).url] }));
      // An invocation that claimed it and died without releasing: its lease runs 2 more seconds.
      await new ArchiveProgressStore(dynamodb, pipeline.tableName).claim(id, new Date(), 2_000, 'an invocation that died');
      const early = sqsEvent([JSON.stringify({ predictionId: id })]);
      expect(await pipeline.archiver(early)).toEqual({ batchItemFailures: [{ itemIdentifier: early.Records[0].messageId }] });
      expect(await pipeline.subscriber.receiveAll(200)).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      expect(await pipeline.archiver(sqsEvent([JSON.stringify({ predictionId: id })], 2))).toEqual({ batchItemFailures: [] });
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
    } finally {
      await pipeline.stop();
    }
  });

  test('a message that is not an archive request is retried, then dead-lettered, and costs nobody else', async () => {
    const pipeline = await startPipeline({}, { maxReceiveCount: 2 });
    try {
      const id = newId();
      await sqsClient.send(new SendMessageCommand({ QueueUrl: pipeline.queueUrl, MessageBody: '{"predictionId": "../x"}' }));
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      await pipeline.drain();
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await pipeline.deadLetters()).toEqual(['{"predictionId": "../x"}']);
    } finally {
      await pipeline.stop();
    }
  });

  test('a dead-lettered prediction redriven after the cause is fixed is archived and announced once', async () => {
    const topicName = `late-${randomUUID()}`;
    const topicArn = `arn:aws:sns:us-east-1:000000000000:${topicName}`;
    const pipeline = await startPipeline({}, { topicArn, maxReceiveCount: 2 });
    try {
      const id = newId();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 100).url] }));
      await pipeline.drain();
      const [deadLetter] = await pipeline.deadLetters();
      expect(JSON.parse(deadLetter)).toEqual({ predictionId: id });
      // Archived, not announced: the status says what was done, the error why it stopped.
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveStatus: { S: 'archived' },
        archiveError: { S: 'NotFoundException' },
        archivePending: { S: 'failed' },
      });

      // The topic exists now; an operator moves the message back (here: sends it again).
      await createTopic(sns, topicName);
      const subscriber = await subscribeQueue(sns, sqsClient, topicArn);
      await sqsClient.send(new SendMessageCommand({ QueueUrl: pipeline.queueUrl, MessageBody: deadLetter }));
      await pipeline.drain();
      expect((await subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(files.hits.get(`/${id}/a.png`)).toBe(1); // the archival itself was done before
      const redriven = await item(pipeline.tableName, id);
      expect(redriven?.notifiedAt).toBeDefined();
      expect(redriven?.archiveError).toBeUndefined();
      expect(redriven?.archivePending).toBeUndefined();
    } finally {
      await pipeline.stop();
    }
  });
});

describe('failures and retries', () => {
  test('transient failures on every try: the last try records them and announces; nothing is left in the queues', async () => {
    const pipeline = await startPipeline();
    try {
      const id = newId();
      const good = files.serveRandom(`/${id}/ok.png`, 1000, 'image/png');
      const down = files.serve(`/${id}/down.png`, { bytes: Buffer.from('x'), alwaysFail: true });
      await pipeline.record(prediction(id, 'succeeded-images', { output: [good.url, down] }));
      await pipeline.drain();

      const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
      expect(manifest.files.map((file) => file.sha256)).toEqual([good.sha256]);
      expect(manifest.failures).toEqual([{ source: down, paths: ['[1]'], reason: 'http_error', transient: true, status: 503 }]);
      const notifications = await pipeline.subscriber.receiveAll();
      expect(notifications).toHaveLength(1);
      expect(notifications[0].message.failures).toEqual(manifest.failures);
      // Three tries (maxReceiveCount), two fetches each within an invocation.
      expect(files.hits.get(`/${id}/down.png`)).toBe(6);
      expect((await item(pipeline.tableName, id))?.archiveAttempts).toEqual({ N: '3' });
      expect(await pipeline.deadLetters()).toEqual([]);
      expect(pipeline.failures).toEqual([]);
    } finally {
      await pipeline.stop();
    }
  });

  test('a crash between archival and notification: the retry announces once and duplicates nothing', async () => {
    // The topic does not exist yet, so the first attempts fail after the files, manifest and mark.
    const topicName = `late-${randomUUID()}`;
    const topicArn = `arn:aws:sns:us-east-1:000000000000:${topicName}`;
    // Retries spaced out enough that the topic appears before they run out.
    const pipeline = await startPipeline({ RETRY_QUEUE_BASE_DELAY_SECONDS: '1' }, { topicArn, maxReceiveCount: 10 });
    try {
      const id = newId();
      const output = [files.serveRandom(`/${id}/a.png`, 6 * MiB).url, files.serveRandom(`/${id}/b.png`, 10).url];
      await pipeline.record(prediction(id, 'succeeded-images', { output }));
      const deadline = Date.now() + 10_000;
      while (!(await item(pipeline.tableName, id))?.archivedAt && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      const archivedOnce = await item(pipeline.tableName, id);
      expect(archivedOnce?.archiveStatus).toEqual({ S: 'archived' });
      expect(archivedOnce?.notifiedAt).toBeUndefined();
      const keysAfterCrash = await listKeys(`${pipeline.prefix}predictions/${id}/`);

      await createTopic(sns, topicName);
      const subscriber = await subscribeQueue(sns, sqsClient, topicArn);
      await pipeline.drain();

      expect((await subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await listKeys(`${pipeline.prefix}predictions/${id}/`)).toEqual(keysAfterCrash);
      expect(keysAfterCrash).toHaveLength(4);
      expect(files.hits.get(`/${id}/a.png`)).toBe(1); // not downloaded again
      expect((await item(pipeline.tableName, id))?.notifiedAt).toBeDefined();
    } finally {
      await pipeline.stop();
    }
  });

  test('a crash between the manifest and the mark: the retry reuses the manifest and downloads nothing again', async () => {
    const pipeline = await startPipeline();
    try {
      const id = newId();
      const file = files.serveRandom(`/${id}/kept.png`, 5000, 'image/png');
      await pipeline.record(prediction(id, 'succeeded-images', { output: [file.url] }));
      await pipeline.drain();
      expect(await pipeline.subscriber.receiveAll()).toHaveLength(1);
      // Put the record back as the crash would have left it: manifest written, record not marked.
      await dynamodb.send(
        new UpdateItemCommand({
          TableName: pipeline.tableName,
          Key: { pk: { S: predictionItemKey(id) } },
          UpdateExpression: 'SET archiveStatus = :pending REMOVE archivedAt, notifiedAt',
          ExpressionAttributeValues: { ':pending': { S: 'pending' } },
        }),
      );
      expect(await pipeline.archiver(sqsEvent([JSON.stringify({ predictionId: id })], 2))).toEqual({ batchItemFailures: [] });

      expect(files.hits.get(`/${id}/kept.png`)).toBe(1);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveStatus: { S: 'archived' },
        archiveAttempts: { N: '2' },
        notifiedAt: { S: expect.any(String) },
      });
    } finally {
      await pipeline.stop();
    }
  });

  test('an interrupted download: the retry fetches only what failed, under the same keys, nothing extra, one notification', async () => {
    const pipeline = await startPipeline({ FETCH_ATTEMPTS: '1' });
    try {
      const id = newId();
      const flaky = files.serve(`/${id}/late.png`, { bytes: randomBytes(2000), failFirst: 1 });
      const steady = files.serveRandom(`/${id}/steady.png`, 7 * MiB);
      await pipeline.record(prediction(id, 'succeeded-images', { output: [steady.url, flaky] }));
      await pipeline.drain();
      const folder = `${pipeline.prefix}predictions/${id}/`;
      expect(await listKeys(folder)).toEqual(
        [
          `${folder}manifest.json`,
          `${folder}outputs/0-steady.png`,
          `${folder}outputs/1-late.png`,
          `${folder}prediction.json`,
        ].sort(),
      );
      expect(sha256((await getObject(`${folder}outputs/0-steady.png`)).bytes)).toBe(steady.sha256);
      // The first try stored the steady file and said so when it gave the prediction back.
      expect(files.hits.get(`/${id}/steady.png`)).toBe(1);
      expect(files.hits.get(`/${id}/late.png`)).toBe(2);
      const manifest = await readJson<ArchiveManifest>(`${folder}manifest.json`);
      expect(manifest.files.map((file) => [file.key, file.bytes, file.sha256, file.source])).toEqual([
        [`${folder}outputs/0-steady.png`, 7 * MiB, steady.sha256, steady.url],
        [`${folder}outputs/1-late.png`, 2000, expect.any(String), flaky],
      ]);
      expect(manifest.failures).toEqual([]);
      expect(await pipeline.subscriber.receiveAll()).toHaveLength(1);
      expect(pipeline.failures).toEqual([]);
      // Done: the list is not kept (the record stays small).
      expect((await item(pipeline.tableName, id))?.archivedSoFar).toBeUndefined();
    } finally {
      await pipeline.stop();
    }
  });

  test('a prediction too slow for one invocation gets further on each try instead of starting over', async () => {
    const pipeline = await startPipeline();
    try {
      const id = newId();
      const quick = files.serveRandom(`/${id}/quick.png`, 3000, 'image/png');
      const slowPath = `/${id}/slow.png`;
      const slow = files.serve(slowPath, { trickle: true });
      await pipeline.stop();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [quick.url, slow] }));
      const message = JSON.stringify({ predictionId: id });

      // The first try runs out of time on the slow file (the budget leaves 5 s): the quick one is stored.
      const first = sqsEvent([message], 1);
      expect(await pipeline.archiver(first, contextWith(25_000))).toEqual({
        batchItemFailures: [{ itemIdentifier: first.Records[0].messageId }],
      });
      expect(await pipeline.subscriber.receiveAll()).toEqual([]);
      expect((await item(pipeline.tableName, id))?.archivedSoFar?.S).toContain('outputs/0-quick.png');

      // The slow file is served at last; the retry fetches only it.
      const slowBytes = randomBytes(4000);
      files.serve(slowPath, { bytes: slowBytes, contentType: 'image/png' });
      files.closeConnections();
      expect(await pipeline.archiver(sqsEvent([message], 2), contextWith(60_000))).toEqual({ batchItemFailures: [] });

      expect(files.hits.get(`/${id}/quick.png`)).toBe(1);
      const folder = `${pipeline.prefix}predictions/${id}/`;
      const manifest = await readJson<ArchiveManifest>(`${folder}manifest.json`);
      expect(manifest.failures).toEqual([]);
      expect(manifest.files.map((file) => [file.key, file.bytes, file.sha256, file.contentType])).toEqual([
        [`${folder}outputs/0-quick.png`, 3000, quick.sha256, 'image/png'],
        [`${folder}outputs/1-slow.png`, 4000, sha256(slowBytes), 'image/png'],
      ]);
      expect(sha256((await getObject(`${folder}outputs/0-quick.png`)).bytes)).toBe(quick.sha256);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await item(pipeline.tableName, id)).toMatchObject({ archiveStatus: { S: 'archived' }, archiveAttempts: { N: '2' } });
      expect((await item(pipeline.tableName, id))?.archivedSoFar).toBeUndefined();
    } finally {
      await pipeline.stop();
    }
  });
});

describe('outages', () => {
  test('S3 and SNS down during archival: waited out, then archived and announced once, nothing lost', async () => {
    const s3Proxy = await startTcpProxy(fauxqs.endpoint);
    const snsProxy = await startTcpProxy(fauxqs.endpoint);
    const saved = { s3: process.env.AWS_ENDPOINT_URL_S3, sns: process.env.AWS_ENDPOINT_URL_SNS };
    s3Proxy.down();
    snsProxy.down();
    const pipeline = await startPipeline({
      AWS_ENDPOINT_URL_S3: `http://s3.localhost:${s3Proxy.port}`,
      AWS_ENDPOINT_URL_SNS: snsProxy.endpoint,
      AWS_MAX_ATTEMPTS: '1',
      RETRY_BASE_DELAY_MS: '50',
    });
    try {
      const id = newId();
      const served = [files.serveRandom(`/${id}/a.png`, 300_000), files.serveRandom(`/${id}/b.png`, 1000)];
      await pipeline.record(prediction(id, 'succeeded-images', { output: served.map((file) => file.url) }));
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the archiver is now waiting on S3
      expect(await item(pipeline.tableName, id)).toMatchObject({ archiveStatus: { S: 'pending' } });
      s3Proxy.up();
      const deadline = Date.now() + 15_000;
      while (!(await item(pipeline.tableName, id))?.archivedAt && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect((await item(pipeline.tableName, id))?.notifiedAt).toBeUndefined(); // SNS still down
      snsProxy.up();
      await pipeline.drain();

      const manifest = await readJson<ArchiveManifest>(`${pipeline.prefix}predictions/${id}/manifest.json`);
      expect(manifest.files.map((file) => file.sha256)).toEqual(served.map((file) => file.sha256));
      expect(manifest.failures).toEqual([]);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveAttempts: { N: '1' },
        notifiedAt: { S: expect.any(String) },
      });
      expect(pipeline.failures).toEqual([]);
    } finally {
      await pipeline.stop();
      await s3Proxy.stop();
      await snsProxy.stop();
      process.env.AWS_ENDPOINT_URL_S3 = saved.s3;
      process.env.AWS_ENDPOINT_URL_SNS = saved.sns;
      delete process.env.AWS_MAX_ATTEMPTS;
    }
  });
});

/**
 * A partition: the dependency accepts connections, or has them open already, and never answers.
 * Each try is bounded (lambda/sdk-clients.ts), so the prediction goes back to the queue once the
 * outage window is over, well before the invocation's deadline, instead of holding the
 * invocation until Lambda ends it. Answers are awaited until the deadline at most, so a hang
 * fails the test instead of holding it.
 */
describe('a dependency that stops answering', () => {
  // 60 s of the function's time left: its deadline is 40 s away (20 s are its safety margin).
  const REMAINING_MS = 60_000;
  const DEADLINE_MS = REMAINING_MS - 20_000;
  const OUTAGE_WINDOW_SECONDS = 2;

  async function timed(run: Promise<SQSBatchResponse>) {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const answer = await Promise.race([
      run,
      new Promise<undefined>((resolve) => (timer = setTimeout(resolve, DEADLINE_MS, undefined))),
    ]);
    clearTimeout(timer);
    return { answer, ms: Math.round(performance.now() - started) };
  }

  /** A pipeline whose archiver reaches `variable`'s service through `proxy`; the Pipe and poller are stopped, so the test invokes it. */
  async function withArchiverThrough(
    variable: 'AWS_ENDPOINT_URL_DYNAMODB' | 'AWS_ENDPOINT_URL_S3',
    proxy: TcpProxy,
    use: (pipeline: Pipeline) => Promise<void>,
  ): Promise<void> {
    const saved = process.env[variable];
    const endpoint = variable === 'AWS_ENDPOINT_URL_S3' ? `http://s3.localhost:${proxy.port}` : proxy.endpoint;
    const pipeline = await startPipeline({ [variable]: endpoint, OUTAGE_WINDOW_SECONDS: String(OUTAGE_WINDOW_SECONDS) });
    try {
      await pipeline.stop();
      await use(pipeline);
    } finally {
      process.env[variable] = saved;
      await pipeline.stop();
      // Cuts whatever still waits on it, so nothing outlives the test.
      await proxy.stop();
    }
  }

  test('S3 partitioned: the prediction goes back to the queue after the outage window and one bounded try, released for its retry', async () => {
    const proxy = await startTcpProxy(fauxqs.endpoint);
    await withArchiverThrough('AWS_ENDPOINT_URL_S3', proxy, async (pipeline) => {
      const id = newId();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 1000).url] }));
      proxy.partition();
      const message = sqsEvent([JSON.stringify({ predictionId: id })]);
      const { answer, ms } = await timed(pipeline.archiver(message, contextWith(REMAINING_MS)));
      expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: message.Records[0]!.messageId }] });
      // The window (2 s), one try of S3 (two of 5 s of silence), the release: about 12 s.
      expect(ms).toBeLessThan(DEADLINE_MS / 2);
      expect(proxy.held).toBeGreaterThan(0);
      const recorded = await item(pipeline.tableName, id);
      expect(recorded).toMatchObject({ archiveStatus: { S: 'pending' }, archiveAttempts: { N: '1' } });
      expect(recorded?.archiveLeaseHolder).toBeUndefined();
    });
  }, 90_000);

  test('DynamoDB partitioned, its keep-alive connection frozen: back to the queue within seconds; healed, the retry archives and announces it', async () => {
    const proxy = await startTcpProxy(dynamoDbEndpoint());
    await withArchiverThrough('AWS_ENDPOINT_URL_DYNAMODB', proxy, async (pipeline) => {
      const warm = newId();
      await pipeline.record(prediction(warm, 'succeeded-images', { output: [files.serveRandom(`/${warm}/a.png`, 100).url] }));
      expect(await pipeline.archiver(sqsEvent([JSON.stringify({ predictionId: warm })]), contextWith(REMAINING_MS))).toEqual({
        batchItemFailures: [],
      });
      proxy.partition();
      expect(proxy.frozen).toBeGreaterThan(0);

      const id = newId();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 100).url] }));
      const body = JSON.stringify({ predictionId: id });
      const message = sqsEvent([body]);
      const partitioned = await timed(pipeline.archiver(message, contextWith(REMAINING_MS)));
      expect(partitioned.answer).toEqual({ batchItemFailures: [{ itemIdentifier: message.Records[0]!.messageId }] });
      // The window (2 s) and one try of 2 s of silence: about 4 s.
      expect(partitioned.ms).toBeLessThan(DEADLINE_MS / 4);

      proxy.heal();
      const healed = await timed(pipeline.archiver(sqsEvent([body], 2), contextWith(REMAINING_MS)));
      expect(healed.answer).toEqual({ batchItemFailures: [] });
      expect(proxy.sentToDeadConnections).toBe(0);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId).sort()).toEqual([warm, id].sort());
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveStatus: { S: 'archived' },
        notifiedAt: { S: expect.any(String) },
      });
    });
  }, 90_000);
});

describe('a lost answer', () => {
  test("a claim applied but whose answer was lost is still this invocation's: archived at once, announced once", async () => {
    const proxy = await startTcpProxy(dynamoDbEndpoint());
    const pipeline = await startPipeline();
    try {
      await pipeline.stop();
      const id = newId();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 100).url] }));
      // A cold start that reaches DynamoDB through the proxy (the test's own client does not).
      process.env.AWS_ENDPOINT_URL_DYNAMODB = proxy.endpoint;
      const archiver = loadArchiver();
      // The archiver's first write is its claim: DynamoDB applies it, the reply never arrives, and
      // the retried claim meets the lease the first one took.
      proxy.loseReplies(1);
      const message = sqsEvent([JSON.stringify({ predictionId: id })]);
      expect(await archiver(message, contextWith(60_000))).toEqual({ batchItemFailures: [] });
      expect(proxy.lostReplies).toBe(1);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      const recorded = await item(pipeline.tableName, id);
      expect(recorded).toMatchObject({ archiveStatus: { S: 'archived' }, notifiedAt: { S: expect.any(String) } });
      expect(recorded?.archiveLeaseUntil).toBeUndefined();
      expect(recorded?.archiveLeaseHolder).toBeUndefined();
    } finally {
      process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamoDbEndpoint();
      await pipeline.stop();
      await proxy.stop();
    }
  });

  test('two copies of one message in one batch: one archives, the other waits for its lease', async () => {
    const pipeline = await startPipeline();
    try {
      await pipeline.stop();
      const id = newId();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 100).url] }));
      const body = JSON.stringify({ predictionId: id });
      const batch = sqsEvent([body, body]);
      const { batchItemFailures } = await pipeline.archiver(batch, contextWith(60_000));
      expect(batchItemFailures).toHaveLength(1);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(files.hits.get(`/${id}/a.png`)).toBe(1);
    } finally {
      await pipeline.stop();
    }
  });
});

describe('subscriptions', () => {
  test('a filter policy built by onCompletion selects the right messages', async () => {
    const app = new App();
    const stack = new Stack(app, 'Filters');
    const hooks = new ReplicateWebhooks(stack, 'Hooks');
    hooks.onCompletion(new snsSubscriptions.SqsSubscription(new sqs.Queue(stack, 'Q')), {
      statuses: ['succeeded'],
      models: ['black-forest-labs/flux-schnell'],
    });
    const [subscription] = Object.values(Template.fromStack(stack).findResources('AWS::SNS::Subscription'));
    const filterPolicy = subscription.Properties.FilterPolicy as Record<string, unknown>;

    const pipeline = await startPipeline();
    try {
      const filtered = await subscribeQueue(sns, sqsClient, pipeline.topicArn, filterPolicy);
      const wanted = newId();
      const otherModel = newId();
      const failed = newId();
      await pipeline.record(
        prediction(wanted, 'succeeded-images', { output: [] }),
        prediction(otherModel, 'succeeded-llm-tokens'),
        prediction(failed, 'failed'),
      );
      await pipeline.drain();
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId).sort()).toEqual(
        [wanted, otherModel, failed].sort(),
      );
      expect((await filtered.receiveAll()).map((n) => n.message.predictionId)).toEqual([wanted]);
    } finally {
      await pipeline.stop();
    }
  });
});

describe('completion events on EventBridge', () => {
  let eventBridge: EventBridgeStandIn;
  const busArn = 'arn:aws:events:us-east-1:000000000000:event-bus/completions';
  beforeAll(async () => {
    eventBridge = await startEventBridge();
  });
  afterAll(async () => {
    await eventBridge.stop();
    delete process.env.EVENT_BUS_NAME;
    delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
  });
  const withBus = (env: Record<string, string> = {}, options: Parameters<typeof startPipeline>[1] = {}) =>
    startPipeline({ EVENT_BUS_NAME: busArn, AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint, ...env }, options);
  const eventsFor = (...ids: string[]) => eventBridge.events.filter((put) => ids.includes(String(put.event.detail.predictionId)));

  test('one event per finished prediction: source, a detail-type per status, the SNS message as detail; the rules onCompletionEvent builds match exactly the right ones', async () => {
    const pipeline = await withBus();
    try {
      const ids = { image: newId(), llm: newId(), failed: newId(), canceled: newId(), trained: newId() };
      await pipeline.record(
        prediction(ids.image, 'succeeded-images', { output: [] }),
        prediction(ids.llm, 'succeeded-llm-tokens'),
        prediction(ids.failed, 'failed'),
        prediction(ids.canceled, 'canceled'),
        prediction(ids.trained, 'failed', { urls: { get: `https://api.replicate.com/v1/trainings/${ids.trained}` } }),
      );
      await pipeline.drain();

      const put = eventsFor(...Object.values(ids));
      expect(put).toHaveLength(5);
      const notifications = await pipeline.subscriber.receiveAll();
      for (const { eventBusName, event } of put) {
        expect(eventBusName).toBe('completions');
        expect(event.source).toBe(COMPLETION_EVENT_SOURCE);
        const notification = notifications.find((n) => n.message.predictionId === event.detail.predictionId)!;
        expect(event.detail).toEqual(notification.message);
      }
      expect(put.map((p) => [p.event.detail.predictionId, p.event['detail-type']]).sort()).toEqual(
        [
          [ids.image, 'Replicate Prediction Succeeded'],
          [ids.llm, 'Replicate Prediction Succeeded'],
          [ids.failed, 'Replicate Prediction Failed'],
          [ids.canceled, 'Replicate Prediction Canceled'],
          [ids.trained, 'Replicate Training Failed'],
        ].sort(),
      );

      // The patterns as synthesized, evaluated against the events that were actually put.
      const stack = new Stack(new App(), 'Rules');
      const hooks = new ReplicateWebhooks(stack, 'Hooks', { eventBus: events.EventBus.fromEventBusArn(stack, 'Bus', busArn) });
      const rules = {
        fluxSucceeded: hooks.onCompletionEvent('FluxSucceeded', {
          statuses: ['succeeded'],
          models: ['black-forest-labs/flux-schnell'],
        }),
        failedOrCanceled: hooks.onCompletionEvent('FailedOrCanceled', { statuses: ['failed', 'canceled'] }),
        failedPredictions: hooks.onCompletionEvent('FailedPredictions', {
          statuses: ['failed'],
          kinds: [CompletionKind.PREDICTION],
        }),
        trainings: hooks.onCompletionEvent('Trainings', { kinds: [CompletionKind.TRAINING] }),
        everything: hooks.onCompletionEvent('Everything'),
      };
      const template = Template.fromStack(stack).toJSON() as {
        Resources: Record<string, { Properties: { EventPattern: Record<string, unknown> } }>;
      };
      const matched = (rule: events.Rule) => {
        const pattern = template.Resources[stack.getLogicalId(rule.node.defaultChild as events.CfnRule)]!.Properties.EventPattern;
        return put
          .filter((p) => matchesPattern(p.event, pattern))
          .map((p) => p.event.detail.predictionId)
          .sort();
      };
      expect(matched(rules.fluxSucceeded)).toEqual([ids.image]);
      expect(matched(rules.failedOrCanceled)).toEqual([ids.failed, ids.canceled, ids.trained].sort());
      expect(matched(rules.failedPredictions)).toEqual([ids.failed]);
      expect(matched(rules.trainings)).toEqual([ids.trained]);
      expect(matched(rules.everything)).toEqual(Object.values(ids).sort());
    } finally {
      await pipeline.stop();
    }
  });

  test('entries refused in a 200 answer are retried, never ignored: one event, one SNS message', async () => {
    const pipeline = await withBus({ RETRY_BASE_DELAY_MS: '20' });
    try {
      const id = newId();
      eventBridge.failNextEntries(2, 'ThrottlingException');
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      await pipeline.drain();
      expect(eventsFor(id)).toHaveLength(1);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveAttempts: { N: '1' },
        notifiedAt: { S: expect.any(String) },
      });
    } finally {
      await pipeline.stop();
    }
  });

  test('an event the bus will not take sends the prediction back to the queue; the retry puts the event and does not announce on SNS again', async () => {
    const pipeline = await withBus({ RETRY_QUEUE_BASE_DELAY_SECONDS: '1' }, { maxReceiveCount: 5 });
    try {
      const id = newId();
      // Not transient: no retry within the invocation, so the first try ends with SNS done and the event not.
      eventBridge.failNextEntries(1, 'AccessDeniedException');
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      await pipeline.drain();
      expect(eventsFor(id)).toHaveLength(1);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      const recorded = await item(pipeline.tableName, id);
      expect(recorded).toMatchObject({ archiveAttempts: { N: '2' }, notifiedAt: { S: expect.any(String) } });
      expect(recorded?.announcedTo).toBeUndefined();
      expect(await pipeline.deadLetters()).toEqual([]);
    } finally {
      await pipeline.stop();
    }
  });

  test('a crash after SNS took the announcement, with the event still being put: the retry puts the event and does not publish on SNS again', async () => {
    // The bus never answers: the put is still out when the archiver, in a process of its own
    // (the shipped bundle, `npm run build:handlers`), is killed.
    const held = new Set<Socket>();
    const silentBus = createTcpServer((socket) => void held.add(socket));
    silentBus.listen(0, '127.0.0.1');
    await once(silentBus, 'listening');
    const pipeline = await withBus();
    try {
      await pipeline.stop();
      const id = newId();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      const message = JSON.stringify({ predictionId: id });
      const child = spawn(process.execPath, [ARCHIVE_ONCE, JSON.stringify(sqsEvent([message]))], {
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${(silentBus.address() as AddressInfo).port}`,
          // Its lease runs out 3 s after it started, as a crashed invocation's does at its timeout.
          ARCHIVER_TIMEOUT_MS: '3000',
        },
        stdio: 'ignore',
      });
      const exited = once(child, 'exit');
      const recorded = await waitFor(async () => (await item(pipeline.tableName, id))?.announcedTo?.SS, 15_000);
      // SNS has it and it is on the record, while the event is still out: this is where it dies.
      expect(recorded).toEqual(['topic']);
      expect(await waitFor(async () => (held.size > 0 ? held.size : undefined), 5_000)).toBeGreaterThan(0);
      expect(child.exitCode).toBeNull();
      child.kill('SIGKILL');
      await exited;
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(eventsFor(id)).toHaveLength(0);

      // The queue hands the message out again once the dead invocation's lease has run out.
      const leaseUntil = Number((await item(pipeline.tableName, id))?.archiveLeaseUntil?.N);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, leaseUntil - Date.now() + 50)));
      expect(await pipeline.archiver(sqsEvent([message], 2), contextWith(60_000))).toEqual({ batchItemFailures: [] });
      expect(eventsFor(id)).toHaveLength(1);
      expect(await pipeline.subscriber.receiveAll()).toEqual([]);
      const announced = await item(pipeline.tableName, id);
      expect(announced).toMatchObject({ archiveAttempts: { N: '2' }, notifiedAt: { S: expect.any(String) } });
      expect(announced?.announcedTo).toBeUndefined();
    } finally {
      for (const socket of held) socket.destroy();
      silentBus.close();
      await pipeline.stop();
    }
  });

  test('an SNS reply lost after SNS took the message: announced and archived, the event put once, SNS publishing what it is in doubt about again', async () => {
    const snsProxy = await startTcpProxy(fauxqs.endpoint);
    const saved = process.env.AWS_ENDPOINT_URL_SNS;
    const pipeline = await withBus({ AWS_ENDPOINT_URL_SNS: snsProxy.endpoint, RETRY_BASE_DELAY_MS: '20' });
    try {
      const id = newId();
      snsProxy.loseReplies(1);
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      await pipeline.drain();
      expect(snsProxy.lostReplies).toBe(1);
      expect(eventsFor(id)).toHaveLength(1);
      // The lost reply's publish was applied, and the retry (the only way to know SNS has it)
      // publishes again: subscribers dedupe on predictionId, as the delivery is at least once.
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id, id]);
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveStatus: { S: 'archived' },
        archiveAttempts: { N: '1' },
        notifiedAt: { S: expect.any(String) },
      });
    } finally {
      await pipeline.stop();
      await snsProxy.stop();
      process.env.AWS_ENDPOINT_URL_SNS = saved;
    }
  });

  test('EventBridge down: waited out within the invocation, then one event and one SNS message', async () => {
    const pipeline = await withBus({ RETRY_BASE_DELAY_MS: '50' });
    try {
      const id = newId();
      eventBridge.available = false;
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      const callsBefore = eventBridge.calls;
      const deadline = Date.now() + 10_000;
      while (eventBridge.calls < callsBefore + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect((await item(pipeline.tableName, id))?.notifiedAt).toBeUndefined();
      eventBridge.available = true;
      await pipeline.drain();
      expect(eventsFor(id)).toHaveLength(1);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await item(pipeline.tableName, id)).toMatchObject({
        archiveAttempts: { N: '1' },
        notifiedAt: { S: expect.any(String) },
      });
    } finally {
      eventBridge.available = true;
      await pipeline.stop();
    }
  });
});
