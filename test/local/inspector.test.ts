/**
 * The local inspector: its signature diagnosis and its bounded memory as units, then the page in
 * a real browser (Debian's headless Chromium, driven by playwright-core) against local mode run as
 * `npm start` runs it: webhooks from the sender appear live, one opens in full, and replays show
 * the verifier's idempotency.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { signWebhook } from '../../lambda/shared/signature';
import { diagnoseSignature } from '../../local/inspector/diagnose';
import { DeliveryRecorder, type Delivery } from '../../local/inspector/recorder';
import { buildScenario, seededRandom } from '../../cli/scenarios';
import { startOutputServer, type OutputServer } from '../../cli/output-server';
import { sendDelivery } from '../../cli/send';
import { freePort } from '../../local/aws/standins/dynamodb-local';
import { startLocalMode, type LocalModeProcess } from '../support/local-mode';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const NOW = 1_796_000_000;

describe('signature diagnosis', () => {
  const body = Buffer.from('{"id":"p1","status":"succeeded"}');
  const signed = (timestamp: number, secret = SECRET) => ({
    'webhook-id': 'msg_1',
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, 'msg_1', String(timestamp), body),
  });

  test('a good signature says so, with the skew', () => {
    expect(diagnoseSignature(signed(NOW - 2), body, SECRET, NOW, 300)).toMatchObject({
      valid: true,
      skewSeconds: 2,
      offeredSignatures: 1,
      explanation: expect.stringContaining('2 s before it arrived'),
    });
  });

  test('names the missing headers', () => {
    const { 'webhook-signature': _, ...headers } = signed(NOW);
    expect(diagnoseSignature({ ...headers, 'webhook-id': undefined }, body, SECRET, NOW, 300)).toMatchObject({
      valid: false,
      reason: 'missing_headers',
      missingHeaders: ['webhook-id', 'webhook-signature'],
      explanation: 'Missing header(s): webhook-id, webhook-signature.',
    });
  });

  test('says how far the timestamp was off, either way', () => {
    expect(diagnoseSignature(signed(NOW - 3600), body, SECRET, NOW, 300)).toMatchObject({
      reason: 'timestamp_out_of_tolerance',
      skewSeconds: 3600,
      explanation: expect.stringMatching(/3600 s before it arrived, outside the tolerance of ±300 s/),
    });
    expect(diagnoseSignature(signed(NOW + 900), body, SECRET, NOW, 300)).toMatchObject({
      skewSeconds: -900,
      explanation: expect.stringContaining('900 s in the future'),
    });
  });

  test('another secret, or a changed body: no key matched', () => {
    const other = 'whsec_' + Buffer.alloc(24, 7).toString('base64');
    expect(diagnoseSignature(signed(NOW, other), body, SECRET, NOW, 300)).toMatchObject({
      valid: false,
      reason: 'bad_signature',
      explanation: expect.stringContaining('No key matched'),
    });
    expect(diagnoseSignature(signed(NOW), Buffer.from('{"id":"p2"}'), SECRET, NOW, 300).reason).toBe('bad_signature');
  });
});

describe('the delivery memory', () => {
  const delivery = (bytes: number): Omit<Delivery, 'seq'> => ({
    receivedAt: new Date(0).toISOString(),
    headers: [['webhook-id', 'msg_1']],
    body: Buffer.alloc(bytes, 'x'),
    status: 200,
    answer: { outcome: 'accepted' },
    latencyMs: 1,
    signature: { valid: true, explanation: '', toleranceSeconds: 300, offeredSignatures: 1 },
  });

  test('keeps the newest deliveries within the count and the byte bound', () => {
    const recorder = new DeliveryRecorder({ maxDeliveries: 3, maxBodyBytes: 1000 });
    for (let i = 0; i < 5; i++) recorder.add(delivery(100));
    expect(recorder.list().map((summary) => summary.seq)).toEqual([3, 4, 5]);
    recorder.add(delivery(900));
    expect(recorder.list().map((summary) => summary.seq)).toEqual([5, 6]);
    // One body over the bound is still kept, alone: the newest is always inspectable.
    recorder.add(delivery(5000));
    expect(recorder.list().map((summary) => summary.seq)).toEqual([7]);
    expect(recorder.get(6)).toBeUndefined();
  });

  test('the verdict is the outcome, else the reason, else the status', () => {
    const recorder = new DeliveryRecorder();
    recorder.add(delivery(1));
    recorder.add({ ...delivery(1), status: 401, answer: { error: 'bad_signature' } });
    recorder.add({ ...delivery(1), status: 502, answer: undefined });
    expect(recorder.list().map((summary) => summary.verdict)).toEqual(['accepted', 'bad_signature', 'http_502']);
  });

  test('each delivery says whether it is a prediction or a training; a body that is neither says nothing', () => {
    const recorder = new DeliveryRecorder();
    const body = (fields: Record<string, unknown>) => ({ ...delivery(1), body: Buffer.from(JSON.stringify(fields)) });
    recorder.add(body({ id: 'p1', status: 'succeeded', urls: { get: 'https://api.replicate.com/v1/predictions/p1' } }));
    recorder.add(body({ id: 't1', status: 'processing', urls: { get: 'https://api.replicate.com/v1/trainings/t1' } }));
    recorder.add(delivery(1));
    expect(recorder.list().map((summary) => summary.kind)).toEqual(['prediction', 'training', undefined]);
  });
});

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('in a browser', () => {
  let local: LocalModeProcess;
  let browser: Browser;
  let page: Page;
  let files: OutputServer;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`);
    }
    const filesPort = await freePort();
    files = await startOutputServer({ port: filesPort });
    local = await startLocalMode({
      PORT: '0',
      ALLOWED_OUTPUT_HOSTS: `127.0.0.1:${filesPort}`,
      REPLICATE_WEBHOOK_SECRET: SECRET,
      RECONCILE_INTERVAL_SECONDS: '0',
      INSPECTOR: '',
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await files?.stop();
    if (local?.child.exitCode === null) local.child.kill('SIGKILL');
  });

  const row = (predicate: string) => page.locator(`#deliveries tr${predicate}`);

  test('deliveries appear live; one opens in full; replays show idempotency', async () => {
    const { ready } = local;
    expect(ready.inspectorUrl).toMatch(/^http:\/\/localhost:\d+\/$/);
    await page.goto(ready.inspectorUrl!);
    await page.locator('#connection', { hasText: 'live' }).waitFor();

    // Sent after the page is open: the rows arrive over the live stream, not on load.
    const scenario = buildScenario('image', { fileBaseUrl: files.origin, random: seededRandom(7) });
    files.add(scenario.files);
    for (const delivery of scenario.deliveries) expect((await sendDelivery(ready.webhookUrl, SECRET, delivery)).status).toBe(200);
    const terminal = scenario.deliveries.at(-1)!;
    const forged = await sendDelivery(ready.webhookUrl, 'whsec_' + Buffer.alloc(24, 1).toString('base64'), terminal);
    const stale = await sendDelivery(
      ready.webhookUrl,
      SECRET,
      { ...terminal, webhookId: 'msg_stale' },
      {
        timestamp: Math.floor(Date.now() / 1000) - 3600,
      },
    );
    expect([forged.status, stale.status]).toEqual([401, 401]);
    const sent = scenario.deliveries.length + 2;
    await page
      .locator('#deliveries tr')
      .nth(sent - 1)
      .waitFor();
    expect(await row('[data-verdict="accepted"]').count()).toBe(scenario.deliveries.length);
    // At 1,400 px the longest verdict shows whole, and the latency column without scrolling sideways.
    const overflow = (selector: string) =>
      page.locator(selector).evaluate((element) => element.scrollWidth - element.clientWidth);
    expect({
      list: await overflow('#list'),
      verdict: await overflow('#deliveries tr[data-verdict="timestamp_out_of_tolerance"] td.verdict'),
    }).toEqual({ list: 0, verdict: 0 });

    // Why the forged one failed, and by how much the stale one was off.
    await row('[data-verdict="bad_signature"]').click();
    await page.locator('#signature', { hasText: 'No key matched' }).waitFor();
    await row('[data-verdict="timestamp_out_of_tolerance"]').click();
    await page.locator('#signature', { hasText: /Timestamp skew: the request was signed 36\d\d s before it arrived/ }).waitFor();

    // The terminal delivery: headers, body, record, archived files, completion message.
    const terminalRow = row(`[data-verdict="accepted"]:has(td:text-is("${terminal.webhookId}"))`);
    let opened = false;
    for (const deadline = Date.now() + 30_000; !opened && Date.now() < deadline;) {
      await terminalRow.click();
      await page.locator('#verdict').waitFor();
      // Archival runs after the webhook is answered: open it again until the files are listed.
      opened =
        (await page.locator('#files li').count()) > 0 &&
        (await page.locator('#completion').textContent())!.includes('archivedAt');
      if (!opened) await page.waitForTimeout(500);
    }
    expect(opened).toBe(true);
    expect(await page.locator('#verdict').textContent()).toBe('200 accepted');
    expect(await page.locator('#headers').textContent()).toContain(terminal.webhookId);
    expect(JSON.parse((await page.locator('#body').textContent())!)).toEqual(JSON.parse(terminal.body));
    expect(await page.locator('#record').textContent()).toContain('"status": "succeeded"');
    const links = page.locator('#files a');
    expect(await links.count()).toBe(scenario.files.length + 1); // manifest.json too
    expect(await links.first().textContent()).toBe('manifest.json');
    const download = await page.request.get(new URL((await links.nth(1).getAttribute('href'))!, ready.inspectorUrl).toString());
    expect(Buffer.from(await download.body()).equals(scenario.files[0].bytes)).toBe(true);

    if (process.env.UPDATE_SCREENSHOTS === '1') {
      mkdirSync(join(__dirname, '..', '..', 'docs'), { recursive: true });
      await page.screenshot({ path: join(__dirname, '..', '..', 'docs', 'inspector.png') });
    }

    // Replays of a terminal webhook are answered without a second state change.
    await page.locator('#replay-as-sent').click();
    const asSent = await page.locator('[data-replay-verdict]').textContent();
    expect(await page.locator('#deliveries tr').count()).toBe(sent + 1);
    await page.locator('#replay-re-signed').click();
    await page
      .locator('#deliveries tr')
      .nth(sent + 1)
      .waitFor();
    const reSigned = await page.locator('[data-replay-verdict]').textContent();
    for (const verdict of [asSent, reSigned]) expect(verdict).toMatch(/^200 (duplicate|after_terminal)$/);
    expect(await row(':has(td:text-matches("↺"))').count()).toBe(2);
  }, 120_000);

  test('a page from another host name is refused (no DNS rebinding), and replays need the inspector header', async () => {
    const port = new URL(local.ready.inspectorUrl!).port;
    // fetch() sets Host itself; a plain request says what a rebound name would.
    const rebound = await new Promise<number>((resolve, reject) =>
      request({ host: '127.0.0.1', port, path: '/', headers: { host: `attacker.example:${port}` } }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      })
        .on('error', reject)
        .end(),
    );
    expect(rebound).toBe(403);
    const crossSite = await fetch(`http://127.0.0.1:${port}/_inspector/api/deliveries/1/replay`, { method: 'POST' });
    expect(crossSite.status).toBe(403);
  });
});
