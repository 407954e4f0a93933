// The Loc-RIB (RFC 4271 §3.2): every destination with its candidate paths. Changes are queued and
// decided in batches, at most `maxDecisionsPerTurn` destinations per event-loop turn so keepalives and
// hold timers never starve under a full-table load; a batch of changes goes out on `changes$`.

import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import type { Nlri, Prefix } from '../lib/prefix.ts';
import { AttrSetTable } from './attr-set.ts';
import type { AttrSet } from './attr-set.ts';
import { decide, DEFAULT_DECISION_OPTIONS } from './decision.ts';
import type { DecisionOptions, DecisionStep } from './decision.ts';
import { Dest, Path, PrefixMap } from './route.ts';
import type { RibPeer } from './route.ts';

/** One destination after a decision: what changed about it. */
export interface RibChange {
  readonly dest: Dest;
  readonly previousBest: Path | undefined;
  readonly best: Path | undefined;
  /** The best path, its attributes or the ECMP set differ from before. */
  readonly bestChanged: boolean;
  readonly decidedBy: DecisionStep;
}

export class LocRib {
  readonly attrSets = new AttrSetTable();
  private readonly table = new PrefixMap<Dest>();
  private queue: Dest[] = [];
  private scheduled = false;
  private readonly subject = new Subject<readonly RibChange[]>();
  /** Every decided destination, in batches: the Adj-RIB-Out consumes this (ADD-PATH needs all paths). */
  readonly changes$: Observable<readonly RibChange[]> = this.subject.asObservable();
  pathCount = 0;
  maxDecisionsPerTurn = 20_000;

  constructor(private readonly options: DecisionOptions = DEFAULT_DECISION_OPTIONS) {}

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
  announce(peer: RibPeer, prefix: Nlri, attrs: AttrSet, eligible: boolean, igpCost = 0): void {
    let dest = this.table.get(prefix);
    if (!dest) {
      dest = new Dest(prefix);
      this.table.set(prefix, dest);
    }
    const existing = findPath(dest, peer, prefix.pathId);
    this.attrSets.retain(attrs);
    if (existing) {
      this.attrSets.release(existing.attrs);
      existing.attrs = attrs;
      existing.eligible = eligible;
      existing.igpCost = igpCost;
    } else {
      const path = new Path(dest, peer, prefix.pathId, attrs, eligible);
      path.igpCost = igpCost;
      path.localPathId = dest.allocatePathId();
      dest.paths.push(path);
      this.pathCount++;
    }
    this.enqueue(dest);
  }

  withdraw(peer: RibPeer, prefix: Nlri): void {
    const dest = this.table.get(prefix);
    if (!dest) return;
    const index = dest.paths.findIndex((p) => p.peer === peer && p.pathId === prefix.pathId);
    if (index < 0) return;
    this.removeAt(dest, index);
  }

  /** Removes every path learned from `peer` (its session went down). Returns how many. */
  withdrawPeer(peer: RibPeer): number {
    let removed = 0;
    for (const dest of this.table.values()) {
      for (let i = dest.paths.length - 1; i >= 0; i--) {
        if (dest.paths[i].peer !== peer) continue;
        this.removeAt(dest, i);
        removed++;
      }
    }
    return removed;
  }

  private removeAt(dest: Dest, index: number): void {
    const [path] = dest.paths.splice(index, 1);
    this.attrSets.release(path.attrs);
    this.pathCount--;
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
    const changes = batch.map((dest) => this.decideDest(dest));
    if (this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.runQueue());
    }
    this.subject.next(changes);
  }

  private decideDest(dest: Dest): RibChange {
    dest.queued = false;
    const previousBest = dest.best;
    const previousAttrs = dest.decidedAttrs;
    const previousEcmp = dest.ecmp;
    const decision = decide(dest.paths, this.options);
    dest.best = decision.best;
    dest.ecmp = decision.ecmp;
    dest.decidedAttrs = decision.best?.attrs;
    if (dest.paths.length === 0) this.table.delete(dest);
    const bestChanged =
      previousBest !== decision.best ||
      previousAttrs !== decision.best?.attrs ||
      !sameMembers(previousEcmp, decision.ecmp);
    return { dest, previousBest, best: decision.best, bestChanged, decidedBy: decision.decidedBy };
  }

  /** Resolves once every queued destination has been decided (for tests and orderly shutdown). */
  async settled(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled) await new Promise((r) => setImmediate(r));
  }
}

function findPath(dest: Dest, peer: RibPeer, pathId: number): Path | undefined {
  for (const p of dest.paths) if (p.peer === peer && p.pathId === pathId) return p;
  return undefined;
}

function sameMembers(a: readonly Path[], b: readonly Path[]): boolean {
  return a.length === b.length && a.every((p) => b.includes(p));
}
