/** Creates the state table in DynamoDB Local with the same shape the construct deploys. */
import { CreateTableCommand, DescribeTableCommand, UpdateTimeToLiveCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ARCHIVE_PENDING_INDEX, FOLLOW_INDEX, PARTITION_KEY, TTL_ATTRIBUTE } from '../lambda/shared/state';

export async function createStateTable(dynamodb: DynamoDBClient, tableName: string): Promise<{ streamArn: string }> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: PARTITION_KEY, AttributeType: 'S' },
        { AttributeName: ARCHIVE_PENDING_INDEX.partitionKey, AttributeType: 'S' },
        { AttributeName: ARCHIVE_PENDING_INDEX.sortKey, AttributeType: 'S' },
        { AttributeName: FOLLOW_INDEX.partitionKey, AttributeType: 'S' },
        { AttributeName: FOLLOW_INDEX.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: ARCHIVE_PENDING_INDEX.indexName,
          KeySchema: [
            { AttributeName: ARCHIVE_PENDING_INDEX.partitionKey, KeyType: 'HASH' },
            { AttributeName: ARCHIVE_PENDING_INDEX.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...ARCHIVE_PENDING_INDEX.projected] },
        },
        {
          IndexName: FOLLOW_INDEX.indexName,
          KeySchema: [
            { AttributeName: FOLLOW_INDEX.partitionKey, KeyType: 'HASH' },
            { AttributeName: FOLLOW_INDEX.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    }),
  );
  const description = await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = description.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${tableName} has no stream`);
  return { streamArn };
}
