/**
 * Estimates what the construct costs to run: `npx tsx scripts/cost-estimate.ts` prints Markdown.
 *
 * The settings that drive cost (memory, architecture, billing mode, retention, the archive path's
 * batches and retries, how many keys, alarms and dashboards) are read from the synthesized
 * template, and the handlers' settings through the handlers' own config readers, so the estimate
 * follows the props and the construct's defaults; the requests and write units of each webhook and
 * archival are measured (`npm run bench -- units` writes docs/measured-units.json); traffic is a
 * list of stated assumptions; prices are us-east-1 list prices. The output has no dates or locale-dependent formatting, so the README
 * can quote it and a test can compare the two.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ReplicateWebhooks } from '../lib/replicate-webhooks';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { readArchiverConfig } from '../lambda/archiver/config';
import { readReconcilerConfig } from '../lambda/reconciler/config';
import { RECONCILER_ENV } from '../lambda/reconciler/settings';
import { METRIC } from '../lambda/shared/metrics';
import { readVerifierConfig } from '../lambda/verifier/config';
import MEASURED from '../docs/measured-units.json';

// ── Prices: us-east-1 list prices as of 2026, free tiers left out ──────────────────────────────

/** https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, first 300 million requests a month): $1.00 per million. */
export const HTTP_API_PER_MILLION_REQUESTS = 1.0;
/** https://aws.amazon.com/lambda/pricing/ (Arm, first 6 billion GB-seconds a month): $0.0000133334 per GB-second. */
export const LAMBDA_ARM_PER_GB_SECOND = 0.0000133334;
/** https://aws.amazon.com/lambda/pricing/ (requests): $0.20 per million. */
export const LAMBDA_PER_MILLION_REQUESTS = 0.2;
/**
 * https://aws.amazon.com/dynamodb/pricing/on-demand/ (write request units): $0.625 per million.
 * Reads are priced separately (DYNAMODB_PER_MILLION_RRU): conditions and ReturnValues cost no read units.
 */
export const DYNAMODB_PER_MILLION_WRU = 0.625;
/**
 * https://aws.amazon.com/dynamodb/pricing/on-demand/ (read request units): $0.125 per million. Only
 * the reconciler reads: one strongly consistent read unit per item up to 4 KB, half one eventually
 * consistent (a query of an index).
 */
export const DYNAMODB_PER_MILLION_RRU = 0.125;
/**
 * https://aws.amazon.com/dynamodb/pricing/on-demand/ (reading data from DynamoDB Streams): $0.02 per
 * 100,000 streams read request units, one per GetRecords call. Only GetRecords by Lambda triggers and
 * by global tables is free; the page does not name EventBridge Pipes, so the Pipe's reads are billed
 * here, an upper bound.
 */
export const DYNAMODB_STREAMS_PER_100K_READS = 0.02;
/**
 * https://aws.amazon.com/eventbridge/pricing/ (Pipes): $0.40 per million requests, counted after
 * filtering, each 64 KB chunk of an event one request.
 */
export const PIPES_PER_MILLION_REQUESTS = 0.4;
export const PIPES_CHUNK_KB = 64;
/**
 * https://aws.amazon.com/sqs/pricing/ (standard queues, after the first million requests a month):
 * $0.40 per million API requests, each 64 KB chunk of a payload one request; a batch call is one
 * request for up to 10 messages.
 */
export const SQS_PER_MILLION_REQUESTS = 0.4;
/** https://aws.amazon.com/s3/pricing/ (S3 Standard PUT, COPY, POST, LIST): $0.005 per 1,000 requests. */
export const S3_PER_THOUSAND_PUTS = 0.005;
/** https://aws.amazon.com/s3/pricing/ (S3 Standard GET, SELECT): $0.0004 per 1,000 requests. */
export const S3_PER_THOUSAND_GETS = 0.0004;
/** https://aws.amazon.com/s3/pricing/ (S3 Standard, first 50 TB): $0.023 per GB-month. */
export const S3_STANDARD_PER_GB_MONTH = 0.023;
/** https://aws.amazon.com/sns/pricing/ (standard topics): $0.50 per million publishes, each 64 KB chunk counting as one; deliveries to SQS and Lambda are free. */
export const SNS_PER_MILLION_PUBLISHES = 0.5;
/** https://aws.amazon.com/eventbridge/pricing/: scheduled rules' events on the default bus are free. */
export const EVENTBRIDGE_SCHEDULED_PER_MILLION = 0;
/** https://aws.amazon.com/secrets-manager/pricing/: $0.40 per secret-month. */
export const SECRET_PER_MONTH = 0.4;
/** https://aws.amazon.com/secrets-manager/pricing/: $0.05 per 10,000 API calls. */
export const SECRETS_MANAGER_PER_10K_CALLS = 0.05;
/** https://aws.amazon.com/kms/pricing/: $1 per customer managed key-month. */
export const KMS_KEY_PER_MONTH = 1;
/** https://aws.amazon.com/kms/pricing/: $0.03 per 10,000 requests. */
export const KMS_PER_10K_REQUESTS = 0.03;
/** https://aws.amazon.com/cloudwatch/pricing/ (standard resolution alarm): $0.10 per alarm metric-month. */
export const CLOUDWATCH_ALARM_METRIC_PER_MONTH = 0.1;
/** https://aws.amazon.com/cloudwatch/pricing/ (dashboards, the first 3 of an account free): $3.00 per dashboard-month. */
export const CLOUDWATCH_DASHBOARD_PER_MONTH = 3;
/** https://aws.amazon.com/cloudwatch/pricing/ (custom metrics, first 10,000): $0.30 per metric-month. */
export const CLOUDWATCH_METRIC_PER_MONTH = 0.3;
/** https://aws.amazon.com/cloudwatch/pricing/ (logs, standard class ingestion): $0.50 per GB. */
export const CLOUDWATCH_LOGS_INGESTION_PER_GB = 0.5;
/** https://aws.amazon.com/cloudwatch/pricing/ (logs storage): $0.03 per GB-month. */
export const CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH = 0.03;

// ── Assumptions ────────────────────────────────────────────────────────────────────────────────

export const WEBHOOKS = 1_000_000;
/** start, 4 logs/output, completed */
export const WEBHOOKS_PER_PREDICTION = 6;
export const VERIFIER_SECONDS = 0.03;
export const OUTPUT_FILES_PER_PREDICTION = 3;
export const OUTPUT_FILE_MB = 2;
export const ARCHIVER_SECONDS_PER_PREDICTION = 1;
/**
 * https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html: SNS reuses a data key for up
 * to 5 minutes and makes 2 KMS requests per reuse period per publishing principal (here the
 * archiver's role), whatever the number of publishes: R = B / D × 2P per topic.
 */
export const SNS_DATA_KEY_REUSE_SECONDS = 300;
export const SNS_KMS_REQUESTS_PER_REUSE_PERIOD = 2;
export const COMPLETION_TOPIC_PUBLISHERS = 1;
/**
 * SendMessageBatch calls per prediction. Up to 10 messages share one call, but at this traffic
 * (a finished prediction every few seconds) a Pipe batch seldom holds two: 1 is the upper bound,
 * 1/10 the floor with full batches.
 */
export const QUEUE_SENDS_PER_PREDICTION = 1;
/** Each message ends one poller's long poll early; the poller's next poll is counted with the idle ones. */
export const QUEUE_RECEIVES_PER_PREDICTION = 1;
/** One DeleteMessageBatch per invocation; one prediction per invocation at this traffic. */
export const QUEUE_DELETES_PER_PREDICTION = 1;
/** The archiver holds its batch a minute and a half at a time (one ChangeMessageVisibilityBatch per invocation), so a crash hands it back soon. */
export const QUEUE_HOLDS_PER_PREDICTION = 1;
/** Predictions archived on a second try; each retry costs a ChangeMessageVisibility and a ReceiveMessage. */
export const ARCHIVE_RETRY_RATE = 0.01;
export const QUEUE_REQUESTS_PER_RETRY = 2;
/**
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: Lambda long-polls an idle
 * queue with five concurrent pollers and may drop to two, except when a maximum concurrency is set.
 */
export const IDLE_QUEUE_POLLERS = 5;
export const IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY = 2;
/** SQS's longest long poll; assumed for Lambda's pollers. */
export const LONG_POLL_SECONDS = 20;
/** A new on-demand table's stream; more shards come with more partitions. */
export const STREAM_SHARDS = 4;
/** Lambda's documented rate for DynamoDB streams (4 GetRecords a second per shard), assumed for Pipes. */
export const STREAM_POLLS_PER_SHARD_PER_SECOND = 4;
export const WARM_VERIFIERS = 10;
/**
 * Lambda's own records per invocation in the JSON log format (start, runtimeDone, report), with
 * typical values: an upper bound, as Lambda may write fewer. Counted beside what the handlers log
 * (measured) and the API's access log line (its format, from the template, with ACCESS_LOG_SAMPLE).
 */
const SAMPLE_REQUEST_ID = '6f7f0961-7a1b-4d3e-9a2c-0b8d5a4e3c21';
export const LAMBDA_SYSTEM_RECORDS: readonly string[] = [
  `{"time":"2026-11-30T13:53:15.123Z","type":"platform.start","record":{"requestId":"${SAMPLE_REQUEST_ID}","version":"$LATEST"}}`,
  `{"time":"2026-11-30T13:53:15.161Z","type":"platform.runtimeDone","record":{"requestId":"${SAMPLE_REQUEST_ID}","status":"success","metrics":{"durationMs":37.52,"producedBytes":51}}}`,
  `{"time":"2026-11-30T13:53:15.162Z","type":"platform.report","record":{"requestId":"${SAMPLE_REQUEST_ID}","metrics":{"durationMs":37.52,"billedDurationMs":38,"memorySizeMB":256,"maxMemoryUsedMB":92},"status":"success"}}`,
];
/** Typical values of the access log's variables (an HTTP API's request id is 16 characters). */
export const ACCESS_LOG_SAMPLE: Readonly<Record<string, string>> = {
  'context.requestId': 'Jc6pDiLsIAMEV1A=',
  'context.identity.sourceIp': '34.201.120.27',
  'context.requestTime': '30/Nov/2026:13:53:15 +0000',
  'context.status': '200',
  'context.responseLength': '51',
  'context.responseLatency': '41',
  'context.integrationStatus': '200',
  'context.integrationLatency': '38',
  'context.integrationErrorMessage': '-',
};
/** Series with a `reason` dimension seen in a month (e.g. bad_signature, timestamp_out_of_tolerance, http_error). */
export const REASON_METRIC_SERIES = 3;
/** Control Tower's CT.CLOUDWATCH.PR.2: log groups kept at least a year (the README's strict props). */
export const STRICT_LOG_RETENTION_DAYS = 365;
/** The reconciler's run: a few pages of Replicate's list, a few look-ups, the stuck-archival query. */
export const RECONCILER_SECONDS_PER_RUN = 2;
/** Secrets read per run: the API token and the signing secret (compared with Replicate's key). */
export const RECONCILER_SECRET_READS_PER_RUN = 2;
/** Query of the archive-pending index per run (sparse: nearly always empty, one read unit's minimum). */
export const RECONCILER_INDEX_QUERIES_PER_RUN = 1;
export const RECONCILER_INDEX_RRU_PER_QUERY = 0.5;
/** The prediction items it looks up (BatchGetItem, strongly consistent) are at most 4 KB: one read unit each. */
export const RECONCILER_RRU_PER_LOOKUP = 1;
/** AWS prices a month as 730 hours. */
export const HOURS_PER_MONTH = 730;

const MB_PER_GB = 1024;
const KB_PER_GB = 1024 * 1024;
const MIB = 1024 * 1024;
const SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600;
const DAYS_PER_MONTH = HOURS_PER_MONTH / 24;

// ── Reading the template ───────────────────────────────────────────────────────────────────────

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
}

export interface CfnTemplate {
  readonly Resources?: Record<string, CfnResource>;
}

export interface FunctionSettings {
  readonly memoryMb: number;
  readonly architecture: string;
}

/** What the estimate takes from the template. */
export interface TemplateSettings {
  readonly apiProtocol: string;
  readonly verifier: FunctionSettings;
  readonly archiver: FunctionSettings;
  /** The archiver's multipart part size: a file no larger is one PutObject. */
  readonly archivePartSizeBytes: number;
  readonly tableBillingMode: string;
  /** The Pipe from the table's stream to the archive queue. */
  readonly pipe: { readonly batchSize: number; readonly filtered: boolean };
  /** Tries of a prediction before the archive queue moves it to its dead-letter queue. */
  readonly maxReceiveCount: number;
  /** The archiver's SQS event source. */
  readonly archiveEventSource: { readonly batchSize: number; readonly maxConcurrency?: number };
  readonly queues: number;
  /** undefined: some log group keeps its logs forever. */
  readonly logRetentionDays?: number;
  readonly logGroups: number;
  readonly kmsKeys: number;
  readonly secrets: number;
  readonly alarms: number;
  /** A metric math alarm is billed per metric it reads. */
  readonly alarmMetrics: number;
  readonly dashboards: number;
  /** 0: the verifier reads the key for every webhook. */
  readonly keyCacheTtlSeconds: number;
  readonly maxInlinePayloadBytes: number;
  /** Whether the completion topic is encrypted with a KMS key. */
  readonly encryptedCompletionTopic: boolean;
  /** The API's access log line for one request, rendered with ACCESS_LOG_SAMPLE; '' without access logs. */
  readonly accessLogLine: string;
  /**
   * The archive bucket's versioning, when the template creates the bucket and versions it:
   * how many days an overwritten copy is kept (undefined: forever).
   */
  readonly archiveVersioning?: { readonly noncurrentDays?: number };
  /** The reconciler, when the template has one (a function given a Replicate API token secret). */
  readonly reconciler?: FunctionSettings & { readonly intervalSeconds: number; readonly lookbackSeconds: number };
}

function ofType(template: CfnTemplate, type: string): Array<[string, CfnResource]> {
  return Object.entries(template.Resources ?? {}).filter(([, resource]) => resource.Type === type);
}

function single(template: CfnTemplate, type: string): [string, CfnResource] {
  const found = ofType(template, type);
  if (found.length !== 1) throw new Error(`cost estimate: expected one ${type}, found ${found.length}`);
  return found[0];
}

/** The logical id a Ref or Fn::GetAtt points at. */
function target(value: unknown): string | undefined {
  return (value as { Ref?: string })?.Ref ?? (value as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt']?.[0];
}

function resource(template: CfnTemplate, logicalId: string | undefined, type: string, what: string): CfnResource {
  const found = logicalId === undefined ? undefined : template.Resources?.[logicalId];
  if (found?.Type !== type) throw new Error(`cost estimate: the ${what} is not a ${type} of this template`);
  return found;
}

/**
 * A function's environment as its handler would see it. Tokens (Ref, Fn::GetAtt) stand for names
 * known only at deploy time; none drives cost, so a placeholder does.
 */
function environment(fn: CfnResource): NodeJS.ProcessEnv {
  const variables: Record<string, unknown> = fn.Properties?.Environment?.Variables ?? {};
  return Object.fromEntries(
    Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : `<${name}>`]),
  );
}

function versioning(bucket: CfnResource): TemplateSettings['archiveVersioning'] {
  if (bucket.Properties?.VersioningConfiguration?.Status !== 'Enabled') return undefined;
  // A rule without a prefix or filter covers every key; the shortest such expiry applies.
  const days = ((bucket.Properties?.LifecycleConfiguration?.Rules ?? []) as Array<Record<string, any>>)
    .filter((rule) => rule.Status === 'Enabled' && !rule.Prefix && !rule.TagFilters && rule.NoncurrentVersionExpiration)
    .map((rule) => rule.NoncurrentVersionExpiration.NoncurrentDays as number);
  return { noncurrentDays: days.length > 0 ? Math.min(...days) : undefined };
}

const RATE_UNIT_SECONDS: Record<string, number> = { minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86_400, days: 86_400 };

/** The reconciler and the interval of the rule that runs it, if the template has them. */
function reconcilerSettings(template: CfnTemplate): TemplateSettings['reconciler'] {
  const functions = ofType(template, 'AWS::Lambda::Function').filter(
    ([, fn]) => fn.Properties?.Environment?.Variables?.[RECONCILER_ENV.tokenSecretId] !== undefined,
  );
  if (functions.length === 0) return undefined;
  if (functions.length > 1) throw new Error(`cost estimate: expected one reconciler, found ${functions.length}`);
  const [functionId, fn] = functions[0];
  const rules = ofType(template, 'AWS::Events::Rule').filter(([, rule]) =>
    ((rule.Properties?.Targets ?? []) as Array<{ Arn?: unknown }>).some((ruleTarget) => target(ruleTarget.Arn) === functionId),
  );
  if (rules.length !== 1) throw new Error(`cost estimate: expected one schedule for the reconciler, found ${rules.length}`);
  const expression = String(rules[0][1].Properties?.ScheduleExpression ?? '');
  const rate = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(expression);
  if (!rate) throw new Error(`cost estimate: the reconciler's schedule "${expression}" is not a rate`);
  const config = readReconcilerConfig(environment(fn));
  return {
    ...functionSettings(fn),
    intervalSeconds: Number(rate[1]) * RATE_UNIT_SECONDS[rate[2]],
    lookbackSeconds: config.lookbackSeconds,
  };
}

function functionSettings(fn: CfnResource): FunctionSettings {
  return {
    // CloudFormation's defaults when a property is absent.
    memoryMb: fn.Properties?.MemorySize ?? 128,
    architecture: fn.Properties?.Architectures?.[0] ?? 'x86_64',
  };
}

function renderAccessLog(format: string, routeKey: string): string {
  const values: Record<string, string> = { ...ACCESS_LOG_SAMPLE, 'context.routeKey': routeKey };
  return format.replace(/\$(context\.[A-Za-z.]+)/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`cost estimate: no sample value for the access log's $${name}`);
    return value;
  });
}

export function readSettings(input: Template | CfnTemplate): TemplateSettings {
  const template: CfnTemplate = input instanceof Template ? (input.toJSON() as CfnTemplate) : input;
  // The verifier is whatever the API integrates with; the archiver is what the archive queue invokes.
  const [, integration] = single(template, 'AWS::ApiGatewayV2::Integration');
  const verifier = resource(template, target(integration.Properties?.IntegrationUri), 'AWS::Lambda::Function', 'API integration');
  const [tableId, table] = single(template, 'AWS::DynamoDB::GlobalTable');
  const [, pipe] = single(template, 'AWS::Pipes::Pipe');
  const pipeSource = pipe.Properties?.Source?.['Fn::GetAtt'];
  if (pipeSource?.[0] !== tableId || pipeSource?.[1] !== 'StreamArn')
    throw new Error("cost estimate: the Pipe does not read the table's stream");
  const archiveQueueId = target(pipe.Properties?.Target);
  const archiveQueue = resource(template, archiveQueueId, 'AWS::SQS::Queue', "Pipe's target");
  const [, eventSource] = single(template, 'AWS::Lambda::EventSourceMapping');
  if (target(eventSource.Properties?.EventSourceArn) !== archiveQueueId) {
    throw new Error('cost estimate: the event source does not read the archive queue');
  }
  const archiver = resource(
    template,
    target(eventSource.Properties?.FunctionName),
    'AWS::Lambda::Function',
    'event source target',
  );
  const verifierConfig = readVerifierConfig(environment(verifier));
  const archiverConfig = readArchiverConfig(environment(archiver));
  const retentions = ofType(template, 'AWS::Logs::LogGroup').map(([, group]) => group.Properties?.RetentionInDays);
  const alarms = ofType(template, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties ?? {});
  const completionTopicId = target(archiver.Properties?.Environment?.Variables?.COMPLETION_TOPIC_ARN);
  // A bucket passed in (a name, or a bucket of another stack) is not this estimate's to read.
  const bucket = template.Resources?.[target(archiver.Properties?.Environment?.Variables?.BUCKET_NAME) ?? ''];
  const streamParameters = pipe.Properties?.SourceParameters?.DynamoDBStreamParameters ?? {};
  const [, route] = single(template, 'AWS::ApiGatewayV2::Route');
  const accessLogFormat: string | undefined = single(template, 'AWS::ApiGatewayV2::Stage')[1].Properties?.AccessLogSettings
    ?.Format;
  return {
    accessLogLine: accessLogFormat === undefined ? '' : renderAccessLog(accessLogFormat, route.Properties?.RouteKey),
    apiProtocol: single(template, 'AWS::ApiGatewayV2::Api')[1].Properties?.ProtocolType,
    verifier: functionSettings(verifier),
    archiver: functionSettings(archiver),
    archivePartSizeBytes: archiverConfig.partSizeBytes,
    tableBillingMode: table.Properties?.BillingMode ?? 'PROVISIONED',
    pipe: {
      // The Pipes API's default batch size for a stream source.
      batchSize: streamParameters.BatchSize ?? 1,
      filtered: (pipe.Properties?.SourceParameters?.FilterCriteria?.Filters ?? []).length > 0,
    },
    maxReceiveCount: archiveQueue.Properties?.RedrivePolicy?.maxReceiveCount,
    archiveEventSource: {
      // Lambda's default for an SQS source.
      batchSize: eventSource.Properties?.BatchSize ?? 10,
      maxConcurrency: eventSource.Properties?.ScalingConfig?.MaximumConcurrency,
    },
    queues: ofType(template, 'AWS::SQS::Queue').length,
    logRetentionDays: retentions.includes(undefined) ? undefined : Math.max(...retentions),
    logGroups: retentions.length,
    kmsKeys: ofType(template, 'AWS::KMS::Key').length,
    secrets: ofType(template, 'AWS::SecretsManager::Secret').length,
    alarms: alarms.length,
    alarmMetrics: alarms.reduce(
      (sum, alarm) =>
        sum +
        (alarm.MetricName ? 1 : (alarm.Metrics ?? []).filter((metric: { MetricStat?: unknown }) => metric.MetricStat).length),
      0,
    ),
    dashboards: ofType(template, 'AWS::CloudWatch::Dashboard').length,
    keyCacheTtlSeconds: verifierConfig.keyCacheTtlSeconds,
    maxInlinePayloadBytes: verifierConfig.maxInlinePayloadBytes,
    encryptedCompletionTopic:
      completionTopicId !== undefined && !!template.Resources?.[completionTopicId]?.Properties?.KmsMasterKeyId,
    archiveVersioning: bucket?.Type === 'AWS::S3::Bucket' ? versioning(bucket) : undefined,
    reconciler: reconcilerSettings(template),
  };
}

// ── Formatting: fixed, locale-independent ─────────────────────────────────────────────────────

const withSeparators = (whole: string) => whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** Thousands separators and at most `decimals` decimals, trailing zeros dropped. */
function num(value: number, decimals = 2): string {
  const [whole, fraction = ''] = value.toFixed(decimals).split('.');
  const trimmed = fraction.replace(/0+$/, '');
  return `${withSeparators(whole)}${trimmed ? `.${trimmed}` : ''}`;
}

const count = (value: number) => num(Math.round(value), 0);

function usd(value: number): string {
  const [whole, fraction] = value.toFixed(2).split('.');
  return `$${withSeparators(whole)}.${fraction}`;
}

/** A unit price as written on the pricing page: cents always, more decimals when it has them. */
function price(value: number): string {
  const [whole, fraction = ''] = num(value, 10).split('.');
  return `$${whole}.${fraction.padEnd(2, '0')}`;
}
const cents = (value: number) => Math.round(value * 100) / 100;

// ── The estimate ──────────────────────────────────────────────────────────────────────────────

export type CostSection = 'perMillionWebhooks' | 'fixedMonthly' | 'storage';

export interface CostRow {
  /** Stable name of the line, for tests and readers of `rows`. */
  readonly id: string;
  readonly section: CostSection;
  readonly service: string;
  readonly item: string;
  /** How the cost follows from the settings, assumptions and prices, ending in `= $cost`. */
  readonly arithmetic: string;
  /** Rounded to the cent, so the printed rows add up to the printed totals. */
  readonly cost: number;
}

export interface CostEstimate {
  readonly settings: TemplateSettings;
  readonly rows: readonly CostRow[];
  /** Per million webhooks. */
  readonly total: number;
  /** Per month, whatever the traffic. */
  readonly fixed: number;
  /** Per month, for the outputs of a million predictions. */
  readonly storage: number;
  readonly markdown: string;
}

function lambdaPricePerGbSecond(name: string, fn: FunctionSettings): number {
  if (fn.architecture !== 'arm64') throw new Error(`cost estimate: the ${name} runs on ${fn.architecture}; only arm64 is priced`);
  return LAMBDA_ARM_PER_GB_SECOND;
}

/** PutObject for a file that fits in one part, else create + parts + complete. */
function putRequestsPerFile(fileBytes: number, partSizeBytes: number): number {
  const parts = Math.ceil(fileBytes / partSizeBytes);
  return parts <= 1 ? 1 : parts + 2;
}

export function estimate(input: Template | CfnTemplate): CostEstimate {
  const settings = readSettings(input);
  if (settings.apiProtocol !== 'HTTP') throw new Error(`cost estimate: only HTTP APIs are priced, not ${settings.apiProtocol}`);
  if (settings.tableBillingMode !== 'PAY_PER_REQUEST') {
    throw new Error(`cost estimate: only on-demand tables are priced, not ${settings.tableBillingMode}`);
  }
  if (!settings.pipe.filtered) throw new Error('cost estimate: only a Pipe that passes finished predictions alone is priced');
  const verifierGbSecondPrice = lambdaPricePerGbSecond('verifier', settings.verifier);
  const archiverGbSecondPrice = lambdaPricePerGbSecond('archiver', settings.archiver);

  const rows: CostRow[] = [];
  const row = (id: string, section: CostSection, service: string, item: string, arithmetic: string, cost: number) =>
    rows.push({ id, section, service, item, arithmetic: `${arithmetic} = ${usd(cents(cost))}`, cost: cents(cost) });
  const perWebhook = (id: string, service: string, item: string, arithmetic: string, cost: number) =>
    row(id, 'perMillionWebhooks', service, item, arithmetic, cost);

  const predictions = WEBHOOKS / WEBHOOKS_PER_PREDICTION;
  // Each prediction: one start, one terminal, the rest intermediate.
  const intermediates = WEBHOOKS - 2 * predictions;
  const { webhooks: measuredWebhooks } = MEASURED;
  // A terminal payload above the inline limit goes to S3 and the item keeps only a pointer.
  const spilled = measuredWebhooks.terminalInline.bodyBytes > settings.maxInlinePayloadBytes;
  const terminal = spilled ? measuredWebhooks.terminalSpilled : measuredWebhooks.terminalInline;
  const archival = spilled ? MEASURED.archival.spilled : MEASURED.archival.inline;
  const terminalItemKb = terminal.itemBytes / 1024;
  const intermediateItemKb = measuredWebhooks.intermediate.itemBytes / 1024;
  // Per invocation: what the handler logged (measured), Lambda's records, and for the verifier the access log line.
  const systemLogBytes = LAMBDA_SYSTEM_RECORDS.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
  const verifierLoggedBytes =
    (measuredWebhooks.start.logBytes +
      (WEBHOOKS_PER_PREDICTION - 2) * measuredWebhooks.intermediate.logBytes +
      terminal.logBytes) /
    WEBHOOKS_PER_PREDICTION;
  const logBytes = {
    verifierLoggedBytes,
    systemLogBytes,
    accessLogBytes: Buffer.byteLength(settings.accessLogLine),
    verifierLogBytes: verifierLoggedBytes + systemLogBytes + Buffer.byteLength(settings.accessLogLine),
    archiverLoggedBytes: archival.logBytes,
    archiverLogBytes: archival.logBytes + systemLogBytes,
  };
  // The stream record that becomes terminal carries the item before (intermediate) and after.
  const pipeChunksPerPrediction = Math.ceil((terminalItemKb + intermediateItemKb) / PIPES_CHUNK_KB);
  // The archiver's own documents (prediction.json, manifest.json): its PUTs beyond one per (small) output file.
  const documentPuts = archival.s3Puts - archival.outputFiles;
  const outputPutsPerFile = putRequestsPerFile(OUTPUT_FILE_MB * MIB, settings.archivePartSizeBytes);
  const idlePollers =
    settings.archiveEventSource.maxConcurrency === undefined ? IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY : IDLE_QUEUE_POLLERS;

  perWebhook(
    'api-requests',
    'API Gateway',
    'HTTP API requests',
    `${count(WEBHOOKS)} × ${price(HTTP_API_PER_MILLION_REQUESTS)}/M`,
    (WEBHOOKS * HTTP_API_PER_MILLION_REQUESTS) / 1e6,
  );
  perWebhook(
    'verifier-requests',
    'Lambda',
    'verifier requests',
    `${count(WEBHOOKS)} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
    (WEBHOOKS * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
  );
  const verifierGb = settings.verifier.memoryMb / MB_PER_GB;
  const verifierGbSeconds = WEBHOOKS * VERIFIER_SECONDS * verifierGb;
  perWebhook(
    'verifier-compute',
    'Lambda',
    `verifier compute (${settings.verifier.memoryMb} MB, ${settings.verifier.architecture})`,
    `${count(WEBHOOKS)} × ${num(VERIFIER_SECONDS, 3)} s × ${num(verifierGb, 3)} GB = ${num(verifierGbSeconds)} GB-s × ${price(verifierGbSecondPrice)}`,
    verifierGbSeconds * verifierGbSecondPrice,
  );
  const startWru = measuredWebhooks.start.wru;
  // Logs and output are not kept in the item: an intermediate webhook with large logs costs the same.
  const intermediateWru = Math.max(measuredWebhooks.intermediate.wru, measuredWebhooks.intermediateLargeLogs.wru);
  const progressWru = predictions * startWru + intermediates * intermediateWru;
  perWebhook(
    'verifier-writes-progress',
    'DynamoDB',
    'UpdateItem of start and intermediate webhooks (measured)',
    `${count(predictions)} × ${startWru} WRU + ${count(intermediates)} × ${intermediateWru} WRU = ${count(progressWru)} WRU × ${price(DYNAMODB_PER_MILLION_WRU)}/M`,
    (progressWru * DYNAMODB_PER_MILLION_WRU) / 1e6,
  );
  perWebhook(
    'verifier-writes-terminal',
    'DynamoDB',
    `${spilled ? 'UpdateItem' : 'PutItem of the payload and UpdateItem of the record'} for terminal webhooks (measured: the payload ${spilled ? 'spilled' : 'in an item of its own'}, the archive-pending index included)`,
    `${count(predictions)} × ${terminal.wru} WRU × ${price(DYNAMODB_PER_MILLION_WRU)}/M`,
    (predictions * terminal.wru * DYNAMODB_PER_MILLION_WRU) / 1e6,
  );
  if (spilled) {
    perWebhook(
      'verifier-spill-puts',
      'S3',
      'PUT of terminal payloads above the inline limit',
      `${count(predictions)} × 1 PUT × ${price(S3_PER_THOUSAND_PUTS)}/1,000`,
      (predictions * S3_PER_THOUSAND_PUTS) / 1000,
    );
  }
  if (settings.keyCacheTtlSeconds === 0) {
    perWebhook(
      'secret-reads',
      'Secrets Manager',
      'signing key read for every webhook (no cache)',
      `${count(WEBHOOKS)} × ${price(SECRETS_MANAGER_PER_10K_CALLS)}/10,000`,
      (WEBHOOKS * SECRETS_MANAGER_PER_10K_CALLS) / 10_000,
    );
  }
  // Filtering is free: only the record that made a prediction terminal passes and is billed.
  perWebhook(
    'pipe-requests',
    'EventBridge Pipes',
    `records past the filter: finished predictions, ${pipeChunksPerPrediction} chunk of ${PIPES_CHUNK_KB} KB each`,
    `${count(predictions)} × ${pipeChunksPerPrediction} × ${price(PIPES_PER_MILLION_REQUESTS)}/M`,
    (predictions * pipeChunksPerPrediction * PIPES_PER_MILLION_REQUESTS) / 1e6,
  );
  const queueRequestsPerPrediction =
    QUEUE_SENDS_PER_PREDICTION +
    QUEUE_RECEIVES_PER_PREDICTION +
    QUEUE_DELETES_PER_PREDICTION +
    QUEUE_HOLDS_PER_PREDICTION +
    ARCHIVE_RETRY_RATE * QUEUE_REQUESTS_PER_RETRY;
  const queueRequests = predictions * queueRequestsPerPrediction;
  perWebhook(
    'queue-requests',
    'SQS',
    'archive queue: send, receive, hold and delete per prediction; change visibility and receive per retry',
    `${count(predictions)} × (${QUEUE_SENDS_PER_PREDICTION} send + ${QUEUE_RECEIVES_PER_PREDICTION} receive + ${QUEUE_HOLDS_PER_PREDICTION} hold + ${QUEUE_DELETES_PER_PREDICTION} delete + ${num(ARCHIVE_RETRY_RATE * 100)}% × ${QUEUE_REQUESTS_PER_RETRY} per retry) = ${count(queueRequests)} × ${price(SQS_PER_MILLION_REQUESTS)}/M`,
    (queueRequests * SQS_PER_MILLION_REQUESTS) / 1e6,
  );
  // Batches of several predictions only form under load; one invocation each is the upper bound.
  perWebhook(
    'archiver-requests',
    'Lambda',
    'archiver requests (one per prediction)',
    `${count(predictions)} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
    (predictions * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
  );
  const archiverGb = settings.archiver.memoryMb / MB_PER_GB;
  const archiverGbSeconds = predictions * ARCHIVER_SECONDS_PER_PREDICTION * archiverGb;
  perWebhook(
    'archiver-compute',
    'Lambda',
    `archiver compute (${settings.archiver.memoryMb} MB, ${settings.archiver.architecture})`,
    `${count(predictions)} × ${num(ARCHIVER_SECONDS_PER_PREDICTION, 3)} s × ${num(archiverGb, 3)} GB = ${num(archiverGbSeconds, 0)} GB-s × ${price(archiverGbSecondPrice)}`,
    archiverGbSeconds * archiverGbSecondPrice,
  );
  // UpdateItem is billed on the larger of the item before and after: the terminal item.
  perWebhook(
    'archiver-updates',
    'DynamoDB',
    `archiver UpdateItem ×${archival.dynamodbWrites} on the ${num(terminalItemKb, 1)} KB item (measured, the index included)`,
    `${count(predictions)} × ${archival.wru} WRU × ${price(DYNAMODB_PER_MILLION_WRU)}/M`,
    (predictions * archival.wru * DYNAMODB_PER_MILLION_WRU) / 1e6,
  );
  if (archival.rru > 0) {
    perWebhook(
      'archiver-payload-read',
      'DynamoDB',
      'archiver GetItem of the payload item (measured, strongly consistent)',
      `${count(predictions)} × ${num(archival.rru)} RRU × ${price(DYNAMODB_PER_MILLION_RRU)}/M`,
      (predictions * archival.rru * DYNAMODB_PER_MILLION_RRU) / 1e6,
    );
  }
  const outputPuts = OUTPUT_FILES_PER_PREDICTION * outputPutsPerFile;
  const puts = outputPuts + documentPuts;
  perWebhook(
    'archiver-puts',
    'S3',
    `PUTs: ${OUTPUT_FILES_PER_PREDICTION} outputs (${outputPutsPerFile} each) + ${documentPuts} documents (measured: prediction.json, manifest.json)`,
    `${count(predictions)} × ${puts} PUT × ${price(S3_PER_THOUSAND_PUTS)}/1,000`,
    (predictions * puts * S3_PER_THOUSAND_PUTS) / 1000,
  );
  // Keys are deterministic: a retried archival overwrites prediction.json, and versioning keeps
  // what it overwrote. Outputs an earlier try stored are listed, not fetched and written again.
  if (settings.archiveVersioning) {
    const payloadKb = measuredWebhooks.terminalInline.bodyBytes / 1024;
    const overwrittenGb = (predictions * ARCHIVE_RETRY_RATE * payloadKb) / (1024 * 1024);
    const overwritten = `${count(predictions)} × ${num(ARCHIVE_RETRY_RATE * 100)}% × ${num(payloadKb)} KB ÷ ${count(1024 * 1024)} KB/GB = ${num(overwrittenGb, 3)} GB`;
    const days = settings.archiveVersioning.noncurrentDays;
    const months = days === undefined ? 1 : days / DAYS_PER_MONTH;
    perWebhook(
      'archive-noncurrent-versions',
      'S3',
      days === undefined
        ? 'noncurrent versions: prediction.json overwritten by retried archivals, kept forever (each month)'
        : `noncurrent versions: prediction.json overwritten by retried archivals, kept ${days} days`,
      days === undefined
        ? `${overwritten} × ${price(S3_STANDARD_PER_GB_MONTH)}/GB-month`
        : `${overwritten} × ${num(months)} months × ${price(S3_STANDARD_PER_GB_MONTH)}/GB-month`,
      overwrittenGb * months * S3_STANDARD_PER_GB_MONTH,
    );
  }
  if (spilled) {
    perWebhook(
      'archiver-spill-gets',
      'S3',
      'GET of spilled terminal payloads (measured)',
      `${count(predictions)} × ${archival.s3Gets} GET × ${price(S3_PER_THOUSAND_GETS)}/1,000`,
      (predictions * archival.s3Gets * S3_PER_THOUSAND_GETS) / 1000,
    );
  }
  perWebhook(
    'completion-publishes',
    'SNS',
    'completion messages (under 64 KB; measured: 1 publish)',
    `${count(predictions)} × ${archival.snsPublishes} × ${price(SNS_PER_MILLION_PUBLISHES)}/M`,
    (predictions * archival.snsPublishes * SNS_PER_MILLION_PUBLISHES) / 1e6,
  );
  const { reconciler } = settings;
  // Each run looks up every prediction of the lookback: each prediction lookback ÷ interval times.
  const lookupsPerPrediction = reconciler ? Math.ceil(reconciler.lookbackSeconds / reconciler.intervalSeconds) : 0;
  if (reconciler) {
    const lookups = predictions * lookupsPerPrediction;
    perWebhook(
      'reconciler-lookups',
      'DynamoDB',
      `reconciler: each listed prediction looked up (BatchGetItem) by every run of its lookback`,
      `${count(predictions)} × ${lookupsPerPrediction} runs × ${RECONCILER_RRU_PER_LOOKUP} RRU = ${count(lookups)} × ${price(DYNAMODB_PER_MILLION_RRU)}/M`,
      (lookups * RECONCILER_RRU_PER_LOOKUP * DYNAMODB_PER_MILLION_RRU) / 1e6,
    );
  }
  const { verifierLogBytes, archiverLogBytes } = logBytes;
  const logKb = (WEBHOOKS * verifierLogBytes + predictions * archiverLogBytes) / 1024;
  const logGb = logKb / KB_PER_GB;
  perWebhook(
    'logs-ingestion',
    'CloudWatch Logs',
    'ingestion: access log and verifier per webhook, archiver per prediction',
    `(${count(WEBHOOKS)} × ${count(verifierLogBytes)} B + ${count(predictions)} × ${count(archiverLogBytes)} B) ÷ 1,024 ÷ ${count(KB_PER_GB)} KB/GB = ${num(logGb)} GB × ${price(CLOUDWATCH_LOGS_INGESTION_PER_GB)}/GB`,
    logGb * CLOUDWATCH_LOGS_INGESTION_PER_GB,
  );
  if (settings.logRetentionDays === undefined) {
    perWebhook(
      'logs-storage',
      'CloudWatch Logs',
      'storage, kept forever (each month)',
      `${num(logGb)} GB × ${price(CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH)}/GB-month`,
      logGb * CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH,
    );
  } else {
    const months = settings.logRetentionDays / DAYS_PER_MONTH;
    perWebhook(
      'logs-storage',
      'CloudWatch Logs',
      `storage for ${settings.logRetentionDays} days (uncompressed, an upper bound)`,
      `${num(logGb)} GB × ${num(months)} months × ${price(CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH)}/GB-month`,
      logGb * months * CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH,
    );
  }
  // Not a row: what the storage row becomes with the retention a strict account requires.
  const yearOfLogs =
    settings.logRetentionDays !== undefined && settings.logRetentionDays < STRICT_LOG_RETENTION_DAYS
      ? cents(logGb * (STRICT_LOG_RETENTION_DAYS / DAYS_PER_MONTH) * CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH)
      : undefined;

  const fixed = (id: string, service: string, item: string, arithmetic: string, cost: number) =>
    row(id, 'fixedMonthly', service, item, arithmetic, cost);
  const streamReads = STREAM_SHARDS * STREAM_POLLS_PER_SHARD_PER_SECOND * SECONDS_PER_MONTH;
  fixed(
    'stream-reads',
    'DynamoDB Streams',
    `GetRecords by the Pipe, ${STREAM_SHARDS} shards polled ${STREAM_POLLS_PER_SHARD_PER_SECOND} times a second (billed: an upper bound)`,
    `${STREAM_SHARDS} shards × ${STREAM_POLLS_PER_SHARD_PER_SECOND}/s × ${count(SECONDS_PER_MONTH)} s = ${count(streamReads)} × ${price(DYNAMODB_STREAMS_PER_100K_READS)}/100,000`,
    (streamReads * DYNAMODB_STREAMS_PER_100K_READS) / 100_000,
  );
  const pollsPerHour = 3600 / LONG_POLL_SECONDS;
  const idlePolls = idlePollers * HOURS_PER_MONTH * pollsPerHour;
  fixed(
    'queue-idle-polls',
    'SQS',
    `long polls of the archive queue by the archiver's event source (${idlePollers} pollers, ${LONG_POLL_SECONDS} s each)`,
    `${idlePollers} pollers × ${HOURS_PER_MONTH} h × ${num(pollsPerHour)}/h = ${count(idlePolls)} × ${price(SQS_PER_MILLION_REQUESTS)}/M`,
    (idlePolls * SQS_PER_MILLION_REQUESTS) / 1e6,
  );
  if (settings.alarms > 0) {
    fixed(
      'alarms',
      'CloudWatch',
      `${settings.alarms} alarms reading ${settings.alarmMetrics} metrics (metric math is billed per metric)`,
      `${settings.alarmMetrics} × ${price(CLOUDWATCH_ALARM_METRIC_PER_MONTH)}`,
      settings.alarmMetrics * CLOUDWATCH_ALARM_METRIC_PER_MONTH,
    );
  }
  if (settings.dashboards > 0) {
    fixed(
      'dashboards',
      'CloudWatch',
      `dashboard${settings.dashboards > 1 ? 's' : ''} (the account's 3 free ones assumed in use)`,
      `${settings.dashboards} × ${price(CLOUDWATCH_DASHBOARD_PER_MONTH)}`,
      settings.dashboards * CLOUDWATCH_DASHBOARD_PER_MONTH,
    );
  }
  const baseMetrics = Object.keys(METRIC).length;
  fixed(
    'custom-metrics',
    'CloudWatch',
    `custom metrics: ${baseMetrics} names + ${REASON_METRIC_SERIES} reason series`,
    `${baseMetrics + REASON_METRIC_SERIES} × ${price(CLOUDWATCH_METRIC_PER_MONTH)}`,
    (baseMetrics + REASON_METRIC_SERIES) * CLOUDWATCH_METRIC_PER_MONTH,
  );
  if (settings.kmsKeys > 0) {
    fixed(
      'kms-keys',
      'KMS',
      `customer managed key${settings.kmsKeys > 1 ? 's' : ''}`,
      `${settings.kmsKeys} × ${price(KMS_KEY_PER_MONTH)}`,
      settings.kmsKeys * KMS_KEY_PER_MONTH,
    );
  }
  if (settings.encryptedCompletionTopic) {
    // Per SNS's formula, not per publish: an upper bound, reached when the archiver publishes at least every 5 minutes.
    const requests =
      (SECONDS_PER_MONTH / SNS_DATA_KEY_REUSE_SECONDS) * SNS_KMS_REQUESTS_PER_REUSE_PERIOD * COMPLETION_TOPIC_PUBLISHERS;
    fixed(
      'completion-kms',
      'KMS',
      `data keys for the encrypted completion topic (SNS reuses one for ${SNS_DATA_KEY_REUSE_SECONDS / 60} minutes per publisher: ${SNS_KMS_REQUESTS_PER_REUSE_PERIOD} requests each time)`,
      `${count(SECONDS_PER_MONTH)} s ÷ ${SNS_DATA_KEY_REUSE_SECONDS} s × ${SNS_KMS_REQUESTS_PER_REUSE_PERIOD} × ${COMPLETION_TOPIC_PUBLISHERS} publisher = ${count(requests)} × ${price(KMS_PER_10K_REQUESTS)}/10,000`,
      (requests * KMS_PER_10K_REQUESTS) / 10_000,
    );
  }
  if (settings.secrets > 0) {
    fixed(
      'secrets',
      'Secrets Manager',
      'signing key secret',
      `${settings.secrets} × ${price(SECRET_PER_MONTH)}`,
      settings.secrets * SECRET_PER_MONTH,
    );
  }
  // A TTL of 0 caches nothing: the reads follow the webhooks and are priced with them above.
  if (settings.keyCacheTtlSeconds > 0) {
    const refetchesPerHour = 3600 / settings.keyCacheTtlSeconds;
    const keyReads = WARM_VERIFIERS * HOURS_PER_MONTH * refetchesPerHour;
    fixed(
      'secret-reads',
      'Secrets Manager',
      `signing key reads (cache ${settings.keyCacheTtlSeconds} s)`,
      `${WARM_VERIFIERS} verifiers × ${HOURS_PER_MONTH} h × ${num(refetchesPerHour)}/h = ${count(keyReads)} × ${price(SECRETS_MANAGER_PER_10K_CALLS)}/10,000`,
      (keyReads * SECRETS_MANAGER_PER_10K_CALLS) / 10_000,
    );
  }

  if (reconciler) {
    const gbSecondPrice = lambdaPricePerGbSecond('reconciler', reconciler);
    // Whole runs, so each row's figures follow from the ones printed before them.
    const runs = Math.round(SECONDS_PER_MONTH / reconciler.intervalSeconds);
    const runsText = `${HOURS_PER_MONTH} h × 3,600 s/h ÷ ${count(reconciler.intervalSeconds)} s = ${count(runs)}`;
    fixed(
      'reconciler-schedule',
      'EventBridge',
      `reconciler schedule, every ${num(reconciler.intervalSeconds / 60)} min (scheduled rules are free)`,
      `${runsText} × ${price(EVENTBRIDGE_SCHEDULED_PER_MILLION)}/M`,
      (runs * EVENTBRIDGE_SCHEDULED_PER_MILLION) / 1e6,
    );
    fixed(
      'reconciler-requests',
      'Lambda',
      'reconciler requests',
      `${runsText} × ${price(LAMBDA_PER_MILLION_REQUESTS)}/M`,
      (runs * LAMBDA_PER_MILLION_REQUESTS) / 1e6,
    );
    const gb = reconciler.memoryMb / MB_PER_GB;
    const gbSeconds = runs * RECONCILER_SECONDS_PER_RUN * gb;
    fixed(
      'reconciler-compute',
      'Lambda',
      `reconciler compute (${reconciler.memoryMb} MB, ${reconciler.architecture})`,
      `${count(runs)} × ${num(RECONCILER_SECONDS_PER_RUN, 3)} s × ${num(gb, 3)} GB = ${num(gbSeconds)} GB-s × ${price(gbSecondPrice)}`,
      gbSeconds * gbSecondPrice,
    );
    const secretReads = runs * RECONCILER_SECRET_READS_PER_RUN;
    fixed(
      'reconciler-secret-reads',
      'Secrets Manager',
      'reconciler reads of the API token and the signing secret',
      `${count(runs)} × ${RECONCILER_SECRET_READS_PER_RUN} = ${count(secretReads)} × ${price(SECRETS_MANAGER_PER_10K_CALLS)}/10,000`,
      (secretReads * SECRETS_MANAGER_PER_10K_CALLS) / 10_000,
    );
    fixed(
      'reconciler-token-secret',
      'Secrets Manager',
      'the Replicate API token secret (yours; counted as made for this)',
      `1 × ${price(SECRET_PER_MONTH)}`,
      SECRET_PER_MONTH,
    );
    const indexRru = runs * RECONCILER_INDEX_QUERIES_PER_RUN * RECONCILER_INDEX_RRU_PER_QUERY;
    fixed(
      'reconciler-index-queries',
      'DynamoDB',
      'reconciler Query of the archive-pending index (sparse: about empty)',
      `${count(runs)} × ${RECONCILER_INDEX_QUERIES_PER_RUN} × ${num(RECONCILER_INDEX_RRU_PER_QUERY)} RRU = ${count(indexRru)} × ${price(DYNAMODB_PER_MILLION_RRU)}/M`,
      (indexRru * DYNAMODB_PER_MILLION_RRU) / 1e6,
    );
  }

  const storedPredictions = 1_000_000;
  const storedMb = storedPredictions * OUTPUT_FILES_PER_PREDICTION * OUTPUT_FILE_MB;
  const storedGb = storedMb / MB_PER_GB;
  row(
    'output-storage',
    'storage',
    'S3',
    'S3 Standard, outputs of 1,000,000 predictions, per month',
    `${count(storedPredictions)} × ${OUTPUT_FILES_PER_PREDICTION} × ${OUTPUT_FILE_MB} MB ÷ ${count(MB_PER_GB)} MB/GB = ${num(storedGb)} GB × ${price(S3_STANDARD_PER_GB_MONTH)}/GB-month`,
    storedGb * S3_STANDARD_PER_GB_MONTH,
  );

  const sum = (section: CostSection) => cents(rows.filter((r) => r.section === section).reduce((acc, r) => acc + r.cost, 0));
  const result = {
    settings,
    rows,
    total: sum('perMillionWebhooks'),
    fixed: sum('fixedMonthly'),
    storage: sum('storage'),
  };
  return {
    ...result,
    markdown: renderMarkdown(result, {
      predictions,
      spilled,
      terminalItemKb,
      intermediateItemKb,
      pipeChunksPerPrediction,
      outputPutsPerFile,
      idlePollers,
      yearOfLogs,
      lookupsPerPrediction,
      logBytes,
    }),
  };
}

/** The measured figures the estimate prices, in words. */
function measuredAssumption(spilled: boolean): string {
  const { webhooks, archival } = MEASURED;
  const kib = (bytes: number) => `${num(bytes / 1024, 1)} KiB`;
  const inline = archival.inline;
  return (
    `Measured (\`${MEASURED.command}\`: local mode's handlers on DynamoDB Local, asked for consumed capacity; docs/measured-units.json): ` +
    `a start or intermediate webhook is one UpdateItem of ${webhooks.intermediate.wru} WRU, with ${kib(webhooks.intermediateLargeLogs.bodyBytes)} of logs too (the item keeps progress only: ${kib(webhooks.intermediate.itemBytes)}); ` +
    `a terminal one ${webhooks.terminalInline.wru} WRU with a ${kib(webhooks.terminalInline.bodyBytes)} payload in an item of its own (the record stays ${kib(webhooks.terminalInline.itemBytes)}), ${webhooks.terminalSpilled.wru} WRU spilled to S3 (1 PUT); ` +
    `an archival ${inline.dynamodbWrites} UpdateItem of ${inline.wru} WRU and ${num(inline.rru)} read unit for the payload (${archival.spilled.wru} WRU with the payload spilled, plus ${archival.spilled.s3Gets} GET), ${inline.s3Puts - inline.outputFiles} document PUTs besides the outputs, ${inline.snsPublishes} SNS publish; the archive-pending index's writes included. ` +
    `The terminal payload is ${spilled ? 'above the inline limit: spilled' : 'inline'}. ` +
    `Refused webhooks (duplicate, stale, after the terminal one) are left out: each costs a write unit per KB of the item it would change (${webhooks.stale.wru} before the terminal one, ${webhooks.afterTerminal.wru} after)`
  );
}

function reconcilerAssumptions(
  reconciler: NonNullable<TemplateSettings['reconciler']>,
  predictions: number,
  lookupsPerPrediction: number,
): string {
  const listed = count((predictions * reconciler.lookbackSeconds) / SECONDS_PER_MONTH);
  return (
    `Reconciler, per run: ${num(RECONCILER_SECONDS_PER_RUN)} s (a few pages of Replicate's list: ${listed} predictions in a lookback at a million webhooks a month), ` +
    `${RECONCILER_SECRET_READS_PER_RUN} secret reads, ${RECONCILER_INDEX_QUERIES_PER_RUN} Query of the sparse archive-pending index; every listed prediction looked up with a strongly consistent read of its item (4 KB at most: ${RECONCILER_RRU_PER_LOOKUP} read unit), ` +
    `${lookupsPerPrediction} times (lookback ÷ interval); recoveries, signing-key updates and redrives are rare and left out`
  );
}

function table(rows: readonly CostRow[], totalLabel: string, total: number): string[] {
  return [
    '| Service | Item | Arithmetic | Cost |',
    '| --- | --- | --- | ---: |',
    ...rows.map((r) => `| ${r.service} | ${r.item} | \`${r.arithmetic}\` | ${usd(r.cost)} |`),
    `| **${totalLabel}** | | | **${usd(total)}** |`,
  ];
}

interface Derived {
  readonly predictions: number;
  readonly spilled: boolean;
  readonly terminalItemKb: number;
  readonly intermediateItemKb: number;
  readonly pipeChunksPerPrediction: number;
  readonly outputPutsPerFile: number;
  readonly idlePollers: number;
  /** Log storage per million webhooks with a year's retention, when the template keeps logs less. */
  readonly yearOfLogs?: number;
  readonly lookupsPerPrediction: number;
  readonly logBytes: {
    readonly verifierLoggedBytes: number;
    readonly systemLogBytes: number;
    readonly accessLogBytes: number;
    readonly archiverLoggedBytes: number;
  };
}

function renderMarkdown({ settings, rows, total, fixed, storage }: Omit<CostEstimate, 'markdown'>, derived: Derived): string {
  const of = (section: CostSection) => rows.filter((r) => r.section === section);
  const retention = settings.logRetentionDays === undefined ? 'never expire' : `${settings.logRetentionDays} days`;
  const { batchSize, maxConcurrency } = settings.archiveEventSource;
  const partSizeMib = num(settings.archivePartSizeBytes / MIB);
  const puts =
    derived.outputPutsPerFile === 1
      ? `under the ${partSizeMib} MiB part size: one PUT each`
      : `over the ${partSizeMib} MiB part size: ${derived.outputPutsPerFile} requests each`;
  const keyCache = settings.keyCacheTtlSeconds === 0 ? 'none (read for every webhook)' : `${settings.keyCacheTtlSeconds} s`;
  return [
    '**Settings read from the synthesized template**',
    '',
    `- Verifier: ${settings.verifier.memoryMb} MB, ${settings.verifier.architecture}; archiver: ${settings.archiver.memoryMb} MB, ${settings.archiver.architecture}, upload parts of ${partSizeMib} MiB`,
    `- API: ${settings.apiProtocol} API; table billing: ${settings.tableBillingMode}`,
    `- Archive path: the stream's records through a filtered Pipe, in batches of ${settings.pipe.batchSize}; ${settings.maxReceiveCount} tries per prediction, then the dead-letter queue; the archiver takes batches of ${batchSize}${maxConcurrency === undefined ? '' : `, at most ${maxConcurrency} at once`}; ${settings.queues} SQS queues`,
    `- Log retention: ${retention} (${settings.logGroups} log groups)`,
    `- KMS keys: ${settings.kmsKeys}; secrets: ${settings.secrets}; alarms: ${settings.alarms} (${settings.alarmMetrics} alarm metrics); dashboards: ${settings.dashboards}`,
    `- Signing key cache: ${keyCache}; largest inline payload: ${count(settings.maxInlinePayloadBytes)} bytes`,
    ...(settings.reconciler
      ? [
          `- Reconciler: ${settings.reconciler.memoryMb} MB, ${settings.reconciler.architecture}, every ${num(settings.reconciler.intervalSeconds / 60)} min, lookback ${num(settings.reconciler.lookbackSeconds / 60)} min`,
        ]
      : []),
    '',
    '**Assumptions**',
    '',
    `- ${WEBHOOKS_PER_PREDICTION} webhooks per prediction (start, 4 logs/output, completed): ${count(WEBHOOKS)} webhooks = ${count(derived.predictions)} predictions`,
    `- ${measuredAssumption(derived.spilled)}`,
    `- Verifier: ${num(VERIFIER_SECONDS * 1000, 0)} ms average warm duration`,
    `- Pipe, per prediction: one record passes the filter (the ${num(derived.terminalItemKb, 1)} KB and ${num(derived.intermediateItemKb, 1)} KB images: ${derived.pipeChunksPerPrediction} chunk of ${PIPES_CHUNK_KB} KB) and is sent with ${QUEUE_SENDS_PER_PREDICTION} SendMessageBatch, an upper bound: at this rate a batch seldom holds two finished predictions (1/10 with full batches)`,
    `- Archive queue, per prediction: ${QUEUE_RECEIVES_PER_PREDICTION} ReceiveMessage, ${QUEUE_HOLDS_PER_PREDICTION} ChangeMessageVisibilityBatch (the archiver holds its batch a minute and a half at a time; renewals for archivals over 20 s left out) and ${QUEUE_DELETES_PER_PREDICTION} DeleteMessageBatch (one prediction per batch at this rate); ${num(ARCHIVE_RETRY_RATE * 100)}% of predictions retried once (${QUEUE_REQUESTS_PER_RETRY} requests: ChangeMessageVisibility, ReceiveMessage); messages under 64 KB`,
    `- Idle archive queue: ${derived.idlePollers} pollers long-polling ${LONG_POLL_SECONDS} s (Lambda keeps ${IDLE_QUEUE_POLLERS} when a maximum concurrency is set, else may drop to ${IDLE_QUEUE_POLLERS_WITHOUT_MAX_CONCURRENCY})`,
    `- Stream: ${STREAM_SHARDS} shards, each read by the Pipe ${STREAM_POLLS_PER_SHARD_PER_SECOND} times a second (Lambda's rate, assumed for Pipes); billed as streams read requests, an upper bound: DynamoDB's pricing makes only Lambda triggers' and global tables' reads free`,
    `- Archiver, per prediction: ${OUTPUT_FILES_PER_PREDICTION} output files of ${OUTPUT_FILE_MB} MB (${puts}), ${num(ARCHIVER_SECONDS_PER_PREDICTION)} s of duration`,
    ...(settings.archiveVersioning
      ? [
          `- Versioned archive: a retried archival (${num(ARCHIVE_RETRY_RATE * 100)}% of predictions) rewrites prediction.json (none once the manifest is written); the outputs an earlier try stored are not written again (unless S3 itself failed that try); the overwritten copies stay as noncurrent versions ${settings.archiveVersioning.noncurrentDays === undefined ? 'forever' : `for ${settings.archiveVersioning.noncurrentDays} days`}; nothing else overwrites`,
        ]
      : []),
    `- ${WARM_VERIFIERS} warm verifiers, each rereading the signing key when its cache expires`,
    ...(settings.reconciler
      ? [`- ${reconcilerAssumptions(settings.reconciler, derived.predictions, derived.lookupsPerPrediction)}`]
      : []),
    `- Logs (message bytes): per webhook, ${count(derived.logBytes.verifierLoggedBytes)} B from the verifier (measured: its log line and embedded metrics, averaged over the webhook kinds, with 64-character function names, CloudFormation's longest), ${count(derived.logBytes.accessLogBytes)} B of access log (the template's format with typical values) and ${count(derived.logBytes.systemLogBytes)} B of Lambda's start, runtimeDone and report records (typical values, an upper bound); per prediction, ${count(derived.logBytes.archiverLoggedBytes)} B from the archiver (measured) and Lambda's records again`,
    `- A month is ${HOURS_PER_MONTH} hours; 1 GB = 1,024 MB; free tiers left out`,
    '',
    '**Per million webhooks**',
    '',
    ...table(of('perMillionWebhooks'), 'Total per million webhooks', total),
    '',
    '**Fixed per month**',
    '',
    ...table(of('fixedMonthly'), 'Total fixed per month', fixed),
    '',
    '**Archive storage per month**',
    '',
    ...table(of('storage'), 'Total storage per month', storage),
    '',
    ...(derived.yearOfLogs === undefined
      ? []
      : [
          `With a year of log retention (\`logRetention: logs.RetentionDays.ONE_YEAR\`, as a strict account's props in [Compliance](#compliance) set), ` +
            `log storage is ${usd(derived.yearOfLogs)} per million webhooks instead of ${usd(rows.find((r) => r.id === 'logs-storage')!.cost)}; ` +
            'a customer managed key for the logs adds $1 a month (nothing if it is also the `encryptionKey`), and SSE-KMS adds KMS requests ($0.03 per 10,000), not estimated here.',
          '',
        ]),
    `Not counted: DynamoDB reads (${settings.reconciler ? "other than the reconciler's: the webhook flow makes none" : 'the flow makes none'}) and storage, point-in-time recovery, data transfer ` +
      '(downloads from replicate.delivery come in free), the other work of a retried archival, messages in the ' +
      'failure and dead-letter queues, KMS key rotations (each of the first two adds $1 a month), ' +
      'deliveries to email and HTTPS subscribers, and what subscribers do.' +
      (settings.reconciler ? " The reconciler's logs (a line a run) and Replicate's API (no charge) are left out too." : ''),
    'Prices: us-east-1 list prices as of 2026. Rows are rounded to the cent; totals add the rounded rows.',
    '',
  ].join('\n');
}

/**
 * What the reconciler adds, from a template with a token beside the default one: its rows and the
 * alarms it brings (the alarm row's difference), per million webhooks and per month.
 */
export function reconcilerAddition(base: CostEstimate, withReconciler: CostEstimate): string {
  const rowsOf = (section: CostSection) =>
    withReconciler.rows.filter((row) => row.section === section && row.id.startsWith('reconciler-'));
  const addedAlarms = withReconciler.settings.alarms - base.settings.alarms;
  const addedMetrics = withReconciler.settings.alarmMetrics - base.settings.alarmMetrics;
  const alarmRow: CostRow[] =
    addedMetrics > 0
      ? [
          {
            id: 'reconciler-alarms',
            section: 'fixedMonthly',
            service: 'CloudWatch',
            item: `${addedAlarms} more alarms, the reconciler's own, reading ${addedMetrics} metrics`,
            arithmetic: `${addedMetrics} × ${price(CLOUDWATCH_ALARM_METRIC_PER_MONTH)} = ${usd(cents(addedMetrics * CLOUDWATCH_ALARM_METRIC_PER_MONTH))}`,
            cost: cents(addedMetrics * CLOUDWATCH_ALARM_METRIC_PER_MONTH),
          },
        ]
      : [];
  const perMillion = rowsOf('perMillionWebhooks');
  const fixed = [...rowsOf('fixedMonthly'), ...alarmRow];
  const total = (rows: readonly CostRow[]) => cents(rows.reduce((sum, row) => sum + row.cost, 0));
  return [
    `With the reconciler (\`replicateApiToken\`, its default settings): **+${usd(total(fixed))} per month and +${usd(total(perMillion))} per million webhooks**, from the template with a token.`,
    `${reconcilerAssumptions(withReconciler.settings.reconciler!, WEBHOOKS / WEBHOOKS_PER_PREDICTION, Math.ceil(withReconciler.settings.reconciler!.lookbackSeconds / withReconciler.settings.reconciler!.intervalSeconds))}.`,
    '',
    '**Reconciler per million webhooks**',
    '',
    ...table(perMillion, 'Reconciler per million webhooks', total(perMillion)),
    '',
    '**Reconciler fixed per month**',
    '',
    ...table(fixed, 'Reconciler fixed per month', total(fixed)),
    '',
  ].join('\n');
}

/**
 * `npx tsx scripts/cost-estimate.ts` prints the default construct's estimate (the README's cost
 * section); `--reconciler` prints what the reconciler adds (the README's line after it).
 */
function main(): void {
  const synthesize = (token: boolean) => {
    const stack = new Stack(new App(), 'CostEstimate');
    new ReplicateWebhooks(stack, 'Hooks', {
      ...(token ? { replicateApiToken: secretsmanager.Secret.fromSecretNameV2(stack, 'Token', 'replicate/api-token') } : {}),
    });
    return estimate(Template.fromStack(stack));
  };
  const base = synthesize(false);
  process.stdout.write(process.argv.includes('--reconciler') ? reconcilerAddition(base, synthesize(true)) : base.markdown);
}

if (require.main === module) main();
