// Live route events: the best-path change stream (GET /api/v1/events/routes, Server-Sent Events),
// filterable and pausable, with the rate per second; a prefix whose best path changed FLAP_COUNT times
// within FLAP_WINDOW_MS stands out. The browser keeps at most MAX_ROWS rows and MAX_TRACKED prefixes,
// so a busy reflector cannot grow the page without bound; EventSource reconnects by itself after a
// daemon restart (the stream asks for a 2 s retry).

import { at, text } from './api.ts';
import { h, replace } from './dom.ts';

const MAX_ROWS = 500;
const MAX_TRACKED = 10_000;
const FLAP_COUNT = 3;
const FLAP_WINDOW_MS = 60_000;

export function renderEvents(main: HTMLElement, signal: AbortSignal): Promise<void> {
  const status = h('span', { id: 'stream-status', class: 'badge pending' }, 'connecting');
  const rate = h('span', { id: 'event-rate' }, '0/s');
  const filter = h('input', { id: 'event-filter', placeholder: 'filter: prefix, peer, next hop' });
  const pause = h('button', { type: 'button', id: 'event-pause' }, 'Pause');
  const rows = h('tbody', { id: 'event-rows' });
  main.append(
    h('div', { class: 'toolbar' }, status, ' ', rate, ' ', filter, ' ', pause),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['time', 'prefix', 'best from', 'next hop', 'AS path', 'decided by', 'changes/min'].map((c) =>
            h('th', {}, c),
          ),
        ),
      ),
      rows,
    ),
  );
  const stream = new EventStreamView(rows, status, rate, filter);
  pause.addEventListener('click', () => {
    stream.paused = !stream.paused;
    pause.textContent = stream.paused ? 'Resume' : 'Pause';
  });
  signal.addEventListener('abort', () => stream.close());
  return Promise.resolve();
}

class EventStreamView {
  paused = false;
  private readonly source = new EventSource('/api/v1/events/routes');
  /** Per prefix, when its best path changed within the flap window (oldest first). */
  private readonly changes = new Map<string, number[]>();
  private received = 0;
  private readonly timer: number;

  constructor(
    private readonly rows: HTMLElement,
    private readonly status: HTMLElement,
    private readonly rate: HTMLElement,
    private readonly filter: HTMLInputElement,
  ) {
    this.source.addEventListener('open', () => this.setStatus('live', 'up'));
    this.source.addEventListener('error', () => this.setStatus('reconnecting', 'down'));
    this.source.addEventListener('best-path', (event) => this.onChange(event.data));
    this.timer = window.setInterval(() => this.tick(), 1000);
    filter.addEventListener('input', () => {
      for (const row of rows.children) (row as HTMLElement).hidden = !this.matches(row as HTMLElement);
    });
  }

  private setStatus(label: string, tone: string): void {
    this.status.textContent = label;
    this.status.className = `badge ${tone}`;
  }

  private tick(): void {
    this.rate.textContent = `${this.received}/s`;
    this.received = 0;
  }

  private onChange(data: unknown): void {
    this.received++;
    let change: unknown;
    try {
      change = JSON.parse(typeof data === 'string' ? data : '');
    } catch {
      return;
    }
    const prefix = text(at(change, 'prefix'));
    const count = this.count(prefix);
    if (this.paused) return;
    const row = this.row(change, prefix, count);
    if (!this.matches(row)) row.hidden = true;
    this.rows.prepend(row);
    while (this.rows.childElementCount > MAX_ROWS) this.rows.lastElementChild?.remove();
  }

  /** Changes of `prefix` within the flap window, this one included. */
  private count(prefix: string): number {
    const now = Date.now();
    const times = (this.changes.get(prefix) ?? []).filter((t) => now - t < FLAP_WINDOW_MS);
    times.push(now);
    this.changes.delete(prefix);
    this.changes.set(prefix, times);
    if (this.changes.size > MAX_TRACKED) this.changes.delete(this.changes.keys().next().value as string);
    return times.length;
  }

  private row(change: unknown, prefix: string, count: number): HTMLTableRowElement {
    const best = at(change, 'best');
    const tr = h('tr', { class: count >= FLAP_COUNT ? 'flapping' : '', 'data-prefix': prefix });
    replace(
      tr,
      ...[
        new Date().toLocaleTimeString(),
        prefix,
        best === null ? 'withdrawn' : text(at(best, 'from')),
        text(at(best, 'nextHop')),
        text(at(best, 'asPath')),
        // The deciding step, from daemons that publish it (read defensively: older ones do not).
        text(at(change, 'decidedBy')),
        String(count),
      ].map((cell) => h('td', {}, cell)),
    );
    return tr;
  }

  private matches(row: HTMLElement): boolean {
    const wanted = this.filter.value.trim();
    return wanted === '' || (row.textContent ?? '').includes(wanted);
  }

  close(): void {
    this.source.close();
    window.clearInterval(this.timer);
  }
}
