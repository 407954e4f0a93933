// The data behind `brindlectl ipam show [--show-blocks] [--ip ADDR]` (calico-routing.md §8): pool
// sizes and usage, per-block and per-node counts, one address's owner. Plain data read at one store
// revision; formatting is the CLI's. Pool sizes are bigints: an IPv6 pool holds more addresses than a
// double counts exactly.

import type { Store } from '../datastore/store.ts';
import type { AllocationBlock } from './block.ts';
import { allocatedOrdinals, attributeOf, blockSize, inUseCount } from './block.ts';
import { formatCidr, hostBits, ordinalOf, parseAddress } from './cidr.ts';
import { IpamDatastore } from './datastore.ts';
import type { IpamSnapshot } from './datastore.ts';
import { IpamError } from './errors.ts';
import { affinityHost } from './keys.ts';
import { ipamPools, poolContaining } from './pool.ts';
import type { IpamPool } from './pool.ts';
import type { AffinityState } from './records.ts';
import { storeResources } from './resources.ts';
import type { IpamResources } from './resources.ts';

export interface PoolUsage {
  readonly name: string;
  readonly cidr: string;
  readonly disabled: boolean;
  /** IPS TOTAL */
  readonly size: bigint;
  /** IPS IN USE */
  readonly inUse: number;
  /** IPS FREE */
  readonly free: bigint;
  readonly blocks: number;
  /** Addresses in use by a node other than their block's host (§7.2 step 8). */
  readonly borrowed: number;
}

export interface BlockUsage {
  readonly cidr: string;
  /** The pool the block lies in; undefined when none does. */
  readonly pool: string | undefined;
  /** The block's host (its `affinity`); undefined when unaffine. */
  readonly node: string | undefined;
  /** The state of that host's BlockAffinity; undefined when it has none. */
  readonly affinityState: AffinityState | undefined;
  readonly size: number;
  readonly inUse: number;
  readonly free: number;
  readonly borrowed: number;
}

export interface NodeUsage {
  readonly node: string;
  /** Blocks affine to the node. */
  readonly blocks: number;
  /** Addresses allocated to the node (owner attribute `node`), wherever they are. */
  readonly inUse: number;
  /** Of those, how many are in blocks that are not the node's. */
  readonly borrowed: number;
}

export type AddressUsage =
  | {
      readonly address: string;
      readonly state: 'in-use';
      readonly pool: string | undefined;
      readonly block: string;
      readonly handleId: string | undefined;
      readonly attributes: Readonly<Record<string, string>>;
      readonly sequenceNumber: number | undefined;
      readonly borrowed: boolean;
    }
  | {
      readonly address: string;
      readonly state: 'free';
      readonly pool: string | undefined;
      readonly block: string;
    }
  | {
      readonly address: string;
      readonly state: 'no-block' | 'not-in-pool';
      readonly pool: string | undefined;
    };

export interface IpamShowData {
  readonly revision: number;
  readonly pools: readonly PoolUsage[];
  readonly nodes: readonly NodeUsage[];
  /** With `showBlocks`. */
  readonly blocks?: readonly BlockUsage[];
  /** With `ip`. */
  readonly address?: AddressUsage;
}

export interface ShowOptions {
  readonly showBlocks?: boolean;
  readonly ip?: string;
  readonly resources?: IpamResources;
}

export async function showIpam(store: Store, options: ShowOptions = {}): Promise<IpamShowData> {
  const resources = options.resources ?? storeResources(store);
  const [snapshot, { pools }] = await Promise.all([new IpamDatastore(store).snapshot(), resources.read()]);
  return summarizeIpam(snapshot, ipamPools(pools), options);
}

/** The pure part of showIpam. */
export function summarizeIpam(
  snapshot: IpamSnapshot,
  pools: readonly IpamPool[],
  options: Pick<ShowOptions, 'showBlocks' | 'ip'> = {},
): IpamShowData {
  const blocks = snapshot.blocks.map((b) => blockUsage(b.value, pools, snapshot));
  return {
    revision: snapshot.revision,
    pools: pools.map((pool) => poolUsage(pool, blocks)),
    nodes: nodeUsage(snapshot.blocks.map((b) => b.value)),
    ...(options.showBlocks === true ? { blocks } : {}),
    ...(options.ip === undefined ? {} : { address: addressUsage(options.ip, snapshot, pools) }),
  };
}

function blockUsage(block: AllocationBlock, pools: readonly IpamPool[], snapshot: IpamSnapshot): BlockUsage {
  const node = affinityHost(block.affinity);
  const cidr = formatCidr(block.cidr);
  const affinity = snapshot.affinities.find(
    (a) => a.value.node === node && formatCidr(a.value.cidr) === cidr,
  );
  const inUse = inUseCount(block);
  return {
    cidr,
    pool: poolContaining(pools, block.cidr)?.name,
    node,
    affinityState: affinity?.value.state,
    size: blockSize(block.cidr),
    inUse,
    free: blockSize(block.cidr) - inUse,
    borrowed: borrowedIn(block).length,
  };
}

/** Allocations whose owner node is not the block's host. */
function borrowedIn(block: AllocationBlock): number[] {
  const host = affinityHost(block.affinity);
  return allocatedOrdinals(block).filter((o) => {
    const owner = attributeOf(block, o)?.secondary.node;
    return owner !== undefined && owner !== host;
  });
}

function poolUsage(pool: IpamPool, blocks: readonly BlockUsage[]): PoolUsage {
  const inPool = blocks.filter((b) => b.pool === pool.name);
  const size = 1n << BigInt(hostBits(pool.cidr));
  const inUse = inPool.reduce((n, b) => n + b.inUse, 0);
  return {
    name: pool.name,
    cidr: formatCidr(pool.cidr),
    disabled: pool.resource.spec.disabled === true,
    size,
    inUse,
    free: size - BigInt(inUse),
    blocks: inPool.length,
    borrowed: inPool.reduce((n, b) => n + b.borrowed, 0),
  };
}

export function nodeUsage(blocks: readonly AllocationBlock[]): NodeUsage[] {
  const usage = new Map<string, { blocks: number; inUse: number; borrowed: number }>();
  const of = (node: string) =>
    usage.get(node) ?? usage.set(node, { blocks: 0, inUse: 0, borrowed: 0 }).get(node)!;
  for (const block of blocks) {
    const host = affinityHost(block.affinity);
    if (host !== undefined) of(host).blocks += 1;
    for (const ordinal of allocatedOrdinals(block)) {
      const owner = attributeOf(block, ordinal)?.secondary.node;
      if (owner === undefined) continue;
      of(owner).inUse += 1;
      if (owner !== host) of(owner).borrowed += 1;
    }
  }
  return [...usage.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([node, u]) => ({ node, ...u }));
}

function addressUsage(ip: string, snapshot: IpamSnapshot, pools: readonly IpamPool[]): AddressUsage {
  const address = parseAddress(ip);
  if (address === undefined)
    throw new IpamError('invalid-request', `${JSON.stringify(ip)} is not an IP address`);
  const pool = poolContaining(pools, address);
  const found = snapshot.blocks.find((b) => ordinalOf(b.value.cidr, address) >= 0)?.value;
  if (found === undefined)
    return { address: ip, state: pool === undefined ? 'not-in-pool' : 'no-block', pool: pool?.name };
  const ordinal = ordinalOf(found.cidr, address);
  const attribute = attributeOf(found, ordinal);
  const block = formatCidr(found.cidr);
  if (attribute === undefined) return { address: ip, state: 'free', pool: pool?.name, block };
  return {
    address: ip,
    state: 'in-use',
    pool: pool?.name,
    block,
    handleId: attribute.handleId,
    attributes: attribute.secondary,
    sequenceNumber: found.sequenceNumberForAllocation[ordinal] ?? undefined,
    borrowed: borrowedIn(found).includes(ordinal),
  };
}
