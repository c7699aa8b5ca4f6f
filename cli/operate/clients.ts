/** The SDK clients of one target: the default configuration, plus local mode's endpoints when it is local. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { ClientConfig } from './target';

export interface OperateClients {
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly sns: SNSClient;
  readonly sqs: SQSClient;
  readonly eventbridge: EventBridgeClient;
}

export function operateClients(config: ClientConfig): OperateClients {
  const base = (service: keyof NonNullable<ClientConfig['endpoints']>) => ({
    ...(config.region ? { region: config.region } : {}),
    ...(config.credentials ? { credentials: config.credentials } : {}),
    ...(config.endpoints?.[service] ? { endpoint: config.endpoints[service] } : {}),
  });
  return {
    dynamodb: new DynamoDBClient(base('dynamodb')),
    s3: new S3Client({ ...base('s3'), ...(config.forcePathStyle ? { forcePathStyle: true } : {}) }),
    sns: new SNSClient(base('sns')),
    // A local queue URL names the emulator's host as it sees itself; the endpoint is where it listens.
    sqs: new SQSClient({ ...base('sqs'), ...(config.endpoints?.sqs ? { useQueueUrlAsEndpoint: false } : {}) }),
    eventbridge: new EventBridgeClient(base('eventbridge')),
  };
}

export function destroyClients(clients: OperateClients): void {
  const { dynamodb, s3, sns, sqs, eventbridge } = clients;
  for (const client of [dynamodb, s3, sns, sqs, eventbridge]) client.destroy();
}
