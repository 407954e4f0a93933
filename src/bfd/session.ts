// Drives one BFD session: feeds the pure FSM (fsm.ts) its inputs and runs its actions — packets go
// to the injected send function, timers are armed on the injected clock, state changes are reported.
// Time comes only from the clock, so tests advance it instead of sleeping.

import type { Clock, TimerHandle } from '../lib/clock.ts';
import { initialSession, step, transmitIntervalUs } from './fsm.ts';
import type { BfdAction, BfdInput, BfdSession, BfdTimerName, BfdTimers, Random } from './fsm.ts';
import { BfdState } from './packet.ts';
import type { ControlPacket, Diag } from './packet.ts';

export interface BfdStateChange {
  readonly from: BfdState;
  readonly to: BfdState;
  readonly diag: Diag;
  readonly atMs: number;
}

/**
 * How punctual our transmissions were. §6.8.7 allows an interval between packets of 75–100% of the
 * negotiated one; a longer gap is late, and one longer than Detect Mult intervals is taken by the
 * peer as our failure.
 */
export interface BfdTxTiming {
  lateTransmissions: number;
  gapsBeyondDetectionTime: number;
  /** The longest gap between two packets sent while Up. */
  longestGapUpUs: number;
}

/**
 * A timer fires up to about a millisecond after its delay (libuv counts whole milliseconds): the TX
 * timer is armed that much earlier, never below the 75% floor of §6.8.7, so a packet whose jitter
 * picked the full interval still leaves within it.
 */
const TX_TIMER_SLACK_US = 1000;

export interface BfdSessionDriverOptions {
  readonly clock: Clock;
  readonly localDiscr: number;
  readonly timers: BfdTimers;
  readonly send: (packet: ControlPacket) => void;
  readonly onStateChange: (change: BfdStateChange) => void;
  readonly random?: Random;
}

export class BfdSessionDriver {
  private session: BfdSession;
  private readonly armed: Record<BfdTimerName, TimerHandle | undefined> = {
    tx: undefined,
    detect: undefined,
  };
  private readonly random: Random;
  /** The last change to Down, for `brindlectl bfd`'s "last down reason". */
  lastDown: BfdStateChange | undefined;
  readonly txTiming: BfdTxTiming = { lateTransmissions: 0, gapsBeyondDetectionTime: 0, longestGapUpUs: 0 };
  /** The previous packet: when it left, the interval in force then (0: none due), whether Up. */
  private lastTxAtMs = 0;
  private lastTxIntervalUs = 0;
  private lastTxUp = false;

  constructor(private readonly options: BfdSessionDriverOptions) {
    this.session = initialSession(options.timers, options.localDiscr);
    this.random = options.random ?? Math.random;
  }

  get state(): BfdSession {
    return this.session;
  }

  start(): void {
    this.input({ type: 'start' });
  }

  receive(packet: ControlPacket): void {
    this.input({ type: 'packet', packet });
  }

  setTimers(timers: BfdTimers): void {
    this.input({ type: 'set-timers', config: timers });
  }

  adminDown(): void {
    this.input({ type: 'admin-down' });
  }

  stop(): void {
    this.armed.tx?.cancel();
    this.armed.detect?.cancel();
    this.armed.tx = this.armed.detect = undefined;
  }

  private input(input: BfdInput): void {
    const result = step(this.session, input, this.random);
    this.session = result.state;
    for (const action of result.actions) this.run(action);
  }

  private run(action: BfdAction): void {
    switch (action.type) {
      case 'send':
        this.timeTransmission();
        return this.options.send(action.packet);
      case 'arm':
        return this.arm(action.timer, action.delayUs);
      case 'cancel':
        this.armed[action.timer]?.cancel();
        this.armed[action.timer] = undefined;
        return;
      case 'state':
        return this.report(action.from, action.to, action.diag);
    }
  }

  private arm(timer: BfdTimerName, delayUs: number): void {
    this.armed[timer]?.cancel();
    const floorUs = 0.75 * transmitIntervalUs(this.session);
    const us = timer === 'tx' ? Math.max(delayUs - TX_TIMER_SLACK_US, Math.min(delayUs, floorUs)) : delayUs;
    this.armed[timer] = this.options.clock.setTimer(us / 1000, () => {
      this.armed[timer] = undefined;
      this.input({ type: 'timer', timer });
    });
  }

  // The gap since the previous packet against the interval that was in force when it left (§6.8.7);
  // while the remote asks for no periodic packets there is no interval to keep.
  private timeTransmission(): void {
    const s = this.session;
    const now = this.options.clock.now();
    const timing = this.txTiming;
    if (this.lastTxIntervalUs > 0) {
      const gapUs = (now - this.lastTxAtMs) * 1000;
      if (gapUs > this.lastTxIntervalUs) timing.lateTransmissions++;
      if (gapUs > this.lastTxIntervalUs * s.config.detectMult) timing.gapsBeyondDetectionTime++;
      if (this.lastTxUp && gapUs > timing.longestGapUpUs) timing.longestGapUpUs = gapUs;
    }
    this.lastTxAtMs = now;
    this.lastTxIntervalUs = s.remoteMinRxIntervalUs === 0 ? 0 : transmitIntervalUs(s);
    this.lastTxUp = s.sessionState === BfdState.Up;
  }

  private report(from: BfdState, to: BfdState, diag: Diag): void {
    const change = { from, to, diag, atMs: this.options.clock.now() };
    if (to === BfdState.Down) this.lastDown = change;
    this.options.onStateChange(change);
  }
}
