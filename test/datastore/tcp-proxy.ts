// A loopback TCP proxy a test can cut and restore: one client loses etcd while etcd stays up for others.

import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

import { freePort } from '../helpers/netns.ts';

export interface TcpProxy {
  /** `http://127.0.0.1:<proxy port>`. */
  readonly endpoint: string;
  /** Drop every connection and refuse new ones, like a partition with RSTs. */
  cut(): Promise<void>;
  /** Accept connections again on the same port; to `targetPort` when given (another etcd, same address). */
  restore(targetPort?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let target = targetPort;
  let server: Server | undefined;
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const listen = async (): Promise<void> => {
    server = createServer((inbound) => {
      const outbound = createConnection({ host: '127.0.0.1', port: target });
      track(inbound);
      track(outbound);
      inbound.pipe(outbound).pipe(inbound);
      inbound.once('error', () => outbound.destroy());
      outbound.once('error', () => inbound.destroy());
      inbound.once('close', () => outbound.destroy());
      outbound.once('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server?.once('error', reject);
      server?.listen(port, '127.0.0.1', resolve);
    });
  };
  const cut = async (): Promise<void> => {
    const closing = server;
    server = undefined;
    for (const socket of sockets) socket.resetAndDestroy();
    if (closing !== undefined) await new Promise<void>((resolve) => closing.close(() => resolve()));
  };
  await listen();
  const restore = (next?: number): Promise<void> => {
    target = next ?? target;
    return listen();
  };
  return { endpoint: `http://127.0.0.1:${port}`, cut, restore, close: cut };
}
