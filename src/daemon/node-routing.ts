// Node mode's kernel side, wired here because only the daemon may join the RIB and the FIB: the
// Loc-RIB's best paths become kernel routes (ECMP when the decision leaves several equal paths), the
// node's own IPAM blocks become blackholes, and the kernel's own routes resolve BGP next hops for the
// decision process. Learned routes inside the service ranges stay out of the kernel (calico-routing.md
// §7.6: confd's `rejectcidrs`). The FIB engine never blocks the RIB: it coalesces and batches on its own.

import type { Subscription } from 'rxjs';
import { map } from 'rxjs/internal/operators/map';
import type { Logger } from '../lib/log.ts';
import type { Prefix } from '../lib/prefix.ts';
import { formatPrefix } from '../lib/prefix.ts';
import { within as prefixWithin } from '../policy/prefix-set.ts';
import { DEFAULT_NORMAL_PRIORITY, kernelMetric, normalPriority } from '../policy/priority.ts';
import type { NormalPriorities } from '../policy/priority.ts';
import { loadNative } from '../lib/native.ts';
import { Fib } from '../fib/fib.ts';
import { NetlinkBackend } from '../fib/netlink-backend.ts';
import { NextHopResolver as KernelNextHops } from '../fib/nexthop.ts';
import type { FibFamilyCounts, FibNextHop, FibRoute, FibRouteReport } from '../fib/types.ts';
import { Afi, familyName, Safi } from '../lib/family.ts';
import type { FibStats } from '../fib/stats.ts';
import type { LocRib } from '../rib/loc-rib.ts';
import type { NextHopResolver } from '../rib/nexthop.ts';
import type { Path } from '../rib/route.ts';
import type { BrindleConfig } from '../config/config.ts';
import { IPIP_DEVICE, NO_IPIP } from './ipip-routes.ts';
import type { IpipPolicy } from './ipip-routes.ts';

/**
 * Without a deferred selection (RFC 4724 §4.1), stale routes from before a restart stay until the RIB
 * has had this long to converge; with one, they go when it ends (selectionDone()).
 */
const PRUNE_AFTER_MS = 60_000;

export class NodeRouting {
  private ribSubscription: Subscription | undefined;
  private readonly blackholes = new Map<string, Prefix>();
  private pruneTimer: NodeJS.Timeout | undefined;
  private rib: LocRib | undefined;
  private ipip: IpipPolicy = NO_IPIP;
  /** Service ranges: routes inside them are never installed. */
  private noKernel: readonly Prefix[] = [];
  /**
   * Brindle's routes the kernel still held at start: the forwarding state a previous run preserved
   * (RFC 4724 §4.1), kept while the RIB relearns.
   */
  preservedRoutes = 0;
  /** BGPConfiguration's ipv4/ipv6NormalRoutePriority: learned routes' kernel metrics derive from it. */
  private normal: NormalPriorities = { ipv4: DEFAULT_NORMAL_PRIORITY, ipv6: DEFAULT_NORMAL_PRIORITY };

  private constructor(
    private readonly fib: Fib,
    private readonly nextHops: KernelNextHops,
    private readonly keepRoutesOnStop: boolean,
    private readonly log: Logger,
  ) {}

  /** Starts the FIB, or explains why node mode cannot run (the native addon did not build or load). */
  static async start(config: BrindleConfig, log: Logger): Promise<NodeRouting> {
    const native = loadNative();
    if (!native.ok)
      throw new Error(`node mode needs the native addon to program the kernel FIB: ${native.reason}`);
    const backend = new NetlinkBackend();
    const fib = new Fib(backend, {
      table: config.fib.table,
      protocol: config.fib.protocol,
      keepRoutesOnStop: config.fib.keepRoutesOnStop,
      logger: log,
    });
    const nextHops = new KernelNextHops(backend, {
      ownProtocol: config.fib.protocol,
      tables: [config.fib.table],
      logger: log,
    });
    await nextHops.start();
    // Routes left by a previous run keep forwarding until the RIB has converged (graceful restart).
    const summary = await fib.start({ deferPrune: true });
    log.info({ event: 'fib-start', ...summary }, 'kernel FIB reconciled');
    const routing = new NodeRouting(fib, nextHops, config.fib.keepRoutesOnStop, log);
    // Nothing is desired yet: every route of ours in the table was left by a previous run.
    routing.preservedRoutes = fib.status.installed;
    routing.pruneTimer = setTimeout(() => void routing.prune(), PRUNE_AFTER_MS);
    routing.pruneTimer.unref();
    return routing;
  }

  /**
   * §4.1: the deferred selection ended and the Loc-RIB is followed: the kernel routes it did not
   * relearn go now.
   */
  selectionDone(): void {
    if (this.pruneTimer) clearTimeout(this.pruneTimer);
    this.pruneTimer = undefined;
    void this.prune();
  }

  private async prune(): Promise<void> {
    const removed = await this.fib.prune();
    if (removed > 0)
      this.log.info({ event: 'fib-prune', removed }, 'stale routes from before the restart removed');
  }

  /** The kernel's view of BGP next hops, for the decision process (reachability and IGP cost). */
  ribResolver(): NextHopResolver {
    return {
      resolve: (nextHop) => {
        const r = this.nextHops.resolve(nextHop);
        return { reachable: r.reachable, igpCost: r.igpCost ?? 0 };
      },
      changes$: this.nextHops.changes$.pipe(map((r) => [r.nextHop])),
    };
  }

  /** Follows a (new) router's Loc-RIB: every best-path change becomes a desired kernel route. */
  follow(rib: LocRib): void {
    this.ribSubscription?.unsubscribe();
    this.rib = rib;
    this.applyTable(rib);
    this.ribSubscription = rib.bestPathChanges$.subscribe((changes) => {
      for (const change of changes) this.apply(change.prefix, change.best, change.ecmp);
    });
  }

  private applyTable(rib: LocRib): void {
    for (const dest of rib.dests()) this.apply(dest, dest.best, dest.multipath);
  }

  /** One destination's best path and multipath set as a kernel route (or none). */
  private apply(prefix: Prefix, best: Path | undefined, multipath: readonly Path[]): void {
    const key = formatPrefix(prefix);
    if (this.blackholes.has(key)) return; // our own block: the blackhole stays, whatever BGP says
    if (this.noKernel.some((range) => prefixWithin(prefix, range))) return this.fib.remove(prefix);
    const paths = multipath.filter((p) => !p.peer.local && p.attrs.attributes.nextHop !== undefined);
    if (!best || best.peer.local || paths.length === 0) {
      this.fib.remove(prefix);
      return;
    }
    const nextHops: FibNextHop[] = [];
    for (const path of paths) {
      const nextHop = path.attrs.attributes.nextHop as string;
      const hop = this.ipip.tunnels(prefix, nextHop)
        ? { gateway: nextHop, device: IPIP_DEVICE, onlink: true }
        : this.resolve(nextHop);
      if (hop && !nextHops.some((h) => h.gateway === hop.gateway && h.device === hop.device))
        nextHops.push(hop);
    }
    if (nextHops.length === 0) return this.fib.remove(prefix);
    // The best path's LOCAL_PREF sets the metric, as BIRD's krt_metric does (calico-routing.md §4.3):
    // a route of elevated priority beats Felix's routes at the normal one.
    const metric = kernelMetric(best.attrs.attributes, normalPriority(this.normal, prefix.afi));
    this.fib.setDesired({ prefix, kind: 'unicast', nextHops, metric } satisfies FibRoute);
  }

  /** A BGP next hop as the kernel reaches it: on-link it is the gateway itself; otherwise via the IGP route. */
  private resolve(nextHop: string): FibNextHop | undefined {
    const r = this.nextHops.resolve(nextHop);
    if (!r.reachable) return undefined;
    const connected = r.gateway === undefined || r.gateway === nextHop;
    return connected ? { gateway: nextHop, device: r.device } : { gateway: r.gateway, device: r.device };
  }

  /** The device the kernel reaches `nextHop` over (a BGPFilter's `interface`), when it does. */
  deviceOf(nextHop: string): string | undefined {
    const r = this.nextHops.resolve(nextHop);
    return r.reachable ? r.device : undefined;
  }

  /** §7.6: learned routes inside these ranges are not installed; the table is rewritten when they change. */
  setNoKernel(ranges: readonly Prefix[]): void {
    const key = (list: readonly Prefix[]) => list.map((p) => formatPrefix(p)).join();
    if (key(ranges) === key(this.noKernel)) return;
    this.noKernel = ranges;
    if (this.rib) this.applyTable(this.rib);
  }

  /** The normal route priorities; every learned route's metric is recomputed when they change. */
  setNormalPriorities(normal: NormalPriorities): void {
    if (normal.ipv4 === this.normal.ipv4 && normal.ipv6 === this.normal.ipv6) return;
    this.normal = normal;
    if (this.rib) this.applyTable(this.rib);
  }

  /** Which routes go through tunl0 (the pools' ipipMode); every route is rewritten when it changes. */
  setIpip(policy: IpipPolicy): void {
    if (policy.key === this.ipip.key) return;
    this.ipip = policy;
    if (this.rib) this.applyTable(this.rib);
  }

  /** The node's own IPAM blocks: a blackhole each (pods inside get more specific routes of their own). */
  setBlackholes(prefixes: readonly Prefix[]): void {
    const wanted = new Map(prefixes.map((p) => [formatPrefix(p), p]));
    for (const [key, prefix] of this.blackholes) if (!wanted.has(key)) this.fib.remove(prefix);
    for (const [key, prefix] of wanted) {
      if (!this.blackholes.has(key)) this.fib.setDesired({ prefix, kind: 'blackhole', nextHops: [] });
    }
    this.blackholes.clear();
    for (const [key, prefix] of wanted) this.blackholes.set(key, prefix);
  }

  get status() {
    return this.fib.status;
  }

  /** The FIB's figures for the metrics (brindle_fib_*); cheap enough for every scrape. */
  fibStats(): FibStats {
    const activity = this.fib.activity();
    const status = this.fib.status;
    const byFamily = (counts: FibFamilyCounts) =>
      new Map([
        [familyName(Afi.Ipv4, Safi.Unicast), counts.ipv4],
        [familyName(Afi.Ipv6, Safi.Unicast), counts.ipv6],
      ]);
    const at = activity.lastReconcileAt;
    return {
      installedRoutes: byFamily(activity.installed),
      desiredRoutes: byFamily(activity.desired),
      pendingRoutes: status.backlog,
      failedRoutes: status.failed,
      writes: activity.writes,
      reconciles: activity.reconciles,
      // The engine runs on the system clock (performance.now()): its times are offsets from timeOrigin.
      lastReconcileAt: at === undefined ? undefined : performance.timeOrigin + at,
      overruns: activity.overruns,
    };
  }

  /** Every route Brindle wants or holds in the kernel, and its state (GET /api/v1/fib). */
  fibRoutes(): Iterable<FibRouteReport> {
    return this.fib.routeReports();
  }

  /** `keepRoutes` true: a planned graceful restart keeps the kernel routes whatever fib.keepRoutesOnStop says. */
  async stop(keepRoutes = this.keepRoutesOnStop): Promise<void> {
    if (this.pruneTimer) clearTimeout(this.pruneTimer);
    this.ribSubscription?.unsubscribe();
    await this.fib.stop({ keepRoutes });
    await this.nextHops.stop();
  }
}
