// Peers: every session in one table (state, type, since, why), and one session in full — capabilities,
// timers, counters, prefixes per family and its state timeline with the reasons it went down.

import { at, entries, getJson, list, num, text } from './api.ts';
import { h, stateBadge, table } from './dom.ts';

export async function renderPeers(main: HTMLElement): Promise<void> {
  const peers = list(at(await getJson('/api/v1/peers'), 'peers'));
  main.append(
    table(
      ['peer', 'remote', 'type', 'state', 'since', 'info', 'prefixes received / accepted / best'],
      peers.map((p) => [
        h('a', { href: `#/peers/${encodeURIComponent(text(at(p, 'name')))}` }, text(at(p, 'name'))),
        text(at(p, 'remote')),
        text(at(p, 'type')),
        stateBadge(text(at(p, 'state'))),
        text(at(p, 'since')),
        h('span', { class: 'reason' }, text(at(p, 'info'))),
        prefixFigures(at(p, 'prefixes')),
      ]),
    ),
  );
  for (const row of main.querySelectorAll('tbody tr'))
    row.classList.toggle('down', row.querySelector('[data-state="Established"]') === null);
}

function prefixFigures(prefixes: unknown): string {
  return entries(prefixes)
    .map(
      ([family, f]) => `${family} ${num(at(f, 'received'))}/${num(at(f, 'accepted'))}/${num(at(f, 'best'))}`,
    )
    .join(', ');
}

export async function renderPeer(main: HTMLElement, name: string): Promise<void> {
  const key = encodeURIComponent(name);
  const [peer, timeline] = await Promise.all([
    getJson(`/api/v1/peers/${key}`),
    getJson(`/api/v1/ui/peers/${key}/timeline`).catch(() => null),
  ]);
  const negotiated = at(peer, 'negotiated');
  main.append(
    h('h2', {}, text(at(peer, 'name')), ' ', stateBadge(text(at(peer, 'state')))),
    h('p', { class: 'reason', id: 'peer-info' }, text(at(peer, 'info'))),
    h('h3', {}, 'State timeline'),
    timelineTable(list(at(timeline, 'transitions'))),
    h('h3', {}, 'Negotiated'),
    negotiated ? keyValues(negotiated) : h('p', { class: 'muted' }, 'not Established'),
    h('h3', {}, 'Configuration'),
    keyValues(at(peer, 'config')),
    h('h3', {}, 'Counters'),
    keyValues(at(peer, 'counters')),
    h('h3', {}, 'Prefixes'),
    h('p', {}, prefixFigures(at(peer, 'prefixes')) || 'none'),
  );
}

function timelineTable(transitions: unknown[]): HTMLElement {
  if (transitions.length === 0)
    return h('p', { class: 'muted' }, 'no state change seen since the daemon started');
  return table(
    ['when', 'from', 'to', 'reason'],
    transitions
      .slice()
      .reverse()
      .map((t) => [
        text(at(t, 'at')),
        text(at(t, 'from')),
        stateBadge(text(at(t, 'to'))),
        h('span', { class: 'reason' }, text(at(t, 'reason'))),
      ]),
  );
}

/** Nested objects as a two-column table; arrays and objects below the first level as compact JSON text. */
function keyValues(value: unknown): HTMLElement {
  return table(
    ['field', 'value'],
    entries(value).map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : text(v)]),
  );
}
