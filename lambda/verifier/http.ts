/** The HTTP edge of the verifier: the raw body of an API Gateway payload-2.0 event, and answers. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * The body as sent: bytes when API Gateway base64-encoded it (binary content types), else the
 * text it decoded, kept as a string so that neither signing nor parsing copies it.
 */
export type BodyResult =
  { readonly ok: true; readonly body: string | Buffer; readonly size: number } | { readonly ok: false; readonly size: number };

export function readRawBody(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>, maxBytes: number): BodyResult {
  const text = event.body ?? '';
  // Refuse before decoding: base64 shrinks by 3/4, UTF-8 text never shrinks below its length.
  const lowerBound = event.isBase64Encoded ? Math.floor((text.length * 3) / 4) - 2 : text.length;
  if (lowerBound > maxBytes) return { ok: false, size: lowerBound };
  const body = event.isBase64Encoded ? Buffer.from(text, 'base64') : text;
  const size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  if (size > maxBytes) return { ok: false, size };
  return { ok: true, body, size };
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
