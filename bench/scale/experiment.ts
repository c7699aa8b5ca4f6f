/**
 * `npm run bench -- scale [key=value ...]`: the record of why the archiver is fed through the
 * archive queue, and the check that the construct's defaults still sustain the target rate. A
 * discrete-event model of the two ways to feed the archiver, under the same seeded workload:
 *
 * - stream (the design the queue replaced): Lambda read the table's stream. Each shard has
 *   `parallelizationFactor` FIFO slots (records hashed to a slot); a slot takes up to
 *   `oldBatchSize` waiting records and archives them one after another, and starts its next batch
 *   only when the whole batch is done.
 * - queue (what ships, with the construct's defaults): the forwarder puts each finished prediction's
 *   key on SQS in `forwardLatency`; up to `maxConcurrency` invocations each take up to `newBatchSize`
 *   waiting messages, archive them concurrently, and hold their slot until the slowest one is done.
 *
 * No AWS, no I/O: only simulated seconds. Every draw comes from a seeded PRNG, and a prediction's
 * draws depend only on its index, so two runs differing in one parameter (rate, one injected
 * stall) see the same predictions.
 */
import { expectedMaxLatency, latencySigma, meanLatency } from './latency';
import { quantile, slowNeighbourDelays, summarize, sustainableRate, type RunSummary, type Simulate } from './measure';
import { DEFAULT_SCALE_OPTIONS, type ScaleModelOptions } from './options';
import { predictedQueueRate, simulateQueueDesign } from './queue-design';
import { predictedStreamRate, simulateStreamDesign } from './stream-design';

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
