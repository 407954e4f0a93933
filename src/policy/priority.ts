// Route priority ↔ LOCAL_PREF (calico-routing.md §4.3): Calico measures a route's priority in kernel
// metric units (lower is better) and carries it over BGP as LOCAL_PREF = 2147483647 − priority, so a
// priority better than the normal one (1024 by default) travels as a higher LOCAL_PREF.

import { Afi } from '../lib/family.ts';
import { DEFAULT_LOCAL_PREF } from '../rib/attr-set.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import type { BGPConfiguration } from '../resources/types.ts';

export const PRIORITY_BASE = 2147483647;
/** BGPConfiguration ipv4/ipv6NormalRoutePriority's default, equal to Felix's route metric. */
export const DEFAULT_NORMAL_PRIORITY = 1024;

export function localPrefOf(priority: number): number {
  return PRIORITY_BASE - priority;
}

export function priorityOf(localPref: number): number {
  return PRIORITY_BASE - localPref;
}

/** The normal priority per family, from the `default` BGPConfiguration. */
export interface NormalPriorities {
  readonly ipv4: number;
  readonly ipv6: number;
}

export function normalPriorities(configs: readonly BGPConfiguration[]): NormalPriorities {
  const spec = configs.find((c) => c.metadata.name === 'default')?.spec;
  return {
    ipv4: spec?.ipv4NormalRoutePriority ?? DEFAULT_NORMAL_PRIORITY,
    ipv6: spec?.ipv6NormalRoutePriority ?? DEFAULT_NORMAL_PRIORITY,
  };
}

export function normalPriority(normal: NormalPriorities, afi: Afi): number {
  return afi === Afi.Ipv4 ? normal.ipv4 : normal.ipv6;
}

/**
 * A route's priority as Calico's filters see it. A route learned over BGP has the one its LOCAL_PREF
 * says (BIRD gives an eBGP route without one the default LOCAL_PREF, 100, on import); a route this
 * node originates has the normal priority (confd's export filter: `krt_metric` undefined → normal).
 */
export function routePriority(attributes: RouteAttributes, local: boolean, normal: number): number {
  if (local && attributes.localPref === undefined) return normal;
  return priorityOf(attributes.localPref ?? DEFAULT_LOCAL_PREF);
}

/**
 * The kernel metric (RTA_PRIORITY) of a route learned over BGP: Calico's import filter sets
 * `krt_metric = 2147483647 − bgp_local_pref` (normal priority when LOCAL_PREF is undefined, which BIRD
 * never leaves it: it attaches its default, 100) and the kernel protocol writes it (§4.3). A
 * LOCAL_PREF above 2^31−1 would give a negative metric; it is held at 0, the best the kernel has.
 */
export function kernelMetric(attributes: RouteAttributes, normal: number): number {
  return Math.max(0, routePriority(attributes, false, normal));
}
