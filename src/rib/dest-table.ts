// The Loc-RIB's index: every Dest, found by its prefix. IPv4 prefixes are filed by length, each length
// in a Map keyed by the address as a signed 32-bit integer (which V8 keeps unboxed); IPv6 prefixes in
// a Map keyed by text. The key is the Dest's own prefix, so nothing is stored beside the Dest but the
// Map's entry (about 30 bytes at a million).
//
// An open-addressing hash set of Dests (an array slot and an Int32Array hash per entry, ~25 bytes)
// was measured against it at a million routes: lookups were faster, but the Dests it holds sit in
// hash order, so every full garbage collection marked them in random memory order, 3–4 times slower
// than through the Map's insertion-ordered entries, and the bench's RSS per path did not move. A Map
// also keeps the live-iteration semantics the Adj-RIB-Out's initial dump relies on for free.
//
// A second design was measured too: the Dests in a dense list in filing order (marked in allocation
// order, like the Map's entries) found through an index of 4-byte slots outside V8's heap (place and
// tag; consecutive prefixes of one length in one 64-byte line, a full line spilling by a second hash).
// 17–19 bytes per Dest against 29–37, the peak RSS of the reflector benchmark's S3 6 MiB lower, and
// within the Loc-RIB alone withdrawing 500k prefixes in order 40 % faster. In the daemon, in
// alternating runs: S3 (500k) converged and withdrew 5 % faster, but S1 (100k, which the Map serves
// from the cache as well) withdrew 15–20 % slower, the list's compactions and the index's rebuilds
// as the table empties costing more than the lookups saved. Not worth 400 lines.

import { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { Dest } from './route.ts';

export class DestTable {
  /** Per prefix length, created on first use. */
  private readonly v4: (Map<number, Dest> | undefined)[] = new Array<undefined>(33).fill(undefined);
  private readonly v6 = new Map<string, Dest>();

  private static v6Key(p: Prefix): string {
    return `${p.w0}:${p.w1}:${p.w2}:${p.w3}/${p.length}`;
  }

  get(p: Prefix): Dest | undefined {
    return p.afi === Afi.Ipv4 ? this.v4[p.length]?.get(p.w0 | 0) : this.v6.get(DestTable.v6Key(p));
  }

  /** Files a Dest under its own prefix. */
  add(dest: Dest): void {
    if (dest.afi === Afi.Ipv4) (this.v4[dest.length] ??= new Map()).set(dest.w0 | 0, dest);
    else this.v6.set(DestTable.v6Key(dest), dest);
  }

  delete(dest: Dest): boolean {
    if (dest.afi === Afi.Ipv4) return this.v4[dest.length]?.delete(dest.w0 | 0) ?? false;
    return this.v6.delete(DestTable.v6Key(dest));
  }

  get size(): number {
    let n = this.v6.size;
    for (const byLength of this.v4) n += byLength?.size ?? 0;
    return n;
  }

  /**
   * Every Dest. The iteration is live (a Map's): one spread over many turns (an update group's initial
   * dump) skips Dests deleted meanwhile and sees some of those added, never a Dest twice.
   */
  *values(): IterableIterator<Dest> {
    for (const byLength of this.v4) if (byLength) yield* byLength.values();
    yield* this.v6.values();
  }
}
