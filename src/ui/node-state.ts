// FIB (node mode): desired routes against the kernel's, drift highlighted; and IPAM: each pool's use by
// this node as bars — in use, borrowed — rather than a table of numbers.

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
  const sizes = new Map(list(at(ipam, 'pools')).map((p) => [text(at(p, 'pool')), num(at(p, 'size'))]));
  main.append(...list(at(ipam, 'nodes')).map((n) => usageBar(n, sizes.get(text(at(n, 'pool'))) ?? 0)));
}

const BAR_WIDTH = 480;

function usageBar(node: unknown, poolSize: number): HTMLElement {
  const inUse = num(at(node, 'inUse'));
  const borrowed = num(at(node, 'borrowed'));
  const scale = (n: number) => (poolSize > 0 ? Math.max(1, (BAR_WIDTH * n) / poolSize) : 0);
  return h(
    'div',
    { class: 'usage' },
    h(
      'p',
      {},
      `${text(at(node, 'pool'))} — node ${text(at(node, 'node'))}: ${inUse} in use (${borrowed} borrowed), ${num(at(node, 'blocks'))} blocks`,
    ),
    svg(
      'svg',
      { viewBox: `0 0 ${BAR_WIDTH} 16`, class: 'bar' },
      svg('rect', { x: 0, y: 0, width: BAR_WIDTH, height: 16, class: 'free' }),
      svg('rect', { x: 0, y: 0, width: scale(inUse), height: 16, class: 'used' }),
      svg('rect', { x: 0, y: 0, width: scale(borrowed), height: 16, class: 'borrowed' }),
    ),
  );
}

/** Whether the daemon registered the view: asking one it lacks would log a 501 in the console. */
async function serves(view: 'fib' | 'ipam'): Promise<boolean> {
  return at(await getJson('/api/v1/ui/overview'), 'views', view) === true;
}
