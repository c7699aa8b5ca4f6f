/**
 * What the table knows, read the cheap way: whether listed predictions are recorded (batched
 * reads, 100 keys a call, never one per prediction), and which finished ones are still waiting
 * to be announced (the sparse archive-pending index, never a scan).
 */
import {
  BatchGetItemCommand,
  QueryCommand,
  type BatchGetItemCommandOutput,
  type AttributeValue,
  type DynamoDBClient,
  type KeysAndAttributes,
} from '@aws-sdk/client-dynamodb';
import type { RecordedState } from '../shared/reconcile';
import { ARCHIVE_PENDING_INDEX, ATTR, PARTITION_KEY, predictionItemKey } from '../shared/state';
import { backoffDelay } from '../shared/retry';

const BATCH_GET_LIMIT = 100;

export class RecordedPredictions {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** The recorded state of each id; throttled keys are read again until the deadline. */
  async states(predictionIds: readonly string[], deadline: number): Promise<Map<string, RecordedState>> {
    const states = new Map<string, RecordedState>(predictionIds.map((id) => [id, 'absent']));
    for (let start = 0; start < predictionIds.length; start += BATCH_GET_LIMIT) {
      let request: KeysAndAttributes | undefined = {
        Keys: predictionIds
          .slice(start, start + BATCH_GET_LIMIT)
          .map((id) => ({ [PARTITION_KEY]: { S: predictionItemKey(id) } })),
        ProjectionExpression: '#id, #terminal',
        ExpressionAttributeNames: { '#id': ATTR.predictionId, '#terminal': ATTR.terminalStatus },
        ConsistentRead: true,
      };
      for (let attempt = 1; request; attempt++) {
        const result: BatchGetItemCommandOutput = await this.dynamodb.send(
          new BatchGetItemCommand({ RequestItems: { [this.tableName]: request } }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const id = item[ATTR.predictionId]?.S;
          if (id) states.set(id, item[ATTR.terminalStatus] ? 'terminal' : 'in_progress');
        }
        request = result.UnprocessedKeys?.[this.tableName];
        if (request) {
          const delay = Math.max(50, backoffDelay(attempt, 50, 2_000));
          if (Date.now() + delay >= deadline) throw new Error('the table kept throttling reads until the deadline');
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    }
    return states;
  }

  /**
   * Finished predictions not announced although they became terminal before `before`, oldest
   * first, at most `limit`. Those whose last try failed are left out: they wait in the
   * dead-letter queue for a person, and sending them round again would only fill it.
   */
  async stuck(before: Date, limit: number): Promise<string[]> {
    const ids: string[] = [];
    let exclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.dynamodb.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: ARCHIVE_PENDING_INDEX.indexName,
          KeyConditionExpression: '#pending = :pending AND #terminalAt < :before',
          FilterExpression: 'attribute_not_exists(#failedAt)',
          ExpressionAttributeNames: {
            '#pending': ARCHIVE_PENDING_INDEX.partitionKey,
            '#terminalAt': ARCHIVE_PENDING_INDEX.sortKey,
            '#failedAt': 'archiveFailedAt',
          },
          ExpressionAttributeValues: {
            ':pending': { S: ARCHIVE_PENDING_INDEX.pendingValue },
            ':before': { S: before.toISOString() },
          },
          Limit: limit,
          ExclusiveStartKey: exclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const id = item[ATTR.predictionId]?.S;
        if (id) ids.push(id);
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey && ids.length < limit);
    return ids.slice(0, limit);
  }
}
