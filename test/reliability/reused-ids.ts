/**
 * Reused webhook ids: among good predictions, a terminal webhook's id is signed again over
 * another body (another status, other outputs), sent at the same moment as the real one or
 * seconds after it; and an intermediate webhook's id likewise. A webhook id names one message:
 * the body that got there first is recorded, archived and announced, once; the other is answered
 * 409 and changes nothing, not the record, not the stored payload, not the payload in the manifest.
 */
import { GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { payloadOfItem } from '../../lambda/shared/payload-item';
import { isTerminalStatus } from '../../lambda/shared/prediction';
import { sendDelivery } from '../../cli/send';
import { seededRandom } from '../../cli/scenarios';
import { check, pool, type Harness } from './harness';
import { planPrediction, type PlannedWebhook, type PredictionPlan } from './lifecycles';

const GOOD = 30;
const AT_ONCE = 6;
const LATER = 6;
const INTERMEDIATE = 6;

export interface ReusedIdsResult {
  readonly predictions: number;
  readonly terminalAtOnce: number;
  readonly terminalLater: number;
  readonly intermediate: number;
  /** Second bodies under a used id answered 409 webhook_id_conflict. */
  readonly conflicts: number;
  readonly announcedExactlyOnce: number;
  /** The manifest's payload (byte for byte the stored one), the stored payload and the announcement all say what the record says. */
  readonly consistent: number;
  readonly violations: string[];
}

/** The same webhook, signed again over another body: another outcome entirely. */
function anotherBody(webhook: PlannedWebhook): PlannedWebhook {
  const body = JSON.parse(webhook.body) as Record<string, unknown>;
  const other = isTerminalStatus(body.status)
    ? { ...body, status: 'failed', output: null, error: 'another body under the same webhook id' }
    : { ...body, logs: `${String(body.logs ?? '')}\nanother body` };
  return { ...webhook, body: JSON.stringify(other) };
}

export async function runReusedIds(harness: Harness, seed: number): Promise<ReusedIdsResult> {
  const random = seededRandom(seed);
  const violations: string[] = [];
  const { webhookUrl, secret } = harness.info;
  const plans = Array.from({ length: GOOD }, () =>
    planPrediction(random, harness.files, { duplicateRate: 0.1, reorderRate: 0, lateRate: 0 }),
  );
  let conflicts = 0;
  const send = async (webhook: PlannedWebhook) => sendDelivery(webhookUrl, secret, webhook, { timestamp: webhook.timestamp });
  await pool(plans, 8, async (plan, index) => {
    const kind =
      index < AT_ONCE
        ? 'at_once'
        : index < AT_ONCE + LATER
          ? 'later'
          : index < AT_ONCE + LATER + INTERMEDIATE
            ? 'intermediate'
            : 'plain';
    const intermediate = plan.webhooks.find((webhook) => webhook.status === 'processing');
    for (const webhook of plan.webhooks) {
      const terminal = isTerminalStatus(webhook.status);
      if (terminal && kind === 'at_once') {
        const answers = await Promise.all([send(webhook), send(anotherBody(webhook))]);
        const statuses = answers.map((answer) => answer.status).sort();
        // One body wins; unless the real one was already delivered (a planned duplicate), then the other loses alone.
        check(
          statuses.includes(409),
          `reused ids: ${plan.id} sent twice at once was answered ${statuses.join(', ')}`,
          violations,
        );
        conflicts += statuses.filter((status) => status === 409).length;
        continue;
      }
      const result = await send(webhook);
      // A planned duplicate of a terminal webhook that lost the race is itself a conflict.
      if (result.status === 409) conflicts++;
      else
        check(
          result.status === 200,
          `reused ids: a webhook of ${plan.id} was answered ${result.status} ${result.body}`,
          violations,
        );
      if (webhook === intermediate && kind === 'intermediate') {
        const other = await send(anotherBody(webhook));
        if (other.status === 409) conflicts++;
        else violations.push(`reused ids: an intermediate id of ${plan.id} sent with another body was answered ${other.status}`);
      }
    }
    if (kind === 'later') {
      await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.floor(random() * 2_000)));
      const other = await send(anotherBody(plan.webhooks.find((webhook) => isTerminalStatus(webhook.status))!));
      if (other.status === 409) conflicts++;
      else violations.push(`reused ids: a terminal id of ${plan.id} sent later with another body was answered ${other.status}`);
    }
  });
  const ids = plans.map((plan) => plan.id);
  try {
    await harness.waitForNotified(ids, 120_000);
  } catch (error) {
    violations.push(`reused ids: ${(error as Error).message}`);
  }
  await harness.collectNotifications(1500);

  let announcedExactlyOnce = 0;
  let consistent = 0;
  await pool(plans, 8, async (plan: PredictionPlan) => {
    const announced = harness.notifications.get(plan.id) ?? [];
    if (announced.length === 1) announcedExactlyOnce++;
    else violations.push(`reused ids: ${plan.id} announced ${announced.length} times`);
    const item = await harness.predictionItem(plan.id);
    const stored = await storedPayload(harness, item);
    const document = await harness.archivedPayload(plan.id).catch(() => undefined);
    const status = item?.status?.S;
    const agree =
      stored !== undefined &&
      document === stored &&
      (JSON.parse(stored) as { status?: string }).status === status &&
      announced[0]?.status === status;
    if (agree) consistent++;
    else
      violations.push(
        `reused ids: ${plan.id}: the record (${status}), its payload, the manifest's payload and the announcement disagree`,
      );
  });
  return {
    predictions: plans.length,
    terminalAtOnce: AT_ONCE,
    terminalLater: LATER,
    intermediate: INTERMEDIATE,
    conflicts,
    announcedExactlyOnce,
    consistent,
    violations,
  };
}

async function storedPayload(harness: Harness, item: Record<string, AttributeValue> | undefined): Promise<string | undefined> {
  const key = item?.payloadItem?.S;
  if (key) {
    const { Item } = await harness.dynamodb.send(
      new GetItemCommand({ TableName: harness.info.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
    );
    return payloadOfItem(Item);
  }
  if (item?.payloadBucket?.S && item.payloadKey?.S) {
    const object = await harness.s3.send(new GetObjectCommand({ Bucket: item.payloadBucket.S, Key: item.payloadKey.S }));
    return object.Body!.transformToString();
  }
  return undefined;
}
