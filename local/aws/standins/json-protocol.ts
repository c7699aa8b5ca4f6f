/**
 * The AWS JSON 1.1 protocol as the stand-ins speak it: one POST per call, the operation in
 * `X-Amz-Target` (`<prefix>.<Operation>`), a JSON body in and out, errors as `{ __type, message }`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type JsonAnswer = { readonly status: number; readonly body: Record<string, unknown> };

export const jsonError = (status: number, type: string, message: string): JsonAnswer => ({
  status,
  body: { __type: type, message },
});

export interface JsonProtocolServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** One HTTP answer, whatever the protocol. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** What every stand-in's server is: `answer(request, body)` for each request, on loopback. */
export async function serveHttp(
  answer: (request: IncomingMessage, body: string) => HttpAnswer,
  port = 0,
): Promise<JsonProtocolServer> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const { status, headers, body } = answer(request, Buffer.concat(chunks).toString('utf8'));
      response.writeHead(status, headers);
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Serves `handle(operation, input)` on loopback. A body that is not JSON is refused with the
 * `invalidBodyType` error before `handle` sees it.
 */
export async function serveJsonProtocol(options: {
  readonly targetPrefix: string;
  readonly invalidBodyType: string;
  readonly port?: number;
  readonly handle: (operation: string, input: Record<string, unknown>) => JsonAnswer;
}): Promise<JsonProtocolServer> {
  return serveHttp((request, body) => {
    const operation = String(request.headers['x-amz-target'] ?? '').replace(`${options.targetPrefix}.`, '');
    let answer: JsonAnswer;
    try {
      const input = JSON.parse(body || '{}') as Record<string, unknown>;
      answer = options.handle(operation, input);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
      answer = jsonError(400, options.invalidBodyType, 'body is not JSON');
    }
    return {
      status: answer.status,
      headers: { 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify(answer.body),
    };
  }, options.port);
}
