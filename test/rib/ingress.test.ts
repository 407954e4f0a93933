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
