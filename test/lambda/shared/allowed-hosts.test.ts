/**
 * The allow-list and the URL rules, on their own: pure, no sockets. What the fetcher does with a
 * refused URL is test/lambda/archiver/safe-fetch.test.ts; which addresses may be dialled is address-policy.test.ts.
 */
import { build } from 'esbuild';
import { join } from 'node:path';
import {
  checkUrl,
  DEFAULT_ALLOWED_HOSTS,
  hostMatches,
  parseAllowedHosts,
  type UrlRefusal,
} from '../../../lambda/shared/allowed-hosts';

describe('parseAllowedHosts', () => {
  test('parses the supported forms, lowercased', () => {
    expect(
      parseAllowedHosts([
        'replicate.delivery',
        '*.Replicate.Delivery',
        'LocalHost:3000',
        '127.0.0.1:8080',
        'http://127.0.0.1:8080',
        '[::1]:8080',
        'https://files.example.com',
        ' http://*.local.test ',
      ]),
    ).toEqual([
      { hostname: 'replicate.delivery', wildcard: false, allowHttp: false },
      { hostname: 'replicate.delivery', wildcard: true, allowHttp: false },
      { hostname: 'localhost', wildcard: false, port: 3000, allowHttp: false },
      { hostname: '127.0.0.1', wildcard: false, port: 8080, allowHttp: false },
      { hostname: '127.0.0.1', wildcard: false, port: 8080, allowHttp: true },
      { hostname: '[::1]', wildcard: false, port: 8080, allowHttp: false },
      { hostname: 'files.example.com', wildcard: false, allowHttp: false },
      { hostname: 'local.test', wildcard: true, allowHttp: true },
    ]);
  });

  test('the defaults are the Replicate delivery domain and its subdomains', () => {
    expect(DEFAULT_ALLOWED_HOSTS).toEqual(['replicate.delivery', '*.replicate.delivery']);
    expect(parseAllowedHosts(DEFAULT_ALLOWED_HOSTS).map((entry) => entry.wildcard)).toEqual([false, true]);
  });

  test('an entry without a port has none, not the default one', () => {
    expect(parseAllowedHosts(['replicate.delivery'])[0]).not.toHaveProperty('port');
  });

  test.each([
    '',
    '*',
    '*.com',
    '*.127.0.0.1',
    '*.*.example.com',
    'ex*ample.com',
    'replicate.delivery/path',
    'replicate.delivery/',
    'replicate.delivery?x=1',
    'replicate.delivery#x',
    'user@replicate.delivery',
    'user:pass@replicate.delivery',
    'ftp://replicate.delivery',
    'https//replicate.delivery',
    'replicate.delivery:0',
    'replicate.delivery:65536',
    'replicate.delivery:abc',
    'replicate.delivery:',
    'replicate.delivery.',
    '.replicate.delivery',
    'replicate..delivery',
    'repli cate.delivery',
    '[::1',
    '[zz::1]:80',
    '::1',
  ])('refuses %j with a clear message', (entry) => {
    expect(() => parseAllowedHosts([entry])).toThrow(/^Malformed allowed host/);
  });
});

describe('checkUrl', () => {
  const policy = {
    allowedHosts: parseAllowedHosts([...DEFAULT_ALLOWED_HOSTS, 'files.example.com:8443', 'http://127.0.0.1:8080']),
  };
  const reason = (url: string) => {
    const result = checkUrl(url, policy);
    return result.ok ? 'ok' : result.reason;
  };

  test.each<[string, UrlRefusal | 'ok']>([
    ['https://replicate.delivery/pbxt/abc/out.png', 'ok'],
    ['https://REPLICATE.DELIVERY/out.png', 'ok'],
    ['https://replicate.delivery:443/out.png', 'ok'],
    ['https://pbxt.replicate.delivery/out.png', 'ok'],
    ['https://a.b.replicate.delivery/out.png', 'ok'],
    ['https://files.example.com:8443/x', 'ok'],
    ['http://127.0.0.1:8080/x', 'ok'],
    // Percent-encoding in the host is decoded by URL: what is judged is what would be dialled.
    ['https://replicate%2edelivery/out.png', 'ok'],
    ['not a url', 'invalid_url'],
    ['/relative/path', 'invalid_url'],
    ['https://', 'invalid_url'],
    ['http://replicate.delivery/out.png', 'insecure_scheme'],
    ['http://replicate.delivery:443/out.png', 'port_not_allowed'],
    ['ftp://replicate.delivery/out.png', 'insecure_scheme'],
    ['file:///etc/passwd', 'insecure_scheme'],
    ['data:text/plain,hi', 'insecure_scheme'],
    ['https://user:pass@replicate.delivery/out.png', 'credentials_in_url'],
    ['https://replicate.delivery@evil.example/out.png', 'credentials_in_url'],
    ['https://replicate.delivery:443@evil.example/out.png', 'credentials_in_url'],
    ['https://evil.example/out.png', 'host_not_allowed'],
    ['https://replicate.delivery.evil.example/out.png', 'host_not_allowed'],
    ['https://evilreplicate.delivery/out.png', 'host_not_allowed'],
    ['https://replicate.delivery./out.png', 'host_not_allowed'],
    ['https://pbxt.replicate.delivery./out.png', 'host_not_allowed'],
    ['https://replicate.delivery%2e/out.png', 'host_not_allowed'],
    ['https://replicate%2edelivery%2eevil.example/out.png', 'host_not_allowed'],
    ['https://.replicate.delivery/out.png', 'host_not_allowed'],
    ['https://a..replicate.delivery/out.png', 'host_not_allowed'],
    ['https://evil.example\\@replicate.delivery/out.png', 'host_not_allowed'],
    ['https://evil.example#@replicate.delivery/out.png', 'host_not_allowed'],
    ['https://127.0.0.2/x', 'host_not_allowed'],
    ['https://2852039166/latest/meta-data/', 'host_not_allowed'],
    ['https://0xa9.0xfe.0xa9.0xfe/latest/meta-data/', 'host_not_allowed'],
    ['https://0251.0376.0251.0376/latest/meta-data/', 'host_not_allowed'],
    ['https://0x0a000001/x', 'host_not_allowed'],
    ['https://127.0.0.1/x', 'port_not_allowed'],
    ['https://169.254.169.254/latest/meta-data/', 'host_not_allowed'],
    ['https://[::1]/x', 'host_not_allowed'],
    ['https://[::ffff:127.0.0.1]/x', 'host_not_allowed'],
    ['https://[fd00:ec2::254]/x', 'host_not_allowed'],
    ['https://replicate.delivery:8443/out.png', 'port_not_allowed'],
    ['https://pbxt.replicate.delivery:444/out.png', 'port_not_allowed'],
    ['https://files.example.com/x', 'port_not_allowed'],
    ['http://127.0.0.1:8081/x', 'port_not_allowed'],
    ['http://127.0.0.1/x', 'port_not_allowed'],
  ])('%s -> %s', (url, expected) => {
    expect(reason(url)).toBe(expected);
  });

  test('IP literals in any notation are allowed only when listed, and compared after normalisation', () => {
    const literal = { allowedHosts: parseAllowedHosts(['http://127.0.0.1:8080', '[::1]:8443']) };
    for (const url of [
      'http://2130706433:8080/',
      'http://0x7f000001:8080/',
      'http://0177.0.0.1:8080/',
      'https://[0:0::1]:8443/',
    ]) {
      expect(checkUrl(url, literal).ok).toBe(true);
    }
    expect(checkUrl('http://[::ffff:127.0.0.1]:8080/', literal)).toEqual({ ok: false, reason: 'host_not_allowed' });
  });

  test('the apex is not matched by a wildcard alone', () => {
    const wildcardOnly = { allowedHosts: parseAllowedHosts(['*.replicate.delivery']) };
    expect(checkUrl('https://replicate.delivery/x', wildcardOnly)).toEqual({ ok: false, reason: 'host_not_allowed' });
    expect(checkUrl('https://a.replicate.delivery/x', wildcardOnly).ok).toBe(true);
  });

  test('returns the parsed URL', () => {
    const result = checkUrl('https://Replicate.Delivery/a/../b.png', policy);
    expect(result.ok && result.url.href).toBe('https://replicate.delivery/b.png');
  });
});

describe('hostMatches', () => {
  test.each<[string, string, boolean]>([
    ['replicate.delivery', 'replicate.delivery', true],
    ['replicate.delivery', 'a.replicate.delivery', false],
    ['replicate.delivery', 'replicate.deliver', false],
    ['*.replicate.delivery', 'a.replicate.delivery', true],
    ['*.replicate.delivery', 'a.b.replicate.delivery', true],
    ['*.replicate.delivery', 'a_b-c.replicate.delivery', true],
    ['*.replicate.delivery', 'replicate.delivery', false],
    ['*.replicate.delivery', 'areplicate.delivery', false],
    ['*.replicate.delivery', '.replicate.delivery', false],
    ['*.replicate.delivery', 'a..replicate.delivery', false],
    ['*.replicate.delivery', 'a%2e.replicate.delivery', false],
    ['*.replicate.delivery', 'a.replicate.delivery.', false],
  ])('entry %s, hostname %s: %s', (entry, hostname, expected) => {
    expect(hostMatches(parseAllowedHosts([entry])[0], hostname)).toBe(expected);
  });
});

describe('bracketed IPv6 literals', () => {
  test('an entry keeps the brackets and the form URL gives the hostname', () => {
    expect(parseAllowedHosts(['[::1]', '[0:0:0:0:0:0:0:1]:8443', 'http://[::FFFF:127.0.0.1]:8080'])).toEqual([
      { hostname: '[::1]', wildcard: false, allowHttp: false },
      { hostname: '[::1]', wildcard: false, port: 8443, allowHttp: false },
      { hostname: '[::ffff:7f00:1]', wildcard: false, port: 8080, allowHttp: true },
    ]);
  });

  test.each(['*.[::1]', '*.[fd00:ec2::254]:443'])('a wildcard on %s is refused', (entry) => {
    expect(() => parseAllowedHosts([entry])).toThrow(/a wildcard cannot apply to an IP address/);
  });

  const policy = { allowedHosts: parseAllowedHosts(['[::1]:8443', 'http://[fd00::1]']) };
  test.each<[string, UrlRefusal | 'ok']>([
    ['https://[::1]:8443/x', 'ok'],
    ['https://[0::1]:8443/x', 'ok'],
    ['https://[0000:0000:0000:0000:0000:0000:0000:0001]:8443/x', 'ok'],
    ['http://[fd00::1]/x', 'ok'],
    ['http://[FD00:0::1]/x', 'ok'],
    ['https://[::1]/x', 'port_not_allowed'],
    ['http://[::1]:8443/x', 'insecure_scheme'],
    ['https://[::2]:8443/x', 'host_not_allowed'],
    ['https://[::ffff:0:1]:8443/x', 'host_not_allowed'],
    ['https://::1:8443/x', 'invalid_url'],
    ['https://[::1:8443/x', 'invalid_url'],
    ['https://[::1%25eth0]:8443/x', 'invalid_url'],
  ])('%s -> %s', (url, expected) => {
    const result = checkUrl(url, policy);
    expect(result.ok ? 'ok' : result.reason).toBe(expected);
  });
});

test('the construct can import the allow-list without the fetcher or any package', async () => {
  const root = join(__dirname, '..', '..', '..');
  const { metafile } = await build({
    entryPoints: [join(root, 'lambda', 'shared', 'allowed-hosts.ts')],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  expect(Object.keys(metafile.inputs)).toEqual(['lambda/shared/allowed-hosts.ts']);
});

/**
 * The allow-list's edges the main suite left undecided (found by mutation testing,
 * docs/mutation.md): why an entry is refused, the port range's ends, an http entry beside an
 * https one for the same host, and look-alike subdomains.
 */
describe('edges', () => {
  const refusal = (entry: string): string => {
    try {
      parseAllowedHosts([entry]);
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error(`${entry} was accepted`);
  };

  test.each([
    ['files.example/x', 'expected [http://]host[:port] or [http://]*.domain[:port], with no path, query or userinfo'],
    ['[1:2:3]', 'not a valid host name'],
    ['a..example', 'empty label (leading, trailing or double dot)'],
    ['*.[::1]', 'a wildcard cannot apply to an IP address'],
    ['*.example', 'a wildcard needs a domain of at least two labels'],
    ['files.example:0', 'port out of range'],
    ['files.example:65536', 'port out of range'],
  ])('%s is refused: %s', (entry, why) => {
    expect(refusal(entry)).toBe(`Malformed allowed host '${entry}': ${why}`);
  });

  test('the highest port is a port', () => {
    expect(parseAllowedHosts(['files.example:65535', 'files.example:1'])).toEqual([
      { hostname: 'files.example', wildcard: false, port: 65535, allowHttp: false },
      { hostname: 'files.example', wildcard: false, port: 1, allowHttp: false },
    ]);
  });

  test('one entry allowing http is enough, beside another for the same host and port that does not', () => {
    const policy = { allowedHosts: parseAllowedHosts(['files.example:8080', 'http://files.example:8080']) };
    expect(checkUrl('http://files.example:8080/a.png', policy).ok).toBe(true);
    expect(checkUrl('https://files.example:8080/a.png', policy).ok).toBe(true);
  });

  test('a wildcard matches by whole labels of the part before its domain', () => {
    const [entry] = parseAllowedHosts(['*.replicate.delivery']);
    expect(hostMatches(entry, 'cdn.replicate.delivery')).toBe(true);
    expect(hostMatches(entry, 'a.b-c_d.replicate.delivery')).toBe(true);
    // Long enough that only the part before `.replicate.delivery` can decide it.
    expect(hostMatches(entry, `${'a'.repeat(30)}..replicate.delivery`)).toBe(false);
    expect(hostMatches(entry, `${'a'.repeat(30)}.b!.replicate.delivery`)).toBe(false);
    expect(hostMatches(entry, '.replicate.delivery')).toBe(false);
  });
});
