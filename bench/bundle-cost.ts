/**
 * Verifier bundle size and module init time vs a bundle of only the SDK clients it uses, built
 * with the same esbuild options. Init is timed in fresh Node processes, alternating the two.
 */
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, bundleOptions } from '../scripts/bundle-handlers';
import { formatNs, median, ratio, table } from './stats';

export interface BundleCostResult {
  readonly verifierBytes: number;
  readonly baselineBytes: number;
  readonly verifierInitNs: number[];
  readonly baselineInitNs: number[];
}

const INIT_PROBE = `
const started = process.hrtime.bigint();
require(process.argv[1]);
process.stdout.write(String(process.hrtime.bigint() - started));
`;

function initTime(bundle: string): number {
  const output = execFileSync(process.execPath, ['-e', INIT_PROBE, bundle], {
    env: {
      ...process.env,
      AWS_REGION: 'us-east-1',
      TABLE_NAME: 't',
      SIGNING_SECRET_ID: 's',
      BUCKET_NAME: 'b',
    },
    encoding: 'utf8',
  });
  return Number(output);
}

export async function benchBundleCost(runs = 21): Promise<BundleCostResult> {
  const verifier = join(ROOT, 'assets', 'verifier', 'index.js');
  const baseline = join(ROOT, 'build', 'bench', 'sdk-only-verifier.js');
  await build(bundleOptions(join(__dirname, 'baseline', 'sdk-only-verifier.ts'), baseline));
  const verifierInitNs: number[] = [];
  const baselineInitNs: number[] = [];
  initTime(verifier);
  initTime(baseline);
  for (let i = 0; i < runs; i++) {
    verifierInitNs.push(initTime(verifier));
    baselineInitNs.push(initTime(baseline));
  }
  return { verifierBytes: statSync(verifier).size, baselineBytes: statSync(baseline).size, verifierInitNs, baselineInitNs };
}

export function reportBundleCost(result: BundleCostResult): string {
  const verifierInit = median(result.verifierInitNs);
  const baselineInit = median(result.baselineInitNs);
  return [
    `Verifier bundle vs a bundle of only the SDK clients it uses (${result.verifierInitNs.length} fresh processes each):`,
    table([
      ['', 'bytes', 'module init (median)'],
      ['verifier (assets/verifier/index.js)', String(result.verifierBytes), formatNs(verifierInit)],
      ['SDK clients only', String(result.baselineBytes), formatNs(baselineInit)],
    ]),
    `targets: size ${ratio(result.verifierBytes, result.baselineBytes)} (≤1.1×), init ${ratio(verifierInit, baselineInit)} (≤1.1×)`,
  ].join('\n');
}
