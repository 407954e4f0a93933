// The FIB's desired-state store: everything the engine knows about a prefix is one Entry — what is
// wanted there, what the kernel holds, and where the prefix stands in the write pump and the resync.
// One Map lookup per wish, none per write. An entry lives while it holds anything and is released the
// moment it holds nothing, so the Map's size follows the desired and installed routes.

import type { TimerHandle } from '../lib/clock.ts';
import { prefixKey } from '../lib/prefix.ts';
import type { Prefix, PrefixKey } from '../lib/prefix.ts';
import { desiredRoute, sameDesired } from './desired.ts';
import type { DesiredLookup, DesiredRoute } from './desired.ts';
import type { KernelRoute } from './netlink.ts';
import type { FibTally } from './stats.ts';
import type { FibOp, FibRoute } from './types.ts';

/** A refused write waiting for its retry (failures.ts). */
export interface Failure {
  errno: number;
  message?: string;
  attempts: number;
  timer?: TimerHandle;
  retryAt: number;
}

export interface Entry {
  readonly key: PrefixKey;
  readonly prefix: Prefix;
  desired: DesiredRoute | undefined;
  /** Our route in the kernel as last dumped, notified or acknowledged (the written form). */
  installed: KernelRoute | undefined;
  /** Sent, not yet acknowledged. A prefix is never in two batches at once. */
  writing: FibOp | undefined;
  /** In the write queue. */
  queued: boolean;
  /** Dirtied while writing: queued again once the write completes. */
  deferred: boolean;
  /** Changed by someone else while our write was in flight: rewrite even if the view matches. */
  forced: boolean;
  failure: Failure | undefined;
  /** Rewrites forced by other writers since restoresSince (the fight guard). */
  restores: number;
  restoresSince: number;
  /** The resync epoch in which it was last written or notified: that resync's dump may predate it. */
  touched: number;
  /**
   * Wanted during this run, then no longer: deleted at once even while the prune of routes left by a
   * previous run is deferred (that grace is for routes nobody has spoken for yet, not for withdrawals).
   */
  withdrawn: boolean;
}

export class FibStore {
  private readonly entries = new Map<PrefixKey, Entry>();
  /** The desired state as the reconcile diff reads it. */
  readonly desiredView: DesiredLookup = {
    get: (key) => this.entries.get(key)?.desired,
    keys: () => this.desiredKeys(),
  };

  constructor(private readonly tally: FibTally) {}

  get(key: PrefixKey): Entry | undefined {
    return this.entries.get(key);
  }

  of(prefix: Prefix): Entry | undefined {
    return this.entries.get(prefixKey(prefix));
  }

  /** The entry for `key`, created empty when there is none. */
  obtain(key: PrefixKey, prefix: Prefix): Entry {
    return this.entries.get(key) ?? this.create(key, prefix);
  }

  values(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** Records a wish. Returns its entry when the wish changed what is wanted, undefined when not.
   * Throws a TypeError for a route no kernel could take (desiredRoute()). */
  want(route: FibRoute): Entry | undefined {
    const next = desiredRoute(route);
    const e = this.obtain(next.key, route.prefix);
    const previous = e.desired;
    if (!previous) this.tally.countDesired(isV6(e), 1);
    e.desired = next;
    e.withdrawn = false;
    return previous && sameDesired(previous, next) ? undefined : e;
  }

  /** Drops the wish at `prefix`; returns its entry, if the store had one. */
  unwant(prefix: Prefix): Entry | undefined {
    const e = this.of(prefix);
    if (!e) return undefined;
    if (e.desired) {
      this.tally.countDesired(isV6(e), -1);
      e.withdrawn = true;
    }
    e.desired = undefined;
    return e;
  }

  setInstalled(e: Entry, route: KernelRoute | undefined): void {
    if (!e.installed !== !route) this.tally.countInstalled(isV6(e), route ? 1 : -1);
    e.installed = route;
  }

  /** Forgets an entry that holds nothing any more. */
  release(e: Entry): void {
    if (e.desired || e.installed || e.writing || e.queued || e.deferred || e.failure) return;
    this.entries.delete(e.key);
  }

  *desiredRoutes(): IterableIterator<FibRoute> {
    for (const e of this.entries.values()) if (e.desired) yield e.desired.route;
  }

  private *desiredKeys(): IterableIterator<PrefixKey> {
    for (const e of this.entries.values()) if (e.desired) yield e.key;
  }

  private create(key: PrefixKey, prefix: Prefix): Entry {
    const e: Entry = {
      key,
      prefix,
      desired: undefined,
      installed: undefined,
      writing: undefined,
      queued: false,
      deferred: false,
      forced: false,
      failure: undefined,
      restores: 0,
      restoresSince: 0,
      touched: 0,
      withdrawn: false,
    };
    this.entries.set(key, e);
    return e;
  }
}

/** IPv6 prefix keys are strings, IPv4 ones numbers (lib/prefix.ts). */
function isV6(e: Entry): boolean {
  return typeof e.key === 'string';
}
