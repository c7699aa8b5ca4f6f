/** The design the archive queue replaced: Lambda reading the table's stream, each slot a FIFO. */
import { seededRandom } from '../../cli/scenarios';
import { drawLatency, meanLatency, streamSeed } from './latency';
import type { ScaleModelOptions } from './options';
import { materialize, type SimulationInput, type SimulationRun } from './workload';

/**
 * Slots share nothing, so each is simulated on its own as a FIFO recurrence (batch start =
 * max(slot free, head arrival)); no event queue is needed, and it is exact.
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

/** The stream design's ceiling: every slot busy archiving one record after another. */
export const predictedStreamRate = (options: ScaleModelOptions): number =>
  (options.shards * options.parallelizationFactor) / meanLatency(options);
