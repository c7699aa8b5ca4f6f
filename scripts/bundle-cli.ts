/**
 * Bundles the CLI's operating commands (status, …) with the AWS SDK clients they call into
 * dist/cli/operate.js, after tsc has compiled the CLI. The package declares no runtime
 * dependencies (a jsii library takes only jsii peers), so what these commands need ships inside
 * the bundle; `send` never loads it. Runs at build time only.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

export async function bundleCli(): Promise<void> {
  // tsc's per-file output would require the SDK by name, which a consumer does not have.
  rmSync(join(ROOT, 'dist', 'cli', 'operate'), { recursive: true, force: true });
  await build({
    entryPoints: [join(ROOT, 'cli', 'operate', 'index.ts')],
    outfile: join(ROOT, 'dist', 'cli', 'operate.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
}

if (require.main === module) {
  bundleCli().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
