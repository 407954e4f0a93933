import test from 'ava';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../../src/lib/address.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';

test('IPv4 text round-trips and rejects what is not a dotted quad', (t) => {
  for (const s of ['0.0.0.0', '10.244.1.0', '255.255.255.255', '192.0.2.1'])
    t.is(formatIpv4(parseIpv4(s)), s);
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', 'a.b.c.d', '1.2.3.4 ']) {
    t.is(parseIpv4(s), -1, s);
  }
});

test('IPv6 text is parsed in every RFC 4291 form and printed per RFC 5952', (t) => {
  const cases: [string, string][] = [
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
  ];
  for (const [input, canonical] of cases) {
    const bytes = parseIpv6(input);
    t.truthy(bytes, input);
    t.is(formatIpv6(bytes as Uint8Array), canonical, input);
  }
  for (const s of ['', ':', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::', '1:2:3:4:5:6:7']) {
    t.is(parseIpv6(s), undefined, s);
  }
});

test('prefixes parse with host bits cleared and reject bad lengths', (t) => {
  t.is(formatPrefix(parsePrefix('10.244.1.77/26')!), '10.244.1.64/26');
  t.is(formatPrefix(parsePrefix('2001:db8::ffff/64')!), '2001:db8::/64');
  for (const s of ['10.0.0.0', '10.0.0.0/33', '::/129', '10.0.0.0/-1', 'x/8', '10.0.0.0/08a']) {
    t.is(parsePrefix(s), undefined, s);
  }
});
