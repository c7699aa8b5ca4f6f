/**
 * A Lambda stand-in: `GetFunctionConfiguration` over Lambda's REST-JSON protocol
 * (`GET /2015-03-31/functions/{name}/configuration`), which is how `--stack NAME` reads the
 * archiver's environment. The tests give it functions whose environment names local mode's
 * resources.
 */
import { serveHttp, type JsonProtocolServer } from './json-protocol';

export interface StandInFunction {
  readonly name: string;
  readonly environment: Record<string, string>;
}

export async function startLambda(options: {
  readonly functions: readonly StandInFunction[];
  readonly region?: string;
  readonly port?: number;
}): Promise<JsonProtocolServer> {
  const region = options.region ?? 'us-east-1';
  const json = (status: number, body: object, errorType?: string) => ({
    status,
    headers: { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) },
    body: JSON.stringify(body),
  });
  return serveHttp((request) => {
    const match = /^\/2015-03-31\/functions\/([^/?]+)\/configuration(?:\?.*)?$/.exec(request.url ?? '');
    if (request.method !== 'GET' || !match)
      return json(
        404,
        { Type: 'User', Message: `${request.method} ${request.url} is not supported by this stand-in` },
        'UnknownOperationException',
      );
    const name = decodeURIComponent(match[1]);
    const found = options.functions.find(
      (candidate) => candidate.name === name || `arn:aws:lambda:${region}:000000000000:function:${candidate.name}` === name,
    );
    if (!found)
      return json(
        404,
        { Type: 'User', Message: `Function not found: arn:aws:lambda:${region}:000000000000:function:${name}` },
        'ResourceNotFoundException',
      );
    return json(200, {
      FunctionName: found.name,
      FunctionArn: `arn:aws:lambda:${region}:000000000000:function:${found.name}`,
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      State: 'Active',
      Environment: { Variables: found.environment },
    });
  }, options.port);
}
