/** The Replicate API stand-in, through plain fetch: what a client of Replicate's API would see. */
import {
  startReplicateApi,
  type ReplicateApiStandIn,
  type ReplicateApiStandInOptions,
} from '../../../local/standins/replicate-api';

const TOKEN = 'r8_standin_test_token';

let api: ReplicateApiStandIn | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

async function start(options: Partial<ReplicateApiStandInOptions> = {}) {
  api = await startReplicateApi({ token: TOKEN, ...options });
  return api;
}

async function call(url: string, init: { method?: string; body?: string; token?: string | null } = {}) {
  const headers: Record<string, string> = {};
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: text ? (JSON.parse(text) as Record<string, any>) : undefined,
  };
}

const minutesAgo = (minutes: number) => new Date(Date.parse('2025-06-01T12:00:00Z') - minutes * 60_000).toISOString();

describe('auth', () => {
  test('no token and a wrong token get 401 as Replicate answers it; the right token gets through', async () => {
    const { endpoint, requests } = await start();
    const missing = await call(`${endpoint}/v1/predictions`, { token: null });
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({ title: 'Unauthenticated', detail: 'You did not pass an authentication token', status: 401 });
    const wrong = await call(`${endpoint}/v1/predictions`, { token: `${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.json?.title).toBe('Unauthenticated');
    const basic = await fetch(`${endpoint}/v1/predictions`, { headers: { authorization: `Token ${TOKEN}x` } });
    expect(basic.status).toBe(401);
    expect((await call(`${endpoint}/v1/predictions`)).status).toBe(200);
    expect(requests.map((request) => request.status)).toEqual([401, 401, 401, 200]);
    expect(JSON.stringify(requests)).not.toContain(TOKEN);
  });
});

describe('GET /v1/predictions', () => {
  test('pages newest first by created_at to the microsecond, with absolute next and previous links', async () => {
    const { endpoint, putPrediction } = await start({ pageSize: 2 });
    // Inserted out of order. The two newest share a millisecond, and their ids sort against their
    // times, so only a microsecond comparison puts them right.
    putPrediction({ id: 'p3', created_at: '2025-06-01T11:58:00.000000Z', logs: 'three' });
    putPrediction({ id: 'p1', created_at: '2025-06-01T11:56:00.000000Z' });
    putPrediction({ id: 'aaaa', created_at: '2025-06-01T11:59:00.123900Z' });
    putPrediction({ id: 'p2', created_at: '2025-06-01T11:57:00.000000Z' });
    putPrediction({ id: 'zzzz', created_at: '2025-06-01T11:59:00.123400Z' });

    const pages: string[][] = [];
    const links: { next: string | null; previous: string | null }[] = [];
    let url: string | null = `${endpoint}/v1/predictions`;
    while (url) {
      const page = await call(url);
      expect(page.status).toBe(200);
      pages.push(page.json!.results.map((prediction: { id: string }) => prediction.id));
      links.push({ next: page.json!.next, previous: page.json!.previous });
      url = page.json!.next;
    }
    expect(pages).toEqual([['aaaa', 'zzzz'], ['p3', 'p2'], ['p1']]);
    expect(links[0].previous).toBeNull();
    expect(links[2].next).toBeNull();
    for (const link of [links[0].next, links[1].next, links[1].previous, links[2].previous]) {
      expect(link).toMatch(new RegExp(`^${endpoint}/v1/predictions\\?cursor=[A-Za-z0-9_-]+$`));
    }
    // `previous` leads back to the page before.
    const back = await call(links[2].previous!);
    expect(back.json!.results.map((prediction: { id: string }) => prediction.id)).toEqual(['p3', 'p2']);
  });

  test('list items are the prediction without logs; the get endpoint has them', async () => {
    const { endpoint, putPrediction } = await start();
    const stored = putPrediction({
      id: 'withlogs',
      status: 'succeeded',
      logs: 'step 1\nstep 2',
      output: ['https://replicate.delivery/x.png'],
      webhook: 'https://example.com/hook',
    });
    const listed = (await call(`${endpoint}/v1/predictions`)).json!.results[0];
    expect(listed).not.toHaveProperty('logs');
    expect(listed).toEqual(Object.fromEntries(Object.entries(stored).filter(([field]) => field !== 'logs')));
    expect(listed).toMatchObject({
      status: 'succeeded',
      webhook: 'https://example.com/hook',
      data_removed: false,
      urls: { get: `${endpoint}/v1/predictions/withlogs` },
    });
    expect((await call(`${endpoint}/v1/predictions/withlogs`)).json).toEqual(stored);
  });

  test('a cursor is a position, not an offset: a prediction created meanwhile neither repeats nor skips one', async () => {
    const { endpoint, putPrediction } = await start({ pageSize: 2 });
    for (let index = 1; index <= 4; index++) putPrediction({ id: `p${index}`, created_at: minutesAgo(10 - index) });
    const first = await call(`${endpoint}/v1/predictions`);
    expect(first.json!.results.map((prediction: { id: string }) => prediction.id)).toEqual(['p4', 'p3']);
    putPrediction({ id: 'p5', created_at: minutesAgo(0) });
    const second = await call(first.json!.next);
    expect(second.json!.results.map((prediction: { id: string }) => prediction.id)).toEqual(['p2', 'p1']);
    expect(second.json!.next).toBeNull();
  });

  test('an unreadable cursor is a 404, as Django REST framework answers it', async () => {
    const { endpoint } = await start();
    const answer = await call(`${endpoint}/v1/predictions?cursor=bm90LWEtY3Vyc29y`);
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ detail: 'Invalid cursor' });
  });

  test('created_after is inclusive, created_before exclusive, and both carry over to the next page', async () => {
    const { endpoint, putPrediction } = await start({ pageSize: 1 });
    for (let index = 0; index < 5; index++) putPrediction({ id: `m${index}`, created_at: minutesAgo(index) });
    const query = `created_after=${encodeURIComponent(minutesAgo(3))}&created_before=${encodeURIComponent(minutesAgo(1))}`;
    const ids: string[] = [];
    let url: string | null = `${endpoint}/v1/predictions?${query}`;
    while (url) {
      const page = await call(url);
      ids.push(...page.json!.results.map((prediction: { id: string }) => prediction.id));
      if (page.json!.next) expect(new URL(page.json!.next).searchParams.get('created_after')).toBe(minutesAgo(3));
      url = page.json!.next;
    }
    expect(ids).toEqual(['m2', 'm3']);
    const bad = await call(`${endpoint}/v1/predictions?created_after=yesterday`);
    expect(bad.status).toBe(400);
  });

  test('honourCreatedFilters: false plays an API that ignores the filters', async () => {
    const { endpoint, putPrediction } = await start({ honourCreatedFilters: false });
    for (let index = 0; index < 3; index++) putPrediction({ id: `m${index}`, created_at: minutesAgo(index) });
    const page = await call(`${endpoint}/v1/predictions?created_after=${encodeURIComponent(minutesAgo(0))}`);
    expect(page.json!.results).toHaveLength(3);
  });
});

describe('GET /v1/trainings', () => {
  test('trainings are listed and fetched in a collection of their own, paged as predictions are', async () => {
    const { endpoint, putPrediction, putTraining } = await start({ pageSize: 1 });
    putPrediction({ id: 'p1', created_at: minutesAgo(3) });
    putTraining({
      id: 't1',
      created_at: minutesAgo(2),
      output: { version: 'alice/m:1', weights: 'https://replicate.delivery/w.tar' },
    });
    // Told apart by its urls, as the sender registers one: no putTraining needed.
    putPrediction({ id: 't2', created_at: minutesAgo(1), urls: { get: 'https://api.replicate.com/v1/trainings/t2' } });

    const ids: string[] = [];
    let url: string | null = `${endpoint}/v1/trainings`;
    while (url) {
      const page = await call(url);
      expect(page.status).toBe(200);
      ids.push(...page.json!.results.map((item: { id: string }) => item.id));
      if (page.json!.next) expect(page.json!.next).toMatch(new RegExp(`^${endpoint}/v1/trainings\\?cursor=`));
      url = page.json!.next;
    }
    expect(ids).toEqual(['t2', 't1']);
    const predictions = await call(`${endpoint}/v1/predictions`);
    expect(predictions.json!.results.map((item: { id: string }) => item.id)).toEqual(['p1']);

    const one = await call(`${endpoint}/v1/trainings/t1`);
    expect(one.json).toMatchObject({ id: 't1', urls: { get: `${endpoint}/v1/trainings/t1` }, output: { version: 'alice/m:1' } });
    expect((await call(`${endpoint}/v1/predictions/t1`)).status).toBe(404);
    expect((await call(`${endpoint}/v1/trainings/p1`)).status).toBe(404);
  });
});

describe('GET /v1/predictions/{id}', () => {
  test("an unknown prediction is a 404 with Replicate's body", async () => {
    const { endpoint } = await start();
    const answer = await call(`${endpoint}/v1/predictions/nosuchprediction`);
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ detail: 'Not found.' });
  });

  test('putPrediction replaces a prediction whole, as a status change would', async () => {
    const { endpoint, putPrediction } = await start();
    const created = putPrediction({ id: 'moving', status: 'processing' });
    putPrediction({ ...created, status: 'succeeded', output: 'done' });
    expect((await call(`${endpoint}/v1/predictions/moving`)).json).toMatchObject({
      status: 'succeeded',
      output: 'done',
      created_at: created.created_at,
    });
  });
});

describe('GET /v1/webhooks/default/secret', () => {
  test('answers the signing secret, and a new one after setSecret', async () => {
    const { endpoint, setSecret } = await start();
    const first = await call(`${endpoint}/v1/webhooks/default/secret`);
    expect(first.json).toEqual({ key: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{32}$/) });
    setSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect((await call(`${endpoint}/v1/webhooks/default/secret`)).json).toEqual({
      key: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
  });
});

describe('POST predictions', () => {
  test('creates a prediction in starting, listed and readable afterwards', async () => {
    const { endpoint } = await start();
    const version = 'replicate/hello-world:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa';
    const created = await call(`${endpoint}/v1/predictions`, {
      method: 'POST',
      body: JSON.stringify({
        version,
        input: { text: 'Alice' },
        webhook: 'https://example.com/webhook',
        webhook_events_filter: ['completed'],
      }),
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: expect.stringMatching(/^[a-z2-7]{26}$/),
      status: 'starting',
      model: 'replicate/hello-world',
      version: '5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa',
      input: { text: 'Alice' },
      output: null,
      error: null,
      webhook: 'https://example.com/webhook',
      webhook_events_filter: ['completed'],
    });
    const id = created.json!.id as string;
    expect((await call(`${endpoint}/v1/predictions/${id}`)).json).toEqual(created.json);
    expect((await call(`${endpoint}/v1/predictions`)).json!.results.map((prediction: { id: string }) => prediction.id)).toEqual([
      id,
    ]);

    const official = await call(`${endpoint}/v1/models/black-forest-labs/flux-schnell/predictions`, {
      method: 'POST',
      body: JSON.stringify({ input: { prompt: 'a lighthouse' } }),
    });
    expect(official.status).toBe(201);
    expect(official.json).toMatchObject({ model: 'black-forest-labs/flux-schnell', version: 'hidden', status: 'starting' });
  });

  test.each([
    ['a body that is not JSON', '{"version": '],
    ['a JSON array', '[]'],
    ['no input', '{"version": "abc"}'],
    ['no version', '{"input": {}}'],
    ['a webhook that is not a URL', '{"version": "abc", "input": {}, "webhook": "not a url"}'],
    ['an unknown webhook event', '{"version": "abc", "input": {}, "webhook_events_filter": ["finished"]}'],
  ])('%s is a 422 and creates nothing', async (_case, body) => {
    const { endpoint } = await start();
    const answer = await call(`${endpoint}/v1/predictions`, { method: 'POST', body });
    expect(answer.status).toBe(422);
    expect(answer.json).toMatchObject({ status: 422, detail: expect.any(String) });
    expect((await call(`${endpoint}/v1/predictions`)).json!.results).toEqual([]);
  });

  test('creating needs the token like every route: 401 and nothing created', async () => {
    const { endpoint } = await start();
    for (const token of [null, `${TOKEN}x`]) {
      for (const path of ['/v1/predictions', '/v1/models/black-forest-labs/flux-schnell/predictions']) {
        const answer = await call(`${endpoint}${path}`, {
          method: 'POST',
          token,
          body: JSON.stringify({ version: 'abc', input: { prompt: 'x' } }),
        });
        expect(answer.status).toBe(401);
        expect(answer.json?.title).toBe('Unauthenticated');
      }
    }
    expect((await call(`${endpoint}/v1/predictions`)).json!.results).toEqual([]);
  });

  test("the created prediction's urls lead to it, and it moves on like any other", async () => {
    const { endpoint, putPrediction } = await start();
    const created = (
      await call(`${endpoint}/v1/models/black-forest-labs/flux-schnell/predictions`, {
        method: 'POST',
        body: JSON.stringify({ input: { prompt: 'a lighthouse' }, webhook: 'https://example.com/webhook' }),
      })
    ).json!;
    const id = created.id as string;
    expect(created).toMatchObject({
      logs: '',
      data_removed: false,
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/),
      urls: {
        get: `${endpoint}/v1/predictions/${id}`,
        cancel: `${endpoint}/v1/predictions/${id}/cancel`,
        web: expect.stringContaining(id),
      },
    });
    // No events filter asked for, none stored: Replicate sends every event then.
    expect(created).not.toHaveProperty('webhook_events_filter');
    expect((await call(created.urls.get)).json).toEqual(created);
    putPrediction({ ...created, status: 'succeeded', output: ['https://replicate.delivery/x/out-0.webp'] });
    expect((await call(created.urls.get)).json).toMatchObject({ status: 'succeeded', webhook: 'https://example.com/webhook' });
    const answer = await call(`${endpoint}/v1/models/black-forest-labs/flux-schnell/predictions`);
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('POST');
  });

  test('a method a route does not have is a 405', async () => {
    const { endpoint } = await start();
    const answer = await call(`${endpoint}/v1/predictions/abc`, { method: 'DELETE' });
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('GET');
  });
});

describe('faults', () => {
  test('throttle for the next N requests: 429 with Retry-After in seconds, then normal answers', async () => {
    const { endpoint, faults } = await start();
    faults.throttle({ requests: 2, retryAfterSeconds: 3 });
    for (let index = 0; index < 2; index++) {
      const throttled = await call(`${endpoint}/v1/webhooks/default/secret`);
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toBe('3');
      expect(throttled.json).toEqual({ detail: 'Request was throttled. Your rate limit resets in ~3s.' });
    }
    expect((await call(`${endpoint}/v1/webhooks/default/secret`)).status).toBe(200);
  });

  test('throttle for a time window, its Retry-After the rest of the window; an HTTP date on request', async () => {
    const { endpoint, faults } = await start();
    faults.throttle({ forMs: 300 });
    const throttled = await call(`${endpoint}/v1/predictions`);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect((await call(`${endpoint}/v1/predictions`)).status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await call(`${endpoint}/v1/predictions`)).status).toBe(200);

    faults.throttle({ requests: 1, retryAfterSeconds: 120, retryAfterAs: 'http-date' });
    const dated = await call(`${endpoint}/v1/predictions`);
    const waitMs = Date.parse(dated.headers.get('retry-after')!) - Date.now();
    expect(waitMs).toBeGreaterThan(115_000);
    expect(waitMs).toBeLessThanOrEqual(120_000);
  });

  test('fail the next N requests with a 5xx, on one path only if asked', async () => {
    const { endpoint, faults, requests } = await start();
    faults.fail({ status: 503, requests: 2, path: '/v1/predictions' });
    expect((await call(`${endpoint}/v1/webhooks/default/secret`)).status).toBe(200);
    expect((await call(`${endpoint}/v1/predictions`)).status).toBe(503);
    expect((await call(`${endpoint}/v1/predictions?cursor=x`)).status).toBe(503);
    expect((await call(`${endpoint}/v1/predictions`)).status).toBe(200);
    expect(requests.map(({ method, path, query, status }) => ({ method, path, query, status }))).toEqual([
      { method: 'GET', path: '/v1/webhooks/default/secret', query: {}, status: 200 },
      { method: 'GET', path: '/v1/predictions', query: {}, status: 503 },
      { method: 'GET', path: '/v1/predictions', query: { cursor: 'x' }, status: 503 },
      { method: 'GET', path: '/v1/predictions', query: {}, status: 200 },
    ]);
    expect(requests.every((request, index) => index === 0 || request.time >= requests[index - 1].time)).toBe(true);
  });

  test('a canned answer is sent verbatim, before auth, and clear() drops pending faults', async () => {
    const { endpoint, faults } = await start();
    faults.respond({ status: 200, body: '{"results": "nope"}', requests: 1 });
    const canned = await call(`${endpoint}/v1/predictions`, { token: null });
    expect(canned.status).toBe(200);
    expect(canned.text).toBe('{"results": "nope"}');
    faults.fail({ requests: 5 });
    faults.clear();
    expect((await call(`${endpoint}/v1/predictions`)).status).toBe(200);
  });
});

test('stop() closes the server and its connections', async () => {
  const { endpoint, stop } = await start();
  expect((await call(`${endpoint}/v1/predictions`)).status).toBe(200); // leaves a keep-alive connection
  await stop();
  api = undefined;
  await expect(fetch(`${endpoint}/v1/predictions`)).rejects.toThrow();
});
