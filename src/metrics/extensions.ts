// Where the FIB and IPAM plug their series in once they exist. Each declares the figures it will hand
// over as plain data (a snapshot taken on scrape); the series names and labels are fixed here so
// dashboards can be written now. IPAM mirrors calico-kube-controllers' names (calico-routing.md §9)
// under the `brindle_` prefix, with `_total` on the one counter.

import type { Registry } from 'prom-client';
import { scrapedCounter, scrapedGauge } from './collect.ts';
import type { Emit } from './collect.ts';

// --- FIB -------------------------------------------------------------------------------------------

export interface FibWriteCounts {
  readonly ok: number;
  readonly failed: number;
}

export interface FibStats {
  /** Routes carrying Brindle's protocol id in its kernel table, by family name ("ipv4-unicast"). */
  readonly installedRoutes: ReadonlyMap<string, number>;
  /** Routes Brindle wants there (best paths and its blocks' blackholes), by family name. */
  readonly desiredRoutes: ReadonlyMap<string, number>;
  /** Kernel writes since start, by operation. */
  readonly writes: Readonly<Record<'add' | 'replace' | 'delete', FibWriteCounts>>;
  /** Full resynchronisations (dump and diff) since start. */
  readonly reconciles: number;
  /** Unix time in ms of the last completed resynchronisation. */
  readonly lastReconcileAt?: number;
  /** Kernel notifications lost (ENOBUFS), each forcing a resynchronisation. */
  readonly overruns: number;
}

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
  scrapedCounter(
    registry,
    {
      name: 'brindle_fib_writes_total',
      help: 'Kernel route writes, by operation and result.',
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

export interface IpamPoolStats {
  readonly pool: string;
  /** Addresses in the pool. */
  readonly size: number;
  /** Addresses reserved by IPAMConfiguration / the pool's reserved ranges. */
  readonly reserved: number;
}

export interface IpamNodeStats {
  readonly pool: string;
  readonly node: string;
  readonly inUse: number;
  /** Addresses this node took from blocks affine to another node. */
  readonly borrowed: number;
  readonly blocks: number;
  readonly gcCandidates: number;
  /** Leaked allocations reclaimed since start. */
  readonly gcReclamations: number;
}

export interface IpamStats {
  readonly pools: readonly IpamPoolStats[];
  readonly nodes: readonly IpamNodeStats[];
}

export interface IpamMetricsSource {
  /** May read the datastore: called at most once per scrape (shared by every IPAM series). */
  ipamStats(): IpamStats | Promise<IpamStats>;
}

/** One stats read shared by the series of one scrape (they are collected within milliseconds). */
function sharedRead<T>(read: () => T | Promise<T>, ttlMs = 500): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = performance.now();
    if (!last || now - last.at > ttlMs) last = { at: now, value: Promise.resolve().then(read) };
    return last.value;
  };
}

export function registerIpamMetrics(registry: Registry, ipam: IpamMetricsSource): void {
  const stats = sharedRead(() => ipam.ipamStats());
  const pool = (name: string, help: string, pick: (p: IpamPoolStats) => number) =>
    scrapedGauge(registry, { name, help, labelNames: ['ippool'] }, async (emit) => {
      for (const p of (await stats()).pools) emit({ ippool: p.pool }, pick(p));
    });
  const node = (name: string, help: string, pick: (n: IpamNodeStats) => number) =>
    scrapedGauge(registry, { name, help, labelNames: ['ippool', 'node'] }, async (emit) => {
      for (const n of (await stats()).nodes) emit({ ippool: n.pool, node: n.node }, pick(n));
    });
  pool('brindle_ipam_ippool_size', 'Addresses in the IP pool.', (p) => p.size);
  pool('brindle_ipam_ippool_reserved', 'Reserved addresses in the IP pool.', (p) => p.reserved);
  node('brindle_ipam_allocations_in_use', 'Addresses allocated, by pool and node.', (n) => n.inUse);
  node(
    'brindle_ipam_allocations_borrowed',
    'Addresses taken from blocks affine to other nodes.',
    (n) => n.borrowed,
  );
  node('brindle_ipam_blocks', 'Blocks affine to the node.', (n) => n.blocks);
  node('brindle_ipam_allocations_gc_candidates', 'Allocations that look leaked.', (n) => n.gcCandidates);
  scrapedCounter(
    registry,
    {
      name: 'brindle_ipam_allocations_gc_reclamations_total',
      help: 'Leaked allocations reclaimed.',
      labelNames: ['ippool', 'node'],
    },
    async (emit) => {
      for (const n of (await stats()).nodes) emit({ ippool: n.pool, node: n.node }, n.gcReclamations);
    },
  );
}
