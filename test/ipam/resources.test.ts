// Where IPAM reads pools, IPAMConfiguration and node labels from (src/ipam/resources.ts): the store on
// every request, or a ResourceCache that follows it (cachedResources) — the same view either way, and
// the store itself until the cache has listed.

import test from 'ava';

import { cachedResources, storeResources } from '../../src/ipam/resources.ts';
import type { IpamResourceView } from '../../src/ipam/resources.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { ResourceCache } from '../../src/resources/store.ts';
import { waitFor } from '../helpers/netns.ts';
import { lmdbBackend, seedIpamConfig, seedNode, seedPool } from './support.ts';

/** What IPAM uses of a view (the cache also carries each resource's resourceVersion). */
function used(view: IpamResourceView) {
  return {
    pools: view.pools.map((p) => ({ name: p.metadata.name, spec: p.spec })),
    ipamConfiguration: view.ipamConfiguration,
    nodeLabels: view.nodeLabels,
  };
}

test('cachedResources gives the view storeResources reads, and follows changes', async (t) => {
  const store = await lmdbBackend.open(t);
  await seedPool(store, 'labelled', { cidr: '10.65.0.0/16', nodeSelector: "rack == 'a'" });
  await seedIpamConfig(store, { strictAffinity: true });
  await seedNode(store, 'n1', { rack: 'a' });
  const cache = new ResourceCache(store, silentLogger);
  t.teardown(() => cache.stop());
  const cached = cachedResources(cache, store);
  const direct = storeResources(store);

  t.deepEqual(used(await cached.read('n1')), used(await direct.read('n1')), 'before the cache has listed');
  await cache.start();
  const view = await cached.read('n1');
  t.deepEqual(used(view), used(await direct.read('n1')));
  t.deepEqual(view.nodeLabels, { rack: 'a' });
  t.is(view.ipamConfiguration?.strictAffinity, true);
  t.deepEqual((await cached.read('unknown-node')).nodeLabels, {});

  await seedPool(store, 'second', { cidr: '10.66.0.0/16' });
  await waitFor(async () => (await cached.read('n1')).pools.length === 2, {
    timeoutMs: 5_000,
    what: 'the cache to see the new pool',
  });
  t.deepEqual(used(await cached.read('n1')), used(await direct.read('n1')));
});
