// A hand-driven BGP peer for tests: a raw TCP socket that sends exactly the bytes a test writes and
// decodes what Brindle sends back. Used for timers, malformed input and misbehaving-peer cases.
import net from 'node:net';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import { decodeMessage } from '../../src/bgp/codec/message.ts';
import { encodeOpen } from '../../src/bgp/codec/open.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import type { BgpMessage, Capability, CodecContext, OpenMessage } from '../../src/bgp/types.ts';

const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 65535, external: false };

export const STANDARD_CAPABILITIES: Capability[] = [
  { code: 1, afi: 1, safi: 1 },
  { code: 1, afi: 2, safi: 1 },
  { code: 2 },
  { code: 65, asn: 64512 },
];

export function openFor(
  asn: number,
  bgpIdentifier: number,
  holdTimeSec = 90,
  capabilities = STANDARD_CAPABILITIES,
): Omit<OpenMessage, 'type'> {
  return {
    version: 4,
    myAutonomousSystem: asn > 0xffff ? 23456 : asn,
    holdTimeSec,
    bgpIdentifier,
    capabilities: capabilities.map((c) => (c.code === 65 && !('unknown' in c) ? { code: 65, asn } : c)),
    unsupportedParameters: [],
    extendedParameters: false,
  };
}

export class ScriptedPeer {
  private readonly framer = new MessageFramer();
  private readonly queue: (BgpMessage | BgpError)[] = [];
  private waiter: (() => void) | undefined;
  closed = false;
  /** How received messages are decoded: set addPath when the session negotiated ADD-PATH. */
  context: CodecContext = CTX;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      for (let f = this.framer.next(); f !== undefined; f = this.framer.next()) {
        if (f instanceof BgpError) {
          this.queue.push(f);
          break;
        }
        const d = decodeMessage(f, this.context, true);
        this.queue.push(d.ok ? d.message : d.error);
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static connect(host: string, port: number, localAddress?: string): Promise<ScriptedPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, localAddress });
      socket.once('connect', () => resolve(new ScriptedPeer(socket)));
      socket.once('error', reject);
    });
  }

  /** Listens on address:port until one connection arrives (or `ms` pass), then stops listening. */
  static accept(address: string, port: number, ms = 10_000): Promise<ScriptedPeer> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        clearTimeout(timer);
        server.close();
        resolve(new ScriptedPeer(socket));
      });
      const timer = setTimeout(() => {
        server.close();
        reject(new Error('no connection'));
      }, ms);
      server.once('error', reject);
      server.listen(port, address);
    });
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  sendOpen(open: Omit<OpenMessage, 'type'>): void {
    this.send(encodeOpen(open));
  }

  /** The next message Brindle sent, or undefined when the connection closed or `ms` passed. */
  async next(ms = 5000): Promise<BgpMessage | BgpError | undefined> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0 && !this.closed && Date.now() < deadline) {
      // A timer that holds the event loop: a test waiting here with nothing else alive fails at the
      // deadline instead of its process ending quietly with the test unfinished.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift();
  }

  /** Skips messages until one of `type` arrives. */
  async nextOfType(type: number, ms = 5000): Promise<BgpMessage | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (m === undefined || m instanceof BgpError) return undefined;
      if (m.type === type) return m;
    }
  }

  /** Resolves when Brindle closed the connection (true) or after `ms` (false). */
  async waitClosed(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
