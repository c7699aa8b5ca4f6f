/**
 * The archiver against real peers: DynamoDB Local's real stream through the forwarder (with the
 * construct's own filter and event source settings) into an SQS queue in fauxqs, consumed through the local
 * SQS event source; fauxqs for S3 and SNS (read back through an SQS subscription), and a
 * loopback file server standing in for replicate.delivery.
 *
 * One prediction never costs another: a poisoned, slow or racing prediction leaves its batch alone.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { randomBytes, randomUUID } from 'node:crypto';
import { ArchiveProgressStore } from '../../../lambda/archiver/progress';
import { ARCHIVE_PENDING_INDEX } from '../../../lambda/shared/state';
import { createTopic, subscribeQueue } from '../../support/notifications';
import {
  bucket,
  contextWith,
  dynamodb,
  files,
  inArchivePendingPartition,
  item,
  newId,
  prediction,
  s3,
  sns,
  sqsClient,
  sqsEvent,
  usePeers,
  withPipeline,
} from '../../support/archiver-pipeline';

usePeers();

describe('one prediction never costs another', () => {
  test('a batch of five whose first prediction cannot be archived: the other four are archived and announced, the first is settled as failed and dead-lettered', async () => {
    await withPipeline({}, { maxReceiveCount: 3, maxConcurrency: 2 }, async (pipeline) => {
      const poisoned = newId();
      // Its payload was spilled to S3, and the object is gone: every try fails the same way.
      // Random logs: above the inline limit compressed too.
      const logs = randomBytes(24 * 1024).toString('base64');
      const terminal = JSON.stringify(prediction(poisoned, 'succeeded-llm-tokens', { logs }));
      await pipeline.record(terminal);
      const spilled = (await item(pipeline.tableName, poisoned))!.payloadKey.S!;
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
    });
  });

  test('a prediction whose output stalls does not hold up the others of its batch', async () => {
    await withPipeline({}, { batchSize: 10 }, async (pipeline) => {
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
    });
  });

  test('the same prediction delivered twice at once is archived and announced once', async () => {
    await withPipeline(async (pipeline) => {
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
    });
  });

  test('a short lease, renewed while the archival works: another delivery waits about a lease, not the function timeout', async () => {
    await withPipeline({ LEASE_SECONDS: '1' }, async (pipeline) => {
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
    });
  });

  test('a given-up prediction redriven on purpose is back in the pending partition while it is tried, so a crash is seen again', async () => {
    await withPipeline(async (pipeline) => {
      const id = newId();
      await pipeline.stop();
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      const progress = new ArchiveProgressStore(dynamodb, pipeline.tableName);
      await progress.markFailed(id, 'attempts_exhausted', new Date());
      expect((await item(pipeline.tableName, id))?.archivePending?.S).toBe('failed');
      // The redriven try claims it, then dies without a word.
      expect((await progress.claim(id, new Date(), 1_000, 'a try that will crash')).kind).toBe('claimed');
      expect((await item(pipeline.tableName, id))?.archivePending?.S).toBe('pending');
    });
  });

  test('a lease left behind (its holder could not release it) delays the prediction, never drops it', async () => {
    await withPipeline(async (pipeline) => {
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
    });
  });

  test('a message that is not an archive request is retried, then dead-lettered, and costs nobody else', async () => {
    await withPipeline({}, { maxReceiveCount: 2 }, async (pipeline) => {
      const id = newId();
      await sqsClient.send(new SendMessageCommand({ QueueUrl: pipeline.queueUrl, MessageBody: '{"predictionId": "../x"}' }));
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      await pipeline.drain();
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId)).toEqual([id]);
      expect(await pipeline.deadLetters()).toEqual(['{"predictionId": "../x"}']);
    });
  });

  test('a dead-lettered prediction redriven after the cause is fixed is archived and announced once', async () => {
    const topicName = `late-${randomUUID()}`;
    const topicArn = `arn:aws:sns:us-east-1:000000000000:${topicName}`;
    await withPipeline({}, { topicArn, maxReceiveCount: 2 }, async (pipeline) => {
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
    });
  });
});
