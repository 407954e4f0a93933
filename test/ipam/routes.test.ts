// The routes a node originates and blackholes from IPAM state (src/ipam/routes.ts, §7.5), one table
// row per rule.

import test from 'ava';

import { assign, newBlock } from '../../src/ipam/block.ts';
import type { AllocationBlock } from '../../src/ipam/block.ts';
import { formatCidr, parseCidr } from '../../src/ipam/cidr.ts';
import type { AffinityState, BlockAffinity } from '../../src/ipam/records.ts';
import { nodeRoutes } from '../../src/ipam/routes.ts';
import type { IPPool, IPPoolSpec } from '../../src/resources/types.ts';

const pool = (name: string, spec: IPPoolSpec): IPPool => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'IPPool',
  metadata: { name },
  spec,
});
const POOLS = [
  pool('main', { cidr: '10.65.0.0/16' }),
  pool('quiet', { cidr: '10.66.0.0/16', disableBGPExport: true }),
  pool('hosts', { cidr: '10.67.0.0/24', blockSize: 32 }),
  pool('v6', { cidr: 'fd00:65::/112' }),
];

const affinity = (node: string, cidr: string, state: AffinityState = 'confirmed'): BlockAffinity => ({
  node,
  cidr: parseCidr(cidr)!,
  state,
  claimTime: 0,
});

/** A block affine to `host` (or unaffine) holding `count` addresses allocated to `owner`. */
function block(cidr: string, host: string | undefined, owner?: string, count = 1): AllocationBlock {
  const empty = newBlock(parseCidr(cidr)!, {
    affinity: host === undefined ? undefined : `host:${host}`,
    affinityClaimTime: 0,
    sequenceNumber: 1,
  });
  return owner === undefined
    ? empty
    : assign(empty, count, { handleId: 'h', secondary: { node: owner } }).block;
}

interface Row {
  readonly name: string;
  readonly affinities: readonly BlockAffinity[];
  readonly blocks: readonly AllocationBlock[];
  readonly originate: readonly string[];
  readonly blackhole: readonly string[];
}

const ROWS: readonly Row[] = [
  {
    name: 'a confirmed affine block: originated and blackholed',
    affinities: [affinity('n1', '10.65.0.0/26')],
    blocks: [block('10.65.0.0/26', 'n1', 'n1', 3)],
    originate: ['10.65.0.0/26'],
    blackhole: ['10.65.0.0/26'],
  },
  {
    name: 'a pending affinity: nothing (treated as absent)',
    affinities: [affinity('n1', '10.65.0.0/26', 'pending')],
    blocks: [block('10.65.0.0/26', 'n1')],
    originate: [],
    blackhole: [],
  },
  {
    name: 'an affinity pending deletion: still originated and blackholed',
    affinities: [affinity('n1', '10.65.0.64/26', 'pendingDeletion')],
    blocks: [block('10.65.0.64/26', 'n1')],
    originate: ['10.65.0.64/26'],
    blackhole: ['10.65.0.64/26'],
  },
  {
    name: "another node's block: nothing",
    affinities: [affinity('n2', '10.65.0.0/26')],
    blocks: [block('10.65.0.0/26', 'n2', 'n2')],
    originate: [],
    blackhole: [],
  },
  {
    name: "an address borrowed from another node's block: a /32, no blackhole",
    affinities: [affinity('n2', '10.65.0.0/26')],
    blocks: [block('10.65.0.0/26', 'n2', 'n1', 2)],
    originate: ['10.65.0.0/32', '10.65.0.1/32'],
    blackhole: [],
  },
  {
    name: 'an address in an unaffine block: a /32',
    affinities: [],
    blocks: [block('10.65.1.0/26', undefined, 'n1')],
    originate: ['10.65.1.0/32'],
    blackhole: [],
  },
  {
    name: 'disableBGPExport: nothing originated, the blackhole stays',
    affinities: [affinity('n1', '10.66.0.0/26')],
    blocks: [block('10.66.0.0/26', 'n1', 'n1'), block('10.66.0.64/26', 'n2', 'n1')],
    originate: [],
    blackhole: ['10.66.0.0/26'],
  },
  {
    name: 'a /32 block: originated, never blackholed',
    affinities: [affinity('n1', '10.67.0.9/32')],
    blocks: [block('10.67.0.9/32', 'n1', 'n1')],
    originate: ['10.67.0.9/32'],
    blackhole: [],
  },
  {
    name: 'IPv6: the /122 block and a borrowed /128',
    affinities: [affinity('n1', 'fd00:65::/122'), affinity('n2', 'fd00:65::40/122')],
    blocks: [block('fd00:65::/122', 'n1', 'n1'), block('fd00:65::40/122', 'n2', 'n1')],
    originate: ['fd00:65::/122', 'fd00:65::40/128'],
    blackhole: ['fd00:65::/122'],
  },
  {
    name: 'a block naming n1 without its BlockAffinity: not n1’s route, its addresses as /32s',
    affinities: [],
    blocks: [block('10.65.2.0/26', 'n1', 'n1')],
    originate: ['10.65.2.0/32'],
    blackhole: [],
  },
  {
    name: 'several blocks: sorted, IPv4 before IPv6',
    affinities: [
      affinity('n1', 'fd00:65::/122'),
      affinity('n1', '10.65.0.128/26'),
      affinity('n1', '10.65.0.0/26'),
    ],
    blocks: [],
    originate: ['10.65.0.0/26', '10.65.0.128/26', 'fd00:65::/122'],
    blackhole: ['10.65.0.0/26', '10.65.0.128/26', 'fd00:65::/122'],
  },
];

for (const row of ROWS) {
  test(`routes: ${row.name}`, (t) => {
    const routes = nodeRoutes('n1', row.affinities, row.blocks, POOLS);
    t.deepEqual(routes.originate.map(formatCidr), row.originate, 'originate');
    t.deepEqual(routes.blackhole.map(formatCidr), row.blackhole, 'blackhole');
  });
}
