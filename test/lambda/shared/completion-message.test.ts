import fc from 'fast-check';
import {
  attributeBytes,
  boundedJson,
  buildCompletionMessage,
  manifestDocument,
  manifestPayloadText,
  MAX_ERROR_CHARS,
  MAX_MESSAGE_BYTES,
  objectLocation,
  removedDataFailures,
  type ArchivedFile,
  type ArchiveFailure,
  type ArchiveManifest,
  type CompletionAttributes,
  s3Uri,
  wellFormed,
  type CompletionNotification,
} from '../../../lambda/shared/completion-message';
import { CompletionKind, type Prediction } from '../../../lambda/shared/prediction';
import { EVENT_ENVELOPE_BYTES } from '../../../lambda/shared/completion-event';
import { archiveFailure, archiveManifest } from '../../support/builders';

const bucket = 'my-archive';
const at = (key: string) => objectLocation(bucket, key);
const manifestLocation = at('predictions/p1/manifest.json');

const prediction = (fields: Partial<Prediction> = {}): Prediction => ({
  id: 'p1',
  status: 'succeeded',
  model: 'black-forest-labs/flux-schnell',
  version: '5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637',
  createdAt: '2026-11-20T10:00:00.000000Z',
  completedAt: '2026-11-20T10:00:03.400000Z',
  output: null,
  error: null,
  metrics: { predict_time: 2.296, total_time: 3.4 },
  ...fields,
});

const file = (index: number, source = `https://replicate.delivery/x/out-${index}.webp`): ArchivedFile => ({
  source,
  paths: [`[${index}]`],
  ...at(`predictions/p1/outputs/${index}-out-${index}.webp`),
  bytes: 48_213,
  sha256: 'ab'.repeat(32),
  contentType: 'image/webp',
});

const failure = archiveFailure;
const manifest = (files: readonly ArchivedFile[] = [], failures: readonly ArchiveFailure[] = []) =>
  archiveManifest(bucket, files, failures);

/** A value nested `levels` deep, as JSON.parse builds it from a small body. */
const deeplyNested = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}"x"${']'.repeat(levels)}`);

/** What SNS counts for String attributes (name, `String`, value), measured here rather than trusted. */
const snsAttributeBytes = (attributes: CompletionAttributes): number =>
  Object.entries(attributes).reduce(
    (total, [name, value]) => total + Buffer.byteLength(name) + Buffer.byteLength('String') + Buffer.byteLength(value ?? ''),
    0,
  );
const SNS_LIMIT_BYTES = 262_144;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// What SNS takes in a String attribute value (XML characters).
const SNS_ATTRIBUTE_TEXT = /^[\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

function expectPublishable({ body, attributes }: { body: string; attributes: CompletionAttributes }): void {
  expect(Buffer.byteLength(body) + snsAttributeBytes(attributes)).toBeLessThanOrEqual(SNS_LIMIT_BYTES);
  // Checked by hand and asserted once: an expect per string would dominate the property test.
  const problems: string[] = [];
  const check = (value: unknown, depth: number): void => {
    if (depth > 10)
      problems.push('nested deeper than the schema'); // nothing from the payload nests in it
    else if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) problems.push(`lone surrogate in ${JSON.stringify(value.slice(0, 40))}`);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) {
        check(key, depth + 1);
        check(item, depth + 1);
      }
    }
  };
  check(JSON.parse(body), 0);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === '' || !SNS_ATTRIBUTE_TEXT.test(value)) problems.push(`attribute ${name} is not SNS text`);
  }
  expect(problems).toEqual([]);
}

describe('an ordinary prediction', () => {
  test('is announced whole, with its fields as they are', () => {
    const notification = buildCompletionMessage(prediction(), manifest([file(0)], [failure(0)]), manifestLocation);
    expect(notification.message).toEqual({
      schemaVersion: 1,
      predictionId: 'p1',
      kind: 'prediction',
      status: 'succeeded',
      model: 'black-forest-labs/flux-schnell',
      version: '5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637',
      createdAt: '2026-11-20T10:00:00.000000Z',
      completedAt: '2026-11-20T10:00:03.400000Z',
      archivedAt: '2026-11-20T10:00:04.120Z',
      metrics: { predict_time: 2.296, total_time: 3.4 },
      archive: { manifest: manifestLocation },
      outputs: [file(0)],
      failures: [failure(0)],
    });
    expect(JSON.parse(notification.body)).toEqual(notification.message);
    expect(notification.attributes).toEqual({
      status: 'succeeded',
      kind: 'prediction',
      prediction_id: 'p1',
      model: 'black-forest-labs/flux-schnell',
    });
    expect(JSON.parse(notification.body)).not.toHaveProperty('trainedVersion');
  });

  test('a failed prediction carries its error text', () => {
    const { message } = buildCompletionMessage(
      prediction({ status: 'failed', error: 'CUDA out of memory. Tried to allocate 2.00 GiB' }),
      manifest(),
      manifestLocation,
    );
    expect(message.error).toBe('CUDA out of memory. Tried to allocate 2.00 GiB');
    expect(message).not.toHaveProperty('truncated');
  });
});

describe('the archive locations', () => {
  test("prediction.json is named only when it was written (the construct's predictionDocument)", () => {
    const withDocument = archiveManifest(bucket, [], [], { predictionDocument: true });
    const { message, body } = buildCompletionMessage(prediction(), withDocument, manifestLocation);
    expect(message.archive).toEqual({ prediction: at('predictions/p1/prediction.json'), manifest: manifestLocation });
    expect(JSON.parse(body).archive).toEqual(message.archive);

    const without = buildCompletionMessage(prediction(), manifest(), manifestLocation);
    expect(without.message.archive).toEqual({ manifest: manifestLocation });
    expect(JSON.parse(without.body).archive).not.toHaveProperty('prediction');
  });
});

describe('manifest.json carries the payload byte for byte', () => {
  const fields = archiveManifest(bucket, [file(0)], [failure(0)]);

  test('spliced in as sent: spacing, key order, number spellings and escapes kept; the rest as before', () => {
    const payload =
      '{ "status":"succeeded",\n\t"id" : "p1", "metrics": {"predict_time": 1.50, "big": 1e2}, "text": "caf\\u00e9 \\/" }';
    const document = manifestDocument(fields, payload);
    expect(document).toContain(payload);
    expect(manifestPayloadText(document)).toBe(payload);
    const parsed = JSON.parse(document) as ArchiveManifest;
    expect(parsed).toEqual({ ...fields, payload: JSON.parse(payload) });
    // The payload is the last field; the fields before it are indented as JSON.stringify writes them.
    expect(document.startsWith(JSON.stringify(fields, null, 2).slice(0, -2))).toBe(true);
    expect(Object.keys(parsed).at(-1)).toBe('payload');
  });

  test('a payload that itself holds a top-level "payload" key, pretty-printed alike, comes back whole', () => {
    const payload = JSON.stringify({ id: 'p1', payload: { payload: '\n  "payload": ' } }, null, 2);
    const document = manifestDocument(fields, payload);
    expect(manifestPayloadText(document)).toBe(payload);
    expect((JSON.parse(document) as ArchiveManifest).payload).toEqual(JSON.parse(payload));
  });

  test('any JSON payload, however written, and any manifest fields: the document parses and gives the bytes back', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 1, 2, '\t'), fc.string(), fc.string(), (value, indent, source, reason) => {
        const payload = JSON.stringify(value, null, indent);
        const written = { ...fields, files: [{ ...file(0), source }], failures: [{ ...failure(0), reason }] };
        const document = manifestDocument(written, payload);
        expect(manifestPayloadText(document)).toBe(payload);
        expect(JSON.parse(document)).toEqual({ ...JSON.parse(JSON.stringify(written)), payload: JSON.parse(payload) });
      }),
    );
  });

  test('text that is not JSON (never stored by the verifier) is kept as a JSON string, and the manifest stays JSON', () => {
    for (const payload of ['', 'not json', '{"cut": ']) {
      const document = manifestDocument(fields, payload);
      expect((JSON.parse(document) as ArchiveManifest).payload).toBe(payload);
    }
  });

  test('a manifest written before it carried the payload has none', () => {
    expect(manifestPayloadText(JSON.stringify(archiveManifest(bucket, [], [], { predictionDocument: true }), null, 2))).toBe(
      undefined,
    );
  });
});

describe('a training', () => {
  const training = (fields: Partial<Prediction> = {}) =>
    prediction({
      kind: CompletionKind.TRAINING,
      model: 'ostris/flux-dev-lora-trainer',
      version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
      output: { version: 'alice/my-flux:4f2b1c', weights: 'https://replicate.delivery/xezq/w/trained_model.tar' },
      ...fields,
    });

  test('says its kind in the body and the attributes, and names the version it made', () => {
    const notification = buildCompletionMessage(training(), manifest([file(0)]), manifestLocation);
    expect(notification.message).toMatchObject({
      kind: 'training',
      version: 'e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497',
      trainedVersion: 'alice/my-flux:4f2b1c',
    });
    expect(notification.attributes).toMatchObject({ kind: 'training', status: 'succeeded' });
  });

  test('a failed training, with no output, has no trainedVersion', () => {
    const { body } = buildCompletionMessage(training({ status: 'failed', output: null }), manifest(), manifestLocation);
    expect(JSON.parse(body)).toMatchObject({ kind: 'training' });
    expect(JSON.parse(body)).not.toHaveProperty('trainedVersion');
  });

  test('a trainedVersion that is not text is left out; a long one is cut and said to be', () => {
    const odd = buildCompletionMessage(training({ output: { version: 7 } }), manifest(), manifestLocation).body;
    expect(JSON.parse(odd)).not.toHaveProperty('trainedVersion');
    const long = buildCompletionMessage(training({ output: { version: 'v'.repeat(300) } }), manifest(), manifestLocation).message;
    expect(long.trainedVersion).toHaveLength(256);
    expect(long.truncated).toEqual(['trainedVersion']);
  });

  test('a prediction whose output looks like a training’s is still a prediction', () => {
    const { body } = buildCompletionMessage(prediction({ output: { version: 'x', weights: 'y' } }), manifest(), manifestLocation);
    expect(JSON.parse(body)).toMatchObject({ kind: 'prediction' });
    expect(JSON.parse(body)).not.toHaveProperty('trainedVersion');
  });
});

describe('a prediction whose data Replicate removed', () => {
  test('has one failure of its own, data_removed: no source URL, no paths, not transient', () => {
    expect(removedDataFailures(prediction({ dataRemoved: true }))).toEqual([
      { source: '(output removed by Replicate)', paths: [], reason: 'data_removed', transient: false },
    ]);
  });

  test('one whose data is there has none', () => {
    expect(removedDataFailures(prediction())).toEqual([]);
  });
});

describe('deep nesting in the payload', () => {
  // JSON.parse builds these from a small body; JSON.stringify recurses per level and overflows.
  test.each([
    ['error', { error: deeplyNested(50_000) }],
    ['metrics', { metrics: { nested: deeplyNested(50_000), predict_time: 1.5 } }],
  ])('in %s cannot make the announcement throw', (_field, fields) => {
    const notification = buildCompletionMessage(prediction(fields), manifest([file(0)]), manifestLocation);
    expectPublishable(notification);
  });

  test('a non-string error becomes bounded JSON text, the depth elided and said to be', () => {
    const { message } = buildCompletionMessage(prediction({ error: deeplyNested(20) }), manifest(), manifestLocation);
    expect(message.error).toBe(`${'['.repeat(8)}[…]${']'.repeat(8)}`);
    expect(message.truncated).toEqual(['error']);
    const shallow = buildCompletionMessage(prediction({ error: { detail: 'bad input', code: 7 } }), manifest(), manifestLocation);
    expect(shallow.message.error).toBe('{"detail":"bad input","code":7}');
    expect(shallow.message).not.toHaveProperty('truncated');
  });

  test('boundedJson stops writing soon after its limit, however wide the value', () => {
    const wide = new Array(1_000_000).fill({ a: [1, 2, 3] });
    const started = Date.now();
    const { text, complete } = boundedJson(wide, 1_000);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(complete).toBe(false);
    expect(text.length).toBeLessThan(1_100);
  });
});

describe('metrics', () => {
  test('only flat numbers, strings and booleans are copied; anything else is left out and said to be', () => {
    const { message } = buildCompletionMessage(
      prediction({
        metrics: {
          predict_time: 1.5,
          image_count: 4,
          cached: true,
          device: 'a100',
          nested: { a: 1 },
          list: [1, 2],
          empty: null,
          long: 'x'.repeat(5_000),
        },
      }),
      manifest(),
      manifestLocation,
    );
    expect(message.metrics).toEqual({ predict_time: 1.5, image_count: 4, cached: true, device: 'a100' });
    expect(message.truncated).toEqual(['metrics']);
  });

  test('a __proto__ key stays a plain field', () => {
    const metrics = JSON.parse('{"__proto__": 5, "predict_time": 1}') as Record<string, unknown>;
    const { body } = buildCompletionMessage(prediction({ metrics }), manifest(), manifestLocation);
    expect(body).toContain('"metrics":{"__proto__":5,"predict_time":1}');
  });

  test('a hundred thousand keys cost a bounded look, and at most 8 KB', () => {
    const metrics = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`metric_${i}`, i]));
    const { message } = buildCompletionMessage(prediction({ metrics }), manifest(), manifestLocation);
    expect(Buffer.byteLength(JSON.stringify(message.metrics))).toBeLessThanOrEqual(8 * 1024);
    expect(message.truncated).toEqual(['metrics']);
  });
});

describe('payload text bounded and well-formed', () => {
  test('a model of hundreds of KB is cut to 256 characters in the body and the attribute, and said to be', () => {
    const model = `owner/${'m'.repeat(400_000)}`;
    const notification = buildCompletionMessage(
      prediction({ model, version: 'v'.repeat(400_000) }),
      manifest([file(0)]),
      manifestLocation,
    );
    expectPublishable(notification);
    expect(notification.message.model).toBe(model.slice(0, 256));
    expect(notification.attributes.model).toBe(model.slice(0, 256));
    expect(notification.message.version).toHaveLength(256);
    expect(notification.message.truncated).toEqual(['model', 'version']);
    expect(notification.message.outputs).toEqual([file(0)]);
  });

  test('lone surrogates become U+FFFD everywhere; control characters are escaped in the body, replaced in attributes', () => {
    const notification = buildCompletionMessage(
      prediction({ model: 'owner/\ud800model\u0001', error: 'bad \udc00 thing', metrics: { '\ud83d': 'x\udfff' } }),
      manifest([file(0, 'https://replicate.delivery/\udbff.png')], [failure(0, 'https://evil.example/\ud800')]),
      manifestLocation,
    );
    expectPublishable(notification);
    expect(notification.attributes.model).toBe('owner/\ufffdmodel\ufffd');
    expect(notification.message.model).toBe('owner/\ufffdmodel\u0001');
    expect(notification.message.error).toBe('bad \ufffd thing');
    expect(notification.message.metrics).toEqual({ '\ufffd': 'x\ufffd' });
    expect(notification.message.outputs[0].source).toBe('https://replicate.delivery/\ufffd.png');
    expect(notification.message.failures[0].source).toBe('https://evil.example/\ufffd');
  });

  test('a cut never splits a surrogate pair', () => {
    const model = `${'m'.repeat(255)}😀tail`;
    const { message } = buildCompletionMessage(prediction({ model }), manifest(), manifestLocation);
    expect(message.model).toBe('m'.repeat(255));
  });

  test('an error string is cut at 8,192 characters, with a note', () => {
    const { message } = buildCompletionMessage(prediction({ error: 'e'.repeat(100_000) }), manifest(), manifestLocation);
    expect(message.error).toBe(`${'e'.repeat(MAX_ERROR_CHARS)}… (truncated; manifest.json has it whole)`);
    expect(message.truncated).toEqual(['error']);
  });
});

describe('the size limit counts the attributes too', () => {
  test('attribute bytes are names, types and values; the limit is SNS’s 256 KiB', () => {
    expect(attributeBytes({ status: 'failed', kind: 'training', prediction_id: 'p1', model: 'é' })).toBe(
      'status'.length + 6 + 6 + 'kind'.length + 6 + 8 + 'prediction_id'.length + 6 + 2 + 'model'.length + 6 + 2,
    );
    expect(MAX_MESSAGE_BYTES).toBe(SNS_LIMIT_BYTES);
  });

  test('long lists are cut to fit body and attributes together, using the room there is', () => {
    const files = Array.from({ length: 3_000 }, (_, i) => file(i));
    const notification = buildCompletionMessage(prediction({ model: `o/${'m'.repeat(250)}` }), manifest(files), manifestLocation);
    expectPublishable(notification);
    const total = Buffer.byteLength(notification.body) + snsAttributeBytes(notification.attributes);
    expect(total).toBeGreaterThan(SNS_LIMIT_BYTES - 1_000);
    const { outputs, omitted } = notification.message;
    expect(outputs).toEqual(files.slice(0, outputs.length));
    expect(omitted).toEqual({ outputs: files.length - outputs.length, failures: 0 });
  });

  test('failures keep half the room when outputs are many', () => {
    const files = Array.from({ length: 3_000 }, (_, i) => file(i));
    const failures = Array.from({ length: 3_000 }, (_, i) => failure(i));
    const { message } = buildCompletionMessage(prediction(), manifest(files, failures), manifestLocation);
    expect(message.failures.length).toBeGreaterThan(500);
    expect(message.outputs.length).toBeGreaterThan(300);
  });

  test('one entry too large for the message is passed over, not the ones after it', () => {
    const huge = file(0, `https://replicate.delivery/${'h'.repeat(300_000)}`);
    const { message } = buildCompletionMessage(prediction(), manifest([huge, file(1), file(2)]), manifestLocation);
    expect(message.outputs).toEqual([file(1), file(2)]);
    expect(message.omitted).toEqual({ outputs: 1, failures: 0 });
  });
});

test('generated hostile predictions: the message always fits, parses, and is well-formed', () => {
  const hostileUnit = fc.oneof(
    { weight: 5, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\uffff', '\ufffe', '\u0000', '\u0007', '"', '\\'),
    },
  );
  const text = fc.oneof(
    fc.string({ unit: hostileUnit, maxLength: 40 }),
    fc
      .tuple(fc.string({ unit: hostileUnit, minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 200_000 }))
      .map(([unit, times]) => unit.repeat(times)),
  );
  const deep = fc.integer({ min: 1, max: 30_000 }).map((levels) => deeplyNested(levels));
  const value = fc.oneof(text, fc.double(), fc.boolean(), fc.constant(null), deep, fc.array(text, { maxLength: 5 }));
  const metrics = fc.oneof(
    fc.dictionary(text, value, { maxKeys: 20 }),
    fc.integer({ min: 0, max: 20_000 }).map((count) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]))),
  );
  const entries = <T>(make: (index: number, source: string) => T) =>
    fc
      .array(fc.tuple(fc.nat(), text), { maxLength: 30 })
      .chain((few) =>
        fc
          .integer({ min: 0, max: 3_000 })
          .map((many) => [
            ...few.map(([index, source]) => make(index, source)),
            ...Array.from({ length: many }, (_, i) => make(i, `https://replicate.delivery/${i}.png`)),
          ]),
      );
  fc.assert(
    fc.property(
      fc.record({
        model: fc.option(text),
        version: fc.option(text),
        createdAt: fc.option(text),
        error: fc.oneof(text, value, fc.constant(null)),
        metrics: fc.option(metrics),
      }),
      entries(file),
      entries(failure),
      (fields, files, failures) => {
        const hostile = prediction({
          model: fields.model ?? undefined,
          version: fields.version ?? undefined,
          createdAt: fields.createdAt ?? undefined,
          error: fields.error,
          metrics: fields.metrics ?? undefined,
        });
        const notification = buildCompletionMessage(hostile, manifest(files, failures), manifestLocation);
        expectPublishable(notification);
        const { message } = notification;
        expect(message.outputs.length + (message.omitted?.outputs ?? 0)).toBe(files.length);
        expect(message.failures.length + (message.omitted?.failures ?? 0)).toBe(failures.length);
      },
    ),
    { numRuns: 60 },
  );
});

/**
 * The completion message at its limits, which the main suite never reached (found by mutation
 * testing, docs/mutation.md): each cap exactly at and one past its edge, the size budget's split
 * between outputs and failures with the `omitted` counts, and what is left out rather than sent
 * empty. What a subscriber reads is checked, on the message and on the body they receive.
 */
describe('edges', () => {
  const manifestLocation = objectLocation('archive', 'predictions/p1/manifest.json');

  const prediction = (fields: Partial<Prediction> = {}): Prediction => ({
    id: 'p1',
    status: 'succeeded',
    output: null,
    error: null,
    ...fields,
  });

  const file = (index: number, source = `https://replicate.delivery/x/out-${index}.webp`): ArchivedFile => ({
    source,
    paths: [`[${index}]`],
    ...objectLocation('archive', `predictions/p1/outputs/${index}-out.webp`),
    bytes: 1,
    sha256: 'ab'.repeat(32),
    contentType: 'image/webp',
  });

  const failure = archiveFailure;
  const manifest = (files: readonly ArchivedFile[] = [], failures: readonly ArchiveFailure[] = []) =>
    archiveManifest('archive', files, failures);

  const build = (fields: Partial<Prediction> = {}, files: ArchivedFile[] = [], failures: ArchiveFailure[] = []) =>
    buildCompletionMessage(prediction(fields), manifest(files, failures), manifestLocation);

  /** What a subscriber receives: the body, parsed. */
  const received = (notification: CompletionNotification) => JSON.parse(notification.body) as Record<string, unknown>;

  describe('fields absent from the payload are absent from the message', () => {
    test('no error, model, times or metrics: none of them in the body, nothing said to be truncated', () => {
      const notification = build();
      expect(received(notification)).toEqual({
        schemaVersion: 1,
        predictionId: 'p1',
        kind: 'prediction',
        status: 'succeeded',
        archivedAt: '2026-11-20T10:00:04.120Z',
        archive: { manifest: manifestLocation },
        outputs: [],
        failures: [],
      });
      expect(notification.attributes).toEqual({ status: 'succeeded', kind: 'prediction', prediction_id: 'p1' });
    });

    test('an empty model is sent in the body but never as an attribute (SNS refuses empty values)', () => {
      const notification = build({ model: '' });
      expect(received(notification).model).toBe('');
      expect(notification.attributes).not.toHaveProperty('model');
    });

    test('an error that is not null is sent, whatever it is: false, 0, an empty string', () => {
      expect(received(build({ error: false })).error).toBe('false');
      expect(received(build({ error: 0 })).error).toBe('0');
      expect(received(build({ error: '' })).error).toBe('');
    });

    test('an absent error, or metrics that are not an object (a hand-made record), are left out', () => {
      for (const fields of [
        { error: undefined },
        { metrics: ['predict_time', 1] },
        { metrics: 'predict_time=1' },
        { metrics: 7 },
      ]) {
        const message = received(build(fields as Partial<Prediction>));
        expect(message).not.toHaveProperty('error');
        expect(message).not.toHaveProperty('metrics');
        expect(message).not.toHaveProperty('truncated');
      }
    });

    test('attribute bytes do not count an attribute that is not set', () => {
      expect(attributeBytes({ status: 'failed', kind: 'prediction', prediction_id: 'p1', model: undefined })).toBe(
        attributeBytes({ status: 'failed', kind: 'prediction', prediction_id: 'p1' }),
      );
    });

    test('the times are copied, each from its own field', () => {
      const message = received(
        build({ createdAt: '2026-01-01T00:00:00Z', startedAt: '2026-01-01T00:00:01Z', completedAt: '2026-01-01T00:00:02Z' }),
      );
      expect(message).toMatchObject({
        createdAt: '2026-01-01T00:00:00Z',
        startedAt: '2026-01-01T00:00:01Z',
        completedAt: '2026-01-01T00:00:02Z',
      });
    });
  });

  describe('each bound, at its edge and one past it', () => {
    test.each([
      ['model', 256],
      ['version', 256],
      ['createdAt', 64],
      ['startedAt', 64],
      ['completedAt', 64],
    ] as const)('%s: %i characters are sent whole; one more is cut and said to be', (field, limit) => {
      const whole = build({ [field]: 'x'.repeat(limit) });
      expect(received(whole)[field]).toBe('x'.repeat(limit));
      expect(received(whole)).not.toHaveProperty('truncated');
      const cut = build({ [field]: 'x'.repeat(limit + 1) });
      expect(received(cut)[field]).toBe('x'.repeat(limit));
      expect(received(cut).truncated).toEqual([field]);
    });

    test('an error of exactly 8,192 characters is whole; 8,193 are cut with a note', () => {
      expect(received(build({ error: 'e'.repeat(MAX_ERROR_CHARS) })).error).toBe('e'.repeat(MAX_ERROR_CHARS));
      expect(received(build({ error: 'e'.repeat(MAX_ERROR_CHARS) }))).not.toHaveProperty('truncated');
      const cut = received(build({ error: 'e'.repeat(MAX_ERROR_CHARS + 1) }));
      expect(cut.error).toBe(`${'e'.repeat(MAX_ERROR_CHARS)}… (truncated; manifest.json has it whole)`);
      expect(cut.truncated).toEqual(['error']);
    });

    test('an error object whose JSON is exactly 8,192 characters is whole; one more is cut', () => {
      const exact = { detail: 'd'.repeat(MAX_ERROR_CHARS - '{"detail":""}'.length) };
      expect(JSON.stringify(exact)).toHaveLength(MAX_ERROR_CHARS);
      expect(received(build({ error: exact })).error).toBe(JSON.stringify(exact));
      expect(received(build({ error: exact }))).not.toHaveProperty('truncated');
      const over = { detail: `${exact.detail}d` };
      const cut = received(build({ error: over }));
      expect(cut.error).toBe(`${JSON.stringify(over).slice(0, MAX_ERROR_CHARS)}… (truncated; manifest.json has it whole)`);
      expect(cut.truncated).toEqual(['error']);
    });

    test('the prediction id and status are cut at their bounds too', () => {
      const message = received(build({ id: 'i'.repeat(300), status: 's'.repeat(100) as Prediction['status'] }));
      expect(message.predictionId).toBe('i'.repeat(256));
      expect(message.status).toBe('s'.repeat(64));
    });
  });

  describe('metrics caps', () => {
    const metricsOf = (metrics: Record<string, unknown>) => received(build({ metrics }));

    test('64 metrics are sent; the 65th is left out and said to be', () => {
      const sixtyFour = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`m${i}`, i]));
      expect(metricsOf(sixtyFour).metrics).toEqual(sixtyFour);
      expect(metricsOf(sixtyFour)).not.toHaveProperty('truncated');
      const message = metricsOf({ ...sixtyFour, m64: 64 });
      expect(message.metrics).toEqual(sixtyFour);
      expect(message.truncated).toEqual(['metrics']);
    });

    test('a key of 128 characters is kept; 129 is left out', () => {
      const message = metricsOf({ ['k'.repeat(128)]: 1, ['l'.repeat(129)]: 2 });
      expect(message.metrics).toEqual({ ['k'.repeat(128)]: 1 });
      expect(message.truncated).toEqual(['metrics']);
    });

    test('a text value of 1,024 characters is kept; 1,025 is left out', () => {
      const message = metricsOf({ kept: 't'.repeat(1_024), dropped: 't'.repeat(1_025) });
      expect(message.metrics).toEqual({ kept: 't'.repeat(1_024) });
      expect(message.truncated).toEqual(['metrics']);
    });

    test('metrics whose JSON is exactly 8 KiB are kept whole; one byte more and the last is left out', () => {
      // Eight 1,000-character values and a last one sized so that the object's JSON is 8,192 bytes.
      const eight = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`t${i}`, 'x'.repeat(1_000)]));
      const filler = 8 * 1024 - Buffer.byteLength(JSON.stringify({ ...eight, last: '' }));
      const exact = { ...eight, last: 'y'.repeat(filler) };
      expect(Buffer.byteLength(JSON.stringify(exact))).toBe(8 * 1024);
      expect(metricsOf(exact).metrics).toEqual(exact);
      expect(metricsOf(exact)).not.toHaveProperty('truncated');
      const over = { ...eight, last: 'y'.repeat(filler + 1) };
      expect(metricsOf(over).metrics).toEqual(eight);
      expect(metricsOf(over).truncated).toEqual(['metrics']);
    });

    test('numbers that JSON cannot carry are left out and said to be; null and undefined silently', () => {
      expect(metricsOf({ a: Number.NaN, b: Number.POSITIVE_INFINITY, c: 1 })).toMatchObject({
        metrics: { c: 1 },
        truncated: ['metrics'],
      });
      const quiet = build({ metrics: { a: null, b: undefined, c: false } });
      expect(received(quiet)).toMatchObject({ metrics: { c: false } });
      expect(received(quiet)).not.toHaveProperty('truncated');
    });

    test('only metrics that are all unusable leave no metrics field at all', () => {
      const message = metricsOf({ nested: { a: 1 } });
      expect(message).not.toHaveProperty('metrics');
      expect(message.truncated).toEqual(['metrics']);
    });

    test('no more than 256 keys are looked at, even when most are skipped', () => {
      const skipped = Object.fromEntries(Array.from({ length: 255 }, (_, i) => [`n${i}`, null]));
      expect(metricsOf({ ...skipped, last: 1 })).toEqual(expect.objectContaining({ metrics: { last: 1 } }));
      const message = metricsOf({ ...skipped, last: 1, past: 2 });
      expect(message.metrics).toEqual({ last: 1 });
      expect(message.truncated).toEqual(['metrics']);
    });

    test('inherited keys are not metrics', () => {
      const metrics = Object.create({ inherited: 1 }) as Record<string, unknown>;
      metrics.own = 2;
      const message = received(build({ metrics }));
      expect(message.metrics).toEqual({ own: 2 });
      expect(message).not.toHaveProperty('truncated');
    });

    test('metrics fill 8 KB to the byte, then further ones are left out', () => {
      // Each entry `"kNN":"<value>",` costs its JSON length; the braces take 2 bytes.
      const value = 'v'.repeat(1_000);
      const entries = Array.from({ length: 9 }, (_, i) => [`k${i}`, value] as const);
      const perEntry = JSON.stringify(`k0`).length + 1 + JSON.stringify(value).length + 1;
      const fitting = Math.floor((8 * 1024 - 2) / perEntry);
      const message = metricsOf(Object.fromEntries(entries));
      expect(Object.keys(message.metrics as object)).toHaveLength(fitting);
      expect(message.truncated).toEqual(['metrics']);
      // A last small one still fits in what is left, and is kept.
      const small = metricsOf({ ...Object.fromEntries(entries), z: 1 });
      expect(small.metrics).toHaveProperty('z', 1);
      expect(Buffer.byteLength(JSON.stringify(small.metrics))).toBeLessThanOrEqual(8 * 1024);
    });

    test('metrics just under 8 KB are whole; one more character and the last is left out', () => {
      // Text values of at most 1,024 characters, sized so the object's JSON is `bytes` long.
      const metricsOfSize = (bytes: number) => {
        const pieces: Array<[string, string]> = [];
        let size = 2;
        for (let i = 0; size < bytes; i++) {
          const key = `k${i}`;
          const overhead = JSON.stringify(key).length + 1 + 2 + (pieces.length > 0 ? 1 : 0);
          pieces.push([key, 't'.repeat(Math.min(1_024, bytes - size - overhead))]);
          size += overhead + pieces[pieces.length - 1][1].length;
        }
        return Object.fromEntries(pieces);
      };
      const under = metricsOfSize(8 * 1024 - 1);
      expect(Buffer.byteLength(JSON.stringify(under))).toBe(8 * 1024 - 1);
      expect(metricsOf(under).metrics).toEqual(under);
      expect(metricsOf(under)).not.toHaveProperty('truncated');
      const over = metricsOfSize(8 * 1024 + 1);
      const kept = metricsOf(over);
      expect(Object.keys(kept.metrics as object)).toEqual(Object.keys(over).slice(0, -1));
      expect(kept.truncated).toEqual(['metrics']);
    });
  });

  describe('the size budget', () => {
    const bigSource = (index: number, bytes: number) => `https://replicate.delivery/${index}/${'s'.repeat(bytes)}`;

    test('a message that fits is sent whole, without an omitted field', () => {
      const files = Array.from({ length: 3 }, (_, i) => file(i, bigSource(i, 60_000)));
      const message = received(build({}, files));
      expect(message.outputs).toHaveLength(3);
      expect(message).not.toHaveProperty('omitted');
    });

    test('outputs that do not fit are counted in omitted, the failures as zero', () => {
      const files = Array.from({ length: 6 }, (_, i) => file(i, bigSource(i, 60_000)));
      const notification = build({}, files);
      const message = received(notification);
      expect(message.outputs).toEqual(files.slice(0, 4));
      expect(message.omitted).toEqual({ outputs: 2, failures: 0 });
    });

    test('failures that do not fit are counted in omitted, the outputs as zero', () => {
      const failures = Array.from({ length: 6 }, (_, i) => failure(i, bigSource(i, 60_000)));
      const message = received(build({}, [], failures));
      expect(message.failures).toEqual(failures.slice(0, 4));
      expect(message.omitted).toEqual({ outputs: 0, failures: 2 });
    });

    test('with both lists too long, each gets half of the room', () => {
      const files = Array.from({ length: 6 }, (_, i) => file(i, bigSource(i, 60_000)));
      const failures = Array.from({ length: 6 }, (_, i) => failure(i, bigSource(i, 60_000)));
      const message = received(build({}, files, failures));
      expect(message.outputs).toEqual(files.slice(0, 2));
      expect(message.failures).toEqual(failures.slice(0, 2));
      expect(message.omitted).toEqual({ outputs: 4, failures: 4 });
    });

    test('room the outputs do not need goes to the failures', () => {
      const files = [file(0, bigSource(0, 10_000))];
      const failures = Array.from({ length: 6 }, (_, i) => failure(i, bigSource(i, 60_000)));
      const message = received(build({}, files, failures));
      expect(message.outputs).toEqual(files);
      expect(message.failures).toEqual(failures.slice(0, 4));
      expect(message.omitted).toEqual({ outputs: 0, failures: 2 });
    });

    test('room the failures do not need goes to the outputs', () => {
      const files = Array.from({ length: 6 }, (_, i) => file(i, bigSource(i, 60_000)));
      const failures = [failure(0, bigSource(0, 10_000))];
      const message = received(build({}, files, failures));
      expect(message.failures).toEqual(failures);
      expect(message.outputs).toEqual(files.slice(0, 4));
      expect(message.omitted).toEqual({ outputs: 2, failures: 0 });
    });

    test('the body leaves room for the larger envelope: the attributes or the event’s source and detail-type', () => {
      const files = Array.from({ length: 3_000 }, (_, i) => file(i));
      const smallAttributes = build({}, files);
      // Short attributes (now with `kind`, always at least as large as the event's envelope): the body uses all the room left.
      const envelope = Math.max(attributeBytes(smallAttributes.attributes), EVENT_ENVELOPE_BYTES);
      const room = MAX_MESSAGE_BYTES - envelope;
      expect(Buffer.byteLength(smallAttributes.body)).toBeLessThanOrEqual(room);
      expect(Buffer.byteLength(smallAttributes.body)).toBeGreaterThan(room - 400);
      // A long model makes the attributes the larger one.
      const largeAttributes = build({ model: `o/${'m'.repeat(250)}` }, files);
      const attributes = attributeBytes(largeAttributes.attributes);
      expect(attributes).toBeGreaterThan(EVENT_ENVELOPE_BYTES);
      expect(Buffer.byteLength(largeAttributes.body) + attributes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
      expect(Buffer.byteLength(largeAttributes.body) + attributes).toBeGreaterThan(MAX_MESSAGE_BYTES - 400);
    });

    test('many small entries are cut to fill the room, to within one entry', () => {
      const files = Array.from({ length: 1_200 }, (_, i) => file(i, `https://replicate.delivery/${i}/${'s'.repeat(200)}`));
      const notification = build({}, files);
      const body = Buffer.byteLength(notification.body);
      const limit = MAX_MESSAGE_BYTES - Math.max(EVENT_ENVELOPE_BYTES, attributeBytes(notification.attributes));
      const entry = Buffer.byteLength(JSON.stringify(files[0])) + 1;
      expect(body).toBeLessThanOrEqual(limit);
      expect(body).toBeGreaterThan(limit - 2 * entry);
      const message = received(notification);
      expect(message.outputs).toEqual(files.slice(0, (message.outputs as unknown[]).length));
      expect(message.omitted).toEqual({ outputs: files.length - (message.outputs as unknown[]).length, failures: 0 });
    });

    test('a body exactly at the limit is sent whole', () => {
      const withSource = (length: number) => build({}, [file(0, `https://replicate.delivery/${'s'.repeat(length)}`)]);
      const limit = MAX_MESSAGE_BYTES - Math.max(EVENT_ENVELOPE_BYTES, attributeBytes(withSource(0).attributes));
      const probe = Buffer.byteLength(withSource(0).body);
      const exact = withSource(limit - probe);
      expect(Buffer.byteLength(exact.body)).toBe(limit);
      expect(received(exact)).not.toHaveProperty('omitted');
      const over = withSource(limit - probe + 1);
      expect(received(over).omitted).toEqual({ outputs: 1, failures: 0 });
    });

    test('a manifest without lists (read back from an older archive) still gives a message', () => {
      const bare = { ...manifest(), files: undefined, failures: undefined } as unknown as ArchiveManifest;
      const message = received(buildCompletionMessage(prediction(), bare, manifestLocation));
      expect(message).toMatchObject({ outputs: [], failures: [] });
    });
  });

  describe('boundedJson', () => {
    test.each([
      [null, 'null'],
      [undefined, 'null'],
      [true, 'true'],
      [false, 'false'],
      [1.5, '1.5'],
      [Number.NaN, 'null'],
      [Number.NEGATIVE_INFINITY, 'null'],
      ['a"b', '"a\\"b"'],
      [[1, 'x', null], '[1,"x",null]'],
      [{ a: 1, b: [true] }, '{"a":1,"b":[true]}'],
      [[], '[]'],
      [{}, '{}'],
      [() => 1, 'null'],
    ])('%p is written as %s, complete', (value, text) => {
      expect(boundedJson(value, 100)).toEqual({ text, complete: true });
    });

    test('depth 8 is written; deeper is elided, for arrays and objects alike', () => {
      const nested = (levels: number, leaf: unknown, wrap: (inner: unknown) => unknown) => {
        let value = leaf;
        for (let i = 0; i < levels; i++) value = wrap(value);
        return value;
      };
      expect(
        boundedJson(
          nested(8, 1, (inner) => [inner]),
          100,
        ),
      ).toEqual({
        text: `${'['.repeat(8)}1${']'.repeat(8)}`,
        complete: true,
      });
      expect(
        boundedJson(
          nested(9, 1, (inner) => [inner]),
          100,
        ),
      ).toEqual({
        text: `${'['.repeat(8)}[…]${']'.repeat(8)}`,
        complete: false,
      });
      expect(
        boundedJson(
          nested(9, 1, (inner) => ({ a: inner })),
          200,
        ),
      ).toEqual({
        text: `${'{"a":'.repeat(8)}{…}${'}'.repeat(8)}`,
        complete: false,
      });
    });

    test('a long string or key is cut at the limit, and the result is incomplete', () => {
      expect(boundedJson('x'.repeat(11), 10)).toEqual({ text: `"${'x'.repeat(10)}"`, complete: false });
      expect(boundedJson('x'.repeat(8), 10)).toEqual({ text: `"${'x'.repeat(8)}"`, complete: true });
      expect(boundedJson({ ['k'.repeat(11)]: 1 }, 10).text.startsWith(`{"${'k'.repeat(10)}":`)).toBe(true);
    });

    test('text exactly at the limit is complete; one more is not', () => {
      expect(boundedJson([1, 2, 3], 7)).toEqual({ text: '[1,2,3]', complete: true });
      expect(boundedJson([1, 2, 3], 6).complete).toBe(false);
    });

    test('writing stops once past the limit: the rest of a list or object is never written', () => {
      // What is written past the limit is cut by the caller; only its length matters here.
      const list = boundedJson(
        Array.from({ length: 100 }, (_, i) => i),
        10,
      );
      expect(list.complete).toBe(false);
      expect(list.text.startsWith('[0,1,2,3,4')).toBe(true);
      expect(list.text.length).toBeLessThanOrEqual(12);
      const object = boundedJson(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])), 10);
      expect(object.complete).toBe(false);
      expect(object.text.startsWith('{"k0":0,')).toBe(true);
      expect(object.text.length).toBeLessThanOrEqual(16);
    });

    test('inherited keys are not written', () => {
      const value = Object.create({ inherited: 1 }) as Record<string, unknown>;
      value.own = 2;
      expect(boundedJson(value, 100)).toEqual({ text: '{"own":2}', complete: true });
    });

    test('an object whose getter throws is unprintable, not an exception', () => {
      const hostile = {
        get boom(): never {
          throw new Error('no');
        },
      };
      expect(boundedJson(hostile, 100)).toEqual({ text: '(unprintable)', complete: false });
      expect(received(build({ error: hostile })).error).toBe('(unprintable)');
    });
  });

  test('locations and well-formed text', () => {
    expect(s3Uri('b', 'k/1')).toBe('s3://b/k/1');
    expect(objectLocation('b', 'k')).toEqual({ bucket: 'b', key: 'k', s3Uri: 's3://b/k' });
    expect(wellFormed('a\ud83d\ude00b\ufffe\uffff\ud800')).toBe('a\ud83d\ude00b\ufffd\ufffd\ufffd');
    expect(wellFormed('\udc00\ud800\udc00')).toBe('\ufffd\ud800\udc00');
    expect(build({ model: 'tab\tline\nreturn\r' }).attributes.model).toBe('tab\tline\nreturn\r');
    expect(build({ model: 'bell\u0007vt\u000bff\u000cesc\u001b' }).attributes.model).toBe('bell\ufffdvt\ufffdff\ufffdesc\ufffd');
  });
});
