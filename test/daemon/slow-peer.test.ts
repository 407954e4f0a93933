// A member that stops reading its socket is split from its update group instead of holding the other
// members back; when it reads again it catches up, from its own copy of the Adj-RIB-Out.
import test from 'ava';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { MessageType, Origin } from '../../src/bgp/constants.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import { localCapabilities, peerConfig } from '../../src/bgp/session/peer-config.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { ipv4Prefix } from '../../src/lib/prefix.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import { waitFor } from '../helpers/netns.ts';
import { RouteCollector } from '../helpers/routes.ts';
import { openFor, ScriptedPeer } from '../helpers/scripted-peer.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;
const ROUTES = 120_000;
/** Twelve communities per route: UPDATEs big enough to outgrow the kernel's socket buffers. */
const COMMUNITIES = Array.from({ length: 12 }, (_, i) => AS * 65536 + i);

test('a slow member is split from its group; the others are not held back', async (t) => {
  const address = loopbackAddress();
  const router = new Router({
    routerId: parseIpv4('10.0.0.254'),
    localAs: AS,
    adjRibOut: { memberBacklogLimit: 256 * 1024, destsPerTurn: 2000 },
  });
  await router.listen(address, TEST_PORT);
  const fast = await speaker('10.0.0.1');
  const slowAddress = loopbackAddress();
  t.teardown(async () => {
    await fast.close();
    await router.close();
  });
  for (const [name, remote] of [
    ['fast', fast.address],
    ['slow', slowAddress],
  ] as const) {
    router.addPeer({
      ...peerConfig({
        name,
        remoteAddress: remote,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive: true,
      }),
      routeReflectorClient: true,
    });
  }
  const fastPeer = fast.peerWith(address, { localAs: AS, peerAs: AS });
  const routes = new RouteCollector(fastPeer);
  const fastUp = nextEvent(fastPeer, 'established');
  const slow = await ScriptedPeer.connect(address, TEST_PORT, slowAddress);
  t.teardown(() => slow.close());
  // The same capabilities as the fast member, so both can share one update group.
  const capabilities = localCapabilities(
    peerConfig({
      name: 'slow',
      remoteAddress: address,
      localAs: AS,
      peerAs: AS,
      routerId: parseIpv4('10.0.0.2'),
    }),
  );
  slow.sendOpen(openFor(AS, parseIpv4('10.0.0.2'), 90, capabilities));
  await slow.nextOfType(MessageType.Open);
  slow.send(encodeKeepalive());
  await fastUp;
  await slow.nextOfType(MessageType.Keepalive);
  await waitFor(() => router.adjRibOut.groupCount === 1, { timeoutMs: 5000, what: 'one update group' });

  slow.context = { ...slow.context, addPath: new Set([IPV4_UNICAST, IPV6_UNICAST]) };
  slow.socket.pause(); // the slow peer stops reading
  // Distinct MEDs: one attribute set per route, so the UPDATEs are many and the slow socket backs up.
  for (let i = 0; i < ROUTES; i++)
    router.originate(ipv4Prefix((0x0b000000 + i * 256) >>> 0, 24), {
      nextHop: '192.0.2.254',
      multiExitDisc: i,
      origin: Origin.Igp,
      communities: COMMUNITIES,
    });
  await waitFor(() => routes.prefixes().length === ROUTES, {
    timeoutMs: 30_000,
    what: 'the fast member to get every route',
  });
  t.is(router.adjRibOut.groupCount, 2, 'the slow member has a group of its own');

  slow.socket.resume();
  let received = 0;
  await waitFor(
    async () => {
      for (let m = await slow.next(10); m !== undefined; m = await slow.next(10)) {
        if (!(m instanceof BgpError) && m.type === MessageType.Update) received += m.nlri.length;
      }
      return received >= ROUTES;
    },
    { timeoutMs: 30_000, what: 'the slow member to catch up' },
  );
  t.is(received, ROUTES);
  await waitFor(() => router.adjRibOut.groupCount === 1, {
    timeoutMs: 5000,
    what: 'the groups to merge again once both are idle',
  });
});
