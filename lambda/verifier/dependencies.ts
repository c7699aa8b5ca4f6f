/** What the verifier works with, built from its configuration: the SDK clients with their timeouts, and telemetry. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { VERIFIER_CLIENTS } from '../sdk-clients';
import { WebhookStore } from '../store/webhook-store';
import { createTelemetry } from '../telemetry';
import type { VerifierConfig } from './config';
import type { VerifierDependencies } from './handler';

export function verifierDependencies(config: VerifierConfig): VerifierDependencies {
  const secrets = new SecretsManagerClient(VERIFIER_CLIENTS.secretsManager);
  return {
    config,
    telemetry: createTelemetry(),
    store: new WebhookStore(new DynamoDBClient(VERIFIER_CLIENTS.dynamodb), new S3Client(VERIFIER_CLIENTS.s3), config),
    readSigningSecret: async () =>
      (await secrets.send(new GetSecretValueCommand({ SecretId: config.signingSecretId }))).SecretString ?? '',
  };
}
