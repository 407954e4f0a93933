// Which routes go through tunl0 (calico-routing.md §7.5): blocks of ipipMode Always pools always,
// CrossSubnet pools only towards next hops outside this node's subnet, Never pools and IPv6 never.
import test from 'ava';
import { ipipPolicy, NO_IPIP } from '../../src/daemon/ipip-routes.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import type { IPPool } from '../../src/resources/types.ts';

const pool = (name: string, cidr: string, ipipMode?: 'Always' | 'CrossSubnet' | 'Never'): IPPool => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'IPPool',
  metadata: { name },
  spec: { cidr, ...(ipipMode ? { ipipMode } : {}) },
});
const prefix = (text: string) => parsePrefix(text) as Nlri;

const POOLS = [
  pool('always', '10.1.0.0/16', 'Always'),
  pool('cross', '10.2.0.0/16', 'CrossSubnet'),
  pool('never', '10.3.0.0/16', 'Never'),
  pool('default', '10.4.0.0/16'),
  pool('v6', 'fd00:10::/48'),
];

test('ipipMode decides per pool, CrossSubnet by the next hop against the node subnet', (t) => {
  const policy = ipipPolicy(POOLS, '192.0.2.11/24');
  const cases: [string, string, boolean][] = [
    ['10.1.5.0/26', '192.0.2.12', true],
    ['10.1.5.0/26', '198.51.100.7', true],
    ['10.2.5.0/26', '192.0.2.12', false],
    ['10.2.5.0/26', '198.51.100.7', true],
    ['10.3.5.0/26', '198.51.100.7', false],
    ['10.4.5.0/26', '198.51.100.7', false],
    ['10.9.5.0/26', '198.51.100.7', false],
    ['fd00:10::/122', '2001:db8::1', false],
  ];
  for (const [block, nextHop, tunnelled] of cases)
    t.is(policy.tunnels(prefix(block), nextHop), tunnelled, `${block} via ${nextHop}`);
});

test('without a known node subnet, CrossSubnet tunnels every next hop', (t) => {
  const policy = ipipPolicy(POOLS, '192.0.2.11');
  t.true(policy.tunnels(prefix('10.2.5.0/26'), '192.0.2.12'));
});

test('no IPIP pool is the no-op policy; equal pools give equal keys', (t) => {
  t.is(ipipPolicy([pool('never', '10.3.0.0/16', 'Never')], '192.0.2.11/24'), NO_IPIP);
  t.is(ipipPolicy(POOLS, '192.0.2.11/24').key, ipipPolicy([...POOLS], '192.0.2.11/24').key);
  t.not(ipipPolicy(POOLS, '192.0.2.11/24').key, ipipPolicy(POOLS, '192.0.2.11/25').key);
});
