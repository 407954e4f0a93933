// Pools (src/ipam/pool.ts): block CIDRs of a pool, the deterministic per-host walk (§7.2 step 6b), and
// which pools a request may use (§7.2 step 3).

import test from 'ava';

import { formatCidr, parseAddress, parseCidr } from '../../src/ipam/cidr.ts';
import {
  blockAt,
  blockContaining,
  blockCount,
  blockIndex,
  blockWalk,
  determinePools,
  fnv32,
  inWalkOrder,
  ipamPool,
} from '../../src/ipam/pool.ts';
import type { IpamPool, PoolRequest } from '../../src/ipam/pool.ts';
import type { IPPoolSpec } from '../../src/resources/types.ts';

function pool(name: string, spec: IPPoolSpec): IpamPool {
  const parsed = ipamPool({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec });
  if (parsed === undefined) throw new Error(`bad pool ${spec.cidr}`);
  return parsed;
}

const walk = (p: IpamPool, host: string, n = Infinity): string[] => {
  const out: string[] = [];
  for (const cidr of blockWalk(p, host)) {
    if (out.length >= n) break;
    out.push(formatCidr(cidr));
  }
  return out;
};

test('fnv32 is FNV-1 32-bit, as Go hash/fnv New32', (t) => {
  t.is(fnv32(''), 0x811c9dc5);
  t.is(fnv32('a'), 0x050c5d7e);
  t.is(fnv32('foobar'), 0x31f0b262);
});

test('block CIDRs of IPv4 and IPv6 pools, by index and back', (t) => {
  const v4 = pool('v4', { cidr: '10.65.0.0/16' });
  t.is(v4.blockSize, 26);
  t.is(blockCount(v4), 1024n);
  t.is(formatCidr(blockAt(v4, 0n)), '10.65.0.0/26');
  t.is(formatCidr(blockAt(v4, 1023n)), '10.65.255.192/26');
  t.is(blockIndex(v4, blockAt(v4, 517n)), 517n);
  t.is(formatCidr(blockContaining(v4, parseAddress('10.65.3.77')!)), '10.65.3.64/26');
  const v6 = pool('v6', { cidr: 'fd00:65::/48' });
  t.is(v6.blockSize, 122);
  t.is(blockCount(v6), 1n << 74n);
  t.is(formatCidr(blockAt(v6, 1n)), 'fd00:65::40/122');
  t.is(formatCidr(blockAt(v6, (1n << 74n) - 1n)), 'fd00:65:0:ffff:ffff:ffff:ffff:ffc0/122');
  t.is(blockIndex(v6, blockAt(v6, 123456789012345678n)), 123456789012345678n);
  const whole = pool('whole', { cidr: '10.66.0.0/26' });
  t.is(blockCount(whole), 1n);
});

test('the walk is deterministic per host, visits every block once, and wraps around once', (t) => {
  const p = pool('p', { cidr: '10.65.0.0/22', blockSize: 26 });
  const first = walk(p, 'node-a');
  t.deepEqual(walk(p, 'node-a'), first, 'same host, same order');
  t.is(first.length, 16);
  t.is(new Set(first).size, 16, 'every block exactly once');
  const start = Number(BigInt(fnv32('node-a')) % 16n);
  t.is(first[0], formatCidr(blockAt(p, BigInt(start))));
  t.is(first[16 - start], '10.65.0.0/26', 'wraps to the first block after the last');
  t.notDeepEqual(walk(p, 'node-b'), first, 'another host starts elsewhere');
});

test('an IPv6 walk starts from the host hash and steps one block at a time', (t) => {
  const p = pool('v6', { cidr: 'fd00:65::/64' });
  const blocks = walk(p, 'node-a', 3);
  const start = BigInt(fnv32('node-a')) % blockCount(p);
  t.deepEqual(
    blocks,
    [0n, 1n, 2n].map((i) => formatCidr(blockAt(p, start + i))),
  );
});

test('single-address blocks start at a random index (Calico time-seeds that walk)', (t) => {
  const p = pool('p', { cidr: '10.65.0.0/28', blockSize: 32 });
  const at = (random: number) => formatCidr([...blockWalk(p, 'node-a', { random: () => random })][0]);
  t.is(at(0), '10.65.0.0/32');
  t.is(at(0.5), '10.65.0.8/32');
});

test('inWalkOrder sorts existing blocks as the host walk would meet them', (t) => {
  const p = pool('p', { cidr: '10.65.0.0/22', blockSize: 26 });
  const order = walk(p, 'node-a');
  const existing = [order[9], order[2], order[14], order[0]];
  const sorted = inWalkOrder(
    p,
    'node-a',
    existing.map((c) => parseCidr(c)!),
    (c) => c,
  );
  t.deepEqual(sorted.map(formatCidr), [order[0], order[2], order[9], order[14]]);
});

// ---------------------------------------------------------------------------------------------------
// determinePools

const request = (over: Partial<PoolRequest> = {}): PoolRequest => ({
  family: 4,
  node: 'n1',
  nodeLabels: { rack: 'a' },
  intendedUse: 'Workload',
  ...over,
});
const names = (choice: ReturnType<typeof determinePools>): string[] | string =>
  choice.ok ? choice.pools.map((p) => p.name) : choice.cause;

test('determinePools keeps enabled, automatic, selecting pools of the family that allow the use', (t) => {
  const pools = [
    pool('a', { cidr: '10.1.0.0/16' }),
    pool('disabled', { cidr: '10.2.0.0/16', disabled: true }),
    pool('manual', { cidr: '10.3.0.0/16', assignmentMode: 'Manual' }),
    pool('rack-b', { cidr: '10.4.0.0/16', nodeSelector: "rack == 'b'" }),
    pool('rack-a', { cidr: '10.5.0.0/16', nodeSelector: "rack == 'a'" }),
    pool('tunnel-only', { cidr: '10.6.0.0/16', allowedUses: ['Tunnel'] }),
    pool('v6', { cidr: 'fd00::/64' }),
    pool('ns', { cidr: '10.7.0.0/16', namespaceSelector: "team == 'x'", allowedUses: ['Workload'] }),
  ];
  t.deepEqual(names(determinePools(pools, request())), ['a', 'rack-a']);
  t.deepEqual(names(determinePools(pools, request({ namespaceLabels: { team: 'x' } }))), [
    'a',
    'rack-a',
    'ns',
  ]);
  t.deepEqual(names(determinePools(pools, request({ intendedUse: 'Tunnel' }))), [
    'a',
    'rack-a',
    'tunnel-only',
  ]);
  t.deepEqual(names(determinePools(pools, request({ family: 6 }))), ['v6']);
  // Requested pools are used whatever their selectors and assignment mode say, but must be enabled.
  t.deepEqual(names(determinePools(pools, request({ requested: ['manual', '10.4.0.0/16'] }))), [
    'manual',
    'rack-b',
  ]);
});

test('no usable pool: the error names the node and why each pool was passed over', (t) => {
  const pools = [
    pool('off', { cidr: '10.2.0.0/16', disabled: true }),
    pool('rack-b', { cidr: '10.4.0.0/16', nodeSelector: "rack == 'b'" }),
    pool('tunnel', { cidr: '10.6.0.0/16', allowedUses: ['Tunnel'] }),
  ];
  t.is(
    names(determinePools(pools, request())),
    'no configured Calico pools for node n1 (IPv4: off disabled; rack-b nodeSelector "rack == \'b\'" does ' +
      'not match; tunnel allowedUses [Tunnel] excludes Workload)',
  );
  t.is(
    names(determinePools(pools, request({ family: 6 }))),
    'no configured Calico pools for node n1 (no IPv6 pools exist)',
  );
  t.regex(
    names(determinePools(pools, request({ requested: ['nope', 'off'] }))) as string,
    /nope requested but does not exist; off disabled/,
  );
});
