import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PREDICTIONS_FOLDER, SPILL_FOLDER, normalizePrefix } from '../lambda/shared/archive-layout';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../lambda/shared/metrics';
import { DEFAULT_OUTPUT_HOSTS } from '../lambda/shared/outputs';
import { PARTITION_KEY, TTL_ATTRIBUTE } from '../lambda/shared/state';
import { ARCHIVER_EVENT_SOURCE_DEFAULTS, BECAME_TERMINAL_PATTERNS } from '../lambda/shared/stream-filter';
import { checkExistingOrProps, consolidateProps } from './consolidate';
import { HANDLER_ARCHITECTURE, HANDLER_RUNTIME, handlerCode, type HandlerName } from './handler-code';
import { acknowledge, acknowledgeWildcardResource } from './nag';
import { createAlarms, createDashboard, handlerMetric } from './monitoring';
import type { AlarmName, CompletionFilter, ReplicateWebhooksProps } from './props';

const DEFAULT_THROTTLE = { rateLimit: 100, burstLimit: 200 };

/**
 * Receives Replicate webhooks: an HTTP API in front of a verifier Lambda that checks the
 * Standard Webhooks signature and records each webhook once, in order, in a DynamoDB table.
 * The table's stream drives an archiver that copies every output file into S3 before Replicate
 * deletes it and announces each finished prediction on an SNS topic.
 */
export class ReplicateWebhooks extends Construct {
  /** The URL to give Replicate as `webhook`. */
  public readonly webhookUrl: string;
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
  /** The archiver Lambda, driven by the table's stream. */
  public readonly archiver: lambda.Function;
  /** Encrypted queue that receives stream batches whose retries ran out (metadata only, as Lambda sends it). */
  public readonly archiveFailureQueue: sqs.Queue;
  /** One message per finished prediction (created unless `existingCompletionTopic` was given). */
  public readonly completionTopic: sns.ITopic;
  /** Operator alarms (created unless `existingAlarmTopic` was given). */
  public readonly alarmTopic: sns.ITopic;
  /** The KMS key of the topics the construct created: `encryptionKey` if given, else one it created; undefined when both topics were given. */
  public readonly topicKey?: kms.IKey;
  /** The customer managed key given as `encryptionKey`, if any. */
  public readonly encryptionKey?: kms.IKey;
  /** The alarms created, by name (see `AlarmOptions`). */
  public readonly alarms: Partial<Record<AlarmName, cloudwatch.Alarm>>;
  /** The CloudWatch dashboard of the flow, unless `dashboard: false`. */
  public readonly dashboard?: cloudwatch.Dashboard;
  /** The CloudWatch namespace of the handlers' metrics. */
  public readonly metricsNamespace: string;

  private readonly logRetention: logs.RetentionDays;
  private readonly tracing: boolean;
  private readonly removalPolicy: RemovalPolicy;

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
    const webhookPath = props.webhookPath ?? '/webhook';
    if (!/^\/[A-Za-z0-9._~/-]*$/.test(webhookPath)) {
      throw new Error(`ReplicateWebhooks: webhookPath "${webhookPath}" must start with / and hold only URL path characters.`);
    }
    this.archivePrefix = normalizePrefix(props.archivePrefix);
    this.logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    this.tracing = props.tracing ?? false;
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
    this.webhookUrl = `${this.httpApi.apiEndpoint}${webhookPath}`;

    // Archival: the table's stream, filtered to predictions that became terminal, drives the archiver.
    if (!props.existingCompletionTopic || !props.existingAlarmTopic) {
      this.topicKey =
        this.encryptionKey ??
        new kms.Key(this, 'TopicKey', {
          description: 'Encrypts the Replicate webhooks completion and alarm topics',
          enableKeyRotation: true,
          removalPolicy: this.removalPolicy,
        });
      // CloudWatch alarms can publish to an encrypted topic only through a customer managed key
      // they may use. For a key defined elsewhere this changes nothing: its policy must say so.
      this.topicKey.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    }
    this.completionTopic =
      props.existingCompletionTopic ??
      this.createTopic('CompletionTopic', 'Replicate predictions finished and archived', props.completionTopicProps);
    this.alarmTopic =
      props.existingAlarmTopic ?? this.createTopic('AlarmTopic', 'Replicate webhooks operator alarms', props.alarmTopicProps);
    this.archiveFailureQueue = this.createFailureQueue();
    this.archiver = this.createArchiver(props);

    const monitored = {
      httpApi: this.httpApi,
      verifier: this.verifier,
      archiver: this.archiver,
      archiveFailureQueue: this.archiveFailureQueue,
      alarmTopic: this.alarmTopic,
      namespace: this.metricsNamespace,
    };
    this.alarms = createAlarms(this, monitored, props.alarms ?? {});
    if (props.dashboard !== false) this.dashboard = createDashboard(this, monitored, Object.values(this.alarms));
  }

  /** A metric the handlers emit (`METRIC` names), optionally for one `reason` (rejections and archive failures). */
  public metric(metricName: string, options: cloudwatch.MetricOptions & { reason?: string } = {}): cloudwatch.Metric {
    return handlerMetric(this.metricsNamespace, metricName, options);
  }

  /** Webhooks answered by the verifier, whatever the answer. */
  public metricWebhooksReceived(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.received, options);
  }

  /** Webhooks recorded (a new state). */
  public metricWebhooksAccepted(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.accepted, options);
  }

  /** Webhooks answered 4xx; with `reason`, only those (e.g. `bad_signature`). */
  public metricWebhooksRejected(options?: cloudwatch.MetricOptions & { reason?: string }): cloudwatch.Metric {
    return this.metric(METRIC.rejected, options);
  }

  /** Webhooks answered 5xx (not recorded; Replicate retries the terminal one). */
  public metricWebhooksFailed(options?: cloudwatch.MetricOptions & { reason?: string }): cloudwatch.Metric {
    return this.metric(METRIC.failed, options);
  }

  /** Output files copied into the archive. */
  public metricFilesArchived(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.filesArchived, options);
  }

  /** Bytes copied into the archive. */
  public metricBytesArchived(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.bytesArchived, options);
  }

  /** Output files that could not be archived; with `reason`, only those (e.g. `http_error`). */
  public metricArchiveFailures(options?: cloudwatch.MetricOptions & { reason?: string }): cloudwatch.Metric {
    return this.metric(METRIC.archiveFailures, options);
  }

  /** Completion notifications published. */
  public metricNotificationsPublished(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRIC.notificationsPublished, options);
  }

  /** How far the archiver lags behind the table stream (milliseconds, maximum). */
  public metricArchiverIteratorAge(options?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.archiver.metric('IteratorAge', { statistic: 'Maximum', ...options });
  }

  /**
   * Subscribes to completion notifications, optionally only for some statuses or models
   * (a filter policy on the message attributes `status` and `model`).
   */
  public onCompletion(subscription: sns.ITopicSubscription, filter: CompletionFilter = {}): void {
    const policy: Record<string, sns.SubscriptionFilter> = {};
    if (filter.statuses) policy.status = sns.SubscriptionFilter.stringFilter({ allowlist: [...filter.statuses] });
    if (filter.models) policy.model = sns.SubscriptionFilter.stringFilter({ allowlist: [...filter.models] });
    this.completionTopic.addSubscription({
      bind: (topic) => {
        const config = subscription.bind(topic);
        return Object.keys(policy).length === 0 ? config : { ...config, filterPolicy: { ...config.filterPolicy, ...policy } };
      },
    });
  }

  /** Lets the grantee read the archive: every prediction.json, manifest.json and output file. */
  public grantReadArchive(grantee: iam.IGrantable): iam.Grant {
    return this.bucket.grantRead(grantee, `${this.archivePrefix}${PREDICTIONS_FOLDER}*`);
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
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'The signing key is issued by Replicate and can only be rotated there; the verifier picks up a new value without a restart.',
    );
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
          removalPolicy: this.removalPolicy,
          lifecycleRules: [
            { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
            {
              id: 'expire-spilled-payloads',
              prefix: `${this.archivePrefix}${SPILL_FOLDER}`,
              expiration: lifecycle.spilledPayloadExpiration ?? Duration.days(30),
            },
            ...(lifecycle.transitions || lifecycle.expiration
              ? [
                  {
                    id: 'archived-predictions',
                    prefix: `${this.archivePrefix}${PREDICTIONS_FOLDER}`,
                    transitions: lifecycle.transitions ? [...lifecycle.transitions] : undefined,
                    expiration: lifecycle.expiration,
                  },
                ]
              : []),
          ],
        },
        props.bucketProps,
        { enforceSSL: true },
      ),
    );
    if (!props.bucketProps?.serverAccessLogsBucket) {
      acknowledge(
        bucket,
        'AwsSolutions-S1',
        "Only this construct's Lambdas write to the archive; pass bucketProps.serverAccessLogsBucket to turn on server access logs.",
      );
    }
    return bucket;
  }

  private createTable(tableProps: Partial<dynamodb.TablePropsV2> | undefined): dynamodb.TableV2 {
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
      memorySize: options.memorySize ?? 256,
      timeout: options.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions:
        options.reservedConcurrentExecutions === 'none' ? undefined : (options.reservedConcurrentExecutions ?? 25),
      environment: {
        TABLE_NAME: this.table.tableName,
        SIGNING_SECRET_ID: this.signingSecret.secretArn,
        BUCKET_NAME: this.bucket.bucketName,
        ARCHIVE_PREFIX: this.archivePrefix,
        TIMESTAMP_TOLERANCE_SECONDS: String((props.timestampTolerance ?? Duration.minutes(5)).toSeconds()),
        MAX_BODY_BYTES: String((props.maxBodySize ?? Size.mebibytes(6)).toBytes()),
        MAX_INLINE_PAYLOAD_BYTES: String((props.maxInlinePayloadSize ?? Size.kibibytes(16)).toBytes()),
        DEDUP_TTL_SECONDS: String((props.dedupRetention ?? Duration.days(7)).toSeconds()),
        KEY_CACHE_TTL_SECONDS: String((props.signingKeyCacheTtl ?? Duration.minutes(5)).toSeconds()),
        KEY_REFRESH_INTERVAL_SECONDS: '30',
      },
    });
    // Least privilege: the transaction needs exactly these two actions on this table.
    this.table.grant(verifier, 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    this.encryptionKey?.grantEncryptDecrypt(verifier);
    this.signingSecret.grantRead(verifier);
    this.bucket.grantPut(verifier, `${this.archivePrefix}${SPILL_FOLDER}*`);
    acknowledge(
      verifier,
      'Serverless-LambdaDLQ',
      'API Gateway invokes the verifier synchronously, and a DLQ only receives asynchronous invocations; a failure answers 5xx and Replicate retries.',
    );
    const spillReason =
      'grantPut on the spill folder only: payloads too large for a table item are written under it, one object per webhook.';
    acknowledge(verifier, 'AwsSolutions-IAM5[Action::s3:Abort*]', spillReason);
    acknowledgeWildcardResource(verifier, this.bucket.arnForObjects(`${this.archivePrefix}${SPILL_FOLDER}*`), spillReason);
    return verifier;
  }

  private createApi(webhookPath: string, props: ReplicateWebhooksProps): { httpApi: apigwv2.HttpApi; stage: apigwv2.HttpStage } {
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: this.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Receives Replicate webhooks',
      createDefaultStage: false,
    });
    const stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...DEFAULT_THROTTLE, ...props.throttle },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
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
      acknowledge(
        route,
        'AwsSolutions-APIG4',
        'Replicate cannot send AWS credentials or tokens; every request is authenticated by its Standard Webhooks HMAC signature in the verifier.',
      );
    }
    return { httpApi, stage };
  }

  private createTopic(id: string, displayName: string, topicProps: sns.TopicProps | undefined): sns.Topic {
    return new sns.Topic(
      this,
      id,
      consolidateProps<sns.TopicProps>({ displayName, masterKey: this.topicKey }, topicProps, { enforceSSL: true }),
    );
  }

  private createFailureQueue(): sqs.Queue {
    const queue = new sqs.Queue(this, 'ArchiveFailureQueue', {
      ...(this.encryptionKey
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: this.encryptionKey }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const reason =
      'This queue is itself the failure destination of the archiver event source; nothing consumes it automatically, so it needs no DLQ.';
    acknowledge(queue, 'AwsSolutions-SQS3', reason);
    acknowledge(queue, 'Serverless-SQSRedrivePolicy', reason);
    return queue;
  }

  private createArchiver(props: ReplicateWebhooksProps): lambda.Function {
    const options = props.archiver ?? {};
    const retryAttempts = options.retryAttempts ?? ARCHIVER_EVENT_SOURCE_DEFAULTS.retryAttempts;
    const archiver = this.createFunction('Archiver', 'archiver', {
      description: 'Copies the outputs of finished Replicate predictions into S3 and announces them',
      memorySize: options.memorySize ?? 512,
      timeout: options.timeout ?? Duration.minutes(10),
      environment: {
        TABLE_NAME: this.table.tableName,
        BUCKET_NAME: this.bucket.bucketName,
        ARCHIVE_PREFIX: this.archivePrefix,
        COMPLETION_TOPIC_ARN: this.completionTopic.topicArn,
        ALLOWED_OUTPUT_HOSTS: (props.allowedOutputHosts ?? DEFAULT_OUTPUT_HOSTS).join(','),
        MAX_FILE_BYTES: String((props.maxOutputFileSize ?? Size.gibibytes(5)).toBytes()),
        FILE_CONCURRENCY: String(options.fileConcurrency ?? 4),
        // The attempt that records and announces whatever still fails: the event source's last.
        FINAL_ATTEMPT: String(retryAttempts + 1),
      },
    });
    archiver.addEventSource(
      new DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: options.batchSize ?? ARCHIVER_EVENT_SOURCE_DEFAULTS.batchSize,
        parallelizationFactor: options.parallelizationFactor ?? ARCHIVER_EVENT_SOURCE_DEFAULTS.parallelizationFactor,
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts,
        onFailure: new SqsDlq(this.archiveFailureQueue),
        filters: BECAME_TERMINAL_PATTERNS.map((pattern) => lambda.FilterCriteria.filter(pattern)),
      }),
    );
    this.table.grant(archiver, 'dynamodb:UpdateItem');
    // Stream records and item updates of a table under a customer managed key need it too.
    this.encryptionKey?.grantEncryptDecrypt(archiver);
    this.bucket.grantPut(archiver, `${this.archivePrefix}${PREDICTIONS_FOLDER}*`);
    // Reads: spilled payloads, and its own manifests when a retry finds the archival already done.
    this.grantGetObjects(archiver, `${this.archivePrefix}${PREDICTIONS_FOLDER}*`);
    this.grantGetObjects(archiver, `${this.archivePrefix}${SPILL_FOLDER}*`);
    this.completionTopic.grantPublish(archiver);
    if (this.topicKey) {
      acknowledge(
        archiver,
        'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        "Publishing to an encrypted topic needs data keys from the topic's KMS key; the grant is on that one key only.",
      );
    }

    const archiveReason =
      "Scoped to this construct's folders of the archive bucket: outputs are written under predictions/, spilled payloads are read from webhook-payloads/.";
    acknowledge(archiver, 'AwsSolutions-IAM5[Action::s3:Abort*]', archiveReason);
    for (const folder of [PREDICTIONS_FOLDER, SPILL_FOLDER]) {
      acknowledgeWildcardResource(archiver, this.bucket.arnForObjects(`${this.archivePrefix}${folder}*`), archiveReason);
    }
    acknowledge(
      archiver,
      'Serverless-LambdaDLQ',
      'A stream event source sends failed batches to its on-failure destination (archiveFailureQueue); a function DLQ only serves asynchronous invocations.',
    );
    return archiver;
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
    },
  ): lambda.Function {
    const fn = new lambda.Function(this, id, {
      ...options,
      runtime: HANDLER_RUNTIME,
      architecture: HANDLER_ARCHITECTURE,
      code: handlerCode(handler),
      handler: 'index.handler',
      tracing: this.tracing ? lambda.Tracing.ACTIVE : undefined,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup: new logs.LogGroup(this, `${id}Logs`, { retention: this.logRetention, removalPolicy: RemovalPolicy.DESTROY }),
      environment: {
        ...options.environment,
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: this.metricsNamespace,
      },
    });
    if (this.encryptionKey || this.bucket.encryptionKey) {
      const reason =
        "CDK's KMS grants for the customer managed key of the table, bucket or topics; scoped to that key, no other.";
      acknowledge(fn, 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason);
      acknowledge(fn, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason);
    }
    acknowledge(
      fn,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "The AWS managed basic execution policy only allows writing the function's own CloudWatch logs.",
    );
    if (this.tracing) {
      acknowledge(
        fn,
        'AwsSolutions-IAM5[Resource::*]',
        'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; this is the policy Lambda adds for tracing.',
      );
    } else {
      acknowledge(
        fn,
        'Serverless-LambdaTracing',
        'X-Ray tracing costs money per trace and is off by default; set tracing: true to turn it on.',
      );
    }
    return fn;
  }
}
