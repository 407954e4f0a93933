// UPDATE messages (RFC 4271 §4.3): the three fields, the RFC 7606 checks that span attributes and NLRI,
// End-of-RIB markers (RFC 4724 §2), and the encoding of one UPDATE. Packing many prefixes into as few
// UPDATEs as fit is in update-packer.ts.

import { AttrFlag, AttrType, ErrorCode, HEADER_LENGTH, MessageType, UpdateSubcode } from '../constants.ts';
import { BgpError, ErrorAction } from '../errors.ts';
import type { AttributeError } from '../errors.ts';
import type { CodecContext, MpReachNlri, MpUnreachNlri, PathAttributes, UpdateMessage } from '../types.ts';
import { Afi, IPV4_UNICAST, Safi } from '../../lib/family.ts';
import type { Family } from '../../lib/family.ts';
import type { Nlri } from '../../lib/prefix.ts';
import { ByteWriter } from '../../lib/byte-writer.ts';
import { decodePrefixes, writePrefix, prefixWireLength } from './nlri.ts';
import type { DecodedAttributes } from './attributes.ts';
import {
  decodePathAttributes,
  encodeMpReachNlri,
  encodeMpUnreachNlri,
  encodePathAttributes,
} from './attributes.ts';
import { writeHeader } from './header.ts';

function readU16(bytes: Uint8Array, pos: number): number {
  return (bytes[pos] << 8) | bytes[pos + 1];
}

function malformedAttributeList(reason: string): BgpError {
  return new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.MalformedAttributeList, reason);
}

/** RFC 4271 §6.3 / RFC 7606 §5.3: a prefix list that cannot be parsed cannot be withdrawn either. */
function decodeIpv4Field(
  bytes: Uint8Array,
  start: number,
  end: number,
  addPath: boolean,
  field: string,
): Nlri[] {
  const out: Nlri[] = [];
  const reason = decodePrefixes(bytes, start, end, Afi.Ipv4, addPath, out);
  if (reason !== undefined) {
    throw new BgpError(ErrorCode.UpdateMessage, UpdateSubcode.InvalidNetworkField, `${field}: ${reason}`);
  }
  return out;
}

/**
 * Decodes a whole UPDATE (header included, already checked). Throws BgpError for the session-reset
 * cases (sessionResetFor below); everything weaker is reported in `errorAction` / `errors`.
 */
export function decodeUpdate(message: Uint8Array, ctx: CodecContext): UpdateMessage {
  const end = message.length;
  // §4.3 layout: Withdrawn Routes Length (2), Withdrawn Routes, Total Path Attribute Length (2), ...
  const withdrawnLength = readU16(message, HEADER_LENGTH);
  const attributesLengthAt = HEADER_LENGTH + 2 + withdrawnLength;
  if (attributesLengthAt + 2 > end) {
    throw malformedAttributeList(`withdrawn routes length ${withdrawnLength} overruns the message`);
  }
  const attributesLength = readU16(message, attributesLengthAt);
  const attributesStart = attributesLengthAt + 2;
  const nlriStart = attributesStart + attributesLength;
  if (nlriStart > end) {
    throw malformedAttributeList(`total path attribute length ${attributesLength} overruns the message`);
  }
  const addPathV4 = ctx.addPath.has(IPV4_UNICAST);
  const withdrawnRoutes = decodeIpv4Field(
    message,
    HEADER_LENGTH + 2,
    attributesLengthAt,
    addPathV4,
    'withdrawn routes',
  );
  const decoded = decodePathAttributes(message, attributesStart, nlriStart, ctx);
  const nlri = decodeIpv4Field(message, nlriStart, end, addPathV4, 'NLRI');
  const errors = [
    ...attributeErrors(decoded, nlri),
    ...missingAttributeErrors(decoded.attributes, nlri, decoded.mpReach),
  ];
  const reset = errors.length > 0 ? sessionResetFor(errors, decoded, nlri, message) : undefined;
  if (reset !== undefined) throw reset;
  return {
    type: MessageType.Update,
    withdrawnRoutes,
    attributes: decoded.attributes,
    nlri,
    mpReach: decoded.mpReach,
    mpUnreach: decoded.mpUnreach,
    errorAction: strongestAction(errors),
    errors,
  };
}

/**
 * RFC 4760 §3: when every announced prefix is in MP_REACH_NLRI, the NEXT_HOP attribute "SHOULD" be
 * ignored, and so is its malformation. Not an overrun that happens to start with type code 3: that is
 * an error of the Path Attributes field (RFC 7606 §4), which no rule about NEXT_HOP can excuse.
 */
function attributeErrors(decoded: DecodedAttributes, nlri: readonly Nlri[]): readonly AttributeError[] {
  if (nlri.length > 0 || decoded.mpReach === undefined) return decoded.errors;
  return decoded.errors.filter((e) => e.typeCode !== AttrType.NextHop || e.overrun === true);
}

/**
 * The malformations Brindle answers with a session reset although the approach RFC 7606 names is a
 * weaker one, or undefined:
 *
 * - AFI/SAFI disable (RFC 7606 §5.3, §7.11, §3 c for MP_REACH_NLRI/MP_UNREACH_NLRI flags; RFC 4760 §7).
 *   Brindle cannot disable one family on a running session, and both RFCs offer the session reset in
 *   its place: §5.3 and §7.11 say "session reset" or "AFI/SAFI disable", RFC 4760 §7 lets the speaker
 *   "terminate the BGP session". Doing nothing would keep the peer's earlier routes of the family
 *   although it may no longer be possible to tell which of them it meant to withdraw (BIRD and FRR
 *   reset too). The NOTIFICATION carries the error's own subcode: Optional Attribute Error for the
 *   attribute's content (RFC 4760 §7), Attribute Flags or Length Error for its header (RFC 4271 §6.3).
 * - RFC 7606 §5.2: an UPDATE that carries attributes other than MP_UNREACH_NLRI but no reachable NLRI
 *   is not one of the well-defined shapes, so "we cannot be confident that the NLRI have been
 *   successfully parsed": any error calling for more than attribute discard "MUST" be a session reset.
 *   Treat-as-withdraw would have nothing to withdraw.
 */
function sessionResetFor(
  errors: readonly AttributeError[],
  decoded: DecodedAttributes,
  nlri: readonly Nlri[],
  message: Uint8Array,
): BgpError | undefined {
  const disable = errors.find((e) => e.action === ErrorAction.AfiSafiDisable);
  if (disable !== undefined) return resetFor(disable, 'no AFI/SAFI disable, session reset instead');
  const reachable = nlri.length > 0 || (decoded.mpReach !== undefined && decoded.mpReach.nlri.length > 0);
  if (reachable) return undefined;
  const withdraw = errors.find((e) => e.action >= ErrorAction.TreatAsWithdraw);
  if (withdraw === undefined || !carriesOtherThanMpUnreach(message)) return undefined;
  return resetFor(withdraw, 'an UPDATE without reachable NLRI (RFC 7606 §5.2)');
}

/**
 * RFC 7606 §5.2's test: does the Path Attributes field hold an attribute other than MP_UNREACH_NLRI?
 * A walk over the headers only (the field was checked to fit the message); a header cut short counts.
 */
function carriesOtherThanMpUnreach(message: Uint8Array): boolean {
  const attributesLengthAt = HEADER_LENGTH + 2 + readU16(message, HEADER_LENGTH);
  const end = attributesLengthAt + 2 + readU16(message, attributesLengthAt);
  for (let pos = attributesLengthAt + 2; pos < end;) {
    if (pos + 3 > end || message[pos + 1] !== AttrType.MpUnreachNlri) return true;
    const extended = (message[pos] & AttrFlag.ExtendedLength) !== 0;
    if (extended && pos + 4 > end) return true;
    pos += extended ? 4 + readU16(message, pos + 2) : 3 + message[pos + 2];
  }
  return false;
}

function resetFor(error: AttributeError, why: string): BgpError {
  return new BgpError(ErrorCode.UpdateMessage, error.subcode, `${error.reason}; ${why}`, error.data);
}

/**
 * RFC 7606 §3 (d): a missing well-known mandatory attribute means treat-as-withdraw. ORIGIN and AS_PATH
 * are mandatory whenever prefixes are announced; NEXT_HOP only when the NLRI field carries prefixes
 * (RFC 4760 §3 makes it effectively discretionary for MP_REACH_NLRI). Nothing is mandatory in an UPDATE
 * that only withdraws.
 */
function missingAttributeErrors(
  attrs: PathAttributes,
  nlri: readonly Nlri[],
  mpReach?: MpReachNlri,
): AttributeError[] {
  const announces = nlri.length > 0 || (mpReach !== undefined && mpReach.nlri.length > 0);
  if (!announces) return [];
  const missing: [number, string][] = [];
  if (attrs.origin === undefined) missing.push([AttrType.Origin, 'ORIGIN']);
  if (attrs.asPath === undefined) missing.push([AttrType.AsPath, 'AS_PATH']);
  if (nlri.length > 0 && attrs.nextHop === undefined) missing.push([AttrType.NextHop, 'NEXT_HOP']);
  return missing.map(([typeCode, name]) => ({
    action: ErrorAction.TreatAsWithdraw,
    typeCode,
    subcode: UpdateSubcode.MissingWellKnownAttribute,
    reason: `missing well-known attribute ${name}`,
  }));
}

/** RFC 7606 §3 (h): when several errors call for different actions, the strongest wins. */
export function strongestAction(errors: readonly AttributeError[]): ErrorAction | undefined {
  let strongest: ErrorAction | undefined;
  for (const e of errors) if (strongest === undefined || e.action > strongest) strongest = e.action;
  return strongest;
}

// ---------------------------------------------------------------------------------------------------
// End-of-RIB (RFC 4724 §2)

/**
 * The family an UPDATE marks End-of-RIB for, or undefined: for IPv4 unicast an UPDATE with no
 * withdrawn routes, no attributes and no NLRI; for other families one whose only attribute is an empty
 * MP_UNREACH_NLRI.
 */
export function endOfRibFamily(update: UpdateMessage): Family | undefined {
  if (update.withdrawnRoutes.length > 0 || update.nlri.length > 0 || update.mpReach) return undefined;
  if (Object.keys(update.attributes).length > 0) return undefined;
  if (!update.mpUnreach)
    return update.errors.length === 0 ? { afi: Afi.Ipv4, safi: Safi.Unicast } : undefined;
  if (update.mpUnreach.withdrawn.length > 0) return undefined;
  return { afi: update.mpUnreach.afi, safi: update.mpUnreach.safi };
}

export function encodeEndOfRib(afi: number, safi: number, ctx: CodecContext): Buffer {
  if (afi === Afi.Ipv4 && safi === Safi.Unicast) return encodeUpdate({}, ctx);
  return encodeUpdate({ mpUnreach: { afi, safi, withdrawn: [] } }, ctx);
}

// ---------------------------------------------------------------------------------------------------
// Encoding one UPDATE

export interface UpdateContent {
  readonly withdrawnRoutes?: readonly Nlri[];
  readonly attributes?: PathAttributes;
  readonly nlri?: readonly Nlri[];
  readonly mpReach?: MpReachNlri;
  readonly mpUnreach?: MpUnreachNlri;
}

function writePrefixList(w: ByteWriter, prefixes: readonly Nlri[], addPath: boolean): void {
  let size = 0;
  for (const p of prefixes) size += prefixWireLength(p, addPath);
  w.ensure(size);
  for (const p of prefixes) w.offset = writePrefix(w.buffer, w.offset, p, addPath);
}

/**
 * Encodes one UPDATE holding exactly `content`. Throws a RangeError when it exceeds
 * ctx.maxMessageLength: callers that may exceed it use the packer, which splits.
 */
export function encodeUpdate(content: UpdateContent, ctx: CodecContext): Buffer {
  const addPathV4 = ctx.addPath.has(IPV4_UNICAST);
  const w = new ByteWriter(4096);
  const withdrawnAt = w.reserve(2);
  writePrefixList(w, content.withdrawnRoutes ?? [], addPathV4);
  w.patchLength(withdrawnAt, 2);
  const attributesAt = w.reserve(2);
  // RFC 7606 §5.1: MP_REACH_NLRI / MP_UNREACH_NLRI go first, so a receiver can still find the prefixes
  // (and withdraw them) when a later attribute is malformed.
  if (content.mpUnreach) encodeMpUnreachNlri(w, content.mpUnreach, ctx);
  if (content.mpReach) encodeMpReachNlri(w, content.mpReach, ctx);
  if (content.attributes) encodePathAttributes(w, content.attributes, ctx);
  w.patchLength(attributesAt, 2);
  writePrefixList(w, content.nlri ?? [], addPathV4);
  const length = HEADER_LENGTH + w.offset;
  if (length > ctx.maxMessageLength) {
    throw new RangeError(`UPDATE of ${length} octets exceeds the maximum of ${ctx.maxMessageLength}`);
  }
  const out = Buffer.allocUnsafe(length);
  writeHeader(out, 0, length, MessageType.Update);
  w.buffer.copy(out, HEADER_LENGTH, 0, w.offset);
  return out;
}
