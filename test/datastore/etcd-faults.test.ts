// The etcd store while etcd is away: calls fail fast with 'unavailable' instead of hanging, watches
// resume where they stopped once etcd is back (missing nothing written meanwhile), health$ follows.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { filter, firstValueFrom, tap, timeout } from 'rxjs';

import { openEtcdStore } from '../../src/datastore/etcd-store.ts';
import type { EtcdStore } from '../../src/datastore/etcd-store.ts';
import { isStoreError } from '../../src/datastore/store.ts';
import type { StoreHealth, WatchEvent } from '../../src/datastore/store.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { waitFor } from '../helpers/netns.ts';
import { collectUntil, json, settlesWithin, WAIT_MS } from './support.ts';
import { startTcpProxy } from './tcp-proxy.ts';

/** Short timings so each outage is noticed and healed within a second or two. */
const FAST = { requestTimeoutMs: 2_000, healthIntervalMs: 200, watchRetryMinMs: 50, watchRetryMaxMs: 500 };
/** An 'unavailable' must arrive well before this, i.e. within the request deadline plus slack. */
const FAIL_FAST_MS = FAST.requestTimeoutMs + 3_000;

function open(t: ExecutionContext, endpoint: string, prefix = '/brindle-faults/'): EtcdStore {
  const store = openEtcdStore({ endpoints: [endpoint], prefix, ...FAST });
  t.teardown(() => store.close());
  return store;
}

/** Every health change, in order, from the start. */
function recordHealth(store: EtcdStore): StoreHealth[] {
  const seen: StoreHealth[] = [];
  store.health$.subscribe((health) => seen.push(health));
  return seen;
}

function healthBecomes(store: EtcdStore, health: StoreHealth): Promise<StoreHealth> {
  return firstValueFrom(
    store.health$.pipe(
      filter((h) => h === health),
      timeout(WAIT_MS),
    ),
  );
}

async function assertUnavailable(t: ExecutionContext, call: Promise<unknown>, what: string): Promise<void> {
  const outcome = await settlesWithin(
    call.then(
      () => undefined,
      (error: unknown) => error,
    ),
    FAIL_FAST_MS,
    what,
  );
  t.true(isStoreError(outcome, 'unavailable'), `${what}: ${String(outcome)}`);
}

/** A create retried after a timeout may find its own earlier attempt, which etcd did apply. */
async function createdOrThere(store: EtcdStore, key: string, value: string): Promise<boolean> {
  const result = await store.create(key, value);
  return result.ok || result.current.value === value;
}

function keysOf(events: readonly WatchEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.key}`);
}

test.serial(
  'etcd killed mid-watch: writes fail fast, and after a restart the watch misses nothing',
  async (t) => {
    const etcd = await startEtcd();
    t.teardown(() => etcd.stop());
    const store = open(t, etcd.endpoint);
    const other = open(t, etcd.endpoint);
    const health = recordHealth(store);
    await healthBecomes(store, 'up');
    const { revision } = await store.list('w/');
    const watched = collectUntil(store.watch('w/', revision), (e) => e.key === 'w/after');
    await store.create('w/before', json(1));

    await etcd.kill();
    await healthBecomes(store, 'down');
    await assertUnavailable(t, store.create('w/during', json(2)), 'a create while etcd is dead');

    await etcd.restart();
    // The other client writes as soon as etcd answers, likely before this store's watch has reconnected.
    await waitFor(() => createdOrThere(other, 'w/other', json(3)), { timeoutMs: WAIT_MS, what: 'a write' });
    await healthBecomes(store, 'up');
    t.true((await store.create('w/after', json(4))).ok);

    const events = await watched;
    t.deepEqual(keysOf(events), ['put w/before', 'put w/other', 'put w/after']);
    t.is(await store.get('w/during'), undefined, 'the failed create did not happen');
    t.is((await store.get('w/before'))?.value, json(1), 'etcd kept its data across the crash');
    const firstDown = health.indexOf('down');
    t.true(health.indexOf('up') < firstDown && health.lastIndexOf('up') > firstDown, health.join(' '));
  },
);

test.serial(
  'a client cut off from etcd catches up on everything other clients wrote meanwhile',
  async (t) => {
    const etcd = await startEtcd();
    t.teardown(() => etcd.stop());
    const proxy = await startTcpProxy(Number(new URL(etcd.endpoint).port));
    t.teardown(() => proxy.close());
    const cutOff = open(t, proxy.endpoint);
    const other = open(t, etcd.endpoint);
    const health = recordHealth(cutOff);
    const { revision } = await cutOff.list('p/');
    const watched = collectUntil(cutOff.watch('p/', revision), (e) => e.key === 'p/back');
    const one = await other.create('p/1', json(1));
    if (!one.ok) return t.fail();

    await proxy.cut();
    await healthBecomes(cutOff, 'down');
    await assertUnavailable(t, cutOff.get('p/1'), 'a get while cut off');
    const two = await other.create('p/2', json(2));
    const updated = await other.update('p/1', json(11), one.revision);
    const removed = await other.delete('p/2');
    t.true(two.ok && updated.ok && removed);

    await proxy.restore();
    await healthBecomes(cutOff, 'up');
    t.true((await cutOff.create('p/back', json(0))).ok);
    const events = await watched;
    t.deepEqual(keysOf(events), ['put p/1', 'put p/2', 'put p/1', 'delete p/2', 'put p/back']);
    t.is(events[2].value, json(11));
    t.true(health.includes('down') && health.at(-1) === 'up', health.join(' '));
  },
);

test.serial(
  'a watch cut off while replaying history resumes after the last event it delivered',
  async (t) => {
    const etcd = await startEtcd();
    t.teardown(() => etcd.stop());
    const proxy = await startTcpProxy(Number(new URL(etcd.endpoint).port));
    t.teardown(() => proxy.close());
    const writer = open(t, etcd.endpoint);
    const { revision } = await writer.list('h/');
    // Megabytes of history: far more than one HTTP/2 window, so most of it is still in etcd at the cut.
    const count = 2_000;
    const padding = 'x'.repeat(1_500);
    for (let i = 0; i < count; i += 50) {
      const batch = Array.from({ length: 50 }, (_, j) =>
        writer.create(`h/${i + j}`, json({ i: i + j, padding })),
      );
      await Promise.all(batch);
    }
    // Concurrent creates finish in any order: the last change is the highest revision, not h/1999.
    const { revision: last } = await writer.list('h/');
    const watcher = open(t, proxy.endpoint);
    let cut: Promise<void> | undefined;
    const events = await collectUntil(
      watcher.watch('h/', revision).pipe(
        tap(() => {
          cut ??= proxy.cut().then(() => proxy.restore());
        }),
      ),
      (e) => e.modRevision === last,
    );
    await cut;
    t.is(events.length, count);
    t.is(new Set(events.map((e) => e.key)).size, count, 'each change exactly once');
    t.deepEqual(
      events.map((e) => e.modRevision),
      [...events.map((e) => e.modRevision)].sort((a, b) => a - b),
    );
  },
);

test.serial('a hung etcd fails calls at the deadline instead of hanging, and recovers', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const store = open(t, etcd.endpoint);
  await healthBecomes(store, 'up');
  await etcd.freeze();
  t.teardown(() => etcd.thaw());
  await assertUnavailable(t, store.update('k', json(1), 1), 'an update while etcd is frozen');
  await healthBecomes(store, 'down');
  etcd.thaw();
  await waitFor(() => createdOrThere(store, 'k', json(1)), { timeoutMs: WAIT_MS, what: 'a create' });
  await healthBecomes(store, 'up');
  t.is((await store.get('k'))?.value, json(1));
});
