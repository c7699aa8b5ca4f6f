/**
 * The records that start an archival: the forwarder's check in code says what the event source's
 * filter patterns say (as local mode's matcher, after aws/event-ruler, evaluates them), for every
 * shape a stream record of the table can take.
 */
import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import fc from 'fast-check';
import { ATTR } from '../../../lambda/shared/state';
import { BECAME_TERMINAL_PATTERNS, becameTerminal } from '../../../lambda/shared/stream-filter';
import { matchesAny } from '../../../local/aws/event-filter';

const image = (terminalStatus?: AttributeValue): Record<string, AttributeValue> => ({
  pk: { S: 'prediction#p1' },
  [ATTR.predictionId]: { S: 'p1' },
  ...(terminalStatus ? { [ATTR.terminalStatus]: terminalStatus } : {}),
});

const record = (
  eventName: DynamoDBRecord['eventName'],
  newImage?: Record<string, AttributeValue>,
  oldImage?: Record<string, AttributeValue>,
): DynamoDBRecord => ({
  eventName,
  dynamodb: { ...(newImage ? { NewImage: newImage } : {}), ...(oldImage ? { OldImage: oldImage } : {}), SequenceNumber: '1' },
});

describe('becameTerminal', () => {
  test.each([
    ['an insert of a terminal record', record('INSERT', image({ S: 'succeeded' })), true],
    ['a change that made the record terminal', record('MODIFY', image({ S: 'failed' }), image()), true],
    ['an insert of an open record', record('INSERT', image()), false],
    ['a change of an open record', record('MODIFY', image(), image()), false],
    [
      'a change of a record already terminal (archived, announced)',
      record('MODIFY', image({ S: 'succeeded' }), image({ S: 'succeeded' })),
      false,
    ],
    ['a removal (TTL)', record('REMOVE', undefined, image({ S: 'succeeded' })), false],
    ['a terminal status of another type', record('INSERT', image({ N: '1' })), false],
  ])('%s: %s', (_name, streamRecord, expected) => {
    expect(becameTerminal(streamRecord)).toBe(expected);
    expect(matchesAny(streamRecord, BECAME_TERMINAL_PATTERNS)).toBe(expected);
  });

  test('agrees with the filter patterns on any record', () => {
    const status = fc.option(
      fc.oneof(
        fc.constantFrom('succeeded', 'failed', '').map((S) => ({ S })),
        fc.constant({ N: '3' }),
      ),
      {
        nil: undefined,
      },
    );
    const anImage = fc.option(status.map(image), { nil: undefined });
    fc.assert(
      fc.property(fc.constantFrom('INSERT', 'MODIFY', 'REMOVE' as const), anImage, anImage, (eventName, newImage, oldImage) => {
        const streamRecord = record(eventName, newImage, oldImage);
        expect(becameTerminal(streamRecord)).toBe(matchesAny(streamRecord, BECAME_TERMINAL_PATTERNS));
      }),
    );
  });
});
