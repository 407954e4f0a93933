// RFC 5880 §4.1 Control packets: golden bytes shared by encode and decode, checked against tshark's BFD
// dissector, and the §6.8.6 reception checks as a malformed corpus, each naming its discard reason.
import test from 'ava';
import { BfdState, decodeControlPacket, Diag, encodeControlPacket } from '../../src/bfd/packet.ts';
import type { ControlPacket, DiscardReason } from '../../src/bfd/packet.ts';
import { tsharkDecodeBfd } from '../helpers/tshark-bfd.ts';
import { DOWN_PACKET as BASE } from './packets.ts';

interface Golden {
  readonly name: string;
  readonly packet: ControlPacket;
  readonly hex: string;
}

const GOLDENS: Golden[] = [
  {
    name: 'Down, no remote yet',
    packet: BASE,
    hex: '20 40 03 18 00000001 00000000 000f4240 000186a0 00000000',
  },
  {
    name: 'Up with Poll, 100 ms',
    packet: {
      ...BASE,
      state: BfdState.Up,
      poll: true,
      myDiscriminator: 0x01020304,
      yourDiscriminator: 0xfedcba98,
      desiredMinTxIntervalUs: 100_000,
    },
    hex: '20 e0 03 18 01020304 fedcba98 000186a0 000186a0 00000000',
  },
  {
    name: 'Init with Final, C bit',
    packet: {
      ...BASE,
      state: BfdState.Init,
      final: true,
      controlPlaneIndependent: true,
      yourDiscriminator: 7,
      detectMult: 5,
    },
    hex: '20 98 05 18 00000001 00000007 000f4240 000186a0 00000000',
  },
  {
    name: 'Down after detection time expired',
    packet: {
      ...BASE,
      diag: Diag.ControlDetectionTimeExpired,
      detectMult: 255,
      requiredMinEchoRxIntervalUs: 50_000,
    },
    hex: '21 40 ff 18 00000001 00000000 000f4240 000186a0 0000c350',
  },
  {
    name: 'AdminDown',
    packet: { ...BASE, diag: Diag.AdministrativelyDown, state: BfdState.AdminDown, yourDiscriminator: 9 },
    hex: '27 00 03 18 00000001 00000009 000f4240 000186a0 00000000',
  },
];

const bytes = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

for (const g of GOLDENS) {
  test(`encode: ${g.name}`, (t) => {
    t.is(encodeControlPacket(g.packet).toString('hex'), bytes(g.hex).toString('hex'));
  });
  test(`decode: ${g.name}`, (t) => {
    t.deepEqual(decodeControlPacket(bytes(g.hex)), { ok: true, packet: g.packet });
  });
}

const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

test('tshark decodes every golden to the same fields', async (t) => {
  const decoded = await tsharkDecodeBfd(GOLDENS.map((g) => bytes(g.hex)));
  t.is(decoded.length, GOLDENS.length);
  GOLDENS.forEach(({ packet: p, name }, i) => {
    const f = decoded[i];
    const flag = (b: boolean): string => (b ? '1' : '0');
    t.deepEqual(
      {
        version: f['bfd.version'],
        diag: Number(f['bfd.diag']),
        state: Number(f['bfd.sta']),
        poll: f['bfd.flags.p'],
        final: f['bfd.flags.f'],
        c: f['bfd.flags.c'],
        a: f['bfd.flags.a'],
        d: f['bfd.flags.d'],
        m: f['bfd.flags.m'],
        detectMult: Number(f['bfd.detect_time_multiplier']),
        length: f['bfd.message_length'],
        my: f['bfd.my_discriminator'],
        your: f['bfd.your_discriminator'],
        tx: Number(f['bfd.desired_min_tx_interval']),
        rx: Number(f['bfd.required_min_rx_interval']),
        echo: Number(f['bfd.required_min_echo_interval']),
      },
      {
        version: '1',
        diag: p.diag,
        state: p.state,
        poll: flag(p.poll),
        final: flag(p.final),
        c: flag(p.controlPlaneIndependent),
        a: '0',
        d: flag(p.demand),
        m: '0',
        detectMult: p.detectMult,
        length: '24',
        my: hex32(p.myDiscriminator),
        your: hex32(p.yourDiscriminator),
        tx: p.desiredMinTxIntervalUs,
        rx: p.requiredMinRxIntervalUs,
        echo: p.requiredMinEchoRxIntervalUs,
      },
      name,
    );
  });
});

// §6.8.6, in the RFC's order: each case is a valid Up packet with one thing broken.
const UP = '20 c0 03 18 00000001 00000002 000186a0 000186a0 00000000';
const MALFORMED: [string, string, DiscardReason][] = [
  ['23 octets', UP.slice(0, -3), 'short packet'],
  ['version 0', '00' + UP.slice(2), 'bad version'],
  ['version 2', '40' + UP.slice(2), 'bad version'],
  ['length 23', UP.replace('03 18', '03 17'), 'bad length'],
  ['length 25 with A bit', '20 c4 03 19' + UP.slice(11), 'bad length'],
  ['length 32 in 24 octets', UP.replace('03 18', '03 20'), 'length exceeds payload'],
  [
    'A bit, no authentication configured',
    '20 c4 03 1a' + UP.slice(11) + ' 0102',
    'authentication not configured',
  ],
  ['detect mult 0', UP.replace('03 18', '00 18'), 'zero detect mult'],
  ['M bit', '20 c1' + UP.slice(5), 'multipoint set'],
  ['P and F', '20 f0' + UP.slice(5), 'poll and final both set'],
  ['my discriminator 0', UP.replace('00000001', '00000000'), 'zero my discriminator'],
  ['your discriminator 0 while Up', UP.replace('00000002', '00000000'), 'zero your discriminator'],
  [
    'your discriminator 0 while Init',
    '20 80' + UP.slice(5).replace('00000002', '00000000'),
    'zero your discriminator',
  ],
];

for (const [name, hex, reason] of MALFORMED) {
  test(`discarded (§6.8.6): ${name}`, (t) => {
    t.deepEqual(decodeControlPacket(bytes(hex)), { ok: false, reason });
  });
}

test('your discriminator 0 is accepted from a Down or AdminDown sender', (t) => {
  for (const sta of ['40', '00']) {
    const hex = '20 ' + sta + UP.slice(5).replace('00000002', '00000000');
    t.true(decodeControlPacket(bytes(hex)).ok);
  }
});

test('octets past Length are ignored', (t) => {
  const result = decodeControlPacket(bytes(UP + ' 0000'));
  t.true(result.ok);
});
