/**
 * Finished predictions still waiting to be announced, read from the sparse archive-pending index
 * (never a scan): which are stuck (their queue message lost, or their archival crashed on its
 * last try), how many tries each has had, and how long the oldest has waited.
 */
import { QueryCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ARCHIVE_PENDING_INDEX, ATTR, PARTITION_KEY, predictionItemKey } from '../shared/state';
import { batchGetItems } from './recorded';

/** Where the last run's walk through the stuck predictions stopped (an index key), so the next one carries on. */
export type StuckCursor = Record<string, AttributeValue>;

export interface StuckPage {
  readonly predictionIds: readonly string[];
  /** Where to carry on next run; undefined: start from the oldest again. */
  readonly cursor?: StuckCursor;
}

/** What the record says of a stuck prediction's archival so far. */
export interface ArchivalTries {
  readonly attempts: number;
  /** Epoch ms; an invocation holds it until then. */
  readonly leaseUntil?: number;
}

// Before this version, a prediction whose last try failed stayed in the pending partition, marked so.
const NOT_GIVEN_UP = 'attribute_not_exists(#failedAt)';

export class PendingArchivals {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /**
   * Up to `limit` predictions that became terminal before `before` and are not announced, oldest
   * first from `cursor` on, wrapping round to the oldest: a long list is gone through in turns,
   * so the newest stuck predictions are not starved by the same oldest ones run after run.
   */
  async stuck(before: Date, limit: number, cursor?: StuckCursor): Promise<StuckPage> {
    const first = await this.walk(before, limit, cursor);
    if (!cursor || first.cursor || first.predictionIds.length >= limit) return first;
    // Reached the end from a cursor: the oldest ones again, up to where this walk began.
    const wrapped = await this.walk(before, limit - first.predictionIds.length, undefined);
    const seen = new Set(first.predictionIds);
    return {
      predictionIds: [...first.predictionIds, ...wrapped.predictionIds.filter((id) => !seen.has(id))],
      ...(wrapped.cursor ? { cursor: wrapped.cursor } : {}),
    };
  }

  /** Archival tries so far of each id (the claims the archiver counted, a crash included). */
  async tries(predictionIds: readonly string[], deadline: number): Promise<Map<string, ArchivalTries>> {
    const items = await batchGetItems(
      this.dynamodb,
      this.tableName,
      predictionIds.map(predictionItemKey),
      {
        ProjectionExpression: '#id, #attempts, #lease',
        ExpressionAttributeNames: { '#id': ATTR.predictionId, '#attempts': 'archiveAttempts', '#lease': 'archiveLeaseUntil' },
      },
      deadline,
    );
    const tries = new Map<string, ArchivalTries>();
    for (const item of items) {
      const id = item[ATTR.predictionId]?.S;
      if (!id) continue;
      const lease = item.archiveLeaseUntil?.N;
      tries.set(id, { attempts: Number(item.archiveAttempts?.N ?? '0'), ...(lease ? { leaseUntil: Number(lease) } : {}) });
    }
    return tries;
  }

  /**
   * Gives the archival up after `maxAttempts` tries: the record is marked failed (an archival
   * already recorded keeps its status; the announcement is what failed) and moves to the failed
   * partition, out of the reconciler's way, for a person. Nothing happens if it was announced,
   * is held by an invocation, or has had fewer tries after all. Says whether it was given up.
   */
  async giveUp(predictionId: string, reason: string, maxAttempts: number, now: Date): Promise<boolean> {
    const names = {
      '#error': 'archiveError',
      '#failedAt': 'archiveFailedAt',
      '#pending': ATTR.archivePending,
      '#notifiedAt': 'notifiedAt',
      '#attempts': 'archiveAttempts',
      '#lease': 'archiveLeaseUntil',
    };
    const values = {
      ':reason': { S: reason },
      ':now': { S: now.toISOString() },
      ':failed': { S: ARCHIVE_PENDING_INDEX.failedValue },
      ':max': { N: String(maxAttempts) },
      ':nowMs': { N: String(now.getTime()) },
    };
    const when =
      'attribute_exists(#pk) AND attribute_not_exists(#notifiedAt) AND #attempts >= :max AND ' +
      '(attribute_not_exists(#lease) OR #lease < :nowMs)';
    const set = 'SET #error = :reason, #failedAt = :now, #pending = :failed';
    if (
      await this.update(predictionId, {
        UpdateExpression: `${set}, #status = :failedStatus`,
        ConditionExpression: `${when} AND NOT #status IN (:archived, :archivedWithFailures)`,
        ExpressionAttributeNames: { ...names, '#status': ATTR.archiveStatus },
        ExpressionAttributeValues: {
          ...values,
          ':failedStatus': { S: 'failed' },
          ':archived': { S: 'archived' },
          ':archivedWithFailures': { S: 'archived_with_failures' },
        },
      })
    ) {
      return true;
    }
    return this.update(predictionId, {
      UpdateExpression: set,
      ConditionExpression: when,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  /** Seconds the oldest finished prediction not yet announced has waited, or undefined when none waits. */
  async oldestWaitSeconds(now: Date): Promise<number | undefined> {
    let exclusiveStartKey: Record<string, AttributeValue> | undefined;
    // The few predictions left pending by earlier versions are skipped by the filter, a page at a time.
    for (let page = 0; page < 10; page++) {
      const result = await this.dynamodb.send(
        new QueryCommand({
          ...this.pendingQuery(now),
          Limit: 25,
          ExclusiveStartKey: exclusiveStartKey,
        }),
      );
      const terminalAt = result.Items?.[0]?.[ARCHIVE_PENDING_INDEX.sortKey]?.S;
      if (terminalAt) return Math.max(0, Math.round((now.getTime() - Date.parse(terminalAt)) / 1000));
      exclusiveStartKey = result.LastEvaluatedKey;
      if (!exclusiveStartKey) return undefined;
    }
    return undefined;
  }

  private async walk(before: Date, limit: number, cursor: StuckCursor | undefined): Promise<StuckPage> {
    const ids: string[] = [];
    let exclusiveStartKey = cursor;
    do {
      // Limit counts the items read, so no page returns more than is still wanted.
      const page = await this.dynamodb.send(
        new QueryCommand({ ...this.pendingQuery(before), Limit: limit - ids.length, ExclusiveStartKey: exclusiveStartKey }),
      );
      for (const item of page.Items ?? []) {
        const id = item[ATTR.predictionId]?.S;
        if (id) ids.push(id);
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey && ids.length < limit);
    return { predictionIds: ids, ...(exclusiveStartKey ? { cursor: exclusiveStartKey } : {}) };
  }

  private pendingQuery(before: Date) {
    return {
      TableName: this.tableName,
      IndexName: ARCHIVE_PENDING_INDEX.indexName,
      KeyConditionExpression: '#pending = :pending AND #terminalAt < :before',
      FilterExpression: NOT_GIVEN_UP,
      ExpressionAttributeNames: {
        '#pending': ARCHIVE_PENDING_INDEX.partitionKey,
        '#terminalAt': ARCHIVE_PENDING_INDEX.sortKey,
        '#failedAt': 'archiveFailedAt',
      },
      ExpressionAttributeValues: {
        ':pending': { S: ARCHIVE_PENDING_INDEX.pendingValue },
        ':before': { S: before.toISOString() },
      },
    };
  }

  private async update(
    predictionId: string,
    input: {
      UpdateExpression: string;
      ConditionExpression: string;
      ExpressionAttributeNames: Record<string, string>;
      ExpressionAttributeValues: Record<string, AttributeValue>;
    },
  ): Promise<boolean> {
    try {
      await this.dynamodb.send(
        new UpdateItemCommand({
          ...input,
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: { S: predictionItemKey(predictionId) } },
          ExpressionAttributeNames: { ...input.ExpressionAttributeNames, '#pk': PARTITION_KEY },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error)?.name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }
}
