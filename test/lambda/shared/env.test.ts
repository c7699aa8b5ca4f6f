/**
 * Handler wiring read from the environment, and the queue message and archive keys every handler
 * shares: small pure pieces that only heavier suites reached (found by mutation testing,
 * docs/mutation.md).
 */
import { ARCHIVE_REQUEST_TEMPLATE, parseArchiveRequest } from '../../../lambda/shared/archive-queue';
import {
  manifestKey,
  normalizePrefix,
  outputKey,
  predictionDocumentKey,
  predictionFolder,
  spilledPayloadKey,
} from '../../../lambda/shared/archive-layout';
import { booleanVariable, environmentOf, integerVariable, listVariable, requiredVariable } from '../../../lambda/shared/env';

describe('environment variables', () => {
  test('a required variable: its value, or an error naming it when absent or empty', () => {
    expect(requiredVariable({ TABLE: 'hooks' }, 'TABLE')).toBe('hooks');
    expect(() => requiredVariable({}, 'TABLE')).toThrow('environment variable TABLE is required');
    expect(() => requiredVariable({ TABLE: '' }, 'TABLE')).toThrow('environment variable TABLE is required');
  });

  test('an integer: the fallback when unset or empty, else a non-negative safe integer', () => {
    expect(integerVariable({}, 'N', 7)).toBe(7);
    expect(integerVariable({ N: '' }, 'N', 7)).toBe(7);
    expect(integerVariable({ N: '0' }, 'N', 7)).toBe(0);
    expect(integerVariable({ N: '42' }, 'N', 7)).toBe(42);
    expect(integerVariable({ N: String(Number.MAX_SAFE_INTEGER) }, 'N', 7)).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of ['-1', '1.5', 'ten', String(2 ** 53), 'Infinity']) {
      expect(() => integerVariable({ N: bad }, 'N', 7)).toThrow('environment variable N must be a non-negative integer');
    }
  });

  test('a boolean: exactly true or false, else an error; the fallback when unset or empty', () => {
    expect(booleanVariable({ B: 'true' }, 'B', false)).toBe(true);
    expect(booleanVariable({ B: 'false' }, 'B', true)).toBe(false);
    expect(booleanVariable({}, 'B', true)).toBe(true);
    expect(booleanVariable({ B: '' }, 'B', false)).toBe(false);
    for (const bad of ['TRUE', '1', 'yes', ' true']) {
      expect(() => booleanVariable({ B: bad }, 'B', false)).toThrow('environment variable B must be true or false');
    }
  });

  test('a list: comma-separated, trimmed, empty entries dropped; the fallback (a copy) when blank', () => {
    expect(listVariable({ L: ' a.example , b.example,,c ' }, 'L', [])).toEqual(['a.example', 'b.example', 'c']);
    const fallback = ['x'];
    const read = listVariable({ L: '  ' }, 'L', fallback);
    expect(read).toEqual(['x']);
    expect(read).not.toBe(fallback);
    expect(listVariable({}, 'L', ['y'])).toEqual(['y']);
  });

  test('environmentOf writes what the readers above read back, and skips what is unset', () => {
    const names = { table: 'TABLE', hosts: 'HOSTS', retries: 'RETRIES', strict: 'STRICT', note: 'NOTE' };
    const environment = environmentOf(names, { table: 'hooks', hosts: ['a', 'b'], retries: 3, strict: false, note: undefined });
    expect(environment).toEqual({ TABLE: 'hooks', HOSTS: 'a,b', RETRIES: '3', STRICT: 'false' });
    expect(listVariable(environment, 'HOSTS', [])).toEqual(['a', 'b']);
    expect(integerVariable(environment, 'RETRIES', 0)).toBe(3);
    expect(booleanVariable(environment, 'STRICT', true)).toBe(false);
  });
});

describe('archive requests', () => {
  test('the Pipe template, filled as the Pipe fills it, is a request the archiver reads', () => {
    const filled = ARCHIVE_REQUEST_TEMPLATE.replace(/<\$\.dynamodb\.NewImage\.\w+\.S>/, 'ufawqhfynnddngldkgtslldrkq');
    expect(parseArchiveRequest(filled)).toBe('ufawqhfynnddngldkgtslldrkq');
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

describe('archive layout', () => {
  test.each([
    [undefined, ''],
    ['', ''],
    ['/', ''],
    ['team', 'team/'],
    ['//team/a//', 'team/a/'],
  ])('prefix %j becomes %j', (prefix, normalized) => {
    expect(normalizePrefix(prefix)).toBe(normalized);
  });

  test('every key of a prediction lives in its folder', () => {
    expect(predictionFolder('p/', 'abc')).toBe('p/predictions/abc/');
    expect(predictionDocumentKey('p/', 'abc')).toBe('p/predictions/abc/prediction.json');
    expect(manifestKey('p/', 'abc')).toBe('p/predictions/abc/manifest.json');
    expect(outputKey('p/', 'abc', 2, 'x.png')).toBe('p/predictions/abc/outputs/2-x.png');
    expect(spilledPayloadKey('p/', 'abc', 'q-_1')).toBe('p/webhook-payloads/abc/q-_1.json');
  });
});
