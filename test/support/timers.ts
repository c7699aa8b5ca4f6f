/**
 * Timers our handler code leaves running. Counting the process's active timers is not enough on
 * a busy machine: the SDK, the stand-ins and Node's own sockets start and end timers of their own
 * at any moment. This follows only timers created directly from `lambda/`, and reports those that
 * have neither fired nor been cleared.
 */
import { sep } from 'node:path';

const OURS = `${sep}lambda${sep}`;

export interface TimerTracker {
  /** Timers from `lambda/` that are still due to fire. */
  pending(): number;
  /** Puts the real `setTimeout` and `clearTimeout` back. */
  restore(): void;
}

/** The first stack frame outside this file: whoever called `setTimeout`. */
function caller(): string {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  return frames.find((frame) => !frame.includes(__filename)) ?? '';
}

export function trackTimers(): TimerTracker {
  const realSet = globalThis.setTimeout;
  const realClear = globalThis.clearTimeout;
  const due = new Set<unknown>();
  // Replaced by assignment, not jest.spyOn, so the caller is the frame right above ours.
  globalThis.setTimeout = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const ours = caller().includes(OURS);
    const handle: NodeJS.Timeout = realSet(() => {
      due.delete(handle);
      callback(...args);
    }, ms);
    if (ours) due.add(handle);
    return handle;
  }) as typeof setTimeout;
  globalThis.clearTimeout = (handle?: NodeJS.Timeout | string | number) => {
    due.delete(handle);
    realClear(handle);
  };
  return {
    pending: () => due.size,
    restore: () => {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}
