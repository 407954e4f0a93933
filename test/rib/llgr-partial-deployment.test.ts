// RFC 9494 §4.6, the Optional Partial Deployment Procedure: with bgp.llgrPartialDeployment a
// long-lived stale route (LLGR_STALE) also goes to an internal peer that did not negotiate LLGR, with
// NO_EXPORT attached and LOCAL_PREF 0; never to an external one; and without the setting, only to
// peers that negotiated LLGR (§4.3). The update group key tells the two kinds of target apart.
import test from 'ava';
import { Origin, WellKnownCommunity } from '../../src/bgp/constants.ts';
import { Afi } from '../../src/lib/family.ts';
import { AttrSetTable } from '../../src/rib/attr-set.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';
import { exportTargetKey } from '../../src/rib/export.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { Path } from '../../src/rib/route.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { ReflectorExport } from '../../src/reflector/reflection.ts';

const AS = 64512;
const policy = new ReflectorExport({ routerId: 0x0a0000fe, clusterId: 0x0a0000fe, localAs: AS });
const table = new AttrSetTable();

const client: RibPeer = {
  id: 1,
  name: 'client',
  addressKey: '4:0a000001',
  bgpIdentifier: 0x0a000001,
  external: false,
  peerAs: AS,
  routeReflectorClient: true,
  local: false,
};

function target(extra: Partial<ExportTarget>): ExportTarget {
  return {
    external: false,
    routeReflectorClient: true,
    localAs: AS,
    peerAs: AS,
    nextHopMode: 'auto',
    localAddress4: '192.0.2.254',
    ...extra,
  };
}

function exported(communities: number[], to: ExportTarget): RouteAttributes | undefined {
  const attrs: RouteAttributes = {
    origin: Origin.Igp,
    asPath: [],
    nextHop: '192.0.2.1',
    localPref: 150,
    communities,
  };
  return policy.exportAttributes(new Path(client, 0, table.intern(attrs), true), Afi.Ipv4, to);
}

const STALE = [WellKnownCommunity.LlgrStale];

test('§4.3 by default: a stale route goes only to peers that negotiated LLGR, unchanged', (t) => {
  t.is(exported(STALE, target({})), undefined);
  const llgr = exported(STALE, target({ longLivedGracefulRestart: true }));
  t.is(llgr?.localPref, 150);
  t.deepEqual(llgr?.communities, STALE);
});

test('§4.6: to an internal peer without LLGR, with NO_EXPORT and LOCAL_PREF 0', (t) => {
  const partial = exported(STALE, target({ llgrPartialDeployment: true }));
  t.is(partial?.localPref, 0);
  t.deepEqual(partial?.communities, [WellKnownCommunity.LlgrStale, WellKnownCommunity.NoExport]);
  const already = exported([WellKnownCommunity.NoExport, ...STALE], target({ llgrPartialDeployment: true }));
  t.deepEqual(
    already?.communities,
    [WellKnownCommunity.NoExport, WellKnownCommunity.LlgrStale],
    'NO_EXPORT once',
  );
});

test('§4.6 only for stale routes, only to internal peers, and not where LLGR was negotiated', (t) => {
  const fresh = exported([], target({ llgrPartialDeployment: true }));
  t.is(fresh?.localPref, 150, 'a route that is not stale is untouched');
  t.deepEqual(fresh?.communities, []);
  const external = target({
    external: true,
    peerAs: 65002,
    routeReflectorClient: false,
    llgrPartialDeployment: true,
  });
  t.is(exported(STALE, external), undefined, 'MUST be internal');
  const llgr = exported(STALE, target({ llgrPartialDeployment: true, longLivedGracefulRestart: true }));
  t.is(llgr?.localPref, 150, 'a peer with LLGR knows the route is stale: sent as is');
});

test('peers with and without the setting are different update groups', (t) => {
  t.not(exportTargetKey(target({})), exportTargetKey(target({ llgrPartialDeployment: true })));
});
