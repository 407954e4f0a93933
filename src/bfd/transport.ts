// BFD's UDP transport (RFC 5881 single hop, RFC 5883 multihop): Control packets arrive on port 3784
// (5881 §4), or 4784 for multihop sessions (5883 §4), and leave from a source port in 49152–65535 with
// TTL / Hop Limit 255. Single hop: a received packet whose TTL is not 255 is discarded (5881 §5, the
// GTSM of RFC 5082) so only a directly connected system can reach us. Multihop: the TTL cannot say
// where a packet came from (5883 §5), so the receiver takes any and the session checks the TTL
// against the number of hops it allows.
//
// Node's dgram cannot report a datagram's TTL, and IP_MINTTL does not filter UDP on Linux (it is a
// TCP-only check), so the sockets come from the native addon: recvmsg with IP_RECVTTL /
// IPV6_RECVHOPLIMIT ancillary data. Reading is bounded per readiness callback (the watch is
// level-triggered, so what is left is read on the next turn of the event loop).

import type { DatagramSource, IpFamily, NativeAddon, WatchHandle } from '../lib/native.ts';
import {
  DATAGRAM_META_BYTES,
  IP_RECVTTL,
  IP_TTL,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_RECVHOPLIMIT,
  IPV6_UNICAST_HOPS,
  IPV6_V6ONLY,
  readDatagramSource,
  sockaddrBuffer,
} from '../lib/native.ts';
import { decodeControlPacket, encodeControlPacket } from './packet.ts';
import type { ControlPacket, DecodeResult } from './packet.ts';

/** RFC 5881 §4: single-hop Control packets go to this port. */
export const BFD_CONTROL_PORT = 3784;
/** RFC 5883 §4: multihop Control packets go to this port. */
export const BFD_MULTIHOP_PORT = 4784;
/** RFC 5881 §4: the source port range. */
export const SOURCE_PORT_MIN = 49152;
export const SOURCE_PORT_MAX = 65535;
/** RFC 5881 §5: sent with, and required on receipt. */
export const BFD_TTL = 255;
/** Datagrams read per readiness callback. */
const READS_PER_TURN = 64;
/** Bind attempts before giving up on finding a free source port. */
const SOURCE_PORT_ATTEMPTS = 64;

export type ReceivedPacket = { readonly source: DatagramSource; readonly result: DecodeResult };

export interface ReceiverCounters {
  received: number;
  /** §5: TTL / Hop Limit other than 255. */
  badTtl: number;
  /** §6.8.6 discards by the codec (the reason is in the decode result). */
  malformed: number;
}

/**
 * The listening socket on port 3784 (4784) for one family; hands every datagram whose TTL is at least
 * `minTtl` on: 255 for single hop, 1 for multihop (each session then applies its own bound).
 */
export class BfdReceiver {
  readonly counters: ReceiverCounters = { received: 0, badTtl: 0, malformed: 0 };
  private readonly buffer = Buffer.alloc(64);
  private readonly meta = Buffer.alloc(DATAGRAM_META_BYTES);
  private readonly watchHandle: WatchHandle;
  private closed = false;

  constructor(
    private readonly native: NativeAddon,
    private readonly fd: number,
    private readonly deliver: (packet: ReceivedPacket) => void,
    private readonly minTtl: number,
  ) {
    this.watchHandle = native.watch(fd, (status) => this.onReadable(status));
  }

  /** Binds `localAddress` (`0.0.0.0` / `::` for all) on `port`; throws the errno Error on failure. */
  static open(
    native: NativeAddon,
    family: IpFamily,
    deliver: (packet: ReceivedPacket) => void,
    localAddress = family === 4 ? '0.0.0.0' : '::',
    port = BFD_CONTROL_PORT,
    minTtl = BFD_TTL,
  ): BfdReceiver {
    const fd = native.udpSocket(family);
    try {
      if (family === 4) native.setsockoptInt(fd, IPPROTO_IP, IP_RECVTTL, 1);
      else {
        native.setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
        native.setsockoptInt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
      }
      native.bind(fd, sockaddrBuffer(localAddress, port, family));
    } catch (error) {
      native.close(fd);
      throw error;
    }
    return new BfdReceiver(native, fd, deliver, minTtl);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.unwatch(this.watchHandle);
    this.native.close(this.fd);
  }

  private onReadable(status: number): void {
    if (status < 0 || this.closed) return;
    for (let i = 0; i < READS_PER_TURN; i++) {
      const length = this.native.recvTtl(this.fd, this.buffer, this.meta);
      if (length < 0) return;
      this.accept(length);
    }
  }

  private accept(length: number): void {
    this.counters.received++;
    const source = readDatagramSource(this.meta);
    if (source.ttl < this.minTtl) {
      this.counters.badTtl++;
      return;
    }
    const result = decodeControlPacket(this.buffer.subarray(0, length));
    if (!result.ok) this.counters.malformed++;
    this.deliver({ source, result });
  }
}

/** One session's sending socket: a source port of its own (RFC 5881 §4), TTL 255, to port 3784 (4784). */
export class BfdSender {
  private readonly out = Buffer.alloc(24);
  private readonly to: Buffer;
  sendErrors = 0;

  private constructor(
    private readonly native: NativeAddon,
    private readonly fd: number,
    readonly sourcePort: number,
    peerAddress: string,
    family: IpFamily,
    peerPort: number,
  ) {
    this.to = sockaddrBuffer(peerAddress, peerPort, family);
  }

  static open(
    native: NativeAddon,
    localAddress: string,
    peerAddress: string,
    random: () => number = Math.random,
    peerPort = BFD_CONTROL_PORT,
  ): BfdSender {
    const family: IpFamily = localAddress.includes(':') ? 6 : 4;
    const fd = native.udpSocket(family);
    try {
      native.setsockoptInt(
        fd,
        family === 4 ? IPPROTO_IP : IPPROTO_IPV6,
        family === 4 ? IP_TTL : IPV6_UNICAST_HOPS,
        BFD_TTL,
      );
      const port = bindSourcePort(native, fd, localAddress, family, random);
      return new BfdSender(native, fd, port, peerAddress, family, peerPort);
    } catch (error) {
      native.close(fd);
      throw error;
    }
  }

  /** Sends without blocking; a full socket buffer drops the packet (the next interval sends again). */
  send(packet: ControlPacket): boolean {
    encodeControlPacket(packet, this.out);
    const sent = this.native.sendTo(this.fd, this.out, this.to);
    if (sent < 0) this.sendErrors++;
    return sent >= 0;
  }

  close(): void {
    this.native.close(this.fd);
  }
}

// A random start spreads sessions over the range; EADDRINUSE moves to the next port.
function bindSourcePort(
  native: NativeAddon,
  fd: number,
  localAddress: string,
  family: IpFamily,
  random: () => number,
): number {
  const span = SOURCE_PORT_MAX - SOURCE_PORT_MIN + 1;
  const start = Math.floor(random() * span);
  for (let i = 0; i < SOURCE_PORT_ATTEMPTS; i++) {
    const port = SOURCE_PORT_MIN + ((start + i) % span);
    try {
      native.bind(fd, sockaddrBuffer(localAddress, port, family));
      return port;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error(`no free BFD source port after ${SOURCE_PORT_ATTEMPTS} attempts`);
}
