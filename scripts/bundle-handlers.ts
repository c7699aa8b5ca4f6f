/**
 * Bundles each Lambda handler with esbuild into assets/<name>/index.js. Runs when the package
 * is built (never during a consumer's synth): the bundles ship in the package and are loaded
 * with Code.fromAsset, so the asset hash changes only when handler code changes.
 */
import { build, type BuildOptions } from 'esbuild';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HANDLERS = ['verifier', 'forwarder', 'archiver', 'reconciler'] as const;
export const ROOT = join(__dirname, '..');

/** The options every handler bundle is built with (the benchmark builds its baseline with them too). */
export function bundleOptions(entryPoint: string, outfile: string): BuildOptions & { metafile: true } {
  return {
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: 'node',
    // Lambda runs the newest Node runtime; local mode and tests run the bundles on Node 20.
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  };
}

export async function bundleHandlers(): Promise<void> {
  mkdirSync(join(ROOT, 'build'), { recursive: true });
  for (const name of HANDLERS) {
    // Built beside, then renamed into place: the asset folder never lacks its bundle, even for a
    // synthesis or test running meanwhile, and holds nothing else that could change its hash.
    const staged = join(ROOT, 'build', `${name}.${process.pid}.js`);
    const result = await build(bundleOptions(join(ROOT, 'lambda', name, 'index.ts'), staged));
    const outdir = join(ROOT, 'assets', name);
    mkdirSync(outdir, { recursive: true });
    for (const stray of readdirSync(outdir).filter((file) => file !== 'index.js'))
      rmSync(join(outdir, stray), { recursive: true, force: true });
    renameSync(staged, join(outdir, 'index.js'));
    writeFileSync(join(ROOT, 'build', `${name}.meta.json`), JSON.stringify(result.metafile));
  }
}

if (require.main === module) {
  bundleHandlers().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
