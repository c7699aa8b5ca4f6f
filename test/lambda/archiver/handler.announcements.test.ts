/**
 * The archiver against real peers: DynamoDB Local's real stream through the forwarder (with the
 * construct's own filter and event source settings) into an SQS queue in fauxqs, consumed through the local
 * SQS event source; fauxqs for S3 and SNS (read back through an SQS subscription), and a
 * loopback file server standing in for replicate.delivery.
 *
 * Announcements: the SNS subscriptions and the completion events on EventBridge.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { COMPLETION_EVENT_SOURCE } from '../../../lambda/shared/completion-event';
import { CompletionKind, ReplicateWebhooks } from '../../../lib';
import { matchesPattern } from '../../../local/aws/event-filter';
import { startEventBridge, type EventBridgeStandIn } from '../../../local/aws/standins/eventbridge';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { startForwarder } from '../../support/forwarder';
import { subscribeQueue } from '../../support/notifications';
import { startTcpProxy } from '../../support/tcp-proxy';
import {
  ARCHIVE_ONCE,
  contextWith,
  fauxqs,
  item,
  newId,
  prediction,
  sns,
  sqsClient,
  sqsEvent,
  startPipeline,
  usePeers,
  waitFor,
  withPipeline,
} from '../../support/archiver-pipeline';

usePeers();

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

    await withPipeline(async (pipeline) => {
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
    });
  });
});

describe('a finished prediction queued again', () => {
  test("after an upgrade from the Pipe, the forwarder's new event source reads the stream from its oldest record: each prediction is acknowledged, none announced twice, nothing written", async () => {
    await withPipeline(async (pipeline) => {
      const ids = [newId(), newId()];
      await pipeline.record(...ids.map((id) => prediction(id, 'succeeded-images', { output: [] })));
      await pipeline.drain();
      expect((await pipeline.subscriber.receiveAll()).map((n) => n.message.predictionId).sort()).toEqual([...ids].sort());
      const before = await Promise.all(ids.map((id) => item(pipeline.tableName, id)));
      expect(before.map((record) => record?.notifiedAt?.S)).toEqual([expect.any(String), expect.any(String)]);

      // What CloudFormation's update creates: a second mapping on the same stream, from TRIM_HORIZON.
      const replay = startForwarder({
        streamArn: pipeline.streamArn,
        queueUrl: pipeline.queueUrl,
        sqs: sqsClient,
        pollIntervalMs: 50,
        retryDelayMs: 20,
      });
      try {
        await replay.drain(30_000);
      } finally {
        await replay.stop();
      }
      expect(replay.stats).toMatchObject({ recordsDelivered: 2, failedBatches: 0 });
      await pipeline.drain();

      expect(await pipeline.subscriber.receiveAll(500)).toEqual([]);
      expect(await Promise.all(ids.map((id) => item(pipeline.tableName, id)))).toEqual(before);
      // Taken and deleted: acknowledged, neither retried nor dead-lettered.
      const { Attributes } = await sqsClient.send(
        new GetQueueAttributesCommand({
          QueueUrl: pipeline.queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      expect(Attributes).toEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
      expect(await pipeline.deadLetters()).toEqual([]);
    });
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
        const pattern = template.Resources[stack.getLogicalId(rule.node.defaultChild as events.CfnRule)].Properties.EventPattern;
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

  test('an announcement that fails on the last try: the archival is on the record all the same (it is recorded with the announcement when that succeeds)', async () => {
    const pipeline = await withBus({}, { maxReceiveCount: 1 });
    try {
      const id = newId();
      eventBridge.failNextEntries(1, 'AccessDeniedException');
      await pipeline.record(prediction(id, 'succeeded-images', { output: [] }));
      await pipeline.drain();
      const recorded = await item(pipeline.tableName, id);
      expect(recorded).toMatchObject({
        archiveStatus: { S: 'archived' },
        archiveManifestKey: { S: expect.stringMatching(/manifest\.json$/) },
      });
      expect(recorded?.notifiedAt).toBeUndefined();
      expect((await pipeline.deadLetters()).length).toBe(1);
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
