// The RIB's objects: a Dest per prefix (RFC 4271's "destination") holding the candidate Paths learned
// from peers, its best path and its ECMP set; and the PrefixMap they are filed in. The Adj-RIB-In is
// the set of a peer's Paths across all Dests (RFC 4271 §3.2): implicit withdraw replaces a peer's path
// for the same prefix and path identifier in place.

import { Afi } from '../lib/family.ts';
import type { Nlri, Prefix } from '../lib/prefix.ts';
import type { AttrSet } from './attr-set.ts';

/** What the RIB knows of the peer a path came from (or of local origination). */
export interface RibPeer {
  /** Small integer, unique per peer while it exists. */
  readonly id: number;
  readonly name: string;
  /** The peer's address as a sortable key (§9.1.2.2 g: lowest peer address wins the last tie). */
  readonly addressKey: string;
  /** The BGP Identifier from the peer's OPEN (RFC 4456 §9: used when no ORIGINATOR_ID is present). */
  readonly bgpIdentifier: number;
  readonly external: boolean;
  readonly peerAs: number;
  /** RFC 4456: the peer is a route-reflector client of ours. */
  readonly routeReflectorClient: boolean;
  /** Routes Brindle originates itself (IPAM blocks, static routes). */
  readonly local: boolean;
}

const EMPTY: Path[] = [];
Object.freeze(EMPTY);
const NO_PATHS: readonly Path[] = EMPTY;

/**
 * What one update group has advertised for a destination: the attributes of its one path
 * (single-path families, the common case), or path id → attributes (ADD-PATH 'all'/'ecmp').
 */
export type Advertised = AttrSet | Map<number, AttrSet>;

const PathFlag = { LoopFree: 1, Stale: 2, Unreachable: 4 } as const;
const DestFlag = { Queued: 1, BestChanged: 2 } as const;

/** RFC 7911 Path Identifiers we send with; unique across the table, wrapping at 32 bits. */
let nextLocalPathId = 1;

/**
 * One candidate route for a destination. Immutable but for its flags: a re-announcement (implicit
 * withdraw) replaces the Path, so "the best path changed" is an identity test.
 */
export class Path {
  /** RFC 7911 Path Identifier we send this path with on ADD-PATH sessions. */
  localPathId: number;
  /** §9.1.2.2 (e): cost to the next hop, from the next-hop resolver. */
  igpCost = 0;
  private flags: number;

  constructor(
    readonly dest: Dest,
    readonly peer: RibPeer,
    /** The Path Identifier the peer sent (0 without ADD-PATH). */
    readonly pathId: number,
    readonly attrs: AttrSet,
    /** No loop (AS_PATH, ORIGINATOR_ID, CLUSTER_LIST): the ingress policy's verdict. */
    loopFree: boolean,
    /** The replaced path's identifier, so a re-announcement keeps its ADD-PATH identity. */
    localPathId?: number,
    /** The NEXT_HOP resolves (RFC 4271 §9.1.2). */
    reachable = true,
  ) {
    this.flags = (loopFree ? PathFlag.LoopFree : 0) | (reachable ? 0 : PathFlag.Unreachable);
    this.localPathId = localPathId ?? nextLocalPathId;
    if (localPathId === undefined) nextLocalPathId = (nextLocalPathId % 0xffffffff) + 1;
  }

  /** May take part in the decision: no loop and a resolvable NEXT_HOP (§9.1.2). */
  get eligible(): boolean {
    return (this.flags & (PathFlag.LoopFree | PathFlag.Unreachable)) === PathFlag.LoopFree;
  }

  get loopFree(): boolean {
    return (this.flags & PathFlag.LoopFree) !== 0;
  }

  get reachable(): boolean {
    return (this.flags & PathFlag.Unreachable) === 0;
  }

  /** RFC 7313 §4.2 (and graceful restart): kept until re-announced or swept. */
  get stale(): boolean {
    return (this.flags & PathFlag.Stale) !== 0;
  }

  set stale(value: boolean) {
    this.flags = value ? this.flags | PathFlag.Stale : this.flags & ~PathFlag.Stale;
  }
}

/**
 * A destination: a prefix with its candidate paths, its best path and its ECMP set. Kept small (a
 * million of them is the table of a big cluster): IPv4 prefixes store one word, flags share a field,
 * and the path list is allocated at its exact size.
 */
export class Dest implements Nlri {
  readonly length: number;
  readonly w0: number;
  /** IPv6 only: the prefix's words 1–3. */
  private readonly v6: readonly [number, number, number] | undefined;
  paths: Path[] = EMPTY;
  best: Path | undefined;
  /**
   * Paths equal to the best up to and including the IGP cost step, when there are several; empty
   * when the best path is the only one (see `multipath`).
   */
  ecmp: readonly Path[] = NO_PATHS;
  /**
   * The Adj-RIB-Out, kept on the destination rather than in a map per update group: what group slot 0
   * has advertised here (`adv`), and slots 1… in `advMore` (see rib/adj-rib-out.ts).
   */
  adv: Advertised | undefined = undefined;
  advMore: (Advertised | undefined)[] | undefined = undefined;
  private flags = 0;

  constructor(prefix: Prefix) {
    this.length = prefix.length;
    this.w0 = prefix.w0;
    this.v6 = prefix.afi === Afi.Ipv6 ? [prefix.w1, prefix.w2, prefix.w3] : undefined;
  }

  get afi(): Afi {
    return this.v6 ? Afi.Ipv6 : Afi.Ipv4;
  }

  get w1(): number {
    return this.v6 ? this.v6[0] : 0;
  }

  get w2(): number {
    return this.v6 ? this.v6[1] : 0;
  }

  get w3(): number {
    return this.v6 ? this.v6[2] : 0;
  }

  /** Without ADD-PATH a Dest is its own NLRI: no object per prefix when packing UPDATEs. */
  get pathId(): number {
    return 0;
  }

  /** Waiting in the decision queue. */
  get queued(): boolean {
    return (this.flags & DestFlag.Queued) !== 0;
  }

  set queued(value: boolean) {
    this.flags = value ? this.flags | DestFlag.Queued : this.flags & ~DestFlag.Queued;
  }

  /** Set by the last decision: the best path (a new Path whenever attributes change) or the ECMP set changed. */
  get bestChanged(): boolean {
    return (this.flags & DestFlag.BestChanged) !== 0;
  }

  set bestChanged(value: boolean) {
    this.flags = value ? this.flags | DestFlag.BestChanged : this.flags & ~DestFlag.BestChanged;
  }

  addPath(path: Path): void {
    if (this.paths.length === 0) this.paths = [path];
    else this.paths.push(path);
  }

  removePathAt(index: number): Path {
    const [path] = this.paths.splice(index, 1);
    if (this.paths.length === 0) this.paths = EMPTY;
    return path;
  }

  /** The prefix as NLRI with a path identifier, for the packer (the Dest itself for path id 0). */
  nlri(pathId = 0): Nlri {
    if (pathId === 0) return this;
    return { afi: this.afi, length: this.length, w0: this.w0, w1: this.w1, w2: this.w2, w3: this.w3, pathId };
  }

  /** The multipath set for the FIB: the ECMP paths, or the best path alone. */
  get multipath(): readonly Path[] {
    if (this.ecmp.length > 0) return this.ecmp;
    return this.best ? [this.best] : NO_PATHS;
  }
}

/**
 * Prefixes to values. IPv4 keys are the address as a signed 32-bit integer in one Map per prefix
 * length, which V8 stores unboxed; IPv6 keys are text.
 */
export class PrefixMap<V> {
  private readonly v4: Map<number, V>[] = Array.from({ length: 33 }, () => new Map<number, V>());
  private readonly v6 = new Map<string, V>();

  private static v6Key(p: Prefix): string {
    return `${p.w0}:${p.w1}:${p.w2}:${p.w3}/${p.length}`;
  }

  get(p: Prefix): V | undefined {
    return p.afi === Afi.Ipv4 ? this.v4[p.length].get(p.w0 | 0) : this.v6.get(PrefixMap.v6Key(p));
  }

  set(p: Prefix, value: V): void {
    if (p.afi === Afi.Ipv4) this.v4[p.length].set(p.w0 | 0, value);
    else this.v6.set(PrefixMap.v6Key(p), value);
  }

  delete(p: Prefix): boolean {
    return p.afi === Afi.Ipv4 ? this.v4[p.length].delete(p.w0 | 0) : this.v6.delete(PrefixMap.v6Key(p));
  }

  get size(): number {
    let n = this.v6.size;
    for (const m of this.v4) n += m.size;
    return n;
  }

  *values(): IterableIterator<V> {
    for (const m of this.v4) yield* m.values();
    yield* this.v6.values();
  }

  /** Every entry with its prefix, rebuilt from the key. */
  *entries(): IterableIterator<[Prefix, V]> {
    for (let length = 0; length <= 32; length++) {
      for (const [key, value] of this.v4[length])
        yield [{ afi: Afi.Ipv4, length, w0: key >>> 0, w1: 0, w2: 0, w3: 0 }, value];
    }
    for (const [key, value] of this.v6) {
      const [words, length] = key.split('/');
      const [w0, w1, w2, w3] = words.split(':').map(Number);
      yield [{ afi: Afi.Ipv6, length: Number(length), w0, w1, w2, w3 }, value];
    }
  }
}
