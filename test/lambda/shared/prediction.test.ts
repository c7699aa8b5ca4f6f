import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompletionKind,
  PREDICTION_STATUSES,
  RECORDED_FIELD_LIMITS,
  STATUS_RANK,
  parsePrediction,
  parseRecordablePrediction,
  type PredictionStatus,
  isPredictionId,
  isPredictionStatus,
  isTerminalStatus,
  TERMINAL_RANK,
  TERMINAL_STATUSES,
} from '../../../lambda/shared/prediction';
import { decideTransition, summarizeProgress, type IncomingProgress, type StoredProgress } from '../../../lambda/shared/state';
import { storedProgressOf } from '../../support/progress';
import { normalizePrefix, spilledPayloadKey } from '../../../lambda/shared/archive-layout';
import { readRawBody } from '../../../lambda/verifier/http';

const fixtures = join(__dirname, '..', '..', 'fixtures', 'replicate');

describe('parsePrediction', () => {
  test.each(readdirSync(fixtures))('fixture %s parses', (file) => {
    const body = readFileSync(join(fixtures, file));
    const parsed = parsePrediction(body);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      const raw = JSON.parse(body.toString()) as Record<string, unknown>;
      expect(parsed.prediction).toMatchObject({ id: raw.id, status: raw.status, model: raw.model, version: raw.version });
    }
  });

  test.each([
    ['', 'empty_body'],
    ['{', 'invalid_json'],
    ['null', 'not_a_prediction'],
    ['"text"', 'not_a_prediction'],
    ['[{"id":"a","status":"starting"}]', 'not_a_prediction'],
    ['{"status":"starting"}', 'invalid_prediction_id'],
    ['{"id":42,"status":"starting"}', 'invalid_prediction_id'],
    ['{"id":"","status":"starting"}', 'invalid_prediction_id'],
    ['{"id":"a/b","status":"starting"}', 'invalid_prediction_id'],
    [`{"id":"${'a'.repeat(129)}","status":"starting"}`, 'invalid_prediction_id'],
    ['{"id":"abc"}', 'unknown_status'],
    ['{"id":"abc","status":"SUCCEEDED"}', 'unknown_status'],
    ['{"id":"abc","status":null}', 'unknown_status'],
  ])('%s → %s', (body, reason) => {
    expect(parsePrediction(Buffer.from(body))).toEqual({ ok: false, reason });
  });

  test('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(() => parsePrediction(bytes)).not.toThrow();
      }),
    );
  });

  test('a prediction whose data Replicate removed says so; one whose data is there does not', () => {
    const removed = parsePrediction('{"id":"abc","status":"succeeded","output":null,"data_removed":true}');
    expect(removed).toMatchObject({ ok: true, prediction: { dataRemoved: true, output: null } });
    const kept = parsePrediction(
      '{"id":"abc","status":"succeeded","output":["https://replicate.delivery/a.png"],"data_removed":false}',
    );
    expect(kept.ok).toBe(true);
    if (kept.ok) expect(kept.prediction).not.toHaveProperty('dataRemoved');
  });

  test('a training is told apart by its urls, or its destination; anything else is a prediction', () => {
    const kindOf = (fields: Record<string, unknown>) => {
      const parsed = parsePrediction(JSON.stringify({ id: 'abc', status: 'starting', ...fields }));
      return parsed.ok ? parsed.prediction.kind : parsed.reason;
    };
    expect(kindOf({ urls: { get: 'https://api.replicate.com/v1/trainings/abc' } })).toBe(CompletionKind.TRAINING);
    expect(kindOf({ urls: { cancel: 'https://api.replicate.com/v1/trainings/abc/cancel' } })).toBe(CompletionKind.TRAINING);
    // A proxy, or the local stand-in, in front of the API.
    expect(kindOf({ urls: { get: 'http://127.0.0.1:4010/replicate/v1/trainings/abc' } })).toBe(CompletionKind.TRAINING);
    expect(kindOf({ destination: 'alice/my-flux' })).toBe(CompletionKind.TRAINING);
    expect(kindOf({ urls: { get: 'https://api.replicate.com/v1/predictions/abc' } })).toBe(CompletionKind.PREDICTION);
    expect(kindOf({})).toBe(CompletionKind.PREDICTION);
    // Not from elsewhere in a URL, nor from an output that looks like a training's.
    expect(kindOf({ urls: { get: 'https://api.replicate.com/v1/predictions/abc?from=/v1/trainings/x' } })).toBe(
      CompletionKind.PREDICTION,
    );
    expect(kindOf({ urls: { web: 'https://replicate.com/v1/trainings/abc' } })).toBe(CompletionKind.PREDICTION);
    expect(kindOf({ urls: ['https://api.replicate.com/v1/trainings/abc'] })).toBe(CompletionKind.PREDICTION);
    expect(kindOf({ output: { version: 'a/b:c', weights: 'https://replicate.delivery/w.tar' } })).toBe(CompletionKind.PREDICTION);
    expect(kindOf({ destination: 7 })).toBe(CompletionKind.PREDICTION);
  });

  test('wrongly typed optional fields are dropped, not trusted', () => {
    const parsed = parsePrediction(Buffer.from('{"id":"abc","status":"succeeded","model":7,"metrics":[1],"logs":{}}'));
    expect(parsed).toEqual({
      ok: true,
      prediction: expect.objectContaining({ model: undefined, metrics: undefined, logs: undefined, output: null }),
    });
  });
});

describe('parseRecordablePrediction: only what can be stored', () => {
  const body = (fields: Record<string, unknown>) => Buffer.from(JSON.stringify({ id: 'abc', status: 'succeeded', ...fields }));
  const payloadKeys = {
    model: 'model',
    version: 'version',
    createdAt: 'created_at',
    startedAt: 'started_at',
    completedAt: 'completed_at',
  } as const;
  const fields = Object.entries(RECORDED_FIELD_LIMITS).map(
    ([field, limit]) => [field, payloadKeys[field as keyof typeof payloadKeys], limit] as const,
  );

  test.each(readdirSync(fixtures))('fixture %s is recordable', (file) => {
    expect(parseRecordablePrediction(readFileSync(join(fixtures, file)))).toEqual(
      parsePrediction(readFileSync(join(fixtures, file))),
    );
  });

  test('bounds hold for every field copied into the item, and no others', () => {
    expect(Object.keys(RECORDED_FIELD_LIMITS).sort()).toEqual(['completedAt', 'createdAt', 'model', 'startedAt', 'version']);
  });

  test.each(fields)('%s (`%s`): up to %i characters are recorded, one more is refused', (field, key, limit) => {
    expect(parseRecordablePrediction(body({ [key]: 'x'.repeat(limit) })).ok).toBe(true);
    expect(parseRecordablePrediction(body({ [key]: 'é'.repeat(limit) })).ok).toBe(true);
    expect(parseRecordablePrediction(body({ [key]: 'x'.repeat(limit + 1) }))).toEqual({
      ok: false,
      reason: 'field_too_large',
      field,
    });
    expect(parseRecordablePrediction(body({ [key]: 'x'.repeat(400 * 1024) }))).toEqual({
      ok: false,
      reason: 'field_too_large',
      field,
    });
  });

  test.each(fields)('%s (`%s`): a lone surrogate is refused, a pair is not', (field, key) => {
    for (const escape of ['\\ud800', 'a\\udfffb', '\\ud83c']) {
      expect(parseRecordablePrediction(Buffer.from(`{"id":"abc","status":"starting","${key}":"${escape}"}`))).toEqual({
        ok: false,
        reason: 'invalid_field',
        field,
      });
    }
    expect(parseRecordablePrediction(Buffer.from(`{"id":"abc","status":"starting","${key}":"\\ud83c\\udf89"}`)).ok).toBe(true);
  });

  test('fields that are not strings are not copied, so not bounded', () => {
    expect(parseRecordablePrediction(body({ model: { name: 'x'.repeat(1000) }, version: 7 })).ok).toBe(true);
  });

  test('fields that are not copied are not bounded (logs, output, input stay in the payload)', () => {
    const big = 'x'.repeat(1024 * 1024);
    expect(parseRecordablePrediction(body({ logs: big, output: [big], input: { prompt: big }, error: big })).ok).toBe(true);
  });

  test.each([
    ['an invalid byte', [0xff]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['a UTF-8-encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['a truncated sequence', [0xe2, 0x9c]],
  ])('a body with %s is refused as not UTF-8', (_name, bad) => {
    const bytes = Buffer.concat([Buffer.from('{"id":"abc","status":"succeeded","logs":"'), Buffer.from(bad), Buffer.from('"}')]);
    expect(parsePrediction(bytes).ok).toBe(true); // what decoding with replacement would have let through
    expect(parseRecordablePrediction(bytes)).toEqual({ ok: false, reason: 'invalid_utf8' });
  });

  test('text with a lone surrogate is refused as not UTF-8; valid text is not', () => {
    expect(parseRecordablePrediction('{"id":"abc","status":"succeeded","logs":"\ud800"}')).toEqual({
      ok: false,
      reason: 'invalid_utf8',
    });
    expect(parseRecordablePrediction('{"id":"abc","status":"succeeded","logs":"日本語 ✓ 🎉"}').ok).toBe(true);
  });

  test('refuses exactly the bytes a strict UTF-8 decoder refuses, and never throws', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
        const bytes = Buffer.concat([Buffer.from('{"id":"abc","status":"starting","logs":"'), tail, Buffer.from('"}')]);
        let valid = true;
        try {
          strict.decode(bytes);
        } catch {
          valid = false;
        }
        const parsed = parseRecordablePrediction(bytes);
        expect(!parsed.ok && parsed.reason === 'invalid_utf8').toBe(!valid);
      }),
      { numRuns: 500 },
    );
  });
});

describe('decideTransition', () => {
  const statusArb = fc.constantFrom<PredictionStatus>(...PREDICTION_STATUSES);
  // Small ranges, so that ties (same second, same progress) come up often.
  const progressArb = fc.record({
    status: statusArb,
    timestampSeconds: fc.nat(3),
    webhookId: fc.constantFrom('msg_a', 'msg_b', 'msg_c'),
    logsBytes: fc.nat(2),
    outputCount: fc.nat(2),
  });
  const stored = storedProgressOf;

  test('the same webhook id with another body is a conflict; with the same body, or a record that kept no digest, a duplicate', () => {
    const record = { ...stored({ status: 'processing', timestampSeconds: 1, webhookId: 'msg_a', logsBytes: 1, outputCount: 0 }) };
    const again = { status: 'succeeded' as const, timestampSeconds: 2, webhookId: 'msg_a', logsBytes: 5, outputCount: 1 };
    expect(decideTransition({ ...record, lastWebhookSha256: 'aa' }, { ...again, bodySha256: 'bb' })).toBe('conflict');
    expect(decideTransition({ ...record, lastWebhookSha256: 'aa' }, { ...again, bodySha256: 'aa' })).toBe('duplicate');
    expect(decideTransition(record, { ...again, bodySha256: 'bb' })).toBe('duplicate');
    expect(decideTransition({ ...record, lastWebhookSha256: 'aa' }, again)).toBe('duplicate');
    // Another id is judged on its progress, whatever its digest.
    expect(decideTransition({ ...record, lastWebhookSha256: 'aa' }, { ...again, webhookId: 'msg_b', bodySha256: 'bb' })).toBe(
      'apply',
    );
  });

  test('a new prediction is always applied', () => {
    fc.assert(
      fc.property(progressArb, (incoming) => {
        expect(decideTransition(undefined, incoming)).toBe('apply');
      }),
    );
  });

  test('terminal is frozen; ranks never go backwards; same rank only moves forward in time, then in progress', () => {
    fc.assert(
      fc.property(progressArb, progressArb, (before, incoming) => {
        const decision = decideTransition(stored(before), incoming);
        const key = (p: IncomingProgress) => [STATUS_RANK[p.status], p.timestampSeconds, p.logsBytes, p.outputCount];
        const [a, b] = [key(before), key(incoming)];
        const index = a.findIndex((value, i) => value !== b[i]);
        const ahead = index >= 0 && b[index] > a[index];
        if (before.webhookId === incoming.webhookId) expect(decision).toBe('duplicate');
        else if (STATUS_RANK[before.status] === 3) expect(decision).toBe('after_terminal');
        else expect(decision).toBe(ahead ? 'apply' : 'stale');
      }),
    );
  });

  test('whatever the order of deliveries, no webhook is applied twice and the record never moves back', () => {
    fc.assert(
      fc.property(fc.array(progressArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }), (sent, picks) => {
        // Distinct webhooks (one id each), then redeliveries of any of them, in any order.
        const webhooks = sent.map((webhook, index) => ({ ...webhook, webhookId: `msg_${index}` }));
        const deliveries = [...webhooks, ...picks.map((pick) => webhooks[pick % webhooks.length])];
        let record: StoredProgress | undefined;
        const applied = new Set<string>();
        for (const delivery of deliveries) {
          const decision = decideTransition(record, delivery);
          if (decision !== 'apply') continue;
          expect(applied.has(delivery.webhookId)).toBe(false);
          applied.add(delivery.webhookId);
          if (record) expect(STATUS_RANK[delivery.status]).toBeGreaterThanOrEqual(record.statusRank);
          record = stored(delivery);
        }
      }),
    );
  });
});

test('progress summaries count outputs and log bytes', () => {
  expect(summarizeProgress({ id: 'a', status: 'processing', output: null, error: null })).toEqual({
    outputCount: 0,
    logsBytes: 0,
  });
  expect(summarizeProgress({ id: 'a', status: 'processing', output: ['x', 'y'], error: null, logs: 'é' })).toEqual({
    outputCount: 2,
    logsBytes: 2,
  });
  expect(summarizeProgress({ id: 'a', status: 'succeeded', output: 'https://x', error: null })).toEqual({
    outputCount: 1,
    logsBytes: 0,
  });
});

test('archive prefixes and spill keys', () => {
  expect(normalizePrefix(undefined)).toBe('');
  expect(normalizePrefix('/')).toBe('');
  expect(normalizePrefix('/a/b//')).toBe('a/b/');
  expect(spilledPayloadKey('p/', 'abc', 'q-_1')).toBe('p/webhook-payloads/abc/q-_1.json');
});

describe('readRawBody', () => {
  test('base64 bodies are decoded to bytes; text bodies are kept as the text, with their UTF-8 size', () => {
    const bytes = Buffer.from([0x7b, 0xff, 0x00, 0x7d]);
    expect(readRawBody({ body: bytes.toString('base64'), isBase64Encoded: true }, 10)).toEqual({
      ok: true,
      body: bytes,
      size: 4,
    });
    expect(readRawBody({ body: '{"a":"é"}', isBase64Encoded: false }, 100)).toEqual({ ok: true, body: '{"a":"é"}', size: 10 });
    expect(readRawBody({ body: undefined, isBase64Encoded: false }, 10)).toEqual({ ok: true, body: '', size: 0 });
  });

  test('the limit counts decoded bytes, exactly', () => {
    const limit = 1000;
    for (const size of [999, 1000, 1001, 1002, 1003]) {
      const bytes = Buffer.alloc(size, 1);
      expect(readRawBody({ body: bytes.toString('base64'), isBase64Encoded: true }, limit).ok).toBe(size <= limit);
      expect(readRawBody({ body: 'a'.repeat(size), isBase64Encoded: false }, limit).ok).toBe(size <= limit);
    }
    expect(readRawBody({ body: 'é'.repeat(600), isBase64Encoded: false }, limit).ok).toBe(false);
  });
});

/**
 * Parsing edges of a webhook's prediction the main suite left undecided (found by mutation
 * testing, docs/mutation.md): every field as it is read, `metrics` in the shapes it must not be
 * trusted in, and the status vocabulary.
 */
describe('edges', () => {
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
});
