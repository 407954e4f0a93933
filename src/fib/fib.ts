// The kernel FIB engine: desired routes in, kernel routes out. Brindle owns exactly the routes that
// carry its protocol number in its table; nothing else is ever written or deleted (new routes are
// added with NLM_F_EXCL, as BIRD's krt does, so a route of another protocol at the same prefix and
// metric is reported as a conflict instead of being replaced; deletes name our protocol, so the kernel
// refuses to delete anyone else's).
//
// This file is the engine's lifecycle and public face. Its parts are plain modules: the desired-state
// store (store.ts, one Entry per prefix), the write pump (pump.ts, dirty prefixes → batched writes),
// refused writes and their backoff (failures.ts), the reconcile (reconcile.ts: start()'s diff, kernel
// notifications, resyncs) and the statistics (stats.ts). setDesired()/remove() record the wish and
// mark the prefix dirty, nothing more; the pump does the rest and never blocks the caller.

import { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
import type { Observable } from 'rxjs';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import { silentLogger } from '../lib/log.ts';
import type { Logger } from '../lib/log.ts';
import type { Prefix } from '../lib/prefix.ts';
import { routeMatches } from './desired.ts';
import type { RouteContext } from './desired.ts';
import { RefusedWrites } from './failures.ts';
import { LinkTable } from './links.ts';
import { RT_TABLE_MAIN, RTN_BLACKHOLE, RTNH_F_ONLINK } from './netlink.ts';
import type { KernelRoute } from './netlink.ts';
import { WritePump } from './pump.ts';
import { Reconciler } from './reconcile.ts';
import { FibTally } from './stats.ts';
import { FibStore } from './store.ts';
import type { Entry } from './store.ts';
import { DEFAULT_FIB_PROTOCOL } from './types.ts';
import type {
  FibActivity,
  FibBackend,
  FibCounters,
  FibFailure,
  FibNextHop,
  FibOptions,
  FibRoute,
  FibRouteReport,
  FibRouteState,
  FibState,
  FibStatus,
  KernelEvent,
  ReconcileSummary,
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

/** Routes per datagram (the backend's batch). */
const BATCH_SIZE = 256;

export class Fib {
  private readonly context: RouteContext;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly keepRoutesOnStop: boolean;
  private readonly links = new LinkTable();
  private readonly tally = new FibTally();
  private readonly store = new FibStore(this.tally);
  private readonly refusals: RefusedWrites;
  private readonly pump: WritePump;
  private readonly reconcile: Reconciler;
  private state: FibState = 'stopped';
  private pruneDeferred = false;
  private unsubscribe: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private statusScheduled = false;
  private readonly statusSubject: BehaviorSubject<FibStatus>;
  private readonly ifindexOf = (name: string): number | undefined => this.links.ifindex(name);

  /** Status after every change, at most once per event-loop turn. */
  readonly status$: Observable<FibStatus>;
  /** Every refused write, as it happens. */
  readonly failures$: Observable<FibFailure>;

  constructor(
    private readonly backend: FibBackend,
    options: FibOptions = {},
  ) {
    this.context = {
      table: options.table ?? RT_TABLE_MAIN,
      protocol: options.protocol ?? DEFAULT_FIB_PROTOCOL,
      metric: 0, // the kernel's default (IPv4 0, IPv6 1024)
    };
    if (this.context.protocol < 1 || this.context.protocol > 255)
      throw new RangeError('fib protocol must be 1..255');
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.keepRoutesOnStop = options.keepRoutesOnStop ?? true;
    this.refusals = this.createRefusals(options);
    this.failures$ = this.refusals.failures$;
    this.pump = this.createPump(options);
    this.reconcile = this.createReconciler(options);
    this.statusSubject = new BehaviorSubject(this.status);
    this.status$ = this.statusSubject.asObservable();
  }

  private createRefusals(options: FibOptions): RefusedWrites {
    const retry = {
      retryInitialMs: options.retryInitialMs ?? 1_000,
      retryMaxMs: options.retryMaxMs ?? 60_000,
    };
    return new RefusedWrites(this.clock, this.log, this.tally, retry, (e) => {
      if (this.state === 'running') this.pump.markDirty(e);
    });
  }

  private createPump(options: FibOptions): WritePump {
    const parts = { backend: this.backend, store: this.store, refusals: this.refusals, tally: this.tally };
    const context = {
      ...parts,
      log: this.log,
      route: this.context,
      ifindexOf: this.ifindexOf,
      running: () => this.state === 'running',
      pruneDeferred: () => this.pruneDeferred,
      touch: (e: Entry) => this.reconcile.touch(e),
      resyncSoon: () => this.reconcile.schedule(false),
      settled: () => this.settle(),
    };
    const limits = {
      batchSize: BATCH_SIZE,
      maxBatchesInFlight: options.maxBatchesInFlight ?? 8,
    };
    return new WritePump(context, limits);
  }

  private createReconciler(options: FibOptions): Reconciler {
    const context = {
      backend: this.backend,
      store: this.store,
      pump: this.pump,
      refusals: this.refusals,
      tally: this.tally,
      links: this.links,
      clock: this.clock,
      log: this.log,
      route: this.context,
      ifindexOf: this.ifindexOf,
      state: () => this.state,
      pruneDeferred: () => this.pruneDeferred,
    };
    return new Reconciler(context, options.resyncDelayMs ?? 100);
  }

  // -------------------------------------------------------------------------------------------------
  // Desired state: never blocks, never waits for the kernel

  /** Wants `route` in the kernel (replacing what was wanted for its prefix). Throws a TypeError for a
   * route no kernel could take (bad gateway text, a unicast route without next hops). */
  setDesired(route: FibRoute): void {
    const e = this.store.want(route);
    if (!e) return;
    this.refusals.clear(e);
    e.restores = 0;
    this.pump.markDirty(e);
  }

  /** No longer wants a route at `prefix`; ours is deleted from the kernel if it is there. */
  remove(prefix: Prefix): void {
    const e = this.store.unwant(prefix);
    if (!e) return;
    this.refusals.clear(e);
    e.restores = 0;
    if (e.installed || e.writing) this.pump.markDirty(e);
    else this.store.release(e);
  }

  get(prefix: Prefix): FibRoute | undefined {
    return this.store.of(prefix)?.desired?.route;
  }

  desiredRoutes(): IterableIterator<FibRoute> {
    return this.store.desiredRoutes();
  }

  get status(): FibStatus {
    return {
      state: this.state,
      desired: this.tally.desiredTotal,
      installed: this.tally.installedTotal,
      backlog: this.pump.backlog,
      inFlight: this.pump.inFlight,
      failed: this.refusals.size,
    };
  }

  get counters(): FibCounters {
    return this.tally.snapshot();
  }

  /** Current refusals. */
  failures(): FibFailure[] {
    return this.refusals.list(this.clock.now());
  }

  /** Counts for the metrics: O(1), nothing is walked. */
  activity(): FibActivity {
    return this.tally.activity();
  }

  /** Every prefix Brindle wants or holds in the kernel, and how the two compare (GET /api/v1/fib). */
  *routeReports(): IterableIterator<FibRouteReport> {
    const now = this.clock.now();
    for (const e of this.store.values()) {
      if (!e.desired && !e.installed) continue; // a delete just acknowledged, about to be released
      yield {
        prefix: e.prefix,
        state: this.routeState(e),
        ...(e.desired ? { desired: e.desired.route } : {}),
        ...(e.installed ? { kernel: this.kernelView(e.installed) } : {}),
        ...(e.failure ? { failure: this.refusals.report(e, now) } : {}),
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
    this.reconcile.notifiedDuringStart = false;
    try {
      await this.backend.open();
      this.unsubscribe = this.backend.subscribe((event) => this.onKernelEvent(event));
      const plan = this.reconcile.applyInitialPlan(await this.reconcile.dump());
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
      this.pump.run();
      if (this.reconcile.notifiedDuringStart) this.reconcile.schedule(false);
      await this.idle();
      this.reconcile.reconciled();
      const summary = this.reconcile.summarize(plan);
      this.log.info({ event: 'fib-synced', ...summary }, 'fib in sync');
      return summary;
    } catch (error) {
      await this.abortStart();
      throw error;
    }
  }

  private async abortStart(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.state !== 'starting') return;
    this.state = 'stopped';
    await this.backend.close();
  }

  /** Deletes Brindle routes that are not desired (after start({ deferPrune: true })). */
  async prune(): Promise<number> {
    this.pruneDeferred = false;
    let stale = 0;
    for (const e of this.store.values()) {
      if (e.installed && !e.desired) {
        this.pump.markDirty(e);
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
    this.reconcile.cancel();
    this.pump.dropQueued();
    await this.idle();
    let removed = 0;
    if (!keep) removed = await this.removeAll();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.backend.close();
    this.forgetKernel();
    this.state = 'stopped';
    this.log.info({ event: 'fib-stop', keepRoutes: keep, removed }, 'fib stopped');
    this.emitStatus();
  }

  private async removeAll(): Promise<number> {
    const { table, protocol } = this.context;
    return this.pump.deleteAll(await this.backend.dumpRoutes({ table, protocol }));
  }

  /** Stopped: nothing is known about the kernel any more; the wishes stay for the next start(). */
  private forgetKernel(): void {
    for (const e of this.store.values()) {
      this.refusals.clear(e);
      e.installed = undefined;
      e.deferred = e.forced = false;
      e.restores = 0;
      this.store.release(e);
    }
    this.tally.forgetInstalled();
    this.pump.forgetDeferred();
  }

  private isIdle(): boolean {
    if (this.state === 'stopped') return true;
    // Only a running engine drains its queue: wishes made while stopping wait for the next start().
    const running = this.state === 'running';
    return this.pump.idle(running) && (!running || !this.reconcile.resyncing);
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
        return this.reconcile.onRouteEvent(event);
      case 'link': {
        const { change } = this.links.apply(event.action, event.link);
        if (change === 'other') return;
        this.pump.forgetHops(); // an ifindex may now belong to another name
        this.reconcile.schedule(change === 'added' || change === 'up' || change === 'renamed');
        return;
      }
      case 'address':
        return this.reconcile.schedule(event.action === 'new');
      case 'overrun':
        this.tally.countOverrun();
        this.log.warn({ event: 'fib-overrun' }, 'kernel dropped route notifications; resynchronising');
        return this.reconcile.schedule(false);
    }
  }
}
