// Sessions over real TCP on loopback between two in-process Brindle speakers: establishment both ways,
// negotiation, collisions, shutdown with a communication, hold-timer expiry, unknown peers.
import net from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { PeerConfig } from '../../../src/bgp/session/peer-config.ts';
import { SessionState } from '../../../src/bgp/session/fsm.ts';
import { CeaseSubcode, ErrorCode, MessageType } from '../../../src/bgp/constants.ts';
import { encodeKeepalive } from '../../../src/bgp/codec/message.ts';
import { openFor, ScriptedPeer } from '../../helpers/scripted-peer.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../../src/lib/family.ts';
import { ManualClock } from '../../../src/lib/clock.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT, waitForState } from '../../helpers/session.ts';

test('iBGP: an active and a passive speaker reach Established and agree on what they negotiated', async (t) => {
  const a = await speaker();
  const b = await speaker();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const bSide = b.peerWith(a, { localAs: 64512, peerAs: 64512, passive: true });
  const bUp = nextEvent(bSide, 'established');
  const aSide = a.peerWith(b, { localAs: 64512, peerAs: 64512 });
  const [na, nb] = await Promise.all([nextEvent(aSide, 'established'), bUp]);
  for (const n of [na.negotiated, nb.negotiated]) {
    t.false(n.external);
    t.true(n.fourOctetAs && n.routeRefresh && n.enhancedRouteRefresh && n.extendedMessage);
    t.deepEqual([...n.families].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.deepEqual([...n.addPathSend].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.is(n.holdTimeSec, 240);
    t.is(n.keepaliveTimeSec, 80);
  }
  t.is(aSide.state, SessionState.Established);
  t.is(aSide.counters.messagesOut.get('open'), 1);
});

test('eBGP with a 4-octet AS and a lower hold time on one side', async (t) => {
  const a = await speaker();
  const b = await speaker();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const bSide = b.peerWith(a, { localAs: 4200000001, peerAs: 64512, passive: true, holdTimeSec: 9 });
  const bUp = nextEvent(bSide, 'established');
  const aSide = a.peerWith(b, { localAs: 64512, peerAs: 4200000001 });
  const [na] = await Promise.all([nextEvent(aSide, 'established'), bUp]);
  t.true(na.negotiated.external);
  t.is(na.negotiated.peerAs, 4200000001);
  t.is(na.negotiated.holdTimeSec, 9);
  t.is(na.negotiated.keepaliveTimeSec, 3);
});

test('a wrong peer AS is refused with OPEN Message Error/Bad Peer AS', async (t) => {
  const a = await speaker();
  const b = await speaker();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const bSide = b.peerWith(a, { localAs: 64512, peerAs: 64999, passive: true });
  const aSide = a.peerWith(b, { localAs: 64512, peerAs: 64512 });
  const [down] = await Promise.all([nextEvent(aSide, 'down'), nextEvent(bSide, 'down')]);
  t.like(down.reason, {
    kind: 'notification-received',
    notification: { code: ErrorCode.OpenMessage, subcode: 2 },
  });
  t.is(bSide.counters.notificationsSent.get('2/2'), 1);
});

test('both sides active at once: they settle on one session each, with no flap', async (t) => {
  const a = await speaker('10.0.0.1');
  const b = await speaker('10.0.0.2');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const aSide = a.peerWith(b, { localAs: 64512, peerAs: 64512 });
  const bSide = b.peerWith(a, { localAs: 64512, peerAs: 64512 });
  await Promise.all([nextEvent(aSide, 'established'), nextEvent(bSide, 'established')]);
  await new Promise((r) => setTimeout(r, 300));
  t.is(aSide.state, SessionState.Established);
  t.is(bSide.state, SessionState.Established);
  t.is(aSide.counters.establishedCount, 1);
  t.is(bSide.counters.establishedCount, 1);
  t.not(aSide.session?.direction, bSide.session?.direction, 'both ends kept the same TCP connection');
});

/**
 * RFC 4271 §6.8 with a scripted peer holding both connections: Brindle (identifier 10.0.0.5) connects
 * out while the peer connects in; the peer's identifier decides which connection survives.
 */
async function collide(peerIdentifier: number) {
  const a = await speaker('10.0.0.5');
  const remote = loopbackAddress();
  const accepted = ScriptedPeer.accept(remote, TEST_PORT);
  const aSide = a.peerWith(remote, { localAs: 64512, peerAs: 64512 });
  const outbound = await accepted; // Brindle's connection to us
  await outbound.nextOfType(MessageType.Open);
  const inbound = await ScriptedPeer.connect(a.address, TEST_PORT, remote);
  await inbound.nextOfType(MessageType.Open);
  outbound.sendOpen(openFor(64512, peerIdentifier));
  inbound.sendOpen(openFor(64512, peerIdentifier));
  const [onOutbound, onInbound] = await Promise.all([outbound.next(), inbound.next()]);
  const close = async () => {
    outbound.close();
    inbound.close();
    await a.close();
  };
  return { aSide, outbound, inbound, onOutbound, onInbound, close };
}

const COLLISION = {
  type: MessageType.Notification,
  code: ErrorCode.Cease,
  subcode: CeaseSubcode.ConnectionCollisionResolution,
};

test('collision, peer identifier higher: the connection the peer opened survives', async (t) => {
  const c = await collide(0x0a000009);
  t.teardown(c.close);
  t.like(c.onOutbound, COLLISION);
  t.like(c.onInbound, { type: MessageType.Keepalive });
  c.inbound.send(encodeKeepalive());
  await waitForState(c.aSide, SessionState.Established);
  t.is(c.aSide.session?.direction, 'inbound');
});

test('collision, peer identifier lower: the connection Brindle opened survives', async (t) => {
  const c = await collide(0x0a000001);
  t.teardown(c.close);
  t.like(c.onInbound, COLLISION);
  t.like(c.onOutbound, { type: MessageType.Keepalive });
  c.outbound.send(encodeKeepalive());
  await waitForState(c.aSide, SessionState.Established);
  t.is(c.aSide.session?.direction, 'outbound');
});

test('administrative shutdown sends Cease with the shutdown communication (RFC 9003)', async (t) => {
  const a = await speaker();
  const b = await speaker();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const bSide = b.peerWith(a, { localAs: 64512, peerAs: 64512, passive: true });
  const aSide = a.peerWith(b, { localAs: 64512, peerAs: 64512 });
  await Promise.all([nextEvent(aSide, 'established'), nextEvent(bSide, 'established')]);
  const down = nextEvent(bSide, 'down');
  aSide.stop(CeaseSubcode.AdministrativeShutdown, 'maintenance window ✈');
  t.like((await down).reason, {
    kind: 'notification-received',
    notification: { code: ErrorCode.Cease, subcode: 2, shutdownCommunication: 'maintenance window ✈' },
  });
  t.is(aSide.state, SessionState.Idle);
});

test('hold timer expiry: a peer that falls silent gets Hold Timer Expired (injected clock)', async (t) => {
  const clock = new ManualClock();
  const a = await speaker({ routerId: '10.0.0.1', clock });
  t.teardown(() => a.close());
  const silent = loopbackAddress();
  const aSide = a.peerWith(silent, { localAs: 64512, peerAs: 64512, passive: true });
  const peer = await ScriptedPeer.connect(a.address, TEST_PORT, silent);
  t.teardown(() => peer.close());
  peer.sendOpen(openFor(64512, 0x0a000009, 30));
  t.like(await peer.next(), { type: MessageType.Open });
  peer.send(encodeKeepalive());
  t.like(await peer.next(), { type: MessageType.Keepalive });
  await waitForState(aSide, SessionState.Established);
  const down = nextEvent(aSide, 'down');
  clock.advance(10_000); // one keepalive interval: A sends a KEEPALIVE, holds on
  t.like(await peer.next(), { type: MessageType.Keepalive });
  t.is(aSide.state, SessionState.Established);
  clock.advance(20_001);
  t.like((await down).reason, { kind: 'hold-timer-expired' });
  t.like(await peer.nextOfType(MessageType.Notification), { code: ErrorCode.HoldTimerExpired, subcode: 0 });
  t.true(await peer.waitClosed());
});

test('a connection from an unconfigured address is closed and counted', async (t) => {
  const a = await speaker();
  t.teardown(() => a.close());
  const stranger = loopbackAddress();
  const socket = net.connect({ host: a.address, port: TEST_PORT, localAddress: stranger });
  const closed = await new Promise<boolean>((resolve) => {
    socket.on('close', () => resolve(true));
    socket.on('error', () => undefined);
    setTimeout(() => resolve(false), 3000).unref();
  });
  t.true(closed);
  t.is(a.listener.rejectedUnknown, 1);
});

/** Both directions of one session, established or not after `ms`. */
async function sessionWith(
  t: ExecutionContext,
  a: Partial<PeerConfig>,
  b: Partial<PeerConfig>,
  ms: number,
): Promise<boolean> {
  const sa = await speaker();
  const sb = await speaker();
  t.teardown(() => Promise.all([sa.close(), sb.close()]));
  const pb = sb.peerWith(sa, { localAs: 64512, peerAs: 64512, passive: true, ...b });
  const pa = sa.peerWith(sb, { localAs: 64512, peerAs: 64512, ...a });
  if (b.md5Key) sb.listener.setMd5Key(sa.address, b.md5Key);
  if (b.ttlSecurityHops !== undefined) sb.listener.enableGtsm();
  try {
    await Promise.all([nextEvent(pa, 'established', ms), nextEvent(pb, 'established', ms)]);
    return true;
  } catch {
    return false;
  }
}

test('RFC 5082 GTSM: both ends at TTL 255 establish; a peer sending TTL 64 to a GTSM end does not', async (t) => {
  t.true(await sessionWith(t, { ttlSecurityHops: 1 }, { ttlSecurityHops: 1 }, 5000));
  t.false(await sessionWith(t, {}, { ttlSecurityHops: 1 }, 2500));
});

test('RFC 2385 TCP MD5: matching keys establish, a wrong key does not', async (t) => {
  t.true(await sessionWith(t, { md5Key: 'calico-bgp' }, { md5Key: 'calico-bgp' }, 5000));
  t.false(await sessionWith(t, { md5Key: 'wrong' }, { md5Key: 'calico-bgp' }, 2500));
});

test('single-hop eBGP: the TTL is set on the connection', async (t) => {
  t.true(await sessionWith(t, { ttl: 1, peerAs: 64999 }, { localAs: 64999 }, 5000));
});
