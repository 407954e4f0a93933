// The pure block (src/ipam/block.ts): properties over random operation sequences — no address handed
// out twice, release restores the free list in FIFO order, sequence numbers refuse stale releases —
// plus one test per rule of Calico's block (§7.2 step 7, §7.3).

import test from 'ava';
import type { ExecutionContext } from 'ava';

import {
  allocatedOrdinals,
  assign,
  assignOrdinal,
  attributeOf,
  freeCount,
  handleTally,
  isEmpty,
  newBlock,
  release,
  releaseByHandle,
} from '../../src/ipam/block.ts';
import type { AllocationAttribute, AllocationBlock } from '../../src/ipam/block.ts';
import { formatAddress, parseCidr } from '../../src/ipam/cidr.ts';
import { ordinalAddress } from '../../src/ipam/block.ts';
import { prng, randomInt } from './support.ts';

const CIDR = parseCidr('10.65.0.0/26')!;
const fresh = (): AllocationBlock =>
  newBlock(CIDR, { affinity: 'host:n1', affinityClaimTime: 0, sequenceNumber: 1_000 });
const attr = (handleId: string | undefined, node = 'n1'): AllocationAttribute => ({
  handleId,
  secondary: { node },
});

// ---------------------------------------------------------------------------------------------------
// Invariants every block must satisfy

/** The first broken invariant, or undefined. Plain checks, so property runs stay fast. */
function violation(block: AllocationBlock): string | undefined {
  const size = block.allocations.length;
  const allocated = allocatedOrdinals(block);
  const free = new Set(block.unallocated);
  if (free.size !== block.unallocated.length) return 'free list has duplicates';
  if (allocated.some((o) => free.has(o))) return 'an ordinal is both allocated and free';
  if (allocated.length + free.size !== size) return 'ordinals lost';
  const referenced = new Set(allocated.map((o) => block.allocations[o]!));
  if (referenced.size !== block.attributes.length) return 'unreferenced or missing attributes';
  if (allocated.some((o) => block.sequenceNumberForAllocation[o] === null))
    return 'allocated without sequence';
  if ([...free].some((o) => block.sequenceNumberForAllocation[o] !== null)) return 'free with sequence';
  return undefined;
}

function checkInvariants(t: ExecutionContext, block: AllocationBlock, where: string): boolean {
  const broken = violation(block);
  if (broken !== undefined) t.fail(`${where}: ${broken}`);
  return broken === undefined;
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

interface Held {
  readonly handleId: string;
  readonly sequenceNumber: number;
}

// ---------------------------------------------------------------------------------------------------
// Properties

test('property: random assign/release sequences never hand out an allocated address', (t) => {
  for (let seed = 1; seed <= 150; seed += 1) {
    const random = prng(seed);
    let block = fresh();
    const model = new Map<number, Held>();
    const freed: { ordinal: number; held: Held }[] = [];
    for (let step = 0; step < 120; step += 1) {
      const before = block;
      const op = randomInt(random, 4);
      if (op === 0 || model.size === 0) {
        const handleId = `h${randomInt(random, 6)}`;
        const result = assign(block, 1 + randomInt(random, 5), attr(handleId));
        for (const o of result.ordinals) {
          if (model.has(o)) return t.fail(`seed ${seed} step ${step}: ordinal ${o} handed out twice`);
          model.set(o, { handleId, sequenceNumber: result.block.sequenceNumber });
        }
        block = result.block;
      } else if (op === 1) {
        const picks = [...model.keys()].filter(() => random() < 0.3);
        const outcome = release(
          block,
          picks.map((o) => ({ ordinal: o, ...model.get(o)! })),
        );
        if (!outcome.ok) return t.fail(`seed ${seed}: exact release refused: ${outcome.reason}`);
        if (!sameMembers(outcome.released, picks)) return t.fail(`seed ${seed}: released the wrong ordinals`);
        for (const o of picks) freed.push({ ordinal: o, held: model.get(o)! });
        for (const o of picks) model.delete(o);
        block = outcome.block;
      } else if (op === 2 && freed.length > 0) {
        // A stale release: an allocation record from before the ordinal was freed (maybe reused since).
        const stale = freed[randomInt(random, freed.length)];
        const outcome = release(block, [{ ordinal: stale.ordinal, ...stale.held }]);
        const refused = model.has(stale.ordinal) ? !outcome.ok : outcome.ok && outcome.released.length === 0;
        if (!refused) return t.fail(`seed ${seed} step ${step}: a stale release freed something`);
      } else if (op === 3) {
        const handleId = `h${randomInt(random, 6)}`;
        const result = releaseByHandle(block, handleId);
        const expected = [...model].filter(([, h]) => h.handleId === handleId).map(([o]) => o);
        if (!sameMembers(result.released, expected)) return t.fail(`seed ${seed}: releaseByHandle`);
        for (const o of expected) freed.push({ ordinal: o, held: model.get(o)! });
        for (const o of expected) model.delete(o);
        block = result.block;
      }
      const where = `seed ${seed} step ${step}`;
      if (!checkInvariants(t, block, where)) return;
      if (!sameMembers(allocatedOrdinals(block), [...model.keys()])) return t.fail(`${where}: model differs`);
      if (block !== before && block.sequenceNumber !== before.sequenceNumber + 1)
        return t.fail(`${where}: seq`);
      for (const [o, held] of model) {
        if (attributeOf(block, o)?.handleId !== held.handleId) return t.fail(`${where}: ordinal ${o} owner`);
      }
    }
  }
  t.pass('150 seeds × 120 operations');
});

test('property: releasing everything restores the whole free list, freed ordinals at the tail in order', (t) => {
  for (let seed = 1; seed <= 100; seed += 1) {
    const random = prng(seed);
    let block = fresh();
    const holders: { ordinal: number; sequenceNumber: number }[] = [];
    while (freeCount(block) > 0 && random() < 0.97) {
      const result = assign(block, 1 + randomInt(random, 8), attr(`h${randomInt(random, 3)}`));
      for (const o of result.ordinals)
        holders.push({ ordinal: o, sequenceNumber: result.block.sequenceNumber });
      block = result.block;
    }
    const untouched = block.unallocated;
    const order = holders.map((h) => h).sort(() => random() - 0.5);
    for (const holder of order) {
      const outcome = release(block, [holder]);
      if (!outcome.ok) return t.fail(outcome.reason);
      block = outcome.block;
    }
    t.true(isEmpty(block));
    t.is(block.attributes.length, 0);
    t.deepEqual(block.unallocated, [...untouched, ...order.map((h) => h.ordinal)], `seed ${seed}`);
    checkInvariants(t, block, `seed ${seed}`);
  }
});

test('property: a release carrying an old sequence number never frees the new owner', (t) => {
  for (let seed = 1; seed <= 200; seed += 1) {
    const random = prng(seed);
    // Fill, so the freed ordinal comes back only after a full turn of the FIFO.
    let block = assign(fresh(), 64, attr('old')).block;
    const ordinal = randomInt(random, 64);
    const oldSequence = block.sequenceNumberForAllocation[ordinal]!;
    const freed = release(block, [{ ordinal, sequenceNumber: oldSequence }]);
    if (!freed.ok) return t.fail();
    const reused = assign(freed.block, 1, attr('new'));
    t.deepEqual(reused.ordinals, [ordinal]);
    block = reused.block;
    const stale = release(block, [{ ordinal, sequenceNumber: oldSequence }]);
    t.false(stale.ok);
    if (!stale.ok) t.regex(stale.reason, /stale release/);
    t.is(attributeOf(block, ordinal)?.handleId, 'new');
  }
});

// ---------------------------------------------------------------------------------------------------
// Rules

test('a new block has every ordinal free, in order, and assign takes from the head', (t) => {
  const block = fresh();
  t.is(block.allocations.length, 64);
  t.deepEqual(
    block.unallocated,
    Array.from({ length: 64 }, (_, i) => i),
  );
  const { block: next, ordinals } = assign(block, 3, attr('h'));
  t.deepEqual(ordinals, [0, 1, 2]);
  t.deepEqual(
    ordinals.map((o) => formatAddress(ordinalAddress(next, o))),
    ['10.65.0.0', '10.65.0.1', '10.65.0.2'],
  );
  t.is(next.sequenceNumber, 1_001);
  t.deepEqual(next.sequenceNumberForAllocation.slice(0, 4), [1_001, 1_001, 1_001, null]);
  t.is(block.unallocated.length, 64, 'the input block is not changed');
});

test('released ordinals go to the tail: the longest-free address is reused first (FIFO, §7.3)', (t) => {
  let block = assign(fresh(), 4, attr('h')).block;
  const outcome = release(block, [{ ordinal: 1 }]);
  if (!outcome.ok) return t.fail();
  block = outcome.block;
  t.deepEqual(block.unallocated.slice(-2), [63, 1]);
  t.deepEqual(assign(block, 1, attr('h')).ordinals, [4]);
});

test('reserved ordinals are skipped but stay free', (t) => {
  const reserved = (o: number) => o < 2;
  const { block, ordinals } = assign(fresh(), 2, attr('h'), reserved);
  t.deepEqual(ordinals, [2, 3]);
  t.deepEqual(block.unallocated.slice(0, 2), [0, 1]);
  t.is(freeCount(block, reserved), 60);
  t.is(freeCount(block), 62);
});

test('a full block assigns nothing and is returned unchanged', (t) => {
  const full = assign(fresh(), 100, attr('h'));
  t.is(full.ordinals.length, 64);
  const again = assign(full.block, 1, attr('h'));
  t.is(again.block, full.block);
  t.deepEqual(again.ordinals, []);
});

test('assignOrdinal takes one specific ordinal and refuses a taken one', (t) => {
  const first = assignOrdinal(fresh(), 10, attr('a'));
  if (!first.ok) return t.fail();
  t.false(first.block.unallocated.includes(10));
  t.deepEqual(assignOrdinal(first.block, 10, attr('b')), { ok: false, reason: 'already-allocated' });
  t.deepEqual(assignOrdinal(first.block, 64, attr('b')), { ok: false, reason: 'out-of-range' });
});

test('a handle mismatch refuses the whole release; unallocated ordinals are reported, not errors', (t) => {
  const block = assign(assign(fresh(), 2, attr('a')).block, 2, attr('b')).block;
  const refused = release(block, [
    { ordinal: 0, handleId: 'a' },
    { ordinal: 2, handleId: 'a' },
  ]);
  t.false(refused.ok);
  if (!refused.ok) {
    t.is(refused.ordinal, 2);
    t.regex(refused.reason, /handle "b", not "a"/);
  }
  const outcome = release(block, [{ ordinal: 0, handleId: 'a' }, { ordinal: 40 }]);
  if (!outcome.ok) return t.fail();
  t.deepEqual(outcome.released, [0]);
  t.deepEqual(outcome.notAllocated, [40]);
  const nothing = release(block, [{ ordinal: 40 }]);
  t.true(nothing.ok && nothing.block === block, 'nothing released, nothing to write');
});

test('allocations with equal handle and owner share one attribute; release compacts attributes', (t) => {
  let block = assign(fresh(), 2, attr('a')).block;
  block = assign(block, 1, attr('a')).block;
  block = assign(block, 1, attr('b')).block;
  t.is(block.attributes.length, 2);
  t.deepEqual(block.allocations.slice(0, 5), [0, 0, 0, 1, null]);
  t.deepEqual(Object.fromEntries(handleTally(block)), { a: 3, b: 1 });
  const outcome = releaseByHandle(block, 'a');
  t.deepEqual(outcome.released, [0, 1, 2]);
  t.deepEqual(outcome.block.attributes, [attr('b')]);
  t.deepEqual(outcome.block.allocations.slice(0, 4), [null, null, null, 0]);
});

test('an IPv6 /122 block maps ordinals into the last word', (t) => {
  const block = newBlock(parseCidr('fd00:65::ffff:ffc0/122')!, {
    affinity: undefined,
    affinityClaimTime: undefined,
    sequenceNumber: 1,
  });
  const { block: next, ordinals } = assign(block, 64, attr(undefined));
  t.is(formatAddress(ordinalAddress(next, ordinals[63])), 'fd00:65::ffff:ffff');
  t.is(formatAddress(ordinalAddress(next, ordinals[0])), 'fd00:65::ffff:ffc0');
});
