// Refused kernel writes: each is logged with its errno, counted, reported on failures$, and retried
// with bounded exponential backoff (initial · 2^(attempt-1), at most max). A refusal never holds up
// another prefix; the retry only puts the prefix back in the write queue.

import { Subject } from 'rxjs/internal/Subject';
import type { Observable } from 'rxjs';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { formatPrefix } from '../lib/prefix.ts';
import { errnoName } from './netlink.ts';
import type { FibTally } from './stats.ts';
import type { Entry, Failure } from './store.ts';
import type { FibFailure } from './types.ts';

export interface RetryOptions {
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
}

export class RefusedWrites {
  private readonly failed = new Set<Entry>();
  private readonly subject = new Subject<FibFailure>();
  /** Every refused write, as it happens. */
  readonly failures$: Observable<FibFailure> = this.subject.asObservable();

  /** `retry` runs when an entry's backoff has passed and the refusal still stands. */
  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly tally: FibTally,
    private readonly options: RetryOptions,
    private readonly retry: (e: Entry) => void,
  ) {}

  get size(): number {
    return this.failed.size;
  }

  record(e: Entry, errno: number, message?: string, logIt = true): void {
    const failure = e.failure ?? { errno, attempts: 0, retryAt: 0 };
    e.failure = failure;
    this.failed.add(e);
    failure.errno = errno;
    failure.message = message;
    failure.attempts += 1;
    const delay = this.backoffMs(failure.attempts);
    failure.retryAt = this.clock.now() + delay;
    failure.timer?.cancel();
    failure.timer = this.clock.setTimer(delay, () => {
      failure.timer = undefined;
      if (e.failure === failure) this.retry(e);
    });
    this.tally.counters.writeFailures += 1;
    const described = describe(e, delay);
    if (logIt) {
      const level = failure.attempts === 1 ? 'warn' : 'debug';
      this.log[level](
        { event: 'fib-write-refused', ...described },
        `kernel refused route ${described.prefix}: ${described.code}`,
      );
    }
    this.subject.next(described);
  }

  clear(e: Entry): void {
    if (!e.failure) return;
    e.failure.timer?.cancel();
    e.failure = undefined;
    this.failed.delete(e);
  }

  /** Drops the wait before the next attempt (the caller queues the write itself). */
  skipBackoff(failure: Failure): void {
    failure.timer?.cancel();
    failure.timer = undefined;
  }

  /** The refusal of `e` as reported, with the time left before its retry. */
  report(e: Entry, now: number): FibFailure {
    return describe(e, Math.max(0, Math.round((e.failure?.retryAt ?? now) - now)));
  }

  /** Current refusals. */
  list(now: number): FibFailure[] {
    return [...this.failed].map((e) => this.report(e, now));
  }

  private backoffMs(attempts: number): number {
    const { retryInitialMs, retryMaxMs } = this.options;
    return Math.min(retryMaxMs, retryInitialMs * 2 ** Math.min(30, attempts - 1));
  }
}

function describe(e: Entry, retryInMs: number): FibFailure {
  const failure = e.failure as Failure;
  const base = {
    prefix: formatPrefix(e.prefix),
    errno: failure.errno,
    code: errnoName(failure.errno),
    attempts: failure.attempts,
    retryInMs,
  };
  return failure.message === undefined ? base : { ...base, message: failure.message };
}
