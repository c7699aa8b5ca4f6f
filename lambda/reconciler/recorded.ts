/**
 * What the table knows of predictions, read the cheap way: whether listed predictions are
 * recorded (batched reads, 100 keys a call, never one per prediction), which were found to be
 * another application's, and which open records are due to be looked up by id (the sparse
 * follow index, never a scan).
 */
import {
  BatchGetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
  type DynamoDBClient,
  type KeysAndAttributes,
} from '@aws-sdk/client-dynamodb';
import { CompletionKind, isCompletionKind } from '../shared/prediction';
import type { RecordedState } from '../shared/reconcile';
import { ATTR, FOLLOW_INDEX, PARTITION_KEY, TTL_ATTRIBUTE, outOfScopeKey, predictionItemKey } from '../shared/state';
import { backoffDelay } from '../shared/retry';

const BATCH_GET_LIMIT = 100;
/** An out-of-scope marker outlives every listing that can meet its prediction again (a backlog after a week away included). */
const OUT_OF_SCOPE_RETENTION_SECONDS = 14 * 24 * 3600;

/** An entry of the follow index that is due: the prediction it stands for. */
export interface DueEntry {
  readonly predictionId: string;
  readonly followAt: string;
}

export class RecordedPredictions {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** The recorded state of each id; throttled keys are read again until the deadline. */
  async states(predictionIds: readonly string[], deadline: number): Promise<Map<string, RecordedState>> {
    const states = new Map<string, RecordedState>(predictionIds.map((id) => [id, 'absent']));
    const items = await batchGetItems(
      this.dynamodb,
      this.tableName,
      predictionIds.map(predictionItemKey),
      {
        ProjectionExpression: '#id, #terminal',
        ExpressionAttributeNames: { '#id': ATTR.predictionId, '#terminal': ATTR.terminalStatus },
      },
      deadline,
    );
    for (const item of items) {
      const id = item[ATTR.predictionId]?.S;
      if (id) states.set(id, item[ATTR.terminalStatus] ? 'terminal' : 'in_progress');
    }
    return states;
  }

  /**
   * What each id was recorded as, a prediction or a training, from its record (or, with
   * `recoveryRetryKey`, its retry item): the follow index holds keys only. Not said (a record
   * from before trainings were told apart, or none): a prediction.
   */
  async kinds(
    predictionIds: readonly string[],
    deadline: number,
    keyOf: (predictionId: string) => string = predictionItemKey,
  ): Promise<Map<string, CompletionKind>> {
    const kinds = new Map<string, CompletionKind>(predictionIds.map((id) => [id, CompletionKind.PREDICTION]));
    if (predictionIds.length === 0) return kinds;
    const items = await batchGetItems(
      this.dynamodb,
      this.tableName,
      predictionIds.map(keyOf),
      { ProjectionExpression: '#id, #kind', ExpressionAttributeNames: { '#id': ATTR.predictionId, '#kind': ATTR.kind } },
      deadline,
    );
    for (const item of items) {
      const id = item[ATTR.predictionId]?.S;
      const kind = item[ATTR.kind]?.S;
      if (id && isCompletionKind(kind)) kinds.set(id, kind);
    }
    return kinds;
  }

  /** Which of these ids an earlier run found to be another application's. */
  async outOfScope(predictionIds: readonly string[], deadline: number): Promise<Set<string>> {
    const items = await batchGetItems(
      this.dynamodb,
      this.tableName,
      predictionIds.map(outOfScopeKey),
      { ProjectionExpression: '#id', ExpressionAttributeNames: { '#id': ATTR.predictionId } },
      deadline,
    );
    return new Set(items.map((item) => item[ATTR.predictionId]?.S).filter((id): id is string => id !== undefined));
  }

  /** Remembers that a prediction is another application's, so that later runs do not fetch it again. */
  async rememberOutOfScope(predictionId: string, now: Date): Promise<void> {
    await this.dynamodb.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [PARTITION_KEY]: { S: outOfScopeKey(predictionId) },
          [ATTR.predictionId]: { S: predictionId },
          [TTL_ATTRIBUTE]: { N: String(Math.floor(now.getTime() / 1000) + OUT_OF_SCOPE_RETENTION_SECONDS) },
        },
      }),
    );
  }

  /**
   * Open records due before `before`, the longest waiting first, at most `limit`: the entries of
   * the follow index's `open` partition. A record the reconciler has looked at moves behind the
   * others (`followAgain`), so a long list is gone through in turns, not the same ones each run.
   */
  async dueOpenRecords(before: Date, limit: number): Promise<DueEntry[]> {
    return this.due(FOLLOW_INDEX.openValue, predictionItemKey(''), before, limit);
  }

  /**
   * Entries of the follow index's `partition` due before `before`, oldest first, at most `limit`;
   * `keyPrefix` is what their items' keys put before the prediction id.
   */
  async due(partition: string, keyPrefix: string, before: Date, limit: number): Promise<DueEntry[]> {
    const entries: DueEntry[] = [];
    let exclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.dynamodb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: FOLLOW_INDEX.indexName,
          KeyConditionExpression: '#follow = :partition AND #followAt < :before',
          ExpressionAttributeNames: { '#follow': FOLLOW_INDEX.partitionKey, '#followAt': FOLLOW_INDEX.sortKey },
          ExpressionAttributeValues: { ':partition': { S: partition }, ':before': { S: before.toISOString() } },
          Limit: limit - entries.length,
          ExclusiveStartKey: exclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const key = item[PARTITION_KEY]?.S ?? '';
        const predictionId = key.startsWith(keyPrefix) ? key.slice(keyPrefix.length) : undefined;
        const followAt = item[FOLLOW_INDEX.sortKey]?.S;
        if (predictionId && followAt) entries.push({ predictionId, followAt });
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey && entries.length < limit);
    return entries;
  }

  /** Looked at and still running: due again at `at`, behind the entries not looked at yet. No-op once it is not open. */
  async followAgain(predictionId: string, at: Date): Promise<void> {
    await this.updateOpen(predictionId, 'SET #followAt = :at', { ':at': { S: at.toISOString() } });
  }

  /** Replicate no longer has the prediction: stop following it, and say why on the record. */
  async stopFollowing(predictionId: string, reason: string, now: Date): Promise<void> {
    await this.updateOpen(
      predictionId,
      'SET #followEnded = :reason, #followEndedAt = :now REMOVE #follow, #followAt',
      {
        ':reason': { S: reason },
        ':now': { S: now.toISOString() },
      },
      { '#followEnded': 'followEnded', '#followEndedAt': 'followEndedAt' },
    );
  }

  private async updateOpen(
    predictionId: string,
    updateExpression: string,
    values: Record<string, AttributeValue>,
    names: Record<string, string> = {},
  ): Promise<void> {
    try {
      await this.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: { S: predictionItemKey(predictionId) } },
          UpdateExpression: updateExpression,
          // A terminal webhook may have closed it meanwhile: never reopen a finished record.
          ConditionExpression: '#follow = :open',
          ExpressionAttributeNames: { ...names, '#follow': FOLLOW_INDEX.partitionKey, '#followAt': FOLLOW_INDEX.sortKey },
          ExpressionAttributeValues: { ...values, ':open': { S: FOLLOW_INDEX.openValue } },
        }),
      );
    } catch (error) {
      if ((error as Error)?.name !== 'ConditionalCheckFailedException') throw error;
    }
  }
}

/** Items by key, strongly consistent, 100 keys a call; throttled keys are read again until the deadline. */
export async function batchGetItems(
  dynamodb: DynamoDBClient,
  tableName: string,
  keys: readonly string[],
  projection: Pick<KeysAndAttributes, 'ProjectionExpression' | 'ExpressionAttributeNames'>,
  deadline: number,
): Promise<Array<Record<string, AttributeValue>>> {
  const items: Array<Record<string, AttributeValue>> = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
    let request: KeysAndAttributes | undefined = {
      Keys: keys.slice(start, start + BATCH_GET_LIMIT).map((key) => ({ [PARTITION_KEY]: { S: key } })),
      ...projection,
      ConsistentRead: true,
    };
    for (let attempt = 1; request; attempt++) {
      const result: BatchGetItemCommandOutput = await dynamodb.send(
        new BatchGetItemCommand({ RequestItems: { [tableName]: request } }),
      );
      items.push(...(result.Responses?.[tableName] ?? []));
      request = result.UnprocessedKeys?.[tableName];
      if (request) {
        const delay = Math.max(50, backoffDelay(attempt, 50, 2_000));
        if (Date.now() + delay >= deadline) throw new Error('the table kept throttling reads until the deadline');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
  return items;
}
