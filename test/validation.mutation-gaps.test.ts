/**
 * Every prop's accepted range, at both edges, on `validateProps` alone: no construct is built, so
 * this runs in milliseconds (validation.test.ts checks the same errors through a full synth).
 * Found needed by mutation testing (docs/mutation.md): each bound and each message, exactly.
 */
import { App, Duration, Lazy, Size, Stack, Token } from 'aws-cdk-lib';
import { AlarmName, ReconciliationScope, type ReplicateWebhooksProps } from '../lib';
import { InvalidPropError, validateProps } from '../lib/validation';

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

  test('more files at once than the memory holds: against the default 512 MB, and a given size', () => {
    // 100 MB, then 24 MB per file in flight.
    expect(warningsOf({ archiver: { fileConcurrency: 17 } })).toEqual([]);
    expect(warningsOf({ archiver: { fileConcurrency: 18 } })).toEqual([
      'archiver.fileConcurrency 18 may need about 532 MB, more than archiver.memorySize 512: large files could run the archiver out of memory. [ack: replicate-webhooks:archiver.memory]',
    ]);
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
