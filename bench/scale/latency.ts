/**
 * How long one archival takes in the model (lognormal, plus a rare stall), and the seeded streams
 * every draw comes from.
 */
import { seededRandom } from '../../cli/scenarios';

/** Independent streams per purpose, so that drawing more of one never shifts another. */
export const streamSeed = (seed: number, stream: number): number =>
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
