// Codec throughput (issue: "decode ≥ 3 million IPv4 prefixes/s and encode ≥ 3 million prefixes/s into
// packed UPDATEs", one core). Streams are realistic: many prefixes per UPDATE over a handful of shared
// attribute sets, as a route reflector sends them.
import { MessageFramer } from '../src/bgp/codec/framer.ts';
import { decodeMessage } from '../src/bgp/codec/message.ts';
import { encodeAttributeSet, UpdatePacker } from '../src/bgp/codec/update-packer.ts';
import type { EncodedAttributeSet } from '../src/bgp/codec/update-packer.ts';
import { Origin, AsPathSegmentType } from '../src/bgp/constants.ts';
import type { CodecContext, PathAttributes } from '../src/bgp/types.ts';
import { BgpError } from '../src/bgp/errors.ts';
import { Afi, familyKey, Safi } from '../src/lib/family.ts';
import { ipv4Prefix, ipv6Prefix } from '../src/lib/prefix.ts';
import type { Nlri } from '../src/lib/prefix.ts';
import { medianSeconds } from './table.ts';
import type { BenchRow } from './table.ts';

const PREFIXES = 1_000_000;
const ATTRIBUTE_SETS = 10;
const RUNS = 5;
const TARGET = 3_000_000;

interface Scenario {
  readonly name: string;
  readonly afi: Afi;
  readonly addPath: boolean;
  readonly make: (i: number) => Nlri;
}

const scenarios: Scenario[] = [
  {
    name: 'IPv4 /24',
    afi: Afi.Ipv4,
    addPath: false,
    make: (i) => ipv4Prefix((0x0a000000 + i * 256) >>> 0, 24),
  },
  { name: 'IPv4 /32', afi: Afi.Ipv4, addPath: false, make: (i) => ipv4Prefix((0x0a000000 + i) >>> 0, 32) },
  {
    name: 'IPv4 /24 ADD-PATH',
    afi: Afi.Ipv4,
    addPath: true,
    make: (i) => ipv4Prefix((0x0a000000 + i * 256) >>> 0, 24, (i % 4) + 1),
  },
  {
    name: 'IPv6 /48',
    afi: Afi.Ipv6,
    addPath: false,
    make: (i) => ipv6Prefix([0x20010db8, (i << 16) >>> 0, 0, 0], 48),
  },
  {
    name: 'IPv6 /64',
    afi: Afi.Ipv6,
    addPath: false,
    make: (i) => ipv6Prefix([0x20010db8, i >>> 0, 0, 0], 64),
  },
  {
    name: 'IPv6 /64 ADD-PATH',
    afi: Afi.Ipv6,
    addPath: true,
    make: (i) => ipv6Prefix([0x20010db8, i >>> 0, 0, 0], 64, (i % 4) + 1),
  },
];

function context(s: Scenario): CodecContext {
  const addPath = new Set(s.addPath ? [familyKey(s.afi, Safi.Unicast)] : []);
  return { fourOctetAs: true, addPath, maxMessageLength: 4096, external: false };
}

/** A reflector-shaped attribute set: iBGP, originator and cluster list, a few communities. */
function attributeSet(n: number): PathAttributes {
  return {
    origin: Origin.Igp,
    asPath: [{ type: AsPathSegmentType.AsSequence, asns: [64512 + n, 65000, 4200000000 + n] }],
    nextHop: `192.0.2.${n + 1}`,
    multiExitDisc: n * 10,
    localPref: 100,
    communities: [(64512 << 16) | n, 0xffffff01],
    originatorId: 0x0a000001 + n,
    clusterList: [0x0a0000fe],
    largeCommunities: [{ globalAdministrator: 4200000000, localData1: n, localData2: 7 }],
  };
}

function encodedSets(s: Scenario, ctx: CodecContext): EncodedAttributeSet[] {
  return Array.from({ length: ATTRIBUTE_SETS }, (_, n) =>
    encodeAttributeSet(s.afi, Safi.Unicast, attributeSet(n), ctx, { nextHop: `2001:db8::${n + 1}` }),
  );
}

/** Prefixes are grouped by attribute set, as an Adj-RIB-Out hands them to the packer. */
function encodeAll(
  packer: UpdatePacker,
  sets: EncodedAttributeSet[],
  prefixes: Nlri[],
): { stream: Buffer; messages: number } {
  const perSet = Math.ceil(prefixes.length / sets.length);
  for (let k = 0; k < sets.length; k++) {
    packer.announce(sets[k], prefixes, k * perSet, Math.min(prefixes.length, (k + 1) * perSet));
  }
  const messages = packer.messageCount;
  return { stream: packer.take(), messages };
}

function decodeAll(stream: Buffer, ctx: CodecContext): number {
  const framer = new MessageFramer();
  // Feed in 64 KiB chunks, as a socket delivers them.
  let count = 0;
  for (let off = 0; off < stream.length; off += 65536) {
    framer.push(stream.subarray(off, off + 65536));
    for (let frame = framer.next(); frame !== undefined; frame = framer.next()) {
      if (frame instanceof BgpError) throw frame;
      const decoded = decodeMessage(frame, ctx, true);
      if (!decoded.ok) throw decoded.error;
      const m = decoded.message;
      if (m.type === 2) count += m.nlri.length + (m.mpReach?.nlri.length ?? 0);
    }
  }
  return count;
}

export function runCodecBench(): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const s of scenarios) {
    const ctx = context(s);
    const prefixes = Array.from({ length: PREFIXES }, (_, i) => s.make(i));
    const sets = encodedSets(s, ctx);
    const packer = new UpdatePacker(ctx, 1 << 24);
    const { stream, messages } = encodeAll(packer, sets, prefixes);
    if (decodeAll(stream, ctx) !== PREFIXES) throw new Error(`${s.name}: decode count mismatch`);
    const encodeSec = medianSeconds(RUNS, () => encodeAll(packer, sets, prefixes));
    const decodeSec = medianSeconds(RUNS, () => decodeAll(stream, ctx));
    const row = (metric: string, value: number, unit: string, target?: number): BenchRow => ({
      suite: 'codec',
      case: s.name,
      metric,
      value,
      unit,
      target: target ? `≥ ${target.toLocaleString('en-US')}` : undefined,
      met: target ? value >= target : undefined,
    });
    const v4 = s.afi === Afi.Ipv4;
    rows.push(
      row('decode', PREFIXES / decodeSec, 'prefixes/s', v4 ? TARGET : undefined),
      row('encode', PREFIXES / encodeSec, 'prefixes/s', TARGET),
      row('prefixes per UPDATE', PREFIXES / messages, 'prefixes'),
    );
  }
  return rows;
}
