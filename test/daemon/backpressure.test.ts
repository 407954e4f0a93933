// Bounded work and memory against peers that send too much or read nothing: a reflector client that
// stops reading never holds back the others of its update group, even while routes churn without a
// pause, and it is dropped once its SendHoldTime passes without a byte taken (RFC 9687); a peer that
// floods UPDATEs is not read while the RIB is behind on it, then read again.
import test from 'ava';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { encodeAttributeSet, UpdatePacker } from '../../src/bgp/codec/update-packer.ts';
import { ErrorCode, MessageType } from '../../src/bgp/constants.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { localCapabilities, peerConfig } from '../../src/bgp/session/peer-config.ts';
import { Router } from '../../src/daemon/router.ts';
import type { IngressBacklogOptions } from '../../src/rib/ingress-backlog.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { Afi, Safi } from '../../src/lib/family.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce, RouteCollector, withdraw } from '../helpers/routes.ts';
import type { TestRoute } from '../helpers/routes.ts';
import { openFor, ScriptedPeer } from '../helpers/scripted-peer.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../helpers/session.ts';
import type { Speaker } from '../helpers/session.ts';

/**
 * The daemon's timers do not hold the event loop (lib/clock.ts: a daemon is kept alive by its
 * listeners, not by a pending timer), and a client that stopped reading holds nothing either; in a busy
 * parallel run this file's worker has been seen to find its event loop empty while a test still waited.
 * Each test holds the loop itself until it ends, so a wait that never completes fails at the test
 * timeout instead of ending the worker quietly.
 */
function holdEventLoop(t: { teardown(fn: () => unknown): void }): void {
  const hold = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(hold));
}

const AS = 64512;
/** Twelve communities per route: UPDATEs big enough to outgrow the kernel's socket buffers. */
const COMMUNITIES = Array.from({ length: 12 }, (_, i) => AS * 65536 + i);
const CHURN_ROUTES = 1000;
const CHURN_MS = 12_000;
const SEND_HOLD_TIME_SEC = 3;
/** The churning peer writes only while its own socket holds less than this (it obeys TCP). */
const SENDER_BACKLOG_BYTES = 1024 * 1024;

/** `count` /24s from `first`.0.0.0 on, each with its own MED from `med` on. */
function routes(from: Speaker, count: number, first: number, med = 0): TestRoute[] {
  return Array.from({ length: count }, (_, i) => ({
    prefix: `${first}.${i >> 8}.${i & 255}.0/24`,
    attributes: {
      origin: 0,
      asPath: [],
      nextHop: from.address,
      localPref: 100,
      multiExitDisc: med + i,
      communities: COMMUNITIES,
    },
  }));
}

async function reflector(t: { teardown(fn: () => unknown): void }, ingressBacklog?: IngressBacklogOptions) {
  holdEventLoop(t);
  const address = loopbackAddress();
  const router = new Router({
    routerId: parseIpv4('10.0.0.254'),
    localAs: AS,
    adjRibOut: { memberBacklogLimit: 256 * 1024, destsPerTurn: 2000 },
    ingressBacklog,
  });
  await router.listen(address, TEST_PORT);
  t.teardown(() => router.close());
  return { router, address };
}

function addClient(router: Router, name: string, remoteAddress: string, sendHoldTimeSec?: number): void {
  router.addPeer({
    ...peerConfig({
      name,
      remoteAddress,
      localAs: AS,
      peerAs: AS,
      routerId: router.identity.routerId,
      passive: true,
    }),
    sendHoldTimeSec,
    routeReflectorClient: true,
  });
}

/** A client that completes the OPEN exchange with the same capabilities as a speaker, then stops reading. */
async function nonReadingClient(address: string, remote: string): Promise<ScriptedPeer> {
  const client = await ScriptedPeer.connect(address, TEST_PORT, remote);
  const capabilities = localCapabilities(
    peerConfig({ name: 'stalled', remoteAddress: address, localAs: AS, peerAs: AS, routerId: 0x0a000002 }),
  );
  client.sendOpen(openFor(AS, 0x0a000002, 90, capabilities));
  await client.nextOfType(MessageType.Open);
  client.send(encodeKeepalive());
  await client.nextOfType(MessageType.Keepalive);
  client.socket.pause();
  return client;
}

/** Announces and withdraws `batch` from `peer` until `until()` or the deadline, obeying TCP. */
async function churn(peer: Peer, batch: TestRoute[], until: () => boolean, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  const prefixes = batch.map((r) => r.prefix);
  let rounds = 0;
  while (Date.now() < deadline && !until()) {
    const session = peer.session;
    if (session && session.bufferedBytes < SENDER_BACKLOG_BYTES) {
      announce(peer, batch, false);
      withdraw(peer, prefixes);
      rounds++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return rounds;
}

test.serial(
  'a client that does not read never stalls its group under continuous churn; it is dropped after its SendHoldTime',
  async (t) => {
    const { router, address } = await reflector(t);
    const reading = await speaker('10.0.0.1');
    const source = await speaker('10.0.0.3');
    const wellBehaved = await speaker('10.0.0.4');
    const stalledAddress = loopbackAddress();
    t.teardown(async () => {
      await reading.close();
      await source.close();
      await wellBehaved.close();
    });
    addClient(router, 'reading', reading.address);
    addClient(router, 'source', source.address);
    addClient(router, 'well-behaved', wellBehaved.address);
    addClient(router, 'stalled', stalledAddress, SEND_HOLD_TIME_SEC);
    const readingPeer = reading.peerWith(address, { localAs: AS, peerAs: AS });
    const sourcePeer = source.peerWith(address, { localAs: AS, peerAs: AS });
    const wellBehavedPeer = wellBehaved.peerWith(address, { localAs: AS, peerAs: AS });
    const received = new RouteCollector(readingPeer);
    const up = Promise.all(
      [readingPeer, sourcePeer, wellBehavedPeer].map((peer) => nextEvent(peer, 'established')),
    );
    const stalled = await nonReadingClient(address, stalledAddress);
    t.teardown(() => stalled.close());
    await up;
    const stalledPeer = router.getPeer(stalledAddress)!;
    const dropped = nextEvent(stalledPeer, 'down', 60_000);

    // The routes come and go without a pause; a route another peer announces meanwhile must still arrive.
    const batch = routes(source, CHURN_ROUTES, 100);
    const marker = routes(wellBehaved, 1, 200, 7)[0];
    let markerAt = 0;
    const churning = churn(
      sourcePeer,
      batch,
      () => markerAt > 0 && stalledPeer.state !== 'Established',
      CHURN_MS,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const announcedAt = Date.now();
    announce(wellBehavedPeer, [marker], false);
    await waitFor(() => received.routes.has(`${marker.prefix}#0`), {
      timeoutMs: 20_000,
      what: 'the marker route to reach the reading client during the churn',
    });
    markerAt = Date.now();
    t.log(`marker reached the reading client in ${markerAt - announcedAt} ms`);

    const down = await dropped;
    t.is(down.reason.kind, 'notification-sent');
    t.like(down.reason.kind === 'notification-sent' ? down.reason.notification : {}, {
      code: ErrorCode.SendHoldTimerExpired,
    });
    t.is(stalledPeer.counters.notificationsSent.get(`${ErrorCode.SendHoldTimerExpired}/0`), 1);
    t.log(`${await churning} announce/withdraw rounds`);
    t.is(readingPeer.state, 'Established', 'the reading client kept its session');
  },
);

test.serial('ingress from a flooding peer is paused while the RIB is behind, then resumed', async (t) => {
  // Bounds small enough that one burst passes them on a machine of any speed.
  const { router, address } = await reflector(t, {
    holdAbove: 2000,
    releaseAt: 500,
    exportHoldAbove: 40_000,
    exportReleaseAt: 10_000,
  });
  const flooder = await speaker('10.0.0.5');
  t.teardown(() => flooder.close());
  addClient(router, 'flooder', flooder.address);
  const peer = flooder.peerWith(address, { localAs: AS, peerAs: AS });
  await nextEvent(peer, 'established');
  const routed = router.getPeer(flooder.address)!;
  // 240,000 routes in one burst, about a thousand per UPDATE: more than the bound in one turn.
  const session = peer.session!;
  const packer = new UpdatePacker(session.encodeContext);
  const attributes = encodeAttributeSet(
    Afi.Ipv4,
    Safi.Unicast,
    { origin: 0, asPath: [], nextHop: flooder.address, localPref: 100 },
    session.encodeContext,
  );
  for (let block = 0; block < 8; block++)
    packer.announce(
      attributes,
      routes(flooder, 30_000, 20 + block).map((r) => parsePrefix(r.prefix) as Nlri),
    );
  const messages = packer.messageCount;
  session.sendUpdates(packer.take(), messages);
  let mostBacklog = 0;

  await waitFor(
    () => {
      mostBacklog = Math.max(mostBacklog, router.ingressBacklog.backlog(routed));
      return router.ingressBacklog.holds(routed) > 0;
    },
    { timeoutMs: 10_000, intervalMs: 5, what: 'reading to be held' },
  );
  t.log(`held at a backlog of ${mostBacklog}+ destinations`);
  await waitFor(() => router.locRib.pathCount === 240_000, {
    timeoutMs: 60_000,
    what: 'every route to arrive once reading resumes',
  });
  await waitFor(() => !router.ingressBacklog.isHeld(routed), {
    timeoutMs: 10_000,
    what: 'reading to resume',
  });
  t.log(`reading was held ${router.ingressBacklog.holds(routed)} times`);
  t.is(routed.state, 'Established', 'the flooding peer keeps its session: it is slowed, not dropped');
});
