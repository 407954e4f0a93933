// GET /api/v1/events/routes: best-path changes as Server-Sent Events, one `best-path` event per
// destination whose best path (or ECMP set) changed, as the Loc-RIB decides them. Each change is
// serialised once, when decided, and written to every client in slices of `SLICE_EVENTS`, one slice per
// event-loop turn, so a large batch of decisions neither blocks the loop nor lands in a client's
// buffer at once. A client that does not keep up is disconnected when its unsent output passes
// `maxBufferedBytes`: it can reconnect and re-read the table, while buffering for it without bound
// would let one stalled reader exhaust the daemon's memory. At most `maxClients` are served.

import type { ServerResponse } from 'node:http';
import type { Subscription } from 'rxjs';
import { formatPrefix } from '../lib/prefix.ts';
import type { Logger } from '../lib/log.ts';
import type { BestPathChange } from '../rib/loc-rib.ts';
import { destFamily } from '../metrics/rib-census.ts';
import { ribChanges } from '../metrics/source.ts';
import type { BrindleSource } from '../metrics/source.ts';
import { HttpError } from './http.ts';
import { attributesView } from './route-view.ts';

export interface RouteEventsOptions {
  /** Unsent bytes (socket and response buffers) above which a client is dropped. */
  readonly maxBufferedBytes?: number;
  /** Comment lines keep idle connections open through proxies. */
  readonly heartbeatMs?: number;
  readonly maxClients?: number;
}

export const DEFAULT_SSE_BUFFER_BYTES = 1024 * 1024;
export const DEFAULT_SSE_CLIENTS = 32;
const DEFAULT_HEARTBEAT_MS = 15_000;
/** Events written per client per event-loop turn. */
const SLICE_EVENTS = 256;

export class RouteEvents {
  private readonly clients = new Set<ServerResponse>();
  /** Only while a client is attached: listening makes the Loc-RIB build an object per change. */
  private subscription: Subscription | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxBufferedBytes: number;
  private readonly maxClients: number;
  /** Serialised events not yet written (they are written a slice per turn). */
  private pending: string[] = [];
  private flushScheduled = false;
  private nextId = 1;
  /** Clients disconnected for falling behind, since start. */
  dropped = 0;

  constructor(
    private readonly source: BrindleSource,
    private readonly log: Logger,
    options: RouteEventsOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_SSE_BUFFER_BYTES;
    this.maxClients = options.maxClients ?? DEFAULT_SSE_CLIENTS;
    this.heartbeat = setInterval(
      () => this.broadcast(': keep-alive\n\n'),
      options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    );
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Takes over a response: headers now, events as they come, until the client leaves or is dropped. */
  attach(response: ServerResponse): void {
    if (this.clients.size >= this.maxClients)
      throw new HttpError(503, `already serving ${this.maxClients} route event clients`);
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write('retry: 2000\n: brindle best-path changes\n\n');
    this.clients.add(response);
    this.subscription ??= ribChanges(this.source).subscribe((batch) => this.publish(batch));
    response.on('close', () => this.forget(response));
  }

  private forget(client: ServerResponse): void {
    this.clients.delete(client);
    if (this.clients.size > 0) return;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  private publish(changes: readonly BestPathChange[]): void {
    if (this.clients.size === 0) return;
    for (const change of changes)
      this.pending.push(
        `id: ${this.nextId++}\nevent: best-path\ndata: ${JSON.stringify(changeView(change))}\n\n`,
      );
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.pending.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes one slice of pending events to every client, then yields to the event loop. */
  private flush(): void {
    this.flushScheduled = false;
    const slice = this.pending.length <= SLICE_EVENTS ? this.pending : this.pending.slice(0, SLICE_EVENTS);
    this.pending = slice === this.pending ? [] : this.pending.slice(SLICE_EVENTS);
    if (this.clients.size === 0) this.pending = [];
    else this.broadcast(slice.join(''));
    this.scheduleFlush();
  }

  /**
   * Checked before writing: what is still unsent from earlier slices (a write's own bytes count in
   * writableLength until libuv reports them written, even when the kernel took them at once). A
   * client's buffer holds at most the limit plus one slice.
   */
  private broadcast(text: string): void {
    for (const client of this.clients) {
      if (client.writableLength > this.maxBufferedBytes) this.drop(client);
      else client.write(text);
    }
  }

  private drop(client: ServerResponse): void {
    this.forget(client);
    this.dropped++;
    this.log.warn(
      { event: 'sse-dropped', buffered: client.writableLength, limit: this.maxBufferedBytes },
      'route event client too slow; disconnected',
    );
    client.destroy();
  }

  close(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    clearInterval(this.heartbeat);
    this.pending = [];
    for (const client of this.clients) client.end();
    this.clients.clear();
  }
}

/** One best-path change: the new best path (null when the destination is gone or unreachable). */
export function changeView(change: BestPathChange) {
  const best = change.best;
  return {
    prefix: formatPrefix(change.prefix),
    family: destFamily(change.prefix),
    best: best
      ? {
          from: best.peer.local ? 'local' : best.peer.name,
          pathId: best.pathId,
          ...attributesView(best.attrs.attributes),
        }
      : null,
    // Counted as the Loc-RIB does: a best path alone is no ECMP set.
    ecmp: change.ecmp.length > 1 ? change.ecmp.length : 0,
    paths: change.pathCount,
  };
}
