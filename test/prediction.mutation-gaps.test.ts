/**
 * Parsing edges of a webhook's prediction the main suite left undecided (found by mutation
 * testing, docs/mutation.md): every field as it is read, `metrics` in the shapes it must not be
 * trusted in, and the status vocabulary.
 */
import {
  isPredictionId,
  isPredictionStatus,
  isTerminalStatus,
  parsePrediction,
  parseRecordablePrediction,
  PREDICTION_STATUSES,
  STATUS_RANK,
  TERMINAL_RANK,
  TERMINAL_STATUSES,
} from '../lambda/shared/prediction';

const parse = (fields: Record<string, unknown>) =>
  parsePrediction(Buffer.from(JSON.stringify({ id: 'abc', status: 'succeeded', ...fields })));

describe('a prediction is read field by field', () => {
  test('every field we rely on, from its payload name', () => {
    const payload = {
      id: 'ufawqhfynnddngldkgtslldrkq',
      status: 'succeeded',
      model: 'owner/name',
      version: 'v'.repeat(64),
      created_at: '2026-11-20T10:00:00.000000Z',
      started_at: '2026-11-20T10:00:01.000000Z',
      completed_at: '2026-11-20T10:00:03.000000Z',
      output: ['https://replicate.delivery/a.png'],
      error: null,
      logs: 'step 1\n',
      metrics: { predict_time: 2.1 },
      input: { prompt: 'not read' },
    };
    expect(parsePrediction(JSON.stringify(payload))).toEqual({
      ok: true,
      prediction: {
        id: payload.id,
        kind: 'prediction',
        status: 'succeeded',
        model: 'owner/name',
        version: payload.version,
        createdAt: payload.created_at,
        startedAt: payload.started_at,
        completedAt: payload.completed_at,
        output: payload.output,
        error: null,
        logs: 'step 1\n',
        metrics: { predict_time: 2.1 },
      },
    });
  });

  test('absent output and error are null; present ones are kept as they are', () => {
    expect(parse({})).toMatchObject({ ok: true, prediction: { output: null, error: null } });
    expect(parse({ output: 'text', error: { detail: 'x' } })).toMatchObject({
      ok: true,
      prediction: { output: 'text', error: { detail: 'x' } },
    });
    expect(parse({ output: 0, error: '' })).toMatchObject({ ok: true, prediction: { output: 0, error: '' } });
  });

  test.each([
    ['a string', 'predict_time=1'],
    ['an array', [{ predict_time: 1 }]],
    ['null', null],
    ['a number', 7],
  ])('metrics given as %s are left out', (_name, metrics) => {
    const parsed = parse({ metrics });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.prediction.metrics).toBeUndefined();
  });

  test.each([
    ['absent', {}],
    ['false', { data_removed: false }],
    ['the text "true"', { data_removed: 'true' }],
    ['1', { data_removed: 1 }],
    ['null', { data_removed: null }],
    ['an object', { data_removed: { removed: true } }],
  ])('data_removed %s is not taken as removed', (_name, fields) => {
    const parsed = parse(fields);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.prediction).not.toHaveProperty('dataRemoved');
  });

  test('a body of bytes inside a larger buffer is read from its own bytes only', () => {
    const whole = Buffer.from(`xxxx{"id":"abc","status":"starting"}yyyy`);
    const view = whole.subarray(4, whole.length - 4);
    expect(parsePrediction(view)).toMatchObject({ ok: true, prediction: { id: 'abc', status: 'starting' } });
    expect(parseRecordablePrediction(new Uint8Array(view))).toMatchObject({ ok: true, prediction: { id: 'abc' } });
  });

  test('an empty text body is empty, not malformed', () => {
    expect(parsePrediction('')).toEqual({ ok: false, reason: 'empty_body' });
    expect(parsePrediction(new Uint8Array(0))).toEqual({ ok: false, reason: 'empty_body' });
  });
});

describe('prediction ids', () => {
  test.each([
    ['a', true],
    ['A9', true],
    ['a_b-c', true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    ['_a', false],
    ['-a', false],
    ['a b', false],
    ['a.b', false],
    ['', false],
    ['abc\n', false],
  ])('%j → %s', (id, expected) => {
    expect(isPredictionId(id)).toBe(expected);
  });
});

describe('statuses', () => {
  test('the vocabulary, and which are terminal', () => {
    expect([...PREDICTION_STATUSES]).toEqual(['starting', 'processing', 'succeeded', 'failed', 'canceled', 'aborted']);
    for (const status of PREDICTION_STATUSES) {
      expect(isPredictionStatus(status)).toBe(true);
      expect(isTerminalStatus(status)).toBe((TERMINAL_STATUSES as readonly string[]).includes(status));
      expect(STATUS_RANK[status] === TERMINAL_RANK).toBe(isTerminalStatus(status));
    }
    expect(STATUS_RANK.starting).toBeLessThan(STATUS_RANK.processing);
    expect(STATUS_RANK.processing).toBeLessThan(TERMINAL_RANK);
  });

  test.each([['Succeeded'], ['queued'], [''], [3], [null], [undefined], [['succeeded']]])(
    '%j is neither a status nor terminal',
    (value) => {
      expect(isPredictionStatus(value)).toBe(false);
      expect(isTerminalStatus(value)).toBe(false);
    },
  );

  test('processing is a status, not a terminal one', () => {
    expect(isPredictionStatus('processing')).toBe(true);
    expect(isTerminalStatus('processing')).toBe(false);
  });
});
