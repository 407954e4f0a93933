// How a BGP transport connection gets the socket options Node lacks. Active side: the socket is
// created natively so the RFC 2385 MD5 key, TTL and device binding are in place before the SYN (which
// must already be signed); libuv then connects that fd. Passive side: the options go on the listener,
// and Linux copies them to every socket it accepts (keys, IP_TTL and IP_MINTTL alike).
import { Socket } from 'node:net';
import type { Server } from 'node:net';
import {
  addressFamily,
  bindAddress,
  bindToDevice,
  requireNative,
  setMd5,
  setMinTtl,
  setTtl,
  socketFamily,
  socketFd,
} from './native.ts';
import type { IpFamily } from './native.ts';

export interface ConnectWithOptions {
  /** The peer's IP address (a literal: the MD5 key is bound to it). */
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  /** Socket family; defaults to the host's. With 6 an IPv4 host is reached as ::ffff:a.b.c.d. */
  readonly family?: IpFamily;
  /** Outgoing TTL / hop limit: 255 under GTSM, 1 for a directly connected eBGP peer. */
  readonly ttl?: number;
  /** GTSM (RFC 5082): drop segments arriving with a lower TTL; see gtsmMinTtl(). */
  readonly minTtl?: number;
  /** RFC 2385 TCP MD5 key, at most 80 bytes. */
  readonly md5Key?: string | Buffer;
  /** SO_BINDTODEVICE interface name. */
  readonly device?: string;
}

/** True when the connection needs the native addon; otherwise plain net.connect() does the job. */
export function requestsSocketOptions(
  options: Omit<ConnectWithOptions, 'host' | 'port' | 'localAddress'>,
): boolean {
  return (
    options.ttl !== undefined ||
    options.minTtl !== undefined ||
    options.md5Key !== undefined ||
    options.device !== undefined
  );
}

/**
 * A connecting net.Socket whose options were set before connect(2). Events are those of
 * net.connect(): 'connect', or 'error' (ECONNREFUSED, ...). Throws when the addon is unavailable or an
 * option is rejected, with no descriptor left open.
 */
export function connectWithOptions(options: ConnectWithOptions): Socket {
  const native = requireNative();
  const hostFamily = addressFamily(options.host);
  const family = options.family ?? hostFamily;
  if (family === 4 && hostFamily === 6) throw new TypeError(`IPv6 peer ${options.host} on an IPv4 socket`);
  const fd = native.tcpSocket(family);
  let socket: Socket;
  try {
    if (options.device !== undefined) bindToDevice(fd, options.device);
    if (options.md5Key !== undefined) setMd5(fd, options.host, options.md5Key);
    if (options.ttl !== undefined) setTtl(fd, family, options.ttl);
    if (options.minTtl !== undefined) setMinTtl(fd, family, options.minTtl);
    // Our own bind: Node's connect({ localAddress }) would bind a second time and fail with EINVAL.
    if (options.localAddress !== undefined) bindAddress(fd, options.localAddress, 0, family);
    socket = new Socket({ fd, readable: true, writable: true });
  } catch (error) {
    native.close(fd);
    throw error;
  }
  const host = family === 6 && hostFamily === 4 ? `::ffff:${options.host}` : options.host;
  return socket.connect({ host, port: options.port });
}

export interface Md5Peer {
  readonly address: string;
  /** "" removes the key for this address. */
  readonly key: string | Buffer;
  /** Key a whole prefix (TCP_MD5SIG_EXT), e.g. for dynamic neighbours. */
  readonly prefixLength?: number;
}

export interface ListenerOptions {
  readonly md5?: readonly Md5Peer[];
  /** TTL of what accepted sockets send: 255 when peers check GTSM. */
  readonly ttl?: number;
  /** GTSM minimum TTL for SYNs and every later segment. */
  readonly minTtl?: number;
}

/**
 * Sets the options on a listening server (call after 'listening', before peers connect, and again
 * when peers or keys change). An IPv4 peer of a dual-stack (::) listener is keyed as ::ffff:a.b.c.d.
 */
export function applyListenerOptions(server: Server, options: ListenerOptions): void {
  const fd = socketFd(server);
  const family = socketFamily(fd);
  for (const peer of options.md5 ?? []) setMd5(fd, peer.address, peer.key, peer.prefixLength);
  if (options.ttl !== undefined) setTtl(fd, family, options.ttl);
  if (options.minTtl !== undefined) setMinTtl(fd, family, options.minTtl);
}
