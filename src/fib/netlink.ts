// rtnetlink as Brindle's FIB speaks it (include/uapi/linux/{netlink,rtnetlink,if_link,if_addr}.h,
// rtnetlink(7)): nlmsghdr framing, routes (rtmsg + rtattr, RTA_MULTIPATH rtnexthops), links
// (ifinfomsg) and addresses (ifaddrmsg), and NLMSG_ERROR / NLMSG_DONE with extended-ack TLVs.
// Pure bytes in, bytes out: encoding appends to a MessageWriter (one datagram of many messages),
// decoding reads a received datagram in place. The socket lives in netlink-socket.ts.

import { constants as osConstants } from 'node:os';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../lib/address.ts';
import { Afi } from '../lib/family.ts';
import { ipv4Prefix, ipv6Prefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';

// --- include/uapi/linux/netlink.h ------------------------------------------------------------------
export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP_FILTERED = 0x20;
/** GET requests. */
export const NLM_F_DUMP = 0x300;
/** NEW requests. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** NLMSG_ERROR: the original request is cut to its header; TLVs follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** enum nlmsgerr_attrs (extended ack, NETLINK_EXT_ACK). */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

// --- include/uapi/linux/rtnetlink.h -----------------------------------------------------------------
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

/** rtm_type */
export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;

/** rtm_protocol values the FIB names in logs; Brindle's own number is configured (default 205). */
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

/** rtm_scope */
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

/** rtm_table: ids above 255 travel in RTA_TABLE (u32) only. */
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

/** enum rtattr_type_t */
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;

/** rtnh_flags (also rtm_flags for a single next hop). */
export const RTNH_F_DEAD = 0x1;
export const RTNH_F_ONLINK = 0x4;
export const RTNH_F_LINKDOWN = 0x10;

/** ip6_route_info_create(): an IPv6 route added with metric 0 is stored with IP6_RT_PRIO_USER. */
export const IP6_RT_PRIO_USER = 1024;

// --- include/uapi/linux/if_link.h, if.h, if_addr.h ------------------------------------------------
export const IFLA_IFNAME = 3;
export const IFLA_OPERSTATE = 16;
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;

// --- include/uapi/linux/socket.h, rtnetlink.h multicast groups -------------------------------------
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const RTMGRP_LINK = 0x1;
export const RTMGRP_IPV4_IFADDR = 0x10;
export const RTMGRP_IPV4_ROUTE = 0x40;
export const RTMGRP_IPV6_IFADDR = 0x100;
export const RTMGRP_IPV6_ROUTE = 0x400;

const RTMSG_LEN = 12;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const RTNEXTHOP_LEN = 8;

function align4(n: number): number {
  return (n + 3) & ~3;
}

// ---------------------------------------------------------------------------------------------------
// errno names

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name] as const),
);

/** "ENETUNREACH" for 101; "E123" for a number this platform does not name. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

export const ENOENT = osConstants.errno.ENOENT;
export const ESRCH = osConstants.errno.ESRCH;
export const EEXIST = osConstants.errno.EEXIST;
export const ENODEV = osConstants.errno.ENODEV;
export const EINVAL = osConstants.errno.EINVAL;
export const ENOBUFS = osConstants.errno.ENOBUFS;
export const EBUSY = osConstants.errno.EBUSY;

// ---------------------------------------------------------------------------------------------------
// Kernel objects as decoded (and, for routes, as encoded)

export interface KernelNextHop {
  /** Text form ("10.0.0.2", RFC 5952 for IPv6); absent for a device route. */
  readonly gateway?: string;
  /** Outgoing interface; 0 when the kernel is left to choose (from the gateway). */
  readonly ifindex: number;
  /** RTNH_F_* bits: ONLINK on write; the kernel adds DEAD / LINKDOWN on read. */
  readonly flags: number;
  /** ECMP weight, 1..256 (rtnh_hops + 1). */
  readonly weight: number;
}

export interface KernelRoute {
  readonly prefix: Prefix;
  readonly table: number;
  readonly protocol: number;
  /** RTN_* */
  readonly type: number;
  /** RT_SCOPE_* */
  readonly scope: number;
  /** RTA_PRIORITY; 0 when absent. */
  readonly metric: number;
  readonly nextHops: readonly KernelNextHop[];
}

export interface KernelLink {
  readonly ifindex: number;
  readonly name: string;
  /** IFF_* */
  readonly flags: number;
}

export interface KernelAddress {
  readonly ifindex: number;
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefixLength: number;
}

export interface NetlinkError {
  /** Positive errno (the wire carries it negated); 0 is an ACK. */
  readonly errno: number;
  /** NLMSGERR_ATTR_MSG, e.g. "Nexthop has invalid gateway". */
  readonly message?: string;
}

// ---------------------------------------------------------------------------------------------------
// Encoding

/**
 * Appends netlink messages to one growing buffer: `begin()` a message, add its fixed header and
 * attributes, `end()` it; `datagram()` is everything written since `reset()`. One writer is reused for
 * every batch, so the hot path allocates nothing but the occasional growth.
 */
export class MessageWriter {
  private buf: Buffer;
  /** The same bytes: DataView writes are inlined by the JIT, Buffer's checked ones are not. */
  private view: DataView;
  private offset = 0;
  private messageStart = -1;
  private lastMessage = -1;
  /** Complete messages since reset(). */
  messages = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.alloc(initialBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  get length(): number {
    return this.offset;
  }

  reset(): void {
    this.offset = 0;
    this.messages = 0;
    this.messageStart = -1;
    this.lastMessage = -1;
  }

  /** A view of the bytes written (valid until the next write). */
  datagram(): Buffer {
    return this.buf.subarray(0, this.offset);
  }

  private reserve(bytes: number): void {
    if (this.offset + bytes <= this.buf.length) return;
    const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.offset + bytes));
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  begin(type: number, flags: number, seq: number): void {
    this.reserve(NLMSG_HDRLEN);
    this.messageStart = this.offset;
    this.view.setUint32(this.offset, 0, true); // nlmsg_len, patched by end()
    this.view.setUint16(this.offset + 4, type, true);
    this.view.setUint16(this.offset + 6, flags, true);
    this.view.setUint32(this.offset + 8, seq >>> 0, true);
    this.view.setUint32(this.offset + 12, 0, true); // nlmsg_pid: the kernel fills in ours
    this.offset += NLMSG_HDRLEN;
  }

  end(): void {
    this.view.setUint32(this.messageStart, this.offset - this.messageStart, true);
    this.messages += 1;
    this.lastMessage = this.messageStart;
    this.messageStart = -1;
  }

  /** Where the writer stands, for rollback() when encoding a message fails half-way. */
  mark(): number {
    return this.offset;
  }

  rollback(mark: number): void {
    this.offset = mark;
    this.messageStart = -1;
  }

  /** ORs nlmsg_flags of the last complete message (the ACK fence of a batch). */
  flagLast(flags: number): void {
    if (this.lastMessage < 0) return;
    const at = this.lastMessage + 6;
    this.view.setUint16(at, this.view.getUint16(at, true) | flags, true);
  }

  /** Zeroed bytes for a fixed header (rtmsg, ifinfomsg…); returns their offset for the field writes. */
  fixed(length: number): number {
    this.reserve(length);
    const at = this.offset;
    for (let i = at; i < at + length; i++) this.buf[i] = 0;
    this.offset += align4(length);
    return at;
  }

  u8(at: number, value: number): void {
    this.buf[at] = value;
  }

  u32At(at: number, value: number): void {
    this.view.setUint32(at, value >>> 0, true);
  }

  attrU32(type: number, value: number): void {
    this.reserve(8);
    this.view.setUint16(this.offset, 8, true);
    this.view.setUint16(this.offset + 2, type, true);
    this.view.setUint32(this.offset + 4, value >>> 0, true);
    this.offset += 8;
  }

  /** An address attribute from its text form; throws a TypeError for text of the wrong family. */
  attrAddress(type: number, family: 4 | 6, text: string): void {
    const size = family === 4 ? 4 : 16;
    this.reserve(4 + size);
    this.view.setUint16(this.offset, 4 + size, true);
    this.view.setUint16(this.offset + 2, type, true);
    if (family === 4) {
      const v4 = parseIpv4(text);
      if (v4 < 0) throw new TypeError(`not an IPv4 address: ${JSON.stringify(text)}`);
      this.view.setUint32(this.offset + 4, v4);
    } else {
      const v6 = parseIpv6(text);
      if (!v6) throw new TypeError(`not an IPv6 address: ${JSON.stringify(text)}`);
      this.buf.set(v6, this.offset + 4);
    }
    this.offset += 4 + size;
  }

  /** RTA_DST from a prefix's words. */
  attrPrefix(type: number, prefix: Prefix): void {
    const v4 = prefix.afi === Afi.Ipv4;
    this.reserve(v4 ? 8 : 20);
    this.view.setUint16(this.offset, v4 ? 8 : 20, true);
    this.view.setUint16(this.offset + 2, type, true);
    this.view.setUint32(this.offset + 4, prefix.w0);
    if (!v4) {
      this.view.setUint32(this.offset + 8, prefix.w1);
      this.view.setUint32(this.offset + 12, prefix.w2);
      this.view.setUint32(this.offset + 16, prefix.w3);
    }
    this.offset += v4 ? 8 : 20;
  }

  /** Opens a nested attribute (or an rtnexthop, `headerBytes` 8); close it with closeNest(). */
  openNest(type: number, headerBytes = 4): number {
    const at = this.fixed(headerBytes);
    if (headerBytes === 4) this.view.setUint16(at + 2, type, true);
    return at;
  }

  closeNest(at: number): void {
    this.view.setUint16(at, this.offset - at, true);
  }
}

export function familyOf(prefix: Prefix): 4 | 6 {
  return prefix.afi === Afi.Ipv4 ? 4 : 6;
}

/** RTM_NEWROUTE / RTM_DELROUTE. rtm_table carries ids up to 255, RTA_TABLE always (as iproute2). */
export function writeRouteMessage(
  w: MessageWriter,
  type: typeof RTM_NEWROUTE | typeof RTM_DELROUTE,
  flags: number,
  seq: number,
  route: KernelRoute,
): void {
  const family = familyOf(route.prefix);
  w.begin(type, flags, seq);
  const rtm = w.fixed(RTMSG_LEN);
  w.u8(rtm, family === 4 ? AF_INET : AF_INET6);
  w.u8(rtm + 1, route.prefix.length);
  w.u8(rtm + 4, route.table < 256 ? route.table : RT_TABLE_UNSPEC);
  w.u8(rtm + 5, route.protocol);
  w.u8(rtm + 6, route.scope);
  w.u8(rtm + 7, route.type);
  const single = route.nextHops.length === 1 ? route.nextHops[0] : undefined;
  if (single) w.u32At(rtm + 8, single.flags & RTNH_F_ONLINK);
  if (route.prefix.length > 0 || type === RTM_DELROUTE) w.attrPrefix(RTA_DST, route.prefix);
  w.attrU32(RTA_TABLE, route.table);
  if (route.metric > 0) w.attrU32(RTA_PRIORITY, route.metric);
  if (single) {
    if (single.gateway !== undefined) w.attrAddress(RTA_GATEWAY, family, single.gateway);
    if (single.ifindex > 0) w.attrU32(RTA_OIF, single.ifindex);
  } else if (route.nextHops.length > 1) {
    const multipath = w.openNest(RTA_MULTIPATH);
    for (const hop of route.nextHops) {
      // struct rtnexthop { u16 rtnh_len; u8 rtnh_flags; u8 rtnh_hops; int rtnh_ifindex; } + attributes
      const rtnh = w.openNest(0, RTNEXTHOP_LEN);
      w.u8(rtnh + 2, hop.flags & RTNH_F_ONLINK);
      w.u8(rtnh + 3, Math.max(0, Math.min(255, hop.weight - 1)));
      w.u32At(rtnh + 4, hop.ifindex);
      if (hop.gateway !== undefined) w.attrAddress(RTA_GATEWAY, family, hop.gateway);
      w.closeNest(rtnh);
    }
    w.closeNest(multipath);
  }
  w.end();
}

/**
 * RTM_GETROUTE dump. With NETLINK_GET_STRICT_CHK the kernel filters by table (RTA_TABLE), protocol
 * and type (ip_valid_fib_dump_req()), and every other rtmsg field must be zero.
 */
export function writeRouteDumpRequest(
  w: MessageWriter,
  seq: number,
  family: 4 | 6,
  filter: { table?: number; protocol?: number },
): void {
  w.begin(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  const rtm = w.fixed(RTMSG_LEN);
  w.u8(rtm, family === 4 ? AF_INET : AF_INET6);
  if (filter.table !== undefined) w.u8(rtm + 4, filter.table < 256 ? filter.table : RT_TABLE_UNSPEC);
  if (filter.protocol !== undefined) w.u8(rtm + 5, filter.protocol);
  if (filter.table !== undefined) w.attrU32(RTA_TABLE, filter.table);
  w.end();
}

/** RTM_GETLINK dump (strict checking wants the whole ifinfomsg). */
export function writeLinkDumpRequest(w: MessageWriter, seq: number): void {
  w.begin(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.fixed(IFINFOMSG_LEN);
  w.end();
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/**
 * Calls `each(type, flags, seq, offset, length)` for every message of a received datagram; `offset`
 * points at the nlmsghdr and `length` is nlmsg_len. Stops at a truncated or malformed header.
 */
export function forEachMessage(
  buf: Buffer,
  length: number,
  each: (type: number, flags: number, seq: number, offset: number, messageLength: number) => void,
): void {
  for (let offset = 0; offset + NLMSG_HDRLEN <= length;) {
    const messageLength = buf.readUInt32LE(offset);
    if (messageLength < NLMSG_HDRLEN || offset + messageLength > length) return;
    each(
      buf.readUInt16LE(offset + 4),
      buf.readUInt16LE(offset + 6),
      buf.readUInt32LE(offset + 8),
      offset,
      messageLength,
    );
    offset += align4(messageLength);
  }
}

/** Calls `each(type, payloadOffset, payloadLength)` for the rtattrs in [from, to). */
function forEachAttr(
  buf: Buffer,
  from: number,
  to: number,
  each: (type: number, at: number, length: number) => void,
): void {
  for (let at = from; at + 4 <= to;) {
    const length = buf.readUInt16LE(at);
    if (length < 4 || at + length > to) return;
    each(buf.readUInt16LE(at + 2) & 0x3fff, at + 4, length - 4); // mask NLA_F_NESTED / NET_BYTEORDER
    at += align4(length);
  }
}

function readAddress(buf: Buffer, at: number, length: number): string | undefined {
  if (length === 4) return formatIpv4(buf.readUInt32BE(at));
  if (length === 16) return formatIpv6(buf, at);
  return undefined;
}

function readPrefix(buf: Buffer, at: number, family: 4 | 6, length: number): Prefix {
  if (family === 4) return ipv4Prefix(at < 0 ? 0 : buf.readUInt32BE(at), length);
  const words = at < 0 ? [0, 0, 0, 0] : [0, 4, 8, 12].map((i) => buf.readUInt32BE(at + i));
  return ipv6Prefix(words, length);
}

/** Scratch fields peekRoute() fills in place (one object reused for every notification). */
export interface RoutePeek {
  v4: boolean;
  dstLength: number;
  table: number;
  protocol: number;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
}

/** Family, table, protocol and destination of a route message, into `out` without allocating;
 * false for a family other than IPv4/IPv6 or a malformed message. */
export function peekRoute(buf: Buffer, offset: number, messageLength: number, out: RoutePeek): boolean {
  const rtm = offset + NLMSG_HDRLEN;
  const end = offset + messageLength;
  if (messageLength < NLMSG_HDRLEN + RTMSG_LEN) return false;
  const af = buf[rtm];
  if (af !== AF_INET && af !== AF_INET6) return false;
  out.v4 = af === AF_INET;
  out.dstLength = buf[rtm + 1];
  out.table = buf[rtm + 4];
  out.protocol = buf[rtm + 5];
  out.w0 = out.w1 = out.w2 = out.w3 = 0;
  for (let at = rtm + RTMSG_LEN; at + 4 <= end;) {
    const length = buf.readUInt16LE(at);
    if (length < 4 || at + length > end) return false;
    const type = buf.readUInt16LE(at + 2) & 0x3fff;
    if (type === RTA_TABLE && length >= 8) out.table = buf.readUInt32LE(at + 4);
    else if (type === RTA_DST && length >= (out.v4 ? 8 : 20)) {
      out.w0 = buf.readUInt32BE(at + 4);
      if (!out.v4) {
        out.w1 = buf.readUInt32BE(at + 8);
        out.w2 = buf.readUInt32BE(at + 12);
        out.w3 = buf.readUInt32BE(at + 16);
      }
    }
    at += align4(length);
  }
  return true;
}

/** What a route notification says up front: enough to tell whose it is and which prefix. */
export interface RouteHead {
  readonly prefix: Prefix;
  readonly table: number;
  readonly protocol: number;
  /** RTA_PRIORITY; 0 when absent. */
  readonly metric: number;
}

/**
 * The head of an RTM_NEWROUTE / RTM_DELROUTE without the next hops: one pass over the attributes, no
 * text. The hot path of notifications, most of which are the echoes of our own writes.
 */
export function decodeRouteHead(buf: Buffer, offset: number, messageLength: number): RouteHead | undefined {
  const rtm = offset + NLMSG_HDRLEN;
  const end = offset + messageLength;
  if (messageLength < NLMSG_HDRLEN + RTMSG_LEN) return undefined;
  const af = buf[rtm];
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  let table = buf[rtm + 4];
  let metric = 0;
  let dst = -1;
  for (let at = rtm + RTMSG_LEN; at + 4 <= end;) {
    const length = buf.readUInt16LE(at);
    if (length < 4 || at + length > end) break;
    const type = buf.readUInt16LE(at + 2) & 0x3fff;
    if (type === RTA_DST) dst = at + 4;
    else if (type === RTA_TABLE && length >= 8) table = buf.readUInt32LE(at + 4);
    else if (type === RTA_PRIORITY && length >= 8) metric = buf.readUInt32LE(at + 4);
    at += align4(length);
  }
  const prefix = readPrefix(buf, dst, af === AF_INET ? 4 : 6, buf[rtm + 1]);
  return { prefix, table, protocol: buf[rtm + 5], metric };
}

/** An RTM_NEWROUTE / RTM_DELROUTE message; undefined for families other than IPv4 and IPv6. */
export function decodeRoute(buf: Buffer, offset: number, messageLength: number): KernelRoute | undefined {
  const rtm = offset + NLMSG_HDRLEN;
  if (messageLength < NLMSG_HDRLEN + RTMSG_LEN) return undefined;
  const af = buf[rtm];
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  const family = af === AF_INET ? 4 : 6;
  let table = buf[rtm + 4];
  let dst = -1;
  let metric = 0;
  let gateway: string | undefined;
  let ifindex = 0;
  let multipath: KernelNextHop[] | undefined;
  // Loops rather than forEachAttr(): dumps and notifications decode routes by the hundred thousand.
  const end = offset + messageLength;
  for (let a = rtm + RTMSG_LEN; a + 4 <= end;) {
    const attrLength = buf.readUInt16LE(a);
    if (attrLength < 4 || a + attrLength > end) break;
    const type = buf.readUInt16LE(a + 2) & 0x3fff;
    const at = a + 4;
    const length = attrLength - 4;
    if (type === RTA_DST) dst = at;
    else if (type === RTA_TABLE && length >= 4) table = buf.readUInt32LE(at);
    else if (type === RTA_PRIORITY && length >= 4) metric = buf.readUInt32LE(at);
    else if (type === RTA_GATEWAY) gateway = readAddress(buf, at, length);
    else if (type === RTA_OIF && length >= 4) ifindex = buf.readUInt32LE(at);
    else if (type === RTA_MULTIPATH) multipath = decodeMultipath(buf, at, length);
    a += align4(attrLength);
  }
  const flags = buf.readUInt32LE(rtm + 8);
  const nextHops: KernelNextHop[] =
    multipath ??
    (gateway !== undefined || ifindex > 0 ? [{ gateway, ifindex, flags: flags & 0xff, weight: 1 }] : []);
  return {
    prefix: readPrefix(buf, dst, family, buf[rtm + 1]),
    table,
    protocol: buf[rtm + 5],
    type: buf[rtm + 7],
    scope: buf[rtm + 6],
    metric,
    nextHops,
  };
}

function decodeMultipath(buf: Buffer, from: number, length: number): KernelNextHop[] {
  const hops: KernelNextHop[] = [];
  for (let at = from; at + RTNEXTHOP_LEN <= from + length;) {
    const rtnhLength = buf.readUInt16LE(at);
    if (rtnhLength < RTNEXTHOP_LEN || at + rtnhLength > from + length) break;
    let gateway: string | undefined;
    for (let a = at + RTNEXTHOP_LEN; a + 4 <= at + rtnhLength;) {
      const attrLength = buf.readUInt16LE(a);
      if (attrLength < 4 || a + attrLength > at + rtnhLength) break;
      if ((buf.readUInt16LE(a + 2) & 0x3fff) === RTA_GATEWAY)
        gateway = readAddress(buf, a + 4, attrLength - 4);
      a += align4(attrLength);
    }
    hops.push({ gateway, ifindex: buf.readInt32LE(at + 4), flags: buf[at + 2], weight: buf[at + 3] + 1 });
    at += align4(rtnhLength);
  }
  return hops;
}

/** RTM_NEWLINK / RTM_DELLINK. */
export function decodeLink(buf: Buffer, offset: number, messageLength: number): KernelLink | undefined {
  const ifi = offset + NLMSG_HDRLEN;
  if (messageLength < NLMSG_HDRLEN + IFINFOMSG_LEN) return undefined;
  let name = '';
  forEachAttr(buf, ifi + IFINFOMSG_LEN, offset + messageLength, (type, at, length) => {
    if (type === IFLA_IFNAME) name = buf.toString('latin1', at, at + length).replace(/\0.*$/s, '');
  });
  return { ifindex: buf.readInt32LE(ifi + 4), name, flags: buf.readUInt32LE(ifi + 8) };
}

/** RTM_NEWADDR / RTM_DELADDR (IFA_LOCAL when present: on point-to-point links IFA_ADDRESS is the peer). */
export function decodeAddress(buf: Buffer, offset: number, messageLength: number): KernelAddress | undefined {
  const ifa = offset + NLMSG_HDRLEN;
  if (messageLength < NLMSG_HDRLEN + IFADDRMSG_LEN) return undefined;
  const af = buf[ifa];
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  let address: string | undefined;
  let local: string | undefined;
  forEachAttr(buf, ifa + IFADDRMSG_LEN, offset + messageLength, (type, at, length) => {
    if (type === IFA_ADDRESS) address = readAddress(buf, at, length);
    else if (type === IFA_LOCAL) local = readAddress(buf, at, length);
  });
  const text = local ?? address;
  if (text === undefined) return undefined;
  return {
    ifindex: buf.readUInt32LE(ifa + 4),
    family: af === AF_INET ? 4 : 6,
    address: text,
    prefixLength: buf[ifa + 1],
  };
}

/**
 * NLMSG_ERROR (struct nlmsgerr: int error; struct nlmsghdr msg; then the request's payload unless
 * NLM_F_CAPPED, then extended-ack TLVs when NLM_F_ACK_TLVS) or the int of an NLMSG_DONE. Returns the
 * errno (positive, 0 for an ACK) and the kernel's message, and the sequence number of the request.
 */
export function decodeError(
  buf: Buffer,
  offset: number,
  messageLength: number,
  flags: number,
  type = NLMSG_ERROR,
): NetlinkError {
  const at = offset + NLMSG_HDRLEN;
  if (messageLength < NLMSG_HDRLEN + 4) return { errno: 0 };
  const code = buf.readInt32LE(at);
  const errno = code === 0 ? 0 : -code;
  if (!(flags & NLM_F_ACK_TLVS)) return { errno };
  let tlvs = at + 4;
  if (type === NLMSG_ERROR) {
    const request = at + 4;
    if (request + NLMSG_HDRLEN > offset + messageLength) return { errno };
    tlvs = flags & NLM_F_CAPPED ? request + NLMSG_HDRLEN : request + align4(buf.readUInt32LE(request));
  }
  let message: string | undefined;
  forEachAttr(buf, tlvs, offset + messageLength, (attr, a, l) => {
    if (attr === NLMSGERR_ATTR_MSG) message = buf.toString('utf8', a, a + l).replace(/\0.*$/s, '');
  });
  return message === undefined ? { errno } : { errno, message };
}
