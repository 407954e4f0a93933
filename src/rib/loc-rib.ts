// The Loc-RIB (RFC 4271 §3.2): every destination with its candidate paths. Changes are queued and
// decided in batches, at most `maxDecisionsPerTurn` destinations per event-loop turn so keepalives and
// hold timers never starve under a full-table load; a batch of changes goes out on `changes$`.

import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import type { Nlri, Prefix } from '../lib/prefix.ts';
import { AttrSetTable } from './attr-set.ts';
import type { AttrSet } from './attr-set.ts';
import { decide, DEFAULT_DECISION_OPTIONS } from './decision.ts';
import type { DecisionOptions } from './decision.ts';
import { ALWAYS_REACHABLE } from './nexthop.ts';
import type { NextHopResolver, NextHopState } from './nexthop.ts';
import { DestTable } from './dest-table.ts';
import { Dest, Path } from './route.ts';
import type { RibPeer } from './route.ts';

export class LocRib {
  readonly attrSets = new AttrSetTable();
  private readonly table = new DestTable();
  private queue: Dest[] = [];
  private scheduled = false;
  private readonly subject = new Subject<readonly Dest[]>();
  /**
   * Every decided destination, in batches, each with `bestChanged` set by its decision: the
   * Adj-RIB-Out consumes all of them (ADD-PATH sends every path), the FIB those whose best changed.
   */
  readonly changes$: Observable<readonly Dest[]> = this.subject.asObservable();
  pathCount = 0;
  maxDecisionsPerTurn = 20_000;

  /** Bumped whenever the resolver reports changes: cached next-hop states older than this are stale. */
  private nextHopGeneration = 0;

  constructor(
    private readonly options: DecisionOptions = DEFAULT_DECISION_OPTIONS,
    private readonly nextHops: NextHopResolver = ALWAYS_REACHABLE,
  ) {
    nextHops.changes$.subscribe((changed) => this.reresolve(new Set(changed)));
  }

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

  /**
   * The resolver says these next hops changed: paths using them are re-resolved, and where the
   * outcome differs replaced (a new Path is how the decision notices) and decided again.
   */
  private reresolve(changed: ReadonlySet<string>): void {
    this.nextHopGeneration++;
    for (const dest of this.table.values()) {
      for (let i = 0; i < dest.pathCount; i++) {
        const path = dest.pathAt(i);
        const nextHop = path.attrs.attributes.nextHop;
        if (nextHop === undefined || !changed.has(nextHop)) continue;
        const state = this.nextHopState(path.peer, path.attrs);
        if (state.reachable === path.reachable && state.igpCost === path.igpCost) continue;
        const fresh = new Path(path.peer, path.pathId, path.attrs, path.loopFree, state);
        fresh.stale = path.stale;
        dest.replacePathAt(i, fresh);
        this.enqueue(dest);
      }
    }
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

  /** Announces a peer's path, replacing its previous one for the prefix and path id (implicit withdraw). */
  /** `loopFree`: the ingress policy found no loop; the NEXT_HOP is resolved here. */
  announce(peer: RibPeer, prefix: Nlri, attrs: AttrSet, loopFree: boolean): void {
    let dest = this.table.get(prefix);
    if (!dest) {
      dest = new Dest(prefix);
      this.table.add(dest);
    }
    const path = new Path(
      peer,
      prefix.pathId,
      this.attrSets.retain(attrs),
      loopFree,
      this.nextHopState(peer, attrs),
    );
    const index = dest.indexOf(peer, prefix.pathId);
    if (index >= 0) {
      this.attrSets.release(dest.replacePathAt(index, path).attrs);
    } else {
      dest.addPath(path);
      this.pathCount++;
    }
    this.enqueue(dest);
  }

  withdraw(peer: RibPeer, prefix: Nlri): void {
    const dest = this.table.get(prefix);
    if (!dest) return;
    const index = dest.indexOf(peer, prefix.pathId);
    if (index < 0) return;
    this.removeAt(dest, index);
  }

  /** Removes every path learned from `peer` (its session went down). Returns how many. */
  withdrawPeer(peer: RibPeer): number {
    let removed = 0;
    for (const dest of this.table.values()) {
      for (let i = dest.pathCount - 1; i >= 0; i--) {
        if (dest.pathAt(i).peer !== peer) continue;
        this.removeAt(dest, i);
        removed++;
      }
    }
    return removed;
  }

  /** RFC 7313 §4.2: BoRR marks the peer's paths of a family stale (graceful restart does the same). */
  markStale(peer: RibPeer, afi: number): number {
    let marked = 0;
    for (const dest of this.table.values()) {
      if (dest.afi !== afi) continue;
      for (let i = 0; i < dest.pathCount; i++) {
        const p = dest.pathAt(i);
        if (p.peer !== peer) continue;
        p.stale = true;
        marked++;
      }
    }
    return marked;
  }

  /** RFC 7313 §4.2: at EoRR, paths still stale were not re-announced: withdraw them. */
  sweepStale(peer: RibPeer, afi?: number): number {
    let swept = 0;
    for (const dest of this.table.values()) {
      if (afi !== undefined && dest.afi !== afi) continue;
      for (let i = dest.pathCount - 1; i >= 0; i--) {
        const p = dest.pathAt(i);
        if (p.peer !== peer || !p.stale) continue;
        this.removeAt(dest, i);
        swept++;
      }
    }
    return swept;
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
    this.pathCount--;
    if (dest.pathCount === 0) this.table.delete(dest);
    this.enqueue(dest);
  }

  private enqueue(dest: Dest): void {
    if (dest.queued) return;
    dest.queued = true;
    this.queue.push(dest);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.runQueue());
  }

  /** Decides up to maxDecisionsPerTurn queued destinations, then yields to the event loop. */
  private runQueue(): void {
    this.scheduled = false;
    const batch =
      this.queue.length <= this.maxDecisionsPerTurn
        ? this.queue
        : this.queue.slice(0, this.maxDecisionsPerTurn);
    this.queue = batch === this.queue ? [] : this.queue.slice(this.maxDecisionsPerTurn);
    for (const dest of batch) this.decideDest(dest);
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.runQueue());
    }
    this.subject.next(batch);
  }

  private decideDest(dest: Dest): void {
    dest.queued = false;
    const previousBest = dest.best;
    const previousEcmp = dest.ecmp;
    const count = dest.pathCount;
    if (count <= 1) {
      // The common case needs no decision process: one path, eligible or not.
      const only = count === 1 ? dest.pathAt(0) : undefined;
      dest.best = only?.eligible ? only : undefined;
      dest.ecmp = NO_PATHS;
    } else {
      const decision = decide(dest.paths, this.options);
      dest.best = decision.best;
      dest.ecmp = decision.ecmp.length > 1 ? decision.ecmp : NO_PATHS;
    }
    // Paths are replaced, never changed: a new best path object is the only way attributes change.
    dest.bestChanged = previousBest !== dest.best || !sameMembers(previousEcmp, dest.ecmp);
  }

  /** Resolves once every queued destination has been decided (for tests and orderly shutdown). */
  async settled(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled) await new Promise((r) => setImmediate(r));
  }
}

const NO_PATHS: readonly Path[] = Object.freeze([]);
const REACHABLE: NextHopState = Object.freeze({ reachable: true, igpCost: 0 });

function sameMembers(a: readonly Path[], b: readonly Path[]): boolean {
  return a.length === b.length && a.every((p) => b.includes(p));
}
