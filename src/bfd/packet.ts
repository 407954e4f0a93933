// The BFD Control packet of RFC 5880 §4.1: encode, and decode with the reception checks of §6.8.6
// that need nothing but the packet itself. The checks that need a session (Your Discriminator
// selecting one, the session's authentication) belong to the session layer.
//
// Brindle does not implement authentication (§6.7): a packet with the A bit set is refused, which
// §6.8.6 requires of a session that has none configured.

/** §4.1 Diagnostic codes (IANA "BFD Diagnostic Codes"). */
export const Diag = {
  NoDiagnostic: 0,
  ControlDetectionTimeExpired: 1,
  EchoFunctionFailed: 2,
  NeighborSignaledSessionDown: 3,
  ForwardingPlaneReset: 4,
  PathDown: 5,
  ConcatenatedPathDown: 6,
  AdministrativelyDown: 7,
  ReverseConcatenatedPathDown: 8,
} as const;
export type Diag = (typeof Diag)[keyof typeof Diag];

export const DIAG_NAMES: readonly string[] = [
  'No Diagnostic',
  'Control Detection Time Expired',
  'Echo Function Failed',
  'Neighbor Signaled Session Down',
  'Forwarding Plane Reset',
  'Path Down',
  'Concatenated Path Down',
  'Administratively Down',
  'Reverse Concatenated Path Down',
];

/** §4.1 State (Sta): the wire values, in their order. */
export const BfdState = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
export type BfdState = (typeof BfdState)[keyof typeof BfdState];
export const STATE_NAMES: readonly string[] = ['AdminDown', 'Down', 'Init', 'Up'];

export const BFD_VERSION = 1;
/** §4.1: the mandatory section, without authentication. */
export const CONTROL_PACKET_LENGTH = 24;
/** §4.1: an authentication section is at least its Type and Len octets. */
const MIN_LENGTH_WITH_AUTH = 26;

const FLAG_POLL = 0x20;
const FLAG_FINAL = 0x10;
const FLAG_CONTROL_PLANE_INDEPENDENT = 0x08;
const FLAG_AUTHENTICATION_PRESENT = 0x04;
const FLAG_DEMAND = 0x02;
const FLAG_MULTIPOINT = 0x01;

/** One BFD Control packet; intervals are in microseconds, as on the wire. */
export interface ControlPacket {
  readonly diag: Diag;
  readonly state: BfdState;
  readonly poll: boolean;
  readonly final: boolean;
  readonly controlPlaneIndependent: boolean;
  readonly demand: boolean;
  readonly detectMult: number;
  readonly myDiscriminator: number;
  readonly yourDiscriminator: number;
  readonly desiredMinTxIntervalUs: number;
  readonly requiredMinRxIntervalUs: number;
  readonly requiredMinEchoRxIntervalUs: number;
}

/** Why §6.8.6 says a received packet "MUST be discarded". */
export type DiscardReason =
  | 'short packet'
  | 'bad version'
  | 'bad length'
  | 'length exceeds payload'
  | 'authentication not configured'
  | 'zero detect mult'
  | 'multipoint set'
  | 'zero my discriminator'
  | 'zero your discriminator'
  | 'poll and final both set';

export type DecodeResult =
  | { readonly ok: true; readonly packet: ControlPacket }
  | { readonly ok: false; readonly reason: DiscardReason };

export function encodeControlPacket(p: ControlPacket, into?: Buffer): Buffer {
  const out = into ?? Buffer.allocUnsafe(CONTROL_PACKET_LENGTH);
  out[0] = (BFD_VERSION << 5) | (p.diag & 0x1f);
  out[1] =
    (p.state << 6) |
    (p.poll ? FLAG_POLL : 0) |
    (p.final ? FLAG_FINAL : 0) |
    (p.controlPlaneIndependent ? FLAG_CONTROL_PLANE_INDEPENDENT : 0) |
    (p.demand ? FLAG_DEMAND : 0);
  out[2] = p.detectMult;
  out[3] = CONTROL_PACKET_LENGTH;
  out.writeUInt32BE(p.myDiscriminator >>> 0, 4);
  out.writeUInt32BE(p.yourDiscriminator >>> 0, 8);
  out.writeUInt32BE(p.desiredMinTxIntervalUs >>> 0, 12);
  out.writeUInt32BE(p.requiredMinRxIntervalUs >>> 0, 16);
  out.writeUInt32BE(p.requiredMinEchoRxIntervalUs >>> 0, 20);
  return out;
}

/** Decodes one UDP payload, applying the §6.8.6 checks in the RFC's order. */
export function decodeControlPacket(payload: Uint8Array): DecodeResult {
  const fault = checkHeader(payload);
  if (fault !== undefined) return { ok: false, reason: fault };
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const packet: ControlPacket = {
    diag: (payload[0] & 0x1f) as Diag,
    state: (payload[1] >> 6) as BfdState,
    poll: (payload[1] & FLAG_POLL) !== 0,
    final: (payload[1] & FLAG_FINAL) !== 0,
    controlPlaneIndependent: (payload[1] & FLAG_CONTROL_PLANE_INDEPENDENT) !== 0,
    demand: (payload[1] & FLAG_DEMAND) !== 0,
    detectMult: payload[2],
    myDiscriminator: view.getUint32(4),
    yourDiscriminator: view.getUint32(8),
    desiredMinTxIntervalUs: view.getUint32(12),
    requiredMinRxIntervalUs: view.getUint32(16),
    requiredMinEchoRxIntervalUs: view.getUint32(20),
  };
  const bad = checkDiscriminators(packet);
  return bad === undefined ? { ok: true, packet } : { ok: false, reason: bad };
}

function checkHeader(payload: Uint8Array): DiscardReason | undefined {
  if (payload.length < CONTROL_PACKET_LENGTH) return 'short packet';
  if (payload[0] >> 5 !== BFD_VERSION) return 'bad version';
  const length = payload[3];
  const auth = (payload[1] & FLAG_AUTHENTICATION_PRESENT) !== 0;
  if (length < (auth ? MIN_LENGTH_WITH_AUTH : CONTROL_PACKET_LENGTH)) return 'bad length';
  if (length > payload.length) return 'length exceeds payload';
  // §6.8.6: A set and bfd.AuthType zero (Brindle has no authentication) → discard.
  if (auth) return 'authentication not configured';
  if (payload[2] === 0) return 'zero detect mult';
  if ((payload[1] & FLAG_MULTIPOINT) !== 0) return 'multipoint set';
  // §6.8.7 forbids sending both; a packet with both would make the Poll Sequence ambiguous.
  if ((payload[1] & (FLAG_POLL | FLAG_FINAL)) === (FLAG_POLL | FLAG_FINAL)) return 'poll and final both set';
  return undefined;
}

function checkDiscriminators(p: ControlPacket): DiscardReason | undefined {
  if (p.myDiscriminator === 0) return 'zero my discriminator';
  // §6.8.6: Your Discriminator zero is only legal while the sender is Down or AdminDown.
  const senderDown = p.state === BfdState.Down || p.state === BfdState.AdminDown;
  if (p.yourDiscriminator === 0 && !senderDown) return 'zero your discriminator';
  return undefined;
}
