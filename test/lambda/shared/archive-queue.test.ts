/**
 * The message the forwarder puts on the archive queue, and the queue's ceiling (found by mutation
 * testing, docs/mutation.md, as only heavier suites reached them): a prediction that keeps
 * failing waits at most as long as SQS allows a message to stay invisible, twelve hours, and
 * never longer (SQS would refuse the call).
 */
import { archiveRequestBody, MAX_VISIBILITY_TIMEOUT_SECONDS, parseArchiveRequest } from '../../../lambda/shared/archive-queue';
import { requeueDelaySeconds } from '../../../lambda/shared/retry';

test("a prediction that keeps failing waits SQS's longest visibility timeout, twelve hours", () => {
  expect(MAX_VISIBILITY_TIMEOUT_SECONDS).toBe(43_200);
  const longest = requeueDelaySeconds(40, 30, MAX_VISIBILITY_TIMEOUT_SECONDS, () => 1);
  expect(longest).toBe(12 * 3600);
});

describe('archive requests', () => {
  test("a request's body is the one the EventBridge Pipe's template produced, and the archiver reads it", () => {
    // The Pipe's input template was `{"predictionId": "<$.dynamodb.NewImage.predictionId.S>"}`:
    // messages it queued before an upgrade read the same as the forwarder's.
    expect(archiveRequestBody('ufawqhfynnddngldkgtslldrkq')).toBe('{"predictionId": "ufawqhfynnddngldkgtslldrkq"}');
    expect(parseArchiveRequest(archiveRequestBody('ufawqhfynnddngldkgtslldrkq'))).toBe('ufawqhfynnddngldkgtslldrkq');
  });

  test.each([
    ['not JSON', '{'],
    ['null', 'null'],
    ['no id', '{}'],
    ['a number', '{"predictionId": 7}'],
    ['an id that is not one', '{"predictionId": "../x"}'],
    ['over 1 KB', `{"predictionId": "abc", "pad": "${'x'.repeat(1_024)}"}`],
  ])('%s is not an archive request', (_name, body) => {
    expect(parseArchiveRequest(body)).toBeUndefined();
  });

  test('a body of exactly 1,024 characters is read', () => {
    const head = '{"predictionId": "abc", "pad": "';
    const body = `${head}${'x'.repeat(1_024 - head.length - 2)}"}`;
    expect(body).toHaveLength(1_024);
    expect(parseArchiveRequest(body)).toBe('abc');
  });
});
