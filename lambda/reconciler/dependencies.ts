/** What the reconciler works with, built from its configuration: the SDK clients with their timeouts, and telemetry. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { RECONCILER_CLIENTS } from '../sdk-clients';
import { WebhookStore } from '../store/webhook-store';
import { createTelemetry } from '../telemetry';
import { PendingArchivals } from './archivals';
import type { ReconcilerConfig } from './config';
import type { ReconcilerDependencies } from './handler';
import { ReconcilerLedger } from './ledger';
import { RecordedPredictions } from './recorded';
import { ReplicateApiClient } from './replicate-api';
import { RecoveryRetries } from './retries';

export function reconcilerDependencies(config: ReconcilerConfig): ReconcilerDependencies {
  const dynamodb = new DynamoDBClient(RECONCILER_CLIENTS.dynamodb);
  return {
    config,
    telemetry: createTelemetry(),
    secrets: new SecretsManagerClient(RECONCILER_CLIENTS.secretsManager),
    sqs: new SQSClient(RECONCILER_CLIENTS.sqs),
    store: new WebhookStore(dynamodb, new S3Client(RECONCILER_CLIENTS.s3), config),
    recorded: new RecordedPredictions(dynamodb, config.tableName),
    retries: new RecoveryRetries(dynamodb, config.tableName),
    archivals: new PendingArchivals(dynamodb, config.tableName),
    ledger: new ReconcilerLedger(dynamodb, config.tableName),
    replicateApi: (token, onRetry) => new ReplicateApiClient({ baseUrl: config.apiBaseUrl, token, onRetry }),
  };
}
