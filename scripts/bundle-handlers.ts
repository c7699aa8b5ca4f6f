/**
 * Bundles each Lambda handler with esbuild into assets/<name>/index.js. Runs when the package
 * is built (never during a consumer's synth): the bundles ship in the package and are loaded
 * with Code.fromAsset, so the asset hash changes only when handler code changes.
 */
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HANDLERS = ['verifier'] as const;

const root = join(__dirname, '..');

async function main(): Promise<void> {
  for (const name of HANDLERS) {
    const outdir = join(root, 'assets', name);
    rmSync(outdir, { recursive: true, force: true });
    const result = await build({
      entryPoints: [join(root, 'lambda', name, 'index.ts')],
      outfile: join(outdir, 'index.js'),
      bundle: true,
      platform: 'node',
      // Lambda runs the newest Node runtime; local mode and tests run the bundles on Node 20.
      target: 'node20',
      format: 'cjs',
      minify: true,
      legalComments: 'none',
      metafile: true,
      logLevel: 'warning',
    });
    // The metafile stays out of the asset folder, so it cannot change the asset hash.
    mkdirSync(join(root, 'build'), { recursive: true });
    writeFileSync(join(root, 'build', `${name}.meta.json`), JSON.stringify(result.metafile));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
