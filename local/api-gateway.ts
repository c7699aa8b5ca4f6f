/**
 * Builds API Gateway HTTP API payload-2.0 events the way AWS does, so the verifier runs
 * unchanged behind a plain Node HTTP server (local mode) and in tests.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { randomUUID } from 'node:crypto';

export interface RawHttpRequest {
  readonly method: string;
  readonly path: string;
  readonly rawQueryString?: string;
  /** Header name/value pairs as received, repeated names included. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  readonly sourceIp?: string;
  readonly routeKey?: string;
}

// HTTP APIs pass these as text and base64-encode everything else, a missing type included.
const TEXT_MEDIA_TYPE = /^(text\/[^;]+|application\/(json|xml|javascript|[^;]+\+json|[^;]+\+xml))\s*(;|$)/i;

export function isTextContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && TEXT_MEDIA_TYPE.test(contentType.trim());
}

export function toHttpApiEvent(request: RawHttpRequest): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [rawName, value] of request.headers) {
    // Names are lowercased; repeated headers are joined with commas; cookies get their own field.
    const name = rawName.toLowerCase();
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((cookie) => cookie.trim())
          .filter(Boolean),
      );
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const now = Date.now();
  const text = isTextContentType(headers['content-type']);
  const routeKey = request.routeKey ?? `${request.method} ${request.path}`;
  const queryStringParameters = parseQuery(request.rawQueryString ?? '');
  return {
    version: '2.0',
    routeKey,
    rawPath: request.path,
    rawQueryString: request.rawQueryString ?? '',
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: (headers.host ?? 'localhost').split('.')[0],
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(request.body.length > 0 ? { body: text ? request.body.toString('utf8') : request.body.toString('base64') } : {}),
    isBase64Encoded: request.body.length > 0 && !text,
  };
}

function parseQuery(raw: string): Record<string, string> | undefined {
  if (raw === '') return undefined;
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(raw)) {
    parameters[name] = name in parameters ? `${parameters[name]},${value}` : value;
  }
  return parameters;
}
