// Gives the memory a burst of work freed back to the kernel once the daemon has gone quiet. Two
// things keep it resident otherwise:
// - V8 collects garbage only as JavaScript allocates, and a quiet daemon allocates next to nothing:
//   the paths, attribute sets and buffers of sessions long closed stay in its heap (the soak
//   benchmark's RSS was 366–495 MB 60 s after its last session, against 92 MB at its start);
// - glibc returns only the free top of its main arena; pages freed between live chunks (Buffer
//   backing stores, V8's malloc'd tables) stay resident: +46.7 MB of `[heap]` after a full GC.
// So when the Loc-RIB has been quiet for a few seconds after a good deal of change, the daemon asks
// V8 for a full collection and then calls glibc's malloc_trim(0) through the native addon. Without
// the addon (reflector mode may run without it) the collection still happens, the trim does not.
//
// The trigger is the RIB's own work — destinations decided, counted per batch, never per prefix:
// sessions that close, tables withdrawn, floods, policy changes all pass through it, and none of the
// daemon's steady background does (keepalives, connect retries to unreachable peers, scrapes). That
// background makes garbage too, which V8 lets grow to its allocation limit (2–3 times the live heap)
// before it collects: RSS grown by 64 MB since the last reclaim, with the RIB quiet, also counts. The
// event loop's utilisation was tried first and measured unusable: on a loaded machine the quiet
// soak daemon, retrying 100 unreachable peers, read 2–4 % busy (20–40 ms of each second, load 10),
// and 2,000 such peers scale that past any fixed threshold. V8's 'gc'
// performance entries carry a kind and flags, nothing on what was freed; heap statistics say what
// is live, not whether the work has stopped. A reclaim that releases little makes the next one wait
// twice as long (a daemon whose memory is all live, with routes trickling in, ends up reclaiming
// every half hour).
//
// Cost, measured on this project's 2-core machine (Node 20, glibc 2.36, load 0.6–3):
// - one malloc_trim(0) over a 576 MB glibc heap of 4 KiB buffers, 7 in 8 freed: 153 ms, 391 MB
//   returned (a second call: 25 ms); with every other buffer kept no whole page is free: 4 ms, nothing;
// - 600,000 RIB-like objects (274 MB RSS) dropped, then: nothing in 2 s idle (272 MB); the inspector's
//   collection 184 ms → 104 MB, and the trim 16 ms → 51 MB (start 42 MB); `gc()` under --expose-gc
//   (one full GC, no memory reduction) left 81 MB after the same trim.

import { performance } from 'node:perf_hooks';
import { EMPTY } from 'rxjs/internal/observable/empty';
import { switchMap } from 'rxjs/internal/operators/switchMap';
import type { Observable, Subscription } from 'rxjs';
import { systemClock } from '../lib/clock.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { loadNative, mallocTrim } from '../lib/native.ts';

export interface TrimPolicyOptions {
  /** A second in which at most this many destinations were decided is quiet. */
  readonly quietDestinations: number;
  /** Quiet time, uninterrupted, before a reclaim. */
  readonly quietMs: number;
  /** Destinations decided since the last reclaim that make another worth doing… */
  readonly workDestinations: number;
  /** …or this much RSS grown since (garbage of steady background work V8 lets pile up). */
  readonly growthBytes: number;
  /** Reclaims are at least this far apart… */
  readonly minIntervalMs: number;
  /** …and, while each releases less than worthBytes, twice as far as the last, up to this. */
  readonly maxIntervalMs: number;
  readonly worthBytes: number;
}

/**
 * 20,000 destinations decided is tens of MB come and gone: the soak benchmark's heap peaked at about
 * 2.5 KB per path in flight (226 MB for 300 sessions × 300 routes, each announced and withdrawn).
 */
export const DEFAULT_TRIM_POLICY: TrimPolicyOptions = {
  quietDestinations: 100,
  quietMs: 5_000,
  workDestinations: 20_000,
  growthBytes: 64 * 1024 * 1024,
  minIntervalMs: 30_000,
  maxIntervalMs: 30 * 60_000,
  worthBytes: 8 * 1024 * 1024,
};

/** When to reclaim: pure, fed the RIB's work once a second with the time it was counted. */
export class TrimPolicy {
  private quietMs = 0;
  private work = 0;
  /** RSS after the last reclaim (or at the first sample). */
  private baselineRss: number | undefined;
  private lastAt = -Infinity;
  private intervalMs: number;
  /** The next reclaim is the start-up's (see started()). */
  private startup = false;

  constructor(private readonly options: TrimPolicyOptions = DEFAULT_TRIM_POLICY) {
    this.intervalMs = options.minIntervalMs;
  }

  /** `destinations` decided in the last `elapsedMs`, RSS now. True when a reclaim is due now. */
  sample(nowMs: number, elapsedMs: number, destinations: number, rssBytes: number): boolean {
    this.work += destinations;
    this.baselineRss ??= rssBytes;
    if (destinations > this.options.quietDestinations) {
      this.quietMs = 0;
      return false;
    }
    this.quietMs += elapsedMs;
    const worth =
      this.work >= this.options.workDestinations || rssBytes - this.baselineRss >= this.options.growthBytes;
    return worth && this.quietMs >= this.options.quietMs && nowMs - this.lastAt >= this.intervalMs;
  }

  /**
   * The daemon has just started: compiling its modules, reading its config and resources and setting
   * up its sessions was work like any other, and a daemon that then idles would keep its garbage.
   * That first reclaim does not count towards the interval between reclaims (see reclaimed()).
   */
  started(): void {
    this.work = Math.max(this.work, this.options.workDestinations);
    this.startup = true;
  }

  /** A reclaim finished at `nowMs`, gave back `releasedBytes` and left `rssBytes`. */
  reclaimed(nowMs: number, releasedBytes: number, rssBytes: number): void {
    this.baselineRss = rssBytes;
    this.work = 0;
    this.quietMs = 0;
    // The start-up's reclaim went over a heap without routes, cheaply: it neither holds back the
    // first reclaim after a table arrives nor makes the next ones back off.
    if (this.startup) {
      this.startup = false;
      return;
    }
    this.lastAt = nowMs;
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

/** The Loc-RIB as seen here: its decision batches (rib/loc-rib.ts). */
export interface DecidingRouter {
  readonly locRib: { readonly decided$: Observable<{ readonly pathsChanged: readonly unknown[] }> };
}

export interface MemoryTrimOptions {
  readonly clock?: Clock;
  readonly policy?: TrimPolicyOptions;
  /** The full collection (default: V8's, through the inspector). */
  readonly collect?: () => Promise<void>;
  /**
   * Reclaim once the RIB has been quiet for the policy's quiet time after start (default true). In
   * reflector mode the idle daemon went from 71.3 to 63.8 MB of RSS: 7.5 MB of young generation grown
   * by the start-up and of its garbage, which an idle daemon allocates too little to collect.
   */
  readonly afterStartup?: boolean;
}

const SAMPLE_MS = 1_000;
/**
 * Between the collection and the trim: V8 frees dead ArrayBuffers' backing stores on a background
 * thread after the collection ends, and those frees are what the trim gives back.
 */
const SWEEP_WAIT_MS = 500;

/** Counts the RIB's work, reclaims when the policy says so; `stop()` ends it. */
export class MemoryTrim implements MemoryTrimStats {
  trims = 0;
  releasedBytes = 0;
  private readonly clock: Clock;
  private readonly policy: TrimPolicy;
  private readonly collect: () => Promise<void>;
  /** Whether the native addon (and with it malloc_trim) loaded. */
  private readonly native = loadNative();
  private log: Logger | undefined;
  private subscription: Subscription | undefined;
  private timer: TimerHandle | undefined;
  private decided = 0;
  private sampledAt = 0;
  private reclaiming = false;

  constructor(options: MemoryTrimOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.policy = new TrimPolicy(options.policy);
    this.collect = options.collect ?? collectGarbage;
    if (options.afterStartup ?? true) this.policy.started();
  }

  /** Follows each router the daemon runs in turn. */
  start(log: Logger, routers: Observable<DecidingRouter | undefined>): void {
    this.log = log;
    if (!this.native.ok)
      log.info(
        { event: 'memory-trim-unavailable', reason: this.native.reason },
        'freed memory stays in the allocator until reused: malloc_trim needs the native addon',
      );
    this.subscription = routers
      .pipe(switchMap((router) => router?.locRib.decided$ ?? EMPTY))
      .subscribe((batch) => (this.decided += batch.pathsChanged.length));
    this.sampledAt = this.clock.now();
    this.schedule();
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(SAMPLE_MS, () => this.sample());
  }

  private sample(): void {
    const now = this.clock.now();
    const due = this.policy.sample(now, now - this.sampledAt, this.decided, process.memoryUsage.rss());
    this.sampledAt = now;
    this.decided = 0;
    if (due && !this.reclaiming)
      this.reclaim().catch((error: unknown) =>
        this.log?.warn(
          { event: 'memory-trim-failed', reason: String(error) },
          'could not return freed memory',
        ),
      );
    if (this.subscription) this.schedule();
  }

  /** A full collection, then malloc_trim(0); what it gave back is counted and logged at debug. */
  async reclaim(): Promise<void> {
    this.reclaiming = true;
    const rssBefore = process.memoryUsage.rss();
    let rssAfter = rssBefore;
    try {
      const timings = await this.collectAndTrim();
      rssAfter = process.memoryUsage.rss();
      const releasedBytes = Math.max(0, rssBefore - rssAfter);
      this.trims++;
      this.releasedBytes += releasedBytes;
      this.log?.debug(
        { event: 'memory-trim', releasedBytes, rssBefore, ...timings },
        'returned freed memory to the kernel',
      );
    } finally {
      this.policy.reclaimed(this.clock.now(), Math.max(0, rssBefore - rssAfter), rssAfter);
      this.reclaiming = false;
    }
  }

  private async collectAndTrim(): Promise<{ gcMs: number; trimMs: number; trimmed?: boolean }> {
    const started = performance.now();
    await this.collect();
    const gcMs = performance.now() - started;
    await new Promise((resolve) => this.clock.setTimer(SWEEP_WAIT_MS, () => resolve(undefined)));
    const trimStarted = performance.now();
    const trimmed = this.native.ok ? mallocTrim() : undefined;
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
