/**
 * Where local mode (`npm start`) leaves its endpoints and resource names, and where
 * `replicate-webhooks <command> --local` finds them. Names and addresses only: never the signing
 * secret or a token.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Another place for the file, for both sides (two local modes side by side, say). */
export const LOCAL_ENDPOINTS_VARIABLE = 'REPLICATE_WEBHOOKS_LOCAL_FILE';

export function localEndpointsFile(env: NodeJS.ProcessEnv = process.env): string {
  return env[LOCAL_ENDPOINTS_VARIABLE]?.trim() || join(tmpdir(), 'replicate-webhooks-local.json');
}

export interface LocalEndpoints {
  /** The local mode process that wrote the file: gone means the file is stale. */
  readonly pid: number;
  readonly region: string;
  readonly endpoints: {
    readonly dynamodb: string;
    readonly s3: string;
    readonly sns: string;
    readonly sqs: string;
    readonly eventbridge: string;
  };
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly completionTopicArn: string;
  readonly eventBusName: string;
  readonly archiveQueueUrl: string;
  readonly archiveDeadLetterQueueUrl: string;
}
