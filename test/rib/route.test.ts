// The RIB's compact objects (rib/route.ts) and their index (rib/dest-table.ts): a Dest holds one path
// without a list, local Path Identifiers are the lowest free and survive implicit withdraw, prefix
// words above 2^31 come back unchanged, and a Dest leaves the table with its last path.
import test from 'ava';
import { Origin } from '../../src/bgp/constants.ts';
import { Afi } from '../../src/lib/family.ts';
import { ipv4Prefix, ipv6Prefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { AttrSetTable } from '../../src/rib/attr-set.ts';
import { DestTable } from '../../src/rib/dest-table.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { BestPathChange } from '../../src/rib/loc-rib.ts';
import { Dest, Path } from '../../src/rib/route.ts';
import type { RibPeer } from '../../src/rib/route.ts';

const table = new AttrSetTable();
const ATTRS = table.intern({ origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1', localPref: 100 });

function peer(n: number): RibPeer {
  return {
    id: n,
    name: `p${n}`,
    addressKey: `4:${n}`,
    bgpIdentifier: n,
    external: false,
    peerAs: 64512,
    routeReflectorClient: true,
    local: false,
  };
}

const path = (n: number, pathId = 0) => new Path(peer(n), pathId, ATTRS, true);

test('a Dest holds its one path directly, a list from the second, and one again', (t) => {
  const dest = new Dest(parsePrefix('10.0.0.0/24') as Nlri);
  t.is(dest.pathCount, 0);
  t.deepEqual(dest.paths, []);
  const [p1, p2, p3] = [path(1), path(2), path(3)];
  dest.addPath(p1);
  t.is(dest.pathCount, 1);
  t.is(dest.pathAt(0), p1);
  t.deepEqual(dest.paths, [p1]);
  dest.addPath(p2);
  dest.addPath(p3);
  t.deepEqual(dest.paths, [p1, p2, p3]);
  t.is(dest.indexOf(p2.peer, 0), 1);
  t.is(dest.removePathAt(0), p1);
  t.is(dest.removePathAt(0), p2);
  t.is(dest.pathCount, 1);
  t.is(dest.pathAt(0), p3);
  t.is(dest.indexOf(p3.peer, 0), 0);
  t.is(dest.indexOf(p3.peer, 7), -1);
  t.is(dest.removePathAt(0), p3);
  t.is(dest.pathCount, 0);
});

test('local Path Identifiers: the lowest free one, kept by an implicit withdraw', (t) => {
  const dest = new Dest(parsePrefix('10.0.0.0/24') as Nlri);
  const [p1, p2, p3] = [path(1), path(2), path(3)];
  dest.addPath(p1);
  dest.addPath(p2);
  dest.addPath(p3);
  t.deepEqual(
    dest.paths.map((p) => p.localPathId),
    [1, 2, 3],
  );
  dest.removePathAt(1);
  const again = path(2);
  dest.addPath(again);
  t.is(again.localPathId, 2, 'the freed identifier is reused');
  const replacement = path(3);
  dest.replacePathAt(dest.indexOf(p3.peer, 0), replacement);
  t.is(replacement.localPathId, 3);
  const epoch = new Path(peer(3), 0, ATTRS, true, undefined, 4095);
  dest.replacePathAt(dest.indexOf(replacement.peer, 0), epoch);
  t.is(epoch.epoch, 4095);
  t.true(epoch.loopFree);
  t.is(epoch.localPathId, 3, 'flags, epoch and the identifier share a field without disturbing each other');
});

test('prefix words and Path Identifiers above 2^31 come back unchanged', (t) => {
  const v4 = new Dest(ipv4Prefix(0xc0a80000, 16));
  t.is(v4.w0, 0xc0a80000);
  t.is(v4.length, 16);
  t.is(v4.afi, Afi.Ipv4);
  const words = [0xfd00_0000, 0x8000_0001, 0xffff_ffff, 0x8000_0000];
  const v6 = new Dest(ipv6Prefix(words, 128));
  t.deepEqual([v6.w0, v6.w1, v6.w2, v6.w3, v6.length, v6.afi], [...words, 128, Afi.Ipv6]);
  t.is(new Path(peer(1), 0xfffffffe, ATTRS, true).pathId, 0xfffffffe);
});

test('the table finds Dests by prefix, for both families and every length', (t) => {
  const index = new DestTable();
  const prefixes = [
    ipv4Prefix(0xc0a80000, 16),
    ipv4Prefix(0xc0a80000, 24),
    ipv4Prefix(0, 0),
    ipv6Prefix([0x20010db8, 0, 0, 0], 32),
    ipv6Prefix([0x20010db8, 0x80000000, 0, 1], 128),
  ];
  const dests = prefixes.map((p) => new Dest(p));
  for (const d of dests) index.add(d);
  t.is(index.size, dests.length);
  prefixes.forEach((p, i) => t.is(index.get(p), dests[i]));
  t.is(index.get(ipv4Prefix(0xc0a80000, 17)), undefined);
  t.true(index.delete(dests[1]));
  t.is(index.get(prefixes[1]), undefined);
  t.is(index.get(prefixes[0]), dests[0]);
  t.is([...index.values()].length, dests.length - 1);
});

test('a Dest leaves the Loc-RIB with its last path; a new announcement gets a new one', async (t) => {
  const rib = new LocRib();
  const [one, two] = [peer(1), peer(2)];
  const prefix = parsePrefix('10.0.0.0/24') as Nlri;
  const attrs = rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1' });
  rib.announce(one, prefix, attrs, true);
  rib.announce(two, prefix, attrs, true);
  await rib.settled();
  const first = rib.get(prefix);
  t.is(first?.pathCount, 2);
  rib.withdraw(one, prefix);
  t.is(rib.get(prefix), first);
  rib.withdraw(two, prefix);
  t.is(rib.get(prefix), undefined, 'gone from the table at once');
  t.is(rib.destCount, 0);
  rib.announce(one, prefix, attrs, true);
  const second = rib.get(prefix);
  t.not(second, first);
  const changes: BestPathChange[] = [];
  rib.bestPathChanges$.subscribe((batch) => changes.push(...batch));
  await rib.settled();
  t.is(first?.best, undefined, 'the old Dest is decided: no best path, so its withdrawal goes out');
  t.is(changes[0]?.best, undefined, 'its change comes first');
  t.is(changes[0]?.previousBest?.peer.id, 1);
  t.is(second?.best?.peer.id, 1);
  t.is(rib.pathCount, 1);
});
