// AS_PATH / AS4_PATH segments (RFC 4271 §4.3 b, RFC 5065 §3, RFC 6793): golden bytes both ways, the
// RFC 6793 §4.2.3 reconstruction and §4.2.2 AS4_PATH rule, and every malformed-segment case of RFC 7606
// §7.2 (plus RFC 7607 AS 0).
import test from 'ava';

import {
  applyAs4Attributes,
  as4PathToSend,
  asPathLength,
  asPathValueLength,
  decodeAsPath,
  reconstructAsPath,
  writeAsPathValue,
} from '../../../src/bgp/codec/as-path.ts';
import type { AsnSize } from '../../../src/bgp/codec/as-path.ts';
import { AS_TRANS, AsPathSegmentType } from '../../../src/bgp/constants.ts';
import type { AsPathSegment } from '../../../src/bgp/types.ts';
import { ByteWriter } from '../../../src/lib/byte-writer.ts';

const { AsSet, AsSequence, AsConfedSequence, AsConfedSet } = AsPathSegmentType;

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
}

function encode(segments: readonly AsPathSegment[], asnSize: AsnSize): string {
  const w = new ByteWriter(8);
  writeAsPathValue(w, segments, asnSize);
  return w.toBuffer().toString('hex');
}

function decode(hex: string, asnSize: AsnSize): AsPathSegment[] | string {
  const b = bytes(hex);
  return decodeAsPath(b, 0, b.length, asnSize);
}

const seq = (...asns: number[]): AsPathSegment => ({ type: AsSequence, asns });
const set = (...asns: number[]): AsPathSegment => ({ type: AsSet, asns });
const confedSeq = (...asns: number[]): AsPathSegment => ({ type: AsConfedSequence, asns });
const confedSet = (...asns: number[]): AsPathSegment => ({ type: AsConfedSet, asns });

// 4200000000 = 0xfa56ea00, a non-mappable (private, RFC 6996) 4-octet AS; AS_TRANS 23456 = 0x5ba0.
const BIG = 4200000000;
const BIG2 = 4200000001;

interface Golden {
  readonly name: string;
  readonly asnSize: AsnSize;
  /** The AS_PATH attribute value: segment type, segment length (in ASes), AS numbers. */
  readonly hex: string;
  readonly segments: readonly AsPathSegment[];
}

const GOLDEN: readonly Golden[] = [
  { name: 'empty path (iBGP-originated, RFC 4271 §5.1.2)', asnSize: 4, hex: '', segments: [] },
  {
    name: 'AS_SEQUENCE of 3, 4-octet',
    asnSize: 4,
    // type 2 (AS_SEQUENCE), length 3, 64512, 65000, 4200000000
    hex: '02 03 0000fc00 0000fde8 fa56ea00',
    segments: [seq(64512, 65000, BIG)],
  },
  {
    name: 'AS_SEQUENCE of 2, 2-octet',
    asnSize: 2,
    hex: '02 02 fc00 fde8',
    segments: [seq(64512, 65000)],
  },
  {
    name: 'AS_SEQUENCE then AS_SET, 4-octet',
    asnSize: 4,
    // type 2 length 1: 65001 | type 1 (AS_SET) length 2: 65002, 65003
    hex: '02 01 0000fde9  01 02 0000fdea 0000fdeb',
    segments: [seq(65001), set(65002, 65003)],
  },
  {
    name: 'confederation segments (RFC 5065 §3), 2-octet',
    asnSize: 2,
    // type 3 (AS_CONFED_SEQUENCE) length 2: 65100, 65101 | type 4 (AS_CONFED_SET) length 1: 65102 |
    // type 2 length 1: 65001
    hex: '03 02 fe4c fe4d  04 01 fe4e  02 01 fde9',
    segments: [confedSeq(65100, 65101), confedSet(65102), seq(65001)],
  },
];

for (const golden of GOLDEN) {
  test(`golden: ${golden.name}`, (t) => {
    t.deepEqual(decode(golden.hex, golden.asnSize), golden.segments);
    t.is(encode(golden.segments, golden.asnSize), golden.hex.replace(/\s+/g, ''));
    t.is(asPathValueLength(golden.segments, golden.asnSize), golden.hex.replace(/\s+/g, '').length / 2);
  });
}

test('a 2-octet encoding replaces every non-mappable AS with AS_TRANS (RFC 6793 §4.2.2)', (t) => {
  // type 2 length 3: 65001, AS_TRANS, AS_TRANS (65535 is mappable and stays)
  t.is(encode([seq(65001, BIG, BIG2), set(65535)], 2), '0203fde95ba05ba0' + '0101ffff');
  t.is(AS_TRANS, 0x5ba0);
});

test('segments longer than 255 AS numbers are split on encode', (t) => {
  const asns = Array.from({ length: 300 }, (_, i) => 65000 + i);
  const hex = encode([seq(...asns)], 4);
  // 02 ff + 255 × 4 octets, then 02 2d (45) + 45 × 4 octets
  t.is(hex.length / 2, 2 + 255 * 4 + 2 + 45 * 4);
  t.is(hex.slice(0, 4), '02ff');
  t.is(hex.slice((2 + 255 * 4) * 2, (2 + 255 * 4) * 2 + 4), '022d');
  t.is(asPathValueLength([seq(...asns)], 4), hex.length / 2);
  t.deepEqual(decode(hex, 4), [seq(...asns.slice(0, 255)), seq(...asns.slice(255))]);
  // exactly 255 stays one segment
  t.is(encode([seq(...asns.slice(0, 255))], 2).slice(0, 4), '02ff');
});

test('empty segments are not written (a zero-length segment is malformed, RFC 7606 §7.2)', (t) => {
  t.is(encode([seq(), seq(65001)], 4), '02010000fde9');
  t.is(asPathValueLength([seq(), seq(65001)], 4), 6);
});

const MALFORMED: readonly { name: string; hex: string; asnSize: AsnSize }[] = [
  { name: 'segment type 0', hex: '00 01 0000fde8', asnSize: 4 },
  { name: 'segment type 5', hex: '05 01 0000fde8', asnSize: 4 },
  { name: 'zero-length segment', hex: '02 00', asnSize: 4 },
  { name: 'zero-length segment after a good one', hex: '02 01 fde8 01 00', asnSize: 2 },
  { name: 'overrun: segment of 2 in 4 octets (4-octet)', hex: '02 02 0000fde8', asnSize: 4 },
  { name: 'overrun: 2-octet bytes read as 4-octet', hex: '02 02 fde8 fde9', asnSize: 4 },
  { name: 'underrun: a single octet after the last segment', hex: '02 01 0000fde8 02', asnSize: 4 },
  { name: 'AS 0 (RFC 7607 §2)', hex: '02 02 0000fde8 00000000', asnSize: 4 },
  { name: 'AS 0, 2-octet (RFC 7607 §2)', hex: '02 01 0000', asnSize: 2 },
];

for (const bad of MALFORMED) {
  test(`malformed (RFC 7606 §7.2): ${bad.name}`, (t) => {
    t.is(typeof decode(bad.hex, bad.asnSize), 'string');
  });
}

test('path length: AS_SET counts 1, confederation segments 0 (RFC 4271 §9.1.2.2, RFC 5065 §5.3)', (t) => {
  t.is(asPathLength([]), 0);
  t.is(asPathLength([confedSeq(65100, 65101), confedSet(1, 2), seq(1, 2, 3), set(4, 5, 6)]), 4);
});

// RFC 6793 §4.2.3 reconstruction. AS_PATH as received from a 2-octet speaker (AS_TRANS where a 4-octet
// AS was), AS4_PATH as carried through it.
const RECONSTRUCT: readonly {
  name: string;
  asPath: AsPathSegment[];
  as4Path: AsPathSegment[];
  expected: AsPathSegment[];
}[] = [
  {
    name: 'equal counts: AS4_PATH is the path',
    asPath: [seq(AS_TRANS, AS_TRANS)],
    as4Path: [seq(BIG, BIG2)],
    expected: [seq(BIG, BIG2)],
  },
  {
    name: 'AS4_PATH shorter: the leading AS_PATH numbers are prepended (and the sequences joined)',
    asPath: [seq(65001, 65002, AS_TRANS, 65003)],
    as4Path: [seq(BIG, 65003)],
    expected: [seq(65001, 65002, BIG, 65003)],
  },
  {
    name: 'AS4_PATH longer: it is ignored and AS_PATH is the path',
    asPath: [seq(65001)],
    as4Path: [seq(BIG, 65003)],
    expected: [seq(65001)],
  },
  {
    name: 'AS_SET in AS4_PATH counts 1',
    asPath: [seq(65001), set(AS_TRANS, 65003)],
    as4Path: [set(BIG, 65003)],
    expected: [seq(65001), set(BIG, 65003)],
  },
  {
    name: 'a leading AS_SET in AS_PATH is prepended whole (it counts 1)',
    asPath: [set(65010, 65011), seq(AS_TRANS)],
    as4Path: [seq(BIG)],
    expected: [set(65010, 65011), seq(BIG)],
  },
  {
    name: 'AS_SET-only AS4_PATH longer than AS_PATH is ignored',
    asPath: [set(65010, 65011)],
    as4Path: [seq(BIG), set(BIG2)],
    expected: [set(65010, 65011)],
  },
  {
    name: 'a leading confederation segment is prepended (counts 0)',
    asPath: [confedSeq(65100), seq(65001, AS_TRANS)],
    as4Path: [seq(BIG)],
    expected: [confedSeq(65100), seq(65001, BIG)],
  },
  {
    name: 'a leading confederation segment is prepended even when nothing else is',
    asPath: [confedSeq(65100), seq(AS_TRANS)],
    as4Path: [seq(BIG)],
    expected: [confedSeq(65100), seq(BIG)],
  },
  {
    name: 'a confederation segment adjacent to a prepended segment is prepended',
    asPath: [seq(65001), confedSet(65101), seq(AS_TRANS)],
    as4Path: [seq(BIG)],
    expected: [seq(65001), confedSet(65101), seq(BIG)],
  },
  {
    name: 'empty AS4_PATH prepends all of AS_PATH',
    asPath: [seq(65001, 65002)],
    as4Path: [],
    expected: [seq(65001, 65002)],
  },
];

for (const c of RECONSTRUCT) {
  test(`RFC 6793 §4.2.3: ${c.name}`, (t) => {
    t.deepEqual(reconstructAsPath(c.asPath, c.as4Path), c.expected);
  });
}

test('RFC 6793 §4.2.3: AGGREGATOR with AS_TRANS is replaced by AS4_AGGREGATOR, the path merged', (t) => {
  const merged = applyAs4Attributes({
    asPath: [seq(65001, AS_TRANS)],
    aggregator: { asn: AS_TRANS, address: '192.0.2.1' },
    as4Path: [seq(BIG)],
    as4Aggregator: { asn: BIG, address: '192.0.2.9' },
  });
  t.deepEqual(merged, { asPath: [seq(65001, BIG)], aggregator: { asn: BIG, address: '192.0.2.9' } });
});

test('RFC 6793 §4.2.3: AGGREGATOR without AS_TRANS makes AS4_AGGREGATOR and AS4_PATH ignored', (t) => {
  const merged = applyAs4Attributes({
    asPath: [seq(65001, AS_TRANS)],
    aggregator: { asn: 65005, address: '192.0.2.1' },
    as4Path: [seq(BIG)],
    as4Aggregator: { asn: BIG, address: '192.0.2.9' },
  });
  t.deepEqual(merged, { asPath: [seq(65001, AS_TRANS)], aggregator: { asn: 65005, address: '192.0.2.1' } });
});

test('RFC 6793 §4.2.3: AS4_AGGREGATOR alone is ignored; AS4_PATH alone is merged', (t) => {
  t.deepEqual(
    applyAs4Attributes({ asPath: [seq(65001)], as4Aggregator: { asn: BIG, address: '192.0.2.9' } }),
    { asPath: [seq(65001)], aggregator: undefined },
  );
  t.deepEqual(applyAs4Attributes({ asPath: [seq(AS_TRANS)], as4Path: [seq(BIG)] }), {
    asPath: [seq(BIG)],
    aggregator: undefined,
  });
  t.deepEqual(applyAs4Attributes({ as4Path: [seq(BIG)] }), { asPath: undefined, aggregator: undefined });
});

test('RFC 6793 §4.2.2: AS4_PATH only when a non-mappable AS is in the path, without confed segments', (t) => {
  t.is(as4PathToSend([seq(65001, 65535), set(1, 2)]), undefined);
  t.deepEqual(as4PathToSend([confedSeq(65100), seq(65001, BIG)]), [seq(65001, BIG)]);
  // a non-mappable AS only in a confederation segment still calls for AS4_PATH ("all of the AS path
  // information" is not mappable) ...
  t.deepEqual(as4PathToSend([confedSeq(BIG), seq(65001)]), [seq(65001)]);
  // ... unless nothing is left once the confederation segments are out (§6: shorter than 6 octets)
  t.is(as4PathToSend([confedSeq(BIG)]), undefined);
});

test('2-octet path with AS_TRANS round-trips through AS_PATH + AS4_PATH', (t) => {
  const path = [confedSeq(65100), seq(65001, BIG, 65002), set(BIG2, 65003)];
  const asPath = decode(encode(path, 2), 2);
  const as4 = as4PathToSend(path);
  if (typeof asPath === 'string' || as4 === undefined) return t.fail();
  const as4Path = decode(encode(as4, 4), 4);
  if (typeof as4Path === 'string') return t.fail();
  t.deepEqual(asPath, [confedSeq(65100), seq(65001, AS_TRANS, 65002), set(AS_TRANS, 65003)]);
  t.deepEqual(reconstructAsPath(asPath, as4Path), path);
});
