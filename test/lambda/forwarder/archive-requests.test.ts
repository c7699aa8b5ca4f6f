/** Which records of a stream batch become archive requests, and in which groups they are sent. */
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { groupsOf, planForwarding } from '../../../lambda/forwarder/archive-requests';
import { ATTR } from '../../../lambda/shared/state';

let sequence = 100;
const terminal = (predictionId: AttributeValue | undefined, eventName: 'INSERT' | 'MODIFY' = 'INSERT'): DynamoDBRecord => ({
  eventName,
  dynamodb: {
    NewImage: {
      ...(predictionId ? { [ATTR.predictionId]: predictionId } : {}),
      [ATTR.terminalStatus]: { S: 'succeeded' },
    },
    ...(eventName === 'MODIFY' ? { OldImage: { [ATTR.status]: { S: 'processing' } } } : {}),
    SequenceNumber: String(sequence++),
  },
});
const open = (): DynamoDBRecord => ({
  eventName: 'MODIFY',
  dynamodb: { NewImage: { [ATTR.predictionId]: { S: 'open' } }, OldImage: {}, SequenceNumber: String(sequence++) },
});

describe('planForwarding', () => {
  test('each record in which a prediction became terminal is one request, in stream order; others are skipped', () => {
    const plan = planForwarding([terminal({ S: 'a' }), open(), terminal({ S: 'b' }, 'MODIFY'), terminal({ S: 'c' })]);
    expect(plan).toEqual({
      requests: [
        { index: 0, predictionId: 'a' },
        { index: 2, predictionId: 'b' },
        { index: 3, predictionId: 'c' },
      ],
      skipped: 1,
    });
  });

  test.each([
    ['no prediction id', undefined, 'no_prediction_id'],
    ['an id of another type', { N: '7' }, 'no_prediction_id'],
    ['an id that is not one', { S: '../x' }, 'invalid_prediction_id'],
  ] as const)('a terminal record with %s stops the plan there: nothing from it on is sent', (_name, id, reason) => {
    const plan = planForwarding([terminal({ S: 'before' }), terminal(id), terminal({ S: 'after' })]);
    expect(plan).toEqual({ requests: [{ index: 0, predictionId: 'before' }], unreadable: { index: 1, reason }, skipped: 0 });
  });

  test('an unreadable record that did not make a prediction terminal is only skipped', () => {
    const plan = planForwarding([{ eventName: 'REMOVE', dynamodb: { SequenceNumber: '1' } }, terminal({ S: 'a' })]);
    expect(plan).toEqual({ requests: [{ index: 1, predictionId: 'a' }], skipped: 1 });
  });
});

test('groupsOf: in order, the last one shorter', () => {
  expect(groupsOf([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  expect(groupsOf([], 10)).toEqual([]);
  expect(
    groupsOf(
      Array.from({ length: 20 }, (_, i) => i),
      10,
    ).map((group) => group.length),
  ).toEqual([10, 10]);
});
