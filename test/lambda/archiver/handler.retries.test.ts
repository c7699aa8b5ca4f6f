/**
 * The archiver against real peers: DynamoDB Local's real stream through the forwarder (with the
 * construct's own filter and event source settings) into an SQS queue in fauxqs, consumed through the local
 * SQS event source; fauxqs for S3 and SNS (read back through an SQS subscription), and a
 * loopback file server standing in for replicate.delivery.
 *
 * Failures, retries and outages: what goes back to the queue, when, and what is given up.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { SQSBatchResponse } from 'aws-lambda';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ArchiveManifest } from '../../../lambda/shared/completion-message';
import { predictionItemKey } from '../../../lambda/shared/state';
import { dynamoDbEndpoint } from '../../support/aws';
import { sha256 } from '../../support/file-server';
import { createTopic, subscribeQueue } from '../../support/notifications';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy';
import {
  MiB,
  Pipeline,
  contextWith,
  dynamodb,
  fauxqs,
  files,
  getObject,
  item,
  listKeys,
  loadArchiver,
  newId,
  prediction,
  readJson,
  sns,
  sqsClient,
  sqsEvent,
  startPipeline,
  usePeers,
  withPipeline,
} from '../../support/archiver-pipeline';

usePeers();

describe('failures and retries', () => {
  test('transient failures on every try: the last try records them and announces; nothing is left in the queues', async () => {
    await withPipeline(async (pipeline) => {
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
    });
  });

  test('a crash between archival and notification: the retry announces once and duplicates nothing', async () => {
    // The topic does not exist yet, so the first attempts fail after the files, manifest and mark.
    const topicName = `late-${randomUUID()}`;
    const topicArn = `arn:aws:sns:us-east-1:000000000000:${topicName}`;
    // Retries spaced out enough that the topic appears before they run out.
    await withPipeline({ RETRY_QUEUE_BASE_DELAY_SECONDS: '1' }, { topicArn, maxReceiveCount: 10 }, async (pipeline) => {
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
      expect(keysAfterCrash).toHaveLength(3);
      expect(files.hits.get(`/${id}/a.png`)).toBe(1); // not downloaded again
      expect((await item(pipeline.tableName, id))?.notifiedAt).toBeDefined();
    });
  });

  test('a crash between the manifest and the mark: the retry reuses the manifest and downloads nothing again', async () => {
    await withPipeline(async (pipeline) => {
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
    });
  });

  test('an interrupted download: the retry fetches only what failed, under the same keys, nothing extra, one notification', async () => {
    await withPipeline({ FETCH_ATTEMPTS: '1' }, async (pipeline) => {
      const id = newId();
      const flaky = files.serve(`/${id}/late.png`, { bytes: randomBytes(2000), failFirst: 1 });
      const steady = files.serveRandom(`/${id}/steady.png`, 7 * MiB);
      await pipeline.record(prediction(id, 'succeeded-images', { output: [steady.url, flaky] }));
      await pipeline.drain();
      const folder = `${pipeline.prefix}predictions/${id}/`;
      expect(await listKeys(folder)).toEqual(
        [`${folder}manifest.json`, `${folder}outputs/0-steady.png`, `${folder}outputs/1-late.png`].sort(),
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
    });
  });

  test('a prediction too slow for one invocation gets further on each try instead of starting over', async () => {
    await withPipeline(async (pipeline) => {
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
    });
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

  /** A pipeline whose archiver reaches `variable`'s service through `proxy`; the forwarder and poller are stopped, so the test invokes it. */
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
      expect(answer).toEqual({ batchItemFailures: [{ itemIdentifier: message.Records[0].messageId }] });
      // The window (2 s) counts from S3's first failure (a try of two 5 s silences), one more try
      // started in it, the release: about 22 s, well before the deadline.
      expect(ms).toBeLessThan(DEADLINE_MS * 0.75);
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
      expect(partitioned.answer).toEqual({ batchItemFailures: [{ itemIdentifier: message.Records[0].messageId }] });
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
    await withPipeline(async (pipeline) => {
      await pipeline.stop();
      const id = newId();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [files.serveRandom(`/${id}/a.png`, 100).url] }));
      const body = JSON.stringify({ predictionId: id });
      const batch = sqsEvent([body, body]);
      const { batchItemFailures } = await pipeline.archiver(batch, contextWith(60_000));
      expect(batchItemFailures).toHaveLength(1);
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(files.hits.get(`/${id}/a.png`)).toBe(1);
    });
  });
});
