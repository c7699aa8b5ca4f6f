/**
 * Address classes at the edges the main suite left undecided (found by mutation testing,
 * docs/mutation.md): zone ids that ipaddr.js would not read, and brackets that do not pair.
 */
import { classifyAddress, ipLiteral, isBlockedAddress } from '../lambda/shared/address-policy';

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
