// Desired routes in the form the engine compares and writes: validated once on entry (gateway text
// canonical, family checked), keyed by prefix, turned into the exact kernel route Brindle writes, and
// compared with what the kernel reports. Pure functions of their inputs; the reconcile diff lives here
// too, so "what would start() do with this kernel table" is testable without a kernel.

import { formatIpv6, parseIpv4, parseIpv6 } from '../lib/address.ts';
import { Afi } from '../lib/family.ts';
import { formatPrefix, maxPrefixLength, prefixKey } from '../lib/prefix.ts';
import type { Prefix, PrefixKey } from '../lib/prefix.ts';
import {
  familyOf,
  IP6_RT_PRIO_USER,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RTN_BLACKHOLE,
  RTN_UNICAST,
  RTN_UNSPEC,
  RTNH_F_ONLINK,
} from './netlink.ts';
import type { KernelNextHop, KernelRoute } from './netlink.ts';
import type { FibNextHop, FibRoute } from './types.ts';

const NO_HOPS: readonly KernelNextHop[] = Object.freeze([]);

export interface DesiredNextHop {
  /** Canonical text (RFC 5952 for IPv6). */
  readonly gateway?: string;
  readonly device?: string;
  readonly onlink: boolean;
}

export interface DesiredRoute {
  readonly route: FibRoute;
  readonly key: PrefixKey;
  readonly blackhole: boolean;
  readonly nextHops: readonly DesiredNextHop[];
  /** RTA_PRIORITY; undefined: the context's metric. */
  readonly metric: number | undefined;
}

/** Where Brindle's routes go and how they are marked (the daemon config's `fib` section). */
export interface RouteContext {
  readonly table: number;
  readonly protocol: number;
  /** RTA_PRIORITY of a route that names none; 0 leaves the kernel default (IPv4 0, IPv6 1024). */
  readonly metric: number;
}

function canonicalGateway(text: string, family: 4 | 6, prefix: Prefix): string {
  if (family === 4) {
    if (parseIpv4(text) >= 0) return text; // parseIpv4 accepts only the canonical dotted quad
  } else {
    const bytes = parseIpv6(text);
    if (bytes) return formatIpv6(bytes);
  }
  throw new TypeError(
    `FIB route ${formatPrefix(prefix)}: gateway ${JSON.stringify(text)} is not an IPv${family} address`,
  );
}

/** Validates a FibRoute; throws a TypeError naming the prefix for input no kernel could take. */
export function desiredRoute(route: FibRoute): DesiredRoute {
  const { prefix } = route;
  if (!Number.isInteger(prefix.length) || prefix.length < 0 || prefix.length > maxPrefixLength(prefix.afi)) {
    throw new TypeError(`FIB route: bad prefix length ${prefix.length}`);
  }
  const key = prefixKey(prefix);
  const { metric } = route;
  if (metric !== undefined && (!Number.isInteger(metric) || metric < 0 || metric > MAX_METRIC)) {
    throw new TypeError(`FIB route ${formatPrefix(prefix)}: metric ${metric} is not 0..${MAX_METRIC}`);
  }
  if (route.kind === 'blackhole') return { route, key, blackhole: true, nextHops: [], metric };
  if (route.nextHops.length === 0) {
    throw new TypeError(`FIB route ${formatPrefix(prefix)}: a unicast route needs a next hop`);
  }
  const family = familyOf(prefix);
  // Routes sharing a next-hop array (one per BGP attribute set, typically) share its checked form.
  const cache = family === 4 ? checkedV4 : checkedV6;
  let nextHops = cache.get(route.nextHops);
  if (!nextHops) {
    nextHops = route.nextHops.map((hop): DesiredNextHop => {
      if (hop.gateway === undefined && hop.device === undefined) {
        throw new TypeError(`FIB route ${formatPrefix(prefix)}: a next hop needs a gateway or a device`);
      }
      if (hop.onlink && hop.device === undefined) {
        throw new TypeError(`FIB route ${formatPrefix(prefix)}: an onlink next hop needs a device`);
      }
      const gateway = hop.gateway === undefined ? undefined : canonicalGateway(hop.gateway, family, prefix);
      return { gateway, device: hop.device, onlink: hop.onlink === true };
    });
    cache.set(route.nextHops, nextHops);
  }
  return { route, key, blackhole: false, nextHops, metric };
}

/** RTA_PRIORITY is a u32. */
const MAX_METRIC = 0xffffffff;

// By array identity, per family (the same array is valid for one family only). Arrays are treated as
// immutable, as the readonly types say.
const checkedV4 = new WeakMap<readonly FibNextHop[], readonly DesiredNextHop[]>();
const checkedV6 = new WeakMap<readonly FibNextHop[], readonly DesiredNextHop[]>();

export function sameDesired(a: DesiredRoute, b: DesiredRoute): boolean {
  if (a.blackhole !== b.blackhole || a.metric !== b.metric || a.nextHops.length !== b.nextHops.length)
    return false;
  if (a.nextHops === b.nextHops) return true;
  return a.nextHops.every((hop, i) => {
    const other = b.nextHops[i];
    return hop.gateway === other.gateway && hop.device === other.device && hop.onlink === other.onlink;
  });
}

/** The metric the kernel reports for a route written with `metric`. */
export function effectiveMetric(prefix: Prefix, metric: number): number {
  return prefix.afi === Afi.Ipv6 && metric === 0 ? IP6_RT_PRIO_USER : metric;
}

/** The metric the kernel reports for a desired route once written. */
export function desiredMetric(desired: DesiredRoute, context: RouteContext): number {
  return effectiveMetric(desired.route.prefix, desired.metric ?? context.metric);
}

/** The route as written; `undefined` plus the missing device's name when a device is unknown. */
export function kernelRoute(
  desired: DesiredRoute,
  context: RouteContext,
  ifindexOf: (device: string) => number | undefined,
  cache?: KernelNextHopCache,
): KernelRoute | { readonly missingDevice: string } {
  const { prefix } = desired.route;
  const { table, protocol } = context;
  const metric = desired.metric ?? context.metric;
  if (desired.blackhole)
    return {
      prefix,
      table,
      protocol,
      type: RTN_BLACKHOLE,
      scope: RT_SCOPE_UNIVERSE,
      metric,
      nextHops: NO_HOPS,
    };
  let written = cache?.get(desired.nextHops);
  if (!written) {
    const nextHops: KernelNextHop[] = [];
    let scope = RT_SCOPE_LINK; // as iproute2: a route with no gateway at all is a link-scope device route
    for (const hop of desired.nextHops) {
      const ifindex = hop.device === undefined ? 0 : ifindexOf(hop.device);
      if (ifindex === undefined) return { missingDevice: hop.device ?? '' };
      if (hop.gateway !== undefined) scope = RT_SCOPE_UNIVERSE;
      nextHops.push({ gateway: hop.gateway, ifindex, flags: hop.onlink ? RTNH_F_ONLINK : 0, weight: 1 });
    }
    written = { scope, nextHops };
    cache?.set(desired.nextHops, written);
  }
  return {
    prefix,
    table,
    protocol,
    type: RTN_UNICAST,
    scope: written.scope,
    metric,
    nextHops: written.nextHops,
  };
}

/** Written next hops by checked next-hop array; the owner drops it whenever an ifindex may change. */
export type KernelNextHopCache = WeakMap<
  readonly DesiredNextHop[],
  { readonly scope: number; readonly nextHops: readonly KernelNextHop[] }
>;

/** RTM_DELROUTE for our route at `prefix` (and `metric`): protocol-scoped, so the kernel itself
 * refuses (ESRCH) to delete a route of another protocol; scope NOWHERE and type UNSPEC match any. */
export function deleteRoute(prefix: Prefix, context: RouteContext, metric = context.metric): KernelRoute {
  return {
    prefix,
    table: context.table,
    protocol: context.protocol,
    metric,
    type: RTN_UNSPEC,
    scope: RT_SCOPE_NOWHERE,
    nextHops: NO_HOPS,
  };
}

/**
 * Does the kernel's route say what we want? Next hops are compared as a set: gateway, device (when
 * we named one; the kernel fills in the device of a gateway-only hop) and the onlink flag. Flags
 * the kernel adds (linkdown, dead) do not count.
 */
export function routeMatches(
  desired: DesiredRoute,
  kernel: KernelRoute,
  context: RouteContext,
  ifindexOf: (device: string) => number | undefined,
): boolean {
  if (kernel.metric !== desiredMetric(desired, context)) return false;
  if (desired.blackhole) return kernel.type === RTN_BLACKHOLE;
  if (kernel.type !== RTN_UNICAST || kernel.nextHops.length !== desired.nextHops.length) return false;
  const unmatched = [...kernel.nextHops];
  for (const hop of desired.nextHops) {
    const want = hop.device === undefined ? undefined : ifindexOf(hop.device);
    if (hop.device !== undefined && want === undefined) return false;
    const i = unmatched.findIndex(
      (k) =>
        k.gateway === hop.gateway &&
        (want === undefined || k.ifindex === want) &&
        (k.flags & RTNH_F_ONLINK) === (hop.onlink ? RTNH_F_ONLINK : 0) &&
        k.weight === 1,
    );
    if (i < 0) return false;
    unmatched.splice(i, 1);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Reconcile

export interface ReconcilePlan {
  /** Desired and already in the kernel as desired: nothing to write. */
  readonly kept: PrefixKey[];
  /** Desired, absent from the kernel. */
  readonly missing: PrefixKey[];
  /** Desired, ours in the kernel but different. */
  readonly different: PrefixKey[];
  /** Ours in the kernel, not desired: their prefixes. */
  readonly stale: Prefix[];
  /** Ours, a second route at a prefix (another metric): deleted with their own metric. */
  readonly strays: KernelRoute[];
  /** Our route found in the kernel per prefix (at the desired metric when there is one), by key. */
  readonly present: Map<PrefixKey, KernelRoute>;
}

/** The desired state as the diff reads it (a Map qualifies). */
export interface DesiredLookup {
  get(key: PrefixKey): DesiredRoute | undefined;
  keys(): Iterable<PrefixKey>;
}

/**
 * The diff start() and every resync run: `kernel` is a dump of our protocol in our table (routes of
 * other protocols are never passed in, and never touched).
 */
export function planReconcile(
  desired: DesiredLookup,
  kernel: readonly KernelRoute[],
  context: RouteContext,
  ifindexOf: (device: string) => number | undefined,
): ReconcilePlan {
  const plan: ReconcilePlan = {
    kept: [],
    missing: [],
    different: [],
    stale: [],
    strays: [],
    present: new Map(),
  };
  for (const route of kernel) {
    if (route.protocol !== context.protocol || route.table !== context.table) continue;
    const key = prefixKey(route.prefix);
    const want = desired.get(key);
    const held = plan.present.get(key);
    // One route of ours per prefix is tracked, the one at the desired (or default) metric if there is
    // one. At another metric it is one to replace (add at the new metric, then delete it) or, beside
    // the tracked one, a stray.
    if (held) {
      const metric = want ? desiredMetric(want, context) : effectiveMetric(route.prefix, context.metric);
      const better = route.metric === metric;
      plan.strays.push(better ? held : route);
      if (!better) continue;
    }
    plan.present.set(key, route);
  }
  for (const [key, route] of plan.present) {
    const want = desired.get(key);
    if (!want) plan.stale.push(route.prefix);
    else if (routeMatches(want, route, context, ifindexOf)) plan.kept.push(key);
    else plan.different.push(key);
  }
  for (const key of desired.keys()) if (!plan.present.has(key)) plan.missing.push(key);
  return plan;
}
