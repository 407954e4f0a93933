// What one stored path costs on the V8 heap, by object kind: the reflector's RIB in this process (a
// Loc-RIB, the RFC 4456 rules, an Adj-RIB-Out with `--members` sessions sharing one update group, their
// sockets stubbed), `--paths` IPv4 /24s from one client in 4 attribute sets, as the reflector benchmark's
// S1 sends them. Heap used and RSS after a full GC before and after, per path; with `--by-kind`, a
// heap snapshot's self sizes by constructor instead (taking snapshots inflates the RSS, so not both),
// so a change to the per-path structures is measured, not guessed:
//
//   node --expose-gc --import tsx bench/reflector/path-memory.ts [--paths 100000] [--members 10] [--by-kind]
import { getHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';
import { Origin } from '../../src/bgp/constants.ts';
import type { CodecContext } from '../../src/bgp/types.ts';
import { IPV4_UNICAST } from '../../src/lib/family.ts';
import { ipv4Prefix } from '../../src/lib/prefix.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { AdjRibOut } from '../../src/rib/adj-rib-out.ts';
import type { GroupMember } from '../../src/rib/adj-rib-out.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { ReflectorExport } from '../../src/reflector/reflection.ts';
import { nextHopAddress } from './plan.ts';

const SETS = 4;
const CONTEXT: CodecContext = {
  fourOctetAs: true,
  addPath: new Set(),
  maxMessageLength: 4096,
  external: false,
};
const TARGET: ExportTarget = {
  external: false,
  routeReflectorClient: true,
  localAs: 64512,
  peerAs: 64512,
  nextHopMode: 'auto',
};

function peer(id: number): RibPeer {
  return {
    id,
    name: `client-${id}`,
    addressKey: String(id).padStart(10, '0'),
    bgpIdentifier: 0x0b000000 + id,
    external: false,
    peerAs: 64512,
    routeReflectorClient: true,
    local: false,
  };
}

/** A session whose socket takes everything at once. */
function member(id: number): GroupMember {
  return {
    name: `client-${id}`,
    families: new Set([IPV4_UNICAST]),
    context: CONTEXT,
    send: () => true,
    bufferedBytes: 0,
    sendRouteRefresh: () => undefined,
    ribPeer: peer(id),
  };
}

function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count per constructor name (objects) or node type (arrays, strings, hidden). */
async function heapByKind(): Promise<Map<string, { count: number; bytes: number }>> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const heap = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Snapshot;
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const kinds = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < heap.nodes.length; i += fields.length) {
    const t = types[heap.nodes[i + type]];
    const kind = t === 'object' || t === 'closure' ? heap.strings[heap.nodes[i + name]] : `(${t})`;
    const entry = kinds.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += heap.nodes[i + size];
    kinds.set(kind, entry);
  }
  return kinds;
}

async function settle(rib: LocRib, out: AdjRibOut): Promise<void> {
  for (let turns = 0; turns < 100_000; turns++) {
    await rib.settled();
    if (out.idle) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('the Adj-RIB-Out never went idle');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { paths: { type: 'string' }, members: { type: 'string' }, 'by-kind': { type: 'boolean' } },
  });
  const byKind = values['by-kind'] === true;
  const paths = Number(values.paths ?? 100_000);
  const members = Number(values.members ?? 10);
  const identity = { routerId: parseIpv4('10.0.0.254'), clusterId: parseIpv4('10.0.0.254'), localAs: 64512 };
  const rib = new LocRib();
  const out = new AdjRibOut(rib, new ReflectorExport(identity), silentLogger);
  for (let i = 1; i <= members; i++) out.addMember(member(i), TARGET);
  const source = peer(0);
  const sets = Array.from({ length: SETS }, (_, i) =>
    rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop: nextHopAddress(i), localPref: 100 }),
  );
  await settle(rib, out);
  fullGc();
  const before = process.memoryUsage();
  const kindsBefore = byKind ? await heapByKind() : undefined;
  for (let i = 0; i < paths; i++)
    rib.announce(source, ipv4Prefix((0x14000000 + i * 256) >>> 0, 24), sets[i % SETS], true);
  await settle(rib, out);
  fullGc();
  const after = process.memoryUsage();
  const perPath = (a: number, b: number) => ((b - a) / paths).toFixed(1);
  console.log(`${paths} paths, ${members} members in ${out.groupCount} update group(s)`);
  console.log(`V8 heap used per path: ${perPath(before.heapUsed, after.heapUsed)} B`);
  if (kindsBefore) printByKind(kindsBefore, await heapByKind(), paths);
  else console.log(`RSS per path (this process, after a full GC): ${perPath(before.rss, after.rss)} B`);
  for (const set of sets) rib.attrSets.release(set);
}

function printByKind(
  before: Map<string, { count: number; bytes: number }>,
  after: Map<string, { count: number; bytes: number }>,
  paths: number,
): void {
  console.log('heap snapshot, growth per path by kind:');
  const rows = [...after].map(([kind, a]) => {
    const b = before.get(kind) ?? { count: 0, bytes: 0 };
    return { kind, count: a.count - b.count, bytes: a.bytes - b.bytes };
  });
  for (const row of rows.sort((x, y) => y.bytes - x.bytes).slice(0, 12))
    if (row.bytes > paths)
      console.log(`  ${(row.bytes / paths).toFixed(1).padStart(6)} B  ${row.count} × ${row.kind}`);
}

await main();
