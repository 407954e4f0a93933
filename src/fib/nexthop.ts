// Recursive next-hop resolution for multihop iBGP: which connected gateway and device reach a BGP
// NEXT_HOP, and at what IGP cost (RFC 4271 §5.1.3, §9.1.2.1). Answers come from a maintained view of
// the kernel's routes that are NOT Brindle's — a next hop must never resolve through a route BGP itself
// installed (BIRD's `igp table`, FRR's nexthop tracking do the same) — kept current from notifications,
// with a re-dump after link changes (IPv4 drops routes of a downed link without notifying) and after
// lost notifications. Tracked next hops whose answer changes are emitted on changes$.

import { Subject } from 'rxjs/internal/Subject';
import type { Observable } from 'rxjs';
import { parseIpv4, parseIpv6 } from '../lib/address.ts';
import { systemClock } from '../lib/clock.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import { silentLogger } from '../lib/log.ts';
import type { Logger } from '../lib/log.ts';
import { formatPrefix, ipv4Prefix, ipv6Prefix, prefixKey } from '../lib/prefix.ts';
import type { Prefix, PrefixKey } from '../lib/prefix.ts';
import { LinkTable } from './links.ts';
import { Afi } from '../lib/family.ts';
import { familyOf, RT_TABLE_MAIN, RTN_UNICAST, RTNH_F_DEAD, RTNH_F_ONLINK } from './netlink.ts';
import type { KernelRoute } from './netlink.ts';
import { DEFAULT_FIB_PROTOCOL, routeEvent } from './types.ts';
import type { FibBackend, KernelEvent } from './types.ts';

/** One way to reach a next hop: the address to hand the packet to, and the interface. */
export interface NextHopPath {
  /** The resolving route's gateway, or the next hop itself when it is on a connected network. */
  readonly gateway: string;
  readonly device?: string;
  readonly ifindex: number;
  /** The resolving route's next hop is onlink (e.g. an IP-in-IP tunnel route). */
  readonly onlink: boolean;
}

export interface NextHopResolution {
  readonly nextHop: string;
  readonly reachable: boolean;
  /** The first path's gateway and device (paths[0]); absent when unreachable. */
  readonly gateway?: string;
  readonly device?: string;
  /** The resolving route's metric (RTA_PRIORITY), for the decision's IGP-cost step. */
  readonly igpCost?: number;
  /** The resolving route, e.g. "10.0.0.0/24". */
  readonly via?: string;
  readonly viaProtocol?: number;
  /** Every live path of the resolving route (more than one for an ECMP IGP route). */
  readonly paths: readonly NextHopPath[];
}

export interface NextHopResolverOptions {
  /** Routes of this protocol (Brindle's) never resolve a next hop (default 205). */
  readonly ownProtocol?: number;
  /** Tables consulted in order, the first with a match winning, as `ip rule` lookups do (default [254]). */
  readonly tables?: readonly number[];
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Longest-prefix match over one table's routes, per family; only prefix lengths in use are probed. */
class RouteView {
  private readonly byLength = new Map<number, Map<PrefixKey, KernelRoute[]>>();
  private lengths: number[] = [];

  clear(): void {
    this.byLength.clear();
    this.lengths = [];
  }

  /**
   * Adds a route. Routes of one prefix and metric on different devices coexist (IPv6 holds
   * fe80::/64 once per interface); a replace notification displaces every route of its prefix and
   * metric, as the kernel's NLM_F_REPLACE did.
   */
  put(route: KernelRoute, replace: boolean): void {
    let atLength = this.byLength.get(route.prefix.length);
    if (!atLength) {
      atLength = new Map();
      this.byLength.set(route.prefix.length, atLength);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    const key = prefixKey(route.prefix);
    const routes = (atLength.get(key) ?? []).filter(
      (r) => r.metric !== route.metric || (!replace && firstDevice(r) !== firstDevice(route)),
    );
    routes.push(route);
    routes.sort((a, b) => a.metric - b.metric);
    atLength.set(key, routes);
  }

  /** Removes the route of this prefix, metric and device (or, failing that, of this prefix and metric). */
  delete(route: KernelRoute): void {
    const atLength = this.byLength.get(route.prefix.length);
    const key = prefixKey(route.prefix);
    const current = atLength?.get(key);
    if (!atLength || !current) return;
    const same = (r: KernelRoute) => r.metric === route.metric && firstDevice(r) === firstDevice(route);
    const routes = current.some(same)
      ? current.filter((r) => !same(r))
      : current.filter((r) => r.metric !== route.metric);
    if (routes.length > 0) atLength.set(key, routes);
    else atLength.delete(key);
  }

  /** The lowest-metric route of the longest prefix covering `address` (lengths down to minLength). */
  lookup(address: Prefix, minLength: number): KernelRoute | undefined {
    for (const length of this.lengths) {
      if (length < minLength) break;
      const covering =
        familyOf(address) === 4
          ? ipv4Prefix(address.w0, length)
          : ipv6Prefix([address.w0, address.w1, address.w2, address.w3], length);
      const routes = this.byLength.get(length)?.get(prefixKey(covering));
      if (routes && routes.length > 0) return routes[0];
    }
    return undefined;
  }
}

function firstDevice(route: KernelRoute): number {
  return route.nextHops[0]?.ifindex ?? 0;
}

function hostPrefix(text: string): Prefix | undefined {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return ipv4Prefix(v4, 32);
  const v6 = parseIpv6(text);
  if (!v6) return undefined;
  const view = new DataView(v6.buffer);
  return ipv6Prefix(
    [0, 4, 8, 12].map((i) => view.getUint32(i)),
    128,
  );
}

function sameResolution(a: NextHopResolution, b: NextHopResolution): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A default route never resolves a next hop (FRR's default: no `ip nht resolve-via-default`). */
const MIN_RESOLVING_LENGTH = 1;
/** Debounce for re-dumps after link changes and lost notifications. */
const RESYNC_DELAY_MS = 100;

export class NextHopResolver {
  private readonly ownProtocol: number;
  private readonly tables: readonly number[];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly views = new Map<string, RouteView>(); // `${table}/${family}`
  private readonly links = new LinkTable();
  private readonly tracked = new Map<string, NextHopResolution>();
  private readonly subject = new Subject<NextHopResolution>();
  private unsubscribe: (() => void) | undefined;
  private started = false;
  private reresolveScheduled = false;
  private resyncTimer: TimerHandle | undefined;
  /** Set while reload() dumps: notifications to apply once the fresh view is in place. */
  private replay: KernelEvent[] | undefined;

  /** A tracked next hop whose resolution changed (reachability, gateway, device, cost or route). */
  readonly changes$: Observable<NextHopResolution> = this.subject.asObservable();

  constructor(
    private readonly backend: FibBackend,
    options: NextHopResolverOptions = {},
  ) {
    this.ownProtocol = options.ownProtocol ?? DEFAULT_FIB_PROTOCOL;
    this.tables = options.tables ?? [RT_TABLE_MAIN];
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger;
  }

  /** Opens the backend (shared, reference-counted) and loads the kernel's routes. */
  async start(): Promise<void> {
    if (this.started) return;
    await this.backend.open();
    this.unsubscribe = this.backend.subscribe((event) => this.onKernelEvent(event));
    try {
      await this.reload();
    } catch (error) {
      this.unsubscribe();
      await this.backend.close();
      throw error;
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.resyncTimer?.cancel();
    this.resyncTimer = undefined;
    this.unsubscribe?.();
    await this.backend.close();
  }

  /**
   * How the kernel reaches `nextHop` without Brindle's own routes; synchronous, from the view. An
   * IPv6 link-local next hop must name its interface ("fe80::1%eth0"). The next hop is tracked from
   * now on: changes$ reports when its answer changes, until forget().
   */
  resolve(nextHop: string): NextHopResolution {
    if (!this.started) throw new Error('next-hop resolver is not started');
    const resolution = this.compute(nextHop);
    this.tracked.set(nextHop, resolution);
    return resolution;
  }

  forget(nextHop: string): void {
    this.tracked.delete(nextHop);
  }

  private compute(nextHop: string): NextHopResolution {
    const [text, scope] = nextHop.split('%');
    const address = hostPrefix(text);
    if (!address) return { nextHop, reachable: false, paths: [] };
    // An IPv6 link-local next hop (RFC 4291 §2.5.6; RFC 2545 §3) is on the link it was learned on,
    // which only the caller knows ("fe80::1%eth0"): no table can say which fe80::/64 is meant.
    if (address.afi === Afi.Ipv6 && address.w0 >>> 22 === 0x3fa) {
      const ifindex = scope === undefined ? undefined : this.links.ifindex(scope);
      if (ifindex === undefined || !this.links.isUp(ifindex)) return { nextHop, reachable: false, paths: [] };
      const path = { gateway: text, device: scope, ifindex, onlink: false };
      return { nextHop, reachable: true, gateway: text, device: scope, igpCost: 0, paths: [path] };
    }
    for (const table of this.tables) {
      const route = this.views.get(`${table}/${familyOf(address)}`)?.lookup(address, MIN_RESOLVING_LENGTH);
      if (route) return this.describe(nextHop, text, route);
    }
    return { nextHop, reachable: false, paths: [] };
  }

  /** `address` is the next hop without any %scope: the gateway when it is directly connected. */
  private describe(nextHop: string, address: string, route: KernelRoute): NextHopResolution {
    const via = formatPrefix(route.prefix);
    const paths: NextHopPath[] =
      route.type !== RTN_UNICAST
        ? [] // blackhole, unreachable, prohibit: the kernel would drop the traffic
        : route.nextHops
            .filter((hop) => (hop.flags & RTNH_F_DEAD) === 0)
            .map((hop) => ({
              gateway: hop.gateway ?? address,
              device: this.links.name(hop.ifindex),
              ifindex: hop.ifindex,
              onlink: (hop.flags & RTNH_F_ONLINK) !== 0,
            }));
    const base = { nextHop, via, viaProtocol: route.protocol, igpCost: route.metric, paths };
    if (paths.length === 0) return { ...base, reachable: false };
    return { ...base, reachable: true, gateway: paths[0].gateway, device: paths[0].device };
  }

  /** Re-dumps links and tables; notifications that arrive meanwhile are replayed on top, since the
   * dump may or may not include them (both orders leave the same view). */
  private async reload(): Promise<void> {
    const replay: KernelEvent[] = [];
    this.replay = replay;
    try {
      this.links.reset(await this.backend.dumpLinks());
      const fresh = new Map<string, RouteView>();
      for (const table of this.tables) {
        for (const family of [4, 6] as const) fresh.set(`${table}/${family}`, new RouteView());
        for (const route of await this.backend.dumpRoutes({ table })) this.observe(fresh, 'new', route);
      }
      this.views.clear();
      for (const [name, view] of fresh) this.views.set(name, view);
    } finally {
      this.replay = undefined;
    }
    for (const event of replay) this.onKernelEvent(event);
    this.scheduleReresolve();
  }

  private observe(
    views: Map<string, RouteView>,
    action: 'new' | 'delete',
    route: KernelRoute,
    replace = false,
  ): boolean {
    if (route.protocol === this.ownProtocol) return false;
    const view = views.get(`${route.table}/${familyOf(route.prefix)}`);
    if (!view) return false;
    if (action === 'new') view.put(route, replace);
    else view.delete(route);
    return true;
  }

  private onKernelEvent(event: KernelEvent): void {
    if (this.replay) {
      // Kept past this call: a route event's route must be decoded now.
      this.replay.push(
        event.kind === 'route' ? routeEvent(event.action, event.route(), event.replaced) : event,
      );
      return;
    }
    switch (event.kind) {
      case 'route': {
        // Brindle's own routes never resolve a next hop: skip them before decoding the rest.
        const { head } = event;
        if (head.protocol === this.ownProtocol || !this.tables.includes(head.table)) return;
        if (this.observe(this.views, event.action, event.route(), event.replaced)) this.scheduleReresolve();
        return;
      }
      case 'link': {
        const { change } = this.links.apply(event.action, event.link);
        if (change !== 'other') this.scheduleResync();
        return;
      }
      case 'address':
        return;
      case 'overrun':
        return this.scheduleResync();
    }
  }

  private scheduleResync(): void {
    if (this.resyncTimer) return;
    this.resyncTimer = this.clock.setTimer(RESYNC_DELAY_MS, () => {
      this.resyncTimer = undefined;
      if (!this.started) return;
      this.reload().catch((error: unknown) => {
        this.log.warn(
          { event: 'nexthop-resync-failed', reason: (error as Error).message },
          'next-hop view reload failed',
        );
        this.scheduleResync();
      });
    });
  }

  /** Re-resolves every tracked next hop once per turn, however many routes changed in it. */
  private scheduleReresolve(): void {
    if (this.reresolveScheduled) return;
    this.reresolveScheduled = true;
    setImmediate(() => {
      this.reresolveScheduled = false;
      if (!this.started && this.views.size === 0) return;
      for (const [nextHop, previous] of this.tracked) {
        const current = this.compute(nextHop);
        if (sameResolution(previous, current)) continue;
        this.tracked.set(nextHop, current);
        this.log.debug(
          { event: 'nexthop-change', nextHop, reachable: current.reachable, via: current.via },
          'next hop re-resolved',
        );
        this.subject.next(current);
      }
    });
  }
}
