/**
 * Slow neighbour: one prediction whose output stalls for minutes (a body trickling a byte a
 * second, with an idle timeout too long to cut it), among predictions sent at a steady rate.
 * The others must be archived within their normal latency, measured on a baseline sent before
 * the slow one in the same run; the slow one must be cut at its invocation's deadline, retried,
 * and finally recorded and announced, within a bounded time.
 */
import { sendDelivery } from '../../cli/send';
import { generatePredictionId, generateWebhookId, seededRandom } from '../../cli/scenarios';
import { announcementLatencyMs, check, latencySummary, pool, sha256, startHarness, type LatencySummary } from './harness';
import { planPrediction, type PredictionPlan } from './lifecycles';

// A short function timeout, so the stall meets the invocation's deadline within seconds: the
// archiver keeps 20 s of it for writing and announcing, which leaves 10 s to fetch.
const FUNCTION_TIMEOUT_SECONDS = 30;
const VISIBILITY_TIMEOUT_SECONDS = 35;
// Tried, then retried once: the second try is the last, which records the stall and announces.
const MAX_RECEIVE_COUNT = 2;
// Two tries of 10 s with 1–2 s between them, and room for a loaded machine.
const SETTLE_BOUND_SECONDS = 60;
const RATE_PER_SECOND = 10;
const COMPANIONS = 9;

export interface SlowNeighbourResult {
  readonly neighbours: number;
  readonly baseline: number;
  readonly ratePerSecond: number;
  readonly functionTimeoutSeconds: number;
  readonly maxReceiveCount: number;
  readonly neighboursAnnouncedOnce: number;
  readonly neighboursByteExact: number;
  /** Terminal webhook recorded → announced (ms). */
  readonly latencyMs: {
    readonly baseline: LatencySummary;
    readonly neighbours: LatencySummary;
    /** Neighbours first claimed within 100 ms of the slow one: its batch, most likely. */
    readonly besideSlow: LatencySummary;
  };
  /** What the neighbours' p99 and the slowest batch-mate of the slow one may reach, from the baseline. */
  readonly boundMs: number;
  readonly slowPrediction: {
    /** `announced` (retried, then recorded as a failure and announced), `failed` (record-level, dead-lettered) or `in_flight`. */
    readonly outcome: 'announced' | 'failed' | 'in_flight';
    readonly seconds: number;
    readonly tries: number;
    readonly failureReason?: string;
    readonly goodFileBesideArchived: boolean;
    readonly announcements: number;
  };
  readonly seconds: number;
  readonly violations: string[];
}

export async function runSlowNeighbour(options: {
  neighbours: number;
  baseline: number;
  seed: number;
}): Promise<SlowNeighbourResult> {
  const started = Date.now();
  const random = seededRandom(options.seed);
  const harness = await startHarness({
    archiveQueue: {
      functionTimeoutSeconds: FUNCTION_TIMEOUT_SECONDS,
      visibilityTimeoutSeconds: VISIBILITY_TIMEOUT_SECONDS,
      maxReceiveCount: MAX_RECEIVE_COUNT,
    },
    // Neither the idle nor the total fetch timeout may end the stall: only the deadline may.
    handlerEnvironment: { FETCH_IDLE_TIMEOUT_MS: '600000', FETCH_TOTAL_TIMEOUT_MS: '600000' },
  });
  try {
    const violations: string[] = [];
    const plan = () => planPrediction(random, harness.files, { duplicateRate: 0.2, reorderRate: 0.1, lateRate: 0.1 });
    const sendAtSteadyRate = async (plans: ReadonlyArray<PredictionPlan | (() => Promise<void>)>) => {
      const from = Date.now();
      await pool(plans, 64, async (p, index) => {
        await sleep(Math.max(0, from + (index * 1000) / RATE_PER_SECOND - Date.now()));
        if (typeof p === 'function') return p();
        for (const webhook of p.webhooks) {
          const result = await sendDelivery(harness.info.webhookUrl, harness.info.secret, webhook, {
            timestamp: webhook.timestamp,
          });
          check(result.status === 200, `slow neighbour: a webhook was answered ${result.status} ${result.body}`, violations);
        }
      });
    };

    // 1. The normal latency, before anything is slow (after a few unmeasured ones: no cold start in it).
    const warmUp = Array.from({ length: 10 }, plan);
    await sendAtSteadyRate(warmUp);
    await harness.waitForNotified(
      warmUp.map((p) => p.id),
      2 * 60_000,
    );
    const baseline = Array.from({ length: options.baseline }, plan);
    await sendAtSteadyRate(baseline);
    await harness.waitForNotified(
      baseline.map((p) => p.id),
      2 * 60_000,
    );

    // 2. The neighbours at the same rate, with the slow one among the first of them.
    const slowId = generatePredictionId(random);
    const stalled = harness.files.serve(`/${slowId}/stalled.png`, { trickle: true });
    const good = harness.files.serveRandom(`/${slowId}/good.png`, 20_000, 'image/png');
    const slowWebhookId = generateWebhookId(random);
    let slowSentAt = 0;
    const neighbours = Array.from({ length: options.neighbours }, plan);
    // Nine neighbours finish at the same moment as the slow one, so they most likely share its batch.
    const companions = neighbours.slice(10, 10 + COMPANIONS);
    const sendSlowWithCompanions = async () => {
      slowSentAt = Date.now();
      const slow = sendDelivery(harness.info.webhookUrl, harness.info.secret, {
        webhookId: slowWebhookId,
        event: 'completed',
        status: 'succeeded',
        body: JSON.stringify({
          id: slowId,
          model: 'slow/neighbour',
          status: 'succeeded',
          output: { stalled, good: good.url },
          logs: '',
          error: null,
        }),
      });
      const terminals = companions.map((p) => p.webhooks.find((webhook) => webhook.event === 'completed')!);
      const answers = await Promise.all([
        slow,
        ...terminals.map((webhook) =>
          sendDelivery(harness.info.webhookUrl, harness.info.secret, webhook, { timestamp: webhook.timestamp }),
        ),
      ]);
      for (const answer of answers)
        check(answer.status === 200, `slow neighbour: a terminal webhook was answered ${answer.status}`, violations);
    };
    await sendAtSteadyRate([...neighbours.slice(0, 10), sendSlowWithCompanions, ...neighbours.slice(10 + COMPANIONS)]);
    await harness.waitForNotified(
      neighbours.map((p) => p.id),
      3 * 60_000,
    );

    // 3. The slow one settles within the bound, or is reported still in flight.
    let outcome: SlowNeighbourResult['slowPrediction']['outcome'] = 'in_flight';
    let slowItem = await harness.predictionItem(slowId);
    while (Date.now() - slowSentAt < SETTLE_BOUND_SECONDS * 1000) {
      slowItem = await harness.predictionItem(slowId);
      if (slowItem?.notifiedAt) outcome = 'announced';
      else if (slowItem?.archiveStatus?.S === 'failed') outcome = 'failed';
      if (outcome !== 'in_flight') break;
      await sleep(500);
    }
    const slowSeconds = Math.round((Date.now() - slowSentAt) / 1000);
    check(
      outcome === 'announced',
      `slow neighbour: the stalled prediction ${outcome === 'in_flight' ? `was still in flight after ${SETTLE_BOUND_SECONDS} s (the stalled fetch was not cut at the invocation's deadline)` : `ended ${outcome}, expected recorded and announced`}`,
      violations,
    );
    // End the stall whatever happened, so no invocation is left holding the run open.
    harness.files.serve(`/${slowId}/stalled.png`, { bytes: Buffer.from('no longer stalled') });
    harness.files.closeConnections();
    await sleep(2000);
    await harness.collectNotifications(1500);

    // 4. Neighbours: byte-exact, announced once, and on time.
    const latency = { baseline: [] as number[], neighbours: [] as number[], besideSlow: [] as number[] };
    // An invocation claims its whole batch at once (archiveStartedAt is the first claim).
    const slowClaimedAt = Date.parse(slowItem?.archiveStartedAt?.S ?? '');
    let neighboursAnnouncedOnce = 0;
    let neighboursByteExact = 0;
    await pool([...baseline, ...neighbours], 16, async (p) => {
      const item = await harness.predictionItem(p.id);
      const ms = announcementLatencyMs(item);
      const isBaseline = baseline.includes(p);
      if (ms !== undefined) (isBaseline ? latency.baseline : latency.neighbours).push(ms);
      if (ms !== undefined && !isBaseline && Math.abs(Date.parse(item?.archiveStartedAt?.S ?? '') - slowClaimedAt) <= 100)
        latency.besideSlow.push(ms);
      const manifest = await harness.manifest(p.id);
      let exact = manifest.failures.length === 0;
      for (const expected of p.files) {
        const file = manifest.files.find((candidate) => candidate.source === expected.url);
        exact &&= file?.sha256 === expected.sha256 && (await harness.objectSha256(file.key)) === expected.sha256;
      }
      const count = harness.notifications.get(p.id)?.length ?? 0;
      if (!isBaseline && exact) neighboursByteExact++;
      if (!isBaseline && count === 1) neighboursAnnouncedOnce++;
      check(exact, `slow neighbour: ${p.id} not archived byte-exact and complete`, violations);
      check(count === 1, `slow neighbour: ${p.id} announced ${count} times`, violations);
    });
    const summary = {
      baseline: latencySummary(latency.baseline),
      neighbours: latencySummary(latency.neighbours),
      besideSlow: latencySummary(latency.besideSlow),
    };
    // Normal latency: the neighbours' tail, and the slowest of the slow one's batch-mates, within
    // the baseline's tail plus what one shared 2-core machine adds by itself; a wait for the
    // slow one's 10 s try would not fit.
    const boundMs = Math.max(2 * summary.baseline.p99, summary.baseline.p99 + 5000);
    check(
      summary.neighbours.p99 <= boundMs,
      `slow neighbour: the neighbours' p99 from terminal webhook to announcement was ${summary.neighbours.p99} ms (baseline p99 ${summary.baseline.p99} ms, allowed ${boundMs} ms)`,
      violations,
    );
    check(
      summary.besideSlow.count > 0 && summary.besideSlow.max <= boundMs,
      summary.besideSlow.count === 0
        ? "slow neighbour: no neighbour shared the slow prediction's batch; side by side was not exercised"
        : `slow neighbour: a batch-mate of the slow prediction took ${summary.besideSlow.max} ms from terminal webhook to announcement (allowed ${boundMs} ms)`,
      violations,
    );

    // 5. The slow one, as recorded.
    const manifest = outcome === 'announced' ? await harness.manifest(slowId) : undefined;
    const failure = manifest?.failures.find((candidate) => candidate.paths.includes('.stalled'));
    const goodFile = manifest?.files.find((file) => file.paths.includes('.good'));
    const goodFileBesideArchived = goodFile?.sha256 === sha256(good.bytes);
    const announcements = harness.notifications.get(slowId)?.length ?? 0;
    if (outcome === 'announced') {
      check(
        failure !== undefined && failure.transient,
        `slow neighbour: the stalled output was recorded as ${JSON.stringify(failure)}, expected a transient failure`,
        violations,
      );
      check(goodFileBesideArchived, 'slow neighbour: the good file beside the stalled one was not archived', violations);
      check(announcements === 1, `slow neighbour: the slow prediction was announced ${announcements} times`, violations);
    }
    return {
      neighbours: neighbours.length,
      baseline: baseline.length,
      ratePerSecond: RATE_PER_SECOND,
      functionTimeoutSeconds: FUNCTION_TIMEOUT_SECONDS,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      neighboursAnnouncedOnce,
      neighboursByteExact,
      latencyMs: summary,
      boundMs,
      slowPrediction: {
        outcome,
        seconds: slowSeconds,
        tries: Number(slowItem?.archiveAttempts?.N ?? 0),
        ...(failure ? { failureReason: failure.reason } : {}),
        goodFileBesideArchived,
        announcements,
      },
      seconds: Math.round((Date.now() - started) / 1000),
      violations,
    };
  } finally {
    harness.files.closeConnections();
    await harness.stop();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
