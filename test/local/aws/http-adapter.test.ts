/**
 * The local API Gateway in front of the verifier: its throttle answers 429 as an HTTP API does,
 * before the integration is invoked, and lets a steady rate under it through.
 */
import { startHttpAdapter, type HttpAdapter } from '../../../local/aws/http-adapter';

let invocations = 0;
const adapters: HttpAdapter[] = [];

async function adapter(throttle?: { rateLimit: number; burstLimit: number }): Promise<HttpAdapter> {
  const started = await startHttpAdapter({
    handler: async () => {
      invocations++;
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"outcome":"accepted"}' };
    },
    path: '/webhook',
    port: 0,
    throttle,
  });
  adapters.push(started);
  return started;
}

const post = async (url: string) => {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
};

beforeEach(() => {
  invocations = 0;
});
afterAll(async () => {
  await Promise.all(adapters.map((started) => started.stop()));
});

test('a burst beyond the bucket: the excess gets 429 {"message":"Too Many Requests"} and never reaches the verifier', async () => {
  const { url } = await adapter({ rateLimit: 1, burstLimit: 5 });
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: 20 }, () => post(url)));
  // At most one token a second comes back while the burst is sent.
  const refilled = Math.floor((performance.now() - started) / 1000);
  const throttled = answers.filter((answer) => answer.status === 429);
  const passed = answers.filter((answer) => answer.status === 200);
  expect(passed.length).toBeGreaterThanOrEqual(5);
  expect(passed.length).toBeLessThanOrEqual(5 + refilled);
  expect(throttled).toHaveLength(20 - passed.length);
  for (const answer of throttled) {
    expect(answer).toEqual({ status: 429, contentType: 'application/json', body: '{"message":"Too Many Requests"}' });
  }
  expect(invocations).toBe(passed.length);
});

test('a steady rate under the limit: no 429', async () => {
  const { url } = await adapter({ rateLimit: 20, burstLimit: 3 });
  const statuses: number[] = [];
  // 10 a second for 2 seconds, one after another: half the rate, so a late timer costs nothing.
  for (let request = 0; request < 20; request++) {
    statuses.push((await post(url)).status);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(statuses.filter((status) => status !== 200)).toEqual([]);
  expect(invocations).toBe(20);
});

test('without a throttle, a burst passes whole', async () => {
  const { url } = await adapter();
  const answers = await Promise.all(Array.from({ length: 50 }, () => post(url)));
  expect(answers.every((answer) => answer.status === 200)).toBe(true);
  expect(invocations).toBe(50);
});

test('headers beyond what the server reads: 431 with the reason, as the other refusals give one, and no invocation', async () => {
  const { url } = await adapter();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-padding': 'x'.repeat(20 * 1024) },
    body: '{}',
  });
  expect(response.status).toBe(431);
  expect(response.headers.get('content-type')).toBe('application/json');
  expect(await response.json()).toEqual({
    message: 'Request Header Fields Too Large',
    error: 'headers_too_large',
    reason: expect.stringMatching(/exceed the \d+ bytes this local server reads \(a deployed HTTP API takes at most 10240 bytes/),
  });
  expect(invocations).toBe(0);
});
