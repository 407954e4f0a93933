// Ingress backpressure: how much of what each peer sent the RIB has not done yet, and a hold on reading
// from a peer while that passes a bound. Reading stops, the kernel's receive buffer fills and TCP
// pushes back on the sender, so a peer that floods UPDATEs costs a bounded amount of memory and delays
// the others by a bounded number of turns (OpenBGPD stops reading from peers while its RDE is busy the
// same way, session.c; each connection also decodes a bounded number of messages per turn).
//
// A peer's backlog is the place of its last change in the Loc-RIB's decision queue: the destinations
// that will be decided before that change is. The queue is first in, first out, so this needs no count
// per peer in the queue: the Loc-RIB's count of queued destinations when the UPDATE was applied, less
// what it has decided since. Export is the other half of the work: while the update groups that drain
// have more staged than a bound, every peer that sends is held too. Groups held back by a member that
// does not read are not counted: their staging coalesces (rib/adj-rib-out.ts), and one such member
// must not stop the others' routes coming in.

import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import type { LocRib } from './loc-rib.ts';

/** A peer's session as the ingress holds it (bgp/session/peer.ts). */
export interface IngressSource {
  readonly name: string;
  holdReading(): void;
  releaseReading(): void;
}

/** What the export side has staged and not yet sent (rib/adj-rib-out.ts). */
export interface ExportBacklog {
  /** Destinations staged in the update group that drains with the most of them. */
  readonly drainingBacklog: number;
}

export interface IngressBacklogOptions {
  /** Reading from a peer is held above this many destinations ahead of its last change… */
  readonly holdAbove: number;
  /** …and released at or below this many. */
  readonly releaseAt: number;
  /** Every peer that sends is held while an update group that drains has more staged than this. */
  readonly exportHoldAbove: number;
  readonly exportReleaseAt: number;
}

/**
 * At 20,000 decisions per turn, each batch exported in the turn that decided it (and otherwise 10,000
 * destinations per group per turn: loc-rib.ts, adj-rib-out.ts), a change waits a few turns at most
 * behind a flood.
 */
export const DEFAULT_INGRESS_BACKLOG_OPTIONS: IngressBacklogOptions = {
  holdAbove: 40_000,
  releaseAt: 10_000,
  exportHoldAbove: 40_000,
  exportReleaseAt: 10_000,
};

/** A held peer is said once, then at most once per this interval with how often it was held since. */
const HOLD_LOG_INTERVAL_MS = 10_000;
/** How often held peers are checked for release (a timer, so a hold never spins the event loop). */
const RELEASE_CHECK_MS = 1;

class SourceState {
  /** Decisions that come before this peer's last change is decided (see the top of the file). */
  mark = 0;
  held = false;
  /** Times reading was held, for the metrics. */
  holds = 0;
  holdsSinceLog = 0;
  loggedAt = -Infinity;
}

export class IngressBacklog {
  /** Destinations decided since this object was made: the queue's head, counted from its start. */
  private decided = 0;
  private readonly sources = new Map<IngressSource, SourceState>();
  private readonly held = new Set<IngressSource>();
  private releaseTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly rib: LocRib,
    private readonly exports: ExportBacklog,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: IngressBacklogOptions = DEFAULT_INGRESS_BACKLOG_OPTIONS,
  ) {
    rib.decided$.subscribe((batch) => (this.decided += batch.pathsChanged.length));
  }

  /** An UPDATE from `source` was applied: its changes are at the end of the decision queue. */
  applied(source: IngressSource): void {
    let state = this.sources.get(source);
    if (!state) this.sources.set(source, (state = new SourceState()));
    state.mark = this.decided + this.rib.queuedCount;
    if (!state.held && this.mustHold(state)) this.hold(source, state);
  }

  /** Destinations the Loc-RIB decides before `source`'s last change; 0 once that is decided. */
  backlog(source: IngressSource): number {
    const state = this.sources.get(source);
    return state ? Math.max(0, state.mark - this.decided) : 0;
  }

  isHeld(source: IngressSource): boolean {
    return this.sources.get(source)?.held ?? false;
  }

  /** Times reading from `source` was held. */
  holds(source: IngressSource): number {
    return this.sources.get(source)?.holds ?? 0;
  }

  /** The session went away: nothing is kept for it (its next session starts with no backlog). */
  forget(source: IngressSource): void {
    this.sources.delete(source);
    this.held.delete(source);
  }

  /** Stops every release check (the router closes). */
  close(): void {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
  }

  private mustHold(state: SourceState): boolean {
    return (
      state.mark - this.decided > this.options.holdAbove ||
      this.exports.drainingBacklog > this.options.exportHoldAbove
    );
  }

  private mayRelease(state: SourceState): boolean {
    return (
      state.mark - this.decided <= this.options.releaseAt &&
      this.exports.drainingBacklog <= this.options.exportReleaseAt
    );
  }

  private hold(source: IngressSource, state: SourceState): void {
    state.held = true;
    state.holds++;
    state.holdsSinceLog++;
    this.held.add(source);
    source.holdReading();
    this.logHold(source, state);
    this.scheduleRelease();
  }

  /** Said at warn: an operator sees which peer sends more than the RIB takes, not every hold. */
  private logHold(source: IngressSource, state: SourceState): void {
    const now = this.clock.now();
    if (now - state.loggedAt < HOLD_LOG_INTERVAL_MS) return;
    this.log.warn(
      {
        event: 'ingress-paused',
        peer: source.name,
        backlog: state.mark - this.decided,
        exportBacklog: this.exports.drainingBacklog,
        pausesSinceLastSaid: state.holdsSinceLog,
      },
      `reading from peer ${source.name} paused: it sends faster than the RIB takes (said at most every ${HOLD_LOG_INTERVAL_MS / 1000} s)`,
    );
    state.loggedAt = now;
    state.holdsSinceLog = 0;
  }

  private scheduleRelease(): void {
    if (this.releaseTimer !== undefined || this.held.size === 0) return;
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = undefined;
      this.releaseDue();
    }, RELEASE_CHECK_MS);
  }

  private releaseDue(): void {
    for (const source of this.held) {
      const state = this.sources.get(source);
      if (state && !this.mayRelease(state)) continue;
      this.held.delete(source);
      if (!state) continue;
      state.held = false;
      source.releaseReading();
    }
    this.scheduleRelease();
  }
}
