/**
 * Which addresses may be dialled, on their own: pure, no sockets. That the fetcher asks this of
 * the address it actually connects to (literal or DNS answer) is test/lambda/archiver/safe-fetch.test.ts.
 */
import { build } from 'esbuild';
import fc from 'fast-check';
import { join } from 'node:path';
import { classifyAddress, ipLiteral, isBlockedAddress, type AddressClass } from '../../../lambda/shared/address-policy';

describe('classifyAddress', () => {
  test.each<[string, AddressClass]>([
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['2606:4700::1', 'public'],
    ['2600:1f18::1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'metadata'],
    ['169.254.169.253', 'linkLocal'],
    ['169.254.170.2', 'linkLocal'],
    ['192.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::1%lo', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['febf::1', 'linkLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd00:ec2::253', 'uniqueLocal'],
    ['fd00:ec2::254', 'metadata'],
    ['[fd00:ec2::254]', 'metadata'],
    ['ff02::1', 'multicast'],
    ['100::1', 'discard'],
    ['2001:db8::1', 'reserved'],
    ['64:ff9b:1::1', 'localUseNat64'],
    ['64:ff9b:1:ffff::8.8.8.8', 'localUseNat64'],
    // Forms that reach an IPv4 address get that address's class.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:100.64.0.1', 'carrierGradeNat'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'loopback'],
    ['::7f00:1', 'loopback'],
    ['::10.0.0.1', 'private'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::ffff:0:a9fe:a9fe', 'metadata'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:a9fe:a9fe::', 'metadata'],
    ['2002:808:808::1', 'public'],
    // ::0.0.0.1 is ::1, but ipaddr.js reads `::a.b.c.d` as ::ffff:a.b.c.d: refused all the same.
    ['::0.0.0.1', 'unspecified'],
    // Named by ipaddr.js (reserved, teredo, benchmarking, segment routing, AMT) but never refused here.
    ['192.88.99.1', 'public'],
    ['2001:1::1', 'public'],
    ['3fff::1', 'public'],
    ['2001::1', 'public'],
    ['2001:2::1', 'public'],
    ['5f00::1', 'public'],
    ['192.52.193.1', 'public'],
    // Not in the notation Node dials: refused, though ipaddr.js alone would read most of them.
    ['localhost', 'invalid'],
    ['', 'invalid'],
    ['2130706433', 'invalid'],
    ['0177.0.0.1', 'invalid'],
    ['0x7f.0.0.1', 'invalid'],
    ['127.1', 'invalid'],
    ['1.2.3', 'invalid'],
    ['01.2.3.4', 'invalid'],
    ['::ffff:0177.0.0.1', 'invalid'],
    ['::ffff:0x7f.0.0.1', 'invalid'],
    [' 8.8.8.8', 'invalid'],
    ['[::1', 'invalid'],
    ['1::2::3', 'invalid'],
  ])('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

describe('isBlockedAddress', () => {
  test.each([
    '0.0.0.0',
    '0.1.2.3',
    '10.0.0.1',
    '100.64.0.1',
    '100.127.255.255',
    '127.0.0.1',
    '127.255.255.254',
    '169.254.169.254',
    '172.16.0.1',
    '172.31.255.255',
    '192.0.0.1',
    '192.0.2.1',
    '192.168.1.1',
    '198.18.0.1',
    '198.19.255.255',
    '198.51.100.7',
    '203.0.113.9',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    'fc00::1',
    'fd00:ec2::254',
    'fe80::1',
    'fe80::1%eth0',
    'febf::1',
    'ff02::1',
    '2001:db8::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:10.0.0.1',
    '::127.0.0.1',
    '::10.0.0.1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b:1::1',
    '2002:7f00:1::1',
    '2002:a9fe:a9fe::',
    '::ffff:0:127.0.0.1',
    // Not addresses at all: fail closed.
    'localhost',
    '',
    '2130706433',
    '0177.0.0.1',
    '1.2.3',
  ])('blocks %s', (address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });

  test.each([
    '8.8.8.8',
    '1.1.1.1',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.1',
    '192.169.0.1',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700::1',
    '2600:1f18::1',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
  ])('allows %s', (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });
});

describe('addresses that only look like a form embedding IPv4 are left alone', () => {
  // Each differs from an embedding prefix in one word, and ends in a blocked IPv4 address.
  test.each([
    '::1:ffff:7f00:1', // ::ffff:0:0/96 (mapped) needs word 4 zero
    '1::ffff:127.0.0.1',
    '::ffff:1:7f00:1', // ::ffff:0:0:0/96 (SIIT) needs word 5 zero
    '0:0:0:1:ffff:0:7f00:1',
    '::ffff:7f00:1:0',
    '::1:7f00:1', // ::/96 (IPv4-compatible) needs word 5 zero
    '1::7f00:1',
    '64:ff9b::1:7f00:1', // 64:ff9b::/96 needs words 2 to 5 zero
    '64:ff9b:0:1::7f00:1',
    '64:ff9b:2::7f00:1', // past the local-use 64:ff9b:1::/48
    '64:ff9a::7f00:1',
    '65:ff9b::7f00:1',
    '2003:7f00:1::', // beside 6to4 2002::/16
    '2001:db9::1', // beside documentation 2001:db8::/32
  ])('%s is public', (address) => {
    expect(classifyAddress(address)).toBe('public');
  });
});

describe('every form that reaches an IPv4 address is judged by that address', () => {
  const words = (ipv4: string) => {
    const [a = 0, b = 0, c = 0, d = 0] = ipv4.split('.').map(Number);
    return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  };
  test.each<[string, (ipv4: string) => string]>([
    ['IPv4-mapped, dotted', (ipv4) => `::ffff:${ipv4}`],
    ['IPv4-mapped, hex', (ipv4) => `::ffff:${words(ipv4).join(':')}`],
    ['IPv4-translated', (ipv4) => `::ffff:0:${ipv4}`],
    ['NAT64', (ipv4) => `64:ff9b::${ipv4}`],
    ['NAT64, hex', (ipv4) => `64:ff9b::${words(ipv4).join(':')}`],
    ['6to4', (ipv4) => `2002:${words(ipv4).join(':')}::1`],
    ['IPv4-compatible', (ipv4) => `::${ipv4}`],
    ['IPv4-compatible, hex, bracketed', (ipv4) => `[::${words(ipv4).join(':')}]`],
  ])('%s', (_form, embed) => {
    // Biased to the blocked ranges' edges, where a wrong bit shows. ::0.0.0.0 and ::0.0.0.1 are
    // :: and ::1 themselves (in the table above).
    const octet = fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(0, 1, 10, 63, 64, 100, 127, 128, 169, 172, 192, 198, 203, 224, 239, 240, 254, 255),
    );
    const ipv4 = fc
      .tuple(octet, octet, octet, octet)
      .map((octets) => octets.join('.'))
      .filter((address) => !/^0\.0\.0\.[01]$/.test(address));
    fc.assert(
      fc.property(ipv4, (address) => {
        expect(classifyAddress(embed(address))).toBe(classifyAddress(address));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('ipLiteral', () => {
  test.each<[string, string | undefined]>([
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['[fd00:ec2::254]', 'fd00:ec2::254'],
    ['::1', '::1'],
    ['replicate.delivery', undefined],
    ['localhost', undefined],
    ['[replicate.delivery]', undefined],
    ['[::1', undefined],
  ])('%s -> %s', (hostname, expected) => {
    expect(ipLiteral(hostname)).toBe(expected);
  });
});

test('the address policy pulls in ipaddr.js and nothing else', async () => {
  const root = join(__dirname, '..', '..', '..');
  const { metafile } = await build({
    entryPoints: [join(root, 'lambda', 'shared', 'address-policy.ts')],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Paths stay inside the tree when node_modules is a symlink (the mutation-testing sandbox).
    preserveSymlinks: true,
  });
  expect(Object.keys(metafile.inputs).sort()).toEqual([
    'lambda/shared/address-policy.ts',
    'node_modules/ipaddr.js/lib/ipaddr.js',
  ]);
});

/**
 * Address classes at the edges the main suite left undecided (found by mutation testing,
 * docs/mutation.md): zone ids that ipaddr.js would not read, and brackets that do not pair.
 */
describe('edges', () => {
  test('a zone id of any spelling Node accepts is dropped before the address is judged', () => {
    // ipaddr.js reads only letters and digits after `%`; Node dials `%en-0` and `%eth0.1` too.
    expect(classifyAddress('fe80::1%en-0')).toBe('linkLocal');
    expect(classifyAddress('fe80::1%eth0.1')).toBe('linkLocal');
    expect(classifyAddress('[::1%lo-0]')).toBe('loopback');
  });

  test('only a bracket pair is unwrapped: half a bracket leaves no address, never a public one', () => {
    expect(classifyAddress('x8.8.8.8]')).toBe('invalid');
    expect(classifyAddress('[8.8.8.8')).toBe('invalid');
    expect(isBlockedAddress('x2606:4700::1]')).toBe(true);
    expect(ipLiteral('x8.8.8.8]')).toBeUndefined();
    expect(ipLiteral('[2606:4700::1]')).toBe('2606:4700::1');
  });
});
