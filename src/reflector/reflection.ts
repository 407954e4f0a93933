// Route reflection (RFC 4456) and the plain-speaker rules it extends (RFC 4271 §9.1.2, §5.1; RFC 1997
// well-known communities). Reflection is a property of each session: a peer marked as a client gets
// reflected routes, so one Brindle is a plain speaker to some peers and a reflector to others. A routing
// policy (src/policy: BGPFilter, Calico's export default) may be plugged in front: its per-prefix
// verdict decides whether a route goes out and what it changes first; these rules then apply on top.

import { AsPathSegmentType, WellKnownCommunity } from '../bgp/constants.ts';
import type { AsPathSegment } from '../bgp/types.ts';
import { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { AttrSet, RouteAttributes } from '../rib/attr-set.ts';
import { DEFAULT_LOCAL_PREF } from '../rib/attr-set.ts';
import { EXPORT_UNCHANGED } from '../rib/export.ts';
import type { ExportPolicy, ExportTarget, ExportVerdict, PrefixExportPolicy } from '../rib/export.ts';
import type { IngressPolicy } from '../rib/ingress.ts';
import type { Path, RibPeer } from '../rib/route.ts';

export interface ReflectorIdentity {
  /** Our BGP Identifier. */
  readonly routerId: number;
  /** RFC 4456 §7: the CLUSTER_ID; defaults to the router ID. */
  readonly clusterId: number;
  readonly localAs: number;
}

/** RFC 4456 §8 and RFC 4271 §9.1.2: the loop checks that make a received path ineligible. */
export class ReflectorIngress implements IngressPolicy {
  constructor(private readonly identity: ReflectorIdentity) {}

  eligible(peer: RibPeer, attrs: AttrSet): boolean {
    if (peer.local) return true;
    const a = attrs.attributes;
    // RFC 4456 §8: a route carrying our own ORIGINATOR_ID, or our CLUSTER_ID in its CLUSTER_LIST,
    // has looped back to us.
    if (a.originatorId === this.identity.routerId) return false;
    if (a.clusterList?.includes(this.identity.clusterId)) return false;
    // RFC 4271 §9.1.2: an AS_PATH holding our own AS is a loop.
    return !attrs.containsAs(this.identity.localAs);
  }
}

/**
 * RFC 4456 §6: which iBGP-learned routes go to which iBGP peers. From a client: to everyone. From a
 * non-client: to clients only. Without reflection (no clients) that is RFC 4271's iBGP split horizon.
 */
function mayReflect(source: RibPeer, target: ExportTarget): boolean {
  if (source.local || source.external || target.external) return true;
  return source.routeReflectorClient || target.routeReflectorClient;
}

/**
 * RFC 9494 §4.6, Optional Partial Deployment (off unless configured): a long-lived stale route may go
 * to an internal peer that did not announce LLGR, which then cannot tell it is stale — so it goes
 * with NO_EXPORT, to stay inside the AS, and LOCAL_PREF 0, to lose to any route that is not stale.
 */
function partialDeployment(attrs: AttrSet, target: ExportTarget): boolean {
  return (
    target.llgrPartialDeployment === true &&
    !target.external &&
    !target.longLivedGracefulRestart &&
    attrs.hasCommunity(WellKnownCommunity.LlgrStale)
  );
}

function depreferenced(a: RouteAttributes): RouteAttributes {
  const communities = a.communities ?? [];
  const noExport = communities.includes(WellKnownCommunity.NoExport);
  return {
    ...a,
    localPref: 0,
    communities: noExport ? communities : [...communities, WellKnownCommunity.NoExport],
  };
}

/** RFC 1997 well-known communities, and RFC 9494's LLGR_STALE. */
function blockedByCommunity(attrs: AttrSet, target: ExportTarget): boolean {
  if (attrs.hasCommunity(WellKnownCommunity.NoAdvertise)) return true;
  // RFC 9494 §4.3: a long-lived stale route goes only to peers that announced LLGR, but for §4.6.
  if (
    !target.longLivedGracefulRestart &&
    attrs.hasCommunity(WellKnownCommunity.LlgrStale) &&
    !partialDeployment(attrs, target)
  )
    return true;
  if (!target.external) return false;
  return (
    attrs.hasCommunity(WellKnownCommunity.NoExport) ||
    attrs.hasCommunity(WellKnownCommunity.NoExportSubconfed)
  );
}

function prependAs(path: readonly AsPathSegment[] | undefined, asn: number): AsPathSegment[] {
  const segments = path ?? [];
  const first = segments[0];
  if (first?.type === AsPathSegmentType.AsSequence && first.asns.length < 255) {
    return [{ type: AsPathSegmentType.AsSequence, asns: [asn, ...first.asns] }, ...segments.slice(1)];
  }
  return [{ type: AsPathSegmentType.AsSequence, asns: [asn] }, ...segments];
}

function selfAddress(afi: Afi, target: ExportTarget): string | undefined {
  return afi === Afi.Ipv4 ? target.localAddress4 : target.localAddress6;
}

export class ReflectorExport implements ExportPolicy {
  constructor(
    private readonly identity: ReflectorIdentity,
    /** The routing policy in front of these rules; without one every prefix is exported unchanged. */
    private readonly routing?: PrefixExportPolicy,
  ) {}

  exportVerdict(prefix: Prefix, path: Path, target: ExportTarget): ExportVerdict | undefined {
    return this.routing ? this.routing.exportVerdict(prefix, path, target) : EXPORT_UNCHANGED;
  }

  exportAttributes(
    path: Path,
    afi: Afi,
    target: ExportTarget,
    verdict: ExportVerdict = EXPORT_UNCHANGED,
  ): RouteAttributes | undefined {
    if (!mayReflect(path.peer, target) || blockedByCommunity(path.attrs, target)) return undefined;
    // The policy's changes come first, as a BIRD export filter runs before BGP's own export rules.
    const a = verdict.apply ? verdict.apply(path, afi) : path.attrs.attributes;
    if (target.external) return this.toExternal(path, a, afi, target);
    const internal = this.toInternal(path, a, afi, target);
    return partialDeployment(path.attrs, target) ? depreferenced(internal) : internal;
  }

  /** RFC 4271 §5.1: to eBGP, our AS first, our address as next hop, no LOCAL_PREF, no RFC 4456 attributes. */
  private toExternal(path: Path, a: RouteAttributes, afi: Afi, target: ExportTarget): RouteAttributes {
    const nextHop = target.nextHopMode === 'keep' ? a.nextHop : (selfAddress(afi, target) ?? a.nextHop);
    return {
      ...a,
      asPath: prependAs(a.asPath, target.localAs),
      nextHop,
      linkLocalNextHop: target.nextHopMode === 'keep' ? a.linkLocalNextHop : undefined,
      localPref: undefined,
      // §5.1.4: a MED learned from a neighbouring AS is not passed on to another.
      multiExitDisc: path.peer.local ? a.multiExitDisc : undefined,
      originatorId: undefined,
      clusterList: undefined,
    };
  }

  /** To iBGP: LOCAL_PREF always (§5.1.5); reflected routes get ORIGINATOR_ID and our CLUSTER_ID (RFC 4456 §8). */
  private toInternal(path: Path, a: RouteAttributes, afi: Afi, target: ExportTarget): RouteAttributes {
    const source = path.peer;
    const reflected = !source.local && !source.external;
    const self = target.nextHopMode === 'self' || (source.local && a.nextHop === undefined);
    return {
      ...a,
      localPref: a.localPref ?? DEFAULT_LOCAL_PREF,
      nextHop: self ? (selfAddress(afi, target) ?? a.nextHop) : a.nextHop,
      linkLocalNextHop: self ? undefined : a.linkLocalNextHop,
      originatorId: reflected ? (a.originatorId ?? source.bgpIdentifier) : a.originatorId,
      clusterList: reflected ? [this.identity.clusterId, ...(a.clusterList ?? [])] : a.clusterList,
    };
  }
}
