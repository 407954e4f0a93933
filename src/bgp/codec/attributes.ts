// The Path Attributes field of UPDATE (RFC 4271 §4.3, §5) and the attribute registry as one descriptor
// table, in the manner of BIRD's bgp_attr_table[]: type code → name, expected flags, decode, encode and
// the RFC 7606 action when the attribute is malformed. Decoding reports malformed attributes as values
// (RFC 7606 §2 approaches) and throws a BgpError only where a session reset is the rule. Checks that
// need the whole UPDATE (missing mandatory attributes, §3 d; the NLRI field, §5) live in update.ts.

import { AS_TRANS, AttrFlag, AttrType, ErrorCode, Origin, UpdateSubcode } from '../constants.ts';
import { BgpError, ErrorAction } from '../errors.ts';
import type { AttributeError } from '../errors.ts';
import type {
  Aggregator,
  AsPathSegment,
  CodecContext,
  LargeCommunity,
  MpReachNlri,
  MpUnreachNlri,
  PathAttributes,
  RawAttribute,
} from '../types.ts';
import type { ByteWriter } from '../../lib/byte-writer.ts';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../../lib/address.ts';
import { Afi, Safi, familyKey } from '../../lib/family.ts';
import type { Nlri } from '../../lib/prefix.ts';
import {
  applyAs4Attributes,
  as4PathToSend,
  asPathValueLength,
  decodeAsPath,
  hasConfedSegment,
  withoutConfedSegments,
  writeAsPathValue,
} from './as-path.ts';
import { decodePrefixes, prefixWireLength, writePrefix } from './nlri.ts';

export interface DecodedAttributes {
  attributes: PathAttributes;
  mpReach?: MpReachNlri;
  mpUnreach?: MpUnreachNlri;
  errors: AttributeError[];
}

const { Optional, Transitive, Partial, ExtendedLength } = AttrFlag;
/** RFC 7606 §3 (c) compares only the Optional and Transitive bits with the attribute's definition. */
const CATEGORY_MASK = Optional | Transitive;
const WELL_KNOWN = Transitive;
const OPTIONAL_TRANSITIVE = Optional | Transitive;
const OPTIONAL_NON_TRANSITIVE = Optional;

/**
 * The subcode logged for an attribute dropped by rule rather than for being malformed (LOCAL_PREF from
 * an external peer, AS4_PATH from a 4-octet speaker...): RFC 4271 §6.3 names no error for these.
 */
const NO_SUBCODE = 0;
const MAX_TWO_OCTET_ASN = 0xffff;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What decoding collects before the RFC 6793 §4.2.3 merge. */
interface DecodeState {
  readonly ctx: CodecContext;
  readonly attributes: Mutable<PathAttributes>;
  readonly errors: AttributeError[];
  as4Path?: AsPathSegment[];
  as4Aggregator?: Aggregator;
  mpReach?: MpReachNlri;
  mpUnreach?: MpUnreachNlri;
  unknown?: RawAttribute[];
}

/** Why an attribute is malformed. `action` defaults to the descriptor's. */
interface Malformation {
  readonly subcode: number;
  readonly reason: string;
  readonly action?: ErrorAction;
  readonly afi?: number;
  readonly safi?: number;
  /** The attribute's bytes, for a NOTIFICATION (AttributeError.data). */
  readonly data?: Uint8Array;
  readonly overrun?: true;
}

type Decode = (
  bytes: Uint8Array,
  start: number,
  end: number,
  state: DecodeState,
  flags: number,
) => Malformation | undefined;

type Encode = (w: ByteWriter, attrs: PathAttributes, ctx: CodecContext) => void;

interface AttributeDescriptor {
  readonly typeCode: number;
  readonly name: string;
  /** The Optional and Transitive bits the attribute's RFC defines. */
  readonly flags: number;
  /** RFC 7606 approach for a malformed instance, flag conflicts included (§3 c). */
  readonly action: ErrorAction;
  readonly decode: Decode;
  /** Writes the attribute when `attrs` holds it; absent for MP_REACH/MP_UNREACH (see encodeMpReachNlri). */
  readonly encode?: Encode;
  /** RFC 7606 §7.5, §7.9, §7.10: received from an external peer it is discarded, whatever it holds. */
  readonly discardFromExternal?: true;
  /** RFC 6793 §4.1, §6: received from a 4-octet speaker it is discarded (and logged). */
  readonly discardFromFourOctet?: true;
  /**
   * RFC 7606 §5.3 and §7.11: errors carry the AFI/SAFI (AFI/SAFI disable) and the decoder checks the
   * flags itself, after reading the AFI/SAFI, because §5.3 lists wrong flags among the MP errors.
   */
  readonly familyScoped?: true;
}

// ---------------------------------------------------------------------------------------------------
// Small helpers

function readU16(bytes: Uint8Array, pos: number): number {
  return (bytes[pos] << 8) | bytes[pos + 1];
}

function readU32(bytes: Uint8Array, pos: number): number {
  return ((bytes[pos] << 24) | (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]) >>> 0;
}

function lengthError(length: number, expected: string): Malformation {
  return { subcode: UpdateSubcode.AttributeLengthError, reason: `length ${length}, expected ${expected}` };
}

/** RFC 7606 §7.8, §7.10, §7.14, RFC 8092 §6: "a non-zero multiple of" `size`. */
function listLengthError(length: number, size: number): Malformation | undefined {
  return length === 0 || length % size !== 0
    ? lengthError(length, `a non-zero multiple of ${size}`)
    : undefined;
}

/**
 * RFC 4271 §6.3: NEXT_HOP must be "a valid IP host address". Not one: 0.0.0.0/8 ("this network",
 * RFC 1122 §3.2.1.3), 224.0.0.0/4 (class D, multicast) and 240.0.0.0/4 (class E, 255.255.255.255
 * included). 127.0.0.0/8 is deliberately accepted: lab and test peers run on loopback addresses.
 */
function isUnicastHost(address: number): boolean {
  const first = address >>> 24;
  return first !== 0 && first < 224;
}

function writeHeader(w: ByteWriter, flags: number, typeCode: number, length: number): void {
  if (length > 0xffff) throw new RangeError(`attribute ${typeCode} of ${length} octets does not fit`);
  // Extended Length only when the value needs it (RFC 4271 §4.3); MP attributes always use it, see below.
  if (length > 0xff)
    w.u8(flags | ExtendedLength)
      .u8(typeCode)
      .u16(length);
  else
    w.u8(flags & ~ExtendedLength)
      .u8(typeCode)
      .u8(length);
}

function ipv4Bytes(text: string, what: string): number {
  const address = parseIpv4(text);
  if (address < 0) throw new RangeError(`${what} ${JSON.stringify(text)} is not an IPv4 address`);
  return address;
}

// ---------------------------------------------------------------------------------------------------
// Decoders and encoders, one pair per attribute, in type-code order

/** RFC 4271 §5.1.1; RFC 7606 §7.1: length ≠ 1 or an undefined value → treat-as-withdraw. */
const decodeOrigin: Decode = (bytes, start, end, state) => {
  if (end - start !== 1) return lengthError(end - start, '1');
  const value = bytes[start];
  if (value > Origin.Incomplete) {
    return { subcode: UpdateSubcode.InvalidOriginAttribute, reason: `undefined value ${value}` };
  }
  state.attributes.origin = value as Origin;
  return undefined;
};

const encodeOrigin: Encode = (w, attrs) => {
  if (attrs.origin === undefined) return;
  writeHeader(w, WELL_KNOWN, AttrType.Origin, 1);
  w.u8(attrs.origin);
};

/**
 * RFC 4271 §5.1.2, RFC 6793 §4.1 (4-octet AS numbers when both sides announced the capability).
 * RFC 7606 §7.2: a malformed AS_PATH → treat-as-withdraw; RFC 7607 §2 makes AS 0 malformed; RFC 5065
 * §5 makes confederation segments from a peer outside the confederation a Malformed AS_PATH, which
 * RFC 7606 §3 (e) turns into treat-as-withdraw.
 */
const decodeAsPathAttribute: Decode = (bytes, start, end, state) => {
  const segments = decodeAsPath(bytes, start, end, state.ctx.fourOctetAs ? 4 : 2);
  if (typeof segments === 'string') return { subcode: UpdateSubcode.MalformedAsPath, reason: segments };
  if (state.ctx.external && hasConfedSegment(segments)) {
    return { subcode: UpdateSubcode.MalformedAsPath, reason: 'confederation segment from an external peer' };
  }
  state.attributes.asPath = segments;
  return undefined;
};

/** To a 2-octet peer every non-mappable AS becomes AS_TRANS (RFC 6793 §4.2.2); AS4_PATH follows. */
const encodeAsPath: Encode = (w, attrs, ctx) => {
  if (attrs.asPath === undefined) return;
  const asnSize = ctx.fourOctetAs ? 4 : 2;
  writeHeader(w, WELL_KNOWN, AttrType.AsPath, asPathValueLength(attrs.asPath, asnSize));
  writeAsPathValue(w, attrs.asPath, asnSize);
};

/**
 * RFC 4271 §5.1.3; RFC 7606 §7.3: length ≠ 4 → treat-as-withdraw. An address that is not a unicast
 * host address is "syntactically incorrect" (RFC 4271 §6.3, Invalid NEXT_HOP), a session reset that
 * RFC 7606 §3 (e) turns into treat-as-withdraw. The semantic checks of §6.3 (our own address, shared
 * subnet) need the session and are not made here.
 */
const decodeNextHop: Decode = (bytes, start, end, state) => {
  if (end - start !== 4) return lengthError(end - start, '4');
  const address = readU32(bytes, start);
  if (!isUnicastHost(address)) {
    return {
      subcode: UpdateSubcode.InvalidNextHopAttribute,
      reason: `${formatIpv4(address)} is not a host address`,
    };
  }
  state.attributes.nextHop = formatIpv4(address);
  return undefined;
};

const encodeNextHop: Encode = (w, attrs) => {
  if (attrs.nextHop === undefined) return;
  writeHeader(w, WELL_KNOWN, AttrType.NextHop, 4);
  w.u32(ipv4Bytes(attrs.nextHop, 'NEXT_HOP'));
};

/** RFC 4271 §5.1.4; RFC 7606 §7.4: length ≠ 4 → treat-as-withdraw. */
const decodeMultiExitDisc: Decode = (bytes, start, end, state) => {
  if (end - start !== 4) return lengthError(end - start, '4');
  state.attributes.multiExitDisc = readU32(bytes, start);
  return undefined;
};

const encodeMultiExitDisc: Encode = (w, attrs) => {
  if (attrs.multiExitDisc === undefined) return;
  writeHeader(w, OPTIONAL_NON_TRANSITIVE, AttrType.MultiExitDisc, 4);
  w.u32(attrs.multiExitDisc);
};

/** RFC 4271 §5.1.5; RFC 7606 §7.5: from an internal peer, length ≠ 4 → treat-as-withdraw. */
const decodeLocalPref: Decode = (bytes, start, end, state) => {
  if (end - start !== 4) return lengthError(end - start, '4');
  state.attributes.localPref = readU32(bytes, start);
  return undefined;
};

const encodeLocalPref: Encode = (w, attrs) => {
  if (attrs.localPref === undefined) return;
  writeHeader(w, WELL_KNOWN, AttrType.LocalPref, 4);
  w.u32(attrs.localPref);
};

/** RFC 4271 §5.1.6; RFC 7606 §7.6: length ≠ 0 → attribute discard. */
const decodeAtomicAggregate: Decode = (_bytes, start, end, state) => {
  if (end !== start) return lengthError(end - start, '0');
  state.attributes.atomicAggregate = true;
  return undefined;
};

const encodeAtomicAggregate: Encode = (w, attrs) => {
  if (attrs.atomicAggregate === true) writeHeader(w, WELL_KNOWN, AttrType.AtomicAggregate, 0);
};

/**
 * AGGREGATOR (RFC 4271 §5.1.7) or AS4_AGGREGATOR (RFC 6793 §3): AS number + IPv4 address. Returns the
 * aggregator or why it is malformed: a wrong length (RFC 7606 §7.7, RFC 6793 §6) or AS 0 (RFC 7607 §2).
 */
function readAggregator(
  bytes: Uint8Array,
  start: number,
  end: number,
  asnSize: 2 | 4,
): Aggregator | Malformation {
  if (end - start !== asnSize + 4) return lengthError(end - start, String(asnSize + 4));
  const asn = asnSize === 4 ? readU32(bytes, start) : readU16(bytes, start);
  if (asn === 0) return { subcode: UpdateSubcode.OptionalAttributeError, reason: 'AS number 0' };
  return { asn, address: formatIpv4(readU32(bytes, start + asnSize)) };
}

/** RFC 7606 §7.7: length ≠ 6 (2-octet session) or ≠ 8 (4-octet session) → attribute discard. */
const decodeAggregator: Decode = (bytes, start, end, state) => {
  const aggregator = readAggregator(bytes, start, end, state.ctx.fourOctetAs ? 4 : 2);
  if ('subcode' in aggregator) return aggregator;
  state.attributes.aggregator = aggregator;
  return undefined;
};

/** To a 2-octet peer a non-mappable AS becomes AS_TRANS; AS4_AGGREGATOR carries it (RFC 6793 §4.2.2). */
const encodeAggregator: Encode = (w, attrs, ctx) => {
  const aggregator = attrs.aggregator;
  if (aggregator === undefined) return;
  const address = ipv4Bytes(aggregator.address, 'AGGREGATOR address');
  if (ctx.fourOctetAs) {
    writeHeader(w, OPTIONAL_TRANSITIVE, AttrType.Aggregator, 8);
    w.u32(aggregator.asn).u32(address);
  } else {
    writeHeader(w, OPTIONAL_TRANSITIVE, AttrType.Aggregator, 6);
    w.u16(aggregator.asn > MAX_TWO_OCTET_ASN ? AS_TRANS : aggregator.asn).u32(address);
  }
};

/** RFC 1997; RFC 7606 §7.8: length not a non-zero multiple of 4 → treat-as-withdraw. */
const decodeCommunities: Decode = (bytes, start, end, state) => {
  const malformed = listLengthError(end - start, 4);
  if (malformed) return malformed;
  const communities = new Array<number>((end - start) >> 2);
  for (let i = 0, pos = start; pos < end; i++, pos += 4) communities[i] = readU32(bytes, pos);
  state.attributes.communities = communities;
  return undefined;
};

/** An empty list is not written: RFC 7606 §7.8 would call a zero-length attribute malformed. */
const encodeCommunities: Encode = (w, attrs) => {
  const communities = attrs.communities;
  if (communities === undefined || communities.length === 0) return;
  writeHeader(w, OPTIONAL_TRANSITIVE, AttrType.Communities, communities.length * 4);
  for (const community of communities) w.u32(community);
};

/** RFC 4456 §8; RFC 7606 §7.9: from an internal peer, length ≠ 4 → treat-as-withdraw. */
const decodeOriginatorId: Decode = (bytes, start, end, state) => {
  if (end - start !== 4) return lengthError(end - start, '4');
  state.attributes.originatorId = readU32(bytes, start);
  return undefined;
};

const encodeOriginatorId: Encode = (w, attrs) => {
  if (attrs.originatorId === undefined) return;
  writeHeader(w, OPTIONAL_NON_TRANSITIVE, AttrType.OriginatorId, 4);
  w.u32(attrs.originatorId);
};

/** RFC 4456 §8; RFC 7606 §7.10: from an internal peer, not a non-zero multiple of 4 → treat-as-withdraw. */
const decodeClusterList: Decode = (bytes, start, end, state) => {
  const malformed = listLengthError(end - start, 4);
  if (malformed) return malformed;
  const clusterList = new Array<number>((end - start) >> 2);
  for (let i = 0, pos = start; pos < end; i++, pos += 4) clusterList[i] = readU32(bytes, pos);
  state.attributes.clusterList = clusterList;
  return undefined;
};

const encodeClusterList: Encode = (w, attrs) => {
  const clusterList = attrs.clusterList;
  if (clusterList === undefined || clusterList.length === 0) return;
  writeHeader(w, OPTIONAL_NON_TRANSITIVE, AttrType.ClusterList, clusterList.length * 4);
  for (const clusterId of clusterList) w.u32(clusterId);
};

/** The families whose MP_REACH/MP_UNREACH Brindle reads: IPv4 and IPv6 unicast. */
function isSupportedFamily(afi: number, safi: number): boolean {
  return safi === Safi.Unicast && (afi === Afi.Ipv4 || afi === Afi.Ipv6);
}

/**
 * The first checks of RFC 7606 §5.3 shared by MP_REACH_NLRI and MP_UNREACH_NLRI. Without the AFI/SAFI
 * (fewer than 3 octets) no family can be disabled, so §3 (j) leaves only a session reset (with RFC 4760
 * §7's Optional Attribute Error). A family Brindle does not route is skipped without judging the rest
 * of the attribute: it was not negotiated, and nothing of it would be used. Wrong flags are one of the
 * §5.3 errors, so the AFI/SAFI is disabled for them.
 */
function mpPreamble(
  bytes: Uint8Array,
  start: number,
  end: number,
  flags: number,
): Malformation | 'skip' | undefined {
  if (end - start < 3) {
    return {
      action: ErrorAction.SessionReset,
      subcode: UpdateSubcode.OptionalAttributeError,
      reason: `length ${end - start} leaves no room for the AFI/SAFI`,
    };
  }
  const afi = readU16(bytes, start);
  const safi = bytes[start + 2];
  if (!isSupportedFamily(afi, safi)) return 'skip';
  if ((flags & CATEGORY_MASK) !== OPTIONAL_NON_TRANSITIVE) {
    return { subcode: UpdateSubcode.AttributeFlagsError, reason: `flags 0x${flags.toString(16)}`, afi, safi };
  }
  return undefined;
}

function familyError(afi: number, safi: number, reason: string): Malformation {
  return { subcode: UpdateSubcode.OptionalAttributeError, reason, afi, safi };
}

function isAllZero(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * RFC 4760 §3: AFI, SAFI, Length of Next Hop Network Address, Next Hop, Reserved, NLRI. RFC 7606 §7.11:
 * a next-hop length other than the family's (4 for IPv4; 16 or 32 for IPv6, RFC 2545 §3) means the NLRI
 * cannot be located → AFI/SAFI disable; §5.3: shorter than 5 octets, or NLRI that do not parse → the same.
 */
const decodeMpReach: Decode = (bytes, start, end, state, flags) => {
  const preamble = mpPreamble(bytes, start, end, flags);
  if (preamble === 'skip') return undefined;
  if (preamble !== undefined) return preamble;
  const afi = readU16(bytes, start);
  const safi = bytes[start + 2];
  if (end - start < 5) return familyError(afi, safi, `length ${end - start} is less than 5`);
  const nextHopLength = bytes[start + 3];
  const expected = afi === Afi.Ipv4 ? nextHopLength === 4 : nextHopLength === 16 || nextHopLength === 32;
  if (!expected) return familyError(afi, safi, `next hop length ${nextHopLength} for AFI ${afi}`);
  const nextHopStart = start + 4;
  const nlriStart = nextHopStart + nextHopLength + 1; // the Reserved octet "SHOULD be ignored upon receipt"
  if (nlriStart > end) return familyError(afi, safi, 'next hop overruns the attribute');
  const nlri: Nlri[] = [];
  const addPath = state.ctx.addPath.has(familyKey(afi, safi));
  const malformed = decodePrefixes(bytes, nlriStart, end, afi as Afi, addPath, nlri);
  if (malformed !== undefined) return familyError(afi, safi, malformed);
  const nextHop =
    afi === Afi.Ipv4 ? formatIpv4(readU32(bytes, nextHopStart)) : formatIpv6(bytes, nextHopStart);
  // A 32-octet field whose second half is all zero carries no link-local address (some speakers pad).
  const linkLocalStart = nextHopStart + 16;
  state.mpReach =
    nextHopLength === 32 && !isAllZero(bytes, linkLocalStart, linkLocalStart + 16)
      ? { afi, safi, nextHop, linkLocalNextHop: formatIpv6(bytes, linkLocalStart), nlri }
      : { afi, safi, nextHop, nlri };
  return undefined;
};

/** RFC 4760 §4: AFI, SAFI, Withdrawn Routes. RFC 7606 §5.3 as for MP_REACH_NLRI. */
const decodeMpUnreach: Decode = (bytes, start, end, state, flags) => {
  const preamble = mpPreamble(bytes, start, end, flags);
  if (preamble === 'skip') return undefined;
  if (preamble !== undefined) return preamble;
  const afi = readU16(bytes, start);
  const safi = bytes[start + 2];
  const withdrawn: Nlri[] = [];
  const addPath = state.ctx.addPath.has(familyKey(afi, safi));
  const malformed = decodePrefixes(bytes, start + 3, end, afi as Afi, addPath, withdrawn);
  if (malformed !== undefined) return familyError(afi, safi, malformed);
  state.mpUnreach = { afi, safi, withdrawn };
  return undefined;
};

/** RFC 4360 §2; RFC 7606 §7.14: not a non-zero multiple of 8 → treat-as-withdraw; unknown types are fine. */
const decodeExtendedCommunities: Decode = (bytes, start, end, state) => {
  const malformed = listLengthError(end - start, 8);
  if (malformed) return malformed;
  const communities = new Array<bigint>((end - start) >> 3);
  for (let i = 0, pos = start; pos < end; i++, pos += 8) {
    communities[i] = (BigInt(readU32(bytes, pos)) << 32n) | BigInt(readU32(bytes, pos + 4));
  }
  state.attributes.extendedCommunities = communities;
  return undefined;
};

const encodeExtendedCommunities: Encode = (w, attrs) => {
  const communities = attrs.extendedCommunities;
  if (communities === undefined || communities.length === 0) return;
  writeHeader(w, OPTIONAL_TRANSITIVE, AttrType.ExtendedCommunities, communities.length * 8);
  for (const community of communities) w.u32(Number(community >> 32n)).u32(Number(community & 0xffffffffn));
};

/**
 * RFC 6793 §6: AS4_PATH is malformed when its length is odd or below 6, or a segment is (zero length,
 * overrun, unknown type) → attribute discard. Confederation segments "MUST NOT be carried" in it: they
 * are removed, logged, and the rest is kept.
 */
const decodeAs4Path: Decode = (bytes, start, end, state) => {
  const length = end - start;
  if (length < 6 || length % 2 !== 0) return lengthError(length, 'an even length of at least 6');
  const segments = decodeAsPath(bytes, start, end, 4);
  if (typeof segments === 'string')
    return { subcode: UpdateSubcode.OptionalAttributeError, reason: segments };
  if (!hasConfedSegment(segments)) {
    state.as4Path = segments;
    return undefined;
  }
  state.errors.push({
    action: ErrorAction.AttributeDiscard,
    typeCode: AttrType.As4Path,
    subcode: UpdateSubcode.OptionalAttributeError,
    reason: 'AS4_PATH: confederation segments removed (RFC 6793 §6)',
  });
  const rest = withoutConfedSegments(segments);
  if (rest.length > 0) state.as4Path = rest;
  return undefined;
};

/** Sent only to a 2-octet peer, and only when the path holds a non-mappable AS (RFC 6793 §4.2.2). */
const encodeAs4Path: Encode = (w, attrs, ctx) => {
  if (ctx.fourOctetAs || attrs.asPath === undefined) return;
  const as4Path = as4PathToSend(attrs.asPath);
  if (as4Path === undefined) return;
  writeHeader(w, OPTIONAL_TRANSITIVE, AttrType.As4Path, asPathValueLength(as4Path, 4));
  writeAsPathValue(w, as4Path, 4);
};

/** RFC 6793 §6: length ≠ 8 → attribute discard (and RFC 7607 §2: AS 0 too). */
const decodeAs4Aggregator: Decode = (bytes, start, end, state) => {
  const aggregator = readAggregator(bytes, start, end, 4);
  if ('subcode' in aggregator) return aggregator;
  state.as4Aggregator = aggregator;
  return undefined;
};

/** Sent only to a 2-octet peer, and only for a non-mappable aggregator AS (RFC 6793 §4.2.2). */
const encodeAs4Aggregator: Encode = (w, attrs, ctx) => {
  const aggregator = attrs.aggregator;
  if (ctx.fourOctetAs || aggregator === undefined || aggregator.asn <= MAX_TWO_OCTET_ASN) return;
  writeHeader(w, OPTIONAL_TRANSITIVE, AttrType.As4Aggregator, 8);
  w.u32(aggregator.asn).u32(ipv4Bytes(aggregator.address, 'AGGREGATOR address'));
};

function sameLargeCommunity(a: LargeCommunity, b: LargeCommunity): boolean {
  return (
    a.globalAdministrator === b.globalAdministrator &&
    a.localData1 === b.localData1 &&
    a.localData2 === b.localData2
  );
}

/** RFC 8092 §3: duplicates "MUST NOT be transmitted", and a receiver "MUST silently remove" them. */
function uniqueLargeCommunities(communities: readonly LargeCommunity[]): LargeCommunity[] {
  const unique: LargeCommunity[] = [];
  for (const community of communities) {
    if (!unique.some((seen) => sameLargeCommunity(seen, community))) unique.push(community);
  }
  return unique;
}

/** RFC 8092 §6: not a non-zero multiple of 12 → treat-as-withdraw (duplicates are not an error, §3). */
const decodeLargeCommunities: Decode = (bytes, start, end, state) => {
  const malformed = listLengthError(end - start, 12);
  if (malformed) return malformed;
  const communities: LargeCommunity[] = [];
  for (let pos = start; pos < end; pos += 12) {
    communities.push({
      globalAdministrator: readU32(bytes, pos),
      localData1: readU32(bytes, pos + 4),
      localData2: readU32(bytes, pos + 8),
    });
  }
  state.attributes.largeCommunities =
    communities.length > 1 ? uniqueLargeCommunities(communities) : communities;
  return undefined;
};

const encodeLargeCommunities: Encode = (w, attrs) => {
  if (attrs.largeCommunities === undefined || attrs.largeCommunities.length === 0) return;
  const communities = uniqueLargeCommunities(attrs.largeCommunities);
  writeHeader(w, OPTIONAL_TRANSITIVE, AttrType.LargeCommunity, communities.length * 12);
  for (const c of communities) w.u32(c.globalAdministrator).u32(c.localData1).u32(c.localData2);
};

// ---------------------------------------------------------------------------------------------------
// The registry

const { AttributeDiscard, TreatAsWithdraw, AfiSafiDisable } = ErrorAction;

/**
 * Every attribute Brindle understands, in type-code order (the order encodePathAttributes writes). The
 * action column is RFC 7606 §7 per attribute; a flag conflict (§3 c) takes the same action — §3 (c)'s
 * own default is treat-as-withdraw "unless the specification for the attribute mandates different
 * handling", and the exceptions are exactly the attributes whose specifications do: ATOMIC_AGGREGATE and
 * AGGREGATOR (§3 f: their session-reset cases become attribute discard), AS4_PATH and AS4_AGGREGATOR
 * (RFC 6793 §6: attribute discard), MP_REACH_NLRI and MP_UNREACH_NLRI (§5.3: AFI/SAFI disable).
 */
const ATTRIBUTE_TABLE: readonly AttributeDescriptor[] = [
  {
    typeCode: AttrType.Origin,
    name: 'ORIGIN',
    flags: WELL_KNOWN,
    action: TreatAsWithdraw,
    decode: decodeOrigin,
    encode: encodeOrigin,
  },
  {
    typeCode: AttrType.AsPath,
    name: 'AS_PATH',
    flags: WELL_KNOWN,
    action: TreatAsWithdraw,
    decode: decodeAsPathAttribute,
    encode: encodeAsPath,
  },
  {
    typeCode: AttrType.NextHop,
    name: 'NEXT_HOP',
    flags: WELL_KNOWN,
    action: TreatAsWithdraw,
    decode: decodeNextHop,
    encode: encodeNextHop,
  },
  {
    typeCode: AttrType.MultiExitDisc,
    name: 'MULTI_EXIT_DISC',
    flags: OPTIONAL_NON_TRANSITIVE,
    action: TreatAsWithdraw,
    decode: decodeMultiExitDisc,
    encode: encodeMultiExitDisc,
  },
  {
    typeCode: AttrType.LocalPref,
    name: 'LOCAL_PREF',
    flags: WELL_KNOWN,
    action: TreatAsWithdraw,
    decode: decodeLocalPref,
    encode: encodeLocalPref,
    discardFromExternal: true,
  },
  {
    typeCode: AttrType.AtomicAggregate,
    name: 'ATOMIC_AGGREGATE',
    flags: WELL_KNOWN,
    action: AttributeDiscard,
    decode: decodeAtomicAggregate,
    encode: encodeAtomicAggregate,
  },
  {
    typeCode: AttrType.Aggregator,
    name: 'AGGREGATOR',
    flags: OPTIONAL_TRANSITIVE,
    action: AttributeDiscard,
    decode: decodeAggregator,
    encode: encodeAggregator,
  },
  {
    typeCode: AttrType.Communities,
    name: 'COMMUNITIES',
    flags: OPTIONAL_TRANSITIVE,
    action: TreatAsWithdraw,
    decode: decodeCommunities,
    encode: encodeCommunities,
  },
  {
    typeCode: AttrType.OriginatorId,
    name: 'ORIGINATOR_ID',
    flags: OPTIONAL_NON_TRANSITIVE,
    action: TreatAsWithdraw,
    decode: decodeOriginatorId,
    encode: encodeOriginatorId,
    discardFromExternal: true,
  },
  {
    typeCode: AttrType.ClusterList,
    name: 'CLUSTER_LIST',
    flags: OPTIONAL_NON_TRANSITIVE,
    action: TreatAsWithdraw,
    decode: decodeClusterList,
    encode: encodeClusterList,
    discardFromExternal: true,
  },
  {
    typeCode: AttrType.MpReachNlri,
    name: 'MP_REACH_NLRI',
    flags: OPTIONAL_NON_TRANSITIVE,
    action: AfiSafiDisable,
    decode: decodeMpReach,
    familyScoped: true,
  },
  {
    typeCode: AttrType.MpUnreachNlri,
    name: 'MP_UNREACH_NLRI',
    flags: OPTIONAL_NON_TRANSITIVE,
    action: AfiSafiDisable,
    decode: decodeMpUnreach,
    familyScoped: true,
  },
  {
    typeCode: AttrType.ExtendedCommunities,
    name: 'EXTENDED_COMMUNITIES',
    flags: OPTIONAL_TRANSITIVE,
    action: TreatAsWithdraw,
    decode: decodeExtendedCommunities,
    encode: encodeExtendedCommunities,
  },
  {
    typeCode: AttrType.As4Path,
    name: 'AS4_PATH',
    flags: OPTIONAL_TRANSITIVE,
    action: AttributeDiscard,
    decode: decodeAs4Path,
    encode: encodeAs4Path,
    discardFromFourOctet: true,
  },
  {
    typeCode: AttrType.As4Aggregator,
    name: 'AS4_AGGREGATOR',
    flags: OPTIONAL_TRANSITIVE,
    action: AttributeDiscard,
    decode: decodeAs4Aggregator,
    encode: encodeAs4Aggregator,
    discardFromFourOctet: true,
  },
  {
    typeCode: AttrType.LargeCommunity,
    name: 'LARGE_COMMUNITY',
    flags: OPTIONAL_TRANSITIVE,
    action: TreatAsWithdraw,
    decode: decodeLargeCommunities,
    encode: encodeLargeCommunities,
  },
];

const BY_TYPE_CODE: readonly (AttributeDescriptor | undefined)[] = (() => {
  const table = new Array<AttributeDescriptor | undefined>(256).fill(undefined);
  for (const descriptor of ATTRIBUTE_TABLE) table[descriptor.typeCode] = descriptor;
  return table;
})();

/** The RFC name of an attribute type code ("LOCAL_PREF"), or "attribute <code>". */
export function attributeName(typeCode: number): string {
  return BY_TYPE_CODE[typeCode]?.name ?? `attribute ${typeCode}`;
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * Type codes already seen in the UPDATE being decoded: seenIn[type] === generation. A generation counter
 * instead of a fresh set per UPDATE keeps the hot path free of allocation (decoding is synchronous).
 */
const seenIn = new Uint32Array(256);
let generation = 0;

function nextGeneration(): number {
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    seenIn.fill(0);
    generation = 1;
  }
  return generation;
}

function report(
  state: DecodeState,
  action: ErrorAction,
  typeCode: number,
  malformation: Malformation,
  name = attributeName(typeCode),
): void {
  const error: Mutable<AttributeError> = {
    action,
    typeCode,
    subcode: malformation.subcode,
    reason: `${name}: ${malformation.reason}`,
  };
  if (malformation.afi !== undefined) {
    error.afi = malformation.afi;
    error.safi = malformation.safi;
  }
  if (malformation.data !== undefined) error.data = malformation.data;
  if (malformation.overrun) error.overrun = true;
  state.errors.push(error);
}

/**
 * RFC 7606 §4: the attribute at `attrStart` does not fit in the Path Attributes field (its header is cut
 * short, or its length runs past the end). Treat-as-withdraw, and the caller relies on the Total Path
 * Attribute Length to find the NLRI. §4 yields to "some other, more severe error": an MP_REACH_NLRI or
 * MP_UNREACH_NLRI cut short cannot have its NLRI parsed, which §3 (j) answers with AFI/SAFI disable when
 * the AFI/SAFI can be read (and is one Brindle routes), and with a session reset when it cannot.
 */
function attributeOverrun(
  bytes: Uint8Array,
  attrStart: number,
  valueStart: number,
  end: number,
  state: DecodeState,
): void {
  const typeCode = end - attrStart >= 2 ? bytes[attrStart + 1] : 0;
  const overrun: Malformation = {
    subcode: UpdateSubcode.AttributeLengthError,
    reason:
      valueStart > end ? 'attribute header cut short' : 'attribute length runs past the path attributes',
    data: bytes.slice(attrStart, end),
    overrun: true,
  };
  const mp = typeCode === AttrType.MpReachNlri || typeCode === AttrType.MpUnreachNlri;
  if (mp && valueStart <= end) {
    if (end - valueStart < 3) {
      throw new BgpError(
        ErrorCode.UpdateMessage,
        UpdateSubcode.AttributeLengthError,
        `${attributeName(typeCode)} cut short before its AFI/SAFI`,
        bytes.slice(attrStart, end),
      );
    }
    const afi = readU16(bytes, valueStart);
    const safi = bytes[valueStart + 2];
    if (isSupportedFamily(afi, safi)) {
      report(state, ErrorAction.AfiSafiDisable, typeCode, { ...overrun, afi, safi });
      return;
    }
  }
  report(state, ErrorAction.TreatAsWithdraw, typeCode, overrun);
}

/** Unrecognized attributes: RFC 4271 §5 and §6.3. */
function unrecognizedAttribute(
  bytes: Uint8Array,
  attrStart: number,
  valueStart: number,
  valueEnd: number,
  flags: number,
  state: DecodeState,
): void {
  const typeCode = bytes[attrStart + 1];
  if ((flags & Optional) === 0) {
    // §6.3 Unrecognized Well-known Attribute, data = the attribute. RFC 7606 §3 (e)/(f) relax only the
    // attributes they name, so this stays a session reset.
    throw new BgpError(
      ErrorCode.UpdateMessage,
      UpdateSubcode.UnrecognizedWellKnownAttribute,
      `well-known attribute type ${typeCode}`,
      bytes.slice(attrStart, valueEnd),
    );
  }
  // §5: an optional non-transitive one is "quietly ignored and not passed along".
  if ((flags & Transitive) === 0) return;
  // An optional transitive one travels on. The value is copied so the route does not pin the socket
  // chunk; the Extended Length bit and the unused low bits describe the encoding, not the attribute.
  const raw: RawAttribute = {
    flags: flags & (Optional | Transitive | Partial),
    typeCode,
    value: bytes.slice(valueStart, valueEnd),
  };
  (state.unknown ??= []).push(raw);
}

/** A recognized attribute that passed the duplicate check. */
function recognizedAttribute(
  descriptor: AttributeDescriptor,
  bytes: Uint8Array,
  attrStart: number,
  valueStart: number,
  valueEnd: number,
  flags: number,
  state: DecodeState,
): void {
  const { typeCode, name } = descriptor;
  if (descriptor.discardFromFourOctet && state.ctx.fourOctetAs) {
    const reason = 'received from a 4-octet AS speaker (RFC 6793 §4.1)';
    report(state, AttributeDiscard, typeCode, { subcode: NO_SUBCODE, reason }, name);
    return;
  }
  if (descriptor.discardFromExternal && state.ctx.external) {
    const reason = 'received from an external peer (RFC 7606 §7.5, §7.9, §7.10)';
    report(state, AttributeDiscard, typeCode, { subcode: NO_SUBCODE, reason }, name);
    return;
  }
  if (!descriptor.familyScoped && (flags & CATEGORY_MASK) !== descriptor.flags) {
    const flagsError = {
      subcode: UpdateSubcode.AttributeFlagsError,
      reason: `flags 0x${flags.toString(16)}`,
    };
    reportWithData(state, descriptor.action, flagsError, descriptor, bytes.subarray(attrStart, valueEnd));
    return;
  }
  const malformation = descriptor.decode(bytes, valueStart, valueEnd, state, flags);
  if (malformation === undefined) return;
  const action = malformation.action ?? descriptor.action;
  if (action === ErrorAction.SessionReset) {
    throw new BgpError(
      ErrorCode.UpdateMessage,
      malformation.subcode,
      `${name}: ${malformation.reason}`,
      bytes.slice(attrStart, valueEnd),
    );
  }
  reportWithData(state, action, malformation, descriptor, bytes.subarray(attrStart, valueEnd));
}

/**
 * Reports a malformed recognized attribute. Errors that may still end in a session reset (RFC 7606
 * §5.2, AFI/SAFI disable: see update.ts) keep a copy of the attribute for the NOTIFICATION's Data.
 */
function reportWithData(
  state: DecodeState,
  action: ErrorAction,
  malformation: Malformation,
  descriptor: AttributeDescriptor,
  attribute: Uint8Array,
): void {
  const withData =
    action >= ErrorAction.TreatAsWithdraw ? { ...malformation, data: attribute.slice() } : malformation;
  report(state, action, descriptor.typeCode, withData, descriptor.name);
}

/**
 * Decodes the Path Attributes field bytes[start, end). Malformed attributes become `errors` (RFC 7606
 * approaches) and decoding goes on, so the UPDATE can be logged and its routes withdrawn. Throws a
 * BgpError only where a session reset is the rule: MP_REACH_NLRI or MP_UNREACH_NLRI twice (§3 g) or
 * without a readable AFI/SAFI (§3 j), and an unrecognized well-known attribute (RFC 4271 §6.3).
 */
export function decodePathAttributes(
  bytes: Uint8Array,
  start: number,
  end: number,
  ctx: CodecContext,
): DecodedAttributes {
  const state: DecodeState = { ctx, attributes: {}, errors: [] };
  const seen = nextGeneration();
  let pos = start;
  while (pos < end) {
    const attrStart = pos;
    const flags = bytes[pos];
    const extended = (flags & ExtendedLength) !== 0;
    const valueStart = pos + (extended ? 4 : 3);
    if (valueStart > end) {
      attributeOverrun(bytes, attrStart, valueStart, end, state);
      break;
    }
    const length = extended ? readU16(bytes, pos + 2) : bytes[pos + 2];
    const valueEnd = valueStart + length;
    if (valueEnd > end) {
      attributeOverrun(bytes, attrStart, valueStart, end, state);
      break;
    }
    pos = valueEnd;
    const typeCode = bytes[attrStart + 1];
    if (seenIn[typeCode] === seen) {
      duplicateAttribute(typeCode, state);
      continue;
    }
    seenIn[typeCode] = seen;
    const descriptor = BY_TYPE_CODE[typeCode];
    if (descriptor === undefined) unrecognizedAttribute(bytes, attrStart, valueStart, valueEnd, flags, state);
    else recognizedAttribute(descriptor, bytes, attrStart, valueStart, valueEnd, flags, state);
  }
  return finish(state);
}

/**
 * RFC 7606 §3 (g): MP_REACH_NLRI or MP_UNREACH_NLRI more than once → session reset, Malformed Attribute
 * List; any other attribute → every occurrence after the first is discarded and processing goes on.
 */
function duplicateAttribute(typeCode: number, state: DecodeState): void {
  if (typeCode === AttrType.MpReachNlri || typeCode === AttrType.MpUnreachNlri) {
    throw new BgpError(
      ErrorCode.UpdateMessage,
      UpdateSubcode.MalformedAttributeList,
      `${attributeName(typeCode)} appears more than once`,
    );
  }
  const duplicate = { subcode: UpdateSubcode.MalformedAttributeList, reason: 'appears more than once' };
  report(state, AttributeDiscard, typeCode, duplicate);
}

/** RFC 6793 §4.2.3 for a 2-octet peer, then the result with only the parts present. */
function finish(state: DecodeState): DecodedAttributes {
  const { attributes, ctx } = state;
  if (!ctx.fourOctetAs && (state.as4Path !== undefined || state.as4Aggregator !== undefined)) {
    const merged = applyAs4Attributes({
      asPath: attributes.asPath,
      aggregator: attributes.aggregator,
      as4Path: state.as4Path,
      as4Aggregator: state.as4Aggregator,
    });
    if (merged.asPath !== undefined) attributes.asPath = merged.asPath;
    if (merged.aggregator !== undefined) attributes.aggregator = merged.aggregator;
  }
  if (state.unknown !== undefined) attributes.unknown = state.unknown;
  const decoded: DecodedAttributes = { attributes, errors: state.errors };
  if (state.mpReach !== undefined) decoded.mpReach = state.mpReach;
  if (state.mpUnreach !== undefined) decoded.mpUnreach = state.mpUnreach;
  return decoded;
}

// ---------------------------------------------------------------------------------------------------
// Encoding

/**
 * Writes every attribute of `attrs` except MP_REACH_NLRI/MP_UNREACH_NLRI, in ascending type-code order
 * (RFC 4271 §5 "SHOULD be ordered"), for a 4-octet or a 2-octet peer (AS_TRANS, AS4_PATH and
 * AS4_AGGREGATOR, RFC 6793 §4.2.2). Unrecognized attributes are merged in by type code; optional
 * transitive ones get the Partial bit (RFC 4271 §5: set when passing along an unrecognized one).
 *
 * Departure: the Partial bit of a *recognized* optional transitive attribute (COMMUNITIES...) that
 * arrived set is not kept ("MUST NOT be set back to 0", RFC 4271 §5), because PathAttributes has nowhere
 * to hold it. Policy (no LOCAL_PREF to external peers, RFC 4271 §5.1.5) is the caller's: everything in
 * `attrs` is written.
 */
export function encodePathAttributes(w: ByteWriter, attrs: PathAttributes, ctx: CodecContext): void {
  const unknown = attrs.unknown === undefined ? NO_RAW : byTypeCode(attrs.unknown);
  let next = 0;
  for (const descriptor of ATTRIBUTE_TABLE) {
    while (next < unknown.length && unknown[next].typeCode < descriptor.typeCode)
      writeRaw(w, unknown[next++]);
    descriptor.encode?.(w, attrs, ctx);
  }
  while (next < unknown.length) writeRaw(w, unknown[next++]);
}

const NO_RAW: readonly RawAttribute[] = [];

function byTypeCode(raw: readonly RawAttribute[]): readonly RawAttribute[] {
  for (let i = 1; i < raw.length; i++) {
    if (raw[i - 1].typeCode > raw[i].typeCode) return [...raw].sort((a, b) => a.typeCode - b.typeCode);
  }
  return raw;
}

/** An unrecognized attribute passed along; one with a recognized type code is never written twice. */
function writeRaw(w: ByteWriter, raw: RawAttribute): void {
  if (BY_TYPE_CODE[raw.typeCode] !== undefined) return;
  const optionalTransitive = (raw.flags & CATEGORY_MASK) === OPTIONAL_TRANSITIVE;
  writeHeader(w, optionalTransitive ? raw.flags | Partial : raw.flags, raw.typeCode, raw.value.length);
  w.bytes(raw.value);
}

/**
 * The Network Address of Next Hop field of MP_REACH_NLRI: 4 octets for IPv4, 16 for IPv6, or 32 with the
 * link-local address after the global one (RFC 2545 §3).
 */
export function mpNextHopBytes(afi: number, nextHop: string, linkLocalNextHop?: string): Uint8Array {
  if (afi === Afi.Ipv4) {
    if (linkLocalNextHop !== undefined) throw new RangeError('an IPv4 next hop has no link-local address');
    const address = ipv4Bytes(nextHop, 'next hop');
    return Uint8Array.of(address >>> 24, (address >>> 16) & 0xff, (address >>> 8) & 0xff, address & 0xff);
  }
  if (afi !== Afi.Ipv6) throw new RangeError(`no next-hop encoding for AFI ${afi}`);
  const global = parseIpv6(nextHop);
  if (global === undefined)
    throw new RangeError(`next hop ${JSON.stringify(nextHop)} is not an IPv6 address`);
  if (linkLocalNextHop === undefined) return global;
  const linkLocal = parseIpv6(linkLocalNextHop);
  if (linkLocal === undefined) {
    throw new RangeError(`link-local next hop ${JSON.stringify(linkLocalNextHop)} is not an IPv6 address`);
  }
  const both = new Uint8Array(32);
  both.set(global, 0);
  both.set(linkLocal, 16);
  return both;
}

/** Reused between calls (encoding is synchronous): ByteWriter offers no way to write in place. */
let nlriScratch = Buffer.allocUnsafe(4096);

function writeNlri(w: ByteWriter, nlri: readonly Nlri[], addPath: boolean): void {
  let total = 0;
  for (const prefix of nlri) total += prefixWireLength(prefix, addPath);
  if (total > nlriScratch.length) nlriScratch = Buffer.allocUnsafe(Math.max(total, nlriScratch.length * 2));
  let pos = 0;
  for (const prefix of nlri) pos = writePrefix(nlriScratch, pos, prefix, addPath);
  w.bytes(nlriScratch.subarray(0, pos));
}

/**
 * MP_REACH_NLRI and MP_UNREACH_NLRI always carry the Extended Length flag with a 2-octet length (as FRR
 * and BIRD send them): the length is reserved before the prefixes are written and patched after, and an
 * UPDATE packed near the message limit needs more than 255 octets of prefixes anyway.
 */
const MP_FLAGS = OPTIONAL_NON_TRANSITIVE | ExtendedLength;

/** Writes the whole MP_REACH_NLRI attribute (RFC 4760 §3), Reserved octet 0. */
export function encodeMpReachNlri(w: ByteWriter, mp: MpReachNlri, ctx: CodecContext): void {
  const nextHop = mpNextHopBytes(mp.afi, mp.nextHop, mp.linkLocalNextHop);
  w.u8(MP_FLAGS).u8(AttrType.MpReachNlri);
  const at = w.reserve(2);
  w.u16(mp.afi).u8(mp.safi).u8(nextHop.length).bytes(nextHop).u8(0);
  writeNlri(w, mp.nlri, ctx.addPath.has(familyKey(mp.afi, mp.safi)));
  w.patchLength(at, 2);
}

/** Writes the whole MP_UNREACH_NLRI attribute (RFC 4760 §4). */
export function encodeMpUnreachNlri(w: ByteWriter, mp: MpUnreachNlri, ctx: CodecContext): void {
  w.u8(MP_FLAGS).u8(AttrType.MpUnreachNlri);
  const at = w.reserve(2);
  w.u16(mp.afi).u8(mp.safi);
  writeNlri(w, mp.withdrawn, ctx.addPath.has(familyKey(mp.afi, mp.safi)));
  w.patchLength(at, 2);
}
