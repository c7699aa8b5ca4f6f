/**
 * Predictions the reconciler could not recover (a fetch that kept failing, a store outage, a
 * record the table refused): each in an item of its own, in the follow index's `retry` partition,
 * tried again in later runs, one at a time, so one bad prediction never holds up the others and
 * the listing can move past it. Given up, counted and logged, after a day of failures.
 */
import { DeleteItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CompletionKind } from '../shared/prediction';
import { ATTR, FOLLOW_INDEX, PARTITION_KEY, TTL_ATTRIBUTE, recoveryRetryKey } from '../shared/state';
import { RecordedPredictions, type DueEntry } from './recorded';

/** How long a prediction is tried again before it is given up. */
export const RECOVERY_RETRY_WINDOW_MS = 24 * 3600 * 1000;
const RETRY_ITEM_RETENTION_SECONDS = 7 * 24 * 3600;

export interface RetryState {
  readonly attempts: number;
  readonly firstFailedAt: string;
}

export class RecoveryRetries {
  private readonly index: RecordedPredictions;

  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.index = new RecordedPredictions(dynamodb, tableName);
  }

  /** Retries due before `now`, the longest waiting first. */
  async due(now: Date, limit: number): Promise<DueEntry[]> {
    return this.index.due(FOLLOW_INDEX.retryValue, recoveryRetryKey(''), now, limit);
  }

  /** Records one more failure, due again at `dueAt`; says how many so far and since when. `kind`: what to fetch it as. */
  async failed(
    predictionId: string,
    reason: string,
    now: Date,
    dueAt: Date,
    kind: CompletionKind = CompletionKind.PREDICTION,
  ): Promise<RetryState> {
    const result = await this.dynamodb.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: recoveryRetryKey(predictionId) } },
        UpdateExpression:
          'SET #id = :id, #kind = :kind, #follow = :retry, #followAt = :due, #reason = :reason, #first = if_not_exists(#first, :now), ' +
          '#expires = if_not_exists(#expires, :expires) ADD #attempts :one',
        ExpressionAttributeNames: {
          '#id': ATTR.predictionId,
          '#kind': ATTR.kind,
          '#follow': FOLLOW_INDEX.partitionKey,
          '#followAt': FOLLOW_INDEX.sortKey,
          '#reason': 'reason',
          '#first': 'firstFailedAt',
          '#expires': TTL_ATTRIBUTE,
          '#attempts': 'attempts',
        },
        ExpressionAttributeValues: {
          ':id': { S: predictionId },
          ':kind': { S: kind },
          ':retry': { S: FOLLOW_INDEX.retryValue },
          ':due': { S: dueAt.toISOString() },
          ':reason': { S: reason.slice(0, 256) },
          ':now': { S: now.toISOString() },
          ':expires': { N: String(Math.floor(now.getTime() / 1000) + RETRY_ITEM_RETENTION_SECONDS) },
          ':one': { N: '1' },
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return {
      attempts: Number(result.Attributes?.attempts?.N ?? '1'),
      firstFailedAt: result.Attributes?.firstFailedAt?.S ?? now.toISOString(),
    };
  }

  /** Recovered, or nothing left to recover, or given up: no more tries. */
  async done(predictionId: string): Promise<void> {
    await this.dynamodb.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: { [PARTITION_KEY]: { S: recoveryRetryKey(predictionId) } } }),
    );
  }
}
