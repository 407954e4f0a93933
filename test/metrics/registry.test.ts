// The registry without sessions: the FIB and IPAM extension points produce their series from plain
// stats (IPAM's possibly async read shared by every series of a scrape), no-router and no-datastore
// cases export nothing misleading, and the Loc-RIB census and best-path counter follow the router.
import test from 'ava';
import { BehaviorSubject } from 'rxjs';
import { Router } from '../../src/daemon/router.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { ipv4Prefix } from '../../src/lib/prefix.ts';
import { BrindleMetrics } from '../../src/metrics/registry.ts';
import type { FibStats, IpamStats } from '../../src/metrics/registry.ts';
import type { BrindleSource, RouterView } from '../../src/metrics/source.ts';

function sourceOf(router?: RouterView): BrindleSource & { routers: BehaviorSubject<RouterView | undefined> } {
  const routers = new BehaviorSubject<RouterView | undefined>(router);
  return {
    routers,
    get bgp() {
      return routers.value;
    },
    router$: routers.asObservable(),
  };
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('FIB series come from the registered stats', async (t) => {
  const metrics = new BrindleMetrics(sourceOf(), { processMetrics: false });
  t.teardown(() => metrics.close());
  const stats: FibStats = {
    installedRoutes: new Map([['ipv4-unicast', 12]]),
    desiredRoutes: new Map([['ipv4-unicast', 13]]),
    pendingRoutes: 4,
    failedRoutes: 1,
    writes: { add: { ok: 12, failed: 1 }, replace: { ok: 0, failed: 0 }, delete: { ok: 3, failed: 0 } },
    reconciles: 2,
    lastReconcileAt: 1_700_000_000_000,
    overruns: 0,
  };
  metrics.registerFib({ fibStats: () => stats });
  t.throws(() => metrics.registerFib({ fibStats: () => stats }), { message: /already registered/ });
  const text = (await metrics.exposition()).body;
  t.is(sample(text, 'brindle_fib_routes{family="ipv4-unicast"}'), 12);
  t.is(sample(text, 'brindle_fib_desired_routes{family="ipv4-unicast"}'), 13);
  t.is(sample(text, 'brindle_fib_pending_routes'), 4);
  t.is(sample(text, 'brindle_fib_failed_routes'), 1);
  t.is(sample(text, 'brindle_fib_writes_total{op="add",result="failed"}'), 1);
  t.is(sample(text, 'brindle_fib_reconciles_total'), 2);
  t.is(sample(text, 'brindle_fib_last_reconcile_timestamp_seconds'), 1_700_000_000);
});

test('IPAM series mirror kube-controllers and share one stats read per scrape', async (t) => {
  const metrics = new BrindleMetrics(sourceOf(), { processMetrics: false });
  t.teardown(() => metrics.close());
  let reads = 0;
  const stats: IpamStats = {
    pools: [{ pool: 'default-ipv4-ippool', size: 65536 }],
    nodes: [
      {
        pool: 'default-ipv4-ippool',
        node: 'n1',
        inUse: 5,
        borrowed: 1,
        blocks: 2,
      },
    ],
  };
  metrics.registerIpam({
    ipamStats: async () => {
      reads++;
      await new Promise((r) => setTimeout(r, 5));
      return stats;
    },
  });
  const text = (await metrics.exposition()).body;
  t.is(reads, 1);
  t.is(sample(text, 'brindle_ipam_ippool_size{ippool="default-ipv4-ippool"}'), 65536);
  t.is(sample(text, 'brindle_ipam_allocations_in_use{ippool="default-ipv4-ippool",node="n1"}'), 5);
  t.is(sample(text, 'brindle_ipam_allocations_borrowed{ippool="default-ipv4-ippool",node="n1"}'), 1);
  t.is(sample(text, 'brindle_ipam_blocks{ippool="default-ipv4-ippool",node="n1"}'), 2);
});

test('before a router exists: no peer or router series, empty Loc-RIB figures', async (t) => {
  const metrics = new BrindleMetrics(sourceOf(), { processMetrics: false });
  t.teardown(() => metrics.close());
  const text = (await metrics.exposition()).body;
  t.notRegex(text, /^brindle_bgp_session_state\{/m);
  t.notRegex(text, /^brindle_bgp_router_info\{/m);
  t.notRegex(text, /^brindle_datastore_up/m);
  t.is(sample(text, 'brindle_rib_prefixes{family="ipv4-unicast"}'), 0);
});

test('the census and best-path changes follow a replaced router', async (t) => {
  const first = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: 64512 });
  const second = new Router({ routerId: parseIpv4('10.0.0.2'), localAs: 64512 });
  t.teardown(async () => {
    await first.close();
    await second.close();
  });
  const source = sourceOf(first);
  const metrics = new BrindleMetrics(source, { processMetrics: false, census: { maxAgeMs: 0 } });
  t.teardown(() => metrics.close());
  first.originate('10.1.0.0/24');
  first.originate('2001:db8::/64', { nextHop: '2001:db8::1' });
  await first.locRib.settled();
  let text = (await metrics.exposition()).body;
  t.is(sample(text, 'brindle_rib_prefixes{family="ipv4-unicast"}'), 1);
  t.is(sample(text, 'brindle_rib_originated_prefixes{family="ipv6-unicast"}'), 1);
  t.is(sample(text, 'brindle_rib_best_path_changes_total{family="ipv4-unicast"}'), 1);

  source.routers.next(second);
  second.originate('10.2.0.0/24');
  second.originate('10.3.0.0/24');
  await second.locRib.settled();
  text = (await metrics.exposition()).body;
  t.is(sample(text, 'brindle_rib_prefixes{family="ipv4-unicast"}'), 2, 'the new router’s table');
  t.is(
    sample(text, 'brindle_rib_best_path_changes_total{family="ipv4-unicast"}'),
    3,
    'counted across routers',
  );
  t.is(
    sample(text, 'brindle_bgp_router_info{router_id="10.0.0.2",cluster_id="10.0.0.2",local_as="64512"}'),
    1,
  );
});

test('the census of a large table is walked in slices and shared by concurrent scrapes', async (t) => {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: 64512 });
  t.teardown(() => router.close());
  for (let i = 0; i < 60_000; i++)
    router.originate(ipv4Prefix(0x0a000000 + i * 256, 24), { nextHop: '10.0.0.1' });
  await router.locRib.settled();
  const metrics = new BrindleMetrics(sourceOf(router), { processMetrics: false });
  t.teardown(() => metrics.close());
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const [a, b] = await Promise.all([metrics.rib.census(), metrics.rib.census()]);
  clearInterval(ticker);
  t.is(a, b, 'one walk for both');
  t.is(a.families.get('ipv4-unicast')?.prefixes, 60_000);
  t.true(turns > 0, 'the event loop ran during the walk');
});

test('advertised prefixes appear once the Adj-RIB-Out reports them', async (t) => {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: 64512 });
  t.teardown(() => router.close());
  const peer = router.addPeer(
    peerConfig({
      name: 'Mesh_10_0_0_2',
      remoteAddress: '192.0.2.2',
      localAs: 64512,
      peerAs: 64512,
      routerId: 1,
      passive: true,
    }),
  );
  const view: RouterView = {
    allPeers: () => [peer],
    locRib: router.locRib,
    identity: router.identity,
    adjRibOut: {
      groupCount: 1,
      backlog: 0,
      dumping: 0,
      messagesBuilt: 0,
      advertisedPrefixes: () => new Map([['Mesh_10_0_0_2', new Map([['ipv4-unicast', 7]])]]),
    },
  };
  const source = sourceOf();
  source.routers.next(view);
  const metrics = new BrindleMetrics(source, { processMetrics: false });
  t.teardown(() => metrics.close());
  const text = (await metrics.exposition()).body;
  t.is(
    sample(
      text,
      'brindle_bgp_prefixes_advertised{peer="Mesh_10_0_0_2",remote="192.0.2.2",family="ipv4-unicast"}',
    ),
    7,
  );
  t.is(
    sample(
      text,
      'brindle_bgp_peer_info{peer="Mesh_10_0_0_2",remote="192.0.2.2",type="mesh",local_as="64512",peer_as="64512",passive="true"}',
    ),
    1,
  );
  t.is(sample(text, 'brindle_bgp_session_state{peer="Mesh_10_0_0_2",remote="192.0.2.2",state="Active"}'), 1);
});
