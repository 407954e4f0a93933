// The Capabilities optional parameter (RFC 5492 §4): its value decoded into Capability values and
// encoded back, one descriptor per capability code (IANA "Capability Codes"). Codes Brindle does not
// understand are kept as raw bytes: RFC 5492 §3 says they are ignored, never an error.
//
// Malformed capabilities. RFC 5492 defines no error for them; RFC 4271 §6.2 gives a recognized optional
// parameter that is malformed OPEN Message Error / 0 (Unspecific), as BIRD, FRR and OpenBGPD send.
// Brindle ends the session that way when
//   - a capability overruns its parameter: nothing after it can be framed;
//   - Multiprotocol, Extended Message, 4-octet AS or ADD-PATH does not fit its layout: guessing would
//     change the negotiated families, the message size limit, the AS_PATH encoding or the NLRI
//     encoding of every later UPDATE, in a way the peer does not know about.
// A malformed capability whose only safe reading is "not announced" is kept as an UnknownCapability
// and so ignored (OpenBGPD does the same): Route Refresh and Enhanced Route Refresh (advisory), Graceful
// Restart and Long-Lived GR (without them routes are flushed on session loss, the RFC 4271 behaviour),
// FQDN (informational), and ADD-PATH with a Send/Receive value outside 1..3, which RFC 7911 §4 says
// "SHOULD be treated as not understood and ignored".
// A capability may appear several times, in one parameter or in several (RFC 5492 §4); every instance
// is returned in wire order and the session decides what repeats mean.

import { ByteWriter } from '../../lib/byte-writer.ts';
import { familyName } from '../../lib/family.ts';
import { AddPathMode, CapabilityCode, ErrorCode, OpenSubcode } from '../constants.ts';
import { BgpError } from '../errors.ts';
import type {
  AddPathCapability,
  Capability,
  ExtendedMessageCapability,
  EnhancedRouteRefreshCapability,
  FourOctetAsCapability,
  FqdnCapability,
  GracefulRestartCapability,
  KnownCapability,
  LongLivedGracefulRestartCapability,
  MultiprotocolCapability,
  RouteRefreshCapability,
  UnknownCapability,
} from '../types.ts';

/** RFC 5492 §4: Capability Length is one octet. */
const MAX_CAPABILITY_LENGTH = 255;

/** RFC 4724 §3: the restart flags share two octets with the 12-bit Restart Time. */
const GR_RESTART_STATE = 0x8000;
/** RFC 8538 §2: the "N" bit, graceful restart also after a NOTIFICATION. */
const GR_NOTIFICATION = 0x4000;
const GR_RESTART_TIME_MASK = 0x0fff;
/** RFC 4724 §3 and RFC 9494 §2: the Forwarding State (F) bit of a family's flags. */
const FORWARDING_STATE = 0x80;
const MAX_STALE_TIME_SEC = 0xffffff;

interface CapabilityCodec<C extends KnownCapability> {
  /**
   * Decodes a Capability Value. Returns undefined when the value is malformed but the session can go
   * on without the capability; throws a BgpError when it cannot.
   */
  decode(value: Uint8Array): C | undefined;
  encode(cap: C, out: ByteWriter): void;
  /** The value for logs and the CLI, after the capability's name. */
  describe(cap: C): string;
}

interface CapabilityDescriptor {
  /** Short name for logs, metrics and the CLI. */
  readonly name: string;
  /** Absent for codes Brindle only names: those are kept raw. */
  readonly codec?: CapabilityCodec<KnownCapability>;
}

// ---------------------------------------------------------------------------------------------------
// Reading and checking values

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 8) | bytes[at + 1];
}

function u24(bytes: Uint8Array, at: number): number {
  return (bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2];
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/** RFC 4271 §6.2: a recognized optional parameter that is malformed → OPEN Message Error / Unspecific. */
function malformed(code: number, reason: string): BgpError {
  return new BgpError(ErrorCode.OpenMessage, OpenSubcode.Unspecific, `${capabilityName(code)}: ${reason}`);
}

/** Throws unless the value is exactly `expected` octets (for the session-fatal capabilities). */
function requireLength(code: number, value: Uint8Array, expected: number): void {
  if (value.length !== expected) {
    throw malformed(code, `length ${value.length}, expected ${expected}`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Writes a one-octet length and the UTF-8 text (draft-walton-bgp-hostname-capability). */
function writeShortText(out: ByteWriter, text: string, what: string): void {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > MAX_CAPABILITY_LENGTH) throw new RangeError(`${what} of ${bytes.length} octets`);
  out.u8(bytes.length).bytes(bytes);
}

function checkRange(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new RangeError(`${what} ${value} not in 0..${max}`);
}

function flag(on: boolean, bit: number): number {
  return on ? bit : 0;
}

// ---------------------------------------------------------------------------------------------------
// One codec per capability Brindle understands

/** RFC 4760 §8: AFI(2) Reserved(1) SAFI(1). */
const multiprotocol: CapabilityCodec<MultiprotocolCapability> = {
  decode(value) {
    requireLength(CapabilityCode.Multiprotocol, value, 4);
    return { code: CapabilityCode.Multiprotocol, afi: u16(value, 0), safi: value[3] };
  },
  encode(cap, out) {
    out.u16(cap.afi).u8(0).u8(cap.safi);
  },
  describe: (cap) => familyName(cap.afi, cap.safi),
};

/** RFC 2918 §2: no value. */
const routeRefresh: CapabilityCodec<RouteRefreshCapability> = {
  decode: (value) => (value.length === 0 ? { code: CapabilityCode.RouteRefresh } : undefined),
  encode() {},
  describe: () => '',
};

/** RFC 8654 §3: no value. It changes the size limit of every later message, so it must be exact. */
const extendedMessage: CapabilityCodec<ExtendedMessageCapability> = {
  decode(value) {
    requireLength(CapabilityCode.ExtendedMessage, value, 0);
    return { code: CapabilityCode.ExtendedMessage };
  },
  encode() {},
  describe: () => '',
};

/**
 * RFC 4724 §3: Restart Flags(4 bits: R, N (RFC 8538 §2), 2 reserved) Restart Time(12 bits), then per
 * family AFI(2) SAFI(1) Flags(1: F, 7 reserved). Reserved bits are ignored on receipt, sent as zero.
 */
const gracefulRestart: CapabilityCodec<GracefulRestartCapability> = {
  decode(value) {
    if (value.length < 2 || (value.length - 2) % 4 !== 0) return undefined;
    const header = u16(value, 0);
    const families = [];
    for (let at = 2; at < value.length; at += 4) {
      const forwardingState = (value[at + 3] & FORWARDING_STATE) !== 0;
      families.push({ afi: u16(value, at), safi: value[at + 2], forwardingState });
    }
    return {
      code: CapabilityCode.GracefulRestart,
      restartState: (header & GR_RESTART_STATE) !== 0,
      notification: (header & GR_NOTIFICATION) !== 0,
      restartTimeSec: header & GR_RESTART_TIME_MASK,
      families,
    };
  },
  encode(cap, out) {
    checkRange(cap.restartTimeSec, GR_RESTART_TIME_MASK, 'graceful restart time');
    out.u16(
      flag(cap.restartState, GR_RESTART_STATE) | flag(cap.notification, GR_NOTIFICATION) | cap.restartTimeSec,
    );
    for (const f of cap.families) out.u16(f.afi).u8(f.safi).u8(flag(f.forwardingState, FORWARDING_STATE));
  },
  describe(cap) {
    const flags = [cap.restartState ? ' restarting' : '', cap.notification ? ' notification' : ''].join('');
    const families = cap.families.map(
      (f) => ` ${familyName(f.afi, f.safi)}${f.forwardingState ? '(F)' : ''}`,
    );
    return `${cap.restartTimeSec}s${flags}${families.join('')}`;
  },
};

/** RFC 6793 §3: the 4-octet AS number. Misreading it would garble every AS_PATH, so it must be exact. */
const fourOctetAs: CapabilityCodec<FourOctetAsCapability> = {
  decode(value) {
    requireLength(CapabilityCode.FourOctetAs, value, 4);
    return { code: CapabilityCode.FourOctetAs, asn: u32(value, 0) };
  },
  encode(cap, out) {
    out.u32(cap.asn);
  },
  describe: (cap) => String(cap.asn),
};

const ADD_PATH_MODE_NAMES: Record<AddPathMode, string> = {
  [AddPathMode.Receive]: 'receive',
  [AddPathMode.Send]: 'send',
  [AddPathMode.Both]: 'send/receive',
};

function isAddPathMode(value: number): value is AddPathMode {
  return value === AddPathMode.Receive || value === AddPathMode.Send || value === AddPathMode.Both;
}

/**
 * RFC 7911 §4: per family AFI(2) SAFI(1) Send/Receive(1). A length that is not a multiple of 4 leaves
 * it unknown which families carry Path Identifiers: session-fatal. A Send/Receive value other than
 * 1..3 makes the whole capability "not understood and ignored" (§4).
 */
const addPath: CapabilityCodec<AddPathCapability> = {
  decode(value) {
    if (value.length % 4 !== 0) {
      throw malformed(CapabilityCode.AddPath, `length ${value.length} is not a multiple of 4`);
    }
    const families = [];
    for (let at = 0; at < value.length; at += 4) {
      const mode = value[at + 3];
      if (!isAddPathMode(mode)) return undefined;
      families.push({ afi: u16(value, at), safi: value[at + 2], mode });
    }
    return { code: CapabilityCode.AddPath, families };
  },
  encode(cap, out) {
    for (const f of cap.families) out.u16(f.afi).u8(f.safi).u8(f.mode);
  },
  describe: (cap) =>
    cap.families.map((f) => `${familyName(f.afi, f.safi)} ${ADD_PATH_MODE_NAMES[f.mode]}`).join(', '),
};

/** RFC 7313 §3.1: no value. */
const enhancedRouteRefresh: CapabilityCodec<EnhancedRouteRefreshCapability> = {
  decode: (value) => (value.length === 0 ? { code: CapabilityCode.EnhancedRouteRefresh } : undefined),
  encode() {},
  describe: () => '',
};

/** RFC 9494 §2: per family AFI(2) SAFI(1) Flags(1: F, 7 reserved) Long-Lived Stale Time(3). */
const longLivedGracefulRestart: CapabilityCodec<LongLivedGracefulRestartCapability> = {
  decode(value) {
    if (value.length % 7 !== 0) return undefined;
    const families = [];
    for (let at = 0; at < value.length; at += 7) {
      const forwardingState = (value[at + 3] & FORWARDING_STATE) !== 0;
      families.push({
        afi: u16(value, at),
        safi: value[at + 2],
        forwardingState,
        staleTimeSec: u24(value, at + 4),
      });
    }
    return { code: CapabilityCode.LongLivedGracefulRestart, families };
  },
  encode(cap, out) {
    for (const f of cap.families) {
      checkRange(f.staleTimeSec, MAX_STALE_TIME_SEC, 'long-lived stale time');
      out.u16(f.afi).u8(f.safi).u8(flag(f.forwardingState, FORWARDING_STATE));
      out.u8(f.staleTimeSec >>> 16).u16(f.staleTimeSec & 0xffff);
    }
  },
  describe: (cap) =>
    cap.families
      .map((f) => `${familyName(f.afi, f.safi)} ${f.staleTimeSec}s${f.forwardingState ? '(F)' : ''}`)
      .join(', '),
};

/** draft-walton-bgp-hostname-capability: Hostname Length(1) Hostname, Domain Name Length(1) Domain Name. */
const fqdn: CapabilityCodec<FqdnCapability> = {
  decode(value) {
    if (value.length < 2) return undefined;
    const hostEnd = 1 + value[0];
    if (value.length < hostEnd + 1 || value.length !== hostEnd + 1 + value[hostEnd]) return undefined;
    const hostname = decodeUtf8(value.subarray(1, hostEnd));
    const domainName = decodeUtf8(value.subarray(hostEnd + 1));
    if (hostname === undefined || domainName === undefined) return undefined;
    return { code: CapabilityCode.Fqdn, hostname, domainName };
  },
  encode(cap, out) {
    writeShortText(out, cap.hostname, 'hostname');
    writeShortText(out, cap.domainName, 'domain name');
  },
  // Peer-supplied text: quoted and escaped so it cannot forge log lines.
  describe: (cap) =>
    JSON.stringify(cap.domainName === '' ? cap.hostname : `${cap.hostname}.${cap.domainName}`),
};

/** IANA "Capability Codes": the ones Brindle decodes, and names for the ones it only logs. */
const CAPABILITIES: Readonly<Record<number, CapabilityDescriptor>> = {
  1: { name: 'multiprotocol', codec: multiprotocol }, // RFC 4760
  2: { name: 'route-refresh', codec: routeRefresh }, // RFC 2918
  3: { name: 'outbound-route-filtering' }, // RFC 5291
  5: { name: 'extended-next-hop' }, // RFC 8950
  6: { name: 'extended-message', codec: extendedMessage }, // RFC 8654
  7: { name: 'bgpsec' }, // RFC 8205
  8: { name: 'multiple-labels' }, // RFC 8277
  9: { name: 'role' }, // RFC 9234
  64: { name: 'graceful-restart', codec: gracefulRestart }, // RFC 4724
  65: { name: '4-octet-as', codec: fourOctetAs }, // RFC 6793
  67: { name: 'dynamic-capability' }, // draft-ietf-idr-dynamic-cap
  68: { name: 'multisession' }, // draft-ietf-idr-bgp-multisession
  69: { name: 'add-path', codec: addPath }, // RFC 7911
  70: { name: 'enhanced-route-refresh', codec: enhancedRouteRefresh }, // RFC 7313
  71: { name: 'long-lived-graceful-restart', codec: longLivedGracefulRestart }, // RFC 9494
  73: { name: 'fqdn', codec: fqdn }, // draft-walton-bgp-hostname-capability
  75: { name: 'software-version' }, // draft-abraitis-bgp-version-capability
  76: { name: 'paths-limit' }, // draft-abraitis-idr-addpath-paths-limit
  128: { name: 'route-refresh-cisco' }, // pre-standard RFC 2918
};

// ---------------------------------------------------------------------------------------------------
// Public API

/** Narrows a decoded capability to one Brindle understands. Check this before switching on `code`. */
export function isKnownCapability(cap: Capability): cap is KnownCapability {
  return !('unknown' in cap);
}

/** "add-path", or "capability 200" for an unnamed code. */
export function capabilityName(code: number): string {
  return CAPABILITIES[code]?.name ?? `capability ${code}`;
}

/** "multiprotocol ipv4-unicast", "add-path ipv6-unicast send/receive", "role (1 octet)", … */
export function describeCapability(cap: Capability): string {
  const name = capabilityName(cap.code);
  if (!isKnownCapability(cap)) {
    const size = `${cap.value.length} octet${cap.value.length === 1 ? '' : 's'}`;
    return CAPABILITIES[cap.code]?.codec ? `${name} (not understood, ${size})` : `${name} (${size})`;
  }
  const detail = codecFor(cap.code).describe(cap);
  return detail === '' ? name : `${name} ${detail}`;
}

/** Decodes one Capability Value; a code Brindle does not know, or may ignore, comes back raw. */
export function decodeCapability(code: number, value: Uint8Array): Capability {
  const decoded = CAPABILITIES[code]?.codec?.decode(value);
  return decoded ?? unknownCapability(code, value);
}

function unknownCapability(code: number, value: Uint8Array): UnknownCapability {
  // A copy: the message buffer should not stay alive for the session's lifetime.
  return { code, unknown: true, value: new Uint8Array(value) };
}

/**
 * Decodes the value of one Capabilities optional parameter: <code, length, value> triples (RFC 5492
 * §4). Throws a BgpError (2/0) when a triple overruns the parameter or a capability is fatally malformed.
 */
export function decodeCapabilities(parameterValue: Uint8Array): Capability[] {
  const caps: Capability[] = [];
  let at = 0;
  while (at < parameterValue.length) {
    if (at + 2 > parameterValue.length) throw truncated(`capability header at octet ${at}`);
    const code = parameterValue[at];
    const end = at + 2 + parameterValue[at + 1];
    if (end > parameterValue.length) {
      throw truncated(`${capabilityName(code)} of ${end - at - 2} octets overruns its parameter`);
    }
    caps.push(decodeCapability(code, parameterValue.subarray(at + 2, end)));
    at = end;
  }
  return caps;
}

function truncated(reason: string): BgpError {
  return new BgpError(ErrorCode.OpenMessage, OpenSubcode.Unspecific, `Capabilities parameter: ${reason}`);
}

function codecFor(code: KnownCapability['code']): CapabilityCodec<KnownCapability> {
  const found = CAPABILITIES[code].codec;
  if (!found) throw new Error(`no codec for capability ${code}`);
  return found;
}

/** Appends one <code, length, value> triple. Throws RangeError when a value cannot be encoded. */
export function writeCapability(out: ByteWriter, cap: Capability): void {
  out.u8(cap.code);
  const lengthAt = out.reserve(1);
  if (isKnownCapability(cap)) codecFor(cap.code).encode(cap, out);
  else out.bytes(cap.value);
  const length = out.offset - lengthAt - 1;
  if (length > MAX_CAPABILITY_LENGTH) {
    throw new RangeError(
      `${capabilityName(cap.code)} value of ${length} octets exceeds ${MAX_CAPABILITY_LENGTH}`,
    );
  }
  out.patchLength(lengthAt, 1);
}

/** One triple, as it appears inside a Capabilities optional parameter. */
export function encodeCapability(cap: Capability): Buffer {
  const out = new ByteWriter(16);
  writeCapability(out, cap);
  return out.toBuffer();
}

/** The value of a Capabilities optional parameter holding all of `caps`, in order. */
export function encodeCapabilities(caps: readonly Capability[]): Buffer {
  const out = new ByteWriter(64);
  for (const cap of caps) writeCapability(out, cap);
  return out.toBuffer();
}
