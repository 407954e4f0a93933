// Desired routes (desired.ts): validation and canonical form, the exact kernel route written, how a
// dumped route is compared with a wish, and the reconcile diff start() and every resync run.
import test from 'ava';
import { formatPrefix, prefixKey } from '../../src/lib/prefix.ts';
import {
  desiredRoute,
  kernelRoute,
  planReconcile,
  routeMatches,
  sameDesired,
} from '../../src/fib/desired.ts';
import type { DesiredRoute, RouteContext } from '../../src/fib/desired.ts';
import {
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RTN_BLACKHOLE,
  RTN_UNICAST,
  RTNH_F_LINKDOWN,
  RTNH_F_ONLINK,
} from '../../src/fib/netlink.ts';
import type { KernelNextHop, KernelRoute } from '../../src/fib/netlink.ts';
import type { FibNextHop } from '../../src/fib/types.ts';
import { prefix } from './fake-kernel.ts';

const CONTEXT: RouteContext = { table: 100, protocol: 196, metric: 0 };
const IFINDEX: Record<string, number> = { v0: 2, v1: 3, tunl0: 4 };
const ifindexOf = (name: string) => IFINDEX[name];

function wish(dst: string, ...nextHops: FibNextHop[]): DesiredRoute {
  return desiredRoute({ prefix: prefix(dst), kind: nextHops.length ? 'unicast' : 'blackhole', nextHops });
}

function kernel(
  dst: string,
  nextHops: Partial<KernelNextHop>[],
  fields: Partial<KernelRoute> = {},
): KernelRoute {
  return {
    prefix: prefix(dst),
    table: 100,
    protocol: 196,
    type: RTN_UNICAST,
    scope: RT_SCOPE_UNIVERSE,
    metric: dst.includes(':') ? 1024 : 0,
    nextHops: nextHops.map((h) => ({ ifindex: 2, flags: 0, weight: 1, ...h })),
    ...fields,
  };
}

test('gateways are kept in canonical text; wrong families and empty next hops are refused', (t) => {
  t.is(wish('2001:db8:9::/48', { gateway: '2001:DB8:0::0:2' }).nextHops[0].gateway, '2001:db8::2');
  t.throws(() => wish('10.9.0.0/24', { gateway: '010.0.0.2' }), { message: /not an IPv4 address/ });
  t.throws(() => wish('2001:db8:9::/48', { gateway: '10.0.0.2' }), { message: /not an IPv6 address/ });
  t.throws(() => wish('10.9.0.0/24', {}), { message: /needs a gateway or a device/ });
  t.true(
    sameDesired(wish('10.9.0.0/24', { gateway: '10.0.0.2' }), wish('10.9.0.0/24', { gateway: '10.0.0.2' })),
  );
  t.false(
    sameDesired(
      wish('10.9.0.0/24', { gateway: '10.0.0.2' }),
      wish('10.9.0.0/24', { gateway: '10.0.0.2', device: 'v0' }),
    ),
  );
});

test('prefix keys: one per prefix and length, IPv4 as numbers', (t) => {
  t.is(prefixKey(prefix('10.9.0.0/24')), 24 * 2 ** 32 + 0x0a090000);
  t.not(prefixKey(prefix('10.9.0.0/24')), prefixKey(prefix('10.9.0.0/25')));
  t.is(prefixKey(prefix('2001:db8::/32')), `${0x20010db8}:0:0:0/32`);
  t.is(prefixKey(prefix('255.255.255.255/32')), 32 * 2 ** 32 + 0xffffffff);
});

test('the written route: devices resolved, onlink flagged, device routes link-scoped, blackholes bare', (t) => {
  const onlink = kernelRoute(
    wish('10.244.0.0/26', { gateway: '172.16.0.9', device: 'tunl0', onlink: true }),
    CONTEXT,
    ifindexOf,
  );
  t.like(onlink, { type: RTN_UNICAST, scope: RT_SCOPE_UNIVERSE, protocol: 196, table: 100 });
  t.deepEqual('nextHops' in onlink && onlink.nextHops, [
    { gateway: '172.16.0.9', ifindex: 4, flags: RTNH_F_ONLINK, weight: 1 },
  ]);
  t.like(kernelRoute(wish('10.9.0.0/24', { device: 'v1' }), CONTEXT, ifindexOf), { scope: RT_SCOPE_LINK });
  t.like(kernelRoute(wish('10.9.0.0/24'), CONTEXT, ifindexOf), { type: RTN_BLACKHOLE, nextHops: [] });
  t.deepEqual(kernelRoute(wish('10.9.0.0/24', { device: 'eth9' }), CONTEXT, ifindexOf), {
    missingDevice: 'eth9',
  });
});

test('a dumped route matches a wish whatever the kernel adds: the chosen device, linkdown, the IPv6 metric', (t) => {
  const gatewayOnly = wish('10.9.0.0/24', { gateway: '10.0.0.2' });
  t.true(
    routeMatches(
      gatewayOnly,
      kernel('10.9.0.0/24', [{ gateway: '10.0.0.2', ifindex: 3, flags: RTNH_F_LINKDOWN }]),
      CONTEXT,
      ifindexOf,
    ),
  );
  t.false(routeMatches(gatewayOnly, kernel('10.9.0.0/24', [{ gateway: '10.0.0.3' }]), CONTEXT, ifindexOf));
  t.false(
    routeMatches(
      gatewayOnly,
      kernel('10.9.0.0/24', [{ gateway: '10.0.0.2' }], { metric: 20 }),
      CONTEXT,
      ifindexOf,
    ),
  );
  t.false(
    routeMatches(
      gatewayOnly,
      kernel('10.9.0.0/24', [{ gateway: '10.0.0.2' }], { type: RTN_BLACKHOLE }),
      CONTEXT,
      ifindexOf,
    ),
  );
  const pinned = wish('10.9.0.0/24', { gateway: '10.0.0.2', device: 'v1' });
  t.false(
    routeMatches(pinned, kernel('10.9.0.0/24', [{ gateway: '10.0.0.2', ifindex: 2 }]), CONTEXT, ifindexOf),
  );
  const onlink = wish('10.9.0.0/24', { gateway: '172.16.0.9', device: 'tunl0', onlink: true });
  t.false(
    routeMatches(onlink, kernel('10.9.0.0/24', [{ gateway: '172.16.0.9', ifindex: 4 }]), CONTEXT, ifindexOf),
  );
  t.true(
    routeMatches(
      onlink,
      kernel('10.9.0.0/24', [{ gateway: '172.16.0.9', ifindex: 4, flags: RTNH_F_ONLINK }]),
      CONTEXT,
      ifindexOf,
    ),
  );
  const ecmp = wish('2001:db8:9::/48', { gateway: '2001:db8::2' }, { gateway: '2001:db8:1::2' });
  t.true(
    routeMatches(
      ecmp,
      kernel('2001:db8:9::/48', [{ gateway: '2001:db8:1::2' }, { gateway: '2001:db8::2' }]),
      CONTEXT,
      ifindexOf,
    ),
    'order does not count',
  );
  t.false(routeMatches(ecmp, kernel('2001:db8:9::/48', [{ gateway: '2001:db8::2' }]), CONTEXT, ifindexOf));
  t.true(
    routeMatches(wish('10.9.0.0/24'), kernel('10.9.0.0/24', [], { type: RTN_BLACKHOLE }), CONTEXT, ifindexOf),
  );
});

test('the reconcile diff sorts our dumped routes into kept, different, stale and strays; the rest is missing', (t) => {
  const desired = new Map(
    [
      wish('10.1.0.0/24', { gateway: '10.0.0.2' }),
      wish('10.2.0.0/24', { gateway: '10.0.0.2' }),
      wish('10.3.0.0/24', { gateway: '10.0.0.2' }),
      metricWish('10.7.0.0/24', 1024),
    ].map((d) => [d.key, d]),
  );
  const plan = planReconcile(
    desired,
    [
      kernel('10.1.0.0/24', [{ gateway: '10.0.0.2' }], { metric: 32 }),
      kernel('10.1.0.0/24', [{ gateway: '10.0.0.2' }]),
      kernel('10.2.0.0/24', [{ gateway: '10.0.0.9' }]),
      kernel('10.4.0.0/24', [{ gateway: '10.0.0.2' }]),
      kernel('10.5.0.0/24', [{ gateway: '10.0.0.2' }], { metric: 32 }),
      kernel('10.6.0.0/24', [{ gateway: '10.0.0.2' }], { protocol: 4 }),
      kernel('10.7.0.0/24', [{ gateway: '10.0.0.2' }]),
    ],
    CONTEXT,
    ifindexOf,
  );
  const text = (keys: (number | string)[]) => keys.map((k) => formatPrefix(desired.get(k)!.route.prefix));
  t.deepEqual(text(plan.kept), ['10.1.0.0/24']);
  t.deepEqual(text(plan.different), ['10.2.0.0/24', '10.7.0.0/24'], 'a metric change is a difference');
  t.deepEqual(text(plan.missing), ['10.3.0.0/24']);
  t.deepEqual(
    plan.stale.map(formatPrefix),
    ['10.4.0.0/24', '10.5.0.0/24'],
    'a lone route of ours at a prefix nobody wants is stale at any metric (kept while the prune waits)',
  );
  t.deepEqual(
    plan.strays.map((r) => `${formatPrefix(r.prefix)} metric ${r.metric}`),
    ['10.1.0.0/24 metric 32'],
    'beside the route at the desired metric, another of ours is a stray',
  );
  t.is(plan.present.size, 5, 'a route of another protocol is never ours, whatever the dump held');
});

function metricWish(dst: string, metric: number): DesiredRoute {
  return desiredRoute({ prefix: prefix(dst), kind: 'unicast', nextHops: [{ gateway: '10.0.0.2' }], metric });
}

test('a route names its own metric: written with it, compared by it, validated', (t) => {
  const want = metricWish('10.7.0.0/24', 1024);
  const written = kernelRoute(want, CONTEXT, ifindexOf);
  t.like(written, { metric: 1024 });
  t.true(
    routeMatches(
      want,
      kernel('10.7.0.0/24', [{ gateway: '10.0.0.2' }], { metric: 1024 }),
      CONTEXT,
      ifindexOf,
    ),
  );
  t.false(routeMatches(want, kernel('10.7.0.0/24', [{ gateway: '10.0.0.2' }]), CONTEXT, ifindexOf));
  t.false(sameDesired(want, metricWish('10.7.0.0/24', 1025)), 'another metric is another wish');
  t.true(sameDesired(want, metricWish('10.7.0.0/24', 1024)));
  t.throws(() => metricWish('10.7.0.0/24', -1), { message: /metric -1 is not/ });
  t.throws(() => metricWish('10.7.0.0/24', 2 ** 32), { message: /is not 0\.\.4294967295/ });
  t.notThrows(() => metricWish('10.7.0.0/24', 2 ** 32 - 1));
});
