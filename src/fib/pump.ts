// The FIB's write pump: dirty prefixes in, kernel writes out. A wish only marks its prefix dirty; the
// pump, run from setImmediate, writes the latest wish only — a prefix changed ten times before it is
// written is written once — in batches (one datagram each) with several batches in flight, and a
// prefix is never in two batches at once. Each acknowledgement updates the store's view of the kernel.

import type { Logger } from '../lib/log.ts';
import { deleteRoute, desiredMetric, effectiveMetric, kernelRoute, routeMatches } from './desired.ts';
import type { KernelNextHopCache, RouteContext } from './desired.ts';
import type { RefusedWrites } from './failures.ts';
import { EEXIST, ENOBUFS, ENODEV, ENOENT, ESRCH } from './netlink.ts';
import type { KernelRoute } from './netlink.ts';
import type { FibTally } from './stats.ts';
import type { Entry, FibStore } from './store.ts';
import type { FibBackend, FibOp, FibOpResult } from './types.ts';

/** One datagram's worth of writes: ops[i] brings entries[i] to its desired state (undefined: a
 * stray delete, a route of ours at a metric the prefix no longer uses). */
interface Batch {
  readonly entries: (Entry | undefined)[];
  readonly ops: FibOp[];
}

/** Where the pump writes, and what it asks of the engine that runs it. */
export interface PumpContext {
  readonly backend: FibBackend;
  readonly store: FibStore;
  readonly refusals: RefusedWrites;
  readonly tally: FibTally;
  readonly log: Logger;
  readonly route: RouteContext;
  readonly ifindexOf: (device: string) => number | undefined;
  /** Only a running engine writes. */
  running(): boolean;
  /** Routes left by a previous run wait for prune() (graceful restart). */
  pruneDeferred(): boolean;
  /** Marks an entry written during the resync in progress (reconcile.ts). */
  touch(e: Entry): void;
  /** The kernel's state is in doubt: dump and diff soon. */
  resyncSoon(): void;
  /** A batch went out or came back: wake idle() waiters, emit the status. */
  settled(): void;
}

export interface PumpOptions {
  /** Routes per datagram. */
  readonly batchSize: number;
  /** Datagrams written before waiting for their acknowledgements. */
  readonly maxBatchesInFlight: number;
}

const FAILURE_LOG_LINES_PER_BATCH = 10;
/** Past this many consumed queue slots the array is compacted (when that halves it at least). */
const QUEUE_COMPACT_AT = 4096;

export class WritePump {
  private queue: Entry[] = [];
  private queueHead = 0;
  private strays: KernelRoute[] = [];
  /** Entries in flight, dirtied while in flight, and batches in flight. */
  private readonly count = { writing: 0, deferred: 0, batches: 0 };
  private scheduled = false;
  /** Written next hops, shared by routes with the same next-hop array; renewed on link changes. */
  private hops: KernelNextHopCache = new WeakMap();

  constructor(
    private readonly ctx: PumpContext,
    private readonly options: PumpOptions,
  ) {}

  /** Prefixes waiting to be written, in flight included. */
  get backlog(): number {
    return this.queue.length - this.queueHead + this.count.deferred + this.count.writing + this.strays.length;
  }

  get inFlight(): number {
    return this.count.writing;
  }

  /** Nothing dirty, nothing in flight; the queue counts only while `countQueue` (a stopping engine
   * does not drain it: wishes made meanwhile wait for the next start()). */
  idle(countQueue: boolean): boolean {
    const queued = countQueue ? this.queue.length - this.queueHead : 0;
    const pending = queued + this.count.deferred + this.count.writing + this.strays.length;
    return pending === 0 && this.count.batches === 0;
  }

  /** An ifindex may now belong to another name: written next hops are built afresh. */
  forgetHops(): void {
    this.hops = new WeakMap();
  }

  markDirty(e: Entry): void {
    if (e.writing) {
      if (!e.deferred) {
        e.deferred = true;
        this.count.deferred += 1;
      }
    } else if (!e.queued) {
      e.queued = true;
      this.queue.push(e);
    }
    this.schedule();
  }

  /** Routes of ours at a metric their prefix no longer uses: deleted with their own metric. */
  addStrays(routes: readonly KernelRoute[]): void {
    for (const route of routes) this.strays.push(route);
  }

  schedule(): void {
    if (this.scheduled || !this.ctx.running()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.run();
    });
  }

  run(): void {
    while (this.ctx.running() && this.count.batches < this.options.maxBatchesInFlight) {
      const batch = this.nextBatch();
      if (batch.ops.length === 0) break;
      this.count.batches += 1;
      void this.ctx.backend.apply(batch.ops).then(
        (results) => this.complete(batch, results),
        (error: unknown) =>
          this.complete(
            batch,
            batch.ops.map(() => sendFailure(error)),
          ),
      );
    }
    this.ctx.settled();
  }

  /** Stopping: what is queued is dropped (the desired state stays for the next start()). */
  dropQueued(): void {
    for (let i = this.queueHead; i < this.queue.length; i++) this.queue[i].queued = false;
    this.queue = [];
    this.queueHead = 0;
    this.strays = [];
  }

  /** After stop(): entries dirtied in flight are no longer owed a write. */
  forgetDeferred(): void {
    this.count.deferred = 0;
  }

  /** Deletes every route in `routes` (stop without keepRoutes); returns how many went. */
  async deleteAll(routes: readonly KernelRoute[]): Promise<number> {
    const ops: FibOp[] = routes.map((r) => ({
      op: 'delete',
      route: deleteRoute(r.prefix, this.ctx.route, r.metric),
    }));
    const chunk = this.options.batchSize * this.options.maxBatchesInFlight;
    let removed = 0;
    for (let i = 0; i < ops.length; i += chunk) {
      const results = await this.ctx.backend.apply(ops.slice(i, i + chunk));
      removed += results.filter((r) => r.ok || r.errno === ESRCH).length;
    }
    return removed;
  }

  private nextBatch(): Batch {
    const batch: Batch = { entries: [], ops: [] };
    const { batchSize } = this.options;
    while (batch.ops.length < batchSize && this.strays.length > 0) {
      const stray = this.strays.pop() as KernelRoute;
      batch.entries.push(undefined);
      batch.ops.push({ op: 'delete', route: deleteRoute(stray.prefix, this.ctx.route, stray.metric) });
    }
    while (batch.ops.length < batchSize && this.queueHead < this.queue.length) {
      const e = this.queue[this.queueHead++];
      e.queued = false;
      const op = this.planOp(e);
      if (!op) {
        this.ctx.store.release(e);
        continue;
      }
      e.writing = op;
      this.ctx.touch(e);
      this.count.writing += 1;
      batch.entries.push(e);
      batch.ops.push(op);
    }
    this.compactQueue();
    return batch;
  }

  private compactQueue(): void {
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > QUEUE_COMPACT_AT && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** The write that brings a prefix to its desired state, or nothing (already so, or not writable). */
  private planOp(e: Entry): FibOp | undefined {
    const want = e.desired;
    const installed = e.installed;
    const forced = e.forced;
    e.forced = false;
    const { route: context, ifindexOf } = this.ctx;
    if (!want) {
      if (!installed || (this.ctx.pruneDeferred() && !e.withdrawn)) return undefined;
      return { op: 'delete', route: deleteRoute(installed.prefix, context, installed.metric) };
    }
    // Already there as wanted (a graceful restart's routes, or a wish that came back): no write.
    if (!forced && installed && routeMatches(want, installed, context, ifindexOf)) return undefined;
    const route = kernelRoute(want, context, ifindexOf, this.hops);
    if ('missingDevice' in route) {
      this.ctx.refusals.record(e, ENODEV, `device ${route.missingDevice} does not exist`);
      return undefined;
    }
    // A new metric is a new kernel route: added beside the old one, which goes once the add is
    // acknowledged (succeeded()), so the prefix is never without a route.
    const replace = installed !== undefined && installed.metric === desiredMetric(want, context);
    return { op: replace ? 'replace' : 'add', route };
  }

  private complete(batch: Batch, results: readonly FibOpResult[]): void {
    this.count.batches -= 1;
    let refused = 0;
    let lost = false;
    for (let i = 0; i < batch.ops.length; i++) {
      const e = batch.entries[i];
      const op = batch.ops[i];
      const result = results[i];
      const done = result.ok || (op.op === 'delete' && (result.errno === ESRCH || result.errno === ENOENT));
      this.ctx.tally.countWrite(op.op, done);
      if (!e) continue; // stray deletes: a later resync sees any leftover
      e.writing = undefined;
      this.count.writing -= 1;
      if (done) {
        this.succeeded(e, op);
      } else if (result.errno === ENOBUFS) {
        lost = true; // outcome unknown: the resync below finds out
      } else {
        this.refused(e, op, result, refused++ < FAILURE_LOG_LINES_PER_BATCH);
        if (result.errno === EEXIST) this.ctx.resyncSoon(); // maybe ours, unknown to us
      }
      this.redoDeferred(e);
      this.ctx.store.release(e);
    }
    if (refused > FAILURE_LOG_LINES_PER_BATCH) {
      this.ctx.log.warn(
        { event: 'fib-write-refused', count: refused },
        `${refused} route writes refused in one batch`,
      );
    }
    if (lost) this.ctx.resyncSoon();
    if (this.ctx.running()) this.run();
    else this.ctx.settled();
  }

  /** A prefix dirtied while its write was in flight is queued again now. */
  private redoDeferred(e: Entry): void {
    if (!e.deferred) return;
    e.deferred = false;
    this.count.deferred -= 1;
    if (this.ctx.running()) this.markDirty(e);
  }

  private succeeded(e: Entry, op: FibOp): void {
    const { store, tally } = this.ctx;
    if (op.op === 'delete') {
      store.setInstalled(e, undefined);
      tally.counters.routesDeleted += 1;
    } else {
      const metric = effectiveMetric(op.route.prefix, op.route.metric);
      const old = e.installed;
      store.setInstalled(e, metric === op.route.metric ? op.route : { ...op.route, metric });
      if (old && old.metric !== metric) this.addStrays([old]); // the metric changed: make, then break
      tally.counters.routesWritten += 1;
    }
    this.ctx.refusals.clear(e);
  }

  private refused(e: Entry, op: FibOp, result: FibOpResult, logIt: boolean): void {
    if (result.ok) return;
    let message = result.message;
    if (op.op === 'add' && result.errno === EEXIST)
      message ??= 'a route of another protocol holds this prefix and metric';
    this.ctx.refusals.record(e, result.errno, message, logIt);
  }
}

function sendFailure(error: unknown): FibOpResult {
  const errno = Math.abs((error as { errno?: number }).errno ?? ENOBUFS);
  return { ok: false, errno, message: error instanceof Error ? error.message : String(error) };
}
