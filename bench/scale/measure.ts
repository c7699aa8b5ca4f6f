/**
 * Measuring a run: latencies, backlog, whether it keeps up, the highest rate that does, and what
 * one slow archival does to the others.
 */
import { DEFAULT_SCALE_OPTIONS, type ScaleModelOptions } from './options';
import type { SimulationInput, SimulationRun } from './workload';

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
export const quantile = (sorted: Float64Array, p: number): number =>
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
