// The BFD sessions of one speaker: one session per peer address (RFC 5881 single hop or RFC 5883
// multihop, IPv4 and IPv6), the receiving sockets per family and kind they share, and the
// demultiplexing of received Control packets to their session — by Your Discriminator, or while that
// is zero by the source address (RFC 5880 §6.8.6; one session per peer address makes the source
// enough for multihop too, RFC 5883 §3). State changes leave as plain data on `changes$`; who acts on them (the daemon
// taking a BGP session down) is not this module's business.

import { Subject } from 'rxjs/internal/Subject';
import type { Observable } from 'rxjs';
import type { Clock } from '../lib/clock.ts';
import type { IpFamily, NativeAddon } from '../lib/native.ts';
import { detectionTimeUs, transmitIntervalUs } from './fsm.ts';
import type { BfdTimers, Random } from './fsm.ts';
import { BfdState } from './packet.ts';
import type { ControlPacket, DiscardReason } from './packet.ts';
import { BfdSessionDriver } from './session.ts';
import type { BfdStateChange } from './session.ts';
import { BFD_CONTROL_PORT, BFD_MULTIHOP_PORT, BFD_TTL, BfdReceiver, BfdSender } from './transport.ts';
import type { ReceivedPacket } from './transport.ts';

/** What a session is for, as the owner describes it. */
export interface BfdPeerSpec {
  readonly peerAddress: string;
  /** Our address on the shared subnet: the source of our packets (RFC 5881 §4). */
  readonly localAddress: string;
  /** The interface the subnet is on, for the operator. */
  readonly interfaceName: string;
  readonly timers: BfdTimers;
  /**
   * RFC 5883: a peer not on a shared subnet. Packets go to port 4784, and a received packet's TTL
   * only has to reach `minTtl` (default 1: any; 5883 §5 leaves the bound to the operator).
   */
  readonly multihop?: { readonly minTtl?: number };
}

export interface BfdSessionChange extends BfdStateChange {
  readonly peerAddress: string;
}

/** Why a received packet went nowhere, beyond the codec's reasons (§6.8.6). */
export type DemuxDiscard = DiscardReason | 'no session';

/**
 * What the owner of the sessions uses: this module's BfdSessions in its own event loop, or the same
 * run in a worker thread (sessions-thread.ts), whose timers no turn of the daemon's loop can delay.
 */
export interface BfdSessionTable {
  /** Starts or retimes a session; an in-process table throws when its socket cannot be opened. */
  add(spec: BfdPeerSpec): void;
  remove(peerAddress: string): void;
  get(peerAddress: string): BfdSessionView | undefined;
  sessions(): BfdSessionView[];
  readonly discarded: ReadonlyMap<DemuxDiscard, number>;
  /** Packets refused for their TTL / Hop Limit (RFC 5881 §5, RFC 5883 §5), over both families. */
  readonly badTtl: number;
  readonly changes$: Observable<BfdSessionChange>;
  close(): void;
}

export interface BfdSessionsOptions {
  readonly native: NativeAddon;
  readonly clock: Clock;
  readonly random?: Random;
  /** Tests: ports other than 3784 and 4784, and loopback addresses to receive on. */
  readonly port?: number;
  readonly multihopPort?: number;
  readonly receiveAddress?: Readonly<Record<IpFamily, string>>;
}

/** One running session: its FSM driver, its socket, its figures. */
class BfdPeerSession {
  packetsReceived = 0;
  packetsSent = 0;
  stateChanges = 0;

  constructor(
    public spec: BfdPeerSpec,
    readonly driver: BfdSessionDriver,
    readonly sender: BfdSender,
  ) {}
}

export class BfdSessions implements BfdSessionTable {
  private readonly byPeer = new Map<string, BfdPeerSession>();
  private readonly byDiscriminator = new Map<number, BfdPeerSession>();
  /** By family and kind: `4s`, `6s` single hop, `4m`, `6m` multihop. */
  private readonly receivers = new Map<string, BfdReceiver>();
  /** Multihop packets below their session's minimum TTL. */
  private multihopBadTtl = 0;
  private readonly subject = new Subject<BfdSessionChange>();
  readonly changes$: Observable<BfdSessionChange> = this.subject.asObservable();
  /** Received packets that selected no session, by reason. */
  readonly discarded = new Map<DemuxDiscard, number>();
  private readonly random: Random;

  constructor(private readonly options: BfdSessionsOptions) {
    this.random = options.random ?? Math.random;
  }

  /** Starts a session to the peer; an existing one with other addresses is replaced. */
  add(spec: BfdPeerSpec): void {
    const existing = this.byPeer.get(spec.peerAddress);
    const multihop = spec.multihop !== undefined;
    if (existing && existing.spec.localAddress === spec.localAddress && isMultihop(existing) === multihop) {
      this.retime(existing, spec);
      return;
    }
    if (existing) this.remove(spec.peerAddress);
    this.receiverFor(family(spec.peerAddress), multihop);
    const sender = BfdSender.open(
      this.options.native,
      spec.localAddress,
      spec.peerAddress,
      this.random,
      this.portFor(multihop),
    );
    const localDiscr = this.newDiscriminator();
    let session: BfdPeerSession | undefined = undefined;
    const driver = new BfdSessionDriver({
      clock: this.options.clock,
      localDiscr,
      timers: spec.timers,
      random: this.random,
      send: (packet) => this.send(session, packet),
      onStateChange: (change) => this.changed(session, change),
    });
    session = new BfdPeerSession(spec, driver, sender);
    this.byPeer.set(spec.peerAddress, session);
    this.byDiscriminator.set(localDiscr, session);
    driver.start();
  }

  /** §6.8.16: the peer is told AdminDown first, so it does not take our silence for a failure. */
  remove(peerAddress: string): void {
    const session = this.byPeer.get(peerAddress);
    if (!session) return;
    session.driver.adminDown();
    session.driver.stop();
    session.sender.close();
    this.byPeer.delete(peerAddress);
    this.byDiscriminator.delete(session.driver.state.localDiscr);
    this.closeIdleReceivers();
  }

  get(peerAddress: string): BfdSessionView | undefined {
    const session = this.byPeer.get(peerAddress);
    return session && viewOf(session);
  }

  sessions(): BfdSessionView[] {
    return [...this.byPeer.values()].map(viewOf);
  }

  get badTtl(): number {
    let total = this.multihopBadTtl;
    for (const receiver of this.receivers.values()) total += receiver.counters.badTtl;
    return total;
  }

  close(): void {
    for (const peerAddress of [...this.byPeer.keys()]) this.remove(peerAddress);
    for (const receiver of this.receivers.values()) receiver.close();
    this.receivers.clear();
    this.subject.complete();
  }

  /** New timers take effect through a Poll Sequence when Up (§6.8.3); the FSM decides. */
  private retime(session: BfdPeerSession, spec: BfdPeerSpec): void {
    const before = session.spec.timers;
    session.spec = spec;
    const same =
      before.detectMult === spec.timers.detectMult &&
      before.desiredMinTxIntervalUs === spec.timers.desiredMinTxIntervalUs &&
      before.requiredMinRxIntervalUs === spec.timers.requiredMinRxIntervalUs &&
      before.idleTxIntervalUs === spec.timers.idleTxIntervalUs;
    if (!same) session.driver.setTimers(spec.timers);
  }

  private portFor(multihop: boolean): number {
    return multihop
      ? (this.options.multihopPort ?? BFD_MULTIHOP_PORT)
      : (this.options.port ?? BFD_CONTROL_PORT);
  }

  private receiverFor(f: IpFamily, multihop: boolean): void {
    const key = receiverKey(f, multihop);
    if (this.receivers.has(key)) return;
    const address = this.options.receiveAddress?.[f];
    const deliver = (p: ReceivedPacket) => this.demultiplex(p, multihop);
    // Multihop: any TTL reaches the session, which applies its own minimum (RFC 5883 §5).
    const minTtl = multihop ? 1 : BFD_TTL;
    const receiver = BfdReceiver.open(
      this.options.native,
      f,
      deliver,
      address,
      this.portFor(multihop),
      minTtl,
    );
    this.receivers.set(key, receiver);
  }

  private closeIdleReceivers(): void {
    const used = new Set(
      [...this.byPeer.values()].map((s) => receiverKey(family(s.spec.peerAddress), isMultihop(s))),
    );
    for (const [key, receiver] of this.receivers) {
      if (used.has(key)) continue;
      receiver.close();
      this.receivers.delete(key);
    }
  }

  // §6.8.6: a nonzero Your Discriminator selects the session; zero selects by source address (single
  // hop: the peer's address). A session found by discriminator must also be this peer's: a stale or
  // forged discriminator from another address does not move another peer's session, nor does a
  // packet that arrived on the other kind's port.
  private demultiplex({ source, result }: ReceivedPacket, multihop: boolean): void {
    if (!result.ok) return this.discard(result.reason);
    const packet = result.packet;
    const session =
      packet.yourDiscriminator !== 0
        ? this.byDiscriminator.get(packet.yourDiscriminator)
        : this.byPeer.get(source.address);
    if (!session || session.spec.peerAddress !== source.address || isMultihop(session) !== multihop)
      return this.discard('no session');
    if (multihop && source.ttl < (session.spec.multihop?.minTtl ?? 1)) {
      this.multihopBadTtl++;
      return;
    }
    session.packetsReceived++;
    session.driver.receive(packet);
  }

  private discard(reason: DemuxDiscard): void {
    this.discarded.set(reason, (this.discarded.get(reason) ?? 0) + 1);
  }

  private send(session: BfdPeerSession | undefined, packet: ControlPacket): void {
    if (!session) return;
    if (session.sender.send(packet)) session.packetsSent++;
  }

  private changed(session: BfdPeerSession | undefined, change: BfdStateChange): void {
    if (!session) return;
    session.stateChanges++;
    this.subject.next({ ...change, peerAddress: session.spec.peerAddress });
  }

  /** §6.8.1: nonzero and unique among our sessions; random so a restart does not reuse the last ones. */
  private newDiscriminator(): number {
    for (;;) {
      const discr = Math.floor(this.random() * 0xffffffff) + 1;
      if (!this.byDiscriminator.has(discr)) return discr;
    }
  }
}

/** One session as the API and the metrics show it: RFC 5880 §6.8.1 names, intervals in µs. */
export interface BfdSessionView {
  readonly peerAddress: string;
  readonly localAddress: string;
  readonly interfaceName: string;
  /** RFC 5883 (port 4784) rather than RFC 5881. */
  readonly multihop: boolean;
  readonly state: BfdState;
  readonly remoteState: BfdState;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  readonly localDiag: number;
  readonly detectMult: number;
  readonly remoteDetectMult: number;
  /** Negotiated: the interval between our packets and the time without the peer's that means Down. */
  readonly transmitIntervalUs: number;
  readonly detectionTimeUs: number;
  readonly desiredMinTxIntervalUs: number;
  readonly requiredMinRxIntervalUs: number;
  readonly remoteDesiredMinTxIntervalUs: number;
  readonly remoteMinRxIntervalUs: number;
  readonly pollActive: boolean;
  readonly lastDown: BfdStateChange | undefined;
  readonly packetsReceived: number;
  readonly packetsSent: number;
  readonly stateChanges: number;
  readonly sourcePort: number;
  /** Packets sent after more than the negotiated interval (§6.8.7), and after more than Detect Mult of them. */
  readonly lateTransmissions: number;
  readonly txGapsBeyondDetectionTime: number;
  readonly longestTxGapUpUs: number;
}

function viewOf(session: BfdPeerSession): BfdSessionView {
  const s = session.driver.state;
  return {
    peerAddress: session.spec.peerAddress,
    localAddress: session.spec.localAddress,
    interfaceName: session.spec.interfaceName,
    multihop: isMultihop(session),
    state: s.sessionState,
    remoteState: s.remoteSessionState,
    localDiscr: s.localDiscr,
    remoteDiscr: s.remoteDiscr,
    localDiag: s.localDiag,
    detectMult: s.config.detectMult,
    remoteDetectMult: s.remoteDetectMult,
    transmitIntervalUs: transmitIntervalUs(s),
    detectionTimeUs:
      s.sessionState === BfdState.Up || s.sessionState === BfdState.Init ? detectionTimeUs(s) : 0,
    desiredMinTxIntervalUs: s.desiredMinTxIntervalUs,
    requiredMinRxIntervalUs: s.requiredMinRxIntervalUs,
    remoteDesiredMinTxIntervalUs: s.remoteDesiredMinTxIntervalUs,
    remoteMinRxIntervalUs: s.remoteMinRxIntervalUs,
    pollActive: s.pollActive,
    lastDown: session.driver.lastDown,
    packetsReceived: session.packetsReceived,
    packetsSent: session.packetsSent,
    stateChanges: session.stateChanges,
    sourcePort: session.sender.sourcePort,
    lateTransmissions: session.driver.txTiming.lateTransmissions,
    txGapsBeyondDetectionTime: session.driver.txTiming.gapsBeyondDetectionTime,
    longestTxGapUpUs: session.driver.txTiming.longestGapUpUs,
  };
}

function isMultihop(session: BfdPeerSession): boolean {
  return session.spec.multihop !== undefined;
}

function receiverKey(f: IpFamily, multihop: boolean): string {
  return `${f}${multihop ? 'm' : 's'}`;
}

function family(address: string): IpFamily {
  return address.includes(':') ? 6 : 4;
}
