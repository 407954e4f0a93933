// A configured BGP neighbour: what the topology layer hands the session layer, and the OPEN we send
// it. Defaults follow what Calico's BIRD template uses, so a Brindle node behaves like calico-node.

import { AddPathMode, AS_TRANS, BGP_PORT, BGP_VERSION, MessageType } from '../constants.ts';
import type { Capability, OpenMessage } from '../types.ts';
import { Afi, familyAfi, familyKey, familySafi, Safi } from '../../lib/family.ts';
import { DEFAULT_TIMERS } from './fsm.ts';
import type { FsmConfig, FsmTimers } from './fsm.ts';

export interface PeerConfig {
  /** A stable name for logs, metrics and the CLI ("node-10-0-0-2", "rack1-tor"). */
  readonly name: string;
  /** The BGPPeer resource the session comes from, as operators name it (absent for the mesh). */
  readonly bgpPeer?: string;
  readonly remoteAddress: string;
  /** RFC 4271 §8.2.1: TCP port 179 unless configured (Calico's peerIP "ip:port", listenPort). */
  readonly remotePort: number;
  /** Source address for outgoing connections (Calico's sourceAddress: UseNodeIP). */
  readonly localAddress?: string;
  readonly localAs: number;
  readonly peerAs: number;
  /** Our BGP Identifier, a 32-bit number (the router ID). */
  readonly routerId: number;
  readonly holdTimeSec: number;
  readonly keepaliveTimeSec?: number;
  /** Wait for the peer to connect (Calico: the lexically larger mesh address is passive). */
  readonly passive: boolean;
  /** familyKey()s to announce in the Multiprotocol capability. */
  readonly families: readonly number[];
  /** ADD-PATH mode per family (familyKey → mode); Calico announces it on every session. */
  readonly addPath: ReadonlyMap<number, AddPathMode>;
  readonly extendedMessage: boolean;
  /** RFC 4724 restart time to announce; undefined announces no Graceful Restart capability. */
  readonly gracefulRestartTimeSec?: number;
  /** RFC 4724 §3 Forwarding State bit for every family: the FIB survives a restart of this speaker. */
  readonly gracefulRestartForwarding?: boolean;
  /**
   * RFC 4724 §4.1 Restart State bit: this speaker restarted and defers its selection; the peer must
   * not wait for our End-of-RIB before sending its own routes (§3).
   */
  readonly gracefulRestartState?: boolean;
  /**
   * RFC 8538 §2 N bit in the Graceful Restart capability (on unless false): a hold-timer expiry or a
   * NOTIFICATION other than Hard Reset keeps the routes stale on both sides, as a lost connection does.
   */
  readonly gracefulRestartNotification?: boolean;
  /**
   * RFC 9494 Long-Lived Stale Time to announce for every family (BGPPeer restartMode
   * LongLivedGracefulRestart); undefined announces no LLGR capability. Also the longest this side
   * keeps the peer's routes LLGR-stale (§4.2: "MAY be reduced by local configuration").
   */
  readonly longLivedStaleTimeSec?: number;
  readonly hostname?: string;
  readonly timers?: Partial<FsmTimers>;
  /**
   * Outgoing TTL: 1 for a directly connected eBGP peer. Unset, the system default applies, which is
   * multihop — what Calico does for every session (calico-routing.md §3.3).
   */
  readonly ttl?: number;
  /** RFC 5082 GTSM (Calico's ttlSecurity): send with TTL 255 and accept only TTL ≥ 256 − hops. */
  readonly ttlSecurityHops?: number;
  /** RFC 2385 TCP MD5 signature key (at most 80 octets). */
  readonly md5Key?: string;
  /**
   * RFC 9687 SendHoldTime: a session whose socket accepts nothing for this long while we have
   * something to send is closed. Unset: twice the negotiated HoldTime (see connection.ts).
   */
  readonly sendHoldTimeSec?: number;
  /**
   * Why the session cannot run as configured (its password's secret cannot be read): the peer stays
   * Idle with this as its last error instead of starting without what was asked for.
   */
  readonly configError?: string;
}

export const DEFAULT_HOLD_TIME_SEC = 240;

/** A peer config with Brindle's defaults filled in. */
export function peerConfig(
  fields: Pick<PeerConfig, 'name' | 'remoteAddress' | 'localAs' | 'peerAs' | 'routerId'> &
    Partial<PeerConfig>,
): PeerConfig {
  const families = fields.families ?? [familyKey(Afi.Ipv4, Safi.Unicast), familyKey(Afi.Ipv6, Safi.Unicast)];
  return {
    remotePort: BGP_PORT,
    holdTimeSec: DEFAULT_HOLD_TIME_SEC,
    passive: false,
    families,
    addPath: new Map(families.map((f) => [f, AddPathMode.Both])),
    extendedMessage: true,
    gracefulRestartTimeSec: 120,
    ...fields,
  };
}

/** The capabilities we announce (RFC 5492), in code order. */
export function localCapabilities(config: PeerConfig): Capability[] {
  const caps: Capability[] = [];
  for (const family of config.families)
    caps.push({ code: 1, afi: familyAfi(family), safi: familySafi(family) });
  caps.push({ code: 2 });
  if (config.extendedMessage) caps.push({ code: 6 });
  if (config.gracefulRestartTimeSec !== undefined) {
    caps.push({
      code: 64,
      restartState: config.gracefulRestartState ?? false,
      notification: config.gracefulRestartNotification ?? true,
      restartTimeSec: config.gracefulRestartTimeSec,
      families: config.families.map((f) => ({
        afi: familyAfi(f),
        safi: familySafi(f),
        forwardingState: config.gracefulRestartForwarding ?? false,
      })),
    });
  }
  caps.push({ code: 65, asn: config.localAs });
  const addPath = config.families.filter((f) => config.addPath.has(f));
  if (addPath.length > 0) {
    caps.push({
      code: 69,
      families: addPath.map((f) => ({
        afi: familyAfi(f),
        safi: familySafi(f),
        mode: config.addPath.get(f)!,
      })),
    });
  }
  caps.push({ code: 70 });
  // RFC 9494 §4.1: only alongside Graceful Restart; a peer ignores it alone (§4.5).
  const staleTimeSec = config.longLivedStaleTimeSec;
  if (staleTimeSec !== undefined && config.gracefulRestartTimeSec !== undefined) {
    caps.push({
      code: 71,
      families: config.families.map((f) => ({
        afi: familyAfi(f),
        safi: familySafi(f),
        forwardingState: config.gracefulRestartForwarding ?? false,
        staleTimeSec,
      })),
    });
  }
  if (config.hostname) caps.push({ code: 73, hostname: config.hostname, domainName: '' });
  return caps;
}

export function localOpen(config: PeerConfig): OpenMessage {
  return {
    type: MessageType.Open,
    version: BGP_VERSION,
    // RFC 6793 §4.1: a 4-octet AS goes in the capability; the 2-octet field carries AS_TRANS.
    myAutonomousSystem: config.localAs > 0xffff ? AS_TRANS : config.localAs,
    holdTimeSec: config.holdTimeSec,
    bgpIdentifier: config.routerId,
    capabilities: localCapabilities(config),
    unsupportedParameters: [],
    extendedParameters: false,
  };
}

export function fsmConfig(config: PeerConfig): FsmConfig {
  return {
    ...DEFAULT_TIMERS,
    ...config.timers,
    local: {
      localAs: config.localAs,
      bgpIdentifier: config.routerId,
      peerAs: config.peerAs,
      holdTimeSec: config.holdTimeSec,
      keepaliveTimeSec: config.keepaliveTimeSec,
    },
    localOpen: localOpen(config),
    passive: config.passive,
  };
}

/** The socket options a peer's connections need (empty when plain node:net will do). */
export function socketOptions(config: PeerConfig): { ttl?: number; minTtl?: number; md5Key?: string } {
  const gtsm = config.ttlSecurityHops;
  return {
    ttl: gtsm !== undefined ? 255 : config.ttl,
    minTtl: gtsm !== undefined ? 256 - gtsm : undefined,
    md5Key: config.md5Key,
  };
}
