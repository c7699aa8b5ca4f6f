/**
 * The fetch guard where the main suite could not tell outcomes apart (found by mutation testing,
 * docs/mutation.md): https end to end, which timeout fired (by its `detail`), what a network error
 * carries (`cause`), backpressure towards a slow reader, and that a finished fetch leaves no timer
 * and no listener on the caller's signal behind.
 */
import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { guardedLookup, openOutput, OutputFetchError, type FetchPolicy, type ResolveAll } from '../lambda/archiver/safe-fetch';
import { parseAllowedHosts } from '../lambda/shared/allowed-hosts';
import { trackTimers } from './support/timers';

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

const servers: Array<http.Server | https.Server> = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function listen(server: http.Server | https.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function serve(handler: Handler) {
  const port = await listen(http.createServer(handler));
  return { port, origin: `http://127.0.0.1:${port}` };
}

const policyFor = (port: number, overrides: Partial<FetchPolicy> = {}): FetchPolicy => ({
  allowedHosts: parseAllowedHosts([`http://127.0.0.1:${port}`]),
  allowPrivateAddresses: true,
  maxBytes: 10 * 1024 * 1024,
  headersTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
  totalTimeoutMs: 20_000,
  maxRedirects: 3,
  ...overrides,
});

async function fetchError(promise: Promise<unknown>): Promise<OutputFetchError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutputFetchError);
  return error as OutputFetchError;
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Timers the fetch guard started during `work` and left due to fire. */
async function timersLeftBy(work: () => Promise<void>): Promise<number> {
  const timers = trackTimers();
  try {
    await work();
    await sleep(50); // whatever ends on the next turns of the event loop, ends
    return timers.pending();
  } finally {
    timers.restore();
  }
}

describe('https', () => {
  const tls = join(__dirname, 'fixtures', 'tls');
  const credentials = { key: readFileSync(join(tls, 'localhost-key.pem')), cert: readFileSync(join(tls, 'localhost-cert.pem')) };

  async function serveTls(handler: Handler) {
    const port = await listen(https.createServer(credentials, handler));
    return { port, policy: policyFor(port, { allowedHosts: parseAllowedHosts([`127.0.0.1:${port}`]) }) };
  }

  // The request goes out over TLS and the certificate is checked: a self-signed one fails the
  // handshake. (Trusting this one for a full transfer needs NODE_EXTRA_CA_CERTS at process start.)
  test('a server whose certificate nobody vouches for is refused, the TLS error as the cause', async () => {
    const { port, policy } = await serveTls((_request, response) => response.end('never read'));
    const error = await fetchError(openOutput(`https://127.0.0.1:${port}/x`, policy));
    expect(error).toMatchObject({ reason: 'network_error', transient: true, url: `https://127.0.0.1:${port}/x` });
    expect(error.message).toBe(`Fetching https://127.0.0.1:${port}/x failed: network_error (DEPTH_ZERO_SELF_SIGNED_CERT)`);
    expect(error.cause).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });

  test('plain http to a host allowed for https only is refused before any connection', async () => {
    const { port, policy } = await serveTls(() => {});
    const error = await fetchError(openOutput(`http://127.0.0.1:${port}/x`, policy));
    expect(error).toMatchObject({ reason: 'insecure_scheme', transient: false });
  });
});

describe('which timeout fired, told by its detail', () => {
  test('no headers: the headers timeout', async () => {
    const { port, origin } = await serve(() => {});
    const error = await fetchError(openOutput(`${origin}/x`, policyFor(port, { headersTimeoutMs: 100 })));
    expect(error).toMatchObject({ reason: 'timeout', transient: true });
    expect(error.message).toBe(`Fetching ${origin}/x failed: timeout (no response headers within 100 ms)`);
  });

  test('no headers, and the whole deadline is shorter: the total deadline', async () => {
    const { port, origin } = await serve(() => {});
    const error = await fetchError(openOutput(`${origin}/x`, policyFor(port, { totalTimeoutMs: 100 })));
    expect(error.message).toBe(`Fetching ${origin}/x failed: timeout (not done within 100 ms)`);
    expect(error.transient).toBe(true);
  });

  test('headers, then not one byte of body: the idle timeout, once the body is read', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 10 });
      response.flushHeaders();
    });
    const output = await openOutput(`${origin}/x`, policyFor(port, { idleTimeoutMs: 150 }));
    const error = await fetchError(readAll(output.body));
    expect(error.message).toBe(`Fetching ${origin}/x failed: timeout (no body data for 150 ms)`);
    expect(error.transient).toBe(true);
  });

  test('a body that keeps coming past the deadline: the total deadline', async () => {
    const { port, origin } = await serve((_request, response) => {
      const timer = setInterval(() => response.write('x'), 10);
      response.on('close', () => clearInterval(timer));
    });
    const output = await openOutput(`${origin}/x`, policyFor(port, { totalTimeoutMs: 300 }));
    const error = await fetchError(readAll(output.body));
    expect(error.message).toBe(`Fetching ${origin}/x failed: timeout (not done within 300 ms)`);
  });

  test('a reader that waits longer than the idle timeout before reading is not timed out', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 3 });
      response.end('abc');
    });
    const output = await openOutput(`${origin}/x`, policyFor(port, { idleTimeoutMs: 50 }));
    await sleep(200);
    expect((await readAll(output.body)).toString()).toBe('abc');
  });
});

describe('a finished fetch leaves no timer running', () => {
  test('after a body read to its end', async () => {
    const { port, origin } = await serve((_request, response) => response.end('done'));
    const left = await timersLeftBy(async () => {
      const output = await openOutput(`${origin}/x`, policyFor(port, { totalTimeoutMs: 60_000 }));
      expect((await readAll(output.body)).toString()).toBe('done');
    });
    expect(left).toBe(0);
  });

  test('after a refusal', async () => {
    const { port, origin } = await serve((_request, response) => response.writeHead(404).end());
    const left = await timersLeftBy(async () => {
      await fetchError(openOutput(`${origin}/x`, policyFor(port, { totalTimeoutMs: 60_000 })));
    });
    expect(left).toBe(0);
  });

  test('after the reader gave up on the body', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 100 });
      response.write('partial');
    });
    const left = await timersLeftBy(async () => {
      const output = await openOutput(`${origin}/x`, policyFor(port, { totalTimeoutMs: 60_000 }));
      output.body.destroy();
    });
    expect(left).toBe(0);
  });
});

describe("a finished fetch leaves nothing attached to the caller's signal", () => {
  // One signal for a whole invocation, shared by every fetch: each must take its listener away,
  // or a batch of outputs piles them up (and Node warns past ten).
  const listenersLeftBy = async (fetchOnce: (signal: AbortSignal) => Promise<void>) => {
    const controller = new AbortController();
    for (let i = 0; i < 3; i++) await fetchOnce(controller.signal);
    return getEventListeners(controller.signal, 'abort').length;
  };

  test('after bodies read to their end', async () => {
    const { port, origin } = await serve((_request, response) => response.end('done'));
    const left = await listenersLeftBy(async (signal) => {
      const output = await openOutput(`${origin}/x`, policyFor(port), signal);
      expect((await readAll(output.body)).toString()).toBe('done');
    });
    expect(left).toBe(0);
  });

  test('after refusals, before and after the headers', async () => {
    const { port, origin } = await serve((_request, response) => response.writeHead(404).end());
    const left = await listenersLeftBy(async (signal) => {
      await fetchError(openOutput(`${origin}/x`, policyFor(port), signal));
      await fetchError(openOutput(`${origin}:1/x`, policyFor(port), signal));
    });
    expect(left).toBe(0);
  });

  test('after bodies the reader gave up on, or that failed mid-way', async () => {
    const { port, origin } = await serve((request, response) => {
      if (request.url === '/big') return void response.write('x'.repeat(150));
      response.writeHead(200, { 'content-length': 100 });
      if (request.url === '/cut') response.write('partial', () => request.socket.destroy());
      else response.write('partial');
    });
    const left = await listenersLeftBy(async (signal) => {
      const given = await openOutput(`${origin}/x`, policyFor(port), signal);
      given.body.destroy();
      const tooLarge = await openOutput(`${origin}/big`, policyFor(port, { maxBytes: 100 }), signal);
      await expect(readAll(tooLarge.body)).rejects.toMatchObject({ reason: 'too_large' });
      const cut = await openOutput(`${origin}/cut`, policyFor(port), signal);
      await expect(readAll(cut.body)).rejects.toMatchObject({ reason: 'network_error', transient: true });
    });
    expect(left).toBe(0);
  });
});

describe('a body given up from inside its data handler, or cut by the server', () => {
  test('a reader that destroys the body from its data handler leaves no idle timer behind', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 100 });
      response.write('first');
    });
    const fetchOnce = async () => {
      const output = await openOutput(`${origin}/x`, policyFor(port, { idleTimeoutMs: 60_000, totalTimeoutMs: 60_000 }));
      await new Promise<void>((resolve) =>
        output.body.on('data', () => {
          output.body.destroy();
          resolve();
        }),
      );
    };
    expect(await timersLeftBy(fetchOnce)).toBe(0);
  });

  test('a connection reset mid-body is told by its code, as the socket reported it', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 1_000 });
      response.write(Buffer.alloc(500), () => setTimeout(() => response.socket?.destroy(), 20));
    });
    const output = await openOutput(`${origin}/x`, policyFor(port));
    const error = await fetchError(readAll(output.body));
    expect(error).toMatchObject({ reason: 'network_error', transient: true });
    expect(error.message).toBe(`Fetching ${origin}/x failed: network_error (ECONNRESET)`);
    expect(error.cause).toMatchObject({ code: 'ECONNRESET' });
  });
});

describe('backpressure', () => {
  test('a reader that stops reading stops the download: the body never holds more than a chunk past its buffer', async () => {
    const data = Buffer.alloc(8 * 1024 * 1024, 7);
    let written = 0;
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': data.length });
      const writeMore = () => {
        while (written < data.length) {
          const chunk = data.subarray(written, written + 64 * 1024);
          written += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', writeMore);
        }
        response.end();
      };
      writeMore();
    });
    const output = await openOutput(`${origin}/x`, policyFor(port));
    const first = await new Promise<Buffer>((resolve) => output.body.once('data', resolve));
    output.body.pause();
    await sleep(300);
    // Paused reader: what sits in the body stays within its buffer and one chunk more.
    expect(output.body.readableLength).toBeLessThanOrEqual(output.body.readableHighWaterMark + 64 * 1024);
    expect(written).toBeLessThan(data.length);
    const rest = await readAll(output.body);
    expect(first.length + rest.length).toBe(data.length);
  });
});

describe('what the error says', () => {
  test('a refused connection: its code as detail, the socket error as cause', async () => {
    const { port } = await serve(() => {});
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const error = await fetchError(openOutput(`http://127.0.0.1:${port}/x`, policyFor(port)));
    expect(error).toMatchObject({ reason: 'network_error', transient: true });
    expect(error.message).toBe(`Fetching http://127.0.0.1:${port}/x failed: network_error (ECONNREFUSED)`);
    expect(error.cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  test('a name that does not exist: permanent, ENOTFOUND as detail', async () => {
    const policy = { ...policyFor(1), allowedHosts: parseAllowedHosts(['http://nope.invalid']) };
    const error = await fetchError(openOutput('http://nope.invalid/x', policy));
    expect(error).toMatchObject({ reason: 'network_error', transient: false });
    expect(error.message).toBe('Fetching http://nope.invalid/x failed: network_error (ENOTFOUND)');
  });

  test('a declared size over the cap says both numbers', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 1_001 });
      response.flushHeaders();
    });
    const error = await fetchError(openOutput(`${origin}/x`, policyFor(port, { maxBytes: 1_000 })));
    expect(error.message).toBe(`Fetching ${origin}/x failed: too_large (declared 1001 bytes, limit 1000)`);
  });

  test('a declared size exactly at the cap is fetched', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 4 });
      response.end('four');
    });
    const output = await openOutput(`${origin}/x`, policyFor(port, { maxBytes: 4 }));
    expect(output.contentLength).toBe(4);
    expect((await readAll(output.body)).toString()).toBe('four');
  });

  test('a body past the cap says the cap', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.write('x'.repeat(600));
      response.end('y'.repeat(600));
    });
    const output = await openOutput(`${origin}/x`, policyFor(port, { maxBytes: 1_000 }));
    const error = await fetchError(readAll(output.body));
    expect(error.message).toBe(`Fetching ${origin}/x failed: too_large (more than 1000 bytes)`);
    expect(error.transient).toBe(false);
  });

  test('an HTTP error gives its status, and nothing of the body', async () => {
    const { port, origin } = await serve((_request, response) => response.writeHead(404).end('private'));
    const error = await fetchError(openOutput(`${origin}/x`, policyFor(port)));
    expect(error.message).toBe(`Fetching ${origin}/x failed: http_error (HTTP 404)`);
    expect(error.status).toBe(404);
  });

  test('a redirect to a URL that does not parse names where it came from', async () => {
    const { port, origin } = await serve((_request, response) => response.writeHead(302, { location: 'http://[::1' }).end());
    const error = await fetchError(openOutput(`${origin}/from`, policyFor(port)));
    expect(error).toMatchObject({ reason: 'invalid_url', url: 'http://[::1' });
    expect(error.message).toBe(`Fetching http://[::1 failed: invalid_url (redirect from ${origin}/from)`);
  });

  test('a redirect without a Location carries its status', async () => {
    const { port, origin } = await serve((_request, response) => response.writeHead(307).end());
    const error = await fetchError(openOutput(`${origin}/x`, policyFor(port)));
    expect(error).toMatchObject({ reason: 'redirect_without_location', status: 307 });
  });

  test('a blocked DNS answer names the host', async () => {
    const { port } = await serve(() => {});
    const policy = {
      ...policyFor(port),
      allowedHosts: parseAllowedHosts([`http://localhost:${port}`]),
      allowPrivateAddresses: false,
    };
    const error = await fetchError(openOutput(`http://localhost:${port}/x`, policy));
    expect(error.message).toBe(
      `Fetching http://localhost:${port}/x failed: blocked_address (localhost resolves to a blocked address)`,
    );
  });

  test('an error made without details: not transient unless a timeout, no status, no cause', () => {
    const plain = new OutputFetchError('http_error', 'https://a.example/x');
    expect(plain).toMatchObject({ name: 'OutputFetchError', reason: 'http_error', transient: false });
    expect(plain.message).toBe('Fetching https://a.example/x failed: http_error');
    expect('status' in plain).toBe(false);
    expect('cause' in plain).toBe(false);
    expect(new OutputFetchError('timeout', 'https://a.example/x').transient).toBe(true);
    expect(new OutputFetchError('timeout', 'https://a.example/x', { transient: false }).transient).toBe(false);
  });
});

describe('status codes', () => {
  test.each([
    [499, false],
    [500, true],
    [407, false],
    [300, false],
    [304, false],
  ])('HTTP %i is an http_error, transient: %s', async (status, transient) => {
    const { port, origin } = await serve((_request, response) => response.writeHead(status).end());
    const error = await fetchError(openOutput(`${origin}/x`, policyFor(port)));
    expect(error).toMatchObject({ reason: 'http_error', status, transient });
  });

  test.each([200, 204, 299])('HTTP %i is a success', async (status) => {
    const { port, origin } = await serve((_request, response) => response.writeHead(status).end());
    const output = await openOutput(`${origin}/x`, policyFor(port));
    expect(output.status).toBe(status);
    expect(await readAll(output.body)).toHaveLength(0);
  });

  test('exactly maxRedirects redirects are followed', async () => {
    const { port, origin } = await serve((request, response) => {
      const hop = Number(request.url!.slice(1));
      if (hop < 2) response.writeHead(302, { location: `/${hop + 1}` }).end();
      else response.end('arrived');
    });
    const output = await openOutput(`${origin}/0`, policyFor(port, { maxRedirects: 2 }));
    expect(output.url).toBe(`${origin}/2`);
    expect((await readAll(output.body)).toString()).toBe('arrived');
  });
});

describe('response headers', () => {
  test.each([
    ['12abc', undefined],
    ['-1', undefined],
    ['0', 0],
  ])('a Content-Length of %j is read as %p', async (declared, expected) => {
    const { port, origin } = await serve((request, response) => {
      // Written raw: Node's server would refuse to send a malformed length.
      request.socket.end(`HTTP/1.1 200 OK\r\ncontent-length: ${declared}\r\nconnection: close\r\n\r\n`);
      void response;
    });
    const attempt = openOutput(`${origin}/x`, policyFor(port)).then(
      (output) => {
        output.body.destroy();
        return output.contentLength;
      },
      (error: unknown) => error,
    );
    const result = await attempt;
    // Node's parser may refuse a malformed length itself; what it lets through is never trusted.
    if (result instanceof Error) expect(result).toMatchObject({ reason: 'network_error' });
    else expect(result).toBe(expected);
  });

  test('a blank content type is left out', async () => {
    const { port, origin } = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': '  ' });
      response.end();
    });
    const output = await openOutput(`${origin}/x`, policyFor(port));
    expect(output).not.toHaveProperty('contentType');
    expect(output).not.toHaveProperty('contentLength');
    expect(await readAll(output.body)).toHaveLength(0);
  });
});

describe('guardedLookup', () => {
  const lookUp = (resolveAll: ResolveAll, options: { all?: boolean; family?: number } = {}) =>
    new Promise<{ error: unknown; address: unknown; family: unknown }>((resolve) =>
      guardedLookup('https://files.example/x', false, resolveAll)('files.example', options as never, (error, address, family) =>
        resolve({ error, address, family }),
      ),
    );

  test('a resolver error is passed on as it is', async () => {
    const failure = Object.assign(new Error('queryA ETIMEOUT files.example'), { code: 'ETIMEOUT' });
    expect(await lookUp((_host, _options, callback) => callback(failure, []))).toMatchObject({ error: failure });
  });

  test('the family asked for reaches the resolver, always with every address', async () => {
    let asked: unknown;
    const resolveAll: ResolveAll = (hostname, options, callback) => {
      asked = { hostname, ...options };
      callback(null, [{ address: '2606:4700::1', family: 6 }]);
    };
    expect(await lookUp(resolveAll, { family: 6 })).toEqual({ error: null, address: '2606:4700::1', family: 6 });
    expect(asked).toEqual({ hostname: 'files.example', family: 6, all: true });
  });

  test('a name with no addresses says so', async () => {
    const { error } = await lookUp((_host, _options, callback) => callback(null, []));
    expect(error).toMatchObject({ code: 'ENOTFOUND', message: 'files.example has no addresses' });
  });
});
