/**
 * Downloads a prediction's output files without letting a webhook payload steer us elsewhere.
 *
 * The URLs arrive in webhook bodies, so they are attacker-influenced (SSRF). What may be fetched
 * is the pure policy in lambda/shared (allowed-hosts.ts: hosts, ports, schemes; address-policy.ts:
 * address classes). This is the transport that enforces it: the address check runs on the address
 * actually connected to, so DNS rebinding cannot slip past, every redirect hop is re-checked, and
 * size and time are bounded. Bodies are streamed, never buffered.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { ipLiteral, isBlockedAddress } from '../shared/address-policy';
import { checkUrl, type AllowedHost, type UrlRefusal } from '../shared/allowed-hosts';

export interface FetchPolicy {
  readonly allowedHosts: readonly AllowedHost[];
  /** Allow connecting to loopback/private/link-local addresses (local mode only). */
  readonly allowPrivateAddresses: boolean;
  /** Per file. */
  readonly maxBytes: number;
  /** Connect until response headers, for each hop. */
  readonly headersTimeoutMs: number;
  /** Longest wait for the server's next body chunk while the consumer wants one. */
  readonly idleTimeoutMs: number;
  /** Whole transfer, redirects and body included. */
  readonly totalTimeoutMs: number;
  readonly maxRedirects: number;
}

export type FetchFailureReason =
  | UrlRefusal
  | 'blocked_address'
  | 'too_many_redirects'
  | 'redirect_without_location'
  | 'too_large'
  | 'http_error'
  | 'timeout'
  | 'network_error';

export interface OutputFetchErrorDetails {
  readonly transient?: boolean;
  readonly status?: number;
  readonly detail?: string;
  readonly cause?: unknown;
}

/** Every failure is one of these; `transient` says whether retrying later may succeed. */
export class OutputFetchError extends Error {
  override readonly name = 'OutputFetchError' as const;
  readonly transient: boolean;
  declare readonly status?: number;

  constructor(
    readonly reason: FetchFailureReason,
    /** The URL being fetched when it failed (the redirect target, if any). */
    readonly url: string,
    details: OutputFetchErrorDetails = {},
  ) {
    const message = `Fetching ${url} failed: ${reason}${details.detail ? ` (${details.detail})` : ''}`;
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.transient = details.transient ?? reason === 'timeout';
    if (details.status !== undefined) this.status = details.status;
  }
}

export interface OutputResponse {
  /** Final URL after redirects. */
  readonly url: string;
  readonly status: number;
  readonly contentType?: string;
  readonly contentLength?: number;
  /**
   * Errors with an OutputFetchError ('too_large', 'timeout', 'network_error'), or with the
   * caller's abort reason; never holds more than a chunk. Read it to the end or destroy it: until
   * then the total deadline keeps running and will destroy it with an error.
   */
  readonly body: Readable;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const REQUEST_HEADERS = { accept: '*/*', 'user-agent': 'replicate-webhooks-archiver', 'accept-encoding': 'identity' };
// Only a name that does not exist is final; anything else on the wire may heal by the next try.
const PERMANENT_NETWORK_CODES = new Set(['ENOTFOUND']);

/** Opens the URL following the policy; resolves once a 2xx response's headers arrived. */
export async function openOutput(url: string, policy: FetchPolicy, signal?: AbortSignal): Promise<OutputResponse> {
  signal?.throwIfAborted();
  const deadline = new Deadline(policy.totalTimeoutMs, signal);
  let current = url;
  try {
    for (let redirects = 0; ; redirects++) {
      const checked = checkUrl(current, policy);
      if (!checked.ok) throw new OutputFetchError(checked.reason, current);
      current = checked.url.href;
      const response = await requestHeaders(checked.url, policy, deadline);
      const status = response.statusCode ?? 0;
      if (REDIRECT_STATUSES.has(status)) {
        response.destroy(); // its body is of no interest, and without an agent the socket is ours to close
        if (redirects >= policy.maxRedirects) throw new OutputFetchError('too_many_redirects', current);
        const location = response.headers.location;
        if (!location) throw new OutputFetchError('redirect_without_location', current, { status });
        try {
          current = new URL(location, checked.url).href;
        } catch {
          throw new OutputFetchError('invalid_url', location, { detail: `redirect from ${current}` });
        }
        continue;
      }
      if (status < 200 || status > 299) {
        response.destroy();
        const transient = status >= 500 || status === 408 || status === 429;
        throw new OutputFetchError('http_error', current, { status, transient, detail: `HTTP ${status}` });
      }
      const contentLength = parseContentLength(response.headers['content-length']);
      if (contentLength !== undefined && contentLength > policy.maxBytes) {
        response.destroy();
        throw new OutputFetchError('too_large', current, { detail: `declared ${contentLength} bytes, limit ${policy.maxBytes}` });
      }
      const contentType = response.headers['content-type']?.trim();
      return {
        url: current,
        status,
        ...(contentType ? { contentType } : {}),
        ...(contentLength === undefined ? {} : { contentLength }),
        body: guardedBody(response, current, policy, deadline),
      };
    }
  } catch (error) {
    deadline.dispose();
    throw error;
  }
}

/** The total deadline and the caller's signal, as one signal that every stage listens to. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private expired = false;
  private readonly onCallerAbort = () => this.controller.abort();

  constructor(
    private readonly totalMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, totalMs);
    caller?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** What to fail with once `signal` aborted: our timeout, or whatever the caller aborted with. */
  failure(url: string): unknown {
    if (this.expired) return new OutputFetchError('timeout', url, { detail: `not done within ${this.totalMs} ms` });
    return this.caller?.reason;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

function requestHeaders(url: URL, policy: FetchPolicy, deadline: Deadline): Promise<IncomingMessage> {
  const href = url.href;
  // An IP literal is connected to without any lookup, so it is judged here instead.
  const literal = ipLiteral(url.hostname);
  if (literal !== undefined && !policy.allowPrivateAddresses && isBlockedAddress(literal)) {
    return Promise.reject(new OutputFetchError('blocked_address', href, { detail: literal }));
  }
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an OutputFetchError, or the caller's abort reason as it was
  if (deadline.signal.aborted) return Promise.reject(deadline.failure(href));
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'GET',
      headers: REQUEST_HEADERS,
      agent: false, // one socket per request: nothing pooled past a redirect or a failure
      lookup: guardedLookup(href, policy.allowPrivateAddresses),
    });
    let settled = false;
    const settle = (error: unknown, response?: IncomingMessage) => {
      if (settled) {
        response?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      deadline.signal.removeEventListener('abort', onAbort);
      if (response) resolve(response);
      else {
        request.destroy();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- an OutputFetchError, or the caller's abort reason as it was
        reject(error);
      }
    };
    const timer = setTimeout(
      () => settle(new OutputFetchError('timeout', href, { detail: `no response headers within ${policy.headersTimeoutMs} ms` })),
      policy.headersTimeoutMs,
    );
    const onAbort = () => settle(deadline.failure(href));
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    // Stays attached after settling: socket errors are also emitted here, and would otherwise crash.
    request.on('error', (error) => settle(asFetchError(error, href)));
    request.on('response', (response) => settle(undefined, response));
    request.end();
  });
}

/** Every address of a name, as `dns.lookup` gives them with `all: true`. */
export type ResolveAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * Resolves like `dns.lookup`, but refuses when any answer is a blocked address: what is checked is
 * what is dialled. `resolveAll` is for tests, which need answers that no resolver here gives.
 */
export function guardedLookup(href: string, allowPrivateAddresses: boolean, resolveAll: ResolveAll = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolveAll(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const first = addresses[0];
      if (!first) {
        return callback(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), '');
      }
      if (!allowPrivateAddresses && addresses.some(({ address }) => isBlockedAddress(address))) {
        return callback(
          new OutputFetchError('blocked_address', href, { detail: `${hostname} resolves to a blocked address` }),
          '',
        );
      }
      // Node's autoSelectFamily asks for every address; plain connects ask for one.
      return options.all ? callback(null, addresses) : callback(null, first.address, first.family);
    });
  };
}

function asFetchError(error: unknown, url: string): OutputFetchError {
  if (error instanceof OutputFetchError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return new OutputFetchError('network_error', url, {
    transient: !(code && PERMANENT_NETWORK_CODES.has(code)),
    detail: code ?? (error instanceof Error ? error.message : undefined),
    cause: error,
  });
}

function parseContentLength(value: string | undefined): number | undefined {
  return value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : undefined;
}

/**
 * The response body behind the size cap and the idle and total deadlines. The idle clock only
 * runs while the consumer is asking for data, so a slow consumer (an S3 upload under
 * backpressure) is never mistaken for a stalled server.
 */
function guardedBody(response: IncomingMessage, url: string, policy: FetchPolicy, deadline: Deadline): Readable {
  let received = 0;
  let idle: NodeJS.Timeout | undefined;
  const stopIdle = () => {
    clearTimeout(idle);
    idle = undefined;
  };
  const startIdle = () => {
    stopIdle();
    // A consumer may destroy the body from inside its 'data' handler, i.e. during our push().
    if (body.destroyed) return;
    idle = setTimeout(
      () => body.destroy(new OutputFetchError('timeout', url, { detail: `no body data for ${policy.idleTimeoutMs} ms` })),
      policy.idleTimeoutMs,
    );
  };
  const onAbort = () => body.destroy(deadline.failure(url) as Error);
  const onData = (chunk: Buffer) => {
    stopIdle();
    received += chunk.length;
    if (received > policy.maxBytes) {
      body.destroy(new OutputFetchError('too_large', url, { detail: `more than ${policy.maxBytes} bytes` }));
    } else if (body.push(chunk)) {
      startIdle();
    } else {
      response.pause();
    }
  };
  const onEnd = () => {
    stopIdle();
    deadline.dispose();
    body.push(null);
  };
  const onError = (error: Error) => body.destroy(asFetchError(error, url));
  const onClose = () => {
    if (response.complete) return;
    body.destroy(new OutputFetchError('network_error', url, { transient: true, detail: 'closed mid-body' }));
  };

  const body = new Readable({
    read() {
      if (!idle) startIdle();
      response.resume();
    },
    destroy(error, callback) {
      stopIdle();
      deadline.dispose();
      deadline.signal.removeEventListener('abort', onAbort);
      response.off('data', onData).off('end', onEnd).off('close', onClose);
      response.on('error', () => {}); // late socket errors on a body nobody reads any more
      response.off('error', onError);
      response.destroy();
      callback(error);
    },
  });
  // Paused before 'data' is attached, so nothing flows until the consumer reads.
  response.pause();
  response.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  if (deadline.signal.aborted) onAbort();
  else deadline.signal.addEventListener('abort', onAbort, { once: true });
  return body;
}
