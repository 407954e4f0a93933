// The FIB backend on rtnetlink: two sockets from the native addon. The request socket carries route
// writes (batches of up to 256 messages per sendto, ACK-fenced, several batches in flight) and dumps
// (strict-checked, so the kernel filters by table and protocol); the monitor socket is bound to the
// link, address and route multicast groups and turns notifications into KernelEvents — all but the
// echoes of this backend's own writes, which it matches out (echoes.ts).

import { requireNative } from '../lib/native.ts';
import { prefixKey, wordsKey } from '../lib/prefix.ts';
import {
  decodeAddress,
  decodeLink,
  decodeRoute,
  decodeRouteHead,
  peekRoute,
  EINVAL,
  ENOBUFS,
  ENOENT,
  familyOf,
  MessageWriter,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTMGRP_IPV4_IFADDR,
  RTMGRP_IPV4_ROUTE,
  RTMGRP_IPV6_IFADDR,
  RTMGRP_IPV6_ROUTE,
  RTMGRP_LINK,
  writeLinkDumpRequest,
  writeRouteDumpRequest,
  writeRouteMessage,
} from './netlink.ts';
import type { KernelLink, KernelRoute, RouteHead, RoutePeek } from './netlink.ts';
import { EchoQueue, echoScope } from './echoes.ts';
import { NetlinkSocket } from './netlink-socket.ts';
import type { BatchReply } from './netlink-socket.ts';
import { OP_OK } from './types.ts';
import type {
  BackendCounters,
  FibBackend,
  FibOp,
  FibOpResult,
  KernelEvent,
  RouteDumpFilter,
  RouteEvent,
} from './types.ts';

/** Messages per sendto (platform.md §2: 256). */
const BATCH_SIZE = 256;
const REQUEST_RCVBUF_BYTES = 8 << 20;
/** The monitor sees one notification per route written, ours included: room for a few batches' worth
 * when the loop is busy. Needs CAP_NET_ADMIN (SO_RCVBUFFORCE) to exceed rmem_max. */
const MONITOR_RCVBUF_BYTES = 32 << 20;
const MONITOR_GROUPS =
  RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
const DUMP_ATTEMPTS = 5;

const NEW_FLAGS = {
  add: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
  replace: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
  delete: NLM_F_REQUEST,
} as const;

export class NetlinkBackend implements FibBackend {
  private refs = 0;
  private request: NetlinkSocket | undefined;
  private monitor: NetlinkSocket | undefined;
  private readonly listeners = new Set<(event: KernelEvent) => void>();
  private readonly writer = new MessageWriter();
  private dumpChain: Promise<unknown> = Promise.resolve();
  private eventsReceived = 0;
  private echoesDropped = 0;
  private readonly echoes = new EchoQueue();
  private readonly peek: RoutePeek = {
    v4: true,
    dstLength: 0,
    table: 0,
    protocol: 0,
    w0: 0,
    w1: 0,
    w2: 0,
    w3: 0,
  };

  open(): Promise<void> {
    if (this.refs++ > 0) return Promise.resolve();
    const native = requireNative();
    // The monitor first: whatever changes after it is open is seen, so a dump taken next and the
    // events that follow it leave no gap.
    this.monitor = new NetlinkSocket(native, {
      groups: MONITOR_GROUPS,
      rcvbufBytes: MONITOR_RCVBUF_BYTES,
      // One notification per route written: drain a whole window of batches per turn.
      maxDatagramsPerTurn: 16_384,
      onNotification: (type, flags, buf, offset, length) => this.notify(type, flags, buf, offset, length),
      onOverrun: () => {
        this.echoes.clear(); // some of the dropped may have been echoes: nothing can be matched
        this.emit({ kind: 'overrun' });
      },
    });
    try {
      this.request = new NetlinkSocket(native, { rcvbufBytes: REQUEST_RCVBUF_BYTES });
    } catch (error) {
      this.monitor.close();
      this.monitor = undefined;
      this.refs = 0;
      throw error;
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.refs === 0 || --this.refs > 0) return Promise.resolve();
    this.request?.close();
    this.monitor?.close();
    this.request = this.monitor = undefined;
    return Promise.resolve();
  }

  get counters(): BackendCounters {
    return {
      messagesSent: this.request?.messagesSent ?? 0,
      datagramsSent: this.request?.datagramsSent ?? 0,
      eventsReceived: this.eventsReceived,
      echoesDropped: this.echoesDropped,
      overruns: (this.request?.overruns ?? 0) + (this.monitor?.overruns ?? 0),
    };
  }

  subscribe(listener: (event: KernelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async apply(ops: readonly FibOp[]): Promise<FibOpResult[]> {
    const results = new Array<FibOpResult>(ops.length).fill(OP_OK);
    const replies: Promise<void>[] = [];
    for (let start = 0; start < ops.length; start += BATCH_SIZE) {
      const end = Math.min(ops.length, start + BATCH_SIZE);
      replies.push(this.sendBatch(ops, start, end, results));
    }
    await Promise.all(replies);
    return results;
  }

  /** One datagram for ops[start, end); an op that cannot be encoded fails alone with EINVAL. */
  private async sendBatch(ops: readonly FibOp[], start: number, end: number, results: FibOpResult[]) {
    const socket = this.socket();
    const w = this.writer;
    w.reset();
    const first = socket.reserveSeq(end - start);
    const slots: number[] = []; // op index of each message written, by position in the datagram
    const tickets: number[] = []; // its expected echo, by position
    for (let i = start; i < end; i++) {
      const mark = w.mark();
      const op = ops[i];
      try {
        writeRouteMessage(
          w,
          op.op === 'delete' ? RTM_DELROUTE : RTM_NEWROUTE,
          NEW_FLAGS[op.op],
          first + slots.length,
          op.route,
        );
        slots.push(i);
        tickets.push(
          this.echoes.expect(echoScope(op.route.table, op.route.protocol), prefixKey(op.route.prefix)),
        );
      } catch (error) {
        w.rollback(mark);
        results[i] = { ok: false, errno: EINVAL, message: (error as Error).message };
      }
    }
    if (slots.length === 0) return;
    w.flagLast(NLM_F_ACK);
    let reply: BatchReply;
    try {
      reply = await socket.sendBatch(w.datagram(), first, slots.length);
    } catch (error) {
      const errno = (error as { errno?: number }).errno ?? EINVAL;
      for (const i of slots)
        results[i] = { ok: false, errno: Math.abs(errno), message: (error as Error).message };
      for (const ticket of tickets) this.echoes.cancel(ticket);
      return;
    }
    if (reply.lost) {
      // Unknown outcome: if applied after all, the echo reaches listeners, who resynchronise anyway.
      for (const i of slots) results[i] = { ok: false, errno: ENOBUFS, message: 'reply lost (ENOBUFS)' };
      for (const ticket of tickets) this.echoes.cancel(ticket);
      return;
    }
    for (const [position, error] of reply.errors ?? []) {
      results[slots[position]] = { ok: false, ...error };
      this.echoes.cancel(tickets[position]); // refused: nothing will be notified
    }
  }

  private isEcho(buf: Buffer, offset: number, length: number): boolean {
    const p = this.peek;
    if (!peekRoute(buf, offset, length, p)) return false;
    if (this.echoes.size === 0) return false;
    const key = wordsKey(p.v4, p.dstLength, p.w0, p.w1, p.w2, p.w3);
    if (!this.echoes.consume(echoScope(p.table, p.protocol), key)) return false;
    this.echoesDropped += 1;
    return true;
  }

  dumpRoutes(filter: RouteDumpFilter): Promise<KernelRoute[]> {
    return this.serial(async () => {
      const routes: KernelRoute[] = [];
      for (const family of filter.family ? [filter.family] : ([4, 6] as const)) {
        // A table nothing was ever added to does not exist yet: ENOENT ("FIB table does not exist").
        const found = await this.dumpFamily(family, filter).catch((error: { errno?: number }) => {
          if (error.errno === ENOENT) return [];
          throw error;
        });
        routes.push(...found);
      }
      return routes;
    });
  }

  private async dumpFamily(family: 4 | 6, filter: RouteDumpFilter): Promise<KernelRoute[]> {
    for (let attempt = 1; ; attempt++) {
      const routes: KernelRoute[] = [];
      const interrupted = await this.dumpOnce(
        (w, seq) => writeRouteDumpRequest(w, seq, family, filter),
        (type, buf, offset, length) => {
          if (type !== RTM_NEWROUTE) return;
          const route = decodeRoute(buf, offset, length);
          // The kernel filters already; this keeps older kernels without strict checking right.
          if (!route || route.table !== filter.table || familyOf(route.prefix) !== family) return;
          if (filter.protocol === undefined || route.protocol === filter.protocol) routes.push(route);
        },
      );
      if (!interrupted || attempt === DUMP_ATTEMPTS) return routes;
    }
  }

  dumpLinks(): Promise<KernelLink[]> {
    return this.serial(async () => {
      for (let attempt = 1; ; attempt++) {
        const links: KernelLink[] = [];
        const interrupted = await this.dumpOnce(writeLinkDumpRequest, (type, buf, offset, length) => {
          const link = type === RTM_NEWLINK ? decodeLink(buf, offset, length) : undefined;
          if (link) links.push(link);
        });
        if (!interrupted || attempt === DUMP_ATTEMPTS) return links;
      }
    });
  }

  private dumpOnce(
    build: (w: MessageWriter, seq: number) => void,
    onMessage: (type: number, buf: Buffer, offset: number, length: number) => void,
  ): Promise<boolean> {
    const socket = this.socket();
    const seq = socket.reserveSeq(1);
    this.writer.reset();
    build(this.writer, seq);
    return socket.dump(this.writer.datagram(), seq, onMessage);
  }

  /** One dump at a time: the kernel answers a second concurrent dump on a socket with EBUSY. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.dumpChain.then(task, task);
    this.dumpChain = result.catch(() => undefined);
    return result;
  }

  private socket(): NetlinkSocket {
    if (!this.request) throw new Error('netlink backend is not open');
    return this.request;
  }

  private notify(type: number, flags: number, buf: Buffer, offset: number, length: number): void {
    this.eventsReceived += 1;
    const route = type === RTM_NEWROUTE || type === RTM_DELROUTE;
    if (route && this.isEcho(buf, offset, length)) return;
    if (this.listeners.size === 0) return;
    if (route) return this.notifyRoute(type, flags, buf, offset, length);
    const event = decodeEvent(type, buf, offset, length);
    if (event) this.emit(event);
  }

  private notifyRoute(type: number, flags: number, buf: Buffer, offset: number, length: number): void {
    const head = decodeRouteHead(buf, offset, length);
    if (!head) return;
    const event = new LazyRouteEvent(
      type === RTM_NEWROUTE ? 'new' : 'delete',
      flags,
      head,
      buf,
      offset,
      length,
    );
    this.emit(event);
    event.expire();
  }

  private emit(event: KernelEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}

/** A notification whose route is decoded only if a listener asks, while the buffer still holds it.
 * A class, not a closure per event: tsx/esbuild's keepNames wraps every closure in __name(). */
class LazyRouteEvent implements RouteEvent {
  readonly kind = 'route';
  readonly replaced: boolean;
  private decoded: KernelRoute | undefined;
  private buf: Buffer | undefined;

  constructor(
    readonly action: 'new' | 'delete',
    flags: number,
    readonly head: RouteHead,
    buf: Buffer,
    private readonly offset: number,
    private readonly length: number,
  ) {
    this.replaced = (flags & NLM_F_REPLACE) !== 0;
    this.buf = buf;
  }

  route(): KernelRoute {
    if (this.decoded) return this.decoded;
    if (!this.buf) throw new Error('route notification decoded after its listener returned');
    const route = decodeRoute(this.buf, this.offset, this.length);
    if (!route) throw new Error('undecodable route notification'); // its head decoded, so never
    this.decoded = route;
    return route;
  }

  expire(): void {
    this.buf = undefined;
  }
}

function decodeEvent(type: number, buf: Buffer, offset: number, length: number): KernelEvent | undefined {
  switch (type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      const link = decodeLink(buf, offset, length);
      return link && { kind: 'link', action: type === RTM_NEWLINK ? 'new' : 'delete', link };
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      const address = decodeAddress(buf, offset, length);
      return address && { kind: 'address', action: type === RTM_NEWADDR ? 'new' : 'delete', address };
    }
    default:
      return undefined;
  }
}
