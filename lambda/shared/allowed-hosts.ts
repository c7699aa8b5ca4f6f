/**
 * Which output URLs the archiver may fetch: the allow-list (`allowedOutputHosts`), how its
 * entries are written and matched, and the scheme and port rules. Pure, and free of the fetcher's
 * transport and of any package, so the construct checks the prop at synth with the very parser
 * the archiver uses. Which addresses may be connected to is address-policy.ts.
 */
import { isIPv4 } from 'node:net';

/** Where Replicate serves output files: the construct's default `allowedOutputHosts`. */
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ['replicate.delivery', '*.replicate.delivery'];

export interface AllowedHost {
  /** Lowercase; IPv6 literals keep their brackets, as in `URL.hostname`. */
  readonly hostname: string;
  /** Matches strict subdomains of `hostname`, never `hostname` itself. */
  readonly wildcard: boolean;
  /** When absent, the scheme's default port. */
  readonly port?: number;
  readonly allowHttp: boolean;
}

const ENTRY = /^(?:(https?):\/\/)?(\*\.)?(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::([0-9]{1,5}))?$/;

/** Parses `[http://]host[:port]` and `[http://]*.domain[:port]` entries; throws on the first malformed one. */
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
      // `URL` has already turned every IPv4 notation into dotted decimal, and bracketed only IPv6.
      if (hostname.startsWith('[') || isIPv4(hostname)) throw malformed('a wildcard cannot apply to an IP address');
      // '*.com' would open a whole TLD; surely a mistake.
      if (!hostname.includes('.')) throw malformed('a wildcard needs a domain of at least two labels');
    }
    const port = portText === undefined ? undefined : Number(portText);
    if (port !== undefined && (port < 1 || port > 65535)) throw malformed('port out of range');
    return { hostname, wildcard: star !== undefined, ...(port === undefined ? {} : { port }), allowHttp: scheme === 'http' };
  });
}

/** Why a URL is refused before anything is looked up or connected to. */
export type UrlRefusal = 'invalid_url' | 'insecure_scheme' | 'credentials_in_url' | 'host_not_allowed' | 'port_not_allowed';

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: UrlRefusal };

/**
 * Judges the URL as `URL` parses it, which is exactly what would be connected to: http(s) only,
 * no userinfo, an allowed host on an allowed port, and plain http only where an entry says so.
 */
export function checkUrl(url: string, policy: { readonly allowedHosts: readonly AllowedHost[] }): UrlCheck {
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

/** Whether `hostname` (as `URL.hostname` has it) is the entry's host, or for a wildcard, a strict subdomain of it. */
export function hostMatches(entry: AllowedHost, hostname: string): boolean {
  if (!entry.wildcard) return hostname === entry.hostname;
  const suffix = `.${entry.hostname}`;
  if (!hostname.endsWith(suffix)) return false;
  const prefix = hostname.slice(0, -suffix.length);
  return prefix !== '' && prefix.split('.').every((label) => DNS_LABEL.test(label));
}
