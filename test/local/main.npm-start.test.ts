/**
 * `npm start` as a process manager, an editor's task runner or a container stop runs it: signals
 * go to the npm process alone, not to its process group, and local mode with everything it
 * started (DynamoDB Local's JVM, its ports) must be gone seconds later. Also what it prints
 * first, and a PORT that is taken. Linux only: the process tree is read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { ReadyInfo } from '../../local/pipeline';
import { freePort } from '../../local/aws/standins/dynamodb-local';
import { isRunning, processInfo, waitUntilGone, watchDescendants, type ProcessInfo } from '../support/process-tree';

const ROOT = join(__dirname, '..', '..');
// "Within a few seconds": DynamoDB Local's JVM needs about one to stop.
const GONE_WITHIN_MS = 5_000;
const START_TIMEOUT_MS = 90_000;
const JVM = /^java .*DynamoDBLocal\.jar/;

interface Started {
  readonly child: ChildProcess;
  readonly self: ProcessInfo;
  readonly exited: Promise<number | null>;
  output(): string;
  /** Every process seen below it so far, also those that have exited or left it (orphans). */
  seen(): ProcessInfo[];
  stopWatching(): void;
}

const started: Started[] = [];

/** Runs a command as a user's shell would: none of the test runner's Node options, nothing silencing the SDK. */
function start(command: string, args: string[], env: Record<string, string>): Started {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, REPLICATE_WEBHOOK_SECRET: '', ALLOWED_OUTPUT_HOSTS: '', ...env };
  delete childEnv.NODE_OPTIONS;
  delete childEnv.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  const child = spawn(command, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const self = processInfo(child.pid!);
  if (!self) throw new Error(`${command} exited at once`);
  const watch = watchDescendants(self.pid, 20);
  const run: Started = {
    child,
    self,
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    output: () => output,
    seen: watch.seen,
    stopWatching: watch.stop,
  };
  started.push(run);
  return run;
}

async function until<T>(probe: () => T | undefined, what: string, run: Started, timeoutMs = START_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline || run.child.exitCode !== null)
      throw new Error(`no ${what} (exit code ${run.child.exitCode}); it printed:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function readyInfo(run: Started): Promise<ReadyInfo> {
  return until(
    () => {
      const line = run
        .output()
        .split('\n')
        .find((candidate) => candidate.startsWith('ready '));
      return line ? (JSON.parse(line.slice('ready '.length)) as ReadyInfo) : undefined;
    },
    'ready line',
    run,
  );
}

const portOf = (url: string) => Number(new URL(url).port);
const portsOf = (ready: ReadyInfo) => [
  portOf(ready.webhookUrl),
  portOf(ready.endpoints.dynamodb),
  portOf(ready.endpoints.s3), // fauxqs: S3, SNS and SQS
  portOf(ready.endpoints.secretsmanager),
];
const jvmPort = (jvm: ProcessInfo) => Number(/ -port (\d+)/.exec(jvm.command)![1]);

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function exitWithin(run: Started, timeoutMs: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), timeoutMs)));
  const result = await Promise.race([run.exited, timeout]);
  clearTimeout(timer);
  return result;
}

afterAll(() => {
  // Whatever a failed test left running, orphans included, and only that.
  for (const run of started) {
    run.stopWatching();
    for (const info of [run.self, ...run.seen()]) if (isRunning(info)) process.kill(info.pid, 'SIGKILL');
  }
});

const onLinux = process.platform === 'linux' ? describe : describe.skip;

onLinux('npm start, stopped by a SIGTERM to npm alone', () => {
  let run: Started;
  let ready: ReadyInfo;
  beforeAll(async () => {
    run = start('npm', ['start'], { PORT: '0' });
    ready = await readyInfo(run);
  }, START_TIMEOUT_MS);

  test('prints no AWS SDK notice about Node versions', () => {
    // The SDK prints it on Node < 22 only, when a client is built with the variable unset.
    expect(run.output()).toContain('Replicate webhooks, local mode');
    expect(run.output()).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript \(v3\)|will require node/);
  });

  test("allows the sender's file host, so the first command it suggests archives its files", () => {
    // ALLOWED_OUTPUT_HOSTS is empty here: nothing but the default lets the archiver fetch them.
    expect(ready.allowedOutputHosts).toContain('http://127.0.0.1:8788');
    expect(run.output()).toMatch(/^Try: npx replicate-webhooks send --url \S+ --secret whsec_\S+ --scenario image$/m);
    expect(run.output()).not.toContain('start with ALLOWED_OUTPUT_HOSTS');
  });

  test('stops local mode, DynamoDB Local and every port within seconds', async () => {
    expect(run.seen().map((info) => info.command)).toEqual(
      expect.arrayContaining([expect.stringMatching(/local\/main\.ts/), expect.stringMatching(JVM)]),
    );
    process.kill(run.self.pid, 'SIGTERM'); // npm alone, not its process group
    const left = await waitUntilGone([run.self, ...run.seen()], portsOf(ready), GONE_WITHIN_MS);
    expect(left).toEqual({ running: [], busyPorts: [] });
    expect(run.output()).toContain('SIGTERM: stopping');
  });
});

onLinux('npm start, stopped before it is up', () => {
  test(
    'a SIGTERM to npm while DynamoDB Local starts stops everything within seconds',
    async () => {
      const run = start('npm', ['start'], { PORT: '0' });
      const jvm = await until(() => run.seen().find((info) => JVM.test(info.command)), 'JVM', run);
      process.kill(run.self.pid, 'SIGTERM');
      const left = await waitUntilGone([run.self, ...run.seen()], [jvmPort(jvm)], GONE_WITHIN_MS);
      expect(left).toEqual({ running: [], busyPorts: [] });
      expect(run.output()).toContain('SIGTERM during start-up: exiting');
    },
    START_TIMEOUT_MS,
  );
});

onLinux('local mode killed with SIGKILL', () => {
  test(
    'DynamoDB Local does not outlive it',
    async () => {
      // main.ts itself: what is tested is the JVM's watcher, not npm.
      const run = start(process.execPath, ['--import', 'tsx', join('local', 'main.ts')], { PORT: '0' });
      const ready = await readyInfo(run);
      expect(run.seen().map((info) => info.command)).toContainEqual(expect.stringMatching(JVM));
      process.kill(run.self.pid, 'SIGKILL');
      const left = await waitUntilGone(run.seen(), [portOf(ready.endpoints.dynamodb)], GONE_WITHIN_MS);
      expect(left).toEqual({ running: [], busyPorts: [] });
    },
    START_TIMEOUT_MS,
  );
});

onLinux('npm start with PORT taken', () => {
  test(
    'taken before start: a non-zero exit, a message naming the port and PORT, no JVM started, nothing left',
    async () => {
      const holder = await occupy(0);
      const port = (holder.address() as { port: number }).port;
      try {
        const run = start('npm', ['start'], { PORT: String(port) });
        const code = await exitWithin(run, START_TIMEOUT_MS);
        expect(code).not.toBe(0);
        expect(code).not.toBe('still running');
        expect(run.output()).toContain(`port ${port} on 127.0.0.1 is already in use`);
        expect(run.output()).toContain(`set PORT to another port: PORT=${port + 1} npm start`);
        expect(run.seen().map((info) => info.command)).not.toContainEqual(expect.stringMatching(JVM));
        expect(await waitUntilGone(run.seen(), [], GONE_WITHIN_MS)).toEqual({ running: [], busyPorts: [] });
      } finally {
        holder.close();
      }
    },
    START_TIMEOUT_MS,
  );

  test(
    'taken while starting: the same message, and DynamoDB Local and fauxqs, already up, are stopped',
    async () => {
      const port = await freePort();
      const run = start('npm', ['start'], { PORT: String(port) });
      let holder: Server | undefined;
      try {
        // The JVM takes a second or more to answer, and the webhook port is taken last.
        const jvm = await until(() => run.seen().find((info) => JVM.test(info.command)), 'JVM', run);
        holder = await occupy(port);
        const code = await exitWithin(run, START_TIMEOUT_MS);
        expect(code).not.toBe(0);
        expect(code).not.toBe('still running');
        expect(run.output()).toContain(`port ${port} on 127.0.0.1 is already in use`);
        expect(run.output()).toContain(`set PORT to another port: PORT=${port + 1} npm start`);
        // fauxqs and the Secrets Manager stand-in live in local mode's own process, which is among these.
        const left = await waitUntilGone(run.seen(), [jvmPort(jvm)], GONE_WITHIN_MS);
        expect(left).toEqual({ running: [], busyPorts: [] });
      } finally {
        holder?.close();
      }
    },
    START_TIMEOUT_MS,
  );
});
