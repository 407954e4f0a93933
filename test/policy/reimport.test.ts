// Import judged again from the Adj-RIB-In (rib/adj-rib-in.ts): a policy change re-runs the peer's
// import filters over what the peer sent, as stored, without asking the peer for anything. A rejected
// path comes back, an accepted one goes, a path an operation changed is changed again from what was
// sent (never from what the old policy made of it), and a loop stays a loop whatever the policy says.

import test from 'ava';
import { MessageType, Origin } from '../../src/bgp/constants.ts';
import type { UpdateMessage } from '../../src/bgp/types.ts';
import { IPV4_UNICAST } from '../../src/lib/family.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { reimportPeer } from '../../src/rib/adj-rib-in.ts';
import { applyUpdate } from '../../src/rib/ingress.ts';
import type { IngressPolicy } from '../../src/rib/ingress.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { Dest } from '../../src/rib/route.ts';
import { Walker } from '../../src/rib/walker.ts';
import type { RoutingPolicy } from '../../src/policy/policy.ts';
import { asPath, EBGP_AS, policyOf, ribPeer, rulesFilter } from './support.ts';

const PEER = ribPeer('ebgp');
const LOCAL = { has: () => false, nextHopIsLocal: () => undefined };
const nlri = (text: string) => parsePrefix(text) as Nlri;

/** Loop checks as the reflector's: our AS in the path is a loop. */
function ingress(policy: RoutingPolicy, filters: readonly string[]): IngressPolicy {
  return {
    eligible: (_peer, attrs) => !attrs.containsAs(64512),
    imported: (peer, prefix, attrs, table) => policy.importAttributes(filters, peer, prefix, attrs, table),
  };
}

function announce(rib: LocRib, policy: IngressPolicy, prefixes: string[], path = asPath(EBGP_AS)): void {
  const update: UpdateMessage = {
    type: MessageType.Update,
    withdrawnRoutes: [],
    attributes: { origin: Origin.Igp, asPath: path, nextHop: '192.0.2.1' },
    nlri: prefixes.map(nlri),
    errors: [],
  };
  applyUpdate(rib, PEER, update, policy, new Set([IPV4_UNICAST]), LOCAL);
}

const REJECT_9 = rulesFilter('f', 'import', false, [
  { cidr: '10.9.0.0/16', matchOperator: 'In', action: 'Reject' },
]);
const TAG = (value: string) =>
  rulesFilter('f', 'import', false, [
    { cidr: '10.0.0.0/8', matchOperator: 'In', action: 'Accept', operations: [{ addCommunity: { value } }] },
  ]);

async function reimport(rib: LocRib, policy: IngressPolicy): Promise<number> {
  const changed = await reimportPeer(rib, PEER, policy, LOCAL, new Walker<Dest>(2), () => true);
  await rib.settled();
  return changed;
}

const best = (rib: LocRib, prefix: string) => rib.get(nlri(prefix))?.best;

test('a filter change re-judges the stored paths: rejected ones come back, accepted ones go', async (t) => {
  const rib = new LocRib();
  announce(rib, ingress(policyOf({ filters: [REJECT_9] }), ['f']), ['10.9.1.0/24', '10.8.1.0/24']);
  await rib.settled();
  t.is(best(rib, '10.9.1.0/24'), undefined, 'rejected on import, kept as sent');
  t.truthy(best(rib, '10.8.1.0/24'));
  const flipped = rulesFilter('f', 'import', false, [
    { cidr: '10.8.0.0/16', matchOperator: 'In', action: 'Reject' },
  ]);
  t.is(await reimport(rib, ingress(policyOf({ filters: [flipped] }), ['f'])), 2);
  t.truthy(best(rib, '10.9.1.0/24'), 'accepted by the new filter without the peer sending it again');
  t.is(best(rib, '10.8.1.0/24'), undefined);
  t.is(
    await reimport(rib, ingress(policyOf({ filters: [flipped] }), ['f'])),
    0,
    'no change, nothing replaced',
  );
});

test('a changed operation applies to what the peer sent, not to what the old one made of it', async (t) => {
  const rib = new LocRib();
  announce(rib, ingress(policyOf({ filters: [TAG('65000:1')] }), ['f']), ['10.1.0.0/24']);
  await rib.settled();
  t.deepEqual(best(rib, '10.1.0.0/24')?.attrs.attributes.communities, [65000 * 65536 + 1]);
  await reimport(rib, ingress(policyOf({ filters: [TAG('65000:2')] }), ['f']));
  t.deepEqual(best(rib, '10.1.0.0/24')?.attrs.attributes.communities, [65000 * 65536 + 2]);
  const sets = rib.attrSets.size;
  await reimport(rib, ingress(policyOf({ filters: [] }), []));
  t.is(best(rib, '10.1.0.0/24')?.attrs.attributes.communities, undefined, 'back to what was sent');
  t.is(rib.attrSets.size, sets - 1, 'the changed set is released; what was sent stays, held by the path');
  rib.withdraw(PEER, nlri('10.1.0.0/24'));
  await rib.settled();
  t.is(rib.attrSets.size, 0, 'nothing outlives the path');
});

test('what the peer sent is released with the path it belongs to', async (t) => {
  const rib = new LocRib();
  const tag = ingress(policyOf({ filters: [TAG('65000:1')] }), ['f']);
  announce(rib, tag, ['10.1.0.0/24', '10.2.0.0/24']);
  await reimport(rib, ingress(policyOf({ filters: [TAG('65000:3')] }), ['f']));
  t.is(rib.attrSets.size, 2, "what was sent, and the new policy's set; the old policy's is gone");
  announce(rib, tag, ['10.1.0.0/24']);
  rib.withdraw(PEER, nlri('10.2.0.0/24'));
  rib.withdraw(PEER, nlri('10.1.0.0/24'));
  await rib.settled();
  t.is(rib.attrSets.size, 0);
});

test('a loop stays ineligible whatever the import filters say', async (t) => {
  const rib = new LocRib();
  announce(rib, ingress(policyOf({ filters: [REJECT_9] }), ['f']), ['10.7.0.0/24'], asPath(EBGP_AS, 64512));
  t.is(await reimport(rib, ingress(policyOf({ filters: [] }), [])), 0);
  t.is(best(rib, '10.7.0.0/24'), undefined);
});

test('a stale path judged again stays stale', async (t) => {
  const rib = new LocRib();
  announce(rib, ingress(policyOf({ filters: [REJECT_9] }), ['f']), ['10.9.1.0/24']);
  await rib.settled();
  rib.markStale(PEER, 1);
  await reimport(rib, ingress(policyOf({ filters: [] }), []));
  const dest = rib.get(nlri('10.9.1.0/24'))!;
  t.truthy(dest.best);
  t.true(rib.isStale(dest, dest.best!));
});
