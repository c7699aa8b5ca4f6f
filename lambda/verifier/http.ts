/** The HTTP edge of the verifier: the raw body of an API Gateway payload-2.0 event, and answers. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type BodyResult = { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly size: number };

/** The body bytes exactly as sent; API Gateway base64-encodes bodies it considers binary. */
export function readRawBody(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>, maxBytes: number): BodyResult {
  const text = event.body ?? '';
  // Refuse before decoding: base64 shrinks by 3/4, UTF-8 text never shrinks below its length.
  const lowerBound = event.isBase64Encoded ? Math.floor((text.length * 3) / 4) - 2 : text.length;
  if (lowerBound > maxBytes) return { ok: false, size: lowerBound };
  const body = event.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  if (body.length > maxBytes) return { ok: false, size: body.length };
  return { ok: true, body };
}

/** API Gateway lowercases header names and joins repeated headers with commas. */
export function header(event: Pick<APIGatewayProxyEventV2, 'headers'>, name: string): string | undefined {
  return event.headers?.[name] ?? undefined;
}

export function answer(statusCode: number, body: Record<string, unknown>): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}
