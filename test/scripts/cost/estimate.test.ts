/**
 * The cost estimate is checked against facts it does not compute itself: its printed Markdown is
 * read back (rows, totals, settings), each row's worked arithmetic is evaluated by a small reader
 * of its own, the settings are compared with the synthesized template read here directly, and
 * the README quotes what the script prints.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, Size, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { readArchiverConfig } from '../../../lambda/archiver/config';
import { AlarmName, ReplicateWebhooks, type ReplicateWebhooksProps } from '../../../lib';
import { FORWARDER_LOG_LINE, LAMBDA_SYSTEM_RECORDS, REASON_METRIC_SERIES } from '../../../scripts/cost/assumptions';
import { ALARMED_SERIES, METRIC } from '../../../lambda/shared/metrics';
import { estimate, type CostEstimate } from '../../../scripts/cost/estimate';
import { reconcilerAddition } from '../../../scripts/cost/markdown';
import { seedPerMillionWebhooks } from '../../../scripts/cost/comparison';
import MEASURED_DURATIONS from '../../../docs/measured-durations.json';
import MEASURED from '../../../docs/measured-units.json';

const ROOT = join(__dirname, '..', '..', '..');

function synthesize(props?: ReplicateWebhooksProps, options: { token?: boolean } = {}): Template {
  const stack = new Stack(new App(), 'Cost');
  const token = options.token
    ? { replicateApiToken: secretsmanager.Secret.fromSecretNameV2(stack, 'Token', 'replicate/api-token') }
    : {};
  new ReplicateWebhooks(stack, 'Hooks', { ...token, ...props });
  return Template.fromStack(stack);
}

// ── Reading the worked arithmetic ─────────────────────────────────────────────────────────────

type Token = number | '(' | ')' | '×' | '÷' | '+';

const parseNumber = (text: string) => Number(text.replace(/,/g, ''));

/**
 * Numbers may carry units and words (`4 KB item`, `12/h`, `2 WRU/KB`), which count for nothing;
 * `%` divides by 100; a price may be per million (`$0.40/M`) or per so many (`$0.05/10,000`).
 */
function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let rest = expression;
  while (rest.length > 0) {
    let match: RegExpExecArray | null;
    if ((match = /^\s+/.exec(rest))) {
      // spacing
    } else if ((match = /^[()×÷+]/.exec(rest))) {
      tokens.push(match[0] as Token);
    } else if ((match = /^\$(\d[\d,]*(?:\.\d+)?)(?:\/(M|\d[\d,]*)(?![\w-]))?/.exec(rest))) {
      const per = match[2] === undefined ? 1 : match[2] === 'M' ? 1e6 : parseNumber(match[2]);
      tokens.push(parseNumber(match[1]) / per);
    } else if ((match = /^(\d[\d,]*(?:\.\d+)?)(%?)/.exec(rest))) {
      tokens.push(parseNumber(match[1]) / (match[2] ? 100 : 1));
    } else if ((match = /^\/?[A-Za-z][A-Za-z-]*(?:\/[A-Za-z][A-Za-z-]*)?/.exec(rest))) {
      // a unit or a word
    } else {
      throw new Error(`cannot read "${rest}" in "${expression}"`);
    }
    rest = rest.slice(match[0].length);
  }
  return tokens;
}

function evaluate(expression: string): number {
  const tokens = tokenize(expression);
  let position = 0;
  const sum = (): number => {
    let value = product();
    while (tokens[position] === '+') {
      position += 1;
      value += product();
    }
    return value;
  };
  const product = (): number => {
    let value = operand();
    while (tokens[position] === '×' || tokens[position] === '÷') {
      const operator = tokens[position++];
      const right = operand();
      value = operator === '×' ? value * right : value / right;
    }
    return value;
  };
  const operand = (): number => {
    const token = tokens[position++];
    if (typeof token === 'number') return token;
    if (token !== '(') throw new Error(`unexpected ${String(token)} in "${expression}"`);
    const value = sum();
    if (tokens[position++] !== ')') throw new Error(`unbalanced parentheses in "${expression}"`);
    return value;
  };
  const value = sum();
  if (position !== tokens.length) throw new Error(`left over after ${value} in "${expression}"`);
  return value;
}

/**
 * Each step `a = b = $c` must hold: the figure that starts each side is the previous side's value,
 * as far as the printed digits go (and the inputs, themselves rounded for print, allow).
 */
function arithmeticProblems(arithmetic: string): string[] {
  const sides = arithmetic.split(' = ');
  const problems: string[] = [];
  for (let index = 0; index + 1 < sides.length; index += 1) {
    const value = evaluate(sides[index]);
    const printed = /^\$?(\d[\d,]*(?:\.(\d+))?)/.exec(sides[index + 1]);
    if (!printed) {
      problems.push(`"${sides[index + 1]}" does not start with a figure`);
      continue;
    }
    const tolerance = Math.max(0.5 * 10 ** -(printed[2]?.length ?? 0), 1e-5 * Math.abs(value)) + 1e-9;
    if (Math.abs(parseNumber(printed[1]) - value) > tolerance) {
      problems.push(`"${sides[index]}" is ${value}, not ${printed[1]}`);
    }
  }
  return problems;
}

// ── Reading the printed Markdown ──────────────────────────────────────────────────────────────

interface PrintedRow {
  readonly service: string;
  readonly item: string;
  readonly arithmetic: string;
  readonly cost: string;
  readonly cents: number;
}

interface PrintedTable {
  readonly rows: PrintedRow[];
  readonly totalLabel: string;
  readonly totalCents: number;
}

const toCents = (money: string) => {
  expect(money).toMatch(/^\$[\d,]+\.\d\d$/);
  return Math.round(parseNumber(money.slice(1)) * 100);
};

function readTables(markdown: string): Map<string, PrintedTable> {
  const tables = new Map<string, PrintedTable>();
  let heading = '';
  for (const line of markdown.split('\n')) {
    const bold = /^\*\*(.+)\*\*$/.exec(line);
    if (bold) heading = bold[1];
    // The comparison at three volumes is read by its own test.
    if (heading.startsWith('A month at')) continue;
    if (!line.startsWith('| ') || line.startsWith('| Service ') || line.startsWith('| ---')) continue;
    const cells = line
      .replace(/^\|\s*/, '')
      .replace(/\s*\|$/, '')
      .split(/\s*\|\s*/);
    const table = tables.get(heading) ?? { rows: [], totalLabel: '', totalCents: NaN };
    const total = /^\*\*(.+)\*\*$/.exec(cells[0]);
    if (total) {
      tables.set(heading, { ...table, totalLabel: total[1], totalCents: toCents(cells[3].replace(/\*\*/g, '')) });
    } else {
      expect(cells[2]).toMatch(/^`.+`$/);
      table.rows.push({
        service: cells[0],
        item: cells[1],
        arithmetic: cells[2].slice(1, -1),
        cost: cells[3],
        cents: toCents(cells[3]),
      });
      tables.set(heading, table);
    }
  }
  return tables;
}

/** The bullet lines under a bold heading. */
function bullets(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`**${heading}**`);
  expect(start).toBeGreaterThanOrEqual(0);
  const lines = markdown.slice(start).split('\n').slice(2);
  return lines.slice(0, lines.indexOf('')).map((line) => line.replace(/^- /, ''));
}

// ── Reading the template, independently of the script ────────────────────────────────────────

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, any>;
}

const target = (value: unknown): string | undefined =>
  (value as { Ref?: string })?.Ref ?? (value as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt']?.[0];

function templateFacts(template: Template) {
  const resources = template.toJSON().Resources as Record<string, CfnResource>;
  const all = (type: string) => Object.values(resources).filter((resource) => resource.Type === type);
  const [integration] = all('AWS::ApiGatewayV2::Integration');
  const eventSources = all('AWS::Lambda::EventSourceMapping');
  const streamSource = eventSources.find((mapping) => mapping.Properties?.EventSourceArn?.['Fn::GetAtt']?.[1] === 'StreamArn')!;
  const eventSource = eventSources.find((mapping) => mapping !== streamSource)!;
  const verifier = resources[target(integration.Properties?.IntegrationUri)!];
  const forwarder = resources[target(streamSource.Properties?.FunctionName)!];
  const archiver = resources[target(eventSource.Properties?.FunctionName)!];
  const archiveQueue = resources[target(eventSource.Properties?.EventSourceArn)!];
  const variables = (fn: CfnResource) => fn.Properties?.Environment?.Variables as Record<string, unknown>;
  const asEnvironment = (fn: CfnResource) =>
    Object.fromEntries(Object.entries(variables(fn)).map(([name, value]) => [name, typeof value === 'string' ? value : 'token']));
  const alarms = all('AWS::CloudWatch::Alarm').map((alarm) => alarm.Properties ?? {});
  const retentions = all('AWS::Logs::LogGroup').map((group) => group.Properties?.RetentionInDays as number | undefined);
  return {
    verifierMemory: verifier.Properties?.MemorySize as number,
    verifierArchitecture: verifier.Properties?.Architectures?.[0] as string,
    forwarderMemory: forwarder.Properties?.MemorySize as number,
    forwarderArchitecture: forwarder.Properties?.Architectures?.[0] as string,
    archiverMemory: archiver.Properties?.MemorySize as number,
    archiverArchitecture: archiver.Properties?.Architectures?.[0] as string,
    // The archiver's own reader of its settings, with its own defaults.
    partSizeMib: readArchiverConfig(asEnvironment(archiver)).partSizeBytes / (1024 * 1024),
    apiProtocol: all('AWS::ApiGatewayV2::Api')[0].Properties?.ProtocolType as string,
    billingMode: all('AWS::DynamoDB::GlobalTable')[0].Properties?.BillingMode as string,
    streamBatchSize: streamSource.Properties?.BatchSize as number,
    maxReceiveCount: archiveQueue.Properties?.RedrivePolicy?.maxReceiveCount as number,
    eventSourceBatchSize: eventSource.Properties?.BatchSize as number,
    maxConcurrency: eventSource.Properties?.ScalingConfig?.MaximumConcurrency as number | undefined,
    queues: all('AWS::SQS::Queue').length,
    logGroups: retentions.length,
    retentionDays: retentions.includes(undefined) ? undefined : Math.max(...(retentions as number[])),
    kmsKeys: all('AWS::KMS::Key').length,
    secrets: all('AWS::SecretsManager::Secret').length,
    alarms: alarms.length,
    alarmMetrics: alarms.reduce(
      (sum, alarm) =>
        sum + (alarm.MetricName ? 1 : alarm.Metrics.filter((metric: { MetricStat?: unknown }) => metric.MetricStat).length),
      0,
    ),
    dashboards: all('AWS::CloudWatch::Dashboard').length,
    keyCacheTtlSeconds: Number(variables(verifier).KEY_CACHE_TTL_SECONDS),
    maxInlinePayloadBytes: Number(variables(verifier).MAX_INLINE_PAYLOAD_BYTES),
    predictionDocument: variables(archiver).PREDICTION_DOCUMENT === 'true',
  };
}

const withSeparators = (value: number) => value.toLocaleString('en-US');

// ── The checks ────────────────────────────────────────────────────────────────────────────────

describe('cost estimate', () => {
  const defaultTemplate = synthesize();
  const defaults = estimate(defaultTemplate);
  const facts = templateFacts(defaultTemplate);
  const arithmeticOf = (result: CostEstimate, id: string) => {
    const row = result.rows.find((candidate) => candidate.id === id);
    if (!row) throw new Error(`no row ${id}`);
    return row.arithmetic;
  };
  const costOf = (result: CostEstimate, id: string) => result.rows.find((row) => row.id === id)?.cost;

  test('each printed total is the sum of the rows printed above it', () => {
    const tables = readTables(defaults.markdown);
    expect([...tables.keys()]).toEqual(['Per million webhooks', 'Fixed per month', 'Archive storage per month']);
    for (const table of tables.values()) {
      expect(table.rows.length).toBeGreaterThan(0);
      expect(table.totalCents).toBe(table.rows.reduce((sum, row) => sum + row.cents, 0));
    }
  });

  test("each row's worked arithmetic evaluates to the cost it prints", () => {
    const variant = estimate(synthesize({ maxInlinePayloadSize: Size.bytes(512), signingKeyCacheTtl: Duration.seconds(0) }));
    const reconciling = estimate(synthesize({ reconciliation: { interval: Duration.minutes(7) } }, { token: true }));
    const addition = reconcilerAddition(defaults, reconciling);
    for (const markdown of [defaults.markdown, variant.markdown, reconciling.markdown, addition]) {
      for (const row of [...readTables(markdown).values()].flatMap((table) => table.rows)) {
        expect({ row: row.item, problems: arithmeticProblems(row.arithmetic) }).toEqual({ row: row.item, problems: [] });
        expect({ row: row.item, result: row.arithmetic.split(' = ').at(-1) }).toEqual({ row: row.item, result: row.cost });
      }
    }
  });

  test('the settings it prints are the template’s', () => {
    const retention = facts.retentionDays === undefined ? 'never expire' : `${facts.retentionDays} days`;
    expect(bullets(defaults.markdown, 'Settings read from the synthesized template')).toEqual([
      `Verifier: ${facts.verifierMemory} MB, ${facts.verifierArchitecture}; forwarder: ${facts.forwarderMemory} MB, ${facts.forwarderArchitecture}; archiver: ${facts.archiverMemory} MB, ${facts.archiverArchitecture}, upload parts of ${facts.partSizeMib} MiB`,
      `API: ${facts.apiProtocol} API; table billing: ${facts.billingMode}`,
      `Archive path: the stream's records through a filtered event source to the forwarder, in batches of ${facts.streamBatchSize}; ${facts.maxReceiveCount} tries per prediction, then the dead-letter queue; the archiver takes batches of ${facts.eventSourceBatchSize}, at most ${facts.maxConcurrency} at once; ${facts.queues} SQS queues`,
      `Log retention: ${retention} (${facts.logGroups} log groups)`,
      `KMS keys: ${facts.kmsKeys}; secrets: ${facts.secrets}; alarms: ${facts.alarms} (${facts.alarmMetrics} alarm metrics); dashboards: ${facts.dashboards}`,
      `Signing key cache: ${facts.keyCacheTtlSeconds} s; largest inline payload: ${withSeparators(facts.maxInlinePayloadBytes)} bytes compressed`,
      `Archive documents: ${facts.predictionDocument ? 'manifest.json and prediction.json (`predictionDocument`)' : 'manifest.json alone, the terminal payload in it (no `predictionDocument`)'}`,
    ]);
  });

  test('the rows take their inputs from the template', () => {
    expect(arithmeticOf(defaults, 'verifier-compute')).toContain(`× ${facts.verifierMemory / 1024} GB`);
    expect(arithmeticOf(defaults, 'archiver-compute')).toContain(`× ${facts.archiverMemory / 1024} GB`);
    expect(arithmeticOf(defaults, 'forwarder-compute')).toContain(`× ${facts.forwarderMemory / 1024} GB`);
    expect(arithmeticOf(defaults, 'alarms')).toMatch(new RegExp(`^${facts.alarmMetrics} × \\$0\\.10 `));
    // The dashboard and every custom metric are opt-in: by default, only the series the alarms read.
    expect(facts.dashboards).toBe(0);
    expect(costOf(defaults, 'dashboards')).toBeUndefined();
    const series = ALARMED_SERIES.filter((one) => one.with === undefined).length;
    expect(arithmeticOf(defaults, 'custom-metrics')).toMatch(new RegExp(`^${series} × \\$0\\.30 `));
    const detailed = estimate(synthesize({ dashboard: true, detailedMetrics: true }));
    expect(arithmeticOf(detailed, 'dashboards')).toMatch(/^1 × \$3\.00 /);
    expect(arithmeticOf(detailed, 'custom-metrics')).toMatch(
      new RegExp(`^${Object.keys(METRIC).length + REASON_METRIC_SERIES} × `),
    );
    expect(arithmeticOf(defaults, 'kms-keys')).toMatch(new RegExp(`^${facts.kmsKeys} × `));
    expect(arithmeticOf(defaults, 'secret-reads')).toContain(`× ${3600 / facts.keyCacheTtlSeconds}/h`);
    // Only finished predictions pass the event source's filter: one invocation per prediction, not per webhook.
    const [, predictions] = /webhooks = ([\d,]+) predictions/.exec(defaults.markdown)!;
    expect(arithmeticOf(defaults, 'forwarder-requests')).toMatch(new RegExp(`^${predictions} × `));
    expect(arithmeticOf(defaults, 'forwarder-compute')).toMatch(new RegExp(`^${predictions} × `));
    expect(arithmeticOf(defaults, 'queue-requests')).toMatch(new RegExp(`^${predictions} × `));
    // The SQS event source has a maximum concurrency, so Lambda keeps five pollers on the idle queue.
    expect(facts.maxConcurrency).toBeDefined();
    expect(arithmeticOf(defaults, 'queue-idle-polls')).toMatch(/^5 pollers × /);
    // The stream is read by a Lambda function's event source alone: its reads are free, and no
    // Pipe (whose reads are billed) is left to price.
    expect(defaults.rows.filter((row) => row.service === 'DynamoDB Streams').map((row) => [row.id, row.cost])).toEqual([
      ['stream-reads', 0],
    ]);
    expect(defaults.rows.filter((row) => /pipe/i.test(`${row.service} ${row.item}`))).toEqual([]);
    expect(defaults.markdown).toContain('Read requests made by AWS Lambda-based consumers of DynamoDB Streams are free');
  });

  test('the README quotes what `npx tsx scripts/cost-estimate.ts` prints', () => {
    const printed = execFileSync(join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/cost-estimate.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = /<!-- cost-estimate:start -->\n([\s\S]*?)\n<!-- cost-estimate:end -->/.exec(readme)?.[1];
    expect(section).toBe(printed.trim());
    const reconciler = execFileSync(join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/cost-estimate.ts', '--reconciler'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const addition = /<!-- cost-estimate-reconciler:start -->\n([\s\S]*?)\n<!-- cost-estimate-reconciler:end -->/.exec(
      readme,
    )?.[1];
    expect(addition).toBe(reconciler.trim());
  }, 120_000);

  test('the write units and requests are the measured ones (docs/measured-units.json, from `npm run bench -- units`)', () => {
    const { webhooks, archival } = MEASURED;
    const predictions = '166,667';
    expect(arithmeticOf(defaults, 'verifier-writes-progress')).toMatch(
      new RegExp(`^${predictions} × ${webhooks.start.wru} WRU \\+ 666,667 × ${webhooks.intermediate.wru} WRU = `),
    );
    expect(arithmeticOf(defaults, 'verifier-writes-terminal')).toMatch(
      new RegExp(`^${predictions} × ${webhooks.terminalInline.wru} WRU × `),
    );
    expect(arithmeticOf(defaults, 'archiver-updates')).toMatch(new RegExp(`^${predictions} × ${archival.inline.wru} WRU × `));
    // Each output file one PUT (2 MB, under the part size), plus the documents the measured archival wrote.
    expect(arithmeticOf(defaults, 'archiver-puts')).toMatch(
      new RegExp(`^${predictions} × ${3 + archival.inline.s3Puts - archival.inline.outputFiles} PUT × `),
    );
    expect(arithmeticOf(defaults, 'completion-publishes')).toMatch(
      new RegExp(`^${predictions} × ${archival.inline.snsPublishes} × `),
    );
    // The archive's one document by default: the manifest, which a retried archival never overwrites.
    expect(archival.inline.s3Puts - archival.inline.outputFiles).toBe(1);
    expect(costOf(defaults, 'archive-noncurrent-versions')).toBeUndefined();
    // An intermediate webhook costs one write unit, whatever its logs: what the measurement found.
    expect(webhooks.intermediateLargeLogs.bodyBytes).toBeGreaterThan(100_000);
    expect(webhooks.intermediateLargeLogs.wru).toBe(1);
  });

  test('predictionDocument: one more PUT per prediction, and the copies of prediction.json a retried archival overwrote', () => {
    const withDocument = estimate(synthesize({ predictionDocument: true }));
    expect(withDocument.settings.predictionDocument).toBe(true);
    expect(defaults.settings.predictionDocument).toBe(false);
    const puts = (result: CostEstimate) => Number(/ × (\d+) PUT × /.exec(arithmeticOf(result, 'archiver-puts'))![1]);
    expect(puts(withDocument)).toBe(puts(defaults) + 1);
    expect(costOf(withDocument, 'archiver-puts')! - costOf(defaults, 'archiver-puts')!).toBeCloseTo(166_667 * 0.000005, 1);
    expect(costOf(withDocument, 'archive-noncurrent-versions')).toBeDefined();
  });

  test('log volume: what the handlers logged in the measurement, kept as the template keeps it, plus Lambda’s records and the access log line', () => {
    const { webhooks, archival } = MEASURED;
    const system = LAMBDA_SYSTEM_RECORDS.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
    for (const line of LAMBDA_SYSTEM_RECORDS) expect(() => JSON.parse(line)).not.toThrow();
    const accessLog = defaults.settings.accessLogLine;
    // Every variable of the template's format got a value, and the line is the JSON the format describes.
    expect(accessLog).not.toContain('$context');
    expect(JSON.parse(accessLog)).toMatchObject({ status: '200', routeKey: expect.stringMatching(/^POST \//) });
    const ingestion = (result: CostEstimate, perWebhook: number, perArchival: number) =>
      expect(arithmeticOf(result, 'logs-ingestion')).toMatch(
        new RegExp(
          `^\\(1,000,000 × ${Math.round(perWebhook).toLocaleString('en-US')} B \\+ 166,667 × ${Math.round(perArchival).toLocaleString('en-US')} B\\)`,
        ),
      );
    const averaged = (bytes: (webhook: (typeof webhooks)['start']) => number) =>
      (bytes(webhooks.start) + 4 * bytes(webhooks.intermediate) + bytes(webhooks.terminalInline)) / 6;
    // By default: each handler's lines for 1 invocation in 100, the alarms' metric series, none of
    // Lambda's records (for an accepted webhook, no metric line at all).
    ingestion(
      defaults,
      averaged((webhook) => webhook.lineBytes * 0.01 + webhook.alarmedMetricBytes) + Buffer.byteLength(accessLog),
      (archival.inline.lineBytes + Buffer.byteLength(FORWARDER_LOG_LINE)) * 0.01 + archival.inline.alarmedMetricBytes,
    );
    // Verbose logs and every metric: everything measured, and the forwarder's line and records.
    const everything = estimate(synthesize({ verboseLogs: true, detailedMetrics: true }));
    ingestion(
      everything,
      averaged((webhook) => webhook.logBytes) + system + Buffer.byteLength(accessLog),
      archival.inline.logBytes + system + Buffer.byteLength(FORWARDER_LOG_LINE) + system,
    );
    expect(everything.total).toBeGreaterThan(defaults.total + 0.5);
    // A handler that logs nothing was not measured; an accepted webhook prints no alarmed series.
    expect(webhooks.intermediate.lineBytes).toBeGreaterThan(300);
    expect(webhooks.intermediate.logBytes).toBeGreaterThan(webhooks.intermediate.lineBytes);
    expect(webhooks.intermediate.alarmedMetricBytes).toBe(0);
    expect(archival.inline.lineBytes).toBeGreaterThan(300);
  });

  test('the comparison at three volumes: fixed plus per million in proportion, the seed-style handler priced the same way', () => {
    const seed = seedPerMillionWebhooks();
    for (const row of seed) {
      expect({ row: row.item, problems: arithmeticProblems(row.arithmetic) }).toEqual({ row: row.item, problems: [] });
    }
    // The seed stores every measured body whole: a write unit per KB of each.
    const { start, intermediate, terminalInline } = MEASURED.webhooks;
    const wru = (bytes: number) => Math.ceil((bytes + 100) / 1024);
    expect(seed.find((row) => row.id === 'seed-writes')!.arithmetic).toContain(
      `× ${wru(start.bodyBytes) + 4 * wru(intermediate.bodyBytes) + wru(terminalInline.bodyBytes)} WRU`,
    );
    const seedTotal = seed.reduce((sum, row) => sum + row.cost, 0);
    const lines = defaults.markdown.split('\n');
    const printed = lines
      .slice(lines.indexOf('| Webhooks a month | Seed-style handler | Previous | Now |') + 2)
      .filter((_line, index, rest) => rest.slice(0, index + 1).every((l) => l.startsWith('| ')))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    const dollars = (value: number) =>
      `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
    expect(printed).toEqual(
      [10_000, 1_000_000, 100_000_000].map((volume) => [
        withSeparators(volume),
        dollars((seedTotal * volume) / 1e6),
        dollars(24.16 + (9.95 * volume) / 1e6),
        dollars(defaults.fixed + (defaults.total * volume) / 1e6),
      ]),
    );
    // What issue 31 asked for, and where the defaults stand (see the README's Cost section).
    expect(defaults.total).toBeLessThan(9.95);
    expect(defaults.fixed).toBeLessThan(24.16);
    // Issue 31's goal for what the construct costs idle.
    expect(defaults.fixed).toBeLessThan(5);
  });

  test('a format variable it has no sample for is refused, not priced as empty', () => {
    const template = synthesize({}).toJSON() as { Resources: Record<string, { Type: string; Properties: any }> };
    const stage = Object.values(template.Resources).find((resource) => resource.Type === 'AWS::ApiGatewayV2::Stage')!;
    stage.Properties.AccessLogSettings.Format = '{"agent":"$context.identity.userAgent"}';
    expect(() => estimate(template)).toThrow(/no sample value for the access log's \$context.identity.userAgent/);
  });

  test('compute lines scale with the memory in the template', () => {
    const bigger = estimate(synthesize({ verifier: { memorySize: 512 }, archiver: { memorySize: 1024 } }));
    // The verifier was measured at 256 MB alone: the nearest figure, at twice the memory.
    expect(costOf(bigger, 'verifier-compute')).toBeCloseTo(2 * costOf(defaults, 'verifier-compute')!, 2);
    // The archiver at each size it was measured at: its duration there, times its memory.
    const { archiverMs } = MEASURED_DURATIONS;
    expect(costOf(bigger, 'archiver-compute')).toBeCloseTo(
      ((1024 * archiverMs['1024']) / (256 * archiverMs['256'])) * costOf(defaults, 'archiver-compute')!,
      1, // rows are rounded to the cent
    );
    expect(arithmeticOf(bigger, 'archiver-compute')).toContain(`× ${archiverMs['1024'] / 1000} s × 1 GB`);
    expect(bigger.total).toBeGreaterThan(defaults.total);
    expect(bigger.fixed).toBe(defaults.fixed);
  });

  test('fixed costs follow the alarms, dashboard and key cache in the template', () => {
    const quiet = estimate(synthesize({ alarms: { enabled: false }, dashboard: false }));
    expect(quiet.rows.map((row) => row.id)).not.toContain('alarms');
    expect(quiet.rows.map((row) => row.id)).not.toContain('dashboards');
    expect(quiet.fixed).toBeLessThan(defaults.fixed);
    // Throttles of the verifier, the forwarder and the archiver: three metrics.
    expect(costOf(estimate(synthesize({ alarms: { disable: [AlarmName.THROTTLES] } })), 'alarms')).toBeCloseTo(
      costOf(defaults, 'alarms')! - 0.3,
      2,
    );

    // A key cached for 1 minute instead of 5 is read 5 times as often.
    const eager = estimate(synthesize({ signingKeyCacheTtl: Duration.minutes(1) }));
    expect(costOf(eager, 'secret-reads')).toBeCloseTo(5 * ((10 * 730 * 12 * 0.05) / 10_000), 2);
  });

  test('a key cache of 0 s is priced per webhook, not divided by zero', () => {
    const uncached = estimate(synthesize({ signingKeyCacheTtl: Duration.seconds(0) }));
    const reads = uncached.rows.filter((row) => row.id === 'secret-reads');
    expect(reads).toHaveLength(1);
    expect(reads[0].section).toBe('perMillionWebhooks');
    // One read per webhook: 1,000,000 × $0.05 per 10,000.
    expect(reads[0].cost).toBe(5);
    expect(uncached.markdown).not.toMatch(/Infinity|NaN/);
    expect(uncached.fixed).toBeCloseTo(defaults.fixed - costOf(defaults, 'secret-reads')!, 2);
  });

  test('terminal payloads above the inline limit (compressed, as stored) move from the table to S3', () => {
    const { terminalInline } = MEASURED.webhooks;
    // The measured 3 KiB payload is under 1 KB compressed: a 2 KiB limit keeps it in the table, 512 bytes does not.
    expect(terminalInline.bodyBytes).toBeGreaterThan(2048);
    expect(terminalInline.storedPayloadBytes).toBeGreaterThan(512);
    expect(terminalInline.storedPayloadBytes).toBeLessThanOrEqual(2048);
    const kept = estimate(synthesize({ maxInlinePayloadSize: Size.kibibytes(2) }));
    expect(costOf(kept, 'verifier-writes-terminal')).toBe(costOf(defaults, 'verifier-writes-terminal'));
    expect(kept.rows.map((row) => row.id)).not.toContain('verifier-spill-puts');
    const spilling = estimate(synthesize({ maxInlinePayloadSize: Size.bytes(512) }));
    const ids = spilling.rows.map((row) => row.id);
    expect(costOf(spilling, 'verifier-writes-terminal')).toBeLessThan(costOf(defaults, 'verifier-writes-terminal')!);
    // The archiver's updates cost the same either way (the record is small); it reads the payload item, or GETs from S3.
    expect(costOf(spilling, 'archiver-updates')).toBe(costOf(defaults, 'archiver-updates'));
    expect(defaults.rows.map((row) => row.id)).toContain('archiver-payload-read');
    expect(ids).not.toContain('archiver-payload-read');
    expect(ids).toEqual(expect.arrayContaining(['verifier-spill-puts', 'archiver-spill-gets']));
    expect(defaults.rows.map((row) => row.id)).not.toContain('verifier-spill-puts');
  });

  test('refuses settings it has no prices for', () => {
    expect(() =>
      estimate(
        synthesize({
          tableProps: {
            billing: dynamodb.Billing.provisioned({
              readCapacity: dynamodb.Capacity.fixed(5),
              writeCapacity: dynamodb.Capacity.autoscaled({ maxCapacity: 10 }),
            }),
          },
        }),
      ),
    ).toThrow(/only on-demand/);
  });

  describe('with the reconciler', () => {
    const reconciling = estimate(synthesize(undefined, { token: true }));
    const ids = (result: CostEstimate) => result.rows.map((row) => row.id).filter((id) => id.startsWith('reconciler-'));

    test('priced only when the template has one, from its function and its schedule', () => {
      expect(ids(defaults)).toEqual([]);
      expect(ids(reconciling)).toEqual([
        'reconciler-lookups',
        'reconciler-schedule',
        'reconciler-requests',
        'reconciler-compute',
        'reconciler-secret-reads',
        'reconciler-token-secret',
        'reconciler-index-queries',
        // Its alarms' series: by default the base estimate counts only the webhook path's.
        'reconciler-custom-metrics',
      ]);
      const template = synthesize(undefined, { token: true }).toJSON() as { Resources: Record<string, CfnResource> };
      const reconciler = Object.values(template.Resources).find(
        (resource) =>
          resource.Type === 'AWS::Lambda::Function' && resource.Properties?.Environment?.Variables?.REPLICATE_API_TOKEN_SECRET_ID,
      )!;
      expect(arithmeticOf(reconciling, 'reconciler-compute')).toContain(`× ${reconciler.Properties!.MemorySize / 1024} GB`);
      // Every 5 minutes: 12 runs an hour, each reading the token and the signing secret.
      expect(arithmeticOf(reconciling, 'reconciler-requests')).toMatch(/^730 h × 3,600 s\/h ÷ 300 s = 8,760 × /);
      expect(arithmeticOf(reconciling, 'reconciler-secret-reads')).toMatch(/^8,760 × 2 = 17,520 × /);
      // A 75-minute lookback read every 5 minutes: each prediction looked up 15 times.
      expect(arithmeticOf(reconciling, 'reconciler-lookups')).toMatch(/^166,667 × 15 runs × 1 RRU = 2,500,000 × \$0\.125\/M/);
      // Its rows, and nothing else but its alarms, are what it adds.
      const alarmsAdded = costOf(reconciling, 'alarms')! - costOf(defaults, 'alarms')!;
      expect(alarmsAdded).toBeGreaterThan(0);
      const fixedRows = reconciling.rows.filter((row) => row.section === 'fixedMonthly' && row.id.startsWith('reconciler-'));
      expect(reconciling.fixed).toBeCloseTo(defaults.fixed + alarmsAdded + fixedRows.reduce((sum, row) => sum + row.cost, 0), 2);
      expect(reconciling.total).toBeCloseTo(defaults.total + costOf(reconciling, 'reconciler-lookups')!, 2);
    });

    test('the interval and the lookback in the template drive runs and look-ups', () => {
      const slower = estimate(
        synthesize({ reconciliation: { interval: Duration.minutes(10), lookback: Duration.minutes(90) } }, { token: true }),
      );
      expect(arithmeticOf(slower, 'reconciler-requests')).toMatch(/^730 h × 3,600 s\/h ÷ 600 s = 4,380 × /);
      expect(costOf(slower, 'reconciler-compute')).toBeCloseTo(costOf(reconciling, 'reconciler-compute')! / 2, 2);
      // 90 minutes read every 10: 9 look-ups of each prediction.
      expect(arithmeticOf(slower, 'reconciler-lookups')).toMatch(/^166,667 × 9 runs × /);
      expect(slower.markdown).toContain('- Reconciler: 256 MB, arm64, every 10 min, lookback 90 min');
    });

    test('what the README adds for it: totals of its printed rows, the alarms included', () => {
      const addition = reconcilerAddition(defaults, reconciling);
      const tables = readTables(addition);
      expect([...tables.keys()]).toEqual(['Reconciler per million webhooks', 'Reconciler fixed per month']);
      for (const table of tables.values()) expect(table.totalCents).toBe(table.rows.reduce((sum, row) => sum + row.cents, 0));
      const fixed = tables.get('Reconciler fixed per month')!;
      expect(fixed.rows.map((row) => row.service)).toContain('CloudWatch');
      const [, perMonth, perMillion] = /\*\*\+(\$[\d.,]+) per month and \+(\$[\d.,]+) per million webhooks\*\*/.exec(addition)!;
      expect(toCents(perMonth)).toBe(fixed.totalCents);
      expect(toCents(perMillion)).toBe(tables.get('Reconciler per million webhooks')!.totalCents);
      // The same as the difference of the two estimates.
      expect(fixed.totalCents).toBe(Math.round((reconciling.fixed - defaults.fixed) * 100));
    });
  });

  test('the output is deterministic', () => {
    expect(estimate(synthesize()).markdown).toBe(defaults.markdown);
  });
});
