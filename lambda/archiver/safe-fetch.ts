/**
 * Downloads a prediction's output files without letting a webhook payload steer us elsewhere.
 *
 * The URLs arrive in webhook bodies, so they are attacker-influenced (SSRF): only allow-listed
 * hosts and ports, https unless an entry says otherwise, never a private or metadata address
 * (checked on the address actually connected to, so DNS rebinding cannot slip past), every
 * redirect hop re-checked, and size and time bounded. Bodies are streamed, never buffered.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { BlockList, isIP, isIPv4, isIPv6, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { DEFAULT_OUTPUT_HOSTS } from '../shared/outputs';

export interface AllowedHost {
  /** Lowercase; IPv6 literals keep their brackets, as in `URL.hostname`. */
  readonly hostname: string;
  /** Matches strict subdomains of `hostname`, never `hostname` itself. */
  readonly wildcard: boolean;
  /** When absent, the scheme's default port. */
  readonly port?: number;
  readonly allowHttp: boolean;
}

export const DEFAULT_ALLOWED_HOSTS: readonly string[] = DEFAULT_OUTPUT_HOSTS;

const ENTRY = /^(?:(https?):\/\/)?(\*\.)?(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::([0-9]{1,5}))?$/;

export function parseAllowedHosts(entries: readonly string[]): AllowedHost[] {
  return entries.map((raw) => {
    const malformed = (why: string) => new Error(`Malformed allowed host '${raw}': ${why}`);
    const match = ENTRY.exec(raw.trim().toLowerCase());
    if (!match) throw malformed('expected [http://]host[:port] or [http://]*.domain[:port], with no path, query or userinfo');
    const [, scheme, star, host = '', portText] = match;
    let hostname: string;
    try {
      // Store the form `URL.hostname` will have, so matching is a plain comparison.
      hostname = new URL(`https://${host}`).hostname;
    } catch {
      throw malformed('not a valid host name');
    }
    if (hostname.split('.').some((label) => label === '')) throw malformed('empty label (leading, trailing or double dot)');
    if (star) {
      if (isIP(unbracket(hostname))) throw malformed('a wildcard cannot apply to an IP address');
      // '*.com' would open a whole TLD; surely a mistake.
      if (!hostname.includes('.')) throw malformed('a wildcard needs a domain of at least two labels');
    }
    const port = portText === undefined ? undefined : Number(portText);
    if (port !== undefined && (port < 1 || port > 65535)) throw malformed('port out of range');
    return { hostname, wildcard: star !== undefined, ...(port === undefined ? {} : { port }), allowHttp: scheme === 'http' };
  });
}

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
  | 'invalid_url'
  | 'insecure_scheme'
  | 'credentials_in_url'
  | 'host_not_allowed'
  | 'port_not_allowed'
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

type UrlCheck = { ok: true; url: URL } | { ok: false; reason: FetchFailureReason };

/** Pure: judges the URL as `URL` parses it, which is exactly what would be connected to. */
export function checkUrl(url: string, policy: Pick<FetchPolicy, 'allowedHosts'>): UrlCheck {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'invalid_url' };
  }
  const secure = parsed.protocol === 'https:';
  if (!secure && parsed.protocol !== 'http:') return { ok: false, reason: 'insecure_scheme' };
  if (parsed.username || parsed.password) return { ok: false, reason: 'credentials_in_url' };
  const sameHost = policy.allowedHosts.filter((entry) => hostMatches(entry, parsed.hostname));
  if (sameHost.length === 0) return { ok: false, reason: 'host_not_allowed' };
  const defaultPort = secure ? 443 : 80;
  const port = parsed.port ? Number(parsed.port) : defaultPort;
  const samePort = sameHost.filter((entry) => (entry.port ?? defaultPort) === port);
  if (samePort.length === 0) return { ok: false, reason: 'port_not_allowed' };
  if (!secure && !samePort.some((entry) => entry.allowHttp)) return { ok: false, reason: 'insecure_scheme' };
  return { ok: true, url: parsed };
}

const DNS_LABEL = /^[a-z0-9_-]+$/;

function hostMatches(entry: AllowedHost, hostname: string): boolean {
  if (!entry.wildcard) return hostname === entry.hostname;
  const suffix = `.${entry.hostname}`;
  if (!hostname.endsWith(suffix)) return false;
  const prefix = hostname.slice(0, -suffix.length);
  return prefix !== '' && prefix.split('.').every((label) => DNS_LABEL.test(label));
}

const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, including the 169.254.169.254 metadata service
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including broadcast
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local, including fd00:ec2::254 metadata
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local, still routed privately by some stacks
  ['ff00::', 8], // multicast
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** True for any address that must not be contacted unless `allowPrivateAddresses`; also for non-addresses. */
export function isBlockedAddress(address: string): boolean {
  const bare = unbracket(address).replace(/%.*$/, ''); // an IPv6 zone id does not change the address
  if (isIPv4(bare)) return BLOCKED.check(bare, 'ipv4');
  if (!isIPv6(bare)) return true;
  const embedded = embeddedIPv4(ipv6Words(bare));
  return embedded !== undefined ? isBlockedAddress(embedded) : BLOCKED.check(bare, 'ipv6');
}

/** The IPv4 address that IPv4-mapped, -compatible, -translated, NAT64 and 6to4 forms actually reach. */
function embeddedIPv4(w: readonly number[]): string | undefined {
  const dotted = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  const zero = (from: number, to: number) => w.slice(from, to).every((word) => word === 0);
  if (zero(0, 5) && (w[5] === 0xffff || w[5] === 0)) return dotted(w[6]!, w[7]!); // ::ffff:a.b.c.d, ::a.b.c.d
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) return dotted(w[6]!, w[7]!); // ::ffff:0:a.b.c.d (SIIT)
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return dotted(w[6]!, w[7]!); // 64:ff9b::a.b.c.d
  if (w[0] === 0x2002) return dotted(w[1]!, w[2]!); // 2002:aabb:ccdd::/48
  return undefined;
}

/** Eight 16-bit words of a syntactically valid IPv6 address. */
function ipv6Words(address: string): number[] {
  const words = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = '', tail] = address.split('::');
  if (tail === undefined) return words(head);
  const before = words(head);
  const after = words(tail);
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
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
  const literal = unbracket(url.hostname);
  if (isIP(literal) && !policy.allowPrivateAddresses && isBlockedAddress(literal)) {
    return Promise.reject(new OutputFetchError('blocked_address', href, { detail: literal }));
  }
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

/** Resolves like `dns.lookup`, but refuses when any answer is a blocked address: what is checked is what is dialled. */
function guardedLookup(href: string, allowPrivateAddresses: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
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
