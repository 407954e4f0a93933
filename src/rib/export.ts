// What the Adj-RIB-Out asks of export policy. The RIB declares this interface and the daemon plugs in
// the reflector's RFC 4456 rules (OpenBGPD does the same with up_test_update on egress) with the
// routing policy's per-prefix verdicts (src/policy) in front of them.

import type { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { RouteAttributes } from './attr-set.ts';
import type { Path } from './route.ts';

export type NextHopMode = 'auto' | 'self' | 'keep';

/** The properties shared by the peers of one update group that decide what they are sent. */
export interface ExportTarget {
  readonly external: boolean;
  readonly routeReflectorClient: boolean;
  readonly localAs: number;
  readonly peerAs: number;
  readonly nextHopMode: NextHopMode;
  /** Our addresses towards these peers, used as NEXT_HOP for next-hop-self and local routes. */
  readonly localAddress4?: string;
  readonly localAddress6?: string;
  /** The BGPFilters of these peers' export policy, in the order the BGPPeer lists them. */
  readonly filters?: readonly string[];
  /** RFC 9494 §4.3: these peers negotiated Long-Lived Graceful Restart, so LLGR_STALE routes go to them. */
  readonly longLivedGracefulRestart?: boolean;
  /**
   * RFC 9494 §4.6, Optional Partial Deployment: LLGR_STALE routes also go to these peers when they are
   * internal and did not negotiate LLGR, with NO_EXPORT and LOCAL_PREF 0 (bgp.llgrPartialDeployment).
   */
  readonly llgrPartialDeployment?: boolean;
}

/**
 * A routing policy's decision to export a path for one prefix. Verdicts are shared objects: two
 * prefixes with the same verdict, source attributes and source peer are exported with the same
 * attributes, which is what lets the Adj-RIB-Out compute them once per attribute set.
 */
export interface ExportVerdict {
  /** The policy's changes (communities, AS_PATH prepends, LOCAL_PREF), made before the RFC 4271 rules. */
  readonly apply?: (path: Path, afi: Afi) => RouteAttributes;
}

/** Export as RFC 4271 and RFC 4456 say, with no policy change. */
export const EXPORT_UNCHANGED: ExportVerdict = Object.freeze({});

/** The per-prefix half of export policy (BGPFilter, Calico's export default). */
export interface PrefixExportPolicy {
  /** The verdict for `path` as the route to `prefix`, or undefined not to advertise it to `target`. */
  exportVerdict(prefix: Prefix, path: Path, target: ExportTarget): ExportVerdict | undefined;
}

export interface ExportPolicy extends PrefixExportPolicy {
  /**
   * The attributes to advertise `path` (a route of family `afi`) with to the peers of `target`, given
   * the prefix's verdict (EXPORT_UNCHANGED when omitted), or undefined not to advertise it.
   */
  exportAttributes(
    path: Path,
    afi: Afi,
    target: ExportTarget,
    verdict?: ExportVerdict,
  ): RouteAttributes | undefined;
}

/** A stable text for grouping: peers with equal keys get the same UPDATEs. */
export function exportTargetKey(t: ExportTarget): string {
  return [
    t.external ? 'e' : 'i',
    t.routeReflectorClient ? 'c' : 'n',
    t.localAs,
    t.external ? t.peerAs : '',
    t.nextHopMode,
    t.localAddress4 ?? '',
    t.localAddress6 ?? '',
    // Names cannot hold a comma (RFC 1123 subdomain names), so the list joins unambiguously.
    (t.filters ?? []).join(','),
    t.longLivedGracefulRestart ? 'llgr' : '',
    t.llgrPartialDeployment ? 'llgr-partial' : '',
  ].join('/');
}
