// The Loc-RIB's output and its walks: a BestPathChange only when the best path or the ECMP set really
// changed, with the step that decided it; every decided destination for the Adj-RIB-Out; the reason
// each path lost as the RIB's own decision (with its options) recorded it; and peer withdrawal, stale
// sweeps and next-hop re-resolution as resumable walks that stay correct while UPDATEs keep coming.
import test from 'ava';
import { AsPathSegmentType, Origin } from '../../src/bgp/constants.ts';
import { Afi } from '../../src/lib/family.ts';
import { formatPrefix, ipv4Prefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';
import { DecisionStep } from '../../src/rib/decision.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { BestPathChange, DecidedBatch } from '../../src/rib/loc-rib.ts';
import { TableResolver } from './support.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { routesDocument } from '../../src/api/route-view.ts';

function peer(n: number, fields: Partial<RibPeer> = {}): RibPeer {
  return {
    id: n,
    name: `p${n}`,
    addressKey: `4:${String(n).padStart(8, '0')}`,
    bgpIdentifier: n,
    external: false,
    peerAs: 64512,
    routeReflectorClient: true,
    local: false,
    ...fields,
  };
}

const PREFIX = parsePrefix('10.0.0.0/24') as Nlri;
const [ONE, TWO, THREE] = [peer(1), peer(2), peer(3)];
/** `count` consecutive /24s from 10.0.0.0. */
const prefixes = (count: number): Nlri[] =>
  Array.from({ length: count }, (_, i) => ipv4Prefix(0x0a000000 + i * 256, 24));

function announce(rib: LocRib, from: RibPeer, prefix: Nlri, attributes: RouteAttributes = {}): void {
  const attrs = rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', ...attributes });
  rib.announce(from, prefix, attrs, true);
  rib.attrSets.release(attrs);
}

/** Every BestPathChange and DecidedBatch the RIB publishes. */
function record(rib: LocRib) {
  const changes: BestPathChange[] = [];
  const batches: readonly BestPathChange[][] = [];
  const decided: DecidedBatch[] = [];
  rib.bestPathChanges$.subscribe((batch) => {
    (batches as BestPathChange[][]).push([...batch]);
    changes.push(...batch);
  });
  rib.decided$.subscribe((batch) => decided.push(batch));
  return { changes, batches, decided };
}

/** One event-loop turn. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

test('a BestPathChange only when the best path really changes; every decided destination for the Adj-RIB-Out', async (t) => {
  const rib = new LocRib();
  const { changes, decided } = record(rib);
  announce(rib, ONE, PREFIX, { localPref: 200 });
  await rib.settled();
  t.is(changes.length, 1);
  t.like(changes[0], { previousBest: undefined, decidedBy: DecisionStep.Only, pathCount: 1 });
  t.is(changes[0].best?.peer.id, 1);
  t.is(formatPrefix(changes[0].prefix), '10.0.0.0/24');
  t.deepEqual(changes[0].ecmp, [changes[0].best]);

  announce(rib, TWO, PREFIX, { localPref: 100 });
  await rib.settled();
  t.is(changes.length, 1, 'a losing path changes nothing downstream');
  t.is(decided.at(-1)?.pathsChanged.length, 1, 'but the Adj-RIB-Out sees the destination (ADD-PATH)');
  t.is(decided.at(-1)?.bestChanged.length, 0);

  announce(rib, ONE, PREFIX, { localPref: 200 });
  await rib.settled();
  t.is(changes.length, 1, 're-announcing the same attributes is no change');

  announce(rib, TWO, PREFIX, { localPref: 300 });
  await rib.settled();
  t.is(changes.length, 2);
  t.is(changes[1].best?.peer.id, 2);
  t.is(changes[1].previousBest?.peer.id, 1);
  t.is(changes[1].decidedBy, DecisionStep.LocalPref);

  rib.withdraw(TWO, PREFIX);
  rib.withdraw(ONE, PREFIX);
  await rib.settled();
  t.like(changes[2], { best: undefined, decidedBy: DecisionStep.None, pathCount: 0, ecmp: [] });
});

test('changes come in one batch per decision turn, never one emission per prefix', async (t) => {
  const rib = new LocRib();
  rib.maxDecisionsPerTurn = 40;
  const { batches } = record(rib);
  for (const prefix of prefixes(100)) announce(rib, ONE, prefix);
  await rib.settled();
  t.deepEqual(
    batches.map((b) => b.length),
    [40, 40, 20],
  );
});

test('a change of the ECMP set alone is a change, with the same best path', async (t) => {
  const rib = new LocRib();
  const { changes } = record(rib);
  announce(rib, ONE, PREFIX);
  announce(rib, TWO, PREFIX);
  await rib.settled();
  t.is(changes.length, 1);
  t.is(changes[0].ecmp.length, 2, 'equal through the IGP cost: both in the set');
  t.is(changes[0].decidedBy, DecisionStep.OriginatorId);
  announce(rib, THREE, PREFIX);
  await rib.settled();
  t.is(changes.length, 2);
  t.is(changes[1].best, changes[1].previousBest, 'same best path');
  t.is(changes[1].ecmp.length, 3);
  announce(rib, THREE, PREFIX, { localPref: 50 });
  await rib.settled();
  t.is(changes.length, 3);
  t.is(changes[2].ecmp.length, 2, 'the worse path left the set');
});

test('why a path lost is what the decision recorded, with the RIB’s own options', async (t) => {
  // Two neighbouring ASes: their MEDs are compared only with always-compare-med.
  const fromA = { asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001] }], multiExitDisc: 50 };
  const fromB = { asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65002] }], multiExitDisc: 10 };
  for (const [alwaysCompareMed, winner, step] of [
    [false, 1, DecisionStep.OriginatorId],
    [true, 2, DecisionStep.Med],
  ] as const) {
    const rib = new LocRib({ alwaysCompareMed });
    announce(rib, peer(1), PREFIX, fromA);
    announce(rib, peer(2), PREFIX, fromB);
    await rib.settled();
    const dest = rib.get(PREFIX)!;
    t.is(dest.best?.peer.id, winner);
    const loser = dest.paths.find((p) => p !== dest.best)!;
    t.is(rib.lostAt(dest, loser), step);
    t.is(rib.lostAt(dest, dest.best!), undefined);
    const [route] = routesDocument(rib, { limit: 10 }).routes;
    t.deepEqual(
      route.paths.map((p) => [p.from, p.best, p.lostAt]),
      [
        [`p${winner}`, true, null],
        [`p${3 - winner}`, false, step],
      ],
      `WHY with alwaysCompareMed ${alwaysCompareMed}`,
    );
  }
});

test('withdrawing a peer is a walk that resumes turn after turn', async (t) => {
  const rib = new LocRib();
  rib.maxVisitsPerTurn = 10;
  const [one, two] = [peer(1), peer(2)];
  for (const prefix of prefixes(100)) announce(rib, one, prefix);
  announce(rib, two, prefixes(1)[0]);
  await rib.settled();
  t.is(rib.withdrawPeer(one), 100);
  t.is(rib.withdrawPeer(one), 0, 'already on its way out');
  await turn();
  t.true(rib.pathCount < 101 && rib.pathCount > 1, `part of the walk done: ${rib.pathCount} paths left`);
  await rib.settled();
  t.is(rib.pathCount, 1);
  t.is(rib.destCount, 1);
  t.is(rib.get(prefixes(1)[0])?.best?.peer, two);
});

test('a peer that comes back while its old paths are being withdrawn keeps its new ones', async (t) => {
  const rib = new LocRib();
  rib.maxVisitsPerTurn = 10;
  const { changes } = record(rib);
  // The same speaker on a new session: a new RibPeer, the same address and identifier.
  const before = peer(1);
  const after = peer(9, { addressKey: before.addressKey, bgpIdentifier: before.bgpIdentifier });
  const all = prefixes(100);
  for (const prefix of all) announce(rib, before, prefix, { localPref: 100 });
  await rib.settled();
  rib.withdrawPeer(before);
  await turn();
  // Re-announced before the walk reaches most of the old paths; an equal path id and address would tie.
  for (const prefix of all) announce(rib, after, prefix, { localPref: 100 });
  await rib.settled();
  t.is(rib.pathCount, 100);
  for (const prefix of all) t.is(rib.get(prefix)?.best?.peer, after);
  t.true(changes.slice(100).every((c) => c.best === undefined || c.best.peer === after));
});

test('BoRR then EoRR: what the peer re-announced stays, also when it arrives during the sweep', async (t) => {
  const rib = new LocRib();
  rib.maxVisitsPerTurn = 5;
  const one = peer(1);
  const all = prefixes(40);
  for (const prefix of all) announce(rib, one, prefix);
  await rib.settled();
  t.is(rib.markStale(one, Afi.Ipv4), 40);
  t.is(rib.markStale(one, Afi.Ipv6), 0);
  const dest = rib.get(all[0])!;
  t.true(rib.isStale(dest, dest.paths[0]));
  for (const prefix of all.slice(0, 10)) announce(rib, one, prefix);
  await rib.settled();
  t.false(rib.isStale(rib.get(all[0])!, rib.get(all[0])!.paths[0]), 'a re-announced path is fresh');
  const swept = rib.sweepStale(one, Afi.Ipv4);
  await turn();
  // The walk goes in table order: the last prefixes are not reached yet. Re-announce one of them, and
  // start another refresh (BoRR) before the sweep is done: its stale paths wait for their own EoRR.
  announce(rib, one, all[39]);
  t.is(rib.markStale(one, Afi.Ipv4), rib.pathCount);
  t.is(await swept, 29);
  await rib.settled();
  t.deepEqual(
    [...rib.dests()].map((d) => formatPrefix(d)),
    [...all.slice(0, 10), all[39]].map((p) => formatPrefix(p)),
  );
  t.true(
    [...rib.dests()].every((d) => rib.isStale(d, d.paths[0])),
    'stale again after the second BoRR',
  );
  t.is(await rib.sweepStale(one), 11);
  t.is(rib.pathCount, 0);
});

test('a next-hop change re-decides only the destinations that use it, in a bounded walk', async (t) => {
  const resolver = new TableResolver();
  resolver.states.set('192.0.2.1', { reachable: true, igpCost: 1 });
  resolver.states.set('192.0.2.2', { reachable: true, igpCost: 1 });
  const rib = new LocRib(undefined, resolver);
  rib.maxVisitsPerTurn = 3;
  const { decided, changes } = record(rib);
  const all = prefixes(20);
  all.forEach((prefix, i) => announce(rib, ONE, prefix, { nextHop: i % 2 ? '192.0.2.1' : '192.0.2.2' }));
  await rib.settled();
  decided.length = 0;
  changes.length = 0;
  resolver.set('192.0.2.1', { reachable: false, igpCost: 0 });
  await rib.settled();
  const touched = decided.flatMap((b) => b.pathsChanged).map((d) => formatPrefix(d));
  t.deepEqual(
    touched.sort(),
    all
      .filter((_, i) => i % 2)
      .map((p) => formatPrefix(p))
      .sort(),
  );
  t.is(changes.length, 10);
  t.true(changes.every((c) => c.best === undefined && c.previousBest !== undefined));
  rib.withdraw(ONE, all[1]);
  resolver.set('192.0.2.1', { reachable: true, igpCost: 5 });
  await rib.settled();
  t.is(changes.length, 19, 'the nine left come back; the withdrawn one is not in the index any more');
});

test('a next-hop change replaces a shared Path by one the destinations share again', async (t) => {
  const resolver = new TableResolver();
  resolver.states.set('192.0.2.1', { reachable: true, igpCost: 1 });
  const rib = new LocRib(undefined, resolver);
  rib.maxVisitsPerTurn = 3;
  const all = prefixes(10);
  for (const prefix of all) announce(rib, ONE, prefix, { nextHop: '192.0.2.1' });
  await rib.settled();
  const bests = () => new Set(all.map((p) => rib.get(p)!.paths[0]));
  t.is(bests().size, 1);
  resolver.set('192.0.2.1', { reachable: true, igpCost: 7 });
  await rib.settled();
  const [after] = bests();
  t.is(bests().size, 1, 'across the walk’s turns');
  t.is(after.igpCost, 7);
  t.is(after.localPathId, 1);
  t.true(all.every((p) => rib.get(p)!.best === after));
});

test('destinations of one UPDATE share a Path, and no destination ever changes another one’s', async (t) => {
  const rib = new LocRib();
  const [a, b, c, d] = prefixes(4);
  for (const prefix of [a, b, c]) announce(rib, ONE, prefix);
  await rib.settled();
  const shared = rib.get(a)!.best!;
  t.is(rib.get(b)!.best, shared, 'same peer, attributes and epoch: one Path');
  t.is(rib.get(c)!.best, shared);
  t.is(shared.localPathId, 1);

  // Here another peer came first: ONE's path takes local Path Identifier 2 in a Path of its own.
  announce(rib, TWO, d);
  announce(rib, ONE, d);
  await rib.settled();
  const inD = rib.get(d)!.paths.find((p) => p.peer === ONE)!;
  t.not(inD, shared);
  t.is(inD.localPathId, 2);
  t.is(shared.localPathId, 1, 'the shared path keeps its identifier');
  t.deepEqual(
    [a, b, c].map((p) => rib.get(p)!.paths.map((q) => q.localPathId)),
    [[1], [1], [1]],
  );

  // A withdrawal removes the path from one destination only.
  rib.withdraw(ONE, b);
  await rib.settled();
  t.is(rib.get(b), undefined);
  t.is(rib.get(a)!.best, shared);
  t.is(rib.pathCount, 4);

  // A new epoch is a new Path: the paths of the old one are stale, the re-announced one is not.
  rib.markStale(ONE, Afi.Ipv4);
  announce(rib, ONE, a);
  await rib.settled();
  const fresh = rib.get(a)!.best!;
  t.not(fresh, shared);
  t.false(rib.isStale(rib.get(a)!, fresh));
  t.true(rib.isStale(rib.get(c)!, rib.get(c)!.best!));
});

test('a path import policy changed keeps what the peer sent, per destination', async (t) => {
  const rib = new LocRib();
  const [a, b] = prefixes(2);
  const base = { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1' };
  const sent = rib.attrSets.intern({ ...base, communities: [0xfde80001] });
  const kept = rib.attrSets.intern(base);
  rib.announce(ONE, a, kept, true, sent);
  rib.announce(ONE, b, kept, true);
  await rib.settled();
  const [inA, inB] = [rib.get(a)!.best!, rib.get(b)!.best!];
  t.not(inA, inB, 'a path with pre-policy attributes is its own');
  t.is(rib.receivedAttrs(inA), sent);
  t.is(rib.receivedAttrs(inB), kept);
  rib.attrSets.release(sent);
  rib.attrSets.release(kept);
});
