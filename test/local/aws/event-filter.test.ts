/** Lambda event filter patterns, for the subset the poller supports. */
import { matchesAny, matchesPattern } from '../../../local/aws/event-filter';
import { BECAME_TERMINAL_PATTERNS } from '../../../lambda/shared/stream-filter';

const record = {
  eventName: 'MODIFY',
  dynamodb: {
    Keys: { pk: { S: 'prediction#abc' } },
    NewImage: { pk: { S: 'prediction#abc' }, status: { S: 'succeeded' }, outputCount: { N: '2' }, done: { BOOL: true } },
    OldImage: { pk: { S: 'prediction#abc' }, status: { S: 'processing' } },
    SizeBytes: 42,
  },
  tags: ['a', 'b'],
};

describe('matchesPattern', () => {
  test('exact values: strings, numbers, booleans, null, with OR inside the array', () => {
    expect(matchesPattern(record, { eventName: ['MODIFY'] })).toBe(true);
    expect(matchesPattern(record, { eventName: ['INSERT'] })).toBe(false);
    expect(matchesPattern(record, { eventName: ['INSERT', 'MODIFY'] })).toBe(true);
    expect(matchesPattern(record, { dynamodb: { SizeBytes: [42] } })).toBe(true);
    // DynamoDB numbers are strings in the record, and a string never equals a number.
    expect(matchesPattern(record, { dynamodb: { NewImage: { outputCount: { N: [2] } } } })).toBe(false);
    expect(matchesPattern(record, { dynamodb: { NewImage: { outputCount: { N: ['2'] } } } })).toBe(true);
    expect(matchesPattern(record, { dynamodb: { NewImage: { done: { BOOL: [true] } } } })).toBe(true);
    expect(matchesPattern({ value: null }, { value: [null] })).toBe(true);
    expect(matchesPattern({}, { value: [null] })).toBe(false);
  });

  test('every field of the pattern must match', () => {
    expect(matchesPattern(record, { eventName: ['MODIFY'], dynamodb: { Keys: { pk: { S: ['prediction#abc'] } } } })).toBe(true);
    expect(matchesPattern(record, { eventName: ['MODIFY'], dynamodb: { Keys: { pk: { S: ['prediction#xyz'] } } } })).toBe(false);
  });

  test('arrays in the event match when any element matches', () => {
    expect(matchesPattern(record, { tags: ['b'] })).toBe(true);
    expect(matchesPattern(record, { tags: ['c'] })).toBe(false);
    expect(matchesPattern({ items: [{ id: 1 }, { id: 2 }] }, { items: { id: [2] } })).toBe(true);
  });

  test('exists: true needs a leaf value at the path', () => {
    expect(matchesPattern(record, { dynamodb: { NewImage: { status: { S: [{ exists: true }] } } } })).toBe(true);
    expect(matchesPattern(record, { dynamodb: { NewImage: { missing: { S: [{ exists: true }] } } } })).toBe(false);
    // Exists only applies to leaves: an attribute's {S: ...} object is not one.
    expect(matchesPattern(record, { dynamodb: { NewImage: { status: [{ exists: true }] } } })).toBe(false);
  });

  test('exists: false matches a missing field, a missing parent, or a non-leaf', () => {
    expect(matchesPattern(record, { dynamodb: { OldImage: { terminalStatus: { S: [{ exists: false }] } } } })).toBe(true);
    expect(matchesPattern(record, { dynamodb: { OldImage: { status: { S: [{ exists: false }] } } } })).toBe(false);
    const insert = { eventName: 'INSERT', dynamodb: { NewImage: { pk: { S: 'x' } } } };
    expect(matchesPattern(insert, { dynamodb: { OldImage: { status: { S: [{ exists: false }] } } } })).toBe(true);
    expect(matchesPattern({}, { a: { b: { c: [{ exists: false }] } } })).toBe(true);
    expect(matchesPattern({ a: { b: { c: 1 } } }, { a: { b: [{ exists: false }] } })).toBe(true);
  });

  test('prefix matches strings only', () => {
    expect(matchesPattern(record, { dynamodb: { Keys: { pk: { S: [{ prefix: 'prediction#' }] } } } })).toBe(true);
    expect(matchesPattern(record, { dynamodb: { Keys: { pk: { S: [{ prefix: 'webhook#' }] } } } })).toBe(false);
    expect(matchesPattern({ n: 123 }, { n: [{ prefix: '1' }] })).toBe(false);
  });

  test('anything-but excludes the listed values and needs the field to be present', () => {
    expect(matchesPattern(record, { eventName: [{ 'anything-but': ['REMOVE'] }] })).toBe(true);
    expect(matchesPattern(record, { eventName: [{ 'anything-but': ['REMOVE', 'MODIFY'] }] })).toBe(false);
    expect(matchesPattern(record, { eventName: [{ 'anything-but': 'MODIFY' }] })).toBe(false);
    expect(matchesPattern(record, { dynamodb: { SizeBytes: [{ 'anything-but': [1, 2] }] } })).toBe(true);
    expect(matchesPattern(record, { missing: [{ 'anything-but': ['x'] }] })).toBe(false);
  });

  test('numeric compares numbers only, every comparison of a range together', () => {
    const at = (predictTime: unknown) => ({ detail: { metrics: { predict_time: predictTime } } });
    const longerThan = (seconds: number) => ({ detail: { metrics: { predict_time: [{ numeric: ['>', seconds] }] } } });
    expect(matchesPattern(at(301.5), longerThan(300))).toBe(true);
    expect(matchesPattern(at(300), longerThan(300))).toBe(false);
    expect(matchesPattern(at('301'), longerThan(300))).toBe(false);
    expect(matchesPattern({ detail: {} }, longerThan(300))).toBe(false);
    const range = { n: [{ numeric: ['>=', 10, '<', 20] }] };
    expect([9, 10, 19.9, 20].map((n) => matchesPattern({ n }, range))).toEqual([false, true, true, false]);
    expect(matchesPattern({ n: 5 }, { n: [{ numeric: ['=', 5] }] })).toBe(true);
    expect(matchesPattern({ n: 5 }, { n: [{ numeric: ['<=', 4] }] })).toBe(false);
  });

  test('operators and values OR together within a field', () => {
    expect(matchesPattern(record, { eventName: ['INSERT', { prefix: 'MOD' }] })).toBe(true);
    expect(matchesPattern(record, { dynamodb: { OldImage: { gone: { S: ['x', { exists: false }] } } } })).toBe(true);
  });

  test('unsupported operators and malformed patterns throw, even when another condition already matched', () => {
    expect(() => matchesPattern(record, { dynamodb: { SizeBytes: [{ numeric: ['>', '1'] }] } })).toThrow(/numeric/);
    expect(() => matchesPattern(record, { dynamodb: { SizeBytes: [{ numeric: ['>', 1, '<'] }] } })).toThrow(/numeric/);
    expect(() => matchesPattern(record, { dynamodb: { SizeBytes: [{ numeric: ['!=', 1] }] } })).toThrow(/numeric/);
    expect(() => matchesPattern(record, { eventName: ['MODIFY', { suffix: 'FY' }] })).toThrow(/unsupported filter operator/);
    expect(() => matchesPattern(record, { eventName: ['INSERT'], other: [{ 'equals-ignore-case': 'x' }] })).toThrow(
      /unsupported/,
    );
    expect(() => matchesPattern(record, { eventName: [{ 'anything-but': { prefix: 'M' } }] })).toThrow(/anything-but/);
    expect(() => matchesPattern(record, { eventName: [{ exists: 'yes' }] })).toThrow(/exists/);
    expect(() => matchesPattern(record, { eventName: [{ prefix: 'M', exists: true }] })).toThrow(/unsupported filter operator/);
    expect(() => matchesPattern(record, { eventName: 'MODIFY' })).toThrow(/must be an array/);
    expect(() => matchesPattern(record, { $or: [{ eventName: ['MODIFY'] }] })).toThrow(/\$or/);
  });
});

describe('matchesAny', () => {
  test('ORs across patterns, and no patterns means no filtering', () => {
    expect(matchesAny(record, [{ eventName: ['INSERT'] }, { eventName: ['MODIFY'] }])).toBe(true);
    expect(matchesAny(record, [{ eventName: ['INSERT'] }, { eventName: ['REMOVE'] }])).toBe(false);
    expect(matchesAny(record, [])).toBe(true);
  });

  test('BECAME_TERMINAL_PATTERNS: the INSERT of a terminal record and the MODIFY into terminal only', () => {
    const image = (extra: Record<string, unknown> = {}) => ({ pk: { S: 'prediction#p' }, status: { S: 'starting' }, ...extra });
    const terminal = { terminalStatus: { S: 'succeeded' } };
    const passes = (event: unknown) => matchesAny(event, BECAME_TERMINAL_PATTERNS);
    expect(passes({ eventName: 'INSERT', dynamodb: { NewImage: image(terminal) } })).toBe(true);
    expect(passes({ eventName: 'INSERT', dynamodb: { NewImage: image() } })).toBe(false);
    expect(passes({ eventName: 'MODIFY', dynamodb: { OldImage: image(), NewImage: image(terminal) } })).toBe(true);
    expect(passes({ eventName: 'MODIFY', dynamodb: { OldImage: image(terminal), NewImage: image(terminal) } })).toBe(false);
    expect(passes({ eventName: 'MODIFY', dynamodb: { OldImage: image(), NewImage: image() } })).toBe(false);
    expect(passes({ eventName: 'REMOVE', dynamodb: { OldImage: image(terminal) } })).toBe(false);
  });
});
