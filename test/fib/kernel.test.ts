// The FIB engine against the real kernel: every test makes its own network namespace (veth gateways,
// a tun stand-in for tunl0), runs the engine in a child process inside it (harness.ts) and checks the
// result with `ip -N -j route show table 100`, an independent reader of the kernel's table. Needs root.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { waitFor, withCleanup } from '../helpers/netns.ts';
import type { Cleanup } from '../helpers/netns.ts';
import { fibNetns, ip, ipRoute, ipRoutes, startFibChild, TABLE } from './harness.ts';
import type { ChildStatus, FibChild, IpRoute } from './harness.ts';
import type { RouteJson } from './fib-child.ts';

const WAIT = { timeoutMs: 10_000, intervalMs: 50 };

async function setup(t: ExecutionContext, tag: string, options: { tunl0?: boolean } = {}) {
  const cleanup: Cleanup = withCleanup(t);
  const netns = await fibNetns(tag, cleanup, options);
  const child = await startFibChild(netns, cleanup);
  t.teardown(() => {
    if (!t.passed) t.log(child.output());
  });
  return { netns, child, cleanup };
}

function via(prefix: string, ...gateways: string[]): RouteJson {
  return { prefix, nextHops: gateways.map((gateway) => ({ gateway })) };
}

const ours = (r: IpRoute | undefined) => r?.protocol === '196';
const status = (child: FibChild) => child.call<ChildStatus>('status');

async function until(
  netns: string,
  dst: string,
  probe: (route: IpRoute | undefined) => boolean,
  what: string,
) {
  return waitFor(async () => probe(await ipRoute(netns, dst)), { ...WAIT, what });
}

test('install, replace and delete IPv4 and IPv6 unicast routes via a veth gateway', async (t) => {
  const { netns, child } = await setup(t, 'fib-unicast');
  await child.start({ routes: [via('10.9.0.0/24', '10.0.0.2'), via('2001:db8:9::/48', '2001:db8::2')] });
  t.like(await ipRoute(netns, '10.9.0.0/24'), { gateway: '10.0.0.2', dev: 'v0', protocol: '196' });
  t.like(await ipRoute(netns, '2001:db8:9::/48'), {
    gateway: '2001:db8::2',
    dev: 'v0',
    protocol: '196',
    metric: 1024,
  });

  await child.set(via('10.9.0.0/24', '10.0.1.2'), via('2001:db8:9::/48', '2001:db8:1::2'));
  await child.call('idle');
  t.like(await ipRoute(netns, '10.9.0.0/24'), { gateway: '10.0.1.2', dev: 'v1' });
  t.like(await ipRoute(netns, '2001:db8:9::/48'), { gateway: '2001:db8:1::2', dev: 'v1' });
  t.is((await ipRoutes(netns)).length, 2, 'a replace leaves one route, not two');

  await child.call('remove', { prefixes: ['10.9.0.0/24', '2001:db8:9::/48'] });
  await child.call('idle');
  t.deepEqual(await ipRoutes(netns), []);
  t.like((await status(child)).counters, { routesWritten: 4, routesDeleted: 2, writeFailures: 0 });
});

test('blackhole routes, IPv4 and IPv6', async (t) => {
  const { netns, child } = await setup(t, 'fib-blackhole');
  const blackhole = (prefix: string): RouteJson => ({ prefix, kind: 'blackhole' });
  await child.start({ routes: [blackhole('10.9.0.0/26'), blackhole('2001:db8:9::/64')] });
  t.like(await ipRoute(netns, '10.9.0.0/26'), { type: 'blackhole', protocol: '196' });
  t.like(await ipRoute(netns, '2001:db8:9::/64'), { type: 'blackhole', protocol: '196' });
  // Unicast to blackhole and back is a replace of the same prefix.
  await child.set(via('10.9.0.0/26', '10.0.0.2'));
  await child.call('idle');
  t.like(await ipRoute(netns, '10.9.0.0/26'), { gateway: '10.0.0.2', type: undefined });
});

test('ECMP: one route with two gateways on two links, IPv4 and IPv6', async (t) => {
  const { netns, child } = await setup(t, 'fib-ecmp');
  await child.start({
    routes: [
      via('10.9.0.0/24', '10.0.0.2', '10.0.1.2'),
      via('2001:db8:9::/48', '2001:db8::2', '2001:db8:1::2'),
    ],
  });
  for (const [dst, gateways] of [
    ['10.9.0.0/24', ['10.0.0.2', '10.0.1.2']],
    ['2001:db8:9::/48', ['2001:db8::2', '2001:db8:1::2']],
  ] as const) {
    const route = await ipRoute(netns, dst);
    t.deepEqual(
      route?.nexthops?.map((h) => [h.gateway, h.dev, h.weight]),
      gateways.map((g, i) => [g, `v${i}`, 1]),
    );
  }
  // Down to one path and back: each a single replace.
  await child.set(via('10.9.0.0/24', '10.0.1.2'));
  await child.call('idle');
  t.like(await ipRoute(netns, '10.9.0.0/24'), { gateway: '10.0.1.2', nexthops: undefined });
  t.is((await status(child)).counters.writeFailures, 0);
});

test('onlink next hop via tunl0 (a tun stand-in: no ipip in this kernel)', async (t) => {
  const { netns, child } = await setup(t, 'fib-onlink', { tunl0: true });
  await child.start({
    routes: [
      { prefix: '10.244.7.0/26', nextHops: [{ gateway: '172.16.0.9', device: 'tunl0', onlink: true }] },
    ],
  });
  const route = await ipRoute(netns, '10.244.7.0/26');
  t.like(route, { gateway: '172.16.0.9', dev: 'tunl0', protocol: '196' });
  t.true(route?.flags.includes('onlink'));
  // Without onlink the kernel refuses: 172.16.0.9 is on no connected network.
  await child.set({ prefix: '10.244.8.0/26', nextHops: [{ gateway: '172.16.0.9', device: 'tunl0' }] });
  await child.call('idle');
  t.like((await status(child)).failures[0], { prefix: '10.244.8.0/26', code: 'ENETUNREACH' });
});

test('start reconciles: stale Brindle routes deleted, a foreign static route untouched, missing ones added', async (t) => {
  const { netns, child } = await setup(t, 'fib-reconcile');
  const table = ['table', String(TABLE)];
  await ip(netns, 'route', 'add', '10.9.1.0/24', 'via', '10.0.0.2', 'proto', '196', ...table); // stale
  await ip(netns, '-6', 'route', 'add', '2001:db8:91::/48', 'via', '2001:db8::2', 'proto', '196', ...table); // stale
  await ip(netns, 'route', 'add', '10.9.2.0/24', 'via', '10.0.0.2', 'proto', 'static', ...table); // foreign
  await ip(netns, 'route', 'add', '10.9.3.0/24', 'via', '10.0.0.2', 'proto', '196', ...table); // as desired
  await ip(netns, 'route', 'add', '10.9.4.0/24', 'via', '10.0.0.3', 'proto', '196', ...table); // different
  const summary = await child.start({
    routes: [
      via('10.9.3.0/24', '10.0.0.2'),
      via('10.9.4.0/24', '10.0.1.2'),
      via('10.9.5.0/24', '10.0.0.2'),
      via('2001:db8:95::/48', '2001:db8::2'),
    ],
  });
  t.deepEqual(summary, { kept: 1, added: 2, replaced: 1, deleted: 2, failed: 0 });
  const routes = await ipRoutes(netns);
  t.deepEqual(routes.map((r) => `${r.dst} ${r.gateway} ${r.protocol}`).sort(), [
    '10.9.2.0/24 10.0.0.2 4',
    '10.9.3.0/24 10.0.0.2 196',
    '10.9.4.0/24 10.0.1.2 196',
    '10.9.5.0/24 10.0.0.2 196',
    '2001:db8:95::/48 2001:db8::2 196',
  ]);
  t.is((await status(child)).backend.messagesSent, 3 + 5, 'three dump requests, then one write per change');
});

test('a route deleted or changed with `ip route` is restored', async (t) => {
  const { netns, child } = await setup(t, 'fib-restore');
  await child.start({ routes: [via('10.9.0.0/24', '10.0.0.2'), via('2001:db8:9::/48', '2001:db8::2')] });
  await ip(netns, 'route', 'del', '10.9.0.0/24', 'table', String(TABLE));
  await ip(netns, '-6', 'route', 'del', '2001:db8:9::/48', 'table', String(TABLE));
  await until(netns, '10.9.0.0/24', (r) => r?.gateway === '10.0.0.2', 'the IPv4 route to come back');
  await until(netns, '2001:db8:9::/48', (r) => r?.gateway === '2001:db8::2', 'the IPv6 route to come back');
  await ip(
    netns,
    'route',
    'replace',
    '10.9.0.0/24',
    'via',
    '10.0.1.2',
    'proto',
    '196',
    'table',
    String(TABLE),
  );
  await until(netns, '10.9.0.0/24', (r) => r?.gateway === '10.0.0.2', 'the changed route to be restored');
  t.is((await status(child)).counters.restored, 3);
  // Someone else's protocol taking the prefix is theirs to keep: reported, not fought.
  await ip(
    netns,
    'route',
    'replace',
    '10.9.0.0/24',
    'via',
    '10.0.1.3',
    'proto',
    'static',
    'table',
    String(TABLE),
  );
  await waitFor(async () => (await status(child)).failures[0]?.code === 'EEXIST', {
    ...WAIT,
    what: 'the conflict',
  });
  t.like(await ipRoute(netns, '10.9.0.0/24'), { gateway: '10.0.1.3', protocol: '4' });
});

test('an unreachable gateway is a counted failure with its errno, retried, and other routes are unaffected', async (t) => {
  const { netns, child } = await setup(t, 'fib-unreach');
  const summary = await child.start({
    options: { retryInitialMs: 100, retryMaxMs: 400 },
    routes: [via('10.9.0.0/24', '10.0.0.2'), via('10.9.9.0/24', '10.7.0.2'), via('10.9.1.0/24', '10.0.1.2')],
  });
  t.like(summary, { added: 2, failed: 1 });
  t.true(ours(await ipRoute(netns, '10.9.0.0/24')) && ours(await ipRoute(netns, '10.9.1.0/24')));
  const failure = await waitFor(async () => (await status(child)).failures.find((f) => f.attempts >= 3), {
    ...WAIT,
    what: 'three attempts',
  });
  t.like(failure, {
    prefix: '10.9.9.0/24',
    errno: 101,
    code: 'ENETUNREACH',
    message: 'Nexthop has invalid gateway',
  });
  t.true(child.events.some((e) => e.event === 'failure' && e.code === 'ENETUNREACH'));
  // The gateway's network appears: the next retry installs it.
  await ip(netns, 'addr', 'add', '10.7.0.1/24', 'dev', 'v1');
  await until(netns, '10.9.9.0/24', (r) => r?.gateway === '10.7.0.2', 'the route once reachable');
  await waitFor(async () => (await status(child)).status.failed === 0, { ...WAIT, what: 'no failures' });
});

test('coalescing: 100 updates of one prefix in a burst are one netlink message', async (t) => {
  const { netns, child } = await setup(t, 'fib-coalesce');
  await child.start({});
  const before = (await status(child)).backend.messagesSent;
  const burst = Array.from({ length: 100 }, (_, i) => via('10.9.0.0/24', `10.0.${i % 2}.${(i % 50) + 2}`));
  await child.set(...burst);
  await child.call('idle');
  t.is((await status(child)).backend.messagesSent - before, 1);
  t.like(await ipRoute(netns, '10.9.0.0/24'), { gateway: '10.0.1.51' });
});

test('stop with keepRoutes leaves the routes for the next start; without, removes only ours', async (t) => {
  const { netns, child, cleanup } = await setup(t, 'fib-stop');
  await ip(
    netns,
    'route',
    'add',
    '10.8.0.0/24',
    'via',
    '10.0.0.2',
    'proto',
    'static',
    'table',
    String(TABLE),
  );
  const routes = [
    via('10.9.0.0/24', '10.0.0.2'),
    via('10.9.1.0/24', '10.0.0.2'),
    via('2001:db8:9::/48', '2001:db8::2'),
  ];
  await child.start({ routes });
  await child.call('stop', { keepRoutes: true });
  await child.close();
  t.is((await ipRoutes(netns)).length, 4, 'forwarding continues while Brindle is away');

  const next = await startFibChild(netns, cleanup);
  const summary = await next.start({ routes: [routes[0], via('10.9.2.0/24', '10.0.0.2')] });
  t.deepEqual(summary, { kept: 1, added: 1, replaced: 0, deleted: 2, failed: 0 });
  await next.call('stop', { keepRoutes: false });
  t.deepEqual(
    (await ipRoutes(netns)).map((r) => r.dst),
    ['10.8.0.0/24'],
  );
});

test('link down drops the routes via it; link up re-validates and reinstalls them', async (t) => {
  const { netns, child } = await setup(t, 'fib-link');
  await child.start({
    options: { retryInitialMs: 5_000, resyncDelayMs: 20 },
    routes: [via('10.9.0.0/24', '10.0.0.2'), via('10.9.1.0/24', '10.0.1.2')],
  });
  await ip(netns, 'link', 'set', 'v0', 'down');
  // IPv4 flushes routes of a downed link without a notification: the link event's resync finds out.
  await waitFor(async () => (await status(child)).failures[0]?.prefix === '10.9.0.0/24', {
    ...WAIT,
    what: 'the failure',
  });
  t.is(await ipRoute(netns, '10.9.0.0/24'), undefined);
  t.true(ours(await ipRoute(netns, '10.9.1.0/24')), 'the route via v1 is untouched');
  await ip(netns, 'link', 'set', 'v0', 'up');
  // Far sooner than the 5 s backoff: link up retries at once.
  await waitFor(async () => (await ipRoute(netns, '10.9.0.0/24'))?.gateway === '10.0.0.2', {
    timeoutMs: 3_000,
    what: 'the route back after link up',
  });
  t.is((await status(child)).status.failed, 0);
});

test('next-hop resolution through a connected route, an IGP route, and their changes', async (t) => {
  const { netns, child } = await setup(t, 'fib-nexthop');
  await child.start({ resolverTables: [254] });
  const resolve = (nextHop: string) => child.call<Record<string, unknown>>('resolve', { nextHop });
  t.like(await resolve('10.0.0.7'), {
    reachable: true,
    gateway: '10.0.0.7',
    device: 'v0',
    igpCost: 0,
    via: '10.0.0.0/24',
  });
  t.like(await resolve('2001:db8:1::7'), {
    reachable: true,
    gateway: '2001:db8:1::7',
    device: 'v1',
    igpCost: 256,
  });
  t.like(await resolve('172.20.1.1'), { reachable: false });
  t.like(await resolve('fe80::1%v1'), { reachable: true, gateway: 'fe80::1', device: 'v1' });
  t.like(await resolve('fe80::1'), { reachable: false }, 'a link-local next hop must name its link');
  await ip(
    netns,
    'route',
    'add',
    '172.21.0.0/16',
    'nexthop',
    'via',
    '10.0.0.2',
    'nexthop',
    'via',
    '10.0.1.2',
  );
  await waitFor(async () => (await resolve('172.21.9.9')).reachable, WAIT);
  t.deepEqual(
    ((await resolve('172.21.9.9')).paths as { gateway: string; device: string }[]).map(
      (p) => `${p.gateway} ${p.device}`,
    ),
    ['10.0.0.2 v0', '10.0.1.2 v1'],
    'every path of an ECMP IGP route',
  );

  await ip(netns, 'route', 'add', '172.20.0.0/16', 'via', '10.0.0.2', 'metric', '5');
  // Brindle's own routes never resolve a next hop, however specific.
  await ip(netns, 'route', 'add', '172.20.1.0/24', 'via', '10.0.1.2', 'proto', '196');
  await waitFor(() => child.events.some((e) => e.event === 'nexthop' && e.nextHop === '172.20.1.1'), WAIT);
  t.like(await resolve('172.20.1.1'), {
    reachable: true,
    gateway: '10.0.0.2',
    device: 'v0',
    igpCost: 5,
    via: '172.20.0.0/16',
  });

  await ip(netns, 'route', 'replace', '172.20.0.0/16', 'via', '10.0.1.2', 'metric', '5');
  await waitFor(() => child.events.some((e) => e.nextHop === '172.20.1.1' && e.gateway === '10.0.1.2'), WAIT);
  t.like(child.events.at(-1), { event: 'nexthop', device: 'v1', reachable: true });
  await ip(netns, 'route', 'del', '172.20.0.0/16', 'metric', '5');
  await waitFor(() => child.events.at(-1)?.reachable === false, WAIT);
  t.like(child.events.at(-1), { event: 'nexthop', nextHop: '172.20.1.1', reachable: false });
});

/** `ip monitor route` in the namespace, its lines collected; killed by PID at cleanup. */
async function monitorRoutes(netns: string, cleanup: Cleanup): Promise<string[]> {
  const lines: string[] = [];
  const monitor = spawn('ip', ['-n', netns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanup.add(() => {
    if (monitor.exitCode === null) monitor.kill('SIGTERM');
  });
  createInterface({ input: monitor.stdout }).on('line', (line) => lines.push(line));
  // A route of our own making shows the monitor is listening. It subscribes a moment after it
  // starts, and a route added before that is never reported: the probe is added again until one is.
  const probe = ['10.77.0.0/24', 'dev', 'v0', 'table', String(TABLE)];
  const heard = () => lines.some((l) => l.startsWith('10.77.0.0/24'));
  await waitFor(
    async () => {
      if (heard()) return true;
      await ip(netns, 'route', 'replace', ...probe);
      await sleep(100);
      if (heard()) return true;
      await ip(netns, 'route', 'del', ...probe);
      return false;
    },
    { ...WAIT, intervalMs: 100, what: 'monitor ready' },
  );
  return lines;
}

test('a route carries its metric; a metric change adds the new route before deleting the old one', async (t) => {
  const { netns, child, cleanup } = await setup(t, 'fib-metric');
  const v4 = (metric: number): RouteJson => ({ ...via('10.9.0.0/24', '10.0.0.2'), metric });
  const v6 = (metric: number): RouteJson => ({ ...via('2001:db8:9::/48', '2001:db8::2'), metric });
  await child.start({ routes: [v4(2147482623), v6(2147482623)] });
  t.like(await ipRoute(netns, '10.9.0.0/24'), { gateway: '10.0.0.2', protocol: '196', metric: 2147482623 });
  t.like(await ipRoute(netns, '2001:db8:9::/48'), { protocol: '196', metric: 2147482623 });

  const lines = await monitorRoutes(netns, cleanup);
  await child.set(v4(1000), v6(1000));
  await child.call('idle');
  const metrics = async (dst: string) =>
    (await ipRoutes(netns)).filter((r) => r.dst === dst).map((r) => r.metric);
  t.deepEqual(await metrics('10.9.0.0/24'), [1000], 'one route, at the new metric');
  t.deepEqual(await metrics('2001:db8:9::/48'), [1000]);
  for (const dst of ['10.9.0.0/24', '2001:db8:9::/48']) {
    await waitFor(() => lines.some((l) => l.startsWith(`Deleted ${dst}`)), { ...WAIT, what: 'old deleted' });
    const seen = lines.filter((l) => l.includes(dst)).map((l) => (l.startsWith('Deleted') ? 'del' : 'add'));
    const at = (metric: number) => lines.findIndex((l) => l.includes(dst) && l.includes(`metric ${metric}`));
    t.deepEqual(seen, ['add', 'del'], `${dst}: the new route first, then the old one goes`);
    t.true(at(1000) < at(2147482623), `${dst}: never without a route`);
  }
});

test('start moves a route of ours left at another metric to the desired one', async (t) => {
  const { netns, child } = await setup(t, 'fib-metric-start');
  const table = ['table', String(TABLE)];
  await ip(netns, 'route', 'add', '10.9.1.0/24', 'via', '10.0.0.2', 'proto', '196', 'metric', '50', ...table);
  await ip(netns, 'route', 'add', '10.9.2.0/24', 'via', '10.0.0.2', 'proto', '196', 'metric', '50', ...table);
  const summary = await child.start({
    deferPrune: true,
    routes: [{ ...via('10.9.1.0/24', '10.0.0.2'), metric: 1024 }],
  });
  t.like(summary, { replaced: 1, deleted: 0 });
  const routes = await ipRoutes(netns);
  t.deepEqual(routes.map((r) => `${r.dst} ${r.metric}`).sort(), [
    '10.9.1.0/24 1024',
    '10.9.2.0/24 50', // nobody wants it yet: kept until the prune (graceful restart)
  ]);
});
