/**
 * The settings that drive cost, read from the synthesized template: memory and architecture,
 * billing mode, retention, the archive path's functions, batches and retries, how many keys, alarms and
 * dashboards. The handlers' own settings go through the handlers' own config readers, so the
 * estimate follows the props and the construct's defaults.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { readArchiverConfig } from '../../lambda/archiver/config';
import { readReconcilerConfig } from '../../lambda/reconciler/config';
import { ARCHIVER_ENV } from '../../lambda/archiver/settings';
import { FORWARDER_ENV } from '../../lambda/forwarder/settings';
import { RECONCILER_ENV } from '../../lambda/reconciler/settings';
import { DETAILED_METRICS_ENV } from '../../lambda/shared/metrics';
import { readVerifierConfig } from '../../lambda/verifier/config';
import { ACCESS_LOG_SAMPLE } from './assumptions';

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
  /**
   * What its handler logs: the share of its INFO lines kept (1 at INFO or below; Powertools' sample
   * rate at WARN and above, the invocations it lowers to DEBUG), and whether Lambda writes its own
   * start and report records (its system log level INFO or below).
   */
  readonly infoLineShare: number;
  readonly systemRecords: boolean;
}

/** What the estimate takes from the template. */
export interface TemplateSettings {
  readonly apiProtocol: string;
  readonly verifier: FunctionSettings;
  /** The function on the table's stream that queues each finished prediction, and its event source. */
  readonly forwarder: FunctionSettings & { readonly batchSize: number; readonly filtered: boolean };
  readonly archiver: FunctionSettings;
  /** The archiver's multipart part size: a file no larger is one PutObject. */
  readonly archivePartSizeBytes: number;
  readonly tableBillingMode: string;
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
  /** Whether the handlers publish every custom metric, or only the series the alarms read. */
  readonly detailedMetrics: boolean;
  /** Whether the archiver puts completion events on a bus (its alarmed series then exist). */
  readonly completionEventBus: boolean;
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
  /** Whether the archiver also writes prediction.json (the construct's `predictionDocument`). */
  readonly predictionDocument: boolean;
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

const QUIET_LEVELS = ['WARN', 'ERROR', 'CRITICAL', 'SILENT', 'FATAL'];

function functionSettings(fn: CfnResource): FunctionSettings {
  const variables = environment(fn);
  const level = (variables.POWERTOOLS_LOG_LEVEL ?? 'INFO').toUpperCase();
  const sampleRate = Number(variables.POWERTOOLS_LOGGER_SAMPLE_RATE ?? 0);
  return {
    // CloudFormation's defaults when a property is absent.
    memoryMb: fn.Properties?.MemorySize ?? 128,
    architecture: fn.Properties?.Architectures?.[0] ?? 'x86_64',
    infoLineShare: QUIET_LEVELS.includes(level) ? sampleRate : 1,
    // Lambda's default system log level is INFO.
    systemRecords: !QUIET_LEVELS.includes(String(fn.Properties?.LoggingConfig?.SystemLogLevel ?? 'INFO').toUpperCase()),
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
  const template: CfnTemplate = input instanceof Template ? input.toJSON() : input;
  // The verifier is whatever the API integrates with; the forwarder is what the table's stream
  // invokes, the archive queue the one it sends to, and the archiver what that queue invokes.
  const [, integration] = single(template, 'AWS::ApiGatewayV2::Integration');
  const verifier = resource(template, target(integration.Properties?.IntegrationUri), 'AWS::Lambda::Function', 'API integration');
  const [tableId, table] = single(template, 'AWS::DynamoDB::GlobalTable');
  const eventSources = ofType(template, 'AWS::Lambda::EventSourceMapping');
  const streamSources = eventSources.filter(([, mapping]) => {
    const source = mapping.Properties?.EventSourceArn?.['Fn::GetAtt'];
    return source?.[0] === tableId && source?.[1] === 'StreamArn';
  });
  if (streamSources.length !== 1) {
    throw new Error(`cost estimate: expected one event source on the table's stream, found ${streamSources.length}`);
  }
  const [, streamSource] = streamSources[0];
  const forwarder = resource(
    template,
    target(streamSource.Properties?.FunctionName),
    'AWS::Lambda::Function',
    "stream event source's target",
  );
  const archiveQueueId = target(forwarder.Properties?.Environment?.Variables?.[FORWARDER_ENV.queueUrl]);
  const archiveQueue = resource(template, archiveQueueId, 'AWS::SQS::Queue', "forwarder's queue");
  const queueSources = eventSources.filter(([, mapping]) => target(mapping.Properties?.EventSourceArn) === archiveQueueId);
  if (queueSources.length !== 1) {
    throw new Error(`cost estimate: expected one event source on the archive queue, found ${queueSources.length}`);
  }
  const [, eventSource] = queueSources[0];
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
  const [, route] = single(template, 'AWS::ApiGatewayV2::Route');
  const accessLogFormat: string | undefined = single(template, 'AWS::ApiGatewayV2::Stage')[1].Properties?.AccessLogSettings
    ?.Format;
  return {
    accessLogLine: accessLogFormat === undefined ? '' : renderAccessLog(accessLogFormat, route.Properties?.RouteKey),
    apiProtocol: single(template, 'AWS::ApiGatewayV2::Api')[1].Properties?.ProtocolType,
    verifier: functionSettings(verifier),
    forwarder: {
      ...functionSettings(forwarder),
      // Lambda's default for a DynamoDB stream source.
      batchSize: streamSource.Properties?.BatchSize ?? 100,
      filtered: (streamSource.Properties?.FilterCriteria?.Filters ?? []).length > 0,
    },
    archiver: functionSettings(archiver),
    archivePartSizeBytes: archiverConfig.partSizeBytes,
    tableBillingMode: table.Properties?.BillingMode ?? 'PROVISIONED',
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
    // As the handlers read it (lambda/telemetry.ts): every metric unless told otherwise.
    detailedMetrics: environment(verifier)[DETAILED_METRICS_ENV] !== 'false',
    completionEventBus: environment(archiver)[ARCHIVER_ENV.eventBusName] !== undefined,
    keyCacheTtlSeconds: verifierConfig.keyCacheTtlSeconds,
    maxInlinePayloadBytes: verifierConfig.maxInlinePayloadBytes,
    encryptedCompletionTopic:
      completionTopicId !== undefined && !!template.Resources?.[completionTopicId]?.Properties?.KmsMasterKeyId,
    archiveVersioning: bucket?.Type === 'AWS::S3::Bucket' ? versioning(bucket) : undefined,
    predictionDocument: archiverConfig.predictionDocument,
    reconciler: reconcilerSettings(template),
  };
}
