/** The reconciler's Replicate API client against the Replicate API stand-in. */
import { createServer } from 'node:net';
import {
  parseRetryAfter,
  ReplicateApiClient,
  ReplicateApiError,
  ReplicateAuthError,
  type ReplicateApiClientOptions,
  type ReplicatePrediction,
  type RetryNotice,
} from '../../../lambda/reconciler/replicate-api';
import {
  startReplicateApi,
  type ReplicateApiStandIn,
  type ReplicateApiStandInOptions,
} from '../../../local/standins/replicate-api';

const TOKEN = 'r8_client_test_token_1234567890';
const NOW = Date.parse('2025-06-01T12:00:00.000000Z');
const minutesAgo = (minutes: number) => new Date(NOW - minutes * 60_000).toISOString();

let api: ReplicateApiStandIn | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

async function start(options: Partial<ReplicateApiStandInOptions> = {}) {
  api = await startReplicateApi({ token: TOKEN, ...options });
  return api;
}

const clientFor = (standIn: ReplicateApiStandIn, options: Partial<ReplicateApiClientOptions> = {}) =>
  new ReplicateApiClient({ baseUrl: standIn.endpoint, token: TOKEN, baseDelayMs: 10, maxDelayMs: 50, ...options });

/** Ten predictions a minute apart: p1 the newest (1 minute old) … p10 the oldest. */
function putTen(standIn: ReplicateApiStandIn) {
  for (let minutes = 1; minutes <= 10; minutes++)
    standIn.putPrediction({ id: `p${minutes}`, status: 'succeeded', created_at: minutesAgo(minutes) });
}

async function collect(iterable: AsyncIterable<ReplicatePrediction>) {
  const ids: string[] = [];
  for await (const prediction of iterable) ids.push(prediction.id);
  return ids;
}

const inFiveSeconds = () => Date.now() + 5_000;

describe('listPredictions', () => {
  test('follows next across pages and stops at the first page that reaches past `since`, even when created_after is ignored', async () => {
    const standIn = await start({ pageSize: 3, honourCreatedFilters: false });
    putTen(standIn);
    const listing = clientFor(standIn).listPredictions({
      since: new Date(minutesAgo(7.5)),
      deadline: inFiveSeconds(),
      maxPages: 10,
    });
    expect(await collect(listing)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    expect(listing.outcome).toEqual({
      stoppedBy: 'since',
      stoppedEarly: false,
      malformed: [],
      pages: 3,
      predictions: 7,
      oldestCreatedAt: minutesAgo(7),
    });
    // Page 4 exists (p10) but is never asked for.
    expect(standIn.requests).toHaveLength(3);
    expect(standIn.requests[0].query).toEqual({ created_after: minutesAgo(7.5) });
    expect(standIn.requests[1].query.cursor).toEqual(expect.any(String));
  });

  test('where created_after is honoured, the listing ends with the last page', async () => {
    const standIn = await start({ pageSize: 3 });
    putTen(standIn);
    const listing = clientFor(standIn).listPredictions({
      since: new Date(minutesAgo(7.5)),
      deadline: inFiveSeconds(),
      maxPages: 10,
    });
    expect(await collect(listing)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    expect(listing.outcome).toMatchObject({ stoppedBy: 'end', stoppedEarly: false, pages: 3 });
  });

  test('maxPages stops early and says so; `until` resumes where it stopped', async () => {
    const standIn = await start({ pageSize: 3 });
    putTen(standIn);
    const client = clientFor(standIn);
    const since = new Date(minutesAgo(60));
    const first = client.listPredictions({ since, deadline: inFiveSeconds(), maxPages: 2 });
    expect(await collect(first)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(first.outcome).toEqual({
      stoppedBy: 'max_pages',
      stoppedEarly: true,
      malformed: [],
      pages: 2,
      predictions: 6,
      oldestCreatedAt: minutesAgo(6),
    });
    expect(standIn.requests).toHaveLength(2);

    const rest = client.listPredictions({
      since,
      until: new Date(first.outcome!.oldestCreatedAt!),
      deadline: inFiveSeconds(),
      maxPages: 2,
    });
    expect(await collect(rest)).toEqual(['p7', 'p8', 'p9', 'p10']);
    expect(rest.outcome).toMatchObject({ stoppedBy: 'end', stoppedEarly: false });
  });

  test('the deadline stops the listing between pages, and the time the caller spends on a page counts', async () => {
    const standIn = await start({ pageSize: 3 });
    putTen(standIn);
    const listing = clientFor(standIn).listPredictions({
      since: new Date(minutesAgo(60)),
      // Room for the first page on a busy machine; the caller then outlasts the deadline.
      deadline: Date.now() + 1_000,
      maxPages: 10,
    });
    const ids: string[] = [];
    for await (const prediction of listing) {
      ids.push(prediction.id);
      if (ids.length === 1) await new Promise((resolve) => setTimeout(resolve, 1_100));
    }
    expect(ids).toEqual(['p1', 'p2', 'p3']);
    expect(listing.outcome).toMatchObject({ stoppedBy: 'deadline', stoppedEarly: true, pages: 1 });
    expect(standIn.requests).toHaveLength(1);
  });

  test('a next link to another origin is refused, not followed', async () => {
    // `localhost` and `127.0.0.1` reach the same server: only the check stops the second request.
    const standIn = await start({ pageSize: 3, advertisedHost: 'localhost' });
    putTen(standIn);
    const listing = clientFor(standIn).listPredictions({
      since: new Date(minutesAgo(60)),
      deadline: inFiveSeconds(),
      maxPages: 10,
    });
    const ids: string[] = [];
    const failure = await (async () => {
      for await (const prediction of listing) ids.push(prediction.id);
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ReplicateApiError);
    expect((failure as Error).message).toMatch(/refused to follow a `next` link to http:\/\/localhost:\d+/);
    expect(ids).toEqual(['p1', 'p2', 'p3']);
    expect(standIn.requests).toHaveLength(1);
    expect(listing.outcome).toBeUndefined();
  });

  test.each([
    ['a body that is not JSON', '<html>bad gateway</html>', /response body is not JSON/],
    ['results that are not an array', '{"results": "nope", "next": null}', /`results` is not an array/],
    ['a next that is not a string', '{"results": [], "next": 42}', /`next` is neither a string nor null/],
    ['a next that is not a URL', '{"results": [], "next": "/v1/predictions?cursor=abc"}', /not an absolute URL/],
  ])('%s is a clear, non-retryable error', async (_case, body, message) => {
    const standIn = await start();
    standIn.faults.respond({ status: 200, body });
    const listing = clientFor(standIn).listPredictions({ since: new Date(0), deadline: inFiveSeconds(), maxPages: 10 });
    const failure = await collect(listing).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ReplicateApiError);
    expect((failure as Error).message).toMatch(message);
    expect((failure as ReplicateApiError).retryable).toBe(false);
    expect(standIn.requests).toHaveLength(1);
  });

  test('malformed items are skipped and reported one by one; the good ones around them are listed', async () => {
    const standIn = await start({ pageSize: 3 });
    putTen(standIn);
    const items: Array<[unknown, string]> = [
      [{ status: 'succeeded', created_at: minutesAgo(1.5) }, 'invalid_id'],
      [{ id: '../etc', status: 'succeeded', created_at: minutesAgo(2.5) }, 'invalid_id'],
      [{ id: 'p11', status: 42, created_at: minutesAgo(3.5) }, 'invalid_status'],
      [{ id: 'p12', status: 'succeeded' }, 'invalid_created_at'],
      [{ id: 'p13', status: 'succeeded', created_at: minutesAgo(5.5), webhook: 7 }, 'invalid_webhook'],
      ['not an object', 'not_an_object'],
    ];
    items.forEach(([item], index) => standIn.putListItem(item, minutesAgo(index + 1.5)));
    const seen: string[] = [];
    const listing = clientFor(standIn).listPredictions({
      since: new Date(minutesAgo(60)),
      deadline: inFiveSeconds(),
      maxPages: 10,
      onMalformed: (item) => seen.push(item.reason),
    });
    expect(await collect(listing)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'p10']);
    expect(listing.outcome).toMatchObject({ stoppedBy: 'end', stoppedEarly: false, predictions: 10 });
    expect(listing.outcome!.malformed.map((item) => item.reason)).toEqual(items.map(([, reason]) => reason));
    expect(seen).toEqual(items.map(([, reason]) => reason));
    // Only a usable id is passed on, to be fetched whole.
    expect(listing.outcome!.malformed.map((item) => item.id)).toEqual([undefined, undefined, 'p11', 'p12', 'p13', undefined]);
    expect(listing.outcome!.malformed[0]).toMatchObject({ page: 1, index: 1 });
  });

  test('predictions newer than `until` are not this listing’s, even where created_before is ignored', async () => {
    const standIn = await start({ pageSize: 3, honourCreatedFilters: false });
    putTen(standIn);
    const listing = clientFor(standIn).listPredictions({
      since: new Date(minutesAgo(8)),
      until: new Date(minutesAgo(4)),
      deadline: inFiveSeconds(),
      maxPages: 10,
    });
    // `until` is exclusive, as `created_before` is.
    expect(await collect(listing)).toEqual(['p5', 'p6', 'p7', 'p8']);
  });

  test('a response body over the cap is refused', async () => {
    const standIn = await start();
    for (let index = 0; index < 50; index++) standIn.putPrediction({ id: `big${index}`, input: { prompt: 'x'.repeat(100) } });
    const listing = clientFor(standIn, { maxBodyBytes: 4_000 }).listPredictions({
      since: new Date(0),
      deadline: inFiveSeconds(),
      maxPages: 1,
    });
    await expect(collect(listing)).rejects.toThrow(/response body exceeds 4000 bytes/);
    // The same page fits under the default cap.
    expect(
      await collect(clientFor(standIn).listPredictions({ since: new Date(0), deadline: inFiveSeconds(), maxPages: 1 })),
    ).toHaveLength(50);
  });

  test('a body of undeclared length is cut off at the cap as it streams', async () => {
    // A chunked body with no Content-Length, four times the cap: the stand-in always declares its
    // lengths, so this test hands the client its own fetch. Finite, so a missing cap fails, not hangs.
    let pulled = 0;
    const endless = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (++pulled > 256) return controller.close();
            controller.enqueue(new TextEncoder().encode(' '.repeat(1_024)));
          },
        }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    const client = new ReplicateApiClient({
      baseUrl: 'https://api.replicate.com',
      token: TOKEN,
      maxBodyBytes: 64 * 1_024,
      fetch: async () => endless(),
    });
    const listing = client.listPredictions({ since: new Date(0), deadline: inFiveSeconds(), maxPages: 1 });
    await expect(collect(listing)).rejects.toThrow(/response body exceeds 65536 bytes/);
    expect(pulled).toBeLessThan(70);
  });
});

describe('retries', () => {
  test('a 429 is retried after its Retry-After, not before', async () => {
    const standIn = await start();
    standIn.faults.throttle({ requests: 1, retryAfterSeconds: 1 });
    const retries: RetryNotice[] = [];
    const started = Date.now();
    const key = await clientFor(standIn, { onRetry: (retry) => retries.push(retry) }).getWebhookSigningSecret({
      deadline: inFiveSeconds(),
    });
    const [throttled, answered] = standIn.requests;
    expect(key).toMatch(/^whsec_/);
    expect(standIn.requests.map((request) => request.status)).toEqual([429, 200]);
    expect(answered.time - throttled.time).toBeGreaterThanOrEqual(1_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(retries).toEqual([{ method: 'GET', path: '/v1/webhooks/default/secret', status: 429, attempt: 1, delayMs: 1_000 }]);
  });

  test('a Retry-After beyond the deadline fails at once, with the wait Replicate asked for', async () => {
    const standIn = await start();
    standIn.faults.throttle({ requests: 1, retryAfterSeconds: 30 });
    const started = Date.now();
    const failure = await clientFor(standIn)
      .getWebhookSigningSecret({ deadline: inFiveSeconds() })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ReplicateApiError);
    expect(failure).toMatchObject({ status: 429, retryable: true, retryAfterMs: 30_000 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(standIn.requests).toHaveLength(1);
  });

  test('5xx answers are retried with backoff until one succeeds', async () => {
    const standIn = await start();
    standIn.putPrediction({ id: 'flaky', status: 'succeeded' });
    standIn.faults.fail({ status: 503, requests: 2 });
    const fetched = await clientFor(standIn).getPrediction('flaky', { deadline: inFiveSeconds() });
    expect(fetched?.prediction.status).toBe('succeeded');
    expect(standIn.requests.map((request) => request.status)).toEqual([503, 503, 200]);
  });

  test('a lasting outage ends at the deadline with a retryable error', async () => {
    const standIn = await start();
    standIn.faults.fail({ status: 500, requests: 1_000 });
    const started = Date.now();
    // Tries at 0 and 600 ms, then the deadline: the last try has 400 ms to get its 500 back.
    const failure = await clientFor(standIn, { baseDelayMs: 600, maxDelayMs: 600 })
      .getWebhookSigningSecret({ deadline: Date.now() + 1_000 })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'ReplicateApiError', status: 500, retryable: true });
    // Ignoring the deadline would mean a thousand tries; the slack is for a busy machine.
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(standIn.requests.length).toBeGreaterThan(1);
  });

  test('network errors are retried, and reported by code', async () => {
    // A port that was free a moment ago: connections are refused.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    const retries: RetryNotice[] = [];
    const client = new ReplicateApiClient({
      baseUrl: `http://127.0.0.1:${port}`,
      token: TOKEN,
      // One retry, 600 ms after the first try, then the deadline: the last try has 400 ms to be
      // refused, so a busy machine cannot turn its failure into the per-request timeout's.
      baseDelayMs: 600,
      maxDelayMs: 600,
      onRetry: (retry) => retries.push(retry),
    });
    const failure = await client.getWebhookSigningSecret({ deadline: Date.now() + 1_000 }).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      name: 'ReplicateApiError',
      retryable: true,
      message: expect.stringContaining('ECONNREFUSED'),
    });
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toMatchObject({ error: 'ECONNREFUSED', attempt: 1 });
  });

  test('401 and 403 are a ReplicateAuthError, never retried, and no error carries the token', async () => {
    const standIn = await start();
    const wrong = new ReplicateApiClient({ baseUrl: standIn.endpoint, token: 'r8_wrong_token', baseDelayMs: 10 });
    const unauthenticated = await wrong.getWebhookSigningSecret({ deadline: inFiveSeconds() }).catch((error: unknown) => error);
    expect(unauthenticated).toBeInstanceOf(ReplicateAuthError);
    expect(unauthenticated).toMatchObject({ status: 401, retryable: false });
    expect((unauthenticated as Error).message).toContain('You did not pass a valid authentication token');
    expect(standIn.requests).toHaveLength(1);

    standIn.faults.respond({ status: 403, body: `{"detail": "token ${TOKEN} lacks permission"}` });
    const forbidden = clientFor(standIn).listPredictions({ since: new Date(0), deadline: inFiveSeconds(), maxPages: 1 });
    const failure = await collect(forbidden).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ReplicateAuthError);
    expect((failure as Error).message).toContain('[redacted]');
    expect((failure as Error).message).not.toContain(TOKEN);
    expect(standIn.requests).toHaveLength(2);
  });

  test('another 4xx is a ReplicateApiError with its status, not retried', async () => {
    const standIn = await start();
    standIn.faults.respond({ status: 400, body: '{"detail": "created_after must be an ISO 8601 date-time."}' });
    const failure = await clientFor(standIn)
      .getWebhookSigningSecret()
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'ReplicateApiError', status: 400, retryable: false });
    expect((failure as Error).message).toContain('created_after must be an ISO 8601 date-time.');
    expect(standIn.requests).toHaveLength(1);
  });
});

describe('getPrediction and getWebhookSigningSecret', () => {
  test('a prediction comes back parsed and verbatim; an unknown one is undefined', async () => {
    const standIn = await start();
    const stored = standIn.putPrediction({
      id: 'known',
      status: 'succeeded',
      logs: 'all done',
      output: ['https://replicate.delivery/a.png'],
    });
    const client = clientFor(standIn);
    const fetched = await client.getPrediction('known');
    expect(fetched?.prediction).toEqual(stored);
    expect(fetched?.body).toBe(JSON.stringify(stored));
    expect(await client.getPrediction('unknown')).toBeUndefined();
    expect(standIn.requests.map((request) => request.path)).toEqual(['/v1/predictions/known', '/v1/predictions/unknown']);
  });

  test('an id that is not a prediction id is refused before any request', async () => {
    const standIn = await start();
    await expect(clientFor(standIn).getPrediction('../webhooks/default/secret')).rejects.toThrow(/is not a prediction id/);
    expect(standIn.requests).toHaveLength(0);
  });

  test('a signing secret that is not whsec_ is refused', async () => {
    const standIn = await start();
    standIn.setSecret('not-a-webhook-secret');
    await expect(clientFor(standIn).getWebhookSigningSecret()).rejects.toThrow(/no `key` of the form whsec_/);
    standIn.setSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(await clientFor(standIn).getWebhookSigningSecret()).toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  });
});

test('parseRetryAfter reads delta-seconds and HTTP dates', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  expect(parseRetryAfter('1', now)).toBe(1_000);
  expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
  expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:05 GMT', now)).toBe(5_000);
  expect(parseRetryAfter('Sun, 01 Jun 2025 11:59:00 GMT', now)).toBe(0);
  expect(parseRetryAfter('soon', now)).toBeUndefined();
  expect(parseRetryAfter(null, now)).toBeUndefined();
});

test('the token is sent only over https, or plain http to this machine', () => {
  expect(() => new ReplicateApiClient({ baseUrl: 'http://api.replicate.com', token: TOKEN })).toThrow(/must be https/);
  expect(() => new ReplicateApiClient({ baseUrl: 'https://api.replicate.com?x=1', token: TOKEN })).toThrow(/no query/);
  expect(() => new ReplicateApiClient({ token: TOKEN })).not.toThrow();
  expect(() => new ReplicateApiClient({ baseUrl: 'http://127.0.0.1:9', token: TOKEN })).not.toThrow();
});
