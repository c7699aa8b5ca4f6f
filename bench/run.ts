/**
 * `npm run bench [-- section ...]`: prints figures as ratios against baselines measured in the
 * same run, and writes them to build/bench-results.json. Sections: verify, handler, bundle, archive,
 * units (billed requests per webhook and per archival), duration (an archival's billed time at
 * each memory size, with Lambda's CPU share and in-region latencies), scale (a simulation; `key=value` arguments or SCALE_* variables set its options, see bench/scale/options.ts),
 * partition (the verifier's time to a 5xx when a dependency stops answering; PARTITION_SAMPLES, default 20).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchDurations, reportDurations } from './durations';
import { benchArchiveThroughput, reportArchiveThroughput } from './archive-throughput';
import { benchBundleCost, reportBundleCost } from './bundle-cost';
import { benchHandlerLatency, reportHandlerLatency } from './handler-latency';
import { benchPartitionLatency, reportPartitionLatency } from './partition-latency';
import { benchScaleModel } from './scale/experiment';
import { scaleOptionsFrom } from './scale/options';
import { reportScaleModel } from './scale/report';
import { benchVerifyCost, reportVerifyCost } from './verify-cost';
import { benchWriteUnits, reportWriteUnits } from './write-units';

// Node 20 is supported here until January 2027; the SDK's reminder would drown the figures.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Measures, then describes the measurement in words. */
const section =
  <T>(measure: () => Promise<T>, describe: (result: T) => string) =>
  async () => {
    const result = await measure();
    return { result, report: describe(result) };
  };

// `key=value` arguments are options of the scale section, not section names.
const options = process.argv.slice(2).filter((arg) => arg.includes('='));

const SECTIONS: Record<string, () => Promise<{ result: unknown; report: string }>> = {
  verify: section(benchVerifyCost, reportVerifyCost),
  handler: section(() => benchHandlerLatency(), reportHandlerLatency),
  bundle: section(() => benchBundleCost(), reportBundleCost),
  archive: section(() => benchArchiveThroughput(), reportArchiveThroughput),
  duration: section(() => benchDurations(), reportDurations),
  // eslint-disable-next-line @typescript-eslint/require-await -- async turns the model's synchronous throw into a rejection, as the other sections fail
  scale: section(async () => benchScaleModel(scaleOptionsFrom(options, process.env)), reportScaleModel),
  units: section(() => benchWriteUnits(), reportWriteUnits),
  partition: section(() => benchPartitionLatency(Number(process.env.PARTITION_SAMPLES ?? 20)), reportPartitionLatency),
};

async function main(): Promise<void> {
  const requested = process.argv.slice(2).filter((arg) => !arg.includes('='));
  if (options.length > 0 && !requested.includes('scale'))
    throw new Error(`options ${options.join(' ')} are for the scale section, which is not requested`);
  const unknown = requested.filter((name) => !(name in SECTIONS));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${Object.keys(SECTIONS).join(', ')}`);
  const names = requested.length > 0 ? requested : Object.keys(SECTIONS);
  const results: Record<string, unknown> = {};
  console.log(`node ${process.version}, ${new Date().toISOString()}\n`);
  for (const name of names) {
    const { result, report } = await SECTIONS[name]();
    results[name] = result;
    console.log(`${report}\n`);
  }
  mkdirSync(join(__dirname, '..', 'build'), { recursive: true });
  writeFileSync(join(__dirname, '..', 'build', 'bench-results.json'), JSON.stringify(results, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
