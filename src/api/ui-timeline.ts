// Each session's recent state changes for the web console's Peers page: when it went up and down and
// why (the last error, which names the NOTIFICATION and carries an RFC 9003 shutdown communication).
// The session keeps only its current state, so this module listens to every peer's event stream and
// keeps a small ring per peer. Peers come and go with the configuration; they are picked up when the
// router changes and re-checked every `SCAN_MS`, and a peer that is gone is forgotten.

import type { Subscription } from 'rxjs';
import { SessionState } from '../bgp/session/fsm.ts';
import type { Peer } from '../bgp/session/peer.ts';
import type { BrindleSource } from '../metrics/source.ts';

/** Transitions kept per peer. */
export const TIMELINE_LENGTH = 32;
const SCAN_MS = 1000;

export interface Transition {
  /** ISO 8601. */
  readonly at: string;
  readonly from: SessionState;
  readonly to: SessionState;
  /** Why the session left Established or fell to Idle; null otherwise. */
  readonly reason: string | null;
}

export class PeerTimeline {
  private readonly rings = new Map<Peer, Transition[]>();
  private readonly subscriptions = new Map<Peer, Subscription>();
  private readonly routerSubscription: Subscription;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly source: BrindleSource) {
    this.routerSubscription = source.router$.subscribe(() => this.scan());
    this.timer = setInterval(() => this.scan(), SCAN_MS);
    this.timer.unref();
  }

  /** Oldest first; empty for a peer seen only now. */
  transitions(peer: Peer): readonly Transition[] {
    return this.rings.get(peer) ?? [];
  }

  /** The latest transitions of every peer that left Established or fell to Idle, newest first. */
  recentFailures(limit: number): { peer: string; transition: Transition }[] {
    const failures: { peer: string; transition: Transition }[] = [];
    for (const [peer, ring] of this.rings)
      for (const transition of ring)
        if (transition.reason !== null) failures.push({ peer: peer.config.name, transition });
    return failures.sort((a, b) => b.transition.at.localeCompare(a.transition.at)).slice(0, limit);
  }

  private scan(): void {
    const current = new Set(this.source.bgp?.allPeers() ?? []);
    for (const [peer, subscription] of this.subscriptions) {
      if (current.has(peer)) continue;
      subscription.unsubscribe();
      this.subscriptions.delete(peer);
      this.rings.delete(peer);
    }
    for (const peer of current) if (!this.subscriptions.has(peer)) this.follow(peer);
  }

  private follow(peer: Peer): void {
    const ring: Transition[] = [];
    this.rings.set(peer, ring);
    const subscription = peer.events$.subscribe((event) => {
      if (event.kind === 'down') this.explainLast(ring, peer.counters.lastError);
      if (event.kind !== 'state') return;
      const reason = isFailure(event) ? peer.counters.lastError || null : null;
      ring.push({ at: new Date().toISOString(), from: event.from, to: event.to, reason });
      if (ring.length > TIMELINE_LENGTH) ring.shift();
    });
    this.subscriptions.set(peer, subscription);
  }

  /**
   * The session reports why it went down after (or before) the state change, depending on which side
   * closed: the latest failed transition takes the reason once it is known.
   */
  private explainLast(ring: Transition[], reason: string): void {
    const last = ring.at(-1);
    if (last && reason && last.reason !== reason && isFailure(last))
      ring[ring.length - 1] = { ...last, reason };
  }

  close(): void {
    this.routerSubscription.unsubscribe();
    clearInterval(this.timer);
    for (const subscription of this.subscriptions.values()) subscription.unsubscribe();
    this.subscriptions.clear();
    this.rings.clear();
  }
}

function isFailure(change: { readonly from: SessionState; readonly to: SessionState }): boolean {
  return change.from === SessionState.Established || change.to === SessionState.Idle;
}
