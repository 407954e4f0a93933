// Gives the memory a burst of work freed back to the kernel once the daemon has gone quiet. Two
// things keep it resident otherwise:
// - V8 collects garbage only as JavaScript allocates, and a quiet daemon allocates next to nothing:
//   the paths, attribute sets and buffers of sessions long closed stay in its heap (the soak
//   benchmark's RSS was 366–495 MB 60 s after its last session, against 92 MB at its start);
// - glibc returns only the free top of its main arena; pages freed between live chunks (Buffer
//   backing stores, V8's malloc'd tables) stay resident: +46.7 MB of `[heap]` after a full GC.
// So when the event loop has been quiet for a few seconds after a good deal of work, the daemon asks
// V8 for a full collection and then calls glibc's malloc_trim(0) through the native addon. Without
// the addon (reflector mode may run without it) the collection still happens, the trim does not.
//
// The trigger is the event loop's utilisation, sampled once a second: it says both that work
// happened (busy time) and that it has stopped (quiet time), whatever the work was — sessions
// closing, a table withdrawn, a policy change, a flood. V8's 'gc' performance entries carry only a
// kind and flags (nothing on what was freed), and heap statistics say what is live, not whether the
// daemon is idle. A reclaim that releases little makes the next one wait twice as long (a daemon
// whose memory is all live, scraped every 15 s, ends up reclaiming every half hour).
//
// Cost, measured on this project's 2-core machine (Node 20, glibc 2.36, load 0.6–3):
// - one malloc_trim(0) over a 576 MB glibc heap of 4 KiB buffers, 7 in 8 freed: 153 ms, 391 MB
//   returned (a second call: 25 ms); with every other buffer kept no whole page is free: 4 ms, nothing;
// - 600,000 RIB-like objects (274 MB RSS) dropped, then: nothing in 2 s idle (272 MB); the inspector's
//   collection 184 ms → 104 MB, and the trim 16 ms → 51 MB (start 42 MB); `gc()` under --expose-gc
//   (one full GC, no memory reduction) left 81 MB after the same trim.

import type { EventLoopUtilization } from 'node:perf_hooks';
import { performance } from 'node:perf_hooks';
import { systemClock } from '../lib/clock.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { loadNative, mallocTrim } from '../lib/native.ts';

export interface TrimPolicyOptions {
  /** A sample whose event loop was busy less than this share of the time is quiet. */
  readonly quietUtilization: number;
  /** Quiet time, uninterrupted, before a reclaim. */
  readonly quietMs: number;
  /** Busy time (summed over busy samples) since the last reclaim that makes another worth doing. */
  readonly busyMs: number;
  /** Reclaims are at least this far apart… */
  readonly minIntervalMs: number;
  /** …and, while each releases less than worthBytes, twice as far as the last, up to this. */
  readonly maxIntervalMs: number;
  readonly worthBytes: number;
}

export const DEFAULT_TRIM_POLICY: TrimPolicyOptions = {
  quietUtilization: 0.05,
  quietMs: 5_000,
  busyMs: 2_000,
  minIntervalMs: 30_000,
  maxIntervalMs: 30 * 60_000,
  worthBytes: 8 * 1024 * 1024,
};

/** When to reclaim: pure, fed one event-loop sample at a time with the time it was taken. */
export class TrimPolicy {
  private quietMs = 0;
  private busyMs = 0;
  private lastAt = -Infinity;
  private intervalMs: number;

  constructor(private readonly options: TrimPolicyOptions = DEFAULT_TRIM_POLICY) {
    this.intervalMs = options.minIntervalMs;
  }

  /** One sample: `activeMs` busy out of `elapsedMs`. True when a reclaim is due now. */
  sample(nowMs: number, elapsedMs: number, activeMs: number): boolean {
    if (elapsedMs <= 0) return false;
    if (activeMs / elapsedMs >= this.options.quietUtilization) {
      this.busyMs += activeMs;
      this.quietMs = 0;
      return false;
    }
    this.quietMs += elapsedMs;
    return (
      this.quietMs >= this.options.quietMs &&
      this.busyMs >= this.options.busyMs &&
      nowMs - this.lastAt >= this.intervalMs
    );
  }

  /** A reclaim finished at `nowMs` and gave back `releasedBytes` (RSS before less after). */
  reclaimed(nowMs: number, releasedBytes: number): void {
    this.lastAt = nowMs;
    this.busyMs = 0;
    this.quietMs = 0;
    const { minIntervalMs, maxIntervalMs, worthBytes } = this.options;
    this.intervalMs =
      releasedBytes >= worthBytes ? minIntervalMs : Math.min(this.intervalMs * 2, maxIntervalMs);
  }

  /** How long after the last reclaim the next may come (ms). */
  get nextIntervalMs(): number {
    return this.intervalMs;
  }
}

/** What the metrics read (brindle_memory_trims_total, brindle_memory_trim_released_bytes_total). */
export interface MemoryTrimStats {
  readonly trims: number;
  readonly releasedBytes: number;
}

export interface MemoryTrimOptions {
  readonly clock?: Clock;
  readonly policy?: TrimPolicyOptions;
  /** Event-loop utilisation since `last` (performance.eventLoopUtilization). */
  readonly utilization?: (last?: EventLoopUtilization) => EventLoopUtilization;
  /** The full collection (default: V8's, through the inspector). */
  readonly collect?: () => Promise<void>;
}

const SAMPLE_MS = 1_000;
/**
 * Between the collection and the trim: V8 frees dead ArrayBuffers' backing stores on a background
 * thread after the collection ends, and those frees are what the trim gives back.
 */
const SWEEP_WAIT_MS = 500;

/** Samples the event loop and reclaims when the policy says so; `stop()` ends it. */
export class MemoryTrim implements MemoryTrimStats {
  trims = 0;
  releasedBytes = 0;
  private readonly clock: Clock;
  private readonly policy: TrimPolicy;
  private readonly utilization: (last?: EventLoopUtilization) => EventLoopUtilization;
  private readonly collect: () => Promise<void>;
  private log: Logger | undefined;
  private timer: TimerHandle | undefined;
  private last: EventLoopUtilization | undefined;
  private reclaiming = false;
  private running = false;
  private readonly canTrim: boolean;

  constructor(options: MemoryTrimOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.policy = new TrimPolicy(options.policy);
    this.utilization = options.utilization ?? ((last) => performance.eventLoopUtilization(last));
    this.collect = options.collect ?? collectGarbage;
    this.canTrim = loadNative().ok;
  }

  start(log: Logger): void {
    this.log = log;
    this.running = true;
    const native = loadNative();
    if (!native.ok)
      log.info(
        { event: 'memory-trim-unavailable', reason: native.reason },
        'freed memory stays in the allocator until reused: malloc_trim needs the native addon',
      );
    this.last = this.utilization();
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(SAMPLE_MS, () => this.sample());
  }

  private sample(): void {
    const delta = this.utilization(this.last);
    this.last = this.utilization();
    const elapsedMs = delta.idle + delta.active;
    if (!this.reclaiming && this.policy.sample(this.clock.now(), elapsedMs, delta.active))
      this.reclaim().catch((error: unknown) =>
        this.log?.warn(
          { event: 'memory-trim-failed', reason: String(error) },
          'could not return freed memory',
        ),
      );
    if (this.running) this.schedule();
  }

  /** A full collection, then malloc_trim(0); what it gave back is counted and logged at debug. */
  async reclaim(): Promise<void> {
    this.reclaiming = true;
    const rssBefore = process.memoryUsage.rss();
    let releasedBytes = 0;
    try {
      const timings = await this.collectAndTrim();
      releasedBytes = Math.max(0, rssBefore - process.memoryUsage.rss());
      this.trims++;
      this.releasedBytes += releasedBytes;
      this.log?.debug(
        { event: 'memory-trim', releasedBytes, rssBefore, ...timings },
        'returned freed memory to the kernel',
      );
    } finally {
      this.policy.reclaimed(this.clock.now(), releasedBytes);
      // The collection's own busy time is no work to reclaim after.
      this.last = this.utilization();
      this.reclaiming = false;
    }
  }

  private async collectAndTrim(): Promise<{ gcMs: number; trimMs: number; trimmed?: boolean }> {
    const started = performance.now();
    await this.collect();
    const gcMs = performance.now() - started;
    await new Promise((resolve) => this.clock.setTimer(SWEEP_WAIT_MS, () => resolve(undefined)));
    const trimStarted = performance.now();
    const trimmed = this.canTrim ? mallocTrim() : undefined;
    return { gcMs, trimMs: performance.now() - trimStarted, trimmed };
  }
}

/**
 * A full, compacting collection, asked of V8 through an in-process inspector session (no port is
 * opened): the one way Node offers without --expose-gc. It runs as a task of its own, not on the
 * caller's stack.
 */
async function collectGarbage(): Promise<void> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  try {
    await new Promise<void>((resolve, reject) =>
      session.post('HeapProfiler.collectGarbage', (error) => (error ? reject(error) : resolve())),
    );
  } finally {
    session.disconnect();
  }
}
