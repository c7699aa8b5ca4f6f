/**
 * Which IP addresses the archiver may connect to. Every address is given a class; only a
 * `public` one may be dialled (local mode alone lets the others through). Pure: no I/O.
 *
 * ipaddr.js parses and names the ranges (it answers the same question for Express's
 * proxy-addr). Where its ranges and ours differ, the difference is spelled out below; the
 * blocked set is the one this fetcher has always had.
 */
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/** What an address reaches, as far as fetching is concerned; anything but `public` is refused. */
export type AddressClass =
  | 'public'
  /** Not an IP address in the notation Node dials: refused, so that nothing unparsed gets through. */
  | 'invalid'
  /** 169.254.169.254 and fd00:ec2::254, the instance metadata service (Lambda's credentials live there). */
  | 'metadata'
  | 'unspecified'
  | 'loopback'
  /** RFC 1918. */
  | 'private'
  /** 100.64.0.0/10, shared address space (RFC 6598). */
  | 'carrierGradeNat'
  | 'linkLocal'
  /** fc00::/7, the IPv6 counterpart of `private`. */
  | 'uniqueLocal'
  /** fec0::/10: deprecated, still routed privately by some stacks. */
  | 'deprecatedSiteLocal'
  | 'multicast'
  | 'broadcast'
  /** IETF protocol assignments, documentation, benchmarking, 240.0.0.0/4; in IPv6, 2001:db8::/32. */
  | 'reserved'
  /** 100::/64, discard-only. */
  | 'discard'
  /** 64:ff9b:1::/48: a NAT64 prefix whose mapping is local policy, so what it reaches is unknown. */
  | 'localUseNat64';

// ipaddr.js range names that are refused, by the class they get. Its other names (as112, amt,
// teredo, orchid2, the IPv6 benchmarking prefix, ...) name public services or plain unicast.
const IPV4_CLASSES: Readonly<Record<string, AddressClass>> = {
  unspecified: 'unspecified', // 0.0.0.0/8
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'linkLocal',
  loopback: 'loopback',
  carrierGradeNat: 'carrierGradeNat',
  private: 'private',
  reserved: 'reserved',
};
const IPV6_CLASSES: Readonly<Record<string, AddressClass>> = {
  unspecified: 'unspecified',
  loopback: 'loopback',
  linkLocal: 'linkLocal',
  multicast: 'multicast',
  uniqueLocal: 'uniqueLocal',
  deprecatedSiteLocal: 'deprecatedSiteLocal',
  discard: 'discard',
  reserved: 'reserved',
  // Holds 64:ff9b::/96 too, which embeds an IPv4 address and is judged by it (see embeddedIPv4).
  rfc6052: 'localUseNat64',
};

const cidr = (text: string) => ipaddr.parseCIDR(text);
const METADATA = [cidr('169.254.169.254/32'), cidr('fd00:ec2::254/128')];
// ipaddr.js's `reserved` is wider than ours: these parts of it have never been refused here.
const NOT_RESERVED_HERE = [
  cidr('192.88.99.0/24'), // 6to4 relay anycast
  cidr('2001::/23'), // IETF protocol assignments not named otherwise
  cidr('3fff::/20'), // documentation since RFC 9637
];
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
// ipaddr.js names only `::` and `::1` in ::/96; the rest are IPv4-compatible addresses.
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

const inAny = (address: IPv4 | IPv6, ranges: ReadonlyArray<[IPv4 | IPv6, number]>) =>
  ranges.some(([network, bits]) => address.kind() === network.kind() && address.match(network, bits));

/** The class of an address, bracketed or not, with or without an IPv6 zone id. */
export function classifyAddress(address: string): AddressClass {
  // A zone id names an interface; it does not change the address.
  const bare = unbracket(address).replace(/%.*$/, '');
  // The gate is Node's notion of an address, the one its sockets dial without a lookup: ipaddr.js
  // also reads inet_aton forms ('127.1', '0x7f.0.0.1') and, inside IPv6, octets Node refuses.
  if (isIP(bare) === 0) return 'invalid';
  let parsed: IPv4 | IPv6;
  try {
    parsed = ipaddr.parse(bare);
  } catch {
    return 'invalid';
  }
  return parsed.kind() === 'ipv4' ? classifyIPv4(parsed as IPv4) : classifyIPv6(parsed as IPv6);
}

/** True for any address that must not be contacted unless private addresses are allowed; also for non-addresses. */
export function isBlockedAddress(address: string): boolean {
  return classifyAddress(address) !== 'public';
}

/** The address a URL's hostname is, when it is an IP literal: Node connects to that without any lookup. */
export function ipLiteral(hostname: string): string | undefined {
  const bare = unbracket(hostname);
  return isIP(bare) === 0 ? undefined : bare;
}

function classifyIPv4(address: IPv4): AddressClass {
  if (inAny(address, METADATA)) return 'metadata';
  const range = address.range();
  if (range === 'reserved' && inAny(address, NOT_RESERVED_HERE)) return 'public';
  return IPV4_CLASSES[range] ?? 'public';
}

function classifyIPv6(address: IPv6): AddressClass {
  if (inAny(address, METADATA)) return 'metadata';
  const range: string = address.range();
  // Before the embedded forms: `::1` is loopback, not the IPv4-compatible 0.0.0.1.
  if (range === 'unspecified' || range === 'loopback') return range;
  const embedded = embeddedIPv4(address, range);
  if (embedded) return classifyIPv4(embedded);
  if (range === 'reserved' && inAny(address, NOT_RESERVED_HERE)) return 'public';
  return IPV6_CLASSES[range] ?? 'public';
}

/** The IPv4 address that IPv4-mapped, -compatible, -translated, NAT64 and 6to4 forms actually reach. */
function embeddedIPv4(address: IPv6, range: string): IPv4 | undefined {
  const words = address.parts;
  const ipv4 = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  switch (range) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d (SIIT)
      return ipv4(words[6], words[7]);
    case 'rfc6052': // 64:ff9b::a.b.c.d; the local-use 64:ff9b:1::/48 is refused whole
      return address.match(NAT64_WELL_KNOWN) ? ipv4(words[6], words[7]) : undefined;
    case '6to4': // 2002:aabb:ccdd::/48
      return ipv4(words[1], words[2]);
    default: // ::aabb:ccdd; ipaddr.js reads the dotted ::a.b.c.d as ::ffff:a.b.c.d, which reaches the same
      return address.match(IPV4_COMPATIBLE) ? ipv4(words[6], words[7]) : undefined;
  }
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
