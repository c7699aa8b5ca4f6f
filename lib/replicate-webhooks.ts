import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SPILL_FOLDER, normalizePrefix } from '../lambda/shared/archive-layout';
import { PARTITION_KEY, TTL_ATTRIBUTE } from '../lambda/shared/state';
import { checkExistingOrProps, consolidateProps } from './consolidate';
import { HANDLER_ARCHITECTURE, HANDLER_RUNTIME, handlerCode } from './handler-code';
import { acknowledge, acknowledgeWildcardResource } from './nag';

/** API Gateway throttling of the webhook route. */
export interface WebhookThrottle {
  /**
   * Steady-state requests per second.
   * @default 100
   */
  readonly rateLimit?: number;
  /**
   * Burst of requests above the steady rate.
   * @default 200
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
   * Reserved concurrency, which caps how many verifiers run at once.
   * @default - no reservation (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
}

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
   * @default - a new bucket: encrypted, SSL only, public access blocked, retained on delete
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
  readonly tableProps?: Partial<dynamodb.TablePropsV2>;
  /**
   * Path of the webhook route (method POST).
   * @default '/webhook'
   */
  readonly webhookPath?: string;
  /**
   * API Gateway throttling of the webhook route.
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly throttle?: WebhookThrottle;
  /**
   * How far `webhook-timestamp` may be from the verifier's clock, either way.
   * @default Duration.minutes(5)
   */
  readonly timestampTolerance?: Duration;
  /**
   * Largest accepted request body; larger ones get 413. Lambda's own request limit is 6 MB.
   * @default Size.mebibytes(6)
   */
  readonly maxBodySize?: Size;
  /**
   * Terminal payloads up to this size are kept in the table item; larger ones are written to
   * the bucket first and the item points at them (DynamoDB bills writes per KB).
   * @default Size.kibibytes(16)
   */
  readonly maxInlinePayloadSize?: Size;
  /**
   * How long a webhook-id is remembered for deduplication (Replicate retries for about a minute).
   * @default Duration.days(7)
   */
  readonly dedupRetention?: Duration;
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
   * Retention of the Lambda and API access log groups.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Active AWS X-Ray tracing of the Lambdas.
   * @default false
   */
  readonly tracing?: boolean;
}

const DEFAULT_THROTTLE = { rateLimit: 100, burstLimit: 200 };

/**
 * Receives Replicate webhooks: an HTTP API in front of a verifier Lambda that checks the
 * Standard Webhooks signature and records each webhook once, in order, in a DynamoDB table
 * whose stream feeds the archival of the outputs.
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

  constructor(scope: Construct, id: string, props: ReplicateWebhooksProps = {}) {
    super(scope, id);
    checkExistingOrProps('existingSigningSecret', props.existingSigningSecret, 'signingSecretProps', props.signingSecretProps);
    checkExistingOrProps('existingBucket', props.existingBucket, 'bucketProps', props.bucketProps);
    const webhookPath = props.webhookPath ?? '/webhook';
    if (!/^\/[A-Za-z0-9._~\/-]*$/.test(webhookPath))
      throw new Error(`ReplicateWebhooks: webhookPath "${webhookPath}" must start with / and hold only URL path characters.`);
    this.archivePrefix = normalizePrefix(props.archivePrefix);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;

    this.signingSecret =
      props.existingSigningSecret ??
      new secretsmanager.Secret(
        this,
        'SigningSecret',
        consolidateProps<secretsmanager.SecretProps>(
          {
            description:
              'Replicate webhook signing key (whsec_...). Set it to the output of GET https://api.replicate.com/v1/webhooks/default/secret.',
            removalPolicy: RemovalPolicy.RETAIN,
          },
          props.signingSecretProps,
        ),
      );
    if (!props.existingSigningSecret) {
      acknowledge(
        this.signingSecret,
        'AwsSolutions-SMG4',
        'The signing key is issued by Replicate and can only be rotated there; the verifier picks up a new value without a restart.',
      );
    }

    this.bucket = props.existingBucket ?? this.createBucket(props.bucketProps);

    this.table = new dynamodb.TableV2(
      this,
      'StateTable',
      consolidateProps<dynamodb.TablePropsV2>(
        {
          billing: dynamodb.Billing.onDemand(),
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
          removalPolicy: RemovalPolicy.RETAIN,
        },
        props.tableProps,
        {
          partitionKey: { name: PARTITION_KEY, type: dynamodb.AttributeType.STRING },
          sortKey: undefined,
          dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
          timeToLiveAttribute: TTL_ATTRIBUTE,
        },
      ),
    );

    const verifierOptions = props.verifier ?? {};
    const keyCacheTtl = props.signingKeyCacheTtl ?? Duration.minutes(5);
    this.verifier = new lambda.Function(this, 'Verifier', {
      description: 'Verifies Replicate webhooks and records each one once, in order',
      runtime: HANDLER_RUNTIME,
      architecture: HANDLER_ARCHITECTURE,
      code: handlerCode('verifier'),
      handler: 'index.handler',
      memorySize: verifierOptions.memorySize ?? 256,
      timeout: verifierOptions.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: verifierOptions.reservedConcurrentExecutions,
      tracing: props.tracing ? lambda.Tracing.ACTIVE : undefined,
      loggingFormat: lambda.LoggingFormat.JSON,
      logGroup: new logs.LogGroup(this, 'VerifierLogs', { retention: logRetention, removalPolicy: RemovalPolicy.DESTROY }),
      environment: {
        TABLE_NAME: this.table.tableName,
        SIGNING_SECRET_ID: this.signingSecret.secretArn,
        BUCKET_NAME: this.bucket.bucketName,
        ARCHIVE_PREFIX: this.archivePrefix,
        TIMESTAMP_TOLERANCE_SECONDS: String((props.timestampTolerance ?? Duration.minutes(5)).toSeconds()),
        MAX_BODY_BYTES: String((props.maxBodySize ?? Size.mebibytes(6)).toBytes()),
        MAX_INLINE_PAYLOAD_BYTES: String((props.maxInlinePayloadSize ?? Size.kibibytes(16)).toBytes()),
        DEDUP_TTL_SECONDS: String((props.dedupRetention ?? Duration.days(7)).toSeconds()),
        KEY_CACHE_TTL_SECONDS: String(keyCacheTtl.toSeconds()),
        KEY_REFRESH_INTERVAL_SECONDS: '30',
        POWERTOOLS_SERVICE_NAME: 'replicate-webhooks',
      },
    });
    // Least privilege: the transaction needs exactly these two actions on this table.
    this.table.grant(this.verifier, 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    this.signingSecret.grantRead(this.verifier);
    this.bucket.grantPut(this.verifier, `${this.archivePrefix}${SPILL_FOLDER}*`);
    acknowledge(
      this.verifier,
      'Serverless-LambdaDLQ',
      'API Gateway invokes the verifier synchronously, and a DLQ only receives asynchronous invocations; a failure answers 5xx and Replicate retries.',
    );
    if (props.tracing) {
      acknowledge(
        this.verifier,
        'AwsSolutions-IAM5[Resource::*]',
        'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; this is the policy Lambda adds for tracing.',
      );
    } else {
      acknowledge(
        this.verifier,
        'Serverless-LambdaTracing',
        'X-Ray tracing costs money per trace and is off by default; set tracing: true to turn it on.',
      );
    }
    acknowledge(
      this.verifier,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "The AWS managed basic execution policy only allows writing the function's own CloudWatch logs.",
    );
    const spillReason =
      'grantPut on the spill folder only: payloads too large for a table item are written under it, one object per webhook.';
    acknowledge(this.verifier, 'AwsSolutions-IAM5[Action::s3:Abort*]', spillReason);
    acknowledgeWildcardResource(this.verifier, this.bucket.arnForObjects(`${this.archivePrefix}${SPILL_FOLDER}*`), spillReason);

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'Receives Replicate webhooks',
      createDefaultStage: false,
    });
    const throttle = { ...DEFAULT_THROTTLE, ...props.throttle };
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle,
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
    const route = this.httpApi.addRoutes({
      path: webhookPath,
      methods: [apigwv2.HttpMethod.POST],
      integration: new HttpLambdaIntegration('VerifierIntegration', this.verifier, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
    });
    for (const webhookRoute of route) {
      acknowledge(
        webhookRoute,
        'AwsSolutions-APIG4',
        'Replicate cannot send AWS credentials or tokens; every request is authenticated by its Standard Webhooks HMAC signature in the verifier.',
      );
    }
    this.webhookUrl = `${this.httpApi.apiEndpoint}${webhookPath}`;
  }

  private createBucket(bucketProps: s3.BucketProps | undefined): s3.Bucket {
    const bucket = new s3.Bucket(
      this,
      'ArchiveBucket',
      consolidateProps<s3.BucketProps>(
        {
          encryption: s3.BucketEncryption.S3_MANAGED,
          blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
          objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
          removalPolicy: RemovalPolicy.RETAIN,
          lifecycleRules: [{ id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }],
        },
        bucketProps,
        { enforceSSL: true },
      ),
    );
    if (!bucketProps?.serverAccessLogsBucket) {
      acknowledge(
        bucket,
        'AwsSolutions-S1',
        "Only this construct's Lambdas write to the archive; pass bucketProps.serverAccessLogsBucket to turn on server access logs.",
      );
    }
    return bucket;
  }
}
