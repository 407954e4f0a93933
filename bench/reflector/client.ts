// The load generator's BGP sessions: each BenchClient is one real TCP session from its own loopback
// address to the reflector under test, speaking iBGP with our codec. It sends what the scenario hands
// it (pre-encoded UPDATEs) and keeps exact per-prefix state of what it receives, so "every receiver
// holds every prefix" is a counter reaching a number, not a guess. Every UPDATE's Withdrawn Routes and
// NLRI are read; one in FULL_DECODE_EVERY is decoded whole and its reflected attributes checked. The
// Tally aggregates the counters over all receivers and resolves a waiting scenario the moment its
// condition turns true.
import net from 'node:net';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import { decodeMessage, encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { describeNotification, encodeNotification } from '../../src/bgp/codec/notification.ts';
import { encodeOpen } from '../../src/bgp/codec/open.ts';
import { decodePrefixes } from '../../src/bgp/codec/nlri.ts';
import {
  CapabilityCode,
  CeaseSubcode,
  ErrorCode,
  HEADER_LENGTH,
  MessageType,
} from '../../src/bgp/constants.ts';
import { BgpError, ErrorAction } from '../../src/bgp/errors.ts';
import type { CodecContext, UpdateMessage } from '../../src/bgp/types.ts';
import { Afi } from '../../src/lib/family.ts';
import { formatPrefix, ipv4Prefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { clientAddress, clientRouterId, LOCAL_AS, REFLECTOR_ADDRESS, REFLECTOR_PORT } from './plan.ts';

/** Plain iBGP, IPv4 unicast only, no ADD-PATH and no Extended Message: what every reflector speaks. */
export const CLIENT_CODEC: CodecContext = {
  fourOctetAs: true,
  addPath: new Set(),
  maxMessageLength: 4096,
  external: false,
};

const HOLD_TIME_SEC = 240;
/** Well inside the smallest hold time a reflector may negotiate (GoBGP's 90 s default). */
const KEEPALIVE_INTERVAL_MS = 20_000;
const RECONNECT_DELAY_MS = 200;
/** One connection attempt gives up after this long and a fresh one starts (see establishAll). */
const ATTEMPT_TIMEOUT_MS = 5_000;
const CONNECT_CONCURRENCY = 8;
/**
 * One received UPDATE in this many is decoded whole (attributes included) and checked; the others are
 * read for their prefix fields only, so the generator stays well below one core of work.
 */
const FULL_DECODE_EVERY = 64;

/**
 * The prefixes of one scenario: `size` consecutive IPv4 prefixes of one length from `base`, so a
 * received prefix maps to its index with a subtraction and a shift. `watched` marks the prefixes a
 * phase waits on (one client's blocks), shared by every client.
 */
export class PrefixSpace {
  readonly watched: Uint8Array;
  /** Host bits of each prefix: index = (address − base) >>> shift. */
  private readonly shift: number;

  constructor(
    readonly base: number,
    readonly length: number,
    readonly size: number,
  ) {
    if (length < 1 || length > 32) throw new RangeError(`prefix length ${length}`);
    this.shift = 32 - length;
    this.watched = new Uint8Array(size);
    if (base + size * 2 ** this.shift > 2 ** 32) throw new RangeError('prefix space overflows IPv4');
  }

  prefix(index: number): Nlri {
    return ipv4Prefix((this.base + index * 2 ** this.shift) >>> 0, this.length);
  }

  /** The prefix's index, or -1 when it is not one of this space's. */
  indexOf(p: Nlri): number {
    if (p.length !== this.length || p.afi !== Afi.Ipv4) return -1;
    const offset = p.w0 - this.base;
    if (offset < 0) return -1;
    // offset < 2^32 and length ≥ 1, so the shift is an unsigned integer division.
    const index = offset >>> this.shift;
    return index < this.size ? index : -1;
  }
}

/** Counts over the receivers of a scenario, updated by the clients as prefixes come and go. */
export class Tally {
  /** Receivers whose sessions count (a deliberately closed one is retired). */
  receivers = 0;
  /** ... holding every prefix they should. */
  full = 0;
  /** ... holding none. */
  empty = 0;
  /** ... holding none of the watched prefixes. */
  watchClear = 0;
  private waiter:
    { condition: () => boolean; resolve: (at: number) => void; fail: (e: Error) => void } | undefined;

  /** Called by a client after each received chunk: resolves the waiting phase when its condition holds. */
  changed(): void {
    if (this.waiter?.condition()) {
      const { resolve } = this.waiter;
      this.waiter = undefined;
      resolve(performance.now());
    }
  }

  /** A session went down unexpectedly: the waiting phase can no longer finish. */
  abort(reason: string): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.fail(new Error(reason));
  }

  /**
   * The performance.now() at which `condition` first held, checked after every received chunk, or
   * undefined when `timeoutMs` passed first.
   */
  until(condition: () => boolean, timeoutMs: number): Promise<number | undefined> {
    if (condition()) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(undefined);
      }, timeoutMs);
      const settle = () => clearTimeout(timer);
      this.waiter = {
        condition,
        resolve: (at) => (settle(), resolve(at)),
        fail: (e) => (settle(), reject(e)),
      };
    });
  }
}

export interface ClientOptions {
  /** Picks the client's source address and BGP Identifier. */
  readonly index: number;
  readonly space: PrefixSpace;
  /** Indices [from, to) this client announces itself: never expected back from the reflector. */
  readonly ownFrom?: number;
  readonly ownTo?: number;
  /** Receivers are counted in the tally; an injector only sends. */
  readonly receiver: boolean;
  readonly tally: Tally;
  /** The NEXT_HOP prefix `index` was announced with, to check the reflector left it unchanged. */
  readonly expectedNextHop?: (index: number) => string;
}

export class BenchClient {
  readonly address: string;
  /** Prefixes this receiver should end up holding (the space less its own). */
  readonly expected: number;
  held = 0;
  /** UPDATEs received that announced prefixes, and the prefixes they announced (repeats included). */
  announcingUpdates = 0;
  announcedPrefixes = 0;
  /** Prefixes received that are outside the space, or this client's own reflected back to it. */
  foreign = 0;
  echoed = 0;
  private updatesReceived = 0;
  private readonly state: Uint8Array;
  private readonly space: PrefixSpace;
  private readonly tally: Tally;
  private readonly ownFrom: number;
  private readonly ownTo: number;
  private watchedHeld = 0;
  private counted = false;
  private socket: net.Socket | undefined;
  private framer = new MessageFramer();
  private keepalive: NodeJS.Timeout | undefined;
  private openReceived = false;
  private established = false;
  private closing = false;
  private onEstablished: (() => void) | undefined;
  /** Why the session failed (NOTIFICATION received, malformed message, lost after Established). */
  failure: string | undefined;

  constructor(private readonly options: ClientOptions) {
    this.address = clientAddress(options.index);
    this.space = options.space;
    this.tally = options.tally;
    this.ownFrom = options.ownFrom ?? 0;
    this.ownTo = options.ownTo ?? 0;
    const own = this.ownTo - this.ownFrom;
    this.expected = options.receiver ? options.space.size - own : 0;
    this.state = new Uint8Array(options.receiver ? options.space.size : 0);
    if (options.receiver) {
      const tally = options.tally;
      this.counted = true;
      tally.receivers++;
      tally.empty++;
      tally.watchClear++;
      if (this.expected === 0) tally.full++;
    }
  }

  /** Connects (retrying while the reflector refuses) until Established, or rejects at the deadline. */
  async establish(deadline: number): Promise<void> {
    for (let attempt = 0; attempt < 1000 && Date.now() < deadline; attempt++) {
      if (await this.attempt(deadline)) return;
      if (this.failure !== undefined) throw new Error(`${this.address}: ${this.failure}`);
      await new Promise((r) => setTimeout(r, RECONNECT_DELAY_MS));
    }
    this.destroy();
    throw new Error(`${this.address}: no session with the reflector before the deadline`);
  }

  /** One connection attempt: true once Established, false when the connection closed first. */
  private attempt(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timeoutMs = Math.min(ATTEMPT_TIMEOUT_MS, Math.max(0, deadline - Date.now()));
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.onEstablished = undefined;
        if (!ok) this.resetConnection();
        resolve(ok);
      };
      this.onEstablished = () => finish(true);
      const socket = net.connect({
        host: REFLECTOR_ADDRESS,
        port: REFLECTOR_PORT,
        localAddress: this.address,
      });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('connect', () => socket.write(this.open()));
      socket.on('data', (chunk: Buffer) => this.receive(chunk));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (this.socket !== socket) return;
        if (!this.established) finish(false);
        else this.lost();
      });
    });
  }

  private open(): Buffer {
    return encodeOpen({
      version: 4,
      myAutonomousSystem: LOCAL_AS,
      holdTimeSec: HOLD_TIME_SEC,
      bgpIdentifier: clientRouterId(this.options.index),
      capabilities: [
        { code: CapabilityCode.Multiprotocol, afi: 1, safi: 1 },
        { code: CapabilityCode.RouteRefresh },
        { code: CapabilityCode.FourOctetAs, asn: LOCAL_AS },
      ],
      unsupportedParameters: [],
      extendedParameters: false,
    });
  }

  private resetConnection(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.framer = new MessageFramer();
    this.openReceived = false;
  }

  /** The established session closed without our asking. */
  private lost(): void {
    clearInterval(this.keepalive);
    if (this.closing) return;
    this.failure ??= 'session closed by the reflector';
    this.retire();
    this.tally.abort(`${this.address}: ${this.failure}`);
  }

  send(bytes: Buffer): void {
    if (!this.established || !this.socket) throw new Error(`${this.address}: no session to send on`);
    this.socket.write(bytes);
  }

  /** Closes the session as an operator would: Cease/Administrative Shutdown, then FIN. */
  shutdown(): void {
    this.closing = true;
    this.retire();
    clearInterval(this.keepalive);
    this.socket?.end(
      encodeNotification({ code: ErrorCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown }),
    );
  }

  destroy(): void {
    this.closing = true;
    clearInterval(this.keepalive);
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Stops counting this client in the tally (its state is frozen from now on). */
  private retire(): void {
    if (!this.counted) return;
    const tally = this.tally;
    this.counted = false;
    tally.receivers--;
    if (this.held === this.expected) tally.full--;
    if (this.held === 0) tally.empty--;
    if (this.watchedHeld === 0) tally.watchClear--;
  }

  /** Recounts the watched prefixes this client holds, after the scenario changed space.watched. */
  recountWatched(): void {
    const watched = this.space.watched;
    let held = 0;
    for (let i = 0; i < this.state.length; i++) held += this.state[i] & watched[i];
    this.watchedHeld = held;
  }

  get holdsNoneWatched(): boolean {
    return this.watchedHeld === 0;
  }

  get counts(): boolean {
    return this.counted;
  }

  private receive(chunk: Buffer): void {
    this.framer.push(chunk);
    for (let frame = this.framer.next(); frame !== undefined; frame = this.framer.next()) {
      if (frame instanceof BgpError) {
        this.fail(`bad message header: ${frame.message}`);
        return;
      }
      if (!this.handle(frame)) return;
    }
    this.tally.changed();
  }

  /** Handles one whole message; false when the session is over. */
  private handle(frame: Buffer): boolean {
    if (frame[18] === MessageType.Update) {
      if (!this.options.receiver) return true;
      // Most UPDATEs are read for their prefix fields only; a sample is decoded whole and checked.
      if (this.updatesReceived++ % FULL_DECODE_EVERY !== 0) return this.scanUpdate(frame);
    }
    const decoded = decodeMessage(frame, CLIENT_CODEC, true);
    if (!decoded.ok) return this.fail(`undecodable message: ${decoded.error.message}`);
    const m = decoded.message;
    switch (m.type) {
      case MessageType.Open:
        this.openReceived = true;
        this.socket?.write(encodeKeepalive());
        return true;
      case MessageType.Keepalive:
        if (this.openReceived && !this.established) this.becomeEstablished();
        return true;
      case MessageType.Update:
        return this.update(m);
      case MessageType.Notification:
        return this.fail(`NOTIFICATION received: ${describeNotification(m)}`);
      case MessageType.RouteRefresh:
        return true;
    }
  }

  private becomeEstablished(): void {
    this.established = true;
    this.keepalive = setInterval(() => this.socket?.write(encodeKeepalive()), KEEPALIVE_INTERVAL_MS);
    this.keepalive.unref();
    this.onEstablished?.();
  }

  private fail(reason: string): false {
    this.failure ??= reason;
    this.socket?.destroy();
    return false;
  }

  /** A whole decoded UPDATE: applied, and its reflected attributes checked (RFC 4456 §8). */
  private update(m: UpdateMessage): boolean {
    for (const p of m.withdrawnRoutes) this.drop(p);
    if (m.nlri.length === 0) return true;
    if (m.errorAction !== undefined && m.errorAction >= ErrorAction.TreatAsWithdraw) {
      return this.fail(`malformed UPDATE: ${m.errors.map((e) => e.reason).join('; ')}`);
    }
    const wrong = this.checkReflected(m);
    if (wrong !== undefined) return this.fail(wrong);
    this.announce(m.nlri);
    return true;
  }

  /** Why a reflected announcement is wrong, or undefined: NEXT_HOP unchanged, ORIGINATOR_ID and CLUSTER_LIST added. */
  private checkReflected(m: UpdateMessage): string | undefined {
    const { nextHop, originatorId, clusterList } = m.attributes;
    if (originatorId === undefined || clusterList === undefined || clusterList.length === 0) {
      return 'reflected UPDATE without ORIGINATOR_ID or CLUSTER_LIST';
    }
    const expected = this.options.expectedNextHop;
    if (!expected) return undefined;
    for (const p of m.nlri) {
      const index = this.space.indexOf(p);
      if (index >= 0 && nextHop !== expected(index)) {
        return `${formatPrefix(p)} reflected with NEXT_HOP ${nextHop}, sent with ${expected(index)}`;
      }
    }
    return undefined;
  }

  /** The Withdrawn Routes and NLRI fields of an UPDATE, read with the codec's prefix decoder. */
  private scanUpdate(frame: Buffer): boolean {
    const end = frame.length;
    const withdrawnEnd = HEADER_LENGTH + 2 + frame.readUInt16BE(HEADER_LENGTH);
    if (withdrawnEnd + 2 > end) return this.fail('UPDATE withdrawn routes length overruns the message');
    const nlriAt = withdrawnEnd + 2 + frame.readUInt16BE(withdrawnEnd);
    if (nlriAt > end) return this.fail('UPDATE path attribute length overruns the message');
    if (withdrawnEnd > HEADER_LENGTH + 2) {
      const withdrawn: Nlri[] = [];
      const reason = decodePrefixes(frame, HEADER_LENGTH + 2, withdrawnEnd, Afi.Ipv4, false, withdrawn);
      if (reason !== undefined) return this.fail(`UPDATE withdrawn routes: ${reason}`);
      for (const p of withdrawn) this.drop(p);
    }
    if (nlriAt < end) {
      const nlri: Nlri[] = [];
      const reason = decodePrefixes(frame, nlriAt, end, Afi.Ipv4, false, nlri);
      if (reason !== undefined) return this.fail(`UPDATE NLRI: ${reason}`);
      this.announce(nlri);
    }
    return true;
  }

  private announce(prefixes: readonly Nlri[]): void {
    this.announcingUpdates++;
    this.announcedPrefixes += prefixes.length;
    for (const p of prefixes) this.hold(p);
  }

  private indexOf(p: Nlri): number {
    const index = this.space.indexOf(p);
    if (index < 0) {
      this.foreign++;
      return -1;
    }
    if (index >= this.ownFrom && index < this.ownTo) {
      this.echoed++;
      return -1;
    }
    return index;
  }

  private hold(p: Nlri): void {
    const i = this.indexOf(p);
    if (i < 0 || this.state[i] === 1) return;
    this.state[i] = 1;
    const tally = this.tally;
    const counted = this.counted;
    if (counted && this.held === 0) tally.empty--;
    this.held++;
    if (counted && this.held === this.expected) tally.full++;
    if (this.space.watched[i] === 1 && this.watchedHeld++ === 0 && counted) tally.watchClear--;
  }

  private drop(p: Nlri): void {
    const i = this.indexOf(p);
    if (i < 0 || this.state[i] === 0) return;
    this.state[i] = 0;
    const tally = this.tally;
    const counted = this.counted;
    if (counted && this.held === this.expected) tally.full--;
    this.held--;
    if (counted && this.held === 0) tally.empty++;
    if (this.space.watched[i] === 1 && --this.watchedHeld === 0 && counted) tally.watchClear++;
  }
}

/**
 * Establishes every client's session, at most `CONNECT_CONCURRENCY` handshakes at a time: BIRD listens
 * with a backlog of 8, and a SYN dropped from a full accept queue costs a 1 s (then 2, 4, … s) retry.
 * Rejects (after closing them all) at the deadline.
 */
export async function establishAll(clients: readonly BenchClient[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < clients.length && Date.now() < deadline) {
      const client = clients[next++];
      await client.establish(deadline).catch((e: unknown) => failures.push(String(e)));
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  const missing = clients.length - next;
  if (failures.length > 0 || missing > 0) {
    for (const c of clients) c.destroy();
    const first = failures[0] ?? 'deadline passed';
    throw new Error(`${failures.length + missing} of ${clients.length} sessions not established: ${first}`);
  }
}

/** Marks space indices [from, to) as the watched ones and recounts every client against them. */
export function watch(
  space: PrefixSpace,
  clients: readonly BenchClient[],
  tally: Tally,
  from: number,
  to: number,
): void {
  space.watched.fill(0);
  space.watched.fill(1, from, to);
  tally.watchClear = 0;
  for (const c of clients) {
    c.recountWatched();
    if (c.counts && c.holdsNoneWatched) tally.watchClear++;
  }
}
