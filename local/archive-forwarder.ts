/**
 * The forwarder on the table's stream, as the construct's event source runs it: the same filter
 * patterns, starting position, batch size, retries, bisect on error, partial-batch answers and
 * on-failure destination, through the stream poller (the emulation of Lambda's DynamoDB Streams
 * event source). Local mode runs the shipped bundle with it; tests and the reliability suite run
 * the handler built from source.
 */
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { BECAME_TERMINAL_PATTERNS, FORWARDER_EVENT_SOURCE_DEFAULTS } from '../lambda/shared/stream-filter';
import { startStreamPoller, type StreamBatchFailure, type StreamPoller } from './aws/stream-poller';

export interface ArchiveForwarderOptions {
  readonly streamArn: string;
  /** The forwarder, invoked as Lambda invokes it (a Lambda context is the caller's to add). */
  readonly forwarder: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
  /** The event source's on-failure destination (the construct's: the archive failure queue). */
  readonly onFailure?: (failure: StreamBatchFailure) => Promise<void>;
  /** @default the construct's, 10 */
  readonly maxRetryAttempts?: number;
  /** Test-speed timings, as the stream poller takes them. */
  readonly pollIntervalMs?: number;
  readonly retryDelayMs?: number;
  readonly region?: string;
  /** Named in failure records. */
  readonly functionArn?: string;
  /** Problems of the event source (failed invocations, SDK errors); default console.error. */
  readonly onError?: (error: unknown) => void;
}

export function startArchiveForwarder(options: ArchiveForwarderOptions): StreamPoller {
  return startStreamPoller({
    streamArn: options.streamArn,
    handler: options.forwarder,
    filterPatterns: BECAME_TERMINAL_PATTERNS,
    startingPosition: 'TRIM_HORIZON',
    batchSize: FORWARDER_EVENT_SOURCE_DEFAULTS.batchSize,
    maxRetryAttempts: options.maxRetryAttempts ?? FORWARDER_EVENT_SOURCE_DEFAULTS.retryAttempts,
    bisectBatchOnError: true,
    reportBatchItemFailures: true,
    onFailure: options.onFailure,
    pollIntervalMs: options.pollIntervalMs,
    retryDelayMs: options.retryDelayMs,
    region: options.region,
    functionArn: options.functionArn,
    onError: options.onError,
  });
}
