// FIB (node mode): desired routes against the kernel's, drift highlighted; and IPAM (the cluster's, from
// the datastore): each pool's blocks as cells filled as far as they are used, the nodes' figures, and
// the problems `brindlectl ipam check` would report — a picture rather than a table of numbers.

import { at, getJson, list, num, text } from './api.ts';
import { h, svg, table } from './dom.ts';

export async function renderFib(main: HTMLElement): Promise<void> {
  if (!(await serves('fib'))) {
    main.append(h('p', { class: 'muted' }, 'This daemon serves no FIB view.'));
    return;
  }
  const fib = await getJson('/api/v1/fib?limit=1000');
  if (at(fib, 'enabled') === false) {
    main.append(h('p', { class: 'muted' }, `No kernel FIB here: ${text(at(fib, 'reason'))}`));
    return;
  }
  const summary = at(fib, 'summary');
  main.append(
    h(
      'p',
      {},
      `state ${text(at(fib, 'state'))}: ${num(at(summary, 'desired'))} desired, ${num(at(summary, 'installed'))} installed, ${num(at(summary, 'pending'))} pending, ${num(at(summary, 'failed'))} failed`,
    ),
    table(
      ['prefix', 'kind', 'desired next hops', 'kernel', 'state', 'error'],
      list(at(fib, 'routes')).map((r) => [
        text(at(r, 'prefix')),
        text(at(r, 'kind')),
        hops(at(r, 'nextHops')),
        at(r, 'kernel') === null ? 'absent' : hops(at(r, 'kernel', 'nextHops')),
        h(
          'span',
          { class: /sync|installed/i.test(text(at(r, 'state'))) ? 'badge up' : 'badge down' },
          text(at(r, 'state')),
        ),
        text(at(r, 'error', 'message')),
      ]),
    ),
  );
}

function hops(value: unknown): string {
  return list(value)
    .map((hop) => [text(at(hop, 'gateway')), text(at(hop, 'device'))].filter(Boolean).join(' dev '))
    .join(', ');
}

export async function renderIpam(main: HTMLElement): Promise<void> {
  if (!(await serves('ipam'))) {
    main.append(h('p', { class: 'muted' }, 'IPAM is not served by this daemon (no IPAM view registered).'));
    return;
  }
  const ipam = await getJson('/api/v1/ipam');
  const blocks = list(at(ipam, 'blocks'));
  const pools = list(at(ipam, 'pools'));
  if (pools.length === 0) main.append(h('p', { class: 'muted' }, 'No IP pools in the datastore.'));
  main.append(
    ...pools.map((pool) => poolSection(pool, blocks)),
    h('h2', {}, 'Nodes'),
    table(
      ['node', 'blocks', 'in use', 'borrowed'],
      list(at(ipam, 'nodes')).map((n) => [
        text(at(n, 'node')),
        num(at(n, 'blocks')),
        num(at(n, 'inUse')),
        num(at(n, 'borrowed')),
      ]),
    ),
    problemsSection(ipam),
  );
  const shown = blocks.length;
  const total = num(at(ipam, 'blockCount'));
  if (total > shown)
    main.append(h('p', { class: 'muted' }, `The first ${shown} of ${total} blocks are drawn.`));
}

const CELL = 24;
const PER_ROW = 16;

/** A pool: its figures, and each of its blocks as a cell filled as far as the block is used. */
function poolSection(pool: unknown, blocks: readonly unknown[]): HTMLElement {
  const name = text(at(pool, 'name'));
  const own = blocks.filter((b) => text(at(b, 'pool')) === name);
  const rows = Math.max(1, Math.ceil(own.length / PER_ROW));
  const grid = svg('svg', {
    viewBox: `0 0 ${PER_ROW * CELL} ${rows * CELL}`,
    class: 'blocks',
    role: 'img',
    'data-pool': name,
  });
  own.forEach((b, i) => grid.append(...blockCell(b, (i % PER_ROW) * CELL, Math.floor(i / PER_ROW) * CELL)));
  return h(
    'section',
    { class: 'pool', 'data-pool': name },
    h('h2', {}, `${name} ${text(at(pool, 'cidr'))}${at(pool, 'disabled') === true ? ' (disabled)' : ''}`),
    h(
      'p',
      {},
      `${num(at(pool, 'inUse'))} of ${text(at(pool, 'size'))} addresses in use, ` +
        `${num(at(pool, 'blocks'))} blocks, ${num(at(pool, 'borrowed'))} borrowed`,
    ),
    grid,
  );
}

function blockCell(block: unknown, x: number, y: number): SVGElement[] {
  const size = num(at(block, 'size'));
  const inUse = num(at(block, 'inUse'));
  const used = size > 0 ? Math.max(inUse > 0 ? 1 : 0, Math.round(((CELL - 2) * inUse) / size)) : 0;
  const node = text(at(block, 'node')) || 'no affinity';
  const title = `${text(at(block, 'cidr'))} — ${node}: ${inUse}/${size} in use, ${num(at(block, 'borrowed'))} borrowed`;
  return [
    svg(
      'rect',
      { x, y, width: CELL - 2, height: CELL - 2, class: 'free', 'data-block': text(at(block, 'cidr')) },
      svg('title', {}, title),
    ),
    svg('rect', { x, y: y + CELL - 2 - used, width: CELL - 2, height: used, class: 'used' }),
  ];
}

function problemsSection(ipam: unknown): HTMLElement {
  const problems = list(at(ipam, 'problems'));
  const total = num(at(ipam, 'problemCount'));
  return h(
    'section',
    { id: 'ipam-problems' },
    h('h2', {}, `Problems found by the check: ${total}`),
    total === 0
      ? h('p', { class: 'muted' }, 'None: every allocation, handle and affinity agrees.')
      : table(
          ['kind', 'record', 'node', 'detail', 'how it comes about'],
          problems.map((p) => [
            h('span', { class: 'badge down' }, text(at(p, 'kind'))),
            text(at(p, 'key')),
            text(at(p, 'node')),
            text(at(p, 'detail')),
            text(at(p, 'explanation')),
          ]),
        ),
  );
}

/** Whether the daemon registered the view: asking one it lacks would log a 501 in the console. */
async function serves(view: 'fib' | 'ipam'): Promise<boolean> {
  return at(await getJson('/api/v1/ui/overview'), 'views', view) === true;
}
