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

export class Path {
  /** RFC 7911 Path Identifier we send this path with on ADD-PATH sessions (unique within its Dest). */
  localPathId = 0;
  /** §9.1.2.2 (e): cost to the next hop, from the next-hop resolver. */
  igpCost = 0;

  constructor(
    readonly dest: Dest,
    readonly peer: RibPeer,
    /** The Path Identifier the peer sent (0 without ADD-PATH). */
    readonly pathId: number,
    public attrs: AttrSet,
    /** False when a loop (AS_PATH, ORIGINATOR_ID, CLUSTER_LIST) or an unresolvable next hop rules it out (§9.1.2). */
    public eligible: boolean,
  ) {}
}

export class Dest implements Prefix {
  readonly afi: Afi;
  readonly length: number;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  paths: Path[] = [];
  best: Path | undefined;
  /** Paths equal to the best up to and including the IGP cost step (for multipath FIB routes). */
  ecmp: readonly Path[] = [];
  /** The best path's attributes as last decided, to notice a re-announcement with new attributes. */
  decidedAttrs: AttrSet | undefined;
  /** Waiting in the decision queue. */
  queued = false;
  private nextLocalPathId = 1;

  constructor(prefix: Prefix) {
    this.afi = prefix.afi;
    this.length = prefix.length;
    this.w0 = prefix.w0;
    this.w1 = prefix.w1;
    this.w2 = prefix.w2;
    this.w3 = prefix.w3;
  }

  allocatePathId(): number {
    return this.nextLocalPathId++;
  }

  /** The prefix as NLRI with a path identifier, for the packer. */
  nlri(pathId = 0): Nlri {
    return { afi: this.afi, length: this.length, w0: this.w0, w1: this.w1, w2: this.w2, w3: this.w3, pathId };
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
