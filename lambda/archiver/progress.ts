/**
 * The archiver's own writes to the prediction record: an attempt counter (so the last attempt
 * can be recognised and still announce), then "archived", then "notified". Each is one
 * conditional UpdateItem on an existing record; none can create a record.
 */
import { UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ATTR, PARTITION_KEY, predictionItemKey } from '../shared/state';

export type ArchiveStatus = 'pending' | 'archived' | 'archived_with_failures';

export interface ArchiveProgress {
  readonly attempt: number;
  readonly archiveStatus: ArchiveStatus;
  readonly notifiedAt?: string;
}

export class ArchiveProgressStore {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** Counts this attempt and returns where the archival stands; undefined if the record is gone. */
  async beginAttempt(predictionId: string, now: Date): Promise<ArchiveProgress | undefined> {
    const item = await this.update(predictionId, 'ADD #attempts :one SET #startedAt = if_not_exists(#startedAt, :now)', {
      names: { '#attempts': 'archiveAttempts', '#startedAt': 'archiveStartedAt' },
      values: { ':one': { N: '1' }, ':now': { S: now.toISOString() } },
      returnNew: true,
    });
    if (!item) return undefined;
    const notifiedAt = item.notifiedAt?.S;
    return {
      attempt: Number(item.archiveAttempts?.N ?? '1'),
      archiveStatus: (item[ATTR.archiveStatus]?.S as ArchiveStatus | undefined) ?? 'pending',
      ...(notifiedAt ? { notifiedAt } : {}),
    };
  }

  async markArchived(
    predictionId: string,
    status: Exclude<ArchiveStatus, 'pending'>,
    manifestKey: string,
    counts: { files: number; failures: number },
    now: Date,
  ): Promise<void> {
    await this.update(
      predictionId,
      'SET #status = :status, #archivedAt = :now, #manifest = :manifest, #files = :files, #failures = :failures',
      {
        names: {
          '#status': ATTR.archiveStatus,
          '#archivedAt': 'archivedAt',
          '#manifest': 'archiveManifestKey',
          '#files': 'archivedFiles',
          '#failures': 'archiveFailures',
        },
        values: {
          ':status': { S: status },
          ':now': { S: now.toISOString() },
          ':manifest': { S: manifestKey },
          ':files': { N: String(counts.files) },
          ':failures': { N: String(counts.failures) },
        },
      },
    );
  }

  async markNotified(predictionId: string, now: Date): Promise<void> {
    await this.update(predictionId, 'SET #notifiedAt = :now', {
      names: { '#notifiedAt': 'notifiedAt' },
      values: { ':now': { S: now.toISOString() } },
    });
  }

  private async update(
    predictionId: string,
    expression: string,
    {
      names,
      values,
      returnNew = false,
    }: { names: Record<string, string>; values: Record<string, AttributeValue>; returnNew?: boolean },
  ): Promise<Record<string, AttributeValue> | undefined> {
    try {
      const result = await this.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [PARTITION_KEY]: { S: predictionItemKey(predictionId) } },
          UpdateExpression: expression,
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { ...names, '#pk': PARTITION_KEY },
          ExpressionAttributeValues: values,
          ReturnValues: returnNew ? 'ALL_NEW' : 'NONE',
        }),
      );
      return result.Attributes ?? {};
    } catch (error) {
      if ((error as Error)?.name === 'ConditionalCheckFailedException') return undefined;
      throw error;
    }
  }
}
