// Long-lived graceful restart (RFC 9494) and graceful restart after a NOTIFICATION (RFC 8538) against
// a real GoBGP 3.10 route reflector in a namespace. Brindle is the reflector's client, as a node is:
// - the reflector is SIGKILLed: Brindle keeps its routes through the restart time, then as LLGR_STALE
//   past it, and removes them when the long-lived stale time ends;
// - the reflector freezes (SIGSTOP): Brindle's hold timer expires and it sends Hold Timer Expired;
//   with the N bit negotiated the routes stay stale, without it they go at once.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { WellKnownCommunity } from '../../src/bgp/constants.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { PeerConfig } from '../../src/bgp/session/peer-config.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { IPV4_UNICAST } from '../../src/lib/family.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { interopNetwork, withDiagnostics } from '../helpers/interop.ts';
import type { InteropNetwork } from '../helpers/interop.ts';
import { sleep, waitFor } from '../helpers/netns.ts';
import { startGobgp } from '../helpers/peers.ts';
import type { GobgpHandle, PeerNeighbor } from '../helpers/peers.ts';
import { nextEvent } from '../helpers/session.ts';

const NET_INDEX = 47;
const AS = 64512;
const ROUTE = '198.51.100.0/24';
const PREFIX = parsePrefix(ROUTE) as Nlri;

let net: InteropNetwork | undefined;
test.before(async () => {
  net = await interopNetwork(NET_INDEX, 'llgr');
});
test.after.always(async () => {
  await net?.cleanup.run();
});

interface Setup {
  readonly gobgp: GobgpHandle;
  readonly router: Router;
}

/**
 * GoBGP as the route reflector (passive, Brindle its client) announcing ROUTE, and a Brindle Router
 * with `brindle` settings, Established with it and holding the route.
 */
async function reflectorAndClient(
  t: ExecutionContext,
  neighbor: Partial<PeerNeighbor>,
  brindle: Partial<PeerConfig>,
): Promise<Setup> {
  const n = net!;
  const started: { gobgp?: GobgpHandle; router?: Router } = {};
  t.teardown(async () => {
    await started.router?.close();
    await started.gobgp?.stop();
  });
  const gobgp = (started.gobgp = await startGobgp({
    netns: n.netns,
    routerId: '10.255.0.2',
    localAddress: n.peer4,
    asn: AS,
    neighbors: [
      {
        address: n.brindle4,
        asn: AS,
        passive: true,
        rrClient: true,
        families: ['ipv4'],
        gracefulRestart: true,
        ...neighbor,
      },
    ],
    staticRoutes: [{ prefix: ROUTE }],
  }));
  const router = (started.router = new Router({ routerId: parseIpv4('10.255.0.1'), localAs: AS }));
  const peer = router.addPeer(
    peerConfig({
      name: 'reflector',
      remoteAddress: n.peer4,
      localAddress: n.brindle4,
      localAs: AS,
      peerAs: AS,
      routerId: parseIpv4('10.255.0.1'),
      families: [IPV4_UNICAST],
      timers: { connectDelayTimeSec: 0, connectRetryTimeSec: 1, idleHoldTimeSec: 1 },
      ...brindle,
    }),
  );
  await withDiagnostics(
    t,
    () => gobgp.daemon.output(),
    async () => {
      await nextEvent(peer, 'established', 30_000);
      await waitFor(() => router.locRib.get(PREFIX)?.best, {
        timeoutMs: 15_000,
        what: 'the route from GoBGP',
      });
    },
  );
  return { gobgp, router };
}

/** Brindle's route to ROUTE: absent, or present and whether it carries LLGR_STALE. */
function routeState(router: Router): 'absent' | 'stale-free' | 'llgr-stale' {
  const best = router.locRib.get(PREFIX)?.best;
  if (!best) return 'absent';
  return best.attrs.hasCommunity(WellKnownCommunity.LlgrStale) ? 'llgr-stale' : 'stale-free';
}

test.serial(
  'the reflector is SIGKILLed: its routes stay past the restart time as LLGR_STALE, then go',
  async (t) => {
    const restartTimeSec = 3;
    const staleTimeSec = 12;
    const { gobgp, router } = await reflectorAndClient(
      t,
      { restartTime: restartTimeSec, gracefulNotification: true, longLivedStaleTime: staleTimeSec },
      { longLivedStaleTimeSec: 3600 },
    );
    const peer = router.getPeer(net!.peer4)!;
    t.true(peer.negotiated?.longLivedGracefulRestart, 'LLGR negotiated');
    t.true(peer.negotiated?.gracefulNotification, 'N bit negotiated');

    const down = nextEvent(peer, 'down', 10_000);
    process.kill(gobgp.daemon.pid, 'SIGKILL');
    const killedAt = Date.now();
    t.is((await down).reason.kind, 'connection-lost');
    // RFC 4724: within the restart time the route is kept and still preferred as it was.
    t.is(routeState(router), 'stale-free');

    // RFC 9494 §4.2: after the restart time, kept as LLGR_STALE.
    await waitFor(() => routeState(router) === 'llgr-stale' || undefined, {
      timeoutMs: (restartTimeSec + 5) * 1000,
      what: 'the route to become LLGR-stale',
    });
    const llgrAfterSec = (Date.now() - killedAt) / 1000;
    t.true(llgrAfterSec >= restartTimeSec - 0.1, `LLGR-stale after ${llgrAfterSec} s`);
    await sleep(3000);
    t.is(routeState(router), 'llgr-stale', 'still there, past the restart time');

    // The long-lived stale time (GoBGP's 12 s, below Brindle's own 3600 s) ends it.
    await waitFor(() => routeState(router) === 'absent' || undefined, {
      timeoutMs: (staleTimeSec + 10) * 1000,
      what: 'the route to go at the end of the long-lived stale time',
    });
    const goneAfterSec = (Date.now() - killedAt) / 1000;
    t.true(goneAfterSec >= restartTimeSec + staleTimeSec - 0.5, `gone after ${goneAfterSec} s`);
    t.log(`LLGR-stale ${llgrAfterSec.toFixed(1)} s after the kill, gone after ${goneAfterSec.toFixed(1)} s`);
  },
);

/** Freezes gobgpd until the test ends; resolves with Brindle's reason for the session going down. */
async function freeze(t: ExecutionContext, { gobgp, router }: Setup) {
  const down = nextEvent(router.getPeer(net!.peer4)!, 'down', 15_000);
  process.kill(gobgp.daemon.pid, 'SIGSTOP');
  t.teardown(() => {
    if (gobgp.daemon.running()) process.kill(gobgp.daemon.pid, 'SIGCONT');
  });
  return (await down).reason;
}

test.serial('RFC 8538: a hold-timer expiry with the N bit keeps the routes stale', async (t) => {
  const setup = await reflectorAndClient(
    t,
    { restartTime: 60, gracefulNotification: true, holdTime: 3 },
    { holdTimeSec: 3 },
  );
  t.true(setup.router.getPeer(net!.peer4)!.negotiated?.gracefulNotification);
  const reason = await freeze(t, setup);
  t.is(reason.kind, 'hold-timer-expired');
  await sleep(2000);
  t.is(routeState(setup.router), 'stale-free', 'kept for the restart time');
});

test.serial('without the N bit, the same hold-timer expiry removes the routes at once', async (t) => {
  const setup = await reflectorAndClient(
    t,
    { restartTime: 60, gracefulNotification: false, holdTime: 3 },
    { holdTimeSec: 3 },
  );
  t.false(setup.router.getPeer(net!.peer4)!.negotiated?.gracefulNotification);
  const reason = await freeze(t, setup);
  t.is(reason.kind, 'hold-timer-expired');
  await waitFor(() => routeState(setup.router) === 'absent' || undefined, {
    timeoutMs: 5000,
    what: 'the route to go',
  });
  t.pass();
});
