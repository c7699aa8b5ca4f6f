/**
 * The reconciler's own memory, one item in the table: how far its listing of Replicate's
 * predictions is complete (so a run cut short, or a reconciler away for hours, resumes where
 * the listing stopped) and where its walk through stuck archivals stopped. Runs are one at a time
 * (reserved concurrency 1), so a plain put is enough; a lost write only means work done again.
 */
import { GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ListingProgress } from '../shared/reconcile';
import { PARTITION_KEY, RECONCILER_STATE_KEY } from '../shared/state';
import type { StuckCursor } from './archivals';

export interface ReconcilerState {
  readonly listing?: ListingProgress;
  readonly stuckCursor?: StuckCursor;
}

const time = (item: Record<string, AttributeValue>, name: string): number | undefined => {
  const value = Date.parse(item[name]?.S ?? '');
  return Number.isNaN(value) ? undefined : value;
};

export class ReconcilerLedger {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async read(): Promise<ReconcilerState> {
    const { Item } = await this.dynamodb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: RECONCILER_STATE_KEY } },
        ConsistentRead: true,
      }),
    );
    if (!Item) return {};
    const completeBefore = time(Item, 'completeBefore');
    const examinedFrom = time(Item, 'examinedFrom') ?? completeBefore;
    const examinedUntil = time(Item, 'examinedUntil') ?? completeBefore;
    let stuckCursor: StuckCursor | undefined;
    try {
      stuckCursor = Item.stuckCursor?.S ? (JSON.parse(Item.stuckCursor.S) as StuckCursor) : undefined;
    } catch {
      // Our own attribute; unreadable, the walk starts from the oldest again.
    }
    return {
      ...(completeBefore !== undefined
        ? { listing: { completeBefore, examinedFrom: examinedFrom!, examinedUntil: examinedUntil! } }
        : {}),
      ...(stuckCursor ? { stuckCursor } : {}),
    };
  }

  async write(state: ReconcilerState, now: Date): Promise<void> {
    const iso = (ms: number) => ({ S: new Date(ms).toISOString() });
    await this.dynamodb.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [PARTITION_KEY]: { S: RECONCILER_STATE_KEY },
          ...(state.listing
            ? {
                completeBefore: iso(state.listing.completeBefore),
                examinedFrom: iso(state.listing.examinedFrom),
                examinedUntil: iso(state.listing.examinedUntil),
              }
            : {}),
          ...(state.stuckCursor ? { stuckCursor: { S: JSON.stringify(state.stuckCursor) } } : {}),
          updatedAt: { S: now.toISOString() },
        },
      }),
    );
  }
}
