/**
 * Points the default AWS SDK configuration at the stand-ins through the standard
 * environment variables, exactly as a handler would see them. No handler code changes.
 */
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { payloadOfItem } from '../../lambda/shared/payload-item';
import { createStateTable } from '../../local/state-table';

export function dynamoDbEndpoint(): string {
  const endpoint = process.env.TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('DynamoDB Local is not running: jest globalSetup starts it');
  return endpoint;
}

export function useStandInEnvironment(endpoints: {
  dynamodb?: string;
  s3?: string;
  secretsmanager?: string;
  sns?: string;
  sqs?: string;
}): void {
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  const variables: Record<string, string | undefined> = {
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsmanager,
    AWS_ENDPOINT_URL_SNS: endpoints.sns,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
  };
  for (const [name, value] of Object.entries(variables)) if (value) process.env[name] = value;
}

export async function createTestTable(): Promise<{ tableName: string; streamArn: string }> {
  const tableName = `state-${randomUUID()}`;
  const client = new DynamoDBClient({
    endpoint: dynamoDbEndpoint(),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const { streamArn } = await createStateTable(client, tableName);
  client.destroy();
  return { tableName, streamArn };
}

/**
 * The terminal payload a prediction's record points at: its own item's, compressed or (written by
 * earlier versions) a string, read as the archiver reads it; or, from earlier versions, the record's.
 */
export async function storedPayload(
  client: DynamoDBClient,
  tableName: string,
  record: Readonly<Record<string, Pick<AttributeValue, 'S'>>> | undefined,
): Promise<string | undefined> {
  if (record?.payload?.S !== undefined) return record.payload.S;
  const key = record?.payloadItem?.S;
  if (key === undefined) return undefined;
  const { Item } = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key } }, ConsistentRead: true }));
  return payloadOfItem(Item);
}
