// The Loc-RIB's prefix index (rib/dest-table.ts): lookups by prefix for every IPv4 length and IPv6,
// random operation sequences checked against a Map, and live iterations across deletions and
// additions, as a walk spread over many turns meets them.
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

function filled(prefixes: readonly Prefix[]): { table: DestTable; dests: Dest[] } {
  const table = new DestTable();
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

test('random operations agree with a Map model as the table grows, shrinks and grows again', (t) => {
  const next = random(7);
  // A small key space so operations hit filed prefixes often; mostly /24s, some other lengths, some IPv6.
  const space: Prefix[] = [];
  for (let i = 0; i < 3000; i++) space.push(ipv4Prefix(0x0a000000 + i * 256, 24));
  for (let i = 0; i < 500; i++) space.push(ipv4Prefix(Math.floor(next() * 0x1_0000_0000), 1 + (i % 32)));
  for (let i = 0; i < 200; i++) space.push(ipv6Prefix([0x20010db8, i, 0, 0], 64));
  const table = new DestTable();
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
  const table = new DestTable();
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

test('a live iteration yields no Dest twice, skips those deleted, and sees those added meanwhile', (t) => {
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
  // Three in four IPv4 Dests go, behind and ahead of the iterator.
  dests.forEach((d, i) => i % 4 !== 0 && i < 4000 && remove(d));
  step(iterator, 200, seen);
  // Many additions, then most of them go again while the iteration is under way.
  const added = Array.from({ length: 20_000 }, (_, i) => new Dest(ipv4Prefix(0x0b000000 + i * 256, 24)));
  for (const d of added) table.add(d);
  let deletedAgain = false;
  while (step(iterator, 500, seen)) {
    if (seen.length < 3000 || deletedAgain) continue;
    added.slice(0, 15_000).forEach(remove);
    deletedAgain = true;
  }
  t.true(deletedAgain);
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

test('neighbouring prefixes share a group: one Dest alone, a second makes slots, the last out ends it', (t) => {
  // 10.0.0.0/24 … 10.0.15.0/24 are one group; 10.0.16.0/24 starts the next; 10.0.0.0/25 is another length.
  const at = (i: number) => ipv4Prefix(0x0a000000 + i * 256, 24);
  const table = new DestTable();
  const first = new Dest(at(3));
  table.add(first);
  for (const i of [0, 2, 4, 15, 16])
    t.is(table.get(at(i)), undefined, `a group of one finds only its own: ${i}`);
  t.is(table.get(ipv4Prefix(0x0a000300, 25)), undefined);
  const iterator = table.values();
  t.is(iterator.next().value, first);
  const run = Array.from({ length: 17 }, (_, i) => (i === 3 ? first : new Dest(at(i))));
  for (const d of run) table.add(d);
  t.is(table.size, 17);
  run.forEach((d, i) => t.is(table.get(at(i)), d, `filed: ${i}`));
  const rest: Dest[] = [];
  for (let next = iterator.next(); !next.done; next = iterator.next()) rest.push(next.value);
  t.deepEqual(rest, [run[16]], 'the group turned into slots behind the iteration; the next group is new');
  t.deepEqual([...table.values()], run, 'in prefix order within a group');

  const replacement = new Dest(at(7));
  table.add(replacement);
  t.is(table.size, 17);
  t.is(table.get(at(7)), replacement);
  const walk = table.values();
  t.is(walk.next().value, run[0]);
  for (let i = 0; i < 16; i++) t.true(table.delete(new Dest(at(i))), `deleted by prefix: ${i}`);
  t.false(table.delete(first));
  t.is(table.size, 1);
  t.deepEqual([...table.values()], [run[16]]);
  t.is(walk.next().value, run[16], 'a live walk inside an emptied group goes on to the next');
  table.add(first);
  t.is(table.get(at(3)), first, 'a group filed again after its last Dest went');
  t.is(table.size, 2);
});
