// Keeping the FIB's view of the kernel honest. start() diffs a dump of Brindle's routes against the
// desired state; afterwards kernel notifications (all but the echoes of our own writes, which the
// backend counts out) say when someone else deleted or changed a route of ours, and it is rewritten.
// Link and address changes (IPv4 drops the routes of a downed link without a notification) and lost
// notifications trigger a resync: a fresh dump, diffed the same way. A prefix rewritten again and
// again is a fight with another writer, or a kernel that stores a route differently from how we
// compare it: after MAX_RESTORES in a window it is logged and left alone.

import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { formatPrefix, prefixKey } from '../lib/prefix.ts';
import type { Prefix, PrefixKey } from '../lib/prefix.ts';
import { desiredMetric, effectiveMetric, planReconcile, routeMatches } from './desired.ts';
import type { ReconcilePlan, RouteContext } from './desired.ts';
import type { RefusedWrites } from './failures.ts';
import type { LinkTable } from './links.ts';
import { EEXIST } from './netlink.ts';
import type { KernelRoute } from './netlink.ts';
import type { WritePump } from './pump.ts';
import type { FibTally } from './stats.ts';
import type { Entry, FibStore } from './store.ts';
import type { FibBackend, FibState, ReconcileSummary, RouteEvent } from './types.ts';

/** Rewrites of one prefix triggered by other writers before the engine gives up on it (per window). */
const MAX_RESTORES = 5;
const RESTORE_WINDOW_MS = 60_000;

type Why = 'missing' | 'changed' | 'stale';

/** What the reconcile reads and writes, and what it asks of the engine that runs it. */
export interface ReconcileContext {
  readonly backend: FibBackend;
  readonly store: FibStore;
  readonly pump: WritePump;
  readonly refusals: RefusedWrites;
  readonly tally: FibTally;
  readonly links: LinkTable;
  readonly clock: Clock;
  readonly log: Logger;
  readonly route: RouteContext;
  readonly ifindexOf: (device: string) => number | undefined;
  state(): FibState;
  pruneDeferred(): boolean;
}

export class Reconciler {
  private timer: TimerHandle | undefined;
  /** A resync is dumping; another was asked for meanwhile; the next one also retries refused writes. */
  private readonly resync = { running: false, again: false, retryFailed: false };
  private epoch = 0;
  /** The epoch of the dump in progress (start or resync); 0 when none. */
  private activeEpoch = 0;
  /** A notification of ours arrived while start() was dumping: its dump may predate it. */
  notifiedDuringStart = false;

  constructor(
    private readonly ctx: ReconcileContext,
    /** Debounce before a resync triggered by link/address changes or lost notifications. */
    private readonly resyncDelayMs: number,
  ) {}

  get resyncing(): boolean {
    return this.resync.running;
  }

  /** The dump in progress may predate what happens to `e` now. */
  touch(e: Entry): void {
    if (this.activeEpoch !== 0) e.touched = this.activeEpoch;
  }

  /** Dumps our table; resolves with what is there (links reset first: routes name devices). */
  async dump(): Promise<KernelRoute[]> {
    const { backend, route } = this.ctx;
    this.ctx.links.reset(await backend.dumpLinks());
    this.ctx.pump.forgetHops();
    return backend.dumpRoutes({ table: route.table, protocol: route.protocol });
  }

  /** start(): what the kernel holds becomes the view; whatever differs is queued. */
  applyInitialPlan(routes: readonly KernelRoute[]): ReconcilePlan {
    const { store, pump } = this.ctx;
    const plan = this.plan(routes);
    for (const [key, route] of plan.present) store.setInstalled(store.obtain(key, route.prefix), route);
    // Wishes made before start() are queued already; planOp() skips the ones the kernel holds as wanted.
    for (const key of [...plan.missing, ...plan.different]) pump.markDirty(this.entry(key));
    if (!this.ctx.pruneDeferred()) for (const prefix of plan.stale) pump.markDirty(this.entryOf(prefix));
    pump.addStrays(plan.strays);
    return plan;
  }

  /** What the initial reconcile achieved, counted once its writes are done. */
  summarize(plan: ReconcilePlan): ReconcileSummary {
    const { store } = this.ctx;
    const done = (key: PrefixKey) => !store.get(key)?.failure;
    const gone = (prefix: Prefix) => !store.of(prefix)?.installed;
    return {
      kept: plan.kept.length,
      added: plan.missing.filter(done).length,
      replaced: plan.different.filter(done).length,
      deleted: (this.ctx.pruneDeferred() ? 0 : plan.stale.filter(gone).length) + plan.strays.length,
      failed: this.ctx.refusals.size,
    };
  }

  reconciled(): void {
    this.ctx.tally.countReconcile(this.ctx.clock.now());
  }

  schedule(retryFailed: boolean): void {
    this.resync.retryFailed ||= retryFailed;
    if (this.ctx.state() !== 'running' || this.timer) return;
    this.timer = this.ctx.clock.setTimer(this.resyncDelayMs, () => {
      this.timer = undefined;
      void this.run();
    });
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Dump our routes and fix every prefix the kernel disagrees on (and is not being written now). */
  private async run(): Promise<void> {
    const resync = this.resync;
    if (resync.running) {
      resync.again = true;
      return;
    }
    const retryFailed = resync.retryFailed;
    resync.retryFailed = false;
    resync.running = true;
    this.activeEpoch = ++this.epoch;
    this.ctx.tally.counters.resyncs += 1;
    try {
      const routes = await this.dump();
      if (this.ctx.state() === 'running') {
        this.applyResync(routes, retryFailed);
        this.reconciled();
      }
    } catch (error) {
      this.ctx.log.warn(
        { event: 'fib-resync-failed', reason: (error as Error).message },
        'fib resync failed',
      );
      resync.again = true;
    } finally {
      this.activeEpoch = 0;
      resync.running = false;
    }
    if (resync.again && this.ctx.state() === 'running') {
      resync.again = false;
      this.schedule(false);
    }
    this.ctx.pump.run();
  }

  private applyResync(routes: readonly KernelRoute[], retryFailed: boolean): void {
    const { store, pump, refusals, tally } = this.ctx;
    const plan = this.plan(routes);
    const before = tally.counters.restored;
    pump.addStrays(plan.strays);
    for (const [key, route] of plan.present) {
      const e = store.obtain(key, route.prefix);
      if (!this.busy(e)) store.setInstalled(e, route);
    }
    for (const e of store.values()) {
      if (e.installed && !plan.present.has(e.key) && !this.busy(e)) store.setInstalled(e, undefined);
    }
    for (const key of plan.kept) {
      const e = this.entry(key);
      if (!this.busy(e)) refusals.clear(e);
    }
    for (const key of plan.different) {
      const e = this.entry(key);
      if (e.failure?.errno === EEXIST) refusals.clear(e); // it was ours after all
      this.fix(e, 'changed', retryFailed);
    }
    if (!this.ctx.pruneDeferred())
      for (const prefix of plan.stale) this.fix(this.entryOf(prefix), 'stale', retryFailed);
    for (const key of plan.missing) this.fix(this.entry(key), 'missing', retryFailed);
    const rewritten = tally.counters.restored - before;
    if (rewritten > 0 || plan.strays.length > 0) {
      this.ctx.log.info(
        { event: 'fib-resync', rewritten, strays: plan.strays.length, kernel: routes.length },
        `resync: rewriting ${rewritten} routes the kernel disagreed on`,
      );
    }
  }

  /** A resync's verdict on one prefix: rewrite it, unless it is being written or waits for a retry. */
  private fix(e: Entry, why: Why, retryFailed: boolean): void {
    if (this.busy(e)) return;
    if (!e.failure) return this.restore(e, why, false);
    if (!retryFailed) return;
    this.ctx.refusals.skipBackoff(e.failure);
    this.ctx.pump.markDirty(e);
  }

  // -------------------------------------------------------------------------------------------------
  // Route notifications

  /** A route notification: our view follows it, and a route of ours someone else changed is fixed. */
  onRouteEvent(event: RouteEvent): void {
    const { head, action } = event;
    const { route: context, store, pump } = this.ctx;
    if (head.table !== context.table) return;
    const key = prefixKey(head.prefix);
    let e = store.get(key);
    const ours = head.protocol === context.protocol;
    const state = this.ctx.state();
    if (state === 'starting') {
      this.notifiedDuringStart ||= ours;
      return;
    }
    if (state !== 'running') return;
    if (!ours) {
      // Another protocol replaced the route at our prefix and metric: ours is gone.
      if (action === 'new' && event.replaced && e?.installed?.metric === head.metric) {
        store.setInstalled(e, undefined);
        if (e.desired) this.noticed(e, 'changed');
      }
      return;
    }
    if (!this.tracks(e, head.prefix, head.metric)) {
      if (action === 'new') pump.addStrays([event.route()]);
      pump.schedule();
      return;
    }
    e ??= store.obtain(key, head.prefix);
    this.touch(e);
    const route = action === 'new' ? event.route() : undefined;
    store.setInstalled(e, route);
    this.judge(e, route);
    store.release(e);
  }

  /** Is a route of ours at `metric` the one the entry follows (the installed or the desired one)? */
  private tracks(e: Entry | undefined, prefix: Prefix, metric: number): boolean {
    const { route: context } = this.ctx;
    if (e?.installed) return e.installed.metric === metric;
    if (e?.desired) return desiredMetric(e.desired, context) === metric;
    return metric === effectiveMetric(prefix, context.metric);
  }

  /** Compares the notified route with the wish, unless a write or a retry will settle the prefix. */
  private judge(e: Entry, route: KernelRoute | undefined): void {
    const want = e.desired;
    if (e.queued || e.deferred || e.failure) return; // that write uses the view just updated
    if (!route) {
      if (want) this.noticed(e, 'missing');
    } else if (!want) {
      if (!this.ctx.pruneDeferred() || e.withdrawn) this.noticed(e, 'stale');
    } else if (!routeMatches(want, route, this.ctx.route, this.ctx.ifindexOf)) {
      this.noticed(e, 'changed');
    }
  }

  /** Someone else changed a prefix. If our write for it is still unacknowledged, its acknowledgement
   * must not make the view say "as desired": the write after it happens whatever the view says. */
  private noticed(e: Entry, why: Why): void {
    if (e.writing) e.forced = true;
    this.restore(e, why);
  }

  /** Rewrites a prefix someone else changed, unless it keeps happening (a fight, or a kernel that
   * stores the route differently from how we compare it): then it is logged and left alone. */
  private restore(e: Entry, why: Why, logIt = true): void {
    const now = this.ctx.clock.now();
    if (e.restores === 0 || now - e.restoresSince > RESTORE_WINDOW_MS) {
      e.restores = 0;
      e.restoresSince = now;
    }
    e.restores += 1;
    const prefix = formatPrefix(e.prefix);
    if (e.restores > MAX_RESTORES) {
      if (e.restores === MAX_RESTORES + 1) {
        this.ctx.log.error(
          { event: 'fib-restore-loop', prefix, reason: why },
          `route rewritten ${MAX_RESTORES} times in ${RESTORE_WINDOW_MS / 1000} s; leaving it alone`,
        );
      }
      return;
    }
    this.ctx.tally.counters.restored += 1;
    if (logIt) {
      const message =
        why === 'stale'
          ? 'deleting a Brindle route that is not desired'
          : `restoring a route ${why} outside Brindle`;
      this.ctx.log.info({ event: 'fib-restore', prefix, reason: why }, message);
    }
    this.ctx.pump.markDirty(e);
  }

  private busy(e: Entry): boolean {
    return (
      (this.activeEpoch !== 0 && e.touched === this.activeEpoch) ||
      e.writing !== undefined ||
      e.queued ||
      e.deferred
    );
  }

  private plan(routes: readonly KernelRoute[]): ReconcilePlan {
    return planReconcile(this.ctx.store.desiredView, routes, this.ctx.route, this.ctx.ifindexOf);
  }

  /** Keys of a plan are of entries the store holds: the plan was made from them or the dump. */
  private entry(key: PrefixKey): Entry {
    return this.ctx.store.get(key) as Entry;
  }

  private entryOf(prefix: Prefix): Entry {
    return this.ctx.store.of(prefix) as Entry;
  }
}
