// When the daemon returns freed memory (src/daemon/memory-trim.ts): the trigger policy fed the RIB's
// work once a second, and the driver on a manual clock following a router's decision batches. The
// real collection and malloc_trim run once, in-process.
import test from 'ava';
import { BehaviorSubject, Subject } from 'rxjs';
import { DEFAULT_TRIM_POLICY, MemoryTrim, TrimPolicy } from '../../src/daemon/memory-trim.ts';
import type { DecidingRouter } from '../../src/daemon/memory-trim.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { waitFor } from '../helpers/netns.ts';

const SECOND = 1_000;
const MB = 1024 * 1024;

/** Feeds `count` one-second samples of `destinations` decided each (RSS `rss`) from `from`; when a reclaim was due. */
function feed(policy: TrimPolicy, from: number, count: number, destinations: number, rss = 0): number[] {
  const due: number[] = [];
  for (let i = 1; i <= count; i++) {
    const now = from + i * SECOND;
    if (policy.sample(now, SECOND, destinations, rss)) due.push(now);
  }
  return due;
}

test('no work, no reclaim: a daemon whose routes trickle is left alone', (t) => {
  const policy = new TrimPolicy();
  t.deepEqual(feed(policy, 0, 150, 100), [], 'quiet seconds, 15,000 destinations in all');
});

test('after enough work, the fifth quiet second reclaims', (t) => {
  const policy = new TrimPolicy();
  t.deepEqual(feed(policy, 0, 3, 7_000), [], '21,000 destinations decided');
  t.deepEqual(feed(policy, 3 * SECOND, 5, 10), [8 * SECOND]);
});

test('a busy second restarts the quiet time; too little work never reclaims', (t) => {
  const policy = new TrimPolicy();
  feed(policy, 0, 1, 10_000);
  t.deepEqual(feed(policy, SECOND, 4, 0), []);
  t.deepEqual(feed(policy, 5 * SECOND, 1, 5_000), [], 'busy again: 15,000 so far');
  t.deepEqual(feed(policy, 6 * SECOND, 10, 0), [], 'not enough work');
  feed(policy, 16 * SECOND, 1, 5_000);
  t.deepEqual(feed(policy, 17 * SECOND, 5, 0), [22 * SECOND]);
});

test("RSS grown by the quiet daemon's own garbage counts as work", (t) => {
  const policy = new TrimPolicy();
  t.deepEqual(feed(policy, 0, 30, 0, 100 * MB), [], 'the baseline');
  t.deepEqual(feed(policy, 30 * SECOND, 30, 0, 163 * MB), [], 'grown 63 MB');
  t.is(feed(policy, 60 * SECOND, 1, 0, 164 * MB)[0], 61 * SECOND, 'grown 64 MB, quiet long since');
  policy.reclaimed(61 * SECOND, 70 * MB, 94 * MB);
  t.deepEqual(feed(policy, 61 * SECOND, 60, 0, 157 * MB), [], 'grown 63 MB from the new baseline');
});

test('reclaims are at least the minimum interval apart', (t) => {
  const policy = new TrimPolicy();
  feed(policy, 0, 3, 10_000);
  t.deepEqual(feed(policy, 3 * SECOND, 5, 0), [8 * SECOND]);
  policy.reclaimed(8 * SECOND, 100 * MB, 0);
  feed(policy, 8 * SECOND, 3, 10_000);
  const due = feed(policy, 11 * SECOND, 60, 0);
  t.is(due[0], 8 * SECOND + DEFAULT_TRIM_POLICY.minIntervalMs, 'pending until the interval passed');
});

test('reclaims that release little back off, doubling up to the maximum; a large one resets', (t) => {
  const policy = new TrimPolicy();
  const intervals: number[] = [];
  for (let i = 0; i < 10; i++) {
    policy.reclaimed(i, MB, 0);
    intervals.push(policy.nextIntervalMs);
  }
  t.deepEqual(intervals.slice(0, 4), [60_000, 120_000, 240_000, 480_000]);
  t.is(intervals.at(-1), DEFAULT_TRIM_POLICY.maxIntervalMs);
  policy.reclaimed(11, DEFAULT_TRIM_POLICY.worthBytes, 0);
  t.is(policy.nextIntervalMs, DEFAULT_TRIM_POLICY.minIntervalMs);
});

/** A router whose Loc-RIB decides what the test says. */
function fakeRouter() {
  const decided$ = new Subject<{ pathsChanged: readonly unknown[] }>();
  const router: DecidingRouter = { locRib: { decided$ } };
  return { router, decide: (n: number) => decided$.next({ pathsChanged: new Array<unknown>(n) }) };
}

/** A driver on a manual clock whose collections are counted, not run. */
function countingTrim(options: { afterStartup?: boolean } = {}) {
  const clock = new ManualClock();
  let collections = 0;
  const collect = () => {
    collections++;
    return Promise.resolve();
  };
  return { clock, trim: new MemoryTrim({ clock, collect, ...options }), collections: () => collections };
}

test('the driver follows the router, collects and trims once its RIB goes quiet after work', async (t) => {
  const { clock, trim, collections } = countingTrim({ afterStartup: false });
  const first = fakeRouter();
  const routers = new BehaviorSubject<DecidingRouter | undefined>(first.router);
  trim.start(silentLogger, routers);
  t.teardown(() => trim.stop());
  first.decide(15_000);
  clock.advance(SECOND);
  const second = fakeRouter();
  routers.next(second.router);
  first.decide(50_000);
  clock.advance(10 * SECOND);
  t.is(collections(), 0, 'a replaced router counts no more: 15,000 destinations so far');
  second.decide(5_000);
  clock.advance(SECOND);
  clock.advance(4 * SECOND);
  t.is(collections(), 0);
  clock.advance(SECOND);
  t.is(collections(), 1, 'the fifth quiet second');
  // The trim waits for V8's background sweep of dead ArrayBuffers, on the clock.
  await waitFor(() => clock.pendingTimers >= 2, { timeoutMs: 2_000, intervalMs: 5, what: 'the sweep wait' });
  clock.advance(SECOND);
  await waitFor(() => trim.trims === 1, { timeoutMs: 2_000, intervalMs: 5, what: 'the trim' });
  clock.advance(60 * SECOND);
  t.is(collections(), 1, 'nothing more without new work');
});

test('once after the start-up, when the RIB has been quiet for the quiet time', async (t) => {
  const { clock, trim, collections } = countingTrim();
  const router = fakeRouter();
  trim.start(silentLogger, new BehaviorSubject<DecidingRouter | undefined>(router.router));
  t.teardown(() => trim.stop());
  router.decide(500);
  clock.advance(SECOND);
  clock.advance(4 * SECOND);
  t.is(collections(), 0, 'a busy second, then four quiet ones');
  clock.advance(SECOND);
  t.is(collections(), 1, 'the fifth quiet second');
  await waitFor(() => clock.pendingTimers >= 2, { timeoutMs: 2_000, intervalMs: 5, what: 'the sweep wait' });
  clock.advance(SECOND);
  await waitFor(() => trim.trims === 1, { timeoutMs: 2_000, intervalMs: 5, what: 'the trim' });
  clock.advance(120 * SECOND);
  t.is(collections(), 1, 'once: nothing more without new work');
});

test('the start-up reclaim does not hold back the first one after a table arrives', (t) => {
  const policy = new TrimPolicy();
  policy.started();
  t.deepEqual(feed(policy, 0, 5, 0), [5 * SECOND], 'quiet after start');
  policy.reclaimed(5 * SECOND, 1 * MB, 0);
  feed(policy, 5 * SECOND, 2, 30_000);
  t.deepEqual(feed(policy, 7 * SECOND, 5, 0), [12 * SECOND], 'not 30 s after the start-up reclaim');
  policy.reclaimed(12 * SECOND, 100 * MB, 0);
  feed(policy, 12 * SECOND, 2, 30_000);
  t.is(feed(policy, 14 * SECOND, 30, 0)[0], 42 * SECOND, 'the interval holds from then on');
});

test('a real reclaim: V8 collects, glibc trims, the release is counted', async (t) => {
  const allocated = () => Array.from({ length: 2_000 }, () => Buffer.alloc(16 * 1024, 1)).length;
  t.is(allocated(), 2_000, 'garbage once this returns');
  // The daemon's timers do not hold the event loop (lib/clock.ts); its listeners do, here this.
  const hold = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(hold));
  const trim = new MemoryTrim();
  await trim.reclaim();
  t.is(trim.trims, 1);
  t.true(trim.releasedBytes >= 0);
});
