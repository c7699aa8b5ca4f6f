/**
 * The state model of one table: prediction records and webhook dedup markers, and the rule
 * that decides whether a webhook may change a prediction. Pure: the DynamoDB condition below
 * is plain text, and `decideTransition` states the same rule in code so it can be tested alone
 * and used to explain a refused write.
 */
import { STATUS_RANK, TERMINAL_RANK, type Prediction, type PredictionStatus } from './prediction';

/** Partition key attribute of every item. */
export const PARTITION_KEY = 'pk';
/** TTL attribute: dedup markers expire, prediction records are kept. */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * Largest terminal payload kept in the item, whatever the verifier is configured with: DynamoDB
 * refuses an item over 400 KB (attribute names and every other attribute included, and the
 * archiver adds its own), for good. Larger payloads go to S3.
 */
export const MAX_INLINE_PAYLOAD_BYTES = 256 * 1024;

/** Defaults of the state store's settings, shared by the handlers that write through it. */
export const STORE_DEFAULTS = {
  /** Terminal payloads up to this stay in the item; larger ones go to S3 first. */
  maxInlinePayloadBytes: 16 * 1024,
  /** How long a webhook id is remembered (Replicate retries for about a minute). */
  dedupTtlSeconds: 7 * 24 * 3600,
} as const;

export const predictionItemKey = (predictionId: string): string => `prediction#${predictionId}`;
export const webhookMarkerKey = (webhookId: string): string => `webhook#${webhookId}`;

/** Attribute names of a prediction record (shared by the verifier, archiver and tests). */
export const ATTR = {
  predictionId: 'predictionId',
  status: 'status',
  statusRank: 'statusRank',
  terminalStatus: 'terminalStatus',
  lastWebhookId: 'lastWebhookId',
  lastWebhookAt: 'lastWebhookAt',
  webhookCount: 'webhookCount',
  firstReceivedAt: 'firstReceivedAt',
  updatedAt: 'updatedAt',
  terminalAt: 'terminalAt',
  model: 'model',
  version: 'version',
  createdAt: 'createdAt',
  startedAt: 'startedAt',
  completedAt: 'completedAt',
  outputCount: 'outputCount',
  logsBytes: 'logsBytes',
  payloadBytes: 'payloadBytes',
  /** The terminal payload, verbatim, when it fits in the item. */
  payload: 'payload',
  /** Where the terminal payload is when it was too large for the item. */
  payloadBucket: 'payloadBucket',
  payloadKey: 'payloadKey',
  archiveStatus: 'archiveStatus',
  /** Set while a finished prediction waits to be announced: the sparse archive-pending index's key. */
  archivePending: 'archivePending',
} as const;

/**
 * A sparse index of finished predictions not announced yet, oldest first: the reconciler finds
 * stuck archivals without scanning the table. Only terminal records carry the key, and the
 * archiver removes it when it announces.
 */
export const ARCHIVE_PENDING_INDEX = {
  indexName: 'archive-pending',
  partitionKey: ATTR.archivePending,
  sortKey: ATTR.terminalAt,
  /** The one partition value: predictions waiting at once are few, so one partition holds them. */
  pendingValue: 'pending',
  /** Written once, when a last try failed: such a prediction waits in the dead-letter queue, for a person. */
  projected: ['archiveFailedAt', 'predictionId'],
} as const;

export type WriteOutcome = 'accepted' | 'duplicate' | 'stale' | 'after_terminal';

/** What the stored record says, as far as the transition rule cares. */
export interface StoredProgress {
  readonly statusRank: number;
  readonly lastWebhookAt: number;
}

export interface IncomingProgress {
  readonly status: PredictionStatus;
  readonly timestampSeconds: number;
}

/**
 * The rule: a new prediction is recorded; a terminal record is frozen; a lower rank never
 * overwrites a higher one; within the same rank an older webhook does not overwrite a newer one.
 */
export function decideTransition(
  stored: StoredProgress | undefined,
  incoming: IncomingProgress,
): 'apply' | 'stale' | 'after_terminal' {
  if (stored === undefined) return 'apply';
  if (stored.statusRank >= TERMINAL_RANK) return 'after_terminal';
  const rank = STATUS_RANK[incoming.status];
  if (stored.statusRank < rank) return 'apply';
  if (stored.statusRank === rank && stored.lastWebhookAt <= incoming.timestampSeconds) return 'apply';
  return 'stale';
}

/**
 * `decideTransition` as a DynamoDB condition. Names are `#` + attribute name; values are
 * `:statusRank` and `:lastWebhookAt` (the incoming webhook's) and `:terminalRank`.
 */
export const TRANSITION_CONDITION =
  'attribute_not_exists(#pk) OR (#statusRank < :terminalRank AND ' +
  '(#statusRank < :statusRank OR (#statusRank = :statusRank AND #lastWebhookAt <= :lastWebhookAt)))';

/** Progress recorded for every webhook; the payload itself is kept only for the terminal one. */
export interface ProgressSummary {
  readonly outputCount: number;
  readonly logsBytes: number;
}

export function summarizeProgress(prediction: Prediction): ProgressSummary {
  const { output, logs } = prediction;
  return {
    outputCount: output === null ? 0 : Array.isArray(output) ? output.length : 1,
    logsBytes: logs === undefined ? 0 : Buffer.byteLength(logs, 'utf8'),
  };
}
