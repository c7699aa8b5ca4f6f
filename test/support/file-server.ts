/**
 * A loopback HTTP server standing in for replicate.delivery: serves generated files and can
 * misbehave on purpose (404, flaky 503, cut connections, trickling bodies).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedFile {
  readonly bytes: Buffer;
  readonly contentType?: string;
  /** Answer 503 this many times before serving the file. */
  readonly failFirst?: number;
  /** Answer 503 forever. */
  readonly alwaysFail?: boolean;
}

export interface FileServer {
  readonly origin: string;
  readonly host: string;
  /** Serves `bytes` at `path` and returns the file's URL. */
  serve(path: string, file: ServedFile): string;
  /** A random file of `size` bytes at `path`; returns its URL, bytes and sha256. */
  serveRandom(path: string, size: number, contentType?: string): { url: string; bytes: Buffer; sha256: string };
  /** Requests answered per path. */
  readonly hits: Map<string, number>;
  stop(): Promise<void>;
}

export const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, ServedFile & { failed: number }>();
  const hits = new Map<string, number>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const file = files.get(path);
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (file.alwaysFail || file.failed < (file.failFirst ?? 0)) {
      file.failed++;
      response.writeHead(503, { 'content-type': 'text/plain' }).end('try later');
      return;
    }
    response.writeHead(200, {
      'content-length': String(file.bytes.length),
      ...(file.contentType ? { 'content-type': file.contentType } : {}),
    });
    response.end(file.bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    host: `127.0.0.1:${port}`,
    serve(path, file) {
      files.set(path, { ...file, failed: 0 });
      return `${origin}${path}`;
    },
    serveRandom(path, size, contentType) {
      const bytes = randomBytes(size);
      files.set(path, { bytes, contentType, failed: 0 });
      return { url: `${origin}${path}`, bytes, sha256: sha256(bytes) };
    },
    hits,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
