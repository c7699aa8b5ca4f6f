/**
 * The allow-list's edges the main suite left undecided (found by mutation testing,
 * docs/mutation.md): why an entry is refused, the port range's ends, an http entry beside an
 * https one for the same host, and look-alike subdomains.
 */
import { checkUrl, hostMatches, parseAllowedHosts } from '../lambda/shared/allowed-hosts';

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
  expect(hostMatches(entry!, 'cdn.replicate.delivery')).toBe(true);
  expect(hostMatches(entry!, 'a.b-c_d.replicate.delivery')).toBe(true);
  // Long enough that only the part before `.replicate.delivery` can decide it.
  expect(hostMatches(entry!, `${'a'.repeat(30)}..replicate.delivery`)).toBe(false);
  expect(hostMatches(entry!, `${'a'.repeat(30)}.b!.replicate.delivery`)).toBe(false);
  expect(hostMatches(entry!, '.replicate.delivery')).toBe(false);
});
