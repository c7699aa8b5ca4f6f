/**
 * API Gateway in front of the verifier, locally: one route, payload 2.0 events built as AWS
 * builds them, and AWS's answers for everything else.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TOO_MANY_REQUESTS, TokenBucket, toHttpApiEvent, type ThrottleLimits } from './api-gateway';
import type { Inspector, WebhookAnswer, WebhookRequest } from '../inspector/server';

export type HttpApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

// HTTP APIs accept request payloads up to 10 MB.
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

/**
 * Node refuses a request whose headers exceed its limit (16 KiB by default) before any handler
 * sees it, and answers 431 with an empty body. API Gateway's own limit is lower (HTTP APIs take at
 * most 10,240 bytes of request line and header values); either way, the sender is told why.
 */
const HEADERS_TOO_LARGE = JSON.stringify({
  message: 'Request Header Fields Too Large',
  error: 'headers_too_large',
  reason: `the request's headers exceed the ${maxHeaderSize} bytes this local server reads (a deployed HTTP API takes at most 10240 bytes of request line and headers)`,
});

export interface HttpAdapter {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startHttpAdapter(options: {
  readonly handler: HttpApiHandler;
  readonly path: string;
  readonly port: number;
  readonly host?: string;
  readonly onError?: (error: unknown) => void;
  /** Serves the inspector's page beside the webhook, and tells it of every delivery. */
  readonly inspector?: Pick<Inspector, 'serve' | 'observe' | 'attach'>;
  /** The stage's throttle of the webhook route, as API Gateway applies it. @default none */
  readonly throttle?: ThrottleLimits;
}): Promise<HttpAdapter> {
  const routeKey = `POST ${options.path}`;
  const bucket = options.throttle ? new TokenBucket(options.throttle) : undefined;
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      options.onError?.(error);
      // What API Gateway answers when the integration fails.
      if (!response.headersSent) send(response, 500, { message: 'Internal Server Error' });
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'POST' || url.pathname !== options.path) {
      if (options.inspector && (await options.inspector.serve(request, response, url))) return;
      request.resume();
      return send(response, 404, { message: 'Not Found' });
    }
    // API Gateway throttles a request as it arrives, before reading it or invoking anything.
    const throttled = bucket ? !bucket.take() : false;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Past the limit, keep reading (and dropping) so the client can finish sending and read the answer.
      if (size <= MAX_PAYLOAD_BYTES) chunks.push(chunk);
    }
    if (size > MAX_PAYLOAD_BYTES && !throttled) return send(response, 413, { message: 'Request Entity Too Large' });
    const headers: Array<[string, string]> = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) headers.push([request.rawHeaders[i], request.rawHeaders[i + 1]]);
    const sourceIp = request.socket.remoteAddress?.replace(/^::ffff:/, '');
    const webhook = { headers, body: Buffer.concat(chunks) };
    const receivedAt = new Date();
    const started = performance.now();
    const answer = throttled ? tooManyRequests() : await deliver(webhook, url.search.slice(1), sourceIp);
    try {
      options.inspector?.observe(webhook, answer, receivedAt, Math.round(performance.now() - started));
    } catch (error) {
      // The inspector only watches: its trouble never changes what the sender is answered.
      options.onError?.(error);
    }
    response.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
    response.end(answer.body);
  }

  /** One webhook through API Gateway's event and the verifier (the inspector's replays too). */
  async function deliver(
    webhook: WebhookRequest,
    rawQueryString: string,
    sourceIp: string | undefined,
  ): Promise<WebhookAnswer & { headers: Record<string, string> }> {
    const event = toHttpApiEvent({
      method: 'POST',
      path: options.path,
      rawQueryString,
      headers: webhook.headers,
      body: webhook.body,
      sourceIp,
      routeKey,
    });
    const result = await options.handler(event);
    const text = result.body ?? '';
    const answer = {
      status: result.statusCode ?? 200,
      headers: stringHeaders(result.headers),
      body: result.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text),
    };
    return answer;
  }
  options.inspector?.attach((webhook) => deliver(webhook, '', '127.0.0.1'));

  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (error.code === 'HPE_HEADER_OVERFLOW' && socket.writable) {
      socket.end(
        'HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n' +
          `content-length: ${Buffer.byteLength(HEADERS_TOO_LARGE)}\r\nconnection: close\r\n\r\n${HEADERS_TOO_LARGE}`,
      );
      return;
    }
    // Anything else as Node answers it without this listener: a reset is dropped, the rest is 400.
    if (error.code !== 'ECONNRESET' && socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy(error);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}${options.path}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function tooManyRequests(): WebhookAnswer & { headers: Record<string, string> } {
  return {
    status: TOO_MANY_REQUESTS.statusCode,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(TOO_MANY_REQUESTS.body)),
  };
}

function send(response: ServerResponse, statusCode: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  response.writeHead(statusCode, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  response.end(text);
}

function stringHeaders(headers: APIGatewayProxyStructuredResultV2['headers']): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name, String(value)]));
}
