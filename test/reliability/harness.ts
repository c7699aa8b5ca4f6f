/**
 * The reliability suite's rig: local mode (the shipped handler bundles on the stand-ins) with a
 * switchable TCP proxy between the handlers and each stand-in, a loopback file server for
 * outputs, a queue subscribed to the completion topic, and SDK clients that talk to the
 * stand-ins directly to check what happened.
 */
import { DynamoDBClient, GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import { manifestPayloadText, type ArchiveManifest, type CompletionMessage } from '../../lambda/shared/completion-message';
import { manifestKey } from '../../lambda/shared/archive-layout';
import type { CompletionKind } from '../../lambda/shared/prediction';
import { ATTR, predictionItemKey } from '../../lambda/shared/state';
import {
  startLocalPipeline,
  type ArchiveQueueOptions,
  type LocalPipeline,
  type LocalOptions,
  type LocalReconcilerOptions,
  type ReadyInfo,
} from '../../local/pipeline';
import type { ReplicateApiStandIn } from '../../local/standins/replicate-api';
import { freePort } from '../../local/aws/standins/dynamodb-local';
import { startFileServer, type FileServer } from '../support/file-server';
import { subscribeQueue, type ReceivedNotification, type Subscriber } from '../support/notifications';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';

export type Dependency = 'dynamodb' | 's3' | 'sns' | 'secretsmanager';

export interface Harness {
  readonly info: ReadyInfo;
  /** The Replicate API stand-in, when the reconciler runs. */
  readonly replicateApi?: ReplicateApiStandIn;
  readonly proxies: Readonly<Record<Dependency, TcpProxy>>;
  readonly files: FileServer;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly subscriber: Subscriber;
  /** Every notification received so far, by prediction id. */
  readonly notifications: Map<string, CompletionMessage[]>;
  /** The same, as received: the published body and attributes, to check their size. */
  readonly received: Map<string, ReceivedNotification[]>;
  collectNotifications(waitMs?: number): Promise<void>;
  predictionItem(id: string): Promise<Record<string, AttributeValue> | undefined>;
  /**
   * Whether the prediction's record is at least as far along as this webhook (its status rank,
   * then its timestamp): an acknowledged webhook is durable when nothing behind it is recorded.
   */
  recordCovers(predictionId: string, statusRank: number, timestampSeconds: number): Promise<boolean>;
  /** Its manifest (a training's under trainings/ when `kind` says so). */
  manifest(id: string, kind?: CompletionKind): Promise<ArchiveManifest>;
  /** The terminal payload as its manifest holds it, byte for byte; undefined when the manifest has none. */
  archivedPayload(id: string, kind?: CompletionKind): Promise<string | undefined>;
  objectSha256(key: string): Promise<string>;
  /** Waits until `count` predictions have been announced (notifiedAt set), or throws after `timeoutMs`. */
  waitForNotified(ids: readonly string[], timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  readonly allowPrivateAddresses?: boolean;
  /** Also put the file server on the allow-list by the name `localhost`, which resolves to loopback. */
  readonly allowLocalhostName?: boolean;
  readonly handlerEnvironment?: Record<string, string>;
  /** The archive queue and the archiver's event source (local mode's defaults otherwise). */
  readonly archiveQueue?: ArchiveQueueOptions;
  /** The reconciler against the Replicate API stand-in. @default off: the other parts measure the pipeline without it */
  readonly reconciler?: LocalReconcilerOptions;
  /**
   * API Gateway's throttle in front of the verifier. @default off: the parts measure the verifier
   * and what is behind it (the hostile part alone sends a thousand requests a second); the
   * throttle's own part turns it on.
   */
  readonly throttle?: LocalOptions['throttle'];
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const files = await startFileServer();
  const proxies: Partial<Record<Dependency, TcpProxy>> = {};
  let pipeline: LocalPipeline | undefined;
  try {
    pipeline = await startLocalPipeline({
      port: await freePort(),
      extraOutputHosts: [files.host, ...(options.allowLocalhostName ? [`localhost:${new URL(files.origin).port}`] : [])],
      allowPrivateAddresses: options.allowPrivateAddresses,
      archiveQueue: options.archiveQueue,
      reconciler: options.reconciler ?? { intervalSeconds: 0 },
      throttle: options.throttle ?? false,
      // RELIABILITY_LOG_LEVEL=WARN shows what the handlers saw when a part fails.
      handlerEnvironment: {
        POWERTOOLS_LOG_LEVEL: process.env.RELIABILITY_LOG_LEVEL ?? 'CRITICAL',
        ...options.handlerEnvironment,
      },
      onNotification: () => undefined,
      onEvent: () => undefined,
      onError: () => undefined,
      routeHandlerTraffic: async (endpoints) => {
        const port = (url: string) => new URL(url).port;
        proxies.dynamodb = await startTcpProxy(endpoints.dynamodb);
        proxies.s3 = await startTcpProxy(`http://127.0.0.1:${port(endpoints.s3)}`);
        proxies.sns = await startTcpProxy(endpoints.sns);
        proxies.secretsmanager = await startTcpProxy(endpoints.secretsmanager);
        return {
          ...endpoints,
          dynamodb: proxies.dynamodb.endpoint,
          // The bucket stays in the host name (virtual-hosted style); only the port changes.
          s3: `http://s3.localhost:${proxies.s3.port}`,
          sns: proxies.sns.endpoint,
          secretsmanager: proxies.secretsmanager.endpoint,
        };
      },
    });
  } catch (error) {
    await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
    await files.stop();
    throw error;
  }
  const info = pipeline.info;
  const client = { region: info.region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  const dynamodb = new DynamoDBClient({ ...client, endpoint: info.endpoints.dynamodb });
  const s3 = new S3Client({ ...client, endpoint: info.endpoints.s3, forcePathStyle: true });
  const sns = new SNSClient({ ...client, endpoint: info.endpoints.sns });
  const sqs = new SQSClient({ ...client, endpoint: info.endpoints.sqs, useQueueUrlAsEndpoint: false });
  const subscriber = await subscribeQueue(sns, sqs, info.completionTopicArn);
  const notifications = new Map<string, CompletionMessage[]>();
  const received = new Map<string, ReceivedNotification[]>();

  /** Where each prediction stopped, and what the queues hold: the first thing to read when one is lost. */
  const whereStopped = async (ids: readonly string[]): Promise<string> => {
    const records = await Promise.all(
      ids.slice(0, 10).map(async (id) => {
        const item = await harness.predictionItem(id);
        if (item === undefined) return `${id}: no record`;
        const fields = [ATTR.status, ATTR.statusRank, ATTR.terminalAt, ATTR.archiveStatus, ATTR.archivePending, 'notifiedAt'];
        return `${id}: ${fields.map((field) => `${field}=${item[field]?.S ?? item[field]?.N ?? '-'}`).join(' ')}`;
      }),
    );
    const depths = await Promise.all(
      (
        [
          ['archive queue', info.archiveQueueUrl],
          ['its dead-letter queue', info.archiveDeadLetterQueueUrl],
          ["the forwarder's failure queue", info.failureQueueUrl],
        ] as const
      ).map(async ([name, url]) => `${name} ${await queueDepth(sqs, url).catch(() => '?')}`),
    );
    return `${records.join('; ')}; ${depths.join(', ')}`;
  };

  const harness: Harness = {
    info,
    replicateApi: pipeline.replicateApiStandIn,
    proxies: proxies as Record<Dependency, TcpProxy>,
    files,
    dynamodb,
    s3,
    sqs,
    subscriber,
    notifications,
    received,
    async collectNotifications(waitMs = 300) {
      for (const notification of await subscriber.receiveAll(waitMs)) {
        const { message } = notification;
        notifications.set(message.predictionId, [...(notifications.get(message.predictionId) ?? []), message]);
        received.set(message.predictionId, [...(received.get(message.predictionId) ?? []), notification]);
      }
    },
    async predictionItem(id) {
      const { Item } = await dynamodb.send(
        new GetItemCommand({ TableName: info.tableName, Key: { pk: { S: predictionItemKey(id) } }, ConsistentRead: true }),
      );
      return Item;
    },
    async recordCovers(predictionId, statusRank, timestampSeconds) {
      const { Item } = await dynamodb.send(
        new GetItemCommand({
          TableName: info.tableName,
          Key: { pk: { S: predictionItemKey(predictionId) } },
          ConsistentRead: true,
        }),
      );
      const recordedRank = Number(Item?.[ATTR.statusRank]?.N ?? -1);
      const recordedAt = Number(Item?.[ATTR.lastWebhookAt]?.N ?? -1);
      return recordedRank > statusRank || (recordedRank === statusRank && recordedAt >= timestampSeconds);
    },
    async manifest(id, kind) {
      const object = await s3.send(new GetObjectCommand({ Bucket: info.bucketName, Key: manifestKey('', id, kind) }));
      return JSON.parse(await object.Body!.transformToString()) as ArchiveManifest;
    },
    async archivedPayload(id, kind) {
      const object = await s3.send(new GetObjectCommand({ Bucket: info.bucketName, Key: manifestKey('', id, kind) }));
      return manifestPayloadText(await object.Body!.transformToString());
    },
    async objectSha256(key) {
      const object = await s3.send(new GetObjectCommand({ Bucket: info.bucketName, Key: key }));
      return createHash('sha256')
        .update(await object.Body!.transformToByteArray())
        .digest('hex');
    },
    async waitForNotified(ids, timeoutMs) {
      const pending = new Set(ids);
      const deadline = Date.now() + timeoutMs;
      while (pending.size > 0) {
        if (Date.now() > deadline)
          throw new Error(
            `${pending.size} of ${ids.length} predictions not announced within ${timeoutMs} ms; ${await whereStopped([...pending])}`,
          );
        let startKey: Record<string, AttributeValue> | undefined;
        do {
          const page = await dynamodb.send(
            new ScanCommand({
              TableName: info.tableName,
              FilterExpression: 'attribute_exists(notifiedAt)',
              ProjectionExpression: 'predictionId',
              ExclusiveStartKey: startKey,
            }),
          );
          for (const item of page.Items ?? []) pending.delete(item.predictionId?.S ?? '');
          startKey = page.LastEvaluatedKey;
        } while (startKey);
        if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 500));
      }
    },
    async stop() {
      for (const c of [dynamodb, s3, sns, sqs]) c.destroy();
      await pipeline.stop();
      await Promise.all(Object.values(proxies).map((proxy) => proxy.stop()));
      await files.stop();
    },
  };
  return harness;
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Terminal webhook recorded → announced, from the record's own timestamps (ms). */
export function announcementLatencyMs(item: Record<string, AttributeValue> | undefined): number | undefined {
  const from = Date.parse(item?.terminalAt?.S ?? '');
  const to = Date.parse(item?.notifiedAt?.S ?? '');
  return Number.isFinite(from) && Number.isFinite(to) ? to - from : undefined;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function latencySummary(values: readonly number[]): LatencySummary {
  return {
    count: values.length,
    p50: Math.round(percentile(values, 50)),
    p99: Math.round(percentile(values, 99)),
    max: Math.round(values.length > 0 ? Math.max(...values) : 0),
  };
}

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index], index);
      }
    }),
  );
}

/** Messages in a queue: visible, in flight and delayed (a dead-letter queue's are all visible). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/** An archive queue with its dead-letter queue and redrive policy, as the construct makes them. */
export async function createArchiveQueue(
  sqs: SQSClient,
  name: string,
  options: { visibilityTimeoutSeconds: number; maxReceiveCount: number },
): Promise<{ queueUrl: string; deadLetterQueueUrl: string }> {
  const deadLetterQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dead-letters` }))).QueueUrl!;
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const queueUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: Attributes!.QueueArn,
            maxReceiveCount: options.maxReceiveCount,
          }),
        },
      }),
    )
  ).QueueUrl!;
  return { queueUrl, deadLetterQueueUrl };
}

/** Fails the suite with a message that says which invariant broke. */
export function check(condition: boolean, invariant: string, violations: string[]): void {
  if (!condition) violations.push(invariant);
}
