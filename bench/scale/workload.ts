/**
 * The predictions a run archives, independent of the design: arrivals, latencies, slot and failure
 * draws, replayed at any rate so that two runs differing in one parameter see the same predictions.
 */
import { seededRandom } from '../../cli/scenarios';
import { drawLatency, streamSeed, type LatencyModel } from './latency';
import { DEFAULT_SCALE_OPTIONS, type ScaleModelOptions } from './options';

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

export interface Materialized {
  readonly options: ScaleModelOptions;
  readonly count: number;
  readonly arrivedAt: Float64Array;
  readonly latency: Float64Array;
  readonly slotDraw: Float64Array;
  readonly failureDraw: Float64Array;
}

export function materialize(input: SimulationInput): Materialized {
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
