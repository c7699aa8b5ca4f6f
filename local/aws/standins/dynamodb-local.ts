/**
 * DynamoDB Local, AWS's own emulator (with transactions and streams), started from the jar in
 * the `amplify-dynamodb-simulator` package on the machine's Java, through a small watcher that
 * stops the JVM when this process is gone, even when it had no chance to stop it (SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';

const STOP_WITH_PARENT = join(__dirname, 'stop-with-parent.cjs');

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** A free TCP port on loopback (the JVM cannot be given port 0 and report back). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function emulatorDirectory(): string {
  // Resolved through the package, never a copied path.
  return join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

export async function startDynamoDbLocal(options: { port?: number; startTimeoutMs?: number } = {}): Promise<DynamoDbLocal> {
  const port = options.port ?? (await freePort());
  const cwd = emulatorDirectory();
  const child = spawn(
    process.execPath,
    [
      STOP_WITH_PARENT,
      'java',
      `-Djava.library.path=${join(cwd, 'DynamoDBLocal_lib')}`,
      '-Xmx1g',
      '-jar',
      join(cwd, 'DynamoDBLocal.jar'),
      '-inMemory',
      // One database for every access key, so handlers and tests see the same tables.
      '-sharedDb',
      '-disableTelemetry',
      '-port',
      String(port),
    ],
    // The watcher's stdin is a pipe this process never writes to: its end is the watcher's cue.
    { cwd, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    // A JVM on a busy 2-core machine can take over a minute; a missing Java fails at once instead.
    await waitUntilServing(endpoint, child, options.startTimeoutMs ?? 120_000);
  } catch (error) {
    await stopChild(child);
    throw new Error(`DynamoDB Local did not start (is Java 17+ installed?): ${(error as Error).message}\n${output}`, {
      cause: error,
    });
  }
  return { endpoint, port, stop: () => stopChild(child) };
}

async function waitUntilServing(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  child.once('error', (error) => (exited = error.message));
  while (Date.now() < deadline) {
    if (exited) throw new Error(exited);
    try {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          authorization:
            'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
        body: '{}',
      });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no answer on ${endpoint} within ${timeoutMs} ms`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
