// The worker thread that runs BFD for the daemon (sessions-thread.ts starts it): a BfdSessions of its
// own — sockets, timers and FSMs — in an event loop that nothing else uses, so no decision walk, FIB
// batch or garbage collection of the daemon's heap delays a Control packet (RFC 5880 §6.8.7). It
// takes commands from the parent and sends back every state change, and the sessions' views after
// each change and every VIEW_PERIOD_MS. Times leave in the parent's performance.now() base.

import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../lib/clock.ts';
import { loadNative } from '../lib/native.ts';
import { BfdSessions } from './sessions.ts';
import type { BfdSessionChange, BfdSessionView } from './sessions.ts';
import type { FromBfdWorker, ToBfdWorker } from './sessions-thread.ts';

/** How often the views go to the parent when nothing changes (`brindlectl bfd`, metrics). */
const VIEW_PERIOD_MS = 250;

const port = parentPort;
const data = workerData as { readonly parentTimeOrigin: number } | undefined;

if (port && data) run(port, data.parentTimeOrigin);

function run(parent: NonNullable<typeof parentPort>, parentTimeOrigin: number): void {
  const post = (message: FromBfdWorker) => parent.postMessage(message);
  const load = loadNative();
  if (!load.ok) {
    post({ type: 'unavailable', reason: load.reason });
    return;
  }
  // performance.now() counts from each thread's own start.
  const shift = performance.timeOrigin - parentTimeOrigin;
  const sessions = new BfdSessions({ native: load.native, clock: systemClock });
  const views = () => {
    const list = sessions.sessions().map((v) => inParentTime(v, shift));
    post({ type: 'views', views: list, discarded: [...sessions.discarded], badTtl: sessions.badTtl });
  };
  sessions.changes$.subscribe((change: BfdSessionChange) => {
    views();
    post({ type: 'change', change: { ...change, atMs: change.atMs + shift } });
  });
  const timer = setInterval(views, VIEW_PERIOD_MS);
  parent.on('message', (message: ToBfdWorker) => {
    switch (message.type) {
      case 'add':
        return add(sessions, message.spec, post, views);
      case 'remove':
        sessions.remove(message.peerAddress);
        return views();
      case 'close':
        clearInterval(timer);
        sessions.close();
        return parent.close();
    }
  });
}

function add(
  sessions: BfdSessions,
  spec: Extract<ToBfdWorker, { type: 'add' }>['spec'],
  post: (message: FromBfdWorker) => void,
  views: () => void,
): void {
  try {
    sessions.add(spec);
    post({ type: 'added', peerAddress: spec.peerAddress });
  } catch (error) {
    post({ type: 'added', peerAddress: spec.peerAddress, error: String(error) });
  }
  views();
}

function inParentTime(v: BfdSessionView, shift: number): BfdSessionView {
  return v.lastDown ? { ...v, lastDown: { ...v.lastDown, atMs: v.lastDown.atMs + shift } } : v;
}
