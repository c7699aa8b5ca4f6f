/** The archiver's wiring, read once from environment variables set by the construct. */
import { parseAllowedHosts } from '../shared/allowed-hosts';
import { normalizePrefix } from '../shared/archive-layout';
import { booleanVariable, integerVariable, listVariable, requiredVariable } from '../shared/env';
import type { FetchPolicy } from './safe-fetch';
import { ARCHIVER_DEFAULTS as DEFAULTS, ARCHIVER_ENV as ENV } from './settings';

export interface ArchiverConfig {
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly completionTopicArn: string;
  /** Where completion events go, besides the topic; undefined: the topic alone. */
  readonly eventBusName?: string;
  /** The work queue, to set a failed prediction's next try (its message's visibility). */
  readonly queueUrl: string;
  /** `fetchPolicy.maxBytes` is the predictions' cap per file. */
  readonly fetchPolicy: FetchPolicy;
  /** The cap per file of a training's outputs (its weights). */
  readonly maxTrainingFileBytes: number;
  /** Output files fetched and uploaded at once per invocation, shared by the predictions of its batch. */
  readonly fileConcurrency: number;
  readonly partSizeBytes: number;
  /** Parts of one file in flight at once: memory per file is about partSize × (queueSize + 1). */
  readonly uploadQueueSize: number;
  /** Tries per file within one invocation when the failure is transient. */
  readonly fetchAttempts: number;
  readonly fetchRetryDelayMs: number;
  /**
   * The queue's maxReceiveCount: on this try of a prediction, transient file failures are
   * recorded and announced instead of retried, and any other failure sends it to the DLQ.
   */
  readonly maxReceiveCount: number;
  /** First wait before a failed prediction is received again; doubled per try, with jitter. */
  readonly retryBaseDelaySeconds: number;
  /** How long one prediction waits out an outage of S3, SNS or DynamoDB before the queue retries it. */
  readonly outageWindowMs: number;
  readonly leaseMs: number;
  /** First wait of that retry loop (doubling, with jitter, up to 20 s). */
  readonly retryBaseDelayMs: number;
  /**
   * Also write prediction.json (training.json: the terminal payload alone) before the outputs;
   * manifest.json carries the payload either way.
   */
  readonly predictionDocument: boolean;
}

const MiB = 1024 * 1024;

/** The construct's wiring (see settings.ts), plus tuning knobs only tests and local mode set. */
export function readArchiverConfig(env: NodeJS.ProcessEnv = process.env): ArchiverConfig {
  return {
    tableName: requiredVariable(env, ENV.tableName),
    bucketName: requiredVariable(env, ENV.bucketName),
    archivePrefix: normalizePrefix(env[ENV.archivePrefix]),
    completionTopicArn: requiredVariable(env, ENV.completionTopicArn),
    eventBusName: env[ENV.eventBusName] || undefined,
    queueUrl: requiredVariable(env, ENV.queueUrl),
    fetchPolicy: {
      allowedHosts: parseAllowedHosts(listVariable(env, ENV.allowedOutputHosts, DEFAULTS.allowedOutputHosts)),
      allowPrivateAddresses: booleanVariable(env, 'ALLOW_PRIVATE_ADDRESSES', false),
      maxBytes: integerVariable(env, ENV.maxFileBytes, DEFAULTS.maxFileBytes),
      headersTimeoutMs: integerVariable(env, 'FETCH_HEADERS_TIMEOUT_MS', 15_000),
      idleTimeoutMs: integerVariable(env, 'FETCH_IDLE_TIMEOUT_MS', 30_000),
      totalTimeoutMs: integerVariable(env, 'FETCH_TOTAL_TIMEOUT_MS', 600_000),
      maxRedirects: integerVariable(env, 'FETCH_MAX_REDIRECTS', 5),
    },
    maxTrainingFileBytes: integerVariable(env, ENV.maxTrainingFileBytes, DEFAULTS.maxTrainingFileBytes),
    fileConcurrency: Math.max(1, integerVariable(env, ENV.fileConcurrency, DEFAULTS.fileConcurrency)),
    partSizeBytes: Math.max(5 * MiB, integerVariable(env, 'PART_SIZE_BYTES', DEFAULTS.partSizeBytes)),
    uploadQueueSize: Math.max(1, integerVariable(env, 'UPLOAD_QUEUE_SIZE', DEFAULTS.uploadQueueSize)),
    fetchAttempts: Math.max(1, integerVariable(env, 'FETCH_ATTEMPTS', 3)),
    fetchRetryDelayMs: integerVariable(env, 'FETCH_RETRY_DELAY_MS', 1_000),
    maxReceiveCount: Math.max(1, integerVariable(env, ENV.maxReceiveCount, DEFAULTS.maxReceiveCount)),
    retryBaseDelaySeconds: integerVariable(env, ENV.retryQueueBaseDelaySeconds, DEFAULTS.retryQueueBaseDelaySeconds),
    outageWindowMs: integerVariable(env, 'OUTAGE_WINDOW_SECONDS', DEFAULTS.outageWindowSeconds) * 1000,
    leaseMs: Math.max(1, integerVariable(env, 'LEASE_SECONDS', DEFAULTS.leaseSeconds)) * 1000,
    retryBaseDelayMs: integerVariable(env, 'RETRY_BASE_DELAY_MS', 500),
    predictionDocument: booleanVariable(env, ENV.predictionDocument, DEFAULTS.predictionDocument),
  };
}
