// The Restarting Speaker's side of graceful restart (RFC 4724 §4.1) over real sessions on loopback:
// a router that restarted sets the Restart State and Forwarding State bits, takes its peers' routes
// at once but sends nothing — no UPDATE, no End-of-RIB — until every peer sent End-of-RIB or the
// Selection_Deferral_Timer fired (driven by hand here); then the whole table, then End-of-RIB. A
// family every peer sent End-of-RIB for goes out before the others (per AFI/SAFI).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { encodeEndOfRib, encodeUpdate, endOfRibFamily } from '../../src/bgp/codec/update.ts';
import { MessageType, Origin } from '../../src/bgp/constants.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type {
  Capability,
  CodecContext,
  GracefulRestartCapability,
  OpenMessage,
} from '../../src/bgp/types.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { SelectionDeferral } from '../../src/rib/selection-deferral.ts';
import { waitFor } from '../helpers/netns.ts';
import { openFor, ScriptedPeer, STANDARD_CAPABILITIES } from '../helpers/scripted-peer.ts';
import { loopbackAddress, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;
const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false };
const GR: Capability = {
  code: 64,
  restartState: false,
  notification: false,
  restartTimeSec: 120,
  families: [
    { afi: 1, safi: 1, forwardingState: true },
    { afi: 2, safi: 1, forwardingState: true },
  ],
};

interface Harness {
  readonly deferralClock: ManualClock;
  readonly deferral: SelectionDeferral;
  /** A client's session: OPEN with graceful restart, the router's OPEN back, then `prefix`. */
  connect(name: 'a' | 'b', prefix: string): Promise<{ peer: ScriptedPeer; open: OpenMessage }>;
}

async function harness(t: ExecutionContext): Promise<Harness> {
  const routerAddress = loopbackAddress();
  const addresses = { a: loopbackAddress(), b: loopbackAddress() };
  const deferralClock = new ManualClock();
  const deferral = new SelectionDeferral(deferralClock, silentLogger, 240);
  const router = new Router({ routerId: parseIpv4('10.0.0.254'), localAs: AS, selectionDeferral: deferral });
  await router.listen(routerAddress, TEST_PORT);
  const sessions: ScriptedPeer[] = [];
  t.teardown(async () => {
    for (const s of sessions) s.close();
    deferral.close();
    await router.close();
  });
  for (const [name, remoteAddress] of Object.entries(addresses)) {
    router.addPeer({
      ...peerConfig({
        name,
        remoteAddress,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive: true,
        gracefulRestartForwarding: true,
        gracefulRestartState: true,
      }),
      routeReflectorClient: true,
    });
  }
  deferral.configured();
  const connect = async (name: 'a' | 'b', prefix: string) => {
    const peer = await ScriptedPeer.connect(routerAddress, TEST_PORT, addresses[name]);
    sessions.push(peer);
    peer.sendOpen(
      openFor(AS, parseIpv4(name === 'a' ? '10.0.0.1' : '10.0.0.2'), 90, [...STANDARD_CAPABILITIES, GR]),
    );
    const open = (await peer.nextOfType(MessageType.Open)) as OpenMessage;
    peer.send(encodeKeepalive());
    await peer.nextOfType(MessageType.Keepalive);
    const nextHop = name === 'a' ? '192.0.2.1' : '192.0.2.2';
    const attributes = { origin: Origin.Igp, asPath: [], nextHop, localPref: 100 };
    peer.send(encodeUpdate({ attributes, nlri: [parsePrefix(prefix) as Nlri] }, CTX));
    return { peer, open };
  };
  return { deferralClock, deferral, connect };
}

/** UPDATEs received within `ms`: their prefixes, and End-of-RIB markers as "EoR afi". */
async function updatesWithin(peer: ScriptedPeer, ms: number): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await peer.next(Math.max(1, deadline - Date.now()));
    if (m === undefined || m instanceof BgpError) return seen;
    if (m.type !== MessageType.Update) continue;
    const eor = endOfRibFamily(m);
    if (eor) seen.push(`EoR ${eor.afi}`);
    else for (const n of m.nlri) seen.push(formatPrefix(n));
    if (seen.includes('EoR 1') && seen.includes('EoR 2')) return seen;
  }
}

const grOf = (open: OpenMessage) =>
  open.capabilities.find((c) => c.code === 64) as GracefulRestartCapability | undefined;

test('after a restart: R and F bits; nothing sent until every peer sent End-of-RIB; then routes, then End-of-RIB', async (t) => {
  const h = await harness(t);
  const a = await h.connect('a', '10.1.0.0/24');
  t.true(grOf(a.open)?.restartState, 'Restart State bit set (§4.1)');
  t.true(
    grOf(a.open)?.families.every((f) => f.forwardingState),
    'Forwarding State bit set for every family',
  );
  a.peer.send(encodeEndOfRib(1, 1, CTX));
  a.peer.send(encodeEndOfRib(2, 1, CTX));
  t.deepEqual(await updatesWithin(a.peer, 500), [], 'a gets nothing while b is awaited');

  const b = await h.connect('b', '10.2.0.0/24');
  b.peer.send(encodeEndOfRib(1, 1, CTX));
  // §4.1 per AFI/SAFI: every peer sent its IPv4 End-of-RIB, so IPv4 goes out; IPv6 waits for b.
  t.deepEqual(await updatesWithin(b.peer, 1_000), ['10.1.0.0/24', 'EoR 1'], 'b gets IPv4 only');
  t.deepEqual(await updatesWithin(a.peer, 1_000), ['10.2.0.0/24', 'EoR 1'], 'and so does a');
  t.true(h.deferral.active, 'b still owes its IPv6 End-of-RIB');

  b.peer.send(encodeEndOfRib(2, 1, CTX));
  const toA = await updatesWithin(a.peer, 1_500);
  const toB = await updatesWithin(b.peer, 1_500);
  t.false(h.deferral.active);
  t.deepEqual(toA, ['EoR 2'], 'then IPv6 (no route here) and its End-of-RIB; IPv4 is not sent again');
  t.deepEqual(toB, ['EoR 2']);
});

test('a peer that never comes back: the Selection_Deferral_Timer ends the wait; it later comes up without the R bit', async (t) => {
  const h = await harness(t);
  const a = await h.connect('a', '10.1.0.0/24');
  a.peer.send(encodeEndOfRib(1, 1, CTX));
  a.peer.send(encodeEndOfRib(2, 1, CTX));
  await waitFor(() => h.deferral.status.waitingFor.length === 1, {
    timeoutMs: 5_000,
    intervalMs: 20,
    what: "a's End-of-RIB to be counted (b, never up, is left)",
  });
  t.deepEqual(await updatesWithin(a.peer, 300), []);
  h.deferralClock.advance(240_000);
  t.is(h.deferral.status.reason, 'Selection_Deferral_Timer expired');
  t.deepEqual(
    (await updatesWithin(a.peer, 5_000)).sort(),
    ['EoR 1', 'EoR 2'],
    'End-of-RIB, its own route not reflected back',
  );
  const b = await h.connect('b', '10.2.0.0/24');
  t.false(grOf(b.open)?.restartState, 'a session that comes up after the wait: Restart State bit clear');
});

test('routes that arrive with the last End-of-RIB are decided before the dump: no End-of-RIB ahead of them', async (t) => {
  const h = await harness(t);
  const a = await h.connect('a', '10.1.0.0/24');
  a.peer.send(Buffer.concat([encodeEndOfRib(1, 1, CTX), encodeEndOfRib(2, 1, CTX)]));
  const b = await h.connect('b', '10.2.0.0/24');
  b.peer.send(Buffer.concat([encodeEndOfRib(1, 1, CTX), encodeEndOfRib(2, 1, CTX)]));
  const toA = await updatesWithin(a.peer, 5_000);
  t.deepEqual(toA, ['10.2.0.0/24', ...toA.slice(1)], "b's route before any End-of-RIB");
  t.deepEqual(toA.slice(1).sort(), ['EoR 1', 'EoR 2']);
});
