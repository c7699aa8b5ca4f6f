/** Signs one delivery the way Replicate does (Standard Webhooks) and POSTs it. */
import { signWebhook } from '../lambda/shared/signature';
import type { Delivery } from './scenarios';

export interface SendResult {
  readonly delivery: Delivery;
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

export interface SendOptions {
  /** The signed `webhook-timestamp` (unix seconds); default now. An old value makes a stale request. */
  readonly timestamp?: number;
  readonly signal?: AbortSignal;
}

/** Any HTTP answer is a result, 5xx included; only a failed transport throws. */
export async function sendDelivery(
  url: string,
  secret: string,
  delivery: Delivery,
  options: SendOptions = {},
): Promise<SendResult> {
  const body = Buffer.from(delivery.body, 'utf8');
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'replicate-webhooks-send',
    'webhook-id': delivery.webhookId,
    'webhook-timestamp': timestamp,
    'webhook-signature': signWebhook(secret, delivery.webhookId, timestamp, body),
  };
  const started = performance.now();
  try {
    const response = await fetch(url, { method: 'POST', headers, body, signal: options.signal });
    const text = await response.text();
    return { delivery, status: response.status, body: text, ms: Math.round(performance.now() - started) };
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new Error(`POST ${url} failed: ${describeNetworkError(error, url)}`, { cause: error });
  }
}

/** fetch() only says "fetch failed"; the reason (refused, DNS, reset) is in its cause. */
function describeNetworkError(error: unknown, url: string): string {
  const cause = (error as { cause?: unknown })?.cause ?? error;
  const { code, message } = (cause ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' && message !== '' ? message : String(cause);
  // The Fetch standard blocks a list of ports (1, 22, 25, 6000, …) that belong to other
  // protocols; Node's fetch refuses them before connecting, and says only "bad port".
  if (text === 'bad port')
    return `port ${portOf(url)} is one fetch never connects to (the Fetch standard's blocked "bad ports", kept for other protocols such as 22 ssh or 25 smtp): use another port`;
  if (typeof code !== 'string') return text;
  return text.includes(code) ? text : `${code} ${text}`;
}

function portOf(url: string): string {
  const parsed = new URL(url);
  return parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
}
