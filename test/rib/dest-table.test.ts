// The Loc-RIB's prefix index (rib/dest-table.ts): lookups by prefix for every IPv4 length and IPv6,
// random operation sequences checked against a Map, live iterations across deletions, additions,
// compactions and index growth, the probe length on structured prefix sets, and the resize hysteresis.
import test from 'ava';
import { ipv4Prefix, ipv6Prefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import { DestTable } from '../../src/rib/dest-table.ts';
import { Dest } from '../../src/rib/route.ts';
import { prng as random } from '../ipam/support.ts';

const keyOf = (p: Prefix) => `${p.afi}:${p.w0}:${p.w1}:${p.w2}:${p.w3}/${p.length}`;

/** The same Dests, each once, in any order. */
function sameDests(actual: Iterable<Dest>, expected: Iterable<Dest>): boolean {
  const a = [...actual];
  const b = new Set(expected);
  return a.length === b.size && new Set(a).size === a.length && a.every((d) => b.has(d));
}

function filled(prefixes: readonly Prefix[], seed = 1): { table: DestTable; dests: Dest[] } {
  const table = new DestTable(seed);
  const dests = prefixes.map((p) => new Dest(p));
  for (const d of dests) table.add(d);
  return { table, dests };
}

test('every IPv4 length 0–32 and IPv6 is found, told apart by length, and deleted', (t) => {
  const prefixes: Prefix[] = [];
  for (let length = 0; length <= 32; length++) {
    for (const address of [0, 0x0a000000, 0x7fffffff, 0x80000000, 0xc0a80101, 0xffffffff])
      prefixes.push(ipv4Prefix(address, length));
  }
  const unique = [...new Map(prefixes.map((p) => [keyOf(p), p])).values()];
  unique.push(ipv6Prefix([0x20010db8, 0, 0, 0], 32), ipv6Prefix([0x20010db8, 0x80000000, 0, 1], 128));
  unique.push(ipv6Prefix([0, 0, 0, 0], 0));
  const { table, dests } = filled(unique);
  t.is(table.size, unique.length);
  unique.forEach((p, i) => t.is(table.get(p), dests[i], keyOf(p)));
  t.is(table.get(ipv4Prefix(0x0b000000, 24)), undefined);
  t.is(table.get(ipv6Prefix([0x20010db8, 0, 0, 0], 33)), undefined);

  for (let i = 0; i < unique.length; i += 2) t.true(table.delete(dests[i]));
  t.false(table.delete(dests[0]));
  unique.forEach((p, i) => t.is(table.get(p), i % 2 === 0 ? undefined : dests[i], keyOf(p)));
  t.is(table.size, Math.floor(unique.length / 2));
  const kept = dests.filter((_, i) => i % 2 === 1);
  t.true(sameDests(table.values(), kept));
});

test('adding under a prefix already filed replaces the Dest in place', (t) => {
  const { table, dests } = filled([ipv4Prefix(0x0a000000, 24), ipv4Prefix(0x0a000100, 24)]);
  const replacement = new Dest(ipv4Prefix(0x0a000000, 24));
  table.add(replacement);
  t.is(table.size, 2);
  t.is(table.get(ipv4Prefix(0x0a000000, 24)), replacement);
  t.deepEqual([...table.values()], [replacement, dests[1]]);
});

test('random operations agree with a Map, through growth, shrinking and compaction', (t) => {
  const next = random(7);
  // A small key space so operations hit filed prefixes often; mostly /24s, some other lengths, some IPv6.
  const space: Prefix[] = [];
  for (let i = 0; i < 3000; i++) space.push(ipv4Prefix(0x0a000000 + i * 256, 24));
  for (let i = 0; i < 500; i++) space.push(ipv4Prefix(Math.floor(next() * 0x1_0000_0000), 1 + (i % 32)));
  for (let i = 0; i < 200; i++) space.push(ipv6Prefix([0x20010db8, i, 0, 0], 64));
  const table = new DestTable(3);
  const model = new Map<string, Dest>();
  let recent: Prefix[] = [];
  // Phases with a bias to add, then to delete, so the table grows, shrinks and grows again.
  for (let op = 0; op < 60_000; op++) {
    const adding = next() < (Math.floor(op / 10_000) % 2 === 0 ? 0.7 : 0.25);
    const p = space[Math.floor(next() * space.length)];
    const filedNow = model.get(keyOf(p));
    // As the Loc-RIB does: a lookup first, then the change.
    t.is(table.get(p), filedNow);
    if (adding) {
      const d = new Dest(p);
      table.add(d);
      model.set(keyOf(p), d);
    } else {
      t.is(table.delete(filedNow ?? new Dest(p)), filedNow !== undefined);
      model.delete(keyOf(p));
    }
    // Those of the last operation first (what the last lookups remembered), the prefix, one at random.
    const checks = [...recent, p, space[Math.floor(next() * space.length)]];
    for (const q of checks) {
      if (table.get(q) === model.get(keyOf(q)) && table.size === model.size) continue;
      t.fail(`operation ${op} on ${keyOf(p)}: the table disagrees with the model on ${keyOf(q)}`);
      return;
    }
    recent = checks.slice(-2);
  }
  for (const p of space) t.is(table.get(p), model.get(keyOf(p)));
  t.true(sameDests(table.values(), model.values()));
  t.is(table.size, model.size);
});

test('a prefix missed, then added, is found after another prefix was deleted', (t) => {
  const table = new DestTable(1);
  const [one, two] = [new Dest(ipv4Prefix(0x0a000000, 24)), new Dest(ipv4Prefix(0x0a000100, 24))];
  table.add(one);
  t.is(table.get(two), undefined);
  table.add(two);
  t.is(table.get(one), one);
  table.delete(one);
  t.is(table.get(two), two);
});

/** Steps an iterator up to `count` times, recording what it yields; false once it is done. */
function step(iterator: Iterator<Dest>, count: number, seen: Dest[]): boolean {
  for (let i = 0; i < count; i++) {
    const next = iterator.next();
    if (next.done) return false;
    seen.push(next.value);
  }
  return true;
}

test('a live iteration yields no Dest twice, skips those deleted, survives compaction and growth', (t) => {
  const prefixes = Array.from({ length: 4000 }, (_, i) => ipv4Prefix(0x0a000000 + i * 256, 24));
  prefixes.push(ipv6Prefix([0x20010db8, 0x10000, 0, 0], 48), ipv6Prefix([0x20010db8, 0x20000, 0, 0], 48));
  const { table, dests } = filled(prefixes);
  const seen: Dest[] = [];
  /** Each deleted Dest → how many the iteration had yielded when it went. */
  const deletedAt = new Map<Dest, number>();
  const remove = (d: Dest) => {
    table.delete(d);
    deletedAt.set(d, seen.length);
  };
  const iterator = table.values();
  table.values().next(); // abandoned
  step(iterator, 1000, seen);
  // Three in four IPv4 Dests go, behind and ahead of the iterator: more holes than Dests, so it compacts.
  dests.forEach((d, i) => i % 4 !== 0 && i < 4000 && remove(d));
  const slotsBefore = table.indexStats().slots;
  step(iterator, 200, seen);
  // Many additions: the index grows (more than once) and the dense list with it.
  const added = Array.from({ length: 20_000 }, (_, i) => new Dest(ipv4Prefix(0x0b000000 + i * 256, 24)));
  for (const d of added) table.add(d);
  t.true(table.indexStats().slots > 2 * slotsBefore);
  let compactedAgain = false;
  while (step(iterator, 500, seen)) {
    // Most of the added go, around the iterator: it compacts again while the iteration is under way.
    if (seen.length < 3000 || compactedAgain) continue;
    added.slice(0, 15_000).forEach(remove);
    compactedAgain = true;
  }
  t.true(compactedAgain);
  t.is(new Set(seen).size, seen.length, 'no Dest twice');
  const afterDeletion = seen.filter((d, i) => (deletedAt.get(d) ?? Infinity) <= i);
  t.deepEqual(afterDeletion, [], 'no Dest after its deletion');
  const stayed = [...dests, ...added].filter((d) => !deletedAt.has(d));
  t.true(
    stayed.every((d) => seen.includes(d)),
    'every Dest filed throughout is yielded, those appended meanwhile too',
  );
  t.is(seen.at(-1), dests.at(-1), 'IPv6 last');
});

test('an iteration left early or abandoned pins nothing and leaves the table working', (t) => {
  const { table, dests } = filled(Array.from({ length: 100 }, (_, i) => ipv4Prefix(i << 8, 24)));
  for (const d of table.values()) if (d === dests[10]) break;
  for (let i = 0; i < 500; i++) table.values().next();
  for (const d of dests.slice(0, 90)) table.delete(d);
  t.deepEqual([...table.values()], dests.slice(90));
});

/** What the adversarial sets below look like: prefix structure a real table has, and some it should not. */
const STRUCTURED: Record<string, () => Prefix[]> = {
  'consecutive /24s': () => Array.from({ length: 200_000 }, (_, i) => ipv4Prefix(0x10000000 + i * 256, 24)),
  '/24s 256 apart (one per /16)': () => Array.from({ length: 65_536 }, (_, i) => ipv4Prefix(i << 16, 24)),
  '/32s 2^11 apart': () => Array.from({ length: 100_000 }, (_, i) => ipv4Prefix((i << 11) >>> 0, 32)),
  '/26 blocks, 4 per /24, 2^16 of them': () =>
    Array.from({ length: 65_536 }, (_, i) => ipv4Prefix(0x0a400000 + i * 64, 26)),
  'runs of 8 /24s every 64': () =>
    Array.from({ length: 100_000 }, (_, i) => ipv4Prefix((0x20000000 + ((i >> 3) << 6) + (i & 7)) * 256, 24)),
  'every length nested under each /16': () => {
    const out: Prefix[] = [];
    for (let i = 0; i < 4096; i++)
      for (let length = 16; length <= 32; length++) out.push(ipv4Prefix(i << 16, length));
    return out;
  },
};

for (const [name, make] of Object.entries(STRUCTURED)) {
  test(`probe lengths stay short: ${name}`, (t) => {
    for (const seed of [1, 0x5bd1e995]) {
      const { table } = filled(make(), seed);
      // A probe reads a 64-byte line of 8 slots at a time: lines are what a lookup waits for.
      // and the Dests whose tag matched: its own, rarely another.
      const { meanLines, maxLines, meanReads, maxReads } = table.indexStats();
      t.true(meanLines <= 1.6, `seed ${seed}: ${meanLines.toFixed(2)} lines per lookup`);
      t.true(maxLines <= 16, `seed ${seed}: at most ${maxLines} lines`);
      t.true(meanReads <= 1.4, `seed ${seed}: ${meanReads.toFixed(2)} Dests read per lookup`);
      t.true(maxReads <= 8, `seed ${seed}: at most ${maxReads} Dests read`);
    }
  });
}

/** Adds (or deletes) the Dests in turn until the index resizes; returns the last one handled. */
function untilResize(table: DestTable, dests: readonly Dest[], adding: boolean): Dest {
  const slots = table.indexStats().slots;
  for (const d of dests) {
    if (adding) table.add(d);
    else table.delete(d);
    if (table.indexStats().slots !== slots) return d;
  }
  throw new Error('no resize');
}

/** Deletes and files `dest` again (or the other way round) 1,000 times; true if the index kept its size. */
function oscillate(table: DestTable, dest: Dest, deleteFirst: boolean): boolean {
  const slots = table.indexStats().slots;
  for (let i = 0; i < 1000; i++) {
    if (deleteFirst) table.delete(dest);
    table.add(dest);
    if (!deleteFirst) table.delete(dest);
    if (table.indexStats().slots !== slots) return false;
  }
  return true;
}

test('a table oscillating around a resize threshold does not resize every operation', (t) => {
  const table = new DestTable(1);
  const dests = Array.from({ length: 5000 }, (_, i) => new Dest(ipv4Prefix(i << 8, 24)));
  t.true(oscillate(table, untilResize(table, dests, true), true), 'just grown');
  for (const d of dests) table.add(d);
  t.true(oscillate(table, untilResize(table, dests, false), false), 'just shrunk');
  for (const d of dests) table.delete(d);
  t.is(table.size, 0);
  t.is(table.indexStats().slots, 64, 'shrinks back to its smallest');
  t.deepEqual([...table.values()], []);
});

test('churn at a steady size reuses deleted slots without growing the index', (t) => {
  const table = new DestTable(1);
  const live: Dest[] = [];
  for (let i = 0; i < 1000; i++) {
    live.push(new Dest(ipv4Prefix(i << 8, 24)));
    table.add(live[i]);
  }
  const slots = table.indexStats().slots;
  const next = random(11);
  for (let i = 1000; i < 100_000; i++) {
    const at = Math.floor(next() * live.length);
    table.delete(live[at]);
    live[at] = new Dest(ipv4Prefix((i << 8) >>> 0, 24));
    table.add(live[at]);
  }
  t.true(table.indexStats().slots <= 2 * slots);
  t.is(table.size, 1000);
  t.true(live.every((d) => table.get(d) === d));
  t.true(sameDests(table.values(), live));
});
