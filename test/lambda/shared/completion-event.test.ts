/**
 * The completion event: its envelope, the rule patterns that select it, and its size, which must
 * fit EventBridge's 256 KB entry limit as the SNS message fits SNS's.
 */
import {
  COMPLETION_EVENT_SOURCE,
  EVENT_ENVELOPE_BYTES,
  completionEventDetailType,
  completionEventEntry,
  completionEventPattern,
} from '../../../lambda/shared/completion-event';
import { buildCompletionMessage, objectLocation, type ArchivedFile } from '../../../lambda/shared/completion-message';
import type { Prediction } from '../../../lambda/shared/prediction';
import { matchesPattern } from '../../../local/aws/event-filter';

const EVENTBRIDGE_ENTRY_LIMIT = 262_144;
/** What EventBridge counts for an entry without time or resources (its documented formula). */
const entryBytes = (entry: { Source: string; DetailType: string; Detail: string }) =>
  Buffer.byteLength(entry.Source) + Buffer.byteLength(entry.DetailType) + Buffer.byteLength(entry.Detail);

const event = (status: string, model?: string) => ({
  version: '0',
  source: COMPLETION_EVENT_SOURCE,
  'detail-type': completionEventDetailType(status),
  detail: { predictionId: 'p1', status, ...(model ? { model } : {}) },
});

test('one detail-type per terminal status, in words a rule reads well', () => {
  expect(['succeeded', 'failed', 'canceled', 'aborted'].map((status) => completionEventDetailType(status))).toEqual([
    'Replicate Prediction Succeeded',
    'Replicate Prediction Failed',
    'Replicate Prediction Canceled',
    'Replicate Prediction Aborted',
  ]);
});

test('the source and the detail-types are the documented ones users write their rules against', () => {
  expect(COMPLETION_EVENT_SOURCE).toBe('replicate-webhooks');
  // A status Replicate might add later still gets an event a rule on the source alone matches.
  expect(completionEventDetailType('expired')).toBe('Replicate Prediction Finished');
});

test('the envelope room covers the widest source and detail-type an event can have, and no more', () => {
  const widths = ['succeeded', 'failed', 'canceled', 'aborted', 'expired'].map(
    (status) => Buffer.byteLength(COMPLETION_EVENT_SOURCE) + Buffer.byteLength(completionEventDetailType(status)),
  );
  for (const width of widths) expect(width).toBeLessThanOrEqual(EVENT_ENVELOPE_BYTES);
  expect(Math.max(...widths)).toBe(EVENT_ENVELOPE_BYTES);
});

test('a training has detail-types of its own', () => {
  expect(
    ['succeeded', 'failed', 'canceled', 'aborted', 'expired'].map((status) => completionEventDetailType(status, 'training')),
  ).toEqual([
    'Replicate Training Succeeded',
    'Replicate Training Failed',
    'Replicate Training Canceled',
    'Replicate Training Aborted',
    'Replicate Training Finished',
  ]);
  // A kind this version does not know is announced as a prediction, never without a detail-type.
  expect(completionEventDetailType('failed', 'batch')).toBe('Replicate Prediction Failed');
  expect(completionEventEntry('failed', '{}', 'b', 'training').DetailType).toBe('Replicate Training Failed');
});

test('kinds select predictions, trainings or both', () => {
  const prediction = event('succeeded');
  const training = { ...prediction, 'detail-type': completionEventDetailType('succeeded', 'training') };
  const matches = (kinds?: string[]) =>
    [prediction, training]
      .filter((candidate) => matchesPattern(candidate, completionEventPattern({ kinds })))
      .map((e) => e['detail-type']);
  expect(matches()).toEqual(['Replicate Prediction Succeeded', 'Replicate Training Succeeded']);
  expect(matches([])).toHaveLength(2);
  expect(matches(['training'])).toEqual(['Replicate Training Succeeded']);
  expect(matches(['prediction'])).toEqual(['Replicate Prediction Succeeded']);
  const failedTrainings = completionEventPattern({ kinds: ['training'], statuses: ['failed'] });
  expect(failedTrainings['detail-type']).toEqual(['Replicate Training Failed']);
});

describe('rule patterns', () => {
  const all = ['succeeded', 'failed', 'canceled', 'aborted'].flatMap((status) =>
    ['black-forest-labs/flux-schnell', 'meta/meta-llama-3-8b-instruct', undefined].map((model) => event(status, model)),
  );
  const matching = (pattern: Record<string, unknown>) =>
    all.filter((candidate) => matchesPattern(candidate, pattern)).map((e) => `${e.detail.status}:${e.detail.model ?? '-'}`);

  test('no selection matches every completion event and nothing from another source', () => {
    expect(matching(completionEventPattern())).toHaveLength(all.length);
    expect(matchesPattern({ ...event('succeeded'), source: 'someone-else' }, completionEventPattern())).toBe(false);
  });

  test('statuses and models select exactly their events', () => {
    expect(matching(completionEventPattern({ statuses: ['failed', 'aborted'] }))).toEqual([
      'failed:black-forest-labs/flux-schnell',
      'failed:meta/meta-llama-3-8b-instruct',
      'failed:-',
      'aborted:black-forest-labs/flux-schnell',
      'aborted:meta/meta-llama-3-8b-instruct',
      'aborted:-',
    ]);
    expect(matching(completionEventPattern({ statuses: ['succeeded'], models: ['meta/meta-llama-3-8b-instruct'] }))).toEqual([
      'succeeded:meta/meta-llama-3-8b-instruct',
    ]);
  });

  test('empty lists mean everything, not nothing', () => {
    expect(matching(completionEventPattern({ statuses: [], models: [] }))).toHaveLength(all.length);
  });
});

test('the entry names the bus and carries the message as detail', () => {
  expect(completionEventEntry('failed', '{"a":1}', 'arn:aws:events:us-east-1:1:event-bus/b')).toEqual({
    Source: COMPLETION_EVENT_SOURCE,
    DetailType: 'Replicate Prediction Failed',
    Detail: '{"a":1}',
    EventBusName: 'arn:aws:events:us-east-1:1:event-bus/b',
  });
});

test('a message cut to its limit still fits an EventBridge entry, whatever the id and however the lists fill', () => {
  // No model and a short id: SNS's attributes are then smaller than the event's source and
  // detail-type, so a body cut for SNS alone could overflow the entry by a few bytes.
  const at = (key: string) => objectLocation('b', key);
  let closest = Infinity;
  for (let pad = 0; pad < 40; pad++) {
    const prediction: Prediction = { id: 'p', status: 'canceled', output: null, error: null };
    // Entries of every size between 60 and 200 bytes: the greedy fill ends within a few bytes of its room.
    const files: ArchivedFile[] = Array.from({ length: 4_000 }, (_, index) => ({
      source: `s${'x'.repeat((index * 7 + pad) % 140)}`,
      paths: [],
      ...at(`k${index}`),
      bytes: 1,
      sha256: '',
      contentType: '',
    }));
    const { body } = buildCompletionMessage(
      prediction,
      { predictionId: 'p', status: 'canceled', archivedAt: 't', prediction: at('p.json'), files, failures: [] },
      at('m.json'),
    );
    const size = entryBytes(completionEventEntry('canceled', body, 'bus'));
    expect(size).toBeLessThanOrEqual(EVENTBRIDGE_ENTRY_LIMIT);
    closest = Math.min(closest, EVENTBRIDGE_ENTRY_LIMIT - size);
  }
  // The lists used the room there was: the test exercised the limit, not a half-empty message.
  expect(closest).toBeLessThan(EVENT_ENVELOPE_BYTES);
});
