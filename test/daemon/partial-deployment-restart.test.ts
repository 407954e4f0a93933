// RFC 9494 §4.6 through the router, on loopback: a client with Long-Lived Graceful Restart goes away
// without a NOTIFICATION; after its restart time its route is long-lived stale. A client without
// LLGR configured for the partial deployment procedure (bgp.llgrPartialDeployment) is then sent the
// route again with NO_EXPORT and LOCAL_PREF 0; one without the setting has it withdrawn (§4.3).
import test from 'ava';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { encodeUpdate, endOfRibFamily } from '../../src/bgp/codec/update.ts';
import { MessageType, Origin, WellKnownCommunity } from '../../src/bgp/constants.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { Capability, CodecContext } from '../../src/bgp/types.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { openFor, ScriptedPeer, STANDARD_CAPABILITIES } from '../helpers/scripted-peer.ts';
import { loopbackAddress, TEST_PORT } from '../helpers/session.ts';

const AS = 64512;
const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false };
const GR: Capability = {
  code: 64,
  restartState: false,
  notification: false,
  restartTimeSec: 1,
  families: [{ afi: 1, safi: 1, forwardingState: true }],
};
const LLGR: Capability = {
  code: 71,
  families: [{ afi: 1, safi: 1, forwardingState: true, staleTimeSec: 60 }],
};

/** The next UPDATE but End-of-RIB within `ms`: its NLRI or withdrawals, LOCAL_PREF and communities. */
async function nextUpdate(peer: ScriptedPeer, ms: number) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await peer.next(Math.max(1, deadline - Date.now()));
    if (m === undefined || m instanceof BgpError) return undefined;
    if (m.type !== MessageType.Update || endOfRibFamily(m)) continue;
    return {
      announced: m.nlri.length,
      withdrawn: m.withdrawnRoutes.length,
      localPref: m.attributes.localPref,
      communities: m.attributes.communities ?? [],
    };
  }
}

test('§4.6: a long-lived stale route goes to a partial-deployment peer with NO_EXPORT and LOCAL_PREF 0, and is withdrawn from others', async (t) => {
  const routerAddress = loopbackAddress();
  const router = new Router({ routerId: parseIpv4('10.0.0.254'), localAs: AS, log: silentLogger });
  await router.listen(routerAddress, TEST_PORT);
  const sessions: ScriptedPeer[] = [];
  t.teardown(async () => {
    for (const s of sessions) s.close();
    await router.close();
  });
  const connect = async (name: string, id: number, partial: boolean, caps: Capability[]) => {
    const address = loopbackAddress();
    router.addPeer({
      ...peerConfig({
        name,
        remoteAddress: address,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive: true,
        longLivedStaleTimeSec: 60,
      }),
      routeReflectorClient: true,
      llgrPartialDeployment: partial,
    });
    const peer = await ScriptedPeer.connect(routerAddress, TEST_PORT, address);
    sessions.push(peer);
    peer.sendOpen(openFor(AS, parseIpv4(`10.0.0.${id}`), 90, [...STANDARD_CAPABILITIES, ...caps]));
    await peer.nextOfType(MessageType.Open);
    peer.send(encodeKeepalive());
    await peer.nextOfType(MessageType.Keepalive);
    return peer;
  };
  const source = await connect('source', 1, false, [GR, LLGR]);
  const partial = await connect('partial', 2, true, [GR]);
  const plain = await connect('plain', 3, false, [GR]);
  const attributes = { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', localPref: 100 };
  source.send(encodeUpdate({ attributes, nlri: [parsePrefix('10.1.0.0/24') as Nlri] }, CTX));
  t.like(await nextUpdate(partial, 5_000), { announced: 1, localPref: 100, communities: [] });
  t.like(await nextUpdate(plain, 5_000), { announced: 1, localPref: 100 });

  source.close(); // gone without a NOTIFICATION: stale for 1 s, then long-lived stale (§4.2)
  const depreferenced = await nextUpdate(partial, 5_000);
  t.like(depreferenced, { announced: 1, localPref: 0 });
  t.deepEqual(depreferenced?.communities, [WellKnownCommunity.LlgrStale, WellKnownCommunity.NoExport]);
  t.like(
    await nextUpdate(plain, 5_000),
    { announced: 0, withdrawn: 1 },
    '§4.3: withdrawn from a peer without LLGR',
  );
});
