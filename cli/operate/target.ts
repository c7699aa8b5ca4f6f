/**
 * What the operating commands work on: the names and addresses of one deployment, found in local
 * mode's endpoints file (`--local`) or in a CloudFormation stack's resources (`--stack NAME`).
 */
import { readFileSync } from 'node:fs';
import { localEndpointsFile, type LocalEndpoints } from '../local-endpoints';

export interface OperateTarget {
  /** In words, for messages: `local mode (pid 123)`, `stack Hooks`. */
  readonly description: string;
  /** A deployed stack (`--stack`), where SQS's own message move task is there to use. */
  readonly deployed: boolean;
  /** The SDK clients' settings; empty for a deployed stack (the usual credential and region chain). */
  readonly clientConfig: ClientConfig;
  readonly tableName: string;
  readonly bucketName: string;
  readonly archivePrefix: string;
  readonly completionTopicArn: string;
  /** Set when completions also go to an EventBridge bus. */
  readonly eventBusName?: string;
  readonly archiveQueueUrl: string;
  readonly archiveDeadLetterQueueUrl: string;
}

export interface ClientConfig {
  readonly region?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Per service; absent: the SDK's own resolution (AWS_ENDPOINT_URL_<SERVICE> included). */
  readonly endpoints?: Partial<Record<'dynamodb' | 's3' | 'sns' | 'sqs' | 'eventbridge', string>>;
  /** Local S3 answers path-style only. */
  readonly forcePathStyle?: boolean;
}

/** A failure the operator can act on: printed as it is, without a stack trace; exit 1. */
export class OperateError extends Error {}

export function localTarget(env: NodeJS.ProcessEnv = process.env): OperateTarget {
  const file = localEndpointsFile(env);
  let local: LocalEndpoints;
  try {
    local = JSON.parse(readFileSync(file, 'utf8')) as LocalEndpoints;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OperateError(
      code === 'ENOENT'
        ? `local mode is not running: no ${file} (start it with npm start, in this checkout)`
        : `cannot read local mode's endpoints in ${file}: ${code ?? (error as Error).message}`,
    );
  }
  if (!processAlive(local.pid))
    throw new OperateError(
      `local mode is not running: ${file} names process ${local.pid}, which has ended (start it with npm start)`,
    );
  return {
    description: `local mode (pid ${local.pid})`,
    deployed: false,
    clientConfig: {
      region: local.region,
      // The emulators check no signature, but the SDK signs every request with something.
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      endpoints: local.endpoints,
      forcePathStyle: true,
    },
    tableName: local.tableName,
    bucketName: local.bucketName,
    archivePrefix: local.archivePrefix,
    completionTopicArn: local.completionTopicArn,
    eventBusName: local.eventBusName,
    archiveQueueUrl: local.archiveQueueUrl,
    archiveDeadLetterQueueUrl: local.archiveDeadLetterQueueUrl,
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
