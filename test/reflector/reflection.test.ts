// RFC 4456 as tables: the reflection matrix (who gets what), loop detection on ingress, and the
// attributes of reflected and external routes.
import test from 'ava';
import { AsPathSegmentType, Origin, WellKnownCommunity } from '../../src/bgp/constants.ts';
import { AttrSetTable } from '../../src/rib/attr-set.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { Path } from '../../src/rib/route.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { ReflectorExport, ReflectorIngress } from '../../src/reflector/reflection.ts';
import { Afi } from '../../src/lib/family.ts';

const ID = { routerId: 0x0a0000fe, clusterId: 0x0a0000fe, localAs: 64512 };
const policy = new ReflectorExport(ID);
const ingress = new ReflectorIngress(ID);
const table = new AttrSetTable();

type Role = 'local' | 'ebgp' | 'client' | 'nonclient';
function source(role: Role): RibPeer {
  return {
    id: 1,
    name: role,
    addressKey: '4:0a000001',
    bgpIdentifier: 0x0a000001,
    external: role === 'ebgp',
    peerAs: role === 'ebgp' ? 65001 : 64512,
    routeReflectorClient: role === 'client',
    local: role === 'local',
  };
}

function target(role: Exclude<Role, 'local'>, extra: Partial<ExportTarget> = {}): ExportTarget {
  return {
    external: role === 'ebgp',
    routeReflectorClient: role === 'client',
    localAs: 64512,
    peerAs: role === 'ebgp' ? 65002 : 64512,
    nextHopMode: 'auto',
    localAddress4: '192.0.2.254',
    ...extra,
  };
}

const ATTRS: RouteAttributes = {
  origin: Origin.Igp,
  asPath: [],
  nextHop: '192.0.2.1',
  localPref: 120,
  multiExitDisc: 7,
};

function path(role: Role, attrs: RouteAttributes = ATTRS): Path {
  const a =
    role === 'ebgp'
      ? { ...attrs, asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001] }], localPref: undefined }
      : attrs;
  return new Path(source(role), 0, table.intern(a), true);
}

/** The attributes an IPv4 route from `p` is exported with to `to`. */
function exportV4(p: Path, to: ExportTarget): RouteAttributes | undefined {
  return policy.exportAttributes(p, Afi.Ipv4, to);
}

test('the reflection matrix (RFC 4456 §6; iBGP split horizon without clients)', (t) => {
  const expected: Record<Role, Record<Exclude<Role, 'local'>, boolean>> = {
    local: { ebgp: true, client: true, nonclient: true },
    ebgp: { ebgp: true, client: true, nonclient: true },
    client: { ebgp: true, client: true, nonclient: true },
    nonclient: { ebgp: true, client: true, nonclient: false },
  };
  for (const from of Object.keys(expected) as Role[]) {
    for (const to of ['ebgp', 'client', 'nonclient'] as const) {
      t.is(exportV4(path(from), target(to)) !== undefined, expected[from][to], `${from} → ${to}`);
    }
  }
});

test('a reflected route gets ORIGINATOR_ID (when absent) and our CLUSTER_ID first, next hop unchanged', (t) => {
  const out = exportV4(path('client'), target('client'))!;
  t.is(out.originatorId, 0x0a000001);
  t.deepEqual(out.clusterList, [ID.clusterId]);
  t.is(out.nextHop, '192.0.2.1');
  t.is(out.localPref, 120);
  const again = exportV4(
    path('nonclient', { ...ATTRS, originatorId: 0x0b000001, clusterList: [0x0c000001] }),
    target('client'),
  )!;
  t.is(again.originatorId, 0x0b000001, 'an existing ORIGINATOR_ID is kept');
  t.deepEqual(again.clusterList, [ID.clusterId, 0x0c000001]);
});

test('routes not reflected (local, eBGP-learned) carry no RFC 4456 attributes; LOCAL_PREF defaults to 100 on iBGP', (t) => {
  const fromEbgp = exportV4(path('ebgp'), target('nonclient'))!;
  t.is(fromEbgp.originatorId, undefined);
  t.is(fromEbgp.clusterList, undefined);
  t.is(fromEbgp.localPref, 100);
  const local = exportV4(path('local', { origin: Origin.Igp, asPath: [] }), target('client'))!;
  t.is(local.nextHop, '192.0.2.254', 'a local route without a next hop is sent with ours');
});

test('to eBGP: our AS prepended, next hop self, no LOCAL_PREF, MED or RFC 4456 attributes', (t) => {
  const out = exportV4(path('client', { ...ATTRS, originatorId: 1, clusterList: [2] }), target('ebgp'))!;
  t.deepEqual(out.asPath, [{ type: AsPathSegmentType.AsSequence, asns: [64512] }]);
  t.is(out.nextHop, '192.0.2.254');
  t.is(out.localPref, undefined);
  t.is(out.multiExitDisc, undefined);
  t.is(out.originatorId, undefined);
  t.is(out.clusterList, undefined);
  t.is(exportV4(path('client'), target('ebgp', { nextHopMode: 'keep' }))!.nextHop, '192.0.2.1');
  t.is(exportV4(path('client'), target('client', { nextHopMode: 'self' }))!.nextHop, '192.0.2.254');
});

test("next-hop-self takes our address of the route's family", (t) => {
  const v6 = path('client', { ...ATTRS, nextHop: '2001:db8::1', linkLocalNextHop: 'fe80::1' });
  const out = policy.exportAttributes(v6, Afi.Ipv6, target('ebgp', { localAddress6: '2001:db8::fe' }))!;
  t.is(out.nextHop, '2001:db8::fe');
  t.is(out.linkLocalNextHop, undefined);
  t.is(exportV4(path('client'), target('ebgp', { localAddress6: '2001:db8::fe' }))!.nextHop, '192.0.2.254');
});

test('well-known communities: NO_ADVERTISE to nobody, NO_EXPORT and NO_EXPORT_SUBCONFED not to eBGP', (t) => {
  for (const [community, toEbgp, toIbgp] of [
    [WellKnownCommunity.NoAdvertise, false, false],
    [WellKnownCommunity.NoExport, false, true],
    [WellKnownCommunity.NoExportSubconfed, false, true],
  ] as const) {
    const p = path('client', { ...ATTRS, communities: [community] });
    t.is(exportV4(p, target('ebgp')) !== undefined, toEbgp);
    t.is(exportV4(p, target('client')) !== undefined, toIbgp);
  }
});

test('ingress loop detection: own ORIGINATOR_ID, own CLUSTER_ID, own AS make a path ineligible', (t) => {
  const check = (a: RouteAttributes, role: Role = 'client') =>
    ingress.eligible(source(role), table.intern({ ...ATTRS, ...a }));
  t.true(check({}));
  t.false(check({ originatorId: ID.routerId }));
  t.false(check({ clusterList: [1, ID.clusterId] }));
  t.false(check({ asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65001, 64512] }] }, 'ebgp'));
  t.true(check({ originatorId: ID.routerId }, 'local'));
});
