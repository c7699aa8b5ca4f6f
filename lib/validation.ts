/**
 * Misconfiguration fails at synth, not at the first webhook or archival. Each prop is checked
 * against the limits of the service behind it (Lambda, API Gateway, DynamoDB, SQS, S3) and of
 * safety (a replay window of a year, a wildcard that opens everything); a value that is legal
 * but almost certainly a mistake gets a warning instead.
 */
import { Annotations, Duration, Size, Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { ARCHIVE_QUEUE_DEFAULTS } from '../lambda/shared/archive-queue';
import { ARCHIVER_FUNCTION_DEFAULTS } from '../lambda/shared/function-defaults';
import { parseAllowedHosts } from '../lambda/shared/allowed-hosts';
import { RECONCILIATION_DEFAULTS, ReconciliationScope } from '../lambda/shared/reconcile';
import { MAX_INLINE_PAYLOAD_BYTES } from '../lambda/shared/state';
import { ALARM_DEFAULTS } from './monitoring';
import { AlarmName, type ReplicateWebhooksProps, type WebhookDomainOptions } from './props';

/** A prop outside its accepted range: the message names the prop, the value and the range. */
export class InvalidPropError extends Error {
  constructor(prop: string, value: string, accepted: string) {
    super(`ReplicateWebhooks: ${prop} is ${value}; ${accepted}.`);
    this.name = 'InvalidPropError';
  }
}

// Lambda: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
const LAMBDA_MEMORY_MB = { min: 128, max: 10_240 };
const LAMBDA_MAX_TIMEOUT = Duration.minutes(15);
/** Lambda's synchronous request limit; API Gateway accepts more, Lambda then refuses it. */
const LAMBDA_MAX_REQUEST = Size.mebibytes(6);
/** An HTTP API integration gives up after 30 seconds. */
const API_MAX_INTEGRATION_TIMEOUT = Duration.seconds(30);
/** The archiver keeps 20 s of its timeout to settle a batch, and needs time to archive. */
const ARCHIVER_MIN_TIMEOUT = Duration.minutes(1);
/** Memory per output file in flight: 8 MiB parts, two in the upload queue plus one filling. */
const MEMORY_PER_FILE_MB = 24;
const ARCHIVER_BASE_MEMORY_MB = 100;
/** The spill key (`<prefix>webhook-payloads/<id>/<webhook-id>.json`) must stay under S3's 1,024 bytes. */
const MAX_PREFIX_BYTES = 100;
/** Each URL is compared with every listed prediction's webhook: a short list, not a registry. */
const MAX_WEBHOOK_URLS = 20;
/**
 * The URLs reach the reconciler in one environment variable, and Lambda allows 4 KB for all of a
 * function's variables together: the rest of its wiring (names, ARNs, URLs) takes about 1 KB. With
 * a custom domain the execute-api URL joins the list (a token here, about 70 characters and the
 * path once deployed), within that margin.
 */
const MAX_WEBHOOK_URLS_CHARACTERS = 2048;
/** DNS: a name of at most 253 characters, each label 1–63 letters, digits or inner hyphens. */
const MAX_HOST_NAME_CHARACTERS = 253;
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** `arn:<partition>:acm:<region>:<account>:certificate/<id>`: the region is what API Gateway needs to match. */
const ACM_CERTIFICATE_ARN = /^arn:[a-z-]+:acm:([a-z0-9-]+):\d*:certificate\/./;
/** Plain http is for a proxy on the same machine (tests, local mode), never across a network. */
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** What a rule sees: the props, and a way to warn on the construct. */
interface RuleContext {
  readonly scope: IConstruct;
  readonly warn: (id: string, message: string) => void;
}

/** One check of the props: throws InvalidPropError, or warns, or does nothing. */
type Rule = (props: ReplicateWebhooksProps, context: RuleContext) => void;

/** A number the prop must keep within [min, max] (`unit` follows the value in the message). */
const inRange =
  (
    prop: string,
    value: (props: ReplicateWebhooksProps) => number | undefined,
    min: number,
    max: number,
    unit: string,
    accepted: string,
  ): Rule =>
  (props) => {
    const given = value(props);
    if (given !== undefined) range(prop, given, min, max, unit, accepted);
  };

/** A legal value that is probably a mistake: a warning with this id when `when` says so. */
const warnWhen =
  (id: string, message: (props: ReplicateWebhooksProps) => string | undefined): Rule =>
  (props, { warn }) => {
    const text = message(props);
    if (text !== undefined) warn(id, text);
  };

const archiverMemory = (props: ReplicateWebhooksProps) => props.archiver?.memorySize ?? ARCHIVER_FUNCTION_DEFAULTS.memorySizeMb;

/** Every check, in order: the first that fails stops `cdk synth`. */
const RULES: readonly Rule[] = [
  inRange(
    'timestampTolerance',
    (props) => props.timestampTolerance?.toSeconds(),
    10,
    3600,
    'seconds',
    'between 10 seconds and 1 hour: a larger window lets an old request be replayed for longer',
  ),
  warnWhen('timestampTolerance', (props) => {
    const seconds = props.timestampTolerance?.toSeconds();
    return seconds !== undefined && seconds < 60
      ? `timestampTolerance is ${seconds} s: webhooks from a sender whose clock is off by more are refused (401).`
      : undefined;
  }),
  inRange(
    'maxBodySize',
    (props) => props.maxBodySize?.toBytes(),
    1024,
    LAMBDA_MAX_REQUEST.toBytes(),
    'bytes',
    "between 1 KiB and 6 MiB, Lambda's request limit",
  ),
  inRange(
    'maxInlinePayloadSize',
    (props) => props.maxInlinePayloadSize?.toBytes(),
    0,
    MAX_INLINE_PAYLOAD_BYTES,
    'bytes',
    "at most 256 KiB, so that the item stays under DynamoDB's 400 KB with the rest of the record",
  ),
  inRange('signingKeyCacheTtl', (props) => props.signingKeyCacheTtl?.toSeconds(), 0, 24 * 3600, 'seconds', 'at most a day'),
  warnWhen('signingKeyCacheTtl', (props) =>
    props.signingKeyCacheTtl?.toSeconds() === 0
      ? 'signingKeyCacheTtl is 0: every webhook reads the secret from Secrets Manager (latency, and $0.05 per 10,000 reads).'
      : undefined,
  ),
  inRange(
    'throttle.rateLimit',
    (props) => props.throttle?.rateLimit,
    1,
    10_000,
    'requests per second',
    "between 1 and 10,000 (the account's default API Gateway quota)",
  ),
  inRange(
    'throttle.burstLimit',
    (props) => props.throttle?.burstLimit,
    1,
    5_000,
    'requests',
    "between 1 and 5,000 (the account's default API Gateway burst)",
  ),
  (props) => {
    if (props.webhookPath !== undefined && !/^\/[A-Za-z0-9._~/-]*$/.test(props.webhookPath)) {
      throw new InvalidPropError(
        'webhookPath',
        JSON.stringify(props.webhookPath),
        'it must start with / and hold only URL path characters',
      );
    }
  },
  (props, { scope }) => {
    if (props.domain) validateDomain(scope, props.domain);
  },
  (props) => {
    if (props.archivePrefix !== undefined) validatePrefix(props.archivePrefix);
  },
  inRange(
    'maxOutputFileSize',
    (props) => props.maxOutputFileSize?.toBytes(),
    1,
    Size.tebibytes(5).toBytes(),
    'bytes',
    'between 1 byte and 5 TiB, the largest S3 object',
  ),
  inRange(
    'maxTrainingOutputFileSize',
    (props) => props.maxTrainingOutputFileSize?.toBytes(),
    1,
    Size.tebibytes(5).toBytes(),
    'bytes',
    'between 1 byte and 5 TiB, the largest S3 object',
  ),
  (props, { warn }) => {
    if (props.allowedOutputHosts) validateAllowedHosts(props.allowedOutputHosts, warn);
  },
  (props) => {
    if (props.metricsNamespace !== undefined && !/^[^:][^\s]{0,254}$/.test(props.metricsNamespace)) {
      throw new InvalidPropError(
        'metricsNamespace',
        JSON.stringify(props.metricsNamespace),
        'a CloudWatch namespace is 1–255 characters, no spaces, not starting with ":"',
      );
    }
  },
  inRange(
    'verifier.memorySize',
    (props) => props.verifier?.memorySize,
    LAMBDA_MEMORY_MB.min,
    LAMBDA_MEMORY_MB.max,
    'MB',
    'between 128 and 10,240 MB',
  ),
  inRange(
    'verifier.timeout',
    (props) => props.verifier?.timeout?.toSeconds(),
    1,
    API_MAX_INTEGRATION_TIMEOUT.toSeconds(),
    'seconds',
    'between 1 and 30 seconds: API Gateway gives up on the request after 30',
  ),
  (props) => {
    const verifier = props.verifier ?? {};
    if (verifier.reservedConcurrentExecutions !== undefined && verifier.reserveConcurrency === false) {
      throw new InvalidPropError(
        'verifier.reservedConcurrentExecutions',
        String(verifier.reservedConcurrentExecutions),
        'give it or reserveConcurrency: false (no reservation), not both',
      );
    }
  },
  inRange(
    'verifier.reservedConcurrentExecutions',
    (props) => props.verifier?.reservedConcurrentExecutions,
    1,
    10_000,
    '',
    'at least 1 (reserveConcurrency: false for no reservation; 0 would stop the verifier)',
  ),
  inRange(
    'archiver.memorySize',
    (props) => props.archiver?.memorySize,
    LAMBDA_MEMORY_MB.min,
    LAMBDA_MEMORY_MB.max,
    'MB',
    'between 128 and 10,240 MB',
  ),
  inRange(
    'archiver.timeout',
    (props) => props.archiver?.timeout?.toSeconds(),
    ARCHIVER_MIN_TIMEOUT.toSeconds(),
    LAMBDA_MAX_TIMEOUT.toSeconds(),
    'seconds',
    "between 1 and 15 minutes (Lambda's maximum)",
  ),
  inRange(
    'archiver.batchSize',
    (props) => props.archiver?.batchSize,
    1,
    10,
    '',
    'between 1 and 10 (more needs a batching window, which delays archival)',
  ),
  inRange(
    'archiver.maxConcurrency',
    (props) => props.archiver?.maxConcurrency,
    2,
    1000,
    '',
    "between 2 and 1,000 (Lambda's SQS event source)",
  ),
  inRange(
    'archiver.retryAttempts',
    (props) => props.archiver?.retryAttempts,
    0,
    999,
    '',
    "between 0 and 999 (SQS's maxReceiveCount is at most 1,000)",
  ),
  inRange('archiver.fileConcurrency', (props) => props.archiver?.fileConcurrency, 1, 64, '', 'between 1 and 64'),
  warnWhen('archiver.memory', (props) => {
    const files = props.archiver?.fileConcurrency;
    if (files === undefined) return undefined;
    const needed = ARCHIVER_BASE_MEMORY_MB + files * MEMORY_PER_FILE_MB;
    const memory = archiverMemory(props);
    return needed > memory
      ? `archiver.fileConcurrency ${files} may need about ${needed} MB, more than archiver.memorySize ${memory}: large files could run the archiver out of memory.`
      : undefined;
  }),
  (props) => {
    const reconciliation = props.reconciliation ?? {};
    if (reconciliation.webhookUrls !== undefined) validateWebhookUrls(reconciliation.webhookUrls, reconciliation.scope);
  },
  (props) => {
    const attempts = props.reconciliation?.maxArchiveAttempts;
    if (attempts !== undefined) integerRange('reconciliation.maxArchiveAttempts', attempts, 1, 1000, 'between 1 and 1,000');
  },
  warnWhen('reconciliation.maxArchiveAttempts', (props) => {
    const attempts = props.reconciliation?.maxArchiveAttempts;
    // The queue's tries of one round: the first and the archiver's retries.
    const triesPerRound = (props.archiver?.retryAttempts ?? ARCHIVE_QUEUE_DEFAULTS.maxReceiveCount - 1) + 1;
    return attempts !== undefined && attempts < triesPerRound
      ? `reconciliation.maxArchiveAttempts ${attempts} is below the archive queue's ${triesPerRound} tries per round (archiver.retryAttempts + 1): the reconciler marks a stuck prediction failed before it has had one full round, and never sends it to the queue again.`
      : undefined;
  }),
  inRange(
    'alarms.rejectedSignaturesPerFiveMinutes',
    (props) => props.alarms?.rejectedSignaturesPerFiveMinutes,
    0,
    Number.MAX_SAFE_INTEGER,
    '',
    'at least 0',
  ),
  inRange(
    'alarms.api5xxPerFiveMinutes',
    (props) => props.alarms?.api5xxPerFiveMinutes,
    1,
    Number.MAX_SAFE_INTEGER,
    '',
    'at least 1',
  ),
  inRange(
    'alarms.maxArchiveBacklogAge',
    (props) => props.alarms?.maxArchiveBacklogAge?.toSeconds(),
    60,
    3600,
    'seconds',
    'between 1 minute and 1 hour: outputs expire about an hour after a prediction starts',
  ),
  inRange(
    'alarms.api4xxPercent',
    (props) => props.alarms?.api4xxPercent,
    0,
    99,
    'percent',
    'between 0 and 99: the alarm fires above it, and no more than every request can be answered 4xx',
  ),
  inRange(
    'alarms.maxPendingArchivalAge',
    (props) => props.alarms?.maxPendingArchivalAge?.toSeconds(),
    60,
    24 * 3600,
    'seconds',
    'between 1 minute and 1 day',
  ),
  inRange(
    'alarms.maxListingLag',
    (props) => props.alarms?.maxListingLag?.toSeconds(),
    60,
    24 * 3600,
    'seconds',
    'between 1 minute and 1 day',
  ),
  warnWhen('alarms.maxListingLag', (props) => {
    const { reconciliation = {}, alarms = {} } = props;
    const listingLagAlarm =
      props.replicateApiToken !== undefined &&
      reconciliation.enabled !== false &&
      alarms.enabled !== false &&
      !alarms.disable?.includes(AlarmName.RECONCILER_LISTING_LAG);
    if (!listingLagAlarm) return undefined;
    // Between two runs the lag grows by an interval; a threshold under two fires on a healthy reconciler.
    const lag = (alarms.maxListingLag ?? ALARM_DEFAULTS.maxListingLag).toSeconds();
    const interval = (reconciliation.interval ?? Duration.seconds(RECONCILIATION_DEFAULTS.intervalSeconds)).toSeconds();
    return !Token.isUnresolved(lag) && !Token.isUnresolved(interval) && lag < 2 * interval
      ? `alarms.maxListingLag is ${lag} s, less than two reconcile intervals (${2 * interval} s): the reconcilerListingLag alarm can fire while the reconciler is healthy. Raise maxListingLag to at least ${2 * interval} s.`
      : undefined;
  }),
];

export function validateProps(scope: IConstruct, props: ReplicateWebhooksProps): void {
  const warn = (id: string, message: string) => Annotations.of(scope).addWarningV2(`replicate-webhooks:${id}`, message);
  for (const rule of RULES) rule(props, { scope, warn });
}

/** Each entry as the archiver parses it: what passes here is exactly what it will accept at run time. */
function validateAllowedHosts(hosts: readonly string[], warn: RuleContext['warn']): void {
  if (hosts.length === 0) {
    warn(
      'allowedOutputHosts',
      'allowedOutputHosts is empty: no output file will be archived; each is recorded as host_not_allowed.',
    );
  }
  for (const entry of hosts) {
    if (Token.isUnresolved(entry)) continue;
    try {
      parseAllowedHosts([entry]);
    } catch (error) {
      throw new InvalidPropError(
        'allowedOutputHosts',
        JSON.stringify(entry),
        `an entry must be host, host:port, *.domain or http://host:port (${(error as Error).message})`,
      );
    }
    if (entry.trim().toLowerCase().startsWith('http://')) {
      warn(
        'allowedOutputHosts.http',
        `allowedOutputHosts has ${entry}: outputs from it are fetched over plain http, which anyone on the path can read or change.`,
      );
    }
  }
}

function range(prop: string, value: number, min: number, max: number, unit: string, accepted: string): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InvalidPropError(prop, `${value}${unit ? ` ${unit}` : ''}`, `it must be ${accepted}`);
  }
}

/** `range`, for a count: a fraction is refused too. */
function integerRange(prop: string, value: number, min: number, max: number, accepted: string): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidPropError(prop, String(value), `it must be an integer ${accepted}`);
  }
}

function validateWebhookUrls(urls: readonly string[], scope: ReconciliationScope | undefined): void {
  const prop = 'reconciliation.webhookUrls';
  if (urls.length > 0 && scope !== undefined && scope !== ReconciliationScope.WEBHOOK_URL) {
    throw new InvalidPropError(
      prop,
      `${urls.length} URL(s) with scope ${scope}`,
      'give it only with ReconciliationScope.WEBHOOK_URL: the other scopes do not look at webhook URLs',
    );
  }
  if (urls.length > MAX_WEBHOOK_URLS) {
    throw new InvalidPropError(prop, `${urls.length} URLs`, `it must hold at most ${MAX_WEBHOOK_URLS}`);
  }
  const literal = urls.filter((url) => !Token.isUnresolved(url));
  for (const url of literal) {
    if (url.includes(',')) {
      throw new InvalidPropError(
        prop,
        JSON.stringify(url),
        'an entry must hold no comma: the list reaches the reconciler comma-separated',
      );
    }
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const secure = parsed?.protocol === 'https:' || (parsed?.protocol === 'http:' && LOOPBACK_HOST.test(parsed.hostname));
    if (!parsed || !secure) {
      throw new InvalidPropError(
        prop,
        JSON.stringify(url),
        'an entry must be an absolute https URL (http only for localhost, 127.0.0.1 or [::1]), as given to Replicate as `webhook`',
      );
    }
  }
  const characters = literal.join(',').length;
  if (characters > MAX_WEBHOOK_URLS_CHARACTERS) {
    throw new InvalidPropError(
      prop,
      `${characters} characters long`,
      `it must be at most ${MAX_WEBHOOK_URLS_CHARACTERS} characters together: the list travels in one environment variable, and Lambda allows 4 KB for all of them`,
    );
  }
}

function validateDomain(scope: IConstruct, domain: WebhookDomainOptions): void {
  const { domainName, certificate, hostedZone } = domain;
  if (!Token.isUnresolved(domainName)) {
    const labels = domainName.split('.');
    // An IP address is not a host name: the last label (the top-level domain) is never all digits.
    const hostName =
      domainName.length <= MAX_HOST_NAME_CHARACTERS &&
      labels.length >= 2 &&
      labels.every((label) => HOST_LABEL.test(label)) &&
      !/^\d+$/.test(labels[labels.length - 1]);
    if (!hostName) {
      throw new InvalidPropError(
        'domain.domainName',
        JSON.stringify(domainName),
        'it must be a host name such as hooks.example.com: at least two labels of 1–63 letters, digits and hyphens (not first or last), 253 characters at most, no wildcard, no trailing dot',
      );
    }
  }
  // An imported certificate's ARN says its region; one defined in the app is a token, and its stack's region is CloudFormation's to check.
  const certificateArn = certificate.certificateArn;
  if (!Token.isUnresolved(certificateArn)) {
    const region = ACM_CERTIFICATE_ARN.exec(certificateArn)?.[1];
    if (!region) {
      throw new InvalidPropError(
        'domain.certificate',
        JSON.stringify(certificateArn),
        'it must be an ACM certificate (arn:<partition>:acm:<region>:<account>:certificate/<id>)',
      );
    }
    const stackRegion = Stack.of(scope).region;
    if (!Token.isUnresolved(stackRegion) && region !== stackRegion) {
      throw new InvalidPropError(
        'domain.certificate',
        `in ${region} (${certificateArn})`,
        `it must be in the stack's region, ${stackRegion}: the domain's endpoint is regional, and API Gateway uses a certificate of its own region only`,
      );
    }
  }
  if (hostedZone && !Token.isUnresolved(domainName)) {
    let zoneName: string;
    try {
      zoneName = hostedZone.zoneName;
    } catch {
      // HostedZone.fromHostedZoneId throws on zoneName: the records cannot be named without it.
      throw new InvalidPropError(
        'domain.hostedZone',
        `${hostedZone.hostedZoneId} without its name`,
        'give the zone with its name (HostedZone.fromHostedZoneAttributes, or fromLookup), so that the records can be named',
      );
    }
    const zone = zoneName.replace(/\.$/, '').toLowerCase();
    const name = domainName.toLowerCase();
    if (!Token.isUnresolved(zoneName) && name !== zone && !name.endsWith(`.${zone}`)) {
      throw new InvalidPropError(
        'domain.hostedZone',
        `the zone ${zoneName}`,
        `it must hold domain.domainName (${domainName}): a record for it can only be made in its own zone or a parent's`,
      );
    }
  }
}

function validatePrefix(prefix: string): void {
  if (Token.isUnresolved(prefix)) return;
  if (/[\u0000-\u001f\u007f]/.test(prefix) || prefix.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw new InvalidPropError(
      'archivePrefix',
      JSON.stringify(prefix),
      'it must be a plain key prefix: no "." or ".." segments, no control characters',
    );
  }
  if (Buffer.byteLength(prefix) > MAX_PREFIX_BYTES) {
    throw new InvalidPropError(
      'archivePrefix',
      `${Buffer.byteLength(prefix)} bytes long`,
      `it must be at most ${MAX_PREFIX_BYTES} bytes, so that every archive key stays under S3's 1,024`,
    );
  }
}
