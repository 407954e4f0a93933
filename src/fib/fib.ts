// The kernel FIB engine: desired routes in, kernel routes out. Brindle owns exactly the routes that
// carry its protocol number in its table; nothing else is ever written or deleted (new routes are
// added with NLM_F_EXCL, as BIRD's krt does, so a route of another protocol at the same prefix and
// metric is reported as a conflict instead of being replaced; deletes name our protocol, so the kernel
// refuses to delete anyone else's).
//
// Flow: setDesired()/remove() record the wish and mark the prefix dirty, nothing more. A pump, run
// from setImmediate, turns dirty prefixes into writes — the latest wish only, so a prefix changed ten
// times before it is written is written once — in batches (one datagram each) with several batches in
// flight; a prefix is never in two batches at once. A refused write is logged with its errno, counted
// and retried with bounded exponential backoff; it never holds up other prefixes. Kernel notifications
// (all but the echoes of our own writes, which the backend counts out) keep the view honest: a route
// of ours deleted or changed by someone else is rewritten; link and address changes (IPv4 drops the
// routes of a downed link without a notification) and dropped notifications trigger a resync — a dump
// of our routes diffed against the desired state. Everything known about a prefix is one Entry.

import { BehaviorSubject, Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import { systemClock } from '../lib/clock.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import { silentLogger } from '../lib/log.ts';
import type { Logger } from '../lib/log.ts';
import { formatPrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import {
  deleteRoute,
  desiredRoute,
  effectiveMetric,
  kernelRoute,
  planReconcile,
  prefixKey,
  routeMatches,
  sameDesired,
} from './desired.ts';
import type {
  DesiredLookup,
  DesiredRoute,
  KernelNextHopCache,
  PrefixKey,
  ReconcilePlan,
  RouteContext,
} from './desired.ts';
import { LinkTable } from './links.ts';
import {
  EEXIST,
  ENOBUFS,
  ENODEV,
  ENOENT,
  errnoName,
  ESRCH,
  RT_TABLE_MAIN,
  RTN_BLACKHOLE,
  RTNH_F_ONLINK,
} from './netlink.ts';
import type { KernelRoute } from './netlink.ts';
import { DEFAULT_FIB_PROTOCOL } from './types.ts';
import type {
  FibActivity,
  FibBackend,
  FibCounters,
  FibFailure,
  FibNextHop,
  FibOp,
  FibOpResult,
  FibOptions,
  FibRoute,
  FibRouteReport,
  FibRouteState,
  FibState,
  FibStatus,
  KernelEvent,
  ReconcileSummary,
  RouteEvent,
  StartOptions,
} from './types.ts';

export { DEFAULT_FIB_PROTOCOL };
export type {
  FibActivity,
  FibCounters,
  FibFailure,
  FibOptions,
  FibRoute,
  FibRouteReport,
  FibRouteState,
  FibState,
  FibStatus,
  ReconcileSummary,
  StartOptions,
} from './types.ts';

interface Failure {
  errno: number;
  message?: string;
  attempts: number;
  timer?: TimerHandle;
  retryAt: number;
}

/** Everything the engine knows about one prefix; one Map lookup per wish, none per write. */
interface Entry {
  readonly key: PrefixKey;
  readonly prefix: Prefix;
  desired: DesiredRoute | undefined;
  /** Our route in the kernel as last dumped, notified or acknowledged (the written form). */
  installed: KernelRoute | undefined;
  /** Sent, not yet acknowledged. A prefix is never in two batches at once. */
  writing: FibOp | undefined;
  /** In the write queue. */
  queued: boolean;
  /** Dirtied while writing: queued again once the write completes. */
  deferred: boolean;
  /** Changed by someone else while our write was in flight: rewrite even if the view matches. */
  forced: boolean;
  failure: Failure | undefined;
  /** Rewrites forced by other writers since restoresSince (the fight guard). */
  restores: number;
  restoresSince: number;
  /** The resync epoch in which it was last written or notified: that resync's dump may predate it. */
  touched: number;
  /**
   * Wanted during this run, then no longer: deleted at once even while the prune of routes left by a
   * previous run is deferred (that grace is for routes nobody has spoken for yet, not for withdrawals).
   */
  withdrawn: boolean;
}

/** One datagram's worth of writes: ops[i] brings entries[i] to its desired state (undefined: a
 * stray delete, a route of ours at a metric we no longer use). */
interface Batch {
  readonly entries: (Entry | undefined)[];
  readonly ops: FibOp[];
}

/** Rewrites of one prefix triggered by other writers before the engine gives up on it (per window). */
const MAX_RESTORES = 5;
const RESTORE_WINDOW_MS = 60_000;
const FAILURE_LOG_LINES_PER_BATCH = 10;

export class Fib {
  private readonly context: RouteContext;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly links = new LinkTable();
  private readonly entries = new Map<PrefixKey, Entry>();
  private queue: Entry[] = [];
  private queueHead = 0;
  private readonly failed = new Set<Entry>();
  private desiredCount = 0;
  private installedCount = 0;
  private writingCount = 0;
  private deferredCount = 0;
  private strays: KernelRoute[] = [];
  /** Written next hops, shared by routes with the same next-hop array; renewed on link changes. */
  private writtenHops: KernelNextHopCache = new WeakMap();
  private state: FibState = 'stopped';
  private pruneDeferred = false;
  private batchesInFlight = 0;
  private pumpScheduled = false;
  private statusScheduled = false;
  private resyncTimer: TimerHandle | undefined;
  private resyncRunning = false;
  private resyncAgain = false;
  private resyncRetryFailed = false;
  private epoch = 0;
  /** The epoch of the dump in progress (start or resync); 0 when none. */
  private activeEpoch = 0;
  private notifiedDuringStart = false;
  private unsubscribe: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly statusSubject: BehaviorSubject<FibStatus>;
  private readonly failureSubject = new Subject<FibFailure>();
  private readonly count = { routesWritten: 0, routesDeleted: 0, writeFailures: 0, restored: 0, resyncs: 0 };
  /** For activity(): IPv6 shares of desiredCount / installedCount, and what the metrics count. */
  private desiredV6 = 0;
  private installedV6 = 0;
  private readonly writes = {
    add: { ok: 0, failed: 0 },
    replace: { ok: 0, failed: 0 },
    delete: { ok: 0, failed: 0 },
  };
  private reconciles = 0;
  private lastReconcileAt: number | undefined;
  private overruns = 0;
  private readonly batchSize: number;
  private readonly maxBatchesInFlight: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly resyncDelayMs: number;
  private readonly keepRoutesOnStop: boolean;
  private readonly ifindexOf = (name: string): number | undefined => this.links.ifindex(name);
  private readonly desiredView: DesiredLookup = {
    get: (key) => this.entries.get(key)?.desired,
    keys: () => this.desiredKeys(),
  };

  /** Status after every change, at most once per event-loop turn. */
  readonly status$: Observable<FibStatus>;
  /** Every refused write, as it happens. */
  readonly failures$: Observable<FibFailure> = this.failureSubject.asObservable();

  constructor(
    private readonly backend: FibBackend,
    options: FibOptions = {},
  ) {
    this.context = {
      table: options.table ?? RT_TABLE_MAIN,
      protocol: options.protocol ?? DEFAULT_FIB_PROTOCOL,
      metric: options.metric ?? 0,
    };
    if (this.context.protocol < 1 || this.context.protocol > 255)
      throw new RangeError('fib protocol must be 1..255');
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.batchSize = options.batchSize ?? 256;
    this.maxBatchesInFlight = options.maxBatchesInFlight ?? 8;
    this.retryInitialMs = options.retryInitialMs ?? 1_000;
    this.retryMaxMs = options.retryMaxMs ?? 60_000;
    this.resyncDelayMs = options.resyncDelayMs ?? 100;
    this.keepRoutesOnStop = options.keepRoutesOnStop ?? true;
    this.statusSubject = new BehaviorSubject(this.status);
    this.status$ = this.statusSubject.asObservable();
  }

  // -------------------------------------------------------------------------------------------------
  // Desired state: never blocks, never waits for the kernel

  /** Wants `route` in the kernel (replacing what was wanted for its prefix). Throws a TypeError for a
   * route no kernel could take (bad gateway text, a unicast route without next hops). */
  setDesired(route: FibRoute): void {
    const next = desiredRoute(route);
    const e = this.entries.get(next.key) ?? this.create(next.key, route.prefix);
    const previous = e.desired;
    if (!previous) this.countDesired(e, 1);
    e.desired = next;
    e.withdrawn = false;
    if (previous && sameDesired(previous, next)) return;
    this.clearFailure(e);
    e.restores = 0;
    this.markDirty(e);
  }

  /** No longer wants a route at `prefix`; ours is deleted from the kernel if it is there. */
  remove(prefix: Prefix): void {
    const e = this.entries.get(prefixKey(prefix));
    if (!e) return;
    if (e.desired) {
      this.countDesired(e, -1);
      e.withdrawn = true;
    }
    e.desired = undefined;
    this.clearFailure(e);
    e.restores = 0;
    if (e.installed || e.writing) this.markDirty(e);
    else this.release(e);
  }

  get(prefix: Prefix): FibRoute | undefined {
    return this.entries.get(prefixKey(prefix))?.desired?.route;
  }

  *desiredRoutes(): IterableIterator<FibRoute> {
    for (const e of this.entries.values()) if (e.desired) yield e.desired.route;
  }

  get status(): FibStatus {
    return {
      state: this.state,
      desired: this.desiredCount,
      installed: this.installedCount,
      backlog:
        this.queue.length - this.queueHead + this.deferredCount + this.writingCount + this.strays.length,
      inFlight: this.writingCount,
      failed: this.failed.size,
    };
  }

  get counters(): FibCounters {
    return { ...this.count };
  }

  /** Current refusals. */
  failures(): FibFailure[] {
    const now = this.clock.now();
    return [...this.failed].map((e) =>
      this.describeFailure(e, Math.max(0, Math.round((e.failure?.retryAt ?? now) - now))),
    );
  }

  /** Counts for the metrics: O(1), nothing is walked. */
  activity(): FibActivity {
    const w = this.writes;
    return {
      desired: { ipv4: this.desiredCount - this.desiredV6, ipv6: this.desiredV6 },
      installed: { ipv4: this.installedCount - this.installedV6, ipv6: this.installedV6 },
      writes: { add: { ...w.add }, replace: { ...w.replace }, delete: { ...w.delete } },
      reconciles: this.reconciles,
      lastReconcileAt: this.lastReconcileAt,
      overruns: this.overruns,
    };
  }

  /** Every prefix Brindle wants or holds in the kernel, and how the two compare (GET /api/v1/fib). */
  *routeReports(): IterableIterator<FibRouteReport> {
    const now = this.clock.now();
    for (const e of this.entries.values()) {
      if (!e.desired && !e.installed) continue; // a delete just acknowledged, about to be released
      yield {
        prefix: e.prefix,
        state: this.routeState(e),
        ...(e.desired ? { desired: e.desired.route } : {}),
        ...(e.installed ? { kernel: this.kernelView(e.installed) } : {}),
        ...(e.failure
          ? { failure: this.describeFailure(e, Math.max(0, Math.round(e.failure.retryAt - now))) }
          : {}),
      };
    }
  }

  private routeState(e: Entry): FibRouteState {
    if (e.failure) return 'failed';
    if (!e.desired) return 'stale';
    const writing = e.writing !== undefined || e.queued || e.deferred;
    const matches = e.installed && routeMatches(e.desired, e.installed, this.context, this.ifindexOf);
    return matches && !writing ? 'installed' : 'pending';
  }

  /** A kernel route in the desired routes' terms: device names instead of ifindexes. */
  private kernelView(route: KernelRoute): FibRoute {
    const nextHops = route.nextHops.map((hop): FibNextHop => {
      const device = hop.ifindex === 0 ? undefined : (this.links.name(hop.ifindex) ?? `if${hop.ifindex}`);
      return {
        ...(hop.gateway === undefined ? {} : { gateway: hop.gateway }),
        ...(device === undefined ? {} : { device }),
        ...((hop.flags & RTNH_F_ONLINK) !== 0 ? { onlink: true } : {}),
      };
    });
    const kind = route.type === RTN_BLACKHOLE ? 'blackhole' : 'unicast';
    return { prefix: route.prefix, kind, nextHops: kind === 'blackhole' ? [] : nextHops };
  }

  private reconciled(): void {
    this.reconciles += 1;
    this.lastReconcileAt = this.clock.now();
  }

  /** Resolves once nothing is queued or in flight (refused routes waiting for a retry excepted). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // -------------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Opens the backend, dumps Brindle's routes in the table and reconciles: stale ones deleted
   * (unless `deferPrune`), missing ones added, different ones replaced, matching ones left alone.
   * Resolves once that first reconcile has been written.
   */
  async start(options: StartOptions = {}): Promise<ReconcileSummary> {
    if (this.state !== 'stopped') throw new Error(`fib: start() while ${this.state}`);
    this.state = 'starting';
    this.pruneDeferred = options.deferPrune === true;
    this.notifiedDuringStart = false;
    try {
      await this.backend.open();
      this.unsubscribe = this.backend.subscribe((event) => this.onKernelEvent(event));
      this.links.reset(await this.backend.dumpLinks());
      this.writtenHops = new WeakMap();
      const routes = await this.backend.dumpRoutes({
        table: this.context.table,
        protocol: this.context.protocol,
      });
      const plan = this.applyInitialPlan(routes);
      this.state = 'running';
      this.log.info(
        {
          event: 'fib-start',
          table: this.context.table,
          protocol: this.context.protocol,
          kept: plan.kept.length,
          missing: plan.missing.length,
          different: plan.different.length,
          stale: plan.stale.length,
        },
        'fib reconciling',
      );
      this.pump();
      if (this.notifiedDuringStart) this.scheduleResync(false);
      await this.idle();
      this.reconciled();
      const summary = this.summarize(plan);
      this.log.info({ event: 'fib-synced', ...summary }, 'fib in sync');
      return summary;
    } catch (error) {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
      if (this.state === 'starting') {
        this.state = 'stopped';
        await this.backend.close();
      }
      throw error;
    }
  }

  /** Deletes Brindle routes that are not desired (after start({ deferPrune: true })). */
  async prune(): Promise<number> {
    this.pruneDeferred = false;
    let stale = 0;
    for (const e of this.entries.values()) {
      if (e.installed && !e.desired) {
        this.markDirty(e);
        stale += 1;
      }
    }
    await this.idle();
    return stale;
  }

  /**
   * Stops writing. With keepRoutes (default: the keepRoutesOnStop option) Brindle's routes stay in the
   * kernel for the next start() to reconcile; otherwise every route of our protocol in the table is
   * deleted. Writes already sent are waited for; queued ones are dropped. The desired state is kept.
   */
  async stop(options: { keepRoutes?: boolean } = {}): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    const keep = options.keepRoutes ?? this.keepRoutesOnStop;
    this.state = 'stopping';
    this.resyncTimer?.cancel();
    this.resyncTimer = undefined;
    for (let i = this.queueHead; i < this.queue.length; i++) this.queue[i].queued = false;
    this.queue = [];
    this.queueHead = 0;
    this.strays = [];
    await this.idle();
    let removed = 0;
    if (!keep) removed = await this.removeAll();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.backend.close();
    for (const e of this.entries.values()) {
      this.clearFailure(e);
      e.installed = undefined;
      e.deferred = e.forced = false;
      e.restores = 0;
      this.release(e);
    }
    this.installedCount = this.installedV6 = this.deferredCount = 0;
    this.state = 'stopped';
    this.log.info({ event: 'fib-stop', keepRoutes: keep, removed }, 'fib stopped');
    this.emitStatus();
  }

  private async removeAll(): Promise<number> {
    const routes = await this.backend.dumpRoutes({
      table: this.context.table,
      protocol: this.context.protocol,
    });
    const ops: FibOp[] = routes.map((r) => ({
      op: 'delete',
      route: deleteRoute(r.prefix, this.context, r.metric),
    }));
    const chunk = this.batchSize * this.maxBatchesInFlight;
    let removed = 0;
    for (let i = 0; i < ops.length; i += chunk) {
      const results = await this.backend.apply(ops.slice(i, i + chunk));
      removed += results.filter((r) => r.ok || r.errno === ESRCH).length;
    }
    return removed;
  }

  // -------------------------------------------------------------------------------------------------
  // Entries

  private create(key: PrefixKey, prefix: Prefix): Entry {
    const e: Entry = {
      key,
      prefix,
      desired: undefined,
      installed: undefined,
      writing: undefined,
      queued: false,
      deferred: false,
      forced: false,
      failure: undefined,
      restores: 0,
      restoresSince: 0,
      touched: 0,
      withdrawn: false,
    };
    this.entries.set(key, e);
    return e;
  }

  /** Forgets an entry that holds nothing any more. */
  private release(e: Entry): void {
    if (e.desired || e.installed || e.writing || e.queued || e.deferred || e.failure) return;
    this.entries.delete(e.key);
  }

  private setInstalled(e: Entry, route: KernelRoute | undefined): void {
    if (!e.installed !== !route) {
      this.installedCount += route ? 1 : -1;
      if (typeof e.key === 'string') this.installedV6 += route ? 1 : -1;
    }
    e.installed = route;
  }

  /** IPv6 prefix keys are strings, IPv4 ones numbers (desired.ts). */
  private countDesired(e: Entry, delta: 1 | -1): void {
    this.desiredCount += delta;
    if (typeof e.key === 'string') this.desiredV6 += delta;
  }

  private *desiredKeys(): IterableIterator<PrefixKey> {
    for (const e of this.entries.values()) if (e.desired) yield e.key;
  }

  private busy(e: Entry): boolean {
    return (
      (this.activeEpoch !== 0 && e.touched === this.activeEpoch) ||
      e.writing !== undefined ||
      e.queued ||
      e.deferred
    );
  }

  // -------------------------------------------------------------------------------------------------
  // Reconcile

  private applyInitialPlan(routes: readonly KernelRoute[]): ReconcilePlan {
    const plan = planReconcile(this.desiredView, routes, this.context, this.ifindexOf);
    for (const [key, route] of plan.present)
      this.setInstalled(this.entries.get(key) ?? this.create(key, route.prefix), route);
    // Wishes made before start() are queued already; planOp() skips the ones the kernel holds as wanted.
    for (const key of [...plan.missing, ...plan.different]) this.markDirty(this.entries.get(key) as Entry);
    if (!this.pruneDeferred)
      for (const prefix of plan.stale) this.markDirty(this.entries.get(prefixKey(prefix)) as Entry);
    this.strays.push(...plan.strays);
    return plan;
  }

  /** What the initial reconcile achieved, counted once its writes are done. */
  private summarize(plan: ReconcilePlan): ReconcileSummary {
    const done = (key: PrefixKey) => !this.entries.get(key)?.failure;
    const gone = (prefix: Prefix) => !this.entries.get(prefixKey(prefix))?.installed;
    return {
      kept: plan.kept.length,
      added: plan.missing.filter(done).length,
      replaced: plan.different.filter(done).length,
      deleted: (this.pruneDeferred ? 0 : plan.stale.filter(gone).length) + plan.strays.length,
      failed: this.failed.size,
    };
  }

  private scheduleResync(retryFailed: boolean): void {
    this.resyncRetryFailed ||= retryFailed;
    if (this.state !== 'running' || this.resyncTimer) return;
    this.resyncTimer = this.clock.setTimer(this.resyncDelayMs, () => {
      this.resyncTimer = undefined;
      void this.resync();
    });
  }

  /** Dump our routes and fix every prefix the kernel disagrees on (and is not being written now). */
  private async resync(): Promise<void> {
    if (this.resyncRunning) {
      this.resyncAgain = true;
      return;
    }
    const retryFailed = this.resyncRetryFailed;
    this.resyncRetryFailed = false;
    this.resyncRunning = true;
    this.activeEpoch = ++this.epoch;
    this.count.resyncs += 1;
    try {
      this.links.reset(await this.backend.dumpLinks());
      this.writtenHops = new WeakMap();
      const routes = await this.backend.dumpRoutes({
        table: this.context.table,
        protocol: this.context.protocol,
      });
      if (this.state === 'running') {
        this.applyResync(routes, retryFailed);
        this.reconciled();
      }
    } catch (error) {
      this.log.warn({ event: 'fib-resync-failed', reason: (error as Error).message }, 'fib resync failed');
      this.resyncAgain = true;
    } finally {
      this.activeEpoch = 0;
      this.resyncRunning = false;
    }
    if (this.resyncAgain && this.state === 'running') {
      this.resyncAgain = false;
      this.scheduleResync(false);
    }
    this.pump();
  }

  private applyResync(routes: readonly KernelRoute[], retryFailed: boolean): void {
    const plan = planReconcile(this.desiredView, routes, this.context, this.ifindexOf);
    const before = this.count.restored;
    this.strays.push(...plan.strays);
    for (const [key, route] of plan.present) {
      const e = this.entries.get(key) ?? this.create(key, route.prefix);
      if (!this.busy(e)) this.setInstalled(e, route);
    }
    for (const e of this.entries.values()) {
      if (e.installed && !plan.present.has(e.key) && !this.busy(e)) this.setInstalled(e, undefined);
    }
    for (const key of plan.kept) {
      const e = this.entries.get(key) as Entry;
      if (!this.busy(e)) this.clearFailure(e);
    }
    for (const key of plan.different) {
      const e = this.entries.get(key) as Entry;
      if (e.failure?.errno === EEXIST) this.clearFailure(e); // it was ours after all
      this.fix(e, 'changed', retryFailed);
    }
    if (!this.pruneDeferred) {
      for (const prefix of plan.stale)
        this.fix(this.entries.get(prefixKey(prefix)) as Entry, 'stale', retryFailed);
    }
    for (const key of plan.missing) this.fix(this.entries.get(key) as Entry, 'missing', retryFailed);
    const rewritten = this.count.restored - before;
    if (rewritten > 0 || plan.strays.length > 0) {
      this.log.info(
        { event: 'fib-resync', rewritten, strays: plan.strays.length, kernel: routes.length },
        `resync: rewriting ${rewritten} routes the kernel disagreed on`,
      );
    }
  }

  /** A resync's verdict on one prefix: rewrite it, unless it is being written or waits for a retry. */
  private fix(e: Entry, why: 'missing' | 'changed' | 'stale', retryFailed: boolean): void {
    if (this.busy(e)) return;
    if (!e.failure) return this.restore(e, why, false);
    if (!retryFailed) return;
    e.failure.timer?.cancel();
    e.failure.timer = undefined;
    this.markDirty(e);
  }

  /** Rewrites a prefix someone else changed, unless it keeps happening (a fight, or a kernel that
   * stores the route differently from how we compare it): then it is logged and left alone. */
  private restore(e: Entry, why: 'missing' | 'changed' | 'stale', logIt = true): void {
    const now = this.clock.now();
    if (e.restores === 0 || now - e.restoresSince > RESTORE_WINDOW_MS) {
      e.restores = 0;
      e.restoresSince = now;
    }
    e.restores += 1;
    const prefix = formatPrefix(e.prefix);
    if (e.restores > MAX_RESTORES) {
      if (e.restores === MAX_RESTORES + 1) {
        this.log.error(
          { event: 'fib-restore-loop', prefix, reason: why },
          `route rewritten ${MAX_RESTORES} times in ${RESTORE_WINDOW_MS / 1000} s; leaving it alone`,
        );
      }
      return;
    }
    this.count.restored += 1;
    if (!logIt) return this.markDirty(e);
    const message =
      why === 'stale'
        ? 'deleting a Brindle route that is not desired'
        : `restoring a route ${why} outside Brindle`;
    this.log.info({ event: 'fib-restore', prefix, reason: why }, message);
    this.markDirty(e);
  }

  // -------------------------------------------------------------------------------------------------
  // Writing

  private markDirty(e: Entry): void {
    if (e.writing) {
      if (!e.deferred) {
        e.deferred = true;
        this.deferredCount += 1;
      }
    } else if (!e.queued) {
      e.queued = true;
      this.queue.push(e);
    }
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.state !== 'running') return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.state === 'running' && this.batchesInFlight < this.maxBatchesInFlight) {
      const batch = this.nextBatch();
      if (batch.ops.length === 0) break;
      this.batchesInFlight += 1;
      void this.backend.apply(batch.ops).then(
        (results) => this.complete(batch, results),
        (error: unknown) =>
          this.complete(
            batch,
            batch.ops.map(() => sendFailure(error)),
          ),
      );
    }
    this.settle();
  }

  private nextBatch(): Batch {
    const batch: Batch = { entries: [], ops: [] };
    while (batch.ops.length < this.batchSize && this.strays.length > 0) {
      const stray = this.strays.pop() as KernelRoute;
      batch.entries.push(undefined);
      batch.ops.push({ op: 'delete', route: deleteRoute(stray.prefix, this.context, stray.metric) });
    }
    while (batch.ops.length < this.batchSize && this.queueHead < this.queue.length) {
      const e = this.queue[this.queueHead++];
      e.queued = false;
      const op = this.planOp(e);
      if (!op) {
        this.release(e);
        continue;
      }
      e.writing = op;
      if (this.activeEpoch !== 0) e.touched = this.activeEpoch;
      this.writingCount += 1;
      batch.entries.push(e);
      batch.ops.push(op);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return batch;
  }

  /** The write that brings a prefix to its desired state, or nothing (already so, or not writable). */
  private planOp(e: Entry): FibOp | undefined {
    const want = e.desired;
    const installed = e.installed;
    const forced = e.forced;
    e.forced = false;
    if (!want) {
      if (!installed || (this.pruneDeferred && !e.withdrawn)) return undefined;
      return { op: 'delete', route: deleteRoute(installed.prefix, this.context) };
    }
    // Already there as wanted (a graceful restart's routes, or a wish that came back): no write.
    if (!forced && installed && routeMatches(want, installed, this.context, this.ifindexOf)) return undefined;
    const route = kernelRoute(want, this.context, this.ifindexOf, this.writtenHops);
    if ('missingDevice' in route) {
      this.recordFailure(e, ENODEV, `device ${route.missingDevice} does not exist`);
      return undefined;
    }
    return { op: installed ? 'replace' : 'add', route };
  }

  private complete(batch: Batch, results: readonly FibOpResult[]): void {
    this.batchesInFlight -= 1;
    let refused = 0;
    let lost = false;
    for (let i = 0; i < batch.ops.length; i++) {
      const e = batch.entries[i];
      const op = batch.ops[i];
      const result = results[i];
      const done = result.ok || (op.op === 'delete' && (result.errno === ESRCH || result.errno === ENOENT));
      this.writes[op.op][done ? 'ok' : 'failed'] += 1;
      if (!e) continue; // stray deletes: a later resync sees any leftover
      e.writing = undefined;
      this.writingCount -= 1;
      if (done) {
        this.succeeded(e, op);
      } else if (result.errno === ENOBUFS) {
        lost = true; // outcome unknown: the resync below finds out
      } else {
        this.refused(e, op, result, refused++ < FAILURE_LOG_LINES_PER_BATCH);
        if (result.errno === EEXIST) this.scheduleResync(false); // maybe ours, unknown to us
      }
      if (e.deferred) {
        e.deferred = false;
        this.deferredCount -= 1;
        if (this.state === 'running') this.markDirty(e);
      }
      this.release(e);
    }
    if (refused > FAILURE_LOG_LINES_PER_BATCH) {
      this.log.warn(
        { event: 'fib-write-refused', count: refused },
        `${refused} route writes refused in one batch`,
      );
    }
    if (lost) this.scheduleResync(false);
    if (this.state === 'running') this.pump();
    else this.settle();
  }

  private succeeded(e: Entry, op: FibOp): void {
    if (op.op === 'delete') {
      this.setInstalled(e, undefined);
      this.count.routesDeleted += 1;
    } else {
      const metric = effectiveMetric(op.route.prefix, op.route.metric);
      this.setInstalled(e, metric === op.route.metric ? op.route : { ...op.route, metric });
      this.count.routesWritten += 1;
    }
    this.clearFailure(e);
  }

  private refused(e: Entry, op: FibOp, result: FibOpResult, logIt: boolean): void {
    if (result.ok) return;
    let message = result.message;
    if (op.op === 'add' && result.errno === EEXIST)
      message ??= 'a route of another protocol holds this prefix and metric';
    this.recordFailure(e, result.errno, message, logIt);
  }

  private recordFailure(e: Entry, errno: number, message?: string, logIt = true): void {
    const failure = e.failure ?? { errno, attempts: 0, retryAt: 0 };
    e.failure = failure;
    this.failed.add(e);
    failure.errno = errno;
    failure.message = message;
    failure.attempts += 1;
    const delay = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** Math.min(30, failure.attempts - 1));
    failure.retryAt = this.clock.now() + delay;
    failure.timer?.cancel();
    failure.timer = this.clock.setTimer(delay, () => {
      failure.timer = undefined;
      if (e.failure === failure && this.state === 'running') this.markDirty(e);
    });
    this.count.writeFailures += 1;
    const described = this.describeFailure(e, delay);
    if (logIt) {
      const level = failure.attempts === 1 ? 'warn' : 'debug';
      this.log[level](
        { event: 'fib-write-refused', ...described },
        `kernel refused route ${described.prefix}: ${described.code}`,
      );
    }
    this.failureSubject.next(described);
  }

  private describeFailure(e: Entry, retryInMs: number): FibFailure {
    const failure = e.failure as Failure;
    const base = {
      prefix: formatPrefix(e.prefix),
      errno: failure.errno,
      code: errnoName(failure.errno),
      attempts: failure.attempts,
      retryInMs,
    };
    return failure.message === undefined ? base : { ...base, message: failure.message };
  }

  private clearFailure(e: Entry): void {
    if (!e.failure) return;
    e.failure.timer?.cancel();
    e.failure = undefined;
    this.failed.delete(e);
  }

  private isIdle(): boolean {
    if (this.state === 'stopped') return true;
    // Only a running engine drains its queue: wishes made while stopping wait for the next start().
    const queued = this.state === 'running' ? this.queue.length - this.queueHead : 0;
    const writing = queued + this.deferredCount + this.writingCount + this.strays.length;
    return writing === 0 && this.batchesInFlight === 0 && (this.state !== 'running' || !this.resyncRunning);
  }

  /** Wakes idle() waiters and schedules a status emission. */
  private settle(): void {
    if (this.idleWaiters.length > 0 && this.isIdle()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    if (this.statusScheduled) return;
    this.statusScheduled = true;
    setImmediate(() => {
      this.statusScheduled = false;
      this.emitStatus();
    });
  }

  private emitStatus(): void {
    this.statusSubject.next(this.status);
  }

  // -------------------------------------------------------------------------------------------------
  // Kernel notifications

  private onKernelEvent(event: KernelEvent): void {
    switch (event.kind) {
      case 'route':
        return this.onRouteEvent(event);
      case 'link': {
        const { change } = this.links.apply(event.action, event.link);
        if (change === 'other') return;
        this.writtenHops = new WeakMap(); // an ifindex may now belong to another name
        this.scheduleResync(change === 'added' || change === 'up' || change === 'renamed');
        return;
      }
      case 'address':
        return this.scheduleResync(event.action === 'new');
      case 'overrun':
        this.overruns += 1;
        this.log.warn({ event: 'fib-overrun' }, 'kernel dropped route notifications; resynchronising');
        return this.scheduleResync(false);
    }
  }

  private onRouteEvent(event: RouteEvent): void {
    const { head, action } = event;
    if (head.table !== this.context.table) return;
    const key = prefixKey(head.prefix);
    let e = this.entries.get(key);
    const ours = head.protocol === this.context.protocol;
    const ourMetric = head.metric === effectiveMetric(head.prefix, this.context.metric);
    if (this.state === 'starting') {
      this.notifiedDuringStart ||= ours;
      return;
    }
    if (this.state !== 'running') return;
    if (!ours) {
      // Another protocol replaced the route at our prefix and metric: ours is gone.
      if (action === 'new' && event.replaced && ourMetric && e?.installed) {
        this.setInstalled(e, undefined);
        if (e.desired) this.noticed(e, 'changed');
      }
      return;
    }
    if (!ourMetric) {
      if (action === 'new') this.strays.push(event.route());
      this.schedulePump();
      return;
    }
    e ??= this.create(key, head.prefix);
    if (this.activeEpoch !== 0) e.touched = this.activeEpoch;
    const route = action === 'new' ? event.route() : undefined;
    this.setInstalled(e, route);
    const want = e.desired;
    if (e.queued || e.deferred || e.failure) {
      // Being written, or waiting for a retry: that write uses the view just updated.
    } else if (!route) {
      if (want) this.noticed(e, 'missing');
    } else if (!want) {
      if (!this.pruneDeferred || e.withdrawn) this.noticed(e, 'stale');
    } else if (!routeMatches(want, route, this.context, this.ifindexOf)) {
      this.noticed(e, 'changed');
    }
    this.release(e);
  }

  /** Someone else changed a prefix. If our write for it is still unacknowledged, its acknowledgement
   * must not make the view say "as desired": the write after it happens whatever the view says. */
  private noticed(e: Entry, why: 'missing' | 'changed' | 'stale'): void {
    if (e.writing) e.forced = true;
    this.restore(e, why);
  }
}

function sendFailure(error: unknown): FibOpResult {
  const errno = Math.abs((error as { errno?: number }).errno ?? ENOBUFS);
  return { ok: false, errno, message: error instanceof Error ? error.message : String(error) };
}
