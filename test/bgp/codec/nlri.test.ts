import test from 'ava';
import { decodePrefixes, prefixWireLength, writePrefix } from '../../../src/bgp/codec/nlri.ts';
import { Afi } from '../../../src/lib/family.ts';
import { formatPrefix, parsePrefix } from '../../../src/lib/prefix.ts';
import type { Nlri } from '../../../src/lib/prefix.ts';

function decode(hex: string, afi: Afi, addPath = false): Nlri[] | string {
  const bytes = Buffer.from(hex, 'hex');
  const out: Nlri[] = [];
  return decodePrefixes(bytes, 0, bytes.length, afi, addPath, out) ?? out;
}

function encode(prefixes: Nlri[], addPath = false): string {
  const size = prefixes.reduce((n, p) => n + prefixWireLength(p, addPath), 0);
  const out = Buffer.alloc(size);
  let pos = 0;
  for (const p of prefixes) pos = writePrefix(out, pos, p, addPath);
  return out.toString('hex');
}

const golden: [string, Afi, boolean, string[], number[]][] = [
  ['180a0001', Afi.Ipv4, false, ['10.0.1.0/24'], [0]],
  [
    '20c0000201' + '00' + '08' + '0a',
    Afi.Ipv4,
    false,
    ['192.0.2.1/32', '0.0.0.0/0', '10.0.0.0/8'],
    [0, 0, 0],
  ],
  ['1a0af40140', Afi.Ipv4, false, ['10.244.1.64/26'], [0]],
  ['00000007' + '180a0001' + '00000009' + '180a0001', Afi.Ipv4, true, ['10.0.1.0/24', '10.0.1.0/24'], [7, 9]],
  ['3020010db80001', Afi.Ipv6, false, ['2001:db8:1::/48'], [0]],
  ['4020010db800010002', Afi.Ipv6, false, ['2001:db8:1:2::/64'], [0]],
  ['8020010db8000000000000000000000001', Afi.Ipv6, false, ['2001:db8::1/128'], [0]],
  ['7a20010db80000000000000000000000c0', Afi.Ipv6, false, ['2001:db8::c0/122'], [0]],
  ['00000001' + '3020010db80001', Afi.Ipv6, true, ['2001:db8:1::/48'], [1]],
];

test('golden prefixes decode and encode both ways', (t) => {
  for (const [hex, afi, addPath, texts, pathIds] of golden) {
    const decoded = decode(hex, afi, addPath);
    if (typeof decoded === 'string') return t.fail(`${hex}: ${decoded}`);
    t.deepEqual(decoded.map(formatPrefix), texts, hex);
    t.deepEqual(
      decoded.map((p) => p.pathId),
      pathIds,
      hex,
    );
    t.is(encode(decoded, addPath), hex, hex);
    t.deepEqual(
      decoded,
      texts.map((s, i) => parsePrefix(s, pathIds[i])),
    );
  }
});

test('RFC 4271 §4.3: trailing bits beyond the length are irrelevant and cleared', (t) => {
  const decoded = decode('170a0001', Afi.Ipv4) as Nlri[];
  t.is(formatPrefix(decoded[0]), '10.0.0.0/23');
});

test('malformed prefix lists name the reason', (t) => {
  t.regex(decode('21c0000201ff', Afi.Ipv4) as string, /length 33 exceeds 32/);
  t.regex(decode('180a00', Afi.Ipv4) as string, /overruns/);
  t.regex(decode('81' + '00'.repeat(17), Afi.Ipv6) as string, /exceeds 128/);
  t.regex(decode('000000', Afi.Ipv4, true) as string, /path identifier/);
  t.regex(decode('00000001', Afi.Ipv4, true) as string, /path identifier/);
});

test('every IPv4 and IPv6 length round-trips', (t) => {
  for (let len = 0; len <= 128; len++) {
    const v6 = parsePrefix(`2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/${len}`) as Nlri;
    t.deepEqual(decode(encode([v6]), Afi.Ipv6), [v6]);
    if (len <= 32) {
      const v4 = parsePrefix(`255.255.255.255/${len}`) as Nlri;
      t.deepEqual(decode(encode([v4]), Afi.Ipv4), [v4]);
    }
  }
});
