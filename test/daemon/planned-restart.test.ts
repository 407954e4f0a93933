// A planned graceful restart (RFC 4724 §4, RFC 8538 §5) as the router does it, over real sessions on
// loopback: closeForRestart() ends each session so that its peer keeps our routes — Cease/
// Administrative Reset, not a Hard Reset, where both sides set the N bit; no NOTIFICATION at all
// where Graceful Restart was negotiated without N; an ordinary Cease/Administrative Shutdown where
// the peer has no Graceful Restart and would drop the routes anyway — and the RIB hears nothing of
// it: no path is withdrawn, so no peer is sent a withdrawal on the way down.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { encodeUpdate } from '../../src/bgp/codec/update.ts';
import { CeaseSubcode, ErrorCode, MessageType, Origin } from '../../src/bgp/constants.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { Capability, CodecContext } from '../../src/bgp/types.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { waitFor } from '../helpers/netns.ts';
import { openFor, ScriptedPeer, STANDARD_CAPABILITIES } from '../helpers/scripted-peer.ts';
import { loopbackAddress, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;
const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false };

function gracefulRestart(notification: boolean): Capability {
  return {
    code: 64,
    restartState: false,
    notification,
    restartTimeSec: 120,
    families: [{ afi: 1, safi: 1, forwardingState: true }],
  };
}

/** The three kinds of peer: GR with the N bit, GR without it, no GR. */
const KINDS = {
  n: [...STANDARD_CAPABILITIES, gracefulRestart(true)],
  plain: [...STANDARD_CAPABILITIES, gracefulRestart(false)],
  none: STANDARD_CAPABILITIES,
} as const;
type Kind = keyof typeof KINDS;

async function established(t: ExecutionContext) {
  const routerAddress = loopbackAddress();
  const router = new Router({ routerId: parseIpv4('10.0.0.254'), localAs: AS, log: silentLogger });
  await router.listen(routerAddress, TEST_PORT);
  const peers = new Map<Kind, ScriptedPeer>();
  t.teardown(async () => {
    for (const p of peers.values()) p.close();
    await router.close();
  });
  let index = 1;
  for (const kind of Object.keys(KINDS) as Kind[]) {
    const address = loopbackAddress();
    router.addPeer({
      ...peerConfig({
        name: kind,
        remoteAddress: address,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive: true,
      }),
      routeReflectorClient: true,
    });
    const peer = await ScriptedPeer.connect(routerAddress, TEST_PORT, address);
    peers.set(kind, peer);
    peer.sendOpen(openFor(AS, parseIpv4(`10.0.0.${index}`), 90, [...KINDS[kind]]));
    await peer.nextOfType(MessageType.Open);
    peer.send(encodeKeepalive());
    await peer.nextOfType(MessageType.Keepalive);
    const attributes = { origin: Origin.Igp, asPath: [], nextHop: `192.0.2.${index}`, localPref: 100 };
    peer.send(encodeUpdate({ attributes, nlri: [parsePrefix(`10.${index}.0.0/24`) as Nlri] }, CTX));
    index += 1;
  }
  // Every client holds the other two routes.
  await waitFor(() => router.adjRibOut.idle && router.locRibSize() === 3, {
    timeoutMs: 5_000,
    intervalMs: 20,
    what: 'three routes learned and reflected',
  });
  return { router, peers };
}

/** Every message up to the close: what the session ended with. */
async function lastMessages(peer: ScriptedPeer): Promise<(string | number)[]> {
  const seen: (string | number)[] = [];
  for (;;) {
    const m = await peer.next(3_000);
    if (m === undefined) return seen;
    if (m instanceof BgpError) return [...seen, 'error'];
    if (m.type === MessageType.Notification) seen.push(`NOTIFICATION ${m.code}/${m.subcode}`);
    else if (m.type === MessageType.Update && m.withdrawnRoutes.length > 0) seen.push('withdrawal');
  }
}

test('closeForRestart: Administrative Reset with N, no NOTIFICATION without it, Administrative Shutdown without GR; nothing withdrawn', async (t) => {
  const { router, peers } = await established(t);
  // Whatever was sent before the restart is read off first.
  for (const peer of peers.values()) while ((await peer.next(300)) !== undefined);
  await router.closeForRestart('upgrade');
  const [n, plain, none] = await Promise.all(
    ['n', 'plain', 'none'].map((k) => lastMessages(peers.get(k as Kind)!)),
  );
  t.deepEqual(
    n,
    [`NOTIFICATION ${ErrorCode.Cease}/${CeaseSubcode.AdministrativeReset}`],
    'N: a plain Administrative Reset',
  );
  t.deepEqual(plain, [], 'GR without N: the connection closes with no NOTIFICATION (RFC 4724 §4)');
  t.deepEqual(
    none,
    [`NOTIFICATION ${ErrorCode.Cease}/${CeaseSubcode.AdministrativeShutdown}`],
    'no GR: as a stop',
  );
  for (const peer of peers.values()) t.true(await peer.waitClosed(3_000), 'every connection closed');
  t.is(router.locRibSize(), 3, 'the RIB was not told: no path withdrawn');
});

test('an ordinary close still sends Administrative Shutdown, as a Hard Reset where N was negotiated', async (t) => {
  const { router, peers } = await established(t);
  for (const peer of peers.values()) while ((await peer.next(300)) !== undefined);
  await router.close(CeaseSubcode.AdministrativeShutdown, 'stop');
  const [n, plain] = await Promise.all(['n', 'plain'].map((k) => lastMessages(peers.get(k as Kind)!)));
  t.deepEqual(n, [`NOTIFICATION ${ErrorCode.Cease}/${CeaseSubcode.HardReset}`]);
  t.deepEqual(plain, [`NOTIFICATION ${ErrorCode.Cease}/${CeaseSubcode.AdministrativeShutdown}`]);
});
