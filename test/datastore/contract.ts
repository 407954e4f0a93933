// The Store contract, run against every backend (lmdb.test.ts, etcd.test.ts). Each test gets its own
// store; a backend whose stores share one server must give each test its own key prefix. Revisions are
// global (other tests move them too), so tests compare revisions with each other, never with constants.

import type { ExecutionContext, TestFn } from 'ava';
import { firstValueFrom, timeout, toArray } from 'rxjs';

import { isStoreError, MAX_TXN_OPS } from '../../src/datastore/store.ts';
import type { KeyValue, Store, TxnOp, WatchEvent } from '../../src/datastore/store.ts';
import { collectUntilKey, json, watchFailure, WAIT_MS } from './support.ts';

export interface ContractTarget {
  readonly name: string;
  /** A fresh, empty store for one test, closed in the test's teardown. */
  open(t: ExecutionContext): Promise<Store>;
}

export function storeContract(test: TestFn, target: ContractTarget): void {
  const name = (what: string): string => `${target.name}: ${what}`;

  test(name('get of a missing key is undefined; create then get returns the entry'), async (t) => {
    const store = await target.open(t);
    t.is(await store.get('a'), undefined);
    const created = await store.create('a', json({ n: 1 }));
    if (!created.ok) return t.fail('create failed');
    t.deepEqual(await store.get('a'), {
      key: 'a',
      value: json({ n: 1 }),
      modRevision: created.revision,
      createRevision: created.revision,
    });
  });

  test(name('create is create-if-absent: a second create fails and returns the current entry'), async (t) => {
    const store = await target.open(t);
    const first = await store.create('k', json('first'));
    t.true(first.ok);
    const second = await store.create('k', json('second'));
    if (second.ok || !first.ok) return t.fail('second create succeeded');
    t.is(second.current.value, json('first'));
    t.is(second.current.modRevision, first.revision);
    t.is((await store.get('k'))?.value, json('first'));
  });

  test(name('update with the current modRevision succeeds and keeps createRevision'), async (t) => {
    const store = await target.open(t);
    const created = await store.create('k', json(1));
    if (!created.ok) return t.fail();
    const updated = await store.update('k', json(2), created.revision);
    if (!updated.ok) return t.fail('CAS with the current revision failed');
    t.true(updated.revision > created.revision);
    t.deepEqual(await store.get('k'), {
      key: 'k',
      value: json(2),
      modRevision: updated.revision,
      createRevision: created.revision,
    });
  });

  test(name('update with a stale modRevision fails and returns the current entry'), async (t) => {
    const store = await target.open(t);
    const created = await store.create('k', json(1));
    if (!created.ok) return t.fail();
    const updated = await store.update('k', json(2), created.revision);
    if (!updated.ok) return t.fail();
    const stale = await store.update('k', json(3), created.revision);
    if (stale.ok) return t.fail('CAS with a stale revision succeeded');
    t.is(stale.current?.value, json(2));
    t.is(stale.current?.modRevision, updated.revision);
    const missing = await store.update('nothing-here', json(1), created.revision);
    t.deepEqual(missing, { ok: false, current: undefined });
    t.is((await store.get('k'))?.value, json(2));
  });

  test(name('delete: a stale revision keeps the key, the current one removes it'), async (t) => {
    const store = await target.open(t);
    const created = await store.create('k', json(1));
    if (!created.ok) return t.fail();
    const updated = await store.update('k', json(2), created.revision);
    if (!updated.ok) return t.fail();
    t.false(await store.delete('k', created.revision));
    t.is((await store.get('k'))?.value, json(2));
    t.true(await store.delete('k', updated.revision));
    t.is(await store.get('k'), undefined);
    t.false(await store.delete('k', updated.revision), 'CAS delete of a missing key');
    t.false(await store.delete('k'), 'delete of a missing key');
    await store.create('other', json(0));
    t.true(await store.delete('other'), 'unconditional delete');
    t.is(await store.get('other'), undefined);
  });

  test(name('a deleted key is created again with a new createRevision'), async (t) => {
    const store = await target.open(t);
    const first = await store.create('k', json(1));
    t.true(await store.delete('k'));
    const again = await store.create('k', json(2));
    if (!first.ok || !again.ok) return t.fail();
    t.true(again.revision > first.revision);
    t.is((await store.get('k'))?.createRevision, again.revision);
  });

  test(name('revisions are global and grow with every change'), async (t) => {
    const store = await target.open(t);
    const revisions: number[] = [];
    for (const key of ['x/1', 'y/1', 'x/2']) {
      const result = await store.create(key, json(key));
      if (result.ok) revisions.push(result.revision);
    }
    const x1 = await store.get('x/1');
    const updated = await store.update('x/1', json('again'), x1?.modRevision ?? 0);
    if (updated.ok) revisions.push(updated.revision);
    t.is(revisions.length, 4);
    for (let i = 1; i < revisions.length; i += 1)
      t.true(revisions[i] > revisions[i - 1], revisions.join(' '));
    const { revision } = await store.list('');
    t.true(revision >= revisions[3]);
  });

  test(name('list returns the keys under the prefix, sorted, at a revision covering them'), async (t) => {
    const store = await target.open(t);
    for (const key of ['pool/b', 'pool/a', 'poolx', 'block/a', 'pool/c/d'])
      await store.create(key, json(key));
    const { items, revision } = await store.list('pool/');
    t.deepEqual(
      items.map((item) => item.key),
      ['pool/a', 'pool/b', 'pool/c/d'],
    );
    t.deepEqual(
      items.map((item) => item.value),
      items.map((item) => json(item.key)),
    );
    for (const item of items) t.true(item.modRevision <= revision);
    t.deepEqual((await store.list('nothing/')).items, []);
    t.is((await store.list('')).items.length, 5);
  });

  test(name('keys and values round-trip exactly'), async (t) => {
    const store = await target.open(t);
    const values: unknown[] = [
      null,
      0,
      -1.5e300,
      '',
      'quotes " and \\ backslashes \n newlines \u0000 nul',
      'ünïcödé ✓ 🚀',
      [1, [2, [3]]],
      { nested: { deep: { list: [true, false, null] } }, empty: {} },
      { big: 'x'.repeat(200_000) },
    ];
    const keys = values.map((_, i) => `rt/${i}/ключ/🔑/${'s'.repeat(i)}`);
    for (const [i, value] of values.entries()) await store.create(keys[i], json(value));
    for (const [i, value] of values.entries()) t.is((await store.get(keys[i]))?.value, json(value));
    // Text that is JSON but not canonical (spaces, key order) comes back as written.
    await store.create('rt/text', '{ "b": 1,  "a": [ 2 ] }');
    t.is((await store.get('rt/text'))?.value, '{ "b": 1,  "a": [ 2 ] }');
    const listed = await store.list('rt/');
    t.is(listed.items.length, values.length + 1);
  });

  test(name('bad input is refused with StoreError invalid'), async (t) => {
    const store = await target.open(t);
    for (const attempt of [
      () => store.create('', json(1)),
      () => store.create('k', 'not json'),
      () => store.create('k'.repeat(2_000), json(1)),
      () => store.update('k', json(1), 0),
      () => store.delete('k', -1),
      () => store.get(''),
    ]) {
      const error = await t.throwsAsync(attempt);
      t.true(isStoreError(error, 'invalid'), String(error));
    }
    t.true(isStoreError(await watchFailure(store.watch('k', -1)), 'invalid'));
    t.is(await store.get('k'), undefined);
  });

  test(name('transact: every write applies together, each at the revision it reports'), async (t) => {
    const store = await target.open(t);
    const a = await store.create('tx/a', json(1));
    const gone = await store.create('tx/gone', json(0));
    if (!a.ok || !gone.ok) return t.fail();
    const result = await store.transact([
      { type: 'update', key: 'tx/a', value: json(2), expectedModRevision: a.revision },
      { type: 'create', key: 'tx/new', value: json('new') },
      { type: 'delete', key: 'tx/gone', expectedModRevision: gone.revision },
    ]);
    if (!result.ok) return t.fail('transaction failed');
    t.is(result.modRevisions.length, 3);
    t.true(result.modRevisions[0] > gone.revision);
    for (let i = 1; i < 3; i += 1) t.true(result.modRevisions[i] >= result.modRevisions[i - 1]);
    t.is(result.revision, result.modRevisions[2]);
    t.deepEqual(await store.get('tx/a'), {
      key: 'tx/a',
      value: json(2),
      modRevision: result.modRevisions[0],
      createRevision: a.revision,
    });
    t.deepEqual(await store.get('tx/new'), {
      key: 'tx/new',
      value: json('new'),
      modRevision: result.modRevisions[1],
      createRevision: result.modRevisions[1],
    });
    t.is(await store.get('tx/gone'), undefined);
  });

  test(name('transact: one failed precondition writes nothing and returns every key'), async (t) => {
    const store = await target.open(t);
    const a = await store.create('tx/a', json(1));
    const b = await store.create('tx/b', json(1));
    if (!a.ok || !b.ok) return t.fail();
    const before = (await store.list('tx/')).items;
    const attempts: { ops: TxnOp[]; why: string }[] = [
      {
        why: 'create of an existing key',
        ops: [
          { type: 'update', key: 'tx/a', value: json(2), expectedModRevision: a.revision },
          { type: 'create', key: 'tx/b', value: json(2) },
        ],
      },
      {
        why: 'stale update',
        ops: [
          { type: 'create', key: 'tx/c', value: json(2) },
          { type: 'update', key: 'tx/b', value: json(2), expectedModRevision: a.revision },
        ],
      },
      {
        why: 'update of a missing key',
        ops: [
          { type: 'update', key: 'tx/a', value: json(2), expectedModRevision: a.revision },
          { type: 'update', key: 'tx/missing', value: json(2), expectedModRevision: a.revision },
        ],
      },
      {
        why: 'stale delete',
        ops: [
          { type: 'delete', key: 'tx/a', expectedModRevision: b.revision },
          { type: 'delete', key: 'tx/b', expectedModRevision: b.revision },
        ],
      },
    ];
    for (const { ops, why } of attempts) {
      const result = await store.transact(ops);
      if (result.ok) return t.fail(`${why}: the transaction succeeded`);
      t.deepEqual(
        result.current,
        ops.map((op) => before.find((kv) => kv.key === op.key)),
        why,
      );
    }
    t.deepEqual((await store.list('tx/')).items, before, 'nothing was written');
  });

  test(name('transact: concurrent transactions on one key, exactly one wins'), async (t) => {
    const store = await target.open(t);
    const a = await store.create('tx/a', json(0));
    if (!a.ok) return t.fail();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.transact([
          { type: 'update', key: 'tx/a', value: json(i + 1), expectedModRevision: a.revision },
          { type: 'create', key: `tx/by-${i}`, value: json(i) },
        ]),
      ),
    );
    const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
    t.is(winners.length, 1);
    t.is((await store.get('tx/a'))?.value, json(winners[0] + 1));
    t.deepEqual(
      (await store.list('tx/by-')).items.map((kv) => kv.key),
      [`tx/by-${winners[0]}`],
    );
  });

  test(name('transact: watchers see one event per write, in op order'), async (t) => {
    const store = await target.open(t);
    const { revision: from } = await store.list('txw/');
    const result = await store.transact([
      { type: 'create', key: 'txw/b', value: json('b') },
      { type: 'create', key: 'txw/a', value: json('a') },
    ]);
    if (!result.ok) return t.fail();
    await store.create('txw/end', json(0));
    const events = await collectUntilKey(store, 'txw/', from, 'txw/end');
    t.deepEqual(events.slice(0, 2), [
      { type: 'put', key: 'txw/b', value: json('b'), modRevision: result.modRevisions[0] },
      { type: 'put', key: 'txw/a', value: json('a'), modRevision: result.modRevisions[1] },
    ]);
  });

  test(name('transact: bad input is refused with StoreError invalid, nothing written'), async (t) => {
    const store = await target.open(t);
    const many = Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ({
      type: 'create' as const,
      key: `tx/${i}`,
      value: json(i),
    }));
    for (const ops of [
      [],
      many,
      [
        { type: 'create', key: 'tx/a', value: json(1) },
        { type: 'create', key: 'tx/a', value: json(2) },
      ],
      [{ type: 'create', key: 'tx/a', value: 'not json' }],
      [{ type: 'update', key: 'tx/a', value: json(1), expectedModRevision: 0 }],
      [
        { type: 'create', key: 'tx/a', value: json('x'.repeat(600_000)) },
        { type: 'create', key: 'tx/b', value: json('x'.repeat(600_000)) },
      ],
    ] as TxnOp[][]) {
      const error = await t.throwsAsync(store.transact(ops));
      t.true(isStoreError(error, 'invalid'), String(error));
    }
    t.deepEqual((await store.list('tx/')).items, []);
  });

  test(name('watch delivers puts and deletes in revision order'), async (t) => {
    const store = await target.open(t);
    const { revision: from } = await store.list('w/');
    const a = await store.create('w/a', json(1));
    const b = await store.create('w/b', json(2));
    if (!a.ok || !b.ok) return t.fail();
    const a2 = await store.update('w/a', json(3), a.revision);
    if (!a2.ok) return t.fail();
    t.true(await store.delete('w/b'));
    await store.create('w/end', json(0));
    const events = await collectUntilKey(store, 'w/', from, 'w/end');
    t.deepEqual(events.slice(0, 3), [
      { type: 'put', key: 'w/a', value: json(1), modRevision: a.revision },
      { type: 'put', key: 'w/b', value: json(2), modRevision: b.revision },
      { type: 'put', key: 'w/a', value: json(3), modRevision: a2.revision },
    ]);
    t.like(events[3], { type: 'delete', key: 'w/b' });
    t.is(events[3].value, undefined);
    assertIncreasing(t, events);
    t.is(events.length, 5);
  });

  test(name('watch from a past revision replays what happened since, and no more'), async (t) => {
    const store = await target.open(t);
    const first = await store.create('h/1', json(1));
    await store.create('h/2', json(2));
    await store.create('h/3', json(3));
    if (!first.ok) return t.fail();
    // Everything strictly after h/1's revision: h/2 and h/3, not h/1.
    const events = await collectUntilKey(store, 'h/', first.revision, 'h/3');
    t.deepEqual(
      events.map((e) => e.key),
      ['h/2', 'h/3'],
    );
  });

  test(name('watch sees only keys under its prefix'), async (t) => {
    const store = await target.open(t);
    const { revision } = await store.list('');
    for (const key of ['a/1', 'b/1', 'a', 'ab/1', 'a/2', 'b/2']) await store.create(key, json(key));
    await store.create('a/end', json(0));
    const events = await collectUntilKey(store, 'a/', revision, 'a/end');
    t.deepEqual(
      events.map((e) => e.key),
      ['a/1', 'a/2', 'a/end'],
    );
  });

  test(name('list then watch from its revision sees every later change exactly once'), async (t) => {
    const store = await target.open(t);
    const writes = runWriter(store, 's/', 120);
    await writes.reached(30);
    const listed = await store.list('s/'); // Taken while the writer keeps going.
    await writes.reached(60); // The watch starts later still, so it must replay from the list's revision.
    const watched = collectUntilKey(store, 's/', listed.revision, 's/end');
    await writes.finished;
    await store.create('s/end', json('end'));
    const events = (await watched).slice(0, -1);
    assertIncreasing(t, events);
    t.true(events.every((e) => e.modRevision > listed.revision));
    // The events are exactly the writer's last changes, and the list is exactly the state before them:
    // nothing missed between the two, nothing seen twice.
    const split = writes.changes.length - events.length;
    t.deepEqual(
      events.map(({ type, key, value }) => ({ type, key, value })),
      writes.changes.slice(split),
    );
    t.deepEqual(asEntries(listed.items), replay(writes.changes.slice(0, split)));
  });

  test(name('4 workers x 100 CAS increments of one counter end at exactly 400'), async (t) => {
    const store = await target.open(t);
    await store.create('counter', json({ n: 0 }));
    const revisions: number[] = [];
    const worker = async (): Promise<void> => {
      for (let done = 0, attempts = 0; done < 100; attempts += 1) {
        if (attempts > 100_000) throw new Error('CAS never succeeded');
        const current = await store.get('counter');
        if (current === undefined) throw new Error('counter vanished');
        const { n } = JSON.parse(current.value) as { n: number };
        const result = await store.update('counter', json({ n: n + 1 }), current.modRevision);
        if (result.ok) {
          revisions.push(result.revision);
          done += 1;
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    t.is((await store.get('counter'))?.value, json({ n: 400 }));
    t.is(new Set(revisions).size, 400, 'every successful CAS has its own revision');
  });

  test(name('close ends watches with closed and refuses later calls'), async (t) => {
    const store = await target.open(t);
    const { revision } = await store.list('');
    const failure = watchFailure(store.watch('c/', revision));
    await store.create('c/1', json(1));
    await store.close();
    t.true(isStoreError(await failure, 'closed'));
    const error = await t.throwsAsync(store.get('c/1'));
    t.true(isStoreError(error, 'closed'));
    t.true(isStoreError(await watchFailure(store.watch('c/', 0)), 'closed'));
    // health$ completes once the store is closed.
    await firstValueFrom(store.health$.pipe(toArray(), timeout(WAIT_MS)));
  });
}

// ---------------------------------------------------------------------------------------------------

function assertIncreasing(t: ExecutionContext, events: readonly WatchEvent[]): void {
  for (let i = 1; i < events.length; i += 1) {
    t.true(events[i].modRevision > events[i - 1].modRevision, `event ${i} is out of order`);
  }
}

/** A change as the writer made it, in the shape of a WatchEvent without its revision. */
interface Change {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value?: string;
}

interface Writer {
  /** Every change, in the order it was made (one writer, so also revision order). */
  readonly changes: Change[];
  readonly finished: Promise<void>;
  /** Resolves once `count` changes are done. */
  reached(count: number): Promise<void>;
}

/** Creates, updates and deletes over ten keys, one at a time, until `total` changes are made. */
function runWriter(store: Store, prefix: string, total: number): Writer {
  const changes: Change[] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  const step = async (i: number): Promise<void> => {
    const key = `${prefix}${i % 10}`;
    const value = json({ v: i });
    const current = await store.get(key);
    if (current === undefined) {
      if ((await store.create(key, value)).ok) changes.push({ type: 'put', key, value });
    } else if (i % 7 === 0) {
      if (await store.delete(key, current.modRevision))
        changes.push({ type: 'delete', key, value: undefined });
    } else if ((await store.update(key, value, current.modRevision)).ok) {
      changes.push({ type: 'put', key, value });
    }
  };
  const finished = (async () => {
    for (let i = 0; changes.length < total; i += 1) {
      await step(i);
      for (const w of waiting.filter((w) => changes.length >= w.count)) w.resolve();
    }
  })();
  const reached = (count: number): Promise<void> =>
    changes.length >= count ? Promise.resolve() : new Promise((resolve) => waiting.push({ count, resolve }));
  return { changes, finished, reached };
}

/** Key-value pairs sorted by key, so two states compare regardless of how they were built. */
function asEntries(items: readonly KeyValue[]): [string, string][] {
  return sortedEntries(new Map(items.map((item) => [item.key, item.value])));
}

function sortedEntries(state: Map<string, string>): [string, string][] {
  return [...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function replay(changes: readonly Change[]): [string, string][] {
  const state = new Map<string, string>();
  for (const change of changes) {
    if (change.type === 'put') state.set(change.key, change.value ?? '');
    else state.delete(change.key);
  }
  return sortedEntries(state);
}
