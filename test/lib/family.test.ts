// Family keys (lib/family.ts) and prefix keys (lib/prefix.ts): one number per AFI/SAFI and one Map key
// per prefix, and their decodings back.
import test from 'ava';
import {
  Afi,
  familyAfi,
  familyKey,
  familyKeyName,
  familySafi,
  IPV6_UNICAST,
  Safi,
} from '../../src/lib/family.ts';
import { parsePrefix, prefixKey, wordsKey } from '../../src/lib/prefix.ts';

test('a family key decodes to its AFI, SAFI and name', (t) => {
  const key = familyKey(Afi.Ipv6, Safi.Multicast);
  t.is(familyAfi(key), Afi.Ipv6);
  t.is(familySafi(key), Safi.Multicast);
  t.is(familyKeyName(IPV6_UNICAST), 'ipv6-unicast');
  t.is(familyKeyName(familyKey(25, 70)), 'afi25-safi70');
  t.is(familyAfi(familyKey(0xffff, 0xff)), 0xffff);
});

test('prefix keys: IPv4 a number, IPv6 a string; the words give the same key', (t) => {
  const v4 = parsePrefix('10.9.0.0/24')!;
  t.is(prefixKey(v4), 24 * 2 ** 32 + 0x0a090000);
  t.not(prefixKey(v4), prefixKey(parsePrefix('10.9.0.0/25')!));
  t.is(prefixKey(parsePrefix('255.255.255.255/32')!), 32 * 2 ** 32 + 0xffffffff);
  const v6 = parsePrefix('2001:db8::/32')!;
  t.is(prefixKey(v6), `${0x20010db8}:0:0:0/32`);
  t.is(wordsKey(false, 32, 0x20010db8 | 0, 0, 0, 0), prefixKey(v6), 'signed words give the same key');
});
