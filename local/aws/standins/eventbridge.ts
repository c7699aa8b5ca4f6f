/**
 * An EventBridge stand-in: `PutEvents` over the JSON 1.1 protocol (reached through
 * `AWS_ENDPOINT_URL_EVENTBRIDGE`), with rules evaluated by the same pattern matcher that emulates
 * the stream filter. It keeps what the real service checks that matters here: the 256 KB entry
 * limit, a detail that must be a JSON object, and partial failures answered with a 200.
 */
import { randomUUID } from 'node:crypto';
import { matchesPattern, type FilterPattern } from '../event-filter';
import { jsonError, serveJsonProtocol } from './json-protocol';

/** An event as EventBridge hands it to rule targets. */
export interface DeliveredEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

export interface PutEvent {
  readonly eventBusName: string;
  readonly event: DeliveredEvent;
  /** Bytes EventBridge counts for the entry. */
  readonly entryBytes: number;
}

export interface StandInRule {
  readonly name: string;
  readonly eventBusName: string;
  readonly pattern: FilterPattern;
  readonly target: (event: DeliveredEvent) => void | Promise<void>;
}

export interface EventBridgeStandIn {
  readonly endpoint: string;
  /** Every event taken, in order. */
  readonly events: readonly PutEvent[];
  /** PutEvents calls answered, failed ones included. */
  readonly calls: number;
  /** While false, every call fails with a 500 InternalException (an outage). */
  available: boolean;
  /** The next `count` entries are refused in a 200 answer, with this error code. */
  failNextEntries(count: number, errorCode?: string): void;
  /** Events taken from now on that match `pattern` (on `eventBusName`) are handed to `target`. */
  addRule(rule: StandInRule): void;
  stop(): Promise<void>;
}

/** https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html */
export const MAX_ENTRY_BYTES = 256 * 1024;
const ACCOUNT = '000000000000';

interface RequestEntry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
  Time?: unknown;
}

export interface EventBridgeOptions {
  readonly region?: string;
  readonly port?: number;
  /** Called for every event taken, with the names of the rules it matched. */
  readonly onPut?: (put: PutEvent, matchedRules: readonly string[]) => void;
}

export async function startEventBridge(options: EventBridgeOptions = {}): Promise<EventBridgeStandIn> {
  const region = options.region ?? 'us-east-1';
  const events: PutEvent[] = [];
  const rules: StandInRule[] = [];
  const state = { calls: 0, available: true, failEntries: 0, failCode: 'InternalFailure' };

  const deliver = (bus: string, event: DeliveredEvent): string[] => {
    const matched = rules.filter((rule) => rule.eventBusName === bus && matchesPattern(event, rule.pattern));
    for (const rule of matched) {
      // EventBridge delivers asynchronously and retries; a local target's failure is only reported.
      Promise.resolve()
        .then(() => rule.target(event))
        .catch((error: unknown) => console.error(`event rule ${rule.name}: target failed: ${(error as Error)?.message}`));
    }
    return matched.map((rule) => rule.name);
  };

  const takeEntry = (entry: RequestEntry): Record<string, string> => {
    if (state.failEntries > 0) {
      state.failEntries--;
      return { ErrorCode: state.failCode, ErrorMessage: 'stand-in refused this entry' };
    }
    if (typeof entry.Source !== 'string' || typeof entry.DetailType !== 'string' || typeof entry.Detail !== 'string') {
      return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Source, DetailType and Detail are required' };
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail must be a JSON object.' };
    }
    const bus = busName(entry.EventBusName);
    const event: DeliveredEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType,
      source: entry.Source,
      account: ACCOUNT,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region,
      resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
      detail: detail as Record<string, unknown>,
    };
    const put: PutEvent = { eventBusName: bus, event, entryBytes: entrySize(entry) };
    events.push(put);
    options.onPut?.(put, deliver(bus, event));
    return { EventId: event.id };
  };

  const server = await serveJsonProtocol({
    targetPrefix: 'AWSEvents',
    invalidBodyType: 'SerializationException',
    port: options.port,
    handle: (action, input) => {
      state.calls++;
      if (!state.available) return jsonError(500, 'InternalException', 'stand-in switched off');
      if (action !== 'PutEvents')
        return jsonError(400, 'UnknownOperationException', `${action} is not supported by this stand-in`);
      const entries = Array.isArray(input.Entries) ? (input.Entries as RequestEntry[]) : [];
      if (entries.length < 1 || entries.length > 10) {
        return jsonError(400, 'ValidationException', 'Entries must hold between 1 and 10 entries');
      }
      const total = entries.reduce((sum, entry) => sum + entrySize(entry), 0);
      if (total > MAX_ENTRY_BYTES) {
        return jsonError(
          400,
          'ValidationException',
          `Total size of the entries in the request is over the limit (${total} bytes).`,
        );
      }
      const results = entries.map(takeEntry);
      return { status: 200, body: { FailedEntryCount: results.filter((result) => result.ErrorCode).length, Entries: results } };
    },
  });

  return {
    endpoint: server.endpoint,
    events,
    get calls() {
      return state.calls;
    },
    get available() {
      return state.available;
    },
    set available(value: boolean) {
      state.available = value;
    },
    failNextEntries(count: number, errorCode = 'InternalFailure') {
      state.failEntries = count;
      state.failCode = errorCode;
    },
    addRule(rule: StandInRule) {
      // A pattern the matcher cannot evaluate fails here, not when the first event arrives.
      matchesPattern({}, rule.pattern);
      rules.push(rule);
    },
    stop: () => server.stop(),
  };
}

/** A bus given by ARN is the bus of that name; none is the account's default bus. */
function busName(value: unknown): string {
  if (typeof value !== 'string' || value === '') return 'default';
  return value.startsWith('arn:') ? value.slice(value.lastIndexOf('/') + 1) : value;
}

/** EventBridge's count: 14 bytes for a time, then source, detail-type, detail and resources in UTF-8. */
function entrySize(entry: RequestEntry): number {
  const text = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value) : 0);
  const resources = Array.isArray(entry.Resources)
    ? entry.Resources.reduce<number>((sum, resource) => sum + text(resource), 0)
    : 0;
  return (entry.Time !== undefined ? 14 : 0) + text(entry.Source) + text(entry.DetailType) + text(entry.Detail) + resources;
}
