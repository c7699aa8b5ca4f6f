/**
 * Replicate-shaped prediction lifecycles for the webhook sender: every webhook carries the whole
 * prediction object as Replicate sends it, and `planDeliveries` adds the duplicates, reordering
 * and late webhooks a receiver has to survive. Pure: no I/O; all randomness comes from `random`.
 */
import { deflateSync } from 'node:zlib';
import { isTerminalStatus, type PredictionStatus, type TerminalStatus } from '../lambda/shared/prediction';

export type ScenarioName = 'image' | 'llm' | 'failed' | 'canceled';
export const SCENARIOS: readonly ScenarioName[] = ['image', 'llm', 'failed', 'canceled'];

export type WebhookEvent = 'start' | 'output' | 'logs' | 'completed';

export interface Delivery {
  readonly webhookId: string;
  readonly event: WebhookEvent;
  readonly status: string;
  /** JSON of the whole prediction. */
  readonly body: string;
}

export interface ServedFile {
  /** URL path, e.g. `/<predictionId>/out-0.png`. */
  readonly path: string;
  readonly bytes: Buffer;
  readonly contentType: string;
}

export interface Scenario {
  readonly name: ScenarioName;
  readonly predictionId: string;
  readonly deliveries: readonly Delivery[];
  readonly files: readonly ServedFile[];
}

export interface ScenarioOptions {
  predictionId?: string;
  /** Where the sender serves `files`, e.g. `http://127.0.0.1:8788`. */
  fileBaseUrl: string;
  /** Seeded for reproducible runs; default Math.random. */
  random?: () => number;
  /** When the prediction completes; earlier timestamps count back from it. Default: now. */
  now?: Date;
  /** The `webhook` field of the prediction. Default: local mode's endpoint. */
  webhookUrl?: string;
  /**
   * A training instead (a fine-tune's webhooks: `urls` under /v1/trainings/, a `destination`),
   * ending as the scenario does: `image` and `llm` succeed with a new version and a weights file
   * served by the sender, `failed` fails, `canceled` is canceled.
   */
  training?: boolean;
}

export const DEFAULT_WEBHOOK_URL = 'http://localhost:3000/webhook';

/** Whether a scenario's terminal output points at files the sender must serve (a training's weights too). */
export const scenarioServesFiles = (name: ScenarioName, training = false): boolean =>
  name === 'image' || (training && trainingEnding(name) === 'succeeded');

/** How a training scenario ends. */
const trainingEnding = (name: ScenarioName): TerminalStatus =>
  name === 'failed' ? 'failed' : name === 'canceled' ? 'canceled' : 'succeeded';

const LOWER_ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

function randomString(random: () => number, alphabet: string, length: number): string {
  let text = '';
  // min() guards a `random` that returns exactly 1.
  for (let i = 0; i < length; i++) text += alphabet[Math.min(alphabet.length - 1, Math.floor(random() * alphabet.length))];
  return text;
}

const between = (random: () => number, low: number, high: number): number => low + random() * (high - low);
const integerBetween = (random: () => number, low: number, high: number): number => Math.floor(between(random, low, high + 1));
const pick = <T>(random: () => number, items: readonly T[]): T =>
  items[Math.min(items.length - 1, Math.floor(random() * items.length))];

/** Replicate style: 26 lowercase alphanumerics. */
export const generatePredictionId = (random: () => number = Math.random): string => randomString(random, LOWER_ALPHANUMERIC, 26);

/** Svix style, as Replicate's `webhook-id`: `msg_` and 27 alphanumerics. */
export const generateWebhookId = (random: () => number = Math.random): string => `msg_${randomString(random, ALPHANUMERIC, 27)}`;

/** mulberry32: tiny, fast, and good enough to make runs reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// A lifecycle is a list of steps on a timeline; bodies are written once the end time is known,
// so that the prediction completes at `now` and every earlier timestamp counts back from it.

interface Step {
  readonly event: WebhookEvent;
  readonly status: PredictionStatus;
  /** Milliseconds since the previous step. */
  readonly gapMs: number;
  readonly logs: string;
  readonly output: unknown;
  readonly error?: string;
}

interface Lifecycle {
  readonly model: string;
  readonly version: string;
  readonly input: Record<string, unknown>;
  readonly steps: readonly Step[];
  readonly files: readonly ServedFile[];
  /** Model-specific metrics added to the timings on the terminal webhook. */
  readonly extraMetrics?: (predictSeconds: number) => Record<string, number>;
  /** A training's: the model its new version goes to. */
  readonly destination?: string;
}

interface LifecycleContext {
  readonly predictionId: string;
  readonly fileBaseUrl: string;
  readonly random: () => number;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z'); // Replicate prints microseconds
const seconds = (ms: number): number => Math.round(ms) / 1000;

export function buildScenario(name: ScenarioName, options: ScenarioOptions): Scenario {
  const random = options.random ?? Math.random;
  const predictionId = options.predictionId ?? generatePredictionId(random);
  const context: LifecycleContext = { predictionId, fileBaseUrl: options.fileBaseUrl.replace(/\/+$/, ''), random };
  const lifecycle = options.training ? trainingLifecycle(context, trainingEnding(name)) : LIFECYCLES[name](context);
  const collection = options.training ? 'trainings' : 'predictions';

  const offsets: number[] = [];
  let elapsed = 0;
  for (const step of lifecycle.steps) offsets.push((elapsed += step.gapMs));
  const createdMs = (options.now ?? new Date()).getTime() - elapsed;
  const startedIndex = lifecycle.steps.findIndex((step) => step.status !== 'starting');
  const startedMs = createdMs + offsets[startedIndex];

  const deliveries = lifecycle.steps.map((step, index): Delivery => {
    const atMs = createdMs + offsets[index];
    const terminal = isTerminalStatus(step.status);
    const metrics = terminal
      ? {
          predict_time: seconds(atMs - startedMs),
          total_time: seconds(atMs - createdMs),
          ...lifecycle.extraMetrics?.(seconds(atMs - startedMs)),
        }
      : {};
    // Field order as Replicate serializes it, so payloads read like the real thing.
    const prediction = {
      id: predictionId,
      model: lifecycle.model,
      version: lifecycle.version,
      input: lifecycle.input,
      logs: step.logs,
      output: step.output,
      data_removed: false,
      error: step.error ?? null,
      source: 'api',
      status: step.status,
      created_at: iso(createdMs),
      started_at: step.status === 'starting' ? null : iso(startedMs),
      completed_at: terminal ? iso(atMs) : null,
      metrics,
      ...(lifecycle.destination ? { destination: lifecycle.destination } : {}),
      urls: {
        cancel: `https://api.replicate.com/v1/${collection}/${predictionId}/cancel`,
        get: `https://api.replicate.com/v1/${collection}/${predictionId}`,
        web: `https://replicate.com/${options.training ? 't' : 'p'}/${predictionId}`,
      },
      webhook: options.webhookUrl ?? DEFAULT_WEBHOOK_URL,
      webhook_events_filter: ['start', 'output', 'logs', 'completed'],
    };
    return { webhookId: generateWebhookId(random), event: step.event, status: step.status, body: JSON.stringify(prediction) };
  });
  return { name, predictionId, deliveries, files: lifecycle.files };
}

const LIFECYCLES: Readonly<Record<ScenarioName, (context: LifecycleContext) => Lifecycle>> = {
  image: imageLifecycle,
  llm: llmLifecycle,
  failed: failedLifecycle,
  canceled: canceledLifecycle,
};

const IMAGE_PROMPTS = [
  'A beautiful sunset over mountains',
  'A lighthouse on a cliff in a storm, oil painting',
  'A red fox in fresh snow, morning light',
  'An isometric city block made of paper',
];

const START: Step = { event: 'start', status: 'starting', gapMs: 0, logs: '', output: null };

const randomVersion = (random: () => number): string => randomString(random, HEX, 64);

/** A diffusion model's logs: the seed, then one tqdm line per progress update. */
function progressLog(random: () => number, totalSteps: number): string[] {
  const rate = between(random, 4.5, 5.6);
  const lines = [`Using seed: ${integerBetween(random, 1, 2 ** 31)}`];
  for (let done = 0; done <= totalSteps; done++) lines.push(tqdm(done, totalSteps, rate));
  return lines;
}

function tqdm(done: number, total: number, rate: number): string {
  const clock = (secondsLeft: number): string => {
    const whole = Math.round(secondsLeft);
    return `${String(Math.floor(whole / 60)).padStart(2, '0')}:${String(whole % 60).padStart(2, '0')}`;
  };
  const fraction = done / total;
  const bar = '#'.repeat(Math.floor(fraction * 10)).padEnd(10);
  const timing =
    done === 0 ? '00:00<?, ?it/s' : `${clock(done / rate)}<${clock((total - done) / rate)}, ${rate.toFixed(2).padStart(5)}it/s`;
  return `${String(Math.floor(fraction * 100)).padStart(3)}%|${bar}| ${done}/${total} [${timing}]`;
}

const joinLines = (lines: readonly string[]): string => lines.map((line) => `${line}\n`).join('');

/** `count` strictly increasing cut points in 1..length, the last one being `length`. */
function cuts(length: number, count: number): number[] {
  const n = Math.max(1, Math.min(count, length));
  return Array.from({ length: n }, (_, i) => Math.ceil(((i + 1) * length) / n));
}

function imageLifecycle({ predictionId, fileBaseUrl, random }: LifecycleContext): Lifecycle {
  const totalSteps = 4;
  const lines = progressLog(random, totalSteps);
  const logsWebhooks = integerBetween(random, 2, 3);
  const files = [0, 1].map((index): ServedFile => ({
    path: `/${predictionId}/out-${index}.png`,
    bytes: noisyPng(random, 48, 48),
    contentType: 'image/png',
  }));
  const output = files.map((file) => `${fileBaseUrl}${file.path}`);
  // Log webhooks show partial progress; the output arrives with the finished log, as for a
  // model that returns its list of images at the end.
  const logSteps = cuts(lines.length - 1, logsWebhooks).map((cut, index): Step => ({
    event: 'logs',
    status: 'processing',
    gapMs: index === 0 ? between(random, 300, 1500) : between(random, 150, 500),
    logs: joinLines(lines.slice(0, cut)),
    output: null,
  }));
  const finalLogs = joinLines(lines);
  return {
    model: 'black-forest-labs/flux-schnell',
    version: randomVersion(random),
    input: {
      prompt: pick(random, IMAGE_PROMPTS),
      aspect_ratio: '1:1',
      num_outputs: 2,
      output_format: 'png',
      num_inference_steps: totalSteps,
    },
    steps: [
      START,
      ...logSteps,
      { event: 'output', status: 'processing', gapMs: between(random, 100, 400), logs: finalLogs, output },
      { event: 'completed', status: 'succeeded', gapMs: between(random, 50, 250), logs: finalLogs, output },
    ],
    files,
  };
}

const LLM_EXCHANGES: ReadonlyArray<readonly [string, string]> = [
  ['Say hello', 'Hello! How can I help you today?'],
  ['Write a haiku about webhooks', 'A quiet request,\nsigned and sent across the wire:\nthe answer arrives.'],
  ['What is the capital of France?', 'The capital of France is Paris, which is also its largest city.'],
  ['Explain idempotency in one sentence', 'An operation is idempotent when doing it twice has the same effect as doing it once.'],
];

/** Roughly how a tokenizer splits text: words carry their leading space, punctuation stands alone. */
const tokenize = (text: string): string[] => ['', ...(text.match(/\s*[A-Za-z0-9']+|\s*[^\sA-Za-z0-9']/g) ?? [])];

function llmLifecycle({ random }: LifecycleContext): Lifecycle {
  const [prompt, answer] = pick(random, LLM_EXCHANGES);
  const tokens = tokenize(answer);
  const outputSteps = cuts(tokens.length, integerBetween(random, 3, 5)).map((cut, index): Step => ({
    event: 'output',
    status: 'processing',
    gapMs: index === 0 ? between(random, 200, 900) : between(random, 40, 200),
    logs: '',
    output: tokens.slice(0, cut),
  }));
  const inputTokens = Math.round(prompt.split(' ').length * 1.3) + 10;
  return {
    model: 'meta/meta-llama-3-8b-instruct',
    version: randomVersion(random),
    input: { prompt, max_tokens: 512, temperature: 0.7, top_p: 0.95 },
    steps: [
      START,
      ...outputSteps,
      { event: 'completed', status: 'succeeded', gapMs: between(random, 20, 120), logs: '', output: tokens },
    ],
    files: [],
    extraMetrics: (predictSeconds) => ({
      input_token_count: inputTokens,
      output_token_count: tokens.length,
      tokens_per_second: Math.round((tokens.length / Math.max(predictSeconds, 0.001)) * 100) / 100,
      time_to_first_token: Math.round(between(random, 0.05, 0.3) * 1000) / 1000,
    }),
  };
}

const OOM_TRACEBACK = [
  'Traceback (most recent call last):',
  '  File "/root/.pyenv/versions/3.11.10/lib/python3.11/site-packages/cog/server/worker.py", line 352, in _predict',
  '    result = predict(**payload)',
  '  File "/src/predict.py", line 142, in predict',
  '    images = self.pipe(**kwargs).images',
  '  File "/root/.pyenv/versions/3.11.10/lib/python3.11/site-packages/torch/utils/_contextlib.py", line 116, in decorate_context',
  '    return func(*args, **kwargs)',
  'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB of which 1.20 GiB is free.',
];
const OOM_ERROR =
  'CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB of which 1.20 GiB is free.';

/** An image model that stops early: partial progress in the logs, no output. */
function interruptedImage(
  random: () => number,
  model: string,
  totalSteps: number,
  stopAfter: number,
  ending: { status: TerminalStatus; extraLogs: readonly string[]; error?: string },
): Lifecycle {
  const lines = progressLog(random, totalSteps).slice(0, stopAfter + 2);
  const logSteps = cuts(lines.length, integerBetween(random, 1, 2)).map((cut, index): Step => ({
    event: 'logs',
    status: 'processing',
    gapMs: index === 0 ? between(random, 300, 1500) : between(random, 150, 600),
    logs: joinLines(lines.slice(0, cut)),
    output: null,
  }));
  return {
    model,
    version: randomVersion(random),
    input: { prompt: pick(random, IMAGE_PROMPTS), num_outputs: 1, num_inference_steps: totalSteps },
    steps: [
      START,
      ...logSteps,
      {
        event: 'completed',
        status: ending.status,
        gapMs: between(random, 100, 800),
        logs: joinLines([...lines, ...ending.extraLogs]),
        output: null,
        error: ending.error,
      },
    ],
    files: [],
  };
}

/**
 * A LoRA fine-tune: training steps in the logs, then (when it succeeds) a new version of the
 * destination model and its weights, a tar file the sender serves.
 */
function trainingLifecycle({ predictionId, fileBaseUrl, random }: LifecycleContext, ending: TerminalStatus): Lifecycle {
  const totalSteps = 1000;
  const lines = Array.from({ length: 5 }, (_, index) => {
    const step = ((index + 1) * totalSteps) / 5;
    return `flux_train_replicate: ${step}/${totalSteps} [loss: ${between(random, 0.2, 0.6).toFixed(3)}, lr: 4.0e-04]`;
  });
  const destination = `alice/flux-lora-${randomString(random, LOWER_ALPHANUMERIC, 6)}`;
  const weights: ServedFile = {
    path: `/${predictionId}/trained_model.tar`,
    bytes: Buffer.from(Array.from({ length: 64 * 1024 }, () => Math.floor(random() * 256))),
    contentType: 'application/x-tar',
  };
  const done = ending === 'succeeded' ? lines.length : integerBetween(random, 1, lines.length - 1);
  const steps: Step[] = [START];
  for (let index = 0; index < done; index++) {
    steps.push({
      event: 'logs',
      status: 'processing',
      gapMs: between(random, 400, 1200),
      logs: joinLines(lines.slice(0, index + 1)),
      output: null,
    });
  }
  const logs = joinLines(lines.slice(0, done));
  const output =
    ending === 'succeeded'
      ? { version: `${destination}:${randomVersion(random)}`, weights: `${fileBaseUrl}${weights.path}` }
      : null;
  steps.push({
    event: 'completed',
    status: ending,
    gapMs: between(random, 100, 400),
    logs: ending === 'failed' ? `${logs}Traceback (most recent call last):\nRuntimeError: CUDA out of memory\n` : logs,
    output,
    ...(ending === 'failed' ? { error: 'CUDA out of memory' } : {}),
  });
  return {
    model: 'ostris/flux-dev-lora-trainer',
    version: randomVersion(random),
    input: { input_images: 'https://example.com/photos.zip', trigger_word: 'TOK', steps: totalSteps },
    steps,
    files: ending === 'succeeded' ? [weights] : [],
    destination,
  };
}

function failedLifecycle({ random }: LifecycleContext): Lifecycle {
  return interruptedImage(random, 'black-forest-labs/flux-schnell', 4, 1, {
    status: 'failed',
    extraLogs: OOM_TRACEBACK,
    error: OOM_ERROR,
  });
}

function canceledLifecycle({ random }: LifecycleContext): Lifecycle {
  return interruptedImage(random, 'black-forest-labs/flux-dev', 28, integerBetween(random, 6, 14), {
    status: 'canceled',
    extraLogs: [],
  });
}

// ---------------------------------------------------------------------------------------------
// A tiny but valid PNG. Noise keeps deflate from shrinking it to nothing, so a download has a
// few KB to move, like a small real image.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function noisyPng(random: () => number, width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter method variants, not interlaced
  const tint = [0, 1, 2].map(() => integerBetween(random, 0, 160));
  const rowBytes = width * 3 + 1;
  const pixels = Buffer.alloc(rowBytes * height); // each row starts with filter type 0
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const offset = y * rowBytes + 1 + x * 3;
      const gradient = ((x + y) * 96) / (width + height);
      for (let channel = 0; channel < 3; channel++) {
        pixels[offset + channel] = Math.min(
          255,
          Math.floor(tint[channel] + gradient * (channel === 2 ? 0.5 : 1) + random() * 48),
        );
      }
    }
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(pixels)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------------------------------------

export interface DeliveryPlanOptions {
  /** 0..1: each delivery is repeated (same webhook-id and body) with this probability. */
  duplicateRate?: number;
  /** 0..1: the chance to swap each delivery with the next one. */
  reorderRate?: number;
  /** Extra stale webhooks (new ids, processing status) sent after the terminal one. */
  afterTerminal?: number;
  random?: () => number;
}

/**
 * What reaches the receiver: retries resend a webhook under the same id, concurrent attempts
 * arrive out of order, and a slow earlier attempt can land after the prediction completed.
 */
export function planDeliveries(deliveries: readonly Delivery[], options: DeliveryPlanOptions = {}): Delivery[] {
  const { duplicateRate = 0, reorderRate = 0, afterTerminal = 0, random = Math.random } = options;
  for (const [label, rate] of [
    ['duplicateRate', duplicateRate],
    ['reorderRate', reorderRate],
  ] as const) {
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`${label} must be between 0 and 1, got ${rate}`);
  }
  if (!Number.isInteger(afterTerminal) || afterTerminal < 0) {
    throw new RangeError(`afterTerminal must be a non-negative integer, got ${afterTerminal}`);
  }

  const planned: Delivery[] = [];
  for (const delivery of deliveries) {
    planned.push(delivery);
    if (duplicateRate > 0 && random() < duplicateRate) planned.push(delivery);
  }
  if (reorderRate > 0) {
    for (let i = 0; i + 1 < planned.length; i++) {
      if (random() >= reorderRate) continue;
      [planned[i], planned[i + 1]] = [planned[i + 1], planned[i]];
      i++; // a swapped delivery moves one place, not all the way down the list
    }
  }
  for (let n = 0; n < afterTerminal; n++) planned.push(staleDelivery(deliveries, random));
  return planned;
}

/** A late `processing` webhook under a new id: an earlier snapshot, or the terminal one rolled back. */
function staleDelivery(deliveries: readonly Delivery[], random: () => number): Delivery {
  const processing = deliveries.filter((delivery) => delivery.status === 'processing');
  const webhookId = generateWebhookId(random);
  if (processing.length > 0) return { ...pick(random, processing), webhookId };
  const last = deliveries.at(-1);
  if (last === undefined) throw new RangeError('afterTerminal needs at least one delivery to copy');
  const body = { ...(JSON.parse(last.body) as Record<string, unknown>), status: 'processing', completed_at: null, metrics: {} };
  return { webhookId, event: 'logs', status: 'processing', body: JSON.stringify(body) };
}
