import fc from 'fast-check';
import {
  attributeBytes,
  boundedJson,
  buildCompletionMessage,
  MAX_ERROR_CHARS,
  MAX_MESSAGE_BYTES,
  objectLocation,
  removedDataFailures,
  type ArchivedFile,
  type ArchiveFailure,
  type ArchiveManifest,
  type CompletionAttributes,
} from '../lambda/shared/completion-message';
import { CompletionKind, type Prediction } from '../lambda/shared/prediction';

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

const failure = (index: number, source = `https://evil.example/${index}.png`): ArchiveFailure => ({
  source,
  paths: [`.bad[${index}]`],
  reason: 'host_not_allowed',
  transient: false,
});

const manifest = (files: readonly ArchivedFile[] = [], failures: readonly ArchiveFailure[] = []): ArchiveManifest => ({
  predictionId: 'p1',
  status: 'succeeded',
  archivedAt: '2026-11-20T10:00:04.120Z',
  prediction: at('predictions/p1/prediction.json'),
  files,
  failures,
});

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
      archive: { prediction: at('predictions/p1/prediction.json'), manifest: manifestLocation },
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
    const notification = buildCompletionMessage(prediction(fields as Partial<Prediction>), manifest([file(0)]), manifestLocation);
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
    expect(notification.message.outputs[0]!.source).toBe('https://replicate.delivery/\ufffd.png');
    expect(notification.message.failures[0]!.source).toBe('https://evil.example/\ufffd');
  });

  test('a cut never splits a surrogate pair', () => {
    const model = `${'m'.repeat(255)}😀tail`;
    const { message } = buildCompletionMessage(prediction({ model }), manifest(), manifestLocation);
    expect(message.model).toBe('m'.repeat(255));
  });

  test('an error string is cut at 8,192 characters, with a note', () => {
    const { message } = buildCompletionMessage(prediction({ error: 'e'.repeat(100_000) }), manifest(), manifestLocation);
    expect(message.error).toBe(`${'e'.repeat(MAX_ERROR_CHARS)}… (truncated; prediction.json has it whole)`);
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
          metrics: (fields.metrics ?? undefined) as Prediction['metrics'],
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
