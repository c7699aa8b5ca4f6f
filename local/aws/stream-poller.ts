/**
 * The local stand-in for a Lambda DynamoDB Streams event source mapping: reads the table's real
 * stream (DynamoDB Local's, or any endpoint the SDK's default configuration points at), applies
 * the same filter patterns, and invokes a handler with Lambda's event shape and Lambda's retry,
 * bisect, partial-batch and on-failure semantics.
 */
import { randomUUID } from 'node:crypto';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type AttributeValue as SdkAttributeValue,
  type _Record as SdkRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { matchesAny, matchesPattern, type FilterPattern } from './event-filter';
import { drainWithin, MAX_BACKOFF_MS, PollLoops } from './poll-loop';

export type StreamHandler = (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;

export interface StreamPollerOptions {
  readonly streamArn: string;
  readonly handler: StreamHandler;
  /** Records not matching any pattern are dropped (Lambda does the same). */
  readonly filterPatterns?: readonly FilterPattern[];
  /** Default 10. */
  readonly batchSize?: number;
  /** Retries after the first attempt; default 3. */
  readonly maxRetryAttempts?: number;
  /** Default true. */
  readonly bisectBatchOnError?: boolean;
  /** Default true. */
  readonly reportBatchItemFailures?: boolean;
  /** Default TRIM_HORIZON. LATEST applies to the shards open at start; shards found later are read from their start. */
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /** Delay after a GetRecords that returned nothing; default 250. */
  readonly pollIntervalMs?: number;
  /** First retry delay, doubled per retry up to 5000; default 200. */
  readonly retryDelayMs?: number;
  /** Where a batch goes when its retries are exhausted, as Lambda's on-failure destination record. */
  readonly onFailure?: (failure: StreamBatchFailure) => Promise<void>;
  /** Default process.env.AWS_REGION ?? 'us-east-1'. */
  readonly region?: string;
  /** Used in failure records; default arn:aws:lambda:<region>:000000000000:function:local. */
  readonly functionArn?: string;
  /** Poller-level problems (handler errors, SDK errors, discarded batches); default console.error. */
  readonly onError?: (error: unknown) => void;
}

/** Lambda's on-failure destination payload for a stream event source. */
export interface StreamBatchFailure {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: 'RetryAttemptsExhausted';
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: '$LATEST';
    readonly functionError?: string;
  };
  readonly version: '1.0';
  readonly timestamp: string;
  readonly DDBStreamBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

export interface StreamPollerStats {
  readonly invocations: number;
  readonly recordsDelivered: number;
  readonly recordsFiltered: number;
  readonly failedBatches: number;
}

export interface StreamPoller {
  /** Resolves when every record written before the call has been delivered (or sent to onFailure). */
  drain(timeoutMs?: number): Promise<void>;
  /** Stops polling, waits for an in-flight invocation, and leaves no timers or sockets behind. */
  stop(): Promise<void>;
  readonly stats: StreamPollerStats;
}

export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  // A pattern the evaluator cannot honour fails here, not on the first record.
  for (const pattern of options.filterPatterns ?? []) matchesPattern({}, pattern);
  return new Poller(options);
}

const SHARD_DISCOVERY_INTERVAL_MS = 2_000;
const GET_RECORDS_LIMIT = 1_000;

interface Shard {
  readonly id: string;
  readonly parentId: string | undefined;
  startAt: 'TRIM_HORIZON' | 'LATEST';
  status: 'waiting' | 'running' | 'finished';
  /** Sequence number of the last record fully handled (delivered, filtered out or sent to onFailure). */
  checkpoint: string | undefined;
  /** Clock value of the last GetRecords that found nothing new. */
  caughtUpAt: number;
}

interface Attempt {
  records: DynamoDBRecord[];
  retries: number;
  invocations: number;
}

type Outcome =
  | { readonly kind: 'success'; readonly requestId: string }
  | { readonly kind: 'partial'; readonly requestId: string; readonly failedIndex: number }
  | { readonly kind: 'failure'; readonly requestId: string; readonly functionError?: string };

/** What a wait is for: a wake of one kind ends only those. */
type WaitKind = 'poll' | 'retry' | 'discovery';

class Poller implements StreamPoller {
  private readonly streams: DynamoDBStreamsClient;
  private readonly loops: PollLoops<WaitKind>;
  private readonly region: string;
  private readonly functionArn: string;
  private readonly counts = { invocations: 0, recordsDelivered: 0, recordsFiltered: 0, failedBatches: 0 };
  private readonly shards = new Map<string, Shard>();
  private readonly waiters = new Set<() => void>();
  /** Orders GetRecords calls, discoveries and drains, so a drain knows which reads began after it. */
  private clock = 0;
  private discoveredAt = 0;
  private discoveryRequested = false;
  private drainMark = 0;

  constructor(private readonly options: StreamPollerOptions) {
    this.loops = new PollLoops(options.onError);
    this.region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    this.functionArn = options.functionArn ?? `arn:aws:lambda:${this.region}:000000000000:function:local`;
    // Default configuration: endpoint, region and credentials come from the environment, as in a Lambda.
    this.streams = new DynamoDBStreamsClient(options.region ? { region: options.region } : {});
    this.startDiscovery();
  }

  get stats(): StreamPollerStats {
    return { ...this.counts };
  }

  drain(timeoutMs = 30_000): Promise<void> {
    if (this.loops.stopped) return Promise.reject(new Error('stream poller is stopped'));
    const mark = ++this.clock;
    this.drainMark = mark;
    this.requestDiscovery();
    this.loops.wake('poll');
    const timedOut = () => {
      const behind = [...this.shards.values()].filter((shard) => shard.status !== 'finished' && shard.caughtUpAt <= mark);
      const detail =
        this.discoveredAt <= mark
          ? 'the stream could not be described'
          : `shards not caught up: ${behind.map((s) => s.id).join(', ')}`;
      return new Error(`stream poller did not drain within ${timeoutMs} ms (${detail})`);
    };
    return drainWithin(timeoutMs, timedOut, (finish) => {
      const check = () => {
        if (this.loops.stopped) finish(new Error('stream poller stopped while draining'));
        else if (this.drainedSince(mark)) finish();
      };
      this.waiters.add(check);
      check();
      return () => this.waiters.delete(check);
    });
  }

  async stop(): Promise<void> {
    // In-flight SDK calls are cancelled; an in-flight handler invocation is awaited.
    await this.loops.stop(() => this.notify());
    this.streams.destroy();
  }

  private drainedSince(mark: number): boolean {
    if (this.discoveredAt <= mark) return false;
    return [...this.shards.values()].every((shard) => shard.status === 'finished' || shard.caughtUpAt > mark);
  }

  // ---- shards ----

  /** Describes the stream now, then every SHARD_DISCOVERY_INTERVAL_MS or as soon as a discovery is requested. */
  private startDiscovery(): void {
    this.loops.repeat(
      {
        backoffMs: this.pollIntervalMs,
        failed: async (error, backoff) => {
          this.loops.report(error);
          const delay = backoff.next();
          if (!this.discoveryRequested) await this.loops.sleep(delay, 'discovery');
          return 'again';
        },
      },
      async (backoff) => {
        this.discoveryRequested = false;
        await this.discover();
        backoff.reset();
        if (!this.discoveryRequested) await this.loops.sleep(SHARD_DISCOVERY_INTERVAL_MS, 'discovery');
        return 'again';
      },
    );
  }

  private async discover(): Promise<void> {
    const startedAt = ++this.clock;
    const initial = this.discoveredAt === 0;
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription: description } = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.options.streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
        { abortSignal: this.loops.signal },
      );
      for (const shard of description?.Shards ?? []) {
        if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
        const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
        // The starting position applies to the shards there at start; a shard that appears later
        // (a split or a rollover) is read from its beginning, or its first records would be lost.
        const startAt = initial ? (this.options.startingPosition ?? 'TRIM_HORIZON') : 'TRIM_HORIZON';
        this.shards.set(shard.ShardId, {
          id: shard.ShardId,
          parentId: shard.ParentShardId,
          startAt,
          status: startAt === 'LATEST' && closed ? 'finished' : 'waiting',
          checkpoint: undefined,
          caughtUpAt: 0,
        });
      }
      exclusiveStartShardId = description?.LastEvaluatedShardId;
    } while (exclusiveStartShardId && !this.loops.stopped);
    this.discoveredAt = startedAt;
    this.startReadyShards();
    this.notify();
  }

  private startReadyShards(): void {
    for (const shard of this.shards.values()) {
      if (shard.status !== 'waiting' || this.loops.stopped) continue;
      // A child shard waits for its parent, so that changes to one item stay in order across a
      // split (Lambda and the KCL do the same). A parent already trimmed away is not waited for.
      const parent = shard.parentId === undefined ? undefined : this.shards.get(shard.parentId);
      if (parent && parent.status !== 'finished') continue;
      shard.status = 'running';
      this.startReading(shard);
    }
  }

  /** Reads a shard from its checkpoint until it is finished (read to its end, or gone). */
  private startReading(shard: Shard): void {
    let iterator: string | undefined;
    this.loops.repeat(
      {
        backoffMs: this.pollIntervalMs,
        failed: async (error, backoff) => {
          const name = (error as { name?: unknown } | undefined)?.name;
          // Whatever failed, reading resumes with a fresh iterator at the checkpoint. Iterators also
          // expire after 15 minutes, which a long run of retries can outlive: that is not an error.
          iterator = undefined;
          if (name === 'ExpiredIteratorException') return 'again';
          if (name === 'TrimmedDataAccessException') {
            // The checkpoint is older than the stream's 24 h retention: resume at the trim horizon.
            shard.checkpoint = undefined;
            shard.startAt = 'TRIM_HORIZON';
          }
          if (name === 'ResourceNotFoundException') {
            // The shard has expired (or the stream is gone): nothing more can be read from it.
            shard.status = 'finished';
            this.loops.report(error);
            this.startReadyShards();
            this.notify();
            return 'done';
          }
          return this.loops.reportAndBackOff(error, backoff, 'retry');
        },
      },
      async (backoff) => {
        iterator ??= await this.shardIterator(shard);
        const readAt = ++this.clock;
        const response = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: GET_RECORDS_LIMIT }), {
          abortSignal: this.loops.signal,
        });
        backoff.reset();
        const records = response.Records ?? [];
        if (records.length > 0) await this.process(shard, records);
        if (this.loops.stopped) return 'done';
        iterator = response.NextShardIterator;
        if (iterator === undefined) {
          // A closed shard read to its end: its children (if any) may start now.
          shard.status = 'finished';
          this.startReadyShards();
          this.requestDiscovery();
          this.notify();
          return 'done';
        }
        if (records.length === 0) {
          shard.caughtUpAt = readAt;
          this.notify();
          // A drain that began after this read started needs one more read, without the poll delay.
          if (readAt > this.drainMark) await this.loops.sleep(this.pollIntervalMs, 'poll');
        }
        return 'again';
      },
    );
  }

  private async shardIterator(shard: Shard): Promise<string> {
    const position =
      shard.checkpoint === undefined
        ? { ShardIteratorType: shard.startAt }
        : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: shard.checkpoint };
    const { ShardIterator: iterator } = await this.streams.send(
      new GetShardIteratorCommand({ StreamArn: this.options.streamArn, ShardId: shard.id, ...position }),
      { abortSignal: this.loops.signal },
    );
    if (!iterator) throw new Error(`GetShardIterator returned no iterator for ${shard.id}`);
    return iterator;
  }

  // ---- delivery ----

  private async process(shard: Shard, sdkRecords: readonly SdkRecord[]): Promise<void> {
    const records = sdkRecords.map((record) => this.toLambdaRecord(record));
    const matching = records.filter((record) => matchesAny(record, this.options.filterPatterns ?? []));
    this.counts.recordsFiltered += records.length - matching.length;
    const batchSize = this.options.batchSize ?? 10;
    for (let start = 0; start < matching.length && !this.loops.stopped; start += batchSize) {
      await this.deliver(shard, matching.slice(start, start + batchSize));
    }
    if (!this.loops.stopped) shard.checkpoint = sdkRecords[sdkRecords.length - 1]?.dynamodb?.SequenceNumber ?? shard.checkpoint;
  }

  /**
   * One batch until it is checkpointed: retried, bisected or sent to onFailure. Every failed
   * invocation either shrinks the work (bisect, partial success) or uses up a retry, so this ends.
   */
  private async deliver(shard: Shard, batch: DynamoDBRecord[]): Promise<void> {
    const maxRetryAttempts = this.options.maxRetryAttempts ?? 3;
    const retryDelayMs = this.options.retryDelayMs ?? 200;
    const pending: Attempt[] = [{ records: batch, retries: 0, invocations: 0 }];
    while (pending.length > 0 && !this.loops.stopped) {
      const attempt = pending[0];
      const outcome = await this.invoke(attempt.records);
      attempt.invocations += 1;
      if (outcome.kind === 'success') {
        this.counts.recordsDelivered += attempt.records.length;
        pending.shift();
        continue;
      }
      if (outcome.kind === 'partial') {
        // Lambda checkpoints before the lowest failed sequence number and retries from there
        // (with bisect on too, the batch is "bisected at the returned sequence number").
        this.counts.recordsDelivered += outcome.failedIndex;
        attempt.records = attempt.records.slice(outcome.failedIndex);
      } else if ((this.options.bisectBatchOnError ?? true) && attempt.records.length > 1) {
        // Splitting does not count against the retry quota (as in AWS); the halves inherit it.
        const middle = Math.ceil(attempt.records.length / 2);
        pending.splice(
          0,
          1,
          { records: attempt.records.slice(0, middle), retries: attempt.retries, invocations: 0 },
          { records: attempt.records.slice(middle), retries: attempt.retries, invocations: 0 },
        );
        await this.loops.sleep(retryDelayMs, 'retry');
        continue;
      }
      if (attempt.retries >= maxRetryAttempts) {
        pending.shift();
        await this.sendToFailureDestination(shard, attempt, outcome);
        continue;
      }
      attempt.retries += 1;
      await this.loops.sleep(Math.min(retryDelayMs * 2 ** (attempt.retries - 1), MAX_BACKOFF_MS), 'retry');
    }
  }

  private async invoke(records: readonly DynamoDBRecord[]): Promise<Outcome> {
    const requestId = randomUUID();
    this.counts.invocations += 1;
    let response: DynamoDBBatchResponse | void;
    try {
      // A copy per invocation, as Lambda serializes the event: a handler cannot alter a retry's input.
      response = await this.options.handler({ Records: structuredClone(records) as DynamoDBRecord[] });
    } catch (error) {
      this.loops.report(error);
      return { kind: 'failure', requestId, functionError: 'Unhandled' };
    }
    // Without ReportBatchItemFailures Lambda ignores the response: the invocation succeeded.
    if (!(this.options.reportBatchItemFailures ?? true)) return { kind: 'success', requestId };
    const failures: unknown = (response as { batchItemFailures?: unknown } | undefined | null)?.batchItemFailures;
    if (failures === undefined || failures === null || (Array.isArray(failures) && failures.length === 0)) {
      return { kind: 'success', requestId };
    }
    const indexes = Array.isArray(failures)
      ? failures.map((failure: { itemIdentifier?: unknown } | null) => {
          const id = failure?.itemIdentifier;
          return typeof id === 'string' && id !== '' ? records.findIndex((record) => record.dynamodb?.SequenceNumber === id) : -1;
        })
      : [-1];
    if (indexes.includes(-1)) {
      // Lambda treats an empty, null or unknown itemIdentifier as a failure of the whole batch.
      this.loops.report(
        new Error(`handler returned an invalid batchItemFailures (${JSON.stringify(failures)}): the whole batch failed`),
      );
      return { kind: 'failure', requestId };
    }
    return { kind: 'partial', requestId, failedIndex: Math.min(...indexes) };
  }

  private async sendToFailureDestination(shard: Shard, attempt: Attempt, outcome: Outcome): Promise<void> {
    this.counts.failedBatches += 1;
    const first = attempt.records[0]?.dynamodb;
    const last = attempt.records[attempt.records.length - 1]?.dynamodb;
    const failure: StreamBatchFailure = {
      requestContext: {
        requestId: outcome.requestId,
        functionArn: this.functionArn,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: attempt.invocations,
      },
      responseContext: {
        statusCode: 200,
        executedVersion: '$LATEST',
        ...(outcome.kind === 'failure' && outcome.functionError ? { functionError: outcome.functionError } : {}),
      },
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: shard.id,
        startSequenceNumber: first?.SequenceNumber ?? '',
        endSequenceNumber: last?.SequenceNumber ?? '',
        approximateArrivalOfFirstRecord: arrival(first?.ApproximateCreationDateTime),
        approximateArrivalOfLastRecord: arrival(last?.ApproximateCreationDateTime),
        batchSize: attempt.records.length,
        streamArn: this.options.streamArn,
      },
    };
    if (!this.options.onFailure) {
      // Lambda drops such records silently; locally that would hide a failing handler.
      this.loops.report(
        new Error(
          `discarded ${attempt.records.length} record(s) after ${attempt.invocations} invocation(s): ${JSON.stringify(failure)}`,
        ),
      );
      return;
    }
    try {
      await this.options.onFailure(failure);
    } catch (error) {
      this.loops.report(error);
    }
  }

  private toLambdaRecord(record: SdkRecord): DynamoDBRecord {
    const stream = record.dynamodb ?? {};
    const created = stream.ApproximateCreationDateTime;
    return withoutUndefined({
      eventID: record.eventID,
      eventName: record.eventName,
      // Fixed by Lambda, whatever the emulator reports (DynamoDB Local says awsRegion "ddblocal").
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: this.region,
      dynamodb: withoutUndefined({
        ApproximateCreationDateTime: created === undefined ? undefined : Math.floor(created.getTime() / 1000),
        Keys: toLambdaImage(stream.Keys),
        NewImage: toLambdaImage(stream.NewImage),
        OldImage: toLambdaImage(stream.OldImage),
        SequenceNumber: stream.SequenceNumber,
        SizeBytes: stream.SizeBytes,
        StreamViewType: stream.StreamViewType,
      }),
      eventSourceARN: this.options.streamArn,
      // TTL deletions carry the DynamoDB service as the identity, in Lambda's lower-case keys.
      userIdentity: record.userIdentity && { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId },
    });
  }

  // ---- plumbing ----

  private get pollIntervalMs(): number {
    return this.options.pollIntervalMs ?? 250;
  }

  private requestDiscovery(): void {
    this.discoveryRequested = true;
    this.loops.wake('discovery');
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Lambda delivers binary attributes as base64 strings; the SDK gives bytes. */
function toLambdaImage(image: Record<string, SdkAttributeValue> | undefined): Record<string, AttributeValue> | undefined {
  if (image === undefined) return undefined;
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, toLambdaValue(value)]));
}

function toLambdaValue(value: SdkAttributeValue): AttributeValue {
  const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.B !== undefined) return { B: base64(value.B) };
  if (value.SS !== undefined) return { SS: value.SS };
  if (value.NS !== undefined) return { NS: value.NS };
  if (value.BS !== undefined) return { BS: value.BS.map(base64) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaValue) };
  if (value.M !== undefined) return { M: toLambdaImage(value.M)! };
  throw new Error(`unsupported attribute value: ${JSON.stringify(value)}`);
}

/** Stream failure records give arrival times to the second, without milliseconds. */
function arrival(epochSeconds: number | undefined): string {
  return new Date((epochSeconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Lambda's JSON omits absent fields (an INSERT has no OldImage key at all). */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
