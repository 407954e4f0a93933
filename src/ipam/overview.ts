// GET /api/v1/ipam, the web console's IPAM page: pools → blocks → nodes with their use, borrowed
// addresses, and the problems `brindlectl ipam check` would report (read-only: nothing is repaired
// here). One datastore snapshot serves both, so the counts and the problems agree; it is read at most
// once per OVERVIEW_TTL_MS however many browsers ask. Lists are bounded so a large cluster's page
// stays small: the first MAX_BLOCKS blocks and MAX_PROBLEMS problems, with the totals.

import type { Store } from '../datastore/store.ts';
import { DEFAULT_MIN_AGE_MS, findProblems } from './check.ts';
import type { IpamProblem, WorkloadCheck } from './check.ts';
import { IpamDatastore } from './datastore.ts';
import { ipamPools } from './pool.ts';
import { storeResources } from './resources.ts';
import type { IpamResources } from './resources.ts';
import { summarizeIpam } from './show.ts';
import type { BlockUsage, NodeUsage } from './show.ts';

export const OVERVIEW_TTL_MS = 5_000;
export const MAX_BLOCKS = 2_000;
export const MAX_PROBLEMS = 200;

/** A pool as JSON carries it: sizes as decimal strings (an IPv6 pool's size is beyond a double). */
export interface PoolOverview {
  readonly name: string;
  readonly cidr: string;
  readonly disabled: boolean;
  readonly size: string;
  readonly inUse: number;
  readonly free: string;
  readonly blocks: number;
  readonly borrowed: number;
}

export interface IpamOverview {
  readonly revision: number;
  readonly pools: readonly PoolOverview[];
  readonly nodes: readonly NodeUsage[];
  readonly blocks: readonly BlockUsage[];
  readonly blockCount: number;
  readonly problems: readonly Omit<IpamProblem, 'repair'>[];
  readonly problemCount: number;
}

export interface IpamOverviewOptions {
  readonly resources?: IpamResources;
  /** On a node: also report its workload allocations whose network namespace is gone. */
  readonly workloads?: WorkloadCheck;
  readonly now?: () => number;
}

export async function ipamOverview(store: Store, options: IpamOverviewOptions = {}): Promise<IpamOverview> {
  const resources = options.resources ?? storeResources(store);
  const [snapshot, { pools }] = await Promise.all([new IpamDatastore(store).snapshot(), resources.read()]);
  const ipamPoolList = ipamPools(pools);
  const usage = summarizeIpam(snapshot, ipamPoolList, { showBlocks: true });
  const now = (options.now ?? Date.now)();
  const problems = findProblems(snapshot, ipamPoolList, now, DEFAULT_MIN_AGE_MS, options.workloads);
  const blocks = usage.blocks ?? [];
  return {
    revision: usage.revision,
    pools: usage.pools.map((p) => ({ ...p, size: String(p.size), free: String(p.free) })),
    nodes: usage.nodes,
    blocks: blocks.slice(0, MAX_BLOCKS),
    blockCount: blocks.length,
    problems: problems.slice(0, MAX_PROBLEMS).map(({ repair: _repair, ...rest }) => rest),
    problemCount: problems.length,
  };
}

/** ipamOverview read at most once per `ttlMs`, one read at a time. */
export function cachedIpamOverview(
  read: () => Promise<IpamOverview>,
  clock: () => number = Date.now,
  ttlMs = OVERVIEW_TTL_MS,
): () => Promise<IpamOverview> {
  let last: { at: number; value: Promise<IpamOverview> } | undefined;
  return () => {
    if (last === undefined || clock() - last.at >= ttlMs) {
      const value = read();
      last = { at: clock(), value };
      // A failed read is not kept: the next request tries again.
      value.catch(() => {
        if (last?.value === value) last = undefined;
      });
    }
    return last.value;
  };
}
