/** The archiver's wiring, read once from environment variables set by the construct. */
import { normalizePrefix } from '../shared/archive-layout';
import { booleanVariable, integerVariable, listVariable, requiredVariable } from '../shared/env';
import { DEFAULT_ALLOWED_HOSTS, parseAllowedHosts, type FetchPolicy } from './safe-fetch';

export interface ArchiverConfig {
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly completionTopicArn: string;
  readonly fetchPolicy: FetchPolicy;
  /** Output files fetched and uploaded at once, per prediction. */
  readonly fileConcurrency: number;
  readonly partSizeBytes: number;
  /** Parts of one file in flight at once: memory per file is about partSize × (queueSize + 1). */
  readonly uploadQueueSize: number;
  /** Tries per file within one invocation when the failure is transient. */
  readonly fetchAttempts: number;
  readonly fetchRetryDelayMs: number;
  /**
   * The attempt (counted per prediction) on which transient failures are recorded instead of
   * retried: the event source mapping's retry attempts + 1, so the last try still announces.
   */
  readonly finalAttempt: number;
  /** How long one record waits out an outage of S3, SNS or DynamoDB before the stream retries it. */
  readonly outageWindowMs: number;
  /** First wait of that retry loop (doubling, with jitter, up to 20 s). */
  readonly retryBaseDelayMs: number;
}

const MiB = 1024 * 1024;

export function readArchiverConfig(env: NodeJS.ProcessEnv = process.env): ArchiverConfig {
  return {
    tableName: requiredVariable(env, 'TABLE_NAME'),
    bucketName: requiredVariable(env, 'BUCKET_NAME'),
    archivePrefix: normalizePrefix(env.ARCHIVE_PREFIX),
    completionTopicArn: requiredVariable(env, 'COMPLETION_TOPIC_ARN'),
    fetchPolicy: {
      allowedHosts: parseAllowedHosts(listVariable(env, 'ALLOWED_OUTPUT_HOSTS', DEFAULT_ALLOWED_HOSTS)),
      allowPrivateAddresses: booleanVariable(env, 'ALLOW_PRIVATE_ADDRESSES', false),
      maxBytes: integerVariable(env, 'MAX_FILE_BYTES', 5 * 1024 * MiB),
      headersTimeoutMs: integerVariable(env, 'FETCH_HEADERS_TIMEOUT_MS', 15_000),
      idleTimeoutMs: integerVariable(env, 'FETCH_IDLE_TIMEOUT_MS', 30_000),
      totalTimeoutMs: integerVariable(env, 'FETCH_TOTAL_TIMEOUT_MS', 600_000),
      maxRedirects: integerVariable(env, 'FETCH_MAX_REDIRECTS', 5),
    },
    fileConcurrency: Math.max(1, integerVariable(env, 'FILE_CONCURRENCY', 4)),
    partSizeBytes: Math.max(5 * MiB, integerVariable(env, 'PART_SIZE_BYTES', 8 * MiB)),
    uploadQueueSize: Math.max(1, integerVariable(env, 'UPLOAD_QUEUE_SIZE', 2)),
    fetchAttempts: Math.max(1, integerVariable(env, 'FETCH_ATTEMPTS', 3)),
    fetchRetryDelayMs: integerVariable(env, 'FETCH_RETRY_DELAY_MS', 1_000),
    finalAttempt: Math.max(1, integerVariable(env, 'FINAL_ATTEMPT', 5)),
    outageWindowMs: integerVariable(env, 'OUTAGE_WINDOW_SECONDS', 300) * 1000,
    retryBaseDelayMs: integerVariable(env, 'RETRY_BASE_DELAY_MS', 500),
  };
}
