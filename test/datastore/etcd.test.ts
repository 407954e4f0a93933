// The etcd backend against a real etcd: the shared contract (one etcd for the file, one key prefix per
// test), plus paging, prefix isolation and etcd's own compaction.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Etcd3 } from 'etcd3';

import { openEtcdStore } from '../../src/datastore/etcd-store.ts';
import type { EtcdStoreOptions } from '../../src/datastore/etcd-store.ts';
import { isStoreError } from '../../src/datastore/store.ts';
import type { Store } from '../../src/datastore/store.ts';
import { startEtcd } from '../helpers/etcd.ts';
import type { EtcdHandle } from '../helpers/etcd.ts';
import { storeContract } from './contract.ts';
import { collectUntilKey, json, watchFailure } from './support.ts';

let etcd: EtcdHandle | undefined;
let prefixes = 0;

test.before(async () => {
  etcd = await startEtcd();
});

test.after.always(async () => {
  await etcd?.stop();
});

function openStore(t: ExecutionContext, options: Partial<EtcdStoreOptions> = {}): Store {
  if (etcd === undefined) throw new Error('etcd did not start');
  prefixes += 1;
  const store = openEtcdStore({
    endpoints: [etcd.endpoint],
    prefix: `/brindle-test/${prefixes}/`,
    ...options,
  });
  t.teardown(() => store.close());
  return store;
}

storeContract(test, { name: 'etcd', open: (t) => Promise.resolve(openStore(t)) });

test('etcd: a list larger than a page is one snapshot, in order', async (t) => {
  const store = openStore(t, { listPageSize: 3 });
  const keys = Array.from({ length: 10 }, (_, i) => `p/${String(i).padStart(2, '0')}`);
  for (const key of keys) await store.create(key, json(key));
  const { items, revision } = await store.list('p/');
  t.deepEqual(
    items.map((item) => item.key),
    keys,
  );
  t.true(items.every((item) => item.modRevision <= revision));
});

test('etcd: stores with different prefixes do not see each other', async (t) => {
  const one = openStore(t);
  const two = openStore(t);
  const { revision } = await two.list('');
  await one.create('k', json('one'));
  await two.create('k', json('two'));
  await two.create('end', json(0));
  t.is((await one.get('k'))?.value, json('one'));
  t.deepEqual(
    (await one.list('')).items.map((item) => item.value),
    [json('one')],
  );
  const events = await collectUntilKey(two, '', revision, 'end');
  t.deepEqual(
    events.map((e) => e.value),
    [json('two'), json(0)],
  );
});

test('etcd: a watch from a revision etcd compacted fails with compacted', async (t) => {
  // Its own etcd: compaction is cluster-wide and would break the other tests' watches.
  const own = await startEtcd();
  t.teardown(() => own.stop());
  const store = openEtcdStore({ endpoints: [own.endpoint] });
  t.teardown(() => store.close());
  const first = await store.create('c/1', json(1));
  await store.create('c/2', json(2));
  const { revision } = await store.list('c/');
  if (!first.ok) return t.fail();
  const admin = new Etcd3({ hosts: own.endpoint });
  t.teardown(() => admin.close());
  await admin.kv.compact({ revision: String(revision), physical: true });
  // Changes after first.revision - 1 start below the compaction point; after revision - 1 would not.
  const failure = await watchFailure(store.watch('c/', first.revision - 1));
  t.true(isStoreError(failure, 'compacted'), String(failure));
  // From the compaction point on, watching works again.
  await store.create('c/3', json(3));
  const events = await collectUntilKey(store, 'c/', revision, 'c/3');
  t.is(events.length, 1);
});
