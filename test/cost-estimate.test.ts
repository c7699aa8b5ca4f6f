import { App, Duration, Size, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { ReplicateWebhooks, type ReplicateWebhooksProps } from '../lib';
import { estimate, type CostEstimate, type CostSection } from '../scripts/cost-estimate';

function estimateFor(props?: ReplicateWebhooksProps): CostEstimate {
  const stack = new Stack(new App(), 'Cost');
  new ReplicateWebhooks(stack, 'Hooks', props);
  return estimate(Template.fromStack(stack));
}

const cost = (result: CostEstimate, id: string) => {
  const row = result.rows.find((candidate) => candidate.id === id);
  if (!row) throw new Error(`no row ${id}`);
  return row.cost;
};

const sum = (result: CostEstimate, section: CostSection) =>
  result.rows.filter((row) => row.section === section).reduce((acc, row) => acc + row.cost, 0);

describe('cost estimate', () => {
  const defaults = estimateFor();

  test('reads the cost drivers from the template', () => {
    expect(defaults.settings).toMatchObject({
      apiProtocol: 'HTTP',
      verifier: { memoryMb: 256, architecture: 'arm64' },
      archiver: { memoryMb: 512, architecture: 'arm64' },
      tableBillingMode: 'PAY_PER_REQUEST',
      logRetentionDays: 90,
      kmsKeys: 1,
      secrets: 1,
      alarms: 8,
      // The throttles alarm is metric math over two metrics, billed per metric.
      alarmMetrics: 9,
      dashboards: 1,
      keyCacheTtlSeconds: 300,
      encryptedCompletionTopic: true,
    });
  });

  test('compute lines scale with the memory in the template', () => {
    const bigger = estimateFor({ verifier: { memorySize: 512 }, archiver: { memorySize: 1024 } });
    expect(cost(defaults, 'verifier-compute')).toBeCloseTo(0.1, 2);
    expect(cost(bigger, 'verifier-compute')).toBeCloseTo(2 * cost(defaults, 'verifier-compute'), 2);
    expect(cost(bigger, 'archiver-compute')).toBeCloseTo(2 * cost(defaults, 'archiver-compute'), 2);
    expect(bigger.rows.find((row) => row.id === 'verifier-compute')?.arithmetic).toContain('× 0.5 GB');
    expect(bigger.total).toBeGreaterThan(defaults.total);
    expect(bigger.fixed).toBe(defaults.fixed);
  });

  test('fixed costs follow the alarms, dashboard and key cache in the template', () => {
    const ids = (result: CostEstimate) => result.rows.map((row) => row.id);
    const quiet = estimateFor({ alarms: { enabled: false }, dashboard: false });
    expect(ids(quiet)).not.toContain('alarms');
    expect(ids(quiet)).not.toContain('dashboards');
    expect(quiet.fixed).toBeCloseTo(defaults.fixed - cost(defaults, 'alarms') - cost(defaults, 'dashboards'), 2);

    expect(cost(defaults, 'alarms')).toBeCloseTo(0.9, 2);
    expect(cost(estimateFor({ alarms: { disable: ['throttles'] } }), 'alarms')).toBeCloseTo(0.7, 2);

    // A key cached for 1 minute instead of 5 is read 5 times as often.
    const eager = estimateFor({ signingKeyCacheTtl: Duration.minutes(1) });
    expect(cost(eager, 'secret-reads')).toBeCloseTo((87_600 * 5 * 0.05) / 10_000, 2);
  });

  test('terminal payloads above the inline limit move from the table to S3', () => {
    const spilling = estimateFor({ maxInlinePayloadSize: Size.kibibytes(2) });
    const ids = spilling.rows.map((row) => row.id);
    expect(cost(spilling, 'verifier-transactions-terminal')).toBeLessThan(cost(defaults, 'verifier-transactions-terminal'));
    expect(ids).toEqual(expect.arrayContaining(['verifier-spill-puts', 'archiver-spill-gets']));
    expect(defaults.rows.map((row) => row.id)).not.toContain('verifier-spill-puts');
  });

  test('refuses settings it has no prices for', () => {
    expect(() =>
      estimateFor({
        tableProps: {
          billing: dynamodb.Billing.provisioned({
            readCapacity: dynamodb.Capacity.fixed(5),
            writeCapacity: dynamodb.Capacity.autoscaled({ maxCapacity: 10 }),
          }),
        },
      }),
    ).toThrow(/only on-demand/);
  });

  test('the totals add up the rows of their section', () => {
    expect(defaults.total).toBeCloseTo(sum(defaults, 'perMillionWebhooks'), 10);
    expect(defaults.fixed).toBeCloseTo(sum(defaults, 'fixedMonthly'), 10);
    expect(defaults.storage).toBeCloseTo(sum(defaults, 'storage'), 10);
    for (const row of defaults.rows) expect(row.arithmetic.endsWith(`= $${row.cost.toFixed(2)}`)).toBe(true);
  });

  test('the worked arithmetic of the default deployment', () => {
    const arithmetic = Object.fromEntries(defaults.rows.map((row) => [row.id, row.arithmetic]));
    expect(arithmetic).toMatchObject({
      'api-requests': '1,000,000 × $1.00/M = $1.00',
      'verifier-compute': '1,000,000 × 0.03 s × 0.25 GB = 7,500 GB-s × $0.0000133334 = $0.10',
      'verifier-transactions-intermediate': '833,333 × (1 KB marker + 1 KB item) × 2 WRU/KB × $0.625/M = $2.08',
      'verifier-transactions-terminal': '166,667 × (1 KB marker + 4 KB item) × 2 WRU/KB × $0.625/M = $1.04',
      'archiver-puts': '166,667 × 5 PUT × $0.005/1,000 = $4.17',
      'secret-reads': '10 verifiers × 730 h × 12/h = 87,600 × $0.05/10,000 = $0.44',
      'output-storage': '1,000,000 × 3 × 2 MB = 5,859.38 GB × $0.023/GB-month = $134.77',
    });
    expect(defaults.total).toBeCloseTo(12.12, 2);
    expect(defaults.fixed).toBeCloseTo(10.84, 2);
  });

  test('the markdown shows each row with its arithmetic, the totals and the assumptions', () => {
    for (const row of defaults.rows) expect(defaults.markdown).toContain(`| \`${row.arithmetic}\` | $${row.cost.toFixed(2)} |`);
    expect(defaults.markdown).toContain('| **Total per million webhooks** | | | **$12.12** |');
    expect(defaults.markdown).toContain('| **Total fixed per month** | | | **$10.84** |');
    expect(defaults.markdown).toContain('- 6 webhooks per prediction');
    expect(defaults.markdown).toContain('- Verifier: 256 MB, arm64; archiver: 512 MB, arm64');
  });

  test('the output is deterministic', () => {
    expect(estimateFor().markdown).toBe(defaults.markdown);
  });
});
