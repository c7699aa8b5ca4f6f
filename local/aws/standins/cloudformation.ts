/**
 * A CloudFormation stand-in: `DescribeStacks` and `ListStackResources` (paginated) over the AWS
 * query protocol (a form-encoded POST naming the `Action`, XML answers), which is what
 * `replicate-webhooks <command> --stack NAME` calls. The tests describe local mode's resources as
 * a deployed stack's with it: its physical ids are local mode's names and URLs.
 */
import { randomUUID } from 'node:crypto';
import { serveHttp, type JsonProtocolServer } from './json-protocol';

export interface StandInStack {
  readonly name: string;
  readonly status?: string;
  readonly resources: ReadonlyArray<{ readonly logicalId: string; readonly physicalId: string; readonly type: string }>;
}

export interface CloudFormationStandIn extends JsonProtocolServer {
  /** Actions answered so far, in order (`DescribeStacks`, `ListStackResources`, …). */
  readonly calls: readonly string[];
}

const NAMESPACE = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export async function startCloudFormation(options: {
  readonly stacks: readonly StandInStack[];
  readonly region?: string;
  /** Resources per ListStackResources page (CloudFormation's is 100). */
  readonly pageSize?: number;
  readonly port?: number;
}): Promise<CloudFormationStandIn> {
  const region = options.region ?? 'us-east-1';
  const pageSize = options.pageSize ?? 100;
  const calls: string[] = [];
  const idOf = (stack: StandInStack) =>
    `arn:aws:cloudformation:${region}:000000000000:stack/${stack.name}/00000000-0000-0000-0000-000000000000`;
  const find = (nameOrId: string | null) => options.stacks.find((stack) => stack.name === nameOrId || idOf(stack) === nameOrId);

  const respond = (action: string, result: string) => ({
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body:
      `<${action}Response xmlns="${NAMESPACE}"><${action}Result>${result}</${action}Result>` +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
  });
  const error = (status: number, code: string, message: string) => ({
    status,
    headers: { 'content-type': 'text/xml' },
    body:
      `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>Sender</Type><Code>${code}</Code>` +
      `<Message>${xml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  });

  const server = await serveHttp((request, body) => {
    const input = new URLSearchParams(body);
    const action = input.get('Action') ?? '';
    calls.push(action);
    if (request.method !== 'POST') return error(400, 'InvalidAction', 'the query protocol is a POST');
    const name = input.get('StackName');
    const stack = find(name);
    const missing = () => error(400, 'ValidationError', `Stack with id ${name} does not exist`);
    switch (action) {
      case 'DescribeStacks':
        if (!stack) return missing();
        return respond(
          action,
          `<Stacks><member><StackName>${xml(stack.name)}</StackName><StackId>${idOf(stack)}</StackId>` +
            `<CreationTime>2026-01-01T00:00:00.000Z</CreationTime><StackStatus>${stack.status ?? 'CREATE_COMPLETE'}</StackStatus>` +
            `<Outputs/></member></Stacks>`,
        );
      case 'ListStackResources': {
        if (!stack) return missing();
        const start = Number(input.get('NextToken') ?? '0');
        const page = stack.resources.slice(start, start + pageSize);
        const next = start + pageSize < stack.resources.length ? `<NextToken>${start + pageSize}</NextToken>` : '';
        return respond(
          action,
          `<StackResourceSummaries>${page
            .map(
              (resource) =>
                `<member><LogicalResourceId>${xml(resource.logicalId)}</LogicalResourceId>` +
                `<PhysicalResourceId>${xml(resource.physicalId)}</PhysicalResourceId>` +
                `<ResourceType>${xml(resource.type)}</ResourceType>` +
                `<LastUpdatedTimestamp>2026-01-01T00:00:00.000Z</LastUpdatedTimestamp>` +
                `<ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>`,
            )
            .join('')}</StackResourceSummaries>${next}`,
        );
      }
      default:
        return error(400, 'InvalidAction', `${action} is not supported by this stand-in`);
    }
  }, options.port);
  return { ...server, calls };
}
