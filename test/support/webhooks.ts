/** Builds signed API Gateway payload-2.0 events, as API Gateway would hand them to the verifier. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { signWebhook } from '../../lambda/shared/signature';
import { toHttpApiEvent } from '../../local/aws/api-gateway';

export const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'replicate', `${name}.json`), 'utf8')) as Record<
    string,
    unknown
  >;
}

let counter = 0;
export const newWebhookId = (): string =>
  `msg_${Date.now().toString(36)}${(counter++).toString(36)}${randomBytes(4).toString('hex')}`;

export interface SignedEventOptions {
  readonly secret: string;
  readonly webhookId?: string;
  readonly timestamp?: number;
  /** Send with a binary content type, so API Gateway base64-encodes the body. */
  readonly base64?: boolean;
  readonly headers?: Record<string, string | undefined>;
}

export function signedEvent(
  body: string | Buffer | Record<string, unknown>,
  options: SignedEventOptions,
): APIGatewayProxyEventV2 {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
  const webhookId = options.webhookId ?? newWebhookId();
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': timestamp,
    'webhook-signature': signWebhook(options.secret, webhookId, timestamp, bytes),
    ...options.headers,
  };
  return apiGatewayEvent(bytes, options.base64 ? { ...headers, 'content-type': 'application/octet-stream' } : headers);
}

export function apiGatewayEvent(body: Buffer, headers: Record<string, string | undefined>): APIGatewayProxyEventV2 {
  const pairs = Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return toHttpApiEvent({ method: 'POST', path: '/webhook', headers: pairs, body });
}

/** A prediction payload from a fixture, with a fresh id and the given status. */
export function prediction(id: string, status: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = fixture(
    status === 'succeeded'
      ? 'succeeded-images'
      : ['starting', 'processing', 'failed', 'canceled', 'aborted'].includes(status)
        ? status
        : 'processing',
  );
  return { ...base, id, status, ...overrides };
}
