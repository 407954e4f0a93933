// Two BfdSessions tables talking over loopback (127.0.0.1 ↔ 127.0.0.2, a test port): they come Up,
// packets reach their session by Your Discriminator, a packet from an address with no session is
// discarded, removing a session tells the peer AdminDown (RFC 5880 §6.8.16), and new timers run a
// Poll Sequence (§6.8.3). Real sockets and the system clock, with timers short enough to stay fast.
import test from 'ava';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { BfdSessions } from '../../src/bfd/sessions.ts';
import type { BfdSessionChange } from '../../src/bfd/sessions.ts';
import { BfdState, Diag, encodeControlPacket } from '../../src/bfd/packet.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { loadNative } from '../../src/lib/native.ts';
import type { NativeAddon } from '../../src/lib/native.ts';
import { DOWN_PACKET } from './packets.ts';

const load = loadNative();
const native = load.ok ? load.native : (undefined as unknown as NativeAddon);
const nativeTest = load.ok ? test.serial : test.skip;

const FAST = {
  detectMult: 3,
  desiredMinTxIntervalUs: 20_000,
  requiredMinRxIntervalUs: 20_000,
  idleTxIntervalUs: 1_000_000,
};

async function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  return check();
}

function pair() {
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  const open = (local: string) =>
    new BfdSessions({ native, clock: systemClock, port, receiveAddress: { 4: local, 6: '::1' } });
  const a = open('127.0.0.1');
  const b = open('127.0.0.2');
  const changes: Record<'a' | 'b', BfdSessionChange[]> = { a: [], b: [] };
  a.changes$.subscribe((c) => changes.a.push(c));
  b.changes$.subscribe((c) => changes.b.push(c));
  a.add({ peerAddress: '127.0.0.2', localAddress: '127.0.0.1', interfaceName: 'lo', timers: FAST });
  b.add({ peerAddress: '127.0.0.1', localAddress: '127.0.0.2', interfaceName: 'lo', timers: FAST });
  const close = () => {
    a.close();
    b.close();
  };
  return { a, b, changes, port, close };
}

nativeTest('two tables come Up and agree on 20 ms; discriminators cross', async (t) => {
  const { a, b, close } = pair();
  try {
    t.true(await waitFor(() => a.get('127.0.0.2')?.state === BfdState.Up && !a.get('127.0.0.2')?.pollActive));
    const va = a.get('127.0.0.2')!;
    const vb = b.get('127.0.0.1')!;
    t.is(va.remoteDiscr, vb.localDiscr);
    t.is(vb.remoteDiscr, va.localDiscr);
    t.is(va.transmitIntervalUs, 20_000);
    t.is(va.detectionTimeUs, 60_000);
    t.true(va.packetsReceived > 0 && va.packetsSent > 0);
  } finally {
    close();
  }
});

nativeTest(
  'a packet from an address without a session, or for an unknown discriminator, is discarded',
  async (t) => {
    const { a, port, close } = pair();
    const socket = createSocket('udp4');
    try {
      await waitFor(() => a.get('127.0.0.2')?.state === BfdState.Up);
      socket.bind(0, '127.0.0.3');
      await once(socket, 'listening');
      socket.setTTL(255);
      const send = (packet: Buffer) => new Promise((sent) => socket.send(packet, port, '127.0.0.1', sent));
      await send(encodeControlPacket(DOWN_PACKET));
      const forged = {
        ...DOWN_PACKET,
        state: BfdState.Up,
        yourDiscriminator: a.get('127.0.0.2')!.localDiscr,
      };
      await send(encodeControlPacket(forged));
      t.true(await waitFor(() => a.discarded.get('no session') === 2));
      t.is(a.get('127.0.0.2')?.state, BfdState.Up);
    } finally {
      socket.close();
      close();
    }
  },
);

nativeTest(
  'removing a session sends AdminDown: the peer goes Down with diag 3, not a detection timeout',
  async (t) => {
    const { a, b, changes, close } = pair();
    try {
      await waitFor(() => b.get('127.0.0.1')?.state === BfdState.Up);
      a.remove('127.0.0.2');
      t.true(await waitFor(() => changes.b.at(-1)?.to === BfdState.Down));
      t.is(changes.b.at(-1)?.diag, Diag.NeighborSignaledSessionDown);
      t.is(b.get('127.0.0.1')?.remoteState, BfdState.AdminDown);
    } finally {
      close();
    }
  },
);

nativeTest('new timers on an Up session run a Poll Sequence and then apply (RFC 5880 §6.8.3)', async (t) => {
  const { a, b, changes, close } = pair();
  try {
    await waitFor(() => a.get('127.0.0.2')?.state === BfdState.Up && !a.get('127.0.0.2')?.pollActive);
    const slower = { ...FAST, desiredMinTxIntervalUs: 50_000, requiredMinRxIntervalUs: 40_000 };
    a.add({ peerAddress: '127.0.0.2', localAddress: '127.0.0.1', interfaceName: 'lo', timers: slower });
    t.true(a.get('127.0.0.2')!.pollActive);
    t.true(await waitFor(() => !a.get('127.0.0.2')!.pollActive));
    t.is(a.get('127.0.0.2')!.transmitIntervalUs, 50_000);
    // The peer now sends no faster than our new Required Min RX Interval.
    t.true(await waitFor(() => b.get('127.0.0.1')!.transmitIntervalUs === 40_000));
    t.false(
      changes.a.some((c) => c.to === BfdState.Down),
      'no flap',
    );
  } finally {
    close();
  }
});

// RFC 5883: multihop sessions meet on port 4784 (a test port here) and take packets of any TTL unless
// the session sets a minimum; the single-hop port has no receiver for them.
nativeTest(
  'multihop: sessions come Up on their own port; the TTL bound is the session’s (RFC 5883)',
  async (t) => {
    const port = 30_000 + Math.floor(Math.random() * 20_000);
    const multihopPort = port + 1;
    const open = (local: string) =>
      new BfdSessions({
        native,
        clock: systemClock,
        port,
        multihopPort,
        receiveAddress: { 4: local, 6: '::1' },
      });
    const a = open('127.0.0.1');
    const b = open('127.0.0.2');
    const spec = (peer: string, local: string, minTtl?: number) => ({
      peerAddress: peer,
      localAddress: local,
      interfaceName: '',
      timers: FAST,
      multihop: minTtl === undefined ? {} : { minTtl },
    });
    const socket = createSocket('udp4');
    try {
      a.add(spec('127.0.0.2', '127.0.0.1'));
      b.add(spec('127.0.0.1', '127.0.0.2'));
      t.true(await waitFor(() => a.get('127.0.0.2')?.state === BfdState.Up));
      t.true(a.get('127.0.0.2')!.multihop);
      // From 127.0.0.3 with TTL 64, as from a system a few hops away that sends with its default TTL.
      a.add(spec('127.0.0.3', '127.0.0.1'));
      socket.bind(0, '127.0.0.3');
      await once(socket, 'listening');
      socket.setTTL(64);
      const send = (p: number) =>
        new Promise((sent) => socket.send(encodeControlPacket(DOWN_PACKET), p, '127.0.0.1', sent));
      await send(multihopPort);
      t.true(await waitFor(() => a.get('127.0.0.3')?.packetsReceived === 1));
      a.add(spec('127.0.0.3', '127.0.0.1', 254));
      await send(multihopPort);
      t.true(await waitFor(() => a.badTtl === 1));
      t.is(a.get('127.0.0.3')?.packetsReceived, 1);
      await send(port);
      await new Promise((r) => setTimeout(r, 50));
      t.is(a.get('127.0.0.3')?.packetsReceived, 1, 'nothing listens on the single-hop port');
    } finally {
      socket.close();
      a.close();
      b.close();
    }
  },
);
