/**
 * Persistence for one webhook: ONE conditional UpdateItem on the prediction's item. The
 * condition is the state rule (lambda/shared/state.ts): it refuses a regression, anything after
 * the terminal state, and every duplicate, since a webhook seen again is never ahead of what the
 * item records. A single write is atomic by itself, so there is nothing to keep in step with it,
 * and losing a race costs no second read: the refused item comes back with the refusal (ALL_OLD).
 * A terminal payload is written first, on its own (Brotli-compressed into an item of its own, or to
 * S3 when even compressed it is large), so that the record only ever points at a payload already
 * stored.
 */
import {
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type PutItemCommandInput,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { spilledPayloadKey } from '../shared/archive-layout';
import { bodySha256, compressPayload } from '../shared/payload-item';
import { CompletionKind, STATUS_RANK, TERMINAL_RANK, isTerminalStatus, type Prediction } from '../shared/prediction';
import {
  ARCHIVE_PENDING_INDEX,
  ATTR,
  FOLLOW_INDEX,
  MAX_INLINE_PAYLOAD_BYTES,
  PARTITION_KEY,
  PAYLOAD_ITEM_RETENTION_SECONDS,
  TRANSITION_CONDITION,
  TTL_ATTRIBUTE,
  decideTransition,
  payloadItemKey,
  predictionItemKey,
  summarizeProgress,
  type WriteOutcome,
} from '../shared/state';

export interface WebhookRecord {
  readonly webhookId: string;
  readonly timestampSeconds: number;
  readonly prediction: Prediction;
  /** The verified body, verbatim. Stored whole only for a terminal webhook; its digest always. */
  readonly body: string | Buffer;
  /** Its size in bytes. */
  readonly bodyBytes: number;
  readonly receivedAt: Date;
}

export interface StoreSettings {
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly maxInlinePayloadBytes: number;
}

/** Where the terminal payload goes: into a payload item of the table, or into S3 when too large. */
export type PayloadPlacement = { readonly kind: 'none' } | InlinePlacement | { readonly kind: 'spill'; readonly key: string };

/** A payload item: its key, and the body Brotli-compressed, as it is stored. */
export interface InlinePlacement {
  readonly kind: 'inline';
  readonly key: string;
  readonly compressed: Buffer;
}

/**
 * Inline when the payload, compressed as it would be stored, is at most the configured size (and
 * never above MAX_INLINE_PAYLOAD_BYTES): the limit bounds what the table holds and bills, so the
 * payloads that compress well stay out of S3 (no PUT at intake, no GET at archival). Compression
 * stops at the limit: a body bound for S3 is not compressed whole.
 */
export function placePayload(
  record: WebhookRecord,
  settings: StoreSettings,
  digest: string = bodySha256(record.body),
): PayloadPlacement {
  if (!isTerminalStatus(record.prediction.status)) return { kind: 'none' };
  const compressed = compressPayload(record.body, Math.min(settings.maxInlinePayloadBytes, MAX_INLINE_PAYLOAD_BYTES));
  if (compressed !== undefined) return { kind: 'inline', key: payloadItemKey(record.prediction.id, digest), compressed };
  return { kind: 'spill', key: spilledPayloadKey(settings.archivePrefix, record.prediction.id, digest) };
}

/** The body's digest (defined beside the payload item, whose key it is part of). */
export { bodySha256 };

/** A dependency failed; the webhook was not recorded and must be retried (answer 5xx). */
export class StoreUnavailableError extends Error {
  constructor(
    readonly dependency: 'state_store' | 'payload_store',
    cause: unknown,
  ) {
    super(`${dependency} unavailable`, { cause });
    this.name = 'StoreUnavailableError';
  }
}

/**
 * DynamoDB refused the record as larger than an item may be. The same write can never succeed,
 * so it is answered 4xx rather than retried. Not expected: the verifier bounds every field it
 * copies and spills large payloads.
 */
export class RecordTooLargeError extends Error {
  constructor(cause: unknown) {
    super('record exceeds the item size limit', { cause });
    this.name = 'RecordTooLargeError';
  }
}

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });

export class WebhookStore {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly s3: S3Client,
    private readonly settings: StoreSettings,
  ) {}

  /**
   * Records the webhook and says what it did. Throws StoreUnavailableError when a dependency
   * failed (retry), RecordTooLargeError when the record can never fit in an item (do not).
   */
  async record(record: WebhookRecord): Promise<WriteOutcome> {
    const digest = bodySha256(record.body);
    const placement = placePayload(record, this.settings, digest);
    if (placement.kind === 'spill') await this.spill(placement.key, record.body);
    try {
      // Written whatever the record's write then decides: a refused webhook's expires unread.
      if (placement.kind === 'inline')
        await this.dynamodb.send(new PutItemCommand(buildPayloadItem(record, placement, this.settings)));
      await this.dynamodb.send(new UpdateItemCommand(buildUpdate(record, placement, this.settings, digest)));
      return 'accepted';
    } catch (error) {
      // By name, not instanceof: a bundle may carry more than one copy of the SDK's classes.
      const refused = error as { name?: string; Item?: Record<string, AttributeValue> } | undefined;
      if (refused?.name === 'ConditionalCheckFailedException') return refusedOutcome(refused.Item, record, digest);
      const invalid = validationFailure(error);
      if (invalid === 'item_too_large') throw new RecordTooLargeError(error);
      // Any other validation error is ours (an expression, the table's wiring): retrying the
      // same write cannot help, and it is no outage either. It surfaces as an internal error.
      if (invalid === 'invalid') throw error;
      throw new StoreUnavailableError('state_store', error);
    }
  }

  private async spill(key: string, body: string | Buffer): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.settings.bucketName, Key: key, Body: body, ContentType: 'application/json' }),
      );
    } catch (error) {
      throw new StoreUnavailableError('payload_store', error);
    }
  }
}

/** The one write: the prediction's state change, conditional on the state rule. */
export function buildUpdate(
  record: WebhookRecord,
  placement: PayloadPlacement,
  settings: StoreSettings,
  digest: string = bodySha256(record.body),
): UpdateItemCommandInput {
  const { prediction, webhookId, timestampSeconds, receivedAt } = record;
  const now = receivedAt.toISOString();
  const progress = summarizeProgress(prediction);

  const update = new UpdateBuilder();
  update.set(ATTR.predictionId, s(prediction.id));
  update.set(ATTR.kind, s(prediction.kind ?? CompletionKind.PREDICTION));
  update.set(ATTR.status, s(prediction.status));
  update.set(ATTR.statusRank, n(STATUS_RANK[prediction.status]));
  update.set(ATTR.lastWebhookId, s(webhookId));
  // A terminal record names its body's digest in its payload's location (storedDigest): not twice.
  if (placement.kind === 'none') update.set(ATTR.lastWebhookSha256, s(digest));
  else update.remove(ATTR.lastWebhookSha256);
  update.set(ATTR.lastWebhookAt, n(timestampSeconds));
  update.set(ATTR.updatedAt, s(now));
  update.setIfMissing(ATTR.firstReceivedAt, s(now));
  update.set(ATTR.outputCount, n(progress.outputCount));
  update.set(ATTR.logsBytes, n(progress.logsBytes));
  update.set(ATTR.payloadBytes, n(record.bodyBytes));
  for (const [attribute, value] of [
    [ATTR.model, prediction.model],
    [ATTR.version, prediction.version],
    [ATTR.createdAt, prediction.createdAt],
    [ATTR.startedAt, prediction.startedAt],
    [ATTR.completedAt, prediction.completedAt],
  ] as const) {
    if (value !== undefined) update.set(attribute, s(value));
  }
  if (placement.kind === 'none') {
    // Open until the terminal webhook: the reconciler follows it by id, however long it runs.
    update.set(ATTR.follow, s(FOLLOW_INDEX.openValue));
    update.setIfMissing(ATTR.followAt, s(followFrom(prediction.createdAt, receivedAt)));
  } else {
    update.remove(ATTR.follow);
    update.remove(ATTR.followAt);
    update.set(ATTR.terminalStatus, s(prediction.status));
    update.set(ATTR.terminalAt, s(now));
    update.set(ATTR.archiveStatus, s('pending'));
    update.set(ATTR.archivePending, s(ARCHIVE_PENDING_INDEX.pendingValue));
    if (placement.kind === 'inline') {
      update.set(ATTR.payloadItem, s(placement.key));
    } else {
      update.set(ATTR.payloadBucket, s(settings.bucketName));
      update.set(ATTR.payloadKey, s(placement.key));
    }
  }
  update.add(ATTR.webhookCount, n(1));
  update.name(PARTITION_KEY);
  update.value('terminalRank', n(TERMINAL_RANK));

  return {
    TableName: settings.tableName,
    Key: { [PARTITION_KEY]: s(predictionItemKey(prediction.id)) },
    UpdateExpression: update.expression(),
    ConditionExpression: TRANSITION_CONDITION,
    ExpressionAttributeNames: update.names,
    ExpressionAttributeValues: update.values,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/** When an open record is first due to be followed: when the prediction was created (as a sortable ISO time). */
function followFrom(createdAt: string | undefined, receivedAt: Date): string {
  const created = Date.parse(createdAt ?? '');
  return new Date(Number.isNaN(created) ? receivedAt.getTime() : created).toISOString();
}

/**
 * The terminal payload's own item: the body, Brotli-compressed (lambda/shared/payload-item.ts reads
 * it back byte for byte, checked against the digest in the key), expiring once the archive has it.
 */
export function buildPayloadItem(
  record: WebhookRecord,
  placement: InlinePlacement,
  settings: StoreSettings,
): PutItemCommandInput {
  const expiresAt = Math.floor(record.receivedAt.getTime() / 1000) + PAYLOAD_ITEM_RETENTION_SECONDS;
  return {
    TableName: settings.tableName,
    Item: {
      [PARTITION_KEY]: s(placement.key),
      [ATTR.payloadBr]: { B: placement.compressed },
      [TTL_ATTRIBUTE]: n(expiresAt),
    },
  };
}

/** Every attribute goes through a `#name` placeholder, so no reserved word can break a write. */
class UpdateBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private readonly sets: string[] = [];
  private readonly adds: string[] = [];
  private readonly removes: string[] = [];

  name(attribute: string): string {
    this.names[`#${attribute}`] = attribute;
    return `#${attribute}`;
  }

  value(key: string, value: AttributeValue): string {
    this.values[`:${key}`] = value;
    return `:${key}`;
  }

  set(attribute: string, value: AttributeValue): void {
    this.sets.push(`${this.name(attribute)} = ${this.value(attribute, value)}`);
  }

  setIfMissing(attribute: string, value: AttributeValue): void {
    const name = this.name(attribute);
    this.sets.push(`${name} = if_not_exists(${name}, ${this.value(attribute, value)})`);
  }

  add(attribute: string, value: AttributeValue): void {
    this.adds.push(`${this.name(attribute)} ${this.value(`${attribute}Increment`, value)}`);
  }

  remove(attribute: string): void {
    this.removes.push(this.name(attribute));
  }

  expression(): string {
    return (
      `SET ${this.sets.join(', ')}` +
      (this.adds.length > 0 ? ` ADD ${this.adds.join(', ')}` : '') +
      (this.removes.length > 0 ? ` REMOVE ${this.removes.join(', ')}` : '')
    );
  }
}

/**
 * Whether DynamoDB refused the write as invalid (`ValidationException`): the item would be over
 * the size limit, or anything else about the request is wrong.
 */
export function validationFailure(error: unknown): 'item_too_large' | 'invalid' | undefined {
  const candidate = error as { name?: string; message?: string } | undefined;
  if (candidate?.name !== 'ValidationException') return undefined;
  // "Item size has exceeded the maximum allowed size", "Item size to update has exceeded …".
  return /\bsize\b.*\bexceed/i.test(candidate.message ?? '') ? 'item_too_large' : 'invalid';
}

/**
 * The digest of the body the record was last changed by: kept as an attribute while the record is
 * open, and named by the terminal payload's location once it is terminal. Payloads of records
 * written before digests were kept are named by their webhook id instead: no digest can be told.
 */
export function storedDigest(item: Record<string, AttributeValue> | undefined): string | undefined {
  const kept = item?.[ATTR.lastWebhookSha256]?.S;
  if (kept !== undefined) return kept;
  const webhookId = item?.[ATTR.lastWebhookId]?.S;
  const payloadItem = item?.[ATTR.payloadItem]?.S;
  const itemPrefix = payloadItemKey(item?.[ATTR.predictionId]?.S ?? '', '');
  const named = payloadItem?.startsWith(itemPrefix)
    ? payloadItem.slice(itemPrefix.length)
    : /\/([^/]+)\.json$/.exec(item?.[ATTR.payloadKey]?.S ?? '')?.[1];
  if (named === undefined || webhookId === undefined) return undefined;
  return named === webhookId || named === encodeURIComponent(webhookId) ? undefined : named;
}

function refusedOutcome(item: Record<string, AttributeValue> | undefined, record: WebhookRecord, digest: string): WriteOutcome {
  const number = (attribute: string) => Number(item?.[attribute]?.N ?? 0);
  const progress = summarizeProgress(record.prediction);
  const decision = decideTransition(
    {
      statusRank: number(ATTR.statusRank),
      lastWebhookAt: number(ATTR.lastWebhookAt),
      lastWebhookId: item?.[ATTR.lastWebhookId]?.S ?? '',
      ...(storedDigest(item) !== undefined ? { lastWebhookSha256: storedDigest(item) } : {}),
      logsBytes: number(ATTR.logsBytes),
      outputCount: number(ATTR.outputCount),
    },
    {
      status: record.prediction.status,
      timestampSeconds: record.timestampSeconds,
      webhookId: record.webhookId,
      bodySha256: digest,
      ...progress,
    },
  );
  // 'apply' cannot come back for a refused write, whose ALL_OLD is the item the condition saw,
  // unless the rule and the condition disagree; the write did not happen, so it was superseded.
  return decision === 'apply' ? 'stale' : decision;
}
