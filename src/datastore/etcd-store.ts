// The etcd v3 datastore, through npm etcd3. Revisions are etcd's own; create-if-absent and CAS are
// single txns (`Create == 0`, `Mod == rev`) whose else branch reads the current entry, so a failed
// attempt costs no second round trip. Every key is stored under a prefix (default "/brindle/").
//
// Outages: every unary call has a deadline and is tried once (etcd-faults.ts), so an operation fails
// with StoreError 'unavailable' instead of hanging or retrying behind the caller's back. Watches survive
// outages: etcd3 re-creates a broken watch stream by itself, and before it does, each watcher's start
// revision is set to one past the last revision this store delivered — etcd3's own choice is the
// revision in the last response header, which can skip events still queued for a catching-up watcher.
// Events at or below the last delivered revision are dropped, so a replay never delivers twice.
// health$ follows call outcomes, watch stream state and a periodic probe.
//
// A store replaced under us (etcd wiped and refilled, or restored from a backup) keeps its address but
// not its history: its revision goes backwards, or its cluster ID changes. The probe and every list
// compare the response header with what was seen before; a difference ends every watch with
// StoreError 'reset', which callers answer with a fresh list.

import { Etcd3, EtcdPermissionDeniedError, GRPCInvalidArgumentError, Range } from 'etcd3';
import type { IKeyValue, IOptions, IResponseHeader, IWatchResponse, Watcher } from 'etcd3';
import { Observable } from 'rxjs/internal/Observable';
import { ReplaySubject } from 'rxjs/internal/ReplaySubject';
import type { Subscriber } from 'rxjs';

import { cappedBackoff, hostCooldownPolicy, passThroughPolicy } from './etcd-faults.ts';
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

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `http://10.0.0.1:2379`. */
  readonly endpoints: readonly string[];
  /** Prepended to every key; "/brindle/" when absent. */
  readonly prefix?: string;
  /** Deadline of each call (and of the connection attempt behind it); 5 s when absent. */
  readonly requestTimeoutMs?: number;
  /** How often health is probed; 2 s when absent. */
  readonly healthIntervalMs?: number;
  /** Bounds of the watch reconnect backoff; 100 ms and 2 s when absent. */
  readonly watchRetryMinMs?: number;
  readonly watchRetryMaxMs?: number;
  /** Keys per range request in list(); 500 when absent (etcd3's gRPC messages are capped at 4 MiB). */
  readonly listPageSize?: number;
  /** TLS material, as etcd3 takes it. */
  readonly credentials?: IOptions['credentials'];
  /** Password authentication, as etcd3 takes it. */
  readonly auth?: IOptions['auth'];
}

const DEFAULT_PREFIX = '/brindle/';
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const DEFAULT_HEALTH_INTERVAL_MS = 2_000;
const DEFAULT_LIST_PAGE_SIZE = 500;
/** With several endpoints, a member that failed a call is skipped this long. */
const HOST_COOLDOWN_MS = 1_000;
/** A list restarts this often when etcd compacts the revision it is paging at. */
const LIST_ATTEMPTS = 3;
/** close() waits this long for watch cancellations to reach etcd. */
const CLOSE_GRACE_MS = 1_000;
/** etcd cancels a watch with an empty reason only when its start revision was compacted. */
const COMPACTED_WATCH_MESSAGE = 'Watcher canceled: ';

/** Connect lazily to etcd: the store is usable at once and health$ tells when etcd answers. */
export function openEtcdStore(options: EtcdStoreOptions): EtcdStore {
  return new EtcdStore(options);
}

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly listPageSize: number;
  private readonly healthIntervalMs: number;
  private readonly health = new ReplaySubject<StoreHealth>(1);
  private readonly watchers = new Map<Watcher, Subscriber<WatchEvent>>();
  /** Watch cancellations still on their way to etcd; close() waits for them (briefly). */
  private readonly pendingCancels = new Set<Promise<void>>();
  private lastHealth: StoreHealth | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The cluster answering, and the highest revision a linearizable response has shown (0: none yet). */
  private clusterId: string | undefined;
  private highestRevision = 0;

  readonly health$: Observable<StoreHealth> = this.health.asObservable();

  constructor(options: EtcdStoreOptions) {
    if (options.endpoints.length === 0) throw new StoreError('invalid', undefined, 'no etcd endpoints');
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.listPageSize = options.listPageSize ?? DEFAULT_LIST_PAGE_SIZE;
    this.healthIntervalMs = options.healthIntervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
    this.client = new Etcd3(clientOptions(options));
    this.scheduleProbe(0);
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.call('get', key, async () => {
      checkKey(key);
      const response = await this.client.get(this.prefix + key).exec();
      const kv = response.kvs[0];
      return kv === undefined ? undefined : this.toKeyValue(kv);
    });
  }

  async list(prefix: string): Promise<ListResult> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.call('list', prefix, () => this.listPages(prefix));
      } catch (error) {
        if (!isStoreError(error, 'compacted') || attempt >= LIST_ATTEMPTS) throw error;
      }
    }
  }

  create(key: string, value: string): Promise<CreateResult> {
    return this.call('create', key, async (): Promise<CreateResult> => {
      checkKey(key);
      checkValue(key, value);
      const full = this.prefix + key;
      const response = await this.client
        .if(full, 'Create', '==', 0)
        .then(this.client.put(full).value(value))
        .else(this.client.get(full))
        .commit();
      if (response.succeeded) return { ok: true, revision: Number(response.header.revision) };
      const current = response.responses[0]?.response_range.kvs[0];
      if (current === undefined)
        throw new StoreError('corrupt', key, 'failed create came back without the entry');
      return { ok: false, current: this.toKeyValue(current) };
    });
  }

  update(key: string, value: string, expectedModRevision: number): Promise<UpdateResult> {
    return this.call('update', key, async (): Promise<UpdateResult> => {
      checkKey(key);
      checkValue(key, value);
      checkRevision(key, expectedModRevision);
      const full = this.prefix + key;
      const response = await this.client
        .if(full, 'Mod', '==', expectedModRevision)
        .then(this.client.put(full).value(value))
        .else(this.client.get(full))
        .commit();
      if (response.succeeded) return { ok: true, revision: Number(response.header.revision) };
      const current = response.responses[0]?.response_range.kvs[0];
      return { ok: false, current: current === undefined ? undefined : this.toKeyValue(current) };
    });
  }

  delete(key: string, expectedModRevision?: number): Promise<boolean> {
    return this.call('delete', key, async () => {
      checkKey(key);
      const full = this.prefix + key;
      if (expectedModRevision === undefined) {
        return Number((await this.client.delete().key(full).exec()).deleted) > 0;
      }
      checkRevision(key, expectedModRevision);
      // A missing key has mod revision 0, which never equals a checked (positive) revision.
      const response = await this.client
        .if(full, 'Mod', '==', expectedModRevision)
        .then(this.client.delete().key(full))
        .commit();
      return response.succeeded;
    });
  }

  /** One etcd txn: a compare per op (`Create == 0` or `Mod == rev`), the writes, else a get per key. */
  transact(ops: readonly TxnOp[]): Promise<TxnResult> {
    return this.call('transaction', ops[0]?.key ?? '', async (): Promise<TxnResult> => {
      checkTxn(ops);
      const keys = ops.map((op) => this.prefix + op.key);
      const txn = this.client.if(keys[0], ...txnCompare(ops[0]));
      for (let i = 1; i < ops.length; i += 1) txn.and(keys[i], ...txnCompare(ops[i]));
      const response = await txn
        .then(
          ...ops.map((op, i) =>
            op.type === 'delete'
              ? this.client.delete().key(keys[i])
              : this.client.put(keys[i]).value(op.value),
          ),
        )
        .else(...keys.map((key) => this.client.get(key)))
        .commit();
      if (response.succeeded) {
        const revision = Number(response.header.revision);
        return { ok: true, revision, modRevisions: ops.map(() => revision) };
      }
      const current = response.responses.map((r) => {
        const kv = r.response_range?.kvs[0];
        return kv === undefined ? undefined : this.toKeyValue(kv);
      });
      if (current.length !== ops.length) {
        throw new StoreError('corrupt', ops[0].key, 'failed transaction came back without its entries');
      }
      return { ok: false, current };
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
      this.startWatch(prefix, fromRevision, subscriber);
      return undefined;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.probeTimer);
    const error = new StoreError('closed', undefined, 'the store was closed');
    const subscribers = [...this.watchers.values()];
    // Errors the subscribers; their teardown cancels each watcher (bounded: etcd may be gone).
    for (const subscriber of subscribers) subscriber.error(error);
    await settleWithin(Promise.allSettled([...this.pendingCancels]), CLOSE_GRACE_MS);
    this.client.close();
    this.health.complete();
  }

  // -------------------------------------------------------------------------------------------------
  // Calls

  /** Run one etcd call: closed check, error mapping, health bookkeeping. */
  private async call<T>(what: string, key: string, op: () => Promise<T>): Promise<T> {
    this.assertOpen(key);
    try {
      const result = await op();
      this.setHealth('up');
      return result;
    } catch (error) {
      const storeError = toStoreError(error, what, key);
      if (storeError.kind === 'unavailable') this.setHealth('down');
      throw storeError;
    }
  }

  /**
   * Page through the range so a large prefix never exceeds the gRPC message limit. The first page fixes
   * the revision and every later page reads at that revision, so the whole list is one snapshot.
   */
  private async listPages(prefix: string): Promise<ListResult> {
    const range = Range.prefix(this.prefix + prefix);
    const items: KeyValue[] = [];
    let revision: number | undefined;
    let start = range.start;
    for (;;) {
      const page = this.client.getAll().inRange({ start, end: range.end }).limit(this.listPageSize);
      const response = await (revision === undefined ? page : page.revision(revision)).exec();
      if (revision === undefined) this.checkHistory(response.header, true);
      revision ??= Number(response.header.revision);
      for (const kv of response.kvs) items.push(this.toKeyValue(kv));
      const last = response.kvs.at(-1);
      if (!response.more || last === undefined) return { items, revision };
      start = Buffer.concat([last.key, Buffer.from([0])]); // The smallest key after `last`.
    }
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.stripPrefix(kv.key),
      value: kv.value.toString('utf8'),
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
    };
  }

  private stripPrefix(fullKey: Buffer): string {
    const key = fullKey.toString('utf8');
    if (!key.startsWith(this.prefix)) throw new StoreError('corrupt', key, `key outside "${this.prefix}"`);
    return key.slice(this.prefix.length);
  }

  private assertOpen(key: string | undefined): void {
    if (this.closed) throw new StoreError('closed', key, 'the store was closed');
  }

  // -------------------------------------------------------------------------------------------------
  // Watch

  private startWatch(prefix: string, fromRevision: number, subscriber: Subscriber<WatchEvent>): void {
    /** The last revision delivered (or known to hold nothing for this prefix). */
    let delivered = fromRevision;
    let ended = false;
    const watcher = this.client
      .watch()
      .prefix(this.prefix + prefix)
      .startRevision(String(fromRevision + 1))
      .watcher();
    this.watchers.set(watcher, subscriber);
    watcher.on('data', (response) => {
      delivered = this.deliver(response, delivered, subscriber);
    });
    watcher.on('disconnected', () => {
      // Runs before etcd3 re-creates the stream (it does so on a timer), so the new stream starts here.
      watcher.request.start_revision = String(delivered + 1);
      this.setHealth('down');
    });
    watcher.on('connected', (response: IWatchResponse) => {
      this.setHealth('up');
      this.checkHistory(response.header, false);
    });
    watcher.on('error', (error) => {
      ended = true; // etcd already dropped this watcher: cancelling it would wait forever.
      subscriber.error(watchError(error, prefix, delivered));
    });
    subscriber.add(() => {
      this.watchers.delete(watcher);
      if (!ended) this.cancelWatcher(watcher);
    });
  }

  /** Emit a response's events that are newer than `delivered`; returns the new `delivered`. */
  private deliver(response: IWatchResponse, delivered: number, subscriber: Subscriber<WatchEvent>): number {
    let last = delivered;
    for (const event of response.events) {
      const revision = Number(event.kv.mod_revision);
      // Several events of one txn share a revision, so compare with the value from before this response.
      if (revision <= delivered) continue;
      subscriber.next(this.toWatchEvent(event.type, event.kv, revision));
      if (subscriber.closed) return last;
      last = Math.max(last, revision);
    }
    // An event-less response is a progress notification, which etcd sends only to a watcher that has
    // caught up: nothing at or below its header revision is still to come.
    if (response.events.length === 0) last = Math.max(last, Number(response.header.revision));
    return last;
  }

  private toWatchEvent(type: string, kv: IKeyValue, modRevision: number): WatchEvent {
    const key = this.stripPrefix(kv.key);
    return type === 'Delete'
      ? { type: 'delete', key, modRevision }
      : { type: 'put', key, value: kv.value.toString('utf8'), modRevision };
  }

  private cancelWatcher(watcher: Watcher): void {
    const cancel = watcher.cancel().catch(() => undefined);
    this.pendingCancels.add(cancel);
    void cancel.finally(() => this.pendingCancels.delete(cancel));
  }

  // -------------------------------------------------------------------------------------------------
  // Health

  private setHealth(health: StoreHealth): void {
    if (this.closed || health === this.lastHealth) return;
    this.lastHealth = health;
    this.health.next(health);
  }

  private scheduleProbe(delayMs: number): void {
    this.probeTimer = setTimeout(() => void this.probe(), delayMs);
    this.probeTimer.unref();
  }

  /** A linearizable read of one key: it needs a live leader, like every write does. */
  private async probe(): Promise<void> {
    try {
      const response = await this.client.get(this.prefix).exec();
      this.setHealth('up');
      this.checkHistory(response.header, true);
    } catch {
      this.setHealth('down');
    }
    if (!this.closed) this.scheduleProbe(this.healthIntervalMs);
  }

  // -------------------------------------------------------------------------------------------------
  // History

  /**
   * Compares a response header with what this store has seen. The revision is compared only for a
   * linearizable response (a read or write through the leader): a watch stream on a lagging member may
   * be a few revisions behind without anything being wrong. The cluster ID is compared always.
   */
  private checkHistory(header: IResponseHeader, linearizable: boolean): void {
    const revision = Number(header.revision);
    const known = this.clusterId;
    this.clusterId = header.cluster_id;
    if (known !== undefined && known !== header.cluster_id) {
      this.highestRevision = revision;
      return this.historyReset(`etcd cluster ID changed from ${known} to ${header.cluster_id}`);
    }
    if (!linearizable) return;
    if (revision >= this.highestRevision) {
      this.highestRevision = revision;
      return;
    }
    const before = this.highestRevision;
    this.highestRevision = revision;
    this.historyReset(`etcd revision went back from ${before} to ${revision}`);
  }

  /** Ends every watch with 'reset': each was following a history that is gone. */
  private historyReset(why: string): void {
    const error = new StoreError('reset', undefined, `${why}: list again`);
    for (const subscriber of [...this.watchers.values()]) subscriber.error(error);
  }
}

function clientOptions(options: EtcdStoreOptions): IOptions {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const several = options.endpoints.length > 1;
  return {
    hosts: [...options.endpoints],
    credentials: options.credentials,
    auth: options.auth,
    dialTimeout: requestTimeoutMs,
    // Streams (watches) live on; every other call gets a deadline so nothing waits forever.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
    faultHandling: {
      global: passThroughPolicy,
      host: () => (several ? hostCooldownPolicy(HOST_COOLDOWN_MS) : passThroughPolicy),
      watchBackoff: cappedBackoff(options.watchRetryMinMs ?? 100, options.watchRetryMaxMs ?? 2_000),
    },
    // Keepalive pings notice a peer that vanished without closing the connection (a hung etcd, a pulled
    // cable), which would otherwise leave a watch stream waiting forever. etcd accepts pings every 5 s.
    grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 },
  };
}

/** A create needs the key absent (create revision 0); an update or delete needs its mod revision. */
function txnCompare(op: TxnOp): ['Create' | 'Mod', '==', number] {
  return op.type === 'create' ? ['Create', '==', 0] : ['Mod', '==', op.expectedModRevision];
}

function toStoreError(error: unknown, what: string, key: string): StoreError {
  if (isStoreError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const kind =
    error instanceof GRPCInvalidArgumentError
      ? 'invalid'
      : message.includes('required revision has been compacted')
        ? 'compacted'
        : 'unavailable';
  const detail = error instanceof EtcdPermissionDeniedError ? 'permission denied' : message;
  return new StoreError(kind, key, `etcd ${what} failed: ${detail}`, { cause: error });
}

function watchError(error: Error, prefix: string, delivered: number): StoreError {
  if (error.message === COMPACTED_WATCH_MESSAGE) {
    const detail = `changes after revision ${delivered} were compacted by etcd; list again`;
    return new StoreError('compacted', prefix, detail, { cause: error });
  }
  return new StoreError('unavailable', prefix, `etcd cancelled the watch: ${error.message}`, {
    cause: error,
  });
}

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
