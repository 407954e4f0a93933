// Randomized mutation of well-formed messages (bounded in count and time): whatever the bytes, the
// codec returns a message or a classified error that knows its NOTIFICATION — never an exception, never
// an internal error. Deterministic: a fixed-seed PRNG, so a failure names a reproducible case.
import test from 'ava';
import { decodeMessage, InternalCodecError } from '../../../src/bgp/codec/message.ts';
import { MessageFramer } from '../../../src/bgp/codec/framer.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import type { CodecContext, UpdateMessage } from '../../../src/bgp/types.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../../src/lib/family.ts';
import { encodeKeepalive } from '../../../src/bgp/codec/message.ts';
import { encodeNotification } from '../../../src/bgp/codec/notification.ts';
import { CeaseSubcode, ErrorCode, MessageType } from '../../../src/bgp/constants.ts';
import { peerConfig } from '../../../src/bgp/session/peer-config.ts';
import { Router } from '../../../src/daemon/router.ts';
import { parseIpv4 } from '../../../src/lib/address.ts';
import { waitFor } from '../../helpers/netns.ts';
import { openFor, ScriptedPeer } from '../../helpers/scripted-peer.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../../helpers/session.ts';
import {
  AS_PATH_4,
  attr,
  MP_REACH_V4,
  MP_REACH_V6,
  MP_UNREACH_V6,
  NEXT_HOP,
  ORIGIN_IGP,
  SEED_MESSAGES,
  update,
} from './seed-messages.ts';

const MAX_CASES = 40_000;
const MAX_MS = 8_000;

/** xorshift32: small, fast and reproducible. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function mutate(seed: Buffer, rand: () => number): Buffer {
  const bytes = Buffer.from(seed);
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    // Leave the marker alone most of the time so mutations reach the body decoders.
    const at = 16 + Math.floor(rand() * (bytes.length - 16));
    const kind = rand();
    if (kind < 0.5) bytes[at] = Math.floor(rand() * 256);
    else if (kind < 0.7) bytes[at] ^= 1 << Math.floor(rand() * 8);
    else if (kind < 0.85) bytes[at] = rand() < 0.5 ? 0 : 0xff;
    else bytes[at] = (bytes[at] + (rand() < 0.5 ? 1 : -1)) & 0xff;
  }
  // Keep the length field truthful half the time, so the body decoders see the damage.
  if (rand() < 0.5) bytes.writeUInt16BE(bytes.length, 16);
  return bytes;
}

const contexts: CodecContext[] = [
  { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false },
  { fourOctetAs: false, addPath: new Set(), maxMessageLength: 4096, external: true },
  {
    fourOctetAs: true,
    addPath: new Set([IPV4_UNICAST, IPV6_UNICAST]),
    maxMessageLength: 65535,
    external: false,
  },
];

test('mutated messages decode to a message or a classified NOTIFICATION, never an exception', (t) => {
  const rand = prng(0x5eed);
  const deadline = Date.now() + MAX_MS;
  let cases = 0;
  const outcomes = new Map<string, number>();
  for (; cases < MAX_CASES && Date.now() < deadline; cases++) {
    const seed = SEED_MESSAGES[cases % SEED_MESSAGES.length];
    const input = mutate(seed.bytes, rand);
    const ctx = contexts[cases % contexts.length];
    let result;
    try {
      result = decodeMessage(input, ctx);
    } catch (e) {
      return t.fail(`case ${cases} (${seed.name}) threw ${String(e)}: ${input.toString('hex')}`);
    }
    if (!result.ok) {
      if (result.error instanceof InternalCodecError) {
        return t.fail(`case ${cases} (${seed.name}): ${result.error.message}: ${input.toString('hex')}`);
      }
      t.true(result.error instanceof BgpError);
      t.true(result.error.code >= 1 && result.error.code <= 7);
    }
    const key = result.ok ? `ok type ${result.message.type}` : `${result.error.code}/${result.error.subcode}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  t.log(`${cases} cases: ${[...outcomes].map(([k, n]) => `${k}×${n}`).join(', ')}`);
  t.true(cases > 1000);
});

test('random chunks through the framer never throw', (t) => {
  const rand = prng(42);
  const deadline = Date.now() + 2000;
  for (let run = 0; run < 2000 && Date.now() < deadline; run++) {
    const framer = new MessageFramer();
    for (let chunk = 0; chunk < 20; chunk++) {
      const bytes = Buffer.alloc(1 + Math.floor(rand() * 64), 0xff);
      for (let i = 0; i < bytes.length; i++) if (rand() < 0.2) bytes[i] = Math.floor(rand() * 256);
      framer.push(bytes);
      for (let m = framer.next(); m !== undefined && !(m instanceof BgpError); m = framer.next()) {
        t.true(m.length >= 19);
      }
    }
  }
  t.pass();
});

// --- The MP attribute family (RFC 4760, RFC 7606 §5.3, §7.11) -----------------------------------------
// Mutations confined to one MP_REACH_NLRI or MP_UNREACH_NLRI attribute, judged by a reference reader
// written here from RFC 4760 §3–§4 alone. The oracle: an MP attribute of a family Brindle routes that
// the reference finds malformed is never accepted (RFC 4760 §7: its routes cannot be trusted; Brindle
// resets the session), and one it finds well formed, when accepted, carries exactly its prefixes.

const MP_SEEDS: { name: string; attribute: string; rest: string }[] = [
  { name: 'MP_REACH IPv6', attribute: MP_REACH_V6, rest: ORIGIN_IGP + AS_PATH_4 },
  { name: 'MP_REACH IPv4', attribute: MP_REACH_V4, rest: ORIGIN_IGP + AS_PATH_4 },
  {
    name: 'MP_REACH IPv6, 1-octet length',
    attribute: attr(0x80, 14, '0002 01 10 20010db8000000000000000000000001 00 40 20010db800010002 00'),
    rest: ORIGIN_IGP + AS_PATH_4,
  },
  { name: 'MP_UNREACH IPv6', attribute: MP_UNREACH_V6, rest: '' },
  { name: 'MP_UNREACH IPv4', attribute: attr(0x90, 15, '0001 01 18 0a0001 20 c0000201 00'), rest: '' },
];

type Reference = { malformed: true } | { skip: true } | { prefixes: string[] };

/** RFC 4760 §5 prefixes of `bytes`, as "length/hex" strings, or undefined when they do not parse. */
function referencePrefixes(bytes: Buffer, afi: number, addPath: boolean): string[] | undefined {
  const out: string[] = [];
  const maxBits = afi === 1 ? 32 : 128;
  for (let pos = 0; pos < bytes.length;) {
    let id = '';
    if (addPath) {
      if (pos + 4 >= bytes.length) return undefined;
      id = `${bytes.readUInt32BE(pos)}:`;
      pos += 4;
    }
    const bits = bytes[pos++];
    const octets = Math.ceil(bits / 8);
    if (bits > maxBits || pos + octets > bytes.length) return undefined;
    out.push(`${id}${bits}`);
    pos += octets;
  }
  return out;
}

/** Judges the first path attribute of `update` (the mutated MP attribute) by RFC 4760 alone. */
function reference(update: Buffer, ctx: CodecContext): Reference {
  const attributesLength = update.readUInt16BE(21);
  const start = 23;
  const end = Math.min(start + attributesLength, update.length);
  const flags = update[start];
  const headerLength = flags & 0x10 ? 4 : 3;
  if (start + headerLength > end) return { skip: true }; // the header itself is gone
  const type = update[start + 1];
  if (type !== 14 && type !== 15) return { skip: true };
  const length = flags & 0x10 ? update.readUInt16BE(start + 2) : update[start + 2];
  const valueStart = start + headerLength;
  if (length < 3 || valueStart + 3 > end) return { malformed: true };
  const afi = update.readUInt16BE(valueStart);
  const safi = update[valueStart + 2];
  if ((afi !== 1 && afi !== 2) || safi !== 1) return { skip: true };
  if (valueStart + length > end || (flags & 0xc0) !== 0x80) return { malformed: true };
  const value = update.subarray(valueStart, valueStart + length);
  const addPath = ctx.addPath.has(afi === 1 ? IPV4_UNICAST : IPV6_UNICAST);
  let nlri = value.subarray(3);
  if (type === 14) {
    if (value.length < 5) return { malformed: true };
    const nextHopLength = value[3];
    const fits = afi === 1 ? nextHopLength === 4 : nextHopLength === 16 || nextHopLength === 32;
    if (!fits || 5 + nextHopLength > value.length) return { malformed: true };
    nlri = value.subarray(5 + nextHopLength);
  }
  const prefixes = referencePrefixes(nlri, afi, addPath);
  return prefixes === undefined ? { malformed: true } : { prefixes };
}

function mutateRange(seed: Buffer, from: number, to: number, rand: () => number): Buffer {
  const bytes = Buffer.from(seed);
  const edits = 1 + Math.floor(rand() * 3);
  for (let e = 0; e < edits; e++) {
    const at = from + Math.floor(rand() * (to - from));
    const kind = rand();
    if (kind < 0.4) bytes[at] = Math.floor(rand() * 256);
    else if (kind < 0.7) bytes[at] ^= 1 << Math.floor(rand() * 8);
    else bytes[at] = (bytes[at] + (rand() < 0.5 ? 1 : -1)) & 0xff;
  }
  return bytes;
}

function acceptedPrefixes(message: UpdateMessage, ctx: CodecContext): string[] {
  const nlri = message.mpReach?.nlri ?? message.mpUnreach?.withdrawn ?? [];
  const addPath = ctx.addPath.size > 0;
  return nlri.map((p) => `${addPath ? `${p.pathId}:` : ''}${p.length}`);
}

test('mutated MP_REACH_NLRI / MP_UNREACH_NLRI: malformed is never accepted, well formed is read exactly', (t) => {
  const rand = prng(0x4760);
  const deadline = Date.now() + 4_000;
  const seeds = MP_SEEDS.map((s) => ({ ...s, bytes: update('', s.attribute + s.rest, '') }));
  const tally = { malformed: 0, wellFormed: 0, skipped: 0 };
  let cases = 0;
  for (; cases < 30_000 && Date.now() < deadline; cases++) {
    const seed = seeds[cases % seeds.length];
    const ctx = contexts[(cases >> 3) % contexts.length];
    const input = mutateRange(seed.bytes, 23, 23 + seed.attribute.length / 2, rand);
    const verdict = reference(input, ctx);
    const result = decodeMessage(input, ctx);
    if ('skip' in verdict) {
      tally.skipped++;
      continue;
    }
    const what = `case ${cases} (${seed.name}): ${input.toString('hex')}`;
    if ('malformed' in verdict) {
      tally.malformed++;
      if (result.ok) return t.fail(`accepted a malformed MP attribute, ${what}`);
      if (result.error instanceof InternalCodecError) return t.fail(`${result.error.message}, ${what}`);
      continue;
    }
    tally.wellFormed++;
    if (!result.ok || result.message.type !== 2) continue; // another error made by the mutation
    const accepted = acceptedPrefixes(result.message, ctx);
    if (accepted.join() !== verdict.prefixes.join()) {
      return t.fail(`read ${accepted.join()} instead of ${verdict.prefixes.join()}, ${what}`);
    }
  }
  t.log(`${cases} cases: ${JSON.stringify(tally)}`);
  t.true(tally.malformed > 1000 && tally.wellFormed > 100);
});

// --- Session churn (issue: memory that grows with sessions and never comes back) ---------------------
// Waves of sessions that announce well-formed routes with distinct attribute sets, send mutated
// UPDATEs, and go away by Cease, TCP reset or hold-timer expiry, while a reflector client reads
// everything. After each wave, once its paths are gone, the RIB holds no more live objects than before
// the first: no attribute set, no export cache entry, no extra update group.

const CHURN_PEERS = 6;
const CHURN_WAVES = 3;
const CHURN_ROUTES = 200;
const CHURN_MUTATED = 60;
const CHURN_HOLD_TIME_SEC = 3;
const CHURN_MS = 45_000;
const CHURN_AS = 64512;

/** A well-formed UPDATE for 10.<peer>.<i>.0/24 with an attribute set of its own (its MED). */
function distinctRoute(peer: number, wave: number, i: number): Buffer {
  const med = attr(0x80, 4, (wave * 65536 + peer * 256 + i).toString(16).padStart(8, '0'));
  const nlri = `18 0a ${peer.toString(16).padStart(2, '0')} ${i.toString(16).padStart(2, '0')}`;
  return update('', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP + med, nlri);
}

type Ending = 'cease' | 'reset' | 'hold-timer';
const ENDINGS: Ending[] = ['cease', 'reset', 'hold-timer'];

/** One session from `from`: OPEN, routes, mutated UPDATEs, then the given ending. */
async function churnSession(
  router: Router,
  address: string,
  from: string,
  peer: number,
  wave: number,
  rand: () => number,
) {
  const session = await ScriptedPeer.connect(address, TEST_PORT, from);
  const ending = ENDINGS[(peer + wave) % ENDINGS.length];
  session.sendOpen(openFor(CHURN_AS, 0x0b000000 + peer, CHURN_HOLD_TIME_SEC));
  await session.nextOfType(MessageType.Open);
  session.send(encodeKeepalive());
  await session.nextOfType(MessageType.Keepalive);
  for (let i = 0; i < CHURN_ROUTES; i++) session.send(distinctRoute(peer, wave, i % 256));
  const updates = SEED_MESSAGES.filter((m) => m.bytes[18] === MessageType.Update);
  for (let i = 0; i < CHURN_MUTATED && !session.closed; i++)
    session.send(mutate(updates[Math.floor(rand() * updates.length)].bytes, rand));
  if (ending === 'cease')
    session.send(encodeNotification({ code: ErrorCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown }));
  if (ending !== 'hold-timer') session.close();
  // Hold-timer expiry: the session stays silent and the router gives up after the hold time.
  await waitFor(() => router.getPeer(from)?.state !== 'Established', {
    timeoutMs: (CHURN_HOLD_TIME_SEC + 5) * 1000,
    what: `session ${peer} to end (${ending})`,
  });
  session.close();
}

test('mutated UPDATEs over churning sessions: no attribute set, export cache entry or group outlives them', async (t) => {
  const rand = prng(0x7606);
  const deadline = Date.now() + CHURN_MS;
  const address = loopbackAddress();
  const router = new Router({ routerId: parseIpv4('10.0.0.254'), localAs: CHURN_AS });
  await router.listen(address, TEST_PORT);
  const client = await speaker('10.0.0.1');
  t.teardown(async () => {
    await client.close();
    await router.close();
  });
  const addresses = Array.from({ length: CHURN_PEERS }, () => loopbackAddress());
  for (const [name, remoteAddress] of [
    ['client', client.address],
    ...addresses.map((a, i) => [`churn-${i}`, a]),
  ])
    router.addPeer({
      ...peerConfig({
        name,
        remoteAddress,
        localAs: CHURN_AS,
        peerAs: CHURN_AS,
        routerId: router.identity.routerId,
        passive: true,
        timers: { idleHoldTimeSec: 0, connectRetryTimeSec: 1 },
      }),
      routeReflectorClient: true,
    });
  const clientPeer = client.peerWith(address, { localAs: CHURN_AS, peerAs: CHURN_AS });
  await nextEvent(clientPeer, 'established');
  const settled = () =>
    waitFor(
      // Destinations withdrawn but not yet decided hold their advertisements (and the sets) until the
      // decision stages their withdrawal: the queue must be empty too.
      () =>
        router.locRib.pathCount === 0 &&
        router.locRib.queuedCount === 0 &&
        router.adjRibOut.idle &&
        router.adjRibOut.groupCount === 1,
      {
        timeoutMs: 10_000,
        what: 'the paths of the wave to go',
      },
    );
  await settled();
  const baseline = { attrSets: router.locRib.attrSets.size, exportCache: router.adjRibOut.exportCacheSize };
  let waves = 0;
  for (; waves < CHURN_WAVES && Date.now() < deadline; waves++) {
    for (const from of addresses)
      await waitFor(() => router.getPeer(from)?.state === 'Active', {
        timeoutMs: 10_000,
        what: 'the peer to listen again',
      });
    await Promise.all(addresses.map((from, i) => churnSession(router, address, from, i + 1, waves, rand)));
    await settled();
    t.deepEqual(
      { attrSets: router.locRib.attrSets.size, exportCache: router.adjRibOut.exportCacheSize },
      baseline,
      `after wave ${waves + 1}`,
    );
  }
  t.log(`${waves} waves of ${CHURN_PEERS} sessions`);
  t.true(waves >= 1);
});
