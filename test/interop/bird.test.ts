// Interop with BIRD 2 (Debian bird2): sessions both ways, iBGP and eBGP, IPv4 and IPv6 routes with
// communities and large communities in both directions, route refresh both ways, hold-timer expiry
// against a frozen BIRD, and Cease with a shutdown communication from either side.
import test from 'ava';
import { firstValueFrom, filter, timeout, toArray, take } from 'rxjs';
import { AsPathSegmentType, CeaseSubcode } from '../../src/bgp/constants.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import {
  BRINDLE_AS,
  brindleRoutes,
  daemonShutdown,
  freezeDaemon,
  interopScenario,
} from '../helpers/interop.ts';
import { startBird } from '../helpers/peers.ts';
import type { BirdHandle } from '../helpers/peers.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';

const scenario = interopScenario(11, 'bird', startBird);
const net = scenario.net;
const pair = scenario.pair;

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
        const { peer } = await pair(t, { asn: birdAs, brindlePassive });
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
    const { daemon: bird, peer, routes } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
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

    announce(peer, brindleRoutes(net, { localPref: 150 }));
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
    const { daemon: bird, peer, routes } = await pair(t, { asn: 65001, brindlePassive: true });
    t.true(peer.negotiated!.external);
    t.is(peer.negotiated!.peerAs, 65001);
    t.is(peer.session?.direction, 'inbound');
    await waitFor(() => routes.prefixes().length === 2, { timeoutMs: 10_000, what: 'routes from BIRD' });
    const [v4] = routes.get('198.51.100.0/24');
    t.deepEqual(v4.attributes.asPath, [{ type: AsPathSegmentType.AsSequence, asns: [65001] }]);
    t.deepEqual(v4.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 1, localData2: 2 },
    ]);
    announce(peer, brindleRoutes(net, { asPath: [BRINDLE_AS], localPref: 150 }));
    await waitFor(async () => /203\.0\.113\.0\/24/.test(await bird.rib('ipv4')), {
      timeoutMs: 10_000,
      what: 'route in BIRD',
    });
    t.regex(await bird.rib('ipv4'), /BGP\.as_path: 64512/);
  },
);

test.serial('route refresh both ways (RFC 2918, enhanced per RFC 7313)', async (t) => {
  const { daemon: bird, peer, routes } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
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
  const session = await pair(t, {
    asn: BRINDLE_AS,
    brindlePassive: false,
    neighbor: { holdTime: 3 },
    holdTimeSec: 3,
  });
  t.is(session.peer.negotiated?.holdTimeSec, 3);
  const { reason, afterMs } = await freezeDaemon(t, session);
  t.like(reason, { kind: 'hold-timer-expired' });
  t.true(afterMs < 4_500, 'within the 3 s hold time (plus scheduling)');
});

test.serial(
  'BIRD shuts the session down: Brindle sees Cease/Administrative Shutdown with the message',
  async (t) => {
    const session = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    t.like(await daemonShutdown(net, session, 'bird maintenance'), {
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
    const { daemon: bird, peer } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
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
    const {
      daemon: bird,
      peer,
      routes,
    } = await pair(t, {
      asn: BRINDLE_AS,
      brindlePassive: false,
      ipv6Only: true,
    });
    t.deepEqual([...peer.negotiated!.families], [IPV6_UNICAST]);
    await waitFor(() => routes.prefixes().includes('2001:db8:100::/48'), {
      timeoutMs: 10_000,
      what: 'IPv6 route from BIRD',
    });
    t.is(routes.get('2001:db8:100::/48')[0].nextHop, net.peer6);
    announce(
      peer,
      brindleRoutes(net, { localPref: 150 }).filter((r) => r.prefix.includes(':')),
    );
    await waitFor(async () => /2001:db8:200::\/48/.test(await bird.rib('ipv6')), {
      timeoutMs: 10_000,
      what: 'Brindle route in BIRD',
    });
    t.regex(await bird.rib('ipv6'), /BGP\.large_community: \(64512, 5, 6\)/);
  },
);
