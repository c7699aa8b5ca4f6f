/**
 * An HTTP proxy between the handlers and a stand-in that records every exchange, so a benchmark
 * can count requests and, for DynamoDB, the capacity each write consumed. For DynamoDB it asks
 * for `ReturnConsumedCapacity: INDEXES` on every request that accepts it: the handlers' own
 * requests, unchanged otherwise, and DynamoDB Local answers with the units (table and indexes).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Exchange {
  /** `DynamoDB_20120810.UpdateItem`, or `PUT /bucket/key?…` for REST services. */
  readonly target: string;
  readonly host: string;
  readonly method: string;
  readonly url: string;
  readonly requestBody: Buffer;
  readonly status: number;
  readonly responseBody: Buffer;
}

export interface CountingProxy {
  readonly port: number;
  readonly exchanges: Exchange[];
  stop(): Promise<void>;
}

const CAPACITY_OPERATIONS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'TransactWriteItems',
  'BatchWriteItem',
  'GetItem',
  'BatchGetItem',
  'Query',
  'Scan',
  'TransactGetItems',
]);

export interface CountingProxyOptions {
  /** Ask DynamoDB for the capacity each request consumed. */
  readonly askCapacity?: boolean;
  /**
   * The least time each request takes, as a service further away than loopback would answer: an
   * answer the stand-in gave sooner is held until then (default: none held).
   */
  readonly latencyMs?: (request: { readonly target: string; readonly method: string; readonly requestBytes: number }) => number;
}

export async function startCountingProxy(upstreamPort: number, options: CountingProxyOptions = {}): Promise<CountingProxy> {
  const exchanges: Exchange[] = [];
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    const received = Date.now();
    incoming.on('end', () => {
      let body = Buffer.concat(chunks);
      const amzTarget = String(incoming.headers['x-amz-target'] ?? '');
      if (options.askCapacity && CAPACITY_OPERATIONS.has(amzTarget.split('.')[1] ?? '')) {
        const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        parsed.ReturnConsumedCapacity = 'INDEXES';
        body = Buffer.from(JSON.stringify(parsed));
      }
      // The whole body is here: no 100-continue upstream, and its length may have changed.
      const headers: IncomingHttpHeaders = { ...incoming.headers, 'content-length': String(body.length) };
      delete headers.expect;
      delete headers['transfer-encoding'];
      const upstream = httpRequest(
        { host: '127.0.0.1', port: upstreamPort, method: incoming.method, path: incoming.url, headers },
        (response) => {
          const parts: Buffer[] = [];
          response.on('data', (chunk: Buffer) => parts.push(chunk));
          response.on('end', () => {
            const responseBody = Buffer.concat(parts);
            exchanges.push({
              target: amzTarget || `${incoming.method} ${incoming.url}`,
              host: String(incoming.headers.host ?? ''),
              method: incoming.method ?? '',
              url: incoming.url ?? '',
              requestBody: body,
              status: response.statusCode ?? 0,
              responseBody,
            });
            const answer = () => {
              outgoing.writeHead(response.statusCode ?? 502, response.headers);
              outgoing.end(responseBody);
            };
            const least = options.latencyMs?.({
              target: amzTarget || `${incoming.method} ${incoming.url}`,
              method: incoming.method ?? '',
              requestBytes: body.length,
            });
            const delay = least === undefined ? 0 : least - (Date.now() - received);
            if (delay > 0) setTimeout(answer, delay);
            else answer();
          });
        },
      );
      upstream.on('error', () => outgoing.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    exchanges,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
