/**
 * Signature verification cost: ours vs the `standardwebhooks` reference, `svix`, Replicate's
 * `validateWebhook` and a bare HMAC-SHA256 of the same bytes, at ~2 KB and ~200 KB bodies.
 */
import { createHmac, webcrypto } from 'node:crypto';
import { validateWebhook } from 'replicate';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { decodeSigningKey, signWebhook, verifyWebhook } from '../lambda/shared/signature';
import { compareOperations, formatNs, ratio, table, type Operation } from './stats';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function predictionBody(targetBytes: number): string {
  const base = {
    id: 'ufawqhfynnddngldkgtslldrkq',
    model: 'black-forest-labs/flux-schnell',
    version: '5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637',
    status: 'succeeded',
    output: ['https://replicate.delivery/xezq/abc123/out-0.webp'],
    logs: '',
    metrics: { predict_time: 2.296 },
  };
  const filler = targetBytes - JSON.stringify(base).length;
  // Replicate's logs are mostly ASCII progress lines (see test/fixtures/replicate).
  const line = ' 50%|#####     | 25/50 [00:02<00:02, 10.51it/s] loss=0.0231\n';
  base.logs = line.repeat(Math.ceil(filler / Buffer.byteLength(line))).slice(0, filler);
  return JSON.stringify(base);
}

export interface VerifyCostResult {
  readonly bodyBytes: number;
  readonly nsPerVerify: Record<string, number>;
}

export async function benchVerifyCost(): Promise<VerifyCostResult[]> {
  const { Webhook: SvixWebhook } = await import('svix');
  const key = decodeSigningKey(SECRET);
  const keys = [key];
  const standard = new StandardWebhook(SECRET);
  const svix = new SvixWebhook(SECRET);
  const results: VerifyCostResult[] = [];

  for (const size of [2 * 1024, 200 * 1024]) {
    const body = predictionBody(size);
    const bodyBytes = Buffer.from(body, 'utf8');
    const webhookId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = signWebhook(SECRET, webhookId, timestamp, bodyBytes);
    const headers = { 'webhook-id': webhookId, 'webhook-timestamp': timestamp, 'webhook-signature': signature };
    const now = Number(timestamp);
    const must = (ok: boolean) => {
      if (!ok) throw new Error('benchmark input did not verify');
    };
    const operations: Record<string, Operation> = {
      // What the verifier does with API Gateway's body string: measure it, then verify it as UTF-8.
      ours: () =>
        must(Buffer.byteLength(body) > 0 && verifyWebhook({ webhookId, timestamp, signature, body }, keys, now, 300).ok),
      'ours (from bytes)': () => must(verifyWebhook({ webhookId, timestamp, signature, body: bodyBytes }, keys, now, 300).ok),
      'bare HMAC': () => createHmac('sha256', key).update(`${webhookId}.${timestamp}.`).update(bodyBytes).digest(),
      standardwebhooks: () => standard.verify(body, headers, { jsonParse: false }),
      svix: () => svix.verify(body, headers),
      'replicate validateWebhook': async () =>
        must(await validateWebhook({ id: webhookId, timestamp, signature, body, secret: SECRET }, webcrypto as never)),
    };
    results.push({ bodyBytes: bodyBytes.length, nsPerVerify: await compareOperations(operations) });
  }
  return results;
}

export function reportVerifyCost(results: VerifyCostResult[]): string {
  const lines: string[] = [];
  for (const { bodyBytes, nsPerVerify } of results) {
    const ours = nsPerVerify.ours;
    lines.push(`Signature verification, ${(bodyBytes / 1024).toFixed(0)} KiB body (median per call):`);
    lines.push(
      table([
        ['implementation', 'per call', 'vs ours', 'vs bare HMAC'],
        ...Object.entries(nsPerVerify).map(([name, ns]) => [
          name,
          formatNs(ns),
          ratio(ns, ours),
          ratio(ns, nsPerVerify['bare HMAC']),
        ]),
      ]),
    );
    lines.push('');
  }
  const small = results[0].nsPerVerify;
  lines.push(
    `targets at 2 KiB: standardwebhooks/ours ${ratio(small.standardwebhooks, small.ours)} (≥4×), ` +
      `replicate/ours ${ratio(small['replicate validateWebhook'], small.ours)} (≥10×), ` +
      `ours/bare HMAC ${ratio(small.ours, small['bare HMAC'])} (≤1.5×)`,
  );
  return lines.join('\n');
}
