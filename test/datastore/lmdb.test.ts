// The LMDB backend: the shared contract, plus what only it has (its change log and its file).

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { open } from 'lmdb';

import { openLmdbStore } from '../../src/datastore/lmdb-store.ts';
import type { LmdbStoreOptions } from '../../src/datastore/lmdb-store.ts';
import { isStoreError } from '../../src/datastore/store.ts';
import type { Store } from '../../src/datastore/store.ts';
import { storeContract } from './contract.ts';
import { collectUntilKey, json, tempDir, watchFailure } from './support.ts';

async function openIn(t: ExecutionContext, options: Partial<LmdbStoreOptions> = {}): Promise<Store> {
  const store = await openLmdbStore({ path: await tempDir(t, 'lmdb'), ...options });
  t.teardown(() => store.close());
  return store;
}

storeContract(test, { name: 'lmdb', open: (t) => openIn(t) });

test('lmdb: a watcher behind the trimmed log fails with compacted; one within it replays', async (t) => {
  const store = await openIn(t, { logMaxEntries: 10 });
  for (let i = 0; i < 30; i += 1) await store.create(`k/${i}`, json(i));
  const { revision } = await store.list('k/');
  const failure = await watchFailure(store.watch('k/', 0));
  t.true(isStoreError(failure, 'compacted'), String(failure));
  t.regex(String(failure), /list again/);
  // The last ten changes are still in the log.
  const events = await collectUntilKey(store, 'k/', revision - 9, 'k/29');
  t.deepEqual(
    events.map((e) => e.key),
    ['k/21', 'k/22', 'k/23', 'k/24', 'k/25', 'k/26', 'k/27', 'k/28', 'k/29'],
  );
});

test('lmdb: log entries older than the age limit are trimmed on the next write', async (t) => {
  let now = 1_000_000;
  const store = await openIn(t, { logMaxAgeMs: 60_000, now: () => now });
  for (let i = 0; i < 5; i += 1) await store.create(`k/${i}`, json(i));
  const { revision } = await store.list('');
  now += 120_000;
  await store.create('k/late', json('late'));
  t.true(isStoreError(await watchFailure(store.watch('k/', 0)), 'compacted'));
  const events = await collectUntilKey(store, 'k/', revision, 'k/late');
  t.is(events.length, 1);
});

test('lmdb: data and revisions survive close and reopen', async (t) => {
  const path = await tempDir(t, 'lmdb');
  const first = await openLmdbStore({ path });
  const created = await first.create('k', json('kept'));
  await first.close();
  const second = await openLmdbStore({ path });
  t.teardown(() => second.close());
  if (!created.ok) return t.fail();
  t.is((await second.get('k'))?.modRevision, created.revision);
  const next = await second.create('k2', json(2));
  t.true(next.ok && next.revision === created.revision + 1, 'revisions continue, never reused');
  const events = await collectUntilKey(second, '', 0, 'k2');
  t.deepEqual(
    events.map((e) => e.key),
    ['k', 'k2'],
  );
});

test('lmdb: undecodable bytes are reported as corrupt, naming the key', async (t) => {
  const path = await tempDir(t, 'lmdb');
  const store = await openLmdbStore({ path });
  await store.create('good', json(1));
  await store.close();
  await withRawDb(path, 'kv', (db) => db.putSync('bad', '{"value": 42}'));
  const reopened = await openLmdbStore({ path });
  t.teardown(() => reopened.close());
  const error = await t.throwsAsync(reopened.get('bad'));
  t.true(isStoreError(error, 'corrupt'));
  t.regex(String(error), /"bad"/);
  t.true(isStoreError(await t.throwsAsync(reopened.list('')), 'corrupt'));
  t.is((await reopened.get('good'))?.value, json(1));
});

test('lmdb: a store written in another format is refused', async (t) => {
  const path = await tempDir(t, 'lmdb');
  await (await openLmdbStore({ path })).close();
  await withRawDb(path, 'meta', (db) => db.putSync('format', '99'));
  const error = await t.throwsAsync(openLmdbStore({ path }));
  t.true(isStoreError(error, 'corrupt'));
  t.regex(String(error), /format 99/);
});

/** Write to a sub-database directly, as a damaged file or an older build would have left it. */
async function withRawDb(
  path: string,
  name: string,
  write: (db: { putSync(key: string, value: string): void }) => void,
): Promise<void> {
  const root = open<string, string>({ path, maxDbs: 4, overlappingSync: false });
  const db = root.openDB<string, string>(name, { encoding: 'string' });
  await db.transaction(() => write(db));
  await root.close();
}
