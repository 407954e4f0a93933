// The Receiving Speaker's side of BGP graceful restart (RFC 4724 §4.2): when a session with a peer
// that announced the Graceful Restart capability is lost, its paths stay in the Loc-RIB, marked
// stale, so forwarding through it continues while it restarts. They go when the peer does not come
// back within the restart time it announced, when it comes back without preserved forwarding state,
// or (for the paths it does not re-announce) at its End-of-RIB.

import type { DownReason } from '../bgp/session/fsm.ts';
import type { GracefulRestartCapability } from '../bgp/types.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import { Afi } from '../lib/family.ts';
import type { Logger } from '../lib/log.ts';
import type { LocRib } from './loc-rib.ts';
import type { RibPeer } from './route.ts';

/**
 * How long stale paths may wait for the restarted peer's End-of-RIB (RFC 4724 §4.2 leaves it to
 * configuration; FRR's stalepath-time and BIRD's long-lived default are 360 s).
 */
export const DEFAULT_STALE_PATH_TIME_SEC = 360;

const UNICAST_AFIS = [Afi.Ipv4, Afi.Ipv6];

/** A peer whose session was lost while its paths are kept. */
interface Restarting {
  readonly ribPeer: RibPeer;
  /** AFIs whose paths are kept (stale) until the peer re-announces them and sends End-of-RIB. */
  readonly afis: Set<number>;
  timer: TimerHandle;
}

export class GracefulRestartHelper {
  private readonly restarting = new Map<string, Restarting>();

  constructor(
    private readonly locRib: LocRib,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly stalePathTimeSec = DEFAULT_STALE_PATH_TIME_SEC,
  ) {}

  /**
   * The session with `key` went down. Returns true when its paths were kept as stale (the caller must
   * then not withdraw them); false when graceful restart does not apply and they must go now.
   */
  sessionLost(
    key: string,
    ribPeer: RibPeer,
    capability: GracefulRestartCapability | undefined,
    reason: DownReason,
  ): boolean {
    this.forget(key);
    if (!capability || capability.restartTimeSec === 0 || !restartable(reason)) return false;
    // §4.2: only the families the peer listed in its capability are kept; the rest go at once.
    const afis = new Set(capability.families.map((f) => f.afi));
    if (afis.size === 0) return false;
    let kept = 0;
    for (const afi of afis) kept += this.locRib.markStale(ribPeer, afi);
    const dropped = this.sweepOthers(ribPeer, afis);
    const timer = this.clock.setTimer(capability.restartTimeSec * 1000, () =>
      this.expire(key, 'restart time expired before the session came back'),
    );
    this.restarting.set(key, { ribPeer, afis, timer });
    this.log.info(
      {
        event: 'graceful-restart',
        peer: ribPeer.name,
        kept,
        dropped,
        restartTimeSec: capability.restartTimeSec,
        reason: reason.text,
      },
      'session lost: keeping its routes as stale while the peer restarts',
    );
    return true;
  }

  /**
   * The session with `key` is Established again. Returns the RibPeer whose stale paths the new
   * session takes over (so re-announced paths replace them), or undefined when none are kept.
   */
  sessionUp(
    key: string,
    capability: GracefulRestartCapability | undefined,
    same: (previous: RibPeer) => boolean,
  ): RibPeer | undefined {
    const state = this.restarting.get(key);
    if (!state) return undefined;
    state.timer.cancel();
    // §4.2: a peer that is not the same speaker, or does not announce the capability again, gets
    // its stale paths deleted at once.
    if (!capability || !same(state.ribPeer)) {
      this.expire(
        key,
        capability ? 'a different speaker came back' : 'the peer came back without graceful restart',
      );
      return undefined;
    }
    // §4.2: families whose forwarding state was not preserved (F bit clear, or absent) go now.
    const preserved = new Set(capability.families.filter((f) => f.forwardingState).map((f) => f.afi));
    for (const afi of [...state.afis]) {
      if (preserved.has(afi)) continue;
      state.afis.delete(afi);
      void this.locRib.sweepStale(state.ribPeer, afi);
    }
    if (state.afis.size === 0) {
      this.restarting.delete(key);
      return state.ribPeer;
    }
    state.timer = this.clock.setTimer(this.stalePathTimeSec * 1000, () =>
      this.expire(key, 'no End-of-RIB within the stale-path time'),
    );
    return state.ribPeer;
  }

  /** §4.2: End-of-RIB for a family from the restarted peer: what it did not re-announce goes. */
  endOfRib(key: string, afi: number): void {
    const state = this.restarting.get(key);
    if (!state?.afis.delete(afi)) return;
    const { ribPeer } = state;
    void this.locRib
      .sweepStale(ribPeer, afi)
      .then((swept) =>
        this.log.info(
          { event: 'graceful-restart-done', peer: ribPeer.name, afi, swept },
          'End-of-RIB after restart: stale routes not re-announced removed',
        ),
      );
    if (state.afis.size > 0) return;
    state.timer.cancel();
    this.restarting.delete(key);
  }

  /** The peer is gone for good (de-configured): its stale paths go with it. */
  remove(key: string): void {
    const state = this.restarting.get(key);
    if (!state) return;
    this.forget(key);
    this.locRib.withdrawPeer(state.ribPeer);
  }

  /** Stops every timer (shutdown); the RIB goes with the router. */
  close(): void {
    for (const key of [...this.restarting.keys()]) this.forget(key);
  }

  private expire(key: string, why: string): void {
    const state = this.restarting.get(key);
    if (!state) return;
    this.forget(key);
    // Only the stale paths: what the peer re-announced since it came back stays.
    const { ribPeer } = state;
    void this.locRib
      .sweepStale(ribPeer)
      .then((removed) =>
        this.log.info(
          { event: 'graceful-restart-expired', peer: ribPeer.name, removed, reason: why },
          `graceful restart ended: ${why}; stale routes removed`,
        ),
      );
  }

  private forget(key: string): void {
    this.restarting.get(key)?.timer.cancel();
    this.restarting.delete(key);
  }

  /** Paths of families the capability did not list are not kept (§4.2). */
  private sweepOthers(ribPeer: RibPeer, kept: ReadonlySet<number>): number {
    let dropped = 0;
    for (const afi of UNICAST_AFIS) {
      if (kept.has(afi)) continue;
      dropped += this.locRib.markStale(ribPeer, afi);
      void this.locRib.sweepStale(ribPeer, afi);
    }
    return dropped;
  }
}

/**
 * RFC 4724 §4.2 applies to a session that ended without a NOTIFICATION (the TCP connection failed or
 * was reset). RFC 8538 §4 extends it to NOTIFICATIONs other than Hard Reset when both sides set the N
 * bit; Brindle does not set N, so a NOTIFICATION (Cease, or our hold-timer expiry) ends the paths.
 */
function restartable(reason: DownReason): boolean {
  return reason.kind === 'connection-lost';
}
