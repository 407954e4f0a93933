// A second process on the same LMDB store, forked by the datastore tests (`node --import tsx`).
//   lmdb-child.ts PATH put PREFIX COUNT        create PREFIX0 … PREFIX<COUNT-1>, acking each write
//   lmdb-child.ts PATH increment KEY COUNT     CAS-increment the counter at KEY COUNT times
//   lmdb-child.ts PATH loop PREFIX             write PREFIX<i> forever, acking each, until killed
//   lmdb-child.ts PATH pairs PREFIX            as loop, but each i is one transaction writing
//                                              PREFIXa/<i> and PREFIXb/<i> (the ack names the a key)
// An ack is sent only after the write's promise resolved, i.e. once it is committed and on disk.

import { openLmdbStore } from '../../src/datastore/lmdb-store.ts';
import type { Store } from '../../src/datastore/store.ts';
import type { ChildMessage } from './support.ts';

const [path, mode, target, countArg] = process.argv.slice(2);

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

async function put(store: Store, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const key = `${prefix}${String(i).padStart(4, '0')}`;
    const value = JSON.stringify({ i, pid: process.pid });
    const result = await store.create(key, value);
    if (!result.ok) throw new Error(`${key} already exists`);
    await send({ type: 'ack', key, value, revision: result.revision });
  }
}

async function increment(store: Store, key: string, count: number): Promise<void> {
  for (let done = 0; done < count;) {
    const current = await store.get(key);
    if (current === undefined) throw new Error(`${key} is missing`);
    const n = (JSON.parse(current.value) as { n: number }).n;
    const result = await store.update(key, JSON.stringify({ n: n + 1 }), current.modRevision);
    if (result.ok) done += 1;
  }
}

async function loop(store: Store, prefix: string): Promise<never> {
  for (let i = 0; ; i += 1) {
    const key = `${prefix}${i}`;
    const value = JSON.stringify({ i, padding: 'x'.repeat(i % 512) });
    const result = await store.create(key, value);
    if (!result.ok) throw new Error(`${key} already exists`);
    // Not awaited: the next write starts at once, so the kill can land in the middle of a commit.
    send({ type: 'ack', key, value, revision: result.revision }).catch(() => undefined);
  }
}

async function pairs(store: Store, prefix: string): Promise<never> {
  for (let i = 0; ; i += 1) {
    const value = JSON.stringify({ i, padding: 'x'.repeat(i % 512) });
    const result = await store.transact([
      { type: 'create', key: `${prefix}a/${i}`, value },
      { type: 'create', key: `${prefix}b/${i}`, value },
    ]);
    if (!result.ok) throw new Error(`${prefix}a/${i} or b/${i} already exists`);
    send({ type: 'ack', key: `${prefix}a/${i}`, value, revision: result.revision }).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  if (path === undefined || target === undefined) throw new Error('usage: PATH MODE TARGET [COUNT]');
  const store = await openLmdbStore({ path });
  const count = Number(countArg ?? 0);
  if (mode === 'put') await put(store, target, count);
  else if (mode === 'increment') await increment(store, target, count);
  else if (mode === 'loop') await loop(store, target);
  else if (mode === 'pairs') await pairs(store, target);
  else throw new Error(`unknown mode ${mode}`);
  await store.close();
  await send({ type: 'done' });
  process.disconnect();
}

main().catch(async (error: unknown) => {
  await send({ type: 'failed', message: String(error) }).catch(() => undefined);
  process.exit(1);
});
