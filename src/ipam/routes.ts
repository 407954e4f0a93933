// The routes IPAM state asks a node to originate and blackhole (calico-routing.md §7.5, what confd
// renders into bird_aggr.cfg and bird_ipam.cfg), as a pure function the daemon can call on every
// change of affinities, blocks or pools:
//
// - one route per block the node holds an affinity for in state confirmed or pendingDeletion (the
//   legacy empty state reads as confirmed); pending affinities give nothing (§7.1: treated as absent);
// - one /32 (/128) per address allocated to the node (owner attribute `node`) in a block that is not
//   one of those, i.e. borrowed from another host's block or from an unaffine one (§7.2 step 8);
// - a blackhole for every such block except single-address blocks (/32, /128), so traffic to a free
//   address in an own block is dropped here instead of looping;
// - nothing originated from pools with disableBGPExport; their blackholes stay (§6: export only).

import type { Prefix } from '../lib/prefix.ts';
import type { IPPool } from '../resources/types.ts';
import { allocatedOrdinals, attributeOf, ordinalAddress } from './block.ts';
import type { AllocationBlock } from './block.ts';
import { comparePrefixes, formatCidr, hostBits } from './cidr.ts';
import { ipamPools, poolContaining } from './pool.ts';
import type { IpamPool } from './pool.ts';
import type { BlockAffinity } from './records.ts';

export interface NodeRoutes {
  /** Prefixes to advertise: own blocks and borrowed host routes, sorted. */
  readonly originate: readonly Prefix[];
  /** Prefixes to install as blackholes: own blocks, sorted. */
  readonly blackhole: readonly Prefix[];
}

export function nodeRoutes(
  node: string,
  affinities: readonly BlockAffinity[],
  blocks: readonly AllocationBlock[],
  pools: readonly IPPool[],
): NodeRoutes {
  const parsedPools = ipamPools(pools);
  const own = ownBlocks(node, affinities);
  const borrowed = borrowedAddresses(node, blocks, own);
  const exported = (prefix: Prefix): boolean => bgpExportAllowed(parsedPools, prefix);
  const ownPrefixes = [...own.values()];
  return {
    originate: [...ownPrefixes, ...borrowed].filter(exported).sort(comparePrefixes),
    blackhole: ownPrefixes.filter((cidr) => hostBits(cidr) > 0).sort(comparePrefixes),
  };
}

/** CIDR text → block prefix, for the node's confirmed and pendingDeletion affinities. */
function ownBlocks(node: string, affinities: readonly BlockAffinity[]): Map<string, Prefix> {
  const own = new Map<string, Prefix>();
  for (const affinity of affinities) {
    if (affinity.node === node && affinity.state !== 'pending')
      own.set(formatCidr(affinity.cidr), affinity.cidr);
  }
  return own;
}

function borrowedAddresses(
  node: string,
  blocks: readonly AllocationBlock[],
  own: ReadonlyMap<string, Prefix>,
): Prefix[] {
  const addresses: Prefix[] = [];
  for (const block of blocks) {
    if (own.has(formatCidr(block.cidr))) continue;
    for (const ordinal of allocatedOrdinals(block)) {
      if (attributeOf(block, ordinal)?.secondary.node === node)
        addresses.push(ordinalAddress(block, ordinal));
    }
  }
  return addresses;
}

function bgpExportAllowed(pools: readonly IpamPool[], prefix: Prefix): boolean {
  return poolContaining(pools, prefix)?.resource.spec.disableBGPExport !== true;
}
