/**
 * Hostile fields: validly signed terminal webhooks whose fields are hostile, generated from a
 * seed, sent through the webhook endpoint among good predictions. The verifier may refuse one
 * (4xx, leaving nothing behind) but never answer 5xx to it, since Replicate would retry a request
 * that can never succeed; whatever it accepts must be archived and announced exactly once, in a
 * message SNS can carry, with every output it found but could not archive listed as a failure.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { request } from 'node:http';
import type { ArchiveManifest } from '../../lambda/shared/completion-message';
import { signWebhook } from '../../lambda/shared/signature';
import { sendDelivery } from '../../cli/send';
import { generatePredictionId, generateWebhookId, seededRandom } from '../../cli/scenarios';
import { publishedBytes } from '../support/notifications';
import { check, pool, queueDepth, sha256, startHarness, type Harness } from './harness';
import { planPrediction, type PredictionPlan } from './lifecycles';

export type FieldClass =
  | 'data_media_type'
  | 'deep_error_metrics'
  | 'long_model_version'
  | 'lone_surrogate'
  | 'oversized_field'
  | 'non_utf8_body'
  | 'discovery_limits';

const CLASSES: readonly FieldClass[] = [
  'data_media_type',
  'deep_error_metrics',
  'long_model_version',
  'lone_surrogate',
  'oversized_field',
  'non_utf8_body',
  'discovery_limits',
];
const VARIANTS_PER_CLASS = 3;
const GOOD_PREDICTIONS = 20;
const MAX_RECEIVE_COUNT = 3;
// SNS: 256 KiB for the body and the attributes together.
const SNS_LIMIT_BYTES = 256 * 1024;

/** One output the test put in: where, and whether it should be archived (and with which bytes). */
interface PlacedOutput {
  readonly path: string;
  readonly sha256?: string;
}

interface HostileWebhook {
  readonly fieldClass: FieldClass;
  readonly variant: string;
  readonly predictionId: string;
  readonly webhookId: string;
  readonly body: Buffer;
  readonly contentType: string;
  /** Outputs placed at known paths (checked one by one). */
  readonly outputs: readonly PlacedOutput[];
  /** Distinct outputs in all, when there are too many to place one by one. */
  readonly distinctOutputs?: number;
  /** URLs that must never be fetched (nested past the depth limit). */
  readonly neverFetched?: readonly string[];
}

export interface FieldClassResult {
  readonly sent: number;
  readonly variants: string[];
  readonly answered: Record<string, number>;
  readonly accepted: number;
  readonly refusedLeftNothing: number;
  readonly archived: number;
  readonly announcedOnce: number;
  readonly deadLettered: number;
  readonly failuresRecorded: number;
  readonly largestMessageBytes: number;
  /** The manifest's payload byte-identical to the body that was signed (the README's "verbatim"); reported, not enforced. */
  readonly payloadVerbatim: number;
}

export interface HostileFieldsResult {
  readonly sent: number;
  readonly answered5xx: number;
  readonly accepted: number;
  readonly refused: number;
  readonly refusedLeftNothing: number;
  readonly announcedOnce: number;
  readonly byClass: Record<FieldClass, FieldClassResult>;
  readonly orphanSpilledPayloads: number;
  readonly good: number;
  readonly goodArchived: number;
  readonly seconds: number;
  readonly violations: string[];
}

export async function runHostileFields(seed: number): Promise<HostileFieldsResult> {
  const started = Date.now();
  const random = seededRandom(seed);
  const harness = await startHarness({ archiveQueue: { maxReceiveCount: MAX_RECEIVE_COUNT } });
  try {
    const violations: string[] = [];
    const hostile: HostileWebhook[] = CLASSES.flatMap((fieldClass) =>
      Array.from({ length: VARIANTS_PER_CLASS }, (_, index) => generate(fieldClass, index, random, harness)),
    );
    const good: PredictionPlan[] = Array.from({ length: GOOD_PREDICTIONS }, () =>
      planPrediction(random, harness.files, { duplicateRate: 0.1, reorderRate: 0.1, lateRate: 0 }),
    );
    const mixed: Array<HostileWebhook | PredictionPlan> = [...good];
    for (const item of hostile) mixed.splice(Math.floor(random() * (mixed.length + 1)), 0, item);

    const answers = new Map<HostileWebhook, { status: number; body: string }>();
    await pool(mixed, 8, async (item) => {
      if ('fieldClass' in item) {
        answers.set(item, await signedPost(harness, item));
        return;
      }
      for (const webhook of item.webhooks) {
        const result = await sendDelivery(harness.info.webhookUrl, harness.info.secret, webhook, {
          timestamp: webhook.timestamp,
        });
        check(result.status === 200, `hostile fields: a good webhook was answered ${result.status} ${result.body}`, violations);
      }
    });
    const accepted = hostile.filter((item) => answers.get(item)!.status === 200);

    // Good ones first (they must not wait for anything), then every accepted hostile one settles.
    await harness.waitForNotified(
      good.map((plan) => plan.id),
      2 * 60_000,
    );
    const settleDeadline = Date.now() + 60_000;
    for (;;) {
      const items = await Promise.all(accepted.map((item) => harness.predictionItem(item.predictionId)));
      const pending = items.filter((item) => !item?.notifiedAt && item?.archiveStatus?.S !== 'failed');
      if (pending.length === 0 || Date.now() > settleDeadline) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // A failed one reaches the dead-letter queue on its next receive; duplicates would arrive now too.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await harness.collectNotifications(1500);

    // Good predictions: untouched by their hostile neighbours.
    let goodArchived = 0;
    for (const plan of good) {
      const manifest = await harness.manifest(plan.id).catch(() => undefined);
      let exact = manifest !== undefined && manifest.failures.length === 0;
      for (const expected of plan.files) {
        const file = manifest?.files.find((candidate) => candidate.source === expected.url);
        exact &&= file?.sha256 === expected.sha256;
      }
      const count = harness.notifications.get(plan.id)?.length ?? 0;
      if (exact && count === 1) goodArchived++;
      check(
        exact && count === 1,
        `hostile fields: good ${plan.id} archived ${exact ? 'exactly' : 'wrongly'}, announced ${count} times`,
        violations,
      );
    }

    const byClass = Object.fromEntries(
      CLASSES.map((fieldClass) => [
        fieldClass,
        {
          sent: 0,
          variants: [] as string[],
          answered: {},
          accepted: 0,
          refusedLeftNothing: 0,
          archived: 0,
          announcedOnce: 0,
          deadLettered: 0,
          failuresRecorded: 0,
          largestMessageBytes: 0,
          payloadVerbatim: 0,
        },
      ]),
    ) as Record<FieldClass, { -readonly [K in keyof FieldClassResult]: FieldClassResult[K] }>;
    let answered5xx = 0;
    let refusedLeftNothing = 0;
    let announcedOnce = 0;
    for (const item of hostile) {
      const entry = byClass[item.fieldClass];
      const answer = answers.get(item)!;
      const label = `hostile fields: ${item.fieldClass} (${item.variant}) ${item.predictionId}`;
      entry.sent++;
      entry.variants.push(item.variant);
      const key = `${answer.status} ${outcomeOf(answer)}`;
      entry.answered[key] = (entry.answered[key] ?? 0) + 1;
      if (answer.status >= 500) answered5xx++;
      check(answer.status < 500, `${label}: answered ${key}; a request that can never succeed must get a 4xx`, violations);
      const record = await harness.predictionItem(item.predictionId);

      if (answer.status !== 200) {
        // Refused (or failed): nothing of it may remain.
        const spilled = await keysUnder(harness, `webhook-payloads/${item.predictionId}/`);
        const clean = record === undefined && spilled.length === 0;
        if (clean && answer.status < 500) {
          entry.refusedLeftNothing++;
          refusedLeftNothing++;
        }
        check(
          clean,
          `${label}: answered ${answer.status} but left ${[record ? 'a record' : '', spilled.length ? `${spilled.length} spilled payload(s)` : ''].filter(Boolean).join(', ')}`,
          violations,
        );
        continue;
      }

      entry.accepted++;
      const received = harness.received.get(item.predictionId) ?? [];
      if (record?.archiveStatus?.S === 'failed') entry.deadLettered++;
      check(
        record?.notifiedAt !== undefined && received.length === 1,
        `${label}: accepted, then ${record?.archiveStatus?.S === 'failed' ? `failed archival (${record.archiveError?.S}) and went to the dead-letter queue` : `announced ${received.length} times`}`,
        violations,
      );
      if (received.length === 1) {
        entry.announcedOnce++;
        announcedOnce++;
      }
      for (const notification of received) {
        const bytes = publishedBytes(notification);
        entry.largestMessageBytes = Math.max(entry.largestMessageBytes, bytes);
        check(
          bytes <= SNS_LIMIT_BYTES,
          `${label}: the published message is ${bytes} bytes (body and attributes), over SNS's 256 KiB`,
          violations,
        );
      }
      const manifest: ArchiveManifest | undefined =
        record?.archiveStatus?.S === 'archived' || record?.archiveStatus?.S === 'archived_with_failures'
          ? await harness.manifest(item.predictionId).catch(() => undefined)
          : undefined;
      if (!manifest) continue;
      entry.archived++;
      const payload = await harness.archivedPayload(item.predictionId).catch(() => undefined);
      if (payload !== undefined && sha256(Buffer.from(payload, 'utf8')) === sha256(item.body)) entry.payloadVerbatim++;
      entry.failuresRecorded += manifest.failures.reduce((total, failure) => total + listedCount(failure), 0);
      // Every output found is either archived (byte-exact where the test knows the bytes) or listed.
      for (const placed of item.outputs) {
        const file = manifest.files.find((candidate) => candidate.paths.includes(placed.path));
        const failure = manifest.failures.find((candidate) => candidate.paths.includes(placed.path));
        check(
          file !== undefined || failure !== undefined,
          `${label}: the output at ${placed.path} was neither archived nor listed as a failure`,
          violations,
        );
        if (placed.sha256 !== undefined)
          check(
            file?.sha256 === placed.sha256,
            `${label}: the good output at ${placed.path} was not archived byte-exact`,
            violations,
          );
        if (file)
          check(
            /^[\x20-\x7e]{1,200}$/.test(file.contentType),
            `${label}: ${placed.path} archived with content type ${JSON.stringify(file.contentType.slice(0, 80))}`,
            violations,
          );
      }
      if (item.distinctOutputs !== undefined) {
        const accounted = manifest.files.length + manifest.failures.reduce((total, failure) => total + listedCount(failure), 0);
        check(
          accounted === item.distinctOutputs,
          `${label}: ${item.distinctOutputs} distinct outputs, but ${manifest.files.length} archived and ${accounted - manifest.files.length} listed as failures`,
          violations,
        );
      }
      for (const url of item.neverFetched ?? []) {
        const hits = harness.files.hits.get(new URL(url).pathname) ?? 0;
        check(hits === 0, `${label}: ${url}, nested past the depth limit, was fetched ${hits} times`, violations);
      }
    }

    // Spilled payloads belong to a record: none of a refused webhook's, none left unreferenced.
    const referenced = new Set<string>();
    for (const item of hostile) {
      const key = (await harness.predictionItem(item.predictionId))?.payloadKey?.S;
      if (key) referenced.add(key);
    }
    for (const plan of good) {
      const key = (await harness.predictionItem(plan.id))?.payloadKey?.S;
      if (key) referenced.add(key);
    }
    const orphans = (await keysUnder(harness, 'webhook-payloads/')).filter((key) => !referenced.has(key));
    check(
      orphans.length === 0,
      `hostile fields: ${orphans.length} orphan(s) in webhook-payloads/: ${orphans.slice(0, 3).join(', ')}`,
      violations,
    );
    const deadLetters = await queueDepth(harness.sqs, harness.info.archiveDeadLetterQueueUrl);
    check(deadLetters === 0, `hostile fields: ${deadLetters} message(s) in the archive dead-letter queue`, violations);

    return {
      sent: hostile.length,
      answered5xx,
      accepted: accepted.length,
      refused: hostile.length - accepted.length,
      refusedLeftNothing,
      announcedOnce,
      byClass,
      orphanSpilledPayloads: orphans.length,
      good: good.length,
      goodArchived,
      seconds: Math.round((Date.now() - started) / 1000),
      violations,
    };
  } finally {
    await harness.stop();
  }
}

/** How many outputs a failure entry stands for: a summary of many says so. */
function listedCount(failure: ArchiveManifest['failures'][number]): number {
  const count = (failure as { count?: unknown }).count;
  return typeof count === 'number' && Number.isInteger(count) && count > 0 ? count : 1;
}

function outcomeOf(answer: { status: number; body: string }): string {
  try {
    const parsed = JSON.parse(answer.body) as { outcome?: string; error?: string };
    return parsed.outcome ?? parsed.error ?? 'other';
  } catch {
    return 'unparseable';
  }
}

async function keysUnder(harness: Harness, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await harness.s3.send(
      new ListObjectsV2Command({ Bucket: harness.info.bucketName, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

/** Signs the exact bytes (Standard Webhooks) and posts them, whatever they are. */
function signedPost(harness: Harness, item: HostileWebhook): Promise<{ status: number; body: string }> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  return new Promise((resolve, reject) => {
    const req = request(harness.info.webhookUrl, { method: 'POST' });
    req.setHeader('content-type', item.contentType);
    req.setHeader('webhook-id', item.webhookId);
    req.setHeader('webhook-timestamp', timestamp);
    req.setHeader('webhook-signature', signWebhook(harness.info.secret, item.webhookId, timestamp, item.body));
    req.setHeader('content-length', String(item.body.length));
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(item.body);
  });
}

// ---- generators ----

function generate(fieldClass: FieldClass, index: number, random: () => number, harness: Harness): HostileWebhook {
  const predictionId = generatePredictionId(random);
  const webhookId = generateWebhookId(random);
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const files = harness.files;
  const goodFile = (name: string) => {
    const served = files.serveRandom(`/${predictionId}/${name}`, between(1024, 16 * 1024), 'image/png');
    return { url: served.url, sha256: sha256(served.bytes) };
  };
  const prediction = (fields: Record<string, unknown>) => ({
    id: predictionId,
    model: 'hostile/fields',
    version: 'v1',
    status: 'succeeded',
    created_at: new Date(Date.now() - 20_000).toISOString(),
    completed_at: new Date().toISOString(),
    logs: '',
    error: null,
    metrics: { predict_time: 1.2 },
    output: null,
    ...fields,
  });
  const json = (fields: Record<string, unknown>) => Buffer.from(JSON.stringify(prediction(fields)), 'utf8');
  const base = { fieldClass, predictionId, webhookId, contentType: 'application/json' };

  switch (fieldClass) {
    case 'data_media_type': {
      const control = () => String.fromCharCode(pick([0x00, 0x01, 0x07, 0x08, 0x0e, 0x1b, 0x1f, 0x7f, 0x85]));
      const nonAscii = () => pick(['\u00e9', '\u00fc', '\u202e', '\u4e2d', '\ud83d\ude00', '\u0130', '\ufffd']);
      const mediaTypes = [
        { variant: 'control chars', type: `image/p${control()}n${control()}g` },
        { variant: 'non-ASCII', type: `image/${nonAscii()}png;name=${nonAscii()}${nonAscii()}` },
        { variant: 'kilobytes long', type: `application/${'x'.repeat(between(2_000, 8_000))}` },
      ];
      const chosen = mediaTypes[index % mediaTypes.length];
      const good = goodFile('good.png');
      const payload = Buffer.from(`hostile media type ${index}`).toString('base64');
      const output = {
        hostile: `data:${chosen.type};base64,${payload}`,
        alsoHostile: `data:${mediaTypes[(index + 1) % mediaTypes.length].type},plain%20text`,
        good: good.url,
      };
      return {
        ...base,
        variant: chosen.variant,
        body: json({ output }),
        outputs: [{ path: '.hostile' }, { path: '.alsoHostile' }, { path: '.good', sha256: good.sha256 }],
      };
    }
    case 'deep_error_metrics': {
      // Thousands of levels in a body of about 12 KB (inline): arrays cost 2 bytes a level.
      const arrays = (depth: number) => `${'['.repeat(depth)}"bottom"${']'.repeat(depth)}`;
      const objects = (depth: number) => `${'{"e":'.repeat(depth)}"bottom"${'}'.repeat(depth)}`;
      const shapes = [
        { variant: 'error: arrays', error: arrays(between(4_500, 5_800)), metrics: '{"predict_time":1}' },
        { variant: 'metrics: arrays', error: '"boom"', metrics: `{"deep":${arrays(between(4_500, 5_800))}}` },
        {
          variant: 'both: objects and arrays',
          error: objects(between(900, 1_000)),
          metrics: `{"deep":${arrays(between(2_500, 3_000))}}`,
        },
      ];
      const shape = shapes[index % shapes.length];
      const good = goodFile('good.png');
      const template = JSON.stringify(prediction({ output: [good.url], error: '@ERROR@', metrics: '@METRICS@' }));
      const body = template.replace('"@ERROR@"', shape.error).replace('"@METRICS@"', shape.metrics);
      return { ...base, variant: shape.variant, body: Buffer.from(body), outputs: [{ path: '[0]', sha256: good.sha256 }] };
    }
    case 'long_model_version': {
      const field = index % 2 === 0 ? 'model' : 'version';
      const length = between(100_000, 300_000);
      const good = goodFile('good.png');
      return {
        ...base,
        variant: `${field} of ${Math.round(length / 1024)} KiB`,
        body: json({ [field]: `${field === 'model' ? 'owner/' : ''}${'m'.repeat(length)}`, output: [good.url] }),
        outputs: [{ path: '[0]', sha256: good.sha256 }],
      };
    }
    case 'lone_surrogate': {
      const surrogate = pick(['\\ud800', '\\udfff', '\\udbff']);
      const where = ['model', 'version', 'model and version'][index % 3];
      const good = goodFile('good.png');
      const template = JSON.stringify(prediction({ model: '@MODEL@', version: '@VERSION@', output: [good.url] }));
      const body = template
        .replace('"@MODEL@"', where.includes('model') ? `"owner/m${surrogate}odel"` : '"owner/model"')
        .replace('"@VERSION@"', where.includes('version') ? `"v${surrogate}"` : '"v1"');
      return {
        ...base,
        variant: `${surrogate} in ${where}`,
        body: Buffer.from(body),
        outputs: [{ path: '[0]', sha256: good.sha256 }],
      };
    }
    case 'oversized_field': {
      // Over DynamoDB's 400 KB item limit on its own: the record can never be written.
      const field = ['model', 'created_at', 'version'][index % 3];
      const length = between(400 * 1024, 420 * 1024);
      return {
        ...base,
        variant: `${field} of ${Math.round(length / 1024)} KiB`,
        body: json({ [field]: 'x'.repeat(length), output: [goodFile('good.png').url] }),
        outputs: [],
      };
    }
    case 'non_utf8_body': {
      const sequences = [
        Buffer.from([0xff]),
        Buffer.from([0xc3, 0x28]),
        Buffer.from([0x80, 0x80]),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from([0xed, 0xa0, 0x80]),
      ];
      const bad = Buffer.concat([pick(sequences), pick(sequences)]);
      const field = pick(['logs', 'model', 'error'] as const);
      const good = goodFile('good.png');
      const template = Buffer.from(JSON.stringify(prediction({ [field]: '@BAD@', output: [good.url] })));
      const at = template.indexOf('@BAD@');
      const body = Buffer.concat([
        template.subarray(0, at),
        Buffer.from('before '),
        bad,
        Buffer.from(' after'),
        template.subarray(at + 5),
      ]);
      // As JSON, API Gateway decodes the body to text first (the signature then fails); as binary it passes the bytes.
      const contentType = index % 2 === 0 ? 'application/octet-stream' : 'application/json';
      return {
        ...base,
        contentType,
        variant: `${bad.toString('hex')} in ${field}, ${contentType}`,
        body,
        outputs: [{ path: '[0]', sha256: good.sha256 }],
      };
    }
    case 'discovery_limits': {
      const good = goodFile('good.png');
      if (index % 3 !== 2) {
        // Past the file count: distinct URLs that would be refused at once (off the allow-list), after a good one.
        const count = 10_000 + between(1, 500);
        const urls = Array.from({ length: count }, (_, n) => `https://outputs.invalid/${predictionId}/${n}.png`);
        return {
          ...base,
          variant: `${count + 1} URLs`,
          body: json({ output: [good.url, ...urls] }),
          outputs: [{ path: '[0]', sha256: good.sha256 }, { path: '[10000]' }],
          distinctOutputs: count + 1,
        };
      }
      // Past the depth limit: a fetchable URL nested deeper than 64 levels must be listed, not fetched.
      const depth = between(65, 400);
      const deep = files.serveRandom(`/${predictionId}/deep.png`, 1024, 'image/png').url;
      let nested: unknown = deep;
      for (let level = 0; level < depth; level++) nested = level % 2 === 0 ? [nested] : { level: nested };
      return {
        ...base,
        variant: `a URL nested ${depth + 1} levels deep`,
        body: json({ output: { good: good.url, nested } }),
        outputs: [{ path: '.good', sha256: good.sha256 }],
        distinctOutputs: 2,
        neverFetched: [deep],
      };
    }
  }
}
