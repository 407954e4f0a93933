// Drives one BFD session: feeds the pure FSM (fsm.ts) its inputs and runs its actions — packets go
// to the injected send function, timers are armed on the injected clock, state changes are reported.
// Time comes only from the clock, so tests advance it instead of sleeping.

import type { Clock, TimerHandle } from '../lib/clock.ts';
import { initialSession, step } from './fsm.ts';
import type { BfdAction, BfdInput, BfdSession, BfdTimerName, BfdTimers, Random } from './fsm.ts';
import { BfdState } from './packet.ts';
import type { ControlPacket, Diag } from './packet.ts';

export interface BfdStateChange {
  readonly from: BfdState;
  readonly to: BfdState;
  readonly diag: Diag;
  readonly atMs: number;
}

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
    this.armed[timer] = this.options.clock.setTimer(delayUs / 1000, () => {
      this.armed[timer] = undefined;
      this.input({ type: 'timer', timer });
    });
  }

  private report(from: BfdState, to: BfdState, diag: Diag): void {
    const change = { from, to, diag, atMs: this.options.clock.now() };
    if (to === BfdState.Down) this.lastDown = change;
    this.options.onStateChange(change);
  }
}
