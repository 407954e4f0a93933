// Capability negotiation (RFC 5492): what we announced × what the peer announced → what the session
// uses, or the OPEN Message Error to send. Pure: no I/O, no clock.

import { AddPathMode, AS_TRANS, CapabilityCode, ErrorCode, OpenSubcode } from '../constants.ts';
import { BgpError } from '../errors.ts';
import type {
  AddPathCapability,
  Capability,
  FourOctetAsCapability,
  GracefulRestartCapability,
  LongLivedGracefulRestartCapability,
  FqdnCapability,
  OpenMessage,
} from '../types.ts';
import { familyKey, IPV4_UNICAST } from '../../lib/family.ts';

/** What the session layer needs to know about the local side to judge the peer's OPEN. */
export interface LocalSpeaker {
  readonly localAs: number;
  readonly bgpIdentifier: number;
  /** The AS the peer must have; undefined accepts any (used only for dynamic/unnumbered peers). */
  readonly peerAs?: number;
  readonly holdTimeSec: number;
  /** Keepalive interval to use; undefined means a third of the negotiated hold time (RFC 4271 §10). */
  readonly keepaliveTimeSec?: number;
}

export interface NegotiatedSession {
  readonly peerAs: number;
  readonly peerBgpIdentifier: number;
  readonly external: boolean;
  /** 0 disables both the hold and the keepalive timers (RFC 4271 §4.2). */
  readonly holdTimeSec: number;
  readonly keepaliveTimeSec: number;
  readonly fourOctetAs: boolean;
  /** familyKey()s both sides announced (IPv4 unicast when neither announced any, RFC 4760 §8). */
  readonly families: ReadonlySet<number>;
  /** Families whose NLRI we receive with Path Identifiers (we announced receive, they send). */
  readonly addPathReceive: ReadonlySet<number>;
  /** Families whose NLRI we send with Path Identifiers. */
  readonly addPathSend: ReadonlySet<number>;
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  readonly extendedMessage: boolean;
  /** The peer's RFC 4724 capability, when it announced one. */
  readonly peerGracefulRestart?: GracefulRestartCapability;
  readonly peerLongLivedGracefulRestart?: LongLivedGracefulRestartCapability;
  /**
   * RFC 8538 §2: both sides set the N bit, so a hold-timer expiry or a NOTIFICATION other than Hard
   * Reset ends the session with graceful restart, as a lost connection does.
   */
  readonly gracefulNotification: boolean;
  /**
   * RFC 9494: both sides announced Long-Lived Graceful Restart, each with Graceful Restart (§4.5: an
   * LLGR capability without GR is ignored). LLGR_STALE routes go only to such peers (§4.3).
   */
  readonly longLivedGracefulRestart: boolean;
  readonly peerHostname?: string;
  readonly localCapabilities: readonly Capability[];
  readonly peerCapabilities: readonly Capability[];
}

function find<C extends Capability>(caps: readonly Capability[], code: number): C | undefined {
  return caps.find((c) => c.code === code && !('unknown' in c)) as C | undefined;
}

function has(caps: readonly Capability[], code: number): boolean {
  return find(caps, code) !== undefined;
}

/** RFC 6793 §4.1: the AS a speaker announces, from its 4-octet capability when present. */
export function announcedAs(open: OpenMessage): number {
  return (
    find<FourOctetAsCapability>(open.capabilities, CapabilityCode.FourOctetAs)?.asn ?? open.myAutonomousSystem
  );
}

function multiprotocolFamilies(caps: readonly Capability[]): Set<number> {
  const families = new Set<number>();
  for (const c of caps)
    if (c.code === CapabilityCode.Multiprotocol && 'afi' in c) families.add(familyKey(c.afi, c.safi));
  // RFC 4760 §8: a speaker that announces no Multiprotocol capability speaks IPv4 unicast only.
  if (families.size === 0) families.add(IPV4_UNICAST);
  return families;
}

function addPathModes(caps: readonly Capability[]): Map<number, number> {
  const modes = new Map<number, number>();
  const cap = find<AddPathCapability>(caps, CapabilityCode.AddPath);
  for (const f of cap?.families ?? []) modes.set(familyKey(f.afi, f.safi), f.mode);
  return modes;
}

/** RFC 7911 §4: send where we announced Send and they Receive, and the other way round. */
function negotiateAddPath(
  local: readonly Capability[],
  peer: readonly Capability[],
  families: ReadonlySet<number>,
) {
  const ours = addPathModes(local);
  const theirs = addPathModes(peer);
  const receive = new Set<number>();
  const send = new Set<number>();
  for (const family of families) {
    const l = ours.get(family) ?? 0;
    const p = theirs.get(family) ?? 0;
    if (l & AddPathMode.Receive && p & AddPathMode.Send) receive.add(family);
    if (l & AddPathMode.Send && p & AddPathMode.Receive) send.add(family);
  }
  return { receive, send };
}

function openError(subcode: number, reason: string, data?: Uint8Array): BgpError {
  return new BgpError(ErrorCode.OpenMessage, subcode, reason, data);
}

/** RFC 4271 §6.2 and RFC 6793 §4.1: the peer must be the AS we expect. */
function checkPeerAs(local: LocalSpeaker, peer: OpenMessage, peerAs: number): BgpError | undefined {
  const field = Uint8Array.of(peer.myAutonomousSystem >> 8, peer.myAutonomousSystem & 0xff);
  const fourOctet = has(peer.capabilities, CapabilityCode.FourOctetAs);
  if (fourOctet && peerAs > 0xffff && peer.myAutonomousSystem !== AS_TRANS) {
    return openError(
      OpenSubcode.BadPeerAs,
      `My AS ${peer.myAutonomousSystem} is not AS_TRANS for 4-octet AS ${peerAs}`,
      field,
    );
  }
  if (local.peerAs !== undefined && peerAs !== local.peerAs) {
    return openError(OpenSubcode.BadPeerAs, `peer announced AS ${peerAs}, expected ${local.peerAs}`, field);
  }
  return undefined;
}

/**
 * Negotiates a session from both OPENs, or returns the NOTIFICATION to send (RFC 4271 §6.2, RFC 5492
 * §5). The OPEN's syntax (version, hold time 1–2, identifier 0) was already checked by the codec.
 */
export function negotiate(
  local: LocalSpeaker,
  localOpen: OpenMessage,
  peer: OpenMessage,
): NegotiatedSession | BgpError {
  if (peer.unsupportedParameters.length > 0) {
    return openError(
      OpenSubcode.UnsupportedOptionalParameter,
      `optional parameter type ${peer.unsupportedParameters[0].type}`,
    );
  }
  const peerAs = announcedAs(peer);
  const asError = checkPeerAs(local, peer, peerAs);
  if (asError) return asError;
  const external = peerAs !== local.localAs;
  // RFC 6286 §2.2: within an AS the identifiers must differ; across ASes they may be equal.
  if (!external && peer.bgpIdentifier === local.bgpIdentifier) {
    return openError(OpenSubcode.BadBgpIdentifier, 'peer uses our own BGP Identifier');
  }
  const ourFamilies = multiprotocolFamilies(localOpen.capabilities);
  const families = new Set([...multiprotocolFamilies(peer.capabilities)].filter((f) => ourFamilies.has(f)));
  if (families.size === 0) {
    // RFC 5492 §5: the capabilities we need and the peer lacks go back as the NOTIFICATION's data.
    const needed = localOpen.capabilities.filter((c) => c.code === CapabilityCode.Multiprotocol);
    return openError(
      OpenSubcode.UnsupportedCapability,
      'no address family in common',
      multiprotocolData(needed),
    );
  }
  const holdTimeSec = Math.min(local.holdTimeSec, peer.holdTimeSec);
  const keepaliveTimeSec =
    holdTimeSec === 0
      ? 0
      : Math.min(local.keepaliveTimeSec ?? Math.floor(holdTimeSec / 3), Math.floor(holdTimeSec / 3)) || 1;
  const addPath = negotiateAddPath(localOpen.capabilities, peer.capabilities, families);
  const both = (code: number) => has(localOpen.capabilities, code) && has(peer.capabilities, code);
  const gr = CapabilityCode.GracefulRestart;
  const localGracefulRestart = find<GracefulRestartCapability>(localOpen.capabilities, gr);
  const peerGracefulRestart = find<GracefulRestartCapability>(peer.capabilities, gr);
  return {
    peerAs,
    peerBgpIdentifier: peer.bgpIdentifier,
    external,
    holdTimeSec,
    keepaliveTimeSec,
    fourOctetAs: both(CapabilityCode.FourOctetAs),
    families,
    addPathReceive: addPath.receive,
    addPathSend: addPath.send,
    routeRefresh: both(CapabilityCode.RouteRefresh),
    enhancedRouteRefresh: both(CapabilityCode.EnhancedRouteRefresh),
    extendedMessage: both(CapabilityCode.ExtendedMessage),
    peerGracefulRestart,
    peerLongLivedGracefulRestart: find<LongLivedGracefulRestartCapability>(
      peer.capabilities,
      CapabilityCode.LongLivedGracefulRestart,
    ),
    gracefulNotification:
      localGracefulRestart?.notification === true && peerGracefulRestart?.notification === true,
    longLivedGracefulRestart:
      both(CapabilityCode.GracefulRestart) && both(CapabilityCode.LongLivedGracefulRestart),
    peerHostname: find<FqdnCapability>(peer.capabilities, CapabilityCode.Fqdn)?.hostname,
    localCapabilities: localOpen.capabilities,
    peerCapabilities: peer.capabilities,
  };
}

/** Capability TLVs (code, length, value) for the Unsupported Capability NOTIFICATION data. */
function multiprotocolData(caps: readonly Capability[]): Uint8Array {
  const out: number[] = [];
  for (const c of caps) {
    if (!('afi' in c)) continue;
    out.push(CapabilityCode.Multiprotocol, 4, c.afi >> 8, c.afi & 0xff, 0, c.safi);
  }
  return Uint8Array.from(out);
}
