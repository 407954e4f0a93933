// Sessions as JSON: the one-line-per-peer status (what `calicoctl node status` and `birdc show
// protocols` print) and the full detail of one peer (`birdc show protocols all NAME`): negotiated
// capabilities, timers, counters, last error. Pure functions of the Peer and the census.

import { describeCapability } from '../bgp/codec/capabilities.ts';
import { notificationName } from '../bgp/constants.ts';
import { DEFAULT_TIMERS, SessionState } from '../bgp/session/fsm.ts';
import type { NegotiatedSession } from '../bgp/session/negotiate.ts';
import type { Peer } from '../bgp/session/peer.ts';
import { formatIpv4, isIpv4 } from '../lib/address.ts';
import { familyKeyName } from '../lib/family.ts';
import type { PeerPrefixFigures, RibCensus } from '../metrics/rib-census.ts';
import { peerType } from '../metrics/source.ts';
import { deferralDocument } from './deferral-view.ts';
import type { DeferralDocument } from './deferral-view.ts';
import type { PeerType, RouterView } from '../metrics/source.ts';

export interface PeerStatus {
  readonly name: string;
  /** The BGPPeer resource the session comes from; null for the mesh. */
  readonly bgpPeer: string | null;
  readonly remote: string;
  readonly type: PeerType;
  /** The session's transport family, as CalicoNodeStatus splits peersV4 / peersV6. */
  readonly addressFamily: 'ipv4' | 'ipv6';
  readonly state: SessionState;
  /**
   * ISO 8601: since when the session is up, or down (connect retries do not move it; `stateSince`
   * is when the FSM state last changed).
   */
  readonly since: string;
  readonly stateSince: string;
  /** "Established for 1h2m3s", or the last error while not Established. */
  readonly info: string;
  /** Paths it sent us, those usable, and those we advertise to it (null: not counted). */
  readonly counts: { received: number; accepted: number; advertised: number | null };
}

/** Per peer name: paths received and accepted (the census), paths advertised (the Adj-RIB-Out). */
export interface PeerCounts {
  readonly census?: RibCensus;
  readonly advertised?: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

function prefixCounts(name: string, counts: PeerCounts): PeerStatus['counts'] {
  let received = 0;
  let accepted = 0;
  for (const figures of counts.census?.peers.get(name)?.values() ?? []) {
    received += figures.received;
    accepted += figures.accepted;
  }
  const sent = counts.advertised?.get(name);
  const advertised = sent ? [...sent.values()].reduce((a, b) => a + b, 0) : null;
  return { received, accepted, advertised };
}

export function peerStatus(peer: Peer, now = Date.now(), counts: PeerCounts = {}): PeerStatus {
  const c = peer.config;
  const counters = peer.counters;
  const established = peer.state === SessionState.Established;
  const info = established
    ? `Established for ${formatDuration(now - (counters.establishedSince ?? counters.stateSince))}`
    : counters.lastError || peer.state;
  const since = established ? (counters.establishedSince ?? counters.stateSince) : counters.downSince;
  return {
    name: c.name,
    bgpPeer: c.bgpPeer ?? null,
    remote: c.remoteAddress,
    type: peerType(c.name),
    addressFamily: isIpv4(c.remoteAddress) ? 'ipv4' : 'ipv6',
    state: peer.state,
    since: new Date(since).toISOString(),
    stateSince: new Date(counters.stateSince).toISOString(),
    info,
    counts: prefixCounts(c.name, counts),
  };
}

export interface StatusDocument {
  readonly router: { routerId: string; clusterId: string; localAs: number } | null;
  readonly summary: Record<'ipv4' | 'ipv6', { established: number; notEstablished: number }>;
  readonly peers: readonly PeerStatus[];
  /** After a graceful restart only (RFC 4724 §4.1): the selection deferral, running or done. */
  readonly selectionDeferral?: DeferralDocument;
}

export function statusDocument(
  router: RouterView | undefined,
  now = Date.now(),
  census?: RibCensus,
): StatusDocument {
  const counts = { census, advertised: router?.adjRibOut.advertisedPrefixes?.() };
  const peers = sortedPeers(router).map((p) => peerStatus(p, now, counts));
  const summary = {
    ipv4: { established: 0, notEstablished: 0 },
    ipv6: { established: 0, notEstablished: 0 },
  };
  for (const p of peers) {
    if (p.state === SessionState.Established) summary[p.addressFamily].established++;
    else summary[p.addressFamily].notEstablished++;
  }
  const id = router?.identity;
  const deferral = router?.selectionDeferral;
  return {
    router: id
      ? { routerId: formatIpv4(id.routerId), clusterId: formatIpv4(id.clusterId), localAs: id.localAs }
      : null,
    summary,
    peers,
    ...(router && deferral ? { selectionDeferral: deferralDocument(deferral, router.allPeers(), now) } : {}),
  };
}

export function sortedPeers(router: RouterView | undefined): Peer[] {
  return (router?.allPeers() ?? []).sort((a, b) => a.config.name.localeCompare(b.config.name));
}

/** A peer by session name, by remote address, or by the name of the BGPPeer it comes from. */
export function findPeer(router: RouterView | undefined, key: string): Peer | undefined {
  const peers = router?.allPeers() ?? [];
  return (
    peers.find((p) => p.config.name === key) ??
    peers.find((p) => p.config.remoteAddress === key) ??
    peers.find((p) => p.config.bgpPeer === key)
  );
}

/** The full detail of one peer. */
export function peerDetail(
  peer: Peer,
  census: RibCensus,
  now = Date.now(),
  advertised?: ReadonlyMap<string, ReadonlyMap<string, number>>,
) {
  const c = peer.config;
  const counters = peer.counters;
  const timers = { ...DEFAULT_TIMERS, ...c.timers };
  return {
    ...peerStatus(peer, now, { census, advertised }),
    config: {
      remotePort: c.remotePort,
      localAddress: c.localAddress ?? null,
      localAs: c.localAs,
      peerAs: c.peerAs,
      routerId: formatIpv4(c.routerId),
      passive: c.passive,
      routeReflectorClient: 'routeReflectorClient' in c ? Boolean(c.routeReflectorClient) : false,
      families: c.families.map(familyKeyName),
      holdTimeSec: c.holdTimeSec,
      keepaliveTimeSec: c.keepaliveTimeSec ?? null,
      gracefulRestartTimeSec: c.gracefulRestartTimeSec ?? null,
      ttlSecurityHops: c.ttlSecurityHops ?? null,
      md5: c.md5Key !== undefined,
      timers,
    },
    negotiated: peer.negotiated ? negotiatedView(peer.negotiated) : null,
    counters: {
      messagesReceived: Object.fromEntries(counters.messagesIn),
      messagesSent: Object.fromEntries(counters.messagesOut),
      updatesReceived: counters.updatesIn,
      updatesSent: counters.updatesOut,
      updateErrors: counters.updateErrors,
      notificationsSent: namedNotifications(counters.notificationsSent),
      notificationsReceived: namedNotifications(counters.notificationsReceived),
      transitions: Object.fromEntries(counters.transitions),
      connectAttempts: counters.connectAttempts,
      establishedCount: counters.establishedCount,
    },
    establishedSince:
      counters.establishedSince !== undefined ? new Date(counters.establishedSince).toISOString() : null,
    lastError: counters.lastError
      ? { message: counters.lastError, at: counters.lastErrorAt?.toISOString() ?? null }
      : null,
    prefixes: Object.fromEntries(census.peers.get(c.name) ?? new Map<string, PeerPrefixFigures>()),
  };
}

/** "6/2" → "6/2 Cease/Administrative Shutdown": the code and subcode with their RFC names. */
function namedNotifications(counts: ReadonlyMap<string, number>): Record<string, number> {
  const named = [...counts].map(([key, n]) => {
    const [code, subcode] = key.split('/').map(Number);
    return [`${key} ${notificationName(code, subcode)}`, n] as const;
  });
  return Object.fromEntries(named);
}

function negotiatedView(n: NegotiatedSession) {
  const families = (set: ReadonlySet<number>) => [...set].map(familyKeyName).sort();
  return {
    peerAs: n.peerAs,
    peerBgpIdentifier: formatIpv4(n.peerBgpIdentifier),
    external: n.external,
    holdTimeSec: n.holdTimeSec,
    keepaliveTimeSec: n.keepaliveTimeSec,
    fourOctetAs: n.fourOctetAs,
    families: families(n.families),
    addPathReceive: families(n.addPathReceive),
    addPathSend: families(n.addPathSend),
    routeRefresh: n.routeRefresh,
    enhancedRouteRefresh: n.enhancedRouteRefresh,
    extendedMessage: n.extendedMessage,
    peerGracefulRestartTimeSec: n.peerGracefulRestart?.restartTimeSec ?? null,
    peerHostname: n.peerHostname ?? null,
    localCapabilities: n.localCapabilities.map(describeCapability),
    peerCapabilities: n.peerCapabilities.map(describeCapability),
  };
}

/** "3d4h5m6s", "5m0s", "12s". */
export function formatDuration(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d${h}h${m}m${s}s`;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
