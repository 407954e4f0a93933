// The FIB's statistics: what the engine counts (FibTally) and the plain data it reports on request;
// the metrics registry turns them into the brindle_fib_* series.

import type { FibActivity, FibCounters, FibOp } from './types.ts';

export interface FibWriteCounts {
  readonly ok: number;
  readonly failed: number;
}

export interface FibStats {
  /** Routes carrying Brindle's protocol id in its kernel table, by family name ("ipv4-unicast"). */
  readonly installedRoutes: ReadonlyMap<string, number>;
  /** Routes Brindle wants there (best paths and its blocks' blackholes), by family name. */
  readonly desiredRoutes: ReadonlyMap<string, number>;
  /** Prefixes waiting for a kernel write, those in flight included. */
  readonly pendingRoutes: number;
  /** Prefixes whose last write the kernel refused (retried with backoff). */
  readonly failedRoutes: number;
  /** Kernel writes since start, by operation. */
  readonly writes: Readonly<Record<'add' | 'replace' | 'delete', FibWriteCounts>>;
  /** Full resynchronisations (dump and diff) since start. */
  readonly reconciles: number;
  /** Unix time in ms of the last completed resynchronisation. */
  readonly lastReconcileAt?: number;
  /** Kernel notifications lost (ENOBUFS), each forcing a resynchronisation. */
  readonly overruns: number;
}

/**
 * What the engine counts, bumped where it happens and read whole by the status, activity() and the
 * metrics: O(1), nothing is walked. IPv6 prefix keys are strings, IPv4 ones numbers (lib/prefix.ts),
 * so the callers pass `v6` from the key they hold.
 */
export class FibTally {
  readonly desired = { ipv4: 0, ipv6: 0 };
  readonly installed = { ipv4: 0, ipv6: 0 };
  readonly counters = { routesWritten: 0, routesDeleted: 0, writeFailures: 0, restored: 0, resyncs: 0 };
  private readonly writes = {
    add: { ok: 0, failed: 0 },
    replace: { ok: 0, failed: 0 },
    delete: { ok: 0, failed: 0 },
  };
  private readonly reconciles = { count: 0, lastAt: undefined as number | undefined, overruns: 0 };

  countDesired(v6: boolean, delta: 1 | -1): void {
    if (v6) this.desired.ipv6 += delta;
    else this.desired.ipv4 += delta;
  }

  countInstalled(v6: boolean, delta: 1 | -1): void {
    if (v6) this.installed.ipv6 += delta;
    else this.installed.ipv4 += delta;
  }

  forgetInstalled(): void {
    this.installed.ipv4 = this.installed.ipv6 = 0;
  }

  countWrite(op: FibOp['op'], done: boolean): void {
    this.writes[op][done ? 'ok' : 'failed'] += 1;
  }

  countReconcile(now: number): void {
    this.reconciles.count += 1;
    this.reconciles.lastAt = now;
  }

  countOverrun(): void {
    this.reconciles.overruns += 1;
  }

  get desiredTotal(): number {
    return this.desired.ipv4 + this.desired.ipv6;
  }

  get installedTotal(): number {
    return this.installed.ipv4 + this.installed.ipv6;
  }

  snapshot(): FibCounters {
    return { ...this.counters };
  }

  activity(): FibActivity {
    const w = this.writes;
    return {
      desired: { ...this.desired },
      installed: { ...this.installed },
      writes: { add: { ...w.add }, replace: { ...w.replace }, delete: { ...w.delete } },
      reconciles: this.reconciles.count,
      lastReconcileAt: this.reconciles.lastAt,
      overruns: this.reconciles.overruns,
    };
  }
}
