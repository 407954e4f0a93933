// The Receiving Speaker's side of graceful restart (RFC 4724 §4.2) over real sessions on loopback: a
// hand-driven peer announcing the Graceful Restart capability "crashes" (its TCP connection is reset,
// no NOTIFICATION), and what the Router does with its routes is read from a second peer, a
// route-reflector client that sees every change the Loc-RIB makes.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { encodeNotification } from '../../src/bgp/codec/notification.ts';
import { encodeEndOfRib, encodeUpdate } from '../../src/bgp/codec/update.ts';
import { CeaseSubcode, ErrorCode, MessageType, Origin } from '../../src/bgp/constants.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { Capability, CodecContext } from '../../src/bgp/types.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { sleep, waitFor } from '../helpers/netns.ts';
import { RouteCollector } from '../helpers/routes.ts';
import { openFor, ScriptedPeer, STANDARD_CAPABILITIES } from '../helpers/scripted-peer.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;
const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false };
const RESTARTER_ID = parseIpv4('10.0.0.7');
const PREFIXES = ['10.7.1.0/24', '10.7.2.0/24'];

interface GrOptions {
  readonly restartTimeSec: number;
  readonly forwardingState: boolean;
  readonly restartState?: boolean;
}

function capabilities(gr: GrOptions | undefined): Capability[] {
  if (!gr) return STANDARD_CAPABILITIES;
  return [
    ...STANDARD_CAPABILITIES,
    {
      code: 64,
      restartState: gr.restartState ?? false,
      notification: false,
      restartTimeSec: gr.restartTimeSec,
      families: [{ afi: 1, safi: 1, forwardingState: gr.forwardingState }],
    },
  ];
}

interface Harness {
  readonly routerAddress: string;
  readonly restarterAddress: string;
  readonly observed: RouteCollector;
  /** A session from the restarting peer: OPEN with `gr`, then `prefixes` and End-of-RIB. */
  connect(gr: GrOptions | undefined, prefixes: readonly string[], endOfRib?: boolean): Promise<ScriptedPeer>;
}

async function harness(t: ExecutionContext, stalePathTimeSec?: number): Promise<Harness> {
  const routerAddress = loopbackAddress();
  const restarterAddress = loopbackAddress();
  const router = new Router({ routerId: parseIpv4('10.0.0.254'), localAs: AS, stalePathTimeSec });
  await router.listen(routerAddress, TEST_PORT);
  const client = await speaker('10.0.0.1');
  const sessions: ScriptedPeer[] = [];
  t.teardown(async () => {
    for (const s of sessions) s.close();
    await client.close();
    await router.close();
  });
  const routerPeer = (name: string, remoteAddress: string) => ({
    ...peerConfig({
      name,
      remoteAddress,
      localAs: AS,
      peerAs: AS,
      routerId: router.identity.routerId,
      passive: true,
      timers: { idleHoldTimeSec: 0, connectRetryTimeSec: 1 },
    }),
    routeReflectorClient: true,
  });
  router.addPeer(routerPeer('client', client.address));
  router.addPeer(routerPeer('restarter', restarterAddress));
  const clientPeer = client.peerWith(routerAddress, { localAs: AS, peerAs: AS });
  const observed = new RouteCollector(clientPeer);
  await nextEvent(clientPeer, 'established');

  /** Like a restarting speaker: connects again until the router answers (it refuses while Idle). */
  const handshake = async (gr: GrOptions | undefined): Promise<ScriptedPeer | false> => {
    const session = await ScriptedPeer.connect(routerAddress, TEST_PORT, restarterAddress).catch(
      () => false as const,
    );
    if (!session) return false;
    sessions.push(session);
    session.sendOpen(openFor(AS, RESTARTER_ID, 90, capabilities(gr)));
    if (await session.nextOfType(MessageType.Open, 2_000)) return session;
    session.close();
    return false;
  };
  const connect = async (gr: GrOptions | undefined, prefixes: readonly string[], endOfRib = true) => {
    const session = await waitFor(() => handshake(gr), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'the router to accept the restarted peer',
    });
    session.send(encodeKeepalive());
    await session.nextOfType(MessageType.Keepalive);
    if (prefixes.length > 0)
      session.send(
        encodeUpdate(
          {
            attributes: { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.7', localPref: 100 },
            nlri: prefixes.map((p) => parsePrefix(p) as Nlri),
          },
          CTX,
        ),
      );
    if (endOfRib) session.send(encodeEndOfRib(1, 1, CTX));
    return session;
  };
  return { routerAddress, restarterAddress, observed, connect };
}

const has = (observed: RouteCollector, prefixes: readonly string[]) =>
  JSON.stringify(observed.prefixes()) === JSON.stringify([...prefixes].sort());

async function waitRoutes(observed: RouteCollector, prefixes: readonly string[], what: string) {
  await waitFor(() => has(observed, prefixes), { timeoutMs: 10_000, intervalMs: 20, what });
}

test('a peer that restarts keeps its routes while away; its End-of-RIB removes what it did not re-announce', async (t) => {
  const h = await harness(t);
  const gr = { restartTimeSec: 60, forwardingState: true };
  const first = await h.connect(gr, PREFIXES);
  await waitRoutes(h.observed, PREFIXES, 'the client to get the routes');

  first.socket.resetAndDestroy(); // a crash: TCP reset, no NOTIFICATION
  await sleep(1_500);
  t.deepEqual(h.observed.prefixes(), PREFIXES, 'nothing withdrawn while the peer restarts');

  const second = await h.connect({ ...gr, restartState: true }, [PREFIXES[0]], false);
  await sleep(500);
  t.deepEqual(h.observed.prefixes(), PREFIXES, 'stale routes stay until End-of-RIB');
  second.send(encodeEndOfRib(1, 1, CTX));
  await waitRoutes(h.observed, [PREFIXES[0]], 'the route not re-announced to go at End-of-RIB');
  t.pass();
});

test('the stale routes go when the peer is not back within its restart time', async (t) => {
  const h = await harness(t);
  const first = await h.connect({ restartTimeSec: 2, forwardingState: true }, PREFIXES);
  await waitRoutes(h.observed, PREFIXES, 'the client to get the routes');
  const lostAt = Date.now();
  first.socket.resetAndDestroy();
  await sleep(1_000);
  t.deepEqual(h.observed.prefixes(), PREFIXES, 'kept within the restart time');
  await waitRoutes(h.observed, [], 'the routes to go after the restart time');
  t.true(Date.now() - lostAt >= 2_000, 'not before the restart time');
});

test('the stale routes go after the stale-path time when the restarted peer sends no End-of-RIB', async (t) => {
  const h = await harness(t, 2);
  const first = await h.connect({ restartTimeSec: 60, forwardingState: true }, PREFIXES);
  await waitRoutes(h.observed, PREFIXES, 'the client to get the routes');
  first.socket.resetAndDestroy();
  await h.connect({ restartTimeSec: 60, forwardingState: true }, [PREFIXES[0]], false);
  await sleep(1_000);
  t.deepEqual(h.observed.prefixes(), PREFIXES, 'kept while waiting for End-of-RIB');
  await waitRoutes(h.observed, [PREFIXES[0]], 'the stale route to go after the stale-path time');
  await sleep(500);
  t.deepEqual(h.observed.prefixes(), [PREFIXES[0]], 'the re-announced route stays');
});

test('a peer without the capability, or back without preserved forwarding state, loses its routes at once', async (t) => {
  const h = await harness(t);
  const first = await h.connect(undefined, PREFIXES);
  await waitRoutes(h.observed, PREFIXES, 'the client to get the routes');
  first.socket.resetAndDestroy();
  await waitRoutes(h.observed, [], 'no capability: the routes to go when the session is lost');

  const second = await h.connect({ restartTimeSec: 60, forwardingState: true }, PREFIXES);
  await waitRoutes(h.observed, PREFIXES, 'the client to get the routes again');
  second.socket.resetAndDestroy();
  await sleep(500);
  t.deepEqual(h.observed.prefixes(), PREFIXES, 'kept while the peer restarts');
  await h.connect({ restartTimeSec: 60, forwardingState: false }, [], false);
  await waitRoutes(h.observed, [], 'F bit clear: the stale routes to go as the session comes back');
  t.pass();
});

test('a session ended by a NOTIFICATION is not a restart: the routes go at once', async (t) => {
  const h = await harness(t);
  const first = await h.connect({ restartTimeSec: 60, forwardingState: true }, PREFIXES);
  await waitRoutes(h.observed, PREFIXES, 'the client to get the routes');
  first.send(encodeNotification({ code: ErrorCode.Cease, subcode: CeaseSubcode.AdministrativeReset }));
  first.socket.end();
  await waitRoutes(h.observed, [], 'the routes to go after a Cease');
  t.pass();
});
