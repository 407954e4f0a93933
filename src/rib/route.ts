// The RIB's objects: a Dest per prefix (RFC 4271's "destination") holding the candidate Paths learned
// from peers, its best path and its ECMP set; and the PrefixMap they are filed in. The Adj-RIB-In is
// the set of a peer's Paths across all Dests (RFC 4271 §3.2): implicit withdraw replaces a peer's path
// for the same prefix and path identifier in place.
//
// A full table is a million Dests with one Path each. The Paths are values, so the destinations of
// one UPDATE share one (LocRib.announce): a full table holds a Path per UPDATE, not per prefix. Both
// are laid out for size (V8 on Node 20 has no pointer compression: every field is 8 bytes, every
// object has a 24-byte header):
// - every field is set in the constructor, always in the same order, so all Dests share one hidden
//   class and all Paths another;
// - numbers that may exceed 2^31 (an IPv4 address, a Path Identifier) are kept as signed 32-bit
//   integers, which V8 stores in the field itself: one value above that range would turn the field
//   into a boxed double, 16 more bytes in every object of the class;
// - what most destinations never use (IPv6 words, an ECMP set, Adj-RIB-Out slots beyond the first)
//   lives in one DestExtra allocated on demand, and a single path is held without an array; what
//   most paths never use (a received Path Identifier, a next hop other than reachable at cost 0)
//   lives in one optional field.
// bench/reflector/path-memory.ts measures what a stored path costs, by object kind.

import { Afi } from '../lib/family.ts';
import type { Nlri, Prefix } from '../lib/prefix.ts';
import type { AttrSet } from './attr-set.ts';
import type { LostAt } from './decision-step.ts';
import type { NextHopState } from './nexthop.ts';

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

const NO_PATHS: readonly Path[] = Object.freeze([]);
const REACHABLE: NextHopState = Object.freeze({ reachable: true, igpCost: 0 });

/**
 * What one update group has advertised for a destination. Its shape belongs to rib/adj-rib-out.ts;
 * the Dest only keeps the slot.
 */
export type Advertised = object;

// Flag bits are plain constants, not an object's properties: a property read in a branch V8 has not
// run yet costs the optimized function a deoptimization the first time it runs (a daemon's first
// withdrawal takes branches its first table never did).
/** Path.bits: no loop, not rejected by import policy. */
const LOOP_FREE = 1;
/**
 * Path.bits above LOOP_FREE: the announcement epoch (EPOCH_BITS, see LocRib.markStale), then the Path
 * Identifier we send the path with (see Dest.addPath), up to 2^18 - 1 paths per destination so the
 * field stays a small integer V8 keeps unboxed.
 */
export const EPOCH_BITS = 12;
const EPOCH_SHIFT = 1;
export const EPOCH_MASK = (1 << EPOCH_BITS) - 1;
const LOCAL_ID_SHIFT = EPOCH_SHIFT + EPOCH_BITS;

/** Path.bits for these values (see LOOP_FREE, EPOCH_SHIFT, LOCAL_ID_SHIFT). */
function pathBits(loopFree: boolean, epoch: number, localId: number): number {
  return (loopFree ? LOOP_FREE : 0) | ((epoch & EPOCH_MASK) << EPOCH_SHIFT) | (localId << LOCAL_ID_SHIFT);
}

/** The next hop every path a route reflector holds has: reachable at IGP cost 0 (see Path.rare). */
function plainNextHop(nextHop: NextHopState): boolean {
  return nextHop.reachable && nextHop.igpCost === 0;
}

/** What few paths carry (see Path.rare): a Path Identifier from an ADD-PATH peer, with the next hop's state. */
class PathRare {
  constructor(
    /** As a signed 32-bit integer. */
    readonly receivedId: number,
    readonly nextHop: NextHopState,
  ) {}
}

/**
 * One candidate route for a destination, which other destinations may hold too. Immutable once a
 * destination holds it (its local Path Identifier is given before: see Dest.addPath): a
 * re-announcement (implicit withdraw) replaces the Path, so "the best path changed" is an identity test.
 * 56 bytes when the peer sent Path Identifier 0 (no ADD-PATH) and the next hop resolves as it does on a
 * route reflector.
 */
export class Path {
  readonly peer: RibPeer;
  readonly attrs: AttrSet;
  /** LOOP_FREE, the announcement epoch, and the local Path Identifier above LOCAL_ID_SHIFT. */
  private bits: number;
  /**
   * The NEXT_HOP's resolution and the Path Identifier the peer sent, only where they are not the
   * common ones: undefined for a next hop reachable at IGP cost 0 and Path Identifier 0 (every path
   * a route reflector holds from a peer without ADD-PATH), the resolver's (shared) state alone with
   * Path Identifier 0, a PathRare otherwise.
   */
  private readonly rare: NextHopState | PathRare | undefined;

  constructor(
    peer: RibPeer,
    /** The Path Identifier the peer sent (0 without ADD-PATH). */
    pathId: number,
    attrs: AttrSet,
    /**
     * No loop (AS_PATH, ORIGINATOR_ID, CLUSTER_LIST) and not rejected by import policy: the ingress
     * policy's verdict. A path without it is kept as the peer sent it but never used.
     */
    loopFree: boolean,
    /** The NEXT_HOP's resolution when the path was learned (RFC 4271 §9.1.2, §9.1.2.2 e). */
    nextHop: NextHopState = REACHABLE,
    /** The peer's announcement epoch when the path arrived (see LocRib.markStale), modulo 2^EPOCH_BITS. */
    epoch = 0,
  ) {
    this.peer = peer;
    this.attrs = attrs;
    this.bits = pathBits(loopFree, epoch, 0);
    const receivedId = pathId | 0;
    this.rare =
      receivedId !== 0 ? new PathRare(receivedId, nextHop) : plainNextHop(nextHop) ? undefined : nextHop;
  }

  /** The NEXT_HOP's resolution when the path was learned (RFC 4271 §9.1.2, §9.1.2.2 e). */
  get nextHop(): NextHopState {
    const rare = this.rare;
    if (rare === undefined) return REACHABLE;
    return rare instanceof PathRare ? rare.nextHop : rare;
  }

  /** The peer's announcement epoch when the path arrived: older than the peer's stale mark means stale. */
  get epoch(): number {
    return (this.bits >> EPOCH_SHIFT) & EPOCH_MASK;
  }

  /** The Path Identifier the peer sent (0 without ADD-PATH). */
  get pathId(): number {
    const rare = this.rare;
    return rare instanceof PathRare ? rare.receivedId >>> 0 : 0;
  }

  /**
   * RFC 7911: the Path Identifier we send this path with on ADD-PATH sessions, unique among the
   * destination's paths and kept by a re-announcement (set by the Dest that holds the path).
   */
  get localPathId(): number {
    return this.bits >>> LOCAL_ID_SHIFT;
  }

  set localPathId(id: number) {
    this.bits = (this.bits & ((1 << LOCAL_ID_SHIFT) - 1)) | (id << LOCAL_ID_SHIFT);
  }

  /**
   * True when this path can stand for the one LocRib.announce would make from these values, with
   * local Path Identifier `localId`: a path with a Path Identifier from the peer never does.
   */
  stands(
    peer: RibPeer,
    attrs: AttrSet,
    loopFree: boolean,
    nextHop: NextHopState,
    epoch: number,
    localId: number,
  ): boolean {
    if (this.bits !== pathBits(loopFree, epoch, localId) || this.attrs !== attrs || this.peer !== peer)
      return false;
    const rare = this.rare;
    return rare === undefined ? plainNextHop(nextHop) : rare === nextHop;
  }

  /** §9.1.2.2 (e): cost to the next hop, from the next-hop resolver. */
  get igpCost(): number {
    return this.nextHop.igpCost;
  }

  /** May take part in the decision: no loop and a resolvable NEXT_HOP (§9.1.2). */
  get eligible(): boolean {
    return (this.bits & LOOP_FREE) !== 0 && this.nextHop.reachable;
  }

  get loopFree(): boolean {
    return (this.bits & LOOP_FREE) !== 0;
  }

  get reachable(): boolean {
    return this.nextHop.reachable;
  }
}

/** Dest.bits: the prefix length in the low byte, flags above it. */
const LENGTH_MASK = 0xff;
/** Dest.bits: waiting in the decision queue. */
const QUEUED = 1 << 8;
const IPV6 = 1 << 9;
/** Dest.bits: `slot0` holds the DestExtra (a bit test is cheaper than instanceof on the hot path). */
const EXTRA = 1 << 10;

/**
 * What few destinations need: an IPv6 prefix's words 1–3 (as signed 32-bit integers), an ECMP set,
 * the last decision's record when it had several paths to choose from, more Adj-RIB-Out slots.
 */
class DestExtra {
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  ecmp: readonly Path[] = NO_PATHS;
  lostAt: ReadonlyMap<Path, LostAt> | undefined = undefined;
  advMore: (Advertised | undefined)[] | undefined = undefined;
  /** Adj-RIB-Out slot 0 while the Dest keeps its DestExtra in that field (see Dest.slot0). */
  adv: Advertised | undefined = undefined;

  constructor(w1: number, w2: number, w3: number) {
    this.w1 = w1 | 0;
    this.w2 = w2 | 0;
    this.w3 = w3 | 0;
  }

  /** Nothing here but slot 0, which the Dest can hold itself. */
  get unused(): boolean {
    return (this.w1 | this.w2 | this.w3) === 0 && this.ecmp.length === 0 && !this.lostAt && !this.advMore;
  }
}

/**
 * A destination: a prefix with its candidate paths, its best path and its ECMP set. 64 bytes for an
 * IPv4 prefix with its one path held directly; the Dest is also the prefix's NLRI when packing.
 */
export class Dest implements Nlri {
  /** Word 0 of the prefix as a signed 32-bit integer (see w0). */
  private readonly key: number;
  private bits: number;
  /** The candidate paths: none, one held directly, or an array of two or more. */
  private held: Path | Path[] | undefined;
  best: Path | undefined;
  /**
   * The Adj-RIB-Out, kept on the destination rather than in a map per update group: what group slot 0
   * has advertised here (see `adv`), or the DestExtra, which then holds it. One field for both: most
   * destinations have no DestExtra, and every reflected one has an advertisement.
   */
  private slot0: Advertised | DestExtra | undefined;

  constructor(prefix: Prefix) {
    const v6 = prefix.afi === Afi.Ipv6;
    this.key = prefix.w0 | 0;
    const words = v6 && (prefix.w1 | prefix.w2 | prefix.w3) !== 0;
    this.bits = (prefix.length & LENGTH_MASK) | (v6 ? IPV6 : 0) | (words ? EXTRA : 0);
    this.held = undefined;
    this.best = undefined;
    this.slot0 = words ? new DestExtra(prefix.w1, prefix.w2, prefix.w3) : undefined;
  }

  private get extra(): DestExtra | undefined {
    return this.bits & EXTRA ? (this.slot0 as DestExtra) : undefined;
  }

  /** What update group slot 0 has advertised here; slots 1… are in `advMore` (rib/adj-rib-out.ts). */
  get adv(): Advertised | undefined {
    return this.bits & EXTRA ? (this.slot0 as DestExtra).adv : this.slot0;
  }

  set adv(value: Advertised | undefined) {
    if (this.bits & EXTRA) (this.slot0 as DestExtra).adv = value;
    else this.slot0 = value;
  }

  get afi(): Afi {
    return this.bits & IPV6 ? Afi.Ipv6 : Afi.Ipv4;
  }

  get length(): number {
    return this.bits & LENGTH_MASK;
  }

  get w0(): number {
    return this.key >>> 0;
  }

  get w1(): number {
    return this.bits & IPV6 ? (this.extra?.w1 ?? 0) >>> 0 : 0;
  }

  get w2(): number {
    return this.bits & IPV6 ? (this.extra?.w2 ?? 0) >>> 0 : 0;
  }

  get w3(): number {
    return this.bits & IPV6 ? (this.extra?.w3 ?? 0) >>> 0 : 0;
  }

  /** Without ADD-PATH a Dest is its own NLRI: no object per prefix when packing UPDATEs. */
  get pathId(): number {
    return 0;
  }

  /** Waiting in the decision queue. */
  get queued(): boolean {
    return (this.bits & QUEUED) !== 0;
  }

  set queued(value: boolean) {
    this.bits = (this.bits & ~QUEUED) | (value ? QUEUED : 0);
  }

  // --- candidate paths -----------------------------------------------------------------------------

  get pathCount(): number {
    const held = this.held;
    if (held === undefined) return 0;
    return held instanceof Path ? 1 : held.length;
  }

  pathAt(index: number): Path {
    const held = this.held as Path | Path[];
    return held instanceof Path ? held : held[index];
  }

  /** The candidate paths as a list (a fresh one-element list when one path is held directly). */
  get paths(): readonly Path[] {
    const held = this.held;
    if (held === undefined) return NO_PATHS;
    return held instanceof Path ? [held] : held;
  }

  /** The index of `peer`'s path with the peer's Path Identifier `pathId`, or -1. */
  indexOf(peer: RibPeer, pathId: number): number {
    const held = this.held;
    if (held === undefined) return -1;
    if (held instanceof Path) return held.peer === peer && held.pathId === pathId ? 0 : -1;
    for (let i = 0; i < held.length; i++) if (held[i].peer === peer && held[i].pathId === pathId) return i;
    return -1;
  }

  /** The lowest local Path Identifier no path here uses: the one addPath gives a new path. */
  freeLocalPathId(): number {
    const held = this.held;
    if (held === undefined) return 1;
    return lowestFreeId(held instanceof Path ? [held] : held);
  }

  /**
   * Adds a new path, giving it the lowest local Path Identifier no other path here uses. A path that
   * already carries it (a shared one, see LocRib.announce) is not written to.
   */
  addPath(path: Path): void {
    const held = this.held;
    if (held === undefined) {
      giveLocalPathId(path, 1);
      this.held = path;
      return;
    }
    const list = held instanceof Path ? [held] : held;
    giveLocalPathId(path, lowestFreeId(list));
    list.push(path);
    this.held = list;
  }

  /** Implicit withdraw: the new path takes the old one's place and its local Path Identifier. */
  replacePathAt(index: number, path: Path): Path {
    const held = this.held as Path | Path[];
    const previous = held instanceof Path ? held : held[index];
    giveLocalPathId(path, previous.localPathId);
    if (held instanceof Path) this.held = path;
    else held[index] = path;
    return previous;
  }

  removePathAt(index: number): Path {
    const held = this.held as Path | Path[];
    if (held instanceof Path) {
      this.held = undefined;
      return held;
    }
    const [path] = held.splice(index, 1);
    if (held.length === 1) this.held = held[0];
    return path;
  }

  /** The prefix as NLRI with a path identifier, for the packer (the Dest itself for path id 0). */
  nlri(pathId = 0): Nlri {
    if (pathId === 0) return this;
    return { afi: this.afi, length: this.length, w0: this.w0, w1: this.w1, w2: this.w2, w3: this.w3, pathId };
  }

  // --- rarely used state ------------------------------------------------------------------------------

  /**
   * Paths equal to the best up to and including the IGP cost step, when there are several; empty
   * when the best path is the only one (see `multipath`).
   */
  get ecmp(): readonly Path[] {
    return this.extra?.ecmp ?? NO_PATHS;
  }

  set ecmp(paths: readonly Path[]) {
    if (paths.length === 0 && !this.extra) return;
    this.withExtra().ecmp = paths.length === 0 ? NO_PATHS : paths;
    this.dropUnusedExtra();
  }

  /**
   * The last decision's losers among several paths and the step each lost at (rib/decision.ts); none
   * kept for a single path, whose only way to lose is being ineligible.
   */
  get lostAt(): ReadonlyMap<Path, LostAt> | undefined {
    return this.extra?.lostAt;
  }

  set lostAt(record: ReadonlyMap<Path, LostAt> | undefined) {
    if (!record && !this.extra) return;
    this.withExtra().lostAt = record;
    this.dropUnusedExtra();
  }

  /** Adj-RIB-Out slots 1… (rib/adj-rib-out.ts). */
  get advMore(): (Advertised | undefined)[] | undefined {
    return this.extra?.advMore;
  }

  set advMore(slots: (Advertised | undefined)[] | undefined) {
    if (!slots && !this.extra) return;
    this.withExtra().advMore = slots;
    this.dropUnusedExtra();
  }

  /** The multipath set for the FIB: the ECMP paths, or the best path alone. */
  get multipath(): readonly Path[] {
    const ecmp = this.ecmp;
    if (ecmp.length > 0) return ecmp;
    return this.best ? [this.best] : NO_PATHS;
  }

  private withExtra(): DestExtra {
    if (this.bits & EXTRA) return this.slot0 as DestExtra;
    const extra = new DestExtra(0, 0, 0);
    extra.adv = this.slot0;
    this.slot0 = extra;
    this.bits |= EXTRA;
    return extra;
  }

  private dropUnusedExtra(): void {
    const extra = this.extra;
    if (!extra?.unused) return;
    this.slot0 = extra.adv;
    this.bits &= ~EXTRA;
  }
}

/** Sets the path's local Path Identifier unless it has it: a path several Dests share keeps its own. */
function giveLocalPathId(path: Path, id: number): void {
  if (path.localPathId !== id) path.localPathId = id;
}

/** The lowest positive integer no path in `paths` uses as its local Path Identifier. */
function lowestFreeId(paths: readonly Path[]): number {
  for (let id = 1; ; id++) if (!paths.some((p) => p.localPathId === id)) return id;
}
