// IPAM's figures for the brindle_ipam_* series, read from the datastore when Prometheus scrapes: at
// most one read per IPAM_STATS_TTL_MS and one at a time, and a scrape waits for it at most
// READ_BOUND_MS — a slow or unreachable datastore leaves the last good figures in place
// (brindle_datastore_up says why), so a scrape never piles reads onto the store or hangs on it.
//
// Each node's daemon reports its own node: every pool's size, and its allocations, borrowed addresses
// and blocks in each pool. Summing over instances gives the cluster with nothing counted twice; a
// pool's size is the same from every node (take max, not sum).

import type { Store } from '../datastore/store.ts';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { allocatedOrdinals, attributeOf } from '../ipam/block.ts';
import type { AllocationBlock } from '../ipam/block.ts';
import { hostBits } from '../ipam/cidr.ts';
import { IpamDatastore } from '../ipam/datastore.ts';
import { affinityHost } from '../ipam/keys.ts';
import { ipamPools, poolContaining } from '../ipam/pool.ts';
import type { IpamPool } from '../ipam/pool.ts';
import { storeResources } from '../ipam/resources.ts';
import type { IpamMetricsSource, IpamNodeStats, IpamStats } from './extensions.ts';

export const IPAM_STATS_TTL_MS = 5_000;
const READ_BOUND_MS = 1_000;

const NO_STATS: IpamStats = { pools: [], nodes: [] };

/** The figures of `node` in every pool, from the pools and the allocation blocks. */
export function nodeIpamStats(
  node: string,
  pools: readonly IpamPool[],
  blocks: readonly AllocationBlock[],
): IpamStats {
  const perPool = new Map<string, { inUse: number; borrowed: number; blocks: number }>(
    pools.map((p) => [p.name, { inUse: 0, borrowed: 0, blocks: 0 }]),
  );
  for (const block of blocks) {
    const pool = poolContaining(pools, block.cidr);
    const figures = pool && perPool.get(pool.name);
    if (!figures) continue; // outside every pool: `brindlectl ipam check` reports it
    const host = affinityHost(block.affinity);
    if (host === node) figures.blocks += 1;
    for (const ordinal of allocatedOrdinals(block)) {
      if (attributeOf(block, ordinal)?.secondary.node !== node) continue;
      figures.inUse += 1;
      if (host !== node) figures.borrowed += 1;
    }
  }
  return {
    pools: pools.map((p) => ({ pool: p.name, size: 2 ** hostBits(p.cidr) })),
    nodes: [...perPool].map(([pool, f]): IpamNodeStats => ({ pool, node, ...f })),
  };
}

/** Reads the pools and the blocks (not the handles or affinities: the figures need neither). */
export async function readNodeIpamStats(store: Store, node: string): Promise<IpamStats> {
  const [blocks, { pools }] = await Promise.all([
    new IpamDatastore(store).listBlocks(),
    storeResources(store).read(),
  ]);
  return nodeIpamStats(
    node,
    ipamPools(pools),
    blocks.map((b) => b.value),
  );
}

export interface CachedIpamStatsOptions {
  readonly ttlMs?: number;
  readonly readBoundMs?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
}

/** The metrics' IPAM source: `read` at most once per TTL, one at a time, bounded wait per scrape. */
export class CachedIpamStats implements IpamMetricsSource {
  private last: IpamStats = NO_STATS;
  private readAt = -Infinity;
  private reading: Promise<void> | undefined;
  private failing = false;
  private readonly ttlMs: number;
  private readonly readBoundMs: number;
  private readonly clock: Clock;

  constructor(
    private readonly read: () => Promise<IpamStats>,
    private readonly options: CachedIpamStatsOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? IPAM_STATS_TTL_MS;
    this.readBoundMs = options.readBoundMs ?? READ_BOUND_MS;
    this.clock = options.clock ?? systemClock;
  }

  async ipamStats(): Promise<IpamStats> {
    if (!this.reading && this.clock.now() - this.readAt >= this.ttlMs)
      this.reading = this.refresh().finally(() => (this.reading = undefined));
    if (this.reading) await this.within(this.reading, this.readBoundMs);
    return this.last;
  }

  private async refresh(): Promise<void> {
    try {
      this.last = await this.read();
      if (this.failing) this.options.log?.info({ event: 'ipam-stats' }, 'IPAM figures readable again');
      this.failing = false;
    } catch (error) {
      if (!this.failing)
        this.options.log?.warn(
          { event: 'ipam-stats', reason: String(error) },
          'cannot read IPAM figures for the metrics; keeping the last ones',
        );
      this.failing = true;
    }
    this.readAt = this.clock.now();
  }

  private within(work: Promise<void>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(ms, resolve);
      void work.then(() => {
        timer.cancel();
        resolve();
      });
    });
  }
}
