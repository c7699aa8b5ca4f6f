/**
 * Serves a scenario's output files from loopback, standing in for replicate.delivery, so the
 * archiver in local mode has something real to download.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServedFile } from './scenarios';

export interface OutputServer {
  readonly origin: string;
  readonly port: number;
  add(files: readonly ServedFile[]): void;
  /** Requests answered so far, 404s included. */
  readonly requests: number;
  /** Files added but not fetched yet. */
  readonly unfetched: number;
  /** Resolves when every added file was fetched at least once, or after timeoutMs (returns false then). */
  waitUntilFetched(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

export interface OutputServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8788; 0 picks a free port. */
  readonly port?: number;
}

export const DEFAULT_FILES_HOST = '127.0.0.1';
export const DEFAULT_FILES_PORT = 8788;

export async function startOutputServer(options: OutputServerOptions = {}): Promise<OutputServer> {
  const host = options.host ?? DEFAULT_FILES_HOST;
  const files = new Map<string, ServedFile>();
  const unfetched = new Set<string>();
  const waiters = new Set<() => void>();
  let requests = 0;

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests++;
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const file = files.get(path);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (!file) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, { 'content-type': file.contentType, 'content-length': String(file.bytes.length) });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    // Counted once the bytes are handed over, so a waiter never stops the server mid-download.
    response.end(file.bytes, () => {
      if (unfetched.delete(path) && unfetched.size === 0) for (const wake of waiters) wake();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException) =>
      reject(
        new Error(`cannot serve output files on ${host}:${options.port ?? DEFAULT_FILES_PORT}: ${error.code ?? error.message}`),
      );
    server.once('error', fail);
    server.listen(options.port ?? DEFAULT_FILES_PORT, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    origin,
    port,
    add(added) {
      for (const file of added) {
        files.set(file.path, file);
        unfetched.add(file.path);
      }
    },
    get requests() {
      return requests;
    },
    get unfetched() {
      return unfetched.size;
    },
    waitUntilFetched(timeoutMs) {
      if (unfetched.size === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(finish);
          resolve(unfetched.size === 0);
        };
        const timer = setTimeout(finish, timeoutMs);
        waiters.add(finish);
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const wake of [...waiters]) wake();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
