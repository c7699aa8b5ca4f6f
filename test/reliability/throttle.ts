/**
 * A burst through API Gateway's throttle, as local mode enforces it: fifty predictions running at
 * once for about four seconds, every webhook event type: each streams logs and output, each event
 * type at most every 500 ms as Replicate throttles them (so a webhook every 250 ms), sent without
 * waiting for the answers (Replicate does not wait either): about 200 webhooks a second. With the construct's throttle (1,000 a
 * second, bursts of 2,000) nothing may be answered 429 and every prediction is announced once.
 * The same burst against the limits this construct had before (100 a second, bursts of 200)
 * shows what they cost: intermediate webhooks refused for good, terminal ones retried as Replicate
 * retries them (1, 2, 4 s later, scaled down from its minute).
 */
import { WEBHOOK_THROTTLE_DEFAULTS } from '../../lambda/verifier/settings';
import { isTerminalStatus } from '../../lambda/shared/prediction';
import { sendDelivery } from '../../cli/send';
import { seededRandom } from '../../cli/scenarios';
import { check, startHarness } from './harness';
import { planPrediction } from './lifecycles';

/** Predictions and limits are a fifth of the story's (50 predictions; 1,000/2,000 and 100/200). */
const SCALE = 5;
const PREDICTIONS = 50 / SCALE;
const SPACING_MS = 250;
const STEPS = 16;
const TERMINAL_RETRY_DELAYS_MS = [1_000, 2_000, 4_000];
const EARLIER_LIMITS = { rateLimit: 100, burstLimit: 200 };
const scaled = (limits: { readonly rateLimit: number; readonly burstLimit: number }) => ({
  rateLimit: limits.rateLimit / SCALE,
  burstLimit: limits.burstLimit / SCALE,
});

export interface BurstOutcome {
  /** The limits the burst is scaled against (a fifth of these were enforced). */
  readonly limits: { readonly rateLimit: number; readonly burstLimit: number };
  readonly webhooks: number;
  /** Webhooks a second, from the first send to the last. */
  readonly sentPerSecond: number;
  readonly answered429: number;
  readonly terminalAnswered429: number;
  /** Terminal webhooks still refused after every retry: those predictions depend on the reconciler. */
  readonly terminalLost: number;
  readonly announced: number;
  readonly predictions: number;
}

export interface ThrottleResult {
  /** Predictions and limits were divided by this. */
  readonly scale: number;
  readonly shipped: BurstOutcome;
  readonly earlier: BurstOutcome;
  readonly seconds: number;
  readonly violations: string[];
}

export async function runThrottledBurst(seed: number): Promise<ThrottleResult> {
  const started = Date.now();
  const violations: string[] = [];
  const shipped = await burst(seed, WEBHOOK_THROTTLE_DEFAULTS, violations, true);
  const earlier = await burst(seed, EARLIER_LIMITS, violations, false);
  check(
    shipped.answered429 === 0,
    `throttle: ${shipped.answered429} webhooks answered 429 at the construct's limits`,
    violations,
  );
  check(shipped.announced === shipped.predictions, `throttle: ${shipped.announced}/${shipped.predictions} announced`, violations);
  // The comparison means something only if the burst really is one.
  check(earlier.answered429 > 0, 'throttle: the burst never reached the earlier limits', violations);
  return { scale: SCALE, shipped, earlier, seconds: Math.round((Date.now() - started) / 1000), violations };
}

async function burst(
  seed: number,
  limits: { readonly rateLimit: number; readonly burstLimit: number },
  violations: string[],
  strict: boolean,
): Promise<BurstOutcome> {
  const random = seededRandom(seed);
  const harness = await startHarness({ throttle: scaled(limits) });
  try {
    const plans = Array.from({ length: PREDICTIONS }, () =>
      planPrediction(random, harness.files, { duplicateRate: 0.1, reorderRate: 0, lateRate: 0, steps: STEPS }),
    );
    let answered429 = 0;
    let terminalAnswered429 = 0;
    let terminalLost = 0;
    let webhooks = 0;
    const from = Date.now();
    let lastSent = from;
    const { webhookUrl, secret } = harness.info;
    await Promise.all(
      plans.flatMap((plan) => {
        const offset = Math.floor(random() * 200);
        return plan.webhooks.map(async (webhook, index) => {
          await new Promise((resolve) => setTimeout(resolve, offset + index * SPACING_MS));
          webhooks++;
          lastSent = Math.max(lastSent, Date.now());
          const terminal = isTerminalStatus(webhook.status);
          let result = await sendDelivery(webhookUrl, secret, webhook, { timestamp: webhook.timestamp });
          if (result.status === 429) {
            answered429++;
            if (terminal) terminalAnswered429++;
          }
          // Replicate retries the terminal webhook only.
          for (const delay of terminal ? TERMINAL_RETRY_DELAYS_MS : []) {
            if (result.status < 300) break;
            await new Promise((resolve) => setTimeout(resolve, delay));
            result = await sendDelivery(webhookUrl, secret, webhook, { timestamp: webhook.timestamp });
          }
          if (terminal && result.status >= 300) terminalLost++;
          if (strict)
            check(
              result.status === 200,
              `throttle: a webhook of ${plan.id} was answered ${result.status} ${result.body}`,
              violations,
            );
        });
      }),
    );
    const ids = plans.map((plan) => plan.id);
    if (strict) {
      try {
        await harness.waitForNotified(ids, 60_000);
      } catch (error) {
        violations.push(`throttle: ${(error as Error).message}`);
      }
    } else {
      await harness.waitForNotified(ids, 20_000).catch(() => undefined);
    }
    await harness.collectNotifications(1000);
    const announced = ids.filter((id) => (harness.notifications.get(id)?.length ?? 0) === 1).length;
    return {
      limits: { rateLimit: limits.rateLimit, burstLimit: limits.burstLimit },
      webhooks,
      sentPerSecond: Math.round(webhooks / Math.max(0.001, (lastSent - from) / 1000)),
      answered429,
      terminalAnswered429,
      terminalLost,
      announced,
      predictions: plans.length,
    };
  } finally {
    await harness.stop();
  }
}
