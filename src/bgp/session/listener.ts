// Accepts BGP connections on one address and port (RFC 4271 §8.2.1: TCP port 179 by default) and hands
// each to the configured peer it comes from. A connection from an address no peer is configured for is
// closed at once and counted; it never gets a session, and a flood of them never floods the log.

import net from 'node:net';
import { systemClock } from '../../lib/clock.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/log.ts';
import type { Peer } from './peer.ts';
import { socketOptions } from './peer-config.ts';
import { applyListenerOptions } from '../../lib/tcp-options.ts';
import { setMinTtl, setTtl, socketFamily, socketFd } from '../../lib/native.ts';

/** "::ffff:192.0.2.1" (an IPv4 peer on a dual-stack socket) → "192.0.2.1". */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Connections from unconfigured addresses since the process started, over every listener. */
let unconfiguredTotal = 0;

/** brindle_bgp_unconfigured_connections_total: a process-wide count, so it survives a new router. */
export function unconfiguredConnectionsTotal(): number {
  return unconfiguredTotal;
}

/** The interval of the summary line, and how many connections are logged one by one per interval. */
const SUMMARY_INTERVAL_MS = 60_000;
const LOGGED_PER_INTERVAL = 5;
/** Sources counted one by one per interval; beyond that they are only in the total (memory bound). */
const SOURCES_PER_INTERVAL = 1024;
const TOP_SOURCES = 5;

/**
 * The log of connections from unconfigured addresses, rate-limited: within an interval the first
 * connection of each new source is logged, up to LOGGED_PER_INTERVAL lines; everything else is counted,
 * and one summary line at the end of the interval names the busiest sources.
 */
export class UnconfiguredConnectionLog {
  private readonly bySource = new Map<string, number>();
  private connections = 0;
  private logged = 0;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly intervalMs = SUMMARY_INTERVAL_MS,
  ) {}

  record(remote: string): void {
    unconfiguredTotal++;
    this.connections++;
    const seen = this.bySource.get(remote);
    if (seen !== undefined) this.bySource.set(remote, seen + 1);
    else if (this.bySource.size < SOURCES_PER_INTERVAL) this.bySource.set(remote, 1);
    if (seen === undefined && this.logged < LOGGED_PER_INTERVAL) {
      this.logged++;
      this.log.warn({ event: 'unknown-peer', remote }, 'connection from an unconfigured address closed');
    }
    this.timer ??= this.clock.setTimer(this.intervalMs, () => this.summarize());
  }

  /** The summary line, when the interval saw more than was logged one by one; then a new interval. */
  private summarize(): void {
    this.timer = undefined;
    const { connections, logged } = this;
    if (connections > logged) {
      const top = [...this.bySource]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP_SOURCES)
        .map(([remote, n]) => `${remote} (${n})`);
      const seconds = Math.round(this.intervalMs / 1000);
      this.log.warn(
        {
          event: 'unknown-peer-summary',
          connections,
          intervalSec: seconds,
          sources: this.bySource.size,
          top,
        },
        `${connections} connections from unconfigured addresses in the last ${seconds} s: top sources ${top.join(', ')}`,
      );
    }
    this.bySource.clear();
    this.connections = 0;
    this.logged = 0;
  }

  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}

export class BgpListener {
  private readonly server: net.Server;
  /** Connections closed because no peer is configured for their address. */
  rejectedUnknown = 0;
  /** Connections a configured peer refused (Idle, or a collision already in progress). */
  rejectedByPeer = 0;
  private readonly unconfigured: UnconfiguredConnectionLog;

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly lookup: (remoteAddress: string) => Peer | undefined,
    private readonly log: Logger,
    clock: Clock = systemClock,
  ) {
    this.unconfigured = new UnconfiguredConnectionLog(log, clock);
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false }, (socket) =>
      this.onConnection(socket),
    );
    this.server.on('error', (e) =>
      this.log.error({ event: 'listener-error', address, port, reason: e.message }, 'BGP listener error'),
    );
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const remote = normalizeAddress(socket.remoteAddress ?? '');
    const peer = this.lookup(remote);
    if (!peer) {
      socket.destroy();
      this.rejectedUnknown++;
      this.unconfigured.record(remote);
      return;
    }
    if (!this.applyPeerOptions(socket, peer) || !peer.acceptIncoming(socket)) {
      this.rejectedByPeer++;
      socket.destroy();
    }
  }

  /**
   * TTL and GTSM for an accepted connection, set before our OPEN goes out. (The SYN itself was not
   * TTL-checked: one listener serves peers with different settings. MD5 keys, which must sign the
   * SYN, are set on the listener by setMd5Key.)
   */
  private applyPeerOptions(socket: net.Socket, peer: Peer): boolean {
    const { ttl, minTtl } = socketOptions(peer.config);
    if (ttl === undefined && minTtl === undefined) return true;
    try {
      const fd = socketFd(socket);
      const family = socketFamily(fd);
      if (ttl !== undefined) setTtl(fd, family, ttl);
      if (minTtl !== undefined) setMinTtl(fd, family, minTtl);
      return true;
    } catch (error) {
      this.log.error(
        { event: 'socket-options', peer: peer.config.name, reason: String(error) },
        'cannot set TTL/GTSM on an accepted connection',
      );
      return false;
    }
  }

  /**
   * RFC 5082 §3: a GTSM peer drops anything below its minimum TTL, the SYN-ACK included, which the
   * kernel sends before any accepted socket exists: with a GTSM peer, the listener sends with TTL 255.
   */
  enableGtsm(): void {
    try {
      applyListenerOptions(this.server, { ttl: 255 });
    } catch (error) {
      this.log.error({ event: 'gtsm', reason: String(error) }, 'cannot set TTL 255 on the listener');
    }
  }

  /** RFC 2385: the key the listener expects on SYNs from `address` ("" removes it). */
  setMd5Key(address: string, key: string): void {
    try {
      applyListenerOptions(this.server, { md5: [{ address, key }] });
    } catch (error) {
      this.log.error(
        { event: 'md5', remote: address, reason: String(error) },
        'cannot set the TCP MD5 key on the listener',
      );
    }
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once('error', onError);
      this.server.listen({ host: this.address, port: this.port, exclusive: true }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /** The bound port (useful when listening on port 0 in tests). */
  get boundPort(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : this.port;
  }

  close(): Promise<void> {
    this.unconfigured.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
