// OPEN (RFC 4271 §4.2) with RFC 9072 extended optional parameters: decoding, with the §6.2 checks that
// need no session state, and encoding. Peer AS matching, identifier collisions, capability negotiation
// and refusing unsupported optional parameters (2/4) are the session's: they need its configuration.

import { ByteWriter } from '../../lib/byte-writer.ts';
import {
  BGP_VERSION,
  CapabilityCode,
  EXTENDED_OPT_PARAMS_MARKER,
  ErrorCode,
  HEADER_LENGTH,
  HeaderSubcode,
  MAX_MESSAGE_LENGTH,
  MessageType,
  OpenSubcode,
  OptionalParameterType,
} from '../constants.ts';
import { BgpError } from '../errors.ts';
import type { Capability, OpenMessage, OptionalParameter } from '../types.ts';
import { decodeCapabilities, encodeCapabilities, isKnownCapability } from './capabilities.ts';
import { writeHeader } from './header.ts';

/** Version(1) My Autonomous System(2) Hold Time(2) BGP Identifier(4) Opt Parm Len(1). */
const FIXED_FIELDS_LENGTH = 10;
const MIN_OPEN_LENGTH = HEADER_LENGTH + FIXED_FIELDS_LENGTH;
const OPT_PARAMS_LENGTH_AT = HEADER_LENGTH + 9;
/** The most a one-octet length can say (RFC 4271 §4.2). */
const MAX_SHORT_LENGTH = 255;

/** Where the Optional Parameters lie in the message, and which length encoding they use. */
interface ParameterBlock {
  readonly start: number;
  readonly end: number;
  /** RFC 9072: 2-octet Parameter Length fields. */
  readonly extended: boolean;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

function openError(subcode: number, reason: string, data?: Uint8Array): BgpError {
  return new BgpError(ErrorCode.OpenMessage, subcode, reason, data);
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes a whole OPEN message (header included, already checked by checkHeader). Throws a BgpError
 * holding the NOTIFICATION to send when the message is malformed.
 */
export function decodeOpen(message: Uint8Array): OpenMessage {
  if (message.length < MIN_OPEN_LENGTH) {
    // checkHeader() reports this first; kept so a direct caller gets the same answer (§6.1).
    const length = Uint8Array.of(message.length >> 8, message.length & 0xff);
    throw new BgpError(ErrorCode.MessageHeader, HeaderSubcode.BadMessageLength, 'OPEN too short', length);
  }
  const at = HEADER_LENGTH;
  const version = message[at];
  checkVersion(version);
  const myAutonomousSystem = u16(message, at + 1);
  const holdTimeSec = u16(message, at + 3);
  const bgpIdentifier = u32(message, at + 5);
  checkFixedFields(myAutonomousSystem, holdTimeSec, bgpIdentifier);
  const block = locateParameters(message);
  const { capabilities, unsupportedParameters } = decodeParameters(message, block);
  checkFourOctetAs(capabilities);
  return {
    type: MessageType.Open,
    version,
    myAutonomousSystem,
    holdTimeSec,
    bgpIdentifier,
    capabilities,
    unsupportedParameters,
    extendedParameters: block.extended,
  };
}

/**
 * §6.2: the data is "the largest, locally-supported version number less than the version the remote
 * BGP peer bid", or else the smallest one; Brindle supports only 4, so it is 4 either way.
 */
function checkVersion(version: number): void {
  if (version === BGP_VERSION) return;
  const data = Uint8Array.of(BGP_VERSION >> 8, BGP_VERSION & 0xff);
  throw openError(OpenSubcode.UnsupportedVersionNumber, `version ${version}`, data);
}

function checkFixedFields(myAutonomousSystem: number, holdTimeSec: number, bgpIdentifier: number): void {
  // RFC 7607 §2: "If a BGP speaker receives zero as the peer AS in an OPEN message, it MUST abort".
  if (myAutonomousSystem === 0) throw openError(OpenSubcode.BadPeerAs, 'My Autonomous System is 0');
  // §4.2 and §6.2: a Hold Time of one or two seconds MUST be rejected.
  if (holdTimeSec === 1 || holdTimeSec === 2) {
    throw openError(OpenSubcode.UnacceptableHoldTime, `Hold Time ${holdTimeSec}s`);
  }
  // RFC 6286 §2.2: the BGP Identifier is a non-zero 4-octet number.
  if (bgpIdentifier === 0) throw openError(OpenSubcode.BadBgpIdentifier, 'BGP Identifier is 0');
}

/** RFC 7607 §2 applies to the AS the 4-octet AS capability (RFC 6793 §3) announces as well. */
function checkFourOctetAs(capabilities: readonly Capability[]): void {
  for (const cap of capabilities) {
    if (isKnownCapability(cap) && cap.code === CapabilityCode.FourOctetAs && cap.asn === 0) {
      throw openError(OpenSubcode.BadPeerAs, '4-octet AS capability announces AS 0');
    }
  }
}

/**
 * Finds the Optional Parameters. RFC 9072 §2 and §3: a non-zero Non-Ext OP Len followed by a Non-Ext
 * OP Type of 255 announces the extended encoding, whatever the length octet says. Either way the
 * parameters must end exactly where the message does, or they are malformed: 2/0 (§6.2). For a length
 * that overruns the message BIRD, FRR and OpenBGPD all answer so; for octets left over OpenBGPD does
 * and BIRD ignores them. Brindle is strict: when two lengths disagree either may be the wrong one.
 */
function locateParameters(message: Uint8Array): ParameterBlock {
  const shortLength = message[OPT_PARAMS_LENGTH_AT];
  const start = OPT_PARAMS_LENGTH_AT + 1;
  if (shortLength !== 0 && message[start] === EXTENDED_OPT_PARAMS_MARKER) {
    if (message.length < start + 3) {
      throw openError(OpenSubcode.Unspecific, 'extended Optional Parameters header truncated');
    }
    const length = u16(message, start + 1);
    return checkedBlock(message, start + 3, length, true);
  }
  return checkedBlock(message, start, shortLength, false);
}

function checkedBlock(message: Uint8Array, start: number, length: number, extended: boolean): ParameterBlock {
  const end = start + length;
  if (end !== message.length) {
    const form = extended ? 'Extended Opt. Parm. Length' : 'Optional Parameters Length';
    const reason = `${form} ${length}, but ${message.length - start} octets follow`;
    throw openError(OpenSubcode.Unspecific, reason);
  }
  return { start, end, extended };
}

/** §4.2: <type, length, value> triples; type 2 holds capabilities (RFC 5492 §4), others are kept. */
function decodeParameters(
  message: Uint8Array,
  block: ParameterBlock,
): { capabilities: Capability[]; unsupportedParameters: OptionalParameter[] } {
  const capabilities: Capability[] = [];
  const unsupportedParameters: OptionalParameter[] = [];
  const headerLength = block.extended ? 3 : 2;
  for (let at = block.start; at < block.end;) {
    if (at + headerLength > block.end) {
      throw openError(OpenSubcode.Unspecific, 'optional parameter header truncated');
    }
    const type = message[at];
    const length = block.extended ? u16(message, at + 1) : message[at + 1];
    const valueEnd = at + headerLength + length;
    if (valueEnd > block.end) {
      throw openError(
        OpenSubcode.Unspecific,
        `optional parameter ${type} of ${length} octets overruns the OPEN`,
      );
    }
    const value = message.subarray(at + headerLength, valueEnd);
    if (type === OptionalParameterType.Capabilities) capabilities.push(...decodeCapabilities(value));
    else unsupportedParameters.push({ type, value: new Uint8Array(value) });
    at = valueEnd;
  }
  return { capabilities, unsupportedParameters };
}

// ---------------------------------------------------------------------------------------------------
// Encoding

/**
 * Encodes a whole OPEN. All capabilities go into one Capabilities parameter (as BIRD, GoBGP and
 * OpenBGPD send them), followed by any other parameters. The RFC 9072 form is used when
 * `extendedParameters` is set or when the parameters do not fit one-octet lengths (RFC 9072 §2).
 */
export function encodeOpen(open: Omit<OpenMessage, 'type'>): Buffer {
  const parameters = parametersOf(open);
  const out = new ByteWriter(64 + parameters.reduce((n, p) => n + p.value.length, 0));
  out.bytes(new Uint8Array(HEADER_LENGTH)); // filled in by writeHeader() once the length is known
  out.u8(open.version).u16(open.myAutonomousSystem).u16(open.holdTimeSec).u32(open.bgpIdentifier);
  if (open.extendedParameters || !fitsShortForm(parameters)) writeExtended(out, parameters);
  else writeShort(out, parameters);
  if (out.offset > MAX_MESSAGE_LENGTH) throw new RangeError(`OPEN of ${out.offset} octets`);
  writeHeader(out.buffer, 0, out.offset, MessageType.Open);
  return out.toBuffer();
}

function parametersOf(open: Omit<OpenMessage, 'type'>): OptionalParameter[] {
  const parameters: OptionalParameter[] = [];
  if (open.capabilities.length > 0) {
    parameters.push({
      type: OptionalParameterType.Capabilities,
      value: encodeCapabilities(open.capabilities),
    });
  }
  return parameters.concat(open.unsupportedParameters);
}

/**
 * One-octet lengths hold each parameter and their total; a first parameter of type 255 would read as
 * the RFC 9072 marker.
 */
function fitsShortForm(parameters: readonly OptionalParameter[]): boolean {
  let total = 0;
  for (const p of parameters) {
    if (p.value.length > MAX_SHORT_LENGTH) return false;
    total += 2 + p.value.length;
  }
  return total <= MAX_SHORT_LENGTH && parameters[0]?.type !== EXTENDED_OPT_PARAMS_MARKER;
}

function writeShort(out: ByteWriter, parameters: readonly OptionalParameter[]): void {
  const totalAt = out.reserve(1);
  for (const p of parameters) out.u8(p.type).u8(p.value.length).bytes(p.value);
  out.patchLength(totalAt, 1);
}

/** RFC 9072 §2: Non-Ext OP Len and Type are both 255, then 2-octet lengths throughout. */
function writeExtended(out: ByteWriter, parameters: readonly OptionalParameter[]): void {
  out.u8(EXTENDED_OPT_PARAMS_MARKER).u8(EXTENDED_OPT_PARAMS_MARKER);
  const totalAt = out.reserve(2);
  for (const p of parameters) out.u8(p.type).u16(p.value.length).bytes(p.value);
  out.patchLength(totalAt, 2);
}
