// Interop with BIRD 2 (Debian bird2): sessions both ways, iBGP and eBGP, IPv4 and IPv6 routes with
// communities and large communities in both directions, route refresh both ways, hold-timer expiry
// against a frozen BIRD, and Cease with a shutdown communication from either side.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { firstValueFrom, filter, timeout, toArray, take } from 'rxjs';
import { AsPathSegmentType, CeaseSubcode, Origin } from '../../src/bgp/constants.ts';
import type { PathAttributes } from '../../src/bgp/types.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import { interopNetwork, withDiagnostics } from '../helpers/interop.ts';
import type { InteropNetwork } from '../helpers/interop.ts';
import { startBird } from '../helpers/peers.ts';
import type { BirdHandle, PeerNeighbor, PeerRoute } from '../helpers/peers.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce, RouteCollector } from '../helpers/routes.ts';
import { nextEvent, speaker } from '../helpers/session.ts';
import type { Speaker } from '../helpers/session.ts';

const BRINDLE_AS = 64512;

const PEER_ROUTES: PeerRoute[] = [
  {
    prefix: '198.51.100.0/24',
    communities: ['64512:100'],
    largeCommunities: ['64512:1:2'],
    med: 10,
    localPref: 200,
  },
  {
    prefix: '2001:db8:100::/48',
    communities: ['64512:101'],
    largeCommunities: ['64512:3:4'],
    med: 20,
    localPref: 210,
  },
];

function brindleRoutes(
  net: InteropNetwork,
  asPath: number[],
): { prefix: string; attributes: PathAttributes; nextHop6?: string }[] {
  const base: PathAttributes = {
    origin: Origin.Igp,
    asPath: asPath.length ? [{ type: AsPathSegmentType.AsSequence, asns: asPath }] : [],
    localPref: 150,
    communities: [64512 * 65536 + 300],
    largeCommunities: [{ globalAdministrator: 64512, localData1: 5, localData2: 6 }],
  };
  return [
    { prefix: '203.0.113.0/24', attributes: { ...base, nextHop: net.brindle4 } },
    { prefix: '2001:db8:200::/48', attributes: base, nextHop6: net.brindle6 },
  ];
}

let net: InteropNetwork;
test.before(async () => {
  net = await interopNetwork(11, 'bird');
});
test.after.always(async () => {
  await net?.cleanup.run();
});

interface Pair {
  bird: BirdHandle;
  brindle: Speaker;
  peer: Peer;
  routes: RouteCollector;
}

/** A BIRD in the namespace and a Brindle speaker in the root namespace, peered with each other. */
async function pair(
  t: ExecutionContext,
  birdAs: number,
  neighbor: Partial<PeerNeighbor>,
  brindlePassive: boolean,
  holdTimeSec = 240,
): Promise<Pair> {
  const bird = await startBird({
    netns: net.netns,
    routerId: '10.255.0.2',
    localAddress: net.peer4,
    localAddress6: net.peer6,
    asn: birdAs,
    neighbors: [
      { address: net.brindle4, asn: BRINDLE_AS, addPath: true, gracefulRestart: true, ...neighbor },
    ],
    staticRoutes: PEER_ROUTES,
  });
  const brindle = await speaker({ routerId: '10.255.0.1', port: 179, address: net.brindle4 });
  t.teardown(async () => {
    await brindle.close();
    await bird.stop();
  });
  const peer = brindle.peerWith(net.peer4, {
    localAs: BRINDLE_AS,
    peerAs: birdAs,
    passive: brindlePassive,
    holdTimeSec,
  });
  const routes = new RouteCollector(peer);
  await withDiagnostics(
    t,
    () => bird.daemon.output(),
    async () => {
      await nextEvent(peer, 'established', 20_000);
      await bird.waitEstablished(net.brindle4);
    },
  );
  return { bird, brindle, peer, routes };
}

async function birdRoutes(bird: BirdHandle): Promise<string> {
  return (await bird.rib('ipv4')) + (await bird.rib('ipv6'));
}

for (const [kind, birdAs] of [
  ['iBGP', BRINDLE_AS],
  ['eBGP', 65001],
] as const) {
  for (const brindlePassive of [false, true]) {
    test.serial(
      `${kind}, Brindle ${brindlePassive ? 'passive' : 'active'}: the session reaches Established on both sides`,
      async (t) => {
        const { peer } = await pair(t, birdAs, { passive: !brindlePassive }, brindlePassive);
        t.is(peer.state, SessionState.Established);
        t.is(peer.session?.direction, brindlePassive ? 'inbound' : 'outbound');
        t.is(peer.negotiated?.external, kind === 'eBGP');
      },
    );
  }
}

test.serial(
  'iBGP, Brindle active: capabilities as both announced; routes both ways with their attributes',
  async (t) => {
    const { bird, peer, routes } = await pair(t, BRINDLE_AS, { passive: true }, false);
    const n = peer.negotiated!;
    t.false(n.external);
    t.deepEqual([...n.families].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.true(n.fourOctetAs && n.routeRefresh && n.enhancedRouteRefresh);
    t.deepEqual([...n.addPathSend].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.deepEqual([...n.addPathReceive].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.truthy(n.peerGracefulRestart, 'BIRD announced graceful restart');
    // BIRD's own reading of what Brindle announced.
    const theirView =
      (await bird.birdc('show', 'protocols', 'all', 'n0')).split('Neighbor capabilities')[1] ?? '';
    for (const cap of [
      /AF announced: ipv4 ipv6/,
      /Route refresh/,
      /Extended message/,
      /Graceful restart/,
      /4-octet AS numbers/,
      /ADD-PATH\s+RX: ipv4 ipv6\s+TX: ipv4 ipv6/,
      /Enhanced refresh/,
    ]) {
      t.regex(theirView, cap);
    }

    await waitFor(() => routes.prefixes().length === 2, { timeoutMs: 10_000, what: 'routes from BIRD' });
    const [v4] = routes.get('198.51.100.0/24');
    t.deepEqual(v4.attributes.communities, [64512 * 65536 + 100]);
    t.deepEqual(v4.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 1, localData2: 2 },
    ]);
    t.is(v4.attributes.multiExitDisc, 10);
    t.is(v4.attributes.localPref, 200);
    t.is(v4.nextHop, net.peer4);
    const [v6] = routes.get('2001:db8:100::/48');
    t.is(v6.nextHop, net.peer6);
    t.is(v6.attributes.localPref, 210);
    t.true(routes.endOfRib.has('ipv4-unicast') && routes.endOfRib.has('ipv6-unicast'));

    announce(peer, brindleRoutes(net, []));
    await waitFor(
      async () =>
        /203\.0\.113\.0\/24/.test(await birdRoutes(bird)) &&
        /2001:db8:200::\/48/.test(await birdRoutes(bird)),
      {
        timeoutMs: 10_000,
        what: 'Brindle routes in BIRD',
      },
    );
    const table = await birdRoutes(bird);
    t.regex(table, /BGP\.community: \(64512,300\)/);
    t.regex(table, /BGP\.large_community: \(64512, 5, 6\)/);
    t.regex(table, /BGP\.local_pref: 150/);
  },
);

test.serial(
  'eBGP, Brindle passive: BIRD connects; AS_PATH and MED arrive, Brindle routes carry its AS',
  async (t) => {
    const { bird, peer, routes } = await pair(t, 65001, {}, true);
    t.true(peer.negotiated!.external);
    t.is(peer.negotiated!.peerAs, 65001);
    t.is(peer.session?.direction, 'inbound');
    await waitFor(() => routes.prefixes().length === 2, { timeoutMs: 10_000, what: 'routes from BIRD' });
    const [v4] = routes.get('198.51.100.0/24');
    t.deepEqual(v4.attributes.asPath, [{ type: AsPathSegmentType.AsSequence, asns: [65001] }]);
    t.deepEqual(v4.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 1, localData2: 2 },
    ]);
    announce(peer, brindleRoutes(net, [BRINDLE_AS]));
    await waitFor(async () => /203\.0\.113\.0\/24/.test(await bird.rib('ipv4')), {
      timeoutMs: 10_000,
      what: 'route in BIRD',
    });
    t.regex(await bird.rib('ipv4'), /BGP\.as_path: 64512/);
  },
);

test.serial('route refresh both ways (RFC 2918, enhanced per RFC 7313)', async (t) => {
  const { bird, peer, routes } = await pair(t, BRINDLE_AS, { passive: true }, false);
  await waitFor(() => routes.prefixes().length === 2, { timeoutMs: 10_000, what: 'routes from BIRD' });
  // Brindle asks BIRD to re-send IPv4: BIRD answers with BoRR, the routes, EoRR.
  const markers = firstValueFrom(
    peer.events$.pipe(
      filter((e) => e.kind === 'route-refresh'),
      take(2),
      toArray(),
      timeout(10_000),
    ),
  );
  const before = routes.updates;
  t.true(peer.requestRouteRefresh(1, 1));
  const [borr, eorr] = await markers;
  t.like(borr, { kind: 'route-refresh', message: { afi: 1, subtype: 1 } });
  t.like(eorr, { kind: 'route-refresh', message: { afi: 1, subtype: 2 } });
  t.true(routes.updates > before);
  // BIRD asks Brindle (`reload in`): a ROUTE-REFRESH arrives for each family.
  const requests = firstValueFrom(
    peer.events$.pipe(
      filter((e) => e.kind === 'route-refresh' && e.message.subtype === 0),
      take(2),
      toArray(),
      timeout(10_000),
    ),
  );
  await bird.birdc('reload', 'in', 'n0');
  const families = (await requests).map((e) => (e.kind === 'route-refresh' ? e.message.afi : 0)).sort();
  t.deepEqual(families, [1, 2]);
});

test.serial('hold timer expiry: a BIRD frozen with SIGSTOP is detected', async (t) => {
  const { bird, peer } = await pair(t, BRINDLE_AS, { passive: true, holdTime: 3 }, false, 3);
  t.is(peer.negotiated?.holdTimeSec, 3);
  const down = nextEvent(peer, 'down', 10_000);
  process.kill(bird.daemon.pid, 'SIGSTOP');
  t.teardown(() => {
    process.kill(bird.daemon.pid, 'SIGCONT');
  });
  const started = Date.now();
  t.like((await down).reason, { kind: 'hold-timer-expired' });
  t.true(Date.now() - started < 4_500, 'within the 3 s hold time (plus scheduling)');
});

test.serial(
  'BIRD shuts the session down: Brindle sees Cease/Administrative Shutdown with the message',
  async (t) => {
    const { bird, peer } = await pair(t, BRINDLE_AS, { passive: true }, false);
    const down = nextEvent(peer, 'down', 10_000);
    await bird.shutdownNeighbor(net.brindle4, 'bird maintenance');
    t.like((await down).reason, {
      kind: 'notification-received',
      notification: {
        code: 6,
        subcode: CeaseSubcode.AdministrativeShutdown,
        shutdownCommunication: 'bird maintenance',
      },
    });
  },
);

test.serial(
  'Brindle shuts the session down: BIRD reports Cease/Administrative Shutdown with the message',
  async (t) => {
    const { bird, peer } = await pair(t, BRINDLE_AS, { passive: true }, false);
    peer.stop(CeaseSubcode.AdministrativeShutdown, 'brindle maintenance');
    t.is(peer.state, SessionState.Idle);
    await waitFor(async () => /Administrative shutdown/i.test(await bird.neighbors()), {
      timeoutMs: 10_000,
      what: 'BIRD to see the Cease',
    });
    const view = await bird.neighbors();
    t.regex(view, /brindle maintenance/);
  },
);

test.serial(
  'IPv6 transport: a session over IPv6 (as Calico runs bird6) carries IPv6 routes both ways',
  async (t) => {
    const bird = await startBird({
      netns: net.netns,
      routerId: '10.255.0.2',
      localAddress: net.peer6,
      localAddress6: net.peer6,
      asn: BRINDLE_AS,
      neighbors: [{ address: net.brindle6, asn: BRINDLE_AS, passive: true, families: ['ipv6'] }],
      staticRoutes: PEER_ROUTES.filter((r) => r.prefix.includes(':')),
    });
    const brindle = await speaker({ routerId: '10.255.0.1', port: 179, address: net.brindle6 });
    t.teardown(async () => {
      await brindle.close();
      await bird.stop();
    });
    const peer = brindle.peerWith(net.peer6, {
      localAs: BRINDLE_AS,
      peerAs: BRINDLE_AS,
      families: [IPV6_UNICAST],
    });
    const routes = new RouteCollector(peer);
    await withDiagnostics(
      t,
      () => bird.daemon.output(),
      () => nextEvent(peer, 'established', 20_000),
    );
    t.deepEqual([...peer.negotiated!.families], [IPV6_UNICAST]);
    await waitFor(() => routes.prefixes().includes('2001:db8:100::/48'), {
      timeoutMs: 10_000,
      what: 'IPv6 route from BIRD',
    });
    t.is(routes.get('2001:db8:100::/48')[0].nextHop, net.peer6);
    announce(
      peer,
      brindleRoutes(net, []).filter((r) => r.prefix.includes(':')),
    );
    await waitFor(async () => /2001:db8:200::\/48/.test(await bird.rib('ipv6')), {
      timeoutMs: 10_000,
      what: 'Brindle route in BIRD',
    });
    t.regex(await bird.rib('ipv6'), /BGP\.large_community: \(64512, 5, 6\)/);
  },
);
