// What node mode feeds the FIB and IPAM series and GET /api/v1/fib: the FIB engine's counts and
// per-route reports (over the in-memory kernel, time driven by a ManualClock), IPAM figures computed
// from a real embedded datastore after real allocations (own blocks and a borrowed address), and the
// cache that keeps scrapes from reading the datastore more than once per TTL or waiting on it long.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fibDocument, noFibDocument, parseFibQuery } from '../../src/api/fib-view.ts';
import type { FibViewSource } from '../../src/api/fib-view.ts';
import { openStore } from '../../src/datastore/open.ts';
import { Fib } from '../../src/fib/fib.ts';
import { RT_SCOPE_UNIVERSE, RTN_UNICAST } from '../../src/fib/netlink.ts';
import type { KernelRoute } from '../../src/fib/types.ts';
import { IpamClient } from '../../src/ipam/index.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { CachedIpamStats, readNodeIpamStats } from '../../src/ipam/usage.ts';
import type { IpamStats } from '../../src/metrics/registry.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { FakeKernel, prefix } from '../fib/fake-kernel.ts';

const TABLE = 100;
const OURS = 196;

function ours(dst: string, gateway: string): KernelRoute {
  return {
    prefix: prefix(dst),
    table: TABLE,
    protocol: OURS,
    type: RTN_UNICAST,
    scope: RT_SCOPE_UNIVERSE,
    metric: 0,
    nextHops: [{ gateway, ifindex: 2, flags: 0, weight: 1 }],
  };
}

/** What NodeRouting hands the API, over a bare engine. */
function viewOf(fib: Fib): FibViewSource {
  return {
    get status() {
      return fib.status;
    },
    fibRoutes: () => fib.routeReports(),
  };
}

async function quiesce(fib: Fib): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await fib.idle();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('the FIB engine counts by family and operation, and reports every route with its state', async (t) => {
  const kernel = new FakeKernel();
  kernel.routes.set(`${TABLE}|10.9.0.0/24|0`, ours('10.9.0.0/24', '10.0.0.9')); // from a previous run
  const clock = new ManualClock();
  const fib = new Fib(kernel, { table: TABLE, protocol: OURS, clock, retryInitialMs: 1_000 });
  t.teardown(() => fib.stop({ keepRoutes: true }));
  fib.setDesired({ prefix: prefix('10.1.0.0/24'), kind: 'unicast', nextHops: [{ gateway: '10.0.0.2' }] });
  fib.setDesired({ prefix: prefix('10.65.0.0/26'), kind: 'blackhole', nextHops: [] });
  fib.setDesired({ prefix: prefix('2001:db8:5::/48'), kind: 'blackhole', nextHops: [] });
  // ENETUNREACH: the fake kernel knows only 10.0.0.0/24 as connected.
  fib.setDesired({ prefix: prefix('10.2.0.0/24'), kind: 'unicast', nextHops: [{ gateway: '192.0.2.1' }] });
  clock.advance(5_000);
  await fib.start({ deferPrune: true });
  await quiesce(fib);

  const activity = fib.activity();
  t.deepEqual(activity.desired, { ipv4: 3, ipv6: 1 });
  t.deepEqual(activity.installed, { ipv4: 3, ipv6: 1 }, 'three written and the left-over one');
  t.deepEqual(activity.writes, {
    add: { ok: 3, failed: 1 },
    replace: { ok: 0, failed: 0 },
    delete: { ok: 0, failed: 0 },
  });
  t.is(activity.reconciles, 1);
  t.is(activity.lastReconcileAt, 5_000, 'on the engine clock');

  const states = Object.fromEntries([...fib.routeReports()].map((r) => [r.prefix.w0, r.state]));
  const doc = fibDocument(
    viewOf(fib),
    { table: TABLE, protocol: OURS },
    parseFibQuery(new URLSearchParams()),
  );
  t.is(Object.keys(states).length, 5);
  t.like(doc, { enabled: true, table: TABLE, protocol: OURS, state: 'running', count: 5, truncated: false });
  t.like(doc.summary, { desired: 4, installed: 4, pending: 0, failed: 1 });
  t.deepEqual(
    doc.routes.map((r) => [r.prefix, r.family, r.kind, r.state]),
    [
      ['10.1.0.0/24', 'ipv4', 'unicast', 'installed'],
      ['10.2.0.0/24', 'ipv4', 'unicast', 'failed'],
      ['10.9.0.0/24', 'ipv4', 'unicast', 'stale'],
      ['10.65.0.0/26', 'ipv4', 'blackhole', 'installed'],
      ['2001:db8:5::/48', 'ipv6', 'blackhole', 'installed'],
    ],
  );
  const [installed, failed, stale] = doc.routes;
  t.deepEqual(installed.nextHops, [{ gateway: '10.0.0.2', device: null }]);
  // The in-memory kernel stores what was written (no device); a real one adds the interface.
  t.deepEqual(installed.kernel, { kind: 'unicast', nextHops: [{ gateway: '10.0.0.2', device: null }] });
  t.is(installed.error, null);
  t.like(failed.error, { code: 'ENETUNREACH', attempts: 1, message: 'Nexthop has invalid gateway' });
  t.is(failed.kernel, null);
  t.deepEqual(stale.nextHops, [{ gateway: '10.0.0.9', device: 'v0' }], 'what the kernel holds');

  // Filters: family, state, an address's longest match, a limit.
  const only = (query: string) =>
    fibDocument(
      viewOf(fib),
      { table: TABLE, protocol: OURS },
      parseFibQuery(new URLSearchParams(query)),
    ).routes.map((r) => r.prefix);
  t.deepEqual(only('family=ipv6'), ['2001:db8:5::/48']);
  t.deepEqual(only('state=failed'), ['10.2.0.0/24']);
  t.deepEqual(only('prefix=10.65.0.7'), ['10.65.0.0/26']);
  t.deepEqual(only('prefix=10.1.0.0/24'), ['10.1.0.0/24']);
  t.deepEqual(only('prefix=10.3.0.1'), []);
  t.deepEqual(only('limit=2'), ['10.1.0.0/24', '10.2.0.0/24']);
  for (const bad of ['state=lost', 'family=ipx', 'limit=0', 'prefix=banana', 'colour=red'])
    t.throws(() => parseFibQuery(new URLSearchParams(bad)), undefined, bad);

  // Removing a route is a delete; prune() removes the left-over one.
  fib.remove(prefix('10.1.0.0/24'));
  await fib.prune();
  await quiesce(fib);
  t.like(fib.activity().writes.delete, { ok: 2, failed: 0 });
  t.deepEqual(fib.activity().installed, { ipv4: 1, ipv6: 1 });
  t.deepEqual(noFibDocument('reflector mode'), { enabled: false, reason: 'reflector mode' });
});

test('IPAM figures: pool sizes, and per pool the node’s addresses, borrowed ones and blocks', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-ipam-stats-'));
  const store = await openStore({ backend: 'lmdb', path: join(dir, 'store') });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const resources = new ResourceStore(store);
  for (const [name, cidr] of [
    ['pool-a', '10.66.0.0/16'],
    ['pool-b', '10.67.0.0/24'],
  ]) {
    const written = await resources.write(
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name },
        spec: { cidr, blockSize: 26, nodeSelector: 'all()' },
      },
      'apply',
    );
    t.true(written.ok);
  }
  const client = new IpamClient({ store });
  const n1 = await client.autoAssign({ node: 'n1', num4: 3, intendedUse: 'Workload', ipv4Pools: ['pool-a'] });
  // n2 takes an address from n1's block: borrowed, from n2's side.
  const [a, b, c, d] = n1.ipv4[0].block.split(/[./]/).map(Number);
  await client.assignIp({ address: `${a}.${b}.${c}.${d + 60}`, node: 'n2' });

  const n1Stats = await readNodeIpamStats(store, 'n1');
  t.deepEqual(n1Stats.pools, [
    { pool: 'pool-a', size: 65536 },
    { pool: 'pool-b', size: 256 },
  ]);
  t.deepEqual(n1Stats.nodes, [
    { pool: 'pool-a', node: 'n1', inUse: 3, borrowed: 0, blocks: 1 },
    { pool: 'pool-b', node: 'n1', inUse: 0, borrowed: 0, blocks: 0 },
  ]);
  const n2Stats = await readNodeIpamStats(store, 'n2');
  t.deepEqual(n2Stats.nodes[0], { pool: 'pool-a', node: 'n2', inUse: 1, borrowed: 1, blocks: 0 });
});

test('the IPAM figures are read at most once per TTL, and a slow or failing read keeps the last ones', async (t) => {
  const clock = new ManualClock();
  let reads = 0;
  let next: () => Promise<IpamStats> = () => Promise.resolve(stats(1));
  const cached = new CachedIpamStats(
    () => {
      reads += 1;
      return next();
    },
    { ttlMs: 5_000, readBoundMs: 1_000, clock },
  );
  t.is((await cached.ipamStats()).pools[0].size, 1);
  t.is((await cached.ipamStats()).pools[0].size, 1);
  t.is(reads, 1, 'within the TTL: no read');

  clock.advance(5_000);
  next = () => Promise.reject(new Error('datastore unavailable'));
  t.is((await cached.ipamStats()).pools[0].size, 1, 'a failed read keeps the last figures');
  t.is(reads, 2);
  t.is((await cached.ipamStats()).pools[0].size, 1);
  t.is(reads, 2, 'a failed read is not retried before the TTL either');

  clock.advance(5_000);
  let finish: (s: IpamStats) => void = () => undefined;
  next = () => new Promise((resolve) => (finish = resolve));
  const first = cached.ipamStats();
  const second = cached.ipamStats();
  await Promise.resolve();
  clock.advance(1_000);
  t.is((await first).pools[0].size, 1, 'a scrape waits for a slow read only so long');
  t.is((await second).pools[0].size, 1);
  t.is(reads, 3, 'one read in flight, shared');
  finish(stats(2));
  await new Promise((resolve) => setImmediate(resolve));
  t.is((await cached.ipamStats()).pools[0].size, 2, 'the slow read lands for the next scrape');
  t.is(reads, 3);
});

function stats(size: number): IpamStats {
  return { pools: [{ pool: 'p', size }], nodes: [] };
}
