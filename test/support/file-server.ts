/**
 * A loopback HTTP server standing in for replicate.delivery: serves generated files and can
 * misbehave on purpose (404, flaky 503, cut connections, trickling bodies).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ServedFile {
  readonly bytes?: Buffer;
  /** Answer 302 to this location instead. */
  readonly redirectTo?: string;
  /** Stream bytes forever, with no length. */
  readonly endless?: boolean;
  /** Send the headers, then one byte a second forever. */
  readonly trickle?: boolean;
  readonly contentType?: string;
  /** Answer 503 this many times before serving the file. */
  readonly failFirst?: number;
  /** Answer 503 forever. */
  readonly alwaysFail?: boolean;
  /** Announce this many bytes in content-length, send `bytes`, then close the connection. */
  readonly declaredBytes?: number;
  /** Wait this long before answering (a slow origin). */
  readonly delayMs?: number;
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
  /** Cuts every open connection (a trickling body ends with an error); the server keeps serving. */
  closeConnections(): void;
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
    if (file.delayMs) {
      const timer = setTimeout(() => answer(file, response), file.delayMs);
      response.on('close', () => clearTimeout(timer));
      return;
    }
    answer(file, response);
  });
  function answer(file: ServedFile & { failed: number }, response: ServerResponse): void {
    if (file.alwaysFail || file.failed < (file.failFirst ?? 0)) {
      file.failed++;
      response.writeHead(503, { 'content-type': 'text/plain' }).end('try later');
      return;
    }
    if (file.redirectTo) {
      response.writeHead(302, { location: file.redirectTo }).end();
      return;
    }
    if (file.endless || file.trickle) {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = file.endless ? Buffer.alloc(64 * 1024, 7) : Buffer.from('x');
      const timer = setInterval(() => response.write(chunk), file.endless ? 1 : 1000);
      response.on('close', () => clearInterval(timer));
      return;
    }
    const bytes = file.bytes ?? Buffer.alloc(0);
    if (file.declaredBytes !== undefined) {
      response.writeHead(200, {
        'content-length': String(file.declaredBytes),
        ...(file.contentType ? { 'content-type': file.contentType } : {}),
      });
      response.write(bytes, () => response.destroy());
      return;
    }
    response.writeHead(200, {
      'content-length': String(bytes.length),
      ...(file.contentType ? { 'content-type': file.contentType } : {}),
    });
    response.end(bytes);
  }
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
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
    closeConnections() {
      for (const socket of sockets) socket.destroy();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
