/** Misconfiguration fails at synth: each bad value → the exact error or warning; each boundary → clean. */
import { App, Annotations as CoreAnnotations, Duration, Fn, Size, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { ReconciliationScope, ReplicateWebhooks, type ReplicateWebhooksProps } from '../../lib';
import { TEMPLATE_RULES_AS_ERRORS } from '../support/cdk';

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
      /may need about 868 MB, more than archiver.memorySize 512/,
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
