// This node's IPAM figures for the brindle_ipam_* series, read from the datastore when Prometheus
// scrapes: at most one read per IPAM_STATS_TTL_MS and one at a time, and a scrape waits for it at most
// READ_BOUND_MS — a slow or unreachable datastore leaves the last good figures in place
// (brindle_datastore_up says why), so a scrape never piles reads onto the store or hangs on it.
//
// Each node's daemon reports its own node: every pool's size, and its allocations, borrowed addresses
// and blocks in each pool. Summing over instances gives the cluster with nothing counted twice; a
// pool's size is the same from every node (take max, not sum). The counting is `brindlectl ipam
// show`'s (show.ts), per pool.

import type { Store } from '../datastore/store.ts';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import type { AllocationBlock } from './block.ts';
import { hostBits } from './cidr.ts';
import { IpamDatastore } from './datastore.ts';
import { ipamPools, poolContaining } from './pool.ts';
import type { IpamPool } from './pool.ts';
import { storeResources } from './resources.ts';
import { nodeUsage } from './show.ts';

export interface IpamPoolStats {
  readonly pool: string;
  /** Addresses in the pool (a double: an IPv6 pool's size is only approximately representable). */
  readonly size: number;
}

export interface IpamNodeStats {
  readonly pool: string;
  readonly node: string;
  /** Addresses allocated to the node (owner attribute `node`) in the pool. */
  readonly inUse: number;
  /** Of those, the addresses in blocks that are not affine to the node. */
  readonly borrowed: number;
  /** Blocks of the pool affine to the node. */
  readonly blocks: number;
}

export interface IpamStats {
  readonly pools: readonly IpamPoolStats[];
  readonly nodes: readonly IpamNodeStats[];
}

export const IPAM_STATS_TTL_MS = 5_000;
const READ_BOUND_MS = 1_000;

const NO_STATS: IpamStats = { pools: [], nodes: [] };

/** The figures of `node` in every pool, from the pools and the allocation blocks. */
export function nodeIpamStats(
  node: string,
  pools: readonly IpamPool[],
  blocks: readonly AllocationBlock[],
): IpamStats {
  const inPool = new Map<string, AllocationBlock[]>(pools.map((p) => [p.name, []]));
  // A block outside every pool is not counted here: `brindlectl ipam check` reports it.
  for (const block of blocks) inPool.get(poolContaining(pools, block.cidr)?.name ?? '')?.push(block);
  return {
    pools: pools.map((p) => ({ pool: p.name, size: 2 ** hostBits(p.cidr) })),
    nodes: [...inPool].map(([pool, poolBlocks]): IpamNodeStats => {
      const usage = nodeUsage(poolBlocks).find((u) => u.node === node);
      return {
        pool,
        node,
        inUse: usage?.inUse ?? 0,
        borrowed: usage?.borrowed ?? 0,
        blocks: usage?.blocks ?? 0,
      };
    }),
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
export class CachedIpamStats {
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
