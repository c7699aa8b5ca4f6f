import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ARCHIVE_FOLDERS, PREDICTIONS_FOLDER, SPILL_FOLDER, normalizePrefix } from '../lambda/shared/archive-layout';
import { ARCHIVE_QUEUE_DEFAULTS } from '../lambda/shared/archive-queue';
import {
  ARCHIVE_VISIBILITY_MARGIN_SECONDS,
  ARCHIVER_FUNCTION_DEFAULTS,
  FORWARDER_FUNCTION_DEFAULTS,
  RECONCILER_FUNCTION_DEFAULTS,
  VERIFIER_FUNCTION_DEFAULTS,
  LEAN_LOGGING,
  VERBOSE_LOGGING,
  loggingEnvironment,
} from '../lambda/shared/function-defaults';
import { DETAILED_METRICS_ENV, METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../lambda/shared/metrics';
import { ARCHIVER_DEFAULTS, archiverEnvironment, fileConcurrencyFor } from '../lambda/archiver/settings';
import { forwarderEnvironment } from '../lambda/forwarder/settings';
import { VERIFIER_DEFAULTS, WEBHOOK_THROTTLE_DEFAULTS, verifierEnvironment } from '../lambda/verifier/settings';
import { RECONCILER_DEFAULTS, reconcilerEnvironment } from '../lambda/reconciler/settings';
import { RECONCILIATION_DEFAULTS } from '../lambda/shared/reconcile';
import { ARCHIVE_PENDING_INDEX, FOLLOW_INDEX, PARTITION_KEY, STORE_DEFAULTS, TTL_ATTRIBUTE } from '../lambda/shared/state';
import { BECAME_TERMINAL_PATTERNS, FORWARDER_EVENT_SOURCE_DEFAULTS } from '../lambda/shared/stream-filter';
import { checkExistingOrProps, consolidateProps } from './consolidate';
import { HANDLER_ARCHITECTURE, HANDLER_RUNTIME, handlerCode, type HandlerName } from './handler-code';
import {
  acknowledgeArchiveBucketWithoutAccessLogs,
  acknowledgeArchiveForwarder,
  acknowledgeArchiver,
  acknowledgeHandlerFunction,
  acknowledgeReconcileSchedule,
  acknowledgeReconciler,
  acknowledgeSigningSecret,
  acknowledgeTerminalQueue,
  acknowledgeVerifier,
  acknowledgeWebhookRoute,
} from './nag';
import { WebhooksMetricFactory } from './metric-factory';
import { validateProps } from './validation';
import { createAlarms, createDashboard } from './monitoring';
import type {
  AlarmName,
  CompletionEventOptions,
  CompletionFilter,
  HandlerMetricOptions,
  ReplicateWebhooksProps,
  StateTableProps,
  WebhookDomainOptions,
} from './props';
import { completionEventPattern } from '../lambda/shared/completion-event';
import { COMPLETION_KINDS, TERMINAL_STATUSES, type CompletionKind } from '../lambda/shared/prediction';

/**
 * Receives Replicate webhooks: an HTTP API in front of a verifier Lambda that checks the
 * Standard Webhooks signature and records each webhook once, in order, in a DynamoDB table.
 * A forwarder Lambda reads the table's stream and queues each finished prediction; an archiver
 * consumes the queue, copies every output file into S3 before Replicate deletes it, and
 * announces each finished prediction on an SNS topic.
 */
export class ReplicateWebhooks extends Construct {
  /**
   * The URL to give Replicate as `webhook`: `https://{domainName}{webhookPath}` with the `domain`
   * prop, else the same as `executeApiWebhookUrl`.
   */
  public readonly webhookUrl: string;
  /**
   * The webhook URL on the API's own endpoint, `https://{api-id}.execute-api.{region}.amazonaws.com{webhookPath}`.
   * It changes when the API is replaced; with `domain.disableExecuteApiEndpoint` it no longer
   * answers. The reconciler counts predictions created with it as this deployment's, always.
   */
  public readonly executeApiWebhookUrl: string;
  /**
   * The API Gateway custom domain name, mapped to `stage`: only with the `domain` prop. Its
   * `regionalDomainName` and `regionalHostedZoneId` are what DNS records point at.
   */
  public readonly customDomain?: apigwv2.DomainName;
  /** The HTTP API. */
  public readonly httpApi: apigwv2.HttpApi;
  /** The API stage (`$default`) carrying the throttling and access logs. */
  public readonly stage: apigwv2.HttpStage;
  /** The verifier Lambda. */
  public readonly verifier: lambda.Function;
  /** The secret holding the signing key (created unless `existingSigningSecret` was given). */
  public readonly signingSecret: secretsmanager.ISecret;
  /** The state table: prediction records and dedup markers, with a NEW_AND_OLD_IMAGES stream. */
  public readonly table: dynamodb.TableV2;
  /** The archive bucket (created unless `existingBucket` was given). */
  public readonly bucket: s3.IBucket;
  /** The key prefix used in the bucket ('' or ending in '/'). */
  public readonly archivePrefix: string;
  /** The archiver Lambda, driven by `archiveQueue`. */
  public readonly archiver: lambda.Function;
  /** The scheduled reconciler: created when `replicateApiToken` is given (and not disabled). */
  public readonly reconciler?: lambda.Function;
  /** One message per finished prediction (`{"predictionId": …}`), put there by `archiveForwarder`. */
  public readonly archiveQueue: sqs.Queue;
  /**
   * Predictions whose every try failed. Redrive them to `archiveQueue` with SQS's own redrive
   * (`aws sqs start-message-move-task --source-arn <this queue's ARN>`).
   */
  public readonly archiveDeadLetterQueue: sqs.Queue;
  /**
   * The forwarder: a function on the table's stream, filtered to predictions that became
   * terminal, that puts one message per prediction on `archiveQueue`. Its event source retries a
   * batch it could not queue 10 times, bisecting it, then describes it in `archiveFailureQueue`.
   * (It replaced an EventBridge Pipe: a Lambda function's stream reads are free, a Pipe's are not.)
   */
  public readonly archiveForwarder: lambda.Function;
  /**
   * Encrypted queue that receives the stream batches the forwarder could not queue after its
   * retries: metadata only (shard, sequence numbers, arrival times), to find the records by.
   */
  public readonly archiveFailureQueue: sqs.Queue;
  /** One message per finished prediction (created unless `existingCompletionTopic` was given). */
  public readonly completionTopic: sns.ITopic;
  /** The bus completion events are put on. Only with the `eventBus` prop. */
  public readonly completionEventBus?: events.IEventBus;
  /** Operator alarms (created unless `existingAlarmTopic` was given). */
  public readonly alarmTopic: sns.ITopic;
  /** The KMS key of the topics the construct created (`encryptionKey` if given, else one it created). Undefined when both topics were given. */
  public readonly topicKey?: kms.IKey;
  /** The customer managed key given as `encryptionKey`, if any. */
  public readonly encryptionKey?: kms.IKey;
  /** The alarms created, keyed by `AlarmName` value (e.g. `verifierErrors`); see also `alarm(name)`. */
  public readonly alarms: { [name: string]: cloudwatch.Alarm };
  /** The CloudWatch dashboard of the flow, with `dashboard: true`. */
  public readonly dashboard?: cloudwatch.Dashboard;
  /** The CloudWatch namespace of the handlers' metrics. */
  public readonly metricsNamespace: string;

  private readonly metrics: WebhooksMetricFactory;
  private readonly logRetention: logs.RetentionDays;
  private readonly logEncryptionKey?: kms.IKey;
  private readonly tracing: boolean;
  private readonly detailedMetrics: boolean;
  private readonly verboseLogs: boolean;
  private readonly removalPolicy: RemovalPolicy;

  /**
   * @param scope the construct to define it in
   * @param id its id within `scope`
   * @param props all optional: every resource has secure defaults
   */
  constructor(scope: Construct, id: string, props: ReplicateWebhooksProps = {}) {
    super(scope, id);
    checkExistingOrProps('existingSigningSecret', props.existingSigningSecret, 'signingSecretProps', props.signingSecretProps);
    checkExistingOrProps('existingBucket', props.existingBucket, 'bucketProps', props.bucketProps);
    checkExistingOrProps(
      'existingCompletionTopic',
      props.existingCompletionTopic,
      'completionTopicProps',
      props.completionTopicProps,
    );
    checkExistingOrProps('existingAlarmTopic', props.existingAlarmTopic, 'alarmTopicProps', props.alarmTopicProps);
    validateProps(this, props);
    if (!props.replicateApiToken) {
      Annotations.of(this).addWarningV2(
        'replicate-webhooks:noReconciler',
        "No replicateApiToken: nothing can be recovered when Replicate's deliveries fail (it retries only the terminal webhook, for about a minute). " +
          'Give a secret holding a Replicate API token as replicateApiToken to turn the reconciler on. ' +
          'For high volumes, create predictions with webhook_events_filter: ["completed"], so that the one webhook that matters has the most room.',
      );
    }
    const webhookPath = props.webhookPath ?? '/webhook';
    this.archivePrefix = normalizePrefix(props.archivePrefix);
    this.logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    this.logEncryptionKey = props.logEncryptionKey;
    if (this.logEncryptionKey) this.allowCloudWatchLogs(this.logEncryptionKey);
    this.tracing = props.tracing ?? false;
    this.detailedMetrics = props.detailedMetrics ?? false;
    this.verboseLogs = props.verboseLogs ?? false;
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.encryptionKey = props.encryptionKey;
    this.metricsNamespace = props.metricsNamespace ?? METRICS_NAMESPACE;

    this.signingSecret = props.existingSigningSecret ?? this.createSigningSecret(props.signingSecretProps);
    this.bucket = props.existingBucket ?? this.createBucket(props);
    this.table = this.createTable(props.tableProps);

    // Intake: API → verifier → one transaction on the table.
    this.verifier = this.createVerifier(props);
    const api = this.createApi(webhookPath, props);
    this.httpApi = api.httpApi;
    this.stage = api.stage;
    // The attribute, not `httpApi.apiEndpoint`, which refuses to answer once the endpoint is disabled.
    this.executeApiWebhookUrl = `${(this.httpApi.node.defaultChild as apigwv2.CfnApi).attrApiEndpoint}${webhookPath}`;
    if (props.domain) {
      this.customDomain = this.createCustomDomain(props.domain);
      this.webhookUrl = `https://${props.domain.domainName}${webhookPath}`;
    } else {
      this.webhookUrl = this.executeApiWebhookUrl;
    }

    // Archival: the table's stream, filtered to predictions that became terminal, queues one
    // message per prediction; the archiver consumes the queue.
    if (!props.existingCompletionTopic || !props.existingAlarmTopic) {
      this.topicKey = this.encryptionKey ?? this.createTopicKey();
      // CloudWatch alarms can publish to an encrypted topic only through a customer managed key
      // they may use. For a key defined elsewhere this changes nothing: its policy must say so.
      this.topicKey.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    }
    this.completionTopic =
      props.existingCompletionTopic ??
      this.createTopic('CompletionTopic', 'Replicate predictions finished and archived', props.completionTopicProps);
    this.completionEventBus = props.eventBus;
    this.alarmTopic =
      props.existingAlarmTopic ?? this.createTopic('AlarmTopic', 'Replicate webhooks operator alarms', props.alarmTopicProps);
    const archiverTimeout = props.archiver?.timeout ?? Duration.seconds(ARCHIVER_FUNCTION_DEFAULTS.timeoutSeconds);
    const maxReceiveCount = (props.archiver?.retryAttempts ?? ARCHIVE_QUEUE_DEFAULTS.maxReceiveCount - 1) + 1;
    this.archiveFailureQueue = this.createQueue('ArchiveFailureQueue', {
      retentionPeriod: Duration.days(14),
      noDlqReason:
        "This queue is itself the on-failure destination of the forwarder's stream event source; nothing consumes it automatically, so it needs no DLQ.",
    });
    this.archiveDeadLetterQueue = this.createQueue('ArchiveDeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      noDlqReason:
        'This queue is itself the dead-letter queue of the archive queue; operators redrive it to the archive queue, so it needs no DLQ.',
    });
    this.archiveQueue = this.createQueue('ArchiveQueue', {
      visibilityTimeout: archiverTimeout.plus(Duration.seconds(ARCHIVE_VISIBILITY_MARGIN_SECONDS)),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.archiveDeadLetterQueue, maxReceiveCount },
    });
    this.archiveForwarder = this.createArchiveForwarder();
    this.archiver = this.createArchiver(props, archiverTimeout, maxReceiveCount);
    if (props.replicateApiToken && props.reconciliation?.enabled !== false) {
      this.reconciler = this.createReconciler(props, props.replicateApiToken);
    }

    this.metrics = new WebhooksMetricFactory({
      namespace: this.metricsNamespace,
      httpApi: this.httpApi,
      verifier: this.verifier,
      forwarder: this.archiveForwarder,
      archiver: this.archiver,
      archiveQueue: this.archiveQueue,
      archiveDeadLetterQueue: this.archiveDeadLetterQueue,
      archiveFailureQueue: this.archiveFailureQueue,
      reconciler: this.reconciler,
      putsCompletionEvents: this.completionEventBus !== undefined,
    });
    const monitored = {
      metrics: this.metrics,
      alarmTopic: this.alarmTopic,
      reconcilerInterval: this.reconciler ? reconcilerInterval(props) : undefined,
    };
    this.alarms = createAlarms(this, monitored, props.alarms ?? {});
    if (props.dashboard === true) {
      this.dashboard = createDashboard(this, monitored, this, Object.values(this.alarms));
    }
  }

  /**
   * A metric the handlers emit (`METRIC` names), optionally for one `reason` (rejections and archive failures).
   * Without `detailedMetrics` only the series the alarms read are published (`bad_signature` rejections,
   * archivals failed, archive failures, and the event bus's and reconciler's alarmed ones).
   */
  public metric(metricName: string, options: HandlerMetricOptions = {}): cloudwatch.Metric {
    return this.metrics.handlerMetric(metricName, options);
  }

  /** Webhooks answered by the verifier, whatever the answer. Published with `detailedMetrics`. */
  public metricWebhooksReceived(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.received, options);
  }

  /** Webhooks recorded (a new state). Published with `detailedMetrics`. */
  public metricWebhooksAccepted(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.accepted, options);
  }

  /** Webhooks answered 4xx. With `reason`, only those (e.g. `bad_signature`). Without `detailedMetrics`, only `bad_signature` is published. */
  public metricWebhooksRejected(options?: HandlerMetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.rejected, options);
  }

  /** Webhooks answered 5xx: not recorded, and Replicate retries the terminal one. Published with `detailedMetrics` (the `api5xx` alarm reads the API's own 5xx). */
  public metricWebhooksFailed(options?: HandlerMetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.failed, options);
  }

  /** Output files copied into the archive. Published with `detailedMetrics`. */
  public metricFilesArchived(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.filesArchived, options);
  }

  /** Bytes copied into the archive. Published with `detailedMetrics`. */
  public metricBytesArchived(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.bytesArchived, options);
  }

  /** Output files that could not be archived. With `reason`, only those (e.g. `http_error`; by reason with `detailedMetrics`). */
  public metricArchiveFailures(options?: HandlerMetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.archiveFailures, options);
  }

  /** Completion notifications published. Published with `detailedMetrics`. */
  public metricNotificationsPublished(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.notificationsPublished, options);
  }

  /** How long the oldest finished prediction has waited in the archive queue (seconds, maximum). */
  public metricArchiveBacklogAge(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics.archiveBacklogAge(options);
  }

  /** Predictions whose every try failed, waiting in the dead-letter queue for a redrive. */
  public metricArchiveDeadLetters(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics.archiveDeadLetters(options);
  }

  /**
   * Predictions whose archival was given up: the last try failed (`reason`: the error's name, or
   * `files_failed_transiently`), or the reconciler found it past `maxArchiveAttempts`.
   */
  public metricArchivalsFailed(options?: HandlerMetricOptions): cloudwatch.Metric {
    return this.metrics.archivalsFailed(options);
  }

  /**
   * Finished predictions the reconciler sent to the archive queue again because they were not
   * announced long after finishing (with the reconciler): any means the forwarder or queue path is not delivering.
   */
  public metricArchivalsRedriven(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics.archivalsRedriven(options);
  }

  /**
   * How far behind the reconciler's complete listing of Replicate's predictions is (seconds,
   * maximum; with the reconciler, one value a run): a few minutes when healthy.
   */
  public metricReconcilerListingLag(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics.reconcilerListingLag(options);
  }

  /**
   * How long the oldest finished prediction not yet archived and announced has waited (seconds,
   * maximum; with the reconciler, which measures it on each run).
   */
  public metricOldestPendingArchivalAge(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metrics.oldestPendingArchivalAge(options);
  }

  /** Completion events EventBridge took (with the `eventBus` prop): one per finished prediction. Published with `detailedMetrics`. */
  public metricCompletionEventsPut(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.completionEventsPut, options);
  }

  /** PutEvents calls or entries that failed, retried ones included (`reason`: the error code). */
  public metricCompletionEventPutFailures(options?: HandlerMetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.completionEventPutFailures, options);
  }

  /**
   * Subscribes to completion notifications, optionally only for some statuses, models or kinds
   * (a filter policy on the message attributes `status`, `model` and `kind`).
   */
  public onCompletion(subscription: sns.ITopicSubscription, filter: CompletionFilter = {}): void {
    const policy: Record<string, sns.SubscriptionFilter> = {};
    if (filter.statuses) policy.status = sns.SubscriptionFilter.stringFilter({ allowlist: [...filter.statuses] });
    if (filter.models) policy.model = sns.SubscriptionFilter.stringFilter({ allowlist: [...filter.models] });
    if (filter.kinds)
      policy.kind = sns.SubscriptionFilter.stringFilter({ allowlist: checkedKinds('onCompletion', filter.kinds) });
    this.completionTopic.addSubscription({
      bind: (topic) => {
        const config = subscription.bind(topic);
        return Object.keys(policy).length === 0 ? config : { ...config, filterPolicy: { ...config.filterPolicy, ...policy } };
      },
    });
  }

  /**
   * A rule on the event bus (the `eventBus` prop) matching completion events, optionally only
   * for some statuses or kinds (on `detail-type`) or models (on `detail.model`), like
   * `onCompletion` for the topic. Extra `eventPattern` fields narrow it further.
   */
  public onCompletionEvent(id: string, options: CompletionEventOptions = {}): events.Rule {
    if (!this.completionEventBus) {
      throw new Error('ReplicateWebhooks: onCompletionEvent needs the eventBus prop, the bus completion events are put on.');
    }
    const { statuses, models, kinds, target, eventPattern, ...ruleOptions } = options;
    for (const status of statuses ?? []) {
      if (!(TERMINAL_STATUSES as readonly string[]).includes(status)) {
        throw new Error(
          `ReplicateWebhooks: onCompletionEvent statuses holds "${status}"; only terminal statuses are announced: ${TERMINAL_STATUSES.join(', ')}.`,
        );
      }
    }
    const ours = completionEventPattern({ statuses, models, kinds: kinds && checkedKinds('onCompletionEvent', kinds) });
    const rule = new events.Rule(this, id, {
      ...ruleOptions,
      eventBus: this.completionEventBus,
      eventPattern: {
        ...eventPattern,
        source: ours.source as string[],
        detailType: ours['detail-type'] as string[],
        ...(ours.detail || eventPattern?.detail ? { detail: { ...eventPattern?.detail, ...(ours.detail as object) } } : {}),
      },
    });
    if (target) rule.addTarget(target);
    return rule;
  }

  /**
   * One of the alarms created, or undefined when it was not (disabled, or its resource does not exist here).
   * @param name which alarm
   */
  public alarm(name: AlarmName): cloudwatch.Alarm | undefined {
    return this.alarms[name];
  }

  /** Lets the grantee read the archive: every manifest.json, output file and (with `predictionDocument`) prediction.json and training.json. */
  public grantReadArchive(grantee: iam.IGrantable): iam.Grant {
    const [first, ...others] = ARCHIVER_FOLDERS.map((folder) =>
      this.bucket.grantRead(grantee, `${this.archivePrefix}${folder}*`),
    );
    return others.reduce((all, grant) => all.combine(grant), first);
  }

  private createSigningSecret(secretProps: secretsmanager.SecretProps | undefined): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(
      this,
      'SigningSecret',
      consolidateProps<secretsmanager.SecretProps>(
        {
          description:
            'Replicate webhook signing key (whsec_...). Set it to the output of GET https://api.replicate.com/v1/webhooks/default/secret.',
          removalPolicy: this.removalPolicy,
          encryptionKey: this.encryptionKey,
        },
        secretProps,
      ),
    );
    acknowledgeSigningSecret(secret);
    return secret;
  }

  private createBucket(props: ReplicateWebhooksProps): s3.Bucket {
    const lifecycle = props.archiveLifecycle ?? {};
    const bucket = new s3.Bucket(
      this,
      'ArchiveBucket',
      consolidateProps<s3.BucketProps>(
        {
          ...(this.encryptionKey
            ? { encryption: s3.BucketEncryption.KMS, encryptionKey: this.encryptionKey, bucketKeyEnabled: true }
            : { encryption: s3.BucketEncryption.S3_MANAGED }),
          blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
          objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
          // Archive keys are deterministic, so a retried archival overwrites: versioning keeps the
          // overwritten copy (nothing lost) until the rule below expires it.
          versioned: true,
          removalPolicy: this.removalPolicy,
          lifecycleRules: [
            { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
            {
              id: 'expire-noncurrent-versions',
              noncurrentVersionExpiration: lifecycle.noncurrentVersionExpiration ?? Duration.days(30),
              expiredObjectDeleteMarker: true,
            },
            {
              id: 'expire-spilled-payloads',
              prefix: `${this.archivePrefix}${SPILL_FOLDER}`,
              expiration: lifecycle.spilledPayloadExpiration ?? Duration.days(30),
            },
            ...(lifecycle.transitions || lifecycle.expiration
              ? ARCHIVER_FOLDERS.map((folder) => ({
                  // The first rule's id predates trainings: kept, so that an update does not replace it.
                  id: folder === PREDICTIONS_FOLDER ? 'archived-predictions' : `archived-${folder.replace(/\/$/, '')}`,
                  prefix: `${this.archivePrefix}${folder}`,
                  transitions: lifecycle.transitions ? [...lifecycle.transitions] : undefined,
                  expiration: lifecycle.expiration,
                }))
              : []),
          ],
        },
        props.bucketProps,
        { enforceSSL: true },
      ),
    );
    if (!props.bucketProps?.serverAccessLogsBucket) {
      acknowledgeArchiveBucketWithoutAccessLogs(bucket);
    }
    return bucket;
  }

  private createTable(tableProps: StateTableProps | undefined): dynamodb.TableV2 {
    return new dynamodb.TableV2(
      this,
      'StateTable',
      consolidateProps<dynamodb.TablePropsV2>(
        {
          billing: dynamodb.Billing.onDemand(),
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          encryption: this.encryptionKey
            ? dynamodb.TableEncryptionV2.customerManagedKey(this.encryptionKey)
            : dynamodb.TableEncryptionV2.awsManagedKey(),
          removalPolicy: this.removalPolicy,
        },
        tableProps,
        {
          partitionKey: { name: PARTITION_KEY, type: dynamodb.AttributeType.STRING },
          sortKey: undefined,
          globalSecondaryIndexes: [
            ...(tableProps?.globalSecondaryIndexes ?? []),
            {
              indexName: ARCHIVE_PENDING_INDEX.indexName,
              partitionKey: { name: ARCHIVE_PENDING_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
              sortKey: { name: ARCHIVE_PENDING_INDEX.sortKey, type: dynamodb.AttributeType.STRING },
              projectionType: dynamodb.ProjectionType.INCLUDE,
              nonKeyAttributes: [...ARCHIVE_PENDING_INDEX.projected],
            },
            {
              indexName: FOLLOW_INDEX.indexName,
              partitionKey: { name: FOLLOW_INDEX.partitionKey, type: dynamodb.AttributeType.STRING },
              sortKey: { name: FOLLOW_INDEX.sortKey, type: dynamodb.AttributeType.STRING },
              projectionType: dynamodb.ProjectionType.KEYS_ONLY,
            },
          ],
          dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
          timeToLiveAttribute: TTL_ATTRIBUTE,
        },
      ),
    );
  }

  private createVerifier(props: ReplicateWebhooksProps): lambda.Function {
    const options = props.verifier ?? {};
    const verifier = this.createFunction('Verifier', 'verifier', {
      description: 'Verifies Replicate webhooks and records each one once, in order',
      memorySize: options.memorySize ?? VERIFIER_FUNCTION_DEFAULTS.memorySizeMb,
      timeout: options.timeout ?? Duration.seconds(VERIFIER_FUNCTION_DEFAULTS.timeoutSeconds),
      reservedConcurrentExecutions:
        options.reserveConcurrency === false ? undefined : (options.reservedConcurrentExecutions ?? 25),
      leanLogs: true,
      environment: {
        ...verifierEnvironment({
          tableName: this.table.tableName,
          signingSecretId: this.signingSecret.secretArn,
          bucketName: this.bucket.bucketName,
          archivePrefix: this.archivePrefix,
          timestampToleranceSeconds: props.timestampTolerance?.toSeconds() ?? VERIFIER_DEFAULTS.timestampToleranceSeconds,
          maxBodyBytes: props.maxBodySize?.toBytes() ?? VERIFIER_DEFAULTS.maxBodyBytes,
          maxInlinePayloadBytes: props.maxInlinePayloadSize?.toBytes() ?? VERIFIER_DEFAULTS.maxInlinePayloadBytes,
          keyCacheTtlSeconds: props.signingKeyCacheTtl?.toSeconds() ?? VERIFIER_DEFAULTS.keyCacheTtlSeconds,
          keyRefreshIntervalSeconds: VERIFIER_DEFAULTS.keyRefreshIntervalSeconds,
        }),
      },
    });
    // Least privilege: the transaction needs exactly these two actions on this table.
    this.grantTableItems(verifier, 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    this.encryptionKey?.grantEncryptDecrypt(verifier);
    this.signingSecret.grantRead(verifier);
    this.bucket.grantPut(verifier, `${this.archivePrefix}${SPILL_FOLDER}*`);
    acknowledgeVerifier(verifier, this.bucket.arnForObjects(`${this.archivePrefix}${SPILL_FOLDER}*`));
    return verifier;
  }

  private createApi(webhookPath: string, props: ReplicateWebhooksProps): { httpApi: apigwv2.HttpApi; stage: apigwv2.HttpStage } {
    const accessLogs = this.createLogGroup('ApiAccessLogs');
    const httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Receives Replicate webhooks',
      createDefaultStage: false,
      disableExecuteApiEndpoint: props.domain?.disableExecuteApiEndpoint,
    });
    const stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttle?.rateLimit ?? WEBHOOK_THROTTLE_DEFAULTS.rateLimit,
        burstLimit: props.throttle?.burstLimit ?? WEBHOOK_THROTTLE_DEFAULTS.burstLimit,
      },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigateway.AccessLogFormat.custom(
          // No requestTime: each line's CloudWatch timestamp says when, and the field is a sixth of the line's cost.
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latency: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    const routes = httpApi.addRoutes({
      path: webhookPath,
      methods: [apigwv2.HttpMethod.POST],
      integration: new HttpLambdaIntegration('VerifierIntegration', this.verifier, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
    });
    for (const route of routes) {
      acknowledgeWebhookRoute(route);
      // The integration's invoke permission names the API as SourceArn; SourceAccount too, so the
      // permission is scoped by a literal account (Control Tower's CT.LAMBDA.PR.2 reads that one).
      for (const permission of route.node.findAll().filter((child) => child instanceof lambda.CfnPermission)) {
        permission.sourceAccount = Stack.of(this).account;
      }
    }
    return { httpApi, stage };
  }

  /**
   * The API on a domain of the user's: a regional API Gateway domain name (TLS 1.2, IPv4 and
   * IPv6) mapped to the `$default` stage, and with a hosted zone its A and AAAA alias records.
   */
  private createCustomDomain(options: WebhookDomainOptions): apigwv2.DomainName {
    const domain = new apigwv2.DomainName(this, 'CustomDomain', {
      domainName: options.domainName,
      certificate: options.certificate,
      endpointType: apigwv2.EndpointType.REGIONAL,
      securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      // Dual-stack, so that the AAAA record answers; a domain's IP address type is its own, not the API's.
      ipAddressType: apigwv2.IpAddressType.DUAL_STACK,
    });
    new apigwv2.ApiMapping(this, 'CustomDomainMapping', { api: this.httpApi, domainName: domain, stage: this.stage });
    if (options.hostedZone) {
      const target = route53.RecordTarget.fromAlias(
        new route53Targets.ApiGatewayv2DomainProperties(domain.regionalDomainName, domain.regionalHostedZoneId),
      );
      // Fully qualified: CDK appends the zone's name to a name it does not see end with it, as
      // `Hooks.Example.com` in the zone `example.com` (DNS names are case-insensitive; the check is not).
      const records = { zone: options.hostedZone, recordName: `${options.domainName}.`, target };
      new route53.ARecord(this, 'CustomDomainARecord', records);
      new route53.AaaaRecord(this, 'CustomDomainAaaaRecord', records);
    }
    return domain;
  }

  private createTopicKey(): kms.Key {
    const key = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the Replicate webhooks completion and alarm topics',
      enableKeyRotation: true,
      removalPolicy: this.removalPolicy,
    });
    // Nothing needs a grant on this key but AWS services acting for a resource; no one else may
    // create one (Control Tower's CT.KMS.PR.3: the account's kms:* would otherwise include it).
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyGrantsExceptForAwsResources',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
      }),
    );
    return key;
  }

  private createLogGroup(id: string): logs.LogGroup {
    return new logs.LogGroup(this, id, {
      retention: this.logRetention,
      encryptionKey: this.logEncryptionKey,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /**
   * CloudWatch Logs encrypts a log group only with a key whose policy lets the regional service
   * use it, for log groups of this account and region. An imported key's policy must say so itself.
   */
  private allowCloudWatchLogs(key: kms.IKey): void {
    const stack = Stack.of(this);
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogsOfThisAccount',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
  }

  private createTopic(id: string, displayName: string, topicProps: sns.TopicProps | undefined): sns.Topic {
    return new sns.Topic(
      this,
      id,
      consolidateProps<sns.TopicProps>({ displayName, masterKey: this.topicKey }, topicProps, { enforceSSL: true }),
    );
  }

  private createQueue(
    id: string,
    options: Pick<sqs.QueueProps, 'retentionPeriod' | 'visibilityTimeout' | 'deadLetterQueue'> & { noDlqReason?: string },
  ): sqs.Queue {
    const { noDlqReason, ...queueProps } = options;
    const queue = new sqs.Queue(this, id, {
      ...(this.encryptionKey
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: this.encryptionKey }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
      // Marks a queue that is itself a dead-letter destination as one (what Control Tower's
      // CT.SQS.PR.1 asks of a queue without a DLQ). allowAll is SQS's default: nothing changes.
      ...(noDlqReason ? { redriveAllowPolicy: { redrivePermission: sqs.RedrivePermission.ALLOW_ALL } } : {}),
      ...queueProps,
    });
    if (noDlqReason) acknowledgeTerminalQueue(queue, noDlqReason);
    return queue;
  }

  /**
   * The table's stream, filtered to predictions that became terminal, to the archive queue: one
   * message per prediction, so each is retried and scaled on its own, not with its stream shard.
   *
   * What is alarmed: a batch that fails every retry lands in the failure queue (its alarm); a
   * throttled forwarder (the one failure its event source retries without counting, until the
   * records leave the stream after 24 hours) is in the throttles alarm. Iterator age is not
   * alarmed: it grows only through those two (or a stopped mapping, which the reconciler's
   * pending-archival age shows), and errors end in the failure queue within minutes.
   */
  private createArchiveForwarder(): lambda.Function {
    const forwarder = this.createFunction('ArchiveForwarder', 'forwarder', {
      description: 'Queues each Replicate prediction that became terminal for archival',
      memorySize: FORWARDER_FUNCTION_DEFAULTS.memorySizeMb,
      timeout: Duration.seconds(FORWARDER_FUNCTION_DEFAULTS.timeoutSeconds),
      leanLogs: true,
      environment: forwarderEnvironment({ queueUrl: this.archiveQueue.queueUrl }),
    });
    // Grants stream reads (and the key's decrypt for a customer managed key) and sends to the failure queue.
    forwarder.addEventSource(
      new DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: FORWARDER_EVENT_SOURCE_DEFAULTS.batchSize,
        bisectBatchOnError: true,
        retryAttempts: FORWARDER_EVENT_SOURCE_DEFAULTS.retryAttempts,
        reportBatchItemFailures: true,
        filters: BECAME_TERMINAL_PATTERNS.map((pattern) => lambda.FilterCriteria.filter(pattern)),
        onFailure: new SqsDlq(this.archiveFailureQueue),
      }),
    );
    this.archiveQueue.grantSendMessages(forwarder);
    acknowledgeArchiveForwarder(forwarder);
    return forwarder;
  }

  private createArchiver(props: ReplicateWebhooksProps, timeout: Duration, maxReceiveCount: number): lambda.Function {
    const options = props.archiver ?? {};
    const archiver = this.createFunction('Archiver', 'archiver', {
      description: 'Copies the outputs of finished Replicate predictions into S3 and announces them',
      memorySize: options.memorySize ?? ARCHIVER_FUNCTION_DEFAULTS.memorySizeMb,
      timeout,
      leanLogs: true,
      environment: archiverEnvironment({
        tableName: this.table.tableName,
        bucketName: this.bucket.bucketName,
        archivePrefix: this.archivePrefix,
        completionTopicArn: this.completionTopic.topicArn,
        // The ARN, so that a bus in another account works as well as one in this one.
        eventBusName: this.completionEventBus?.eventBusArn,
        queueUrl: this.archiveQueue.queueUrl,
        allowedOutputHosts: props.allowedOutputHosts ?? ARCHIVER_DEFAULTS.allowedOutputHosts,
        maxFileBytes: props.maxOutputFileSize?.toBytes() ?? ARCHIVER_DEFAULTS.maxFileBytes,
        maxTrainingFileBytes: props.maxTrainingOutputFileSize?.toBytes() ?? ARCHIVER_DEFAULTS.maxTrainingFileBytes,
        fileConcurrency:
          options.fileConcurrency ?? fileConcurrencyFor(options.memorySize ?? ARCHIVER_FUNCTION_DEFAULTS.memorySizeMb),
        // The try that records and announces whatever still fails: the queue's last.
        maxReceiveCount,
        predictionDocument: props.predictionDocument ?? ARCHIVER_DEFAULTS.predictionDocument,
      }),
    });
    archiver.addEventSource(
      new SqsEventSource(this.archiveQueue, {
        batchSize: options.batchSize ?? ARCHIVE_QUEUE_DEFAULTS.batchSize,
        maxConcurrency: options.maxConcurrency ?? ARCHIVE_QUEUE_DEFAULTS.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    // GetItem: a terminal payload kept in an item of its own.
    this.grantTableItems(archiver, 'dynamodb:UpdateItem', 'dynamodb:GetItem');
    // Stream records and item updates of a table under a customer managed key need it too.
    this.encryptionKey?.grantEncryptDecrypt(archiver);
    for (const folder of ARCHIVER_FOLDERS) {
      this.bucket.grantPut(archiver, `${this.archivePrefix}${folder}*`);
      // Reads: its own manifests when a retry finds the archival already done.
      this.grantGetObjects(archiver, `${this.archivePrefix}${folder}*`);
    }
    // And spilled payloads.
    this.grantGetObjects(archiver, `${this.archivePrefix}${SPILL_FOLDER}*`);
    this.completionTopic.grantPublish(archiver);
    this.completionEventBus?.grantPutEventsTo(archiver);
    acknowledgeArchiver(archiver, {
      folderObjectArns: [...ARCHIVER_FOLDERS, SPILL_FOLDER].map((folder) =>
        this.bucket.arnForObjects(`${this.archivePrefix}${folder}*`),
      ),
      publishesToEncryptedTopic: this.topicKey !== undefined,
    });
    return archiver;
  }

  /**
   * A scheduled function that records predictions whose webhooks never arrived (through
   * Replicate's API and the same store as the verifier) and keeps the signing key in step.
   */
  private createReconciler(props: ReplicateWebhooksProps, token: secretsmanager.ISecret): lambda.Function {
    const options = props.reconciliation ?? {};
    const interval = reconcilerInterval(props);
    const manageSigningKey = options.manageSigningKey ?? true;
    // With a domain, predictions created before it (or by clients not moved yet) carry the
    // execute-api URL: still this deployment's, even once that endpoint is disabled.
    const ourUrls = [...(this.customDomain ? [this.executeApiWebhookUrl] : []), ...(options.webhookUrls ?? [])];
    const reconciler = this.createFunction('Reconciler', 'reconciler', {
      description: 'Records Replicate predictions whose webhooks never arrived, through the Replicate API',
      memorySize: RECONCILER_FUNCTION_DEFAULTS.memorySizeMb,
      // A run ends before the next starts; a long listing carries on next time.
      timeout: Duration.seconds(Math.min(interval.toSeconds(), 300)),
      // One run at a time: overlapping runs would only spend Replicate's rate limit twice.
      reservedConcurrentExecutions: 1,
      environment: reconcilerEnvironment({
        tableName: this.table.tableName,
        bucketName: this.bucket.bucketName,
        archivePrefix: this.archivePrefix,
        signingSecretId: this.signingSecret.secretArn,
        tokenSecretId: token.secretArn,
        archiveQueueUrl: this.archiveQueue.queueUrl,
        webhookUrl: this.webhookUrl,
        // Absent rather than empty: the reconciler reads an empty list and no list alike.
        webhookUrls: ourUrls.length ? ourUrls : undefined,
        manageSigningKey,
        apiBaseUrl: props.replicateApiBaseUrl ?? RECONCILER_DEFAULTS.apiBaseUrl,
        scope: options.scope ?? RECONCILER_DEFAULTS.scope,
        lookbackSeconds: options.lookback?.toSeconds() ?? RECONCILER_DEFAULTS.lookbackSeconds,
        intervalSeconds: interval.toSeconds(),
        maxArchiveAttempts: options.maxArchiveAttempts ?? RECONCILER_DEFAULTS.maxArchiveAttempts,
        maxInlinePayloadBytes: props.maxInlinePayloadSize?.toBytes() ?? STORE_DEFAULTS.maxInlinePayloadBytes,
      }),
    });
    token.grantRead(reconciler);
    this.signingSecret.grantRead(reconciler);
    if (manageSigningKey) {
      iam.Grant.addToPrincipal({
        grantee: reconciler,
        actions: ['secretsmanager:PutSecretValue'],
        resourceArns: [this.signingSecret.secretArn],
      });
      this.signingSecret.encryptionKey?.grantEncrypt(reconciler);
    }
    // The verifier's write (the same store), batched lookups, its own state item and its retry
    // items (read, written, deleted once recovered), and the two sparse indexes it walks: named,
    // not `index/*`, so an index a user adds stays out of its reach.
    this.grantTableItems(
      reconciler,
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    );
    iam.Grant.addToPrincipal({
      grantee: reconciler,
      actions: ['dynamodb:Query'],
      resourceArns: [ARCHIVE_PENDING_INDEX.indexName, FOLLOW_INDEX.indexName].map(
        (indexName) => `${this.table.tableArn}/index/${indexName}`,
      ),
    });
    this.encryptionKey?.grantEncryptDecrypt(reconciler);
    this.bucket.grantPut(reconciler, `${this.archivePrefix}${SPILL_FOLDER}*`);
    this.archiveQueue.grantSendMessages(reconciler);
    const schedule = new events.Rule(this, 'ReconcileSchedule', {
      description: 'Runs the Replicate webhooks reconciler',
      schedule: events.Schedule.rate(interval),
      // The next run does the same work: a failed run is not worth retrying.
      targets: [new eventsTargets.LambdaFunction(reconciler, { retryAttempts: 0, event: events.RuleTargetInput.fromObject({}) })],
    });
    acknowledgeReconcileSchedule(schedule);
    acknowledgeReconciler(reconciler, this.bucket.arnForObjects(`${this.archivePrefix}${SPILL_FOLDER}*`));
    return reconciler;
  }

  /**
   * Item actions on the table itself. Not `table.grant`: with an index it adds `index/*`, which
   * no item action needs. KMS grants for a customer managed key are made separately.
   */
  private grantTableItems(grantee: iam.IGrantable, ...actions: string[]): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.table.tableArn] });
  }

  /** s3:GetObject only (no listing), on one key pattern of the archive bucket. */
  private grantGetObjects(grantee: iam.IGrantable, keyPattern: string): iam.Grant {
    this.bucket.encryptionKey?.grantDecrypt(grantee);
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.bucket.arnForObjects(keyPattern)],
    });
  }

  private createFunction(
    id: string,
    handler: HandlerName,
    options: Pick<lambda.FunctionProps, 'description' | 'memorySize' | 'timeout' | 'reservedConcurrentExecutions'> & {
      readonly environment: Record<string, string>;
      /**
       * A function that runs per webhook or per prediction (the verifier, the forwarder, the
       * archiver) logs lean unless `verboseLogs`:
       * warnings and errors always, one invocation's INFO lines in a hundred, none of Lambda's
       * start and report records. The reconciler runs on a schedule: what it logs does not grow
       * with traffic, and its run summary is how an operator sees what it did.
       */
      readonly leanLogs?: boolean;
    },
  ): lambda.Function {
    const { leanLogs, ...functionOptions } = options;
    const lean = leanLogs === true && !this.verboseLogs;
    const fn = new lambda.Function(this, id, {
      ...functionOptions,
      ...(leanLogs ? { systemLogLevelV2: (lean ? LEAN_LOGGING : VERBOSE_LOGGING).systemLogLevel as lambda.SystemLogLevel } : {}),
      runtime: HANDLER_RUNTIME,
      architecture: HANDLER_ARCHITECTURE,
      code: handlerCode(handler),
      handler: 'index.handler',
      tracing: this.tracing ? lambda.Tracing.ACTIVE : undefined,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup: this.createLogGroup(`${id}Logs`),
      environment: {
        ...(leanLogs ? loggingEnvironment(this.verboseLogs) : {}),
        ...options.environment,
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: this.metricsNamespace,
        [DETAILED_METRICS_ENV]: String(this.detailedMetrics),
      },
    });
    acknowledgeHandlerFunction(fn, {
      customerManagedKey: this.encryptionKey !== undefined || this.bucket.encryptionKey !== undefined,
      tracing: this.tracing,
    });
    return fn;
  }
}

/** How often the reconciler runs: the schedule's rate. */
/** The archiver's folders: `predictions/` and `trainings/`. */
const ARCHIVER_FOLDERS: readonly string[] = Object.values(ARCHIVE_FOLDERS);

/** The kinds as given, checked: a value from another language's binding may be anything. */
function checkedKinds(method: string, kinds: readonly CompletionKind[]): string[] {
  for (const kind of kinds) {
    if (!(COMPLETION_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`ReplicateWebhooks: ${method} kinds holds "${kind}"; the kinds are ${COMPLETION_KINDS.join(', ')}.`);
    }
  }
  return [...kinds];
}

function reconcilerInterval(props: ReplicateWebhooksProps): Duration {
  return props.reconciliation?.interval ?? Duration.seconds(RECONCILIATION_DEFAULTS.intervalSeconds);
}
