import { STATUS_RANK } from '../../lambda/shared/prediction';
import type { IncomingProgress, StoredProgress } from '../../lambda/shared/state';

/** The record a webhook leaves behind once applied, as the transition rule reads it. */
export const storedProgressOf = (incoming: IncomingProgress): StoredProgress => ({
  statusRank: STATUS_RANK[incoming.status],
  lastWebhookAt: incoming.timestampSeconds,
  lastWebhookId: incoming.webhookId,
  logsBytes: incoming.logsBytes,
  outputCount: incoming.outputCount,
});
