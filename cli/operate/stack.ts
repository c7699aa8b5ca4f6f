/**
 * `--stack NAME`: a deployed stack's ReplicateWebhooks construct, found through CloudFormation
 * (DescribeStacks, ListStackResources) and its archiver's configuration (Lambda
 * GetFunctionConfiguration), with the SDK's usual credential, region and endpoint chain.
 *
 * The construct declares no stack outputs, so its resources are recognised by their logical ids:
 * CDK makes them from the construct path (`Hooks/Archiver/Resource` → `HooksArchiver1A2B3C4D`).
 * The archiver function's environment then says what the archiver itself uses (the table, the
 * bucket and its prefix, the archive queue, the completion topic, the event bus), including a
 * topic or bus the construct was given rather than created. The dead-letter queue is the archive
 * queue's, `<id>ArchiveDeadLetterQueue<hash>` in the same stack.
 */
import { CloudFormationClient, DescribeStacksCommand, paginateListStackResources } from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ARCHIVER_ENV } from '../../lambda/archiver/settings';
import { OperateError, type OperateTarget } from './target';

export interface StackResource {
  readonly logicalId: string;
  readonly physicalId?: string;
  readonly type: string;
}

/** One ReplicateWebhooks construct in a stack, as its resources show it. */
export interface ConstructResources {
  /** Its logical-id prefix: the construct's id, after the ids of the constructs around it (`Hooks`). */
  readonly id: string;
  /** The archiver function's name. */
  readonly archiverFunction: string;
  /** The archive dead-letter queue's URL. */
  readonly deadLetterQueueUrl?: string;
}

// CDK's logical ids end in an 8-character hash of the full path, upper-case hex.
const ARCHIVER = /^(.*)Archiver[0-9A-F]{8}$/;
const DEAD_LETTER_QUEUE = (id: string) => new RegExp(`^${escape(id)}ArchiveDeadLetterQueue[0-9A-F]{8}$`);

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The ReplicateWebhooks constructs among a stack's resources, by their archiver functions. */
export function findConstructs(resources: readonly StackResource[]): ConstructResources[] {
  const found: ConstructResources[] = [];
  for (const resource of resources) {
    const match = resource.type === 'AWS::Lambda::Function' ? ARCHIVER.exec(resource.logicalId) : null;
    if (!match || !resource.physicalId) continue;
    const id = match[1];
    const deadLetterQueue = resources.find(
      (candidate) => candidate.type === 'AWS::SQS::Queue' && DEAD_LETTER_QUEUE(id).test(candidate.logicalId),
    );
    found.push({ id, archiverFunction: resource.physicalId, deadLetterQueueUrl: deadLetterQueue?.physicalId });
  }
  return found.sort((a, b) => a.id.localeCompare(b.id));
}

/** The target for `--stack NAME [--construct ID]`. */
export async function stackTarget(stackName: string, constructId: string | undefined): Promise<OperateTarget> {
  const cloudformation = new CloudFormationClient({});
  const lambda = new LambdaClient({});
  try {
    const region = await cloudformation.config.region();
    const where = `stack ${stackName} in ${region}`;
    try {
      await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    } catch (error) {
      const { name, message } = error as { name?: string; message?: string };
      if (name === 'ValidationError' && /does not exist/.test(String(message)))
        throw new OperateError(`no ${where}: ${message} (check the name, and AWS_REGION or the profile's region)`);
      throw error;
    }
    const resources: StackResource[] = [];
    for await (const page of paginateListStackResources({ client: cloudformation }, { StackName: stackName }))
      for (const summary of page.StackResourceSummaries ?? [])
        if (summary.LogicalResourceId && summary.ResourceType)
          resources.push({
            logicalId: summary.LogicalResourceId,
            physicalId: summary.PhysicalResourceId,
            type: summary.ResourceType,
          });

    const constructs = findConstructs(resources);
    if (constructs.length === 0)
      throw new OperateError(
        `${where} holds no ReplicateWebhooks construct: none of its ${resources.length} resources is an archiver function ` +
          `(an AWS::Lambda::Function with a logical id <construct id>Archiver<hash>)`,
      );
    const ids = constructs.map((construct) => construct.id).join(', ');
    let chosen: ConstructResources;
    if (constructId !== undefined) {
      const named = constructs.find((construct) => construct.id === constructId);
      if (!named) throw new OperateError(`${where} has no ReplicateWebhooks construct "${constructId}"; it has: ${ids}`);
      chosen = named;
    } else if (constructs.length > 1) {
      throw new OperateError(
        `${where} holds ${constructs.length} ReplicateWebhooks constructs (${ids}): pick one with --construct <id>`,
      );
    } else {
      chosen = constructs[0];
    }

    const { Environment } = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: chosen.archiverFunction }));
    const variables = Environment?.Variables ?? {};
    const required = [ARCHIVER_ENV.tableName, ARCHIVER_ENV.bucketName, ARCHIVER_ENV.completionTopicArn, ARCHIVER_ENV.queueUrl];
    const missing = required.filter((name) => !variables[name]);
    if (missing.length > 0)
      throw new OperateError(
        `${where}: ${chosen.archiverFunction} is not a ReplicateWebhooks archiver (its environment has no ${missing.join(', ')})`,
      );
    if (!chosen.deadLetterQueueUrl)
      throw new OperateError(
        `${where}: construct ${chosen.id} has no archive dead-letter queue (${chosen.id}ArchiveDeadLetterQueue<hash>)`,
      );
    return {
      description: `stack ${stackName}${constructs.length > 1 ? ` (construct ${chosen.id})` : ''}`,
      deployed: true,
      clientConfig: {},
      tableName: variables[ARCHIVER_ENV.tableName],
      bucketName: variables[ARCHIVER_ENV.bucketName],
      archivePrefix: variables[ARCHIVER_ENV.archivePrefix] ?? '',
      completionTopicArn: variables[ARCHIVER_ENV.completionTopicArn],
      eventBusName: variables[ARCHIVER_ENV.eventBusName] || undefined,
      archiveQueueUrl: variables[ARCHIVER_ENV.queueUrl],
      archiveDeadLetterQueueUrl: chosen.deadLetterQueueUrl,
    };
  } finally {
    cloudformation.destroy();
    lambda.destroy();
  }
}
