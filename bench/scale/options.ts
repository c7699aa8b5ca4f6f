/**
 * The scale model's options (the construct's archive queue defaults, the workload, the
 * experiments) and how the command line and SCALE_* variables set them.
 */
import { ARCHIVE_QUEUE_DEFAULTS } from '../../lambda/shared/archive-queue';

export interface ScaleModelOptions {
  readonly shards: number;
  readonly parallelizationFactor: number;
  /** Records per stream batch, archived one after another. */
  readonly oldBatchSize: number;
  /** Messages per SQS batch, archived concurrently. */
  readonly newBatchSize: number;
  readonly maxConcurrency: number;
  /** Seconds from "became terminal" to the message being receivable. */
  readonly forwardLatency: number;
  /** Archival latency of one prediction: lognormal with this median and 99th percentile (seconds). */
  readonly latencyMedian: number;
  readonly latencyP99: number;
  /** With this probability an archival also stalls for `stallDuration` seconds. */
  readonly stallProbability: number;
  readonly stallDuration: number;
  /** Probability that one archival attempt fails transiently and is retried. */
  readonly failureProbability: number;
  /** A retried stream batch re-checks its already archived records, this long each. */
  readonly recheckDuration: number;
  /** A failed SQS message is receivable again this long after it was received. */
  readonly visibilityTimeout: number;
  /** Simulated seconds of arrivals. */
  readonly horizon: number;
  readonly seed: number;
  /** "Keeps up" allows no prediction at the end of the horizon to have waited longer than this for its archival to start. */
  readonly maxWaitingAge: number;
  /** Load of the latency comparison (predictions/s). */
  readonly fixedLoad: number;
  /** Load of the slow-neighbour experiment for the queue design (predictions/s). */
  readonly slowNeighbourLoad: number;
  /** Seconds the one injected archival takes in the slow-neighbour experiment. */
  readonly injectedStall: number;
  /** The queue-design table: every maxConcurrency × newBatchSize. */
  readonly sweepConcurrency: readonly number[];
  readonly sweepBatchSize: readonly number[];
  /** Predictions/s the defaults should sustain. */
  readonly targetRate: number;
  /** The default rows' sustainable rates are also searched with this many consecutive seeds, to show their spread. */
  readonly seeds: number;
}

export const DEFAULT_SCALE_OPTIONS: ScaleModelOptions = {
  shards: 4,
  parallelizationFactor: 2,
  oldBatchSize: 5,
  // The construct's defaults, so the report describes what a deploy gets.
  newBatchSize: ARCHIVE_QUEUE_DEFAULTS.batchSize,
  maxConcurrency: ARCHIVE_QUEUE_DEFAULTS.maxConcurrency,
  forwardLatency: 0.1,
  latencyMedian: 1,
  latencyP99: 30,
  stallProbability: 0.001,
  stallDuration: 180,
  failureProbability: 0,
  recheckDuration: 0.05,
  visibilityTimeout: 30,
  horizon: 1800,
  seed: 1,
  maxWaitingAge: 60,
  fixedLoad: 50,
  slowNeighbourLoad: 20,
  injectedStall: 60,
  sweepConcurrency: [50, 100, 200],
  sweepBatchSize: [1, 5, 10],
  targetRate: 100,
  seeds: 5,
};

const NUMBER_LISTS = new Set<keyof ScaleModelOptions>(['sweepConcurrency', 'sweepBatchSize']);

/** `maxConcurrency=200` → maxConcurrency; SCALE_MAX_CONCURRENCY=200 likewise; argv wins over the environment. */
export function scaleOptionsFrom(args: readonly string[], env: NodeJS.ProcessEnv = {}): Partial<ScaleModelOptions> {
  const known = Object.keys(DEFAULT_SCALE_OPTIONS) as Array<keyof ScaleModelOptions>;
  const parse = (key: keyof ScaleModelOptions, text: string, source: string) => {
    const values = text.split(',').map((part) => Number(part.trim()));
    if (values.length === 0 || values.some((value) => !Number.isFinite(value)))
      throw new Error(`${source}: not a number: ${text}`);
    if (!NUMBER_LISTS.has(key) && values.length > 1) throw new Error(`${source}: one number expected, got ${text}`);
    return NUMBER_LISTS.has(key) ? values : values[0];
  };
  const options: Record<string, unknown> = {};
  for (const key of known) {
    const envName = `SCALE_${key.replace(/[A-Z]/g, (letter) => `_${letter}`).toUpperCase()}`;
    const value = env[envName];
    if (value !== undefined && value !== '') options[key] = parse(key, value, envName);
  }
  for (const arg of args) {
    const separator = arg.indexOf('=');
    const key = arg.slice(0, separator) as keyof ScaleModelOptions;
    if (separator < 0 || !known.includes(key)) throw new Error(`unknown scale option ${arg}; known: ${known.join(', ')}`);
    options[key] = parse(key, arg.slice(separator + 1), arg);
  }
  return options;
}
