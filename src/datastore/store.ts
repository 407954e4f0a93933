// The datastore contract: a small revisioned key-value store that holds Brindle's resources and IPAM
// state. Two backends implement it: LMDB (embedded, the default) and etcd. Everything above this module
// (resources, IPAM, the daemon) depends on this file only, never on a backend.
//
// The model is etcd's: one global revision that grows by one with every change, per-key create and mod
// revisions, compare-and-swap on the mod revision, and watches that replay every change after a given
// revision. That is what makes "list at revision R, then watch from R" see each later change exactly once.

import type { Observable } from 'rxjs';

/** One stored entry. */
export interface KeyValue {
  readonly key: string;
  /** JSON text: writes are checked to parse; the store never looks inside. */
  readonly value: string;
  /** The revision of the last change to this key. */
  readonly modRevision: number;
  /** The revision that created this key (it resets when a deleted key is created again). */
  readonly createRevision: number;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The new value of a put; absent for a delete. */
  readonly value?: string;
  /** The revision of this change; a delete has the revision of the deletion. */
  readonly modRevision: number;
}

export interface ListResult {
  /** Sorted by key (byte order of the UTF-8 encoding). */
  readonly items: readonly KeyValue[];
  /** The store revision the list is consistent at: watch from here to see every later change. */
  readonly revision: number;
}

export type CreateResult =
  { readonly ok: true; readonly revision: number } | { readonly ok: false; readonly current: KeyValue };

/** A failed update carries the current entry (absent when the key does not exist), ready for a retry. */
export type UpdateResult =
  { readonly ok: true; readonly revision: number } | { readonly ok: false; readonly current?: KeyValue };

/** One write of a transaction, with the precondition it needs. */
export type TxnOp =
  /** Create-if-absent. */
  | { readonly type: 'create'; readonly key: string; readonly value: string }
  /** Put while the key's modRevision is still `expectedModRevision`. */
  | {
      readonly type: 'update';
      readonly key: string;
      readonly value: string;
      readonly expectedModRevision: number;
    }
  /** Delete while the key's modRevision is still `expectedModRevision`. */
  | { readonly type: 'delete'; readonly key: string; readonly expectedModRevision: number };

export type TxnResult =
  /** `modRevisions[i]` is the revision op i was applied at (a put's new modRevision). */
  | { readonly ok: true; readonly revision: number; readonly modRevisions: readonly number[] }
  /** A precondition failed and nothing was written; `current[i]` is op i's key as it is now. */
  | { readonly ok: false; readonly current: readonly (KeyValue | undefined)[] };

export type StoreHealth = 'up' | 'down';

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key that starts with `prefix` (the empty prefix lists everything), at one revision. */
  list(prefix: string): Promise<ListResult>;
  /** Create-if-absent. */
  create(key: string, value: string): Promise<CreateResult>;
  /** Compare-and-swap: succeeds only while the key's modRevision is still `expectedModRevision`. */
  update(key: string, value: string, expectedModRevision: number): Promise<UpdateResult>;
  /**
   * Delete; with `expectedModRevision`, only while the key still has that modRevision.
   * Resolves false when the key is absent or the revision did not match.
   */
  delete(key: string, expectedModRevision?: number): Promise<boolean>;
  /**
   * Several writes to distinct keys, all or none, in one atomic and durable commit: either every
   * precondition holds and every write is applied, or nothing changes and the result carries every
   * key's current entry (one round trip either way). etcd applies them at one revision; the embedded
   * store at consecutive revisions in op order. Watchers see one event per write, in op order.
   * At most MAX_TXN_OPS ops, MAX_VALUE_BYTES of values in all.
   */
  transact(ops: readonly TxnOp[]): Promise<TxnResult>;
  /**
   * Changes to keys under `prefix` with a revision strictly greater than `fromRevision`, in revision
   * order, each exactly once. Cold: each subscription is its own watch. Errors with StoreError
   * 'compacted' when the changes after `fromRevision` are no longer kept (list again and watch from the
   * new revision), 'reset' when the store's history was replaced under it (list again), 'closed' when
   * the store closes. Outages do not end it: it resumes where it stopped.
   */
  watch(prefix: string, fromRevision: number): Observable<WatchEvent>;
  /** Connectivity to the backing store, for status and logs; replays the latest state to subscribers. */
  readonly health$: Observable<StoreHealth>;
  /** Ends every watch and releases the backend; later calls fail with StoreError 'closed'. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// Errors

export type StoreErrorKind =
  /** The backend cannot be reached or did not answer in time; retrying later may succeed. */
  | 'unavailable'
  /** A compare-and-swap kept losing; raised by callers that retry CAS a bounded number of times. */
  | 'conflict'
  /** Stored bytes do not decode, or the change log has a gap: the store needs attention. */
  | 'corrupt'
  /** A watch asked for changes the store no longer keeps: list again and watch from the new revision. */
  | 'compacted'
  /**
   * The store's revision went backwards, or it is another cluster (wiped, restored from a backup): the
   * revisions seen so far mean nothing there, and a watch from one of them would wait for a revision
   * that may never come. List again and watch from the new revision.
   */
  | 'reset'
  /** The caller passed a key or value the store does not accept. */
  | 'invalid'
  /** The store was closed. */
  | 'closed';

export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  /** The key (or watched prefix) the failed operation was about, when there was one. */
  readonly key: string | undefined;

  constructor(kind: StoreErrorKind, key: string | undefined, detail: string, options?: { cause?: unknown }) {
    super(`datastore ${kind}${key === undefined ? '' : ` (key "${key}")`}: ${detail}`, options);
    this.name = 'StoreError';
    this.kind = kind;
    this.key = key;
  }
}

export function isStoreError(error: unknown, kind?: StoreErrorKind): error is StoreError {
  return error instanceof StoreError && (kind === undefined || error.kind === kind);
}

// ---------------------------------------------------------------------------------------------------
// Input checks shared by the backends, so both accept exactly the same keys and values.

/** LMDB's hard key limit is 1978 bytes (after its own encoding); etcd has room to spare. */
export const MAX_KEY_BYTES = 1024;
/** Below etcd's default 1.5 MiB request limit, which a value has to fit in along with its key. */
export const MAX_VALUE_BYTES = 1024 * 1024;

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new StoreError('invalid', key, 'empty key');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new StoreError('invalid', key.slice(0, 64), `key longer than ${MAX_KEY_BYTES} bytes`);
  }
}

export function checkValue(key: string, value: string): void {
  if (typeof value !== 'string') throw new StoreError('invalid', key, 'value is not a string');
  if (Buffer.byteLength(value) > MAX_VALUE_BYTES) {
    throw new StoreError('invalid', key, `value longer than ${MAX_VALUE_BYTES} bytes`);
  }
  try {
    JSON.parse(value);
  } catch {
    throw new StoreError('invalid', key, 'value is not JSON text');
  }
}

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;

/** The checks of every op, plus: at least one op, distinct keys, the size of the whole. */
export function checkTxn(ops: readonly TxnOp[]): void {
  if (ops.length === 0) throw new StoreError('invalid', undefined, 'empty transaction');
  if (ops.length > MAX_TXN_OPS) {
    throw new StoreError('invalid', ops[0].key, `transaction of ${ops.length} ops, more than ${MAX_TXN_OPS}`);
  }
  const keys = new Set<string>();
  let bytes = 0;
  for (const op of ops) {
    checkKey(op.key);
    if (keys.has(op.key)) throw new StoreError('invalid', op.key, 'key written twice in one transaction');
    keys.add(op.key);
    if (op.type !== 'create') checkRevision(op.key, op.expectedModRevision);
    if (op.type === 'delete') continue;
    checkValue(op.key, op.value);
    bytes += Buffer.byteLength(op.value);
  }
  if (bytes > MAX_VALUE_BYTES) {
    throw new StoreError('invalid', ops[0].key, `transaction values longer than ${MAX_VALUE_BYTES} bytes`);
  }
}

export function checkRevision(key: string, revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new StoreError('invalid', key, `expected mod revision ${revision} is not a positive integer`);
  }
}

export function checkFromRevision(prefix: string, revision: number): void {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new StoreError('invalid', prefix, `watch revision ${revision} is not a non-negative integer`);
  }
}
