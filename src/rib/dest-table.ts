// The Loc-RIB's index: every Dest, found by its prefix. IPv4 prefixes are filed by length, and within
// a length in groups of 16 consecutive prefixes (a /24's group is a /20): a Map per length, keyed by
// the group's number (a small integer, which V8 keeps unboxed), holds the group's only Dest or, once
// a second arrives, an array of its 16 slots. IPv6 prefixes are in a Map keyed by text.
//
// Why groups: a Map with an entry per prefix is a hash table the size of the table (three words and
// half a bucket an entry), and at 500,000 prefixes each lookup was a cache and TLB miss or two in
// it. The reflector benchmark's S3 (500k) spent 147 of its 472 ms withdrawing the table in the
// Map's lookups (a `--cpu-prof` profile, the second table). Routes come in runs of neighbouring
// prefixes (a pool's blocks, an allocation split into /24s), and a run shares a group: the group's
// entry stays in the cache for 16 lookups, and a full group costs 11 bytes a prefix (16 slots and
// the array's headers) instead of an entry. Measured in the daemon, alternating runs: S3's lookups
// 147 → 20 ms, its withdraw-all 0.37–0.66 → 0.26–0.38 s of CPU once warm, bytes per stored path
// 96–97 → 80–83, peak RSS 139–145 → 121–128 MiB; S1's peak RSS 92–98 → 88–90 MiB, its phases within
// the runs' spread. Scattered prefixes cost more than in a Map: a group of one is its Dest alone,
// as in a Map, but a group of two already holds 16 slots. With one /24 in 32 taken at random, V8's
// heap statistics give the index 48 bytes a prefix against the Map's 18 (one in four: 38 against
// 19).
//
// Designs measured before, with a Map per length keyed by the address: an open-addressing hash set
// of Dests (an array slot and an Int32Array hash per entry, ~25 bytes) at a million routes: lookups
// were faster, but the Dests it holds sit in hash order, so every full garbage collection marked them
// in random memory order, 3–4 times slower than through the Map's insertion-ordered entries (groups
// keep filing order: a group is marked when its first Dest was filed, its slots in prefix order). And
// the Dests in a dense list in filing order found through an index of 4-byte slots outside V8's heap:
// S3 converged and withdrew 5 % faster, but S1 withdrew 15–20 % slower, the list's compactions and
// the index's rebuilds as the table empties costing more than the lookups saved.

import { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { Dest } from './route.ts';

/** Consecutive IPv4 prefixes of one length share a group of slots, filed under their number ÷ GROUP. */
const GROUP_BITS = 4;
const GROUP = 1 << GROUP_BITS;
const SLOT = GROUP - 1;

/** A group's slots, by the prefix's number modulo GROUP. */
type Group = (Dest | undefined)[];
/** What a group's key holds: its only Dest, or its slots once a second Dest came. */
type Filed = Dest | Group;

/** The prefix's number among those of its length (the address's top `length` bits). */
function numberOf(w0: number, length: number): number {
  return length === 0 ? 0 : w0 >>> (32 - length);
}

function isGroup(filed: Filed | undefined): filed is Group {
  return Array.isArray(filed);
}

function slotOf(dest: Dest): number {
  return numberOf(dest.w0, dest.length) & SLOT;
}

export class DestTable {
  /** Per prefix length, created on first use: what each group holds, by the group's number. */
  private readonly v4: (Map<number, Filed> | undefined)[] = new Array<undefined>(33).fill(undefined);
  private v4Size = 0;
  private readonly v6 = new Map<string, Dest>();

  private static v6Key(p: Prefix): string {
    return `${p.w0}:${p.w1}:${p.w2}:${p.w3}/${p.length}`;
  }

  get(p: Prefix): Dest | undefined {
    if (p.afi !== Afi.Ipv4) return this.v6.get(DestTable.v6Key(p));
    const n = numberOf(p.w0, p.length);
    const filed = this.v4[p.length]?.get(n >>> GROUP_BITS);
    if (filed === undefined) return undefined;
    if (isGroup(filed)) return filed[n & SLOT];
    return slotOf(filed) === (n & SLOT) ? filed : undefined;
  }

  /** Files a Dest under its own prefix, in place of one filed there before. */
  add(dest: Dest): void {
    if (dest.afi !== Afi.Ipv4) {
      this.v6.set(DestTable.v6Key(dest), dest);
      return;
    }
    const n = numberOf(dest.w0, dest.length);
    const key = n >>> GROUP_BITS;
    const slot = n & SLOT;
    const groups = (this.v4[dest.length] ??= new Map<number, Filed>());
    const filed = groups.get(key);
    if (isGroup(filed)) {
      if (filed[slot] === undefined) this.v4Size++;
      filed[slot] = dest;
    } else if (filed === undefined) {
      groups.set(key, dest);
      this.v4Size++;
    } else if (slotOf(filed) === slot) {
      groups.set(key, dest);
    } else {
      const group: Group = new Array<Dest | undefined>(GROUP).fill(undefined);
      group[slotOf(filed)] = filed;
      group[slot] = dest;
      groups.set(key, group);
      this.v4Size++;
    }
  }

  /** Takes the Dest filed under `dest`'s prefix out of the table. */
  delete(dest: Dest): boolean {
    if (dest.afi !== Afi.Ipv4) return this.v6.delete(DestTable.v6Key(dest));
    const groups = this.v4[dest.length];
    const n = numberOf(dest.w0, dest.length);
    const filed = groups?.get(n >>> GROUP_BITS);
    if (groups === undefined || filed === undefined) return false;
    if (isGroup(filed)) {
      if (filed[n & SLOT] === undefined) return false;
      filed[n & SLOT] = undefined;
      // A group stays a group until its last Dest goes (a live iteration may be inside it).
      if (isEmpty(filed)) groups.delete(n >>> GROUP_BITS);
    } else {
      if (slotOf(filed) !== (n & SLOT)) return false;
      groups.delete(n >>> GROUP_BITS);
    }
    this.v4Size--;
    return true;
  }

  get size(): number {
    return this.v4Size + this.v6.size;
  }

  /**
   * Every Dest. The iteration is live (a Map's, then a group's slots): one spread over many turns (an
   * update group's initial dump) skips Dests deleted meanwhile and sees some of those added, never a
   * Dest twice.
   */
  *values(): IterableIterator<Dest> {
    for (const groups of this.v4) {
      if (!groups) continue;
      for (const filed of groups.values()) {
        if (!isGroup(filed)) {
          yield filed;
          continue;
        }
        for (let i = 0; i < GROUP; i++) {
          const dest = filed[i];
          if (dest !== undefined) yield dest;
        }
      }
    }
    yield* this.v6.values();
  }
}

function isEmpty(group: Group): boolean {
  for (let i = 0; i < GROUP; i++) if (group[i] !== undefined) return false;
  return true;
}
