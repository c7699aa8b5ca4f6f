/**
 * The archiver's own writes to the prediction record. Each is one conditional UpdateItem on an
 * existing record; none can create one.
 *
 * A queue delivers at least once, so two invocations may hold the same prediction at once. The
 * claim is a lease: only one invocation archives and announces a prediction at a time, and a
 * lease left by a crashed invocation expires by the time its message is visible again. The lease
 * names its holder, so a claim retried after its answer was lost (the write applied, the
 * connection cut) finds its own lease instead of taking it for another's and waiting it out.
 */
import {
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { payloadOfItem } from '../shared/payload-item';
import { CompletionKind, isCompletionKind } from '../shared/prediction';
import { ARCHIVE_PENDING_INDEX, ATTR, PARTITION_KEY, predictionItemKey } from '../shared/state';

export type ArchiveStatus = 'pending' | 'archived' | 'archived_with_failures' | 'failed';

/** A finished prediction this invocation now holds, as recorded by the verifier. */
export interface ClaimedPrediction {
  readonly predictionId: string;
  /** As the record says (a record from before trainings were told apart has none: a prediction). */
  readonly kind: CompletionKind;
  readonly terminalStatus: string;
  /** The terminal payload, when it was small enough to live in the item. */
  readonly payload?: string;
  /** The item holding the payload, until `withPayload` has read it. */
  readonly payloadItemKey?: string;
  /** Where the payload was spilled to, otherwise. */
  readonly payloadLocation?: { readonly bucket: string; readonly key: string };
  /** Claims so far, this one included. */
  readonly attempt: number;
  readonly archiveStatus: ArchiveStatus;
  /** Channels an earlier try already announced it on (each recorded as it succeeded, while another was still out). */
  readonly announcedTo: readonly string[];
  /** Who holds the lease: one handling of one queue message. */
  readonly holder: string;
  /** Outputs an earlier try stored before it gave the prediction back, by S3 key. */
  readonly archivedSoFar: ReadonlyMap<string, StoredOutput>;
}

/** What a retry needs to list an output an earlier try already stored, without fetching it again. */
export interface StoredOutput {
  readonly bucket: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly contentType: string;
}

export type Claim =
  | { readonly kind: 'claimed'; readonly prediction: ClaimedPrediction }
  /** Already announced: a redelivery. */
  | { readonly kind: 'announced' }
  /** Another invocation holds it; its own message stays queued until it is done. */
  | { readonly kind: 'held_elsewhere'; readonly leaseUntil: number }
  /** No such record, or not terminal: nothing to archive. */
  | { readonly kind: 'not_found' };

const LEASE = 'archiveLeaseUntil';
const HOLDER = 'archiveLeaseHolder';
const ANNOUNCED_TO = 'announcedTo';
const ARCHIVED_SO_FAR = 'archivedSoFar';
/**
 * Bounds what a try leaves for the next one (about a hundred outputs): the record is read and
 * written again by every later step, and write units grow with its size. Past this, the outputs
 * not remembered are fetched again, as before.
 */
export const ARCHIVED_SO_FAR_MAX_BYTES = 32 * 1024;

/** What the record keeps of a finished archival: its status, where its manifest is, and its counts. */
export interface ArchivedRecord {
  readonly status: 'archived' | 'archived_with_failures';
  readonly manifestKey: string;
  readonly counts: { readonly files: number; readonly failures: number };
}

function archivedFields(
  archived: ArchivedRecord,
  now: Date,
): { expression: string; names: Record<string, string>; values: Record<string, AttributeValue> } {
  return {
    expression: '#status = :status, #archivedAt = :archivedAt, #manifest = :manifest, #files = :files, #failures = :failures',
    names: {
      '#status': ATTR.archiveStatus,
      '#archivedAt': 'archivedAt',
      '#manifest': 'archiveManifestKey',
      '#files': 'archivedFiles',
      '#failures': 'archiveFailures',
    },
    values: {
      ':status': { S: archived.status },
      ':archivedAt': { S: now.toISOString() },
      ':manifest': { S: archived.manifestKey },
      ':files': { N: String(archived.counts.files) },
      ':failures': { N: String(archived.counts.failures) },
    },
  };
}

export class ArchiveProgressStore {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * Takes the prediction for `leaseMs` on behalf of `holder`, counting the attempt; says why not
   * when it cannot. The same holder may claim again (a retry after a lost answer): one handling
   * of a message is never kept from its own prediction.
   */
  async claim(predictionId: string, now: Date, leaseMs: number, holder: string): Promise<Claim> {
    const leaseUntil = now.getTime() + leaseMs;
    const result = await this.update(predictionId, {
      UpdateExpression:
        // Back in the pending partition: a prediction given up and redriven on purpose must be seen again if this try dies too.
        'ADD #attempts :one SET #startedAt = if_not_exists(#startedAt, :now), #lease = :leaseUntil, #holder = :holder, #pending = :pending',
      ConditionExpression:
        'attribute_exists(#pk) AND attribute_exists(#terminal) AND attribute_not_exists(#notifiedAt) AND ' +
        '(attribute_not_exists(#lease) OR #lease < :nowMs OR #holder = :holder)',
      ExpressionAttributeNames: {
        '#attempts': 'archiveAttempts',
        '#startedAt': 'archiveStartedAt',
        '#lease': LEASE,
        '#holder': HOLDER,
        '#terminal': ATTR.terminalStatus,
        '#notifiedAt': 'notifiedAt',
        '#pending': ATTR.archivePending,
      },
      ExpressionAttributeValues: {
        ':pending': { S: ARCHIVE_PENDING_INDEX.pendingValue },
        ':one': { N: '1' },
        ':now': { S: now.toISOString() },
        ':nowMs': { N: String(now.getTime()) },
        ':leaseUntil': { N: String(leaseUntil) },
        ':holder': { S: holder },
      },
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    if (result.ok) return { kind: 'claimed', prediction: claimedPrediction(predictionId, result.item, holder) };
    const old = result.item;
    if (!old || old[ATTR.terminalStatus] === undefined) return { kind: 'not_found' };
    if (old.notifiedAt !== undefined) return { kind: 'announced' };
    return { kind: 'held_elsewhere', leaseUntil: Number(old[LEASE]?.N ?? '0') };
  }

  /**
   * Renews the lease while this holder still has it (the invocation is alive and working):
   * false when it has not (announced meanwhile, or taken over after its lease ran out).
   */
  async renew(predictionId: string, holder: string, now: Date, leaseMs: number): Promise<boolean> {
    const result = await this.update(predictionId, {
      UpdateExpression: 'SET #lease = :leaseUntil',
      ConditionExpression: 'attribute_exists(#pk) AND #holder = :holder AND attribute_not_exists(#notifiedAt)',
      ExpressionAttributeNames: { '#lease': LEASE, '#holder': HOLDER, '#notifiedAt': 'notifiedAt' },
      ExpressionAttributeValues: { ':leaseUntil': { N: String(now.getTime() + leaseMs) }, ':holder': { S: holder } },
    });
    return result.ok;
  }

  /**
   * The prediction with its terminal payload read from the payload's own item, when the record
   * points at one: written before the record, so a strongly consistent read finds it (one read
   * unit per 4 KB, compressed: a fifth of a write unit; the record the archiver updates three
   * times stays small). The item holds the body Brotli-compressed, or, written before payloads
   * were, as a string: either way the body comes back as the verifier received it.
   */
  async withPayload(prediction: ClaimedPrediction): Promise<ClaimedPrediction> {
    if (prediction.payloadItemKey === undefined || prediction.payload !== undefined) return prediction;
    const { Item } = await this.dynamodb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: prediction.payloadItemKey } },
        ConsistentRead: true,
      }),
    );
    let payload: string | undefined;
    try {
      payload = payloadOfItem(Item);
    } catch (cause) {
      // Not expected (it does not decompress, or not to the body its key's digest names): an item
      // no retry can mend, named as such in the logs.
      throw Object.assign(new Error(`payload item ${prediction.payloadItemKey} is corrupt`, { cause }), {
        name: 'PayloadItemCorrupt',
      });
    }
    if (payload === undefined) {
      throw Object.assign(new Error(`payload item ${prediction.payloadItemKey} is gone`), { name: 'PayloadItemMissing' });
    }
    return { ...prediction, payload };
  }

  /**
   * Gives the prediction back before a retry, if this invocation still holds it, with the outputs
   * it stored: the retry lists those as archived instead of fetching them again, so a prediction
   * too big for one invocation gets further on each try, and no stored file is overwritten.
   */
  async release(predictionId: string, holder: string, stored: ReadonlyMap<string, StoredOutput> = new Map()): Promise<void> {
    const remembered = encodeArchivedSoFar(stored);
    await this.update(predictionId, {
      UpdateExpression: remembered ? 'SET #soFar = :soFar REMOVE #lease, #holder' : 'REMOVE #lease, #holder',
      ConditionExpression: 'attribute_exists(#pk) AND #holder = :me',
      ExpressionAttributeNames: { '#lease': LEASE, '#holder': HOLDER, ...(remembered ? { '#soFar': ARCHIVED_SO_FAR } : {}) },
      ExpressionAttributeValues: { ':me': { S: holder }, ...(remembered ? { ':soFar': { S: remembered } } : {}) },
    });
  }

  async markArchived(predictionId: string, archived: ArchivedRecord, now: Date): Promise<void> {
    const set = archivedFields(archived, now);
    await this.update(predictionId, {
      UpdateExpression: `SET ${set.expression} REMOVE #error, #soFar`,
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { ...set.names, '#soFar': ARCHIVED_SO_FAR, '#error': 'archiveError' },
      ExpressionAttributeValues: set.values,
    });
  }

  /**
   * These channels announced the prediction while another is still out or has failed: remembered
   * at once, so that a retry (after a failure, a crash or a lost reply) announces on the others
   * only, and these channels' subscribers do not hear of it twice.
   */
  async markAnnounced(predictionId: string, channels: readonly string[]): Promise<void> {
    await this.update(predictionId, {
      UpdateExpression: 'ADD #announcedTo :channels',
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: { '#announcedTo': ANNOUNCED_TO },
      ExpressionAttributeValues: { ':channels': { SS: [...channels] } },
    });
  }

  /**
   * Announced: nothing more will happen to this prediction, so the lease, any earlier error and its
   * place in the archive-pending index (`pending` or `failed`) go. `archived`, when this try also
   * archived it: recorded in the same write (one write unit, and a request, less per prediction
   * than recording the archival before announcing). A crash between the manifest and this write
   * costs nothing more than one before the manifest's: the next try (its attempt counted by the
   * claim) finds the manifest and records it then.
   */
  async markNotified(predictionId: string, now: Date, archived?: ArchivedRecord): Promise<void> {
    const set = archived ? archivedFields(archived, now) : undefined;
    await this.update(predictionId, {
      UpdateExpression: `SET #notifiedAt = :now${set ? `, ${set.expression}` : ''} REMOVE #lease, #holder, #error, #pending, #announcedTo, #soFar`,
      ConditionExpression: 'attribute_exists(#pk)',
      ExpressionAttributeNames: {
        ...set?.names,
        '#soFar': ARCHIVED_SO_FAR,
        '#notifiedAt': 'notifiedAt',
        '#announcedTo': ANNOUNCED_TO,
        '#lease': LEASE,
        '#holder': HOLDER,
        '#error': 'archiveError',
        '#pending': ATTR.archivePending,
      },
      ExpressionAttributeValues: { ...set?.values, ':now': { S: now.toISOString() } },
    });
  }

  /**
   * The last try failed: the record says so (findable, and cleared by a later success after a
   * redrive), and the lease goes so that the redriven message finds the prediction free. An
   * archival already recorded (the announcement failed) keeps its status; only the error is added.
   * Either way it leaves the archive-pending index's `pending` partition for its `failed` one: it
   * waits in the dead-letter queue for a person, who finds it there, and the reconciler, which
   * redrives what is stuck in `pending`, no longer sends it back to the queue.
   */
  async markFailed(predictionId: string, reason: string, now: Date): Promise<void> {
    const names = {
      '#status': ATTR.archiveStatus,
      '#error': 'archiveError',
      '#failedAt': 'archiveFailedAt',
      '#notifiedAt': 'notifiedAt',
      '#pending': ATTR.archivePending,
      '#lease': LEASE,
      '#holder': HOLDER,
    };
    const values = {
      ':reason': { S: reason.slice(0, 256) },
      ':now': { S: now.toISOString() },
      ':givenUp': { S: ARCHIVE_PENDING_INDEX.failedValue },
    };
    const notArchived = await this.update(predictionId, {
      UpdateExpression: 'SET #status = :failed, #error = :reason, #failedAt = :now, #pending = :givenUp REMOVE #lease, #holder',
      ConditionExpression:
        'attribute_exists(#pk) AND attribute_not_exists(#notifiedAt) AND NOT #status IN (:archived, :archivedWithFailures)',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: {
        ...values,
        ':failed': { S: 'failed' },
        ':archived': { S: 'archived' },
        ':archivedWithFailures': { S: 'archived_with_failures' },
      },
    });
    if (notArchived.ok) return;
    await this.update(predictionId, {
      UpdateExpression: 'SET #error = :reason, #failedAt = :now, #pending = :givenUp REMOVE #lease, #holder',
      ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#notifiedAt)',
      ExpressionAttributeNames: {
        '#error': names['#error'],
        '#failedAt': names['#failedAt'],
        '#notifiedAt': names['#notifiedAt'],
        '#pending': names['#pending'],
        '#lease': LEASE,
        '#holder': HOLDER,
      },
      ExpressionAttributeValues: values,
    });
  }

  private async update(
    predictionId: string,
    input: Omit<UpdateItemCommandInput, 'TableName' | 'Key'>,
  ): Promise<{ ok: true; item: Record<string, AttributeValue> } | { ok: false; item?: Record<string, AttributeValue> }> {
    try {
      const result = await this.dynamodb.send(
        new UpdateItemCommand({
          ...input,
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: { S: predictionItemKey(predictionId) } },
          ExpressionAttributeNames: { ...input.ExpressionAttributeNames, '#pk': PARTITION_KEY },
        }),
      );
      return { ok: true, item: result.Attributes ?? {} };
    } catch (error) {
      // Recognised by name: the SDK's class may come from another copy of the package.
      if ((error as Error)?.name === 'ConditionalCheckFailedException') {
        return { ok: false, item: (error as { Item?: Record<string, AttributeValue> }).Item };
      }
      throw error;
    }
  }
}

function claimedPrediction(predictionId: string, item: Record<string, AttributeValue>, holder: string): ClaimedPrediction {
  const payload = item[ATTR.payload]?.S;
  const bucket = item[ATTR.payloadBucket]?.S;
  const key = item[ATTR.payloadKey]?.S;
  const payloadItemKey = item[ATTR.payloadItem]?.S;
  const kind = item[ATTR.kind]?.S;
  return {
    predictionId,
    kind: isCompletionKind(kind) ? kind : CompletionKind.PREDICTION,
    terminalStatus: item[ATTR.terminalStatus]?.S ?? '',
    ...(payload !== undefined ? { payload } : {}),
    ...(payloadItemKey !== undefined ? { payloadItemKey } : {}),
    ...(bucket && key ? { payloadLocation: { bucket, key } } : {}),
    attempt: Number(item.archiveAttempts?.N ?? '1'),
    archiveStatus: (item[ATTR.archiveStatus]?.S as ArchiveStatus | undefined) ?? 'pending',
    announcedTo: item[ANNOUNCED_TO]?.SS ?? [],
    holder,
    archivedSoFar: decodeArchivedSoFar(item[ARCHIVED_SO_FAR]?.S),
  };
}

/** `{"<key>": [bucket, bytes, sha256, contentType]}`, as many entries as fit; undefined when none. */
export function encodeArchivedSoFar(stored: ReadonlyMap<string, StoredOutput>): string | undefined {
  const entries: string[] = [];
  let size = 2;
  for (const [key, file] of stored) {
    const entry = `${JSON.stringify(key)}:${JSON.stringify([file.bucket, file.bytes, file.sha256, file.contentType])}`;
    const bytes = Buffer.byteLength(entry) + 1;
    if (size + bytes > ARCHIVED_SO_FAR_MAX_BYTES) break;
    entries.push(entry);
    size += bytes;
  }
  return entries.length > 0 ? `{${entries.join(',')}}` : undefined;
}

/** Our own attribute, read defensively: an entry of the wrong shape is fetched again instead. */
export function decodeArchivedSoFar(text: string | undefined): ReadonlyMap<string, StoredOutput> {
  const stored = new Map<string, StoredOutput>();
  if (text === undefined) return stored;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return stored;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return stored;
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!Array.isArray(value) || value.length !== 4) continue;
    const [bucket, bytes, sha256, contentType] = value as unknown[];
    if (typeof bucket !== 'string' || typeof sha256 !== 'string' || typeof contentType !== 'string') continue;
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) continue;
    stored.set(key, { bucket, bytes, sha256, contentType });
  }
  return stored;
}
