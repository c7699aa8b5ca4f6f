/** The webhook sender: scenarios, delivery plans, signing, the output file server and the CLI. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { CompletionKind, isTerminalStatus, parsePrediction, STATUS_RANK, type Prediction } from '../../lambda/shared/prediction';
import { decodeSigningKey, verifyWebhook } from '../../lambda/shared/signature';
import { main } from '../../cli/index';
import { startOutputServer } from '../../cli/output-server';
import {
  buildScenario,
  planDeliveries,
  PNG_SIGNATURE,
  SCENARIOS,
  scenarioServesFiles,
  seededRandom,
  type Delivery,
} from '../../cli/scenarios';
import { sendDelivery } from '../../cli/send';
import { startReplicateApi, type ReplicateApiStandIn } from '../../local/standins/replicate-api';
import { newSecret } from '../support/webhooks';

const FILE_BASE = 'http://127.0.0.1:8788';
const NOW = new Date('2026-11-20T10:00:00Z');

const parse = (delivery: Delivery): Prediction => {
  const parsed = parsePrediction(delivery.body);
  if (!parsed.ok) throw new Error(`not a prediction: ${parsed.reason}`);
  return parsed.prediction;
};

describe('scenarios', () => {
  const FIELDS = [
    'id',
    'model',
    'version',
    'input',
    'logs',
    'output',
    'data_removed',
    'error',
    'source',
    'status',
    'created_at',
    'started_at',
    'completed_at',
    'metrics',
    'urls',
    'webhook',
    'webhook_events_filter',
  ];

  test.each(SCENARIOS.map((name, index) => [name, index]))('%s: a valid, ordered lifecycle', (name, seed) => {
    const scenario = buildScenario(name, {
      fileBaseUrl: FILE_BASE,
      random: seededRandom(seed),
      now: NOW,
    });
    const { deliveries } = scenario;
    expect(scenario.predictionId).toMatch(/^[a-z0-9]{26}$/);
    expect(deliveries.length).toBeGreaterThanOrEqual(3);
    expect(new Set(deliveries.map((d) => d.webhookId)).size).toBe(deliveries.length);

    const predictions = deliveries.map(parse);
    deliveries.forEach((delivery, index) => {
      expect(delivery.webhookId).toMatch(/^msg_[A-Za-z0-9]{27}$/);
      expect(Object.keys(JSON.parse(delivery.body))).toEqual(FIELDS);
      expect(predictions[index].id).toBe(scenario.predictionId);
      expect(predictions[index].status).toBe(delivery.status);
    });
    expect(deliveries[0]).toMatchObject({ event: 'start', status: 'starting' });
    expect(deliveries.filter((d) => isTerminalStatus(d.status))).toEqual([deliveries.at(-1)]);
    expect(deliveries.at(-1)?.event).toBe('completed');

    for (let i = 1; i < predictions.length; i++) {
      const [before, after] = [predictions[i - 1], predictions[i]];
      expect(STATUS_RANK[after.status]).toBeGreaterThanOrEqual(STATUS_RANK[before.status]);
      expect(after.logs?.startsWith(before.logs ?? '')).toBe(true);
      if (Array.isArray(before.output)) expect((after.output as unknown[]).slice(0, before.output.length)).toEqual(before.output);
    }

    const terminal = predictions.at(-1) as Prediction;
    expect(Date.parse(terminal.createdAt as string)).toBeLessThanOrEqual(Date.parse(terminal.startedAt as string));
    expect(Date.parse(terminal.startedAt as string)).toBeLessThanOrEqual(Date.parse(terminal.completedAt as string));
    expect(Date.parse(terminal.completedAt as string)).toBe(NOW.getTime());
    expect(terminal.metrics?.predict_time).toEqual(expect.any(Number));
    expect(
      predictions.slice(0, -1).every((p) => p.completedAt === undefined && p.metrics && Object.keys(p.metrics).length === 0),
    ).toBe(true);
  });

  test('image: two real PNGs, served at the URLs of the terminal output', () => {
    const scenario = buildScenario('image', { fileBaseUrl: `${FILE_BASE}/`, random: seededRandom(1), now: NOW });
    const terminal = parse(scenario.deliveries.at(-1) as Delivery);
    expect(terminal.status).toBe('succeeded');
    expect(terminal.output).toEqual(scenario.files.map((file) => `${FILE_BASE}${file.path}`));
    expect(scenario.files.map((file) => file.path)).toEqual([
      `/${scenario.predictionId}/out-0.png`,
      `/${scenario.predictionId}/out-1.png`,
    ]);
    for (const file of scenario.files) {
      expect(file.contentType).toBe('image/png');
      expect(file.bytes.length).toBeGreaterThan(1024);
      expect(file.bytes.length).toBeLessThan(20_000);
      expect(pngPixels(file.bytes)).toEqual({ width: 48, height: 48, bytes: 48 * (48 * 3 + 1) });
    }
    expect(scenario.deliveries.map((d) => d.event)).toEqual(expect.arrayContaining(['logs', 'output']));
    const logsWebhooks = scenario.deliveries.filter((d) => d.event === 'logs').length;
    expect(logsWebhooks).toBeGreaterThanOrEqual(2);
    expect(logsWebhooks).toBeLessThanOrEqual(3);
    expect(terminal.logs).toContain('100%|##########| 4/4');
  });

  test('--training: a fine-tune’s webhooks, told apart as a training, its weights served when it succeeds', () => {
    const succeeded = buildScenario('image', { fileBaseUrl: FILE_BASE, random: seededRandom(3), now: NOW, training: true });
    const bodies = succeeded.deliveries.map(parse);
    expect(bodies.every((body) => body.kind === CompletionKind.TRAINING)).toBe(true);
    const terminal = bodies.at(-1)!;
    expect(terminal.status).toBe('succeeded');
    expect(terminal.output).toEqual({
      version: expect.stringMatching(/^alice\/flux-lora-[a-z0-9]{6}:[0-9a-f]{64}$/),
      weights: `${FILE_BASE}/${succeeded.predictionId}/trained_model.tar`,
    });
    expect(JSON.parse(succeeded.deliveries.at(-1)!.body)).toMatchObject({
      urls: { get: `https://api.replicate.com/v1/trainings/${succeeded.predictionId}` },
      destination: expect.stringMatching(/^alice\/flux-lora-/),
    });
    expect(succeeded.files).toEqual([expect.objectContaining({ path: `/${succeeded.predictionId}/trained_model.tar` })]);
    expect(scenarioServesFiles('llm', true)).toBe(true);
    for (const [name, status] of [
      ['failed', 'failed'],
      ['canceled', 'canceled'],
    ] as const) {
      const scenario = buildScenario(name, { fileBaseUrl: FILE_BASE, random: seededRandom(4), now: NOW, training: true });
      const last = parse(scenario.deliveries.at(-1)!);
      expect(last).toMatchObject({ kind: CompletionKind.TRAINING, status, output: null });
      expect(scenario.files).toEqual([]);
      expect(scenarioServesFiles(name, true)).toBe(false);
    }
    // Without it, the same scenario is a prediction.
    expect(parse(buildScenario('image', { fileBaseUrl: FILE_BASE, now: NOW }).deliveries[0]).kind).toBe(
      CompletionKind.PREDICTION,
    );
  });

  test('llm: a growing token list, no files', () => {
    const scenario = buildScenario('llm', { fileBaseUrl: FILE_BASE, random: seededRandom(2), now: NOW });
    const outputs = scenario.deliveries.filter((d) => d.event === 'output').map((d) => parse(d).output as string[]);
    expect(outputs.length).toBeGreaterThanOrEqual(3);
    outputs.forEach((tokens, i) => {
      expect(tokens[0]).toBe('');
      if (i > 0) expect(tokens.length).toBeGreaterThan(outputs[i - 1].length);
    });
    const terminal = parse(scenario.deliveries.at(-1) as Delivery);
    expect(terminal.status).toBe('succeeded');
    expect(terminal.output).toEqual(outputs.at(-1));
    expect(terminal.metrics?.output_token_count).toBe(outputs.at(-1)?.length);
    expect(scenario.files).toEqual([]);
  });

  test('failed: an error, a traceback in the logs, no output; canceled: no output', () => {
    const failed = parse(
      buildScenario('failed', { fileBaseUrl: FILE_BASE, random: seededRandom(3) }).deliveries.at(-1) as Delivery,
    );
    expect(failed).toMatchObject({ status: 'failed', output: null, error: expect.stringContaining('CUDA out of memory') });
    expect(failed.logs).toContain('Traceback (most recent call last):');
    const canceled = parse(
      buildScenario('canceled', { fileBaseUrl: FILE_BASE, random: seededRandom(4) }).deliveries.at(-1) as Delivery,
    );
    expect(canceled).toMatchObject({ status: 'canceled', output: null, error: null });
  });

  test('deterministic for a seed, different across seeds; predictionId can be chosen', () => {
    const build = (seed: number) => buildScenario('image', { fileBaseUrl: FILE_BASE, random: seededRandom(seed), now: NOW });
    expect(build(5)).toEqual(build(5));
    expect(build(6).predictionId).not.toBe(build(5).predictionId);
    expect(build(6).files[0].bytes.equals(build(5).files[0].bytes)).toBe(false);
    const chosen = buildScenario('llm', { fileBaseUrl: FILE_BASE, predictionId: 'abcdefghijklmnopqrstuvwxyz' });
    expect(chosen.deliveries.every((d) => parse(d).id === 'abcdefghijklmnopqrstuvwxyz')).toBe(true);
  });
});

/** The decoded size of a PNG's pixel data, which fails unless chunks and deflate stream are sound. */
function pngPixels(bytes: Buffer): { width: number; height: number; bytes: number } {
  expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  const idat: Buffer[] = [];
  let [width, height] = [0, 0];
  for (let offset = 8; offset < bytes.length;) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') [width, height] = [data.readUInt32BE(0), data.readUInt32BE(4)];
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  return { width, height, bytes: inflateSync(Buffer.concat(idat)).length };
}

describe('planDeliveries', () => {
  const deliveries = buildScenario('image', { fileBaseUrl: FILE_BASE, random: seededRandom(11), now: NOW }).deliveries;

  test('with nothing to add, returns the input', () => {
    expect(planDeliveries(deliveries)).toEqual(deliveries);
    expect(planDeliveries(deliveries, { duplicateRate: 0, reorderRate: 0, afterTerminal: 0, random: seededRandom(1) })).toEqual(
      deliveries,
    );
  });

  test('duplicates keep the webhook-id and body', () => {
    const always = planDeliveries(deliveries, { duplicateRate: 1 });
    expect(always).toEqual(deliveries.flatMap((d) => [d, d]));

    const planned = planDeliveries(deliveries, { duplicateRate: 0.5, random: seededRandom(7) });
    expect(planned.length).toBeGreaterThan(deliveries.length);
    expect(planned.length).toBeLessThan(deliveries.length * 2);
    expect(new Set(planned)).toEqual(new Set(deliveries));
    for (const delivery of planned) {
      expect(deliveries.find((d) => d.webhookId === delivery.webhookId)).toEqual(delivery);
    }
  });

  test('reordering swaps neighbours', () => {
    const swapped = planDeliveries(deliveries, { reorderRate: 1 });
    expect(swapped.map((d) => deliveries.indexOf(d))).toEqual(
      deliveries.map((_, i) => ((i ^ 1) < deliveries.length ? i ^ 1 : i)),
    );

    const planned = planDeliveries(deliveries, { reorderRate: 0.5, random: seededRandom(3) });
    expect(planned).not.toEqual(deliveries);
    expect([...planned].sort((a, b) => deliveries.indexOf(a) - deliveries.indexOf(b))).toEqual(deliveries);
    planned.forEach((delivery, position) => expect(Math.abs(deliveries.indexOf(delivery) - position)).toBeLessThanOrEqual(1));
  });

  test('appends stale processing webhooks with new ids after the terminal one', () => {
    const planned = planDeliveries(deliveries, { afterTerminal: 2, random: seededRandom(9) });
    expect(planned.slice(0, deliveries.length)).toEqual(deliveries);
    const stale = planned.slice(deliveries.length);
    expect(stale).toHaveLength(2);
    const knownIds = new Set(deliveries.map((d) => d.webhookId));
    for (const delivery of stale) {
      expect(delivery.webhookId).toMatch(/^msg_[A-Za-z0-9]{27}$/);
      expect(knownIds.has(delivery.webhookId)).toBe(false);
      expect(delivery.status).toBe('processing');
      expect(parse(delivery).status).toBe('processing');
    }
    // Without an earlier processing snapshot, the terminal one is rolled back.
    const onlyTerminal = planDeliveries(deliveries.slice(-1), { afterTerminal: 1, random: seededRandom(9) });
    expect(parse(onlyTerminal[1])).toMatchObject({ status: 'processing', completedAt: undefined });
  });

  test('refuses rates outside 0..1', () => {
    expect(() => planDeliveries(deliveries, { duplicateRate: 1.5 })).toThrow(RangeError);
    expect(() => planDeliveries(deliveries, { reorderRate: -0.1 })).toThrow(RangeError);
    expect(() => planDeliveries(deliveries, { afterTerminal: 1.5 })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// A receiver that checks signatures like the verifier and, like the archiver, downloads the
// outputs of an accepted terminal webhook.

interface Received {
  readonly webhookId: string;
  readonly status: number;
}

interface Receiver {
  readonly url: string;
  readonly received: Received[];
  stop(): Promise<void>;
}

/** A receiver that checks webhooks as the verifier does and, like the archiver, fetches the outputs of terminal ones (the first `fetchOutputs` of each). */
async function startReceiver(secret: string, options: { fetchOutputs?: number } = {}): Promise<Receiver> {
  const keys = [decodeSigningKey(secret)];
  const seen = new Set<string>();
  const received: Received[] = [];
  const downloads: Promise<unknown>[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const header = (name: string) => request.headers[name] as string | undefined;
      const verified = verifyWebhook(
        { webhookId: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature'), body },
        keys,
        Math.floor(Date.now() / 1000),
        300,
      );
      const reply = (status: number, answer: Record<string, unknown>) => {
        received.push({ webhookId: header('webhook-id') ?? '', status });
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      };
      if (!verified.ok) return reply(401, { error: verified.reason });
      if (verified.webhookId.startsWith('msg_fail')) return reply(500, { error: 'internal_error' });
      if (header('content-type') !== 'application/json') return reply(415, { error: 'unsupported_media_type' });
      const parsed = parsePrediction(body);
      if (!parsed.ok) return reply(400, { error: parsed.reason });
      if (seen.has(verified.webhookId)) return reply(200, { outcome: 'duplicate' });
      seen.add(verified.webhookId);
      const { output, status } = parsed.prediction;
      if (isTerminalStatus(status) && Array.isArray(output)) {
        const urls = output.filter((item): item is string => typeof item === 'string' && /^https?:\/\//.test(item));
        const fetched = urls.slice(0, options.fetchOutputs ?? urls.length);
        downloads.push(...fetched.map((url) => fetch(url).then((answer) => answer.arrayBuffer())));
      }
      return reply(200, { outcome: 'accepted' });
    });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    received,
    async stop() {
      await Promise.allSettled(downloads);
      await close(server);
    },
  };
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe('sendDelivery', () => {
  const secret = newSecret();
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver(secret);
  });
  afterAll(() => receiver.stop());
  const delivery = buildScenario('llm', { fileBaseUrl: FILE_BASE, random: seededRandom(21) }).deliveries[0];

  test('signs so that the Standard Webhooks check accepts it', async () => {
    const result = await sendDelivery(receiver.url, secret, delivery);
    expect(result).toMatchObject({ delivery, status: 200, body: JSON.stringify({ outcome: 'accepted' }) });
    expect(result.ms).toBeGreaterThanOrEqual(0);
    expect((await sendDelivery(receiver.url, secret, delivery)).body).toContain('duplicate');
  });

  test('a wrong secret or an old timestamp is refused, and reported, not thrown', async () => {
    const wrong = await sendDelivery(receiver.url, newSecret(), delivery);
    expect(wrong).toMatchObject({ status: 401, body: JSON.stringify({ error: 'bad_signature' }) });
    const stale = await sendDelivery(receiver.url, secret, delivery, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale).toMatchObject({ status: 401, body: JSON.stringify({ error: 'timestamp_out_of_tolerance' }) });
  });

  test('a network failure throws with the URL and the reason', async () => {
    const server = createServer();
    const port = await listen(server);
    await close(server);
    await expect(sendDelivery(`http://127.0.0.1:${port}/webhook`, secret, delivery)).rejects.toThrow(
      new RegExp(`POST http://127.0.0.1:${port}/webhook failed: .*ECONNREFUSED`),
    );
  });
});

describe('output server', () => {
  test('serves the bytes exactly and knows when everything was fetched', async () => {
    const server = await startOutputServer({ port: 0 });
    try {
      expect(server.origin).toBe(`http://127.0.0.1:${server.port}`);
      expect(await server.waitUntilFetched(10)).toBe(true);
      const { files } = buildScenario('image', { fileBaseUrl: server.origin, random: seededRandom(31) });
      server.add(files);

      const missing = await fetch(`${server.origin}/nope.png`);
      expect(missing.status).toBe(404);
      await missing.arrayBuffer();
      expect(await server.waitUntilFetched(30)).toBe(false);

      const waiting = server.waitUntilFetched(5000);
      for (const file of files) {
        const answer = await fetch(`${server.origin}${file.path}`);
        expect(answer.status).toBe(200);
        expect(answer.headers.get('content-type')).toBe('image/png');
        expect(answer.headers.get('content-length')).toBe(String(file.bytes.length));
        expect(Buffer.from(await answer.arrayBuffer()).equals(file.bytes)).toBe(true);
      }
      expect(await waiting).toBe(true);
      expect(server.requests).toBe(3);
    } finally {
      await server.stop();
    }
  });

  test('a busy port is a clear error', async () => {
    const first = await startOutputServer({ port: 0 });
    try {
      await expect(startOutputServer({ port: first.port })).rejects.toThrow(
        `cannot serve output files on 127.0.0.1:${first.port}: EADDRINUSE`,
      );
    } finally {
      await first.stop();
    }
  });
});

describe('cli', () => {
  const secret = newSecret();
  let receiver: Receiver;
  let tempDir: string;
  beforeAll(async () => {
    receiver = await startReceiver(secret);
    tempDir = mkdtempSync(join(tmpdir(), 'sender-test-'));
  });
  afterAll(async () => {
    await receiver.stop();
    rmSync(tempDir, { recursive: true, force: true });
  });
  beforeEach(() => receiver.received.splice(0));

  const run = async (argv: string[]) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(argv, { stdout: (line) => stdout.push(line), stderr: (line) => stderr.push(line) });
    return { code, stdout, stderr };
  };

  test('sends an image scenario with duplicates, serves its files until fetched, exits 0', async () => {
    const args = ['--url', receiver.url, '--secret', secret, '--scenario', 'image', '--files-port', '0'];
    const { code, stdout, stderr } = await run(['send', ...args, '--duplicates', '0.5', '--seed', '7', '--linger', '5']);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);

    const responses = stdout.filter((line) => line.startsWith('→ '));
    expect(responses).toHaveLength(receiver.received.length);
    expect(responses.every((line) => /^→ 200 (accepted|duplicate) +\w+ +\w+ +msg_\w{27} \(\d+ ms\)$/.test(line))).toBe(true);
    const ids = receiver.received.map((r) => r.webhookId);
    expect(new Set(ids).size).toBeLessThan(ids.length);
    expect(responses.filter((line) => line.includes(' duplicate ')).length).toBe(ids.length - new Set(ids).size);

    expect(stdout).toContainEqual(expect.stringMatching(/^ {2}[a-z0-9]{26}: \d+ answered — accepted \d+, duplicate \d+$/));
    expect(stdout.at(-1)).toMatch(/^All 2 output files were fetched/);
  });

  describe('the allow-list hint', () => {
    const image = ['--secret', secret, '--scenario', 'image', '--files-port', '0'];

    test('is not printed when the receiver fetched every output file', async () => {
      const { code, stdout } = await run(['send', '--url', receiver.url, ...image, '--linger', '5']);
      expect(code).toBe(0);
      expect(stdout.at(-1)).toMatch(/^All 2 output files were fetched/);
      expect(stdout.join('\n')).not.toMatch(/hint|ALLOWED_OUTPUT_HOSTS/);
    });

    test('says how to restart local mode when nothing fetched the files within the wait', async () => {
      const refusing = await startReceiver(secret, { fetchOutputs: 0 });
      try {
        const { code, stdout } = await run(['send', '--url', refusing.url, ...image, '--linger', '0.3']);
        expect(code).toBe(0);
        const served = /^Serving output files on http:\/\/(127\.0\.0\.1:\d+)$/.exec(stdout[0])?.[1];
        expect(stdout.slice(-2)).toEqual([
          'Stopped serving after 0.3 s: 0 of 2 output files were fetched (0 requests).',
          `hint: local mode fetches output files only from hosts it allows: restart it as ALLOWED_OUTPUT_HOSTS=${served} npm start, then send again.`,
        ]);
        expect(stdout.filter((line) => line.includes('ALLOWED_OUTPUT_HOSTS'))).toHaveLength(1);
      } finally {
        await refusing.stop();
      }
    });

    test('points to the receiver when it fetched some files but not all', async () => {
      const partial = await startReceiver(secret, { fetchOutputs: 1 });
      try {
        const { stdout } = await run(['send', '--url', partial.url, ...image, '--linger', '0.5']);
        expect(stdout.at(-2)).toBe('Stopped serving after 0.5 s: 1 of 2 output files were fetched (1 request).');
        expect(stdout.at(-1)).toMatch(/^hint: the archiver fetched some files but not all: .* --linger SECONDS\.$/);
      } finally {
        await partial.stop();
      }
    });
  });

  test('a seed makes the run reproducible; --count runs several predictions', async () => {
    const args = ['send', '--url', receiver.url, '--secret', secret, '--scenario', 'llm', '--seed', '3', '--reorder', '0.3'];
    const first = await run(args);
    const second = await run(args);
    expect(first.code).toBe(0);
    const idsOf = (lines: string[]) => lines.filter((line) => line.startsWith('→ ')).map((line) => line.match(/msg_\w+/)?.[0]);
    expect(idsOf(second.stdout)).toEqual(idsOf(first.stdout));
    expect(second.stdout.filter((line) => line.startsWith('→ ')).every((line) => line.includes(' duplicate '))).toBe(true);

    const several = await run(['send', '--url', receiver.url, '--secret', secret, '--scenario', 'failed', '--count', '3']);
    expect(several.code).toBe(0);
    expect(several.stdout.filter((line) => line.startsWith('prediction '))).toHaveLength(3);
  });

  test('--file sends one payload; a stale --timestamp is refused, and nothing accepted is a failure; so is a 5xx', async () => {
    const file = join(tempDir, 'payload.json');
    writeFileSync(file, buildScenario('canceled', { fileBaseUrl: FILE_BASE }).deliveries.at(-1)?.body ?? '');
    const accepted = await run(['send', '--url', receiver.url, '--secret', secret, '--file', file, '--webhook-id', 'msg_one']);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout[0]).toMatch(/^→ 200 accepted +completed +canceled +msg_one \(\d+ ms\)$/);

    const stale = await run(['send', '--url', receiver.url, '--secret', secret, '--file', file, '--timestamp', '1000000000']);
    expect(stale.code).toBe(1);
    expect(stale.stdout[0]).toMatch(/^→ 401 timestamp_out_of_tolerance completed/);
    expect(stale.stderr).toEqual(['✗ no webhook was accepted: 1 of 1 refused']);

    const failing = await run(['send', '--url', receiver.url, '--secret', secret, '--file', file, '--webhook-id', 'msg_fail1']);
    expect(failing.code).toBe(1);
    expect(failing.stdout[0]).toMatch(/^→ 500 internal_error/);
  });

  test('a wrong secret exits 1 once nothing was accepted, with a hint about the secret', async () => {
    const { code, stdout, stderr } = await run(['send', '--url', receiver.url, '--secret', newSecret(), '--scenario', 'llm']);
    expect(stdout.filter((line) => line.startsWith('→ ')).every((line) => line.startsWith('→ 401 bad_signature'))).toBe(true);
    expect(code).toBe(1);
    expect(stderr[0]).toMatch(/^✗ no webhook was accepted: (\d+) of \1 refused$/);
    expect(stderr[1]).toMatch(/hint: 401 bad_signature means the receiver's signing secret is not the one passed/);
  });

  test('a port fetch refuses to use is named, with why', async () => {
    const { code, stderr } = await run(['send', '--url', 'http://127.0.0.1:1/webhook', '--secret', secret, '--scenario', 'llm']);
    expect(code).toBe(1);
    expect(stderr).toEqual([
      expect.stringMatching(/failed: port 1 is one fetch never connects to \(the Fetch standard's blocked "bad ports"/),
    ]);
  });

  test('an unreachable receiver exits 1', async () => {
    const server = createServer();
    const port = await listen(server);
    await close(server);
    const { code, stderr } = await run([
      'send',
      '--url',
      `http://127.0.0.1:${port}/webhook`,
      '--secret',
      secret,
      '--scenario',
      'llm',
    ]);
    expect(code).toBe(1);
    expect(stderr[0]).toMatch(/ECONNREFUSED/);
  });

  test.each([
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['neither --scenario nor --file', ['send', '--secret', secret]],
    ['an unknown scenario', ['send', '--secret', secret, '--scenario', 'video']],
    ['both --scenario and --file', ['send', '--secret', secret, '--scenario', 'llm', '--file', 'x.json']],
    ['a rate above 1', ['send', '--secret', secret, '--scenario', 'llm', '--duplicates', '2']],
    ['--count 0', ['send', '--secret', secret, '--scenario', 'llm', '--count', '0']],
    ['a malformed secret', ['send', '--secret', 'not-a-secret', '--scenario', 'llm']],
    ['an unknown option', ['send', '--secret', secret, '--scenario', 'llm', '--bogus']],
    ['a missing payload file', ['send', '--secret', secret, '--file', join(tmpdir(), 'does-not-exist.json')]],
    ['--no-webhooks without --replicate-api', ['send', '--secret', secret, '--scenario', 'llm', '--no-webhooks']],
    [
      '--replicate-api without a token',
      ['send', '--secret', secret, '--scenario', 'llm', '--replicate-api', 'http://127.0.0.1:1'],
    ],
    ['--drop-terminal above 1', ['send', '--secret', secret, '--scenario', 'llm', '--drop-terminal', '1.5']],
    ['--drop-terminal with --file', ['send', '--secret', secret, '--file', 'x.json', '--drop-terminal', '0.5']],
    ['--training with --file', ['send', '--secret', secret, '--file', 'x.json', '--training']],
  ])('%s exits 2 without sending', async (_label, argv) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr[0]).toMatch(/^error: /);
    expect(receiver.received).toEqual([]);
  });

  describe('with the Replicate API stand-in', () => {
    const token = 'r8_standin_sender_test';
    let api: ReplicateApiStandIn;
    beforeAll(async () => {
      api = await startReplicateApi({ token });
    });
    afterAll(() => api.stop());
    const get = async (id: string) => {
      const response = await fetch(`${api.endpoint}/v1/predictions/${id}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const withApi = ['--replicate-api', '', '--replicate-token', token];
    const apiArgs = () => withApi.map((arg) => (arg === '' ? api.endpoint : arg));
    const predictionIds = (stdout: string[]) =>
      stdout.flatMap(
        (line) => /^ {2}([a-z0-9]{26}): registered with the Replicate API stand-in as (\w+)$/.exec(line)?.slice(1, 2) ?? [],
      );

    test('the stand-in learns a prediction over HTTP, with its own token, faults or not', async () => {
      const put = (id: string, body: unknown, auth = token) =>
        fetch(`${api.endpoint}/_standin/predictions/${id}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const created_at = '2026-11-20T10:00:00.000000Z';
      api.faults.throttle({ requests: 1 });
      expect((await put('abc', { status: 'succeeded', output: ['x'], created_at })).status).toBe(200);
      // The throttle was for Replicate's routes: it is still pending.
      expect((await get('abc')).status).toBe(429);
      expect(await get('abc')).toMatchObject({
        status: 200,
        body: { id: 'abc', status: 'succeeded', output: ['x'], created_at },
      });
      expect((await put('abc', {}, 'r8_wrong')).status).toBe(401);
      expect((await put('abc', { id: 'other' })).status).toBe(400);
      expect((await put('abc', [1])).status).toBe(400);
      expect((await put('abc', { created_at: 'yesterday' })).status).toBe(400);
    });

    test('every prediction is registered finished, with its webhook URL and times', async () => {
      const { code, stdout, stderr } = await run([
        'send',
        '--url',
        receiver.url,
        '--secret',
        secret,
        '--scenario',
        'failed',
        '--count',
        '2',
        ...apiArgs(),
      ]);
      expect(stderr).toEqual([]);
      expect(code).toBe(0);
      const ids = predictionIds(stdout);
      expect(ids).toHaveLength(2);
      for (const id of ids) {
        const { status, body } = await get(id);
        expect(status).toBe(200);
        expect(body).toMatchObject({ id, status: 'failed', webhook: receiver.url, output: null });
        expect(body.error).toEqual(expect.any(String));
        expect(Date.parse(body.completed_at as string)).toBeGreaterThanOrEqual(Date.parse(body.created_at as string));
      }
      // Its terminal webhook was sent too.
      expect(receiver.received.filter((received) => received.status === 200).length).toBeGreaterThanOrEqual(6);
    });

    test('--training registers a training: served at /v1/trainings/{id}, not as a prediction', async () => {
      const { code, stdout } = await run([
        'send',
        '--url',
        receiver.url,
        '--secret',
        secret,
        '--scenario',
        'failed',
        '--training',
        ...apiArgs(),
      ]);
      expect(code).toBe(0);
      expect(stdout).toContainEqual(expect.stringMatching(/^training [a-z0-9]{26} \(failed\): \d+ webhooks to /));
      const [id] = predictionIds(stdout);
      const training = await fetch(`${api.endpoint}/v1/trainings/${id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(training.status).toBe(200);
      expect(await training.json()).toMatchObject({ id, status: 'failed' });
      expect((await get(id)).status).toBe(404);
    });

    test('--drop-terminal leaves out the terminal webhooks of that fraction, seeded, and says so', async () => {
      const args = ['send', '--url', receiver.url, '--secret', secret, '--scenario', 'llm', '--count', '10', '--seed', '5'];
      const first = await run([...args, '--drop-terminal', '0.5', '--duplicates', '0.5', ...apiArgs()]);
      expect(first.code).toBe(0);
      const dropped = first.stdout.flatMap(
        (line) => /^✂ ([a-z0-9]{26}) \(llm, succeeded\): terminal webhook dropped$/.exec(line)?.[1] ?? [],
      );
      expect(dropped.length).toBeGreaterThan(0);
      expect(dropped.length).toBeLessThan(10);
      const ids = predictionIds(first.stdout);
      expect(ids).toHaveLength(10);
      // No terminal status in any answer line of a dropped prediction's webhooks; every other one has one.
      const terminalLines = first.stdout.filter((line) => /^→ 200 \w+ +completed +succeeded/.test(line));
      expect(new Set(terminalLines.map((line) => line.match(/msg_\w+/)![0])).size).toBe(10 - dropped.length);
      for (const id of ids) expect((await get(id)).body.status).toBe('succeeded');

      const again = await run([...args, '--drop-terminal', '0.5', '--duplicates', '0.5', ...apiArgs()]);
      expect(again.stdout.filter((line) => line.startsWith('✂ '))).toEqual(first.stdout.filter((line) => line.startsWith('✂ ')));

      const all = await run([...args, '--seed', '6', '--drop-terminal', '1']);
      expect(all.code).toBe(0);
      expect(all.stdout.filter((line) => line.startsWith('✂ '))).toHaveLength(10);
      expect(all.stdout.filter((line) => / completed +succeeded /.test(line))).toEqual([]);
    });

    test('--no-webhooks sends nothing and only registers', async () => {
      const { code, stdout } = await run([
        'send',
        '--url',
        receiver.url,
        '--secret',
        secret,
        '--scenario',
        'canceled',
        '--count',
        '3',
        '--no-webhooks',
        ...apiArgs(),
      ]);
      expect(code).toBe(0);
      expect(receiver.received).toEqual([]);
      expect(
        stdout.filter((line) => /^✂ [a-z0-9]{26} \(canceled, canceled\): no webhooks sent, only registered$/.test(line)),
      ).toHaveLength(3);
      for (const id of predictionIds(stdout))
        expect((await get(id)).body).toMatchObject({ status: 'canceled', webhook: receiver.url });
    });

    test('the stand-in is also found through REPLICATE_API_STANDIN_URL and REPLICATE_API_TOKEN', async () => {
      const saved = { url: process.env.REPLICATE_API_STANDIN_URL, token: process.env.REPLICATE_API_TOKEN };
      Object.assign(process.env, { REPLICATE_API_STANDIN_URL: api.endpoint, REPLICATE_API_TOKEN: token });
      try {
        const { code, stdout } = await run([
          'send',
          '--url',
          receiver.url,
          '--secret',
          secret,
          '--scenario',
          'failed',
          '--no-webhooks',
        ]);
        expect(code).toBe(0);
        expect(predictionIds(stdout)).toHaveLength(1);
      } finally {
        for (const [name, value] of [
          ['REPLICATE_API_STANDIN_URL', saved.url],
          ['REPLICATE_API_TOKEN', saved.token],
        ] as const) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
      }
    });

    test('a refused registration is an error, exit 1', async () => {
      const { code, stderr } = await run([
        'send',
        '--url',
        receiver.url,
        '--secret',
        secret,
        '--scenario',
        'failed',
        '--replicate-api',
        api.endpoint,
        '--replicate-token',
        'r8_wrong',
      ]);
      expect(code).toBe(1);
      expect(stderr[0]).toMatch(/^✗ the Replicate API stand-in answered 401/);
    });
  });

  test.each([[['help']], [['--help']], [['send', '--help']], [['send', '-h']], [['send', '--scenario', 'llm', '-h']]])(
    '%j prints the usage and exits 0, sending nothing',
    async (argv) => {
      const { code, stdout } = await run(argv);
      expect(code).toBe(0);
      expect(stdout[0]).toContain('replicate-webhooks send [--url URL]');
      expect(receiver.received).toEqual([]);
    },
  );
});
