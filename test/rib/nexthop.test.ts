// Next-hop resolution in the decision process (RFC 4271 §9.1.2 and §9.1.2.2 e): an unresolvable
// NEXT_HOP makes a path ineligible, the IGP cost to it breaks ties, and a change in the resolver's
// view re-decides the destinations that use it.
import test from 'ava';
import { Origin } from '../../src/bgp/constants.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { BestPathChange } from '../../src/rib/loc-rib.ts';
import { TableResolver } from './support.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { DecisionStep } from '../../src/rib/decision.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';

function peer(n: number): RibPeer {
  return {
    id: n,
    name: `p${n}`,
    addressKey: `4:${n}`,
    bgpIdentifier: n,
    external: false,
    peerAs: 64512,
    routeReflectorClient: false,
    local: false,
  };
}

const PREFIX = parsePrefix('10.244.0.0/26') as Nlri;

function setup() {
  const resolver = new TableResolver();
  const rib = new LocRib(undefined, resolver);
  const announce = (p: RibPeer, nextHop: string) => {
    const attrs = rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop, localPref: 100 });
    rib.announce(p, PREFIX, attrs, true);
    rib.attrSets.release(attrs);
  };
  return { resolver, rib, announce };
}

test('a path whose NEXT_HOP does not resolve is not eligible, until it does', async (t) => {
  const { resolver, rib, announce } = setup();
  announce(peer(1), '192.0.2.1');
  await rib.settled();
  t.is(rib.get(PREFIX)?.best, undefined);
  const dest = rib.get(PREFIX)!;
  t.is(rib.lostAt(dest, dest.paths[0]), 'ineligible');
  const changes: BestPathChange[] = [];
  rib.bestPathChanges$.subscribe((batch) => changes.push(...batch));
  resolver.set('192.0.2.1', { reachable: true, igpCost: 10 });
  await rib.settled();
  t.is(rib.get(PREFIX)?.best?.peer.id, 1);
  t.is(changes.length, 1, 'the best path changed');
});

test('the IGP cost to the NEXT_HOP decides, and a cost change flips the best path', async (t) => {
  const { resolver, rib, announce } = setup();
  resolver.set('192.0.2.1', { reachable: true, igpCost: 10 });
  resolver.set('192.0.2.2', { reachable: true, igpCost: 20 });
  announce(peer(1), '192.0.2.1');
  announce(peer(2), '192.0.2.2');
  await rib.settled();
  t.is(rib.get(PREFIX)?.best?.peer.id, 1);
  const dest = rib.get(PREFIX)!;
  t.is(
    rib.lostAt(
      dest,
      dest.paths.find((p) => p.peer.id === 2)!,
    ),
    DecisionStep.IgpCost,
  );
  resolver.set('192.0.2.1', { reachable: true, igpCost: 30 });
  await rib.settled();
  t.is(rib.get(PREFIX)?.best?.peer.id, 2);
  resolver.set('192.0.2.2', { reachable: false, igpCost: 0 });
  await rib.settled();
  t.is(rib.get(PREFIX)?.best?.peer.id, 1, 'the other path again, once its rival is unreachable');
});

test('equal IGP costs put both paths in the ECMP set', async (t) => {
  const { resolver, rib, announce } = setup();
  resolver.set('192.0.2.1', { reachable: true, igpCost: 5 });
  resolver.set('192.0.2.2', { reachable: true, igpCost: 5 });
  announce(peer(1), '192.0.2.1');
  announce(peer(2), '192.0.2.2');
  await rib.settled();
  t.is(rib.get(PREFIX)?.multipath.length, 2);
});
