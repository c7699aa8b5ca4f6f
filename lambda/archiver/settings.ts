/**
 * The archiver's settings, defined once: what the construct and local mode wire (each one an
 * environment variable) and the defaults the archiver falls back to. Pure, so the construct
 * imports it without the handler's code.
 */
import { environmentOf } from '../shared/env';
import { ARCHIVE_QUEUE_DEFAULTS } from '../shared/archive-queue';
import { DEFAULT_ALLOWED_HOSTS } from '../shared/allowed-hosts';

const MiB = 1024 * 1024;

export const ARCHIVER_DEFAULTS = {
  allowedOutputHosts: DEFAULT_ALLOWED_HOSTS,
  maxFileBytes: 5 * 1024 * MiB,
  /** A training's weights are often several GiB; uploads size their parts to fit (part-size.ts). */
  maxTrainingFileBytes: 50 * 1024 * MiB,
  /** Files in flight per invocation; each holds about partSize × (uploadQueueSize + 1) of memory. */
  fileConcurrency: 8,
  partSizeBytes: 8 * MiB,
  uploadQueueSize: 2,
  maxReceiveCount: ARCHIVE_QUEUE_DEFAULTS.maxReceiveCount,
  retryQueueBaseDelaySeconds: ARCHIVE_QUEUE_DEFAULTS.retryBaseDelaySeconds,
  // The queue retries later with backoff; holding an invocation through a long outage only
  // ties up concurrency.
  outageWindowSeconds: 120,
  /**
   * A prediction is held this long at a time, renewed a third of the way through while its
   * invocation works on it: another delivery of it, or its retry after a crash, waits about this
   * long, not the function's timeout.
   */
  leaseSeconds: 60,
  /**
   * manifest.json carries the terminal payload: a second document holding it alone is one more
   * S3 PUT per finished job, written only when asked for (the construct's `predictionDocument`).
   */
  predictionDocument: false,
} as const;

/**
 * Files in flight for a function of `memoryMb`, unless `archiver.fileConcurrency` says: a file
 * larger than a part holds about partSize × (uploadQueueSize + 1) of buffers, with the stream's;
 * a file per 32 MB past the first 128, at most the default 8. `npm run bench -- duration` holds
 * the archiver to the memory and measures the peak: 4 files at 256 MB, 148 MiB; 8 at 512 MB,
 * 298 MiB.
 */
export function fileConcurrencyFor(memoryMb: number): number {
  return Math.min(ARCHIVER_DEFAULTS.fileConcurrency, Math.max(2, Math.floor((memoryMb - 128) / 32)));
}

/** What the construct (or local mode) tells the archiver. */
export interface ArchiverWiring {
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly completionTopicArn: string;
  /** Name or ARN of the bus completion events go to; none when the construct has no `eventBus`. */
  readonly eventBusName?: string;
  readonly queueUrl: string;
  readonly allowedOutputHosts?: readonly string[];
  readonly maxFileBytes?: number;
  readonly maxTrainingFileBytes?: number;
  readonly fileConcurrency?: number;
  readonly maxReceiveCount?: number;
  readonly retryQueueBaseDelaySeconds?: number;
  /** Also write prediction.json (training.json), before the outputs. */
  readonly predictionDocument?: boolean;
}

export const ARCHIVER_ENV: { readonly [K in keyof ArchiverWiring]-?: string } = {
  tableName: 'TABLE_NAME',
  bucketName: 'BUCKET_NAME',
  archivePrefix: 'ARCHIVE_PREFIX',
  completionTopicArn: 'COMPLETION_TOPIC_ARN',
  eventBusName: 'EVENT_BUS_NAME',
  queueUrl: 'ARCHIVE_QUEUE_URL',
  allowedOutputHosts: 'ALLOWED_OUTPUT_HOSTS',
  maxFileBytes: 'MAX_FILE_BYTES',
  maxTrainingFileBytes: 'MAX_TRAINING_FILE_BYTES',
  fileConcurrency: 'FILE_CONCURRENCY',
  maxReceiveCount: 'MAX_RECEIVE_COUNT',
  retryQueueBaseDelaySeconds: 'RETRY_QUEUE_BASE_DELAY_SECONDS',
  predictionDocument: 'PREDICTION_DOCUMENT',
};

/** The environment variables for `wiring`; unset optional settings fall back to ARCHIVER_DEFAULTS in the archiver. */
export function archiverEnvironment(wiring: ArchiverWiring): Record<string, string> {
  return environmentOf(ARCHIVER_ENV, wiring);
}
