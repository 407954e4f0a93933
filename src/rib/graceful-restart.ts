// The Receiving Speaker's side of BGP graceful restart (RFC 4724 §4.2) and of Long-Lived Graceful
// Restart (RFC 9494 §4.2): when a session with a peer that announced the capabilities is lost, its
// paths stay in the Loc-RIB, marked stale, so forwarding through it continues while it restarts.
// Per AFI the life of those paths is: stale for the restart time (route preference unchanged), then
// LLGR-stale for the long-lived stale time (LLGR_STALE attached, least preferred, sent only to LLGR
// peers, NO_LLGR paths removed), then gone. Either period may be zero. They also go when the peer
// comes back as another speaker or without preserved forwarding state, and (those it does not
// re-announce) at its End-of-RIB for the AFI.
//
// RFC 8538: with the N bit negotiated on both sides, a hold-timer expiry or a NOTIFICATION other than
// Hard Reset (sent or received) ends the session the same way as a lost connection.

import { CapabilityCode, CeaseSubcode, ErrorCode, WellKnownCommunity } from '../bgp/constants.ts';
import type { DownReason } from '../bgp/session/fsm.ts';
import type { NegotiatedSession } from '../bgp/session/negotiate.ts';
import type {
  GracefulRestartCapability,
  LongLivedGracefulRestartCapability,
  LongLivedGracefulRestartFamily,
} from '../bgp/types.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import { Afi, Safi } from '../lib/family.ts';
import type { Logger } from '../lib/log.ts';
import type { AttrSet } from './attr-set.ts';
import type { LocRib } from './loc-rib.ts';
import type { RibPeer } from './route.ts';

/**
 * How long stale paths may wait for the restarted peer's End-of-RIB (RFC 4724 §4.2 leaves it to
 * configuration; FRR's stalepath-time and BIRD's long-lived default are 360 s).
 */
export const DEFAULT_STALE_PATH_TIME_SEC = 360;

const UNICAST_AFIS = [Afi.Ipv4, Afi.Ipv6];

/** What a session negotiated that decides how its paths are kept when it ends. */
export interface RestartTerms {
  /** The peer's Graceful Restart capability (RFC 4724 §3). */
  readonly gracefulRestart?: GracefulRestartCapability;
  /** The peer's LLGR capability, when both sides announced LLGR with GR (RFC 9494 §4.5). */
  readonly longLived?: LongLivedGracefulRestartCapability;
  /** Our own announced long-lived stale time per AFI: a ceiling on the peer's (RFC 9494 §4.2). */
  readonly localStaleTimeSec: ReadonlyMap<number, number>;
  /** RFC 8538: both sides set the N bit. */
  readonly notification: boolean;
}

/** The terms of a negotiated session. */
export function restartTerms(negotiated: NegotiatedSession): RestartTerms {
  const local = negotiated.localCapabilities.find(
    (c) => c.code === CapabilityCode.LongLivedGracefulRestart,
  ) as LongLivedGracefulRestartCapability | undefined;
  return {
    gracefulRestart: negotiated.peerGracefulRestart,
    longLived: negotiated.longLivedGracefulRestart ? negotiated.peerLongLivedGracefulRestart : undefined,
    localStaleTimeSec: new Map(unicast(local?.families).map((f) => [f.afi, f.staleTimeSec])),
    notification: negotiated.gracefulNotification,
  };
}

function unicast<F extends { readonly safi: number }>(families: readonly F[] | undefined): F[] {
  return (families ?? []).filter((f) => f.safi === Safi.Unicast);
}

/** One AFI's kept paths. */
interface KeptAfi {
  /** 'stale': within the restart time (or waiting for End-of-RIB); 'llgr-stale': RFC 9494 §4.2. */
  phase: 'stale' | 'llgr-stale';
  /** The long-lived stale time agreed for the AFI: 0 means none (RFC 9494 §4.2). */
  staleTimeSec: number;
  /** The long-lived stale timer: runs until End-of-RIB, across sessions (§4.2). */
  llstTimer?: TimerHandle;
}

/** A peer whose session was lost while its paths are kept. */
interface Restarting {
  readonly ribPeer: RibPeer;
  readonly afis: Map<number, KeptAfi>;
  /** The restart time while the peer is away, then the stale-path time while it resynchronizes. */
  timer?: TimerHandle;
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
   * then not withdraw them); false when neither graceful restart applies and they must go now.
   */
  sessionLost(key: string, ribPeer: RibPeer, terms: RestartTerms | undefined, reason: DownReason): boolean {
    const previous = this.restarting.get(key);
    previous?.timer?.cancel();
    this.restarting.delete(key);
    const plan = terms && restartable(reason, terms.notification) ? retention(terms) : undefined;
    if (!plan || plan.size === 0) {
      cancelAll(previous);
      return false;
    }
    const state: Restarting = { ribPeer, afis: new Map() };
    let kept = 0;
    for (const [afi, times] of plan) {
      kept += this.locRib.markStale(ribPeer, afi);
      // §4.2: a long-lived stale timer already running (consecutive restarts) keeps its deadline.
      const running = previous?.afis.get(afi);
      state.afis.set(afi, { phase: running?.phase ?? 'stale', ...times, llstTimer: running?.llstTimer });
    }
    for (const [afi, old] of previous?.afis ?? []) if (!plan.has(afi)) old.llstTimer?.cancel();
    this.restarting.set(key, state);
    const dropped = this.sweepOthers(ribPeer, plan);
    this.startRestartTime(key, state, terms?.gracefulRestart);
    this.log.info(
      {
        event: 'graceful-restart',
        peer: ribPeer.name,
        kept,
        dropped,
        restartTimeSec: terms?.gracefulRestart?.restartTimeSec ?? 0,
        longLivedStaleTimeSec: Object.fromEntries([...plan].map(([afi, t]) => [afi, t.staleTimeSec])),
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
  sessionUp(key: string, terms: RestartTerms, same: (previous: RibPeer) => boolean): RibPeer | undefined {
    const state = this.restarting.get(key);
    if (!state) return undefined;
    state.timer?.cancel();
    state.timer = undefined;
    // RFC 4724 §4.2 (RFC 9494 §4.2 keeps it for LLGR-stale paths): a peer that is not the same
    // speaker, or does not announce the capability again, gets its stale paths deleted at once.
    if (!terms.gracefulRestart || !same(state.ribPeer)) {
      this.expire(
        key,
        terms.gracefulRestart
          ? 'a different speaker came back'
          : 'the peer came back without graceful restart',
      );
      return undefined;
    }
    // §4.2: families whose forwarding state was not preserved (F bit clear, or absent) go now.
    for (const afi of [...state.afis.keys()])
      if (!forwardingPreserved(terms, afi)) this.release(key, afi, 'forwarding state not preserved');
    if (!this.restarting.has(key)) return state.ribPeer;
    // LLGR-stale AFIs wait on their own timer, which runs on until End-of-RIB (RFC 9494 §4.2).
    state.timer = this.clock.setTimer(this.stalePathTimeSec * 1000, () => {
      for (const [afi, kept] of [...state.afis])
        if (kept.phase === 'stale') this.release(key, afi, 'no End-of-RIB within the stale-path time');
    });
    return state.ribPeer;
  }

  /** §4.2: End-of-RIB for a family from the restarted peer: what it did not re-announce goes. */
  endOfRib(key: string, afi: number): void {
    if (this.restarting.get(key)?.afis.has(afi)) this.release(key, afi, 'End-of-RIB after restart');
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

  /** Where each AFI of a peer is, for tests and the CLI: undefined when nothing is kept. */
  phases(key: string): ReadonlyMap<number, 'stale' | 'llgr-stale'> | undefined {
    const state = this.restarting.get(key);
    return state && new Map([...state.afis].map(([afi, kept]) => [afi, kept.phase]));
  }

  /** Arms the restart time; AFIs the GR capability does not list have a restart time of zero (§4.2). */
  private startRestartTime(key: string, state: Restarting, gr: GracefulRestartCapability | undefined): void {
    const listed = new Set(unicast(gr?.families).map((f) => f.afi));
    const restartTimeSec = gr?.restartTimeSec ?? 0;
    for (const afi of [...state.afis.keys()])
      if (restartTimeSec === 0 || !listed.has(afi)) this.restartTimeExpired(key, afi);
    if (restartTimeSec === 0 || !this.restarting.has(key)) return;
    state.timer = this.clock.setTimer(restartTimeSec * 1000, () => {
      state.timer = undefined;
      for (const afi of [...state.afis.keys()]) this.restartTimeExpired(key, afi);
    });
  }

  /** RFC 9494 §4.2: the GR period is over; with a long-lived stale time the LLGR period begins. */
  private restartTimeExpired(key: string, afi: number): void {
    const state = this.restarting.get(key);
    const kept = state?.afis.get(afi);
    if (!state || !kept) return;
    if (kept.staleTimeSec === 0)
      return this.release(key, afi, 'restart time expired before the session came back');
    kept.phase = 'llgr-stale';
    const { ribPeer } = state;
    void this.locRib
      .restampStale(ribPeer, afi, (attrs) => this.llgrStale(attrs))
      .then((removed) =>
        this.log.info(
          {
            event: 'llgr-stale',
            peer: ribPeer.name,
            afi,
            noLlgrRemoved: removed,
            staleTimeSec: kept.staleTimeSec,
          },
          'restart time over: routes kept as LLGR_STALE (least preferred) for the long-lived stale time',
        ),
      );
    kept.llstTimer ??= this.clock.setTimer(kept.staleTimeSec * 1000, () =>
      this.release(key, afi, 'long-lived stale time expired'),
    );
  }

  /** §4.2: LLGR_STALE attached; a route with NO_LLGR is removed instead (§3.3). */
  private llgrStale(attrs: AttrSet): AttrSet | undefined {
    if (attrs.hasCommunity(WellKnownCommunity.NoLlgr)) return undefined;
    if (attrs.hasCommunity(WellKnownCommunity.LlgrStale)) return attrs;
    const communities = [...(attrs.attributes.communities ?? []), WellKnownCommunity.LlgrStale];
    return this.locRib.attrSets.intern({ ...attrs.attributes, communities });
  }

  /** One AFI's wait is over: its paths still stale go, and the peer is forgotten when none is left. */
  private release(key: string, afi: number, why: string): void {
    const state = this.restarting.get(key);
    const kept = state?.afis.get(afi);
    if (!state || !kept) return;
    kept.llstTimer?.cancel();
    state.afis.delete(afi);
    if (state.afis.size === 0) this.forget(key);
    const { ribPeer } = state;
    void this.locRib
      .sweepStale(ribPeer, afi)
      .then((removed) =>
        this.log.info(
          { event: 'graceful-restart-done', peer: ribPeer.name, afi, removed, reason: why },
          `${why}: stale routes not re-announced removed`,
        ),
      );
  }

  /** Every AFI's wait is over at once. */
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
    cancelAll(this.restarting.get(key));
    this.restarting.delete(key);
  }

  /** Paths of families neither capability lets us keep go at once (§4.2). */
  private sweepOthers(ribPeer: RibPeer, kept: ReadonlyMap<number, unknown>): number {
    let dropped = 0;
    for (const afi of UNICAST_AFIS) {
      if (kept.has(afi)) continue;
      dropped += this.locRib.markStale(ribPeer, afi);
      void this.locRib.sweepStale(ribPeer, afi);
    }
    return dropped;
  }
}

function cancelAll(state: Restarting | undefined): void {
  state?.timer?.cancel();
  for (const kept of state?.afis.values() ?? []) kept.llstTimer?.cancel();
}

/**
 * Per AFI, the restart time and long-lived stale time it is kept for; an AFI with both zero is not
 * kept (RFC 9494 §4.2: "if both are zero, none of these procedures would apply").
 */
function retention(terms: RestartTerms): Map<number, { staleTimeSec: number }> {
  const gr = terms.gracefulRestart;
  const restartTimeSec = gr?.restartTimeSec ?? 0;
  const plan = new Map<number, { staleTimeSec: number }>();
  const listed = new Set(unicast(gr?.families).map((f) => f.afi));
  for (const afi of UNICAST_AFIS) {
    const staleTimeSec = longLivedStaleTime(terms, afi);
    if ((restartTimeSec > 0 && listed.has(afi)) || staleTimeSec > 0) plan.set(afi, { staleTimeSec });
  }
  return plan;
}

/** RFC 9494 §4.2: the peer's stale time for the AFI (0 when unlisted), no longer than our own. */
function longLivedStaleTime(terms: RestartTerms, afi: number): number {
  const family: LongLivedGracefulRestartFamily | undefined = unicast(terms.longLived?.families).find(
    (f) => f.afi === afi,
  );
  return Math.min(family?.staleTimeSec ?? 0, terms.localStaleTimeSec.get(afi) ?? 0);
}

/** RFC 4724 §4.2: the F bit for the AFI, in the GR capability or (RFC 9494 §3.1) the LLGR one. */
function forwardingPreserved(terms: RestartTerms, afi: number): boolean {
  const inGr = unicast(terms.gracefulRestart?.families).some((f) => f.afi === afi && f.forwardingState);
  return inGr || unicast(terms.longLived?.families).some((f) => f.afi === afi && f.forwardingState);
}

/**
 * RFC 4724 §4.2 applies to a session that ended without a NOTIFICATION (the TCP connection failed or
 * was reset). RFC 8538 §4 extends it, when both sides set the N bit, to a hold-timer expiry and to any
 * NOTIFICATION sent or received other than Cease/Hard Reset — and, here, other than Cease/BFD Down.
 */
function restartable(reason: DownReason, notification: boolean): boolean {
  if (reason.kind === 'connection-lost') return true;
  if (!notification || reason.hardReset === true) return false;
  // RFC 9384: BFD saw the forwarding path die; routes kept through it would black-hole traffic.
  const n = reason.notification;
  return !(n?.code === ErrorCode.Cease && n.subcode === CeaseSubcode.BfdDown);
}
