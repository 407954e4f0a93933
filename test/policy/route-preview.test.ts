// The route preview over a Loc-RIB (policy/route-preview.ts), without sockets: it reports per peer
// what a candidate policy would advertise, withdraw, change and drop or accept on import — including a
// best path that moves because import rejects the current one, a removed session's routes, and routes
// this node would originate or withdraw — and leaves the RIB exactly as it found it, walking it a
// bounded slice per event-loop turn.

import test from 'ava';
import { MessageType, Origin } from '../../src/bgp/constants.ts';
import type { UpdateMessage } from '../../src/bgp/types.ts';
import { IPV4_UNICAST } from '../../src/lib/family.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { applyUpdate } from '../../src/rib/ingress.ts';
import type { IngressPolicy } from '../../src/rib/ingress.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import { AttrSetTable } from '../../src/rib/attr-set.ts';
import type { Dest, RibPeer } from '../../src/rib/route.ts';
import { ReflectorExport, ReflectorIngress } from '../../src/reflector/reflection.ts';
import type { RoutingPolicy } from '../../src/policy/policy.ts';
import { previewRoutes } from '../../src/policy/route-preview.ts';
import type { PeerRouteChanges, PreviewPeer } from '../../src/policy/route-preview.ts';
import { EBGP_AS, LOCAL_AS, policyOf, rulesFilter, target } from './support.ts';

const IDENTITY = { routerId: 0x0a0000fe, clusterId: 0x0a0000fe, localAs: LOCAL_AS };
const LOCAL = { has: () => false, nextHopIsLocal: () => undefined };
const nlri = (text: string) => parsePrefix(text) as Nlri;

function peer(id: number, localPref: number): RibPeer & { localPref: number } {
  return {
    id,
    name: `p${id}`,
    addressKey: `4:0a00000${id}`,
    bgpIdentifier: 0x0a000000 + id,
    external: true,
    peerAs: EBGP_AS + id,
    routeReflectorClient: false,
    local: false,
    localPref,
  };
}

const A = peer(1, 200);
const B = peer(2, 100);
const C = peer(3, 100);

function ingress(policy: RoutingPolicy, filters: readonly string[]): IngressPolicy {
  const loops = new ReflectorIngress(IDENTITY);
  return {
    eligible: (p, attrs) => loops.eligible(p, attrs),
    imported: (p, prefix, attrs, table) => policy.importAttributes(filters, p, prefix, attrs, table),
  };
}

function announce(rib: LocRib, from: RibPeer & { localPref: number }, prefixes: string[]): void {
  const update: UpdateMessage = {
    type: MessageType.Update,
    withdrawnRoutes: [],
    attributes: {
      origin: Origin.Igp,
      asPath: [{ type: 2, asns: [from.peerAs] }],
      nextHop: `192.0.2.${from.id}`,
      localPref: from.localPref,
    },
    nlri: prefixes.map(nlri),
    errors: [],
  };
  applyUpdate(rib, from, update, ingress(policyOf({}), []), new Set([IPV4_UNICAST]), LOCAL);
}

/** C's session as it stands: sent the export of the current best under `current` (its Adj-RIB-Out). */
function sessionC(current: RoutingPolicy, candidate: RoutingPolicy, filters: string[]): PreviewPeer {
  const exportNow = new ReflectorExport(IDENTITY, current);
  // The Adj-RIB-Out's sets, kept apart from the RIB's table (which the test checks is left alone).
  const sent = new AttrSetTable();
  const to = target('ebgp');
  return {
    name: 'c',
    remoteAddress: '192.0.2.3',
    ribPeer: C,
    local: LOCAL,
    ingress: ingress(candidate, filters),
    target: { ...to, filters },
    advertised: (dest: Dest) => {
      const best = dest.best;
      const verdict = best && best.peer !== C && exportNow.exportVerdict(dest, best, to);
      const attributes = verdict && exportNow.exportAttributes(best, dest.afi, to, verdict);
      return attributes ? [{ attrs: sent.intern(attributes) }] : [];
    },
    sendMode: () => 'best',
  };
}

/** A's session: only its import matters here. */
function sessionA(candidate: RoutingPolicy, filters: string[]): PreviewPeer {
  return {
    name: 'a',
    remoteAddress: '192.0.2.1',
    ribPeer: A,
    local: LOCAL,
    ingress: ingress(candidate, filters),
    target: target('ebgp', filters),
    advertised: () => [],
    sendMode: () => 'best',
  };
}

/** A with its import filter `a-in`, C with no filters, under `candidate`. */
function previewAC(rib: LocRib, candidate: RoutingPolicy, visitsPerTurn?: number) {
  return previewRoutes({
    rib,
    peers: [sessionA(candidate, ['a-in']), sessionC(policyOf({}), candidate, [])],
    removed: new Set(),
    exportPolicy: new ReflectorExport(IDENTITY, candidate),
    decision: { alwaysCompareMed: false },
    visitsPerTurn,
  });
}

const sorted = (c: PeerRouteChanges | undefined) => ({
  advertised: [...(c?.advertised ?? [])].sort(),
  withdrawn: [...(c?.withdrawn ?? [])].sort(),
  changed: [...(c?.changed ?? [])].sort(),
  importDropped: [...(c?.importDropped ?? [])].sort(),
  importAccepted: [...(c?.importAccepted ?? [])].sort(),
});

test('import moving a best path, export rules and a removed session, per peer', async (t) => {
  const rib = new LocRib();
  announce(rib, A, ['10.1.0.0/24', '10.2.0.0/24', '10.3.0.0/24']);
  announce(rib, B, ['10.1.0.0/24', '10.4.0.0/24']);
  await rib.settled();
  const current = policyOf({});
  const candidate = policyOf({
    filters: [
      rulesFilter('a-in', 'import', false, [
        { cidr: '10.1.0.0/24', matchOperator: 'Equal', action: 'Reject' },
      ]),
      rulesFilter('c-out', 'export', false, [
        { cidr: '10.2.0.0/24', matchOperator: 'Equal', action: 'Reject' },
        { cidr: '10.9.0.0/24', matchOperator: 'Equal', action: 'Accept' },
      ]),
    ],
  });
  const preview = await previewRoutes({
    rib,
    peers: [sessionA(candidate, ['a-in']), sessionC(current, candidate, ['c-out'])],
    removed: new Set([B]),
    exportPolicy: new ReflectorExport(IDENTITY, candidate),
    decision: { alwaysCompareMed: false },
  });
  const [a, c] = preview.peers;
  t.is(preview.destinations, 4);
  t.deepEqual(sorted(a), { ...sorted(undefined), importDropped: ['10.1.0.0/24'] });
  t.deepEqual(sorted(c), {
    ...sorted(undefined),
    // 10.1: A's path rejected on import, B's session removed: nothing left. 10.4: B's only.
    withdrawn: ['10.1.0.0/24', '10.2.0.0/24', '10.4.0.0/24'],
  });
});

test('a best path that moves to another peer is an attribute change for the receiver', async (t) => {
  const rib = new LocRib();
  announce(rib, A, ['10.1.0.0/24']);
  announce(rib, B, ['10.1.0.0/24']);
  await rib.settled();
  t.is(rib.get(nlri('10.1.0.0/24'))?.best?.peer, A);
  const candidate = policyOf({
    filters: [
      rulesFilter('a-in', 'import', false, [{ cidr: '10.0.0.0/8', matchOperator: 'In', action: 'Reject' }]),
    ],
  });
  const preview = await previewAC(rib, candidate);
  t.deepEqual(preview.peers[1].changed, ['10.1.0.0/24'], "B's path: another AS_PATH");
  t.deepEqual(preview.peers[0].importDropped, ['10.1.0.0/24']);
});

test('the RIB is left as it was, and the walk yields between slices', async (t) => {
  const rib = new LocRib();
  const prefixes = Array.from({ length: 1000 }, (_, i) => `10.${i >> 8}.${i & 0xff}.0/24`);
  announce(rib, A, prefixes);
  await rib.settled();
  const bests = () => [...rib.dests()].map((d) => d.best);
  const before = { sets: rib.attrSets.size, paths: rib.pathCount, bests: bests() };
  const candidate = policyOf({
    filters: [
      rulesFilter('a-in', 'import', false, [
        {
          cidr: '10.0.0.0/8',
          matchOperator: 'In',
          action: 'Accept',
          operations: [{ addCommunity: { value: '65000:1' } }],
        },
      ]),
    ],
  });
  let turns = 0;
  let walking = true;
  const tick = () => {
    turns++;
    if (walking) setImmediate(tick);
  };
  setImmediate(tick);
  const preview = await previewAC(rib, candidate, 100);
  walking = false;
  t.true(turns >= 9, `other work ran ${turns} times between the 10 slices of 100 destinations`);
  t.is(preview.peers[1].changed.length, 1000, 'every route to C gains the community');
  t.is(preview.peers[1].changed[0], formatPrefix(nlri('10.0.0.0/24')));
  t.deepEqual({ sets: rib.attrSets.size, paths: rib.pathCount, bests: bests() }, before);
});

test('routes this node would originate or withdraw are advertised or withdrawn to every peer', async (t) => {
  const rib = new LocRib();
  const self: RibPeer = { ...peer(9, 100), name: 'local', external: false, local: true };
  const local = { origin: Origin.Igp, asPath: [] };
  const attrs = rib.attrSets.intern(local);
  rib.announce(self, nlri('10.5.0.0/24'), attrs, true);
  rib.attrSets.release(attrs);
  announce(rib, B, ['10.6.0.0/24']);
  await rib.settled();
  const policy = policyOf({});
  const preview = await previewRoutes({
    rib,
    peers: [sessionC(policy, policy, [])],
    removed: new Set(),
    exportPolicy: new ReflectorExport(IDENTITY, policy),
    decision: { alwaysCompareMed: false },
    originated: {
      peer: self,
      attributes: local,
      announce: [nlri('10.7.0.0/24'), nlri('10.6.0.0/24')],
      withdraw: ['10.5.0.0/24'],
    },
  });
  t.deepEqual(sorted(preview.peers[0]), {
    advertised: ['10.7.0.0/24'],
    withdrawn: ['10.5.0.0/24'],
    // C is sent the better of B's path and the local one: the local one (shorter AS_PATH).
    changed: ['10.6.0.0/24'],
    importDropped: [],
    importAccepted: [],
  });
  t.is(rib.get(nlri('10.7.0.0/24')), undefined, 'the Loc-RIB is left alone');
  t.is(rib.get(nlri('10.5.0.0/24'))?.best?.peer, self);
});
