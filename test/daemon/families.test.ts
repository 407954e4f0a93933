// Address families over real sessions on loopback (RFC 4760 §6, §7): a Router with an IPv4-only peer
// and a dual-family peer sends each only the families its session negotiated, End-of-RIB included,
// and does not install NLRI a peer sends in a family it did not negotiate.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Origin } from '../../src/bgp/constants.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce, RouteCollector } from '../helpers/routes.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;

/** A Router (both families) with one IPv4-only client and one dual-family client. */
async function routerWithV4OnlyAndDualPeers(t: ExecutionContext) {
  const address = loopbackAddress();
  const router = new Router({ routerId: parseIpv4('10.0.0.254'), localAs: AS });
  await router.listen(address, TEST_PORT);
  const speakers = await Promise.all([speaker('10.0.0.1'), speaker('10.0.0.2')]);
  t.teardown(async () => {
    await Promise.all(speakers.map((s) => s.close()));
    await router.close();
  });
  const familySets = [[IPV4_UNICAST], [IPV4_UNICAST, IPV6_UNICAST]];
  const peers: Peer[] = [];
  const routes: RouteCollector[] = [];
  for (const [i, s] of speakers.entries()) {
    router.addPeer({
      ...peerConfig({
        name: i === 0 ? 'ipv4-only' : 'dual',
        remoteAddress: s.address,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive: true,
      }),
      routeReflectorClient: true,
    });
    const peer = s.peerWith(address, { localAs: AS, peerAs: AS, families: familySets[i] });
    peers.push(peer);
    routes.push(new RouteCollector(peer));
  }
  const established = await Promise.all(peers.map((p) => nextEvent(p, 'established')));
  t.deepEqual([...established[0].negotiated.families], [IPV4_UNICAST], 'IPv4 only negotiated');
  return { router, speakers, peers, routes };
}

test('RFC 4760 §6: an IPv4-only peer is sent IPv4 routes only; a dual peer both families', async (t) => {
  const { router, peers, routes } = await routerWithV4OnlyAndDualPeers(t);
  const [v4Only, dual] = routes;
  let downs = 0;
  peers[0].events$.subscribe((e) => e.kind === 'down' && downs++);
  router.originate('10.246.0.0/26', { nextHop: '192.0.2.254' });
  router.originate('fd00:246::/122', { nextHop: 'fd00::254' });
  await waitFor(() => dual.prefixes().length === 2 && v4Only.endOfRib.size > 0, {
    timeoutMs: 5000,
    what: 'both routes to the dual peer, End-of-RIB to the IPv4-only one',
  });
  await waitFor(() => dual.endOfRib.size === 2, { timeoutMs: 5000, what: 'End-of-RIB per family' });
  // Give a wrongly sent IPv6 UPDATE time to arrive and reset the session.
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(dual.prefixes(), ['10.246.0.0/26', 'fd00:246::/122']);
  t.deepEqual([...dual.endOfRib].sort(), ['ipv4-unicast', 'ipv6-unicast']);
  t.deepEqual(v4Only.prefixes(), ['10.246.0.0/26']);
  t.deepEqual([...v4Only.endOfRib], ['ipv4-unicast'], 'End-of-RIB for IPv4 only');
  t.is(peers[0].state, 'Established');
  t.is(downs, 0, 'the IPv4-only session never went down');
  t.not(router.adjRibOut.groupCount, 1, 'the two family sets never share an update group');

  // Changes after the initial dump follow the same rule: a withdrawal too.
  router.withdrawOriginated('fd00:246::/122');
  router.originate('fd00:247::/122', { nextHop: 'fd00::254' });
  router.originate('10.247.0.0/26', { nextHop: '192.0.2.254' });
  await waitFor(() => dual.prefixes().includes('fd00:247::/122') && v4Only.prefixes().length === 2, {
    timeoutMs: 5000,
    what: 'the later routes',
  });
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(dual.prefixes(), ['10.246.0.0/26', '10.247.0.0/26', 'fd00:247::/122']);
  t.deepEqual(v4Only.prefixes(), ['10.246.0.0/26', '10.247.0.0/26']);
  t.is(peers[0].state, 'Established');
  t.is(downs, 0);
});

test('RFC 4760 §7: NLRI of a family the session did not negotiate is not installed', async (t) => {
  const { router, speakers, peers, routes } = await routerWithV4OnlyAndDualPeers(t);
  const attributes = { origin: Origin.Igp, asPath: [], nextHop: speakers[0].address };
  // The IPv4-only peer sends an IPv6 route (MP_REACH_NLRI) it never negotiated, and an IPv4 one.
  announce(
    peers[0],
    [
      { prefix: '10.248.0.0/26', attributes },
      { prefix: 'fd00:248::/122', attributes, nextHop6: 'fd00::1' },
    ],
    false,
  );
  await waitFor(() => routes[1].prefixes().includes('10.248.0.0/26'), {
    timeoutMs: 5000,
    what: 'the IPv4 route reflected',
  });
  await new Promise((r) => setTimeout(r, 300));
  t.truthy(router.locRib.get(parsePrefix('10.248.0.0/26') as Prefix)?.best);
  t.is(router.locRib.get(parsePrefix('fd00:248::/122') as Prefix), undefined, 'IPv6 route not installed');
  t.is(router.locRibSize(), 1);
  t.deepEqual(routes[1].prefixes(), ['10.248.0.0/26'], 'nor reflected');
  t.is(peers[0].state, 'Established', 'ignored, not a session reset');
});
