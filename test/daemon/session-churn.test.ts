// Nothing of a session outlives it in the RIB, however it ends: a peer that goes away while its
// initial table is still being read and applied (TCP reset, Cease, FIN), then comes straight back from
// the same address with an overlapping table; a second connection from the address of an Established
// session (RFC 4271 §6.8: the new one loses), and one that replaces it (RFC 4724 §4: the peer
// restarted). Every path and attribute set is gone once the sessions are. The tables are big enough
// that reading holds (rib/ingress-backlog.ts) while they are applied.
import test from 'ava';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { encodeNotification } from '../../src/bgp/codec/notification.ts';
import { encodeAttributeSet, UpdatePacker } from '../../src/bgp/codec/update-packer.ts';
import { CapabilityCode, CeaseSubcode, ErrorCode, MessageType, Origin } from '../../src/bgp/constants.ts';
import type { CodecContext, GracefulRestartCapability, PathAttributes } from '../../src/bgp/types.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { Afi, Safi } from '../../src/lib/family.ts';
import { ipv4Prefix } from '../../src/lib/prefix.ts';
import { waitFor } from '../helpers/netns.ts';
import { openFor, ScriptedPeer, STANDARD_CAPABILITIES } from '../helpers/scripted-peer.ts';
import { loopbackAddress, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;
const ROUTES = 20_000;
const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false };
const GRACEFUL_RESTART: GracefulRestartCapability = {
  code: CapabilityCode.GracefulRestart,
  restartState: false,
  notification: false,
  restartTimeSec: 120,
  families: [],
};

/** UPDATEs announcing /24s from `first` on, each route with an attribute set of its own. */
function table(first: number, count: number, nextHop: string): Buffer {
  const packer = new UpdatePacker(CTX);
  for (let k = first; k < first + count; k++) {
    const attributes: PathAttributes = {
      origin: Origin.Igp,
      asPath: [],
      nextHop,
      localPref: 100,
      multiExitDisc: k,
    };
    const prefix = ipv4Prefix(((30 << 24) + k * 256) >>> 0, 24);
    packer.announce(encodeAttributeSet(Afi.Ipv4, Safi.Unicast, attributes, CTX), [prefix]);
  }
  return packer.take();
}

async function reflector(t: { teardown(fn: () => unknown): void }) {
  const hold = setInterval(() => undefined, 1000);
  const address = loopbackAddress();
  const router = new Router({
    routerId: parseIpv4('10.0.0.254'),
    localAs: AS,
    // Small bounds, so reading holds and resumes while a table is applied.
    ingressBacklog: { holdAbove: 500, releaseAt: 100, exportHoldAbove: 5_000, exportReleaseAt: 1_000 },
  });
  await router.listen(address, TEST_PORT);
  t.teardown(async () => {
    clearInterval(hold);
    await router.close();
  });
  return { router, address };
}

function addPeer(router: Router, remoteAddress: string): void {
  router.addPeer({
    ...peerConfig({
      name: `peer-${remoteAddress}`,
      remoteAddress,
      localAs: AS,
      peerAs: AS,
      routerId: router.identity.routerId,
      passive: true,
      // Back to Active a second after each session: the peer comes straight back.
      timers: { idleHoldTimeSec: 1, maxIdleHoldTimeSec: 1 },
    }),
  });
}

/** A session from `remote` up to Established (our OPEN with `capabilities`). */
async function session(
  address: string,
  remote: string,
  capabilities = STANDARD_CAPABILITIES,
): Promise<ScriptedPeer> {
  const peer = await ScriptedPeer.connect(address, TEST_PORT, remote);
  peer.sendOpen(openFor(AS, parseIpv4(remote), 90, capabilities));
  await peer.nextOfType(MessageType.Open);
  peer.send(encodeKeepalive());
  return peer;
}

async function established(peer: ScriptedPeer): Promise<void> {
  const keepalive = await peer.nextOfType(MessageType.Keepalive);
  if (!keepalive) throw new Error('no KEEPALIVE: the session did not come up');
}

async function empty(router: Router, what: string): Promise<void> {
  await waitFor(() => router.locRib.pathCount === 0 && router.locRib.attrSets.size === 0, {
    timeoutMs: 20_000,
    what: `an empty RIB ${what} (${router.locRib.pathCount} paths left)`,
  });
}

test('a session that ends while its table is applied, then comes straight back, leaves nothing', async (t) => {
  const { router, address } = await reflector(t);
  const remote = loopbackAddress();
  addPeer(router, remote);
  const endings = ['reset', 'cease', 'end', 'reset', 'cease', 'end'] as const;
  // How many of the round's paths are in before it ends: early, halfway, most.
  const applied = [1, 10_000, 15_000, 15_000, 1, 10_000];
  for (const [round, ending] of endings.entries()) {
    await waitFor(() => router.getPeer(remote)?.state === 'Active', { timeoutMs: 10_000, what: 'Active' });
    const peer = await session(address, remote);
    await established(peer);
    // Overlapping tables: half of each round's prefixes are the last round's.
    peer.send(table(round * (ROUTES / 2), ROUTES, remote));
    // Gone after some of the table was applied, not all of it.
    await waitFor(() => router.locRib.pathCount >= applied[round], {
      timeoutMs: 10_000,
      intervalMs: 1,
      what: `${applied[round]} paths`,
    });
    if (ending === 'reset') peer.socket.resetAndDestroy();
    else if (ending === 'cease')
      peer.socket.end(
        encodeNotification({ code: ErrorCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown }),
      );
    else peer.socket.end();
    await peer.waitClosed();
  }
  await empty(router, 'after six sessions');
  t.pass();
});

test('RFC 4271 §6.8: a second connection from an Established peer loses; the first keeps its routes', async (t) => {
  const { router, address } = await reflector(t);
  const remote = loopbackAddress();
  addPeer(router, remote);
  const first = await session(address, remote);
  await established(first);
  first.send(table(0, 1_000, remote));
  await waitFor(() => router.locRib.pathCount === 1_000, { timeoutMs: 10_000, what: 'the first table' });
  const second = await session(address, remote);
  t.true(await second.waitClosed(), 'the new connection is closed');
  t.is(router.locRib.pathCount, 1_000);
  first.close();
  await empty(router, 'once the first session is gone');
});

test('RFC 4724 §4: a restarted peer replaces its session; the old paths go when the new one ends', async (t) => {
  const { router, address } = await reflector(t);
  const remote = loopbackAddress();
  addPeer(router, remote);
  const first = await session(address, remote);
  await established(first);
  first.send(table(0, 5_000, remote));
  await waitFor(() => router.locRib.pathCount > 0, { timeoutMs: 10_000, intervalMs: 1, what: 'paths' });
  const second = await session(address, remote, [...STANDARD_CAPABILITIES, GRACEFUL_RESTART]);
  await established(second);
  second.send(table(2_500, 5_000, remote));
  await waitFor(() => router.locRib.pathCount > 0 && first.closed, { timeoutMs: 10_000, what: 'the swap' });
  second.socket.resetAndDestroy();
  await empty(router, 'once the restarted session is gone too');
  t.pass();
});
