// What the Adj-RIB-Out asks of export policy. The RIB declares this interface and the daemon plugs in
// the reflector's RFC 4456 rules (OpenBGPD does the same with up_test_update on egress).

import type { Afi } from '../lib/family.ts';
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
}

export interface ExportPolicy {
  /**
   * The attributes to advertise `path` (a route of family `afi`) with to the peers of `target`, or
   * undefined not to advertise it.
   */
  exportAttributes(path: Path, afi: Afi, target: ExportTarget): RouteAttributes | undefined;
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
  ].join('/');
}
