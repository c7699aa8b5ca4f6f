/** The design that ships: the forwarder into the archive queue, read by up to `maxConcurrency` archivers. */
import { seededRandom } from '../../cli/scenarios';
import { drawLatency, streamSeed } from './latency';
import type { ScaleModelOptions } from './options';
import { materialize, type SimulationInput, type SimulationRun } from './workload';

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

/** One shared queue, `maxConcurrency` invocation slots. */
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
    const arrivalTime = nextArrival < count ? arrivedAt[nextArrival] + options.forwardLatency : Number.POSITIVE_INFINITY;
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

/** The queue design's ceiling: every slot busy with a full batch, which lasts as long as its slowest member. */
export const predictedQueueRate = (options: ScaleModelOptions, expectedMax: number): number =>
  (options.maxConcurrency * options.newBatchSize) / expectedMax;
