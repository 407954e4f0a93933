// One test per decision step (RFC 4271 §9.1.2, RFC 4456 §9): two paths equal up to the step, checked
// in both directions (swap which one is better), with a third path that loses earlier, under every
// insertion order of the candidate set.
import test from 'ava';
import { AsPathSegmentType, Origin } from '../../src/bgp/constants.ts';
import { AttrSetTable } from '../../src/rib/attr-set.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';
import { decide, DecisionStep } from '../../src/rib/decision.ts';
import { Path } from '../../src/rib/route.ts';
import type { RibPeer } from '../../src/rib/route.ts';

const table = new AttrSetTable();

function peer(n: number, fields: Partial<RibPeer> = {}): RibPeer {
  return {
    id: n,
    name: `p${n}`,
    addressKey: `192.0.2.${String(n).padStart(3, '0')}`,
    bgpIdentifier: 0x0a000000 + n,
    external: false,
    peerAs: 64512,
    routeReflectorClient: false,
    local: false,
    ...fields,
  };
}

const BASE: RouteAttributes = {
  origin: Origin.Igp,
  asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001, 65002] }],
  nextHop: '192.0.2.254',
  localPref: 100,
};

interface Spec {
  attrs?: Partial<RouteAttributes>;
  peer?: Partial<RibPeer>;
  igpCost?: number;
  pathId?: number;
  eligible?: boolean;
  peerNumber?: number;
}

function path(spec: Spec, n: number): Path {
  return new Path(
    peer(spec.peerNumber ?? n, spec.peer),
    spec.pathId ?? 0,
    table.intern({ ...BASE, ...spec.attrs }),
    spec.eligible ?? true,
    { reachable: true, igpCost: spec.igpCost ?? 0 },
  );
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]),
  );
}

/** [better, worse] for one step: everything before the step equal. */
const STEPS: [DecisionStep, Spec, Spec][] = [
  [DecisionStep.LocalPref, { attrs: { localPref: 200 } }, { attrs: { localPref: 100 } }],
  [
    DecisionStep.AsPathLength,
    { attrs: { asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001] }] } },
    {},
  ],
  [DecisionStep.Origin, { attrs: { origin: Origin.Egp } }, { attrs: { origin: Origin.Incomplete } }],
  [DecisionStep.Med, { attrs: { multiExitDisc: 5 } }, { attrs: { multiExitDisc: 50 } }],
  [DecisionStep.External, { peer: { external: true, peerAs: 65001 } }, {}],
  [DecisionStep.IgpCost, { igpCost: 10 }, { igpCost: 20 }],
  [
    DecisionStep.OriginatorId,
    { attrs: { originatorId: 0x01010101 } },
    { attrs: { originatorId: 0x02020202 } },
  ],
  [DecisionStep.ClusterListLength, { attrs: { clusterList: [1] } }, { attrs: { clusterList: [1, 2] } }],
  [DecisionStep.PeerAddress, {}, {}],
  [DecisionStep.PathId, { peerNumber: 9, pathId: 1 }, { peerNumber: 9, pathId: 2 }],
];

/** A third path that loses before every step above: a lower LOCAL_PREF. */
const EARLY_LOSER: Spec = { attrs: { localPref: 50 } };

for (const [step, better, worse] of STEPS) {
  test(`decision step: ${step}`, (t) => {
    // Same BGP Identifier ordering for the tie-breakers before peer address: give both paths the
    // same ORIGINATOR_ID unless the step is about it, so the later steps are reached.
    const tieFields = step === DecisionStep.OriginatorId ? {} : { originatorId: 0x05050505 };
    const withTie = (s: Spec): Spec => ({ ...s, attrs: { ...tieFields, ...s.attrs } });
    for (const direction of ['forward', 'swapped'] as const) {
      const [a, b] =
        direction === 'forward' ? [withTie(better), withTie(worse)] : [withTie(worse), withTie(better)];
      // Peer numbers decide the peer-address step: the better path gets the lower address.
      const winnerIndex = direction === 'forward' ? 0 : 1;
      const pa = path(a, step === DecisionStep.PeerAddress ? (winnerIndex === 0 ? 1 : 2) : 1);
      const pb = path(b, step === DecisionStep.PeerAddress ? (winnerIndex === 0 ? 2 : 1) : 2);
      const winner = winnerIndex === 0 ? pa : pb;
      const third = path(withTie(EARLY_LOSER), 3);
      for (const order of permutations([pa, pb, third])) {
        const d = decide(order);
        t.is(d.best, winner, `${direction}, order ${order.map((p) => p.peer.name).join(',')}`);
        t.is(d.decidedBy, step);
      }
      const why = decide([pa, pb, third]).lostAt;
      t.is(why.get(winner), undefined);
      t.is(why.get(winner === pa ? pb : pa), step);
      t.is(why.get(third), DecisionStep.LocalPref);
    }
  });
}

test('MED is compared only between paths from the same neighbouring AS, unless always-compare is on', (t) => {
  const fromA1 = path({ attrs: { multiExitDisc: 10, asPath: [{ type: 2, asns: [65001, 1] }] } }, 1);
  const fromA2 = path({ attrs: { multiExitDisc: 20, asPath: [{ type: 2, asns: [65001, 2] }] } }, 2);
  const fromB = path({ attrs: { multiExitDisc: 5, asPath: [{ type: 2, asns: [65002, 3] }] } }, 3);
  // RFC elimination: A2 loses to A1 (same AS); A1 and B are not compared on MED; the peer address
  // (A1 lowest) decides, whatever the order.
  for (const order of permutations([fromA1, fromA2, fromB])) {
    t.is(decide(order).best, fromA1);
    t.is(decide(order, { alwaysCompareMed: true }).best, fromB);
  }
});

test('ineligible paths never win, and no eligible path means no best', (t) => {
  const loop = path({ eligible: false, attrs: { localPref: 1000 } }, 1);
  const ok = path({}, 2);
  t.is(decide([loop, ok]).best, ok);
  t.like(decide([loop]), { best: undefined, decidedBy: DecisionStep.None });
  t.is(decide([loop, ok]).lostAt.get(loop), 'ineligible');
});

test('AS_SET counts one, confederation segments none', (t) => {
  const set = path(
    {
      attrs: {
        asPath: [
          { type: AsPathSegmentType.AsSequence, asns: [65001] },
          { type: AsPathSegmentType.AsSet, asns: [1, 2, 3] },
        ],
      },
    },
    1,
  );
  const seq = path(
    { attrs: { asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001, 65002, 65003] }] } },
    2,
  );
  const confed = path(
    {
      attrs: {
        asPath: [
          { type: AsPathSegmentType.AsConfedSequence, asns: [1, 2, 3, 4] },
          { type: AsPathSegmentType.AsSequence, asns: [65001, 65002, 65003] },
        ],
      },
    },
    3,
  );
  t.is(set.attrs.asPathLength, 2);
  t.is(confed.attrs.asPathLength, 3);
  t.is(decide([seq, set]).best, set);
  t.is(confed.attrs.neighborAs, 65001);
});

test('the ECMP set holds the paths equal through the IGP cost step', (t) => {
  const a = path({ attrs: { originatorId: 9 } }, 1);
  const b = path({ attrs: { originatorId: 8 } }, 2);
  const c = path({ igpCost: 5 }, 3);
  const d = decide([a, b, c]);
  t.is(d.best, b);
  t.deepEqual(new Set(d.ecmp), new Set([a, b]));
  t.is(d.decidedBy, DecisionStep.OriginatorId);
});

test('attribute sets are interned: equal attributes are one object, released when unused', (t) => {
  const local = new AttrSetTable();
  const one = local.intern({ ...BASE, communities: [1, 2] });
  const two = local.intern({ ...BASE, communities: [1, 2] });
  t.is(one, two);
  t.true(Object.isFrozen(one.attributes) && Object.isFrozen(one.attributes.communities));
  t.not(local.intern({ ...BASE, communities: [2, 1] }), one);
  t.is(local.size, 2);
  local.release(one);
  local.release(two);
  t.is(local.size, 1);
});
