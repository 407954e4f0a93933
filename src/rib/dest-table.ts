// The Loc-RIB's index: every Dest, found by its prefix. IPv4 Dests sit in a dense list in the order
// they were filed, found through an open-addressing index of two Int32Arrays words per slot (address,
// then place in the list and length); IPv6 Dests, few here, in a Map keyed by text.
//
// Why this layout (bench/reflector/dest-table.ts, bench/reflector/path-memory.ts):
// - The dense list is what values() walks and what a full GC marks: in allocation order, as the Map's
//   entries were. An earlier open-addressing set that held the Dests in hash order made every full
//   GC mark them in random memory order, 3–4 times slower; the index here holds only integers,
//   which the GC never reads.
// - Consecutive prefixes of one length share a 64-byte line of the index, so a table arriving in
//   prefix order (a peer's dump, a withdraw-all) is looked up a line at a time.
// - Memory: the index costs 8 bytes a slot at a load of 0.35–0.7, the list 8 bytes a Dest; the Map
//   cost 30–39 bytes a Dest (heap census at 500k and 100k paths).

import { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { Dest } from './route.ts';

/**
 * The index is read a cache line at a time: lines of 2^RUN_BITS slots of two 32-bit words (64 bytes).
 * Consecutive network numbers of one prefix length share a line, so a table arriving in prefix order
 * is filed and looked up a line at a time.
 */
const RUN_BITS = 3;
const RUN_MASK = (1 << RUN_BITS) - 1;
/** A slot's second word: the Dest's place in the dense list above LENGTH_BITS, its prefix length + 1 below. */
const LENGTH_BITS = 6;
const LENGTH_FIELD = (1 << LENGTH_BITS) - 1;
/** The second word of a slot never used since the last rebuild: a lookup ends there. */
const EMPTY = 0;
/** The second word of a slot whose prefix was deleted: a lookup goes on past it, an insertion reuses it. */
const DELETED = LENGTH_FIELD;
const MIN_SLOTS = 64;
/**
 * The index doubles once filed and deleted slots reach this load, and halves when filed ones fall
 * below a quarter of it: either way it is left at about half of it.
 */
const MAX_LOAD = 0.7;
/**
 * When filed and deleted slots reach MAX_LOAD, the index doubles if filed ones are this share of it,
 * else it is rebuilt at its size without the deleted: churn at a steady size does not grow it, and
 * each rebuild follows at least a quarter of MAX_LOAD's slots in insertions.
 */
const GROW_SHARE = 0.75;
/** Holes in the dense list are squeezed out once they outnumber the Dests, and are at least this many. */
const MIN_HOLES = 32;
/** Abandoned iterators are forgotten when the registry reaches this many (then twice what is left). */
const MIN_CURSOR_PRUNE = 64;

function randomSeed(): number {
  return (Math.random() * 0x1_0000_0000) | 0;
}

/** MurmurHash3's 32-bit finaliser: every input bit moves every output bit. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A salt per prefix length 0–32, so the runs of different lengths land independently. */
function lengthSalts(seed: number): Int32Array {
  const salts = new Int32Array(33);
  for (let length = 0; length <= 32; length++)
    salts[length] = fmix32(seed ^ Math.imul(length + 1, 0x9e3779b9));
  return salts;
}

/** The prefix's network number: its top `length` bits. */
function networkOf(key: number, length: number): number {
  return length === 0 ? 0 : key >>> (32 - length);
}

/**
 * IPv4 (address, length) → place in the dense list. A prefix's run (its network number without the
 * low RUN_BITS) is hashed to a home line; the low bits pick the slot it tries first in each line. A
 * lookup reads its home line from that slot round; when the line is full it moves on by a step of
 * lines hashed apart from the home (double hashing by line), so two runs that meet share the overflow
 * of one line among many others. Linear probing was measured first: whole runs piled up behind each
 * other, a mean of 4.6 slots and up to 209 per lookup for 500k consecutive /24s (here: 1.4 lines,
 * at most 11).
 */
class Ipv4Index {
  /**
   * Two words per slot: the address as a signed 32-bit integer, then place << LENGTH_BITS | length + 1
   * (EMPTY, DELETED). Places up to 2^26 fit, read back with >>>.
   */
  private slots = new Int32Array(2 * MIN_SLOTS);
  private lineMask = (MIN_SLOTS >> RUN_BITS) - 1;
  private growAt = Math.floor(MIN_SLOTS * MAX_LOAD);
  private shrinkAt = -1;
  private readonly salts: Int32Array;
  /** Filed prefixes. */
  count = 0;
  private deleted = 0;
  /**
   * Where the last find() ended, for the Loc-RIB's lookup-then-change: the prefix's slot, or for a
   * miss the slot its insertion takes. Prefixes move only in a rebuild (which forgets it): while the
   * slot holds the prefix it is a hit; while it is free the prefix is absent and may be filed there.
   */
  private hintSlot = -1;
  private hintKey = 0;
  private hintTag = 0;

  constructor(seed: number) {
    this.salts = lengthSalts(seed);
  }

  /** The slot holding the prefix, or -1. */
  find(key: number, length: number): number {
    const slots = this.slots;
    const tag = length + 1;
    const hint = this.hintSlot;
    if (hint >= 0 && slots[2 * hint] === key && (slots[2 * hint + 1] & LENGTH_FIELD) === tag) return hint;
    if (this.missedHere(key, length)) return -1;
    const network = networkOf(key, length);
    const first = network & RUN_MASK;
    let free = -1;
    let step = 0;
    for (let line = this.homeLine(network, length); ; line = (line + step) & this.lineMask) {
      for (let i = 0; i <= RUN_MASK; i++) {
        const slot = (line << RUN_BITS) | ((first + i) & RUN_MASK);
        const word = slots[2 * slot + 1];
        if (word === EMPTY) return this.ended(key, tag, free < 0 ? slot : free, -1);
        if (word === DELETED) free = free < 0 ? slot : free;
        else if (slots[2 * slot] === key && (word & LENGTH_FIELD) === tag)
          return this.ended(key, tag, slot, slot);
      }
      step = step || this.lineStep(network, length);
    }
  }

  /** The line a prefix tries first: its run hashed. */
  private homeLine(network: number, length: number): number {
    return fmix32((network >>> RUN_BITS) ^ this.salts[length]) & this.lineMask;
  }

  /** How many lines a probe moves on from a full one: odd, so it visits every line of the index. */
  private lineStep(network: number, length: number): number {
    const run = fmix32((network >>> RUN_BITS) ^ ~this.salts[length]);
    return (run >>> 8) | 1;
  }

  /** Remembers where find() ended for the prefix (see hintSlot); returns `found`. */
  private ended(key: number, tag: number, slot: number, found: number): number {
    this.hintSlot = slot;
    this.hintKey = key;
    this.hintTag = tag;
    return found;
  }

  placeAt(slot: number): number {
    return this.slots[2 * slot + 1] >>> LENGTH_BITS;
  }

  /** Files a prefix find() just missed, where that probe ended (found again if the index changed since). */
  insert(key: number, length: number, place: number): void {
    if (this.count + this.deleted >= this.growAt) {
      const size = this.slotCount;
      this.rebuild(this.count >= GROW_SHARE * this.growAt ? 2 * size : size);
    }
    if (!this.missedHere(key, length)) this.find(key, length);
    const slot = this.hintSlot;
    if (this.slots[2 * slot + 1] === DELETED) this.deleted--;
    this.slots[2 * slot] = key;
    this.slots[2 * slot + 1] = (place << LENGTH_BITS) | (length + 1);
    this.count++;
  }

  /**
   * The last find() missed this prefix and its slot is still free. Deletions leave slots DELETED,
   * never EMPTY, so the probe that missed would miss the same way; only a rebuild starts afresh.
   */
  private missedHere(key: number, length: number): boolean {
    const hint = this.hintSlot;
    if (hint < 0 || this.hintKey !== key || this.hintTag !== length + 1) return false;
    const word = this.slots[2 * hint + 1];
    return word === EMPTY || word === DELETED;
  }

  remove(slot: number): void {
    this.slots[2 * slot] = 0;
    this.slots[2 * slot + 1] = DELETED;
    this.count--;
    this.deleted++;
    if (this.count < this.shrinkAt) this.rebuild(this.slotCount / 2);
  }

  /** Rehashes into `size` slots, dropping DELETED ones: O(slots), after as many changes. */
  private rebuild(size: number): void {
    const old = this.slots;
    this.slots = new Int32Array(2 * size);
    this.lineMask = (size >> RUN_BITS) - 1;
    this.growAt = Math.floor(size * MAX_LOAD);
    this.shrinkAt = size > MIN_SLOTS ? Math.floor((size * MAX_LOAD) / 4) : -1;
    this.deleted = 0;
    this.hintSlot = -1;
    for (let i = 1; i < old.length; i += 2) {
      const word = old[i];
      if (word === EMPTY || word === DELETED) continue;
      const slot = this.emptySlot(old[i - 1], (word & LENGTH_FIELD) - 1);
      this.slots[2 * slot] = old[i - 1];
      this.slots[2 * slot + 1] = word;
    }
  }

  /** The first EMPTY slot of the prefix's probe (a rebuilt index has nothing DELETED). */
  private emptySlot(key: number, length: number): number {
    const network = networkOf(key, length);
    const first = network & RUN_MASK;
    let step = 0;
    for (let line = this.homeLine(network, length); ; line = (line + step) & this.lineMask) {
      for (let i = 0; i <= RUN_MASK; i++) {
        const slot = (line << RUN_BITS) | ((first + i) & RUN_MASK);
        if (this.slots[2 * slot + 1] === EMPTY) return slot;
      }
      step = step || this.lineStep(network, length);
    }
  }

  /** The dense list was compacted: every place p becomes places[p]. */
  remap(places: Int32Array): void {
    const slots = this.slots;
    for (let i = 1; i < slots.length; i += 2) {
      const word = slots[i];
      if (word === EMPTY || word === DELETED) continue;
      slots[i] = (places[word >>> LENGTH_BITS] << LENGTH_BITS) | (word & LENGTH_FIELD);
    }
  }

  /** Slots and cache lines a lookup of a filed prefix reads, on average and at most (tests, benches). */
  probeLengths(): { mean: number; max: number; meanLines: number; maxLines: number } {
    const sum = { slots: 0, lines: 0, maxSlots: 0, maxLines: 0 };
    for (let i = 1; i < this.slots.length; i += 2) {
      const word = this.slots[i];
      if (word === EMPTY || word === DELETED) continue;
      const [slots, lines] = this.probesFor(this.slots[i - 1], (word & LENGTH_FIELD) - 1);
      sum.slots += slots;
      sum.lines += lines;
      sum.maxSlots = Math.max(sum.maxSlots, slots);
      sum.maxLines = Math.max(sum.maxLines, lines);
    }
    const n = Math.max(1, this.count);
    return { mean: sum.slots / n, max: sum.maxSlots, meanLines: sum.lines / n, maxLines: sum.maxLines };
  }

  /** find()'s probe for a filed prefix, counted: [slots, lines]. */
  private probesFor(key: number, length: number): [number, number] {
    const network = networkOf(key, length);
    const step = this.lineStep(network, length);
    let slots = 0;
    for (
      let line = this.homeLine(network, length), lines = 1;
      ;
      line = (line + step) & this.lineMask, lines++
    ) {
      for (let i = 0; i <= RUN_MASK; i++) {
        const slot = (line << RUN_BITS) | (((network & RUN_MASK) + i) & RUN_MASK);
        slots++;
        if (this.slots[2 * slot] === key && (this.slots[2 * slot + 1] & LENGTH_FIELD) === length + 1)
          return [slots, lines];
      }
    }
  }

  get slotCount(): number {
    return (this.lineMask + 1) << RUN_BITS;
  }
}

/**
 * An iteration over the table, live as a Map's: the IPv4 Dests by their place in the dense list (a
 * compaction moves the place with them, see DestTable.compact), then the IPv6 Map's own iterator.
 */
class DestCursor implements IterableIterator<Dest> {
  /** The next place in the dense list to look at. */
  place = 0;
  /** Set once the IPv4 Dests are done. */
  private ipv6: Iterator<Dest> | undefined = undefined;
  readonly ref: WeakRef<DestCursor> = new WeakRef(this);

  constructor(
    private readonly ipv4: readonly (Dest | undefined)[],
    private readonly ipv6Dests: ReadonlyMap<string, Dest>,
    private readonly cursors: Set<WeakRef<DestCursor>>,
  ) {
    cursors.add(this.ref);
  }

  next(): IteratorResult<Dest> {
    if (this.ipv6 === undefined) {
      const dests = this.ipv4;
      while (this.place < dests.length) {
        const dest = dests[this.place++];
        if (dest !== undefined) return { done: false, value: dest };
      }
      this.cursors.delete(this.ref);
      this.ipv6 = this.ipv6Dests.values();
    }
    return this.ipv6.next();
  }

  /** Stopped early (a `for … of` left by break): the table forgets the cursor now. */
  return(): IteratorResult<Dest> {
    this.cursors.delete(this.ref);
    this.ipv6 = NO_DESTS[Symbol.iterator]();
    return { done: true, value: undefined };
  }

  [Symbol.iterator](): IterableIterator<Dest> {
    return this;
  }
}

const NO_DESTS: readonly Dest[] = Object.freeze([]);

export class DestTable {
  /**
   * IPv4 Dests in the order they were filed, undefined where one left (a hole until compacted): what
   * values() walks and what a full GC marks, in the order the Dests were allocated.
   */
  private readonly ipv4: (Dest | undefined)[] = [];
  private holes = 0;
  private readonly index: Ipv4Index;
  private readonly ipv6 = new Map<string, Dest>();
  /** Iterations under way over the IPv4 Dests, held weakly so an abandoned one pins nothing. */
  private readonly cursors = new Set<WeakRef<DestCursor>>();
  private pruneCursorsAt = MIN_CURSOR_PRUNE;

  /** `seed` varies the hash (random by default, so no peer can aim prefixes at one probe run). */
  constructor(seed = randomSeed()) {
    this.index = new Ipv4Index(seed);
  }

  private static v6Key(p: Prefix): string {
    return `${p.w0}:${p.w1}:${p.w2}:${p.w3}/${p.length}`;
  }

  get(p: Prefix): Dest | undefined {
    if (p.afi !== Afi.Ipv4) return this.ipv6.get(DestTable.v6Key(p));
    const slot = this.index.find(p.w0 | 0, p.length);
    return slot < 0 ? undefined : this.ipv4[this.index.placeAt(slot)];
  }

  /** Files a Dest under its own prefix, in place of one filed there before. */
  add(dest: Dest): void {
    if (dest.afi !== Afi.Ipv4) {
      this.ipv6.set(DestTable.v6Key(dest), dest);
      return;
    }
    const key = dest.w0 | 0;
    const slot = this.index.find(key, dest.length);
    if (slot >= 0) {
      this.ipv4[this.index.placeAt(slot)] = dest;
      return;
    }
    this.index.insert(key, dest.length, this.ipv4.length);
    this.ipv4.push(dest);
  }

  /** Removes whatever is filed under the Dest's prefix. */
  delete(dest: Dest): boolean {
    if (dest.afi !== Afi.Ipv4) return this.ipv6.delete(DestTable.v6Key(dest));
    const slot = this.index.find(dest.w0 | 0, dest.length);
    if (slot < 0) return false;
    this.ipv4[this.index.placeAt(slot)] = undefined;
    this.index.remove(slot);
    this.holes++;
    if (this.holes >= MIN_HOLES && this.holes > this.index.count) this.compact();
    return true;
  }

  get size(): number {
    return this.index.count + this.ipv6.size;
  }

  /**
   * Every Dest, IPv4 in the order filed, then IPv6. The iteration is live: one spread over many turns
   * (a walk, an update group's initial dump) skips Dests deleted meanwhile and sees some of those
   * added, never a Dest twice, across compactions and index growth.
   */
  values(): IterableIterator<Dest> {
    if (this.cursors.size >= this.pruneCursorsAt) this.pruneCursors();
    return new DestCursor(this.ipv4, this.ipv6, this.cursors);
  }

  /** The IPv4 index's probe lengths (see Ipv4Index.probeLengths) and size in slots. */
  indexStats(): { mean: number; max: number; meanLines: number; maxLines: number; slots: number } {
    return { ...this.index.probeLengths(), slots: this.index.slotCount };
  }

  /**
   * Squeezes the holes out of the dense list, keeping its order: O(list), after at least as many
   * deletions. The index and every live iteration follow each Dest to its new place.
   */
  private compact(): void {
    const dests = this.ipv4;
    const places = new Int32Array(dests.length + 1);
    let kept = 0;
    for (let place = 0; place < dests.length; place++) {
      places[place] = kept;
      const dest = dests[place];
      if (dest !== undefined) dests[kept++] = dest;
    }
    places[dests.length] = kept;
    dests.length = kept;
    this.holes = 0;
    this.index.remap(places);
    this.moveCursors(places);
  }

  /** Every iteration under way goes on from where its next Dest now is; abandoned ones are forgotten. */
  private moveCursors(places: Int32Array): void {
    for (const ref of this.cursors) {
      const cursor = ref.deref();
      if (cursor === undefined) this.cursors.delete(ref);
      else cursor.place = places[cursor.place];
    }
  }

  private pruneCursors(): void {
    for (const ref of this.cursors) if (ref.deref() === undefined) this.cursors.delete(ref);
    this.pruneCursorsAt = Math.max(MIN_CURSOR_PRUNE, 2 * this.cursors.size);
  }
}
