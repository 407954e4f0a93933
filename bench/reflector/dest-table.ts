// The Loc-RIB's prefix index (rib/dest-table.ts) on its own, against the Map per prefix length it
// replaced (kept below as MapDestTable): the Loc-RIB's three uses of it per prefix, timed over tables
// of IPv4 /24s filed in prefix order and in a random order, its heap cost per Dest, and the time a
// full mark-compact takes with the Dests held only through it.
// - announce: get() (a miss) then add(), as LocRib.announce files a new destination;
// - lookup: get() of every prefix (a hit), as a re-announcement or a withdrawal finds its Dest;
// - withdraw: get() then delete(), as LocRib.withdraw removes a destination's last path.
// Each implementation runs in a child process of its own (one hidden class per call site). `--rib`
// times the same through the Loc-RIB instead (announce, then withdraw, the synchronous part), with
// whichever index this tree has: run it in two trees to compare.
//
//   node --expose-gc --import tsx bench/reflector/dest-table.ts [--sizes 100000,500000] [--rounds 5] [--rib]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Afi } from '../../src/lib/family.ts';
import { ipv4Prefix } from '../../src/lib/prefix.ts';
import type { Nlri, Prefix } from '../../src/lib/prefix.ts';
import { Origin } from '../../src/bgp/constants.ts';
import { DestTable } from '../../src/rib/dest-table.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import { Dest } from '../../src/rib/route.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { INJECTED_BASE } from './scenarios.ts';

/** The index before rib/dest-table.ts: per IPv4 length a Map keyed by the address, IPv6 by text. */
class MapDestTable {
  private readonly v4: (Map<number, Dest> | undefined)[] = new Array<undefined>(33).fill(undefined);
  private readonly v6 = new Map<string, Dest>();

  private static v6Key(p: Prefix): string {
    return `${p.w0}:${p.w1}:${p.w2}:${p.w3}/${p.length}`;
  }

  get(p: Prefix): Dest | undefined {
    return p.afi === Afi.Ipv4 ? this.v4[p.length]?.get(p.w0 | 0) : this.v6.get(MapDestTable.v6Key(p));
  }

  add(dest: Dest): void {
    if (dest.afi === Afi.Ipv4) (this.v4[dest.length] ??= new Map()).set(dest.w0 | 0, dest);
    else this.v6.set(MapDestTable.v6Key(dest), dest);
  }

  delete(dest: Dest): boolean {
    if (dest.afi === Afi.Ipv4) return this.v4[dest.length]?.delete(dest.w0 | 0) ?? false;
    return this.v6.delete(MapDestTable.v6Key(dest));
  }

  get size(): number {
    let n = this.v6.size;
    for (const byLength of this.v4) n += byLength?.size ?? 0;
    return n;
  }
}

type Table = Pick<DestTable, 'get' | 'add' | 'delete' | 'size'>;
const IMPLEMENTATIONS: Record<string, () => Table> = {
  map: () => new MapDestTable(),
  index: () => new DestTable(),
};
const ORDERS = ['prefix', 'random'] as const;

/** The prefixes as the decoder hands them over (one object each, not the Dests). */
function prefixes(count: number, order: (typeof ORDERS)[number]): Nlri[] {
  const list = Array.from({ length: count }, (_, i) => ipv4Prefix(INJECTED_BASE + i * 256, 24));
  if (order === 'random') {
    let state = 12345;
    for (let i = list.length - 1; i > 0; i--) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const j = state % (i + 1);
      [list[i], list[j]] = [list[j], list[i]];
    }
  }
  return list;
}

function timed(run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** One round: the three uses over a fresh table, in milliseconds. */
function round(make: () => Table, list: readonly Nlri[]): Record<string, number> {
  const table = make();
  const dests = list.map((p) => new Dest(p));
  const announce = timed(() => {
    for (let i = 0; i < list.length; i++) if (table.get(list[i]) === undefined) table.add(dests[i]);
  });
  let found = 0;
  const lookup = timed(() => {
    for (const p of list) if (table.get(p) !== undefined) found++;
  });
  const withdraw = timed(() => {
    for (const p of list) {
      const dest = table.get(p);
      if (dest) table.delete(dest);
    }
  });
  if (found !== list.length || table.size !== 0) throw new Error('the table lost a prefix');
  return { announce, lookup, withdraw };
}

/** Dests of consecutive /24s, made in a frame of their own so no prefix outlives it. */
function newDests(count: number): Dest[] {
  return Array.from({ length: count }, (_, i) => new Dest(ipv4Prefix(INJECTED_BASE + i * 256, 24)));
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const heapBytes = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;

/** A table of `count` Dests, and how much the heap grew filing them (the Dests excluded). */
function filledTable(make: () => Table, count: number): { table: Table; grownBytes: number } {
  const dests = newDests(count);
  gc();
  const before = heapBytes();
  const table = make();
  for (const d of dests) table.add(d);
  gc();
  const grownBytes = heapBytes() - before;
  // Read after the measurement, so the collector cannot free the list of Dests before it.
  if (dests.length !== table.size) throw new Error('the table lost a prefix');
  return { table, grownBytes };
}

/** Heap bytes per Dest filed, and a full mark-compact's median time with the Dests held by the table alone. */
function memory(make: () => Table, count: number): { perDest: number; gcMs: number } {
  const { table, grownBytes } = filledTable(make, count);
  gc();
  const gcMs = median(Array.from({ length: 5 }, () => timed(gc)));
  if (table.size !== count) throw new Error('the table lost a prefix');
  return { perDest: grownBytes / count, gcMs };
}

const PEER: RibPeer = {
  id: 1,
  name: 'injector',
  addressKey: '1',
  bgpIdentifier: 1,
  external: false,
  peerAs: 64512,
  routeReflectorClient: true,
  local: false,
};

/**
 * The same uses inside the Loc-RIB (with whichever index this tree has): the synchronous part of
 * announcing every prefix (4 attribute sets) and then of withdrawing every one, each decided after.
 */
async function ribRound(list: readonly Nlri[]): Promise<Record<string, number>> {
  const rib = new LocRib();
  const sets = [1, 2, 3, 4].map((n) =>
    rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop: `192.0.2.${n}`, localPref: 100 }),
  );
  const announce = timed(() => {
    for (let i = 0; i < list.length; i++) rib.announce(PEER, list[i], sets[i & 3], true);
  });
  await rib.settled();
  gc();
  // A full mark-compact with the table held: the Dests, their Paths, the index.
  const fullGc = median([1, 2, 3].map(() => timed(gc)));
  const withdraw = timed(() => {
    for (const p of list) rib.withdraw(PEER, p);
  });
  await rib.settled();
  if (rib.destCount !== 0) throw new Error('the Loc-RIB kept a destination');
  return { announce, withdraw, fullGc };
}

async function ribChild(count: number, rounds: number): Promise<void> {
  const cells: string[] = [count.toLocaleString('en-US')];
  for (const order of ORDERS) {
    const list = prefixes(count, order);
    const results: Record<string, number>[] = [];
    for (let r = 0; r < rounds; r++) results.push(await ribRound(list));
    for (const use of ['announce', 'withdraw', 'fullGc'])
      cells.push(`${median(results.map((r) => r[use])).toFixed(1)} ms`);
  }
  console.log(`| ${cells.join(' | ')} |`);
}

function child(impl: string, count: number, rounds: number): void {
  const make = IMPLEMENTATIONS[impl];
  const cells: string[] = [impl, count.toLocaleString('en-US')];
  // First, while no earlier table's buffers wait to be freed.
  const { perDest, gcMs } = memory(make, count);
  for (const order of ORDERS) {
    const list = prefixes(count, order);
    const results = Array.from({ length: rounds }, () => round(make, list));
    for (const use of ['announce', 'lookup', 'withdraw']) {
      const ms = median(results.map((r) => r[use]));
      cells.push(`${ms.toFixed(1)} ms (${(((count / ms) * 1000) / 1e6).toFixed(1)} M/s)`);
    }
  }
  cells.push(`${perDest.toFixed(1)} B`, `${gcMs.toFixed(1)} ms`);
  console.log(`| ${cells.join(' | ')} |`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100000,500000' },
      rounds: { type: 'string', default: '5' },
      impl: { type: 'string' },
      rib: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  if (values.rib) {
    const uses = ORDERS.flatMap((o) => [`announce (${o})`, `withdraw (${o})`, `full GC (${o})`]);
    console.log(`| Loc-RIB, Dests | ${uses.join(' | ')} |\n|${' --- |'.repeat(uses.length + 1)}`);
    for (const size of values.sizes.split(',').map(Number)) await ribChild(size, rounds);
    return;
  }
  if (values.impl) {
    child(values.impl, Number(values.sizes), rounds);
    return;
  }
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  const uses = ORDERS.flatMap((o) => [`announce (${o})`, `lookup (${o})`, `withdraw (${o})`]);
  console.log(`| index | Dests | ${uses.join(' | ')} | heap per Dest | full GC |`);
  console.log(`|${' --- |'.repeat(uses.length + 4)}`);
  for (const size of values.sizes.split(',').map(Number)) {
    for (const impl of Object.keys(IMPLEMENTATIONS)) {
      const args = [process.argv[1], '--impl', impl, '--sizes', String(size), '--rounds', String(rounds)];
      const run = spawnSync(process.execPath, [...process.execArgv, ...args], { stdio: 'inherit' });
      if (run.status !== 0) throw new Error(`${impl} at ${size} failed`);
    }
  }
  console.log(
    `\nload average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
