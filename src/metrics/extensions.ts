// The FIB's and IPAM's series, registered by node mode (main/daemon-api.ts). Each source hands over its
// figures as plain data, a snapshot taken on scrape; the series names and labels are fixed here. IPAM
// mirrors calico-kube-controllers' names (calico-routing.md §9) under the `brindle_` prefix, less the
// garbage-collection and reservation series: Brindle reclaims no leaked addresses on its own (`brindlectl
// ipam check --fix` does, when asked) and has no IPReservations, so those would only ever read 0.

import type { Registry } from './exposition.ts';
import { scrapedCounter, scrapedGauge } from './collect.ts';
import type { Emit } from './collect.ts';
import type { FibStats } from '../fib/stats.ts';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import type { IpamNodeStats, IpamPoolStats, IpamStats } from '../ipam/usage.ts';

// --- FIB -------------------------------------------------------------------------------------------

export interface FibMetricsSource {
  fibStats(): FibStats;
}

export function registerFibMetrics(registry: Registry, fib: FibMetricsSource): void {
  const perFamily = (pick: (s: FibStats) => ReadonlyMap<string, number>) => (emit: Emit) => {
    for (const [family, n] of pick(fib.fibStats())) emit({ family }, n);
  };
  scrapedGauge(
    registry,
    { name: 'brindle_fib_routes', help: 'Brindle routes in the kernel table.', labelNames: ['family'] },
    perFamily((s) => s.installedRoutes),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_fib_desired_routes',
      help: 'Routes Brindle wants in the kernel table.',
      labelNames: ['family'],
    },
    perFamily((s) => s.desiredRoutes),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_fib_pending_routes',
      help: 'Routes waiting to be written to the kernel, writes in flight included.',
    },
    (emit) => emit({}, fib.fibStats().pendingRoutes),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_fib_failed_routes',
      help: 'Routes whose last kernel write was refused; retried with backoff.',
    },
    (emit) => emit({}, fib.fibStats().failedRoutes),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_fib_writes_total',
      help: 'Kernel route writes, by operation and result (failed: refused or unanswered).',
      labelNames: ['op', 'result'],
    },
    (emit) => {
      for (const [op, counts] of Object.entries(fib.fibStats().writes)) {
        emit({ op, result: 'ok' }, counts.ok);
        emit({ op, result: 'failed' }, counts.failed);
      }
    },
  );
  scrapedCounter(
    registry,
    { name: 'brindle_fib_reconciles_total', help: 'Full FIB resynchronisations (kernel dump and diff).' },
    (emit) => emit({}, fib.fibStats().reconciles),
  );
  scrapedCounter(
    registry,
    { name: 'brindle_fib_overruns_total', help: 'Kernel route notifications lost (ENOBUFS).' },
    (emit) => emit({}, fib.fibStats().overruns),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_fib_last_reconcile_timestamp_seconds',
      help: 'Unix time of the last completed resynchronisation.',
    },
    (emit) => {
      const at = fib.fibStats().lastReconcileAt;
      if (at !== undefined) emit({}, at / 1000);
    },
  );
}

// --- IPAM ------------------------------------------------------------------------------------------

export interface IpamMetricsSource {
  /** May read the datastore: called at most once per scrape (shared by every IPAM series). */
  ipamStats(): IpamStats | Promise<IpamStats>;
}

/** One stats read shared by the series of one scrape (they are collected within milliseconds). */
function sharedRead<T>(read: () => T | Promise<T>, clock: Clock, ttlMs = 500): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = clock.now();
    if (!last || now - last.at > ttlMs) last = { at: now, value: Promise.resolve().then(read) };
    return last.value;
  };
}

export function registerIpamMetrics(
  registry: Registry,
  ipam: IpamMetricsSource,
  clock: Clock = systemClock,
): void {
  const stats = sharedRead(() => ipam.ipamStats(), clock);
  const pool = (name: string, help: string, pick: (p: IpamPoolStats) => number) =>
    scrapedGauge(registry, { name, help, labelNames: ['ippool'] }, async (emit) => {
      for (const p of (await stats()).pools) emit({ ippool: p.pool }, pick(p));
    });
  const node = (name: string, help: string, pick: (n: IpamNodeStats) => number) =>
    scrapedGauge(registry, { name, help, labelNames: ['ippool', 'node'] }, async (emit) => {
      for (const n of (await stats()).nodes) emit({ ippool: n.pool, node: n.node }, pick(n));
    });
  pool('brindle_ipam_ippool_size', 'Addresses in the IP pool.', (p) => p.size);
  node('brindle_ipam_allocations_in_use', 'Addresses allocated, by pool and node.', (n) => n.inUse);
  node(
    'brindle_ipam_allocations_borrowed',
    'Addresses taken from blocks affine to other nodes.',
    (n) => n.borrowed,
  );
  node('brindle_ipam_blocks', 'Blocks affine to the node.', (n) => n.blocks);
}
