/** Misconfiguration fails at synth: each bad value → the exact error or warning; each boundary → clean. */
import { App, Annotations as CoreAnnotations, Duration, Fn, Size, Stack, Lazy, Token } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ReconciliationScope, ReplicateWebhooks, type ReplicateWebhooksProps, AlarmName } from '../../lib';
import { TEMPLATE_RULES_AS_ERRORS } from '../support/cdk';
import { InvalidPropError, validateProps } from '../../lib/validation';

function synth(props: ReplicateWebhooksProps | ((stack: Stack) => ReplicateWebhooksProps)) {
  const app = new App({ context: TEMPLATE_RULES_AS_ERRORS });
  const stack = new Stack(app, 'Validation', { env: { account: '111111111111', region: 'eu-west-1' } });
  new ReplicateWebhooks(stack, 'Hooks', typeof props === 'function' ? props(stack) : props);
  return Annotations.fromStack(stack);
}

const allWarningsOf = (props: ReplicateWebhooksProps | ((stack: Stack) => ReplicateWebhooksProps)) =>
  synth(props)
    .findWarning('*', Match.stringLikeRegexp('.*'))
    .map((warning) => String(warning.entry.data));

const NO_RECONCILER = 'replicate-webhooks:noReconciler';
/** The warnings about the props' values: every synth without a token also says there is no reconciler (tested below). */
const warningsOf = (props: ReplicateWebhooksProps) =>
  allWarningsOf(props).filter((warning) => !warning.includes(`[ack: ${NO_RECONCILER}]`));

describe('values outside what the services accept are refused, naming the prop, the value and the range', () => {
  test.each<[string, ReplicateWebhooksProps, RegExp]>([
    [
      'a zero replay window',
      { timestampTolerance: Duration.seconds(0) },
      /timestampTolerance is 0 seconds; it must be between 10 seconds and 1 hour/,
    ],
    [
      'a replay window of a year',
      { timestampTolerance: Duration.days(365) },
      /timestampTolerance is 31536000 seconds; it must be between 10 seconds and 1 hour/,
    ],
    [
      "bodies above Lambda's request limit",
      { maxBodySize: Size.mebibytes(20) },
      /maxBodySize is 20971520 bytes; it must be between 1 KiB and 6 MiB/,
    ],
    [
      'an inline payload DynamoDB cannot hold',
      { maxInlinePayloadSize: Size.kibibytes(500) },
      /maxInlinePayloadSize is 512000 bytes; it must be at most 256 KiB/,
    ],
    [
      'a key cache of a week',
      { signingKeyCacheTtl: Duration.days(7) },
      /signingKeyCacheTtl is 604800 seconds; it must be at most a day/,
    ],
    [
      "an archiver timeout above Lambda's maximum",
      { archiver: { timeout: Duration.minutes(20) } },
      /archiver.timeout is 1200 seconds; it must be between 1 and 15 minutes/,
    ],
    [
      'an archiver timeout within its safety margin',
      { archiver: { timeout: Duration.seconds(20) } },
      /archiver.timeout is 20 seconds/,
    ],
    [
      'a verifier that outlives API Gateway',
      { verifier: { timeout: Duration.seconds(45) } },
      /verifier.timeout is 45 seconds; it must be between 1 and 30 seconds/,
    ],
    [
      'a reserved concurrency of 0',
      { verifier: { reservedConcurrentExecutions: 0 } },
      /verifier.reservedConcurrentExecutions is 0; it must be at least 1/,
    ],
    [
      'a reserved concurrency and no reservation at once',
      { verifier: { reservedConcurrentExecutions: 10, reserveConcurrency: false } },
      /verifier.reservedConcurrentExecutions is 10; give it or reserveConcurrency: false/,
    ],
    ['more memory than Lambda has', { archiver: { memorySize: 20_000 } }, /archiver.memorySize is 20000 MB/],
    ['an SQS batch above 10', { archiver: { batchSize: 11 } }, /archiver.batchSize is 11; it must be between 1 and 10/],
    ['a concurrency of 1', { archiver: { maxConcurrency: 1 } }, /archiver.maxConcurrency is 1; it must be between 2 and 1,000/],
    ['no file at a time', { archiver: { fileConcurrency: 0 } }, /archiver.fileConcurrency is 0; it must be between 1 and 64/],
    ['a throttle of 0', { throttle: { rateLimit: 0 } }, /throttle.rateLimit is 0 requests per second/],
    ['a wildcard that would open everything', { allowedOutputHosts: ['*'] }, /allowedOutputHosts is "\*"; an entry must be host/],
    [
      'a wildcard over a top-level domain',
      { allowedOutputHosts: ['*.com'] },
      /allowedOutputHosts is "\*\.com".*at least two labels/,
    ],
    [
      'a URL with a path',
      { allowedOutputHosts: ['replicate.delivery/outputs'] },
      /allowedOutputHosts is "replicate\.delivery\/outputs"/,
    ],
    [
      'a prefix climbing out of its folder',
      { archivePrefix: '../../etc' },
      /archivePrefix is "\.\.\/\.\.\/etc"; it must be a plain key prefix/,
    ],
    [
      'a prefix too long for S3 keys',
      { archivePrefix: 'p'.repeat(101) },
      /archivePrefix is 101 bytes long; it must be at most 100 bytes/,
    ],
    ['a path without a slash', { webhookPath: 'webhook' }, /webhookPath is "webhook"; it must start with \//],
    [
      'a webhook URL over plain http to another machine',
      { reconciliation: { webhookUrls: ['http://hooks.example.com/webhook'] } },
      /reconciliation.webhookUrls is "http:\/\/hooks\.example\.com\/webhook"; an entry must be an absolute https URL/,
    ],
    [
      'more webhook URLs with the account scope, which ignores them',
      { reconciliation: { webhookUrls: ['https://hooks.example.com/webhook'], scope: ReconciliationScope.ACCOUNT } },
      /reconciliation.webhookUrls is 1 URL\(s\) with scope account; give it only with ReconciliationScope.WEBHOOK_URL/,
    ],
    [
      'no archival try at all',
      { reconciliation: { maxArchiveAttempts: 0 } },
      /reconciliation.maxArchiveAttempts is 0; it must be an integer between 1 and 1,000/,
    ],
    [
      'a 4xx share no API can reach',
      { alarms: { api4xxPercent: 100 } },
      /alarms.api4xxPercent is 100 percent; it must be between 0 and 99/,
    ],
    [
      'a pending-archival alarm after a week',
      { alarms: { maxPendingArchivalAge: Duration.days(7) } },
      /alarms.maxPendingArchivalAge is 604800 seconds; it must be between 1 minute and 1 day/,
    ],
    [
      'a listing-lag alarm of no time',
      { alarms: { maxListingLag: Duration.seconds(0) } },
      /alarms.maxListingLag is 0 seconds; it must be between 1 minute and 1 day/,
    ],
    [
      'a backlog alarm after outputs expired',
      { alarms: { maxArchiveBacklogAge: Duration.hours(2) } },
      /alarms.maxArchiveBacklogAge is 7200 seconds/,
    ],
  ])('%s', (_name, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});

describe('a custom domain the API cannot serve is refused, naming the prop', () => {
  const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111111111111:certificate/0f3e8c7a';
  /** The domain prop, the rest of it valid: the stack is eu-west-1's, the zone example.com. */
  const domain =
    (options: { domainName?: string; certificateArn?: string; zone?: (stack: Stack) => route53.IHostedZone }) =>
    (stack: Stack): ReplicateWebhooksProps => ({
      domain: {
        domainName: options.domainName ?? 'hooks.example.com',
        certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', options.certificateArn ?? CERTIFICATE_ARN),
        hostedZone: options.zone?.(stack),
      },
    });
  const zoneNamed = (zoneName: string) => (stack: Stack) =>
    route53.HostedZone.fromHostedZoneAttributes(stack, 'Zone', { hostedZoneId: 'Z0123456789ABC', zoneName });

  test.each<[string, string]>([
    ['a wildcard', '*.example.com'],
    ['a single label', 'localhost'],
    ['a label starting with a hyphen', '-hooks.example.com'],
    ['a label ending with a hyphen', 'hooks-.example.com'],
    ['an empty label', 'hooks..example.com'],
    ['a trailing dot', 'hooks.example.com.'],
    ['an underscore', 'replicate_hooks.example.com'],
    ['a label of 64 characters', `${'a'.repeat(64)}.example.com`],
    ['254 characters', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`],
    ['an IP address', '203.0.113.7'],
    ['a URL', 'https://hooks.example.com'],
    ['nothing', ''],
  ])('domainName: %s', (_name, domainName) => {
    expect(() => synth(domain({ domainName }))).toThrow(
      `ReplicateWebhooks: domain.domainName is ${JSON.stringify(domainName)}; it must be a host name such as hooks.example.com`,
    );
  });

  test("a certificate in another region than the stack's", () => {
    expect(() => synth(domain({ certificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/0f3e8c7a' }))).toThrow(
      "ReplicateWebhooks: domain.certificate is in us-east-1 (arn:aws:acm:us-east-1:111111111111:certificate/0f3e8c7a); it must be in the stack's region, eu-west-1",
    );
  });

  test.each([
    ["a private CA's", 'arn:aws:acm-pca:eu-west-1:111111111111:certificate-authority/0f3e8c7a'],
    ["an IAM server certificate's", 'arn:aws:iam::111111111111:server-certificate/hooks'],
    ['one without a region', 'arn:aws:acm::111111111111:certificate/0f3e8c7a'],
    ['not an ARN', 'hooks.example.com'],
  ])('a certificate ARN that is not an ACM certificate: %s', (_name, certificateArn) => {
    expect(() => synth(domain({ certificateArn }))).toThrow(
      `ReplicateWebhooks: domain.certificate is ${JSON.stringify(certificateArn)}; it must be an ACM certificate`,
    );
  });

  test('a zone that does not hold the domain', () => {
    expect(() => synth(domain({ zone: zoneNamed('example.org') }))).toThrow(
      'ReplicateWebhooks: domain.hostedZone is the zone example.org; it must hold domain.domainName (hooks.example.com)',
    );
    // A suffix is not a parent zone.
    expect(() => synth(domain({ zone: zoneNamed('ample.com') }))).toThrow(/domain.hostedZone is the zone ample.com/);
  });

  test('a zone given by its id alone, which names no record', () => {
    expect(() =>
      synth(domain({ zone: (stack) => route53.HostedZone.fromHostedZoneId(stack, 'Zone', 'Z0123456789ABC') })),
    ).toThrow('ReplicateWebhooks: domain.hostedZone is Z0123456789ABC without its name; give the zone with its name');
  });

  test('what cannot be known at synth is left to CloudFormation: a region-agnostic stack, tokens', () => {
    const regionAgnostic = new Stack(new App({ context: TEMPLATE_RULES_AS_ERRORS }), 'Anywhere');
    expect(
      () =>
        new ReplicateWebhooks(
          regionAgnostic,
          'Hooks',
          domain({ certificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/x' })(regionAgnostic),
        ),
    ).not.toThrow();
    const tokens = (stack: Stack): ReplicateWebhooksProps => ({
      domain: {
        domainName: Fn.importValue('WebhookDomainName'),
        certificate: acm.Certificate.fromCertificateArn(stack, 'Certificate', Fn.importValue('WebhookCertificateArn')),
        hostedZone: zoneNamed('example.org')(stack),
      },
    });
    expect(() => synth(tokens)).not.toThrow();
    const defined = (stack: Stack): ReplicateWebhooksProps => ({
      domain: {
        domainName: 'hooks.example.com',
        certificate: new acm.Certificate(stack, 'Certificate', { domainName: 'hooks.example.com' }),
      },
    });
    expect(() => synth(defined)).not.toThrow();
  });

  test('boundary names and zones synthesize cleanly', () => {
    const valid: Array<(stack: Stack) => ReplicateWebhooksProps> = [
      domain({ domainName: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}` }),
      domain({ domainName: 'a.io' }),
      domain({ domainName: 'x-1.Hooks.Example.com', zone: zoneNamed('example.com') }),
      domain({ domainName: 'example.com', zone: zoneNamed('example.com.') }),
      domain({ domainName: 'hooks.eu.example.com', zone: zoneNamed('Example.COM') }),
    ];
    for (const props of valid) {
      expect(() => synth(props)).not.toThrow();
      expect(allWarningsOf(props).filter((warning) => !warning.includes(`[ack: ${NO_RECONCILER}]`))).toEqual([]);
    }
  });
});

describe('legal values that are almost certainly mistakes get a warning', () => {
  test.each<[string, ReplicateWebhooksProps, RegExp]>([
    ['no allowed output host', { allowedOutputHosts: [] }, /allowedOutputHosts is empty: no output file will be archived/],
    ['a key cache of 0', { signingKeyCacheTtl: Duration.seconds(0) }, /every webhook reads the secret from Secrets Manager/],
    ['a plain-http output host', { allowedOutputHosts: ['http://files.internal:8080'] }, /fetched over plain http/],
    ['a tight replay window', { timestampTolerance: Duration.seconds(20) }, /timestampTolerance is 20 s/],
    [
      'an attempt cap the queue reaches in its first round',
      { reconciliation: { maxArchiveAttempts: 3 } },
      /reconciliation.maxArchiveAttempts 3 is below the archive queue's 5 tries per round/,
    ],
    [
      'more files at once than memory',
      { archiver: { fileConcurrency: 32 } },
      /may need about 868 MB, more than archiver.memorySize 256/,
    ],
  ])('%s', (_name, props, message) => {
    expect(warningsOf(props).some((warning) => message.test(warning))).toBe(true);
  });

  test('the defaults synthesize with one warning: without a token, nothing Replicate failed to deliver is recovered', () => {
    expect(allWarningsOf({})).toEqual([
      `No replicateApiToken: nothing can be recovered when Replicate's deliveries fail (it retries only the terminal webhook, for about a minute). Give a secret holding a Replicate API token as replicateApiToken to turn the reconciler on. For high volumes, create predictions with webhook_events_filter: ["completed"], so that the one webhook that matters has the most room. [ack: ${NO_RECONCILER}]`,
    ]);
  });

  test('with a token, no warning at all', () => {
    expect(allWarningsOf((stack) => ({ replicateApiToken: new secretsmanager.Secret(stack, 'Token') }))).toEqual([]);
  });

  test('an app that means to go without a reconciler acknowledges the warning by its id', () => {
    const stack = new Stack(new App({ context: TEMPLATE_RULES_AS_ERRORS }), 'Acknowledged');
    const hooks = new ReplicateWebhooks(stack, 'Hooks');
    CoreAnnotations.of(hooks).acknowledgeWarning(NO_RECONCILER, 'A demo: predictions are watched by hand.');
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });
});

test('every boundary value synthesizes cleanly', () => {
  const boundaries: ReplicateWebhooksProps[] = [
    { timestampTolerance: Duration.seconds(60) },
    { timestampTolerance: Duration.hours(1) },
    { maxBodySize: Size.mebibytes(6) },
    { maxBodySize: Size.kibibytes(1) },
    { maxInlinePayloadSize: Size.kibibytes(256) },
    { maxInlinePayloadSize: Size.bytes(0) },
    { signingKeyCacheTtl: Duration.days(1) },
    { verifier: { timeout: Duration.seconds(30), memorySize: 128, reservedConcurrentExecutions: 1 } },
    { verifier: { reserveConcurrency: false } },
    { archiver: { timeout: Duration.minutes(15), memorySize: 10_240, batchSize: 10, maxConcurrency: 1000, retryAttempts: 0 } },
    { archiver: { timeout: Duration.minutes(1), batchSize: 1, maxConcurrency: 2, fileConcurrency: 1 } },
    { archivePrefix: `${'p'.repeat(99)}/` },
    { archivePrefix: 'team-a/replicate' },
    { alarms: { maxArchiveBacklogAge: Duration.minutes(1) } },
    { allowedOutputHosts: ['replicate.delivery', '*.replicate.delivery', 'files.example.com:8443'] },
    {
      reconciliation: {
        maxArchiveAttempts: 5,
        webhookUrls: ['https://hooks.example.com/webhook', 'http://localhost:3000/webhook'],
      },
    },
    { reconciliation: { maxArchiveAttempts: 1000 } },
    { alarms: { api4xxPercent: 0, maxPendingArchivalAge: Duration.minutes(1), maxListingLag: Duration.days(1) } },
    { alarms: { api4xxPercent: 99, maxPendingArchivalAge: Duration.days(1), maxListingLag: Duration.minutes(1) } },
  ];
  for (const props of boundaries) {
    expect(() => synth(props)).not.toThrow();
    expect(warningsOf(props)).toEqual([]);
  }
});

/**
 * Every prop's accepted range, at both edges, on `validateProps` alone: no construct is built, so
 * this runs in milliseconds (validation.test.ts checks the same errors through a full synth).
 * Found needed by mutation testing (docs/mutation.md): each bound and each message, exactly.
 */
describe('edges', () => {
  const scopeFor = () => new Stack(new App(), 'Validation');

  /** The warnings validation leaves on the scope, by their text. */
  function warningsOf(props: ReplicateWebhooksProps): string[] {
    const scope = scopeFor();
    validateProps(scope, props);
    return scope.node.metadata.filter((entry) => entry.type === 'aws:cdk:warning').map((entry) => String(entry.data));
  }

  const accepts = (props: ReplicateWebhooksProps) => expect(() => validateProps(scopeFor(), props)).not.toThrow();
  const refuses = (props: ReplicateWebhooksProps, message: string) => {
    let thrown: unknown;
    try {
      validateProps(scopeFor(), props);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidPropError);
    expect(thrown).toMatchObject({ name: 'InvalidPropError', message });
  };

  describe('each range, at its edges', () => {
    // [name, props at the lowest accepted, props at the highest, below, above, the refusal's tail]
    test.each<
      [
        string,
        ReplicateWebhooksProps,
        ReplicateWebhooksProps,
        ReplicateWebhooksProps | undefined,
        ReplicateWebhooksProps | undefined,
        string,
        string | undefined,
      ]
    >([
      [
        'timestampTolerance',
        { timestampTolerance: Duration.seconds(10) },
        { timestampTolerance: Duration.seconds(3600) },
        { timestampTolerance: Duration.seconds(9) },
        { timestampTolerance: Duration.seconds(3601) },
        'timestampTolerance is 9 seconds; it must be between 10 seconds and 1 hour: a larger window lets an old request be replayed for longer.',
        'timestampTolerance is 3601 seconds',
      ],
      [
        'maxBodySize',
        { maxBodySize: Size.bytes(1024) },
        { maxBodySize: Size.mebibytes(6) },
        { maxBodySize: Size.bytes(1023) },
        { maxBodySize: Size.bytes(6 * 1024 * 1024 + 1) },
        "maxBodySize is 1023 bytes; it must be between 1 KiB and 6 MiB, Lambda's request limit.",
        'maxBodySize is 6291457 bytes',
      ],
      [
        'maxInlinePayloadSize',
        { maxInlinePayloadSize: Size.bytes(0) },
        { maxInlinePayloadSize: Size.kibibytes(256) },
        undefined,
        { maxInlinePayloadSize: Size.bytes(256 * 1024 + 1) },
        "maxInlinePayloadSize is 262145 bytes; it must be at most 256 KiB, so that the item stays under DynamoDB's 400 KB with the rest of the record.",
        undefined,
      ],
      [
        'signingKeyCacheTtl',
        { signingKeyCacheTtl: Duration.seconds(0) },
        { signingKeyCacheTtl: Duration.seconds(86_400) },
        undefined,
        { signingKeyCacheTtl: Duration.seconds(86_401) },
        'signingKeyCacheTtl is 86401 seconds; it must be at most a day.',
        undefined,
      ],
      [
        'throttle.rateLimit',
        { throttle: { rateLimit: 1 } },
        { throttle: { rateLimit: 10_000 } },
        { throttle: { rateLimit: 0 } },
        { throttle: { rateLimit: 10_001 } },
        "throttle.rateLimit is 0 requests per second; it must be between 1 and 10,000 (the account's default API Gateway quota).",
        'throttle.rateLimit is 10001 requests per second',
      ],
      [
        'throttle.burstLimit',
        { throttle: { burstLimit: 1 } },
        { throttle: { burstLimit: 5_000 } },
        { throttle: { burstLimit: 0 } },
        { throttle: { burstLimit: 5_001 } },
        "throttle.burstLimit is 0 requests; it must be between 1 and 5,000 (the account's default API Gateway burst).",
        'throttle.burstLimit is 5001 requests',
      ],
      [
        'maxOutputFileSize',
        { maxOutputFileSize: Size.bytes(1) },
        { maxOutputFileSize: Size.tebibytes(5) },
        { maxOutputFileSize: Size.bytes(0) },
        { maxOutputFileSize: Size.bytes(5 * 1024 ** 4 + 1) },
        'maxOutputFileSize is 0 bytes; it must be between 1 byte and 5 TiB, the largest S3 object.',
        'maxOutputFileSize is 5497558138881 bytes',
      ],
      [
        'maxTrainingOutputFileSize',
        { maxTrainingOutputFileSize: Size.bytes(1) },
        { maxTrainingOutputFileSize: Size.tebibytes(5) },
        { maxTrainingOutputFileSize: Size.bytes(0) },
        { maxTrainingOutputFileSize: Size.bytes(5 * 1024 ** 4 + 1) },
        'maxTrainingOutputFileSize is 0 bytes; it must be between 1 byte and 5 TiB, the largest S3 object.',
        'maxTrainingOutputFileSize is 5497558138881 bytes',
      ],
      [
        'verifier.memorySize',
        { verifier: { memorySize: 128 } },
        { verifier: { memorySize: 10_240 } },
        { verifier: { memorySize: 127 } },
        { verifier: { memorySize: 10_241 } },
        'verifier.memorySize is 127 MB; it must be between 128 and 10,240 MB.',
        'verifier.memorySize is 10241 MB',
      ],
      [
        'verifier.timeout',
        { verifier: { timeout: Duration.seconds(1) } },
        { verifier: { timeout: Duration.seconds(30) } },
        { verifier: { timeout: Duration.millis(0) } },
        { verifier: { timeout: Duration.seconds(31) } },
        'verifier.timeout is 0 seconds; it must be between 1 and 30 seconds: API Gateway gives up on the request after 30.',
        'verifier.timeout is 31 seconds',
      ],
      [
        'verifier.reservedConcurrentExecutions',
        { verifier: { reservedConcurrentExecutions: 1 } },
        { verifier: { reservedConcurrentExecutions: 10_000 } },
        { verifier: { reservedConcurrentExecutions: 0 } },
        { verifier: { reservedConcurrentExecutions: 10_001 } },
        'verifier.reservedConcurrentExecutions is 0; it must be at least 1 (reserveConcurrency: false for no reservation; 0 would stop the verifier).',
        'verifier.reservedConcurrentExecutions is 10001; it must be at least 1',
      ],
      [
        'archiver.memorySize',
        { archiver: { memorySize: 128 } },
        { archiver: { memorySize: 10_240 } },
        { archiver: { memorySize: 127 } },
        { archiver: { memorySize: 10_241 } },
        'archiver.memorySize is 127 MB; it must be between 128 and 10,240 MB.',
        'archiver.memorySize is 10241 MB',
      ],
      [
        'archiver.timeout',
        { archiver: { timeout: Duration.seconds(60) } },
        { archiver: { timeout: Duration.seconds(900) } },
        { archiver: { timeout: Duration.seconds(59) } },
        { archiver: { timeout: Duration.seconds(901) } },
        "archiver.timeout is 59 seconds; it must be between 1 and 15 minutes (Lambda's maximum).",
        'archiver.timeout is 901 seconds',
      ],
      [
        'archiver.batchSize',
        { archiver: { batchSize: 1 } },
        { archiver: { batchSize: 10 } },
        { archiver: { batchSize: 0 } },
        { archiver: { batchSize: 11 } },
        'archiver.batchSize is 0; it must be between 1 and 10 (more needs a batching window, which delays archival).',
        'archiver.batchSize is 11',
      ],
      [
        'archiver.maxConcurrency',
        { archiver: { maxConcurrency: 2 } },
        { archiver: { maxConcurrency: 1000 } },
        { archiver: { maxConcurrency: 1 } },
        { archiver: { maxConcurrency: 1001 } },
        "archiver.maxConcurrency is 1; it must be between 2 and 1,000 (Lambda's SQS event source).",
        'archiver.maxConcurrency is 1001',
      ],
      [
        'archiver.retryAttempts',
        { archiver: { retryAttempts: 0 } },
        { archiver: { retryAttempts: 999 } },
        { archiver: { retryAttempts: -1 } },
        { archiver: { retryAttempts: 1000 } },
        "archiver.retryAttempts is -1; it must be between 0 and 999 (SQS's maxReceiveCount is at most 1,000).",
        'archiver.retryAttempts is 1000',
      ],
      [
        'archiver.fileConcurrency',
        { archiver: { fileConcurrency: 1 } },
        { archiver: { fileConcurrency: 64, memorySize: 10_240 } },
        { archiver: { fileConcurrency: 0 } },
        { archiver: { fileConcurrency: 65 } },
        'archiver.fileConcurrency is 0; it must be between 1 and 64.',
        'archiver.fileConcurrency is 65',
      ],
      [
        'alarms.rejectedSignaturesPerFiveMinutes',
        { alarms: { rejectedSignaturesPerFiveMinutes: 0 } },
        { alarms: { rejectedSignaturesPerFiveMinutes: Number.MAX_SAFE_INTEGER } },
        { alarms: { rejectedSignaturesPerFiveMinutes: -1 } },
        undefined,
        'alarms.rejectedSignaturesPerFiveMinutes is -1; it must be at least 0.',
        undefined,
      ],
      [
        'alarms.api5xxPerFiveMinutes',
        { alarms: { api5xxPerFiveMinutes: 1 } },
        { alarms: { api5xxPerFiveMinutes: Number.MAX_SAFE_INTEGER } },
        { alarms: { api5xxPerFiveMinutes: 0 } },
        undefined,
        'alarms.api5xxPerFiveMinutes is 0; it must be at least 1.',
        undefined,
      ],
      [
        'alarms.maxArchiveBacklogAge',
        { alarms: { maxArchiveBacklogAge: Duration.seconds(60) } },
        { alarms: { maxArchiveBacklogAge: Duration.seconds(3600) } },
        { alarms: { maxArchiveBacklogAge: Duration.seconds(59) } },
        { alarms: { maxArchiveBacklogAge: Duration.seconds(3601) } },
        'alarms.maxArchiveBacklogAge is 59 seconds; it must be between 1 minute and 1 hour: outputs expire about an hour after a prediction starts.',
        'alarms.maxArchiveBacklogAge is 3601 seconds',
      ],
      [
        'alarms.api4xxPercent',
        { alarms: { api4xxPercent: 0 } },
        { alarms: { api4xxPercent: 99 } },
        { alarms: { api4xxPercent: -1 } },
        { alarms: { api4xxPercent: 99.5 } },
        'alarms.api4xxPercent is -1 percent; it must be between 0 and 99: the alarm fires above it, and no more than every request can be answered 4xx.',
        'alarms.api4xxPercent is 99.5 percent',
      ],
      [
        'alarms.maxPendingArchivalAge',
        { alarms: { maxPendingArchivalAge: Duration.seconds(60) } },
        { alarms: { maxPendingArchivalAge: Duration.days(1) } },
        { alarms: { maxPendingArchivalAge: Duration.seconds(59) } },
        { alarms: { maxPendingArchivalAge: Duration.seconds(86_401) } },
        'alarms.maxPendingArchivalAge is 59 seconds; it must be between 1 minute and 1 day.',
        'alarms.maxPendingArchivalAge is 86401 seconds',
      ],
      [
        'alarms.maxListingLag',
        { alarms: { maxListingLag: Duration.seconds(60) } },
        { alarms: { maxListingLag: Duration.days(1) } },
        { alarms: { maxListingLag: Duration.seconds(59) } },
        { alarms: { maxListingLag: Duration.seconds(86_401) } },
        'alarms.maxListingLag is 59 seconds; it must be between 1 minute and 1 day.',
        'alarms.maxListingLag is 86401 seconds',
      ],
      [
        'reconciliation.maxArchiveAttempts',
        { reconciliation: { maxArchiveAttempts: 1 } },
        { reconciliation: { maxArchiveAttempts: 1000 } },
        { reconciliation: { maxArchiveAttempts: 0 } },
        { reconciliation: { maxArchiveAttempts: 1001 } },
        'reconciliation.maxArchiveAttempts is 0; it must be an integer between 1 and 1,000.',
        'reconciliation.maxArchiveAttempts is 1001',
      ],
    ])('%s', (_prop, lowest, highest, below, above, belowMessage, aboveMessage) => {
      accepts(lowest);
      accepts(highest);
      if (below) refuses(below, `ReplicateWebhooks: ${belowMessage}`);
      if (above) {
        expect(() => validateProps(scopeFor(), above)).toThrow(`ReplicateWebhooks: ${aboveMessage ?? belowMessage}`);
      }
      if (!below) refuses(above!, `ReplicateWebhooks: ${belowMessage}`);
    });

    test('a value that is not a number is refused, whatever the range', () => {
      refuses(
        { throttle: { rateLimit: Number.NaN } },
        expect.stringContaining('throttle.rateLimit is NaN requests per second') as never,
      );
      refuses(
        { alarms: { api5xxPerFiveMinutes: Number.POSITIVE_INFINITY } },
        expect.stringContaining('api5xxPerFiveMinutes is Infinity;') as never,
      );
    });

    test('a count that is not whole is refused', () => {
      refuses(
        { reconciliation: { maxArchiveAttempts: 2.5 } },
        'ReplicateWebhooks: reconciliation.maxArchiveAttempts is 2.5; it must be an integer between 1 and 1,000.',
      );
      refuses(
        { reconciliation: { maxArchiveAttempts: Number.NaN } },
        'ReplicateWebhooks: reconciliation.maxArchiveAttempts is NaN; it must be an integer between 1 and 1,000.',
      );
    });

    test('values only known at deploy time are left to the service', () => {
      accepts({ throttle: { rateLimit: Token.asNumber({ Ref: 'Rate' }) } });
      accepts({ archivePrefix: Lazy.string({ produce: () => '../../anything' }) });
      accepts({ allowedOutputHosts: [Lazy.string({ produce: () => '*' })] });
      accepts({ reconciliation: { maxArchiveAttempts: Token.asNumber({ Ref: 'Attempts' }) } });
      accepts({ reconciliation: { webhookUrls: [`https://${Token.asString({ Ref: 'Domain' })}/webhook`] } });
    });

    test('a reservation together with reserveConcurrency: false is refused', () => {
      refuses(
        { verifier: { reservedConcurrentExecutions: 5, reserveConcurrency: false } },
        'ReplicateWebhooks: verifier.reservedConcurrentExecutions is 5; give it or reserveConcurrency: false (no reservation), not both.',
      );
      accepts({ verifier: { reservedConcurrentExecutions: 5, reserveConcurrency: true } });
      accepts({ verifier: { reserveConcurrency: false } });
    });
  });

  describe('reconciliation.webhookUrls', () => {
    const refusal = (url: string) =>
      `ReplicateWebhooks: reconciliation.webhookUrls is ${JSON.stringify(url)}; an entry must be an absolute https URL (http only for localhost, 127.0.0.1 or [::1]), as given to Replicate as \`webhook\`.`;

    test.each([
      'https://hooks.example.com/replicate',
      'https://hooks.example.com:8443/webhook/',
      'http://localhost:3000/webhook',
      'http://127.0.0.1:3000/webhook',
      'http://127.1.2.3/webhook',
      'http://[::1]:3000/webhook',
      'HTTP://LOCALHOST/webhook',
    ])('%j is accepted', (url) => accepts({ reconciliation: { webhookUrls: [url] } }));

    test.each([
      '',
      '/webhook',
      'hooks.example.com/webhook',
      'http://hooks.example.com/webhook',
      'http://localhost.example.com/webhook',
      'http://127.0.0.1.example.com/webhook',
      'http://10.0.0.1/webhook',
      'ftp://hooks.example.com/webhook',
      'https://',
    ])('%j is refused', (url) => refuses({ reconciliation: { webhookUrls: [url] } }, refusal(url)));

    test('an entry with a comma is refused: the list travels comma-separated', () => {
      refuses(
        { reconciliation: { webhookUrls: ['https://a.example.com/webhook,https://b.example.com/webhook'] } },
        'ReplicateWebhooks: reconciliation.webhookUrls is "https://a.example.com/webhook,https://b.example.com/webhook"; an entry must hold no comma: the list reaches the reconciler comma-separated.',
      );
    });

    test('at most 20 URLs', () => {
      const urls = (count: number) => Array.from({ length: count }, (_, index) => `https://h${index}.example.com/webhook`);
      accepts({ reconciliation: { webhookUrls: urls(20) } });
      refuses(
        { reconciliation: { webhookUrls: urls(21) } },
        'ReplicateWebhooks: reconciliation.webhookUrls is 21 URLs; it must hold at most 20.',
      );
    });

    test('at most 2,048 characters together, commas included: one environment variable of a 4 KB budget', () => {
      // 20 URLs of 101 characters and 19 commas: 2,039; one more character each is 2,059.
      const urls = (length: number) =>
        Array.from({ length: 20 }, (_, index) => {
          const head = `https://h${String(index).padStart(2, '0')}.example.com/`;
          return head + 'p'.repeat(length - head.length);
        });
      accepts({ reconciliation: { webhookUrls: urls(101) } });
      refuses(
        { reconciliation: { webhookUrls: urls(102) } },
        'ReplicateWebhooks: reconciliation.webhookUrls is 2059 characters long; it must be at most 2048 characters together: the list travels in one environment variable, and Lambda allows 4 KB for all of them.',
      );
    });

    test('only with the webhook-URL scope', () => {
      refuses(
        { reconciliation: { webhookUrls: ['https://hooks.example.com/webhook'], scope: ReconciliationScope.ACCOUNT } },
        'ReplicateWebhooks: reconciliation.webhookUrls is 1 URL(s) with scope account; give it only with ReconciliationScope.WEBHOOK_URL: the other scopes do not look at webhook URLs.',
      );
      accepts({ reconciliation: { webhookUrls: [], scope: ReconciliationScope.ACCOUNT } });
      accepts({ reconciliation: { webhookUrls: ['https://hooks.example.com/webhook'], scope: ReconciliationScope.WEBHOOK_URL } });
    });
  });

  describe('text props', () => {
    test.each(['/', '/webhooks/replicate', '/a.b~c_d-e/f'])('webhookPath %j is accepted', (webhookPath) =>
      accepts({ webhookPath }),
    );

    test.each(['', 'webhook', 'hooks/replicate', '/a b', '/a?b', '/é', '//x\n'])('webhookPath %j is refused', (webhookPath) => {
      refuses(
        { webhookPath },
        `ReplicateWebhooks: webhookPath is ${JSON.stringify(webhookPath)}; it must start with / and hold only URL path characters.`,
      );
    });

    test.each(['ReplicateWebhooks', 'a', 'my/app:prod', `n${'s'.repeat(254)}`])(
      'metricsNamespace %j is accepted',
      (metricsNamespace) => accepts({ metricsNamespace }),
    );

    test.each(['', ':leading', 'with space', `n${'s'.repeat(255)}`, 'tab\there'])(
      'metricsNamespace %j is refused',
      (metricsNamespace) => {
        refuses(
          { metricsNamespace },
          `ReplicateWebhooks: metricsNamespace is ${JSON.stringify(metricsNamespace)}; a CloudWatch namespace is 1–255 characters, no spaces, not starting with ":".`,
        );
      },
    );

    test.each(['', 'team-a', 'team-a/replicate/', '...dots-in-a-name', 'a..b/c', 'é'.repeat(50)])(
      'archivePrefix %j is accepted',
      (archivePrefix) => accepts({ archivePrefix }),
    );

    test.each(['.', '..', 'a/./b', 'a/../b', '../x', 'x/..', 'tab\t', 'nul\u0000', 'del\u007f', 'line\nfeed'])(
      'archivePrefix %j is refused as not plain',
      (archivePrefix) => {
        refuses(
          { archivePrefix },
          `ReplicateWebhooks: archivePrefix is ${JSON.stringify(archivePrefix)}; it must be a plain key prefix: no "." or ".." segments, no control characters.`,
        );
      },
    );

    test('archivePrefix is bounded in bytes, not characters', () => {
      accepts({ archivePrefix: 'p'.repeat(100) });
      refuses(
        { archivePrefix: 'é'.repeat(51) },
        "ReplicateWebhooks: archivePrefix is 102 bytes long; it must be at most 100 bytes, so that every archive key stays under S3's 1,024.",
      );
    });

    test('allowedOutputHosts: a malformed entry is refused with the parser’s reason', () => {
      refuses(
        { allowedOutputHosts: ['replicate.delivery', 'bad host'] },
        `ReplicateWebhooks: allowedOutputHosts is "bad host"; an entry must be host, host:port, *.domain or http://host:port (Malformed allowed host 'bad host': expected [http://]host[:port] or [http://]*.domain[:port], with no path, query or userinfo).`,
      );
    });
  });

  describe('warnings', () => {
    test('none for the defaults', () => {
      expect(warningsOf({})).toEqual([]);
    });

    test('a replay window under a minute, not at a minute', () => {
      expect(warningsOf({ timestampTolerance: Duration.seconds(59) })).toEqual([
        'timestampTolerance is 59 s: webhooks from a sender whose clock is off by more are refused (401). [ack: replicate-webhooks:timestampTolerance]',
      ]);
      expect(warningsOf({ timestampTolerance: Duration.seconds(60) })).toEqual([]);
    });

    test('a key cache of 0, not of 1 second', () => {
      expect(warningsOf({ signingKeyCacheTtl: Duration.seconds(0) })).toEqual([
        'signingKeyCacheTtl is 0: every webhook reads the secret from Secrets Manager (latency, and $0.05 per 10,000 reads). [ack: replicate-webhooks:signingKeyCacheTtl]',
      ]);
      expect(warningsOf({ signingKeyCacheTtl: Duration.seconds(1) })).toEqual([]);
    });

    test('an empty allow-list; an http entry, however it is written', () => {
      expect(warningsOf({ allowedOutputHosts: [] })).toEqual([
        'allowedOutputHosts is empty: no output file will be archived; each is recorded as host_not_allowed. [ack: replicate-webhooks:allowedOutputHosts]',
      ]);
      expect(warningsOf({ allowedOutputHosts: [' HTTP://files.internal:8080 '] })).toEqual([
        'allowedOutputHosts has  HTTP://files.internal:8080 : outputs from it are fetched over plain http, which anyone on the path can read or change. [ack: replicate-webhooks:allowedOutputHosts.http]',
      ]);
      expect(warningsOf({ allowedOutputHosts: ['files.internal:8080'] })).toEqual([]);
    });

    test('more files at once than the memory holds: against the default 256 MB, and a given size', () => {
      // 100 MB, then 24 MB per file in flight.
      expect(warningsOf({ archiver: { fileConcurrency: 6 } })).toEqual([]);
      expect(warningsOf({ archiver: { fileConcurrency: 7 } })).toEqual([
        'archiver.fileConcurrency 7 may need about 268 MB, more than archiver.memorySize 256: large files could run the archiver out of memory. [ack: replicate-webhooks:archiver.memory]',
      ]);
      expect(warningsOf({ archiver: { fileConcurrency: 17, memorySize: 512 } })).toEqual([]);
      expect(warningsOf({ archiver: { fileConcurrency: 38, memorySize: 1_012 } })).toEqual([]);
      expect(warningsOf({ archiver: { fileConcurrency: 38, memorySize: 1_011 } })).toHaveLength(1);
    });

    describe('a listing-lag threshold under two reconcile intervals', () => {
      const token = () => ({ replicateApiToken: {} as never });
      const warning = (lag: number, twice: number) =>
        `alarms.maxListingLag is ${lag} s, less than two reconcile intervals (${twice} s): the reconcilerListingLag alarm can fire while the reconciler is healthy. Raise maxListingLag to at least ${twice} s. [ack: replicate-webhooks:alarms.maxListingLag]`;

      test('given, or the default 30 minutes against a longer interval', () => {
        expect(warningsOf({ ...token(), alarms: { maxListingLag: Duration.minutes(10) } })).toEqual([]);
        expect(warningsOf({ ...token(), alarms: { maxListingLag: Duration.seconds(599) } })).toEqual([warning(599, 600)]);
        expect(warningsOf({ ...token(), reconciliation: { interval: Duration.minutes(15) } })).toEqual([]);
        expect(warningsOf({ ...token(), reconciliation: { interval: Duration.minutes(16) } })).toEqual([warning(1800, 1920)]);
      });

      test('only where that alarm exists: a reconciler, alarms on, that one not disabled', () => {
        const short = { alarms: { maxListingLag: Duration.minutes(1) } };
        expect(warningsOf(short)).toEqual([]);
        expect(warningsOf({ ...token(), ...short, reconciliation: { enabled: false } })).toEqual([]);
        expect(warningsOf({ ...token(), alarms: { ...short.alarms, enabled: false } })).toEqual([]);
        expect(warningsOf({ ...token(), alarms: { ...short.alarms, disable: [AlarmName.RECONCILER_LISTING_LAG] } })).toEqual([]);
        expect(warningsOf({ ...token(), alarms: { ...short.alarms, disable: [AlarmName.API_4XX] } })).toHaveLength(1);
      });
    });

    test("an attempt cap below the queue's tries of one round: against the default 5 tries, and given retries", () => {
      expect(warningsOf({ reconciliation: { maxArchiveAttempts: 5 } })).toEqual([]);
      expect(warningsOf({ reconciliation: { maxArchiveAttempts: 4 } })).toEqual([
        "reconciliation.maxArchiveAttempts 4 is below the archive queue's 5 tries per round (archiver.retryAttempts + 1): the reconciler marks a stuck prediction failed before it has had one full round, and never sends it to the queue again. [ack: replicate-webhooks:reconciliation.maxArchiveAttempts]",
      ]);
      expect(warningsOf({ reconciliation: { maxArchiveAttempts: 1 }, archiver: { retryAttempts: 0 } })).toEqual([]);
      expect(warningsOf({ reconciliation: { maxArchiveAttempts: 9 }, archiver: { retryAttempts: 9 } })).toHaveLength(1);
    });
  });
});
