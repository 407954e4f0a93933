// Topology: this speaker in the middle and its sessions around it, grouped by kind — the full mesh
// (Mesh_*), global BGPPeers such as ToRs (Global_*), per-node BGPPeers (Node_*) — each edge coloured by
// the session's state, so mesh versus reflectors and a dead session show at once. Drawn as SVG with
// DOM calls; names are text nodes.

import { at, getJson, list, text } from './api.ts';
import { h, svg } from './dom.ts';

const SIZE = 640;
const CENTRE = SIZE / 2;
const RADIUS = 230;
const KIND_LABELS: Readonly<Record<string, string>> = {
  mesh: 'node-to-node mesh',
  global: 'global peer (ToR, reflector)',
  node: 'per-node peer',
  other: 'other',
};

export async function renderTopology(main: HTMLElement): Promise<void> {
  const [status, overview] = await Promise.all([getJson('/api/v1/status'), getJson('/api/v1/ui/overview')]);
  const peers = list(at(status, 'peers')).sort((a, b) =>
    text(at(a, 'type')).localeCompare(text(at(b, 'type'))),
  );
  const picture = svg('svg', { viewBox: `0 0 ${SIZE} ${SIZE}`, class: 'topology', role: 'img' });
  peers.forEach((peer, i) =>
    picture.append(...peerShapes(peer, (2 * Math.PI * i) / Math.max(1, peers.length))),
  );
  picture.append(
    svg('circle', { cx: CENTRE, cy: CENTRE, r: 26, class: 'self' }),
    svg(
      'text',
      { x: CENTRE, y: CENTRE + 44, class: 'label' },
      `this ${text(at(overview, 'role'))} (AS ${text(at(status, 'router', 'localAs'))})`,
    ),
  );
  main.append(picture, legend());
}

function peerShapes(peer: unknown, angle: number): SVGElement[] {
  const x = CENTRE + RADIUS * Math.cos(angle);
  const y = CENTRE + RADIUS * Math.sin(angle);
  const state = text(at(peer, 'state'));
  const tone = state === 'Established' ? 'up' : state === 'Idle' ? 'down' : 'pending';
  const name = text(at(peer, 'name'));
  return [
    svg('line', {
      x1: CENTRE,
      y1: CENTRE,
      x2: x,
      y2: y,
      class: `edge ${tone}`,
      'data-peer': name,
      'data-state': state,
    }),
    svg(
      'circle',
      { cx: x, cy: y, r: 14, class: `peer ${text(at(peer, 'type'))}` },
      svg('title', {}, `${name} ${text(at(peer, 'remote'))} ${state}`),
    ),
    svg('text', { x, y: y + 28, class: 'label' }, name),
  ];
}

function legend(): HTMLElement {
  return h(
    'ul',
    { class: 'legend' },
    ...Object.entries(KIND_LABELS).map(([kind, label]) =>
      h('li', {}, h('span', { class: `swatch ${kind}` }), label),
    ),
    h('li', {}, h('span', { class: 'swatch edge-up' }), 'Established'),
    h('li', {}, h('span', { class: 'swatch edge-down' }), 'Idle (down)'),
  );
}
