// The Router as a route reflector over real sessions on loopback: Brindle speakers as two clients and
// a non-client. Routes are reflected with ORIGINATOR_ID and CLUSTER_LIST, withdrawals propagate, a
// client that goes down has its routes withdrawn from the others, End-of-RIB follows the initial dump.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { MessageType, Origin } from '../../src/bgp/constants.ts';
import { encodeRouteRefresh } from '../../src/bgp/codec/route-refresh.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { Router } from '../../src/daemon/router.ts';
import type { AddPathSendMode } from '../../src/rib/adj-rib-out.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce, RouteCollector, withdraw } from '../helpers/routes.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;

async function reflectorWith(
  t: ExecutionContext,
  roles: ('client' | 'nonclient')[],
  addPathSend?: AddPathSendMode,
) {
  const address = loopbackAddress();
  const router = new Router({
    routerId: parseIpv4('10.0.0.254'),
    localAs: AS,
    clusterId: parseIpv4('10.0.0.253'),
  });
  await router.listen(address, TEST_PORT);
  const speakers = await Promise.all(roles.map((_, i) => speaker(`10.0.0.${i + 1}`)));
  t.teardown(async () => {
    await Promise.all(speakers.map((s) => s.close()));
    await router.close();
  });
  const peers: Peer[] = [];
  const routes: RouteCollector[] = [];
  for (const [i, role] of roles.entries()) {
    const s = speakers[i];
    router.addPeer({
      ...peerConfig({
        name: `client-${i}`,
        remoteAddress: s.address,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive: true,
      }),
      routeReflectorClient: role === 'client',
      addPathSend,
    });
    const peer = s.peerWith(address, { localAs: AS, peerAs: AS });
    peers.push(peer);
    routes.push(new RouteCollector(peer));
  }
  await Promise.all(peers.map((p) => nextEvent(p, 'established')));
  return { router, speakers, peers, routes };
}

function routeFrom(address: string, prefix: string) {
  return {
    prefix,
    attributes: { origin: Origin.Igp, asPath: [], nextHop: address, communities: [AS * 65536 + 7] },
  };
}

test('routes from a client are reflected to the other client and to the non-client', async (t) => {
  const { speakers, peers, routes } = await reflectorWith(t, ['client', 'client', 'nonclient']);
  await waitFor(() => routes.every((r) => r.endOfRib.has('ipv4-unicast')), {
    timeoutMs: 5000,
    what: 'End-of-RIB after the initial dump',
  });
  announce(peers[0], [
    routeFrom(speakers[0].address, '10.244.1.0/26'),
    routeFrom(speakers[0].address, '10.244.1.64/26'),
  ]);
  await waitFor(() => routes[1].prefixes().length === 2 && routes[2].prefixes().length === 2, {
    timeoutMs: 5000,
    what: 'reflection',
  });
  for (const r of [routes[1], routes[2]]) {
    const [got] = r.get('10.244.1.0/26');
    t.is(got.attributes.originatorId, parseIpv4('10.0.0.1'), 'ORIGINATOR_ID is the originating client');
    t.deepEqual(got.attributes.clusterList, [parseIpv4('10.0.0.253')]);
    t.is(got.nextHop, speakers[0].address, 'next hop unchanged');
    t.deepEqual(got.attributes.communities, [AS * 65536 + 7]);
    t.is(got.attributes.localPref, 100);
  }
  // The originator gets its own route back (RFC 4456 §8 makes it ignore it) or nothing; never a changed one.
  withdraw(peers[0], ['10.244.1.64/26']);
  await waitFor(() => routes[1].prefixes().length === 1 && routes[2].prefixes().length === 1, {
    timeoutMs: 5000,
    what: 'withdrawal',
  });
});

test('routes from a non-client reach clients only', async (t) => {
  const { speakers, peers, routes } = await reflectorWith(t, ['client', 'nonclient', 'nonclient']);
  announce(peers[1], [routeFrom(speakers[1].address, '10.244.2.0/26')]);
  await waitFor(() => routes[0].prefixes().length === 1, {
    timeoutMs: 5000,
    what: 'reflection to the client',
  });
  await new Promise((r) => setTimeout(r, 200));
  t.deepEqual(routes[2].prefixes(), [], 'not to the other non-client');
});

test('a client that goes down has its routes withdrawn from all others', async (t) => {
  const { speakers, peers, routes } = await reflectorWith(t, ['client', 'client', 'client']);
  announce(peers[0], [routeFrom(speakers[0].address, '10.244.3.0/26')]);
  await waitFor(() => routes[1].prefixes().length === 1 && routes[2].prefixes().length === 1, {
    timeoutMs: 5000,
    what: 'reflection',
  });
  peers[0].stop();
  await waitFor(() => routes[1].prefixes().length === 0 && routes[2].prefixes().length === 0, {
    timeoutMs: 5000,
    what: 'withdrawal on session down',
  });
  t.pass();
});

test('one update group serves clients with identical policy; the UPDATE is built once', async (t) => {
  const { router, speakers, peers, routes } = await reflectorWith(t, [
    'client',
    'client',
    'client',
    'client',
  ]);
  await waitFor(() => router.adjRibOut.groupCount === 1, {
    timeoutMs: 5000,
    what: 'groups to merge after the initial dumps',
  });
  const built = router.adjRibOut.messagesBuilt;
  const received = routes.map((r) => r.updates);
  announce(
    peers[0],
    Array.from({ length: 100 }, (_, i) => routeFrom(speakers[0].address, `10.245.${i}.0/24`)),
    false,
  );
  await waitFor(() => routes.slice(1).every((r) => r.prefixes().length === 100), {
    timeoutMs: 5000,
    what: 'reflection to three clients',
  });
  const builtNow = router.adjRibOut.messagesBuilt - built;
  t.true(
    builtNow >= 1 && builtNow <= 3,
    `100 prefixes with one attribute set pack into few UPDATEs (${builtNow})`,
  );
  for (const i of [1, 2, 3])
    t.is(routes[i].updates - received[i], builtNow, 'every member got the same UPDATEs, built once');
});

test('a locally originated route is announced to every peer', async (t) => {
  const { router, routes } = await reflectorWith(t, ['client', 'nonclient']);
  router.originate('10.250.0.0/26', { nextHop: '192.0.2.254' });
  await waitFor(() => routes.every((r) => r.prefixes().includes('10.250.0.0/26')), {
    timeoutMs: 5000,
    what: 'local route',
  });
  t.is(routes[1].get('10.250.0.0/26')[0].attributes.originatorId, undefined);
});

test('RFC 7313: a refresh request gets BoRR, the family again, then EoRR', async (t) => {
  const { router, speakers, peers, routes } = await reflectorWith(t, ['client', 'client']);
  router.originate('10.251.0.0/26', { nextHop: '192.0.2.254' });
  announce(peers[0], [routeFrom(speakers[0].address, '10.251.1.0/26')]);
  await waitFor(() => routes[1].prefixes().length === 2, { timeoutMs: 5000, what: 'routes' });
  const markers: number[] = [];
  peers[1].events$.subscribe((e) => e.kind === 'route-refresh' && markers.push(e.message.subtype));
  const before = routes[1].updates;
  t.true(peers[1].requestRouteRefresh(1, 1));
  await waitFor(() => markers.length === 2, { timeoutMs: 5000, what: 'BoRR and EoRR' });
  t.deepEqual(markers, [1, 2]);
  t.true(routes[1].updates > before, 'the routes were sent again');
  t.is(routes[1].prefixes().length, 2);
});

test('RFC 7313 §4.2: what a peer does not re-announce between BoRR and EoRR is withdrawn', async (t) => {
  const { speakers, peers, routes } = await reflectorWith(t, ['client', 'client']);
  announce(peers[0], [
    routeFrom(speakers[0].address, '10.252.1.0/26'),
    routeFrom(speakers[0].address, '10.252.2.0/26'),
  ]);
  await waitFor(() => routes[1].prefixes().length === 2, { timeoutMs: 5000, what: 'routes' });
  const session = peers[0].session!;
  session.sendRaw(encodeRouteRefresh({ afi: 1, safi: 1, subtype: 1 }), MessageType.RouteRefresh);
  announce(peers[0], [routeFrom(speakers[0].address, '10.252.1.0/26')], false);
  session.sendRaw(encodeRouteRefresh({ afi: 1, safi: 1, subtype: 2 }), MessageType.RouteRefresh);
  await waitFor(() => routes[1].prefixes().length === 1, {
    timeoutMs: 5000,
    what: 'the stale route to be swept',
  });
  t.deepEqual(routes[1].prefixes(), ['10.252.1.0/26']);
});

test('ADD-PATH send: every path of a prefix to clients in "all" mode, only the best by default', async (t) => {
  for (const mode of ['all', 'best'] as const) {
    const { speakers, peers, routes } = await reflectorWith(t, ['client', 'client', 'client'], mode);
    announce(peers[0], [routeFrom(speakers[0].address, '10.253.0.0/26')]);
    announce(peers[1], [routeFrom(speakers[1].address, '10.253.0.0/26')]);
    const expected = mode === 'all' ? 2 : 1;
    await waitFor(() => routes[2].get('10.253.0.0/26').length === expected, {
      timeoutMs: 5000,
      what: `${mode} paths`,
    });
    const got = routes[2].get('10.253.0.0/26');
    t.is(new Set(got.map((r) => r.pathId)).size, expected, 'distinct path identifiers');
    if (mode === 'all')
      t.deepEqual(new Set(got.map((r) => r.nextHop)), new Set([speakers[0].address, speakers[1].address]));
    peers[0].stop();
    const onlyTheOther = () =>
      routes[2]
        .get('10.253.0.0/26')
        .map((r) => r.nextHop)
        .join() === speakers[1].address;
    await waitFor(onlyTheOther, { timeoutMs: 5000, what: 'only the remaining path' });
    t.is(routes[2].get('10.253.0.0/26')[0].nextHop, speakers[1].address);
  }
});
