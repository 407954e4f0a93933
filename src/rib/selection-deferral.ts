// The Restarting Speaker's wait (RFC 4724 §4.1): after Brindle itself restarted, best-path results
// go nowhere — no UPDATE, no End-of-RIB to any peer, no kernel change — until every peer it expects
// has sent End-of-RIB, or the Selection_Deferral_Timer fires. Peers that come back without the
// Graceful Restart capability, or with their own Restart State bit set, are not waited for (§4.1),
// nor are peers removed from the configuration. Sending earlier would hand a client a partial table
// followed by End-of-RIB, and the client would sweep every route not yet relearned.
//
// One deferral covers every address family: Brindle releases all of them together once the last is
// complete (§4.1 allows per-family release; the families of a Calico cluster converge together).

import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';

/**
 * BIRD's `graceful restart wait` (DEFAULT_GR_WAIT, 240 s), the bound calico-node's BIRD runs with
 * (it starts as `bird -R`, in graceful-restart recovery). FRR's select-defer-time is 360 s.
 */
export const DEFAULT_SELECTION_DEFERRAL_TIME_SEC = 240;

/** Not yet Established on this run: the peer may still come back and must be waited for. */
const NOT_UP = 'not-up';

export interface DeferralStatus {
  readonly active: boolean;
  /** Peers still waited for: not Established yet, or End-of-RIB missing for some family. */
  readonly waitingFor: readonly string[];
  readonly reason?: string;
}

export class SelectionDeferral {
  /** Peer key → NOT_UP, or the familyKey()s whose End-of-RIB has not arrived yet. */
  private readonly waiting = new Map<string, typeof NOT_UP | Set<number>>();
  /** The configured peer set has been handed over (before that, no peer yet is no reason to end). */
  private peersKnown = false;
  private timer: TimerHandle | undefined;
  private endedBecause: string | undefined;
  private readonly whenDone: (() => void)[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly timeSec = DEFAULT_SELECTION_DEFERRAL_TIME_SEC,
  ) {
    this.timer = clock.setTimer(timeSec * 1000, () => this.finish('Selection_Deferral_Timer expired'));
  }

  /** True until the wait ended: results are held back. */
  get active(): boolean {
    return this.endedBecause === undefined;
  }

  get status(): DeferralStatus {
    return { active: this.active, waitingFor: [...this.waiting.keys()], reason: this.endedBecause };
  }

  /** Runs `fn` once the wait ends (at once when it already has). */
  onDone(fn: () => void): void {
    if (this.active) this.whenDone.push(fn);
    else fn();
  }

  /** A configured peer: waited for until it is up and has sent End-of-RIB. */
  expect(key: string): void {
    if (this.active && !this.waiting.has(key)) this.waiting.set(key, NOT_UP);
  }

  /** The peer was removed from the configuration: nothing to wait for. */
  forget(key: string): void {
    if (this.waiting.delete(key)) this.check();
  }

  /** Every configured peer has been expect()ed: from now on an empty wait list ends the wait. */
  configured(): void {
    this.peersKnown = true;
    this.check();
  }

  /**
   * The session with `key` is Established. `endOfRibFamilies` are the familyKey()s both sides
   * negotiated that the peer's Graceful Restart capability lists; undefined when the peer is not
   * waited for (§4.1: no capability, or its Restart State bit set — it is restarting too).
   */
  sessionUp(key: string, endOfRibFamilies: readonly number[] | undefined): void {
    if (!this.active || !this.waiting.has(key)) return;
    if (endOfRibFamilies === undefined || endOfRibFamilies.length === 0) this.waiting.delete(key);
    else this.waiting.set(key, new Set(endOfRibFamilies));
    this.check();
  }

  /** The session went down before it finished: wait for it to come back (bounded by the timer). */
  sessionDown(key: string): void {
    if (this.active && this.waiting.has(key)) this.waiting.set(key, NOT_UP);
  }

  /** §4.1 (a): End-of-RIB of `family` (a familyKey()) from the peer. */
  endOfRib(key: string, family: number): void {
    const families = this.waiting.get(key);
    if (!this.active || families === undefined || families === NOT_UP) return;
    families.delete(family);
    if (families.size > 0) return;
    this.waiting.delete(key);
    this.check();
  }

  /** Shutdown: the timer goes, nothing else runs. */
  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.whenDone.length = 0;
  }

  private check(): void {
    if (this.active && this.peersKnown && this.waiting.size === 0)
      this.finish('End-of-RIB received from every peer');
  }

  /** Ends the wait now (the timer, every End-of-RIB, or the router it held back was replaced). */
  finish(reason: string): void {
    if (!this.active) return;
    this.endedBecause = reason;
    this.timer?.cancel();
    this.timer = undefined;
    const waitedFor = [...this.waiting.keys()];
    this.waiting.clear();
    this.log.info(
      { event: 'selection-deferral-done', reason, waitedFor, timeSec: this.timeSec },
      `graceful restart: ${reason}; sending routes and End-of-RIB`,
    );
    const callbacks = this.whenDone.splice(0);
    for (const fn of callbacks) fn();
  }
}
