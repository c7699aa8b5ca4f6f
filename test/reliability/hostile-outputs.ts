/**
 * Hostile outputs: output URLs that are plain http, off the allow-list, look-alikes, IP
 * literals, private or metadata addresses, redirects out of bounds, endless or stalling bodies.
 * Every one must be refused and recorded as a failure, and the rest of the prediction archived.
 */
import { createHash } from 'node:crypto';
import { sendDelivery } from '../../cli/send';
import { generatePredictionId, generateWebhookId, seededRandom } from '../../cli/scenarios';
import { check, startHarness, type Harness } from './harness';

export interface HostileOutputsResult {
  readonly hostileUrls: number;
  readonly refusedAndRecorded: number;
  readonly byReason: Record<string, number>;
  readonly goodFilesArchived: number;
  readonly goodFiles: number;
  readonly violations: string[];
}

interface Case {
  readonly url: string;
  readonly reasons: readonly string[];
}

async function archivePrediction(harness: Harness, random: () => number, output: Record<string, string>): Promise<string> {
  const id = generatePredictionId(random);
  const body = JSON.stringify({ id, status: 'succeeded', model: 'hostile/outputs', output, logs: '', error: null });
  const result = await sendDelivery(harness.info.webhookUrl, harness.info.secret, {
    webhookId: generateWebhookId(random),
    event: 'completed',
    status: 'succeeded',
    body,
  });
  if (result.status !== 200) throw new Error(`terminal webhook answered ${result.status} ${result.body}`);
  return id;
}

export async function runHostileOutputs(seed: number): Promise<HostileOutputsResult> {
  const random = seededRandom(seed);
  const violations: string[] = [];
  const byReason: Record<string, number> = {};
  let hostileUrls = 0;
  let refusedAndRecorded = 0;
  let goodFiles = 0;
  let goodFilesArchived = 0;

  const judge = async (harness: Harness, id: string, cases: Record<string, Case>, good: Record<string, string>) => {
    await harness.waitForNotified([id], 120_000);
    const manifest = await harness.manifest(id);
    for (const [name, expected] of Object.entries(cases)) {
      hostileUrls++;
      const failure = manifest.failures.find((candidate) => candidate.paths.includes(`.${name}`));
      const archived = manifest.files.some((file) => file.paths.includes(`.${name}`));
      if (failure && !archived && expected.reasons.includes(failure.reason)) {
        refusedAndRecorded++;
        byReason[failure.reason] = (byReason[failure.reason] ?? 0) + 1;
      }
      check(!archived, `hostile output ${name} (${expected.url}) was archived`, violations);
      check(
        failure !== undefined && expected.reasons.includes(failure.reason),
        `hostile output ${name} (${expected.url}): recorded as ${failure?.reason ?? 'nothing'}, expected ${expected.reasons.join(' or ')}`,
        violations,
      );
    }
    for (const [name, sha] of Object.entries(good)) {
      goodFiles++;
      const file = manifest.files.find((candidate) => candidate.paths.includes(`.${name}`));
      const exact = file !== undefined && file.sha256 === sha && (await harness.objectSha256(file.key)) === sha;
      if (exact) goodFilesArchived++;
      check(exact, `good output ${name} not archived byte-exact next to the hostile ones`, violations);
    }
    await harness.collectNotifications(500);
    check(
      (harness.notifications.get(id)?.length ?? 0) >= 1,
      `prediction ${id} with hostile outputs was not announced`,
      violations,
    );
  };

  // 1. No private addresses allowed (as in AWS): anything not reachable over https on the
  //    allow-list is refused before or at connection time. Good outputs are data: URIs here.
  const strict = await startHarness({ allowPrivateAddresses: false, allowLocalhostName: true });
  try {
    const localhostPort = new URL(strict.files.origin).port;
    const cases: Record<string, Case> = {
      plainHttp: { url: 'http://replicate.delivery/xezq/a/out.png', reasons: ['insecure_scheme'] },
      plainHttpSubdomain: { url: 'http://tjzk.replicate.delivery/a.png', reasons: ['insecure_scheme'] },
      offList: { url: 'https://example.com/out.png', reasons: ['host_not_allowed'] },
      lookAlikeSuffix: { url: 'https://replicate.delivery.evil.example/out.png', reasons: ['host_not_allowed'] },
      lookAlikePrefix: { url: 'https://evilreplicate.delivery/out.png', reasons: ['host_not_allowed'] },
      userinfoTrick: {
        url: 'https://replicate.delivery@evil.example/out.png',
        reasons: ['credentials_in_url', 'host_not_allowed'],
      },
      credentials: { url: 'https://user:pass@replicate.delivery/out.png', reasons: ['credentials_in_url'] },
      trailingDot: { url: 'https://replicate.delivery./out.png', reasons: ['host_not_allowed'] },
      wrongPort: { url: 'https://replicate.delivery:8443/out.png', reasons: ['port_not_allowed'] },
      // The file server's entry names 127.0.0.1 with another port and plain http.
      loopbackLiteral: { url: 'https://127.0.0.1/out.png', reasons: ['host_not_allowed', 'port_not_allowed'] },
      decimalLiteral: { url: 'https://2130706433/out.png', reasons: ['host_not_allowed', 'port_not_allowed'] },
      hexLiteral: { url: 'https://0x7f000001/out.png', reasons: ['host_not_allowed', 'port_not_allowed'] },
      ipv6Loopback: { url: 'https://[::1]/out.png', reasons: ['host_not_allowed'] },
      mappedIpv6: { url: 'https://[::ffff:169.254.169.254]/latest/meta-data/', reasons: ['host_not_allowed'] },
      metadata: {
        url: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
        reasons: ['host_not_allowed', 'insecure_scheme'],
      },
      fileScheme: { url: 'file:///etc/passwd', reasons: ['insecure_scheme'] },
      ftpScheme: { url: 'ftp://replicate.delivery/out.png', reasons: ['insecure_scheme'] },
      // On the allow-list (local mode adds the file server), but it resolves to loopback.
      allowedNameToLoopback: { url: `http://localhost:${localhostPort}/x.png`, reasons: ['blocked_address'] },
      allowedLiteralLoopback: { url: `${strict.files.origin}/x.png`, reasons: ['blocked_address'] },
    };
    const goodBytes = Buffer.from('a perfectly good output\n');
    const good = { goodData: createHash('sha256').update(goodBytes).digest('hex') };
    const output = {
      ...Object.fromEntries(Object.entries(cases).map(([name, c]) => [name, c.url])),
      goodData: `data:text/plain;base64,${goodBytes.toString('base64')}`,
    };
    const id = await archivePrediction(strict, random, output);
    await judge(strict, id, cases, good);
  } finally {
    await strict.stop();
  }

  // 2. A loopback file server explicitly allowed (local mode): reachable, but it misbehaves.
  const lenient = await startHarness({
    handlerEnvironment: {
      MAX_FILE_BYTES: String(1024 * 1024),
      FETCH_IDLE_TIMEOUT_MS: '300',
      FETCH_TOTAL_TIMEOUT_MS: '2000',
      FETCH_ATTEMPTS: '1',
    },
    // The second try is the last: transient failures (the stalling and endless bodies) are then recorded.
    archiveQueue: { maxReceiveCount: 2 },
  });
  try {
    const files = lenient.files;
    const id = generatePredictionId(random);
    const otherPort = Number(new URL(files.origin).port) === 65535 ? 1 : Number(new URL(files.origin).port) + 1;
    const cases: Record<string, Case> = {
      redirectOtherPort: {
        url: files.serve(`/${id}/r1`, { redirectTo: `http://127.0.0.1:${otherPort}/x.png` }),
        reasons: ['port_not_allowed'],
      },
      redirectOffList: {
        url: files.serve(`/${id}/r2`, { redirectTo: 'https://evil.example/x.png' }),
        reasons: ['host_not_allowed'],
      },
      redirectMetadata: {
        url: files.serve(`/${id}/r3`, { redirectTo: 'http://169.254.169.254/latest/meta-data/' }),
        reasons: ['host_not_allowed'],
      },
      redirectDowngrade: {
        url: files.serve(`/${id}/r4`, { redirectTo: 'http://replicate.delivery/x.png' }),
        reasons: ['insecure_scheme'],
      },
      redirectLoop: { url: files.serve(`/${id}/loop`, { redirectTo: `/${id}/loop` }), reasons: ['too_many_redirects'] },
      endlessBody: { url: files.serve(`/${id}/endless`, { endless: true }), reasons: ['too_large', 'timeout'] },
      stallingBody: { url: files.serve(`/${id}/trickle`, { trickle: true }), reasons: ['timeout'] },
      oversized: { url: files.serveRandom(`/${id}/big.bin`, 2 * 1024 * 1024).url, reasons: ['too_large'] },
    };
    const good = files.serveRandom(`/${id}/good.png`, 50_000, 'image/png');
    const output = { ...Object.fromEntries(Object.entries(cases).map(([name, c]) => [name, c.url])), good: good.url };
    const body = JSON.stringify({ id, status: 'succeeded', model: 'hostile/outputs', output, logs: '', error: null });
    const result = await sendDelivery(lenient.info.webhookUrl, lenient.info.secret, {
      webhookId: generateWebhookId(random),
      event: 'completed',
      status: 'succeeded',
      body,
    });
    if (result.status !== 200) throw new Error(`terminal webhook answered ${result.status}`);
    await judge(lenient, id, cases, { good: good.sha256 });
  } finally {
    await lenient.stop();
  }

  check(
    refusedAndRecorded === hostileUrls,
    `${hostileUrls - refusedAndRecorded} hostile outputs not refused and recorded`,
    violations,
  );
  return { hostileUrls, refusedAndRecorded, byReason, goodFilesArchived, goodFiles, violations };
}
