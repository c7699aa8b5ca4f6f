/**
 * An HTTP proxy in front of the S3 stand-in that answers CompleteMultipartUpload as S3 does:
 * S3 may take minutes to assemble a large object, so it sends `200 OK` at once and whitespace
 * every few seconds until the result (or an error, in the 200's body) follows. fauxqs answers
 * only once it has assembled the object in memory (seconds per GiB on a busy machine), longer
 * than the archiver's 5 s of S3 socket silence: without this, the SDK times out and retries a
 * completion fauxqs has already done, which it answers NoSuchUpload. Everything else is relayed
 * as it is.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface KeepAliveProxy {
  readonly endpoint: string;
  stop(): Promise<void>;
}

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

export async function startS3CompleteKeepAlive(target: string, intervalMs = 1000): Promise<KeepAliveProxy> {
  const { hostname, port } = new URL(target);
  const server: Server = createServer((request, response) => {
    const isComplete = request.method === 'POST' && /[?&]uploadId=/.test(request.url ?? '');
    let timer: NodeJS.Timeout | undefined;
    const upstream = httpRequest(
      { hostname, port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        if (!isComplete) {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          clearInterval(timer);
          // The declaration went first; the result (or S3's error document) follows the whitespace.
          response.end(
            Buffer.concat(chunks)
              .toString('utf8')
              .replace(/^\s*<\?xml[^>]*\?>\s*/, ''),
          );
        });
      },
    );
    upstream.on('error', (error) => {
      clearInterval(timer);
      response.destroy(error);
    });
    if (isComplete) {
      response.writeHead(200, { 'content-type': 'application/xml' });
      response.write(XML_DECLARATION);
      timer = setInterval(() => response.write(' '), intervalMs);
    }
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
