// Ingress of NLRI by family (RFC 4760 §7): only the families negotiated on the session reach the
// Loc-RIB; the rest, announcements and withdrawals alike, is counted as ignored.
import test from 'ava';
import { MessageType, Origin } from '../../src/bgp/constants.ts';
import type { UpdateMessage } from '../../src/bgp/types.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { Afi, IPV4_UNICAST, IPV6_UNICAST, Safi } from '../../src/lib/family.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { applyUpdate } from '../../src/rib/ingress.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { RibPeer } from '../../src/rib/route.ts';

const PEER: RibPeer = {
  id: 1,
  name: 'peer',
  addressKey: '4:0a000001',
  bgpIdentifier: parseIpv4('10.0.0.1'),
  external: false,
  peerAs: 64512,
  routeReflectorClient: true,
  local: false,
};
const EVERY_PATH = { eligible: () => true };
const prefix = (text: string) => parsePrefix(text) as Nlri;

function update(fields: Partial<UpdateMessage>): UpdateMessage {
  return {
    type: MessageType.Update,
    withdrawnRoutes: [],
    attributes: { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.1' },
    nlri: [],
    errors: [],
    ...fields,
  };
}

const dualUpdate = update({
  nlri: [prefix('10.1.0.0/24')],
  mpReach: { afi: Afi.Ipv6, safi: Safi.Unicast, nextHop: 'fd00::1', nlri: [prefix('fd00:1::/64')] },
});

test('an IPv4-only session installs the IPv4 NLRI and ignores MP_REACH_NLRI for IPv6', (t) => {
  const rib = new LocRib();
  const result = applyUpdate(rib, PEER, dualUpdate, EVERY_PATH, new Set([IPV4_UNICAST]));
  t.deepEqual(result, { announced: 1, withdrawn: 0, ignored: 1 });
  t.truthy(rib.get(prefix('10.1.0.0/24')));
  t.is(rib.get(prefix('fd00:1::/64')), undefined);
});

test('an IPv6-only session ignores the IPv4 NLRI and Withdrawn Routes fields', (t) => {
  const rib = new LocRib();
  const withdrawal = update({ withdrawnRoutes: [prefix('10.2.0.0/24')] });
  t.deepEqual(applyUpdate(rib, PEER, withdrawal, EVERY_PATH, new Set([IPV6_UNICAST])), {
    announced: 0,
    withdrawn: 0,
    ignored: 1,
  });
  const result = applyUpdate(rib, PEER, dualUpdate, EVERY_PATH, new Set([IPV6_UNICAST]));
  t.deepEqual(result, { announced: 1, withdrawn: 0, ignored: 1 });
  t.is(rib.get(prefix('10.1.0.0/24')), undefined);
  t.truthy(rib.get(prefix('fd00:1::/64')));
});

test('MP_UNREACH_NLRI of a family not negotiated is ignored too', (t) => {
  const rib = new LocRib();
  const both = new Set([IPV4_UNICAST, IPV6_UNICAST]);
  applyUpdate(rib, PEER, dualUpdate, EVERY_PATH, both);
  const unreach = update({
    mpUnreach: { afi: Afi.Ipv6, safi: Safi.Unicast, withdrawn: [prefix('fd00:1::/64')] },
  });
  t.deepEqual(applyUpdate(rib, PEER, unreach, EVERY_PATH, new Set([IPV4_UNICAST])), {
    announced: 0,
    withdrawn: 0,
    ignored: 1,
  });
  t.deepEqual(applyUpdate(rib, PEER, unreach, EVERY_PATH, both), { announced: 0, withdrawn: 1, ignored: 0 });
});

// RFC 4271 §6.3: a NEXT_HOP that is the receiving speaker's own address makes the route ignored — an
// ineligible path that replaces the peer's earlier one — with the session up and the error logged once.

function localAddresses(...addresses: string[]) {
  const told: number[] = [];
  return { told, has: (a: string) => addresses.includes(a), nextHopIsLocal: (n: number) => told.push(n) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a NEXT_HOP that is our own address: the path is ineligible, never best, and reported', async (t) => {
  const rib = new LocRib();
  const local = localAddresses('192.0.2.1', 'fd00::1');
  const v4 = new Set([IPV4_UNICAST]);
  const good = update({
    nlri: [prefix('10.1.0.0/24')],
    attributes: { origin: 0, asPath: [], nextHop: '192.0.2.9' },
  });
  applyUpdate(rib, PEER, good, EVERY_PATH, v4, local);
  await settle();
  t.truthy(rib.get(prefix('10.1.0.0/24'))?.best, 'installed while its NEXT_HOP is the peer');
  const own = update({ nlri: [prefix('10.1.0.0/24'), prefix('10.1.1.0/24')] });
  t.deepEqual(applyUpdate(rib, PEER, own, EVERY_PATH, v4, local), { announced: 2, withdrawn: 0, ignored: 0 });
  await settle();
  for (const text of ['10.1.0.0/24', '10.1.1.0/24']) {
    const dest = rib.get(prefix(text));
    t.is(dest?.best, undefined, `${text} has no best path`);
    t.is(dest?.paths.length, 1, `${text} keeps the ignored path, replacing the earlier one`);
    t.false(dest?.paths[0].eligible);
  }
  t.deepEqual(local.told, [2]);
});

test('an MP_REACH_NLRI next hop (global or link-local) that is ours is ignored the same way', async (t) => {
  const rib = new LocRib();
  const local = localAddresses('fd00::1', 'fe80::1');
  const v6 = new Set([IPV6_UNICAST]);
  const mp = (nextHop: string, linkLocalNextHop?: string) =>
    update({
      mpReach: {
        afi: Afi.Ipv6,
        safi: Safi.Unicast,
        nextHop,
        linkLocalNextHop,
        nlri: [prefix('fd00:1::/64')],
      },
    });
  applyUpdate(rib, PEER, mp('fd00::1'), EVERY_PATH, v6, local);
  await settle();
  t.is(rib.get(prefix('fd00:1::/64'))?.best, undefined);
  applyUpdate(rib, PEER, mp('fd00::2', 'fe80::1'), EVERY_PATH, v6, local);
  await settle();
  t.is(rib.get(prefix('fd00:1::/64'))?.best, undefined);
  applyUpdate(rib, PEER, mp('fd00::2', 'fe80::2'), EVERY_PATH, v6, local);
  await settle();
  t.truthy(rib.get(prefix('fd00:1::/64'))?.best, 'a peer address as next hop is fine');
  t.deepEqual(local.told, [1, 1]);
});
