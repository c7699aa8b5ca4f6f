/**
 * The DynamoDB condition the verifier writes with (TRANSITION_CONDITION) states the same rule as
 * `decideTransition`, which the rest of the code and the answers rely on. A small evaluator of the
 * condition's grammar (the subset it uses: OR, AND, parentheses, attribute_not_exists, <, <>, =)
 * decides every generated case both ways. DynamoDB Local checks the real write in
 * webhook-store.test.ts; this runs without it, so mutation testing can judge the condition too.
 */
import { PREDICTION_STATUSES, TERMINAL_RANK } from '../../../lambda/shared/prediction';
import { decideTransition, TRANSITION_CONDITION, type IncomingProgress } from '../../../lambda/shared/state';
import { storedProgressOf } from '../../support/progress';

type Value = string | number | undefined;

/** Evaluates a condition: `#x` reads the stored record's attribute x, `:x` the incoming value x. */
function evaluate(condition: string, record: Record<string, Value> | undefined, values: Record<string, Value>): boolean {
  const tokens = tokenize(condition);
  let at = 0;
  const next = () => tokens[at++];
  const take = (token: string) => {
    if (next() !== token) throw new Error(`${token} expected at token ${at - 1}`);
  };
  const operand = (token: string | undefined): Value => {
    if (token?.startsWith('#')) return record?.[token.slice(1)];
    if (token?.startsWith(':')) {
      if (!(token.slice(1) in values)) throw new Error(`no value for ${token}`);
      return values[token.slice(1)];
    }
    throw new Error(`operand expected, got ${token}`);
  };
  const factor = (): boolean => {
    const token = next();
    if (token === '(') {
      const value = or();
      take(')');
      return value;
    }
    if (token === 'attribute_not_exists') {
      take('(');
      const name = next();
      take(')');
      return record === undefined || record[name.slice(1)] === undefined;
    }
    const left = operand(token);
    const op = next();
    const right = operand(next());
    // A comparison with a missing attribute is false in DynamoDB.
    if (left === undefined || right === undefined) return false;
    if (op === '<') return left < right;
    if (op === '<>') return left !== right;
    if (op === '=') return left === right;
    throw new Error(`operator expected, got ${op}`);
  };
  const and = (): boolean => {
    let value = factor();
    while (tokens[at] === 'AND') {
      at++;
      value = factor() && value;
    }
    return value;
  };
  const or = (): boolean => {
    let value = and();
    while (tokens[at] === 'OR') {
      at++;
      value = and() || value;
    }
    return value;
  };
  const result = or();
  if (at !== tokens.length) throw new Error(`unread tokens from ${at}`);
  return result;
}

const tokenized = new Map<string, string[]>();
function tokenize(condition: string): string[] {
  let tokens = tokenized.get(condition);
  if (!tokens) {
    tokens = condition.match(/attribute_not_exists|[()]|<>|[<=]|AND|OR|[#:][A-Za-z]+/g) ?? [];
    // Every character is a token or a blank: nothing of the condition is skipped unread.
    if (tokens.join('') !== condition.replace(/\s+/g, '')) throw new Error('the condition has text this evaluator does not read');
    tokenized.set(condition, tokens);
  }
  return tokens;
}

/** Every combination, with small ranges so that ties at every level of the order come up. */
const ALL: IncomingProgress[] = PREDICTION_STATUSES.flatMap((status) =>
  [0, 1].flatMap((timestampSeconds) =>
    ['msg_a', 'msg_b'].flatMap((webhookId) =>
      [0, 1].flatMap((logsBytes) =>
        [0, 1].map((outputCount) => ({ status, timestampSeconds, webhookId, logsBytes, outputCount })),
      ),
    ),
  ),
);

const asRecord = (progress: IncomingProgress): Record<string, Value> => ({ pk: 'prediction#p', ...storedProgressOf(progress) });
const asValues = (progress: IncomingProgress): Record<string, Value> => ({
  ...storedProgressOf(progress),
  terminalRank: TERMINAL_RANK,
});
const asStored = storedProgressOf;

describe('TRANSITION_CONDITION', () => {
  test('is true exactly when decideTransition applies the webhook, for every pair of records', () => {
    const disagreements: Array<[IncomingProgress, IncomingProgress]> = [];
    for (const before of ALL) {
      for (const incoming of ALL) {
        const applies = evaluate(TRANSITION_CONDITION, asRecord(before), asValues(incoming));
        if (applies !== (decideTransition(asStored(before), incoming) === 'apply')) disagreements.push([before, incoming]);
      }
    }
    expect(ALL.length ** 2).toBeGreaterThan(9000);
    expect(disagreements.slice(0, 3)).toEqual([]);
  });

  test('a prediction not recorded yet is always written', () => {
    for (const incoming of ALL) expect(evaluate(TRANSITION_CONDITION, undefined, asValues(incoming))).toBe(true);
  });

  test('each tie-break decides on its own: one step ahead at each level, with everything before it equal', () => {
    const base: IncomingProgress = {
      status: 'processing',
      timestampSeconds: 10,
      webhookId: 'msg_a',
      logsBytes: 5,
      outputCount: 1,
    };
    const cases: Array<[Partial<IncomingProgress>, boolean]> = [
      [{ status: 'succeeded' }, true],
      [{ status: 'starting', timestampSeconds: 99 }, false],
      [{ timestampSeconds: 11, logsBytes: 0, outputCount: 0 }, true],
      [{ timestampSeconds: 9, logsBytes: 99, outputCount: 99 }, false],
      [{ logsBytes: 6, outputCount: 0 }, true],
      [{ logsBytes: 4, outputCount: 99 }, false],
      [{ outputCount: 2 }, true],
      [{ outputCount: 1 }, false],
      [{ outputCount: 0 }, false],
    ];
    for (const [change, applies] of cases) {
      const incoming = { ...base, webhookId: 'msg_b', ...change };
      expect({ change, applies: evaluate(TRANSITION_CONDITION, asRecord(base), asValues(incoming)) }).toEqual({
        change,
        applies,
      });
      expect({ change, applies: decideTransition(asStored(base), incoming) === 'apply' }).toEqual({ change, applies });
    }
    // The same webhook again, even with more progress, and anything after a terminal record: refused.
    expect(evaluate(TRANSITION_CONDITION, asRecord(base), asValues({ ...base, status: 'succeeded' }))).toBe(false);
    const terminal = { ...base, status: 'succeeded' as const };
    expect(
      evaluate(TRANSITION_CONDITION, asRecord(terminal), asValues({ ...terminal, webhookId: 'msg_b', timestampSeconds: 99 })),
    ).toBe(false);
  });
});
