/**
 * The package as npm publishes it: what the tarball holds, and that a consumer with only the
 * tarball and the peer dependencies (no network, no esbuild, no Docker) can synthesize with it.
 */
import { FileSystem } from 'aws-cdk-lib';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, posix, relative } from 'node:path';
import { USAGE } from '../cli/index';

const REPO = join(__dirname, '..');
const MANIFEST = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies: Record<string, string>;
};

// npm pack runs `prepare`: bundling the handlers and compiling the library with jsii take ~40 s
// here alone, and several times that next to other workers.
const PACK_TIMEOUT = 300_000;
const STEP_TIMEOUT = 60_000;
// aws-cdk-lib's built-in CloudFormation validation (WebAssembly, in process) runs on every
// app.synth(), as it would for a real consumer: ~12 s alone, much longer next to other workers.
const SYNTH_TIMEOUT = 120_000;

const OPERATE_BUNDLE = 'dist/cli/operate.js';

const temporary: string[] = [];
function tempDir(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  temporary.push(directory);
  return directory;
}
afterAll(() => {
  for (const directory of temporary) rmSync(directory, { recursive: true, force: true });
});

let tarball: string;
let files: string[];
let extracted: string;

beforeAll(() => {
  const destination = tempDir('rwc-pack-');
  const stdout = execFileSync('npm', ['pack', '--json', '--pack-destination', destination], {
    cwd: REPO,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    timeout: PACK_TIMEOUT - 10_000,
  });
  // Lifecycle scripts share stdout with the JSON; the JSON is the array that starts a line.
  const start = stdout.search(/^\[\s*$/m);
  if (start === -1) throw new Error(`npm pack printed no JSON:\n${stdout}`);
  const [result] = JSON.parse(stdout.slice(start)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(destination, result.filename);
  files = result.files.map((file) => file.path).sort();
  extracted = tempDir('rwc-extract-');
  execFileSync('tar', ['-xzf', tarball, '-C', extracted]);
  extracted = join(extracted, 'package');
}, PACK_TIMEOUT);

describe('the tarball', () => {
  test('holds the compiled library, its types, the handler bundles, the CLI and the README', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/lib/index.js',
        'dist/lib/index.d.ts',
        'assets/verifier/index.js',
        'assets/forwarder/index.js',
        'assets/archiver/index.js',
        'bin/replicate-webhooks.cjs',
        'dist/cli/index.js',
        'dist/cli/operate.js',
        // The jsii assembly: what jsii-pacmak and Construct Hub read for the other languages.
        '.jsii',
        MANIFEST.main,
        MANIFEST.types,
        ...Object.values(MANIFEST.bin).map((path) => posix.normalize(path)),
      ]),
    );
    // The asset hash is the fingerprint of the whole folder: only the bundle may be in it.
    expect(files.filter((path) => path.startsWith('assets/'))).toEqual([
      'assets/archiver/index.js',
      'assets/forwarder/index.js',
      'assets/reconciler/index.js',
      'assets/verifier/index.js',
    ]);
  });

  test('holds no sources, tests, tooling, dependencies or build output of the repository', () => {
    const typescriptSources = files.filter((path) => /\.(c|m)?ts$/.test(path) && !/\.d\.(c|m)?ts$/.test(path));
    expect(typescriptSources).toEqual([]);
    const forbidden = [
      /^(test|bench|scripts|lambda|local|cli|build|cdk\.out)\//,
      /(^|\/)node_modules\//,
      /^dist\/(test|bench|scripts|bin|local)\//,
      // Of the handlers, only their settings (names and defaults the construct wires) ship.
      /^dist\/lambda\/(verifier|forwarder|archiver|reconciler)\/(?!settings\.(js|d\.ts)$)/,
      /^(cdk\.json|tsconfig.*\.json|jest\.config\.js|package-lock\.json)$/,
    ];
    expect(files.filter((path) => forbidden.some((pattern) => pattern.test(path)))).toEqual([]);
  });

  test('its code needs nothing but Node built-ins, the peer dependencies and files that ship', () => {
    // A consumer installs only what the manifest declares; any other bare import would fail there.
    const allowedPackages = new Set([...Object.keys(MANIFEST.dependencies ?? {}), ...Object.keys(MANIFEST.peerDependencies)]);
    const shipped = new Set(files);
    const reached = new Set<string>();
    const unresolved: string[] = [];
    const foreign: string[] = [];
    const entries = [MANIFEST.main, MANIFEST.types, 'dist/cli/index.js', 'dist/cli/index.d.ts'];
    const queue = [...entries];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (reached.has(file)) continue;
      reached.add(file);
      // The operating commands' bundle carries the AWS SDK inside (its error texts quote package
      // names); it is checked by running it from a consumer below, not by reading it.
      if (file === OPERATE_BUNDLE) continue;
      const source = readFileSync(join(extracted, file), 'utf8');
      const typesFile = file.endsWith('.d.ts');
      for (const [, specifier] of source.matchAll(/(?:require\(|\bfrom\s+|\bimport\()\s*["']([^"']+)["']/g)) {
        if (specifier.startsWith('.')) {
          const base = posix.join(posix.dirname(file), specifier);
          const candidates = typesFile ? [`${base}.d.ts`, `${base}/index.d.ts`] : [base, `${base}.js`, `${base}/index.js`];
          const target = candidates.find((candidate) => shipped.has(candidate));
          if (target) queue.push(target);
          else unresolved.push(`${file} -> ${specifier}`);
        } else {
          const packageName = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
          const builtin = specifier.startsWith('node:') || builtinModules.includes(packageName);
          if (!builtin && !allowedPackages.has(packageName)) foreign.push(`${file} -> ${specifier}`);
        }
      }
    }
    expect(unresolved).toEqual([]);
    expect(foreign).toEqual([]);
    // lib is built from lambda/shared too: those compiled modules must ship alongside it.
    const sharedUsedByLib = [...reached].filter((path) => /^dist\/lambda\/shared\/[^/]+\.js$/.test(path));
    expect(sharedUsedByLib).toEqual(
      expect.arrayContaining(['dist/lambda/shared/archive-layout.js', 'dist/lambda/shared/state.js']),
    );
  });
});

/** Where `name` resolves from `fromDirectory` (node_modules lookup), without going through its `exports`. */
function findPackage(name: string, fromDirectory: string): string {
  for (let directory = fromDirectory; ; directory = dirname(directory)) {
    const candidate = join(directory, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(directory) === directory) throw new Error(`${name} is not installed above ${fromDirectory}`);
  }
}

/**
 * Links an installed package into the consumer, and those of its dependencies that do not travel
 * inside it: the consumer's node runs with --preserve-symlinks, so a linked package resolves its
 * requires from the consumer's node_modules, never from the repository's (which has esbuild).
 */
function linkInstalled(name: string, fromDirectory: string, modules: string, linked: Set<string>): void {
  if (linked.has(name)) return;
  linked.add(name);
  const source = findPackage(name, fromDirectory);
  const target = join(modules, name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(source, target, 'dir');
  const manifest = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  for (const dependency of Object.keys(manifest.dependencies ?? {})) {
    if (!existsSync(join(source, 'node_modules', dependency))) linkInstalled(dependency, source, modules, linked);
  }
}

function listFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(directory, join(entry.parentPath, entry.name)));
}

const APP = String.raw`'use strict';
// Synthesis must start no process (no esbuild, no Docker): every way to start one is replaced
// before aws-cdk-lib is loaded, so even a reference it takes at load time is the recorder.
const childProcess = require('node:child_process');
const calls = [];
for (const name of ['spawnSync', 'execSync', 'execFileSync', 'spawn', 'exec', 'execFile', 'fork']) {
  childProcess[name] = (...args) => {
    calls.push({ name, command: String(args[0]), args: Array.isArray(args[1]) ? args[1].map(String) : [] });
    throw new Error('child_process.' + name + ' was called during synthesis');
  };
}
const { join } = require('node:path');
const result = { calls, error: null, functions: [], cdkLib: null, esbuildFromCdkLib: null };
try {
  const { App, Stack } = require('aws-cdk-lib');
  const { ReplicateWebhooks } = require('replicate-webhooks-cdk');
  result.cdkLib = require.resolve('aws-cdk-lib');
  try {
    result.esbuildFromCdkLib = require.resolve('esbuild', { paths: [result.cdkLib] });
  } catch {}
  const app = new App({ outdir: join(__dirname, 'cdk.out') });
  const stack = new Stack(app, 'Consumer');
  new ReplicateWebhooks(stack, 'Hooks');
  const template = app.synth().getStackByName('Consumer').template;
  result.functions = Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([logicalId, resource]) => ({ logicalId, s3Key: resource.Properties.Code.S3Key }));
} catch (error) {
  result.error = String((error && error.stack) || error);
}
// On a line of its own, after anything a library may have printed.
process.stdout.write('\n' + JSON.stringify(result) + '\n');
`;

describe('a consumer project with only the tarball and the peer dependencies', () => {
  let consumer: string;
  let env: NodeJS.ProcessEnv;
  const installed = () => join(consumer, 'node_modules', MANIFEST.name);

  beforeAll(() => {
    consumer = tempDir('rwc-consumer-');
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    // An empty cache and --offline: if npm needed anything from a registry (say, peer
    // dependency metadata), the install would fail with ENOTCACHED.
    execFileSync(
      'npm',
      [
        'install',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--legacy-peer-deps',
        '--cache',
        join(consumer, '.npm-cache'),
        tarball,
      ],
      { cwd: consumer, stdio: 'pipe', timeout: STEP_TIMEOUT - 10_000 },
    );
    const linked = new Set<string>();
    for (const name of Object.keys(MANIFEST.peerDependencies)) {
      linkInstalled(name, REPO, join(consumer, 'node_modules'), linked);
    }
    // A PATH holding nothing but node: no docker, no esbuild, whatever this machine has installed.
    const bin = join(consumer, '.bin-node-only');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    env = { ...process.env, PATH: bin, NODE_OPTIONS: '' };
    // Modules reachable through NODE_PATH would not be the consumer's.
    delete env.NODE_PATH;
  }, STEP_TIMEOUT);

  test('lives outside the repository and cannot reach esbuild', () => {
    expect(relative(REPO, consumer).startsWith('..')).toBe(true);
    // The same lookup finds what the consumer does have, so its failure for esbuild means something.
    // Resolved by a Node process in the consumer, as its app would be (jest maps the package name to lib/ for the examples).
    const resolve = (name: string) =>
      execFileSync(process.execPath, ['-e', `process.stdout.write(require.resolve(${JSON.stringify(name)}))`], {
        cwd: consumer,
        env,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    expect(resolve(MANIFEST.name)).toBe(join(installed(), MANIFEST.main));
    expect(() => resolve('esbuild')).toThrow(/Cannot (find|resolve) module '?esbuild/);
    for (const directory of env.PATH!.split(delimiter)) {
      expect(readdirSync(directory)).toEqual(['node']);
    }
  });

  test('the installed package has no TypeScript sources, only the published files', () => {
    // A copy from the tarball, not a link back into the repository.
    expect(lstatSync(installed()).isSymbolicLink()).toBe(false);
    const installedFiles = listFiles(installed()).sort();
    expect(installedFiles.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
    expect(installedFiles).toEqual(files);
  });

  test(
    'synthesizes a stack with the construct without starting any process, from the shipped bundles',
    () => {
      writeFileSync(join(consumer, 'app.js'), APP);
      const output = execFileSync(process.execPath, ['--preserve-symlinks', '--preserve-symlinks-main', 'app.js'], {
        cwd: consumer,
        env,
        encoding: 'utf8',
        timeout: SYNTH_TIMEOUT - 10_000,
      });
      const result = JSON.parse(output.trimEnd().split('\n').pop()!) as {
        calls: unknown[];
        error: string | null;
        functions: Array<{ logicalId: string; s3Key: string }>;
        cdkLib: string;
        esbuildFromCdkLib: string | null;
      };
      expect(result.error).toBeNull();
      expect(result.calls).toEqual([]);
      // aws-cdk-lib ran from the consumer's node_modules, and esbuild was out of its reach too.
      expect(result.cdkLib.startsWith(join(consumer, 'node_modules', 'aws-cdk-lib'))).toBe(true);
      expect(result.esbuildFromCdkLib).toBeNull();

      expect(result.functions).toHaveLength(3);
      // Each function (by its construct id) and the asset folder of its handler.
      const handlers = [
        ['verifier', 'verifier'],
        ['archiveforwarder', 'forwarder'],
        ['archiver', 'archiver'],
      ] as const;
      for (const [constructId, name] of handlers) {
        const fn = result.functions.find((candidate) => candidate.logicalId.toLowerCase().startsWith(`hooks${constructId}`));
        expect(fn?.s3Key).toMatch(/^[0-9a-f]{64}\.zip$/);
        const hash = fn!.s3Key.replace(/\.zip$/, '');
        // The asset is the shipped folder as is, so the consumer deploys what the repository tested.
        expect(hash).toBe(FileSystem.fingerprint(join(installed(), 'assets', name)));
        expect(hash).toBe(FileSystem.fingerprint(join(REPO, 'assets', name)));
        const staged = join(consumer, 'cdk.out', `asset.${hash}`);
        expect(listFiles(staged)).toEqual(['index.js']);
        expect(readFileSync(join(staged, 'index.js'))).toEqual(readFileSync(join(installed(), 'assets', name, 'index.js')));
      }
    },
    SYNTH_TIMEOUT,
  );

  test(
    'the replicate-webhooks bin prints its usage from the compiled CLI',
    () => {
      // The bin prefers the TypeScript sources when they are there; here they must not be.
      expect(existsSync(join(installed(), 'cli', 'index.ts'))).toBe(false);
      const stdout = execFileSync(process.execPath, [join(consumer, 'node_modules', '.bin', 'replicate-webhooks'), 'help'], {
        cwd: consumer,
        env,
        encoding: 'utf8',
        timeout: STEP_TIMEOUT - 10_000,
      });
      expect(stdout.trimEnd()).toBe(USAGE);
    },
    STEP_TIMEOUT,
  );

  test(
    "the operating commands run from their bundle, with the AWS SDK inside it, not the consumer's",
    () => {
      expect(existsSync(join(installed(), 'dist', 'cli', 'operate'))).toBe(false);
      const missing = join(consumer, 'no-local-mode.json');
      let stderr = '';
      try {
        execFileSync(
          process.execPath,
          [join(consumer, 'node_modules', '.bin', 'replicate-webhooks'), 'status', 'abc', '--local'],
          {
            cwd: consumer,
            env: { ...env, REPLICATE_WEBHOOKS_LOCAL_FILE: missing },
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
            timeout: STEP_TIMEOUT - 10_000,
          },
        );
      } catch (error) {
        expect((error as { status?: number }).status).toBe(1);
        stderr = String((error as { stderr?: string }).stderr);
      }
      expect(stderr.trim()).toBe(`error: local mode is not running: no ${missing} (start it with npm start, in this checkout)`);
    },
    STEP_TIMEOUT,
  );

  test(
    '--stack reaches CloudFormation through the SDK in the bundle: without credentials, it says which to set',
    () => {
      let stderr = '';
      try {
        execFileSync(
          process.execPath,
          [join(consumer, 'node_modules', '.bin', 'replicate-webhooks'), 'status', 'abc', '--stack', 'Hooks'],
          {
            cwd: consumer,
            env: {
              PATH: process.env.PATH,
              HOME: consumer,
              AWS_REGION: 'eu-west-1',
              AWS_EC2_METADATA_DISABLED: 'true',
              AWS_CONFIG_FILE: join(consumer, 'no-aws-config'),
              AWS_SHARED_CREDENTIALS_FILE: join(consumer, 'no-aws-credentials'),
              AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
            },
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
            timeout: STEP_TIMEOUT - 10_000,
          },
        );
      } catch (error) {
        expect((error as { status?: number }).status).toBe(1);
        stderr = String((error as { stderr?: string }).stderr);
      }
      expect(stderr.trim()).toMatch(/^error: no AWS credentials found: set AWS_PROFILE/);
    },
    STEP_TIMEOUT,
  );
});
