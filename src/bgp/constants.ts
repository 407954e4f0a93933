// IANA registries used on the wire by BGP-4 (RFC 4271) and its extensions. One table per registry;
// names follow the RFC text so logs, metrics and the CLI use the same words.

/** RFC 4271 §4.1: the header is marker(16) + length(2) + type(1). */
export const HEADER_LENGTH = 19;
export const MARKER_LENGTH = 16;
/** RFC 4271 §4: maximum message size without the Extended Message capability. */
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 8654 §3: maximum message size once Extended Message is negotiated both ways. */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;
export const BGP_VERSION = 4;
/** RFC 4271 §8.2.1 / IANA service name "bgp": the well-known TCP port. */
export const BGP_PORT = 179;
/** RFC 6793 §9: the 2-octet stand-in for a 4-octet AS number. */
export const AS_TRANS = 23456;

export const MessageType = {
  Open: 1,
  Update: 2,
  Notification: 3,
  Keepalive: 4,
  RouteRefresh: 5,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export { Afi, Safi } from '../lib/family.ts';

/** Path attribute flags, RFC 4271 §4.3. */
export const AttrFlag = {
  Optional: 0x80,
  Transitive: 0x40,
  Partial: 0x20,
  ExtendedLength: 0x10,
} as const;

/** Path attribute type codes (IANA "BGP Path Attributes"). */
export const AttrType = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  MultiExitDisc: 4,
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8,
  OriginatorId: 9,
  ClusterList: 10,
  MpReachNlri: 14,
  MpUnreachNlri: 15,
  ExtendedCommunities: 16,
  As4Path: 17,
  As4Aggregator: 18,
  LargeCommunity: 32,
} as const;

export const Origin = { Igp: 0, Egp: 1, Incomplete: 2 } as const;
export type Origin = (typeof Origin)[keyof typeof Origin];

/** AS_PATH segment types: RFC 4271 §4.3 and RFC 5065 §3 (confederations). */
export const AsPathSegmentType = {
  AsSet: 1,
  AsSequence: 2,
  AsConfedSequence: 3,
  AsConfedSet: 4,
} as const;
export type AsPathSegmentType = (typeof AsPathSegmentType)[keyof typeof AsPathSegmentType];

/** Capability codes (IANA "Capability Codes"). */
export const CapabilityCode = {
  Multiprotocol: 1,
  RouteRefresh: 2,
  ExtendedMessage: 6,
  GracefulRestart: 64,
  FourOctetAs: 65,
  AddPath: 69,
  EnhancedRouteRefresh: 70,
  LongLivedGracefulRestart: 71,
  Fqdn: 73,
} as const;

/** RFC 5492 §4: the only optional parameter type in use. */
export const OptionalParameterType = { Capabilities: 2 } as const;
/** RFC 9072 §2: an Optional Parameters Length octet of 255 announces the extended format. */
export const EXTENDED_OPT_PARAMS_MARKER = 255;

/** RFC 7911 §4: Send/Receive field of the ADD-PATH capability. */
export const AddPathMode = { Receive: 1, Send: 2, Both: 3 } as const;
export type AddPathMode = (typeof AddPathMode)[keyof typeof AddPathMode];

/** Well-known communities, RFC 1997, RFC 8326 and RFC 9494. */
export const WellKnownCommunity = {
  GracefulShutdown: 0xffff0000,
  /** RFC 9494 §3.2: a stale route kept by Long-Lived Graceful Restart; least preferred. */
  LlgrStale: 0xffff0006,
  /** RFC 9494 §3.3: not to be kept as LLGR-stale; removed when its session's LLGR period begins. */
  NoLlgr: 0xffff0007,
  NoExport: 0xffffff01,
  NoAdvertise: 0xffffff02,
  NoExportSubconfed: 0xffffff03,
  NoPeer: 0xffffff04,
} as const;

/** NOTIFICATION error codes, RFC 4271 §4.5 (plus 5 from RFC 6608, 7 from RFC 7313, 8 from RFC 9687). */
export const ErrorCode = {
  MessageHeader: 1,
  OpenMessage: 2,
  UpdateMessage: 3,
  HoldTimerExpired: 4,
  FsmError: 5,
  Cease: 6,
  RouteRefreshMessage: 7,
  SendHoldTimerExpired: 8,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** RFC 4271 §6.1. */
export const HeaderSubcode = {
  ConnectionNotSynchronized: 1,
  BadMessageLength: 2,
  BadMessageType: 3,
} as const;

/** RFC 4271 §6.2, RFC 5492 §5 (7), RFC 9234 (11 is role mismatch, not used). */
export const OpenSubcode = {
  /** §6.2: a recognized optional parameter that is malformed. */
  Unspecific: 0,
  UnsupportedVersionNumber: 1,
  BadPeerAs: 2,
  BadBgpIdentifier: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
} as const;

/** RFC 4271 §6.3. */
export const UpdateSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnownAttribute: 2,
  MissingWellKnownAttribute: 3,
  AttributeFlagsError: 4,
  AttributeLengthError: 5,
  InvalidOriginAttribute: 6,
  InvalidNextHopAttribute: 8,
  OptionalAttributeError: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;

/** RFC 6608 §3. */
export const FsmSubcode = {
  Unspecified: 0,
  UnexpectedMessageInOpenSent: 1,
  UnexpectedMessageInOpenConfirm: 2,
  UnexpectedMessageInEstablished: 3,
} as const;

/** RFC 4486 §4 (and RFC 8538 §5 for Hard Reset). */
export const CeaseSubcode = {
  MaximumNumberOfPrefixesReached: 1,
  AdministrativeShutdown: 2,
  PeerDeConfigured: 3,
  AdministrativeReset: 4,
  ConnectionRejected: 5,
  OtherConfigurationChange: 6,
  ConnectionCollisionResolution: 7,
  OutOfResources: 8,
  HardReset: 9,
  BfdDown: 10,
} as const;

/** RFC 7313 §5. */
export const RouteRefreshSubcode = { InvalidMessageLength: 1 } as const;

/** RFC 7313 §3.2: the Message Subtype (formerly Reserved) of ROUTE-REFRESH. */
export const RouteRefreshSubtype = { Normal: 0, BoRR: 1, EoRR: 2 } as const;
export type RouteRefreshSubtype = (typeof RouteRefreshSubtype)[keyof typeof RouteRefreshSubtype];

/** RFC 9003 §2: a shutdown communication is at most 255 octets of UTF-8. */
export const MAX_SHUTDOWN_COMMUNICATION_LENGTH = 255;

const ERROR_CODE_NAMES: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
  8: 'Send Hold Timer Expired',
};

const SUBCODE_NAMES: Record<number, Record<number, string>> = {
  1: { 1: 'Connection Not Synchronized', 2: 'Bad Message Length', 3: 'Bad Message Type' },
  2: {
    1: 'Unsupported Version Number',
    2: 'Bad Peer AS',
    3: 'Bad BGP Identifier',
    4: 'Unsupported Optional Parameter',
    6: 'Unacceptable Hold Time',
    7: 'Unsupported Capability',
  },
  3: {
    1: 'Malformed Attribute List',
    2: 'Unrecognized Well-known Attribute',
    3: 'Missing Well-known Attribute',
    4: 'Attribute Flags Error',
    5: 'Attribute Length Error',
    6: 'Invalid ORIGIN Attribute',
    8: 'Invalid NEXT_HOP Attribute',
    9: 'Optional Attribute Error',
    10: 'Invalid Network Field',
    11: 'Malformed AS_PATH',
  },
  5: {
    0: 'Unspecified Error',
    1: 'Receive Unexpected Message in OpenSent State',
    2: 'Receive Unexpected Message in OpenConfirm State',
    3: 'Receive Unexpected Message in Established State',
  },
  6: {
    1: 'Maximum Number of Prefixes Reached',
    2: 'Administrative Shutdown',
    3: 'Peer De-configured',
    4: 'Administrative Reset',
    5: 'Connection Rejected',
    6: 'Other Configuration Change',
    7: 'Connection Collision Resolution',
    8: 'Out of Resources',
    9: 'Hard Reset',
    10: 'BFD Down',
  },
  7: { 1: 'Invalid Message Length' },
};

/** "Cease/Administrative Shutdown": the RFC names of a NOTIFICATION's code and subcode. */
export function notificationName(code: number, subcode: number): string {
  const codeName = ERROR_CODE_NAMES[code] ?? `Unknown error code ${code}`;
  if (subcode === 0 && code !== ErrorCode.FsmError) return codeName;
  const subName = SUBCODE_NAMES[code]?.[subcode] ?? `subcode ${subcode}`;
  return `${codeName}/${subName}`;
}
