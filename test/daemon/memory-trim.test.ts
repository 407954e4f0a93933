// When the daemon returns freed memory (src/daemon/memory-trim.ts): the trigger policy fed one
// event-loop sample a second, and the driver on a manual clock with a scripted event loop. The real
// collection and malloc_trim run once, in-process.
import test from 'ava';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { DEFAULT_TRIM_POLICY, MemoryTrim, TrimPolicy } from '../../src/daemon/memory-trim.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { waitFor } from '../helpers/netns.ts';

const SECOND = 1_000;
const MB = 1024 * 1024;

/** Feeds `count` one-second samples busy `activeMs` each from `now`; the times a reclaim was due. */
function feed(policy: TrimPolicy, from: number, count: number, activeMs: number): number[] {
  const due: number[] = [];
  for (let i = 1; i <= count; i++) {
    const now = from + i * SECOND;
    if (policy.sample(now, SECOND, activeMs)) due.push(now);
  }
  return due;
}

test('no work, no reclaim: a daemon that stays quiet is left alone', (t) => {
  const policy = new TrimPolicy();
  t.deepEqual(feed(policy, 0, 600, 10), []);
});

test('after enough work, the fifth quiet second reclaims', (t) => {
  const policy = new TrimPolicy();
  t.deepEqual(feed(policy, 0, 3, 900), [], 'busy: 2.7 s of work');
  t.deepEqual(feed(policy, 3 * SECOND, 5, 20), [8 * SECOND]);
});

test('a busy second restarts the quiet time; too little work never reclaims', (t) => {
  const policy = new TrimPolicy();
  feed(policy, 0, 1, 1_000);
  t.deepEqual(feed(policy, SECOND, 4, 0), []);
  t.deepEqual(feed(policy, 5 * SECOND, 1, 500), [], 'busy again: 1.5 s of work so far');
  t.deepEqual(feed(policy, 6 * SECOND, 10, 0), [], 'not enough work');
  feed(policy, 16 * SECOND, 1, 800);
  t.deepEqual(feed(policy, 17 * SECOND, 5, 0), [22 * SECOND]);
});

test('reclaims are at least the minimum interval apart', (t) => {
  const policy = new TrimPolicy();
  feed(policy, 0, 3, 1_000);
  t.deepEqual(feed(policy, 3 * SECOND, 5, 0), [8 * SECOND]);
  policy.reclaimed(8 * SECOND, 100 * MB);
  feed(policy, 8 * SECOND, 3, 1_000);
  const due = feed(policy, 11 * SECOND, 60, 0);
  t.is(due[0], 8 * SECOND + DEFAULT_TRIM_POLICY.minIntervalMs, 'pending until the interval passed');
});

test('reclaims that release little back off, doubling up to the maximum; a large one resets', (t) => {
  const policy = new TrimPolicy();
  const intervals: number[] = [];
  for (let i = 0; i < 10; i++) {
    policy.reclaimed(i, MB);
    intervals.push(policy.nextIntervalMs);
  }
  t.deepEqual(intervals.slice(0, 4), [60_000, 120_000, 240_000, 480_000]);
  t.is(intervals.at(-1), DEFAULT_TRIM_POLICY.maxIntervalMs);
  policy.reclaimed(11, DEFAULT_TRIM_POLICY.worthBytes);
  t.is(policy.nextIntervalMs, DEFAULT_TRIM_POLICY.minIntervalMs);
});

/** A scripted event loop: each sample reads the busy share set last. */
function scriptedLoop() {
  let active = 0;
  let idle = 0;
  const loop = {
    busy: 0,
    advance(ms: number) {
      active += ms * loop.busy;
      idle += ms * (1 - loop.busy);
    },
    utilization(last?: EventLoopUtilization): EventLoopUtilization {
      const a = active - (last?.active ?? 0);
      const i = idle - (last?.idle ?? 0);
      return { active: a, idle: i, utilization: a / (a + i || 1) };
    },
  };
  return loop;
}

test('the driver collects, trims and counts once the event loop goes quiet after work', async (t) => {
  const clock = new ManualClock();
  const loop = scriptedLoop();
  let collections = 0;
  const trim = new MemoryTrim({
    clock,
    utilization: (last) => loop.utilization(last),
    collect: () => {
      collections++;
      return Promise.resolve();
    },
  });
  trim.start(silentLogger);
  t.teardown(() => trim.stop());
  const run = (seconds: number, busy: number) => {
    loop.busy = busy;
    for (let i = 0; i < seconds; i++) {
      loop.advance(SECOND);
      clock.advance(SECOND);
    }
  };
  run(4, 0.9);
  run(4, 0);
  t.is(collections, 0);
  run(1, 0);
  t.is(collections, 1, 'the fifth quiet second');
  // The trim waits for V8's background sweep of dead ArrayBuffers, on the clock.
  await waitFor(() => clock.pendingTimers >= 2, { timeoutMs: 2_000, intervalMs: 5, what: 'the sweep wait' });
  clock.advance(SECOND);
  await waitFor(() => trim.trims === 1, { timeoutMs: 2_000, intervalMs: 5, what: 'the trim' });
  run(20, 0);
  t.is(collections, 1, 'nothing more without new work');
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
