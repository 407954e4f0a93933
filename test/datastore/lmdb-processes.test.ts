// The LMDB store shared between processes: another process's writes reach this one's watch, CAS holds
// across processes, and a process killed while writing loses none of the writes it was told were done
// and leaves no transaction half-written.

import test from 'ava';
import type { ExecutionContext } from 'ava';

import { openLmdbStore } from '../../src/datastore/lmdb-store.ts';
import type { LmdbStore } from '../../src/datastore/lmdb-store.ts';
import { acks, collectUntil, forkChild, json, settlesWithin, tempDir, WAIT_MS } from './support.ts';
import { waitFor } from '../helpers/netns.ts';

async function openShared(t: ExecutionContext): Promise<{ path: string; store: LmdbStore }> {
  const path = await tempDir(t, 'lmdb-mp');
  const store = await openLmdbStore({ path });
  t.teardown(() => store.close());
  return { path, store };
}

test('a write from another process reaches this process watch, every one, in order', async (t) => {
  const { path, store } = await openShared(t);
  const { revision } = await store.list('mp/');
  const count = 200;
  const watched = collectUntil(
    store.watch('mp/', revision),
    (e) => e.key === `mp/${String(count - 1).padStart(4, '0')}`,
  );
  const child = forkChild(t, [path, 'put', 'mp/', String(count)]);
  await settlesWithin(child.done, WAIT_MS, 'the writer process');
  const events = await watched;
  const written = acks(child);
  t.is(written.length, count);
  t.deepEqual(
    events.map((e) => ({ key: e.key, value: e.value, revision: e.modRevision })),
    written.map(({ key, value, revision }) => ({ key, value, revision })),
  );
});

test('CAS holds across processes: two writer processes and this one make exactly 300 increments', async (t) => {
  const { path, store } = await openShared(t);
  await store.create('counter', json({ n: 0 }));
  const children = [0, 1].map(() => forkChild(t, [path, 'increment', 'counter', '100']));
  for (let done = 0; done < 100;) {
    const current = await store.get('counter');
    if (current === undefined) return t.fail('counter vanished');
    const { n } = JSON.parse(current.value) as { n: number };
    if ((await store.update('counter', json({ n: n + 1 }), current.modRevision)).ok) done += 1;
  }
  await settlesWithin(Promise.all(children.map((c) => c.done)), WAIT_MS, 'the increment processes');
  t.is((await store.get('counter'))?.value, json({ n: 300 }));
});

test('a writer SIGKILLed mid-stream loses no acknowledged write, three times over', async (t) => {
  const { path, store } = await openShared(t);
  for (const round of [0, 1, 2]) {
    const prefix = `crash/${round}/`;
    const child = forkChild(t, [path, 'loop', prefix]);
    await waitFor(() => acks(child).length >= 300, { timeoutMs: WAIT_MS, intervalMs: 20, what: 'acks' });
    child.process.kill('SIGKILL');
    await settlesWithin(child.exited, WAIT_MS, 'the killed writer');
    const acked = acks(child);
    // This process kept the store open throughout: the dead writer must not have left the lock held.
    const items = new Map((await store.list(prefix)).items.map((item) => [item.key, item]));
    const missing = acked.filter((ack) => items.get(ack.key)?.value !== ack.value);
    t.deepEqual(missing, [], `round ${round}: acknowledged writes missing after the kill`);
    t.true((await store.create(`${prefix}after`, json('after'))).ok, `round ${round}: store writable`);
  }
  // A fresh open (as after a host reboot of the daemon) sees the same, and its log is intact.
  await store.close();
  const reopened = await openLmdbStore({ path });
  t.teardown(() => reopened.close());
  const { items, revision } = await reopened.list('crash/');
  t.true(items.length >= 900);
  const replayed = await collectUntil(
    reopened.watch('crash/', revision - 20),
    (e) => e.modRevision === revision,
  );
  t.is(replayed.length, 20);
  t.true((await reopened.create('crash/reopened', json(1))).ok);
});

test('a transaction writer SIGKILLed mid-stream leaves every transaction whole or absent', async (t) => {
  const { path, store } = await openShared(t);
  const child = forkChild(t, [path, 'pairs', 'tx/']);
  await waitFor(() => acks(child).length >= 300, { timeoutMs: WAIT_MS, intervalMs: 20, what: 'acks' });
  child.process.kill('SIGKILL');
  await settlesWithin(child.exited, WAIT_MS, 'the killed writer');
  const suffixes = async (side: string) =>
    (await store.list(`tx/${side}/`)).items.map((item) => item.key.slice(`tx/${side}/`.length)).sort();
  const [a, b] = [await suffixes('a'), await suffixes('b')];
  t.deepEqual(a, b, 'every transaction wrote both of its keys or neither');
  const written = new Set(a.map((i) => `tx/a/${i}`));
  t.deepEqual(
    acks(child).filter((ack) => !written.has(ack.key)),
    [],
    'acknowledged transactions survive the kill',
  );
});
