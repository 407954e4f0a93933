// The thin driver of one FSM instance over one TCP connection (node:net): it feeds socket bytes through
// the framer and decoder into the FSM, and runs the FSM's actions (connect, send, arm timers, close).
// Work per event-loop turn is bounded, writes respect socket backpressure, and nothing a peer sends can
// throw out of here.

import net from 'node:net';
import {
  CeaseSubcode,
  ErrorCode,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
} from '../constants.ts';
import { BgpError } from '../errors.ts';
import type { CodecContext, OpenMessage, RouteRefreshMessage, UpdateMessage } from '../types.ts';
import { MessageFramer } from '../codec/framer.ts';
import { decodeMessage, encodeKeepalive, InternalCodecError } from '../codec/message.ts';
import { encodeOpen } from '../codec/open.ts';
import { describeNotification, encodeNotification, hardReset } from '../codec/notification.ts';
import type { NotificationFields } from '../codec/notification.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/log.ts';
import { INITIAL_STATE, SessionState, step } from './fsm.ts';
import type { DownReason, FsmAction, FsmConfig, FsmInput, FsmState, TimerName } from './fsm.ts';
import type { NegotiatedSession } from './negotiate.ts';
import { socketOptions } from './peer-config.ts';
import type { PeerConfig } from './peer-config.ts';
import { connectWithOptions, requestsSocketOptions } from '../../lib/tcp-options.ts';
import type { PeerCounters } from './counters.ts';

/**
 * Messages decoded per peer per event-loop turn, then the socket waits a turn: every peer gets its
 * share whatever one of them sends. OpenBGPD's MSG_PROCESS_LIMIT (session.h) is 25; a turn costs more
 * here than a poll() round there, so 64. A peer that sends more than the RIB takes is not read at all
 * for a while (rib/ingress-backlog.ts).
 */
const MAX_MESSAGES_PER_TURN = 64;
/**
 * Octets decoded per peer per turn (at least one message), counted over every chunk the turn reads:
 * libuv reads a ready socket up to 32 times 64 KiB in one pass, so without a bound in octets a full
 * table arrives, and is applied, before the decision and the export run once. One read's worth lets
 * the decision and the Adj-RIB-Out work on what came in, and write, between reads.
 */
const MAX_OCTETS_PER_TURN = 64 * 1024;
/**
 * RFC 9687: without a SendHoldTime configured, twice the negotiated HoldTime (FRR's choice; BIRD and
 * OpenBGPD also close such a session), and 8 minutes when the HoldTime is 0 (no keepalives).
 */
const SEND_HOLD_TIME_WITHOUT_HOLD_TIME_SEC = 480;
/** Above this many queued octets the session is reset (Cease/Out of Resources) rather than grow. */
const MAX_OUTBOUND_BUFFER = 64 * 1024 * 1024;
/** How long a closing socket may take to flush its last NOTIFICATION. */
const CLOSE_FLUSH_MS = 1000;

export type Direction = 'outbound' | 'inbound';

export type SessionEvent =
  | { readonly kind: 'state'; readonly from: SessionState; readonly to: SessionState }
  | { readonly kind: 'established'; readonly negotiated: NegotiatedSession }
  | { readonly kind: 'update'; readonly update: UpdateMessage }
  | { readonly kind: 'route-refresh'; readonly message: RouteRefreshMessage }
  | { readonly kind: 'down'; readonly reason: DownReason }
  /** The socket accepts writes again after sendUpdates() returned false. */
  | { readonly kind: 'drain' };

/** What the owning peer is told. */
export interface ConnectionOwner {
  /** Collision detection (RFC 4271 §6.8): false when this connection lost and must be dumped. */
  onOpenReceived(connection: Connection, open: OpenMessage): boolean;
  onEvent(connection: Connection, event: SessionEvent): void;
}

function jittered(seconds: number, timer: TimerName): number {
  // RFC 4271 §10: jitter ConnectRetry (and the restart wait) by a factor of 0.75–1.0.
  const jitter = timer === 'connect-retry' || timer === 'idle-hold' ? 0.75 + Math.random() * 0.25 : 1;
  return seconds * 1000 * jitter;
}

export class Connection {
  fsm: FsmState = INITIAL_STATE;
  direction: Direction = 'outbound';
  private socket: net.Socket | undefined;
  private framer = new MessageFramer();
  private readonly timers = new Map<TimerName, TimerHandle>();
  /**
   * The hold timer restarts on every message; instead of re-arming a timer each time, it moves a
   * deadline, and the pending timer (due at holdTimerAt) re-checks it when it fires.
   */
  private holdDeadline = 0;
  private holdTimerAt = 0;
  private inputs: FsmInput[] = [];
  private stepping = false;
  /** This turn's budget is spent: reading waits for the next turn (see drainFramer()). */
  private draining = false;
  /** Messages and octets decoded in this turn (see MAX_OCTETS_PER_TURN). */
  private turnMessages = 0;
  private turnOctets = 0;
  /**
   * The RIB has more pending from this peer than it takes (rib/ingress-backlog.ts): nothing is read,
   * so the kernel's receive buffer fills and TCP pushes back on the sender.
   */
  private readHeld = false;
  /** The negotiated HoldTime, for the hold timer while reading is held (see fire()). */
  private holdTimeSec = 0;
  /** RFC 9687 SendHoldTimer: armed while octets wait on a full socket. */
  private sendHold: TimerHandle | undefined;
  /** Octets the socket had handed to the kernel when the SendHoldTimer was (re)armed. */
  private sendHoldMark = 0;
  private decodeContext: CodecContext;

  constructor(
    readonly config: PeerConfig,
    private fsmConfig: FsmConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly counters: PeerCounters,
    private readonly owner: ConnectionOwner,
  ) {
    this.decodeContext = this.contextFor(undefined);
  }

  get state(): SessionState {
    return this.fsm.state;
  }

  /** The OPEN this connection will send, replaced while none has been sent yet. */
  setLocalOpen(localOpen: OpenMessage): void {
    const state = this.fsm.state;
    if (state === SessionState.Idle || state === SessionState.Connect || state === SessionState.Active)
      this.fsmConfig = { ...this.fsmConfig, localOpen };
  }

  get negotiated(): NegotiatedSession | undefined {
    return this.fsm.negotiated;
  }

  /** Codec context for what we send on this session. */
  get encodeContext(): CodecContext {
    const n = this.fsm.negotiated;
    return {
      fourOctetAs: n?.fourOctetAs ?? false,
      addPath: n?.addPathSend ?? new Set(),
      maxMessageLength: n?.extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH,
      external: n?.external ?? this.config.peerAs !== this.config.localAs,
    };
  }

  private contextFor(n: NegotiatedSession | undefined): CodecContext {
    return {
      fourOctetAs: n?.fourOctetAs ?? false,
      addPath: n?.addPathReceive ?? new Set(),
      maxMessageLength: n?.extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH,
      external: n?.external ?? this.config.peerAs !== this.config.localAs,
    };
  }

  /** Feeds one input to the FSM. Inputs raised while actions run are queued, so steps never nest. */
  input(input: FsmInput): void {
    this.inputs.push(input);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let next = this.inputs.shift(); next; next = this.inputs.shift()) this.apply(next);
    } finally {
      this.stepping = false;
    }
  }

  private apply(input: FsmInput): void {
    const before = this.fsm;
    const result = step(this.fsmConfig, before, input);
    this.fsm = result.state;
    if (result.state.negotiated !== before.negotiated)
      this.decodeContext = this.contextFor(result.state.negotiated);
    for (const action of result.actions) {
      if (action.kind === 'open-received' && !this.owner.onOpenReceived(this, action.open)) {
        // This connection lost the collision: it sends no KEEPALIVE, only the Cease.
        this.inputs.unshift({ kind: 'collision-dump' });
        break;
      }
      this.run(action);
    }
    if (before.state !== result.state.state) {
      this.counters.transition(before.state, result.state.state);
      this.owner.onEvent(this, { kind: 'state', from: before.state, to: result.state.state });
    }
  }

  private run(action: FsmAction): void {
    switch (action.kind) {
      case 'connect':
        return this.connect();
      case 'close':
        return this.closeSocket();
      case 'send-open':
        return this.write(encodeOpen(this.fsmConfig.localOpen), MessageType.Open);
      case 'send-keepalive':
        return this.write(encodeKeepalive(), MessageType.Keepalive);
      case 'send-notification':
        return this.sendNotification(action);
      case 'arm':
        return this.arm(action.timer, action.seconds);
      case 'disarm':
        return this.disarm(action.timer);
      case 'open-received':
        return; // handled in apply(), which may cut the step short
      case 'established':
        return this.onEstablished(action.negotiated);
      case 'deliver':
        return this.deliver(action.message);
      case 'down':
        return this.onDown(action.reason);
    }
  }

  // --- timers ---------------------------------------------------------------------------------------

  private arm(timer: TimerName, seconds: number): void {
    if (timer === 'hold') {
      this.holdTimeSec = seconds;
      this.holdDeadline = this.clock.now() + seconds * 1000;
      if (this.timers.has('hold') && this.holdTimerAt <= this.holdDeadline) return;
      this.holdTimerAt = this.holdDeadline;
    }
    this.disarm(timer);
    this.timers.set(
      timer,
      this.clock.setTimer(jittered(seconds, timer), () => this.fire(timer)),
    );
  }

  private fire(timer: TimerName): void {
    this.timers.delete(timer);
    // While we hold reading, the peer's KEEPALIVEs wait unread in the kernel: its silence is ours.
    if (timer === 'hold' && this.readHeld) this.holdDeadline = this.clock.now() + this.holdTimeSec * 1000;
    const early = this.holdDeadline - this.clock.now();
    if (timer === 'hold' && early > 0) {
      this.holdTimerAt = this.holdDeadline;
      this.timers.set(
        timer,
        this.clock.setTimer(early, () => this.fire(timer)),
      );
      return;
    }
    this.input({ kind: 'timer', timer });
  }

  private disarm(timer: TimerName): void {
    this.timers.get(timer)?.cancel();
    this.timers.delete(timer);
  }

  // --- socket ---------------------------------------------------------------------------------------

  private connect(): void {
    this.closeSocket();
    this.direction = 'outbound';
    this.counters.connectAttempts++;
    const socket = this.openSocket();
    if (!socket) return;
    this.bind(socket);
    socket.once('connect', () => {
      if (this.socket === socket) this.input({ kind: 'tcp-connected' });
    });
  }

  /**
   * Plain node:net, or — with TTL, GTSM or MD5 configured — a socket whose options are set before the
   * SYN (the project's native addon). An option the kernel refuses fails the attempt, not the process.
   */
  private openSocket(): net.Socket | undefined {
    const { remoteAddress: host, remotePort: port, localAddress } = this.config;
    const options = socketOptions(this.config);
    if (!requestsSocketOptions(options)) return net.connect({ host, port, localAddress });
    try {
      return connectWithOptions({ host, port, localAddress, ...options });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.counters.error(`connect: ${reason}`);
      this.log.error({ event: 'socket-options', reason }, 'cannot set TTL/GTSM/MD5 on the connection');
      queueMicrotask(() => this.input({ kind: 'tcp-failed', reason }));
      return undefined;
    }
  }

  /** Takes over an accepted connection (TcpConnectionConfirmed). */
  attach(socket: net.Socket): void {
    this.closeSocket();
    this.direction = 'inbound';
    this.bind(socket);
    this.input({ kind: 'tcp-connected' });
  }

  private bind(socket: net.Socket): void {
    this.socket = socket;
    this.framer = new MessageFramer();
    this.turnMessages = this.turnOctets = 0;
    this.draining = false;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.framer.push(chunk);
      this.drainFramer();
    });
    socket.on('drain', () => {
      if (this.socket !== socket) return;
      this.stopSendHold();
      this.owner.onEvent(this, { kind: 'drain' });
    });
    socket.on('error', (e: Error) => {
      if (this.socket !== socket) return;
      if (this.fsm.state === SessionState.Connect) this.counters.error(`connect: ${e.message}`);
      this.input({ kind: 'tcp-failed', reason: e.message });
    });
    socket.on('close', () => {
      if (this.socket === socket) this.input({ kind: 'tcp-failed', reason: 'connection closed by peer' });
    });
  }

  private closeSocket(): void {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    this.stopSendHold();
    this.readHeld = false;
    // Octets left unframed die with the connection; a configured peer's Connection outlives it.
    this.framer = new MessageFramer();
    socket.removeAllListeners('data');
    socket.on('error', () => undefined);
    // end() flushes what is queued (a final NOTIFICATION) before FIN; destroy() bounds the wait.
    socket.end();
    const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  /**
   * Decodes buffered messages, at most MAX_MESSAGES_PER_TURN and MAX_OCTETS_PER_TURN per turn over all
   * the chunks the turn reads; the rest waits for the next turn, when the budget starts again.
   */
  private drainFramer(): void {
    const socket = this.socket;
    if (this.draining || !socket || this.readHeld) return;
    const firstOfTurn = this.turnMessages === 0;
    while (this.turnMessages < MAX_MESSAGES_PER_TURN && this.turnOctets < MAX_OCTETS_PER_TURN) {
      if (this.socket !== socket) return;
      const frame = this.framer.next();
      if (frame === undefined) break;
      if (frame instanceof BgpError) return this.input({ kind: 'bad-message', error: frame });
      this.turnMessages++;
      this.turnOctets += frame.length;
      this.receive(frame);
    }
    // Queued after the decision turn the messages just scheduled, so that runs (and exports) first.
    if (firstOfTurn && this.turnMessages > 0) this.scheduleTurnEnd();
    if (this.turnMessages < MAX_MESSAGES_PER_TURN && this.turnOctets < MAX_OCTETS_PER_TURN) return;
    this.draining = true;
    socket.pause();
  }

  /** The budget starts again in the next turn, after the decision and export queued in this one. */
  private scheduleTurnEnd(): void {
    setImmediate(() => {
      this.turnMessages = this.turnOctets = 0;
      if (!this.draining) return;
      this.draining = false;
      if (!this.socket || this.readHeld) return;
      this.socket.resume();
      this.drainFramer();
    });
  }

  /** Stops reading from the peer until releaseReading(); what is already framed waits too. */
  holdReading(): void {
    if (this.readHeld || !this.socket) return;
    this.readHeld = true;
    this.socket.pause();
  }

  releaseReading(): void {
    if (!this.readHeld) return;
    this.readHeld = false;
    const socket = this.socket;
    if (!socket || this.draining) return;
    socket.resume();
    this.drainFramer();
  }

  /** Reading is held (see holdReading()). */
  get readingHeld(): boolean {
    return this.readHeld;
  }

  private receive(frame: Buffer): void {
    const type = frame[18];
    this.counters.messageIn(type);
    const decoded = decodeMessage(frame, this.decodeContext, true);
    if (!decoded.ok) {
      const level = decoded.error instanceof InternalCodecError ? 'error' : 'warn';
      this.log[level](
        {
          event: 'malformed-message',
          type,
          reason: decoded.error.message,
          bytes: frame.toString('hex').slice(0, 256),
        },
        'malformed message from peer',
      );
      this.input({ kind: 'bad-message', error: decoded.error });
      return;
    }
    const message = decoded.message;
    if (message.type === MessageType.Notification)
      this.counters.notificationReceived(message.code, message.subcode);
    if (message.type === MessageType.Update) this.counters.updatesIn++;
    this.input({ kind: 'message', message });
  }

  private write(bytes: Buffer, type: number, count = 1): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    if (!socket.write(bytes) && this.fsm.state === SessionState.Established) this.startSendHold(socket);
    this.counters.messageOut(type, count);
  }

  // --- RFC 9687 SendHoldTimer ------------------------------------------------------------------------

  /** Octets handed to the kernel so far (bytesWritten counts what is still queued as well). */
  private static sent(socket: net.Socket): number {
    return socket.bytesWritten - socket.writableLength;
  }

  private sendHoldTimeSec(): number {
    if (this.config.sendHoldTimeSec !== undefined) return this.config.sendHoldTimeSec;
    const hold = this.fsm.negotiated?.holdTimeSec ?? 0;
    return hold > 0 ? 2 * hold : SEND_HOLD_TIME_WITHOUT_HOLD_TIME_SEC;
  }

  /**
   * The socket is full: from now on, a SendHoldTime without a single octet taken by the peer closes
   * the session (RFC 9687 §4). Whatever the Adj-RIB-Out holds for it meanwhile is coalesced, bounded
   * by the table (rib/adj-rib-out.ts), so the wait costs no more memory the longer it lasts.
   */
  private startSendHold(socket: net.Socket): void {
    if (this.sendHold) return;
    this.sendHoldMark = Connection.sent(socket);
    this.sendHold = this.clock.setTimer(this.sendHoldTimeSec() * 1000, () => this.sendHoldFired(socket));
  }

  private stopSendHold(): void {
    this.sendHold?.cancel();
    this.sendHold = undefined;
  }

  private sendHoldFired(socket: net.Socket): void {
    this.sendHold = undefined;
    if (this.socket !== socket || socket.writableLength === 0) return;
    if (Connection.sent(socket) > this.sendHoldMark) return this.startSendHold(socket);
    const seconds = this.sendHoldTimeSec();
    this.log.warn(
      { event: 'send-hold-timer-expired', queued: socket.writableLength, sendHoldTimeSec: seconds },
      `peer has not read for ${seconds} s; session closed (RFC 9687)`,
    );
    const reason = `nothing written for ${seconds} s`;
    this.input({ kind: 'bad-message', error: new BgpError(ErrorCode.SendHoldTimerExpired, 0, reason) });
  }

  private sendNotification(action: Extract<FsmAction, { kind: 'send-notification' }>): void {
    this.counters.notificationSent(action.code, action.subcode);
    this.counters.error(`sent ${describeNotification(action)}`);
    this.write(encodeNotification(action), MessageType.Notification);
  }

  // --- towards the RIB ------------------------------------------------------------------------------

  private onEstablished(negotiated: NegotiatedSession): void {
    if (negotiated.extendedMessage) this.framer.maxMessageLength = MAX_EXTENDED_MESSAGE_LENGTH;
    this.counters.establishedCount++;
    this.counters.establishedSince = Date.now();
    this.owner.onEvent(this, { kind: 'established', negotiated });
  }

  private deliver(message: UpdateMessage | RouteRefreshMessage): void {
    if (message.type === MessageType.Update) {
      if (message.errorAction !== undefined) {
        this.counters.updateErrors++;
        this.log.warn(
          { event: 'update-error', errors: message.errors.map((e) => e.reason) },
          'malformed UPDATE handled per RFC 7606',
        );
      }
      this.owner.onEvent(this, { kind: 'update', update: message });
    } else {
      this.owner.onEvent(this, { kind: 'route-refresh', message });
    }
  }

  private onDown(reason: DownReason): void {
    this.counters.establishedSince = undefined;
    if (
      reason.kind === 'notification-received' ||
      reason.kind === 'hold-timer-expired' ||
      reason.kind === 'connection-lost'
    ) {
      this.counters.error(
        reason.notification
          ? `received ${describeNotification(received(reason.notification, reason))}`
          : reason.text,
      );
    }
    this.owner.onEvent(this, { kind: 'down', reason });
  }

  /**
   * Writes packed UPDATEs (`count` messages). Returns false when the socket's buffer is full: the
   * caller stops and resumes on the 'drain' event. A caller that ignores that is cut off before the
   * buffer passes MAX_OUTBOUND_BUFFER.
   */
  sendUpdates(bytes: Buffer, count: number): boolean {
    const socket = this.socket;
    if (!socket || this.fsm.state !== SessionState.Established) return false;
    if (socket.writableLength + bytes.length > MAX_OUTBOUND_BUFFER) {
      this.log.error(
        { event: 'outbound-overflow', queued: socket.writableLength },
        'peer not reading; resetting session',
      );
      this.input({ kind: 'stop', subcode: CeaseSubcode.OutOfResources, restart: true });
      return false;
    }
    this.write(bytes, MessageType.Update, count);
    this.counters.updatesOut += count;
    return !socket.writableNeedDrain;
  }

  /** Octets queued on the socket and not yet written (the Adj-RIB-Out paces itself on this). */
  get bufferedBytes(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** The local address of the connection (our NEXT_HOP for next-hop-self on this session). */
  get localAddress(): string | undefined {
    const address = this.socket?.localAddress;
    return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  }

  get writable(): boolean {
    return (
      this.socket !== undefined &&
      !this.socket.writableNeedDrain &&
      this.fsm.state === SessionState.Established
    );
  }

  /** Sends a ROUTE-REFRESH (RFC 2918) or a BoRR/EoRR marker (RFC 7313). */
  sendRaw(bytes: Buffer, type: number): void {
    if (this.fsm.state === SessionState.Established) this.write(bytes, type);
  }

  /** Forgets every timer and the socket: the owner discards this connection. */
  dispose(): void {
    for (const timer of [...this.timers.keys()]) this.disarm(timer);
    this.closeSocket();
  }
}

/** The NOTIFICATION as it came: a Hard Reset wrapped around its cause again (RFC 8538 §3). */
function received(cause: NotificationFields, reason: DownReason): NotificationFields {
  return reason.hardReset ? hardReset(cause) : cause;
}
