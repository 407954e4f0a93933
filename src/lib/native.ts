// The typed face of Brindle's one native addon (native/brindle_native.c): rtnetlink sockets and the
// TCP socket options Node does not expose (RFC 2385 TCP MD5, RFC 5082 GTSM, SO_BINDTODEVICE), and
// glibc's malloc_trim.
// Loading never throws: loadNative() says why the addon is unusable, and node mode refuses to start
// on that reason while reflector mode runs without it. Structs are built here, not in C.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './address.ts';

/** An active readiness watch; opaque to JavaScript. */
export type WatchHandle = { readonly __brand: 'WatchHandle' };

/** Exactly what the C file exports. Failing syscalls throw an Error with `.code` = errno name. */
export interface NativeAddon {
  /** AF_NETLINK socket, non-blocking and close-on-exec, bound to `groups` (RTMGRP_* bits), with
   * NETLINK_EXT_ACK and NETLINK_GET_STRICT_CHK on; SO_RCVBUFFORCE when permitted, else SO_RCVBUF. */
  nlOpen(protocol: number, groups: number, rcvbufBytes: number): number;
  /** One datagram (possibly many netlink messages) to the kernel; returns the bytes sent. */
  nlSend(fd: number, datagram: Buffer): number;
  /** One datagram into `buffer`: its length, or -errno (-EAGAIN when empty, -ENOBUFS after an
   * overrun: resynchronise with a dump, -EMSGSIZE when it did not fit and was dropped). */
  recv(fd: number, buffer: Buffer): number;
  /** `onReadable(0)` on the JS thread whenever fd is readable; a negative status means the watch has
   * stopped. Stays active until unwatch(), which must come before close(fd). */
  watch(fd: number, onReadable: (status: number) => void): WatchHandle;
  /** Idempotent. */
  unwatch(handle: WatchHandle): void;
  close(fd: number): void;
  /** Non-blocking, close-on-exec TCP socket, not yet bound or connected. */
  tcpSocket(family: 4 | 6): number;
  /** bind(2) with a sockaddr from sockaddrBuffer(). */
  bind(fd: number, sockaddr: Buffer): void;
  setsockoptInt(fd: number, level: number, name: number, value: number): void;
  setsockoptBuffer(fd: number, level: number, name: number, value: Buffer): void;
  getsockoptInt(fd: number, level: number, name: number): number;
  /** Non-blocking, close-on-exec UDP socket (BFD: its datagrams' TTL is readable with recvTtl). */
  udpSocket(family: 4 | 6): number;
  /** One datagram into `buffer`: its length or -errno (-EAGAIN when empty). `meta` (32 bytes) gets
   * the source sockaddr at 0 and the received TTL / Hop Limit (int32, -1 unknown) at 28; see
   * readDatagramSource(). Needs IP_RECVTTL or IPV6_RECVHOPLIMIT set on the socket. */
  recvTtl(fd: number, buffer: Buffer, meta: Buffer): number;
  /** One datagram to a sockaddr from sockaddrBuffer(): bytes sent or -errno. */
  sendTo(fd: number, datagram: Buffer, sockaddr: Buffer): number;
  /** glibc's malloc_trim(0): true when memory went back to the kernel; undefined without glibc. */
  mallocTrim(): boolean | undefined;
}

export type NativeLoad =
  { readonly ok: true; readonly native: NativeAddon } | { readonly ok: false; readonly reason: string };

// Linux UAPI values (include/uapi/linux/{socket,in,in6,tcp,netlink,rtnetlink}.h).
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOL_SOCKET = 1;
export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_IPV6 = 41;
export const SOL_NETLINK = 270;
export const SO_RCVBUF = 8;
export const SO_BINDTODEVICE = 25;
export const SO_DOMAIN = 39;
export const IP_TTL = 2;
export const IP_MINTTL = 21;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MINHOPCOUNT = 73;
export const IP_RECVTTL = 12;
export const IPV6_RECVHOPLIMIT = 51;
export const IPV6_V6ONLY = 26;
export const TCP_MD5SIG = 14;
export const TCP_MD5SIG_EXT = 32;
export const TCP_MD5SIG_FLAG_PREFIX = 1;
export const TCP_MD5SIG_MAXKEYLEN = 80;
export const NETLINK_ROUTE = 0;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const RTMGRP_LINK = 0x1;
export const RTMGRP_NEIGH = 0x4;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV4_RULE = 0x80;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;
export const EAGAIN = 11;
export const EMSGSIZE = 90;
export const ENOBUFS = 105;

const ADDON_FUNCTIONS = [
  'nlOpen',
  'nlSend',
  'recv',
  'watch',
  'unwatch',
  'close',
  'tcpSocket',
  'bind',
  'setsockoptInt',
  'setsockoptBuffer',
  'getsockoptInt',
  'udpSocket',
  'recvTtl',
  'sendTo',
  'mallocTrim',
] as const satisfies readonly (keyof NativeAddon)[];

/** build/Release/brindle_native.node under the package root: the nearest folder up from this module
 * holding package.json, so the path holds from src/ under tsx and from a compiled dist/ alike. */
export function defaultAddonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'build', 'Release', 'brindle_native.node');
}

/** Loads the addon from `file`; exported for tests, the daemon calls loadNative(). */
export function loadNativeFrom(file: string): NativeLoad {
  if (process.platform !== 'linux')
    return { ok: false, reason: `the native addon is Linux-only (${process.platform})` };
  if (!existsSync(file)) {
    return {
      ok: false,
      reason: `native addon not built: ${file} does not exist (run \`npm run build:native\`)`,
    };
  }
  let loaded: Record<string, unknown>;
  try {
    loaded = createRequire(import.meta.url)(file) as Record<string, unknown>;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      reason: `native addon ${file} failed to load: ${message} (rebuild: \`npm run build:native\`)`,
    };
  }
  const missing = ADDON_FUNCTIONS.filter((name) => typeof loaded[name] !== 'function');
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `native addon ${file} lacks ${missing.join(', ')}: stale build? run \`npm run build:native\``,
    };
  }
  return { ok: true, native: loaded as unknown as NativeAddon };
}

let cached: NativeLoad | undefined;

/** The addon at its built location, loaded once. Never throws. */
export function loadNative(): NativeLoad {
  cached ??= loadNativeFrom(defaultAddonPath());
  return cached;
}

/** The addon, or an Error naming why it is unavailable: for code paths that cannot work without it. */
export function requireNative(): NativeAddon {
  const load = loadNative();
  if (!load.ok) throw new Error(`brindle native addon unavailable: ${load.reason}`);
  return load.native;
}

// ---------------------------------------------------------------------------------------------------
// Socket addresses and struct tcp_md5sig (include/uapi/linux/tcp.h), little-endian host order.

export type IpFamily = 4 | 6;

/** 4 or 6 for an IP literal ("fe80::1%eth0" counts as 6); throws otherwise. */
export function addressFamily(address: string): IpFamily {
  if (parseIpv4(address) >= 0) return 4;
  if (parseIpv6(address.split('%')[0]) !== undefined) return 6;
  throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
}

/** An IPv6 address's 16 bytes; an IPv4 address as ::ffff:a.b.c.d (for AF_INET6 sockets). */
function ipv6Bytes(address: string): Uint8Array {
  const v4 = parseIpv4(address);
  if (v4 < 0) return parseIpv6(address.split('%')[0]) ?? new Uint8Array(16);
  const bytes = new Uint8Array(16);
  bytes[10] = bytes[11] = 0xff;
  new DataView(bytes.buffer).setUint32(12, v4);
  return bytes;
}

/** "%eth0" or "%3" after an IPv6 address: the interface index, 0 when absent. */
function scopeId(address: string): number {
  const scope = address.split('%')[1];
  if (scope === undefined) return 0;
  if (/^\d+$/.test(scope)) return Number(scope);
  try {
    return Number(readFileSync(`/sys/class/net/${scope}/ifindex`, 'utf8'));
  } catch {
    throw new Error(`unknown interface in address scope: ${JSON.stringify(address)}`);
  }
}

/** Writes a sockaddr_in / sockaddr_in6 at `offset`; an IPv4 address goes v4-mapped into family 6. */
function writeSockaddr(out: Buffer, offset: number, address: string, port: number, family: IpFamily): void {
  out.writeUInt16LE(family === 4 ? AF_INET : AF_INET6, offset);
  out.writeUInt16BE(port, offset + 2);
  if (family === 4) {
    const v4 = parseIpv4(address);
    if (v4 < 0) throw new TypeError(`not an IPv4 address: ${JSON.stringify(address)}`);
    out.writeUInt32BE(v4, offset + 4);
  } else {
    addressFamily(address);
    out.set(ipv6Bytes(address), offset + 8);
    out.writeUInt32LE(scopeId(address), offset + 24);
  }
}

/** sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes) for bind(2); `family` defaults to the address's. */
export function sockaddrBuffer(address: string, port: number, family = addressFamily(address)): Buffer {
  const out = Buffer.alloc(family === 4 ? 16 : 28);
  writeSockaddr(out, 0, address, port, family);
  return out;
}

/** The meta buffer recvTtl() fills: the sender and the TTL / Hop Limit its datagram arrived with. */
export interface DatagramSource {
  readonly address: string;
  readonly port: number;
  readonly ttl: number;
}

export const DATAGRAM_META_BYTES = 32;

/** Reads recvTtl()'s meta: sockaddr_in / sockaddr_in6 at 0 (v4-mapped IPv6 comes back as IPv4), TTL at 28. */
export function readDatagramSource(meta: Buffer): DatagramSource {
  const port = meta.readUInt16BE(2);
  const ttl = meta.readInt32LE(28);
  if (meta.readUInt16LE(0) === AF_INET) return { address: formatIpv4(meta.readUInt32BE(4)), port, ttl };
  const mapped =
    meta.readUInt32BE(8) === 0 && meta.readUInt32BE(12) === 0 && meta.readUInt32BE(16) === 0xffff;
  const address = mapped ? formatIpv4(meta.readUInt32BE(20)) : formatIpv6(meta, 8);
  return { address, port, ttl };
}

/**
 * struct tcp_md5sig (216 bytes): sockaddr_storage tcpm_addr @0, u8 flags @128, u8 prefixlen @129,
 * u16 keylen @130, i32 ifindex @132, key[80] @136. With a prefixLength it needs TCP_MD5SIG_EXT.
 * An empty key deletes the peer's key. `socketFamily` 6 with an IPv4 peer encodes ::ffff:a.b.c.d,
 * which is how an AF_INET6 (dual-stack) socket sees IPv4 peers.
 */
export function tcpMd5SigStruct(
  address: string,
  key: string | Buffer,
  prefixLength?: number,
  socketFamily: IpFamily = addressFamily(address),
): Buffer {
  const keyBytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  if (keyBytes.length > TCP_MD5SIG_MAXKEYLEN) {
    throw new RangeError(
      `TCP MD5 key is ${keyBytes.length} bytes; RFC 2385 keys are limited to ${TCP_MD5SIG_MAXKEYLEN} by Linux`,
    );
  }
  const mapped = socketFamily === 6 && addressFamily(address) === 4;
  const out = Buffer.alloc(216);
  writeSockaddr(out, 0, address, 0, socketFamily);
  if (prefixLength !== undefined) {
    const max = addressFamily(address) === 4 ? 32 : 128;
    if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > max) {
      throw new RangeError(`TCP MD5 prefix length ${prefixLength} is outside 0..${max}`);
    }
    out.writeUInt8(TCP_MD5SIG_FLAG_PREFIX, 128);
    out.writeUInt8(mapped ? prefixLength + 96 : prefixLength, 129);
  }
  out.writeUInt16LE(keyBytes.length, 130);
  keyBytes.copy(out, 136);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Typed helpers; each throws when the addon is unavailable, but for mallocTrim.

/**
 * Returns the free pages inside glibc's arenas to the kernel (malloc_trim(0)): true when some went,
 * false when none were free; undefined when it cannot be done here (no addon, or not glibc).
 */
export function mallocTrim(): boolean | undefined {
  const load = loadNative();
  return load.ok ? load.native.mallocTrim() : undefined;
}

/** The socket's own family (SO_DOMAIN), which decides which IP-level options apply. */
export function socketFamily(fd: number): IpFamily {
  return requireNative().getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN) === AF_INET6 ? 6 : 4;
}

function checkTtl(ttl: number, min: number, what: string): void {
  if (!Number.isInteger(ttl) || ttl < min || ttl > 255)
    throw new RangeError(`${what} ${ttl} is outside ${min}..255`);
}

/** TTL / hop limit of outgoing packets. On a family-6 socket IP_TTL is set too: IPv4 peers of a
 * dual-stack socket are sent with it. */
export function setTtl(fd: number, family: IpFamily, ttl: number): void {
  checkTtl(ttl, 1, 'TTL');
  const native = requireNative();
  if (family === 6) native.setsockoptInt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
  native.setsockoptInt(fd, IPPROTO_IP, IP_TTL, ttl);
}

/** GTSM (RFC 5082): drop inbound packets whose TTL is below minTtl (0 disables); see gtsmMinTtl().
 * On a family-6 socket IP_MINTTL is set too, for IPv4 peers of a dual-stack socket. */
export function setMinTtl(fd: number, family: IpFamily, minTtl: number): void {
  checkTtl(minTtl, 0, 'minimum TTL');
  const native = requireNative();
  if (family === 6) native.setsockoptInt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, minTtl);
  native.setsockoptInt(fd, IPPROTO_IP, IP_MINTTL, minTtl);
}

/** RFC 5082 §3: a peer `hops` away sends with TTL 255 and arrives with 255 - hops + 1 or more. */
export function gtsmMinTtl(hops: number): number {
  checkTtl(hops, 1, 'GTSM hop count');
  return 255 - hops + 1;
}

/** RFC 2385 key for one peer address (or prefix) on a listening or unconnected socket; "" deletes it. */
export function setMd5(fd: number, address: string, key: string | Buffer, prefixLength?: number): void {
  const struct = tcpMd5SigStruct(address, key, prefixLength, socketFamily(fd));
  const option = prefixLength === undefined ? TCP_MD5SIG : TCP_MD5SIG_EXT;
  requireNative().setsockoptBuffer(fd, IPPROTO_TCP, option, struct);
}

/** bind(2) to a local address (port 0: any); the error names the address. */
export function bindAddress(fd: number, address: string, port = 0, family = addressFamily(address)): void {
  try {
    requireNative().bind(fd, sockaddrBuffer(address, port, family));
  } catch (error) {
    if (error instanceof Error) error.message += ` (local address ${address})`;
    throw error;
  }
}

/** SO_BINDTODEVICE: the socket only uses this interface (VRF-less multi-homing); "" unbinds. */
export function bindToDevice(fd: number, name: string): void {
  if (Buffer.byteLength(name) > 15)
    throw new RangeError(`interface name ${JSON.stringify(name)} exceeds IFNAMSIZ`);
  requireNative().setsockoptBuffer(fd, SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${name}\0`));
}

/** The descriptor under a connected socket or a listening server: libuv's `_handle.fd`, which is
 * undocumented but stable on Unix. Throws before 'listening'/'connect' or after close. */
export function socketFd(socket: Socket | Server): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new Error('socket has no file descriptor (not yet listening/connecting, or already closed)');
  }
  return fd;
}
