// What a Calico node exports when no BGPFilter decides (calico-routing.md §7.5, confd's
// calico_export_to_bgp_peers): own blocks as aggregates and nothing inside them, borrowed /32s,
// routes inside enabled pools (re-advertised to eBGP; iBGP split horizon still applies), nothing from
// disableBGPExport pools, tunnel routes not to iBGP peers, service ranges, a reflector's allow-list,
// everything else rejected unless a filter accepts it. Then prefixAdvertisements communities (§2),
// route priority as LOCAL_PREF (§4.3) and the service ranges themselves (§7.6).

import test from 'ava';
import { formatPrefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import { localPrefOf } from '../../src/policy/priority.ts';
import { serviceRanges } from '../../src/policy/services.ts';
import { bgpConfig, exportThrough, filter, policyOf, pool, prefixes, route, target } from './support.ts';
import type { RouteIn } from './support.ts';

const std = (as: number, value: number): number => ((as << 16) | value) >>> 0;

const POOLS = [pool('10.67.0.0/16'), pool('10.68.0.0/16', true), pool('fd67::/48')];
const CONFIG = bgpConfig('default', { serviceClusterIPs: [{ cidr: '10.96.0.0/12' }] });

function nodePolicy(extra: Parameters<typeof policyOf>[0] = {}) {
  const policy = policyOf({
    mode: 'node',
    pools: POOLS,
    configs: [CONFIG],
    ownBlocks: prefixes('10.67.1.0/26', 'fd67::1:0/122'),
    staticRoutes: prefixes('198.51.100.0/24'),
    ...extra,
  });
  policy.interfaceOf = (nextHop) => (nextHop === '192.0.2.9' ? 'vxlan.calico' : 'eth0');
  return policy;
}

interface Row {
  readonly route: RouteIn;
  readonly why: string;
  readonly toEbgp: boolean;
  readonly toIbgp: boolean;
}

const ROWS: Row[] = [
  { route: route('10.67.1.0/26', 'local'), why: 'own block, as the aggregate', toEbgp: true, toIbgp: true },
  { route: route('10.67.1.5/32', 'ibgp'), why: 'inside an own block', toEbgp: false, toIbgp: false },
  {
    route: route('10.67.2.7/32', 'local'),
    why: 'a borrowed /32 (inside the pool)',
    toEbgp: true,
    toIbgp: true,
  },
  {
    route: route('10.67.3.0/26', 'ibgp'),
    why: "another node's block: re-advertised to eBGP, iBGP split horizon",
    toEbgp: true,
    toIbgp: false,
  },
  { route: route('10.67.4.0/26', 'ebgp'), why: 'a pool route learned over eBGP', toEbgp: true, toIbgp: true },
  {
    route: route('10.67.5.0/26', 'ebgp', { nextHop: '192.0.2.9' }),
    why: 'a tunnel route (*.calico): not to iBGP',
    toEbgp: true,
    toIbgp: false,
  },
  { route: route('10.68.0.0/26', 'local'), why: 'a disableBGPExport pool', toEbgp: false, toIbgp: false },
  { route: route('10.96.0.0/12', 'local'), why: 'the serviceClusterIPs range', toEbgp: true, toIbgp: true },
  {
    route: route('198.51.100.0/24', 'local'),
    why: 'a static route the daemon originates',
    toEbgp: true,
    toIbgp: true,
  },
  { route: route('192.0.2.0/24', 'ebgp'), why: 'outside every pool: rejected', toEbgp: false, toIbgp: false },
  { route: route('fd67::1:0/122', 'local'), why: 'own IPv6 block', toEbgp: true, toIbgp: true },
  { route: route('fd67::2:5/128', 'local'), why: 'a borrowed /128', toEbgp: true, toIbgp: true },
  { route: route('2001:db8::/32', 'ebgp'), why: 'IPv6 outside every pool', toEbgp: false, toIbgp: false },
];

for (const row of ROWS) {
  test(`export default: ${row.route.prefix} ${row.why}`, (t) => {
    const policy = nodePolicy();
    t.is(exportThrough(policy, [row.route], target('ebgp')).size === 1, row.toEbgp, 'to eBGP');
    t.is(exportThrough(policy, [row.route], target('ibgp')).size === 1, row.toIbgp, 'to iBGP');
  });
}

test('a BGPFilter export Accept widens past the default; a Reject narrows it', (t) => {
  const f = filter('tor', {
    exportV4: [
      { cidr: '192.0.2.0/24', matchOperator: 'Equal', action: 'Accept' },
      { cidr: '10.67.1.0/26', matchOperator: 'Equal', action: 'Reject' },
    ],
  });
  const policy = nodePolicy({ filters: [f] });
  const out = exportThrough(
    policy,
    ROWS.map((r) => r.route),
    target('ebgp', ['tor']),
  );
  t.true(out.has('192.0.2.0/24'));
  t.false(out.has('10.67.1.0/26'));
  t.true(out.has('10.67.2.7/32'), 'no verdict: the default still applies');
});

test('a dedicated route reflector reflects what no filter rejects', (t) => {
  const policy = policyOf({ mode: 'reflector', pools: POOLS, configs: [CONFIG] });
  t.is(exportThrough(policy, [route('192.0.2.0/24', 'ebgp')], target('ibgp')).size, 1);
});

test('a reflector node passes on service ranges of the allow-list even when it originates none', (t) => {
  const config = bgpConfig('default', { serviceLoadBalancerIPs: [{ cidr: '203.0.113.0/24' }] });
  const labels = { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' };
  const routes = [route('203.0.113.0/24', 'ebgp')];
  const asReflector = nodePolicy({ configs: [config], nodeLabels: labels, routeReflector: true });
  const asNode = nodePolicy({ configs: [config], nodeLabels: labels });
  t.is(exportThrough(asReflector, routes, target('ibgp')).size, 1);
  t.is(exportThrough(asNode, routes, target('ibgp')).size, 0);
});

test('prefixAdvertisements: communities by name or literal, standard and large, on every route inside', (t) => {
  const config = bgpConfig('default', {
    ...CONFIG.spec,
    communities: [{ name: 'pods', value: '65000:100' }],
    prefixAdvertisements: [
      { cidr: '10.67.0.0/16', communities: ['pods', '65000:2:3'] },
      { cidr: '10.67.1.0/24', communities: ['65000:200'] },
    ],
  });
  const out = exportThrough(
    nodePolicy({ configs: [config] }),
    ROWS.map((r) => r.route),
    target('ebgp'),
  );
  t.deepEqual(out.get('10.67.1.0/26')!.communities, [std(65000, 100), std(65000, 200)]);
  t.deepEqual(out.get('10.67.1.0/26')!.largeCommunities, [
    { globalAdministrator: 65000, localData1: 2, localData2: 3 },
  ]);
  t.deepEqual(out.get('10.67.2.7/32')!.communities, [std(65000, 100)]);
  t.is(out.get('10.96.0.0/12')!.communities, undefined);
});

test("prefixAdvertisements: a node's own list replaces the global one entirely", (t) => {
  const configs = [
    bgpConfig('default', {
      ...CONFIG.spec,
      prefixAdvertisements: [{ cidr: '10.67.0.0/16', communities: ['65000:100'] }],
    }),
    bgpConfig('node.n1', { prefixAdvertisements: [{ cidr: '10.96.0.0/12', communities: ['65000:7'] }] }),
  ];
  const out = exportThrough(
    nodePolicy({ configs }),
    ROWS.map((r) => r.route),
    target('ebgp'),
  );
  t.is(out.get('10.67.1.0/26')!.communities, undefined);
  t.deepEqual(out.get('10.96.0.0/12')!.communities, [std(65000, 7)]);
  const other = exportThrough(
    nodePolicy({ configs, nodeName: 'n2' }),
    ROWS.map((r) => r.route),
    target('ebgp'),
  );
  t.deepEqual(other.get('10.67.1.0/26')!.communities, [std(65000, 100)]);
});

test('a route a BGPFilter accepts does not get prefixAdvertisements communities (the default never runs)', (t) => {
  const config = bgpConfig('default', {
    prefixAdvertisements: [{ cidr: '10.67.0.0/16', communities: ['65000:100'] }],
  });
  const f = filter('accept-pods', {
    exportV4: [{ cidr: '10.67.0.0/16', matchOperator: 'In', action: 'Accept' }],
  });
  const out = exportThrough(
    nodePolicy({ configs: [config], filters: [f] }),
    [route('10.67.1.0/26', 'local')],
    target('ebgp', ['accept-pods']),
  );
  t.is(out.get('10.67.1.0/26')!.communities, undefined);
});

test('priority: routes this node originates carry LOCAL_PREF = 2147483647 − the normal priority to iBGP', (t) => {
  const routes = [
    route('10.67.1.0/26', 'local'),
    route('fd67::1:0/122', 'local'),
    route('10.67.4.0/26', 'ebgp'),
    route('10.67.6.0/26', 'ebgp', { localPref: 300 }),
  ];
  const out = exportThrough(nodePolicy(), routes, target('ibgp'));
  t.is(out.get('10.67.1.0/26')!.localPref, localPrefOf(1024));
  t.is(out.get('10.67.4.0/26')!.localPref, 100, 'learned from eBGP: the default LOCAL_PREF');
  t.is(out.get('10.67.6.0/26')!.localPref, 300, 'a LOCAL_PREF it came with stays');
  const tuned = bgpConfig('default', { ipv4NormalRoutePriority: 512, ipv6NormalRoutePriority: 256 });
  const custom = exportThrough(nodePolicy({ configs: [tuned] }), routes, target('ibgp'));
  t.is(custom.get('10.67.1.0/26')!.localPref, localPrefOf(512));
  t.is(custom.get('fd67::1:0/122')!.localPref, localPrefOf(256));
  t.is(exportThrough(nodePolicy(), routes, target('ebgp')).get('10.67.1.0/26')!.localPref, undefined);
});

test('service ranges: CIDRs from every list, not single IPs, LB only with aggregation, none on excluded nodes', (t) => {
  const spec = {
    serviceClusterIPs: [{ cidr: '10.96.0.0/12' }, { cidr: 'fd96::/112' }],
    serviceExternalIPs: [{ cidr: '192.0.2.0/24' }, { cidr: '192.0.2.77/32' }],
    serviceLoadBalancerIPs: [{ cidr: '203.0.113.0/24' }],
  };
  const text = (list: readonly Prefix[]) => list.map((p) => formatPrefix(p));
  const all = serviceRanges([bgpConfig('default', spec)], {});
  t.deepEqual(text(all.advertise), ['10.96.0.0/12', 'fd96::/112', '192.0.2.0/24', '203.0.113.0/24']);
  t.deepEqual(text(all.noKernel), text(all.advertise));
  const disabled = serviceRanges(
    [bgpConfig('default', { ...spec, serviceLoadBalancerAggregation: 'Disabled' })],
    {},
  );
  t.false(text(disabled.advertise).includes('203.0.113.0/24'));
  const excluded = serviceRanges([bgpConfig('default', spec)], {
    'node.kubernetes.io/exclude-from-external-load-balancers': 'true',
  });
  t.deepEqual(excluded.advertise, []);
  t.deepEqual(
    text(excluded.noKernel),
    text(all.noKernel),
    'excluded nodes still keep learned service routes out of the kernel',
  );
  t.deepEqual(
    serviceRanges([bgpConfig('node.n1', spec)], {}).advertise,
    [],
    'only the default configuration counts',
  );
});
