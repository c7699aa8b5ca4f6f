/** What the archiver works with, built from its configuration: the SDK clients with their timeouts, and telemetry. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ARCHIVER_CLIENTS } from '../sdk-clients';
import { createTelemetry } from '../telemetry';
import { CompletionAnnouncer } from './announcer';
import type { ArchiverConfig } from './config';
import { ArchiveDocuments } from './documents';
import type { ArchiverDependencies } from './handler';
import { ArchiveProgressStore } from './progress';
import { sendUnsignedPayloads } from './unsigned-payload';

export function archiverDependencies(config: ArchiverConfig): ArchiverDependencies {
  // One retry layer per call: single requests (DynamoDB, SNS, EventBridge) are retried by
  // `retryTransient` alone; S3 keeps the SDK's retries, which retry one part of a multipart upload,
  // where ours would fetch the whole file again. Timeouts and tries, with their reasons: sdk-clients.ts.
  const s3 = new S3Client(ARCHIVER_CLIENTS.s3);
  sendUnsignedPayloads(s3);
  return {
    config,
    telemetry: createTelemetry(),
    s3,
    sqs: new SQSClient(ARCHIVER_CLIENTS.sqs),
    progress: new ArchiveProgressStore(new DynamoDBClient(ARCHIVER_CLIENTS.dynamodb), config.tableName),
    documents: new ArchiveDocuments(s3, config.bucketName, config.archivePrefix),
    announcer: new CompletionAnnouncer(
      new SNSClient(ARCHIVER_CLIENTS.sns),
      config.completionTopicArn,
      config.eventBusName
        ? { client: new EventBridgeClient(ARCHIVER_CLIENTS.eventBridge), name: config.eventBusName }
        : undefined,
    ),
  };
}
