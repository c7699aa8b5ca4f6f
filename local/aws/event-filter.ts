/**
 * Lambda event filtering and EventBridge rules (the pattern language, as implemented by
 * aws/event-ruler) for the subset this project and its examples use. Anything outside that subset throws instead of guessing, so
 * a pattern change that the local poller cannot honour fails in tests rather than letting every
 * record through.
 *
 * Matching works on leaf values: a path in the pattern selects the primitive values (string,
 * number, boolean, null) found at that path in the event; arrays in the event contribute each of
 * their elements. An object or a missing field at the path has no leaf values.
 */

export type FilterPattern = Record<string, unknown>;

type Leaf = string | number | boolean | null;

const SUPPORTED_OPERATORS = ['exists', 'prefix', 'anything-but', 'numeric'];

const COMPARISONS: Readonly<Record<string, (value: number, bound: number) => boolean>> = {
  '<': (value, bound) => value < bound,
  '<=': (value, bound) => value <= bound,
  '=': (value, bound) => value === bound,
  '>=': (value, bound) => value >= bound,
  '>': (value, bound) => value > bound,
};

/** OR across patterns; no patterns at all means no filtering, as on an event source mapping without FilterCriteria. */
export function matchesAny(event: unknown, patterns: readonly FilterPattern[]): boolean {
  return patterns.length === 0 || patterns.some((pattern) => matchesPattern(event, pattern));
}

/** AND across the fields of the pattern, OR within each field's list of allowed values. */
export function matchesPattern(event: unknown, pattern: FilterPattern): boolean {
  if (!isPlainObject(pattern)) throw new Error(`filter pattern must be an object, got ${describe(pattern)}`);
  // Every field is evaluated (no short-circuit), so an unsupported operator anywhere in the pattern throws.
  const results = Object.entries(pattern).map(([key, rule]) => {
    if (key === '$or') throw new Error('unsupported filter operator "$or"');
    const value = isPlainObject(event) ? event[key] : undefined;
    if (Array.isArray(rule)) return matchesField(leavesOf(value), rule, key);
    if (isPlainObject(rule)) {
      // An array of objects in the event matches when one of its elements matches the nested pattern.
      if (Array.isArray(value) && value.some(isPlainObject)) {
        return value.map((element) => matchesPattern(element, rule)).some(Boolean);
      }
      return matchesPattern(value, rule);
    }
    throw new Error(`filter pattern field "${key}" must be an array of allowed values or a nested object, got ${describe(rule)}`);
  });
  return results.every(Boolean);
}

function matchesField(leaves: readonly Leaf[], allowed: readonly unknown[], key: string): boolean {
  return allowed.map((condition) => matchesCondition(leaves, condition, key)).some(Boolean);
}

function matchesCondition(leaves: readonly Leaf[], condition: unknown, key: string): boolean {
  if (isLeaf(condition)) return leaves.some((leaf) => leaf === condition);
  if (!isPlainObject(condition)) throw new Error(`unsupported filter value for "${key}": ${describe(condition)}`);
  const operators = Object.keys(condition);
  const operator = operators[0];
  if (operators.length !== 1 || operator === undefined || !SUPPORTED_OPERATORS.includes(operator)) {
    throw new Error(`unsupported filter operator for "${key}": ${JSON.stringify(condition)}`);
  }
  const operand = condition[operator];
  switch (operator) {
    case 'exists':
      if (typeof operand !== 'boolean') throw new Error(`"exists" for "${key}" must be true or false`);
      // Only leaves exist: `exists: false` also matches an absent parent or an object at the path.
      return operand ? leaves.length > 0 : leaves.length === 0;
    case 'prefix':
      if (typeof operand !== 'string') throw new Error(`unsupported "prefix" for "${key}": ${JSON.stringify(operand)}`);
      return leaves.some((leaf) => typeof leaf === 'string' && leaf.startsWith(operand));
    case 'numeric':
      return matchesNumeric(leaves, operand, key);
    default: {
      const excluded = Array.isArray(operand) ? operand : [operand];
      if (!excluded.every((item) => typeof item === 'string' || typeof item === 'number')) {
        throw new Error(`unsupported "anything-but" for "${key}": ${JSON.stringify(operand)}`);
      }
      // Like every value matcher, anything-but needs the field to be present.
      return leaves.some((leaf) => !excluded.includes(leaf as string | number));
    }
  }
}

/** `numeric: ['>', 0, '<=', 5]`: every comparison holds for one numeric leaf (strings never match). */
function matchesNumeric(leaves: readonly Leaf[], operand: unknown, key: string): boolean {
  const pairs: Array<[(value: number, bound: number) => boolean, number]> = [];
  if (Array.isArray(operand) && operand.length > 0 && operand.length % 2 === 0) {
    for (let index = 0; index < operand.length; index += 2) {
      const compare = COMPARISONS[String(operand[index])];
      const bound: unknown = operand[index + 1];
      if (!compare || typeof bound !== 'number') break;
      pairs.push([compare, bound]);
    }
  }
  if (pairs.length === 0 || pairs.length * 2 !== (operand as unknown[]).length) {
    throw new Error(`unsupported "numeric" for "${key}": ${JSON.stringify(operand)}`);
  }
  return leaves.some((leaf) => typeof leaf === 'number' && pairs.every(([compare, bound]) => compare(leaf, bound)));
}

function leavesOf(value: unknown): Leaf[] {
  if (isLeaf(value)) return [value];
  if (Array.isArray(value)) return value.filter(isLeaf);
  return [];
}

function isLeaf(value: unknown): value is Leaf {
  return value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value);
}
