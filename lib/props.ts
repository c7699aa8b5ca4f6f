import type { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import type * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as route53 from 'aws-cdk-lib/aws-route53';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { CompletionKind } from '../lambda/shared/prediction';
import type { ReconciliationScope } from '../lambda/shared/reconcile';

/**
 * API Gateway throttling of the webhook route. Requests above it are answered 429, and Replicate
 * retries only the terminal webhook, for about a minute: keep it well above real traffic (about 4
 * webhooks a second per prediction while it streams output and logs). It caps what a flood costs;
 * the verifier's reserved concurrency and DynamoDB are the real limits.
 */
export interface WebhookThrottle {
  /**
   * Steady-state requests per second.
   * @default 1000
   */
  readonly rateLimit?: number;
  /**
   * Burst of requests above the steady rate.
   * @default 2000
   */
  readonly burstLimit?: number;
}

/** Settings of the verifier Lambda that a user may tune. */
export interface VerifierOptions {
  /**
   * Memory of the verifier. More memory also means more CPU, which shortens cold starts.
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Timeout of the verifier. API Gateway gives up after 30 seconds.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency: caps how many verifiers run at once (so a flood cannot starve the
   * account's other functions) and guarantees that many. Not with `reserveConcurrency: false`.
   * @default 25
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Whether to reserve concurrency for the verifier. `false` uses the unreserved pool, for
   * accounts whose concurrency quota leaves no room to reserve (Lambda keeps 100 unreserved).
   * @default true
   */
  readonly reserveConcurrency?: boolean;
}

/** Settings of the archiver Lambda and its queue that a user may tune. */
export interface ArchiverOptions {
  /**
   * Memory of the archiver, and with it its share of a core. Files stream through it, so this does
   * not grow with file size. An archival of the usual outputs mostly waits on the network: `npm
   * run bench -- duration` measures 0.77 s at 256 MB and 0.51 s at 512 MB, so 256 MB bills the
   * least. Large outputs are CPU-bound: about 18 MiB/s at 256 MB and 42 MiB/s at 512 MB there, so
   * raise this for outputs or training weights of several GiB (the timeout bounds one file).
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Timeout of one archiver invocation (a batch of finished predictions, archived side by side).
   * The archive queue's visibility timeout is this plus one minute.
   * @default Duration.minutes(10)
   */
  readonly timeout?: Duration;
  /**
   * Output files downloaded and uploaded at once by one invocation, shared by the predictions
   * of its batch. Memory per file in flight is about 3 × 8 MiB (the multipart part size).
   * @default - a file per 32 MB of `memorySize` past the first 128, at most 8: 4 at 256 MB, 8 at 512 MB and more
   */
  readonly fileConcurrency?: number;
  /**
   * Finished predictions per invocation (1–10), archived side by side: a slow one does not
   * delay the others' archival or announcement.
   * @default 10
   */
  readonly batchSize?: number;
  /**
   * Archiver invocations at once (2–1,000). Sustained throughput is about
   * `maxConcurrency × batchSize / (how long the slowest prediction of a batch takes)`: with
   * archivals of median 1 s and p99 30 s, about 124 predictions a second at the default
   * (`npm run bench -- scale`). It counts against the account's Lambda concurrency.
   * @default 200
   */
  readonly maxConcurrency?: number;
  /**
   * Retries of a failed prediction (each after a growing delay from 30 seconds) before its
   * message goes to the dead-letter queue. The last try records whatever files still fail and
   * announces the prediction anyway.
   * @default 4
   */
  readonly retryAttempts?: number;
}

/** How the reconciler (created with `replicateApiToken`) finds predictions whose webhooks failed. */
export interface ReconciliationOptions {
  /**
   * Whether to create the reconciler when a token is given.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * How often it runs. Replicate deletes outputs about an hour after a prediction was created,
   * so a prediction whose webhooks all failed is archived within this long of finishing.
   * @default Duration.minutes(5)
   */
  readonly interval?: Duration;
  /**
   * How far back each run lists predictions again, to see which have finished: everything whose
   * outputs Replicate still keeps, with margin. Older predictions are not lost: open records are
   * followed by id whatever their age, and a listing that could not finish (or a reconciler that
   * was away) carries on from where the last complete one ended.
   * @default Duration.minutes(75)
   */
  readonly lookback?: Duration;
  /**
   * Which predictions it may record.
   * @default ReconciliationScope.WEBHOOK_URL
   */
  readonly scope?: ReconciliationScope;
  /**
   * More webhook URLs whose predictions are this deployment's, besides `webhookUrl` (and, with
   * `domain`, the API's own URL): a domain made outside the construct, a proxy in front of the
   * API, or the URL of an API this one replaced. Compared without
   * a trailing slash or a default port. Only with `ReconciliationScope.WEBHOOK_URL`; at most 20
   * absolute https URLs (http only for a loopback host), without commas.
   * @default - none
   */
  readonly webhookUrls?: string[];
  /**
   * Archival tries (claims of the prediction, a crash included) after which a finished prediction
   * that is still not announced is marked failed (`archiveStatus: failed`, alarmed) and left for a
   * person instead of being queued again by the reconciler. A redrive on purpose still archives it.
   * An integer from 1 to 1,000; below the queue's tries of one round (`archiver.retryAttempts` + 1)
   * gets a warning.
   * @default 15
   */
  readonly maxArchiveAttempts?: number;
  /**
   * Whether it puts the account's signing key (`GET /v1/webhooks/default/secret`) into the
   * signing secret when the secret has none, or when Replicate's key changed (the previous key
   * stays accepted for a day). Needs write access to the secret.
   * @default true
   */
  readonly manageSigningKey?: boolean;
}

/**
 * The alarms the construct can create, each sent to the alarm topic. The value is the alarm's key
 * in `ReplicateWebhooks.alarms` and, capitalised, the start of its construct id.
 */
export enum AlarmName {
  /** The verifier crashed or timed out. */
  VERIFIER_ERRORS = 'verifierErrors',
  /** The webhook API answered 5xx (`AlarmOptions.api5xxPerFiveMinutes`). */
  API_5XX = 'api5xx',
  /**
   * More than `AlarmOptions.api4xxPercent` of the webhook API's requests in 5 minutes were answered
   * 4xx, and at least 10 were: forged or misaddressed traffic, a signing key that no longer
   * matches Replicate's, bodies that cannot be recorded, or the throttle answering 429.
   */
  API_4XX = 'api4xx',
  /** Many requests failed the signature check (`AlarmOptions.rejectedSignaturesPerFiveMinutes`). */
  REJECTED_SIGNATURES = 'rejectedSignatures',
  /** The archiver crashed or timed out. */
  ARCHIVER_ERRORS = 'archiverErrors',
  /** The forwarder could not queue stream records after its retries (the archive failure queue is not empty). */
  ARCHIVE_FAILURE_QUEUE = 'archiveFailureQueue',
  /** Predictions failed every archival try (the archive dead-letter queue is not empty). */
  ARCHIVE_DEAD_LETTERS = 'archiveDeadLetters',
  /**
   * An archival was given up in the last 15 minutes (`ArchivalsFailed`): its last try failed, or
   * it passed `ReconciliationOptions.maxArchiveAttempts`. The item says `archiveStatus: failed`.
   */
  ARCHIVALS_FAILED = 'archivalsFailed',
  /** Output files could not be archived. */
  ARCHIVE_FILE_FAILURES = 'archiveFileFailures',
  /** Finished predictions waited too long in the archive queue (`AlarmOptions.maxArchiveBacklogAge`). */
  ARCHIVE_BACKLOG_AGE = 'archiveBacklogAge',
  /** The verifier, the forwarder or the archiver was throttled. */
  THROTTLES = 'throttles',
  /** The reconciler recorded predictions whose webhooks never arrived (with `replicateApiToken`). */
  MISSED_WEBHOOKS = 'missedWebhooks',
  /** The reconciler failed, or Replicate's API refused it (with `replicateApiToken`). */
  RECONCILER_FAILURES = 'reconcilerFailures',
  /**
   * The reconciler sent finished predictions to the archive queue again in the last 15 minutes
   * (`ArchivalsRedriven`): the path from the table's stream through the forwarder and the queue is not
   * delivering them (with `replicateApiToken`).
   */
  ARCHIVALS_REDRIVEN = 'archivalsRedriven',
  /**
   * A finished prediction has waited `AlarmOptions.maxPendingArchivalAge` or longer to be archived
   * and announced (`OldestPendingArchivalAge`, measured by the reconciler; with `replicateApiToken`).
   */
  PENDING_ARCHIVAL_AGE = 'pendingArchivalAge',
  /**
   * The reconciler's listing of Replicate's predictions has not been complete for
   * `AlarmOptions.maxListingLag` (`ReconcilerListingLag`), or no run has reported it for 15 minutes
   * or three intervals, whichever is longer: missing data counts as breaching (with `replicateApiToken`).
   */
  RECONCILER_LISTING_LAG = 'reconcilerListingLag',
  /** EventBridge refused or failed completion events (with `eventBus`). */
  COMPLETION_EVENT_FAILURES = 'completionEventFailures',
}

/** Which alarms the construct creates, and their thresholds. */
export interface AlarmOptions {
  /**
   * Whether to create alarms at all.
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Alarms to leave out.
   * @default - none: all are created
   */
  readonly disable?: AlarmName[];
  /**
   * `rejectedSignatures` fires when more requests than this fail the signature check in 5 minutes.
   * @default 20
   */
  readonly rejectedSignaturesPerFiveMinutes?: number;
  /**
   * `api5xx` fires when the API answers at least this many 5xx in 5 minutes.
   * @default 1
   */
  readonly api5xxPerFiveMinutes?: number;
  /**
   * `archiveBacklogAge` fires when a finished prediction has waited in the archive queue longer
   * than this. Outputs expire about an hour after a prediction starts, so a wait of many minutes
   * risks losing them.
   * @default Duration.minutes(10)
   */
  readonly maxArchiveBacklogAge?: Duration;
  /**
   * `api4xx` fires when more than this percentage of the API's requests in 5 minutes were
   * answered 4xx, and at least 10 were (0–99).
   * @default 5
   */
  readonly api4xxPercent?: number;
  /**
   * `pendingArchivalAge` (with the reconciler) fires when the oldest finished prediction not yet
   * archived and announced has waited this long (1 minute – 1 day). The reconciler sends one stuck
   * for 15 minutes to the archive queue again, so a longer wait means that did not help either.
   * @default Duration.minutes(30)
   */
  readonly maxPendingArchivalAge?: Duration;
  /**
   * `reconcilerListingLag` (with the reconciler) fires when its listing of Replicate's predictions
   * has not been complete for this long (1 minute – 1 day): a healthy reconciler's lag stays
   * within about one interval (a warning when this is less than two).
   * @default Duration.minutes(30)
   */
  readonly maxListingLag?: Duration;
}

/** Lifecycle of the archive (applies to a bucket the construct creates). */
export interface ArchiveLifecycle {
  /**
   * Storage class transitions of everything under `predictions/`.
   * @default - none: objects stay in S3 Standard
   */
  readonly transitions?: s3.Transition[];
  /**
   * Delete archived predictions this long after they were written.
   * @default - never
   */
  readonly expiration?: Duration;
  /**
   * Delete spilled terminal payloads (`webhook-payloads/`) this long after they were written.
   * The archiver has copied each into its manifest.json (and prediction.json, with
   * `predictionDocument`) by then.
   * @default Duration.days(30)
   */
  readonly spilledPayloadExpiration?: Duration;
  /**
   * Delete the versions that stopped being current this long ago: the copies a retried archival
   * overwrote, and whatever the expirations above removed. The bucket is versioned so that an
   * overwrite never loses a file.
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
}

/** Which completion notifications a subscription receives. */
export interface CompletionFilter {
  /**
   * Only these terminal statuses (`succeeded`, `failed`, `canceled`, `aborted`).
   * @default - all
   */
  readonly statuses?: string[];
  /**
   * Only these models (`owner/name`, as in the prediction's `model`; a training's is the model it
   * trained from).
   * @default - all
   */
  readonly models?: string[];
  /**
   * Only predictions, only trainings, or both (a filter on the message attribute `kind`).
   * @default - both
   */
  readonly kinds?: CompletionKind[];
}

/** CloudWatch metric options, plus the handlers' `reason` dimension. */
export interface HandlerMetricOptions extends cloudwatch.MetricOptions {
  /**
   * Only the count for this reason (rejections, failures and archive failures carry one, e.g.
   * `bad_signature` or `http_error`).
   * @default - all reasons together
   */
  readonly reason?: string;
}

/**
 * Props of the state table, merged over the construct's defaults. The key schema, stream and
 * TTL attribute are the construct's (its records depend on them), so they are not among these.
 */
export interface StateTableProps extends dynamodb.TableOptionsV2 {
  /**
   * Name of the table.
   * @default - generated by CloudFormation
   */
  readonly tableName?: string;
  /**
   * Billing mode and capacity.
   * @default Billing.onDemand()
   */
  readonly billing?: dynamodb.Billing;
  /**
   * Encryption of the table.
   * @default - the `encryptionKey` prop's key if given, else an AWS managed key
   */
  readonly encryption?: dynamodb.TableEncryptionV2;
  /**
   * What happens to the table when the stack is deleted.
   * @default - the `removalPolicy` prop
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Replica tables in other regions (a global table).
   * @default - no replicas
   */
  readonly replicas?: dynamodb.ReplicaTableProps[];
  /**
   * Replication mode of the table's settings across replicas.
   * @default - as `TableV2`
   */
  readonly globalTableSettingsReplicationMode?: dynamodb.GlobalTableSettingsReplicationMode;
  /**
   * Witness region of a multi-region strongly consistent global table.
   * @default - none
   */
  readonly witnessRegion?: string;
  /**
   * Consistency of a global table.
   * @default - as `TableV2`
   */
  readonly multiRegionConsistency?: dynamodb.MultiRegionConsistency;
  /**
   * More global secondary indexes, besides the construct's own.
   * @default - only the construct's index
   */
  readonly globalSecondaryIndexes?: dynamodb.GlobalSecondaryIndexPropsV2[];
  /**
   * Warm throughput of the table.
   * @default - none
   */
  readonly warmThroughput?: dynamodb.WarmThroughput;
}

/**
 * A custom domain for the webhook API. Every prediction keeps the webhook URL it was created
 * with, so a URL on your own domain outlives the API behind it: a redeploy, a replaced API, or a
 * move to another account or region only moves the domain's mapping.
 */
export interface WebhookDomainOptions {
  /**
   * The host name Replicate calls, e.g. `hooks.example.com`: labels of letters, digits and
   * hyphens, at least two, no wildcard. `webhookUrl` becomes `https://{domainName}{webhookPath}`.
   */
  readonly domainName: string;
  /**
   * An ACM certificate for `domainName`, in the stack's region (the domain's endpoint is
   * regional). ACM certificates are free.
   */
  readonly certificate: acm.ICertificate;
  /**
   * A Route 53 public hosted zone holding `domainName`, given with its name (e.g.
   * `HostedZone.fromHostedZoneAttributes`, `fromLookup`, or one defined in the app). With it, the
   * construct creates the A and AAAA alias records to the domain's regional endpoint.
   * @default - no records: point `domainName` at `customDomain.regionalDomainName` in your DNS
   */
  readonly hostedZone?: route53.IHostedZone;
  /**
   * Turns off the API's own `https://{api-id}.execute-api.{region}.amazonaws.com` endpoint, so
   * that only the domain answers. Predictions created with that URL get no more webhooks (the
   * reconciler still counts them as this deployment's): turn it off only once they have finished.
   * @default false
   */
  readonly disableExecuteApiEndpoint?: boolean;
}

/** Props of `ReplicateWebhooks`: all optional, every resource has secure defaults. */
export interface ReplicateWebhooksProps {
  /**
   * An existing secret holding the Replicate signing key (`whsec_…`, or the JSON that
   * `GET /v1/webhooks/default/secret` returns). Give this or `signingSecretProps`, not both.
   * @default - a new secret is created; put the key in it after deploying
   */
  readonly existingSigningSecret?: secretsmanager.ISecret;
  /**
   * Props for the new signing secret, merged over the construct's defaults.
   * @default - a secret with a generated placeholder value, which the verifier refuses to use
   */
  readonly signingSecretProps?: secretsmanager.SecretProps;
  /**
   * An existing bucket for the archive. Give this or `bucketProps`, not both.
   * @default - a new bucket: encrypted, versioned, SSL only, public access blocked, retained on delete
   */
  readonly existingBucket?: s3.IBucket;
  /**
   * Props for the new archive bucket, merged over the construct's secure defaults.
   * @default - see `existingBucket`
   */
  readonly bucketProps?: s3.BucketProps;
  /**
   * Key prefix for everything the construct writes in the bucket (useful with a shared bucket).
   * @default - no prefix
   */
  readonly archivePrefix?: string;
  /**
   * Props for the state table, merged over the defaults (on-demand, point-in-time recovery,
   * AWS-managed encryption, retained on delete). The key schema, stream and TTL attribute
   * are the construct's and cannot be changed.
   * @default - the defaults above
   */
  readonly tableProps?: StateTableProps;
  /**
   * Path of the webhook route (method POST).
   * @default '/webhook'
   */
  readonly webhookPath?: string;
  /**
   * A custom domain for the webhook API (an API Gateway domain name, TLS 1.2, mapped to the
   * `$default` stage; the Route 53 alias records with `hostedZone`). `webhookUrl` becomes
   * `https://{domainName}{webhookPath}`, and the reconciler counts predictions created with the
   * domain's URL and with the API's execute-api URL (`executeApiWebhookUrl`) as this deployment's.
   * @default - none: `webhookUrl` is the API's execute-api URL, which changes when the API is replaced
   */
  readonly domain?: WebhookDomainOptions;
  /**
   * API Gateway throttling of the webhook route.
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly throttle?: WebhookThrottle;
  /**
   * How far `webhook-timestamp` may be from the verifier's clock, either way.
   * @default Duration.minutes(5)
   */
  readonly timestampTolerance?: Duration;
  /**
   * Largest accepted request body. Larger ones get 413; Lambda's own request limit is 6 MB.
   * @default Size.mebibytes(6)
   */
  readonly maxBodySize?: Size;
  /**
   * Terminal payloads whose compressed size is up to this are kept in the table, in an item of their own.
   * They are stored Brotli-compressed (webhook JSON shrinks 2–3.5×: a 3 KiB payload takes 883 bytes, an
   * item of one write unit), so this bounds what that item holds and costs: DynamoDB bills writes per KB.
   * Larger ones are written to the bucket, uncompressed, and the prediction's item points at them. At most
   * 256 KiB; 0 sends every terminal payload to the bucket.
   * @default Size.kibibytes(16)
   */
  readonly maxInlinePayloadSize?: Size;
  /**
   * How long the verifier caches the signing key before reading the secret again. A signature
   * mismatch also triggers a reread, at most every 30 seconds, so rotations apply quickly.
   * @default Duration.minutes(5)
   */
  readonly signingKeyCacheTtl?: Duration;
  /**
   * Verifier Lambda settings.
   * @default - see `VerifierOptions`
   */
  readonly verifier?: VerifierOptions;
  /**
   * An existing topic for completion notifications. Give this or `completionTopicProps`, not both.
   * @default - a new topic, encrypted with the construct's KMS key, SSL only
   */
  readonly existingCompletionTopic?: sns.ITopic;
  /**
   * Props for the new completion topic, merged over the defaults.
   * @default - see `existingCompletionTopic`
   */
  readonly completionTopicProps?: sns.TopicProps;
  /**
   * An EventBridge bus to put completion events on, besides the completion topic: one event per
   * finished prediction (`source` `replicate-webhooks`, a `detail-type` per status, the completion
   * message as `detail`). Match them with `onCompletionEvent`. The archiver may put events on
   * this bus only.
   * @default - no events: completion messages go to the topic alone
   */
  readonly eventBus?: events.IEventBus;
  /**
   * An existing topic for operator alarms. Give this or `alarmTopicProps`, not both.
   * @default - a new topic, encrypted with the construct's KMS key, SSL only
   */
  readonly existingAlarmTopic?: sns.ITopic;
  /**
   * Props for the new alarm topic, merged over the defaults.
   * @default - see `existingAlarmTopic`
   */
  readonly alarmTopicProps?: sns.TopicProps;
  /**
   * Hosts output files may be downloaded from, over https. `*.example.com` matches subdomains;
   * `host:port` pins a port. Anything else is refused and listed as a failure.
   * @default ['replicate.delivery', '*.replicate.delivery']
   */
  readonly allowedOutputHosts?: string[];
  /**
   * Largest output file of a prediction archived. Larger ones are listed as failures (`too_large`).
   * @default Size.gibibytes(5)
   */
  readonly maxOutputFileSize?: Size;
  /**
   * Largest output file of a training (its weights) archived. Larger ones are listed as failures
   * (`too_large`). Files stream into S3 in parts sized to fit, so memory does not grow with it;
   * a file must still arrive within the archiver's `timeout`.
   * @default Size.gibibytes(50)
   */
  readonly maxTrainingOutputFileSize?: Size;
  /**
   * Also write `prediction.json` (`training.json` for a training): the terminal payload alone, as
   * Replicate sent it, at a fixed path, written before the outputs are fetched. Off, `manifest.json`
   * is the one document of a finished job and carries the payload verbatim as its `payload` field.
   *
   * The trade-off: one more S3 PUT per finished job (about $0.83 per million webhooks in the
   * README's cost model, where the archive's documents are 2 of 5 PUTs per prediction with it, 1 of
   * 4 without). What it buys: a file that is the Replicate object alone (for a reader that wants
   * just that), and, for a job whose archival fails on every try (the manifest is written last,
   * once the outputs are stored), its payload already in S3; without it such a payload stays in the
   * table's payload item (or its spilled copy), kept 30 days, from which a redrive archives it. The
   * completion message's `archive.prediction` is present only with it.
   * @default false
   */
  readonly predictionDocument?: boolean;
  /**
   * Archiver Lambda and queue settings.
   * @default - see `ArchiverOptions`
   */
  readonly archiver?: ArchiverOptions;
  /**
   * A secret holding a Replicate API token (the plain token, or JSON `{"token": "r8_..."}`).
   * With it, a scheduled reconciler records predictions whose webhooks never arrived, through
   * Replicate's API, and keeps the signing key in step with Replicate's.
   * @default - no reconciler: the archive relies on Replicate's deliveries alone, and synth warns
   * (`replicate-webhooks:noReconciler`)
   */
  readonly replicateApiToken?: secretsmanager.ISecret;
  /**
   * Base URL of Replicate's API, for a proxy (or a stand-in in tests).
   * @default 'https://api.replicate.com'
   */
  readonly replicateApiBaseUrl?: string;
  /**
   * Reconciler settings (used with `replicateApiToken`).
   * @default - see `ReconciliationOptions`
   */
  readonly reconciliation?: ReconciliationOptions;
  /**
   * Retention of the Lambda and API access log groups.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * A customer managed KMS key for the Lambda and API access log groups. A key defined in the same
   * app is granted to CloudWatch Logs of this account and region; an imported key's policy must
   * already allow `logs.<region>.amazonaws.com` to use it for this account's log groups.
   * @default - log groups encrypted by CloudWatch Logs with its own keys
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * Active AWS X-Ray tracing of the Lambdas.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * A customer managed KMS key for the bucket, table, topics, failure queue and the secret the
   * construct creates. A key defined in the same app is granted to CloudWatch (so alarms can
   * publish to the encrypted alarm topic); an imported key's policy must already allow
   * `cloudwatch.amazonaws.com` kms:Decrypt and kms:GenerateDataKey*. The stack needs an explicit
   * region (a table encrypted with a customer managed key cannot be region-agnostic).
   * @default - AWS managed keys for the bucket (SSE-S3), table, secret and queue; a key created for the topics
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * What happens to the bucket, table, secret and topic key when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Lifecycle rules of a bucket the construct creates.
   * @default - see `ArchiveLifecycle`
   */
  readonly archiveLifecycle?: ArchiveLifecycle;
  /**
   * CloudWatch alarms, sent to the alarm topic.
   * @default - all alarms, with the thresholds in `AlarmOptions`
   */
  readonly alarms?: AlarmOptions;
  /**
   * Whether to create a CloudWatch dashboard of the flow. A dashboard costs $3.00 a month (beyond
   * an account's first three); most of its graphs read the metrics `detailedMetrics` publishes, so
   * turn both on together. The alarms do not need it.
   * @default false
   */
  readonly dashboard?: boolean;
  /**
   * Whether the handlers publish every custom metric (`METRIC`: webhooks by outcome, payload sizes,
   * files and bytes archived, failures by reason, cold starts, the reconciler's counts), or only the
   * few series the alarms read (`ALARMED_SERIES`: signatures refused, archivals given up, output
   * files not archived; with an event bus or the reconciler, theirs). Each custom series costs
   * $0.30 a month, and its embedded-metric lines are billed as log ingestion: all of them are $9.60
   * a month (and about $0.20 per million webhooks of logs), the alarms' own $0.90. Without it, the `metric*` methods of the other metrics
   * return metrics with no data, and every alarm still has its own; AWS's free metrics (Lambda,
   * API Gateway, SQS) are there either way.
   * @default false
   */
  readonly detailedMetrics?: boolean;
  /**
   * Whether the verifier and the archiver log everything. By default the verifier logs a line for
   * each webhook it refuses (4xx) or fails (5xx), the archiver one for each archival it retries
   * or gives up, and both the INFO lines (`webhook recorded`, `archived`) of one invocation
   * in a hundred, without Lambda's own start and report records. Without it, an accepted webhook
   * or a finished archival is found by its record in the table (and its manifest), not in the
   * logs; Lambda's duration and error metrics are there either way. The reconciler logs every run.
   * @default false
   */
  readonly verboseLogs?: boolean;
  /**
   * CloudWatch namespace of the handlers' metrics.
   * @default 'ReplicateWebhooks'
   */
  readonly metricsNamespace?: string;
}

/** A rule for completion events (`onCompletionEvent`): the CDK's `onEvent` options, plus which predictions. */
export interface CompletionEventOptions extends events.OnEventOptions {
  /**
   * Only these terminal statuses (`succeeded`, `failed`, `canceled`, `aborted`), matched on the
   * event's `detail-type`.
   * @default - all
   */
  readonly statuses?: string[];
  /**
   * Only these models (`owner/name`, as in the prediction's `model`), matched on `detail.model`.
   * @default - all
   */
  readonly models?: string[];
  /**
   * Only predictions, only trainings, or both, matched on the event's `detail-type`
   * (`Replicate Prediction Succeeded`, `Replicate Training Succeeded`, …).
   * @default - both
   */
  readonly kinds?: CompletionKind[];
}
