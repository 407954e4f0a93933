// The BGP finite state machine of RFC 4271 §8, as a pure function: step(config, state, input) returns
// the next state and the actions for the driver to run (connect, send, arm a timer, deliver a message).
// It owns no socket and reads no clock, so every transition is testable as a table.
//
// One FSM tracks one connection's progress for a peer. During a connection collision (§6.8) the peer
// runs a second FSM for the other connection and resolves the collision with the 'collision-dump' input.
//
// Departures from the letter of §8, on purpose:
// - Start moves to Active and connects after a short delay (BIRD's "connect delay time", 2 s in Calico),
//   which gives a peer starting at the same moment the chance to connect first and avoids collisions.
// - The HoldTimer restarts on every message received, not only KEEPALIVE and UPDATE: any message
//   proves the peer alive.
// - After a failure the FSM waits in Idle for the IdleHoldTimer before starting again, doubling it on
//   each consecutive failure (§8.1.1 DampPeerOscillations; BIRD's "error wait time 5, 30" in Calico).

import { CapabilityCode, CeaseSubcode, ErrorCode, FsmSubcode, MessageType } from '../constants.ts';
import { BgpError } from '../errors.ts';
import { callsForHardReset, hardReset, hardResetCause, isHardReset } from '../codec/notification.ts';
import type { NotificationFields } from '../codec/notification.ts';
import type {
  BgpMessage,
  NotificationMessage,
  OpenMessage,
  RouteRefreshMessage,
  UpdateMessage,
} from '../types.ts';
import { negotiate } from './negotiate.ts';
import type { LocalSpeaker, NegotiatedSession } from './negotiate.ts';

export const SessionState = {
  Idle: 'Idle',
  Connect: 'Connect',
  Active: 'Active',
  OpenSent: 'OpenSent',
  OpenConfirm: 'OpenConfirm',
  Established: 'Established',
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** §8.1.3 timers, plus IdleHold (§8.1.1) and ErrorForget (resets the damping after a stable session). */
export type TimerName = 'connect-retry' | 'hold' | 'keepalive' | 'idle-hold' | 'error-forget';

export interface FsmConfig {
  readonly local: LocalSpeaker;
  readonly localOpen: OpenMessage;
  /** Never initiate a connection; wait for the peer (§8.1.1 PassiveTcpEstablishment). */
  readonly passive: boolean;
  readonly connectDelayTimeSec: number;
  readonly connectRetryTimeSec: number;
  /** §8.2.2: "a large value" for the HoldTimer until the OPEN arrives; 4 minutes suggested. */
  readonly openHoldTimeSec: number;
  readonly idleHoldTimeSec: number;
  readonly maxIdleHoldTimeSec: number;
  /** A session Established this long clears the failure count (BIRD's "error forget time"). */
  readonly errorForgetTimeSec: number;
}

export type FsmTimers = Pick<
  FsmConfig,
  | 'connectDelayTimeSec'
  | 'connectRetryTimeSec'
  | 'openHoldTimeSec'
  | 'idleHoldTimeSec'
  | 'maxIdleHoldTimeSec'
  | 'errorForgetTimeSec'
>;

/** Calico's BIRD template: connect delay 2 s, connect retry 5 s, error wait 5–30 s. */
export const DEFAULT_TIMERS: FsmTimers = {
  connectDelayTimeSec: 2,
  connectRetryTimeSec: 5,
  openHoldTimeSec: 240,
  idleHoldTimeSec: 5,
  maxIdleHoldTimeSec: 30,
  errorForgetTimeSec: 300,
};

export interface FsmState {
  readonly state: SessionState;
  /** §8: ConnectRetryCounter, consecutive failures; drives the IdleHoldTimer. */
  readonly connectRetryCounter: number;
  readonly negotiated?: NegotiatedSession;
  readonly peerOpen?: OpenMessage;
}

export const INITIAL_STATE: FsmState = { state: SessionState.Idle, connectRetryCounter: 0 };

export type FsmInput =
  /** ManualStart / AutomaticStart. */
  | { readonly kind: 'start' }
  /**
   * ManualStop, with the Cease subcode (RFC 4486) and an RFC 9003 shutdown communication; with
   * `restart` the FSM starts again after the IdleHoldTimer (a reset, not a shutdown). With
   * `graceful` this speaker is about to restart and wants the peer to keep its routes (gracefulStop).
   */
  | {
      readonly kind: 'stop';
      readonly subcode: number;
      readonly shutdownCommunication?: string;
      readonly restart?: boolean;
      readonly graceful?: boolean;
    }
  | { readonly kind: 'timer'; readonly timer: TimerName }
  /** Tcp_CR_Acked (we connected) or TcpConnectionConfirmed (we accepted). */
  | { readonly kind: 'tcp-connected' }
  | { readonly kind: 'tcp-failed'; readonly reason: string }
  | { readonly kind: 'message'; readonly message: BgpMessage }
  /** BGPHeaderErr, BGPOpenMsgErr, UpdateMsgErr: the decoder's error, which knows its NOTIFICATION. */
  | { readonly kind: 'bad-message'; readonly error: BgpError }
  /** OpenCollisionDump: the peer resolved a collision (§6.8) against this connection. */
  | { readonly kind: 'collision-dump' };

export interface DownReason {
  readonly kind:
    'notification-sent' | 'notification-received' | 'hold-timer-expired' | 'connection-lost' | 'stopped';
  /** The NOTIFICATION's cause: for a Hard Reset, the NOTIFICATION it carries (RFC 8538 §3). */
  readonly notification?: {
    code: number;
    subcode: number;
    data?: Uint8Array;
    shutdownCommunication?: string;
  };
  /** RFC 8538: it was a Cease/Hard Reset, sent or received: no graceful restart. */
  readonly hardReset?: boolean;
  readonly text: string;
}

export type FsmAction =
  | { readonly kind: 'connect' }
  | { readonly kind: 'close' }
  | { readonly kind: 'send-open' }
  | { readonly kind: 'send-keepalive' }
  | {
      readonly kind: 'send-notification';
      readonly code: number;
      readonly subcode: number;
      readonly data?: Uint8Array;
      readonly shutdownCommunication?: string;
    }
  | { readonly kind: 'arm'; readonly timer: TimerName; readonly seconds: number }
  | { readonly kind: 'disarm'; readonly timer: TimerName }
  | { readonly kind: 'open-received'; readonly open: OpenMessage }
  | { readonly kind: 'established'; readonly negotiated: NegotiatedSession }
  | { readonly kind: 'deliver'; readonly message: UpdateMessage | RouteRefreshMessage }
  | { readonly kind: 'down'; readonly reason: DownReason };

export interface FsmStep {
  readonly state: FsmState;
  readonly actions: readonly FsmAction[];
}

const ALL_TIMERS: readonly TimerName[] = ['connect-retry', 'hold', 'keepalive', 'idle-hold', 'error-forget'];
const disarmAll: FsmAction[] = ALL_TIMERS.map((timer) => ({ kind: 'disarm', timer }));

function stay(state: FsmState, actions: FsmAction[] = []): FsmStep {
  return { state, actions };
}

/** §8.1.1 DampPeerOscillations: the wait before the next automatic start doubles per failure. */
export function idleHoldSeconds(config: FsmConfig, failures: number): number {
  const doubled = config.idleHoldTimeSec * 2 ** Math.max(0, failures - 1);
  return Math.min(config.maxIdleHoldTimeSec, doubled);
}

/** Ends the connection and goes to Idle; after a failure, the IdleHoldTimer restarts the FSM. */
function toIdle(
  config: FsmConfig,
  s: FsmState,
  failed: boolean,
  pre: FsmAction[],
  reason?: DownReason,
): FsmStep {
  const counter = failed ? s.connectRetryCounter + 1 : 0;
  const actions: FsmAction[] = [...pre, { kind: 'close' }, ...disarmAll];
  const connected =
    s.state === SessionState.OpenSent ||
    s.state === SessionState.OpenConfirm ||
    s.state === SessionState.Established;
  if (reason && connected) actions.push({ kind: 'down', reason });
  if (failed) actions.push({ kind: 'arm', timer: 'idle-hold', seconds: idleHoldSeconds(config, counter) });
  return { state: { state: SessionState.Idle, connectRetryCounter: counter }, actions };
}

function sendNotification(
  code: number,
  subcode: number,
  data?: Uint8Array,
  shutdownCommunication?: string,
): FsmAction {
  return { kind: 'send-notification', code, subcode, data, shutdownCommunication };
}

/** Sends the NOTIFICATION an error calls for and fails the session (§6). */
function failWith(config: FsmConfig, s: FsmState, error: BgpError): FsmStep {
  const reason: DownReason = {
    kind: 'notification-sent',
    notification: { code: error.code, subcode: error.subcode, data: error.data },
    text: error.message,
  };
  return toIdle(config, s, true, [sendNotification(error.code, error.subcode, error.data)], reason);
}

/** §8.2.2: a message that is not expected in this state is a Finite State Machine Error (RFC 6608). */
function fsmError(config: FsmConfig, s: FsmState, message: BgpMessage): FsmStep {
  const subcode =
    s.state === SessionState.OpenSent
      ? FsmSubcode.UnexpectedMessageInOpenSent
      : s.state === SessionState.OpenConfirm
        ? FsmSubcode.UnexpectedMessageInOpenConfirm
        : FsmSubcode.UnexpectedMessageInEstablished;
  const data = Uint8Array.of(message.type);
  return failWith(
    config,
    s,
    new BgpError(ErrorCode.FsmError, subcode, `unexpected message type ${message.type} in ${s.state}`, data),
  );
}

function notificationReceived(config: FsmConfig, s: FsmState, n: NotificationMessage): FsmStep {
  const received = {
    code: n.code,
    subcode: n.subcode,
    data: n.data,
    shutdownCommunication: n.shutdownCommunication,
  };
  const reason: DownReason = {
    kind: 'notification-received',
    notification: hardResetCause(n) ?? received,
    hardReset: isHardReset(n),
    text: 'NOTIFICATION received',
  };
  // An administrative Cease from the peer is not a failure of ours to damp, but it still waits one
  // IdleHold before reconnecting so a peer that is going down is not hammered.
  return toIdle(config, s, true, [], reason);
}

function start(config: FsmConfig, s: FsmState): FsmStep {
  const active: FsmState = { ...s, state: SessionState.Active, negotiated: undefined, peerOpen: undefined };
  if (config.passive) return stay(active, [{ kind: 'disarm', timer: 'idle-hold' }]);
  if (config.connectDelayTimeSec <= 0) {
    return stay({ ...active, state: SessionState.Connect }, [
      { kind: 'arm', timer: 'connect-retry', seconds: config.connectRetryTimeSec },
      { kind: 'connect' },
    ]);
  }
  return stay(active, [{ kind: 'arm', timer: 'connect-retry', seconds: config.connectDelayTimeSec }]);
}

type StopInput = Extract<FsmInput, { kind: 'stop' }>;

/** Both sides announced the Graceful Restart capability on this session (RFC 4724 §3). */
function restartNegotiated(negotiated: NegotiatedSession | undefined): boolean {
  if (!negotiated?.peerGracefulRestart) return false;
  return negotiated.localCapabilities.some((c) => c.code === CapabilityCode.GracefulRestart);
}

/**
 * A planned restart of this speaker (`brindlectl restart --graceful`), on an Established session
 * where both sides announced Graceful Restart, so the peer keeps our routes as stale (RFC 4724 §4.2):
 * - with the N bit (RFC 8538 §5): Cease/Administrative Reset, sent plain. §5 leaves whether that
 *   subcode is a Hard Reset to the implementation; an operator who restarts the daemon wants the
 *   routes kept, as FRR's `clear bgp` does by default. Administrative Shutdown would be a Hard Reset.
 * - without it: the connection closes with no NOTIFICATION (RFC 4724 §4: only a session that ends
 *   without one is a restart to a peer without N), as BIRD's `graceful restart` and GoBGP's
 *   StopBgp(AllowGracefulRestart) do.
 * Undefined where the peer would not keep the routes anyway: the ordinary stop applies.
 */
function gracefulStop(config: FsmConfig, s: FsmState, input: StopInput): FsmStep | undefined {
  if (!input.graceful || s.state !== SessionState.Established || !restartNegotiated(s.negotiated))
    return undefined;
  const cease: NotificationFields = {
    code: ErrorCode.Cease,
    subcode: CeaseSubcode.AdministrativeReset,
    shutdownCommunication: input.shutdownCommunication,
  };
  const notify = s.negotiated?.gracefulNotification === true;
  const pre = notify
    ? [sendNotification(cease.code, cease.subcode, undefined, cease.shutdownCommunication)]
    : [];
  const reason: DownReason = {
    kind: 'stopped',
    notification: notify ? cease : undefined,
    text: 'stopped for a graceful restart',
  };
  return toIdle(config, s, false, pre, reason);
}

function stop(config: FsmConfig, s: FsmState, input: StopInput): FsmStep {
  const graceful = gracefulStop(config, s, input);
  if (graceful) return graceful;
  const connected =
    s.state === SessionState.OpenSent ||
    s.state === SessionState.OpenConfirm ||
    s.state === SessionState.Established;
  const cease: NotificationFields = {
    code: ErrorCode.Cease,
    subcode: input.subcode,
    shutdownCommunication: input.shutdownCommunication,
  };
  // RFC 8538 §5.1: with the N bit negotiated, a Cease that means "no graceful restart" goes as a Hard Reset.
  const hard = s.negotiated?.gracefulNotification === true && callsForHardReset(cease.code, cease.subcode);
  const sent = hard ? hardReset(cease) : cease;
  const pre = connected
    ? [sendNotification(sent.code, sent.subcode, sent.data, sent.shutdownCommunication)]
    : [];
  const reason: DownReason = {
    kind: 'stopped',
    notification: cease,
    hardReset: hard,
    text: 'stopped locally',
  };
  return toIdle(config, s, input.restart ?? false, pre, reason);
}

function holdExpired(config: FsmConfig, s: FsmState): FsmStep {
  const reason: DownReason = {
    kind: 'hold-timer-expired',
    notification: { code: ErrorCode.HoldTimerExpired, subcode: 0 },
    text: 'hold timer expired',
  };
  return toIdle(config, s, true, [sendNotification(ErrorCode.HoldTimerExpired, 0)], reason);
}

function connectionLost(config: FsmConfig, s: FsmState, why: string): FsmStep {
  return toIdle(config, s, true, [], { kind: 'connection-lost', text: why });
}

/** Connect and Active: no BGP connection yet (§8.2.2). */
function stepConnecting(config: FsmConfig, s: FsmState, input: FsmInput): FsmStep {
  switch (input.kind) {
    case 'timer':
      if (input.timer !== 'connect-retry' || config.passive) return stay(s);
      return stay({ ...s, state: SessionState.Connect }, [
        { kind: 'close' },
        { kind: 'arm', timer: 'connect-retry', seconds: config.connectRetryTimeSec },
        { kind: 'connect' },
      ]);
    case 'tcp-connected':
      return stay({ ...s, state: SessionState.OpenSent }, [
        { kind: 'disarm', timer: 'connect-retry' },
        { kind: 'send-open' },
        { kind: 'arm', timer: 'hold', seconds: config.openHoldTimeSec },
      ]);
    case 'tcp-failed':
      if (s.state !== SessionState.Connect) return stay(s);
      // §8.2.2 Connect, TcpConnectionFails: wait for the ConnectRetryTimer in Active.
      return stay({ ...s, state: SessionState.Active }, [
        { kind: 'close' },
        { kind: 'arm', timer: 'connect-retry', seconds: config.connectRetryTimeSec },
      ]);
    default:
      return stay(s);
  }
}

function onOpen(config: FsmConfig, s: FsmState, open: OpenMessage): FsmStep {
  const result = negotiate(config.local, config.localOpen, open);
  if (result instanceof BgpError) return failWith(config, { ...s, peerOpen: open }, result);
  const timers: FsmAction[] =
    result.holdTimeSec === 0
      ? [{ kind: 'disarm', timer: 'hold' }]
      : [
          { kind: 'arm', timer: 'hold', seconds: result.holdTimeSec },
          { kind: 'arm', timer: 'keepalive', seconds: result.keepaliveTimeSec },
        ];
  return stay({ ...s, state: SessionState.OpenConfirm, negotiated: result, peerOpen: open }, [
    { kind: 'open-received', open },
    { kind: 'send-keepalive' },
    ...timers,
  ]);
}

function restartHold(s: FsmState): FsmAction[] {
  const hold = s.negotiated?.holdTimeSec ?? 0;
  return hold > 0 ? [{ kind: 'arm', timer: 'hold', seconds: hold }] : [];
}

function onMessage(config: FsmConfig, s: FsmState, message: BgpMessage): FsmStep {
  if (message.type === MessageType.Notification) return notificationReceived(config, s, message);
  switch (s.state) {
    case SessionState.OpenSent:
      return message.type === MessageType.Open ? onOpen(config, s, message) : fsmError(config, s, message);
    case SessionState.OpenConfirm:
      if (message.type !== MessageType.Keepalive) return fsmError(config, s, message);
      return stay({ ...s, state: SessionState.Established }, [
        ...restartHold(s),
        { kind: 'arm', timer: 'error-forget', seconds: config.errorForgetTimeSec },
        { kind: 'established', negotiated: s.negotiated as NegotiatedSession },
      ]);
    case SessionState.Established:
      if (message.type === MessageType.Keepalive) return stay(s, restartHold(s));
      if (message.type === MessageType.Open) return fsmError(config, s, message);
      return stay(s, [...restartHold(s), { kind: 'deliver', message }]);
    default:
      return stay(s);
  }
}

/** OpenSent, OpenConfirm and Established: a BGP connection exists. */
function stepConnected(config: FsmConfig, s: FsmState, input: FsmInput): FsmStep {
  switch (input.kind) {
    case 'message':
      return onMessage(config, s, input.message);
    case 'bad-message':
      return failWith(config, s, input.error);
    case 'tcp-failed':
      if (s.state === SessionState.OpenSent) {
        // §8.2.2 OpenSent, TcpConnectionFails: back to Active and retry.
        return stay({ ...s, state: SessionState.Active }, [
          { kind: 'close' },
          { kind: 'disarm', timer: 'hold' },
          { kind: 'down', reason: { kind: 'connection-lost', text: input.reason } },
          ...(config.passive
            ? []
            : [{ kind: 'arm', timer: 'connect-retry', seconds: config.connectRetryTimeSec } as const]),
        ]);
      }
      return connectionLost(config, s, input.reason);
    case 'collision-dump':
      return toIdle(
        config,
        s,
        false,
        [sendNotification(ErrorCode.Cease, CeaseSubcode.ConnectionCollisionResolution)],
        {
          kind: 'notification-sent',
          notification: { code: ErrorCode.Cease, subcode: CeaseSubcode.ConnectionCollisionResolution },
          text: 'connection collision resolution',
        },
      );
    case 'timer':
      return onTimer(config, s, input.timer);
    case 'tcp-connected':
    case 'start':
    case 'stop':
      return stay(s);
  }
}

function onTimer(config: FsmConfig, s: FsmState, timer: TimerName): FsmStep {
  switch (timer) {
    case 'hold':
      return holdExpired(config, s);
    case 'keepalive':
      if (s.state === SessionState.OpenSent || !s.negotiated?.keepaliveTimeSec) return stay(s);
      return stay(s, [
        { kind: 'send-keepalive' },
        { kind: 'arm', timer: 'keepalive', seconds: s.negotiated.keepaliveTimeSec },
      ]);
    case 'error-forget':
      return stay({ ...s, connectRetryCounter: 0 });
    case 'connect-retry':
    case 'idle-hold':
      return stay(s);
  }
}

/** One step of the FSM. */
export function step(config: FsmConfig, s: FsmState, input: FsmInput): FsmStep {
  if (input.kind === 'stop')
    return s.state === SessionState.Idle ? stay(s, [...disarmAll]) : stop(config, s, input);
  switch (s.state) {
    case SessionState.Idle:
      if (input.kind === 'start' || (input.kind === 'timer' && input.timer === 'idle-hold'))
        return start(config, s);
      // §8.2.2 Idle: every other event is ignored; a connection that reaches us here is refused.
      return stay(s, input.kind === 'tcp-connected' ? [{ kind: 'close' }] : []);
    case SessionState.Connect:
    case SessionState.Active:
      return stepConnecting(config, s, input);
    case SessionState.OpenSent:
    case SessionState.OpenConfirm:
    case SessionState.Established:
      return stepConnected(config, s, input);
  }
}
