// Routing policy against a real BIRD 2 ToR in AS 65001 (eBGP), in a network namespace this file
// creates, with Brindle's Router as a Calico node in AS 64512 running a RoutingPolicy built from the
// resources: an export Reject keeps a prefix away from the ToR and the export default keeps a route
// outside every pool away too; prefixAdvertisements communities (standard and large) and a rule's
// addCommunity / prependASPath arrive as such (read with `birdc`); an import Reject keeps a route out of
// the best paths while the Loc-RIB keeps what BIRD sent; and the BGPPeer's filters list changing
// re-evaluates both directions without a session reset. Needs root.

import test from 'ava';
import { parseIpv4 } from '../../src/lib/address.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import { Router } from '../../src/daemon/router.ts';
import { interopNetwork } from '../helpers/interop.ts';
import type { InteropNetwork } from '../helpers/interop.ts';
import { startBird } from '../helpers/peers.ts';
import type { BirdHandle } from '../helpers/peers.ts';
import { waitFor } from '../helpers/netns.ts';
import { bgpConfig, filter, policyOf, pool, prefixes } from './support.ts';

const NET_INDEX = 14;
const NODE_AS = 64512;
const TOR_AS = 65001;

const FILTERS = [
  filter('tor-export', {
    exportV4: [
      { cidr: '10.67.9.0/26', matchOperator: 'Equal', action: 'Reject' },
      {
        cidr: '10.67.2.0/26',
        matchOperator: 'Equal',
        action: 'Accept',
        operations: [{ addCommunity: { value: '65000:300' } }, { prependASPath: { prefix: [64600, 64601] } }],
      },
    ],
  }),
  filter('tor-import', { importV4: [{ cidr: '203.0.114.0/24', matchOperator: 'Equal', action: 'Reject' }] }),
];

const POLICY = policyOf({
  mode: 'node',
  pools: [pool('10.67.0.0/16')],
  ownBlocks: prefixes('10.67.1.0/26'),
  filters: FILTERS,
  configs: [
    bgpConfig('default', {
      prefixAdvertisements: [{ cidr: '10.67.0.0/16', communities: ['65000:100', '65000:1:2'] }],
    }),
  ],
});

let net: InteropNetwork | undefined;
let bird: BirdHandle | undefined;
let router: Router | undefined;

test.before(async () => {
  net = await interopNetwork(NET_INDEX, 'policy');
  bird = await startBird(
    {
      netns: net.netns,
      routerId: '10.255.0.2',
      localAddress: net.peer4,
      asn: TOR_AS,
      neighbors: [{ address: net.brindle4, asn: NODE_AS, families: ['ipv4'] }],
      staticRoutes: [{ prefix: '203.0.113.0/24' }, { prefix: '203.0.114.0/24' }],
    },
    net.cleanup,
  );
  router = new Router({
    routerId: parseIpv4('10.255.0.1'),
    localAs: NODE_AS,
    log: silentLogger,
    policy: POLICY,
  });
  net.cleanup.add(() => router!.close());
  for (const prefix of ['10.67.1.0/26', '10.67.2.0/26', '10.67.9.0/26', '192.0.2.0/24'])
    router.originate(prefix);
  await router.listen(net.brindle4, 179);
  router.addPeer({
    ...peerConfig({
      name: 'tor',
      remoteAddress: net.peer4,
      localAddress: net.brindle4,
      localAs: NODE_AS,
      peerAs: TOR_AS,
      routerId: parseIpv4('10.255.0.1'),
      families: [0x0101],
    }),
    filters: ['tor-export', 'tor-import'],
  });
  await bird.waitEstablished(net.brindle4);
});

test.after.always(async () => {
  await net?.cleanup.run();
});

/** What BIRD holds for one prefix, as `birdc show route <prefix> all` prints it ('' when nothing). */
async function torRoute(prefix: string): Promise<string> {
  // birdc exits with status 1 and "Network not found" when BIRD holds no route for the prefix.
  const out = await bird!.birdc('show', 'route', prefix, 'all').catch(() => '');
  return out.includes(prefix) ? out : '';
}

function best(prefix: string) {
  return router!.locRib.get(parsePrefix(prefix)!)?.best;
}

test.serial('export: a Reject rule and the export default keep prefixes away from the ToR', async (t) => {
  await waitFor(async () => (await torRoute('10.67.2.0/26')) !== '', {
    timeoutMs: 15_000,
    what: 'routes at BIRD',
  });
  t.not(await torRoute('10.67.1.0/26'), '', 'own block');
  t.is(await torRoute('10.67.9.0/26'), '', 'rejected by tor-export');
  t.is(await torRoute('192.0.2.0/24'), '', 'outside every pool: the export default rejects it');
});

test.serial(
  'communities: prefixAdvertisements and addCommunity / prependASPath arrive as such',
  async (t) => {
    const block = await torRoute('10.67.1.0/26');
    t.regex(block, /BGP\.community:.*\(65000,\s*100\)/);
    t.regex(block, /BGP\.large_community:.*\(65000,\s*1,\s*2\)/);
    t.regex(block, /BGP\.as_path:\s*64512\s*$/m);
    const accepted = await torRoute('10.67.2.0/26');
    t.regex(accepted, /BGP\.community:.*\(65000,\s*300\)/);
    t.notRegex(accepted, /\(65000,\s*100\)/, 'accepted by a filter: the export default does not run');
    t.regex(accepted, /BGP\.as_path:\s*64512 64600 64601\s*$/m);
  },
);

test.serial(
  'import: a Reject keeps the route out of the best paths; the Loc-RIB keeps what BIRD sent',
  async (t) => {
    await waitFor(() => best('203.0.113.0/24') !== undefined, {
      timeoutMs: 15_000,
      what: 'routes from BIRD',
    });
    const dest = router!.locRib.get(parsePrefix('203.0.114.0/24')!);
    t.truthy(dest, 'kept as sent');
    t.is(dest!.pathCount, 1);
    t.is(dest!.best, undefined);
    t.false(dest!.pathAt(0).eligible);
  },
);

test.serial('a changed filters list re-evaluates export and import without a session reset', async (t) => {
  const peer = router!.getPeer(net!.peer4)!;
  const establishedSince = peer.counters.establishedSince;
  router!.setPeerFilters(net!.peer4, []);
  await waitFor(async () => (await torRoute('10.67.9.0/26')) !== '', {
    timeoutMs: 15_000,
    what: '10.67.9.0/26 advertised',
  });
  await waitFor(() => best('203.0.114.0/24') !== undefined, {
    timeoutMs: 15_000,
    what: '203.0.114.0/24 accepted',
  });
  const now = await torRoute('10.67.2.0/26');
  t.regex(now, /\(65000,\s*100\)/, 'the export default now decides, with its communities');
  t.regex(now, /BGP\.as_path:\s*64512\s*$/m);
  t.is(peer.state, SessionState.Established);
  t.is(peer.counters.establishedSince, establishedSince, 'the session was not reset');
  router!.setPeerFilters(net!.peer4, ['tor-export', 'tor-import']);
  await waitFor(async () => (await torRoute('10.67.9.0/26')) === '', {
    timeoutMs: 15_000,
    what: '10.67.9.0/26 withdrawn',
  });
  await waitFor(() => best('203.0.114.0/24') === undefined, {
    timeoutMs: 15_000,
    what: '203.0.114.0/24 rejected again',
  });
  t.is(peer.counters.establishedSince, establishedSince);
});
