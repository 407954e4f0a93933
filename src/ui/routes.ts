// Routes: search the Loc-RIB by prefix (exact, longest match, longer prefixes), peer, community or next
// hop, one page at a time; each prefix shows its best path and every candidate with the decision step
// it lost at (RFC 4271 §9.1.2), its attributes and communities.

import { at, getJson, list, text } from './api.ts';
import { h, replace, table } from './dom.ts';

const FIELDS = ['prefix', 'peer', 'community', 'nextHop'] as const;

export function renderRoutes(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const form = searchForm(params);
  const results = h('div', { id: 'route-results' });
  main.append(form, results);
  return showPage(results, params);
}

function searchForm(params: URLSearchParams): HTMLFormElement {
  const inputs = FIELDS.map((name) =>
    h('label', {}, name, h('input', { name, value: params.get(name) ?? '', placeholder: placeholder(name) })),
  );
  const match = h(
    'select',
    { name: 'match' },
    ...['', 'exact', 'longest', 'longer'].map(option(params.get('match'))),
  );
  const family = h('select', { name: 'family' }, ...['', 'ipv4', 'ipv6'].map(option(params.get('family'))));
  const form = h(
    'form',
    { class: 'search' },
    ...inputs,
    h('label', {}, 'match', match),
    h('label', {}, 'family', family),
    h('button', { type: 'submit' }, 'Search'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (typeof v === 'string' && v.trim()) query.set(k, v.trim());
    location.hash = `#/routes?${query.toString()}`;
  });
  return form;
}

function option(selected: string | null) {
  return (value: string) => h('option', { value, selected: value === (selected ?? '') }, value || 'any');
}

function placeholder(name: string): string {
  return (
    { prefix: '10.0.0.0/24 or 10.0.0.7', peer: 'peer name', community: '64512:100', nextHop: '10.0.0.1' }[
      name
    ] ?? ''
  );
}

async function showPage(results: HTMLElement, params: URLSearchParams): Promise<void> {
  const page = await getJson(`/api/v1/ui/routes?${params.toString()}`);
  const routes = list(at(page, 'routes'));
  const offset = Number(params.get('offset') ?? 0);
  replace(
    results,
    h(
      'p',
      { class: 'muted' },
      routes.length === 0 ? 'no matching routes' : `routes ${offset + 1}–${offset + routes.length}`,
    ),
    ...routes.map(destination),
    pager(params, offset, routes.length, at(page, 'more') === true),
  );
}

function destination(dest: unknown): HTMLElement {
  const prefix = text(at(dest, 'prefix'));
  return h(
    'section',
    { class: 'dest', 'data-prefix': prefix },
    h('h3', {}, prefix, ' ', h('span', { class: 'muted' }, text(at(dest, 'family')))),
    table(
      [
        '',
        'from',
        'lost at',
        'AS path',
        'next hop',
        'LOCAL_PREF',
        'MED',
        'origin',
        'communities',
        'ORIGINATOR_ID / CLUSTER_LIST',
      ],
      list(at(dest, 'paths')).map(pathCells),
    ),
  );
}

function pathCells(path: unknown) {
  const a = at(path, 'attributes');
  const best = at(path, 'best') === true;
  return [
    h(
      'span',
      { class: best ? 'badge up' : 'badge' },
      best ? 'best' : at(path, 'ecmp') === true ? 'ecmp' : '',
    ),
    text(at(path, 'from')),
    h('span', { class: 'lost-at' }, best ? '' : text(at(path, 'lostAt'))),
    text(at(a, 'asPath')),
    text(at(a, 'nextHop')),
    text(at(a, 'localPref')),
    text(at(a, 'med')),
    text(at(a, 'origin')),
    [...list(at(a, 'communities')), ...list(at(a, 'largeCommunities'))].map(text).join(' '),
    [text(at(a, 'originatorId')), list(at(a, 'clusterList')).map(text).join(' ')].filter(Boolean).join(' / '),
  ];
}

function pager(params: URLSearchParams, offset: number, shown: number, more: boolean): HTMLElement {
  const link = (label: string, to: number) => {
    const next = new URLSearchParams(params);
    next.set('offset', String(to));
    return h('a', { href: `#/routes?${next.toString()}`, class: 'button' }, label);
  };
  return h(
    'nav',
    { class: 'pager' },
    offset > 0 && link('← previous', Math.max(0, offset - 50)),
    more && link('next →', offset + shown),
  );
}
