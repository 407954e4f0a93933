// etcd replaced under a running store at the same address: wiped and refilled or restored from a
// backup (its revision goes back), or another cluster (its cluster ID changes). A watch resuming from the
// old revision would wait for a revision that may never come, so the store ends its watches with
// 'reset' and the resource cache lists again at once, without a SIGHUP.

import test from 'ava';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { filter, firstValueFrom, timeout } from 'rxjs';

import { openEtcdStore } from '../../src/datastore/etcd-store.ts';
import { isStoreError } from '../../src/datastore/store.ts';
import { ResourceCache, ResourceStore } from '../../src/resources/store.ts';
import type { ResourceSnapshot } from '../../src/resources/store.ts';
import { LogCapture } from '../api/support.ts';
import { startEtcd } from '../helpers/etcd.ts';
import type { EtcdHandle } from '../helpers/etcd.ts';
import { json, WAIT_MS, watchFailure } from './support.ts';
import { startTcpProxy } from './tcp-proxy.ts';

const FAST = { requestTimeoutMs: 2_000, healthIntervalMs: 200, watchRetryMinMs: 50, watchRetryMaxMs: 500 };

/** Kill etcd, empty its data dir and start it again on the same ports: a new history at revision 1. */
async function wipe(etcd: EtcdHandle): Promise<void> {
  await etcd.kill();
  for (const entry of await readdir(etcd.dataDir)) {
    await rm(join(etcd.dataDir, entry), { recursive: true, force: true });
  }
  await etcd.restart();
}

const bgpPeer = (name: string, asNumber: number) => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'BGPPeer',
  metadata: { name },
  spec: { peerIP: '192.0.2.10', asNumber },
});

function snapshotWhere(cache: ResourceCache, test: (s: ResourceSnapshot) => boolean) {
  return firstValueFrom(
    cache.snapshot$.pipe(
      filter((s): s is ResourceSnapshot => s !== undefined && test(s)),
      timeout(WAIT_MS),
    ),
  );
}

test.serial('a wiped etcd ends every watch with reset', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const store = openEtcdStore({ endpoints: [etcd.endpoint], prefix: '/brindle-reset/', ...FAST });
  t.teardown(() => store.close());
  for (let i = 0; i < 30; i++) await store.create(`k/${i}`, json(i));
  const { revision } = await store.list('k/');
  t.true(revision > 30);
  const failure = watchFailure(store.watch('k/', revision));
  await wipe(etcd);
  const error = await failure;
  t.true(isStoreError(error, 'reset'), String(error));
  t.regex(String(error), /revision went back from \d+ to \d+/);
  t.true((await store.list('k/')).revision < revision, 'a new history');
});

test.serial('another etcd cluster behind the same address ends every watch with reset', async (t) => {
  const first = await startEtcd();
  t.teardown(() => first.stop());
  const second = await startEtcd();
  t.teardown(() => second.stop());
  // The second cluster is ahead, so only its cluster ID tells it apart.
  const writer = openEtcdStore({ endpoints: [second.endpoint], prefix: '/brindle-reset/', ...FAST });
  t.teardown(() => writer.close());
  for (let i = 0; i < 20; i++) await writer.create(`k/${i}`, json(i));
  const proxy = await startTcpProxy(first.clientPort);
  t.teardown(() => proxy.close());
  const store = openEtcdStore({ endpoints: [proxy.endpoint], prefix: '/brindle-reset/', ...FAST });
  t.teardown(() => store.close());
  const { revision } = await store.list('k/');
  const failure = watchFailure(store.watch('k/', revision));
  await proxy.cut();
  await proxy.restore(second.clientPort);
  const error = await failure;
  t.true(isStoreError(error, 'reset'), String(error));
  t.regex(String(error), /cluster ID changed/);
});

test.serial('the resource cache sees resources re-applied to a wiped etcd, without SIGHUP', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const store = openEtcdStore({ endpoints: [etcd.endpoint], prefix: '/brindle-reset/', ...FAST });
  t.teardown(() => store.close());
  const resources = new ResourceStore(store);
  for (let i = 0; i < 40; i++) t.true((await resources.write(bgpPeer('rack1-tor', 65000 + i), 'apply')).ok);
  const capture = new LogCapture();
  const cache = new ResourceCache(store, capture.log);
  t.teardown(() => cache.stop());
  await cache.start();
  const before = cache.current?.revision ?? 0;
  t.true(before >= 40);
  t.is(cache.current?.peers[0].spec.asNumber, 65039);

  await wipe(etcd);
  // The operator re-applies the resources (changed a little, so the test can tell) as after a restore.
  for (let attempt = 0; ; attempt++) {
    try {
      t.true((await resources.write(bgpPeer('rack1-tor', 64999), 'apply')).ok);
      t.true((await resources.write(bgpPeer('rack2-tor', 64998), 'apply')).ok);
      break;
    } catch (error) {
      if (attempt >= 20 || !isStoreError(error, 'unavailable')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const seen = await snapshotWhere(cache, (s) => s.peers.length === 2);
  t.true(seen.revision < before, `revision ${seen.revision} after ${before}`);
  t.deepEqual(
    seen.peers.map((p) => [p.metadata.name, p.spec.asNumber]),
    [
      ['rack1-tor', 64999],
      ['rack2-tor', 64998],
    ],
  );
  const warned = capture.events('datastore-reset');
  t.true(warned.length >= 1, JSON.stringify(capture.lines.map((l) => l.event)));
  t.is(warned[0].level, 40, 'at warn');
});
