/**
 * Handler wiring read from the environment: small pure pieces that only heavier suites reached
 * (found by mutation testing, docs/mutation.md).
 */
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
