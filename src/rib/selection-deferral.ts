// The Restarting Speaker's wait (RFC 4724 §4.1): after Brindle itself restarted, best-path results
// go nowhere — no UPDATE, no End-of-RIB to any peer, no kernel change — until every peer it expects
// has sent End-of-RIB, or the Selection_Deferral_Timer fires. Peers that come back without the
// Graceful Restart capability, or with their own Restart State bit set, are not waited for (§4.1),
// nor are peers removed from the configuration. Sending earlier would hand a client a partial table
// followed by End-of-RIB, and the client would sweep every route not yet relearned.
//
// §4.1 speaks per AFI/SAFI: once every configured peer is up, a family is released as soon as every
// waited-for peer that negotiated it has sent its End-of-RIB, and its routes and End-of-RIB go out
// without waiting for the other families (onFamilyReleased). A peer not up yet holds every family: the
// families it will negotiate are not known before its OPEN. The wait as a whole (onDone: the kernel,
// the Restart State bit) ends with the last family, or with the timer.

import { familyKeyName } from '../lib/family.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';

/**
 * BIRD's `graceful restart wait` (DEFAULT_GR_WAIT, 240 s), the bound calico-node's BIRD runs with
 * (it starts as `bird -R`, in graceful-restart recovery). FRR's select-defer-time is 360 s.
 */
export const DEFAULT_SELECTION_DEFERRAL_TIME_SEC = 240;

/** Not yet Established on this run: the peer may still come back and must be waited for. */
const NOT_UP = 'not-up';

/** One peer the wait still holds for: not up yet, or the families whose End-of-RIB is missing. */
export interface AwaitedPeer {
  readonly peer: string;
  readonly established: boolean;
  /** Family names ("ipv4-unicast") whose End-of-RIB has not arrived; empty while not established. */
  readonly endOfRibAwaited: readonly string[];
}

export interface DeferralStatus {
  readonly active: boolean;
  /** Peers still waited for: not Established yet, or End-of-RIB missing for some family. */
  readonly waitingFor: readonly string[];
  readonly awaited: readonly AwaitedPeer[];
  /** Families whose selection is complete and whose routes went out (names). */
  readonly releasedFamilies: readonly string[];
  readonly timeSec: number;
  /** Since the wait started. */
  readonly elapsedSec: number;
  /** How long the wait lasted, once it ended. */
  readonly durationSec?: number;
  /** Until the Selection_Deferral_Timer fires; 0 once the wait ended. */
  readonly remainingSec: number;
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
  private readonly whenReleased: ((family: number) => void)[] = [];
  /** Families some waited-for session negotiated, and those already released. */
  private readonly families = new Set<number>();
  private readonly releasedFamilies = new Set<number>();
  private readonly startedAt: number;
  private endedAt: number | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly timeSec = DEFAULT_SELECTION_DEFERRAL_TIME_SEC,
  ) {
    this.startedAt = clock.now();
    this.timer = clock.setTimer(timeSec * 1000, () => this.finish('Selection_Deferral_Timer expired'));
  }

  /** True until the wait ended: results are held back. */
  get active(): boolean {
    return this.endedBecause === undefined;
  }

  get status(): DeferralStatus {
    const now = this.clock.now();
    const elapsedMs = now - this.startedAt;
    const durationMs = this.endedAt === undefined ? undefined : this.endedAt - this.startedAt;
    return {
      active: this.active,
      waitingFor: [...this.waiting.keys()],
      awaited: [...this.waiting].map(([peer, families]) => awaitedPeer(peer, families)),
      releasedFamilies: [...this.releasedFamilies].sort().map(familyKeyName),
      timeSec: this.timeSec,
      elapsedSec: elapsedMs / 1000,
      durationSec: durationMs === undefined ? undefined : durationMs / 1000,
      remainingSec: this.active ? Math.max(0, this.timeSec - elapsedMs / 1000) : 0,
      reason: this.endedBecause,
    };
  }

  /** Runs `fn` once the wait ends (at once when it already has). */
  onDone(fn: () => void): void {
    if (this.active) this.whenDone.push(fn);
    else fn();
  }

  /** Runs `fn(family)` for each family released before the whole wait ends (§4.1, per AFI/SAFI). */
  onFamilyReleased(fn: (family: number) => void): void {
    this.whenReleased.push(fn);
  }

  /** The family's routes may be sent: its selection is complete, or the whole wait ended. */
  released(family: number): boolean {
    return !this.active || this.releasedFamilies.has(family);
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
    for (const family of endOfRibFamilies ?? []) this.families.add(family);
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
    if (families.size === 0) this.waiting.delete(key);
    this.check();
  }

  /** Shutdown: the timer goes, nothing else runs. */
  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.whenDone.length = 0;
    this.whenReleased.length = 0;
  }

  private check(): void {
    if (!this.active || !this.peersKnown) return;
    if (this.waiting.size === 0) return this.finish('End-of-RIB received from every peer');
    for (const families of this.waiting.values()) if (families === NOT_UP) return;
    for (const family of this.families) if (!this.awaitedFor(family)) this.release(family);
  }

  /** Some session up still owes End-of-RIB for the family. */
  private awaitedFor(family: number): boolean {
    for (const families of this.waiting.values())
      if (families !== NOT_UP && families.has(family)) return true;
    return false;
  }

  private release(family: number): void {
    if (this.releasedFamilies.has(family)) return;
    this.releasedFamilies.add(family);
    this.log.info(
      {
        event: 'selection-deferral-family-done',
        family: familyKeyName(family),
        waitingFor: [...this.waiting.keys()],
      },
      `graceful restart: End-of-RIB for ${familyKeyName(family)} received from every peer; sending its routes and End-of-RIB`,
    );
    for (const fn of this.whenReleased) fn(family);
  }

  /** Ends the wait now (the timer, every End-of-RIB, or the router it held back was replaced). */
  finish(reason: string): void {
    if (!this.active) return;
    this.endedBecause = reason;
    this.endedAt = this.clock.now();
    this.timer?.cancel();
    this.timer = undefined;
    const waitedFor = [...this.waiting.keys()];
    this.waiting.clear();
    for (const family of this.families) this.releasedFamilies.add(family);
    this.log.info(
      {
        event: 'selection-deferral-done',
        reason,
        waitedFor,
        timeSec: this.timeSec,
        durationSec: this.status.durationSec,
      },
      `graceful restart: ${reason}; sending routes and End-of-RIB`,
    );
    const callbacks = this.whenDone.splice(0);
    for (const fn of callbacks) fn();
  }
}

function awaitedPeer(peer: string, families: typeof NOT_UP | Set<number>): AwaitedPeer {
  if (families === NOT_UP) return { peer, established: false, endOfRibAwaited: [] };
  return { peer, established: true, endOfRibAwaited: [...families].sort().map(familyKeyName) };
}
