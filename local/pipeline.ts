/**
 * The whole pipeline on one machine: the shipped handler bundles, wired by environment
 * variables to real protocol peers (DynamoDB Local with its stream, fauxqs for S3/SNS/SQS, the
 * Secrets Manager stand-in), an API Gateway adapter in front of the verifier, the forwarder on
 * the table's stream through Lambda's stream event source with the construct's own filter, batch,
 * retries and failure queue, and Lambda's SQS event source in front of the archiver with the
 * construct's own batch and retry settings.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHIVER_ENV, archiverEnvironment, fileConcurrencyFor } from '../lambda/archiver/settings';
import { forwarderEnvironment } from '../lambda/forwarder/settings';
import type { ReconcileReport } from '../lambda/reconciler/handler';
import { RECONCILER_DEFAULTS, reconcilerEnvironment } from '../lambda/reconciler/settings';
import { verifierEnvironment } from '../lambda/verifier/settings';
import { ARCHIVE_QUEUE_DEFAULTS } from '../lambda/shared/archive-queue';
import {
  ARCHIVE_VISIBILITY_MARGIN_SECONDS,
  ARCHIVER_FUNCTION_DEFAULTS,
  FORWARDER_FUNCTION_DEFAULTS,
  RECONCILER_FUNCTION_DEFAULTS,
  VERIFIER_FUNCTION_DEFAULTS,
} from '../lambda/shared/function-defaults';
import { DEFAULT_ALLOWED_HOSTS } from '../lambda/shared/allowed-hosts';
import { completionEventPattern, type CompletionEventSelection } from '../lambda/shared/completion-event';
import type { CompletionMessage } from '../lambda/shared/completion-message';
import { startEventBridge, type EventBridgeStandIn } from './aws/standins/eventbridge';
import { createInspector, type Inspector } from './inspector/server';
import type { RecorderLimits } from './inspector/recorder';
import { readVerifierConfig } from '../lambda/verifier/config';
import { throttleLimits, type ThrottleLimits } from './aws/api-gateway';
import { startHttpAdapter, type HttpAdapter } from './aws/http-adapter';
import { printable, startNotificationPrinter, type NotificationPrinter } from './notification-printer';
import { startDynamoDbLocal, type DynamoDbLocal } from './aws/standins/dynamodb-local';
import { startReplicateApi, type ReplicateApiStandIn } from './standins/replicate-api';
import { startSecretsManager, type SecretsManagerStandIn } from './aws/standins/secrets-manager';
import { createStateTable } from './state-table';
import { startArchiveForwarder } from './archive-forwarder';
import type { StreamPoller } from './aws/stream-poller';
import { startSqsPoller, type SqsPoller } from './aws/sqs-poller';

export interface LocalOptions {
  /** HTTP port of the webhook endpoint; 0 picks a free one. */
  readonly port: number;
  readonly host?: string;
  /** The signing secret; a new one is generated when absent. */
  readonly secret?: string;
  /** Extra `host[:port]` entries the archiver may fetch outputs from over plain http (loopback file servers). */
  readonly extraOutputHosts: readonly string[];
  readonly dynamoDbPort?: number;
  readonly fauxqsPort?: number;
  readonly secretsManagerPort?: number;
  readonly region?: string;
  /**
   * May the archiver connect to loopback and private addresses?
   * @default true when `extraOutputHosts` are given (they are loopback file servers), else false
   */
  readonly allowPrivateAddresses?: boolean;
  /**
   * API Gateway's throttle of the webhook route, enforced as the stage does (429 before the
   * verifier), or `false` for none.
   * @default the construct's: 1,000 requests a second, bursts of 2,000
   */
  readonly throttle?: Partial<ThrottleLimits> | false;
  /** Extra or overriding handler environment variables (fetch timeouts, limits, log level). */
  readonly handlerEnvironment?: Readonly<Record<string, string>>;
  /**
   * The function names the handlers see in their Lambda context (and log, with the ARN). Default:
   * `verifier`, `forwarder`, `archiver`, `reconciler`; a deployed stack's are CloudFormation's, up to 64 characters.
   */
  readonly functionNames?: Readonly<Partial<Record<HandlerName, string>>>;
  /** The archive queue and its event source; defaults as the construct's, with retries seconds apart. */
  readonly archiveQueue?: ArchiveQueueOptions;
  /**
   * Routes the handlers' (and the stream poller's) traffic through other endpoints, e.g.
   * switchable proxies to rehearse outages; the announced endpoints stay the real ones.
   */
  readonly routeHandlerTraffic?: (endpoints: ServiceEndpoints) => Promise<ServiceEndpoints>;
  /** One line per finished prediction (default: console.log). */
  readonly onNotification?: (line: string) => void;
  /** The reconciler against Replicate's API (or its stand-in), on an interval. */
  readonly reconciler?: LocalReconcilerOptions;
  /**
   * Which completion events the local rule sends to its queue (`onCompletionEvent`'s statuses and
   * models, the same pattern). The archiver puts every event on the local bus regardless.
   * @default every completion event
   */
  readonly eventRule?: CompletionEventSelection;
  /** One line per event put on the local bus (default: console.log). */
  readonly onEvent?: (line: string) => void;
  /**
   * Whether the archiver also announces on the local event bus, as with the construct's `eventBus`
   * prop. @default true (local mode shows both channels); false is the construct's default
   */
  readonly eventBus?: boolean;
  /**
   * Whether the archiver also writes prediction.json (training.json), as with the construct's
   * `predictionDocument` prop. @default false, as the construct's
   */
  readonly predictionDocument?: boolean;
  /**
   * The inspector page on the webhook's port (`GET /`): deliveries live, their detail, replay.
   * Holds the last deliveries in memory within these limits. @default off
   */
  readonly inspector?: RecorderLimits | false;
  readonly onError?: (error: unknown) => void;
}

export interface LocalReconcilerOptions {
  /**
   * Replicate's API: the real one (`https://api.replicate.com`) with a real token, or any other
   * base URL. @default the Replicate API stand-in, started with a generated token
   */
  readonly api?: { readonly baseUrl: string; readonly token: string };
  /** Seconds between runs (a run never starts while one is going). 0 turns the reconciler off. @default 10 */
  readonly intervalSeconds?: number;
  /** @default 60 (the construct's 15 minutes would never show locally) */
  readonly stuckAfterSeconds?: number;
  /** @default the construct's (75 minutes) */
  readonly lookbackSeconds?: number;
  /** More webhook URLs whose predictions count as this deployment's (`reconciliation.webhookUrls`). @default none */
  readonly webhookUrls?: readonly string[];
  /** The reconciler's timeout, as its Lambda context reports it. @default the interval, at least 30 s */
  readonly functionTimeoutSeconds?: number;
  /** One line per prediction the reconciler recorded (default: console.log). */
  readonly onRecovered?: (line: string) => void;
  /** Every run's report, and when the run started and ended (epoch ms), for tests and the reliability harness. */
  readonly onReport?: (report: ReconcileReport, run: { readonly startedAt: number; readonly endedAt: number }) => void;
}

/** Local mode's default gap between reconciler runs: short, so a dropped webhook shows within seconds. */
export const LOCAL_RECONCILE_INTERVAL_SECONDS = 10;
export const LOCAL_STUCK_AFTER_SECONDS = 60;

export interface ArchiveQueueOptions {
  /** Archiver invocations at once. @default 4 (a laptop, not the construct's 100) */
  readonly maxConcurrency?: number;
  /** @default the construct's (10) */
  readonly batchSize?: number;
  /** @default the construct's (5) */
  readonly maxReceiveCount?: number;
  /** The archiver's timeout, as its Lambda context reports it. @default the construct's (600) */
  readonly functionTimeoutSeconds?: number;
  /** The queue's visibility timeout. @default the construct's: its archiver timeout plus a minute (660) */
  readonly visibilityTimeoutSeconds?: number;
  /** First wait before a failed prediction is tried again. @default 1 (the construct's 30 would make local runs slow) */
  readonly retryBaseDelaySeconds?: number;
}

export interface ServiceEndpoints {
  readonly dynamodb: string;
  readonly s3: string;
  readonly sns: string;
  readonly sqs: string;
  readonly secretsmanager: string;
  readonly eventbridge: string;
}

/** What local mode prints as `ready {json}`: everything needed to inspect it with any SDK. */
export interface ReadyInfo {
  readonly webhookUrl: string;
  readonly secret: string;
  readonly region: string;
  readonly endpoints: ServiceEndpoints;
  readonly tableName: string;
  readonly streamArn: string;
  readonly bucketName: string;
  readonly completionTopicArn: string;
  readonly alarmTopicArn: string;
  readonly notificationQueueUrl: string;
  /** The bus the archiver puts completion events on, and the queue its local rule delivers them to. */
  readonly eventBusName: string;
  readonly eventQueueUrl: string;
  readonly archiveQueueUrl: string;
  readonly archiveDeadLetterQueueUrl: string;
  readonly failureQueueUrl: string;
  readonly signingSecretId: string;
  readonly allowedOutputHosts: readonly string[];
  /** Where the reconciler reads predictions; with the stand-in, its token (the stand-in's own, not a Replicate one). */
  readonly replicateApi?: { readonly endpoint: string; readonly token?: string; readonly standIn: boolean };
  /** Seconds between reconciler runs; absent when it is off. */
  readonly reconcileIntervalSeconds?: number;
  readonly tokenSecretId?: string;
  /** The inspector page, when it is on. */
  readonly inspectorUrl?: string;
}

export interface LocalPipeline {
  readonly info: ReadyInfo;
  /** The Replicate API stand-in the reconciler reads, when local mode started one (faults, predictions). */
  readonly replicateApiStandIn?: ReplicateApiStandIn;
  stop(): Promise<void>;
}

const NAMES = {
  table: 'replicate-webhooks-state',
  bucket: 'replicate-webhooks-archive',
  secret: 'replicate-webhooks/signing-secret',
  tokenSecret: 'replicate-webhooks/replicate-api-token',
  eventBus: 'replicate-webhooks-events',
};
const EVENT_RULE_NAME = 'replicate-webhooks-completion-events';

function describeEvent(detailType: string, detail: Partial<CompletionMessage>, rules: readonly string[]): string {
  const delivered = rules.length > 0 ? `rule ${rules.join(', ')} → its queue` : 'no rule matched';
  return printable(
    `⚡ event "${detailType}" ${detail.predictionId ?? '?'}${detail.model ? ` (${detail.model})` : ''}: ${delivered}`,
  );
}

type Verifier = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;
type Forwarder = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;
type Archiver = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
type Reconciler = (event: unknown, context: Context) => Promise<ReconcileReport>;
type HandlerName = 'verifier' | 'forwarder' | 'archiver' | 'reconciler';

/** What every step of the start gets: the options, the region, where errors go, and where to register what stops what it started. */
interface Setup {
  readonly options: LocalOptions;
  readonly region: string;
  readonly onError: (error: unknown) => void;
  /** Stopping runs these in reverse order. */
  readonly stops: Array<() => Promise<void>>;
}

export async function startLocalPipeline(options: LocalOptions): Promise<LocalPipeline> {
  const region = options.region ?? 'us-east-1';
  const onError = options.onError ?? ((error: unknown) => console.error(error));
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(onError);
  };
  const setup: Setup = { options, region, onError, stops };
  try {
    const standIns = await startStandIns(setup);
    const clients = createRunnerClients(setup, standIns.endpoints);
    const queue = archiveQueueSettings(options);
    const resources = await createResources(setup, clients, standIns.eventBridge, queue);
    const secret = options.secret ?? `whsec_${randomBytes(24).toString('base64')}`;
    standIns.secrets.putSecret(NAMES.secret, secret);
    const replicate = await connectReplicateApi(setup, standIns.secrets, secret);
    const allowedOutputHosts = [...DEFAULT_ALLOWED_HOSTS, ...options.extraOutputHosts.map((host) => `http://${host}`)];
    const handlerEndpoints = options.routeHandlerTraffic
      ? await options.routeHandlerTraffic(standIns.endpoints)
      : standIns.endpoints;
    setHandlerEnvironment(setup, handlerEndpoints, resources, queue, allowedOutputHosts);
    const verifier = loadHandler<Verifier>('verifier');
    const forwarder = loadHandler<Forwarder>('forwarder');
    const archiver = loadHandler<Archiver>('archiver');
    startArchiving(setup, clients.sqs, resources, queue, forwarder, archiver);
    const { http, inspector } = await startWebhookEndpoint(setup, clients, resources, secret, verifier);
    if (replicate.api) startReconciler(setup, replicate.api, replicate.intervalSeconds, resources, http.url);
    const info = readyInfo({ region, secret, standIns, resources, allowedOutputHosts, replicate, http, inspector });
    return { info, replicateApiStandIn: replicate.standIn, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** What local mode runs in place of AWS, and the endpoints the handlers are given for it. */
interface StandIns {
  readonly fauxqsPort: number;
  readonly secrets: SecretsManagerStandIn;
  readonly eventBridge: EventBridgeStandIn;
  readonly endpoints: ServiceEndpoints;
}

/** fauxqs (S3, SNS, SQS), DynamoDB Local, and the Secrets Manager and EventBridge stand-ins. */
async function startStandIns({ options, region, stops }: Setup): Promise<StandIns> {
  const fauxqsModule = await import('fauxqs');
  // The SDK's default S3 addressing is virtual-hosted (bucket.s3.localhost); resolve it to loopback.
  const restoreDns = fauxqsModule.interceptLocalhostDns();
  // eslint-disable-next-line @typescript-eslint/require-await -- a synchronous stop in the list of async ones
  stops.push(async () => restoreDns());
  const fauxqs = await fauxqsModule.startFauxqs({ port: options.fauxqsPort ?? 0, logger: false, defaultRegion: region });
  stops.push(() => fauxqs.stop());
  const dynamoDb: DynamoDbLocal = await startDynamoDbLocal(options.dynamoDbPort ? { port: options.dynamoDbPort } : {});
  stops.push(() => dynamoDb.stop());
  const secrets: SecretsManagerStandIn = await startSecretsManager({ region, port: options.secretsManagerPort ?? 0 });
  stops.push(() => secrets.stop());
  const onEvent = options.onEvent ?? console.log;
  const eventBridge: EventBridgeStandIn = await startEventBridge({
    region,
    onPut: ({ event }, rules) => onEvent(describeEvent(event['detail-type'], event.detail, rules)),
  });
  stops.push(() => eventBridge.stop());
  const endpoints: ServiceEndpoints = {
    dynamodb: dynamoDb.endpoint,
    s3: `http://s3.localhost:${fauxqs.port}`,
    sns: `http://127.0.0.1:${fauxqs.port}`,
    sqs: `http://sqs.${region}.localhost:${fauxqs.port}`,
    secretsmanager: secrets.endpoint,
    eventbridge: eventBridge.endpoint,
  };
  return { fauxqsPort: fauxqs.port, secrets, eventBridge, endpoints };
}

/** The runner's own clients (setup, failure queue, printer, inspector). */
interface RunnerClients {
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
}

function createRunnerClients({ region, stops }: Setup, endpoints: ServiceEndpoints): RunnerClients {
  // They always talk to the stand-ins directly, whatever routeHandlerTraffic does to the handlers'.
  const direct = { region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
  const dynamodb = new DynamoDBClient({ ...direct, endpoint: endpoints.dynamodb });
  const s3 = new S3Client({ ...direct, endpoint: endpoints.s3 });
  const sns = new SNSClient({ ...direct, endpoint: endpoints.sns });
  const sqs = new SQSClient({ ...direct, endpoint: endpoints.sqs });
  // eslint-disable-next-line @typescript-eslint/require-await -- a synchronous stop in the list of async ones
  stops.push(async () => [dynamodb, s3, sns, sqs].forEach((client) => client.destroy()));
  return { dynamodb, s3, sns, sqs };
}

type ArchiveQueueSettings = Required<ArchiveQueueOptions>;

function archiveQueueSettings(options: LocalOptions): ArchiveQueueSettings {
  return {
    maxConcurrency: 4,
    batchSize: ARCHIVE_QUEUE_DEFAULTS.batchSize,
    maxReceiveCount: ARCHIVE_QUEUE_DEFAULTS.maxReceiveCount,
    functionTimeoutSeconds: ARCHIVER_FUNCTION_DEFAULTS.timeoutSeconds,
    visibilityTimeoutSeconds: ARCHIVER_FUNCTION_DEFAULTS.timeoutSeconds + ARCHIVE_VISIBILITY_MARGIN_SECONDS,
    retryBaseDelaySeconds: 1,
    ...options.archiveQueue,
  };
}

/** What the construct would create, created in the stand-ins. */
interface LocalResources {
  readonly streamArn: string;
  readonly completionTopicArn: string;
  readonly alarmTopicArn: string;
  readonly failureQueueUrl: string;
  readonly archiveDeadLetterQueueUrl: string;
  readonly archiveQueueUrl: string;
  readonly notificationQueueUrl: string;
  readonly eventQueueUrl: string;
}

/** The table with its stream, the bucket, the topics, the queues, and the event rule. */
async function createResources(
  { options }: Setup,
  { dynamodb, s3, sns, sqs }: RunnerClients,
  eventBridge: EventBridgeStandIn,
  queue: ArchiveQueueSettings,
): Promise<LocalResources> {
  const { streamArn } = await createStateTable(dynamodb, NAMES.table);
  await s3.send(new CreateBucketCommand({ Bucket: NAMES.bucket }));
  const completionTopicArn = (await sns.send(new CreateTopicCommand({ Name: 'replicate-webhooks-completions' }))).TopicArn!;
  const alarmTopicArn = (await sns.send(new CreateTopicCommand({ Name: 'replicate-webhooks-alarms' }))).TopicArn!;
  const failureQueueUrl = await createQueue(sqs, 'replicate-webhooks-archive-failures');
  const { archiveDeadLetterQueueUrl, archiveQueueUrl } = await createArchiveQueues(sqs, queue);
  const notificationQueueUrl = await createQueue(sqs, 'replicate-webhooks-notifications');
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: notificationQueueUrl, AttributeNames: ['QueueArn'] }),
  );
  await sns.send(new SubscribeCommand({ TopicArn: completionTopicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn }));
  // A rule with the construct's pattern and an SQS target, as `onCompletionEvent` would make.
  const eventQueueUrl = await createQueue(sqs, EVENT_RULE_NAME);
  eventBridge.addRule({
    name: EVENT_RULE_NAME,
    eventBusName: NAMES.eventBus,
    pattern: completionEventPattern(options.eventRule),
    target: async (event) => {
      await sqs.send(new SendMessageCommand({ QueueUrl: eventQueueUrl, MessageBody: JSON.stringify(event) }));
    },
  });
  return {
    streamArn,
    completionTopicArn,
    alarmTopicArn,
    failureQueueUrl,
    archiveDeadLetterQueueUrl,
    archiveQueueUrl,
    notificationQueueUrl,
    eventQueueUrl,
  };
}

async function createQueue(sqs: SQSClient, name: string): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
}

/** The archive queue and its dead-letter queue, with the construct's redrive. */
async function createArchiveQueues(
  sqs: SQSClient,
  queue: ArchiveQueueSettings,
): Promise<{ archiveDeadLetterQueueUrl: string; archiveQueueUrl: string }> {
  const archiveDeadLetterQueueUrl = await createQueue(sqs, 'replicate-webhooks-archive-dead-letters');
  const deadLetterArn = (
    await sqs.send(new GetQueueAttributesCommand({ QueueUrl: archiveDeadLetterQueueUrl, AttributeNames: ['QueueArn'] }))
  ).Attributes!.QueueArn!;
  const archiveQueueUrl = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: 'replicate-webhooks-archive',
        Attributes: {
          VisibilityTimeout: String(queue.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: queue.maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl!;
  return { archiveDeadLetterQueueUrl, archiveQueueUrl };
}

/** Where the reconciler reads predictions, when it runs at all. */
interface ReplicateApiConnection {
  readonly intervalSeconds: number;
  readonly api?: NonNullable<ReadyInfo['replicateApi']>;
  readonly standIn?: ReplicateApiStandIn;
}

/** Replicate's API (or another) with the token given, else a stand-in started with a token of its own; its token goes into Secrets Manager. */
async function connectReplicateApi(
  { options, stops }: Setup,
  secrets: SecretsManagerStandIn,
  secret: string,
): Promise<ReplicateApiConnection> {
  const intervalSeconds = options.reconciler?.intervalSeconds ?? LOCAL_RECONCILE_INTERVAL_SECONDS;
  if (!(intervalSeconds > 0)) return { intervalSeconds };
  if (options.reconciler?.api) {
    secrets.putSecret(NAMES.tokenSecret, options.reconciler.api.token);
    return { intervalSeconds, api: { endpoint: options.reconciler.api.baseUrl, standIn: false } };
  }
  const token = `r8_standin_${randomBytes(18).toString('base64url')}`;
  // Its signing secret is local mode's, so the reconciler's key sync finds nothing to change.
  const standIn: ReplicateApiStandIn = await startReplicateApi({ token, secret });
  stops.push(() => standIn.stop());
  secrets.putSecret(NAMES.tokenSecret, token);
  return { intervalSeconds, api: { endpoint: standIn.endpoint, token, standIn: true }, standIn };
}

/**
 * The handlers build their SDK clients with the default configuration: these standard variables
 * are the only wiring, exactly as in Lambda (plus credentials no emulator checks).
 */
function setHandlerEnvironment(
  { options, region }: Setup,
  endpoints: ServiceEndpoints,
  resources: LocalResources,
  queue: ArchiveQueueSettings,
  allowedOutputHosts: readonly string[],
): void {
  Object.assign(process.env, {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SNS: endpoints.sns,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsmanager,
    AWS_ENDPOINT_URL_EVENTBRIDGE: endpoints.eventbridge,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true',
    ...verifierEnvironment({
      tableName: NAMES.table,
      signingSecretId: NAMES.secret,
      bucketName: NAMES.bucket,
      archivePrefix: '',
    }),
    ...forwarderEnvironment({ queueUrl: resources.archiveQueueUrl }),
    ...archiverEnvironment({
      tableName: NAMES.table,
      bucketName: NAMES.bucket,
      archivePrefix: '',
      completionTopicArn: resources.completionTopicArn,
      eventBusName: options.eventBus === false ? undefined : NAMES.eventBus,
      queueUrl: resources.archiveQueueUrl,
      allowedOutputHosts,
      maxReceiveCount: queue.maxReceiveCount,
      retryQueueBaseDelaySeconds: queue.retryBaseDelaySeconds,
      fileConcurrency: fileConcurrencyFor(ARCHIVER_FUNCTION_DEFAULTS.memorySizeMb),
      predictionDocument: options.predictionDocument ?? false,
    }),
    // Loopback file servers are the point of the extra hosts; AWS never sets this.
    ALLOW_PRIVATE_ADDRESSES: String(options.allowPrivateAddresses ?? options.extraOutputHosts.length > 0),
    POWERTOOLS_SERVICE_NAME: 'replicate-webhooks',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    // Embedded-metric JSON is for CloudWatch; locally it would bury the notifications.
    POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    ...options.handlerEnvironment,
  });
  // Unset rather than left from an earlier pipeline of this process.
  if (options.eventBus === false) delete process.env[ARCHIVER_ENV.eventBusName];
}

/** The forwarder on the table's stream (its event source), and the archiver's SQS event source. */
function startArchiving(
  setup: Setup,
  sqs: SQSClient,
  resources: LocalResources,
  queue: ArchiveQueueSettings,
  forwarder: Forwarder,
  archiver: Archiver,
): void {
  const { options, region, onError, stops } = setup;
  const { timeoutSeconds, memorySizeMb } = FORWARDER_FUNCTION_DEFAULTS;
  const archiveForwarder: StreamPoller = startArchiveForwarder({
    streamArn: resources.streamArn,
    forwarder: (event) => forwarder(event, lambdaContext(setup, 'forwarder', timeoutSeconds * 1000, memorySizeMb)),
    region,
    functionArn: `arn:aws:lambda:${region}:000000000000:function:${options.functionNames?.forwarder ?? 'forwarder'}`,
    onFailure: async (failure) => {
      await sqs.send(new SendMessageCommand({ QueueUrl: resources.failureQueueUrl, MessageBody: JSON.stringify(failure) }));
    },
    onError,
  });
  stops.push(() => archiveForwarder.stop());
  const archiveConsumer: SqsPoller = startSqsPoller({
    queueUrl: resources.archiveQueueUrl,
    // As Lambda does: the context tells the handler how much of its timeout is left.
    handler: (event) =>
      archiver(
        event,
        lambdaContext(setup, 'archiver', queue.functionTimeoutSeconds * 1000, ARCHIVER_FUNCTION_DEFAULTS.memorySizeMb),
      ),
    batchSize: queue.batchSize,
    maxConcurrency: queue.maxConcurrency,
    region,
    onError,
  });
  stops.push(() => archiveConsumer.stop());
}

/** API Gateway in front of the verifier, with the inspector (when on) and the notification printer. */
async function startWebhookEndpoint(
  setup: Setup,
  { dynamodb, s3, sqs }: RunnerClients,
  resources: LocalResources,
  secret: string,
  verifier: Verifier,
): Promise<{ http: HttpAdapter; inspector: Inspector | undefined }> {
  const { options, onError, stops } = setup;
  const host = options.host ?? '127.0.0.1';
  const inspector: Inspector | undefined = options.inspector
    ? createInspector({
        ...options.inspector,
        signingSecret: secret,
        // What the verifier itself reads from the environment set above.
        toleranceSeconds: readVerifierConfig().timestampToleranceSeconds,
        dynamodb,
        s3,
        tableName: NAMES.table,
        bucketName: NAMES.bucket,
        archivePrefix: '',
        listenHost: host,
      })
    : undefined;
  const printer: NotificationPrinter = startNotificationPrinter(
    sqs,
    resources.notificationQueueUrl,
    options.onNotification ?? console.log,
    onError,
    inspector ? (message) => inspector.recordCompletion(message) : undefined,
  );
  stops.push(() => printer.stop());
  const { timeoutSeconds, memorySizeMb } = VERIFIER_FUNCTION_DEFAULTS;
  const http: HttpAdapter = await startHttpAdapter({
    handler: (event) => verifier(event, lambdaContext(setup, 'verifier', timeoutSeconds * 1000, memorySizeMb)),
    path: '/webhook',
    port: options.port,
    host,
    onError,
    inspector,
    throttle: throttleLimits(options.throttle),
  });
  stops.push(() => http.stop());
  return { http, inspector };
}

/** The reconciler on its schedule, against the API connectReplicateApi chose. */
function startReconciler(
  setup: Setup,
  replicateApi: NonNullable<ReadyInfo['replicateApi']>,
  intervalSeconds: number,
  resources: LocalResources,
  webhookUrl: string,
): void {
  const { options, onError, stops } = setup;
  const timeoutSeconds = options.reconciler?.functionTimeoutSeconds ?? Math.max(30, intervalSeconds);
  Object.assign(
    process.env,
    reconcilerEnvironment({
      tableName: NAMES.table,
      bucketName: NAMES.bucket,
      archivePrefix: '',
      signingSecretId: NAMES.secret,
      tokenSecretId: NAMES.tokenSecret,
      archiveQueueUrl: resources.archiveQueueUrl,
      webhookUrl,
      webhookUrls: options.reconciler?.webhookUrls,
      // The stand-in's key is local mode's; a real account's key would replace the secret given.
      manageSigningKey: replicateApi.standIn,
      apiBaseUrl: replicateApi.endpoint,
      lookbackSeconds: options.reconciler?.lookbackSeconds ?? RECONCILER_DEFAULTS.lookbackSeconds,
      stuckAfterSeconds: options.reconciler?.stuckAfterSeconds ?? LOCAL_STUCK_AFTER_SECONDS,
      intervalSeconds,
    }),
    options.handlerEnvironment,
  );
  const reconciler = loadHandler<Reconciler>('reconciler');
  const onRecovered = options.reconciler?.onRecovered ?? console.log;
  const memorySizeMb = RECONCILER_FUNCTION_DEFAULTS.memorySizeMb;
  const schedule = startSchedule(
    intervalSeconds * 1000,
    async () => {
      const startedAt = Date.now();
      const report = await reconciler({}, lambdaContext(setup, 'reconciler', timeoutSeconds * 1000, memorySizeMb));
      options.reconciler?.onReport?.(report, { startedAt, endedAt: Date.now() });
      for (const { predictionId, status } of report.recovered) {
        onRecovered(`↻ ${predictionId} ${status}: its terminal webhook never arrived; recorded from Replicate's API`);
      }
    },
    onError,
  );
  stops.push(() => schedule.stop());
}

/** What local mode announces (`ready {json}`): its endpoints and every name in them. */
function readyInfo(started: {
  readonly region: string;
  readonly secret: string;
  readonly standIns: StandIns;
  readonly resources: LocalResources;
  readonly allowedOutputHosts: readonly string[];
  readonly replicate: ReplicateApiConnection;
  readonly http: HttpAdapter;
  readonly inspector: Inspector | undefined;
}): ReadyInfo {
  const { region, secret, standIns, resources, allowedOutputHosts, replicate, http, inspector } = started;
  return {
    webhookUrl: http.url,
    secret,
    region,
    endpoints: {
      ...standIns.endpoints,
      s3: `http://localhost:${standIns.fauxqsPort}`,
      sns: standIns.endpoints.sns,
      sqs: `http://localhost:${standIns.fauxqsPort}`,
    },
    tableName: NAMES.table,
    streamArn: resources.streamArn,
    bucketName: NAMES.bucket,
    completionTopicArn: resources.completionTopicArn,
    alarmTopicArn: resources.alarmTopicArn,
    notificationQueueUrl: resources.notificationQueueUrl,
    eventBusName: NAMES.eventBus,
    eventQueueUrl: resources.eventQueueUrl,
    archiveQueueUrl: resources.archiveQueueUrl,
    archiveDeadLetterQueueUrl: resources.archiveDeadLetterQueueUrl,
    failureQueueUrl: resources.failureQueueUrl,
    signingSecretId: NAMES.secret,
    allowedOutputHosts,
    ...(replicate.api
      ? {
          replicateApi: replicate.api,
          reconcileIntervalSeconds: replicate.intervalSeconds,
          tokenSecretId: NAMES.tokenSecret,
        }
      : {}),
    ...(inspector ? { inspectorUrl: `http://localhost:${http.port}/` } : {}),
  };
}

/** The part of Lambda's context the handlers read: the time left, counted from the invocation's start. */
function lambdaContext({ options, region }: Setup, handler: HandlerName, timeoutMs: number, memoryMb: number): Context {
  // A deployed stack's function names are CloudFormation's; locally, the handler's own unless given.
  const functionName = options.functionNames?.[handler] ?? handler;
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

const STOP_WAIT_MS = 2000;

/**
 * The EventBridge schedule's part: a tick every `intervalMs` from the start, at a fixed rate. A tick
 * that comes while a run is going does not start a second one (the construct's reserved
 * concurrency of one throttles it, and Lambda retries the event): the next run starts as soon
 * as the current one ends. `stop()` waits for a run in progress, a few seconds at most.
 */
function startSchedule(
  intervalMs: number,
  run: () => Promise<void>,
  onError: (error: unknown) => void,
): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> | undefined;
  let pending = false;
  const start = () => {
    if (stopped) return;
    if (running) {
      pending = true;
      return;
    }
    running = run()
      .catch(onError)
      .finally(() => {
        running = undefined;
        if (pending) {
          pending = false;
          start();
        }
      });
  };
  const timer = setInterval(start, intervalMs);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      // A run retrying an unreachable API may take its whole budget: stopping does not wait for all of it.
      const giveUp = new Promise<void>((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref());
      if (running) await Promise.race([running, giveUp]);
    },
  };
}

/** The same bundles that ship to Lambda (assets/<name>/index.js, built by `npm run build:handlers`). */
function loadHandler<T>(name: HandlerName): T {
  const bundle = join(__dirname, '..', 'assets', name, 'index.js');
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run "npm run build:handlers" first`);
  // A fresh module, like a cold start: it reads the environment set above, not a previous run's.
  delete require.cache[require.resolve(bundle)];
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh load of the bundle by its path
  return (require(bundle) as { handler: T }).handler;
}
