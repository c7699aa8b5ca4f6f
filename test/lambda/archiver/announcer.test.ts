/**
 * A hostile prediction's notification goes through the real SDK serializer to SNS (fauxqs) and
 * arrives, through a subscribed queue, whole, parseable and within SNS's 256 KiB.
 */
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { CompletionAnnouncer } from '../../../lambda/archiver/announcer';
import { buildCompletionMessage, objectLocation, type ArchivedFile } from '../../../lambda/shared/completion-message';
import type { Prediction } from '../../../lambda/shared/prediction';
import { useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';
import { createTopic, publishedBytes, subscribeQueue } from '../../support/notifications';

let fauxqs: Fauxqs;
let sns: SNSClient;
let sqs: SQSClient;

beforeAll(async () => {
  fauxqs = await startFauxqs();
  useStandInEnvironment({ sns: fauxqs.endpoint, sqs: fauxqs.sqsEndpoint });
  sns = new SNSClient({});
  sqs = new SQSClient({});
});

afterAll(async () => {
  sns.destroy();
  sqs.destroy();
  await fauxqs.stop();
});

const at = (key: string) => objectLocation('my-archive', key);

test('a model with a lone surrogate and control characters, a huge version and many outputs: published and received', async () => {
  const topicArn = await createTopic(sns);
  const subscriber = await subscribeQueue(sns, sqs, topicArn);
  const prediction: Prediction = {
    id: 'hostile1',
    status: 'succeeded',
    model: 'owner/\ud800name\u0001',
    version: 'v'.repeat(300_000),
    output: null,
    error: null,
  };
  const files: ArchivedFile[] = Array.from({ length: 3_000 }, (_, index) => ({
    source: `https://replicate.delivery/x/${index}.png`,
    paths: [`[${index}]`],
    ...at(`predictions/hostile1/outputs/${index}-${index}.png`),
    bytes: 1,
    sha256: '00'.repeat(32),
    contentType: 'image/png',
  }));
  const notification = buildCompletionMessage(
    prediction,
    {
      predictionId: 'hostile1',
      status: 'succeeded',
      archivedAt: '2026-11-20T10:00:04.120Z',
      prediction: at('predictions/hostile1/prediction.json'),
      files,
      failures: [],
    },
    at('predictions/hostile1/manifest.json'),
  );

  await new CompletionAnnouncer(sns, topicArn).announce('topic', notification);

  const [received, ...more] = await subscriber.receiveAll(1_000);
  expect(more).toEqual([]);
  expect(received.attributes).toEqual({
    status: 'succeeded',
    kind: 'prediction',
    prediction_id: 'hostile1',
    model: 'owner/\ufffdname\ufffd',
  });
  expect(received.message).toEqual(notification.message);
  expect(received.message.omitted!.outputs).toBeGreaterThan(0);
  expect(publishedBytes(received)).toBeLessThanOrEqual(262_144);
});
