// RFC 5881 transport over loopback (no TTL decrement there): TTL 255 accepted, TTL 254 refused (§5),
// the sender's TTL is 255 and its source port in 49152–65535 (§4). IPv4 and IPv6.
import test from 'ava';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { BfdReceiver, BfdSender, SOURCE_PORT_MIN } from '../../src/bfd/transport.ts';
import type { ReceivedPacket } from '../../src/bfd/transport.ts';
import { encodeControlPacket } from '../../src/bfd/packet.ts';
import { DOWN_PACKET } from './packets.ts';
import { loadNative } from '../../src/lib/native.ts';
import type { NativeAddon } from '../../src/lib/native.ts';

const load = loadNative();
const native = load.ok ? load.native : (undefined as unknown as NativeAddon);
const nativeTest = load.ok ? test.serial : test.skip;

// A listening port of the test's own, retried a bounded number of times if taken.
function openReceiver(
  family: 4 | 6,
  deliver: (p: ReceivedPacket) => void,
): { receiver: BfdReceiver; port: number } {
  const local = family === 4 ? '127.0.0.1' : '::1';
  for (let i = 0; ; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    try {
      return { receiver: BfdReceiver.open(native, family, deliver, local, port), port };
    } catch (error) {
      if (i >= 20) throw error;
    }
  }
}

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}

for (const family of [4, 6] as const) {
  const local = family === 4 ? '127.0.0.1' : '::1';

  nativeTest(`IPv${family}: TTL 255 is accepted, TTL 254 refused (RFC 5881 §5)`, async (t) => {
    const got: ReceivedPacket[] = [];
    const { receiver, port } = openReceiver(family, (p) => got.push(p));
    const socket = createSocket(family === 4 ? 'udp4' : 'udp6');
    try {
      socket.bind(0, local);
      await once(socket, 'listening');
      for (const ttl of [254, 255]) {
        socket.setTTL(ttl);
        // dgram queues a send: wait for it to leave before the TTL changes again.
        await new Promise((sent) =>
          socket.send(encodeControlPacket({ ...DOWN_PACKET, myDiscriminator: ttl }), port, local, sent),
        );
      }
      await waitFor(() => receiver.counters.received >= 2);
      t.is(receiver.counters.badTtl, 1);
      t.is(got.length, 1);
      t.is(got[0].source.ttl, 255);
      t.is(got[0].source.address, local);
      t.deepEqual(got[0].result, { ok: true, packet: { ...DOWN_PACKET, myDiscriminator: 255 } });
    } finally {
      socket.close();
      receiver.close();
    }
  });

  nativeTest(
    `IPv${family}: BfdSender sends with TTL 255 from a port in 49152–65535 (RFC 5881 §4)`,
    async (t) => {
      const got: ReceivedPacket[] = [];
      const { receiver, port } = openReceiver(family, (p) => got.push(p));
      const sender = BfdSender.open(native, local, local, Math.random, port);
      try {
        t.true(sender.send(DOWN_PACKET));
        await waitFor(() => got.length >= 1);
        t.is(got.length, 1);
        t.is(got[0].source.ttl, 255);
        t.is(got[0].source.port, sender.sourcePort);
        t.true(sender.sourcePort >= SOURCE_PORT_MIN);
        t.deepEqual(got[0].result, { ok: true, packet: DOWN_PACKET });
      } finally {
        sender.close();
        receiver.close();
      }
    },
  );
}

nativeTest('a malformed datagram is counted and handed on with its discard reason', async (t) => {
  const got: ReceivedPacket[] = [];
  const { receiver, port } = openReceiver(4, (p) => got.push(p));
  const socket = createSocket('udp4');
  try {
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    socket.setTTL(255);
    socket.send(Buffer.from('20c0031800000001', 'hex'), port, '127.0.0.1');
    await waitFor(() => got.length >= 1);
    t.is(receiver.counters.malformed, 1);
    t.deepEqual(got[0].result, { ok: false, reason: 'short packet' });
  } finally {
    socket.close();
    receiver.close();
  }
});
