// The Loc-RIB's index: every Dest, found by its prefix. IPv4 Dests sit in a dense list in the order
// they were filed, found through an open-addressing index of 32-bit slots (place in the list and a
// tag; the Dests hold the keys); IPv6 Dests, few here, in a Map keyed by text.
//
// Why this layout (bench/reflector/dest-table.ts, bench/reflector/path-memory.ts):
// - The dense list is what values() walks and what a full GC marks, in the order the Dests were
//   allocated, as the Map's entries were. An earlier open-addressing set that held the Dests in hash
//   order made every full GC mark them in random memory order, 3–4 times slower; the index holds only
//   integers, which the GC never reads (a full GC with 500k Dests took as long as with the Map).
// - Consecutive prefixes of one length share a 64-byte line of the index, so a table arriving in
//   prefix order (a peer's dump, a withdraw-all) is looked up a line at a time, and a lookup reads
//   no Dest but its own (the Loc-RIB reads it next anyway). Through the Loc-RIB at 500k /24s in
//   prefix order, against the Map: announcing about 15% faster, withdrawing about 40% (`--rib`).
//   Looked up alone in a random order, the Dest it reads makes it slower than the Map.
// - Memory: 17–19 bytes a Dest (the index at a load of 0.35–0.7, the list at 8 bytes and V8's growth
//   slack), against 29–37 for a Map per length; and the index lives outside V8's heap, where each
//   doubling of the Map left a large object behind: at 500k paths the large-object space at the peak
//   went from 36 to 6 MiB, the peak RSS per path from 265 to 212 bytes.

import { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { Dest } from './route.ts';

/**
 * The index is read a cache line at a time: lines of 2^RUN_BITS slots of 32 bits (64 bytes).
 * Consecutive network numbers of one prefix length share a line, so a table arriving in prefix order
 * is filed and looked up a line at a time.
 */
const RUN_BITS = 4;
const RUN_MASK = (1 << RUN_BITS) - 1;
/**
 * A slot: the Dest's place in the dense list above TAG_BITS, and below a tag of the prefix (its
 * network number's low RUN_BITS, which tell the prefixes of one run apart, and bits of its run's
 * hash, which tell most others apart): a lookup reads the Dest only where the tag matches.
 */
const TAG_BITS = 8;
const TAG_MASK = (1 << TAG_BITS) - 1;
/** Places fit in the bits above the tag (read back with >>>): 16M IPv4 prefixes and holes. */
const MAX_PLACES = 2 ** (32 - TAG_BITS);
/** A slot never used since the last rebuild: a lookup ends there (tags are 1–253). */
const EMPTY = 0;
/** A slot whose prefix was deleted: a lookup goes on past it, an insertion reuses it. */
const DELETED = TAG_MASK;
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

/**
 * A prefix's tag (see TAG_BITS), 1–253: 4 bits of its run's hash above its network number's low
 * RUN_BITS, the three values that would reach DELETED and beyond folded onto those of another hash
 * (still distinct within the run).
 */
function tagOf(network: number, h: number): number {
  const tag = 1 + (((h >>> 28) << RUN_BITS) | (network & RUN_MASK));
  return tag < DELETED - 1 ? tag : tag - 128;
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
 * other, a mean of 4.6 slots and up to 209 per lookup for 500k consecutive /24s.
 */
class Ipv4Index {
  private slots = new Int32Array(MIN_SLOTS);
  private lineMask = (MIN_SLOTS >> RUN_BITS) - 1;
  private growAt = Math.floor(MIN_SLOTS * MAX_LOAD);
  private shrinkAt = -1;
  private readonly salts: Int32Array;
  /** Filed prefixes. */
  count = 0;
  private deleted = 0;
  /**
   * Where the last find() ended, for the Loc-RIB's lookup-then-change: the prefix's slot, or for a
   * miss the slot its insertion takes. Prefixes move only in a rebuild (which forgets it) and every
   * insertion finds first, so while the hint is this prefix's its slot holds it or, free, says it is
   * absent and may be filed there.
   */
  private hintSlot = -1;
  private hintKey = 0;
  private hintLength = 0;
  private hintTag = 0;

  constructor(
    seed: number,
    /** The dense list (DestTable.ipv4): the Dests hold the keys. */
    private readonly dests: readonly (Dest | undefined)[],
  ) {
    this.salts = lengthSalts(seed);
  }

  /** The slot holding the prefix, or -1. */
  find(key: number, length: number): number {
    const slots = this.slots;
    const hint = this.hintSlot;
    if (hint >= 0 && this.hintKey === key && this.hintLength === length) {
      const word = slots[hint];
      return word === EMPTY || word === DELETED ? -1 : hint;
    }
    const network = networkOf(key, length);
    const h = fmix32((network >>> RUN_BITS) ^ this.salts[length]);
    const tag = tagOf(network, h);
    const first = network & RUN_MASK;
    let free = -1;
    let step = 0;
    for (let line = h & this.lineMask; ; line = (line + step) & this.lineMask) {
      for (let i = 0; i <= RUN_MASK; i++) {
        const slot = (line << RUN_BITS) | ((first + i) & RUN_MASK);
        const word = slots[slot];
        if (word === EMPTY) return this.ended(key, length, tag, free < 0 ? slot : free, -1);
        if (word === DELETED) free = free < 0 ? slot : free;
        else if ((word & TAG_MASK) === tag && this.holds(word, key, length))
          return this.ended(key, length, tag, slot, slot);
      }
      step = step || this.lineStep(network, length);
    }
  }

  /** The slot's Dest is the prefix's. */
  private holds(word: number, key: number, length: number): boolean {
    const dest = this.dests[word >>> TAG_BITS] as Dest;
    return (dest.w0 | 0) === key && dest.length === length;
  }

  /** How many lines a probe moves on from a full one: odd, so it visits every line of the index. */
  private lineStep(network: number, length: number): number {
    return (fmix32((network >>> RUN_BITS) ^ ~this.salts[length]) >>> 8) | 1;
  }

  /** Remembers where find() ended for the prefix (see hintSlot); returns `found`. */
  private ended(key: number, length: number, tag: number, slot: number, found: number): number {
    this.hintSlot = slot;
    this.hintKey = key;
    this.hintLength = length;
    this.hintTag = tag;
    return found;
  }

  placeAt(slot: number): number {
    return this.slots[slot] >>> TAG_BITS;
  }

  /** Files a prefix find() just missed, where that probe ended (found again if the index changed since). */
  insert(key: number, length: number, place: number): void {
    if (place >= MAX_PLACES) throw new RangeError(`more than ${MAX_PLACES} IPv4 destinations`);
    if (this.count + this.deleted >= this.growAt) {
      const size = this.slotCount;
      this.rebuild(this.count >= GROW_SHARE * this.growAt ? 2 * size : size);
    }
    if (this.find(key, length) >= 0) throw new Error('the prefix is filed already');
    const slot = this.hintSlot;
    if (this.slots[slot] === DELETED) this.deleted--;
    this.slots[slot] = (place << TAG_BITS) | this.hintTag;
    this.count++;
  }

  remove(slot: number): void {
    this.slots[slot] = DELETED;
    this.count--;
    this.deleted++;
    if (this.count < this.shrinkAt) this.rebuild(this.slotCount / 2);
  }

  /**
   * Files every Dest of the dense list again in `size` slots, dropping DELETED ones: O(slots + list),
   * after as many changes, reading the Dests in the order they sit in memory.
   */
  private rebuild(size: number): void {
    this.slots = new Int32Array(size);
    this.lineMask = (size >> RUN_BITS) - 1;
    this.growAt = Math.floor(size * MAX_LOAD);
    this.shrinkAt = size > MIN_SLOTS ? Math.floor((size * MAX_LOAD) / 4) : -1;
    this.deleted = 0;
    this.hintSlot = -1;
    const dests = this.dests;
    for (let place = 0; place < dests.length; place++) {
      const dest = dests[place];
      if (dest !== undefined) this.fill(dest.w0 | 0, dest.length, place);
    }
  }

  /** Files a prefix in the first EMPTY slot of its probe (a rebuilt index has nothing DELETED). */
  private fill(key: number, length: number, place: number): void {
    const network = networkOf(key, length);
    const h = fmix32((network >>> RUN_BITS) ^ this.salts[length]);
    const first = network & RUN_MASK;
    let step = 0;
    for (let line = h & this.lineMask; ; line = (line + step) & this.lineMask) {
      for (let i = 0; i <= RUN_MASK; i++) {
        const slot = (line << RUN_BITS) | ((first + i) & RUN_MASK);
        if (this.slots[slot] !== EMPTY) continue;
        this.slots[slot] = (place << TAG_BITS) | tagOf(network, h);
        return;
      }
      step = step || this.lineStep(network, length);
    }
  }

  /** The dense list was compacted: every place p becomes places[p]. */
  remap(places: Int32Array): void {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const word = slots[i];
      if (word === EMPTY || word === DELETED) continue;
      slots[i] = (places[word >>> TAG_BITS] << TAG_BITS) | (word & TAG_MASK);
    }
  }

  /**
   * What a lookup of a filed prefix reads, on average and at most: index lines, and Dests (its own and
   * those whose tag matched its own). For tests and benches.
   */
  probeLengths(): { meanLines: number; maxLines: number; meanReads: number; maxReads: number } {
    const sum = { lines: 0, reads: 0, maxLines: 0, maxReads: 0 };
    for (const dest of this.dests) {
      if (dest === undefined) continue;
      const [lines, reads] = this.probesFor(dest.w0 | 0, dest.length);
      sum.lines += lines;
      sum.reads += reads;
      sum.maxLines = Math.max(sum.maxLines, lines);
      sum.maxReads = Math.max(sum.maxReads, reads);
    }
    const n = Math.max(1, this.count);
    return {
      meanLines: sum.lines / n,
      maxLines: sum.maxLines,
      meanReads: sum.reads / n,
      maxReads: sum.maxReads,
    };
  }

  /** find()'s probe for a filed prefix, counted: [lines, Dests read]. */
  private probesFor(key: number, length: number): [number, number] {
    const network = networkOf(key, length);
    const h = fmix32((network >>> RUN_BITS) ^ this.salts[length]);
    const step = this.lineStep(network, length);
    let reads = 0;
    for (let line = h & this.lineMask, lines = 1; ; line = (line + step) & this.lineMask, lines++) {
      for (let i = 0; i <= RUN_MASK; i++) {
        const word = this.slots[(line << RUN_BITS) | (((network & RUN_MASK) + i) & RUN_MASK)];
        if (word === EMPTY || word === DELETED || (word & TAG_MASK) !== tagOf(network, h)) continue;
        reads++;
        if (this.holds(word, key, length)) return [lines, reads];
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
    this.index = new Ipv4Index(seed, this.ipv4);
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
  indexStats(): { meanLines: number; maxLines: number; meanReads: number; maxReads: number; slots: number } {
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
