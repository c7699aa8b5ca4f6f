/** `local/main.ts` in its own process, as `npm start` runs it: started, read and stopped by the tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ReadyInfo } from '../../local/pipeline';

export interface LocalModeProcess {
  readonly child: ChildProcess;
  readonly ready: ReadyInfo;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/** Resolves once it prints its `ready {json}` line; rejects if it exits first. */
export function startLocalMode(env: Record<string, string>): Promise<LocalModeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', '..', 'local', 'main.ts')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((candidate) => candidate.startsWith('ready '));
      if (line) resolve({ child, ready: JSON.parse(line.slice('ready '.length)) as ReadyInfo, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`local mode exited with ${code} before it was ready:\n${output}`)));
  });
}
