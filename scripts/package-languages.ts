/**
 * `npm run package`: the construct for every jsii language, under dist-lang/ (run after
 * `npm run build`, which writes the `.jsii` assembly).
 *
 *   dist-lang/js/       the npm tarball
 *   dist-lang/python/   the Python wheel, built here
 *   dist-lang/sources/  what jsii-pacmak generates for Python, Java, .NET and Go
 *
 * jsii-pacmak's own builds install their tools from PyPI, Maven Central, NuGet and the Go proxy,
 * which an offline machine cannot reach; so it only generates the sources, and the wheel is built
 * with the setuptools and wheel already installed (no build isolation). Java, .NET and Go stay
 * sources: their toolchains or dependencies are not available offline.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(__dirname, '..');
const OUT = join(REPO, 'dist-lang');
const SOURCES = join(OUT, 'sources');
const TARGETS = ['python', 'java', 'dotnet', 'go'];

const JSII_ENV = { ...process.env, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: '20', JSII_SILENCE_SUPPORT_WARNING: '1' };

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  execFileSync(command, args, { cwd: options.cwd ?? REPO, env: options.env ?? process.env, stdio: 'inherit' });
}

/**
 * A Python 3.10+ that can build a wheel: `$PYTHON`, or one on the machine that has setuptools
 * and wheel, or else a virtual environment given them by pip's configured index.
 */
function findPython(): string {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3', 'python'].filter((candidate): candidate is string =>
    Boolean(candidate),
  );
  const probe = 'import sys, setuptools, wheel; sys.exit(0 if sys.version_info >= (3, 10) else 1)';
  for (const candidate of candidates) {
    if (spawnSync(candidate, ['-c', probe], { stdio: 'ignore' }).status === 0) return candidate;
  }
  const venv = join(OUT, '.venv');
  run('python3', ['-m', 'venv', venv]);
  const python = join(venv, 'bin', 'python');
  run(python, ['-m', 'pip', 'install', '--quiet', 'setuptools', 'wheel']);
  return python;
}

/** The wheel holds the generated module and the npm package it runs, and the module parses. */
function checkWheel(python: string, wheel: string): void {
  const check = [
    'import re, sys, zipfile',
    'names = zipfile.ZipFile(sys.argv[1]).namelist()',
    "module = 'replicate_webhooks_cdk/__init__.py'",
    'assert module in names, names',
    "assert any(n.startswith('replicate_webhooks_cdk/_jsii/') and n.endswith('.jsii.tgz') for n in names), names",
    'source = zipfile.ZipFile(sys.argv[1]).read(module).decode()',
    "compile(source, module, 'exec')",
    "for name in ('ReplicateWebhooks', 'ReplicateWebhooksProps', 'AlarmName', 'ReconciliationScope'):",
    "    assert re.search(rf'^class {name}\\b', source, re.M), name",
  ].join('\n');
  run(python, ['-c', check, wheel]);
}

function main(): void {
  if (!existsSync(join(REPO, '.jsii'))) throw new Error('no .jsii assembly: run npm run build first');
  rmSync(OUT, { recursive: true, force: true });
  const python = findPython();

  // pacmak packs the npm package to embed it in the others; the build that made `.jsii` has
  // made everything that goes in it, so npm skips `prepare` instead of building a second time.
  run(
    join(REPO, 'node_modules', '.bin', 'jsii-pacmak'),
    ['--code-only', '--no-npmignore', '--outdir', SOURCES, '--targets', ...TARGETS],
    { env: { ...JSII_ENV, npm_config_ignore_scripts: 'true' } },
  );

  const js = join(OUT, 'js');
  mkdirSync(js, { recursive: true });
  run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', js]);

  const wheels = join(OUT, 'python');
  run(python, ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '--wheel-dir', wheels, '.'], {
    cwd: join(SOURCES, 'python'),
  });
  const built = readdirSync(wheels).filter((file) => file.endsWith('.whl'));
  if (built.length !== 1) throw new Error(`expected one wheel in ${wheels}, found ${built.join(', ') || 'none'}`);
  checkWheel(python, join(wheels, built[0]));

  for (const folder of [
    'js',
    'python',
    ...TARGETS.filter((target) => target !== 'python').map((target) => `sources/${target}`),
  ]) {
    console.log(`dist-lang/${folder}: ${readdirSync(join(OUT, folder)).join(', ')}`);
  }
}

main();
