/**
 * The reconciler's own memory, one item in the table: how far its listings of Replicate's
 * predictions and of its trainings are complete, each on its own (so a run cut short, or a reconciler away for hours, resumes where
 * the listing stopped) and where its walk through stuck archivals stopped. Runs are one at a time
 * (reserved concurrency 1), so a plain put is enough; a lost write only means work done again.
 */
import { GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ListingProgress } from '../shared/reconcile';
import { PARTITION_KEY, RECONCILER_STATE_KEY } from '../shared/state';
import type { StuckCursor } from './archivals';

export interface ReconcilerState {
  /** The predictions' listing (`GET /v1/predictions`). */
  readonly listing?: ListingProgress;
  /** The trainings' listing (`GET /v1/trainings`): the same rules, its own watermark. */
  readonly trainingListing?: ListingProgress;
  readonly stuckCursor?: StuckCursor;
}

/**
 * Attribute names of each listing's watermark. The predictions' are the names they had before
 * trainings were listed, so an item written by an earlier version reads the same.
 */
const LISTING_ATTRIBUTES = {
  listing: { completeBefore: 'completeBefore', examinedFrom: 'examinedFrom', examinedUntil: 'examinedUntil' },
  trainingListing: {
    completeBefore: 'trainingsCompleteBefore',
    examinedFrom: 'trainingsExaminedFrom',
    examinedUntil: 'trainingsExaminedUntil',
  },
} as const;

function readListing(
  item: Record<string, AttributeValue>,
  names: (typeof LISTING_ATTRIBUTES)[keyof typeof LISTING_ATTRIBUTES],
): ListingProgress | undefined {
  const completeBefore = time(item, names.completeBefore);
  if (completeBefore === undefined) return undefined;
  return {
    completeBefore,
    examinedFrom: time(item, names.examinedFrom) ?? completeBefore,
    examinedUntil: time(item, names.examinedUntil) ?? completeBefore,
  };
}

function writeListing(
  listing: ListingProgress | undefined,
  names: (typeof LISTING_ATTRIBUTES)[keyof typeof LISTING_ATTRIBUTES],
): Record<string, AttributeValue> {
  if (!listing) return {};
  const iso = (ms: number) => ({ S: new Date(ms).toISOString() });
  return {
    [names.completeBefore]: iso(listing.completeBefore),
    [names.examinedFrom]: iso(listing.examinedFrom),
    [names.examinedUntil]: iso(listing.examinedUntil),
  };
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
    const listing = readListing(Item, LISTING_ATTRIBUTES.listing);
    const trainingListing = readListing(Item, LISTING_ATTRIBUTES.trainingListing);
    let stuckCursor: StuckCursor | undefined;
    try {
      stuckCursor = Item.stuckCursor?.S ? (JSON.parse(Item.stuckCursor.S) as StuckCursor) : undefined;
    } catch {
      // Our own attribute; unreadable, the walk starts from the oldest again.
    }
    return {
      ...(listing ? { listing } : {}),
      ...(trainingListing ? { trainingListing } : {}),
      ...(stuckCursor ? { stuckCursor } : {}),
    };
  }

  async write(state: ReconcilerState, now: Date): Promise<void> {
    await this.dynamodb.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          [PARTITION_KEY]: { S: RECONCILER_STATE_KEY },
          ...writeListing(state.listing, LISTING_ATTRIBUTES.listing),
          ...writeListing(state.trainingListing, LISTING_ATTRIBUTES.trainingListing),
          ...(state.stuckCursor ? { stuckCursor: { S: JSON.stringify(state.stuckCursor) } } : {}),
          updatedAt: { S: now.toISOString() },
        },
      }),
    );
  }
}
