import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PREDICTION_STATUSES, STATUS_RANK, parsePrediction, type PredictionStatus } from '../lambda/shared/prediction';
import { decideTransition, summarizeProgress } from '../lambda/shared/state';
import { normalizePrefix, spilledPayloadKey } from '../lambda/shared/archive-layout';
import { readRawBody } from '../lambda/verifier/http';

const fixtures = join(__dirname, 'fixtures', 'replicate');

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

  test('wrongly typed optional fields are dropped, not trusted', () => {
    const parsed = parsePrediction(Buffer.from('{"id":"abc","status":"succeeded","model":7,"metrics":[1],"logs":{}}'));
    expect(parsed).toEqual({
      ok: true,
      prediction: expect.objectContaining({ model: undefined, metrics: undefined, logs: undefined, output: null }),
    });
  });
});

describe('decideTransition', () => {
  const statusArb = fc.constantFrom<PredictionStatus>(...PREDICTION_STATUSES);

  test('a new prediction is always applied', () => {
    fc.assert(
      fc.property(statusArb, fc.nat(), (status, timestampSeconds) => {
        expect(decideTransition(undefined, { status, timestampSeconds })).toBe('apply');
      }),
    );
  });

  test('terminal is frozen; ranks never go backwards; same rank only moves forward in time', () => {
    fc.assert(
      fc.property(statusArb, fc.nat(100), statusArb, fc.nat(100), (storedStatus, storedAt, status, at) => {
        const decision = decideTransition(
          { statusRank: STATUS_RANK[storedStatus], lastWebhookAt: storedAt },
          { status, timestampSeconds: at },
        );
        if (STATUS_RANK[storedStatus] === 3) expect(decision).toBe('after_terminal');
        else if (STATUS_RANK[status] > STATUS_RANK[storedStatus]) expect(decision).toBe('apply');
        else if (STATUS_RANK[status] < STATUS_RANK[storedStatus]) expect(decision).toBe('stale');
        else expect(decision).toBe(at >= storedAt ? 'apply' : 'stale');
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
  expect(spilledPayloadKey('p/', 'abc', 'msg/1 2')).toBe('p/webhook-payloads/abc/msg%2F1%202.json');
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
