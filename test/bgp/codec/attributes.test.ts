// Path attributes: golden bytes written from the RFC layouts and checked both ways (decode deep-equals
// the object, encode gives the bytes), 2-octet and 4-octet sessions, MP_REACH/MP_UNREACH, ADD-PATH, the
// RFC 7606 malformed corpus (each case names its action or NOTIFICATION), and a cross-check against
// tshark's BGP dissector.
import test from 'ava';

import {
  decodePathAttributes,
  encodeMpReachNlri,
  encodeMpUnreachNlri,
  encodePathAttributes,
  mpNextHopBytes,
} from '../../../src/bgp/codec/attributes.ts';
import type { DecodedAttributes } from '../../../src/bgp/codec/attributes.ts';
import { AS_TRANS, AsPathSegmentType, ErrorCode, UpdateSubcode } from '../../../src/bgp/constants.ts';
import { BgpError, ErrorAction } from '../../../src/bgp/errors.ts';
import type { AttributeError } from '../../../src/bgp/errors.ts';
import type {
  AsPathSegment,
  CodecContext,
  MpReachNlri,
  MpUnreachNlri,
  PathAttributes,
} from '../../../src/bgp/types.ts';
import { formatIpv4 } from '../../../src/lib/address.ts';
import { ByteWriter } from '../../../src/lib/byte-writer.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../../src/lib/family.ts';
import { formatPrefix, parsePrefix } from '../../../src/lib/prefix.ts';
import type { Nlri } from '../../../src/lib/prefix.ts';
import { tsharkDecode, tsharkField } from '../../helpers/tshark.ts';
import type { TsharkBgpMessage } from '../../helpers/tshark.ts';

// ---------------------------------------------------------------------------------------------------
// Helpers

function context(overrides: Partial<CodecContext> = {}): CodecContext {
  return { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false, ...overrides };
}

/** iBGP, 4-octet AS. */
const IBGP = context();
/** iBGP with a 2-octet (OLD, RFC 6793) speaker. */
const IBGP_2 = context({ fourOctetAs: false });
/** eBGP, 4-octet AS. */
const EBGP = context({ external: true });
const ADD_PATH = context({ addPath: new Set([IPV4_UNICAST, IPV6_UNICAST]) });

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
}

function clean(hex: string): string {
  return hex.replace(/\s+/g, '').toLowerCase();
}

function decode(hex: string, ctx: CodecContext): DecodedAttributes {
  const b = bytes(hex);
  return decodePathAttributes(b, 0, b.length, ctx);
}

function encode(attrs: PathAttributes, ctx: CodecContext): string {
  const w = new ByteWriter(16);
  encodePathAttributes(w, attrs, ctx);
  return w.toBuffer().toString('hex');
}

function encodeReach(mp: MpReachNlri, ctx: CodecContext): string {
  const w = new ByteWriter(16);
  encodeMpReachNlri(w, mp, ctx);
  return w.toBuffer().toString('hex');
}

function encodeUnreach(mp: MpUnreachNlri, ctx: CodecContext): string {
  const w = new ByteWriter(16);
  encodeMpUnreachNlri(w, mp, ctx);
  return w.toBuffer().toString('hex');
}

function prefix(text: string, pathId = 0): Nlri {
  const parsed = parsePrefix(text, pathId);
  if (parsed === undefined) throw new Error(`bad prefix ${text}`);
  return parsed;
}

const seq = (...asns: number[]): AsPathSegment => ({ type: AsPathSegmentType.AsSequence, asns });
const set = (...asns: number[]): AsPathSegment => ({ type: AsPathSegmentType.AsSet, asns });
const confedSeq = (...asns: number[]): AsPathSegment => ({ type: AsPathSegmentType.AsConfedSequence, asns });

/** 4200000000 = 0xfa56ea00: a non-mappable 4-octet AS. AS_TRANS = 23456 = 0x5ba0. */
const BIG = 4200000000;

// ---------------------------------------------------------------------------------------------------
// Golden attributes, both ways

interface Golden {
  readonly name: string;
  readonly ctx: CodecContext;
  /** The Path Attributes field: flags, type code, length (1 octet, or 2 with Extended Length), value. */
  readonly hex: string;
  readonly attributes: PathAttributes;
}

const GOLDEN: readonly Golden[] = [
  // RFC 4271 §4.3 a: ORIGIN, well-known mandatory (flags 0x40), length 1.
  { name: 'ORIGIN IGP', ctx: IBGP, hex: '40 01 01 00', attributes: { origin: 0 } },
  { name: 'ORIGIN INCOMPLETE', ctx: IBGP, hex: '40 01 01 02', attributes: { origin: 2 } },
  // §4.3 b: AS_PATH, segments of type/length/ASNs; 4-octet ASNs when both sides have the capability.
  { name: 'AS_PATH empty', ctx: IBGP, hex: '40 02 00', attributes: { asPath: [] } },
  {
    name: 'AS_PATH, 4-octet: AS_SEQUENCE 64512 65000 4200000000',
    ctx: IBGP,
    hex: '40 02 0e  02 03 0000fc00 0000fde8 fa56ea00',
    attributes: { asPath: [seq(64512, 65000, BIG)] },
  },
  {
    name: 'AS_PATH, 2-octet: AS_SEQUENCE 64512 65000',
    ctx: IBGP_2,
    hex: '40 02 06  02 02 fc00 fde8',
    attributes: { asPath: [seq(64512, 65000)] },
  },
  {
    name: 'AS_PATH, 4-octet: AS_CONFED_SEQUENCE, AS_SEQUENCE, AS_SET',
    ctx: IBGP,
    // 03 01 65100 | 02 01 65001 | 01 02 65002 65003  → 6 + 6 + 10 = 22 octets
    hex: '40 02 16  03 01 0000fe4c  02 01 0000fde9  01 02 0000fdea 0000fdeb',
    attributes: { asPath: [confedSeq(65100), seq(65001), set(65002, 65003)] },
  },
  // §4.3 c: NEXT_HOP, well-known mandatory, 4 octets.
  { name: 'NEXT_HOP 192.0.2.1', ctx: IBGP, hex: '40 03 04 c0000201', attributes: { nextHop: '192.0.2.1' } },
  // §4.3 d: MULTI_EXIT_DISC, optional non-transitive (0x80).
  { name: 'MULTI_EXIT_DISC 100', ctx: IBGP, hex: '80 04 04 00000064', attributes: { multiExitDisc: 100 } },
  {
    name: 'MULTI_EXIT_DISC 4294967295',
    ctx: IBGP,
    hex: '80 04 04 ffffffff',
    attributes: { multiExitDisc: 4294967295 },
  },
  // §4.3 e: LOCAL_PREF, well-known (0x40).
  { name: 'LOCAL_PREF 200', ctx: IBGP, hex: '40 05 04 000000c8', attributes: { localPref: 200 } },
  // §4.3 f: ATOMIC_AGGREGATE, well-known, length 0.
  { name: 'ATOMIC_AGGREGATE', ctx: IBGP, hex: '40 06 00', attributes: { atomicAggregate: true } },
  // §4.3 g: AGGREGATOR, optional transitive (0xc0): AS (2 octets, or 4 per RFC 6793 §4.1) + IPv4 address.
  {
    name: 'AGGREGATOR, 4-octet: 4200000000 192.0.2.1',
    ctx: IBGP,
    hex: 'c0 07 08 fa56ea00 c0000201',
    attributes: { aggregator: { asn: BIG, address: '192.0.2.1' } },
  },
  {
    name: 'AGGREGATOR, 2-octet: 65000 192.0.2.1',
    ctx: IBGP_2,
    hex: 'c0 07 06 fde8 c0000201',
    attributes: { aggregator: { asn: 65000, address: '192.0.2.1' } },
  },
  // RFC 1997: COMMUNITIES, optional transitive, 4 octets each (65000:100, NO_EXPORT).
  {
    name: 'COMMUNITIES 65000:100 NO_EXPORT',
    ctx: IBGP,
    hex: 'c0 08 08 fde80064 ffffff01',
    attributes: { communities: [0xfde80064, 0xffffff01] },
  },
  // RFC 4456 §8: ORIGINATOR_ID and CLUSTER_LIST, optional non-transitive.
  {
    name: 'ORIGINATOR_ID 192.0.2.5',
    ctx: IBGP,
    hex: '80 09 04 c0000205',
    attributes: { originatorId: 0xc0000205 },
  },
  {
    name: 'CLUSTER_LIST 10.0.0.1 10.0.0.2',
    ctx: IBGP,
    hex: '80 0a 08 0a000001 0a000002',
    attributes: { clusterList: [0x0a000001, 0x0a000002] },
  },
  // RFC 4360: EXTENDED_COMMUNITIES, optional transitive, 8 octets each: route target 65000:100
  // (type 0x00 two-octet AS specific, subtype 0x02) and an unknown type 0x8b (must not be an error).
  {
    name: 'EXTENDED_COMMUNITIES RT 65000:100 and an unknown type',
    ctx: IBGP,
    hex: 'c0 10 10 0002fde800000064 8b01020304050607',
    attributes: { extendedCommunities: [0x0002fde800000064n, 0x8b01020304050607n] },
  },
  // RFC 8092: LARGE_COMMUNITY (32), optional transitive, 12 octets each.
  {
    name: 'LARGE_COMMUNITY 65000:1:2 4200000000:4294967295:0',
    ctx: IBGP,
    hex: 'c0 20 18 0000fde8 00000001 00000002  fa56ea00 ffffffff 00000000',
    attributes: {
      largeCommunities: [
        { globalAdministrator: 65000, localData1: 1, localData2: 2 },
        { globalAdministrator: BIG, localData1: 4294967295, localData2: 0 },
      ],
    },
  },
  {
    name: 'a typical iBGP set in type-code order',
    ctx: IBGP,
    hex:
      '40 01 01 00' + // ORIGIN IGP
      ' 40 02 0e 02 03 0000fde9 0000fdea 0000fdeb' + // AS_PATH 65001 65002 65003
      ' 40 03 04 c0000201' + // NEXT_HOP 192.0.2.1
      ' 80 04 04 00000000' + // MED 0
      ' 40 05 04 00000064' + // LOCAL_PREF 100
      ' c0 08 08 fde90001 fde90002' + // COMMUNITIES 65001:1 65001:2
      ' c0 20 0c 0000fde9 00000001 00000001', // LARGE_COMMUNITY 65001:1:1
    attributes: {
      origin: 0,
      asPath: [seq(65001, 65002, 65003)],
      nextHop: '192.0.2.1',
      multiExitDisc: 0,
      localPref: 100,
      communities: [0xfde90001, 0xfde90002],
      largeCommunities: [{ globalAdministrator: 65001, localData1: 1, localData2: 1 }],
    },
  },
  {
    // RFC 6793 §4.2.2 (send) and §4.2.3 (receive): to a 2-octet speaker the non-mappable AS becomes
    // AS_TRANS in AS_PATH and AGGREGATOR, and AS4_PATH / AS4_AGGREGATOR carry the real values.
    name: '2-octet peer: AS_TRANS + AS4_PATH + AS4_AGGREGATOR',
    ctx: IBGP_2,
    hex:
      '40 02 06 02 02 fde9 5ba0' + // AS_PATH 65001 AS_TRANS
      ' c0 07 06 5ba0 c0000201' + // AGGREGATOR AS_TRANS 192.0.2.1
      ' c0 11 0a 02 02 0000fde9 fa56ea00' + // AS4_PATH (17) 65001 4200000000
      ' c0 12 08 fa56ea00 c0000201', // AS4_AGGREGATOR (18) 4200000000 192.0.2.1
    attributes: { asPath: [seq(65001, BIG)], aggregator: { asn: BIG, address: '192.0.2.1' } },
  },
  {
    // §4.2.2: all AS numbers mappable → no AS4_PATH ("MUST NOT send").
    name: '2-octet peer, mappable path and aggregator: no AS4_PATH, no AS4_AGGREGATOR',
    ctx: IBGP_2,
    hex: '40 02 06 02 02 fde9 ffff  c0 07 06 fde9 c0000201',
    attributes: { asPath: [seq(65001, 65535)], aggregator: { asn: 65001, address: '192.0.2.1' } },
  },
  {
    // AS4_PATH never carries confederation segments (§4.2.2); the confed segment stays in AS_PATH.
    name: '2-octet peer with a confederation segment in front',
    ctx: IBGP_2,
    hex:
      '40 02 0a 03 01 fe4c 02 02 fde9 5ba0' + // AS_PATH CONFED_SEQ 65100, SEQ 65001 AS_TRANS
      ' c0 11 0a 02 02 0000fde9 fa56ea00', // AS4_PATH SEQ 65001 4200000000
    attributes: { asPath: [confedSeq(65100), seq(65001, BIG)] },
  },
  {
    // Unrecognized optional transitive attribute (OTC, 35, unknown to Brindle), as passed along: the
    // Partial bit is set (0xe0). Decoding keeps the flags (Partial included), encoding keeps it set.
    name: 'unrecognized optional transitive, Partial already set',
    ctx: IBGP,
    hex: '40 01 01 00  e0 23 04 0000fde8',
    attributes: { origin: 0, unknown: [{ flags: 0xe0, typeCode: 35, value: bytes('0000fde8') }] },
  },
];

for (const golden of GOLDEN) {
  test(`golden decode: ${golden.name}`, (t) => {
    t.deepEqual(decode(golden.hex, golden.ctx), { attributes: golden.attributes, errors: [] });
  });
  test(`golden encode: ${golden.name}`, (t) => {
    t.is(encode(golden.attributes, golden.ctx), clean(golden.hex));
  });
}

test('Extended Length: used above 255 octets, accepted on any attribute', (t) => {
  const communities = Array.from({ length: 70 }, (_, i) => 0xfde80000 + i);
  const hex = encode({ communities }, IBGP);
  // 0xd0 = optional transitive + Extended Length; 70 × 4 = 280 = 0x0118
  t.is(hex.slice(0, 8), 'd0080118');
  t.is(hex.length / 2, 4 + 280);
  t.deepEqual(decode(hex, IBGP).attributes, { communities });
  // a short ORIGIN with the Extended Length bit (0x50) and a 2-octet length decodes the same
  t.deepEqual(decode('50 01 0001 02', IBGP), { attributes: { origin: 2 }, errors: [] });
  t.is(encode({ origin: 2 }, IBGP), '40010102');
});

test('unrecognized optional transitive: kept with its flags, re-encoded with the Partial bit', (t) => {
  // 0xd0: optional transitive with Extended Length; low bits 0x0f unused ("MUST be ignored")
  const decoded = decode('df 23 0004 0000fde8', IBGP);
  t.deepEqual(decoded, {
    attributes: { unknown: [{ flags: 0xc0, typeCode: 35, value: bytes('0000fde8') }] },
    errors: [],
  });
  t.is(encode(decoded.attributes, IBGP), clean('e0 23 04 0000fde8'));
});

test('unrecognized optional non-transitive: quietly ignored (RFC 4271 §5)', (t) => {
  t.deepEqual(decode('40 01 01 00  80 1a 0b 01000b0000000000000064', IBGP), {
    attributes: { origin: 0 },
    errors: [],
  });
});

test('unrecognized attributes are written in type-code order among the known ones', (t) => {
  const attrs: PathAttributes = {
    origin: 0,
    largeCommunities: [{ globalAdministrator: 1, localData1: 2, localData2: 3 }],
    unknown: [
      { flags: 0xc0, typeCode: 40, value: bytes('02') },
      { flags: 0xc0, typeCode: 22, value: bytes('01') },
      { flags: 0xc0, typeCode: 8, value: bytes('ffffffff') }, // a known type code is never written raw
    ],
  };
  t.is(
    encode(attrs, IBGP),
    clean('40 01 01 00  e0 16 01 01  c0 20 0c 00000001 00000002 00000003  e0 28 01 02'),
  );
});

test('empty lists are not written (a zero-length COMMUNITIES etc. is malformed)', (t) => {
  const attrs: PathAttributes = {
    communities: [],
    clusterList: [],
    extendedCommunities: [],
    largeCommunities: [],
    atomicAggregate: false,
  };
  t.is(encode(attrs, IBGP), '');
});

test('LARGE_COMMUNITY duplicates are removed on receipt and never sent (RFC 8092 §3)', (t) => {
  const one = { globalAdministrator: 65000, localData1: 1, localData2: 2 };
  const two = { globalAdministrator: 65000, localData1: 1, localData2: 3 };
  const decoded = decode(
    'c0 20 24 0000fde8 00000001 00000002  0000fde8 00000001 00000003  0000fde8 00000001 00000002',
    IBGP,
  );
  t.deepEqual(decoded, { attributes: { largeCommunities: [one, two] }, errors: [] });
  t.is(
    encode({ largeCommunities: [one, one, two] }, IBGP),
    clean('c0 20 18 0000fde8 00000001 00000002 0000fde8 00000001 00000003'),
  );
});

// ---------------------------------------------------------------------------------------------------
// RFC 6793 receive side from a 2-octet speaker

test('RFC 6793 §4.2.3: AS4_PATH shorter than AS_PATH, with AS_SET, merged', (t) => {
  const decoded = decode(
    '40 02 0e 02 02 fde9 fdea 01 03 5ba0 fdeb fdec' + // AS_PATH SEQ 65001 65002, SET AS_TRANS 65003 65004
      ' c0 11 0e 01 03 fa56ea00 0000fdeb 0000fdec', // AS4_PATH SET 4200000000 65003 65004
    IBGP_2,
  );
  t.deepEqual(decoded, { attributes: { asPath: [seq(65001, 65002), set(BIG, 65003, 65004)] }, errors: [] });
});

test('RFC 6793 §4.2.3: AS4_PATH longer than AS_PATH is ignored', (t) => {
  const decoded = decode(
    '40 02 04 02 01 5ba0' + // AS_PATH SEQ AS_TRANS
      ' c0 11 0a 02 02 fa56ea00 0000fde9', // AS4_PATH SEQ 4200000000 65001
    IBGP_2,
  );
  t.deepEqual(decoded, { attributes: { asPath: [seq(AS_TRANS)] }, errors: [] });
});

test('RFC 6793 §4.2.3: AGGREGATOR without AS_TRANS: AS4_AGGREGATOR and AS4_PATH ignored', (t) => {
  const decoded = decode(
    '40 02 06 02 02 fde9 5ba0' + // AS_PATH 65001 AS_TRANS
      ' c0 07 06 fdea c0000201' + // AGGREGATOR 65002
      ' c0 11 0a 02 02 0000fde9 fa56ea00' +
      ' c0 12 08 fa56ea00 c0000209',
    IBGP_2,
  );
  t.deepEqual(decoded, {
    attributes: { asPath: [seq(65001, AS_TRANS)], aggregator: { asn: 65002, address: '192.0.2.1' } },
    errors: [],
  });
});

test('RFC 6793 §6: confederation segments in AS4_PATH are removed and logged; the rest is used', (t) => {
  const decoded = decode(
    '40 02 06 02 02 fde9 5ba0' + // AS_PATH 65001 AS_TRANS
      ' c0 11 10 03 01 0000fe4c 02 02 0000fde9 fa56ea00', // AS4_PATH CONFED_SEQ 65100, SEQ 65001 BIG
    IBGP_2,
  );
  t.deepEqual(decoded.attributes, { asPath: [seq(65001, BIG)] });
  t.like(decoded.errors, [
    { action: ErrorAction.AttributeDiscard, typeCode: 17, subcode: UpdateSubcode.OptionalAttributeError },
  ]);
});

test('RFC 6793 §4.1: AS4_PATH and AS4_AGGREGATOR from a 4-octet speaker are discarded and logged', (t) => {
  const decoded = decode(
    '40 02 06 02 01 0000fde9  c0 11 06 02 01 fa56ea00  c0 12 08 fa56ea00 c0000201',
    IBGP,
  );
  t.deepEqual(decoded.attributes, { asPath: [seq(65001)] });
  t.deepEqual(
    decoded.errors.map((e) => [e.action, e.typeCode, e.subcode]),
    [
      [ErrorAction.AttributeDiscard, 17, 0],
      [ErrorAction.AttributeDiscard, 18, 0],
    ],
  );
});

// ---------------------------------------------------------------------------------------------------
// MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §3, §4), both ways. Encoding always sets Extended Length.

interface GoldenMp {
  readonly name: string;
  readonly ctx: CodecContext;
  readonly hex: string;
  readonly mpReach?: MpReachNlri;
  readonly mpUnreach?: MpUnreachNlri;
}

const GOLDEN_MP: readonly GoldenMp[] = [
  {
    name: 'MP_REACH IPv4 unicast, next hop 192.0.2.1, 10.0.0.0/24 10.1.0.0/16',
    ctx: IBGP,
    // 0x90 optional + Extended Length, type 14, length 16: AFI 1, SAFI 1, next-hop length 4, next hop,
    // Reserved 0, NLRI (length, prefix octets)
    hex: '90 0e 0010  0001 01 04 c0000201 00  18 0a0000  10 0a01',
    mpReach: {
      afi: 1,
      safi: 1,
      nextHop: '192.0.2.1',
      nlri: [prefix('10.0.0.0/24'), prefix('10.1.0.0/16')],
    },
  },
  {
    name: 'MP_REACH IPv6 unicast, 16-octet next hop, 2001:db8:1::/48 and ::/0',
    ctx: IBGP,
    // length 3 + 1 + 16 + 1 + 7 + 1 = 29
    hex: '90 0e 001d  0002 01 10 20010db8000000000000000000000001 00  30 20010db80001  00',
    mpReach: {
      afi: 2,
      safi: 1,
      nextHop: '2001:db8::1',
      nlri: [prefix('2001:db8:1::/48'), prefix('::/0')],
    },
  },
  {
    name: 'MP_REACH IPv6 unicast, 32-octet next hop with link-local (RFC 2545 §3)',
    ctx: IBGP,
    // length 3 + 1 + 32 + 1 + 17 = 54
    hex:
      '90 0e 0036  0002 01 20 20010db8000000000000000000000001 fe80000000000000021122fffe334455 00' +
      '  80 20010db8000000010000000000000000',
    mpReach: {
      afi: 2,
      safi: 1,
      nextHop: '2001:db8::1',
      linkLocalNextHop: 'fe80::211:22ff:fe33:4455',
      nlri: [prefix('2001:db8:0:1::/128')],
    },
  },
  {
    name: 'MP_REACH IPv4 with ADD-PATH path ids (RFC 7911 §3)',
    ctx: ADD_PATH,
    hex: '90 0e 0019  0001 01 04 c0000201 00  00000001 18 0a0000  00000002 18 0a0000',
    mpReach: {
      afi: 1,
      safi: 1,
      nextHop: '192.0.2.1',
      nlri: [prefix('10.0.0.0/24', 1), prefix('10.0.0.0/24', 2)],
    },
  },
  {
    name: 'MP_REACH IPv6 with ADD-PATH path ids',
    ctx: ADD_PATH,
    hex: '90 0e 0020  0002 01 10 20010db8000000000000000000000001 00  0000000a 30 20010db80001',
    mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::1', nlri: [prefix('2001:db8:1::/48', 10)] },
  },
  {
    name: 'MP_UNREACH IPv6, 2001:db8:1::/48',
    ctx: IBGP,
    hex: '90 0f 000a  0002 01  30 20010db80001',
    mpUnreach: { afi: 2, safi: 1, withdrawn: [prefix('2001:db8:1::/48')] },
  },
  {
    name: 'MP_UNREACH IPv6 End-of-RIB (RFC 4724 §2)',
    ctx: IBGP,
    hex: '90 0f 0003  0002 01',
    mpUnreach: { afi: 2, safi: 1, withdrawn: [] },
  },
  {
    name: 'MP_UNREACH IPv4 with ADD-PATH',
    ctx: ADD_PATH,
    hex: '90 0f 000b  0001 01  00000007 18 c63364',
    mpUnreach: { afi: 1, safi: 1, withdrawn: [prefix('198.51.100.0/24', 7)] },
  },
];

for (const golden of GOLDEN_MP) {
  test(`golden MP: ${golden.name}`, (t) => {
    const expected: DecodedAttributes = { attributes: {}, errors: [] };
    if (golden.mpReach) expected.mpReach = golden.mpReach;
    if (golden.mpUnreach) expected.mpUnreach = golden.mpUnreach;
    t.deepEqual(decode(golden.hex, golden.ctx), expected);
    if (golden.mpReach) t.is(encodeReach(golden.mpReach, golden.ctx), clean(golden.hex));
    if (golden.mpUnreach) t.is(encodeUnreach(golden.mpUnreach, golden.ctx), clean(golden.hex));
  });
}

test('MP_REACH with a 1-octet length and with the link-local half all zero', (t) => {
  // 0x80: no Extended Length; 32-octet next hop whose second half is zero (padding, no link-local)
  const decoded = decode(
    '80 0e 2c  0002 01 20 20010db8000000000000000000000001 00000000000000000000000000000000 00  30 20010db80001',
    IBGP,
  );
  t.deepEqual(decoded.mpReach, {
    afi: 2,
    safi: 1,
    nextHop: '2001:db8::1',
    nlri: [prefix('2001:db8:1::/48')],
  });
  t.deepEqual(decoded.errors, []);
});

test('MP_REACH of a family Brindle does not route is ignored, not an error', (t) => {
  // AFI 1 SAFI 128 (VPNv4): skipped whole, even its odd contents
  t.deepEqual(decode('90 0e 0006 0001 80 0c 00 00  40 01 01 00', IBGP), {
    attributes: { origin: 0 },
    errors: [],
  });
  t.deepEqual(decode('90 0f 0004 0019 46 ff', IBGP), { attributes: {}, errors: [] });
});

test('MP_REACH and MP_UNREACH together with the other attributes', (t) => {
  const decoded = decode(
    '90 0f 0003 0001 01' + // MP_UNREACH IPv4 End-of-RIB... and
      ' 40 01 01 00  40 02 00' +
      ' 90 0e 001d 0002 01 10 20010db8000000000000000000000001 00 30 20010db80001 00',
    IBGP,
  );
  t.deepEqual(decoded.attributes, { origin: 0, asPath: [] });
  t.is(decoded.mpReach?.nlri.length, 2);
  t.deepEqual(decoded.mpUnreach, { afi: 1, safi: 1, withdrawn: [] });
});

test('mpNextHopBytes: 4, 16 or 32 octets', (t) => {
  t.is(Buffer.from(mpNextHopBytes(1, '192.0.2.1')).toString('hex'), 'c0000201');
  t.is(Buffer.from(mpNextHopBytes(2, '2001:db8::1')).toString('hex'), '20010db8000000000000000000000001');
  t.is(
    Buffer.from(mpNextHopBytes(2, '2001:db8::1', 'fe80::1')).toString('hex'),
    '20010db8000000000000000000000001fe800000000000000000000000000001',
  );
  t.throws(() => mpNextHopBytes(1, '2001:db8::1'), { instanceOf: RangeError });
  t.throws(() => mpNextHopBytes(1, '192.0.2.1', 'fe80::1'), { instanceOf: RangeError });
  t.throws(() => mpNextHopBytes(2, '192.0.2.1'), { instanceOf: RangeError });
  t.throws(() => mpNextHopBytes(25, '192.0.2.1'), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------------
// The malformed corpus: every RFC 7606 rule, with the action (or NOTIFICATION) it calls for.

type Expect =
  | { action: ErrorAction; typeCode: number; subcode: number; afi?: number; safi?: number }
  | { sessionReset: { code: number; subcode: number; data?: string } };

interface Malformed {
  readonly name: string;
  readonly hex: string;
  readonly ctx: CodecContext;
  readonly expect: Expect;
}

const { AttributeDiscard: DISCARD, TreatAsWithdraw: WITHDRAW, AfiSafiDisable: DISABLE } = ErrorAction;
const S = UpdateSubcode;
const ORIGIN_OK = '40 01 01 00';
const MP6_HEAD = '0002 01 10 20010db8000000000000000000000001 00';

const CORPUS: readonly Malformed[] = [
  // RFC 7606 §3 (c): Optional/Transitive bits in conflict with the attribute's definition. The default
  // is treat-as-withdraw; attributes whose own rules say otherwise keep their own action.
  {
    name: '§3c ORIGIN marked optional',
    hex: 'c0 01 01 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 1, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c AS_PATH not transitive',
    hex: '00 02 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c NEXT_HOP marked optional',
    hex: '80 03 04 c0000201',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c MED marked well-known',
    hex: '40 04 04 00000000',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 4, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c LOCAL_PREF marked optional',
    hex: 'c0 05 04 00000064',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 5, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c COMMUNITIES not transitive',
    hex: '80 08 04 fde80064',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 8, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c LARGE_COMMUNITY marked well-known',
    hex: '40 20 0c 000000010000000200000003',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 32, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c + §3f ATOMIC_AGGREGATE marked optional → discard',
    hex: 'c0 06 00',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 6, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c + §3f AGGREGATOR marked well-known → discard',
    hex: '40 07 08 0000fde8 c0000201',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 7, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c + RFC 6793 §6 AS4_PATH not transitive → discard',
    hex: '80 11 06 02 01 fa56ea00',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 17, subcode: S.AttributeFlagsError },
  },
  {
    name: '§3c + §5.3 MP_REACH marked transitive → AFI/SAFI disable',
    hex: `d0 0e 001c ${MP6_HEAD} 30 20010db80001`,
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.AttributeFlagsError, afi: 2, safi: 1 },
  },
  {
    name: '§3c + §5.3 MP_UNREACH marked well-known → AFI/SAFI disable',
    hex: '40 0f 03 0001 01',
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 15, subcode: S.AttributeFlagsError, afi: 1, safi: 1 },
  },

  // §3 (g): MP attributes twice → session reset, Malformed Attribute List; others → keep the first.
  {
    name: '§3g MP_REACH twice',
    hex: '90 0e 0009 0001 01 04 c0000201 00  90 0e 0009 0001 01 04 c0000201 00',
    ctx: IBGP,
    expect: { sessionReset: { code: ErrorCode.UpdateMessage, subcode: S.MalformedAttributeList, data: '' } },
  },
  {
    name: '§3g MP_UNREACH twice',
    hex: '90 0f 0003 0002 01  90 0f 0003 0001 01',
    ctx: IBGP,
    expect: { sessionReset: { code: ErrorCode.UpdateMessage, subcode: S.MalformedAttributeList, data: '' } },
  },
  {
    name: '§3g MP_REACH twice, unsupported family',
    hex: '80 0e 03 0001 80  80 0e 03 0001 80',
    ctx: IBGP,
    expect: { sessionReset: { code: ErrorCode.UpdateMessage, subcode: S.MalformedAttributeList } },
  },
  {
    name: '§3g ORIGIN twice → discard the second',
    hex: '40 01 01 00  40 01 01 02',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 1, subcode: S.MalformedAttributeList },
  },
  {
    name: '§3g unrecognized attribute twice → discard the second',
    hex: 'c0 23 04 00000001  c0 23 04 00000002',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 35, subcode: S.MalformedAttributeList },
  },

  // §4: attribute lengths in conflict with the Total Path Attribute Length → treat-as-withdraw (the
  // caller finds the NLRI from the total length), unless an MP attribute is the one cut short.
  {
    name: '§4 attribute length runs past the field',
    hex: `${ORIGIN_OK} 40 05 04 0000`,
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 5, subcode: S.AttributeLengthError },
  },
  {
    name: '§4 fewer than 3 octets left for a header',
    hex: `${ORIGIN_OK} 40 03`,
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.AttributeLengthError },
  },
  {
    name: '§4 a single octet left',
    hex: `${ORIGIN_OK} 40`,
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 0, subcode: S.AttributeLengthError },
  },
  {
    name: '§4 Extended Length with fewer than 4 octets',
    hex: `${ORIGIN_OK} 50 02 00`,
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.AttributeLengthError },
  },
  {
    name: '§4 + §3j MP_REACH cut short, AFI/SAFI readable → AFI/SAFI disable',
    hex: `90 0e 0040 ${MP6_HEAD}`,
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.AttributeLengthError, afi: 2, safi: 1 },
  },
  {
    name: '§4 + §3j MP_UNREACH cut short before its AFI/SAFI → session reset',
    hex: '90 0f 0010 0002',
    ctx: IBGP,
    expect: {
      sessionReset: { code: ErrorCode.UpdateMessage, subcode: S.AttributeLengthError, data: '900f00100002' },
    },
  },
  {
    name: '§4 MP_REACH of an unsupported family cut short → treat-as-withdraw',
    hex: '90 0e 0040 0001 80 0c',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 14, subcode: S.AttributeLengthError },
  },

  // RFC 4271 §6.3: an unrecognized well-known attribute stays a session reset (RFC 7606 relaxes only
  // the attributes it names), with the attribute as data.
  {
    name: 'unrecognized well-known attribute',
    hex: `${ORIGIN_OK} 40 63 01 07`,
    ctx: IBGP,
    expect: {
      sessionReset: {
        code: ErrorCode.UpdateMessage,
        subcode: S.UnrecognizedWellKnownAttribute,
        data: '40630107',
      },
    },
  },

  // §7.1 ORIGIN
  {
    name: '§7.1 ORIGIN length 2',
    hex: '40 01 02 0000',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 1, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.1 ORIGIN length 0 (§4: zero length only for AS_PATH, ATOMIC_AGGREGATE)',
    hex: '40 01 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 1, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.1 ORIGIN undefined value 3',
    hex: '40 01 01 03',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 1, subcode: S.InvalidOriginAttribute },
  },

  // §7.2 AS_PATH
  {
    name: '§7.2 AS_PATH unrecognized segment type',
    hex: '40 02 06 05 01 0000fde8',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.MalformedAsPath },
  },
  {
    name: '§7.2 AS_PATH zero-length segment',
    hex: '40 02 02 02 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.MalformedAsPath },
  },
  {
    name: '§7.2 AS_PATH segment overrun',
    hex: '40 02 06 02 02 0000fde8',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.MalformedAsPath },
  },
  {
    name: '§7.2 AS_PATH underrun (1 octet left)',
    hex: '40 02 07 02 01 0000fde8 02',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.MalformedAsPath },
  },
  {
    name: '§7.2 AS_PATH 2-octet overrun',
    hex: '40 02 05 02 02 fde8 fd',
    ctx: IBGP_2,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.MalformedAsPath },
  },
  {
    name: '§7.2 + RFC 7607 AS_PATH with AS 0',
    hex: '40 02 06 02 01 00000000',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.MalformedAsPath },
  },
  {
    name: '§3e + RFC 5065 §5 confederation segment from an external peer',
    hex: '40 02 0c 03 01 0000fe4c 02 01 0000fde9',
    ctx: EBGP,
    expect: { action: WITHDRAW, typeCode: 2, subcode: S.MalformedAsPath },
  },

  // §7.3 NEXT_HOP (and RFC 4271 §6.3 syntactic correctness via §3 e)
  {
    name: '§7.3 NEXT_HOP length 5',
    hex: '40 03 05 c000020100',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.AttributeLengthError },
  },
  {
    name: '§3e NEXT_HOP 0.0.0.0',
    hex: '40 03 04 00000000',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.InvalidNextHopAttribute },
  },
  {
    name: '§3e NEXT_HOP 0.1.2.3 (0/8)',
    hex: '40 03 04 00010203',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.InvalidNextHopAttribute },
  },
  {
    name: '§3e NEXT_HOP 224.0.0.5 (class D)',
    hex: '40 03 04 e0000005',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.InvalidNextHopAttribute },
  },
  {
    name: '§3e NEXT_HOP 240.0.0.1 (class E)',
    hex: '40 03 04 f0000001',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.InvalidNextHopAttribute },
  },
  {
    name: '§3e NEXT_HOP 255.255.255.255',
    hex: '40 03 04 ffffffff',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 3, subcode: S.InvalidNextHopAttribute },
  },

  // §7.4 MULTI_EXIT_DISC, §7.5 LOCAL_PREF
  {
    name: '§7.4 MED length 3',
    hex: '80 04 03 000001',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 4, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.5 LOCAL_PREF length 2 from an internal peer',
    hex: '40 05 02 0064',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 5, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.5 LOCAL_PREF from an external peer → discard',
    hex: '40 05 04 00000064',
    ctx: EBGP,
    expect: { action: DISCARD, typeCode: 5, subcode: 0 },
  },
  {
    name: '§7.5 malformed LOCAL_PREF from an external peer → still just discard',
    hex: '80 05 02 0064',
    ctx: EBGP,
    expect: { action: DISCARD, typeCode: 5, subcode: 0 },
  },

  // §7.6 ATOMIC_AGGREGATE, §7.7 AGGREGATOR
  {
    name: '§7.6 ATOMIC_AGGREGATE length 1',
    hex: '40 06 01 00',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 6, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.7 AGGREGATOR length 6 on a 4-octet session',
    hex: 'c0 07 06 fde8 c0000201',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 7, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.7 AGGREGATOR length 8 on a 2-octet session',
    hex: 'c0 07 08 0000fde8 c0000201',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 7, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.7 + RFC 7607 AGGREGATOR with AS 0',
    hex: 'c0 07 08 00000000 c0000201',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 7, subcode: S.OptionalAttributeError },
  },

  // §7.8 COMMUNITIES
  {
    name: '§7.8 COMMUNITIES length 5',
    hex: 'c0 08 05 fde8006400',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 8, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.8 COMMUNITIES length 0',
    hex: 'c0 08 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 8, subcode: S.AttributeLengthError },
  },

  // §7.9 ORIGINATOR_ID, §7.10 CLUSTER_LIST
  {
    name: '§7.9 ORIGINATOR_ID length 3',
    hex: '80 09 03 c00002',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 9, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.9 ORIGINATOR_ID from an external peer → discard',
    hex: '80 09 04 c0000205',
    ctx: EBGP,
    expect: { action: DISCARD, typeCode: 9, subcode: 0 },
  },
  {
    name: '§7.10 CLUSTER_LIST length 6',
    hex: '80 0a 06 0a0000010a00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 10, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.10 CLUSTER_LIST length 0',
    hex: '80 0a 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 10, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.10 CLUSTER_LIST from an external peer → discard',
    hex: '80 0a 04 0a000001',
    ctx: EBGP,
    expect: { action: DISCARD, typeCode: 10, subcode: 0 },
  },

  // §7.11 and §5.3 MP_REACH_NLRI / MP_UNREACH_NLRI
  {
    name: '§5.3 MP_REACH shorter than 3 octets → session reset',
    hex: '90 0e 0002 0002',
    ctx: IBGP,
    expect: {
      sessionReset: {
        code: ErrorCode.UpdateMessage,
        subcode: S.OptionalAttributeError,
        data: '900e00020002',
      },
    },
  },
  {
    name: '§5.3 MP_UNREACH of 1 octet → session reset',
    hex: '80 0f 01 00',
    ctx: IBGP,
    expect: {
      sessionReset: { code: ErrorCode.UpdateMessage, subcode: S.OptionalAttributeError, data: '800f0100' },
    },
  },
  {
    name: '§5.3 MP_REACH of 4 octets → AFI/SAFI disable',
    hex: '90 0e 0004 0002 01 10',
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§7.11 MP_REACH IPv6 next-hop length 4',
    hex: '90 0e 000a 0002 01 04 c0000201 00 00',
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§7.11 MP_REACH IPv4 next-hop length 16',
    hex: `90 0e 0015 0001 01 10 20010db8000000000000000000000001 00`,
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 1, safi: 1 },
  },
  {
    name: '§7.11 MP_REACH next hop runs past the attribute',
    hex: '90 0e 000e 0002 01 10 20010db8000000000000',
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§5.3 MP_REACH IPv6 prefix length 129',
    hex: `90 0e 0016 ${MP6_HEAD} 81`,
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§5.3 MP_REACH last prefix overruns',
    hex: `90 0e 0019 ${MP6_HEAD} 30 20010d`,
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§5.3 MP_REACH ADD-PATH path id cut short',
    hex: '90 0e 000c 0001 01 04 c0000201 00 000000',
    ctx: ADD_PATH,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 1, safi: 1 },
  },
  {
    name: '§5.3 MP_UNREACH IPv4 prefix length 33',
    hex: '90 0f 0008 0001 01 21 0a000000',
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 15, subcode: S.OptionalAttributeError, afi: 1, safi: 1 },
  },
  {
    name: '§7.11 MP_REACH IPv4 next-hop length 0',
    hex: '90 0e 0009 0001 01 00 00 18 0a0001',
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 1, safi: 1 },
  },
  {
    name: '§7.11 MP_REACH IPv6 next-hop length 24',
    hex: `90 0e 001d 0002 01 18 ${'20010db8'.repeat(6)} 00`,
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§7.11 MP_REACH 32-octet IPv6 next hop cut short by the attribute',
    hex: `90 0e 0018 0002 01 20 ${'20010db8'.repeat(5)}`,
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 14, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§5.3 MP_UNREACH IPv6 prefix overrunning the attribute',
    hex: '90 0f 0008 0002 01 40 20010db8',
    ctx: IBGP,
    expect: { action: DISABLE, typeCode: 15, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },
  {
    name: '§5.3 MP_UNREACH ADD-PATH path identifier cut short',
    hex: '90 0f 0006 0002 01 000000',
    ctx: ADD_PATH,
    expect: { action: DISABLE, typeCode: 15, subcode: S.OptionalAttributeError, afi: 2, safi: 1 },
  },

  // §7.14 EXTENDED_COMMUNITIES, RFC 8092 §6 LARGE_COMMUNITY
  {
    name: '§7.14 EXTENDED_COMMUNITIES length 12',
    hex: 'c0 10 0c 0002fde800000064 00000000',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 16, subcode: S.AttributeLengthError },
  },
  {
    name: '§7.14 EXTENDED_COMMUNITIES length 0',
    hex: 'c0 10 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 16, subcode: S.AttributeLengthError },
  },
  {
    name: 'RFC 8092 §6 LARGE_COMMUNITY length 16',
    hex: 'c0 20 10 000000010000000200000003 00000004',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 32, subcode: S.AttributeLengthError },
  },
  {
    name: 'RFC 8092 §6 LARGE_COMMUNITY length 0',
    hex: 'c0 20 00',
    ctx: IBGP,
    expect: { action: WITHDRAW, typeCode: 32, subcode: S.AttributeLengthError },
  },

  // RFC 6793 §6 AS4_PATH / AS4_AGGREGATOR from a 2-octet speaker → attribute discard
  {
    name: 'RFC 6793 §6 AS4_PATH shorter than 6',
    hex: 'c0 11 04 02 01 fde8',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 17, subcode: S.AttributeLengthError },
  },
  {
    name: 'RFC 6793 §6 AS4_PATH odd length',
    hex: 'c0 11 07 02 01 fa56ea00 00',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 17, subcode: S.AttributeLengthError },
  },
  {
    name: 'RFC 6793 §6 AS4_PATH unknown segment type',
    hex: 'c0 11 06 07 01 fa56ea00',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 17, subcode: S.OptionalAttributeError },
  },
  {
    name: 'RFC 6793 §6 AS4_PATH zero-length segment',
    hex: 'c0 11 08 02 01 fa56ea00 02 00',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 17, subcode: S.OptionalAttributeError },
  },
  {
    name: 'RFC 6793 §6 AS4_PATH segment overrun',
    hex: 'c0 11 06 02 02 fa56ea00',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 17, subcode: S.OptionalAttributeError },
  },
  {
    name: 'RFC 6793 §6 AS4_AGGREGATOR length 6',
    hex: 'c0 12 06 fde8 c0000201',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 18, subcode: S.AttributeLengthError },
  },
  {
    name: 'RFC 6793 §6 + RFC 7607 AS4_AGGREGATOR with AS 0',
    hex: 'c0 12 08 00000000 c0000201',
    ctx: IBGP_2,
    expect: { action: DISCARD, typeCode: 18, subcode: S.OptionalAttributeError },
  },
  {
    name: 'RFC 6793 §4.1 AS4_PATH from a 4-octet speaker',
    hex: 'c0 11 06 02 01 fa56ea00',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 17, subcode: 0 },
  },
  {
    name: 'RFC 6793 §4.1 AS4_AGGREGATOR from a 4-octet speaker',
    hex: 'c0 12 08 fa56ea00 c0000201',
    ctx: IBGP,
    expect: { action: DISCARD, typeCode: 18, subcode: 0 },
  },
];

for (const c of CORPUS) {
  test(`malformed: ${c.name}`, (t) => {
    const expect = c.expect;
    if ('sessionReset' in expect) {
      const error = t.throws(() => decode(c.hex, c.ctx), { instanceOf: BgpError });
      t.is(error?.code, expect.sessionReset.code);
      t.is(error?.subcode, expect.sessionReset.subcode);
      if (expect.sessionReset.data !== undefined) {
        t.is(Buffer.from(error?.data ?? []).toString('hex'), clean(expect.sessionReset.data));
      }
      return;
    }
    const { errors } = decode(c.hex, c.ctx);
    const found = errors.find((e) => e.typeCode === expect.typeCode);
    t.truthy(found, `no error for type ${expect.typeCode}: ${JSON.stringify(errors)}`);
    const { action, typeCode, subcode } = found as AttributeError;
    const shown: Record<string, number | undefined> = { action, typeCode, subcode };
    if (found?.afi !== undefined || expect.afi !== undefined) {
      shown.afi = found?.afi;
      shown.safi = found?.safi;
    }
    t.deepEqual(shown, { ...expect });
    // no other error calls for a stronger action (§3 h: the strongest one wins)
    t.true(errors.every((e) => e.action <= expect.action));
  });
}

test('§3g: the first occurrence of a duplicated attribute is kept', (t) => {
  t.deepEqual(decode('40 01 01 00  40 01 01 02', IBGP).attributes, { origin: 0 });
  t.deepEqual(decode('c0 23 04 00000001  c0 23 04 00000002', IBGP).attributes.unknown, [
    { flags: 0xc0, typeCode: 35, value: bytes('00000001') },
  ]);
});

test('every malformed attribute is reported, the rest still decoded (§3 h is applied by the caller)', (t) => {
  const decoded = decode(
    '40 01 01 00' + // ORIGIN IGP
      ' 40 06 01 00' + // ATOMIC_AGGREGATE length 1 → discard
      ' c0 08 03 000001' + // COMMUNITIES length 3 → treat-as-withdraw
      ' 40 03 04 c0000201' + // NEXT_HOP
      ' 80 04 04 0000000a', // MED 10
    IBGP,
  );
  t.deepEqual(decoded.attributes, { origin: 0, nextHop: '192.0.2.1', multiExitDisc: 10 });
  t.deepEqual(
    decoded.errors.map((e) => [e.typeCode, e.action]),
    [
      [6, ErrorAction.AttributeDiscard],
      [8, ErrorAction.TreatAsWithdraw],
    ],
  );
  t.regex(decoded.errors[1].reason, /^COMMUNITIES: /);
});

test('§4: attributes before the overrun are kept', (t) => {
  const decoded = decode('40 01 01 01  80 04 04 00000001  40 05 09 00', IBGP);
  t.deepEqual(decoded.attributes, { origin: 1, multiExitDisc: 1 });
  t.is(decoded.errors.length, 1);
});

test('decoding a view inside a larger buffer reads only [start, end)', (t) => {
  const b = bytes('ff ff  40 01 01 02  40 02 00  ff');
  t.deepEqual(decodePathAttributes(b, 2, b.length - 1, IBGP), {
    attributes: { origin: 2, asPath: [] },
    errors: [],
  });
});

// ---------------------------------------------------------------------------------------------------
// Independent check: tshark's BGP dissector reads the same values from the bytes the encoder wrote.

/**
 * A whole UPDATE (RFC 4271 §4.3) around a Path Attributes field: marker, length, type 2, no withdrawn
 * routes, the attributes, and one IPv4 NLRI (10.0.0.0/24).
 */
function wrapUpdate(attributesHex: string): Uint8Array {
  const attrs = Buffer.from(attributesHex, 'hex');
  const nlri = Buffer.from('180a0000', 'hex');
  const length = 19 + 2 + 2 + attrs.length + nlri.length;
  const header = Buffer.alloc(19, 0xff);
  header.writeUInt16BE(length, 16);
  header[18] = 2;
  const lengths = Buffer.from([0, 0, attrs.length >> 8, attrs.length & 0xff]);
  return Uint8Array.from(Buffer.concat([header, lengths, attrs, nlri]));
}

async function viaTshark(attributesHex: string, asnLength: 2 | 4): Promise<TsharkBgpMessage> {
  const [message] = await tsharkDecode([wrapUpdate(attributesHex)], { asnLength, addPath: false });
  return message;
}

const FULL: PathAttributes = {
  origin: 2,
  asPath: [seq(65001, 65002, BIG), set(65010, 65011)],
  nextHop: '192.0.2.1',
  multiExitDisc: 50,
  localPref: 300,
  atomicAggregate: true,
  aggregator: { asn: 65001, address: '192.0.2.9' },
  communities: [0xfde90064, 0xffffff02],
  originatorId: 0xc0000205,
  clusterList: [0x0a000001, 0x0a000002],
  extendedCommunities: [0x0002fde900000064n],
  largeCommunities: [{ globalAdministrator: BIG, localData1: 7, localData2: 8 }],
};

test('tshark: every attribute of a 4-octet UPDATE', async (t) => {
  const hex = encode(FULL, IBGP);
  const decoded = decode(hex, IBGP);
  t.deepEqual(decoded, { attributes: FULL, errors: [] });
  const a = decoded.attributes;
  const msg = await viaTshark(hex, 4);
  t.false(msg.malformed, msg.expert.join('; '));
  t.deepEqual(msg.expert, []);
  const f = (name: string) => tsharkField(msg, `bgp.update.path_attribute.${name}`);
  t.deepEqual(f('type_code'), ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '16', '32']);
  t.deepEqual(f('origin'), [String(a.origin)]);
  t.deepEqual(
    f('as_path_segment.type'),
    (a.asPath ?? []).map((s) => String(s.type)),
  );
  t.deepEqual(
    f('as_path_segment.as4'),
    (a.asPath ?? []).flatMap((s) => s.asns.map(String)),
  );
  t.deepEqual(f('next_hop'), [a.nextHop]);
  t.deepEqual(f('multi_exit_disc'), [String(a.multiExitDisc)]);
  t.deepEqual(f('local_pref'), [String(a.localPref)]);
  t.deepEqual(f('aggregator_as'), [String(a.aggregator?.asn)]);
  t.deepEqual(f('aggregator_origin'), [a.aggregator?.address]);
  // 65001:100 as AS + value; NO_ADVERTISE (0xffffff02) as a well-known community
  t.deepEqual(f('community_as'), [String(a.communities![0] >>> 16)]);
  t.deepEqual(f('community_value'), [String(a.communities![0] & 0xffff)]);
  t.deepEqual(f('community_wellknown'), [`0x${a.communities![1].toString(16)}`]);
  t.deepEqual(f('originator_id'), [formatIpv4(a.originatorId!)]);
  t.deepEqual(tsharkField(msg, 'bgp.path_attribute.cluster_id'), a.clusterList!.map(formatIpv4));
  const ext = a.extendedCommunities![0];
  t.deepEqual(tsharkField(msg, 'bgp.ext_com.type'), [
    `0x${(Number(ext >> 56n) & 0xff).toString(16).padStart(2, '0')}`,
  ]);
  t.deepEqual(tsharkField(msg, 'bgp.ext_com.stype_tr_as2'), [
    `0x${(Number(ext >> 48n) & 0xff).toString(16).padStart(2, '0')}`,
  ]);
  t.deepEqual(tsharkField(msg, 'bgp.ext_com.value_as2'), [String(Number(ext >> 32n) & 0xffff)]);
  t.deepEqual(tsharkField(msg, 'bgp.ext_com.value_an4'), [String(Number(ext & 0xffffffffn))]);
  const large = a.largeCommunities![0];
  t.deepEqual(tsharkField(msg, 'bgp.large_communities.ga'), [String(large.globalAdministrator)]);
  t.deepEqual(tsharkField(msg, 'bgp.large_communities.ldp1'), [String(large.localData1)]);
  t.deepEqual(tsharkField(msg, 'bgp.large_communities.ldp2'), [String(large.localData2)]);
  t.deepEqual(msg.prefixes.nlri, [{ prefix: '10.0.0.0/24' }]);
});

test('tshark: a 2-octet UPDATE with AS_TRANS, AS4_PATH and AS4_AGGREGATOR', async (t) => {
  const attrs: PathAttributes = {
    origin: 0,
    asPath: [seq(65001, BIG, 65002)],
    nextHop: '192.0.2.1',
    aggregator: { asn: BIG, address: '192.0.2.9' },
  };
  const hex = encode(attrs, IBGP_2);
  t.deepEqual(decode(hex, IBGP_2), { attributes: attrs, errors: [] });
  const msg = await viaTshark(hex, 2);
  t.false(msg.malformed, msg.expert.join('; '));
  const types = msg.pathAttributes.map((p) => tsharkField(p, 'bgp.update.path_attribute.type_code')[0]);
  t.deepEqual(types, ['1', '2', '3', '7', '17', '18']);
  const [, asPath, , aggregator, as4Path, as4Aggregator] = msg.pathAttributes;
  t.deepEqual(tsharkField(asPath, 'bgp.update.path_attribute.as_path_segment.as2'), [
    '65001',
    String(AS_TRANS),
    '65002',
  ]);
  t.deepEqual(tsharkField(as4Path, 'bgp.update.path_attribute.as_path_segment.as4'), [
    '65001',
    String(BIG),
    '65002',
  ]);
  t.deepEqual(tsharkField(aggregator, 'bgp.update.path_attribute.aggregator_as'), [String(AS_TRANS)]);
  t.deepEqual(tsharkField(as4Aggregator, 'bgp.update.path_attribute.aggregator_as'), [String(BIG)]);
  t.deepEqual(tsharkField(as4Aggregator, 'bgp.update.path_attribute.aggregator_origin'), ['192.0.2.9']);
});

test('tshark: MP_REACH_NLRI IPv6 with link-local and MP_UNREACH_NLRI', async (t) => {
  const reach: MpReachNlri = {
    afi: 2,
    safi: 1,
    nextHop: '2001:db8::1',
    linkLocalNextHop: 'fe80::211:22ff:fe33:4455',
    nlri: [prefix('2001:db8:1::/48'), prefix('2001:db8:2:3::/64')],
  };
  const unreach: MpUnreachNlri = { afi: 2, safi: 1, withdrawn: [prefix('2001:db8:9::/48')] };
  const hex =
    encodeUnreach(unreach, IBGP) + encodeReach(reach, IBGP) + encode({ origin: 0, asPath: [] }, IBGP);
  const decoded = decode(hex, IBGP);
  t.deepEqual(decoded, {
    attributes: { origin: 0, asPath: [] },
    mpReach: reach,
    mpUnreach: unreach,
    errors: [],
  });
  const msg = await viaTshark(hex, 4);
  t.false(msg.malformed, msg.expert.join('; '));
  const f = (name: string) => tsharkField(msg, `bgp.update.path_attribute.${name}`);
  t.deepEqual(f('mp_reach_nlri.afi'), ['2']);
  t.deepEqual(f('mp_reach_nlri.safi'), ['1']);
  t.deepEqual(f('mp_reach_nlri.next_hop.ipv6'), [reach.nextHop]);
  t.deepEqual(f('mp_reach_nlri.next_hop.ipv6.link_local'), [reach.linkLocalNextHop]);
  t.deepEqual(
    msg.prefixes.mpReach.map((p) => p.prefix),
    decoded.mpReach!.nlri.map(formatPrefix),
  );
  t.deepEqual(f('mp_unreach_nlri.afi'), ['2']);
  t.deepEqual(
    msg.prefixes.mpUnreach.map((p) => p.prefix),
    decoded.mpUnreach!.withdrawn.map(formatPrefix),
  );
});

test('tshark: MP_REACH_NLRI IPv4 with ADD-PATH path ids', async (t) => {
  const reach: MpReachNlri = {
    afi: 1,
    safi: 1,
    nextHop: '192.0.2.1',
    nlri: [prefix('198.51.100.0/24', 1), prefix('198.51.100.0/24', 2), prefix('203.0.113.128/25', 3)],
  };
  const hex = encodeReach(reach, ADD_PATH);
  t.deepEqual(decode(hex, ADD_PATH).mpReach, reach);
  // the helper wraps an IPv4 NLRI without a path id: check this attribute's prefixes only
  const [msg] = await tsharkDecode([wrapUpdate(hex)], { asnLength: 4 });
  t.false(msg.malformed, msg.expert.join('; '));
  t.deepEqual(tsharkField(msg, 'bgp.update.path_attribute.mp_reach_nlri.next_hop.ipv4'), ['192.0.2.1']);
  t.deepEqual(
    msg.prefixes.mpReach,
    reach.nlri.map((p) => ({ prefix: formatPrefix(p), pathId: String(p.pathId) })),
  );
});
