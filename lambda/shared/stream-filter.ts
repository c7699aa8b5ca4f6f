/**
 * The archiver's event filter: only stream records in which a prediction *became* terminal.
 * One definition, used by the construct (Lambda filter criteria) and by the local runner's
 * poller, so the two cannot drift. The archiver checks the same condition again in code.
 */
import { ATTR } from './state';

const becameTerminalOn = (eventName: 'INSERT' | 'MODIFY') => ({
  eventName: [eventName],
  dynamodb: {
    NewImage: { [ATTR.terminalStatus]: { S: [{ exists: true }] } },
    ...(eventName === 'MODIFY' ? { OldImage: { [ATTR.terminalStatus]: { S: [{ exists: false }] } } } : {}),
  },
});

/** Lambda event filter patterns (any one matching passes the record). */
export const BECAME_TERMINAL_PATTERNS: readonly Record<string, unknown>[] = [
  becameTerminalOn('INSERT'),
  becameTerminalOn('MODIFY'),
];

/** Defaults of the archiver's event source, shared by the construct and the local poller. */
export const ARCHIVER_EVENT_SOURCE_DEFAULTS = {
  batchSize: 5,
  parallelizationFactor: 2,
  retryAttempts: 4,
} as const;
