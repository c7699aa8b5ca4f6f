/**
 * The scale model (bench/scale/) against cases whose answer is known without it: constant
 * latencies give exact capacities, Little's law ties arrivals to time in system, and one slow
 * archival may hold back only its own stream slot.
 */
import { slowNeighbourDelays, summarize, sustainableRate } from '../../bench/scale/measure';
import { scaleOptionsFrom } from '../../bench/scale/options';
import { simulateQueueDesign } from '../../bench/scale/queue-design';
import { simulateStreamDesign } from '../../bench/scale/stream-design';
import type { SimulationInput, SimulationRun } from '../../bench/scale/workload';

/** Every archival takes exactly one second. */
const CONSTANT_ONE_SECOND = { latencyMedian: 1, latencyP99: 1, stallProbability: 0 } as const;
const SHORT = { horizon: 600 } as const;

/** Time-average number of unarchived predictions, sampled on a grid. */
function sampledInSystem(run: SimulationRun, from: number, to: number, step: number): number {
  let total = 0;
  let samples = 0;
  for (let time = from; time < to; time += step, samples++) {
    for (let i = 0; i < run.arrivedAt.length; i++) if (run.arrivedAt[i] <= time && run.archivedAt[i] > time) total++;
  }
  return total / samples;
}

describe('queue design (forwarder → SQS → archiver)', () => {
  test('with constant 1 s archivals and batch 1, maxConcurrency c sustains about c/s, not 2c', () => {
    const rate = sustainableRate(
      simulateQueueDesign,
      { ...CONSTANT_ONE_SECOND, ...SHORT, maxConcurrency: 10, newBatchSize: 1 },
      10,
    );
    expect(rate).toBeGreaterThan(9);
    expect(rate).toBeLessThan(11);
  });

  test('a batch archives concurrently: with constant 1 s, c slots × batch b sustain about c × b/s', () => {
    const rate = sustainableRate(
      simulateQueueDesign,
      { ...CONSTANT_ONE_SECOND, ...SHORT, maxConcurrency: 4, newBatchSize: 5 },
      20,
    );
    expect(rate).toBeGreaterThan(18);
    expect(rate).toBeLessThan(22);
  });

  test('an idle system archives each prediction after the forwarder and its own archival, nothing more', () => {
    const run = simulateQueueDesign({ ...CONSTANT_ONE_SECOND, ...SHORT, arrivalRate: 0.5, forwardLatency: 0.1 });
    const summary = summarize(run);
    expect(summary.p50).toBeCloseTo(1.1, 9);
    expect(summary.max).toBeCloseTo(1.1, 9);
  });

  test('a prediction is archived when its own archival ends, not when its batch does; the slot waits for the slowest', () => {
    const stalledPrediction = { index: 2000, seconds: 60 };
    const run = simulateQueueDesign({
      ...CONSTANT_ONE_SECOND,
      ...SHORT,
      arrivalRate: 8,
      maxConcurrency: 1,
      newBatchSize: 10,
      stalledPrediction,
    });
    const batchStart = run.startedAt[stalledPrediction.index];
    const batchMates = [];
    for (let i = 0; i < run.arrivedAt.length; i++)
      if (run.startedAt[i] === batchStart && i !== stalledPrediction.index) batchMates.push(i);
    expect(batchMates.length).toBeGreaterThan(3);
    for (const i of batchMates) expect(run.archivedAt[i] - run.startedAt[i]).toBeCloseTo(1, 9);
    // The only slot is busy until the slow one is done: the next batch starts 60 s later.
    let nextStart = Number.POSITIVE_INFINITY;
    for (let i = 0; i < run.arrivedAt.length; i++)
      if (run.startedAt[i] > batchStart) nextStart = Math.min(nextStart, run.startedAt[i]);
    expect(nextStart - batchStart).toBeCloseTo(60, 9);
  });

  test('one slow archival delays no other prediction', () => {
    const input: SimulationInput = { ...SHORT, arrivalRate: 20, maxConcurrency: 100, newBatchSize: 10 };
    const delays = slowNeighbourDelays(simulateQueueDesign, input, 60);
    expect(delays.stalledSelfDelay).toBeGreaterThan(30);
    expect(delays.maxExtraDelay).toBeLessThan(1);
    expect(delays.delayedOverOneSecond).toBe(0);
  });
});

describe('stream design (table stream → archiver)', () => {
  test('with constant 1 s archivals, S shards × P slots sustain about S × P/s, whatever the batch size', () => {
    for (const oldBatchSize of [1, 5]) {
      const options = { ...CONSTANT_ONE_SECOND, ...SHORT, shards: 2, parallelizationFactor: 2, oldBatchSize };
      const rate = sustainableRate(simulateStreamDesign, options, 4);
      expect(rate).toBeGreaterThan(3.6);
      expect(rate).toBeLessThan(4.4);
    }
  });

  test('each slot archives in arrival order, one after another', () => {
    const run = simulateStreamDesign({ ...SHORT, arrivalRate: 2 });
    const slot = run.slot as Int32Array;
    const lastBySlot = new Map<number, { arrived: number; archived: number }>();
    for (let i = 0; i < run.arrivedAt.length; i++) {
      const previous = lastBySlot.get(slot[i]);
      if (previous) {
        expect(run.arrivedAt[i]).toBeGreaterThanOrEqual(previous.arrived);
        expect(run.startedAt[i]).toBeGreaterThanOrEqual(previous.archived);
      }
      lastBySlot.set(slot[i], { arrived: run.arrivedAt[i], archived: run.archivedAt[i] });
    }
  });

  test('one slow archival holds back the predictions behind it in its own slot, and only those', () => {
    const input: SimulationInput = { ...CONSTANT_ONE_SECOND, ...SHORT, arrivalRate: 1, shards: 2, parallelizationFactor: 2 };
    const baseline = simulateStreamDesign(input);
    const { stalledIndex, maxExtraDelay, delayedOverOneSecond } = slowNeighbourDelays(simulateStreamDesign, input, 60);
    const stalled = simulateStreamDesign({ ...input, stalledPrediction: { index: stalledIndex, seconds: 60 } });
    expect(maxExtraDelay).toBeGreaterThan(30);
    expect(delayedOverOneSecond).toBeGreaterThan(3);
    const slot = baseline.slot as Int32Array;
    for (let i = 0; i < baseline.arrivedAt.length; i++) {
      if (stalled.archivedAt[i] - baseline.archivedAt[i] > 1e-9) expect(slot[i]).toBe(slot[stalledIndex]);
    }
  });

  test('a transient failure retries the batch: everything is archived, later', () => {
    const input: SimulationInput = { ...CONSTANT_ONE_SECOND, ...SHORT, arrivalRate: 1 };
    const clean = summarize(simulateStreamDesign(input));
    const failing = simulateStreamDesign({ ...input, failureProbability: 0.2 });
    expect(Array.from(failing.archivedAt).every(Number.isFinite)).toBe(true);
    expect(summarize(failing).p99).toBeGreaterThan(clean.p99);
  });
});

describe('both designs', () => {
  test.each([
    ['stream', simulateStreamDesign],
    ['queue', simulateQueueDesign],
  ] as const)("Little's law: predictions in the system on average = arrival rate × mean time in it (%s)", (_, simulate) => {
    // Light tails, so a 10-minute window is a fair sample.
    const arrivalRate = 1.5;
    const run = simulate({ horizon: 1200, arrivalRate, latencyMedian: 1, latencyP99: 3, stallProbability: 0 });
    let totalTime = 0;
    for (let i = 0; i < run.arrivedAt.length; i++) totalTime += run.archivedAt[i] - run.arrivedAt[i];
    const meanTimeInSystem = totalTime / run.arrivedAt.length;
    const inSystem = sampledInSystem(run, 300, 900, 0.5);
    expect(inSystem / (arrivalRate * meanTimeInSystem)).toBeGreaterThan(0.9);
    expect(inSystem / (arrivalRate * meanTimeInSystem)).toBeLessThan(1.1);
  });

  test('the same seed gives the same run; another seed, another', () => {
    for (const simulate of [simulateStreamDesign, simulateQueueDesign]) {
      const first = simulate({ ...SHORT, arrivalRate: 5, seed: 7 });
      const again = simulate({ ...SHORT, arrivalRate: 5, seed: 7 });
      const other = simulate({ ...SHORT, arrivalRate: 5, seed: 8 });
      expect(Array.from(again.archivedAt)).toEqual(Array.from(first.archivedAt));
      expect(Array.from(other.archivedAt)).not.toEqual(Array.from(first.archivedAt));
    }
  });
});

test('options come from key=value arguments and SCALE_* variables, arguments first', () => {
  const options = scaleOptionsFrom(['maxConcurrency=200', 'sweepBatchSize=1,10'], {
    SCALE_MAX_CONCURRENCY: '50',
    SCALE_STALL_PROBABILITY: '0',
  });
  expect(options).toEqual({ maxConcurrency: 200, sweepBatchSize: [1, 10], stallProbability: 0 });
  expect(() => scaleOptionsFrom(['maxConcurency=200'])).toThrow(/unknown scale option/);
  expect(() => scaleOptionsFrom(['horizon=soon'])).toThrow(/not a number/);
});
