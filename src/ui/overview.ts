// Overview: one glance says healthy or not — identity, sessions by state, Loc-RIB size, FIB drift,
// IPAM usage and the latest session failures with their reasons.

import { at, entries, getJson, list, num, text } from './api.ts';
import { h, table } from './dom.ts';
import type { Child } from './dom.ts';

export async function renderOverview(main: HTMLElement): Promise<void> {
  const overview = await getJson('/api/v1/ui/overview');
  // Only what this daemon serves: a 501 would be an error in the browser's console.
  const [fib, ipam] = await Promise.all([
    at(overview, 'views', 'fib') === true ? getJson('/api/v1/fib?limit=1').catch(() => null) : null,
    at(overview, 'views', 'ipam') === true ? getJson('/api/v1/ipam').catch(() => null) : null,
  ]);
  const sessions = entries(at(overview, 'sessions'));
  const down = sessions.filter(([state]) => state !== 'Established').reduce((n, [, c]) => n + num(c), 0);
  const failures = list(at(overview, 'recentFailures'));
  const healthy = down === 0 && num(at(overview, 'peers')) > 0;
  main.append(
    h(
      'p',
      { class: `verdict ${healthy ? 'up' : 'down'}`, id: 'verdict' },
      healthy ? 'Healthy: every session is Established' : `${down} session(s) not Established`,
    ),
    h('section', { class: 'cards' }, identityCard(overview), sessionsCard(sessions), ribCard(overview)),
    h('section', { class: 'cards' }, fibCard(fib), ipamCard(ipam)),
    h('h2', {}, 'Recent session failures'),
    failures.length === 0
      ? h('p', { class: 'muted' }, 'none since the daemon started')
      : table(
          ['when', 'peer', 'from → to', 'reason'],
          failures.map((f) => [
            text(at(f, 'transition', 'at')),
            text(at(f, 'peer')),
            `${text(at(f, 'transition', 'from'))} → ${text(at(f, 'transition', 'to'))}`,
            h('span', { class: 'reason' }, text(at(f, 'transition', 'reason'))),
          ]),
        ),
  );
}

function card(title: string, ...rows: Child[]): HTMLElement {
  return h('div', { class: 'card' }, h('h3', {}, title), ...rows);
}

function pair(label: string, value: Child, id?: string): HTMLElement {
  return h('div', { class: 'pair' }, h('span', { class: 'label' }, label), h('span', { id }, value));
}

function identityCard(overview: unknown): HTMLElement {
  return card(
    'This speaker',
    pair('role', text(at(overview, 'role'))),
    pair('AS', text(at(overview, 'router', 'localAs'))),
    pair('router ID', text(at(overview, 'router', 'routerId'))),
    pair('cluster ID', text(at(overview, 'router', 'clusterId'))),
    pair('uptime', formatSeconds(num(at(overview, 'uptimeSec')))),
  );
}

function sessionsCard(sessions: [string, unknown][]): HTMLElement {
  return card(
    'Sessions',
    ...sessions.map(([state, count]) =>
      pair(state, h('span', { 'data-count': state }, num(count)), `sessions-${state}`),
    ),
  );
}

function ribCard(overview: unknown): HTMLElement {
  return card(
    'Loc-RIB',
    ...entries(at(overview, 'locRib')).map(([family, figures]) =>
      pair(family, `${num(at(figures, 'prefixes'))} prefixes, ${num(at(figures, 'paths'))} paths`),
    ),
  );
}

function fibCard(fib: unknown): HTMLElement {
  if (fib === null || at(fib, 'enabled') === false)
    return card('FIB', h('p', { class: 'muted' }, text(at(fib, 'reason')) || 'not running (reflector mode)'));
  const summary = at(fib, 'summary') ?? at(fib, 'counts');
  return card(
    'FIB',
    ...entries(summary).map(([k, v]) => pair(k, typeof v === 'object' ? JSON.stringify(v) : text(v))),
  );
}

function ipamCard(ipam: unknown): HTMLElement {
  if (ipam === null) return card('IPAM', h('p', { class: 'muted' }, 'not available on this node'));
  const nodes = list(at(ipam, 'nodes'));
  return card(
    'IPAM',
    ...nodes.map((n) =>
      pair(text(at(n, 'pool')), `${num(at(n, 'inUse'))} in use, ${num(at(n, 'blocks'))} blocks`),
    ),
  );
}

export function formatSeconds(total: number): string {
  const d = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  return `${d ? `${d}d ` : ''}${hours}h ${m}m ${Math.floor(total % 60)}s`;
}
