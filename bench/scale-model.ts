/**
 * `npm run bench -- scale [key=value ...]`: the record of why the archiver is fed through the
 * archive queue, and the check that the construct's defaults still sustain the target rate. A
 * discrete-event model of the two ways to feed the archiver, under the same seeded workload:
 *
 * - stream (the design the queue replaced): Lambda read the table's stream. Each shard has
 *   `parallelizationFactor` FIFO slots (records hashed to a slot); a slot takes up to
 *   `oldBatchSize` waiting records and archives them one after another, and starts its next batch
 *   only when the whole batch is done.
 * - queue (what ships, with the construct's defaults): a pipe forwards each finished prediction's
 *   key to SQS in `pipeLatency`; up to `maxConcurrency` invocations each take up to `newBatchSize`
 *   waiting messages, archive them concurrently, and hold their slot until the slowest one is done.
 *
 * No AWS, no I/O: only simulated seconds. Every draw comes from a seeded PRNG, and a prediction's
 * draws depend only on its index, so two runs differing in one parameter (rate, one injected
 * stall) see the same predictions.
 */
import { ARCHIVE_QUEUE_DEFAULTS } from '../lambda/shared/archive-queue';
import { seededRandom } from '../local/sender/scenarios';
import { table } from './stats';

export interface ScaleModelOptions {
  readonly shards: number;
  readonly parallelizationFactor: number;
  /** Records per stream batch, archived one after another. */
  readonly oldBatchSize: number;
  /** Messages per SQS batch, archived concurrently. */
  readonly newBatchSize: number;
  readonly maxConcurrency: number;
  /** Seconds from "became terminal" to the message being receivable. */
  readonly pipeLatency: number;
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
  pipeLatency: 0.1,
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

export interface SimulationInput extends Partial<ScaleModelOptions> {
  /** Predictions becoming terminal per second (Poisson). */
  readonly arrivalRate: number;
  /** Replaces one prediction's archival latency (first attempt), for the slow-neighbour experiment. */
  readonly stalledPrediction?: { readonly index: number; readonly seconds: number };
}

export interface SimulationRun {
  readonly design: 'stream' | 'queue';
  readonly arrivalRate: number;
  readonly horizon: number;
  /** Per prediction, in arrival order: became terminal, its archival first started, archived (simulated seconds). */
  readonly arrivedAt: Float64Array;
  readonly startedAt: Float64Array;
  readonly archivedAt: Float64Array;
  readonly invocations: number;
  /** Sum of invocation durations: divided by the makespan, the mean number of busy slots. */
  readonly busySlotSeconds: number;
  /** Stream design: the slot (shard × P + lane) each prediction went through. */
  readonly slot?: Int32Array;
}

// ---------------------------------------------------------------------------------------------
// Randomness

/** Independent streams per purpose, so that drawing more of one never shifts another. */
const streamSeed = (seed: number, stream: number): number =>
  Math.floor(seededRandom(seed * 7919 + stream * 104729 + 17)() * 2 ** 32);

const Z99 = 2.326347874;

export interface LatencyModel {
  readonly latencyMedian: number;
  readonly latencyP99: number;
  readonly stallProbability: number;
  readonly stallDuration: number;
}

export const latencySigma = (model: LatencyModel): number => Math.log(model.latencyP99 / model.latencyMedian) / Z99;

/** Expected archival latency, stalls included. */
export const meanLatency = (model: LatencyModel): number =>
  model.latencyMedian * Math.exp(latencySigma(model) ** 2 / 2) + model.stallProbability * model.stallDuration;

/** One archival latency; always draws three numbers, so the stream stays aligned with prediction indices. */
export function drawLatency(model: LatencyModel, random: () => number): number {
  const u1 = 1 - random();
  const u2 = random();
  const stalls = random() < model.stallProbability;
  const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return model.latencyMedian * Math.exp(latencySigma(model) * normal) + (stalls ? model.stallDuration : 0);
}

/** E[slowest of `batchSize` archivals], by Monte Carlo with its own stream. */
export function expectedMaxLatency(model: LatencyModel, batchSize: number, seed: number, batches = 100_000): number {
  const random = seededRandom(streamSeed(seed, 99));
  let total = 0;
  for (let batch = 0; batch < batches; batch++) {
    let slowest = 0;
    for (let k = 0; k < batchSize; k++) slowest = Math.max(slowest, drawLatency(model, random));
    total += slowest;
  }
  return total / batches;
}

/**
 * The predictions, independent of rate and design: unit-rate arrival times (divided by the rate
 * later, so a faster run sees the same predictions, closer together), latencies, slot and
 * failure draws. Grown on demand and cached, since a rate search replays it many times.
 */
class Workload {
  unitArrival = new Float64Array(0);
  latency = new Float64Array(0);
  slotDraw = new Float64Array(0);
  failureDraw = new Float64Array(0);
  length = 0;
  private clock = 0;
  private readonly arrivalRandom: () => number;
  private readonly latencyRandom: () => number;
  private readonly slotRandom: () => number;
  private readonly failureRandom: () => number;

  constructor(
    private readonly model: LatencyModel,
    seed: number,
  ) {
    this.arrivalRandom = seededRandom(streamSeed(seed, 1));
    this.latencyRandom = seededRandom(streamSeed(seed, 2));
    this.slotRandom = seededRandom(streamSeed(seed, 3));
    this.failureRandom = seededRandom(streamSeed(seed, 4));
  }

  /** How many predictions arrive before `unitTime` (= rate × horizon). */
  countBefore(unitTime: number): number {
    while (this.length === 0 || this.unitArrival[this.length - 1] < unitTime) this.grow(Math.max(1024, this.length * 2));
    let low = 0;
    let high = this.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.unitArrival[middle] < unitTime) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private grow(capacity: number): void {
    const extend = (array: Float64Array) => {
      const grown = new Float64Array(capacity);
      grown.set(array.subarray(0, this.length));
      return grown;
    };
    this.unitArrival = extend(this.unitArrival);
    this.latency = extend(this.latency);
    this.slotDraw = extend(this.slotDraw);
    this.failureDraw = extend(this.failureDraw);
    for (let i = this.length; i < capacity; i++) {
      this.clock += -Math.log(1 - this.arrivalRandom());
      this.unitArrival[i] = this.clock;
      this.latency[i] = drawLatency(this.model, this.latencyRandom);
      this.slotDraw[i] = this.slotRandom();
      this.failureDraw[i] = this.failureRandom();
    }
    this.length = capacity;
  }
}

const workloads = new Map<string, Workload>();

function workloadFor(options: ScaleModelOptions): Workload {
  const key = [options.seed, options.latencyMedian, options.latencyP99, options.stallProbability, options.stallDuration].join(
    '|',
  );
  let workload = workloads.get(key);
  if (!workload) {
    // A handful of parameter sets per run at most; keep memory bounded anyway.
    if (workloads.size >= 8) workloads.clear();
    workloads.set(key, (workload = new Workload(options, options.seed)));
  }
  return workload;
}

interface Materialized {
  readonly options: ScaleModelOptions;
  readonly count: number;
  readonly arrivedAt: Float64Array;
  readonly latency: Float64Array;
  readonly slotDraw: Float64Array;
  readonly failureDraw: Float64Array;
}

function materialize(input: SimulationInput): Materialized {
  const options: ScaleModelOptions = { ...DEFAULT_SCALE_OPTIONS, ...input };
  if (!(input.arrivalRate > 0)) throw new Error(`arrivalRate must be positive, got ${input.arrivalRate}`);
  if (!(options.failureProbability >= 0 && options.failureProbability < 1))
    throw new Error('failureProbability must be in [0, 1)');
  const workload = workloadFor(options);
  const count = workload.countBefore(input.arrivalRate * options.horizon);
  const arrivedAt = new Float64Array(count);
  for (let i = 0; i < count; i++) arrivedAt[i] = workload.unitArrival[i] / input.arrivalRate;
  let latency = workload.latency.subarray(0, count);
  const stalled = input.stalledPrediction;
  if (stalled && stalled.index < count) {
    latency = Float64Array.from(latency);
    latency[stalled.index] = stalled.seconds;
  }
  return {
    options,
    count,
    arrivedAt,
    latency,
    slotDraw: workload.slotDraw.subarray(0, count),
    failureDraw: workload.failureDraw.subarray(0, count),
  };
}

// ---------------------------------------------------------------------------------------------
// The two designs

/**
 * The design the archive queue replaced. Slots share nothing, so each is simulated on its own as a FIFO recurrence
 * (batch start = max(slot free, head arrival)); no event queue is needed, and it is exact.
 */
export function simulateStreamDesign(input: SimulationInput): SimulationRun {
  const { options, count, arrivedAt, latency, slotDraw, failureDraw } = materialize(input);
  const slots = options.shards * options.parallelizationFactor;
  const retryRandom = seededRandom(streamSeed(options.seed, 5));
  const startedAt = new Float64Array(count);
  const archivedAt = new Float64Array(count).fill(Number.NaN);

  // Counting sort by slot keeps arrival order within each slot.
  const slotOf = new Int32Array(count);
  const slotStart = new Int32Array(slots + 1);
  for (let i = 0; i < count; i++) slotStart[(slotOf[i] = Math.floor(slotDraw[i] * slots)) + 1]++;
  for (let s = 0; s < slots; s++) slotStart[s + 1] += slotStart[s];
  const order = new Int32Array(count);
  const fill = slotStart.slice(0, slots);
  for (let i = 0; i < count; i++) order[fill[slotOf[i]]++] = i;

  let invocations = 0;
  let busySlotSeconds = 0;
  for (let s = 0; s < slots; s++) {
    let slotFree = 0;
    let position = slotStart[s];
    const end = slotStart[s + 1];
    while (position < end) {
      const batchStart = Math.max(slotFree, arrivedAt[order[position]]);
      let batchEnd = position;
      while (batchEnd < end && batchEnd - position < options.oldBatchSize && arrivedAt[order[batchEnd]] <= batchStart) batchEnd++;
      let clock = batchStart;
      for (let k = position; k < batchEnd; k++) {
        const prediction = order[k];
        startedAt[prediction] = clock;
        clock += latency[prediction];
        if (failureDraw[prediction] >= options.failureProbability) archivedAt[prediction] = clock;
      }
      // A failed record fails the whole batch: Lambda hands it over again, neighbours included.
      for (;;) {
        let failed = false;
        for (let k = position; k < batchEnd && !failed; k++) failed = Number.isNaN(archivedAt[order[k]]);
        if (!failed) break;
        invocations++;
        for (let k = position; k < batchEnd; k++) {
          const prediction = order[k];
          if (!Number.isNaN(archivedAt[prediction])) {
            clock += options.recheckDuration;
            continue;
          }
          clock += drawLatency(options, retryRandom);
          if (retryRandom() >= options.failureProbability) archivedAt[prediction] = clock;
        }
      }
      invocations++;
      busySlotSeconds += clock - batchStart;
      slotFree = clock;
      position = batchEnd;
    }
  }
  return {
    design: 'stream',
    arrivalRate: input.arrivalRate,
    horizon: options.horizon,
    arrivedAt,
    startedAt,
    archivedAt,
    invocations,
    busySlotSeconds,
    slot: slotOf,
  };
}

/** Binary min-heap of (time, message); message -1 is "an invocation ended". */
class EventHeap {
  private times: number[] = [];
  private messages: number[] = [];

  get size(): number {
    return this.times.length;
  }

  peekTime(): number {
    return this.times.length > 0 ? this.times[0] : Number.POSITIVE_INFINITY;
  }

  push(time: number, message: number): void {
    const { times, messages } = this;
    let i = times.length;
    times.push(time);
    messages.push(message);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent] <= time) break;
      times[i] = times[parent];
      messages[i] = messages[parent];
      i = parent;
    }
    times[i] = time;
    messages[i] = message;
  }

  /** Removes the earliest event; returns its message. */
  pop(): number {
    const { times, messages } = this;
    const top = messages[0];
    const lastTime = times.pop() as number;
    const lastMessage = messages.pop() as number;
    const size = times.length;
    if (size > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && times[child + 1] < times[child]) child++;
        if (times[child] >= lastTime) break;
        times[i] = times[child];
        messages[i] = messages[child];
        i = child;
      }
      times[i] = lastTime;
      messages[i] = lastMessage;
    }
    return top;
  }
}

/** The design that ships: one shared queue, `maxConcurrency` invocation slots. */
export function simulateQueueDesign(input: SimulationInput): SimulationRun {
  const { options, count, arrivedAt, latency, failureDraw } = materialize(input);
  const retryRandom = seededRandom(streamSeed(options.seed, 6));
  const startedAt = new Float64Array(count).fill(Number.NaN);
  const archivedAt = new Float64Array(count).fill(Number.NaN);
  const events = new EventHeap();
  let queue: number[] = [];
  let head = 0;
  let freeSlots = options.maxConcurrency;
  let nextArrival = 0;
  let invocations = 0;
  let busySlotSeconds = 0;

  for (;;) {
    // Arrivals are already in time order, so only invocation ends and retries need the heap.
    const arrivalTime = nextArrival < count ? arrivedAt[nextArrival] + options.pipeLatency : Number.POSITIVE_INFINITY;
    const eventTime = events.peekTime();
    if (arrivalTime === Number.POSITIVE_INFINITY && eventTime === Number.POSITIVE_INFINITY) break;
    let now: number;
    if (eventTime <= arrivalTime) {
      now = eventTime;
      const message = events.pop();
      if (message < 0) freeSlots++;
      else queue.push(message);
    } else {
      now = arrivalTime;
      queue.push(nextArrival++);
    }
    // No batching window: a free slot takes whatever is waiting right now.
    while (freeSlots > 0 && head < queue.length) {
      freeSlots--;
      invocations++;
      const take = Math.min(options.newBatchSize, queue.length - head);
      let slowest = 0;
      for (let k = 0; k < take; k++) {
        const message = queue[head++];
        const firstAttempt = Number.isNaN(startedAt[message]);
        if (firstAttempt) startedAt[message] = now;
        const duration = firstAttempt ? latency[message] : drawLatency(options, retryRandom);
        const fails = (firstAttempt ? failureDraw[message] : retryRandom()) < options.failureProbability;
        // Each prediction is announced as soon as its own archival is done, not at the end of the batch.
        if (!fails) archivedAt[message] = now + duration;
        else events.push(Math.max(now + options.visibilityTimeout, now + duration), message);
        slowest = Math.max(slowest, duration);
      }
      events.push(now + slowest, -1);
      busySlotSeconds += slowest;
    }
    if (head > 65_536 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  }
  return {
    design: 'queue',
    arrivalRate: input.arrivalRate,
    horizon: options.horizon,
    arrivedAt,
    startedAt,
    archivedAt,
    invocations,
    busySlotSeconds,
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring a run

export interface RunSummary {
  readonly design: 'stream' | 'queue';
  readonly arrivalRate: number;
  readonly predictions: number;
  /** Seconds from became-terminal to archived, over every prediction of the horizon (the run drains). */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** At the end of the horizon. */
  readonly unarchivedAtEnd: number;
  readonly oldestUnarchivedAgeAtEnd: number;
  readonly waitingAtEnd: number;
  readonly oldestWaitingAgeAtEnd: number;
  /** Median over the last quarter of the oldest waiting prediction's age, sampled every second. */
  readonly oldestWaitingAgeLastQuarter: number;
  /** Over the horizon: the oldest unarchived prediction's age at its worst. */
  readonly maxOldestUnarchivedAge: number;
  /** Over the horizon: the longest any prediction waited for its archival to start. */
  readonly maxOldestWaitingAge: number;
  /** Time-average count of predictions waiting for their archival to start, over the 2nd and the 4th quarter. */
  readonly meanWaitingSecondQuarter: number;
  readonly meanWaitingLastQuarter: number;
  readonly keepsUp: boolean;
}

/** Same definition as stats.percentile, on a sorted typed array. */
const quantile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/** Time-average number of predictions in [from, until) during [windowStart, windowEnd). */
function meanInState(from: Float64Array, until: Float64Array, windowStart: number, windowEnd: number): number {
  let total = 0;
  for (let i = 0; i < from.length; i++) {
    const overlap = Math.min(until[i], windowEnd) - Math.max(from[i], windowStart);
    if (overlap > 0) total += overlap;
  }
  return total / (windowEnd - windowStart);
}

/** Slack in the trend test, in seconds of arrivals: a backlog that a few seconds drain is never called "growing". */
const BACKLOG_SLACK_SECONDS = 5;
/** A backlog growing linearly from zero averages 7/3 as much over the 4th quarter as over the 2nd; a steady one, 1×. */
const BACKLOG_GROWTH = 1.3;

export function keepsUpCriterion(options: Pick<ScaleModelOptions, 'maxWaitingAge'>): string {
  return (
    `"keeps up" = towards the end of the horizon, the oldest prediction still waiting for its archival to START has waited ` +
    `≤ ${options.maxWaitingAge} s (the median of that age, sampled every second over the last quarter: one stall near the end ` +
    `must not decide alone), and the waiting backlog is not trending up (its time-average over the last quarter ≤ ` +
    `${BACKLOG_GROWTH} × that over the second quarter + ${BACKLOG_SLACK_SECONDS} s worth of arrivals). A prediction's own archival time does not count as ` +
    `waiting: a 3-minute stall is the archival's, not the backlog's; what it blocks behind it does count`
  );
}

/** Oldest waiting prediction's age, every `step` seconds in [from, to]. */
function oldestWaitingAges(arrivedAt: Float64Array, startedAt: Float64Array, from: number, to: number, step = 1): Float64Array {
  const ages = new Float64Array(Math.floor((to - from) / step) + 1);
  // Once started, always started: the first not-yet-started index only moves forward in time.
  let oldest = 0;
  for (let k = 0; k < ages.length; k++) {
    const time = from + k * step;
    while (oldest < arrivedAt.length && startedAt[oldest] <= time) oldest++;
    ages[k] = oldest < arrivedAt.length && arrivedAt[oldest] <= time ? time - arrivedAt[oldest] : 0;
  }
  return ages;
}

export function summarize(
  run: SimulationRun,
  options: Pick<ScaleModelOptions, 'maxWaitingAge'> = DEFAULT_SCALE_OPTIONS,
): RunSummary {
  const { arrivedAt, startedAt, archivedAt, horizon } = run;
  const count = arrivedAt.length;
  const timeToArchive = new Float64Array(count);
  let unarchivedAtEnd = 0;
  let oldestUnarchived = horizon;
  let waitingAtEnd = 0;
  let oldestWaiting = horizon;
  let maxOldestUnarchivedAge = 0;
  let maxOldestWaitingAge = 0;
  for (let i = 0; i < count; i++) {
    timeToArchive[i] = archivedAt[i] - arrivedAt[i];
    if (archivedAt[i] > horizon) {
      unarchivedAtEnd++;
      oldestUnarchived = Math.min(oldestUnarchived, arrivedAt[i]);
    }
    if (startedAt[i] > horizon) {
      waitingAtEnd++;
      oldestWaiting = Math.min(oldestWaiting, arrivedAt[i]);
    }
    // The oldest unarchived prediction's age peaks just before some prediction is archived.
    maxOldestUnarchivedAge = Math.max(maxOldestUnarchivedAge, Math.min(archivedAt[i], horizon) - arrivedAt[i]);
    maxOldestWaitingAge = Math.max(maxOldestWaitingAge, Math.min(startedAt[i], horizon) - arrivedAt[i]);
  }
  timeToArchive.sort();
  const meanWaitingSecondQuarter = meanInState(arrivedAt, startedAt, horizon / 4, horizon / 2);
  const meanWaitingLastQuarter = meanInState(arrivedAt, startedAt, (3 * horizon) / 4, horizon);
  const oldestWaitingAgeAtEnd = horizon - oldestWaiting;
  const oldestWaitingAgeLastQuarter = quantile(oldestWaitingAges(arrivedAt, startedAt, (3 * horizon) / 4, horizon).sort(), 50);
  return {
    design: run.design,
    arrivalRate: run.arrivalRate,
    predictions: count,
    p50: quantile(timeToArchive, 50),
    p99: quantile(timeToArchive, 99),
    max: quantile(timeToArchive, 100),
    unarchivedAtEnd,
    oldestUnarchivedAgeAtEnd: horizon - oldestUnarchived,
    waitingAtEnd,
    oldestWaitingAgeAtEnd,
    oldestWaitingAgeLastQuarter,
    maxOldestUnarchivedAge,
    maxOldestWaitingAge,
    meanWaitingSecondQuarter,
    meanWaitingLastQuarter,
    keepsUp:
      oldestWaitingAgeLastQuarter <= options.maxWaitingAge &&
      meanWaitingLastQuarter <= BACKLOG_GROWTH * meanWaitingSecondQuarter + BACKLOG_SLACK_SECONDS * run.arrivalRate,
  };
}

export type Simulate = (input: SimulationInput) => SimulationRun;

/**
 * The highest rate that keeps up, by bisection to `precision` (relative) from a guess (the
 * formula). Each probe replays the same predictions, only closer together or further apart.
 */
export function sustainableRate(simulate: Simulate, input: Partial<ScaleModelOptions>, guess: number, precision = 0.01): number {
  const options = { ...DEFAULT_SCALE_OPTIONS, ...input };
  const keepsUp = (rate: number) => summarize(simulate({ ...input, arrivalRate: rate }), options).keepsUp;
  let low = guess * 0.6;
  let high = guess * 1.2;
  while (!keepsUp(low)) {
    high = low;
    low /= 2;
    if (low < 1e-3) return 0;
  }
  while (keepsUp(high)) {
    low = high;
    high *= 1.5;
  }
  while ((high - low) / low > precision) {
    const middle = (low + high) / 2;
    if (keepsUp(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/** The stream design's ceiling: every slot busy archiving one record after another. */
export const predictedStreamRate = (options: ScaleModelOptions): number =>
  (options.shards * options.parallelizationFactor) / meanLatency(options);

/** The queue design's ceiling: every slot busy with a full batch, which lasts as long as its slowest member. */
export const predictedQueueRate = (options: ScaleModelOptions, expectedMax: number): number =>
  (options.maxConcurrency * options.newBatchSize) / expectedMax;

/** Per prediction other than the stalled one: archivedAt(with stall) − archivedAt(without). */
export function slowNeighbourDelays(simulate: Simulate, input: SimulationInput, stalledSeconds: number) {
  const horizon = input.horizon ?? DEFAULT_SCALE_OPTIONS.horizon;
  const baseline = simulate(input);
  // The first prediction after half-time: the system is warm, and there is time to recover.
  let index = 0;
  while (index < baseline.arrivedAt.length - 1 && baseline.arrivedAt[index] < horizon / 2) index++;
  const stalled = simulate({ ...input, stalledPrediction: { index, seconds: stalledSeconds } });
  let maxExtraDelay = 0;
  let delayedOverOneSecond = 0;
  for (let i = 0; i < baseline.archivedAt.length; i++) {
    if (i === index) continue;
    const extra = stalled.archivedAt[i] - baseline.archivedAt[i];
    maxExtraDelay = Math.max(maxExtraDelay, extra);
    if (extra > 1) delayedOverOneSecond++;
  }
  return {
    design: baseline.design,
    arrivalRate: input.arrivalRate,
    stalledIndex: index,
    stalledSelfDelay: stalled.archivedAt[index] - baseline.archivedAt[index],
    maxExtraDelay,
    delayedOverOneSecond,
  };
}

// ---------------------------------------------------------------------------------------------
// The bench section

export interface SustainableRate {
  readonly predicted: number;
  /** The median of acrossSeeds. */
  readonly simulated: number;
  /** With seeds seed, seed + 1, …: heavy tails and rare stalls make one 30-minute run a sample, not the truth. */
  readonly acrossSeeds: readonly number[];
}

export interface QueueSweepRow {
  readonly maxConcurrency: number;
  readonly batchSize: number;
  readonly expectedMax: number;
  readonly predicted: number;
  readonly simulated: number;
}

export interface ScaleModelResult {
  readonly options: ScaleModelOptions;
  readonly meanLatency: number;
  readonly latencySigma: number;
  readonly stream: SustainableRate;
  readonly queue: readonly QueueSweepRow[];
  readonly defaultQueue: SustainableRate & { readonly expectedMax: number };
  /** The smallest maxConcurrency the formula gives for the target rate with the default batch size, simulated. */
  readonly minimumForTarget: QueueSweepRow;
  readonly comparisonLoad: number;
  readonly fixedLoad: ReadonlyArray<RunSummary>;
  readonly slowNeighbourLoads: { readonly stream: number; readonly queue: readonly number[] };
  readonly slowNeighbour: ReadonlyArray<ReturnType<typeof slowNeighbourDelays>>;
  readonly seconds: number;
}

/** A load the stream design sustains, rounded down to a readable figure. */
const readableLoad = (rate: number): number => {
  if (!(rate > 0)) return 0.1;
  const magnitude = 10 ** Math.floor(Math.log10(rate));
  return Math.floor(rate / (magnitude / 2)) * (magnitude / 2);
};

export function benchScaleModel(input: Partial<ScaleModelOptions> = {}): ScaleModelResult {
  const started = process.hrtime.bigint();
  const options: ScaleModelOptions = { ...DEFAULT_SCALE_OPTIONS, ...input };
  const expectedMaxFor = new Map<number, number>();
  const expectedMax = (batchSize: number) => {
    if (!expectedMaxFor.has(batchSize)) expectedMaxFor.set(batchSize, expectedMaxLatency(options, batchSize, options.seed));
    return expectedMaxFor.get(batchSize) as number;
  };

  const acrossSeeds = (simulate: Simulate, sweepOptions: ScaleModelOptions, predicted: number) =>
    Array.from({ length: Math.max(1, options.seeds) }, (_, k) =>
      sustainableRate(simulate, { ...sweepOptions, seed: options.seed + k }, predicted),
    );
  const median = (values: readonly number[]) => quantile(Float64Array.from(values).sort(), 50);

  const streamPredicted = predictedStreamRate(options);
  const streamRates = acrossSeeds(simulateStreamDesign, options, streamPredicted);
  const stream = { predicted: streamPredicted, simulated: median(streamRates), acrossSeeds: streamRates };

  const queueRate = (maxConcurrency: number, batchSize: number): QueueSweepRow => {
    const sweepOptions = { ...options, maxConcurrency, newBatchSize: batchSize };
    const predicted = predictedQueueRate(sweepOptions, expectedMax(batchSize));
    return {
      maxConcurrency,
      batchSize,
      expectedMax: expectedMax(batchSize),
      predicted,
      simulated: sustainableRate(simulateQueueDesign, sweepOptions, predicted),
    };
  };
  const queue = options.sweepConcurrency.flatMap((maxConcurrency) =>
    options.sweepBatchSize.map((batchSize) => queueRate(maxConcurrency, batchSize)),
  );
  const defaultExpectedMax = expectedMax(options.newBatchSize);
  const defaultPredicted = predictedQueueRate(options, defaultExpectedMax);
  const defaultRates = acrossSeeds(simulateQueueDesign, options, defaultPredicted);
  const defaultQueue = {
    expectedMax: defaultExpectedMax,
    predicted: defaultPredicted,
    simulated: median(defaultRates),
    acrossSeeds: defaultRates,
  };
  const minimumForTarget = queueRate(
    Math.ceil((options.targetRate * defaultExpectedMax) / options.newBatchSize),
    options.newBatchSize,
  );

  // The stream design is compared where it keeps up, with headroom, and also shown at the fixed load.
  const comparisonLoad = readableLoad(0.7 * stream.simulated);
  const loads = [...new Set([comparisonLoad, options.fixedLoad])].sort((a, b) => a - b);
  const fixedLoad = loads.flatMap((arrivalRate) => [
    summarize(simulateStreamDesign({ ...options, arrivalRate }), options),
    summarize(simulateQueueDesign({ ...options, arrivalRate }), options),
  ]);

  const queueLoads = [...new Set([comparisonLoad, options.slowNeighbourLoad])].sort((a, b) => a - b);
  const slowNeighbour = [
    slowNeighbourDelays(simulateStreamDesign, { ...options, arrivalRate: comparisonLoad }, options.injectedStall),
    ...queueLoads.map((arrivalRate) =>
      slowNeighbourDelays(simulateQueueDesign, { ...options, arrivalRate }, options.injectedStall),
    ),
  ];

  return {
    options,
    meanLatency: meanLatency(options),
    latencySigma: latencySigma(options),
    stream,
    queue,
    defaultQueue,
    minimumForTarget,
    comparisonLoad,
    fixedLoad,
    slowNeighbourLoads: { stream: comparisonLoad, queue: queueLoads },
    slowNeighbour,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}

const perSecond = (rate: number): string => `${rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3)}/s`;
const spread = (rate: SustainableRate): string =>
  `${perSecond(Math.min(...rate.acrossSeeds))}–${perSecond(Math.max(...rate.acrossSeeds))}`;
const seconds = (value: number): string =>
  value >= 100 ? `${value.toFixed(0)} s` : value >= 10 ? `${value.toFixed(1)} s` : `${value.toFixed(2)} s`;

export function reportScaleModel(result: ScaleModelResult): string {
  const o = result.options;
  const slots = o.shards * o.parallelizationFactor;
  const reaching = result.queue
    .filter((row) => row.simulated >= o.targetRate)
    .sort((a, b) => a.maxConcurrency - b.maxConcurrency || a.batchSize - b.batchSize)[0];
  const d = result.defaultQueue;
  const seedRange = o.seeds > 1 ? `${o.seed}–${o.seed + o.seeds - 1}` : String(o.seed);
  return [
    `Scale model (simulated: seed ${o.seed}, ${o.horizon / 60} simulated minutes per run, computed in ${result.seconds.toFixed(1)} s): ` +
      `archiver fed by the table's stream (the design replaced) vs by a pipe into SQS (the archive queue that replaced it)`,
    `  archival latency per prediction: lognormal, median ${o.latencyMedian} s, p99 ${o.latencyP99} s (σ = ${result.latencySigma.toFixed(3)}), ` +
      `plus a ${o.stallDuration} s stall with probability ${o.stallProbability}: mean ${result.meanLatency.toFixed(2)} s; ` +
      `transient failure probability ${o.failureProbability}; Poisson arrivals`,
    `  stream: ${o.shards} shards × parallelization factor ${o.parallelizationFactor} = ${slots} FIFO slots, batch ${o.oldBatchSize} archived one after another`,
    `  queue:  pipe ${o.pipeLatency} s, maxConcurrency ${o.maxConcurrency}, batch ${o.newBatchSize} archived concurrently (no batching window)`,
    `  ${keepsUpCriterion(o)}`,
    ``,
    `1. Sustainable throughput (highest rate that keeps up; bisection to 1%, starting from the formula of 4.)`,
    table([
      ['design', 'formula', o.seeds > 1 ? `simulated: median of seeds ${seedRange}` : `simulated (seed ${o.seed})`, 'min–max'],
      [
        `stream, ${slots} slots × batch ${o.oldBatchSize}`,
        perSecond(result.stream.predicted),
        perSecond(result.stream.simulated),
        spread(result.stream),
      ],
      [
        `queue, maxConcurrency ${o.maxConcurrency} × batch ${o.newBatchSize}`,
        perSecond(d.predicted),
        perSecond(d.simulated),
        spread(d),
      ],
    ]).replace(/^/gm, '   '),
    `   queue design, sweep (seed ${o.seed} only; expect ±5% from seed to seed):`,
    table([
      ['maxConcurrency', 'batch', 'E[slowest of batch]', 'formula', 'simulated', 'simulated/formula', `≥ ${o.targetRate}/s`],
      ...[...result.queue, result.minimumForTarget].map((row) => [
        String(row.maxConcurrency),
        String(row.batchSize),
        seconds(row.expectedMax),
        perSecond(row.predicted),
        perSecond(row.simulated),
        (row.simulated / row.predicted).toFixed(2),
        row.simulated >= o.targetRate ? 'yes' : 'no',
      ]),
    ]).replace(/^/gm, '     '),
    reaching
      ? `   smallest combination in the table sustaining ${o.targetRate}/s: maxConcurrency ${reaching.maxConcurrency}, batch ${reaching.batchSize}`
      : `   no combination in the table sustains ${o.targetRate}/s`,
    `   the last row is the formula's smallest maxConcurrency for ${o.targetRate}/s with batch ${o.newBatchSize}: ` +
      `${o.targetRate} × ${d.expectedMax.toFixed(1)} s / ${o.newBatchSize} = ${result.minimumForTarget.maxConcurrency} (no headroom)`,
    ``,
    `2. Latency at a fixed load: seconds from "became terminal" to "archived" over every prediction of the horizon (runs drain), ` +
      `and the oldest unarchived prediction's age at its worst during the horizon`,
    result.stream.simulated < o.fixedLoad
      ? `   the stream design does not sustain ${o.fixedLoad}/s (it sustains ${perSecond(result.stream.simulated)}); ` +
        `it is compared at ${perSecond(result.comparisonLoad)} (about 70% of that) and shown falling behind at ${o.fixedLoad}/s`
      : `   both designs sustain ${o.fixedLoad}/s`,
    table([
      [
        'design',
        'load',
        'p50',
        'p99',
        'max',
        'oldest unarchived, worst',
        'longest wait to start',
        'unarchived at end',
        'keeps up',
      ],
      ...result.fixedLoad.map((row) => [
        row.design,
        perSecond(row.arrivalRate),
        seconds(row.p50),
        seconds(row.p99),
        seconds(row.max),
        seconds(row.maxOldestUnarchivedAge),
        seconds(row.maxOldestWaitingAge),
        String(row.unarchivedAtEnd),
        row.keepsUp ? 'yes' : 'no',
      ]),
    ]).replace(/^/gm, '   '),
    ``,
    `3. Slow neighbour: one prediction (the first after half-time) takes ${o.injectedStall} s to archive; every OTHER prediction's ` +
      `archived time against the same run (same seed) without it`,
    table([
      ['design', 'load', 'max extra delay of another', 'others delayed > 1 s', 'the slow one itself'],
      ...result.slowNeighbour.map((row) => [
        row.design,
        perSecond(row.arrivalRate),
        seconds(row.maxExtraDelay),
        String(row.delayedOverOneSecond),
        `+${seconds(row.stalledSelfDelay)}`,
      ]),
    ]).replace(/^/gm, '   '),
    ``,
    `4. Formulas (predicted ceiling vs simulated)`,
    `   queue:  rate ≈ maxConcurrency × batchSize / E[slowest of batchSize archivals] ` +
      `= ${o.maxConcurrency} × ${o.newBatchSize} / ${d.expectedMax.toFixed(2)} s = ${perSecond(d.predicted)} (simulated ${perSecond(d.simulated)}; ` +
      `E[slowest] by Monte Carlo, 100 000 batches)`,
    `   stream: rate ≈ shards × P × batchSize / E[sum of batchSize archivals] = shards × P / E[one archival] ` +
      `= ${o.shards} × ${o.parallelizationFactor} / ${result.meanLatency.toFixed(2)} s = ${perSecond(result.stream.predicted)} (simulated ${perSecond(result.stream.simulated)})`,
    `   both formulas are ceilings (every slot busy all the time). The queue design pools its slots and comes within a few % ` +
      `of its ceiling; each stream slot is a FIFO of its own with heavy-tailed archivals, so waits pass ${o.maxWaitingAge} s ` +
      `well before its slots are saturated`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Options from the command line and the environment

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
  return options as Partial<ScaleModelOptions>;
}
