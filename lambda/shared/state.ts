/**
 * The state model of one table: one record per prediction (and, beside it, the terminal payload
 * in an item of its own), and the rule that decides whether a webhook may change the record. Pure: the DynamoDB condition below is plain text, and `decideTransition`
 * states the same rule in code so it can be tested alone and used to explain a refused write.
 */
import { STATUS_RANK, TERMINAL_RANK, type Prediction, type PredictionStatus } from './prediction';

/** Partition key attribute of every item. */
export const PARTITION_KEY = 'pk';
/** TTL attribute: payload items and the reconciler's own items expire through it; prediction records are kept. */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * Largest terminal payload kept in its item (compressed, as it is stored), whatever the verifier
 * is configured with: DynamoDB refuses an item over 400 KB (attribute names and every other
 * attribute included), for good. Larger payloads go to S3.
 */
export const MAX_INLINE_PAYLOAD_BYTES = 256 * 1024;

/** Defaults of the state store's settings, shared by the handlers that write through it. */
export const STORE_DEFAULTS = {
  /** Terminal payloads whose compressed size is up to this stay in the table; larger ones go to S3 first. */
  maxInlinePayloadBytes: 16 * 1024,
} as const;

export const predictionItemKey = (predictionId: string): string => `prediction#${predictionId}`;
/**
 * Key of the item holding a terminal payload small enough for the table. It is apart from the
 * prediction's record, which the archiver updates three times: each update is billed on the
 * record's size, and this keeps it under 1 KB. It is named by the body's digest: two terminal
 * webhooks racing, or one webhook id sent again with another body, each write their own item and
 * can never swap the payload the record points at (the same body twice writes the same item).
 */
export const payloadItemKey = (predictionId: string, bodyDigest: string): string => `payload#${predictionId}#${bodyDigest}`;

/**
 * How long a payload item is kept (through the TTL attribute): the default of spilled payloads'
 * expiry in S3. The archive's manifest.json (its `payload`) is the durable copy; this one outlives
 * the queue's retries and a redrive from the dead-letter queue (kept 14 days), and one written for
 * a webhook that was then refused (a duplicate) goes away by itself.
 */
export const PAYLOAD_ITEM_RETENTION_SECONDS = 30 * 24 * 3600;

/** Attribute names of a prediction record (shared by the verifier, archiver and tests). */
export const ATTR = {
  predictionId: 'predictionId',
  /** `prediction` or `training` (CompletionKind); absent on records written before trainings were told apart: a prediction. */
  kind: 'kind',
  status: 'status',
  statusRank: 'statusRank',
  terminalStatus: 'terminalStatus',
  lastWebhookId: 'lastWebhookId',
  /** Digest (SHA-256, first 128 bits) of the body of the webhook the record was last changed by: the same id with another body is a conflict. */
  lastWebhookSha256: 'bodyDigest',
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
  /**
   * The terminal payload, verbatim, as a string: in payload items written before payloads were
   * compressed (read until they expire), and in prediction records of earlier versions.
   */
  payload: 'payload',
  /**
   * The terminal payload in its payload item, Brotli-compressed (Binary): lambda/shared/payload-item.ts.
   * Short, as the name counts toward the item's size.
   */
  payloadBr: 'payloadBr',
  /** The key of the payload item, when the terminal payload is in the table. */
  payloadItem: 'payloadItem',
  /** Where the terminal payload is when it was too large for the item. */
  payloadBucket: 'payloadBucket',
  payloadKey: 'payloadKey',
  archiveStatus: 'archiveStatus',
  /** Set while a finished prediction waits to be announced: the sparse archive-pending index's key. */
  archivePending: 'archivePending',
  /** Set while a record is not terminal (and on the reconciler's retries): the sparse follow index's key. */
  follow: 'follow',
  /** When the reconciler is next due to look the prediction up by id: the follow index's sort key. */
  followAt: 'followAt',
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
  /**
   * Where a prediction moves when its archival was given up (its last try failed, or it passed
   * the attempt cap): out of the reconciler's way, findable by a person, redrivable on purpose.
   */
  failedValue: 'failed',
  /** Written once, when a last try failed: such a prediction waits in the dead-letter queue, for a person. */
  projected: ['archiveFailedAt', 'predictionId'],
} as const;

/**
 * A sparse index of what the reconciler follows by id, whatever its age, oldest due first (never a
 * scan). `open`: a record that is not terminal (the verifier sets it on every non-terminal
 * webhook and removes it with the terminal one), so a long job whose terminal webhook is lost is
 * still found. `retry`: a prediction the reconciler could not recover (a failing fetch, a store
 * outage), in an item of its own, tried again in later runs. Keys only: the records' updates
 * never touch the index unless they add or remove it.
 */
export const FOLLOW_INDEX = {
  indexName: 'follow',
  partitionKey: ATTR.follow,
  sortKey: ATTR.followAt,
  openValue: 'open',
  retryValue: 'retry',
} as const;

/** The reconciler's retry of one prediction it could not recover (a `retry` entry of the follow index). */
export const recoveryRetryKey = (predictionId: string): string => `recover#${predictionId}`;
/** A prediction of another application (out of scope), remembered so that it is not fetched again. */
export const outOfScopeKey = (predictionId: string): string => `foreign#${predictionId}`;
/** The reconciler's own state: how far its listing of Replicate's predictions is complete, and its redrive cursor. */
export const RECONCILER_STATE_KEY = 'reconciler#state';

/**
 * What a webhook did to the record. `conflict`: the webhook id the record was last changed by,
 * with another body; nothing changed, and it is refused (a webhook id names one message).
 */
export type WriteOutcome = 'accepted' | 'duplicate' | 'conflict' | 'stale' | 'after_terminal';

/** What the stored record says, as far as the transition rule cares. */
export interface StoredProgress {
  readonly statusRank: number;
  readonly lastWebhookAt: number;
  readonly lastWebhookId: string;
  /** Absent on records written before it was kept: a redelivery then counts as a duplicate. */
  readonly lastWebhookSha256?: string;
  readonly logsBytes: number;
  readonly outputCount: number;
}

export interface IncomingProgress {
  readonly status: PredictionStatus;
  readonly timestampSeconds: number;
  readonly webhookId: string;
  readonly bodySha256?: string;
  readonly logsBytes: number;
  readonly outputCount: number;
}

/**
 * The rule. A new prediction is recorded. The webhook last recorded, seen again, is a duplicate.
 * A terminal record is frozen. Otherwise the record only moves forward, in the order (status
 * rank, webhook timestamp, log bytes, output count), strictly: a lower rank never overwrites a
 * higher one, an older webhook of the same rank never overwrites a newer one, and within the same
 * second the one with more progress wins. Since the order is strict and the record only moves up
 * it, any webhook recorded before, delivered again, is refused: the latest as a duplicate, an
 * earlier one as stale. (A redelivery signed with a later timestamp than its first delivery
 * would pass as newer; Replicate retries only terminal webhooks, and those are frozen.)
 */
export function decideTransition(
  stored: StoredProgress | undefined,
  incoming: IncomingProgress,
): 'apply' | 'duplicate' | 'conflict' | 'stale' | 'after_terminal' {
  if (stored === undefined) return 'apply';
  if (stored.lastWebhookId === incoming.webhookId) {
    const known = stored.lastWebhookSha256 !== undefined && incoming.bodySha256 !== undefined;
    return known && stored.lastWebhookSha256 !== incoming.bodySha256 ? 'conflict' : 'duplicate';
  }
  if (stored.statusRank >= TERMINAL_RANK) return 'after_terminal';
  return compareProgress(stored, {
    ...incoming,
    statusRank: STATUS_RANK[incoming.status],
    lastWebhookAt: incoming.timestampSeconds,
  }) < 0
    ? 'apply'
    : 'stale';
}

type Ordered = Pick<StoredProgress, 'statusRank' | 'lastWebhookAt' | 'logsBytes' | 'outputCount'>;

/** Negative when `a` comes before `b` in the record's order. */
function compareProgress(a: Ordered, b: Ordered): number {
  return (
    a.statusRank - b.statusRank || a.lastWebhookAt - b.lastWebhookAt || a.logsBytes - b.logsBytes || a.outputCount - b.outputCount
  );
}

/**
 * `decideTransition` as a DynamoDB condition (true: apply). Names are `#` + attribute name;
 * values are `:` + attribute name (the incoming webhook's) and `:terminalRank`.
 */
export const TRANSITION_CONDITION =
  'attribute_not_exists(#pk) OR (#lastWebhookId <> :lastWebhookId AND #statusRank < :terminalRank AND ' +
  '(#statusRank < :statusRank OR (#statusRank = :statusRank AND ' +
  '(#lastWebhookAt < :lastWebhookAt OR (#lastWebhookAt = :lastWebhookAt AND ' +
  '(#logsBytes < :logsBytes OR (#logsBytes = :logsBytes AND #outputCount < :outputCount)))))))';

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
