// Accepts BGP connections on one address and port (RFC 4271 §8.2.1: TCP port 179 by default) and hands
// each to the configured peer it comes from. A connection from an address no peer is configured for is
// closed at once and counted; it never gets a session.

import net from 'node:net';
import type { Logger } from '../../lib/log.ts';
import type { Peer } from './peer.ts';

/** "::ffff:192.0.2.1" (an IPv4 peer on a dual-stack socket) → "192.0.2.1". */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class BgpListener {
  private readonly server: net.Server;
  /** Connections closed because no peer is configured for their address. */
  rejectedUnknown = 0;
  /** Connections a configured peer refused (Idle, or a collision already in progress). */
  rejectedByPeer = 0;

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly lookup: (remoteAddress: string) => Peer | undefined,
    private readonly log: Logger,
  ) {
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
      this.rejectedUnknown++;
      this.log.warn({ event: 'unknown-peer', remote }, 'connection from an unconfigured address closed');
      socket.destroy();
      return;
    }
    if (!peer.acceptIncoming(socket)) {
      this.rejectedByPeer++;
      socket.destroy();
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
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
