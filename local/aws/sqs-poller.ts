/**
 * The local stand-in for a Lambda SQS event source mapping: long-polls a real queue (fauxqs, or
 * any endpoint the SDK's default configuration points at) and invokes a handler with Lambda's
 * event shape, Lambda's partial batch response rules and Lambda's maximum concurrency. Retries
 * and the dead-letter queue are the queue's own: a message that is not deleted comes back after
 * its visibility timeout, and the queue's redrive policy moves it once it has been received
 * maxReceiveCount times. The poller never changes a message's visibility itself (except to hand
 * back at once what a long poll returns while it stops).
 *
 * Rules below follow the AWS Lambda Developer Guide: "Handling errors for an SQS event source in
 * Lambda" and "Implementing partial batch responses" (with-sqs-errorhandling.html).
 *
 * fauxqs 1.9, where it matters here:
 * - The redrive move happens inside a ReceiveMessage that finds a visible message already received
 *   maxReceiveCount times; that receive returns nothing for it but still counts, so the message's
 *   first receive from the dead-letter queue reports ApproximateReceiveCount maxReceiveCount + 2.
 * - GetQueueAttributes does not advance timers: a message whose visibility timeout has passed is
 *   counted as not visible until a ReceiveMessage runs (a waiting long poll runs them every 20 ms).
 *   drain() adds both counts, so it is unaffected.
 * - A long poll the client cancels stays registered on the server until its wait ends, and can
 *   still take a message that arrives meanwhile (it becomes in flight, its receive count goes up).
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttribute, SQSRecord } from 'aws-lambda';
import { drainWithin, PollLoops, type Backoff, type PollResult } from './poll-loop';

export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export interface SqsPollerOptions {
  readonly queueUrl: string;
  /** The records' eventSourceARN; default: the queue's QueueArn attribute, read at start. */
  readonly queueArn?: string;
  readonly handler: SqsHandler;
  /** Messages per invocation, 1–10 (one ReceiveMessage); default 10. */
  readonly batchSize?: number;
  /**
   * Invocations in flight at once, each from its own poller; default 2. Lambda's
   * ScalingConfig.MaximumConcurrency starts at 2; 1 stands for a function whose reserved
   * concurrency is 1.
   */
  readonly maxConcurrency?: number;
  /** Long-poll wait of each ReceiveMessage, 0–20 s; default 20, as Lambda's pollers. */
  readonly waitTimeSeconds?: number;
  /** Without it Lambda ignores the handler's response: an invocation that returns succeeded. Default true. */
  readonly reportBatchItemFailures?: boolean;
  /** Delay after an empty short poll (waitTimeSeconds 0) and first delay after an SDK error; default 250. */
  readonly pollIntervalMs?: number;
  /** Default process.env.AWS_REGION ?? 'us-east-1'. */
  readonly region?: string;
  /** Used instead of a client of its own (which is made from the SDK's default configuration); not destroyed by stop(). */
  readonly sqsClient?: SQSClient;
  /** Poller-level problems (handler errors, invalid responses, SDK errors); default console.error. */
  readonly onError?: (error: unknown) => void;
}

export interface SqsPollerStats {
  readonly invocations: number;
  /** Invocations that threw or answered with an invalid batchItemFailures: their whole batch stayed. */
  readonly failedInvocations: number;
  readonly messagesReceived: number;
  readonly messagesDeleted: number;
  /** Messages left in the queue after an invocation, to come back after their visibility timeout. */
  readonly messagesLeft: number;
}

export interface SqsPoller {
  /**
   * Resolves when the queue holds no message (visible, in flight or delayed) and no invocation is
   * running; rejects after timeoutMs. A message that keeps failing without a redrive policy
   * therefore makes it time out, as it would keep the real queue busy.
   */
  drain(timeoutMs?: number): Promise<void>;
  /** Stops polling, waits for running invocations (and their deletes), and leaves no timers or sockets behind. */
  stop(): Promise<void>;
  readonly stats: SqsPollerStats;
}

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const batchSize = options.batchSize ?? 10;
  // Lambda takes larger batches only with a batching window, which is not emulated here.
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
    throw new Error(`batchSize must be an integer from 1 to 10 (one ReceiveMessage), got ${batchSize}`);
  }
  const maxConcurrency = options.maxConcurrency ?? 2;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 1000) {
    throw new Error(`maxConcurrency must be an integer from 1 to 1000, got ${maxConcurrency}`);
  }
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 0 || waitTimeSeconds > 20) {
    throw new Error(`waitTimeSeconds must be an integer from 0 to 20, got ${waitTimeSeconds}`);
  }
  return new Poller(options, batchSize, maxConcurrency, waitTimeSeconds);
}

const DRAIN_CHECK_INTERVAL_MS = 50;

type Outcome =
  | { readonly kind: 'success' }
  | { readonly kind: 'partial'; readonly failedIds: ReadonlySet<string> }
  | { readonly kind: 'failure' };

class Poller implements SqsPoller {
  private readonly sqs: SQSClient;
  private readonly ownsClient: boolean;
  private readonly region: string;
  /** Its signal cancels long polls and drain reads on stop; a delete after an invocation is never cancelled. */
  private readonly loops: PollLoops;
  private readonly counts = { invocations: 0, failedInvocations: 0, messagesReceived: 0, messagesDeleted: 0, messagesLeft: 0 };
  private queueArn: Promise<string>;
  /** Workers between holding received messages and finishing with them. */
  private busy = 0;

  constructor(
    private readonly options: SqsPollerOptions,
    private readonly batchSize: number,
    maxConcurrency: number,
    private readonly waitTimeSeconds: number,
  ) {
    this.region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    this.loops = new PollLoops(options.onError);
    this.ownsClient = options.sqsClient === undefined;
    // Own retries off: a failed receive is retried by the loop, a failed delete leaves the
    // messages to come back (at-least-once, as when Lambda's delete fails).
    this.sqs = options.sqsClient ?? new SQSClient({ ...(options.region ? { region: options.region } : {}), maxAttempts: 1 });
    this.queueArn = options.queueArn ? Promise.resolve(options.queueArn) : this.readQueueArn();
    // A rejected lookup is retried by the next worker that needs it; this only keeps it from being "unhandled".
    this.queueArn.catch(() => undefined);
    for (let worker = 0; worker < maxConcurrency; worker++) {
      this.loops.repeat({ backoffMs: this.pollIntervalMs }, (backoff) => this.receiveAndDeliver(backoff));
    }
  }

  get stats(): SqsPollerStats {
    return { ...this.counts };
  }

  drain(timeoutMs = 30_000): Promise<void> {
    if (this.loops.stopped) return Promise.reject(new Error('sqs poller is stopped'));
    let state = 'the queue could not be read';
    const timedOut = () => new Error(`sqs poller did not drain within ${timeoutMs} ms (${state})`);
    return drainWithin(timeoutMs, timedOut, (finish) => {
      let watching = true;
      const check = async () => {
        while (watching) {
          if (this.loops.stopped) return finish(new Error('sqs poller stopped while draining'));
          const idleBefore = this.busy === 0;
          try {
            const { Attributes: attributes = {} } = await this.sqs.send(
              new GetQueueAttributesCommand({
                QueueUrl: this.options.queueUrl,
                AttributeNames: [
                  'ApproximateNumberOfMessages',
                  'ApproximateNumberOfMessagesNotVisible',
                  'ApproximateNumberOfMessagesDelayed',
                ],
              }),
              { abortSignal: this.loops.signal },
            );
            const visible = Number(attributes.ApproximateNumberOfMessages ?? NaN);
            const inFlight = Number(attributes.ApproximateNumberOfMessagesNotVisible ?? NaN);
            const delayed = Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0);
            // Idle on both sides of the read: no invocation began and ended unseen around it. An
            // invocation whose messages are already gone (deleted by the handler) still counts.
            if (visible === 0 && inFlight === 0 && delayed === 0 && idleBefore && this.busy === 0) return finish();
            state = `visible ${visible}, in flight ${inFlight}, delayed ${delayed}, invocations running ${this.busy}`;
          } catch (error) {
            state = `GetQueueAttributes failed: ${String(error)}`;
          }
          await this.loops.sleep(DRAIN_CHECK_INTERVAL_MS);
        }
      };
      check().catch((error: unknown) => finish(error instanceof Error ? error : new Error(String(error))));
      return () => {
        watching = false;
      };
    });
  }

  async stop(): Promise<void> {
    // A cancelled long poll can still be answered on the server side (fauxqs does, see above):
    // what it takes stays invisible for its visibility timeout, as after a consumer that crashed.
    await this.loops.stop();
    if (this.ownsClient) this.sqs.destroy();
  }

  // ---- polling ----

  /** One worker's poll: a (long) ReceiveMessage, then one invocation with what it returned. */
  private async receiveAndDeliver(backoff: Backoff): Promise<PollResult> {
    const response = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.options.queueUrl,
        MaxNumberOfMessages: this.batchSize,
        WaitTimeSeconds: this.waitTimeSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: this.loops.signal },
    );
    const messages: Message[] = response.Messages ?? [];
    backoff.reset();
    if (messages.length === 0) {
      if (this.waitTimeSeconds === 0) await this.loops.sleep(this.pollIntervalMs);
      return 'again';
    }
    this.busy += 1;
    try {
      this.counts.messagesReceived += messages.length;
      if (this.loops.stopped) await this.release(messages);
      else await this.deliver(messages);
    } finally {
      this.busy -= 1;
    }
    return 'again';
  }

  private async deliver(messages: readonly Message[]): Promise<void> {
    let records: SQSRecord[];
    try {
      records = await this.toLambdaRecords(messages);
    } catch (error) {
      // Without the queue's ARN there is no event to build: the messages come back later.
      this.loops.report(error);
      this.counts.messagesLeft += messages.length;
      return;
    }
    const outcome = await this.invoke(records);
    const keep = outcome.kind === 'failure' ? undefined : outcome.kind === 'partial' ? outcome.failedIds : new Set<string>();
    const toDelete = keep === undefined ? [] : messages.filter((message) => !keep.has(message.MessageId ?? ''));
    this.counts.messagesLeft += messages.length - toDelete.length;
    if (toDelete.length > 0) await this.delete(toDelete);
  }

  private async invoke(records: readonly SQSRecord[]): Promise<Outcome> {
    this.counts.invocations += 1;
    let response: SQSBatchResponse | void;
    try {
      // A copy per invocation, as Lambda serializes the event.
      response = await this.options.handler({ Records: structuredClone(records) as SQSRecord[] });
    } catch (error) {
      // An invocation that errors is a failure of the whole batch (error handling guide): nothing
      // is deleted, every message comes back after its visibility timeout.
      this.counts.failedInvocations += 1;
      this.loops.report(error);
      return { kind: 'failure' };
    }
    // Without ReportBatchItemFailures Lambda does not read the response: success, delete all.
    if (!(this.options.reportBatchItemFailures ?? true)) return { kind: 'success' };
    const failures: unknown = (response as { batchItemFailures?: unknown } | undefined | null)?.batchItemFailures;
    // Complete success (partial batch responses guide): an empty or null batchItemFailures list,
    // or an empty or null response.
    if (failures === undefined || failures === null || (Array.isArray(failures) && failures.length === 0)) {
      return { kind: 'success' };
    }
    const known = new Set(records.map((record) => record.messageId));
    const failedIds = Array.isArray(failures)
      ? failures.map((failure: { itemIdentifier?: unknown } | null) => failure?.itemIdentifier)
      : [undefined];
    // Complete failure (same guide): an invalid response, an empty or null itemIdentifier, a bad
    // key name, or a message ID that is not in the batch. Nothing is deleted.
    if (!failedIds.every((id): id is string => typeof id === 'string' && known.has(id))) {
      this.counts.failedInvocations += 1;
      this.loops.report(
        new Error(`handler returned an invalid batchItemFailures (${JSON.stringify(failures)}): the whole batch failed`),
      );
      return { kind: 'failure' };
    }
    // Partial success: Lambda deletes the others and leaves the reported ones, which come back
    // after their visibility timeout (the queue's, or what the handler set with ChangeMessageVisibility).
    return { kind: 'partial', failedIds: new Set(failedIds) };
  }

  private async delete(messages: readonly Message[]): Promise<void> {
    try {
      const response = await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: messages.map((message, index) => ({ Id: `m${index}`, ReceiptHandle: message.ReceiptHandle })),
        }),
      );
      const failed = response.Failed ?? [];
      this.counts.messagesDeleted += messages.length - failed.length;
      this.counts.messagesLeft += failed.length;
      if (failed.length > 0) {
        this.loops.report(
          new Error(
            `DeleteMessageBatch failed for ${failed.length} message(s); they will be delivered again: ${JSON.stringify(failed)}`,
          ),
        );
      }
    } catch (error) {
      this.counts.messagesLeft += messages.length;
      this.loops.report(error);
    }
  }

  /** Messages received while stopping are not delivered: they are made visible again at once. */
  private async release(messages: readonly Message[]): Promise<void> {
    this.counts.messagesLeft += messages.length;
    try {
      await this.sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: messages.map((message, index) => ({
            Id: `m${index}`,
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          })),
        }),
      );
    } catch (error) {
      this.loops.report(error);
    }
  }

  // ---- event shape ----

  private async toLambdaRecords(messages: readonly Message[]): Promise<SQSRecord[]> {
    let eventSourceARN: string;
    try {
      eventSourceARN = await this.queueArn;
    } catch (error) {
      this.queueArn = this.readQueueArn();
      this.queueArn.catch(() => undefined);
      throw error;
    }
    return messages.map((message) => {
      const attributes = message.Attributes ?? {};
      const messageAttributes = Object.entries(message.MessageAttributes ?? {});
      return {
        messageId: message.MessageId ?? '',
        receiptHandle: message.ReceiptHandle ?? '',
        body: message.Body ?? '',
        // Lambda's order; AWSTraceHeader and the FIFO attributes only when the queue sets them.
        attributes: withoutUndefined({
          AWSTraceHeader: attributes.AWSTraceHeader,
          ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '',
          SentTimestamp: attributes.SentTimestamp ?? '',
          SenderId: attributes.SenderId ?? '',
          ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? '',
          SequenceNumber: attributes.SequenceNumber,
          MessageGroupId: attributes.MessageGroupId,
          MessageDeduplicationId: attributes.MessageDeduplicationId,
          DeadLetterQueueSourceArn: attributes.DeadLetterQueueSourceArn,
        }),
        messageAttributes: Object.fromEntries(messageAttributes.map(([name, value]) => [name, toLambdaAttribute(value)])),
        md5OfBody: message.MD5OfBody ?? '',
        ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
        eventSource: 'aws:sqs',
        eventSourceARN,
        awsRegion: this.region,
      };
    });
  }

  private async readQueueArn(): Promise<string> {
    const { Attributes: attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.options.queueUrl, AttributeNames: ['QueueArn'] }),
    );
    if (!attributes?.QueueArn) throw new Error(`queue ${this.options.queueUrl} has no QueueArn attribute`);
    return attributes.QueueArn;
  }

  // ---- plumbing ----

  private get pollIntervalMs(): number {
    return this.options.pollIntervalMs ?? 250;
  }
}

/** Lambda's message attribute shape: lower-case keys, binary as base64, the (unused) list fields always present. */
function toLambdaAttribute(value: MessageAttributeValue): SQSMessageAttribute {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return withoutUndefined({
    stringValue: value.StringValue,
    binaryValue: value.BinaryValue === undefined ? undefined : base64(value.BinaryValue),
    stringListValues: value.StringListValues ?? [],
    binaryListValues: (value.BinaryListValues ?? []).map(base64),
    dataType: value.DataType ?? 'String',
  });
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
