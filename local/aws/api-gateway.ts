/**
 * Builds API Gateway HTTP API payload-2.0 events the way AWS does, so the verifier runs
 * unchanged behind a plain Node HTTP server (local mode) and in tests; and throttles as a stage does.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { WEBHOOK_THROTTLE_DEFAULTS } from '../../lambda/verifier/settings';

/** A stage's throttle: `burstLimit` requests at once, refilled at `rateLimit` a second. */
export interface ThrottleLimits {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/** Local mode's throttle option: the construct's defaults, some of them replaced, or `false` for none. */
export function throttleLimits(option: Partial<ThrottleLimits> | false | undefined): ThrottleLimits | undefined {
  if (option === false) return undefined;
  return {
    rateLimit: option?.rateLimit ?? WEBHOOK_THROTTLE_DEFAULTS.rateLimit,
    burstLimit: option?.burstLimit ?? WEBHOOK_THROTTLE_DEFAULTS.burstLimit,
  };
}

/**
 * API Gateway's throttling algorithm, a token bucket: it holds up to `burstLimit` tokens and starts
 * full, gains `rateLimit` a second, and each request takes one; a request that finds none is
 * answered 429 without reaching the integration.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly limits: ThrottleLimits,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = limits.burstLimit;
    this.refilledAt = now();
  }

  /** Takes a token for one request; false when there is none. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.limits.burstLimit, this.tokens + ((now - this.refilledAt) / 1000) * this.limits.rateLimit);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** What an HTTP API answers a throttled request. */
export const TOO_MANY_REQUESTS = { statusCode: 429, body: { message: 'Too Many Requests' } } as const;

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
