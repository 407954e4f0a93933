// The BGP messages as the codec hands them to the session: one discriminated union, shaped after the
// wire (RFC 4271 §4) and its extensions. Addresses in attributes are text (they are few per UPDATE and
// end up in logs and the CLI); prefixes are numeric (they are many).

import type { AttributeError, ErrorAction } from './errors.ts';
import type { AddPathMode, AsPathSegmentType, MessageType, Origin } from './constants.ts';
import type { Nlri } from '../lib/prefix.ts';

// ---------------------------------------------------------------------------------------------------
// Capabilities (RFC 5492), one variant per capability code Brindle understands.

export interface MultiprotocolCapability {
  readonly code: 1;
  readonly afi: number;
  readonly safi: number;
}
export interface RouteRefreshCapability {
  readonly code: 2;
}
export interface ExtendedMessageCapability {
  readonly code: 6;
}
export interface GracefulRestartFamily {
  readonly afi: number;
  readonly safi: number;
  /** RFC 4724 §3 "Forwarding State" bit. */
  readonly forwardingState: boolean;
}
export interface GracefulRestartCapability {
  readonly code: 64;
  /** RFC 4724 §3 "Restart State" (R) bit. */
  readonly restartState: boolean;
  /** RFC 8538 §2 "Notification" (N) bit: graceful restart also after a NOTIFICATION. */
  readonly notification: boolean;
  readonly restartTimeSec: number;
  readonly families: readonly GracefulRestartFamily[];
}
export interface FourOctetAsCapability {
  readonly code: 65;
  readonly asn: number;
}
export interface AddPathFamily {
  readonly afi: number;
  readonly safi: number;
  readonly mode: AddPathMode;
}
export interface AddPathCapability {
  readonly code: 69;
  readonly families: readonly AddPathFamily[];
}
export interface EnhancedRouteRefreshCapability {
  readonly code: 70;
}
export interface LongLivedGracefulRestartFamily {
  readonly afi: number;
  readonly safi: number;
  readonly forwardingState: boolean;
  /** RFC 9494 §2: 24-bit Long-Lived Stale Time. */
  readonly staleTimeSec: number;
}
export interface LongLivedGracefulRestartCapability {
  readonly code: 71;
  readonly families: readonly LongLivedGracefulRestartFamily[];
}
/** draft-walton-bgp-hostname-capability: the peer's host and domain name. */
export interface FqdnCapability {
  readonly code: 73;
  readonly hostname: string;
  readonly domainName: string;
}
/** Any other capability, kept as bytes: RFC 5492 §3 says unknown capabilities are ignored, not errors. */
export interface UnknownCapability {
  readonly code: number;
  readonly unknown: true;
  readonly value: Uint8Array;
}

export type KnownCapability =
  | MultiprotocolCapability
  | RouteRefreshCapability
  | ExtendedMessageCapability
  | GracefulRestartCapability
  | FourOctetAsCapability
  | AddPathCapability
  | EnhancedRouteRefreshCapability
  | LongLivedGracefulRestartCapability
  | FqdnCapability;
export type Capability = KnownCapability | UnknownCapability;

// ---------------------------------------------------------------------------------------------------
// OPEN (RFC 4271 §4.2, RFC 9072)

/** An optional parameter other than Capabilities, kept so the session can refuse it (§6.2). */
export interface OptionalParameter {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface OpenMessage {
  readonly type: typeof MessageType.Open;
  readonly version: number;
  /** The 2-octet "My Autonomous System" field: AS_TRANS when the real AS needs 4 octets. */
  readonly myAutonomousSystem: number;
  readonly holdTimeSec: number;
  /** BGP Identifier as an unsigned 32-bit number (RFC 6286: an ID, not necessarily an address). */
  readonly bgpIdentifier: number;
  readonly capabilities: readonly Capability[];
  readonly unsupportedParameters: readonly OptionalParameter[];
  /** The parameters were (or are to be) in RFC 9072 extended form. */
  readonly extendedParameters: boolean;
}

// ---------------------------------------------------------------------------------------------------
// UPDATE (RFC 4271 §4.3) and its path attributes

export interface AsPathSegment {
  readonly type: AsPathSegmentType;
  /** Always 4-octet AS numbers once decoded (RFC 6793 §4.2.3 merge applied for 2-octet peers). */
  readonly asns: readonly number[];
}

export interface Aggregator {
  readonly asn: number;
  readonly address: string;
}

export interface LargeCommunity {
  readonly globalAdministrator: number;
  readonly localData1: number;
  readonly localData2: number;
}

/** An attribute Brindle does not interpret: optional transitive ones travel on (with Partial set). */
export interface RawAttribute {
  readonly flags: number;
  readonly typeCode: number;
  readonly value: Uint8Array;
}

/**
 * The attributes shared by every prefix of an UPDATE. MP_REACH_NLRI and MP_UNREACH_NLRI are not here:
 * they carry prefixes, not shared state, and live on the UpdateMessage.
 */
export interface PathAttributes {
  readonly origin?: Origin;
  readonly asPath?: readonly AsPathSegment[];
  /** NEXT_HOP attribute (IPv4 NLRI only). */
  readonly nextHop?: string;
  readonly multiExitDisc?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  readonly aggregator?: Aggregator;
  /** RFC 1997 communities, each a 32-bit number (AS << 16 | value). */
  readonly communities?: readonly number[];
  /** RFC 4456 §8, as a 32-bit number. */
  readonly originatorId?: number;
  /** RFC 4456 §8, most recent cluster first, each a 32-bit number. */
  readonly clusterList?: readonly number[];
  /** RFC 4360 extended communities, each 8 octets as an unsigned 64-bit bigint. */
  readonly extendedCommunities?: readonly bigint[];
  readonly largeCommunities?: readonly LargeCommunity[];
  /** Unrecognized optional attributes, in the order received. */
  readonly unknown?: readonly RawAttribute[];
}

/** RFC 4760 §3: announced prefixes of another family, with their next hop(s). */
export interface MpReachNlri {
  readonly afi: number;
  readonly safi: number;
  /** The global next hop (IPv4 or IPv6 text). */
  readonly nextHop: string;
  /** RFC 2545 §3: the optional IPv6 link-local next hop (a 32-octet next-hop field). */
  readonly linkLocalNextHop?: string;
  readonly nlri: readonly Nlri[];
}

/** RFC 4760 §4: withdrawn prefixes of another family. */
export interface MpUnreachNlri {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly Nlri[];
}

export interface UpdateMessage {
  readonly type: typeof MessageType.Update;
  /** IPv4 unicast prefixes from the Withdrawn Routes field. */
  readonly withdrawnRoutes: readonly Nlri[];
  readonly attributes: PathAttributes;
  /** IPv4 unicast prefixes from the NLRI field. */
  readonly nlri: readonly Nlri[];
  readonly mpReach?: MpReachNlri;
  readonly mpUnreach?: MpUnreachNlri;
  /**
   * The strongest RFC 7606 action this UPDATE calls for, or undefined when it is well formed: attribute
   * discard or treat-as-withdraw (AFI/SAFI disable and session reset never reach here: decodeUpdate
   * answers both with a NOTIFICATION). With TreatAsWithdraw the receiver withdraws every prefix in nlri
   * and mpReach.
   */
  readonly errorAction?: ErrorAction;
  readonly errors: readonly AttributeError[];
}

// ---------------------------------------------------------------------------------------------------
// NOTIFICATION, KEEPALIVE, ROUTE-REFRESH

export interface NotificationMessage {
  readonly type: typeof MessageType.Notification;
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  /** RFC 9003: the operator's message on Cease/Administrative Shutdown or Reset, when present and valid. */
  readonly shutdownCommunication?: string;
}

export interface KeepaliveMessage {
  readonly type: typeof MessageType.Keepalive;
}

export interface RouteRefreshMessage {
  readonly type: typeof MessageType.RouteRefresh;
  readonly afi: number;
  readonly safi: number;
  /**
   * RFC 7313 §3.2: 0 normal request, 1 BoRR, 2 EoRR (RouteRefreshSubtype). Any other value is passed on
   * as received: §5 says the message is then ignored, which is the session's decision.
   */
  readonly subtype: number;
}

export type BgpMessage =
  OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

// ---------------------------------------------------------------------------------------------------
// What the codec needs to know about the session (negotiated in OPEN).

export interface CodecContext {
  /** RFC 6793: both sides announced the 4-octet AS capability. */
  readonly fourOctetAs: boolean;
  /**
   * RFC 7911: families (familyKey) whose NLRI carry Path Identifiers in this direction: for decoding,
   * the families we receive with ADD-PATH; for encoding, those we send with it.
   */
  readonly addPath: ReadonlySet<number>;
  /** 4096, or 65535 when RFC 8654 Extended Message was negotiated. */
  readonly maxMessageLength: number;
  /** The peer is external (eBGP): RFC 7606 §7.5 discards LOCAL_PREF from it. */
  readonly external: boolean;
}
