/**
 * Reconcile: predictions whose webhooks never arrive. Of 300 predictions, 5% deliver nothing at
 * all and 20% of the others lose their terminal webhook (every copy of it); Replicate's API (the
 * stand-in) knows each one as finished, and answers 429 and 500 for a while as the run starts.
 * The reconciler, on a short interval, must record every in-scope prediction the webhooks did
 * not, so that each one is archived byte-exact and announced exactly once within two intervals
 * of Replicate's API knowing it; predictions of another application (another webhook URL) in the
 * same account must stay untouched; a terminal webhook that arrives after all is after_terminal.
 */
import type { ReconcileReport } from '../../lambda/reconciler/handler';
import { ATTR } from '../../lambda/shared/state';
import { isTerminalStatus } from '../../lambda/shared/prediction';
import { sendDelivery } from '../../cli/send';
import { seededRandom } from '../../cli/scenarios';
import { check, latencySummary, pool, startHarness, type LatencySummary } from './harness';
import { planPrediction, type PredictionPlan } from './lifecycles';

// Short, yet well above what a run takes on a loaded 2-core machine: recording 77 predictions there,
// while the webhooks of the others arrive, and throttled at first, takes 10–15 s (in AWS, with a
// 5-minute interval, a run is a small part of it).
const INTERVAL_SECONDS = 20;
const SILENT_RATE = 0.05;
const DROP_TERMINAL_RATE = 0.2;
const OUT_OF_SCOPE = 30;
const LATE_TERMINAL = 10;
const THROTTLED_REQUESTS = 2;
const FAILURES = 2;
// Webhooks arrive while the reconciler runs, as they would, at a pace a 2-core machine keeps up with.
const SEND_CONCURRENCY = 8;

export interface ReconcileResult {
  readonly predictions: number;
  readonly intervalSeconds: number;
  readonly sendSeconds: number;
  readonly delivered: number;
  readonly terminalDropped: number;
  readonly silent: number;
  readonly outOfScope: number;
  readonly apiFaults: { readonly answered429: number; readonly answered500: number };
  readonly runs: number;
  readonly runMs: LatencySummary;
  /** When each run started (from the part's start), how long it took, what it did. */
  readonly runLog: readonly string[];
  readonly runsWithApiError: number;
  /** Recorded by the reconciler (its marker in the table). */
  readonly recovered: number;
  /** The same, as the runs' reports list them. */
  readonly recoveredInReports: number;
  readonly redriven: number;
  readonly announcedExactlyOnce: number;
  readonly payloadByteExact: number;
  readonly filesByteExact: number;
  readonly files: number;
  /** Known to Replicate's API → announced, for the predictions the reconciler recorded (ms). */
  readonly recoveredLatencyMs: LatencySummary;
  readonly boundMs: number;
  readonly outOfScopeUntouched: number;
  readonly lateTerminalWebhooks: { readonly sent: number; readonly afterTerminal: number };
  readonly seconds: number;
  readonly startedSendingAtSecond: number;
  readonly violations: string[];
}

type Fate = 'delivered' | 'terminal_dropped' | 'silent';

export async function runReconcile(options: { predictions: number; seed: number }): Promise<ReconcileResult> {
  const started = Date.now();
  const random = seededRandom(options.seed);
  const reports: ReconcileReport[] = [];
  const runMs: number[] = [];
  const runLog: string[] = [];
  const runStarts: number[] = [];
  const harness = await startHarness({
    reconciler: {
      intervalSeconds: INTERVAL_SECONDS,
      onReport: (report, run) => {
        reports.push(report);
        runMs.push(run.endedAt - run.startedAt);
        runStarts.push(run.startedAt);
        runLog.push(
          `${((run.startedAt - started) / 1000).toFixed(1)} s +${run.endedAt - run.startedAt} ms: examined ${report.examined}, recovered ${report.recovered.length}${report.apiError ? `, ${report.apiError}` : ''}`,
        );
      },
      onRecovered: () => undefined,
    },
  });
  try {
    const violations: string[] = [];
    const api = harness.replicateApi!;
    const { webhookUrl, secret } = harness.info;
    const token = harness.info.replicateApi!.token!;
    const planOptions = { duplicateRate: 0.2, reorderRate: 0.1, lateRate: 0.1, webhookUrl };
    const plans = Array.from({ length: options.predictions }, () => {
      const plan = planPrediction(random, harness.files, planOptions);
      const roll = random();
      const fate: Fate =
        roll < SILENT_RATE ? 'silent' : roll < SILENT_RATE + DROP_TERMINAL_RATE ? 'terminal_dropped' : 'delivered';
      return { plan, fate };
    });
    const foreign = Array.from({ length: OUT_OF_SCOPE }, () =>
      planPrediction(random, harness.files, { ...planOptions, webhookUrl: 'https://other-app.example.com/replicate/webhook' }),
    );
    const terminalOf = (plan: PredictionPlan) => plan.webhooks.find((webhook) => isTerminalStatus(webhook.status))!;
    const knownAt = new Map<string, number>();
    const sendingFrom = Date.now();

    // Replicate's API is rate-limited, then failing, as the first runs come.
    api.faults.throttle({ requests: THROTTLED_REQUESTS, retryAfterSeconds: 1 });
    api.faults.fail({ status: 500, requests: FAILURES });
    await pool(plans, SEND_CONCURRENCY, async ({ plan, fate }) => {
      const webhooks =
        fate === 'silent'
          ? []
          : fate === 'terminal_dropped'
            ? plan.webhooks.filter((w) => !isTerminalStatus(w.status))
            : plan.webhooks;
      for (const webhook of webhooks) {
        const result = await sendDelivery(webhookUrl, secret, webhook, { timestamp: webhook.timestamp });
        check(result.status === 200, `reconcile: a webhook was answered ${result.status} ${result.body}`, violations);
      }
      // Replicate's API knows the prediction as finished (after its webhooks, as Replicate sends them).
      api.putPrediction(JSON.parse(terminalOf(plan).body) as Record<string, unknown>);
      knownAt.set(plan.id, Date.now());
    });
    const sendSeconds = (Date.now() - sendingFrom) / 1000;
    for (const plan of foreign) api.putPrediction(JSON.parse(terminalOf(plan).body) as Record<string, unknown>);

    const ids = plans.map(({ plan }) => plan.id);
    const boundMs = 2 * INTERVAL_SECONDS * 1000;
    try {
      await harness.waitForNotified(ids, boundMs + 20_000);
    } catch (error) {
      violations.push(`reconcile: ${(error as Error).message}`);
    }
    // Late terminal webhooks of a few recovered predictions: answered after_terminal.
    const late = plans.filter(({ fate }) => fate === 'terminal_dropped').slice(0, LATE_TERMINAL);
    let afterTerminal = 0;
    for (const { plan } of late) {
      const webhook = terminalOf(plan);
      const result = await sendDelivery(webhookUrl, secret, webhook, { timestamp: Math.floor(Date.now() / 1000) });
      const outcome = (JSON.parse(result.body) as { outcome?: string }).outcome;
      if (result.status === 200 && outcome === 'after_terminal') afterTerminal++;
      else violations.push(`reconcile: a late terminal webhook of ${plan.id} was answered ${result.status} ${result.body}`);
    }
    // One more whole run after the last announcement, so a second announcement or a foreign record would show.
    const allAnnouncedAt = Date.now();
    const noLaterThan = allAnnouncedAt + 2 * INTERVAL_SECONDS * 1000;
    while (!runStarts.some((start) => start > allAnnouncedAt) && Date.now() < noLaterThan) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    check(
      runStarts.some((start) => start > allAnnouncedAt),
      'reconcile: no run after the last announcement',
      violations,
    );
    await harness.collectNotifications(1500);

    let announcedExactlyOnce = 0;
    let payloadByteExact = 0;
    let filesByteExact = 0;
    let files = 0;
    const latencies: number[] = [];
    const reportedIds = new Set(reports.flatMap((report) => report.recovered.map((entry) => entry.predictionId)));
    const recoveredIds = new Set<string>();
    await pool(plans, 16, async ({ plan, fate }) => {
      const announced = harness.notifications.get(plan.id)?.length ?? 0;
      if (announced === 1) announcedExactlyOnce++;
      else violations.push(`reconcile: ${plan.id} (${fate}) announced ${announced} times`);
      const item = await harness.predictionItem(plan.id);
      check(item?.status?.S === plan.terminalStatus, `reconcile: ${plan.id} (${fate}) is ${item?.status?.S}`, violations);
      // The manifest's payload: the terminal webhook's body when it arrived, else what Replicate's API answered.
      const expected =
        fate === 'delivered'
          ? terminalOf(plan).body
          : await (
              await fetch(`${api.endpoint}/v1/predictions/${plan.id}`, { headers: { authorization: `Bearer ${token}` } })
            ).text();
      const document = await harness.archivedPayload(plan.id).catch(() => undefined);
      if (document === expected) payloadByteExact++;
      else
        violations.push(
          `reconcile: the manifest's payload of ${plan.id} (${fate}) is not what ${fate === 'delivered' ? 'the webhook' : 'the API'} sent`,
        );
      const manifest = await harness.manifest(plan.id).catch(() => undefined);
      for (const file of plan.files) {
        files++;
        const archived = manifest?.files.find((entry) => entry.source === file.url);
        const exact = archived !== undefined && (await harness.objectSha256(archived.key)) === file.sha256;
        if (exact) filesByteExact++;
        else violations.push(`reconcile: ${file.url} of ${plan.id} (${fate}) not archived byte-exact`);
      }
      // The reconciler records a prediction as the webhook `reconciled_<id>`; nothing can follow a terminal record.
      if (item?.[ATTR.lastWebhookId]?.S === `reconciled_${plan.id}`) recoveredIds.add(plan.id);
      if (fate !== 'delivered') {
        check(recoveredIds.has(plan.id), `reconcile: ${plan.id} (${fate}) was not recovered by the reconciler`, violations);
        const announcedAt = Date.parse(item?.notifiedAt?.S ?? '');
        if (Number.isFinite(announcedAt)) latencies.push(announcedAt - knownAt.get(plan.id)!);
      } else {
        check(!recoveredIds.has(plan.id), `reconcile: ${plan.id} was delivered yet recovered`, violations);
      }
    });
    const recoveredLatencyMs = latencySummary(latencies);
    check(
      recoveredLatencyMs.max <= boundMs,
      `reconcile: a recovered prediction was announced ${recoveredLatencyMs.max} ms after the API knew it (bound ${boundMs} ms)`,
      violations,
    );
    let outOfScopeUntouched = 0;
    for (const plan of foreign) {
      const untouched = (await harness.predictionItem(plan.id)) === undefined && !harness.notifications.has(plan.id);
      if (untouched) outOfScopeUntouched++;
      else violations.push(`reconcile: ${plan.id} of another application was recorded or announced`);
    }
    const answered = (status: number) => api.requests.filter((request) => request.status === status).length;
    const answered429 = answered(429);
    const answered500 = answered(500);
    check(answered429 > 0 && answered500 > 0, 'reconcile: the API faults were never met', violations);
    const count = (fate: Fate) => plans.filter((plan) => plan.fate === fate).length;
    return {
      predictions: options.predictions,
      intervalSeconds: INTERVAL_SECONDS,
      sendSeconds: Math.round(sendSeconds),
      delivered: count('delivered'),
      terminalDropped: count('terminal_dropped'),
      silent: count('silent'),
      outOfScope: OUT_OF_SCOPE,
      apiFaults: { answered429, answered500 },
      runs: reports.length,
      runMs: latencySummary(runMs),
      runLog,
      runsWithApiError: reports.filter((report) => report.apiError !== undefined).length,
      recovered: recoveredIds.size,
      recoveredInReports: reportedIds.size,
      redriven: reports.reduce((sum, report) => sum + report.redriven.length, 0),
      announcedExactlyOnce,
      payloadByteExact,
      filesByteExact,
      files,
      recoveredLatencyMs,
      boundMs,
      outOfScopeUntouched,
      lateTerminalWebhooks: { sent: late.length, afterTerminal },
      seconds: Math.round((Date.now() - started) / 1000),
      startedSendingAtSecond: Math.round((sendingFrom - started) / 1000),
      violations,
    };
  } finally {
    await harness.stop();
  }
}
