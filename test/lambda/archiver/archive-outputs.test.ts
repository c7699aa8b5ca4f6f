/**
 * archiveOutputs against real peers: fauxqs for S3, loopback HTTP servers standing in for
 * replicate.delivery (misbehaving on purpose), and, for S3 refusing or stalling, a loopback
 * server answering as S3 would.
 */
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { archiveOutputs, type FileResult, type OutputArchiveSettings } from '../../../lambda/archiver/archive-outputs';
import { parseAllowedHosts } from '../../../lambda/shared/allowed-hosts';
import { discoverOutputs, MAX_DEPTH } from '../../../lambda/shared/outputs';
import { useStandInEnvironment } from '../../support/aws';
import { startFauxqs, type Fauxqs } from '../../support/fauxqs';
import { sha256 } from '../../support/file-server';
import { trackTimers } from '../../support/timers';

const bucket = 'archive-outputs-test';
let fauxqs: Fauxqs;
let s3: S3Client;
const servers: Array<http.Server | TcpServer> = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  fauxqs = await startFauxqs();
  fauxqs.createBucket(bucket);
  useStandInEnvironment({ s3: fauxqs.s3Endpoint });
  s3 = new S3Client({});
});

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

afterAll(async () => {
  s3.destroy();
  await fauxqs.stop();
});

/** A loopback server; every socket it accepts is tracked, so a test can see when the archiver let go. */
async function listen<T extends http.Server | TcpServer>(
  server: T,
): Promise<{ origin: string; host: string; open: () => number }> {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    sockets.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, open: () => open.size };
}

const settingsFor = (hosts: readonly string[], overrides: Partial<OutputArchiveSettings> = {}): OutputArchiveSettings => ({
  bucketName: bucket,
  archivePrefix: `run-${randomUUID().slice(0, 8)}/`,
  fetchPolicy: {
    allowedHosts: parseAllowedHosts(hosts.map((host) => `http://${host}`)),
    allowPrivateAddresses: true,
    maxBytes: 10 * 1024 * 1024,
    // As deployed: the per-file limits are far longer than the time left in the invocation.
    headersTimeoutMs: 15_000,
    idleTimeoutMs: 30_000,
    totalTimeoutMs: 600_000,
    maxRedirects: 3,
  },
  fileConcurrency: 4,
  partSizeBytes: 5 * 1024 * 1024,
  uploadQueueSize: 2,
  fetchAttempts: 2,
  fetchRetryDelayMs: 20,
  retryBaseDelayMs: 20,
  ...overrides,
});

const failures = (results: readonly FileResult[]) => results.flatMap((result) => (result.ok ? [] : [result.failure]));
const files = (results: readonly FileResult[]) => results.flatMap((result) => (result.ok ? [result.file] : []));

/** Resolves with archiveOutputs' results, or with 'still running' once `ms` has passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('data: URIs whose media type cannot be a header', () => {
  test.each([
    ['a control character', 'image/png\u0001'],
    ['non-Latin-1 text', 'image/png✓'],
    ['kilobytes of it', `image/${'x'.repeat(9_000)}`],
    ['CR/LF and a header after it', 'image/png\r\nX-Evil: 1'],
  ])('%s: archived as application/octet-stream, not a failing upload', async (_case, mediaType) => {
    const bytes = randomBytes(64);
    const outputs = discoverOutputs([`data:${mediaType};base64,${bytes.toString('base64')}`]);
    const settings = settingsFor([]);
    const results = await archiveOutputs(s3, 'p-data', outputs, settings, Date.now() + 10_000);
    const [archived] = files(results);
    expect(failures(results)).toEqual([]);
    expect(archived).toMatchObject({
      source: `data:application/octet-stream (64 bytes)`,
      contentType: 'application/octet-stream',
      sha256: sha256(bytes),
    });
    expect(archived.key).toBe(`${settings.archivePrefix}predictions/p-data/outputs/0-output-0.bin`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: archived.key }));
    expect(head.ContentType).toBe('application/octet-stream');
  });
});

describe('data: URIs that do not decode', () => {
  test('are listed as invalid_data_uri, not transient, never dropped; the good outputs beside them are archived', async () => {
    const good = randomBytes(32);
    const output = {
      good: `data:application/octet-stream;base64,${good.toString('base64')}`,
      badBase64: 'data:image/png;base64,!!!',
      remainderOfOne: 'data:image/png;base64,AAAAA',
      badPercent: 'data:text/plain,%E0%A4%A',
      controlsAndBadBase64: 'data:image/png\r\n;base64,A===',
    };
    const results = await archiveOutputs(s3, 'p-invalid-data', discoverOutputs(output), settingsFor([]), Date.now() + 10_000);
    expect(files(results).map((file) => [file.paths, file.sha256])).toEqual([[['.good'], sha256(good)]]);
    expect(failures(results)).toEqual(
      ['.badBase64', '.remainderOfOne', '.badPercent', '.controlsAndBadBase64'].map((path) => ({
        source: 'data: (malformed)',
        paths: [path],
        reason: 'invalid_data_uri',
        transient: false,
      })),
    );
  });

  test('are listed even when the deadline has already passed: there is nothing to fetch', async () => {
    const outputs = discoverOutputs(['data:image/png;base64,!!!']);
    const results = await archiveOutputs(s3, 'p-invalid-late', outputs, settingsFor([]), Date.now() - 1);
    expect(failures(results)).toEqual([
      { source: 'data: (malformed)', paths: ['[0]'], reason: 'invalid_data_uri', transient: false },
    ]);
  });
});

describe('outputs past the discovery limits', () => {
  test('are failures with their reason, next to the archived ones', async () => {
    const server = await listen(http.createServer((_request, response) => response.end('ok')));
    let deep: unknown = `${server.origin}/deep.png`;
    for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];
    const results = await archiveOutputs(
      s3,
      'p-limits',
      discoverOutputs({ top: `${server.origin}/top.png`, deep }),
      settingsFor([server.host]),
      Date.now() + 10_000,
    );
    expect(files(results).map((file) => file.source)).toEqual([`${server.origin}/top.png`]);
    expect(failures(results)).toEqual([
      {
        source: `${server.origin}/deep.png`,
        paths: [`.deep${'[0]'.repeat(MAX_DEPTH - 1)}…`],
        reason: 'too_deep',
        transient: false,
      },
    ]);
  });
});

describe('the deadline', () => {
  test('a file still downloading at the deadline is a transient failure, and archiveOutputs returns in time', async () => {
    const good = randomBytes(1_000);
    const server = await listen(
      http.createServer((request, response) => {
        if (request.url === '/good.png') response.end(good);
        else if (request.url === '/stalls.png') {
          response.writeHead(200, { 'content-length': '1000000' });
          response.write(Buffer.alloc(1_000)); // and then nothing, for longer than the invocation has
        }
        // '/silent.png': never a header
      }),
    );
    const outputs = discoverOutputs([`${server.origin}/good.png`, `${server.origin}/stalls.png`, `${server.origin}/silent.png`]);
    const timers = trackTimers();
    try {
      const started = Date.now();
      const deadline = started + 1_500;
      const results = await within(archiveOutputs(s3, 'p-deadline', outputs, settingsFor([server.host]), deadline), 5_000);
      expect(results).not.toBe('still running');
      expect(Date.now()).toBeLessThan(deadline + 2_000); // not the per-file limits, 15 s and more
      const finished = results as FileResult[];
      expect(files(finished).map((file) => [file.source, file.sha256])).toEqual([[`${server.origin}/good.png`, sha256(good)]]);
      expect(failures(finished)).toEqual([
        { source: `${server.origin}/stalls.png`, paths: ['[1]'], reason: 'deadline', transient: true },
        { source: `${server.origin}/silent.png`, paths: ['[2]'], reason: 'deadline', transient: true },
      ]);
      // Nothing left running: the stalled downloads were closed, not abandoned.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(server.open()).toBe(0);
      expect(timers.pending()).toBe(0);
    } finally {
      timers.restore();
    }
  });

  test('files not started by the deadline are reported without being fetched', async () => {
    const hits: string[] = [];
    const server = await listen(
      http.createServer((request, response) => {
        hits.push(request.url ?? '');
        response.writeHead(200).write('x'); // stalls
      }),
    );
    const outputs = discoverOutputs([1, 2, 3].map((n) => `${server.origin}/${n}.png`));
    const results = await within(
      archiveOutputs(s3, 'p-queued', outputs, settingsFor([server.host], { fileConcurrency: 1 }), Date.now() + 1_000),
      4_000,
    );
    expect(results).not.toBe('still running');
    expect(failures(results as FileResult[]).map((failure) => failure.reason)).toEqual(['deadline', 'deadline', 'deadline']);
    expect(hits).toEqual(['/1.png']);
  });

  test('an S3 upload that stalls at the deadline is stopped too', async () => {
    const stalledS3 = await listen(http.createServer(() => {})); // takes the request, never answers
    const client = new S3Client({
      endpoint: stalledS3.origin,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const outputs = discoverOutputs(['data:text/plain;base64,aGVsbG8=']);
      const results = await within(archiveOutputs(client, 'p-s3-stall', outputs, settingsFor([]), Date.now() + 1_000), 4_000);
      expect(results).not.toBe('still running');
      expect(failures(results as FileResult[])).toEqual([
        { source: 'data:text/plain (5 bytes)', paths: ['[0]'], reason: 'deadline', transient: true },
      ]);
    } finally {
      client.destroy();
    }
  });
});

describe('per-file problems stay per-file', () => {
  test('a server that declares a longer body than it sends, then closes, is a transient failure of that file', async () => {
    const good = randomBytes(100);
    const server = await listen(
      createTcpServer((socket) => {
        socket.once('data', (request) => {
          if (request.toString().startsWith('GET /good.png')) {
            socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${good.length}\r\n\r\n`), good]));
          } else {
            socket.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n'), Buffer.alloc(500, 1)]));
          }
        });
      }),
    );
    const outputs = discoverOutputs([`${server.origin}/short.png`, `${server.origin}/good.png`]);
    const settings = settingsFor([server.host]);
    const results = await archiveOutputs(s3, 'p-short', outputs, settings, Date.now() + 10_000);
    expect(failures(results)).toEqual([
      { source: `${server.origin}/short.png`, paths: ['[0]'], reason: 'network_error', transient: true },
    ]);
    expect(files(results).map((file) => file.sha256)).toEqual([sha256(good)]);
    // The partial body never became an object.
    await expect(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${settings.archivePrefix}predictions/p-short/outputs/0-short.png` })),
    ).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  test('S3 refusing one object for good is that file’s failure; S3 failing transiently fails the prediction', async () => {
    let answer: { status: number; code: string } = { status: 400, code: 'InvalidArgument' };
    const fakeS3 = await listen(
      http.createServer((request, response) => {
        request.resume().on('end', () => {
          response.writeHead(answer.status, { 'content-type': 'application/xml' });
          response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${answer.code}</Code><Message>no</Message></Error>`);
        });
      }),
    );
    const client = new S3Client({
      endpoint: fakeS3.origin,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    try {
      const outputs = discoverOutputs(['data:text/plain;base64,aGVsbG8=', 'data:text/plain;base64,d29ybGQ=']);
      const refused = await archiveOutputs(client, 'p-refused', outputs, settingsFor([]), Date.now() + 5_000);
      expect(failures(refused).map(({ reason, transient }) => [reason, transient])).toEqual([
        ['write_rejected', false],
        ['write_rejected', false],
      ]);

      answer = { status: 503, code: 'SlowDown' };
      const started = Date.now();
      await expect(archiveOutputs(client, 'p-outage', outputs, settingsFor([]), Date.now() + 1_000)).rejects.toMatchObject({
        name: 'ArchiveWriteError',
      });
      expect(Date.now() - started).toBeLessThan(2_000);

      // With the archiver's outage window, an outage ends the try after the window, long before the deadline.
      const windowed = Date.now();
      await expect(
        archiveOutputs(
          client,
          'p-outage-window',
          outputs,
          settingsFor([], { outageWindowMs: 1_000, retryBaseDelayMs: 100 }),
          Date.now() + 60_000,
        ),
      ).rejects.toMatchObject({ name: 'ArchiveWriteError' });
      expect(Date.now() - windowed).toBeLessThan(3_000);
    } finally {
      client.destroy();
    }
  });
});
