// BFD in a worker thread (sessions-worker.ts), behind the same BfdSessionTable as the in-process
// BfdSessions. Why: a 100 ms × 3 session tolerates no more than 300 ms without a packet, and the
// daemon's own event loop is busy for longer than a transmit interval while it converges a large
// table (ingress reads, decision and FIB batches, major GCs of a heap holding the RIB). Commands go
// to the worker as messages; what the table shows (views, discards) is the worker's latest report,
// and a failure to open a session's socket arrives later, through `onAdded`.

import { Subject } from 'rxjs/internal/Subject';
import type { Observable } from 'rxjs';
import { Worker } from 'node:worker_threads';
import type {
  BfdPeerSpec,
  BfdSessionChange,
  BfdSessionTable,
  BfdSessionView,
  DemuxDiscard,
} from './sessions.ts';

export type ToBfdWorker =
  | { readonly type: 'add'; readonly spec: BfdPeerSpec }
  | { readonly type: 'remove'; readonly peerAddress: string }
  | { readonly type: 'close' };

export type FromBfdWorker =
  | { readonly type: 'change'; readonly change: BfdSessionChange }
  | {
      readonly type: 'views';
      readonly views: BfdSessionView[];
      readonly discarded: [DemuxDiscard, number][];
      readonly badTtl: number;
    }
  | { readonly type: 'added'; readonly peerAddress: string; readonly error?: string }
  | { readonly type: 'unavailable'; readonly reason: string };

export interface BfdSessionsThreadOptions {
  /** A session's socket opened (no error) or could not be (the error); the owner retries. */
  readonly onAdded: (peerAddress: string, error: string | undefined) => void;
  /** The worker could not run BFD at all (no native addon, or it died). */
  readonly onUnavailable: (reason: string) => void;
}

/**
 * The worker: the compiled .js next to this file; or, running from the TypeScript source (tests,
 * benchmarks), the .ts behind tsx's loader, which a worker thread of Node 20 does not inherit.
 */
function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./sessions-worker.js', import.meta.url), { workerData });
  const loader = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./sessions-worker.ts', import.meta.url).href;
  const source = `import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(source, { eval: true, workerData });
}

export class BfdSessionsThread implements BfdSessionTable {
  private readonly worker: Worker;
  private views = new Map<string, BfdSessionView>();
  discarded: ReadonlyMap<DemuxDiscard, number> = new Map();
  badTtl = 0;
  private readonly subject = new Subject<BfdSessionChange>();
  readonly changes$: Observable<BfdSessionChange> = this.subject.asObservable();

  constructor(private readonly options: BfdSessionsThreadOptions) {
    this.worker = startWorker({ parentTimeOrigin: performance.timeOrigin });
    // The daemon's lifetime is not the worker's business: close() ends it.
    this.worker.unref();
    this.worker.on('message', (message: FromBfdWorker) => this.receive(message));
    this.worker.on('error', (error) => options.onUnavailable(`BFD worker failed: ${String(error)}`));
  }

  add(spec: BfdPeerSpec): void {
    this.post({ type: 'add', spec });
  }

  remove(peerAddress: string): void {
    this.views.delete(peerAddress);
    this.post({ type: 'remove', peerAddress });
  }

  get(peerAddress: string): BfdSessionView | undefined {
    return this.views.get(peerAddress);
  }

  sessions(): BfdSessionView[] {
    return [...this.views.values()];
  }

  /** The worker tells every peer AdminDown (§6.8.16) and ends by itself. */
  close(): void {
    this.post({ type: 'close' });
    this.views.clear();
    this.subject.complete();
  }

  private post(message: ToBfdWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromBfdWorker): void {
    switch (message.type) {
      case 'views':
        this.views = new Map(message.views.map((v) => [v.peerAddress, v]));
        this.discarded = new Map(message.discarded);
        this.badTtl = message.badTtl;
        return;
      case 'change':
        return this.subject.next(message.change);
      case 'added':
        return this.options.onAdded(message.peerAddress, message.error);
      case 'unavailable':
        return this.options.onUnavailable(message.reason);
    }
  }
}
