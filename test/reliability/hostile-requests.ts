/**
 * Bad input: thousands of generated hostile requests (forged, wrong key, replayed, stale,
 * truncated, tampered, oversized, wrong types, header games) through the local HTTP path,
 * mixed with genuine webhooks. Nothing unsigned may be accepted, nothing may answer 5xx or
 * crash, and memory must stay flat.
 */
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { parsePrediction } from '../../lambda/shared/prediction';
import { signWebhook } from '../../lambda/shared/signature';
import { generatePredictionId, generateWebhookId, seededRandom } from '../../cli/scenarios';
import { check, pool, type Harness } from './harness';

type Category =
  | 'valid'
  | 'valid_binary_content_type'
  | 'replayed'
  | 'forged'
  | 'wrong_key'
  | 'stale'
  | 'truncated'
  | 'tampered'
  | 'wrong_types'
  | 'header_games'
  | 'oversized';

interface HostileRequest {
  readonly category: Category;
  readonly headers: ReadonlyArray<readonly [string, string | string[]]>;
  readonly body: Buffer;
}

export interface HostileRequestsResult {
  readonly requests: number;
  readonly byCategory: Record<string, { readonly sent: number; readonly answers: Record<string, number> }>;
  readonly acceptedWithoutValidSignature: number;
  readonly answers5xx: number;
  readonly uncaughtErrors: number;
  readonly heapUsedMiB: { readonly before: number; readonly after: number };
  readonly rssMiB: { readonly before: number; readonly after: number };
  readonly seconds: number;
  readonly violations: string[];
}

function post(url: string, hostile: HostileRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' });
    for (const [name, value] of hostile.headers) req.setHeader(name, value);
    req.setHeader('content-length', String(hostile.body.length));
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(hostile.body);
  });
}

const heapMiB = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return Math.round(process.memoryUsage().heapUsed / 1024 / 1024);
};
const rssMiB = () => Math.round(process.memoryUsage().rss / 1024 / 1024);

export async function runHostileRequests(
  harness: Harness,
  options: { count: number; seed: number },
): Promise<HostileRequestsResult> {
  const random = seededRandom(options.seed);
  const secret = harness.info.secret;
  const otherSecret = `whsec_${Buffer.from(Array.from({ length: 24 }, () => Math.floor(random() * 256))).toString('base64')}`;
  const now = () => Math.floor(Date.now() / 1000);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const genuine = (): { webhookId: string; timestamp: string; body: Buffer } => {
    const body = Buffer.from(
      JSON.stringify({
        id: generatePredictionId(random),
        status: pick(['starting', 'processing']),
        logs: '',
        output: null,
        model: 'x/y',
      }),
    );
    return { webhookId: generateWebhookId(random), timestamp: String(now()), body };
  };
  const signedHeaders = (webhookId: string, timestamp: string, body: Buffer, key = secret, contentType = 'application/json') =>
    [
      ['content-type', contentType],
      ['webhook-id', webhookId],
      ['webhook-timestamp', timestamp],
      ['webhook-signature', signWebhook(key, webhookId, timestamp, body)],
    ] as Array<[string, string | string[]]>;
  // Signed bodies of every JSON shape except, by construction, a valid prediction.
  const jsonSamples = fc
    .sample(fc.jsonValue({ maxDepth: 6 }), { numRuns: 500, seed: options.seed })
    .filter((value) => !parsePrediction(Buffer.from(JSON.stringify(value))).ok);
  const wrongTypeBodies = [
    ...jsonSamples.map((value) => JSON.stringify(value)),
    '{"id": 42, "status": "starting"}',
    '{"id": "abc", "status": {"s": 1}}',
    '{"id": ["a"], "status": "succeeded"}',
    '{"id": "../../etc/passwd", "status": "succeeded"}',
    '{"id": "abc", "status": "SUCCEEDED"}',
    '['.repeat(5000) + ']'.repeat(5000),
    '{"id": "abc"',
    '\u0000\u0001\u0002',
    'null',
  ];
  // Replays repeat webhooks accepted before the barrage, so no replay can overtake its original.
  const replayable = Array.from({ length: 50 }, genuine);
  for (const original of replayable) {
    const answer = await post(harness.info.webhookUrl, {
      category: 'valid',
      headers: signedHeaders(original.webhookId, original.timestamp, original.body),
      body: original.body,
    });
    if (answer.status !== 200) throw new Error(`a genuine webhook was answered ${answer.status} ${answer.body}`);
  }

  const generate = (): HostileRequest => {
    const roll = random();
    const base = genuine();
    if (roll < 0.05) {
      return { category: 'valid', headers: signedHeaders(base.webhookId, base.timestamp, base.body), body: base.body };
    }
    if (roll < 0.07) {
      return {
        category: 'valid_binary_content_type',
        headers: signedHeaders(base.webhookId, base.timestamp, base.body, secret, 'application/octet-stream'),
        body: base.body,
      };
    }
    if (roll < 0.16) {
      const original = pick(replayable);
      return {
        category: 'replayed',
        headers: signedHeaders(original.webhookId, original.timestamp, original.body),
        body: original.body,
      };
    }
    if (roll < 0.3) {
      const headers = signedHeaders(base.webhookId, base.timestamp, base.body);
      headers[3] = ['webhook-signature', `v1,${randomBytes(32).toString('base64')}`];
      return { category: 'forged', headers, body: base.body };
    }
    if (roll < 0.4)
      return {
        category: 'wrong_key',
        headers: signedHeaders(base.webhookId, base.timestamp, base.body, otherSecret),
        body: base.body,
      };
    if (roll < 0.5) {
      const skew = (301 + Math.floor(random() * 10_000_000)) * (random() < 0.5 ? -1 : 1);
      const timestamp = String(Math.max(0, now() + skew));
      return { category: 'stale', headers: signedHeaders(base.webhookId, timestamp, base.body), body: base.body };
    }
    if (roll < 0.6) {
      const headers = signedHeaders(base.webhookId, base.timestamp, base.body);
      return { category: 'truncated', headers, body: base.body.subarray(0, Math.floor(random() * base.body.length)) };
    }
    if (roll < 0.7) {
      const tampered = Buffer.from(base.body);
      tampered[Math.floor(random() * tampered.length)] ^= 1 << Math.floor(random() * 8);
      return { category: 'tampered', headers: signedHeaders(base.webhookId, base.timestamp, base.body), body: tampered };
    }
    if (roll < 0.85) {
      const body = Buffer.from(pick(wrongTypeBodies));
      return { category: 'wrong_types', headers: signedHeaders(base.webhookId, base.timestamp, body), body };
    }
    const headers = signedHeaders(base.webhookId, base.timestamp, base.body);
    const signature = headers[3][1] as string;
    const games: Array<Array<[string, string | string[]]>> = [
      headers.filter(([name]) => name !== 'webhook-id'),
      headers.filter(([name]) => name !== 'webhook-timestamp'),
      headers.filter(([name]) => name !== 'webhook-signature'),
      headers.map(([name, value]) => [name, name === 'webhook-id' ? '' : value]),
      headers.map(([name, value]) => [name, name === 'webhook-id' ? [base.webhookId, base.webhookId] : value]),
      headers.map(([name, value]) => [name, name === 'webhook-signature' ? [signature, signature] : value]),
      headers.map(([name, value]) => [name, name === 'webhook-timestamp' ? [base.timestamp, base.timestamp] : value]),
      headers.map(([name, value]) => [name, name === 'webhook-signature' ? signature.replace('v1,', 'v1, ') : value]),
      headers.map(([name, value]) => [name, name === 'webhook-signature' ? signature.replace('v1,', 'v2,') : value]),
      headers.map(([name, value]) => [name, name === 'webhook-signature' ? signature.toUpperCase() : value]),
      headers.map(([name, value]) => [name, name === 'webhook-timestamp' ? `${base.timestamp}.0` : value]),
      headers.map(([name, value]) => [name, name === 'webhook-id' ? `${base.webhookId}\u00e9` : value]),
      headers.map(([name, value]) => [name, name === 'webhook-id' ? 'm'.repeat(8000) : value]),
      headers.map(([name, value]) => [name, name === 'webhook-signature' ? `${'v1,AAAA '.repeat(500)}` : value]),
    ];
    return { category: 'header_games', headers: pick(games), body: base.body };
  };

  const requests: HostileRequest[] = Array.from({ length: options.count }, generate);
  // A few bodies over the limits: the verifier's 6 MiB, and API Gateway's 10 MB.
  for (const size of [6 * 1024 * 1024 + 1, 7 * 1024 * 1024, 11 * 1024 * 1024]) {
    const body = Buffer.alloc(size, 'a');
    requests.push({ category: 'oversized', headers: signedHeaders(generateWebhookId(random), String(now()), body), body });
  }

  let uncaught = 0;
  const onUncaught = () => void uncaught++;
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const heapBefore = heapMiB();
  const rssBefore = rssMiB();
  const started = Date.now();
  const byCategory: HostileRequestsResult['byCategory'] = {};
  const violations: string[] = [];
  let acceptedWithoutValidSignature = 0;
  let answers5xx = 0;
  try {
    await pool(requests, 32, async (hostile) => {
      const { status, body } = await post(harness.info.webhookUrl, hostile);
      const entry = (byCategory[hostile.category] ??= { sent: 0, answers: {} });
      (entry as { sent: number }).sent++;
      const outcome =
        status === 200
          ? (JSON.parse(body) as { outcome: string }).outcome
          : ((JSON.parse(body) as { error?: string; message?: string }).error ?? 'other');
      const key = `${status} ${outcome}`;
      entry.answers[key] = (entry.answers[key] ?? 0) + 1;
      if (status >= 500) answers5xx++;
      const signedValidly =
        hostile.category === 'valid' || hostile.category === 'valid_binary_content_type' || hostile.category === 'replayed';
      if (!signedValidly && hostile.category !== 'wrong_types' && hostile.category !== 'oversized' && status < 400) {
        acceptedWithoutValidSignature++;
      }
      if (hostile.category === 'replayed')
        check(status === 200 && outcome === 'duplicate', `a replay was answered ${key}`, violations);
      if (hostile.category.startsWith('valid'))
        check(status === 200 && outcome === 'accepted', `a genuine webhook was answered ${key}`, violations);
      if (hostile.category === 'wrong_types') check(status === 400, `a signed malformed body was answered ${key}`, violations);
      if (hostile.category === 'oversized') check(status === 413, `an oversized body was answered ${key}`, violations);
    });
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  }
  const seconds = (Date.now() - started) / 1000;
  const heapAfter = heapMiB();
  const rssAfter = rssMiB();
  check(
    acceptedWithoutValidSignature === 0,
    `${acceptedWithoutValidSignature} requests without a valid signature got 2xx`,
    violations,
  );
  check(answers5xx === 0, `${answers5xx} hostile requests answered 5xx`, violations);
  check(uncaught === 0, `${uncaught} uncaught errors`, violations);
  check(heapAfter - heapBefore < 64, `heap grew from ${heapBefore} to ${heapAfter} MiB`, violations);
  // Still serving: one more genuine webhook is accepted.
  const last = genuine();
  const final = await post(harness.info.webhookUrl, {
    category: 'valid',
    headers: signedHeaders(last.webhookId, last.timestamp, last.body),
    body: last.body,
  });
  check(final.status === 200, `after the barrage a genuine webhook got ${final.status}`, violations);
  return {
    requests: requests.length,
    byCategory,
    acceptedWithoutValidSignature,
    answers5xx,
    uncaughtErrors: uncaught,
    heapUsedMiB: { before: heapBefore, after: heapAfter },
    rssMiB: { before: rssBefore, after: rssAfter },
    seconds: Math.round(seconds),
    violations,
  };
}
