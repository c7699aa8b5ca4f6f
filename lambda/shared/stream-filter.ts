/**
 * Which stream records start an archival: those in which a prediction *became* terminal. One
 * definition, used by the construct (the forwarder's event source filter), the local runner's
 * stream poller (the same patterns) and the forwarder, which checks the same condition again in
 * code, so the three cannot drift.
 */
import type { DynamoDBRecord } from 'aws-lambda';
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

/**
 * The patterns' condition in code: an insert of a terminal record, or a change that gave a record
 * its terminal status. A filter is configuration that can change or be lost; the forwarder queues
 * nothing the filter would not have passed.
 */
export function becameTerminal(record: DynamoDBRecord): boolean {
  const terminalNow = typeof record.dynamodb?.NewImage?.[ATTR.terminalStatus]?.S === 'string';
  if (record.eventName === 'INSERT') return terminalNow;
  if (record.eventName === 'MODIFY') {
    return terminalNow && typeof record.dynamodb?.OldImage?.[ATTR.terminalStatus]?.S !== 'string';
  }
  return false;
}

/** The forwarder's stream event source, as the construct creates it and local mode emulates it. */
export const FORWARDER_EVENT_SOURCE_DEFAULTS = {
  /** Records per invocation: one SendMessageBatch takes at most 10 messages. */
  batchSize: 10,
  /** Retries of a failed batch (bisected, or from the first record not queued) before it goes to the failure queue. */
  retryAttempts: 10,
} as const;
