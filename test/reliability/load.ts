/**
 * Load: many predictions, each a whole lifecycle with duplicates, reordering and late webhooks,
 * sent at high concurrency through the local HTTP path; then every final state, every archived
 * byte and every notification is checked.
 */
import { sendDelivery } from '../../cli/send';
import { seededRandom } from '../../cli/scenarios';
import { check, percentile, pool, type Harness } from './harness';
import { planPrediction, type PredictionPlan } from './lifecycles';

export interface LoadResult {
  readonly predictions: number;
  readonly concurrency: number;
  readonly webhooksSent: number;
  readonly duplicatesSent: number;
  readonly lateWebhooksSent: number;
  readonly answers: Record<string, number>;
  readonly outcomes: Record<string, number>;
  readonly ackLatencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly sendSeconds: number;
  readonly archivedWithinSeconds: number;
  readonly filesArchived: number;
  readonly bytesArchived: number;
  readonly filesByteExact: number;
  readonly finalStatesRight: number;
  readonly notifications: { readonly total: number; readonly min: number; readonly max: number };
  readonly violations: string[];
}

export async function runLoad(
  harness: Harness,
  options: { predictions: number; concurrency: number; seed: number },
): Promise<LoadResult> {
  const random = seededRandom(options.seed);
  const plans: PredictionPlan[] = [];
  const answers: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  const latencies: number[] = [];
  let duplicatesSent = 0;
  let lateWebhooksSent = 0;
  const started = Date.now();

  await pool(
    Array.from({ length: options.predictions }, (_, index) => index),
    options.concurrency,
    async () => {
      // Planned when sent, so every signature is fresh however long the run takes.
      const plan = planPrediction(random, harness.files, { duplicateRate: 0.2, reorderRate: 0.1, lateRate: 0.1 });
      plans.push(plan);
      const seen = new Set<string>();
      let terminalSeen = false;
      for (const webhook of plan.webhooks) {
        if (seen.has(webhook.webhookId)) duplicatesSent++;
        else if (terminalSeen && webhook.status === 'processing') lateWebhooksSent++;
        seen.add(webhook.webhookId);
        if (webhook.event === 'completed') terminalSeen = true;
        const result = await sendDelivery(harness.info.webhookUrl, harness.info.secret, webhook, {
          timestamp: webhook.timestamp,
        });
        latencies.push(result.ms);
        answers[result.status] = (answers[result.status] ?? 0) + 1;
        const outcome = (JSON.parse(result.body) as { outcome?: string; error?: string }).outcome ?? `error:${result.body}`;
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
    },
  );
  const sendSeconds = (Date.now() - started) / 1000;

  await harness.waitForNotified(
    plans.map((plan) => plan.id),
    15 * 60_000,
  );
  const archivedWithinSeconds = (Date.now() - started) / 1000;
  // Anything published more than once would arrive shortly after; give it a moment.
  await harness.collectNotifications(2000);

  const violations: string[] = [];
  let filesArchived = 0;
  let bytesArchived = 0;
  let filesByteExact = 0;
  let finalStatesRight = 0;
  const counts: number[] = [];
  await pool(plans, 16, async (plan) => {
    const item = await harness.predictionItem(plan.id);
    const right = item?.status?.S === plan.terminalStatus && item?.terminalStatus?.S === plan.terminalStatus;
    if (right) finalStatesRight++;
    check(right, `prediction ${plan.id}: final state ${item?.status?.S}, expected ${plan.terminalStatus}`, violations);
    const manifest = await harness.manifest(plan.id);
    check(
      manifest.failures.length === 0,
      `prediction ${plan.id}: archive failures ${JSON.stringify(manifest.failures)}`,
      violations,
    );
    for (const expected of plan.files) {
      const file = manifest.files.find((candidate) => candidate.source === expected.url);
      const stored = file ? await harness.objectSha256(file.key) : undefined;
      const exact = file?.sha256 === expected.sha256 && stored === expected.sha256;
      if (exact) {
        filesByteExact++;
        filesArchived++;
        bytesArchived += expected.bytes;
      }
      check(exact, `prediction ${plan.id}: ${expected.url} not archived byte-exact`, violations);
    }
    const received = harness.notifications.get(plan.id)?.length ?? 0;
    counts.push(received);
    // At least once; at most once per attempt the event source allows (4 retries + 1).
    check(received >= 1 && received <= 5, `prediction ${plan.id}: ${received} notifications`, violations);
  });
  check(!Object.keys(answers).some((status) => Number(status) >= 500), `5xx answers: ${JSON.stringify(answers)}`, violations);
  check(
    !Object.keys(answers).some((status) => Number(status) >= 400),
    `4xx answers to valid webhooks: ${JSON.stringify(answers)}`,
    violations,
  );

  return {
    predictions: plans.length,
    concurrency: options.concurrency,
    webhooksSent: latencies.length,
    duplicatesSent,
    lateWebhooksSent,
    answers,
    outcomes,
    ackLatencyMs: {
      p50: Math.round(percentile(latencies, 50)),
      p99: Math.round(percentile(latencies, 99)),
      max: Math.round(Math.max(...latencies)),
    },
    sendSeconds: Math.round(sendSeconds),
    archivedWithinSeconds: Math.round(archivedWithinSeconds),
    filesArchived,
    bytesArchived,
    filesByteExact,
    finalStatesRight,
    notifications: { total: counts.reduce((a, b) => a + b, 0), min: Math.min(...counts), max: Math.max(...counts) },
    violations,
  };
}
