// Test helpers for BGP sessions between in-process peers on loopback: each speaker gets its own
// 127.x.y.z address (unique per test process), so test files running in parallel never collide.
import { firstValueFrom, filter, timeout } from 'rxjs';
import { BgpListener } from '../../src/bgp/session/listener.ts';
import { Peer } from '../../src/bgp/session/peer.ts';
import type { SessionEvent } from '../../src/bgp/session/peer.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { PeerConfig } from '../../src/bgp/session/peer-config.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import type { Clock } from '../../src/lib/clock.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';

let nextHost = 1;
const block = 20 + (process.pid % 200);

/** A fresh loopback address for this test process: 127.<pid-derived>.<n>.1. */
export function loopbackAddress(): string {
  return `127.${block}.${nextHost++}.1`;
}

export const TEST_PORT = 17_900;

export interface Speaker {
  readonly address: string;
  readonly listener: BgpListener;
  readonly peers: Map<string, Peer>;
  /** Adds a peer towards `remote` and starts it. */
  peerWith(remote: Speaker | string, fields: Partial<PeerConfig> & { localAs: number; peerAs: number }): Peer;
  close(): Promise<void>;
}

export interface SpeakerOptions {
  readonly routerId?: string;
  readonly clock?: Clock;
  readonly port?: number;
  /** The address to listen on and connect from; a fresh loopback address by default. */
  readonly address?: string;
}

export async function speaker(options: SpeakerOptions | string = {}): Promise<Speaker> {
  const {
    routerId,
    clock = systemClock,
    port = TEST_PORT,
    address = loopbackAddress(),
  } = typeof options === 'string' ? { routerId: options } : options;
  const peers = new Map<string, Peer>();
  const listener = new BgpListener(address, port, (remote) => peers.get(remote), silentLogger);
  await listener.listen();
  return {
    address,
    listener,
    peers,
    peerWith(remote, fields) {
      const remoteAddress = typeof remote === 'string' ? remote : remote.address;
      const config = peerConfig({
        name: `peer-${remoteAddress}`,
        remoteAddress,
        remotePort: port,
        localAddress: address,
        routerId: parseIpv4(routerId ?? address),
        timers: { connectDelayTimeSec: 0, connectRetryTimeSec: 1, idleHoldTimeSec: 1 },
        ...fields,
      });
      const peer = new Peer(config, clock, silentLogger);
      peers.set(remoteAddress, peer);
      peer.start();
      return peer;
    },
    async close() {
      for (const peer of peers.values()) peer.close();
      await listener.close();
    },
  };
}

/** The next event of a peer that matches, or an error after `ms`. */
export function nextEvent<K extends SessionEvent['kind']>(
  peer: Peer,
  kind: K,
  ms = 5000,
): Promise<Extract<SessionEvent, { kind: K }>> {
  return firstValueFrom(
    peer.events$.pipe(
      filter((e): e is Extract<SessionEvent, { kind: K }> => e.kind === kind),
      timeout(ms),
    ),
  );
}

/** Resolves once the peer is in `state` (polling, bounded by `ms`). */
export async function waitForState(peer: Peer, state: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (peer.state !== state) {
    if (Date.now() > deadline) throw new Error(`peer still ${peer.state}, not ${state}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
