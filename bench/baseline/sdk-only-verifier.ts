/**
 * Baseline for the bundle benchmark: only the AWS SDK clients and commands the verifier uses,
 * constructed the same way, with none of our code.
 */
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export const clients = [new DynamoDBClient({}), new S3Client({}), new SecretsManagerClient({})];
export const commands = [UpdateItemCommand, PutObjectCommand, GetSecretValueCommand];
// eslint-disable-next-line @typescript-eslint/require-await -- the baseline handler does no work, on purpose
export const handler = async (): Promise<number> => clients.length + commands.length;
