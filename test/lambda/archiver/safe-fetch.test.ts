/**
 * The fetcher's transport against local servers and stand-in DNS answers: redirects, limits,
 * timeouts, and the address check on what is actually dialled. The policy it enforces is tested on
 * its own in test/lambda/shared/allowed-hosts.test.ts and address-policy.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import { getDefaultAutoSelectFamily, setDefaultAutoSelectFamily, type AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  guardedLookup,
  openOutput,
  OutputFetchError,
  type FetchFailureReason,
  type FetchPolicy,
  type ResolveAll,
} from '../../../lambda/archiver/safe-fetch';
import { parseAllowedHosts } from '../../../lambda/shared/allowed-hosts';
import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { trackTimers } from '../../support/timers';

describe('guardedLookup', () => {
  const href = 'https://files.example/out.png';
  const PUBLIC: LookupAddress = { address: '8.8.8.8', family: 4 };
  const PUBLIC_V6: LookupAddress = { address: '2606:4700::1', family: 6 };
  const LOOPBACK: LookupAddress = { address: '127.0.0.1', family: 4 };
  const METADATA_V6: LookupAddress = { address: 'fd00:ec2::254', family: 6 };

  /** What the hook hands Node's connect when the resolver answers `answer`. */
  function lookUp(answer: LookupAddress[], { all = false, allowPrivateAddresses = false } = {}) {
    const resolveAll: ResolveAll = (_hostname, _options, callback) => callback(null, answer);
    return new Promise<{ error: unknown; address: unknown; family: number | undefined }>((resolve) =>
      guardedLookup(href, allowPrivateAddresses, resolveAll)('files.example', { all }, (error, address, family) =>
        resolve({ error, address, family }),
      ),
    );
  }

  // A rebinding name answers with a public address and a private one: either may be the one dialled.
  describe.each([false, true])('an answer mixing public and blocked addresses is refused (all: %s)', (all) => {
    test.each([
      ['public first', [PUBLIC, LOOPBACK]],
      ['blocked first', [LOOPBACK, PUBLIC]],
      ['blocked in the middle', [PUBLIC_V6, METADATA_V6, PUBLIC]],
    ])('%s', async (_order, answer) => {
      const { error } = await lookUp(answer, { all });
      expect(error).toBeInstanceOf(OutputFetchError);
      expect(error).toMatchObject({ reason: 'blocked_address', transient: false, url: href });
    });
  });

  test('an all-public answer is passed on: every address, or the first', async () => {
    expect(await lookUp([PUBLIC_V6, PUBLIC], { all: true })).toEqual({
      error: null,
      address: [PUBLIC_V6, PUBLIC],
      family: undefined,
    });
    expect(await lookUp([PUBLIC_V6, PUBLIC])).toEqual({ error: null, address: '2606:4700::1', family: 6 });
  });

  test('a mixed answer is passed on whole when private addresses are allowed', async () => {
    expect(await lookUp([PUBLIC, LOOPBACK], { all: true, allowPrivateAddresses: true })).toMatchObject({
      error: null,
      address: [PUBLIC, LOOPBACK],
    });
  });

  test('an empty answer is a name that does not exist', async () => {
    const { error } = await lookUp([]);
    expect(error).toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('openOutput against local servers', () => {
  type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;
  interface TestServer {
    readonly port: number;
    readonly origin: string;
    readonly requests: http.IncomingMessage[];
  }
  const servers: http.Server[] = [];
  const timers: NodeJS.Timeout[] = [];

  async function serve(handler: Handler, host = '127.0.0.1'): Promise<TestServer> {
    const requests: http.IncomingMessage[] = [];
    const server = http.createServer((request, response) => {
      requests.push(request);
      handler(request, response);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const { port } = server.address() as AddressInfo;
    return { port, origin: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, requests };
  }

  /** Writes `chunk` every `everyMs` until the client goes away. */
  function trickle(response: http.ServerResponse, chunk: Buffer, everyMs: number): void {
    const timer = setInterval(() => response.write(chunk), everyMs);
    timers.push(timer);
    response.on('close', () => clearInterval(timer));
  }

  afterEach(async () => {
    for (const timer of timers.splice(0)) clearInterval(timer);
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

  const basePolicy: FetchPolicy = {
    allowedHosts: [],
    allowPrivateAddresses: true,
    maxBytes: 10 * 1024 * 1024,
    headersTimeoutMs: 5_000,
    idleTimeoutMs: 5_000,
    totalTimeoutMs: 20_000,
    maxRedirects: 3,
  };
  const policyFor = (server: TestServer, overrides: Partial<FetchPolicy> = {}): FetchPolicy => ({
    ...basePolicy,
    allowedHosts: parseAllowedHosts([`http://127.0.0.1:${server.port}`]),
    ...overrides,
  });

  /** Reads the body without keeping it: its length and SHA-256. Optionally dawdles after the first chunk. */
  async function consume(body: Readable, pauseAfterFirstChunkMs = 0): Promise<{ bytes: number; sha256: string }> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of body) {
      if (bytes === 0 && pauseAfterFirstChunkMs) await sleep(pauseAfterFirstChunkMs);
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { bytes, sha256: hash.digest('hex') };
  }

  async function fetchError(promise: Promise<unknown>): Promise<OutputFetchError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OutputFetchError);
    expect((error as Error).name).toBe('OutputFetchError');
    return error as OutputFetchError;
  }

  const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  test('streams a 200 body byte-exact, with its content type, length and the expected request headers', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': ' image/png ', 'content-length': data.length });
      response.end(data);
    });
    const output = await openOutput(`${server.origin}/out.png`, policyFor(server));
    expect(output).toMatchObject({
      url: `${server.origin}/out.png`,
      status: 200,
      contentType: 'image/png',
      contentLength: data.length,
    });
    expect(await consume(output.body)).toEqual({ bytes: data.length, sha256: sha256(data) });
    expect(server.requests[0].headers).toMatchObject({
      accept: '*/*',
      'user-agent': 'replicate-webhooks-archiver',
      'accept-encoding': 'identity',
    });
  });

  test('a chunked body without content type or length', async () => {
    const server = await serve((_request, response) => {
      response.write('hello ');
      response.end('world');
    });
    const output = await openOutput(`${server.origin}/x`, policyFor(server));
    expect(output.contentType).toBeUndefined();
    expect(output.contentLength).toBeUndefined();
    expect(await consume(output.body)).toEqual({ bytes: 11, sha256: sha256(Buffer.from('hello world')) });
  });

  test('a slow consumer is not an idle server', async () => {
    const data = randomBytes(1024 * 1024);
    const server = await serve((_request, response) => response.end(data));
    const output = await openOutput(`${server.origin}/x`, policyFor(server, { idleTimeoutMs: 200 }));
    await sleep(400); // before the first read
    expect(await consume(output.body, 400)).toEqual({ bytes: data.length, sha256: sha256(data) });
  });

  test.each([
    [404, false],
    [403, false],
    [410, false],
    [500, true],
    [503, true],
    [408, true],
    [429, true],
  ])('HTTP %i is an http_error, transient: %s', async (status, transient) => {
    const server = await serve((_request, response) => {
      response.writeHead(status, { 'content-type': 'text/plain' });
      response.end('secret details of the failure');
    });
    const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server)));
    expect(error).toMatchObject({ reason: 'http_error', status, transient, url: `${server.origin}/x` });
    expect(error.message).not.toContain('secret');
  });

  test('follows redirects, relative and absolute, to allowed URLs', async () => {
    const server = await serve((request, response) => {
      if (request.url === '/a') response.writeHead(301, { location: 'b' }).end();
      else if (request.url === '/b') response.writeHead(307, { location: `http://127.0.0.1:${server.port}/c?x=1` }).end();
      else response.end('final');
    });
    const output = await openOutput(`${server.origin}/a`, policyFor(server));
    expect(output.url).toBe(`${server.origin}/c?x=1`);
    expect(await consume(output.body)).toMatchObject({ bytes: 5 });
    expect(server.requests.map((request) => [request.method, request.url])).toEqual([
      ['GET', '/a'],
      ['GET', '/b'],
      ['GET', '/c?x=1'],
    ]);
  });

  test('refuses a redirect to a port that is not allowed, without contacting it', async () => {
    const other = await serve((_request, response) => response.end('should not be fetched'));
    const server = await serve((_request, response) => response.writeHead(302, { location: `${other.origin}/elsewhere` }).end());
    const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server)));
    expect(error).toMatchObject({ reason: 'port_not_allowed', transient: false, url: `${other.origin}/elsewhere` });
    expect(other.requests).toHaveLength(0);
  });

  test.each<[string, FetchFailureReason]>([
    ['https://evil.example/x', 'host_not_allowed'],
    ['http://169.254.169.254/latest/meta-data/', 'host_not_allowed'],
    ['file:///etc/passwd', 'insecure_scheme'],
    ['http://user:pass@127.0.0.1/x', 'credentials_in_url'],
    ['http://[::1', 'invalid_url'],
  ])('refuses a redirect to %s', async (location, reason) => {
    const server = await serve((_request, response) => response.writeHead(303, { location }).end());
    const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server)));
    expect(error).toMatchObject({ reason, transient: false });
  });

  test('a redirect loop ends in too_many_redirects', async () => {
    const server = await serve((_request, response) => response.writeHead(302, { location: '/loop' }).end());
    const error = await fetchError(openOutput(`${server.origin}/loop`, policyFor(server, { maxRedirects: 3 })));
    expect(error).toMatchObject({ reason: 'too_many_redirects', transient: false });
    expect(server.requests).toHaveLength(4);
  });

  test('maxRedirects 0 follows none', async () => {
    const server = await serve((request, response) => {
      if (request.url === '/a') response.writeHead(308, { location: '/b' }).end();
      else response.end('b');
    });
    const error = await fetchError(openOutput(`${server.origin}/a`, policyFor(server, { maxRedirects: 0 })));
    expect(error.reason).toBe('too_many_redirects');
  });

  test('a redirect without a Location', async () => {
    const server = await serve((_request, response) => response.writeHead(302).end());
    const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server)));
    expect(error).toMatchObject({ reason: 'redirect_without_location', transient: false });
  });

  test('a declared Content-Length over the cap is refused before any body arrives', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 2_000 });
      response.flushHeaders(); // and never a byte of body
    });
    const started = Date.now();
    const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server, { maxBytes: 1_000 })));
    expect(error).toMatchObject({ reason: 'too_large', transient: false });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('a chunked body over the cap fails while streaming, having passed on no more than the cap', async () => {
    const server = await serve((_request, response) => trickle(response, Buffer.alloc(64 * 1024, 1), 1));
    const maxBytes = 100_000;
    const output = await openOutput(`${server.origin}/x`, policyFor(server, { maxBytes }));
    let passed = 0;
    output.body.on('data', (chunk: Buffer) => (passed += chunk.length));
    const error = await fetchError(consume(output.body));
    expect(error).toMatchObject({ reason: 'too_large', transient: false });
    expect(passed).toBeLessThanOrEqual(maxBytes);
  });

  test('exactly maxBytes is fine', async () => {
    const data = randomBytes(1_000);
    const server = await serve((_request, response) => {
      response.write(data.subarray(0, 500));
      response.end(data.subarray(500));
    });
    const output = await openOutput(`${server.origin}/x`, policyFor(server, { maxBytes: 1_000 }));
    expect(await consume(output.body)).toEqual({ bytes: 1_000, sha256: sha256(data) });
  });

  test('slow headers time out', async () => {
    const server = await serve(() => {}); // never answers
    const started = Date.now();
    const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server, { headersTimeoutMs: 200 })));
    expect(error).toMatchObject({ reason: 'timeout', transient: true });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('the total deadline covers the headers too', async () => {
    const server = await serve(() => {});
    const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server, { totalTimeoutMs: 200 })));
    expect(error).toMatchObject({ reason: 'timeout', transient: true });
  });

  test('an endless trickling body hits the total deadline', async () => {
    const server = await serve((_request, response) => trickle(response, Buffer.from('x'), 20));
    const started = Date.now();
    const output = await openOutput(`${server.origin}/x`, policyFor(server, { totalTimeoutMs: 500 }));
    const error = await fetchError(consume(output.body));
    expect(error).toMatchObject({ reason: 'timeout', transient: true });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  test('a body that stalls hits the idle timeout', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 1_000 });
      response.write(Buffer.alloc(100)); // and then nothing
    });
    const started = Date.now();
    const output = await openOutput(`${server.origin}/x`, policyFor(server, { idleTimeoutMs: 200 }));
    const error = await fetchError(consume(output.body));
    expect(error).toMatchObject({ reason: 'timeout', transient: true });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  test('a server that closes mid-body is a transient network_error', async () => {
    const server = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': 1_000 });
      response.write(Buffer.alloc(500), () => setTimeout(() => response.socket?.destroy(), 20));
    });
    const output = await openOutput(`${server.origin}/x`, policyFor(server));
    const error = await fetchError(consume(output.body));
    expect(error).toMatchObject({ reason: 'network_error', transient: true });
  });

  test('a refused connection is a transient network_error', async () => {
    const server = await serve(() => {});
    const { port } = server;
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const error = await fetchError(openOutput(`http://127.0.0.1:${port}/x`, policyFor(server)));
    expect(error).toMatchObject({ reason: 'network_error', transient: true });
  });

  test('a name that does not exist is a permanent network_error', async () => {
    const policy: FetchPolicy = { ...basePolicy, allowedHosts: parseAllowedHosts(['http://nope.invalid']) };
    const error = await fetchError(openOutput('http://nope.invalid/x', policy));
    expect(error).toMatchObject({ reason: 'network_error', transient: false });
  });

  describe('loopback is refused unless private addresses are allowed', () => {
    // Node's net asks the lookup for every address when it races families, else for one.
    test.each([true, false])('when reached by name, through the DNS lookup (autoSelectFamily: %s)', async (autoSelectFamily) => {
      const previous = getDefaultAutoSelectFamily();
      setDefaultAutoSelectFamily(autoSelectFamily);
      try {
        const server = await serve((_request, response) => response.end('private'));
        const policy: FetchPolicy = {
          ...policyFor(server),
          allowedHosts: parseAllowedHosts([`http://localhost:${server.port}`]),
          allowPrivateAddresses: false,
        };
        const error = await fetchError(openOutput(`http://localhost:${server.port}/x`, policy));
        expect(error).toMatchObject({ reason: 'blocked_address', transient: false, url: `http://localhost:${server.port}/x` });
        expect(server.requests).toHaveLength(0);
        // The same name is fine when allowed, so it was the address that was refused.
        const output = await openOutput(`http://localhost:${server.port}/x`, { ...policy, allowPrivateAddresses: true });
        expect(await consume(output.body)).toMatchObject({ bytes: 7 });
      } finally {
        setDefaultAutoSelectFamily(previous);
      }
    });

    test('when given as an IP literal', async () => {
      const server = await serve((_request, response) => response.end('private'));
      const error = await fetchError(openOutput(`${server.origin}/x`, policyFor(server, { allowPrivateAddresses: false })));
      expect(error).toMatchObject({ reason: 'blocked_address', transient: false });
      expect(server.requests).toHaveLength(0);
    });

    // Node dials a bracketed literal without any lookup, so only the literal check stands in the way.
    test('when given as a bracketed IPv6 literal', async () => {
      const server = await serve((_request, response) => response.end('private'), '::1');
      const policy: FetchPolicy = {
        ...basePolicy,
        allowedHosts: parseAllowedHosts([`http://[::1]:${server.port}`]),
        allowPrivateAddresses: false,
      };
      const error = await fetchError(openOutput(`http://[::1]:${server.port}/x`, policy));
      expect(error).toMatchObject({ reason: 'blocked_address', transient: false });
      expect(error.message).toContain('(::1)'); // judged as a literal, not through a lookup
      expect(server.requests).toHaveLength(0);
      const output = await openOutput(`http://[0:0::1]:${server.port}/x`, { ...policy, allowPrivateAddresses: true });
      expect(await consume(output.body)).toMatchObject({ bytes: 7 });
    });
  });

  describe('AbortSignal', () => {
    test('an already aborted signal fetches nothing', async () => {
      const server = await serve((_request, response) => response.end('x'));
      const controller = new AbortController();
      controller.abort();
      await expect(openOutput(`${server.origin}/x`, policyFor(server), controller.signal)).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(server.requests).toHaveLength(0);
    });

    test('aborts while waiting for headers, with the reason given', async () => {
      const server = await serve(() => {});
      const reason = new Error('shutting down');
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 50);
      await expect(openOutput(`${server.origin}/x`, policyFor(server), controller.signal)).rejects.toBe(reason);
    });

    test('aborts while streaming the body', async () => {
      const server = await serve((_request, response) => trickle(response, Buffer.from('x'), 10));
      const controller = new AbortController();
      const output = await openOutput(`${server.origin}/x`, policyFor(server), controller.signal);
      setTimeout(() => controller.abort(), 100);
      await expect(consume(output.body)).rejects.toMatchObject({ name: 'AbortError' });
    });
  });

  test('a consumer that destroys the body closes the connection', async () => {
    let closed: Promise<void> | undefined;
    const server = await serve((request, response) => {
      closed = new Promise((resolve) => request.socket.on('close', () => resolve()));
      trickle(response, Buffer.alloc(1024), 5);
    });
    const output = await openOutput(`${server.origin}/x`, policyFor(server));
    const bodyClosed = new Promise((resolve) => output.body.on('close', resolve));
    output.body.once('data', () => output.body.destroy());
    await Promise.all([closed, bodyClosed]);
  });
});

/**
 * The fetch guard where the main suite could not tell outcomes apart (found by mutation testing,
 * docs/mutation.md): https end to end, which timeout fired (by its `detail`), what a network error
 * carries (`cause`), backpressure towards a slow reader, and that a finished fetch leaves no timer
 * and no listener on the caller's signal behind.
 */
describe('edges', () => {
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
    const tls = join(__dirname, '..', '..', 'fixtures', 'tls');
    const credentials = {
      key: readFileSync(join(tls, 'localhost-key.pem')),
      cert: readFileSync(join(tls, 'localhost-cert.pem')),
    };

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
        guardedLookup('https://files.example/x', false, resolveAll)('files.example', options, (error, address, family) =>
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
});
