// A hand-written misbehaving peer on loopback: each malformed OPEN, header or UPDATE gets exactly the
// NOTIFICATION the RFCs call for — or, for RFC 7606 treat-as-withdraw, no NOTIFICATION and a session
// that stays up. Nothing a peer sends can throw out of the session.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { encodeKeepalive } from '../../../src/bgp/codec/message.ts';
import { encodeOpen } from '../../../src/bgp/codec/open.ts';
import { ErrorAction } from '../../../src/bgp/errors.ts';
import { MessageType } from '../../../src/bgp/constants.ts';
import type { NotificationMessage } from '../../../src/bgp/types.ts';
import { SessionState } from '../../../src/bgp/session/fsm.ts';
import type { Peer } from '../../../src/bgp/session/peer.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT, waitForState } from '../../helpers/session.ts';
import type { Speaker } from '../../helpers/session.ts';
import { openFor, ScriptedPeer } from '../../helpers/scripted-peer.ts';
import { attr, AS_PATH_4, message, NEXT_HOP, ORIGIN_IGP, update } from '../codec/seed-messages.ts';

interface Setup {
  brindle: Speaker;
  peer: Peer;
  script: ScriptedPeer;
}

/** Brindle (passive, AS 64512) and a scripted peer connected to it, with Brindle's OPEN read. */
async function connect(t: ExecutionContext): Promise<Setup> {
  const brindle = await speaker('10.0.0.1');
  const remote = loopbackAddress();
  const peer = brindle.peerWith(remote, { localAs: 64512, peerAs: 64512, passive: true });
  const script = await ScriptedPeer.connect(brindle.address, TEST_PORT, remote);
  t.teardown(async () => {
    script.close();
    await brindle.close();
  });
  const open = await script.next();
  if (!open || !('type' in open) || open.type !== MessageType.Open) throw new Error('no OPEN from Brindle');
  return { brindle, peer, script };
}

/** Connects and completes the handshake: the session is Established. */
async function establish(t: ExecutionContext): Promise<Setup> {
  const s = await connect(t);
  s.script.sendOpen(openFor(64512, 0x0a000002));
  s.script.send(encodeKeepalive());
  await s.script.nextOfType(MessageType.Keepalive);
  await waitForState(s.peer, SessionState.Established);
  return s;
}

async function expectNotification(
  t: ExecutionContext,
  s: Setup,
  code: number,
  subcode: number,
  data?: string,
) {
  const n = (await s.script.nextOfType(MessageType.Notification)) as NotificationMessage | undefined;
  t.truthy(n, `expected NOTIFICATION ${code}/${subcode}`);
  t.is(n?.code, code);
  t.is(n?.subcode, subcode);
  if (data !== undefined) t.is(Buffer.from(n?.data ?? []).toString('hex'), data);
  t.true(await s.script.waitClosed(), 'Brindle closed the connection');
  await waitForState(s.peer, SessionState.Idle);
  t.is(s.peer.counters.notificationsSent.get(`${code}/${subcode}`), 1);
}

const good = openFor(64512, 0x0a000002);

const openCases: [string, Buffer, number, number, string?][] = [
  ['version 3', encodeOpen({ ...good, version: 3 }), 2, 1, '0004'],
  ['hold time 2', encodeOpen({ ...good, holdTimeSec: 2 }), 2, 6],
  ['BGP Identifier 0', encodeOpen({ ...good, bgpIdentifier: 0 }), 2, 3],
  ['our own BGP Identifier on iBGP', encodeOpen({ ...good, bgpIdentifier: 0x0a000001 }), 2, 3],
  ['wrong peer AS', encodeOpen(openFor(64999, 0x0a000002)), 2, 2],
  [
    'an Authentication optional parameter',
    encodeOpen({ ...good, unsupportedParameters: [{ type: 1, value: Uint8Array.of(0) }] }),
    2,
    4,
  ],
  [
    'a capability overrunning its parameter',
    message(1, '04 fc00 005a 0a000002 08 02 06 01 09 00010001'),
    2,
    0,
  ],
  [
    'no address family in common',
    encodeOpen(
      openFor(64512, 0x0a000002, 90, [
        { code: 1, afi: 25, safi: 65 },
        { code: 65, asn: 64512 },
      ]),
    ),
    2,
    7,
  ],
];

for (const [name, bytes, code, subcode, data] of openCases) {
  test(`OPEN with ${name} → NOTIFICATION ${code}/${subcode}`, async (t) => {
    const s = await connect(t);
    s.script.send(bytes);
    await expectNotification(t, s, code, subcode, data);
  });
}

const headerCases: [string, Buffer, number, number, string?][] = [
  ['a broken marker', Buffer.from(`${'ff'.repeat(15)}00001304`, 'hex'), 1, 1],
  ['length 18', Buffer.from(`${'ff'.repeat(16)}001204`, 'hex'), 1, 2, '0012'],
  ['a KEEPALIVE of 20 octets', Buffer.from(`${'ff'.repeat(16)}00140400`, 'hex'), 1, 2, '0014'],
  ['message type 9', Buffer.from(`${'ff'.repeat(16)}001309`, 'hex'), 1, 3, '09'],
];

for (const [name, bytes, code, subcode, data] of headerCases) {
  test(`header with ${name} → NOTIFICATION ${code}/${subcode}`, async (t) => {
    const s = await establish(t);
    s.script.send(bytes);
    await expectNotification(t, s, code, subcode, data);
  });
}

test('an UPDATE in OpenSent is a Finite State Machine Error 5/1', async (t) => {
  const s = await connect(t);
  s.script.send(update('', '', ''));
  await expectNotification(t, s, 5, 1, '02');
});

test('a second OPEN in Established is a Finite State Machine Error 5/3', async (t) => {
  const s = await establish(t);
  s.script.sendOpen(good);
  await expectNotification(t, s, 5, 3, '01');
});

const updateResets: [string, Buffer, number, number][] = [
  [
    'withdrawn routes length overrunning the message',
    Buffer.from(update('', '', '')).fill(0xff, 19, 21),
    3,
    1,
  ],
  ['an NLRI prefix length of 33', update('', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP, '21 0a000000 00'), 3, 10],
  [
    'MP_REACH_NLRI twice',
    update(
      '',
      attr(0x90, 14, '0001 01 04 c0000201 00 18 0a0001') +
        attr(0x90, 14, '0001 01 04 c0000201 00 18 0a0002') +
        ORIGIN_IGP +
        AS_PATH_4,
      '',
    ),
    3,
    1,
  ],
  [
    'an unrecognized well-known attribute',
    update('', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP + attr(0x40, 99, '00'), '180a0001'),
    3,
    2,
  ],
  // RFC 4760 §7 / RFC 7606 §7.11: AFI/SAFI disable, answered with a session reset.
  [
    'an IPv6 MP_REACH_NLRI whose next-hop length is 4',
    update('', attr(0x90, 14, '0002 01 04 c0000201 00 30 20010db80002') + ORIGIN_IGP + AS_PATH_4, ''),
    3,
    9,
  ],
  ['an MP_UNREACH_NLRI prefix overrunning it', update('', attr(0x90, 15, '0002 01 40 20010db8'), ''), 3, 9],
  // RFC 7606 §5.2: treat-as-withdraw with no reachable NLRI is a session reset.
  ['attributes only and an invalid ORIGIN', update('', attr(0x40, 1, '07') + AS_PATH_4 + NEXT_HOP, ''), 3, 6],
];

for (const [name, bytes, code, subcode] of updateResets) {
  test(`UPDATE with ${name} → NOTIFICATION ${code}/${subcode}`, async (t) => {
    const s = await establish(t);
    s.script.send(bytes);
    await expectNotification(t, s, code, subcode);
  });
}

const treatAsWithdraw: [string, Buffer][] = [
  ['no ORIGIN (RFC 7606 §3 d)', update('', AS_PATH_4 + NEXT_HOP, '180a0001')],
  ['an invalid ORIGIN value (§7.1)', update('', attr(0x40, 1, '07') + AS_PATH_4 + NEXT_HOP, '180a0001')],
  [
    'a malformed AS_PATH (§7.2)',
    update('', ORIGIN_IGP + attr(0x40, 2, '02 05 0000fde8') + NEXT_HOP, '180a0001'),
  ],
  [
    'a COMMUNITIES length of 5 (§7.8)',
    update('', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP + attr(0xc0, 8, '0000000000'), '180a0001'),
  ],
  [
    'ORIGIN with the Optional flag (§3 c)',
    update('', attr(0xc0, 1, '00') + AS_PATH_4 + NEXT_HOP, '180a0001'),
  ],
];

for (const [name, bytes] of treatAsWithdraw) {
  test(`UPDATE with ${name} → treat-as-withdraw, session stays up`, async (t) => {
    const s = await establish(t);
    const received = nextEvent(s.peer, 'update');
    s.script.send(bytes);
    const { update: u } = await received;
    t.is(u.errorAction, ErrorAction.TreatAsWithdraw);
    t.is(u.nlri.length, 1, 'the prefixes are still reported, to be withdrawn');
    s.script.send(encodeKeepalive());
    await new Promise((r) => setTimeout(r, 100));
    t.is(s.peer.state, SessionState.Established);
    t.is(s.peer.counters.notificationsSent.size, 0);
    t.is(s.peer.counters.updateErrors, 1);
  });
}

test('an MP-only UPDATE whose last attribute runs past the field → treat-as-withdraw of the MP NLRI (RFC 7606 §4)', async (t) => {
  const s = await establish(t);
  const received = nextEvent(s.peer, 'update');
  const mp = attr(0x90, 14, '0002 01 10 20010db8000000000000000000000001 00 30 20010db80002');
  s.script.send(update('', mp + ORIGIN_IGP + AS_PATH_4 + '400306c0000201', ''));
  const { update: u } = await received;
  t.is(u.errorAction, ErrorAction.TreatAsWithdraw);
  t.is(u.mpReach?.nlri.length, 1, 'the MP prefixes are reported, to be withdrawn');
  t.is(s.peer.state, SessionState.Established);
  t.is(s.peer.counters.notificationsSent.size, 0);
});

test('RFC 4271 §6.3: the session knows its own addresses for the NEXT_HOP check and counts what it ignored', async (t) => {
  const s = await establish(t);
  const local = s.peer.localAddresses;
  t.true(local.has(s.brindle.address), 'the connection and configured source address');
  t.true(local.has('10.0.0.1'), 'the router ID');
  t.false(local.has('192.0.2.1'));
  local.nextHopIsLocal(3);
  local.nextHopIsLocal(2);
  t.is(local.ignoredPrefixes, 5);
  t.is(s.peer.state, SessionState.Established);
});

test('an attribute that is only discarded (ATOMIC_AGGREGATE with a length) keeps the route', async (t) => {
  const s = await establish(t);
  const received = nextEvent(s.peer, 'update');
  s.script.send(update('', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP + attr(0x40, 6, '01'), '180a0001'));
  const { update: u } = await received;
  t.is(u.errorAction, ErrorAction.AttributeDiscard);
  t.is(u.attributes.atomicAggregate, undefined);
  t.is(s.peer.state, SessionState.Established);
});

test('garbage after the handshake never crashes the process: 200 random messages end in one NOTIFICATION', async (t) => {
  const s = await establish(t);
  let x = 12345;
  const rand = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) % 256;
  for (let i = 0; i < 200; i++) {
    const body = Buffer.from(Array.from({ length: 4 + (rand() % 40) }, rand));
    s.script.send(message(2, body.toString('hex')));
  }
  const n = (await s.script.nextOfType(MessageType.Notification)) as NotificationMessage | undefined;
  t.is(n?.code, 3);
  t.true(await s.script.waitClosed());
});
