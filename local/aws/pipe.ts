/**
 * The local stand-in for an EventBridge Pipe from a DynamoDB stream to an SQS queue. The source
 * side is the stream poller (the same filter patterns, batches, retries, bisect and on-failure
 * handling as a stream event source); the target side renders each record with the Pipe's
 * InputTemplate and sends the batch with SendMessageBatch. Entries SQS rejects are never dropped:
 * the batch reports a partial failure at the first of them, so the poller retries from there.
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { FilterPattern } from './event-filter';
import { startStreamPoller, type StreamBatchFailure, type StreamPoller, type StreamPollerStats } from './stream-poller';

export type { StreamBatchFailure } from './stream-poller';

export interface StreamToQueuePipeOptions {
  readonly streamArn: string;
  readonly queueUrl: string;
  /** The Pipe's source filter; records matching none are dropped. Default: no filtering. */
  readonly filterPatterns?: readonly FilterPattern[];
  /** The target's InputTemplate (see renderInputTemplate); default: the record's JSON, as a Pipe without one sends. */
  readonly inputTemplate?: string;
  /** Records per batch (SendMessageBatch takes 10 a call, so larger batches are sent in several); default 10. */
  readonly batchSize?: number;
  /** The source's MaximumRetryAttempts: -1 (the Pipes default) retries until the record expires. */
  readonly maxRetryAttempts?: number;
  /** The source's OnPartialBatchItemFailure; unset (the Pipes default) means no bisecting. */
  readonly onPartialBatchItemFailure?: 'AUTOMATIC_BISECT';
  /** Default TRIM_HORIZON. */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Where a batch goes when its retries are exhausted (the source's DeadLetterConfig), in the stream poller's shape. */
  readonly onFailure?: (failure: StreamBatchFailure) => Promise<void>;
  /** Default process.env.AWS_REGION ?? 'us-east-1'. */
  readonly region?: string;
  /** Named in failure records; default arn:aws:pipes:<region>:000000000000:pipe/local. */
  readonly pipeArn?: string;
  /** Used instead of a client of its own (which is made from the SDK's default configuration); not destroyed by stop(). */
  readonly sqsClient?: SQSClient;
  /** Stream poll delay (default 250) and first retry delay (default 200), as in the stream poller. */
  readonly pollIntervalMs?: number;
  readonly retryDelayMs?: number;
  /** Pipe-level problems (rejected entries, SDK errors, discarded batches); default console.error. */
  readonly onError?: (error: unknown) => void;
}

export interface StreamToQueuePipeStats extends StreamPollerStats {
  /** Messages SQS accepted (a record retried after a partial failure may be counted twice). */
  readonly messagesSent: number;
  /** SendMessageBatch entries SQS rejected (each one retried). */
  readonly entriesRejected: number;
}

export interface StreamToQueuePipe {
  /** Resolves when every record written before the call has become a message (or gone to onFailure). */
  drain(timeoutMs?: number): Promise<void>;
  /** Stops reading the stream, waits for a batch in flight, and leaves no timers or sockets behind. */
  stop(): Promise<void>;
  readonly stats: StreamToQueuePipeStats;
}

const SEND_MESSAGE_BATCH_LIMIT = 10;

export function startStreamToQueuePipe(options: StreamToQueuePipeOptions): StreamToQueuePipe {
  const maxRetryAttempts = options.maxRetryAttempts ?? -1;
  if (!Number.isInteger(maxRetryAttempts) || maxRetryAttempts < -1) {
    throw new Error(`maxRetryAttempts must be -1 (retry until the record expires) or a count, got ${maxRetryAttempts}`);
  }
  // Template errors surface at start, not on the first record.
  const template = options.inputTemplate === undefined ? undefined : compileInputTemplate(options.inputTemplate);
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const ownsClient = options.sqsClient === undefined;
  // Own retries off: the Pipe's retry policy is the stream poller's, and two layers would multiply.
  const sqs = options.sqsClient ?? new SQSClient({ ...(options.region ? { region: options.region } : {}), maxAttempts: 1 });
  const counts = { messagesSent: 0, entriesRejected: 0 };
  const report = (error: unknown) => {
    try {
      (options.onError ?? console.error)(error);
    } catch {
      // A failing error reporter must not stop the pipe.
    }
  };

  // Pipes applies the template to each record of the batch separately.
  const render = (record: DynamoDBRecord) => (template ? renderCompiled(template, record) : JSON.stringify(record));

  const sendBatch = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse | void> => {
    const records = event.Records;
    for (let start = 0; start < records.length; start += SEND_MESSAGE_BATCH_LIMIT) {
      const chunk = records.slice(start, start + SEND_MESSAGE_BATCH_LIMIT);
      let accepted: Set<string>;
      try {
        const response = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: chunk.map((record, index) => ({ Id: `r${start + index}`, MessageBody: render(record) })),
          }),
        );
        accepted = new Set((response.Successful ?? []).map((entry) => entry.Id ?? ''));
        const rejected = response.Failed ?? [];
        counts.messagesSent += accepted.size;
        counts.entriesRejected += chunk.length - accepted.size;
        if (rejected.length > 0) {
          report(
            new Error(`SendMessageBatch rejected ${rejected.length} of ${chunk.length} message(s): ${JSON.stringify(rejected)}`),
          );
        }
      } catch (error) {
        // The whole call failed: nothing of this chunk was sent. The first chunk fails the batch
        // (retried or bisected); a later one keeps what the earlier chunks already sent.
        if (start === 0) throw error;
        report(error);
        return failedFrom(records[start]);
      }
      // An entry missing from Successful counts as rejected too: a record is never dropped.
      const firstRejected = chunk.findIndex((_, index) => !accepted.has(`r${start + index}`));
      if (firstRejected !== -1) {
        // Records are checkpointed in order, so the batch fails at the first rejected one; those
        // after it are sent again on the retry even if they were accepted (at least once, as Pipes).
        return failedFrom(chunk[firstRejected]);
      }
    }
  };

  const poller: StreamPoller = startStreamPoller({
    streamArn: options.streamArn,
    handler: sendBatch,
    filterPatterns: options.filterPatterns,
    batchSize: options.batchSize ?? 10,
    maxRetryAttempts: maxRetryAttempts === -1 ? Infinity : maxRetryAttempts,
    bisectBatchOnError: options.onPartialBatchItemFailure === 'AUTOMATIC_BISECT',
    reportBatchItemFailures: true,
    startingPosition: options.startingPosition,
    pollIntervalMs: options.pollIntervalMs,
    retryDelayMs: options.retryDelayMs,
    onFailure: options.onFailure,
    region,
    functionArn: options.pipeArn ?? `arn:aws:pipes:${region}:000000000000:pipe/local`,
    onError: report,
  });

  return {
    drain: (timeoutMs) => poller.drain(timeoutMs),
    stop: async () => {
      await poller.stop();
      if (ownsClient) sqs.destroy();
    },
    get stats() {
      return { ...poller.stats, ...counts };
    },
  };
}

function failedFrom(record: DynamoDBRecord): DynamoDBBatchResponse {
  return { batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }] };
}

// ---- InputTemplate ----

type PathStep = { readonly key: string } | { readonly index: number };

type Segment =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'path'; readonly steps: readonly PathStep[]; readonly quoted: boolean };

/**
 * Renders an EventBridge Pipes InputTemplate for one event (pure). Placeholders are JSON paths
 * in angle brackets, `<$.a.b-c.d_e[0]>`: dot notation, array indices, names of letters, digits,
 * dashes, underscores and slashes, as the Pipes documentation lists.
 *
 * - Inside a JSON string (`"id: <$.x>"`) the value's string form is inserted, escaped for that
 *   string: a string as itself, anything else as its JSON text.
 * - Outside quotes the value's JSON is inserted (`{"image": <$.dynamodb.NewImage>}`). This is
 *   what the Pipes guide asks templates to rely on: quotes around paths to values, none around
 *   paths to objects or arrays.
 * - A path that is not in the event renders as `null` outside quotes and as an empty string
 *   inside. (Pipes does not document this case; this is the choice made here.)
 *
 * Not emulated, and rejected rather than passed through: wildcards (`[*]`) and the reserved
 * `<aws.pipes.*>` variables.
 */
export function renderInputTemplate(template: string, event: object): string {
  return renderCompiled(compileInputTemplate(template), event);
}

const PLACEHOLDER = /<\$((?:\.[A-Za-z0-9_\-/]+|\[\d+\])*)>/y;
const STEP = /\.([A-Za-z0-9_\-/]+)|\[(\d+)\]/g;

function compileInputTemplate(template: string): Segment[] {
  const segments: Segment[] = [];
  let text = '';
  let inString = false;
  let position = 0;
  while (position < template.length) {
    const char = template[position];
    if (char === '<' && (template.startsWith('<$', position) || template.startsWith('<aws.', position))) {
      PLACEHOLDER.lastIndex = position;
      const match = PLACEHOLDER.exec(template);
      if (!match) {
        const end = template.indexOf('>', position);
        const placeholder = end === -1 ? template.slice(position) : template.slice(position, end + 1);
        const reason = placeholder.startsWith('<aws.')
          ? 'reserved variables are not emulated'
          : placeholder.includes('*')
            ? 'wildcards are not emulated'
            : 'expected <$.name.name[0]...>';
        throw new Error(`InputTemplate placeholder ${placeholder} at position ${position}: ${reason}`);
      }
      if (text) segments.push({ kind: 'text', text });
      text = '';
      const steps = [...match[1].matchAll(STEP)].map((step): PathStep =>
        step[1] !== undefined ? { key: step[1] } : { index: Number(step[2]) },
      );
      segments.push({ kind: 'path', steps, quoted: inString });
      position += match[0].length;
      continue;
    }
    if (inString && char === '\\') {
      // An escape inside a JSON string: the next character cannot end the string.
      text += template.slice(position, position + 2);
      position += 2;
      continue;
    }
    if (char === '"') inString = !inString;
    text += char;
    position += 1;
  }
  if (text) segments.push({ kind: 'text', text });
  return segments;
}

function renderCompiled(segments: readonly Segment[], event: object): string {
  return segments
    .map((segment) => {
      if (segment.kind === 'text') return segment.text;
      const found = resolve(event, segment.steps);
      if (!segment.quoted) return found.present ? JSON.stringify(found.value) : 'null';
      if (!found.present) return '';
      const text = typeof found.value === 'string' ? found.value : JSON.stringify(found.value);
      // JSON escaping of the string's content, without the quotes the template already has.
      return JSON.stringify(text).slice(1, -1);
    })
    .join('');
}

function resolve(event: unknown, steps: readonly PathStep[]): { present: true; value: unknown } | { present: false } {
  let value: unknown = event;
  for (const step of steps) {
    if ('index' in step) {
      if (!Array.isArray(value) || step.index >= value.length) return { present: false };
      value = value[step.index];
    } else {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, step.key)) {
        return { present: false };
      }
      value = (value as Record<string, unknown>)[step.key];
    }
  }
  // undefined is not a JSON value: a field set to undefined is as absent as a missing one.
  return value === undefined ? { present: false } : { present: true, value };
}
