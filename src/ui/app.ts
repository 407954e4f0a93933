// The Brindle web console: a read-only view of the routing plane served by the daemon at /ui/. One
// page, routed by the URL's fragment (#/peers/NAME, #/routes?prefix=…), each view drawn from the JSON
// API when it is opened; nothing here sends anything but GET.

import { ApiError } from './api.ts';
import { h, replace } from './dom.ts';
import { renderEvents } from './events.ts';
import { renderFib, renderIpam } from './node-state.ts';
import { renderOverview } from './overview.ts';
import { renderPeer, renderPeers } from './peers.ts';
import { renderRoutes } from './routes.ts';
import { renderTopology } from './topology.ts';

type View = (main: HTMLElement, rest: string, params: URLSearchParams, signal: AbortSignal) => Promise<void>;

const VIEWS: readonly (readonly [string, string, View])[] = [
  ['overview', 'Overview', (main) => renderOverview(main)],
  ['topology', 'Topology', (main) => renderTopology(main)],
  ['peers', 'Peers', (main, rest) => (rest ? renderPeer(main, decodeURIComponent(rest)) : renderPeers(main))],
  ['routes', 'Routes', (main, _rest, params) => renderRoutes(main, params)],
  ['events', 'Live events', (main, _rest, _params, signal) => renderEvents(main, signal)],
  ['ipam', 'IPAM', (main) => renderIpam(main)],
  ['fib', 'FIB', (main) => renderFib(main)],
];

const main = h('main', { id: 'view' });
const links = VIEWS.map(([id, label]) => h('a', { href: `#/${id}`, 'data-view': id }, label));
let leaving = new AbortController();

document.body.append(h('header', {}, h('strong', {}, 'Brindle'), h('nav', {}, ...links)), main);
window.addEventListener('hashchange', () => void show());
void show();

async function show(): Promise<void> {
  leaving.abort();
  leaving = new AbortController();
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [id, ...rest] = path.split('/');
  const view = VIEWS.find(([name]) => name === id) ?? VIEWS[0];
  for (const link of links) link.classList.toggle('current', link.dataset.view === view[0]);
  replace(main, h('h1', {}, view[1]));
  main.dataset.loaded = 'false';
  try {
    await view[2](main, rest.join('/'), new URLSearchParams(query), leaving.signal);
  } catch (error) {
    main.append(h('p', { class: 'error' }, describe(error)));
  }
  main.dataset.loaded = 'true';
}

function describe(error: unknown): string {
  if (error instanceof ApiError) return `The daemon answered ${error.status}: ${error.message}`;
  return `Could not reach the daemon: ${error instanceof Error ? error.message : String(error)}`;
}
