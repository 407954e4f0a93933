// The embedded datastore: LMDB through lmdb-js, no server. Several processes on one host may open the
// same directory at once (the daemon watches while brindlectl writes): LMDB's write lock is shared
// between processes, so every read-check-write below runs inside one write transaction and CAS holds
// across processes too.
//
// LMDB has neither a global revision nor a watch, so each change, in its own write transaction, bumps
// the "revision" counter and appends {type, key, value} to a change log keyed by that revision (layout
// in lmdb-records.ts). Watchers poll the log for entries after the last revision they delivered; a write
// from this process wakes them at once, a write from another process is seen within one poll interval.
// The log is trimmed as it grows; a watcher that fell behind the trim point fails with 'compacted'.
//
// Durability: overlappingSync is off, so a commit is fsynced before its promise resolves and an
// acknowledged write survives a crash. LMDB's copy-on-write pages keep the file consistent if a
// process dies mid-transaction.

import { open } from 'lmdb';
import type { Database, RootDatabase, Transaction } from 'lmdb';
import { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
import { Observable } from 'rxjs/internal/Observable';
import type { Subscriber } from 'rxjs';

import {
  decodeCounter,
  decodeLogEntry,
  decodeRecord,
  encodeLogEntry,
  encodeRecord,
  FORMAT_VERSION,
  logEntryTime,
  META_COMPACTED,
  META_FORMAT,
  META_REVISION,
  toWatchEvent,
} from './lmdb-records.ts';
import type { Change } from './lmdb-records.ts';
import {
  checkFromRevision,
  checkKey,
  checkRevision,
  checkTxn,
  checkValue,
  isStoreError,
  StoreError,
} from './store.ts';
import type {
  CreateResult,
  KeyValue,
  ListResult,
  Store,
  StoreHealth,
  TxnOp,
  TxnResult,
  UpdateResult,
  WatchEvent,
} from './store.ts';

export interface LmdbStoreOptions {
  /** A directory (created when missing) that holds data.mdb and lock.mdb. */
  readonly path: string;
  /** How often a watcher looks for writes made by other processes; 50 ms when absent. */
  readonly pollIntervalMs?: number;
  /** Log entries beyond the newest this many are trimmed; 10,000 when absent. */
  readonly logMaxEntries?: number;
  /** Log entries older than this are trimmed; one hour when absent. */
  readonly logMaxAgeMs?: number;
  /** Wall-clock milliseconds, for log ages; Date.now when absent (tests inject their own). */
  readonly now?: () => number;
}

const DEFAULT_POLL_INTERVAL_MS = 50;
const DEFAULT_LOG_MAX_ENTRIES = 10_000;
const DEFAULT_LOG_MAX_AGE_MS = 60 * 60 * 1000;
/** Trimming is spread over writes so no single transaction grows large after a burst. */
const MAX_TRIMMED_PER_WRITE = 64;
/** At most this many log entries are read per poll, so one watcher never stalls the event loop. */
const MAX_CHANGES_PER_POLL = 1_000;

/** Open (or create) the store in `options.path`. */
export function openLmdbStore(options: LmdbStoreOptions): Promise<LmdbStore> {
  return LmdbStore.open(options);
}

interface Poller {
  /** Look at the log now instead of at the next interval. */
  wake(): void;
  /** End the watch with this error (the store is closing). */
  fail(error: StoreError): void;
}

export class LmdbStore implements Store {
  private readonly root: RootDatabase<string, string>;
  private readonly meta: Database<string, string>;
  private readonly kv: Database<string, string>;
  private readonly log: Database<string, number>;
  private readonly pollIntervalMs: number;
  private readonly logMaxEntries: number;
  private readonly logMaxAgeMs: number;
  private readonly now: () => number;
  private readonly pollers = new Set<Poller>();
  private readonly health = new BehaviorSubject<StoreHealth>('up');
  private closed = false;

  /** The store is always reachable: it is a file on this host. */
  readonly health$: Observable<StoreHealth> = this.health.asObservable();

  static async open(options: LmdbStoreOptions): Promise<LmdbStore> {
    const store = new LmdbStore(options);
    try {
      await store.checkFormat();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  private constructor(options: LmdbStoreOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.logMaxEntries = options.logMaxEntries ?? DEFAULT_LOG_MAX_ENTRIES;
    this.logMaxAgeMs = options.logMaxAgeMs ?? DEFAULT_LOG_MAX_AGE_MS;
    this.now = options.now ?? Date.now;
    try {
      this.root = open<string, string>({ path: options.path, maxDbs: 4, overlappingSync: false });
      this.meta = this.root.openDB<string, string>('meta', { encoding: 'string' });
      this.kv = this.root.openDB<string, string>('kv', { encoding: 'string' });
      this.log = this.root.openDB<string, number>('log', { encoding: 'string' });
    } catch (error) {
      throw new StoreError('unavailable', undefined, `cannot open ${options.path}`, { cause: error });
    }
  }

  /** A new store gets the current format; a store written in another format is refused. */
  private async checkFormat(): Promise<void> {
    let format = await this.read(META_FORMAT, () => this.meta.get(META_FORMAT));
    format ??= await this.write(undefined, () => {
      // Another process may have initialised the store since the read above.
      const current = this.meta.get(META_FORMAT);
      if (current === undefined) this.meta.putSync(META_FORMAT, String(FORMAT_VERSION));
      return current ?? String(FORMAT_VERSION);
    });
    if (format !== String(FORMAT_VERSION)) {
      throw new StoreError('corrupt', undefined, `data format ${format}, this build reads ${FORMAT_VERSION}`);
    }
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.read(key, () => {
      checkKey(key);
      this.root.resetReadTxn(); // See commits made by other processes since this event turn began.
      return this.readEntry(key);
    });
  }

  list(prefix: string): Promise<ListResult> {
    return this.read(prefix, () => this.withSnapshot((txn) => this.listAt(prefix, txn)));
  }

  create(key: string, value: string): Promise<CreateResult> {
    return this.mutate({ key, value }, (): CreateResult => {
      const current = this.readEntry(key);
      if (current !== undefined) return { ok: false, current };
      return { ok: true, revision: this.applyChange({ type: 'put', key, value }, undefined) };
    });
  }

  update(key: string, value: string, expectedModRevision: number): Promise<UpdateResult> {
    return this.mutate({ key, value, expectedModRevision }, (): UpdateResult => {
      const current = this.readEntry(key);
      if (current?.modRevision !== expectedModRevision) return { ok: false, current };
      return { ok: true, revision: this.applyChange({ type: 'put', key, value }, current.createRevision) };
    });
  }

  delete(key: string, expectedModRevision?: number): Promise<boolean> {
    return this.mutate({ key, expectedModRevision }, () => {
      const current = this.readEntry(key);
      if (current === undefined) return false;
      if (expectedModRevision !== undefined && current.modRevision !== expectedModRevision) return false;
      this.applyChange({ type: 'delete', key }, undefined);
      return true;
    });
  }

  /**
   * Every precondition is read before the first write (see write()), then each op is one change at
   * the next revision: the log keeps its one-change-per-revision layout, and the whole is one commit.
   */
  transact(ops: readonly TxnOp[]): Promise<TxnResult> {
    try {
      checkTxn(ops);
    } catch (error) {
      return Promise.reject(asStoreError(error, ops[0]?.key, 'invalid input'));
    }
    return this.write(ops[0].key, (): TxnResult => {
      const current = ops.map((op) => this.readEntry(op.key));
      if (!ops.every((op, i) => preconditionHolds(op, current[i]))) return { ok: false, current };
      const modRevisions = ops.map((op, i) =>
        op.type === 'delete'
          ? this.applyChange({ type: 'delete', key: op.key }, undefined)
          : this.applyChange({ type: 'put', key: op.key, value: op.value }, current[i]?.createRevision),
      );
      return { ok: true, revision: modRevisions[modRevisions.length - 1], modRevisions };
    });
  }

  watch(prefix: string, fromRevision: number): Observable<WatchEvent> {
    return new Observable<WatchEvent>((subscriber) => {
      try {
        checkFromRevision(prefix, fromRevision);
        this.assertOpen(prefix);
      } catch (error) {
        subscriber.error(error);
        return undefined;
      }
      this.startPoller(prefix, fromRevision, subscriber);
      return undefined;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = new StoreError('closed', undefined, 'the store was closed');
    for (const poller of [...this.pollers]) poller.fail(error);
    this.health.complete();
    await this.root.close();
  }

  // -------------------------------------------------------------------------------------------------
  // Reads

  private readEntry(key: string): KeyValue | undefined {
    const raw = this.kv.get(key);
    return raw === undefined ? undefined : decodeRecord(key, raw);
  }

  private readCounter(name: string, transaction?: Transaction): number {
    return decodeCounter(name, this.meta.get(name, { transaction }));
  }

  /** Run `body` on one fresh read snapshot, so the values it reads belong to a single revision. */
  private withSnapshot<T>(body: (txn: Transaction) => T): T {
    this.root.resetReadTxn();
    const txn = this.root.useReadTransaction();
    try {
      return body(txn);
    } finally {
      txn.done();
    }
  }

  private listAt(prefix: string, txn: Transaction): ListResult {
    const revision = this.readCounter(META_REVISION, txn);
    const items: KeyValue[] = [];
    const range = this.kv.getRange(
      prefix === '' ? { transaction: txn } : { start: prefix, transaction: txn },
    );
    for (const { key, value } of range) {
      if (!key.startsWith(prefix)) break; // Keys sort bytewise, so the prefix is one contiguous run.
      items.push(decodeRecord(key, value));
    }
    return { items, revision };
  }

  // -------------------------------------------------------------------------------------------------
  // Writes

  /** Check the caller's input, then run `body` in a write transaction. */
  private mutate<T>(input: MutationInput, body: () => T): Promise<T> {
    try {
      checkKey(input.key);
      if (input.value !== undefined) checkValue(input.key, input.value);
      if (input.expectedModRevision !== undefined) checkRevision(input.key, input.expectedModRevision);
    } catch (error) {
      return Promise.reject(asStoreError(error, input.key, 'invalid input'));
    }
    return this.write(input.key, body);
  }

  /**
   * Run `body` in a write transaction and resolve once it is committed and on disk. lmdb-js commits
   * whatever a callback wrote even when it throws afterwards, so `body` does every check and decode
   * before its first write, and applyChange() writes last.
   */
  private async write<T>(key: string | undefined, body: () => T): Promise<T> {
    this.assertOpen(key);
    let result: T;
    try {
      result = await this.root.transaction(body);
    } catch (error) {
      throw asStoreError(error, key, 'write failed');
    }
    for (const poller of this.pollers) poller.wake();
    return result;
  }

  /**
   * The one place a change is written: the entry, its log record and the new revision, in the calling
   * write transaction. Reads (which may throw 'corrupt') come before the first write.
   */
  private applyChange(change: Change, createRevision: number | undefined): number {
    const revision = this.readCounter(META_REVISION) + 1;
    const compacted = this.readCounter(META_COMPACTED);
    const at = this.now();
    if (change.type === 'put') {
      const modRevision = revision;
      const record = { value: change.value, createRevision: createRevision ?? revision, modRevision };
      this.kv.putSync(change.key, encodeRecord(record));
    } else {
      this.kv.removeSync(change.key);
    }
    this.log.putSync(revision, encodeLogEntry({ ...change, at }));
    this.meta.putSync(META_REVISION, String(revision));
    const trimmedTo = this.trimLog(compacted, revision, at);
    if (trimmedTo !== compacted) this.meta.putSync(META_COMPACTED, String(trimmedTo));
    return revision;
  }

  /**
   * Drop the oldest log entries that are beyond the newest logMaxEntries or older than logMaxAgeMs, at
   * most MAX_TRIMMED_PER_WRITE of them, never the entry just written. Returns the new trim point.
   */
  private trimLog(compacted: number, revision: number, now: number): number {
    const keepFrom = revision - this.logMaxEntries + 1;
    const tooOldBefore = now - this.logMaxAgeMs;
    let trimmedTo = compacted;
    for (let n = 0; n < MAX_TRIMMED_PER_WRITE && trimmedTo + 1 < revision; n += 1) {
      const next = trimmedTo + 1;
      const raw = this.log.get(next);
      const expired = raw === undefined || (logEntryTime(raw) ?? Infinity) < tooOldBefore;
      if (next >= keepFrom && !expired) break;
      if (raw !== undefined) this.log.removeSync(next);
      trimmedTo = next;
    }
    return trimmedTo;
  }

  // -------------------------------------------------------------------------------------------------
  // Watch

  /** Poll the log for `subscriber` until it unsubscribes or fails; stopping is part of its teardown. */
  private startPoller(prefix: string, fromRevision: number, subscriber: Subscriber<WatchEvent>): void {
    let after = fromRevision;
    let timer: NodeJS.Timeout | undefined;
    const schedule = (delayMs: number): void => {
      clearTimeout(timer);
      timer = setTimeout(poll, delayMs).unref();
    };
    const stop = (): void => {
      clearTimeout(timer);
      this.pollers.delete(poller);
    };
    const poll = (): void => {
      let batch: ChangeBatch;
      try {
        batch = this.withSnapshot((txn) => this.changesAfter(after, prefix, txn));
      } catch (error) {
        stop();
        subscriber.error(error);
        return;
      }
      after = batch.last;
      for (const event of batch.events) {
        subscriber.next(event);
        if (subscriber.closed) return stop(); // The consumer unsubscribed from inside next().
      }
      schedule(batch.more ? 0 : this.pollIntervalMs);
    };
    const poller: Poller = {
      wake: () => schedule(0),
      fail: (error) => {
        stop();
        subscriber.error(error);
      },
    };
    this.pollers.add(poller);
    subscriber.add(stop);
    schedule(0);
  }

  /** The log entries after `after` (at most MAX_CHANGES_PER_POLL), as events for keys under `prefix`. */
  private changesAfter(after: number, prefix: string, txn: Transaction): ChangeBatch {
    const revision = this.readCounter(META_REVISION, txn);
    if (revision <= after) return { events: [], last: after, more: false };
    const compacted = this.readCounter(META_COMPACTED, txn);
    if (after < compacted) {
      const detail = `changes after revision ${after} were compacted (the log starts after ${compacted}); list again`;
      throw new StoreError('compacted', prefix, detail);
    }
    const events: WatchEvent[] = [];
    let last = after;
    for (const { key: logRevision, value } of this.log.getRange({
      start: after + 1,
      limit: MAX_CHANGES_PER_POLL,
      transaction: txn,
    })) {
      if (logRevision !== last + 1) break; // A gap: reported below.
      const entry = decodeLogEntry(logRevision, value);
      if (entry.key.startsWith(prefix)) events.push(toWatchEvent(logRevision, entry));
      last = logRevision;
    }
    if (last < Math.min(revision, after + MAX_CHANGES_PER_POLL)) {
      throw new StoreError('corrupt', prefix, `change log has no entry for revision ${last + 1}`);
    }
    return { events, last, more: last < revision };
  }

  // -------------------------------------------------------------------------------------------------

  /** Run a synchronous read as an async operation, with lmdb's own errors wrapped. */
  private read<T>(key: string, body: () => T): Promise<T> {
    try {
      this.assertOpen(key);
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(asStoreError(error, key, 'read failed'));
    }
  }

  private assertOpen(key: string | undefined): void {
    if (this.closed) throw new StoreError('closed', key, 'the store was closed');
  }
}

function preconditionHolds(op: TxnOp, current: KeyValue | undefined): boolean {
  return op.type === 'create' ? current === undefined : current?.modRevision === op.expectedModRevision;
}

/** lmdb's own errors (I/O, map full) become 'unavailable'; StoreErrors pass through. */
function asStoreError(error: unknown, key: string | undefined, what: string): StoreError {
  return isStoreError(error) ? error : new StoreError('unavailable', key, what, { cause: error });
}

interface MutationInput {
  readonly key: string;
  readonly value?: string;
  readonly expectedModRevision?: number;
}

interface ChangeBatch {
  readonly events: readonly WatchEvent[];
  /** The last revision looked at (whether or not it matched the prefix). */
  readonly last: number;
  /** More entries are waiting: poll again at once. */
  readonly more: boolean;
}
