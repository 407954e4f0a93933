// Randomized mutation of well-formed messages (bounded in count and time): whatever the bytes, the
// codec returns a message or a classified error that knows its NOTIFICATION — never an exception, never
// an internal error. Deterministic: a fixed-seed PRNG, so a failure names a reproducible case.
import test from 'ava';
import { decodeMessage, InternalCodecError } from '../../../src/bgp/codec/message.ts';
import { MessageFramer } from '../../../src/bgp/codec/framer.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import type { CodecContext } from '../../../src/bgp/types.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../../src/lib/family.ts';
import { SEED_MESSAGES } from './seed-messages.ts';

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
