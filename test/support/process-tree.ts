/**
 * The processes a test started, read from /proc (Linux): a process's descendants, and whether
 * each one is still running. A process is named by its pid and its start time, so a pid the
 * kernel hands to someone else meanwhile never counts as ours.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface ProcessInfo {
  readonly pid: number;
  /** Clock ticks since boot: with the pid, names this process and no later one. */
  readonly startTime: string;
  readonly command: string;
}

function stat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch {
    return undefined;
  }
}

export function processInfo(pid: number): ProcessInfo | undefined {
  const current = stat(pid);
  if (!current) return undefined;
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
  return { pid, startTime: current.startTime, command };
}

/** Every process below `pid`, children before grandchildren. */
export function descendants(pid: number): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children: string[];
      try {
        children = readFileSync(`/proc/${parent}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      } catch {
        continue;
      }
      for (const child of children.map(Number)) {
        const info = processInfo(child);
        if (info) found.push(info);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Gone: no such process, another process under its pid, or a zombie (dead, only not yet reaped). */
export function isRunning(info: ProcessInfo): boolean {
  const current = stat(info.pid);
  return current !== undefined && current.startTime === info.startTime && current.state !== 'Z';
}

/** Everything ever seen below a process, sampled until `stop()`, for processes that come and go. */
export function watchDescendants(pid: number, intervalMs = 50): { seen: () => ProcessInfo[]; stop: () => void } {
  const seen = new Map<string, ProcessInfo>();
  const sample = () => {
    // The latest command line that is not empty: a process about to exec still shows its
    // parent's, and one that has exited (a zombie) shows none.
    for (const info of descendants(pid)) {
      const key = `${info.pid}/${info.startTime}`;
      if (info.command !== '' || !seen.has(key)) seen.set(key, info);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return { seen: () => (sample(), [...seen.values()]), stop: () => clearInterval(timer) };
}

/** Can this process listen on the port? */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** Waits until none of `processes` runs and every port is free; returns what still holds on after `timeoutMs`. */
export async function waitUntilGone(
  processes: readonly ProcessInfo[],
  ports: readonly number[],
  timeoutMs: number,
): Promise<{ running: ProcessInfo[]; busyPorts: number[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = processes.filter(isRunning);
    const busyPorts: number[] = [];
    for (const port of ports) if (!(await portIsFree(port))) busyPorts.push(port);
    if ((running.length === 0 && busyPorts.length === 0) || Date.now() > deadline) return { running, busyPorts };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
