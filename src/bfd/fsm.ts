// One BFD session of RFC 5880 in Asynchronous mode, as a pure function: step(state, input, random)
// returns the next state and the actions for the driver (send a Control packet, arm or cancel a timer,
// report a state change). It owns no socket and reads no clock; the only outside value is the random
// number for the §6.8.7 jitter, passed in so tests fix it.
//
// Intervals are microseconds, as on the wire. Timers are the periodic transmission ('tx', §6.8.7) and
// the Detection Time ('detect', §6.8.4). Demand mode and the Echo function are not implemented: Brindle
// never sets D and always advertises a Required Min Echo RX Interval of zero.

import { BfdState, Diag } from './packet.ts';
import type { ControlPacket } from './packet.ts';

/** §6.8.3: while not Up, bfd.DesiredMinTxInterval is at least one second. */
export const SLOW_TX_INTERVAL_US = 1_000_000;

export interface BfdTimers {
  readonly detectMult: number;
  readonly desiredMinTxIntervalUs: number;
  readonly requiredMinRxIntervalUs: number;
  /**
   * bfd.DesiredMinTxInterval while the session is not Up (BIRD's "idle tx interval", Calico
   * Enterprise's idleSendInterval); desiredMinTxIntervalUs when absent. Never below one second (§6.8.3).
   */
  readonly idleTxIntervalUs?: number;
}

/** §6.8.3: the transmit interval advertised while not Up: the idle interval, at least one second. */
function idleTxIntervalUs(config: BfdTimers): number {
  return Math.max(config.idleTxIntervalUs ?? config.desiredMinTxIntervalUs, SLOW_TX_INTERVAL_US);
}

/** The §6.8.1 state variables, plus the intervals in force while a Poll Sequence runs (§6.8.3). */
export interface BfdSession {
  readonly config: BfdTimers;
  readonly sessionState: BfdState;
  readonly remoteSessionState: BfdState;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  readonly localDiag: Diag;
  /** What the packets advertise (bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval). */
  readonly desiredMinTxIntervalUs: number;
  readonly requiredMinRxIntervalUs: number;
  /** What the timers use: they lag the advertised values until the Poll Sequence ends (§6.8.3). */
  readonly txIntervalInForceUs: number;
  readonly rxIntervalInForceUs: number;
  readonly remoteMinRxIntervalUs: number;
  readonly remoteDesiredMinTxIntervalUs: number;
  readonly remoteDetectMult: number;
  readonly pollActive: boolean;
}

export type BfdTimerName = 'tx' | 'detect';

export type BfdInput =
  | { readonly type: 'start' }
  | { readonly type: 'packet'; readonly packet: ControlPacket }
  | { readonly type: 'timer'; readonly timer: BfdTimerName }
  | { readonly type: 'set-timers'; readonly config: BfdTimers }
  | { readonly type: 'admin-down' }
  | { readonly type: 'admin-up' };

export type BfdAction =
  | { readonly type: 'send'; readonly packet: ControlPacket }
  | { readonly type: 'arm'; readonly timer: BfdTimerName; readonly delayUs: number }
  | { readonly type: 'cancel'; readonly timer: BfdTimerName }
  | { readonly type: 'state'; readonly from: BfdState; readonly to: BfdState; readonly diag: Diag };

export interface BfdStep {
  readonly state: BfdSession;
  readonly actions: readonly BfdAction[];
}

/** A uniform number in [0, 1), like Math.random. */
export type Random = () => number;

/** §6.8.1 initial values: Down, RemoteDiscr 0, RemoteMinRxInterval 1. */
export function initialSession(config: BfdTimers, localDiscr: number): BfdSession {
  const desiredMinTxIntervalUs = idleTxIntervalUs(config);
  return {
    config,
    sessionState: BfdState.Down,
    remoteSessionState: BfdState.Down,
    localDiscr,
    remoteDiscr: 0,
    localDiag: Diag.NoDiagnostic,
    desiredMinTxIntervalUs,
    requiredMinRxIntervalUs: config.requiredMinRxIntervalUs,
    txIntervalInForceUs: desiredMinTxIntervalUs,
    rxIntervalInForceUs: config.requiredMinRxIntervalUs,
    remoteMinRxIntervalUs: 1,
    remoteDesiredMinTxIntervalUs: 0,
    remoteDetectMult: 0,
    pollActive: false,
  };
}

export function step(s: BfdSession, input: BfdInput, random: Random): BfdStep {
  switch (input.type) {
    case 'start':
      return { state: s, actions: [sendNow(s), armTx(s, random)] };
    case 'packet':
      return receive(s, input.packet, random);
    case 'timer':
      return input.timer === 'tx' ? transmit(s, random) : detectionTimeExpired(s, random);
    case 'set-timers':
      return changeIntervals({ ...s, config: input.config }, random);
    case 'admin-down':
      return adminDown(s, random);
    case 'admin-up':
      return s.sessionState === BfdState.AdminDown
        ? transition(s, BfdState.Down, Diag.NoDiagnostic, random)
        : { state: s, actions: [] };
  }
}

/** §6.8.4: the remote's Detect Mult times the agreed interval between its packets. */
export function detectionTimeUs(s: BfdSession): number {
  return s.remoteDetectMult * Math.max(s.rxIntervalInForceUs, s.remoteDesiredMinTxIntervalUs);
}

/** §6.8.7: the larger of our desired interval and what the remote can receive. */
export function transmitIntervalUs(s: BfdSession): number {
  return Math.max(s.txIntervalInForceUs, s.remoteMinRxIntervalUs);
}

// §6.8.6, the steps after the packet-only checks of decodeControlPacket.
function receive(s: BfdSession, p: ControlPacket, random: Random): BfdStep {
  if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== s.localDiscr) return { state: s, actions: [] };
  const actions: BfdAction[] = [];
  let next: BfdSession = {
    ...s,
    remoteDiscr: p.myDiscriminator,
    remoteSessionState: p.state,
    remoteMinRxIntervalUs: p.requiredMinRxIntervalUs,
    remoteDesiredMinTxIntervalUs: p.desiredMinTxIntervalUs,
    remoteDetectMult: p.detectMult,
  };
  if (next.pollActive && p.final) next = terminatePoll(next);
  if (next.sessionState === BfdState.AdminDown) return { state: next, actions };
  const to = receivedTransition(next.sessionState, p.state);
  if (to !== undefined) {
    const diag = to === BfdState.Down ? Diag.NeighborSignaledSessionDown : Diag.NoDiagnostic;
    const changed = transition(next, to, diag, random);
    next = changed.state;
    actions.push(...changed.actions);
  }
  // §6.8.7: a Poll is answered with a Final "as soon as practicable", apart from the periodic packets.
  if (p.poll) actions.push({ type: 'send', packet: { ...controlPacket(next), poll: false, final: true } });
  if (next.sessionState !== BfdState.AdminDown) {
    actions.push({ type: 'arm', timer: 'detect', delayUs: detectionTimeUs(next) });
  }
  return { state: next, actions };
}

/** The §6.8.6 state table ("If bfd.SessionState is Down ... Init ... else (Up)"); undefined stays. */
export function receivedTransition(local: BfdState, remote: BfdState): BfdState | undefined {
  if (remote === BfdState.AdminDown) return local === BfdState.Down ? undefined : BfdState.Down;
  switch (local) {
    case BfdState.Down:
      if (remote === BfdState.Down) return BfdState.Init;
      return remote === BfdState.Init ? BfdState.Up : undefined;
    case BfdState.Init:
      return remote === BfdState.Init || remote === BfdState.Up ? BfdState.Up : undefined;
    case BfdState.Up:
      return remote === BfdState.Down ? BfdState.Down : undefined;
    default:
      return undefined;
  }
}

// §6.8.4: Init or Up without a packet for a Detection Time goes Down; RemoteDiscr resets (§6.8.1).
function detectionTimeExpired(s: BfdSession, random: Random): BfdStep {
  const cleared = { ...s, remoteDiscr: 0, remoteSessionState: BfdState.Down };
  if (s.sessionState !== BfdState.Init && s.sessionState !== BfdState.Up)
    return { state: cleared, actions: [] };
  return transition(cleared, BfdState.Down, Diag.ControlDetectionTimeExpired, random);
}

function adminDown(s: BfdSession, random: Random): BfdStep {
  if (s.sessionState === BfdState.AdminDown) return { state: s, actions: [] };
  const down = transition(s, BfdState.AdminDown, Diag.AdministrativelyDown, random);
  return { state: down.state, actions: [...down.actions, { type: 'cancel', timer: 'detect' }] };
}

// A state change is reported, sent at once (the remote learns it without waiting a whole interval)
// and changes the advertised intervals: the one-second floor applies only while not Up (§6.8.3).
function transition(s: BfdSession, to: BfdState, diag: Diag, random: Random): BfdStep {
  const moved: BfdSession = { ...s, sessionState: to, localDiag: diag };
  const changed = changeIntervals(moved, random);
  const report: BfdAction = { type: 'state', from: s.sessionState, to, diag };
  const sent = changed.actions.some((a) => a.type === 'send');
  const extra: BfdAction[] = sent ? [] : [sendNow(changed.state), armTx(changed.state, random)];
  return { state: changed.state, actions: [report, ...changed.actions, ...extra] };
}

// §6.8.3: new intervals are advertised at once; while Up a Poll Sequence confirms them, and until it
// ends a larger TX interval and a smaller RX interval do not take effect. Outside Up they apply at once.
function changeIntervals(s: BfdSession, random: Random): BfdStep {
  const up = s.sessionState === BfdState.Up;
  const desiredMinTxIntervalUs = up ? s.config.desiredMinTxIntervalUs : idleTxIntervalUs(s.config);
  const requiredMinRxIntervalUs = s.config.requiredMinRxIntervalUs;
  const same =
    desiredMinTxIntervalUs === s.desiredMinTxIntervalUs &&
    requiredMinRxIntervalUs === s.requiredMinRxIntervalUs;
  if (same) return { state: s, actions: [] };
  const next: BfdSession = up
    ? {
        ...s,
        desiredMinTxIntervalUs,
        requiredMinRxIntervalUs,
        txIntervalInForceUs: Math.min(s.txIntervalInForceUs, desiredMinTxIntervalUs),
        rxIntervalInForceUs: Math.max(s.rxIntervalInForceUs, requiredMinRxIntervalUs),
        pollActive: true,
      }
    : {
        ...s,
        desiredMinTxIntervalUs,
        requiredMinRxIntervalUs,
        txIntervalInForceUs: desiredMinTxIntervalUs,
        rxIntervalInForceUs: requiredMinRxIntervalUs,
        pollActive: false,
      };
  return { state: next, actions: [sendNow(next), armTx(next, random)] };
}

function terminatePoll(s: BfdSession): BfdSession {
  return {
    ...s,
    pollActive: false,
    txIntervalInForceUs: s.desiredMinTxIntervalUs,
    rxIntervalInForceUs: s.requiredMinRxIntervalUs,
  };
}

// §6.8.7: no periodic packets while the remote's Required Min RX Interval is zero.
function transmit(s: BfdSession, random: Random): BfdStep {
  if (s.remoteMinRxIntervalUs === 0) return { state: s, actions: [armTx(s, random)] };
  return { state: s, actions: [sendNow(s), armTx(s, random)] };
}

function sendNow(s: BfdSession): BfdAction {
  return { type: 'send', packet: controlPacket(s) };
}

// §6.8.7: each interval is reduced by a random 0–25%, or 10–25% when Detect Mult is 1.
function armTx(s: BfdSession, random: Random): BfdAction {
  const interval = transmitIntervalUs(s);
  const reduction = s.config.detectMult === 1 ? 0.1 + 0.15 * random() : 0.25 * random();
  return { type: 'arm', timer: 'tx', delayUs: Math.round(interval * (1 - reduction)) };
}

/** §6.8.7: the contents of a Control packet, from the state variables. */
export function controlPacket(s: BfdSession): ControlPacket {
  return {
    diag: s.localDiag,
    state: s.sessionState,
    poll: s.pollActive,
    final: false,
    controlPlaneIndependent: false,
    demand: false,
    detectMult: s.config.detectMult,
    myDiscriminator: s.localDiscr,
    yourDiscriminator: s.remoteDiscr,
    desiredMinTxIntervalUs: s.desiredMinTxIntervalUs,
    requiredMinRxIntervalUs: s.requiredMinRxIntervalUs,
    requiredMinEchoRxIntervalUs: 0,
  };
}
