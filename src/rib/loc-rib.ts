// The Loc-RIB (RFC 4271 §3.2): every destination with its candidate paths. Changes are queued and
// decided in batches, at most `maxDecisionsPerTurn` destinations per event-loop turn so keepalives
// and hold timers never starve under a full-table load, and a batch at most a chunk of the decision
// queue (rib/decision-queue.ts). Each batch goes out twice: `bestPathChanges$` carries plain
// BestPathChange values, only for destinations whose best path or ECMP set changed (the FIB, the
// API, the metrics); `decided$` hands the Adj-RIB-Out, which keeps its state on the destinations,
// every destination whose paths changed (ADD-PATH sends more than the best).
//
// Walks over the whole table (a peer's paths withdrawn, stale paths swept, paths re-resolved when a
// next hop changes) are resumable: a bounded number of destinations per turn (rib/walker.ts).

import { Subject } from 'rxjs/internal/Subject';
import type { Observable } from 'rxjs';
import { Afi } from '../lib/family.ts';
import type { Nlri, Prefix } from '../lib/prefix.ts';
import { AttrSetTable } from './attr-set.ts';
import type { AttrSet } from './attr-set.ts';
import { DecisionStep } from './decision-step.ts';
import type { LostAt } from './decision-step.ts';
import { decide, DEFAULT_DECISION_OPTIONS } from './decision.ts';
import type { DecisionOptions } from './decision.ts';
import { ALWAYS_REACHABLE } from './nexthop.ts';
import type { NextHopResolver, NextHopState } from './nexthop.ts';
import { DecisionQueue } from './decision-queue.ts';
import { DestTable } from './dest-table.ts';
import { Dest, EPOCH_BITS, EPOCH_MASK, Path } from './route.ts';
import type { RibPeer } from './route.ts';
import { Walker } from './walker.ts';

/** A destination whose best path or ECMP set changed, as the decision left it. Plain data. */
export interface BestPathChange {
  readonly prefix: Prefix;
  /** The best path now; undefined when no eligible path is left (or the destination is gone). */
  readonly best: Path | undefined;
  readonly previousBest: Path | undefined;
  /** The multipath set (§9.1.2.2 e): paths equal to the best through the IGP cost, or the best alone. */
  readonly ecmp: readonly Path[];
  /** The step that chose the best path. */
  readonly decidedBy: DecisionStep;
  /** Candidate paths the destination holds, eligible or not. */
  readonly pathCount: number;
}

/** One decision batch for the Adj-RIB-Out, which keeps what it advertised on the Dests. */
export interface DecidedBatch {
  /** Every destination decided: its set of paths changed, whether or not its best did. */
  readonly pathsChanged: readonly Dest[];
  /** Those whose best path or ECMP set changed. */
  readonly bestChanged: readonly Dest[];
  /**
   * How many of `bestChanged` are IPv6 destinations: counted while each is at hand, so a subscriber
   * that counts by family (the metrics) need not read every Dest again.
   */
  readonly bestChangedIpv6: number;
}

/** What the Loc-RIB keeps per peer: its paths per AFI, and the epochs that say which are stale. */
class PeerPaths {
  /** Stamped on each path announced; markStale() starts a new one. */
  epoch = 0;
  /** Per AFI (IPv4, IPv6): paths of an epoch before this one are stale; -1 when none are. */
  readonly staleBelow = [-1, -1];
  readonly count = [0, 0];
  /** withdrawPeer() is removing its paths; the decision ignores those it has not reached yet. */
  departing = false;
  /** The last path announce() made for the peer, which the next destinations may share. */
  shared: Path | undefined = undefined;
}

const afiIndex = (afi: number): number => (afi === Afi.Ipv4 ? 0 : 1);
// As constants: a withdrawal's first decision must not read a property its first table never read
// (see the flag bits in rib/route.ts).
const ONLY = DecisionStep.Only;
const NONE = DecisionStep.None;
const EPOCH_HALF = 1 << (EPOCH_BITS - 1);

/** Serial-number order (RFC 1982) on epochs modulo 2^EPOCH_BITS: `a` came before `b`. */
function epochBefore(a: number, b: number): boolean {
  const distance = (b - a) & EPOCH_MASK;
  return distance !== 0 && distance < EPOCH_HALF;
}

export class LocRib {
  readonly attrSets = new AttrSetTable();
  private readonly table = new DestTable();
  private readonly queue = new DecisionQueue<Dest>();
  private scheduled = false;
  private readonly decidedSubject = new Subject<DecidedBatch>();
  private readonly bestPathSubject = new Subject<readonly BestPathChange[]>();
  /** Every decision batch, for the Adj-RIB-Out (see DecidedBatch). */
  readonly decided$: Observable<DecidedBatch> = this.decidedSubject.asObservable();
  /** Best-path (or ECMP set) changes, one array per decision batch, never an empty one. */
  readonly bestPathChanges$: Observable<readonly BestPathChange[]> = this.bestPathSubject.asObservable();
  pathCount = 0;
  maxDecisionsPerTurn = 20_000;
  private readonly walker = new Walker<Dest>(5_000);
  private readonly peers = new Map<RibPeer, PeerPaths>();
  /** The last peer looked up: UPDATEs come in runs from one peer. */
  private lastPeer: RibPeer | undefined;
  private lastPaths: PeerPaths | undefined;
  private departing = 0;
  /**
   * Next hop → destinations with a path through it, so a next-hop change touches only those. Kept
   * only when next hops can change (not with ALWAYS_REACHABLE, a route reflector's resolver).
   */
  private readonly byNextHop: Map<string, Set<Dest>> | undefined;

  /** Bumped whenever the resolver reports changes: cached next-hop states older than this are stale. */
  private nextHopGeneration = 0;
  /**
   * The Adj-RIB-In's pre-policy attributes of the paths import policy changed (a BGPFilter's
   * addCommunity, prependASPath, setPriority): what the peer sent, for judging the path again when the
   * policy changes. A path kept as sent (accepted unchanged, rejected, a loop) has no entry.
   */
  private readonly received = new Map<Path, AttrSet>();

  constructor(
    private readonly options: DecisionOptions = DEFAULT_DECISION_OPTIONS,
    private readonly nextHops: NextHopResolver = ALWAYS_REACHABLE,
  ) {
    this.byNextHop = nextHops === ALWAYS_REACHABLE ? undefined : new Map();
    nextHops.changes$.subscribe((changed) => this.reresolve(changed));
  }

  /** Destinations a walk visits per event-loop turn. */
  get maxVisitsPerTurn(): number {
    return this.walker.visitsPerTurn;
  }

  set maxVisitsPerTurn(visits: number) {
    this.walker.visitsPerTurn = visits;
  }

  get(prefix: Prefix): Dest | undefined {
    return this.table.get(prefix);
  }

  get destCount(): number {
    return this.table.size;
  }

  dests(): IterableIterator<Dest> {
    return this.table.values();
  }

  /**
   * Destinations waiting for a decision, some already gone from the table (their withdrawal not yet
   * decided): a walk over dests() then these meets every Dest an update group may still hold.
   */
  queuedDests(): IterableIterator<Dest> {
    return this.queue.values();
  }

  /** Destinations waiting for a decision (the ingress backlog, rib/ingress-backlog.ts). */
  get queuedCount(): number {
    return this.queue.length;
  }

  // --- paths in ------------------------------------------------------------------------------------

  /**
   * Announces a peer's path, replacing its previous one for the prefix and path id (implicit
   * withdraw). `loopFree`: the ingress policy found no loop; the NEXT_HOP is resolved here.
   * `received`: what the peer sent, when import policy made `attrs` of it.
   */
  announce(peer: RibPeer, prefix: Nlri, attrs: AttrSet, loopFree: boolean, received?: AttrSet): void {
    let dest = this.table.get(prefix);
    if (!dest) {
      dest = new Dest(prefix);
      this.table.add(dest);
    }
    const paths = this.pathsOf(peer);
    const nextHop = this.nextHopState(peer, attrs);
    const index = dest.indexOf(peer, prefix.pathId);
    this.attrSets.retain(attrs);
    const path =
      received === undefined && prefix.pathId === 0
        ? this.sharedPath(
            paths,
            peer,
            attrs,
            loopFree,
            nextHop,
            index < 0 ? dest.freeLocalPathId() : dest.pathAt(index).localPathId,
          )
        : new Path(peer, prefix.pathId, attrs, loopFree, nextHop, paths.epoch);
    if (index >= 0) {
      const previous = dest.replacePathAt(index, path);
      this.attrSets.release(previous.attrs);
      this.forgetReceived(previous);
      this.unindexNextHop(dest, previous);
    } else {
      dest.addPath(path);
      this.pathCount++;
      paths.count[afiIndex(dest.afi)]++;
    }
    if (received) this.received.set(path, this.attrSets.retain(received));
    this.indexNextHop(dest, path);
    this.enqueue(dest);
  }

  /**
   * A Path is a value (it never changes once it holds a destination), so the destinations of one
   * UPDATE, which share the peer, the attributes and the epoch, can share one: a full table then
   * costs a Path per UPDATE rather than per prefix. Not for a path with a Path Identifier from the
   * peer, nor with pre-policy attributes to keep (`received` is keyed by the Path).
   */
  private sharedPath(
    paths: PeerPaths,
    peer: RibPeer,
    attrs: AttrSet,
    loopFree: boolean,
    nextHop: NextHopState,
    localId: number,
  ): Path {
    const last = paths.shared;
    if (last?.stands(peer, attrs, loopFree, nextHop, paths.epoch, localId)) return last;
    const path = new Path(peer, 0, attrs, loopFree, nextHop, paths.epoch);
    path.localPathId = localId;
    paths.shared = path;
    return path;
  }

  /** The attributes the peer sent for `path`, before import policy (the Adj-RIB-In's view). */
  receivedAttrs(path: Path): AttrSet {
    return this.received.get(path) ?? path.attrs;
  }

  /**
   * Import policy judged a stored path again (rib/adj-rib-in.ts): the path at `index` of `dest` takes
   * these attributes and eligibility, keeping its epoch (a stale path stays stale) and what the peer
   * sent. The destination is decided again.
   */
  reimport(dest: Dest, index: number, attrs: AttrSet, loopFree: boolean): void {
    const previous = dest.pathAt(index);
    const received = this.received.get(previous);
    const sent = received ?? previous.attrs;
    const { peer, pathId, epoch } = previous;
    const path = new Path(
      peer,
      pathId,
      this.attrSets.retain(attrs),
      loopFree,
      this.nextHopState(peer, attrs),
      epoch,
    );
    dest.replacePathAt(index, path);
    this.unindexNextHop(dest, previous);
    this.indexNextHop(dest, path);
    if (attrs !== sent) this.received.set(path, received ? received : this.attrSets.retain(sent));
    else if (received) this.attrSets.release(received);
    this.received.delete(previous);
    this.attrSets.release(previous.attrs);
    this.enqueue(dest);
  }

  /** `next` replaced `path` with the same attributes: what the peer sent stays with it. */
  private moveReceived(path: Path, next: Path): void {
    if (this.received.size === 0) return;
    const received = this.received.get(path);
    if (!received) return;
    this.received.delete(path);
    this.received.set(next, received);
  }

  /** A path left the RIB: its pre-policy attributes go with it. */
  private forgetReceived(path: Path): void {
    if (this.received.size === 0) return;
    const received = this.received.get(path);
    if (!received) return;
    this.received.delete(path);
    this.attrSets.release(received);
  }

  withdraw(peer: RibPeer, prefix: Nlri): void {
    const dest = this.table.get(prefix);
    if (!dest) return;
    const index = dest.indexOf(peer, prefix.pathId);
    if (index < 0) return;
    this.removeAt(dest, index);
    this.enqueue(dest);
  }

  private pathsOf(peer: RibPeer): PeerPaths {
    if (peer === this.lastPeer) return this.lastPaths as PeerPaths;
    let paths = this.peers.get(peer);
    if (!paths) {
      paths = new PeerPaths();
      this.peers.set(peer, paths);
    }
    this.lastPeer = peer;
    this.lastPaths = paths;
    return paths;
  }

  private forgetPeer(peer: RibPeer): void {
    this.peers.delete(peer);
    if (this.lastPeer === peer) this.lastPeer = this.lastPaths = undefined;
  }

  // --- whole-peer operations: bounded walks ----------------------------------------------------------

  /**
   * Removes every path learned from `peer` (its session went down), a bounded slice per turn. Until
   * the walk reaches them, the decision already ignores them, so a new session of the same peer (a new
   * RibPeer) competes with nothing of the old one. Returns how many paths go.
   */
  withdrawPeer(peer: RibPeer): number {
    const paths = this.peers.get(peer);
    if (!paths || paths.departing) return 0;
    const count = paths.count[0] + paths.count[1];
    if (count === 0) {
      this.forgetPeer(peer);
      return 0;
    }
    paths.departing = true;
    this.departing++;
    const done = () => {
      this.departing--;
      this.forgetPeer(peer);
    };
    this.walker.add(this.table.values(), (dest) => this.removeFrom(dest, peer, () => true), done);
    return count;
  }

  /**
   * RFC 7313 §4.2 (BoRR) and RFC 4724 §4.2 (session lost): every path the peer sent so far in this AFI
   * becomes stale. No walk: the peer starts a new epoch, and its paths of an earlier epoch are stale
   * (what it re-announces from now on carries the new one). Returns how many paths that makes.
   */
  markStale(peer: RibPeer, afi: number): number {
    const paths = this.peers.get(peer);
    if (!paths || paths.departing) return 0;
    paths.epoch = (paths.epoch + 1) & EPOCH_MASK;
    paths.staleBelow[afiIndex(afi)] = paths.epoch;
    return paths.count[afiIndex(afi)];
  }

  /** The path is stale: from a peer's epoch before its last markStale() for the path's AFI. */
  isStale(dest: Dest, path: Path): boolean {
    const below = this.peers.get(path.peer)?.staleBelow[afiIndex(dest.afi)] ?? -1;
    return below >= 0 && epochBefore(path.epoch, below);
  }

  /**
   * RFC 7313 §4.2 (EoRR), RFC 4724 §4.2 (End-of-RIB, timers): withdraws the peer's paths that are
   * stale now, in one AFI or all, a bounded slice per turn; paths re-announced meanwhile are of a
   * later epoch and stay, as do those marked stale again by a later BoRR. Resolves to how many went.
   */
  sweepStale(peer: RibPeer, afi?: number): Promise<number> {
    const paths = this.peers.get(peer);
    if (!paths) return Promise.resolve(0);
    const below = paths.staleBelow.map((epoch, i) => (afi === undefined || afiIndex(afi) === i ? epoch : -1));
    const stale = (dest: Dest) => {
      const epoch = below[afiIndex(dest.afi)];
      return (p: Path) => epochBefore(p.epoch, epoch);
    };
    const visit = (dest: Dest) =>
      below[afiIndex(dest.afi)] < 0 ? 0 : this.removeFrom(dest, peer, stale(dest));
    return new Promise((resolve) => this.walker.add(this.table.values(), visit, resolve));
  }

  /**
   * RFC 9494 §4.2: the peer's paths that are stale now in `afi` take the attributes `restamp` gives
   * (LLGR_STALE attached) and stay stale; where it gives undefined (NO_LLGR) they go. A bounded walk;
   * resolves to how many went.
   */
  restampStale(
    peer: RibPeer,
    afi: number,
    restamp: (attrs: AttrSet) => AttrSet | undefined,
  ): Promise<number> {
    const below = this.peers.get(peer)?.staleBelow[afiIndex(afi)] ?? -1;
    if (below < 0) return Promise.resolve(0);
    // A path several destinations share is replaced by one path they share again.
    const replacements = new Map<Path, Path>();
    const visit = (dest: Dest): number => {
      if (dest.afi !== afi) return 0;
      let removed = 0;
      for (let i = dest.pathCount - 1; i >= 0; i--) {
        const p = dest.pathAt(i);
        if (p.peer !== peer || !epochBefore(p.epoch, below)) continue;
        const attrs = restamp(p.attrs);
        if (attrs === p.attrs) continue;
        if (attrs === undefined) {
          this.removeAt(dest, i);
          removed++;
        } else {
          // The NEXT_HOP is unchanged, so its index entry and its resolution stay.
          let next = replacements.get(p);
          if (next === undefined || next.attrs !== attrs) {
            next = new Path(peer, p.pathId, attrs, p.loopFree, p.nextHop, p.epoch);
            replacements.set(p, next);
          }
          dest.replacePathAt(i, next);
          this.restampReceived(p, next, restamp);
          this.attrSets.release(p.attrs);
        }
        this.enqueue(dest);
      }
      return removed;
    };
    return new Promise((resolve) => this.walker.add(this.table.values(), visit, resolve));
  }

  /**
   * What the peer sent for a restamped path is restamped too, so import policy judged again
   * (rib/adj-rib-in.ts) keeps the mark; a set `restamp` would drop is kept as it is.
   */
  private restampReceived(path: Path, next: Path, restamp: (attrs: AttrSet) => AttrSet | undefined): void {
    const received = this.received.get(path);
    if (!received) return;
    this.received.delete(path);
    const stamped = restamp(received);
    this.received.set(next, stamped ?? received);
    if (stamped !== undefined && stamped !== received) this.attrSets.release(received);
  }

  /** Removes `peer`'s paths in `dest` that `which` picks, and queues the destination for a decision. */
  private removeFrom(dest: Dest, peer: RibPeer, which: (p: Path) => boolean): number {
    let removed = 0;
    for (let i = dest.pathCount - 1; i >= 0; i--) {
      const p = dest.pathAt(i);
      if (p.peer !== peer || !which(p)) continue;
      this.removeAt(dest, i);
      removed++;
    }
    if (removed > 0) this.enqueue(dest);
    return removed;
  }

  /**
   * Removes a path. A destination left without paths leaves the table at once, while its entry is
   * still in the cache from the lookup that found it (deleting a million later costs a cache miss
   * each); the Dest itself lives on in the queue until decided, and in the update groups until they
   * have sent its withdrawal. A re-announcement meanwhile gets a new Dest: the withdrawal of the old
   * one goes out first (rib/adj-rib-out.ts sends a turn's withdrawals before its announcements).
   */
  private removeAt(dest: Dest, index: number): void {
    const path = dest.removePathAt(index);
    this.attrSets.release(path.attrs);
    this.forgetReceived(path);
    this.pathCount--;
    this.pathsOf(path.peer).count[afiIndex(dest.afi)]--;
    this.unindexNextHop(dest, path);
    if (dest.pathCount === 0) this.table.delete(dest);
  }

  // --- next hops ---------------------------------------------------------------------------------------

  /** The NEXT_HOP's state for paths with these attributes (cached on the attribute set). */
  private nextHopState(peer: RibPeer, attrs: AttrSet): NextHopState {
    const nextHop = attrs.attributes.nextHop;
    if (peer.local || nextHop === undefined) return REACHABLE;
    if (attrs.nextHopGeneration !== this.nextHopGeneration || !attrs.nextHopState) {
      attrs.nextHopState = this.nextHops.resolve(nextHop);
      attrs.nextHopGeneration = this.nextHopGeneration;
    }
    return attrs.nextHopState;
  }

  private indexNextHop(dest: Dest, path: Path): void {
    if (!this.byNextHop) return;
    const nextHop = path.attrs.attributes.nextHop;
    if (nextHop === undefined || path.peer.local) return;
    let dests = this.byNextHop.get(nextHop);
    if (!dests) this.byNextHop.set(nextHop, (dests = new Set()));
    dests.add(dest);
  }

  /** `path` left `dest`: the destination leaves its next hop's index unless another path uses it. */
  private unindexNextHop(dest: Dest, path: Path): void {
    if (!this.byNextHop) return;
    const nextHop = path.attrs.attributes.nextHop;
    if (nextHop === undefined) return;
    for (let i = 0; i < dest.pathCount; i++) if (dest.pathAt(i).attrs.attributes.nextHop === nextHop) return;
    const dests = this.byNextHop.get(nextHop);
    dests?.delete(dest);
    if (dests?.size === 0) this.byNextHop.delete(nextHop);
  }

  /**
   * The resolver says these next hops changed: the destinations using them (and only those) are
   * walked, their paths re-resolved, and where the outcome differs replaced (a new Path is how the
   * decision notices) and decided again.
   */
  private reresolve(changed: readonly string[]): void {
    this.nextHopGeneration++;
    for (const nextHop of changed) {
      const dests = this.byNextHop?.get(nextHop);
      if (!dests) continue;
      // A path several destinations share is replaced by one path they share again.
      const replacements = new Map<Path, Path>();
      this.walker.add(dests, (dest) => this.reresolveDest(dest, nextHop, replacements));
    }
  }

  private reresolveDest(dest: Dest, nextHop: string, replacements: Map<Path, Path>): number {
    let replaced = 0;
    for (let i = 0; i < dest.pathCount; i++) {
      const path = dest.pathAt(i);
      if (path.attrs.attributes.nextHop !== nextHop) continue;
      let next = replacements.get(path);
      if (next === undefined) {
        const state = this.nextHopState(path.peer, path.attrs);
        if (state.reachable === path.reachable && state.igpCost === path.igpCost) continue;
        next = new Path(path.peer, path.pathId, path.attrs, path.loopFree, state, path.epoch);
        replacements.set(path, next);
      }
      dest.replacePathAt(i, next);
      this.moveReceived(path, next);
      replaced++;
    }
    if (replaced > 0) this.enqueue(dest);
    return replaced;
  }

  // --- the decision --------------------------------------------------------------------------------------

  private enqueue(dest: Dest): void {
    if (dest.queued) return;
    dest.queued = true;
    this.queue.push(dest);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.runQueue());
  }

  /**
   * Decides up to maxDecisionsPerTurn queued destinations, a batch per chunk of the queue, publishing
   * each batch as it is decided; then yields.
   */
  private runQueue(): void {
    this.scheduled = false;
    for (let budget = this.maxDecisionsPerTurn; budget > 0 && this.queue.length > 0;) {
      const batch = this.queue.take(budget);
      budget -= batch.length;
      this.decideBatch(batch);
    }
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.runQueue());
    }
  }

  private decideBatch(batch: readonly Dest[]): void {
    const bestChanged: Dest[] = [];
    // A route reflector has no FIB: with nobody listening, no change objects are made.
    const changes: BestPathChange[] | undefined = this.bestPathSubject.observed ? [] : undefined;
    const ipv6 = this.decideAll(batch, bestChanged, changes);
    this.decidedSubject.next({ pathsChanged: batch, bestChanged, bestChangedIpv6: ipv6 });
    if (changes !== undefined && changes.length > 0) this.bestPathSubject.next(changes);
  }

  /**
   * Decides `batch`, adding the destinations whose best path changed to `bestChanged` (and their
   * changes to `changes`); returns how many of those are IPv6. The loop alone, so that V8 compiles it
   * while it runs (on-stack replacement, a first table's first batch) without the code after it,
   * which would have had no run to learn from and cost decideBatch a deoptimization.
   */
  private decideAll(
    batch: readonly Dest[],
    bestChanged: Dest[],
    changes: BestPathChange[] | undefined,
  ): number {
    let ipv6 = 0;
    for (const dest of batch) {
      const previousBest = dest.best;
      const decidedBy = this.decideDest(dest);
      if (decidedBy === undefined) continue;
      bestChanged.push(dest);
      if (dest.afi === Afi.Ipv6) ipv6++;
      if (changes !== undefined) changes.push(bestPathChange(dest, previousBest, decidedBy));
    }
    return ipv6;
  }

  /**
   * Decides one destination; returns the deciding step when the best path or the ECMP set changed,
   * undefined when they stayed.
   */
  private decideDest(dest: Dest): DecisionStep | undefined {
    dest.queued = false;
    if (this.departing > 0) this.dropDeparting(dest);
    const previousBest = dest.best;
    const previousEcmp = dest.ecmp;
    const decidedBy = dest.pathCount <= 1 ? this.decideOne(dest) : this.decideMany(dest);
    if (samePath(previousBest, dest.best) && sameMembers(previousEcmp, dest.ecmp)) return undefined;
    return decidedBy;
  }

  /** The common case needs no decision process: one path, eligible or not, or none. */
  private decideOne(dest: Dest): DecisionStep {
    const only = dest.pathCount === 1 ? dest.pathAt(0) : undefined;
    dest.best = only?.eligible ? only : undefined;
    dest.ecmp = NO_PATHS;
    dest.lostAt = undefined;
    return dest.best ? ONLY : NONE;
  }

  private decideMany(dest: Dest): DecisionStep {
    const decision = decide(dest.paths, this.options);
    dest.best = decision.best;
    dest.ecmp = decision.ecmp.length > 1 ? decision.ecmp : NO_PATHS;
    dest.lostAt = decision.lostAt;
    return decision.decidedBy;
  }

  /** Paths of a peer being withdrawn take no part: they go now rather than when the walk arrives. */
  private dropDeparting(dest: Dest): void {
    for (let i = dest.pathCount - 1; i >= 0; i--)
      if (this.peers.get(dest.pathAt(i).peer)?.departing) this.removeAt(dest, i);
  }

  /**
   * Why `path` is not the best of `dest`, as the last decision (with this RIB's options) recorded it;
   * undefined for the best path and for a path that arrived after the last decision.
   */
  lostAt(dest: Dest, path: Path): LostAt | undefined {
    if (dest.best === path) return undefined;
    if (!path.eligible) return 'ineligible';
    return dest.lostAt?.get(path);
  }

  /** Resolves once every queued destination has been decided and every walk has finished. */
  async settled(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled || !this.walker.idle)
      await new Promise((r) => setImmediate(r));
  }
}

/**
 * The change as plain data, in one object: the prefix is copied out of the Dest (which stays the
 * RIB's) when read, and the multipath set of a lone best path made when read, both from values that
 * never change. A batch is alive for its whole decision turn, so three objects per change (the
 * change, its prefix, a one-path list) were most of what a full-table load had in the young
 * generation at a scavenge, copied and promoted only to die in old space; a subscriber that reads
 * the prefix at once (the metrics count by family) makes one that dies at once.
 */
class DecidedChange implements BestPathChange {
  constructor(
    private readonly dest: Dest,
    readonly best: Path | undefined,
    readonly previousBest: Path | undefined,
    /** The destination's ECMP set as decided: empty when the best path is alone. */
    private readonly ecmpSet: readonly Path[],
    readonly decidedBy: DecisionStep,
    readonly pathCount: number,
  ) {}

  get prefix(): Prefix {
    const d = this.dest;
    return { afi: d.afi, length: d.length, w0: d.w0, w1: d.w1, w2: d.w2, w3: d.w3 };
  }

  get ecmp(): readonly Path[] {
    if (this.ecmpSet.length > 0) return this.ecmpSet;
    return this.best ? [this.best] : NO_PATHS;
  }
}

function bestPathChange(dest: Dest, previousBest: Path | undefined, decidedBy: DecisionStep): BestPathChange {
  return new DecidedChange(dest, dest.best, previousBest, dest.ecmp, decidedBy, dest.pathCount);
}

const NO_PATHS: readonly Path[] = Object.freeze([]);
const REACHABLE: NextHopState = Object.freeze({ reachable: true, igpCost: 0 });

/**
 * Paths are replaced, never changed, so a new Path is how attributes change; but a re-announcement
 * with the same attributes (a route refresh, a restarted peer) replaces a path with an equal one, which
 * is no change for anyone downstream.
 */
function samePath(a: Path | undefined, b: Path | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.peer === b.peer &&
    a.pathId === b.pathId &&
    a.attrs === b.attrs &&
    a.eligible === b.eligible &&
    a.igpCost === b.igpCost
  );
}

function sameMembers(a: readonly Path[], b: readonly Path[]): boolean {
  return a.length === b.length && a.every((p) => b.some((q) => samePath(p, q)));
}
