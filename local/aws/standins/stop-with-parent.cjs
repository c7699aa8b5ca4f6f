/**
 * `node stop-with-parent.cjs <command> [args...]`: runs the command, and stops it once the process
 * that started this one is gone, however that process ended. A SIGKILL, a crash or an OOM kill
 * leaves it no chance to stop its children, and a JVM orphaned that way keeps its port for good.
 *
 * The parent gives this process a pipe as stdin and never writes to it: the kernel closes the
 * parent's end when the parent exits, for whatever reason, so the end of stdin is the signal.
 * SIGTERM and SIGINT are passed on; the exit status is the command's.
 */
'use strict';
const { spawn } = require('node:child_process');
const { constants } = require('node:os');

// The caller's own stop waits 5 s before its SIGKILL, which would reach only this process.
const KILL_AFTER_MS = 3_000;

const [command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let killTimer;

function stop(signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
}

process.stdin.on('end', () => stop('SIGTERM'));
process.stdin.on('error', () => stop('SIGTERM'));
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => stop(signal));

child.on('error', (error) => {
  console.error(`${command}: ${error.message}`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
