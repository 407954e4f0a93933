// Resources in the datastore: one JSON value per resource under `v3/<kind>/<name>`, validated before
// every write (an invalid resource is rejected whole; nothing stored changes), and a cache that lists
// once and then follows the watch, keeping its last good view while the datastore is away.

import { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
import type { Observable, Subscription } from 'rxjs';
import type { Logger } from '../lib/log.ts';
import { isStoreError, StoreError } from '../datastore/store.ts';
import type { KeyValue, Store, StoreHealth, WatchEvent } from '../datastore/store.ts';
import { decodeResource, formatValidationError, validationError } from './decode.ts';
import { fieldSupport } from './support.ts';
import { RESOURCE_KINDS } from './types.ts';
import type {
  BFDConfiguration,
  BGPConfiguration,
  BGPFilter,
  BGPPeer,
  IPAMConfiguration,
  IPPool,
  Node,
  Resource,
  ResourceKind,
  ValidationError,
} from './types.ts';

const PREFIX = 'v3/';

export function resourceKey(kind: ResourceKind, name: string): string {
  return `${PREFIX}${kind.toLowerCase()}/${name}`;
}

/** The kind spelled as an operator might type it ("bgppeer", "bgppeers", "BGPPeer") → the kind. */
export function kindOf(text: string): ResourceKind | undefined {
  const t = text.toLowerCase().replace(/s$/, '');
  const aliases: Record<string, ResourceKind> = {
    bgpconfig: 'BGPConfiguration',
    bgpp: 'BGPPeer',
    bp: 'BGPPeer',
    ippool: 'IPPool',
    pool: 'IPPool',
    ipp: 'IPPool',
    ipamconfig: 'IPAMConfiguration',
    bfdconfig: 'BFDConfiguration',
  };
  return RESOURCE_KINDS.find((k) => k.toLowerCase() === t) ?? aliases[t];
}

function decodeStored(kv: KeyValue): Resource | ValidationError[] {
  let json: unknown;
  try {
    json = JSON.parse(kv.value);
  } catch {
    return [
      {
        kind: '?',
        name: kv.key,
        path: '',
        reason: 'stored value is not JSON',
        message: `${kv.key}: stored value is not JSON`,
      },
    ];
  }
  const decoded = decodeResource(json, kv.key);
  if (decoded.errors.length > 0 || !decoded.resource) return decoded.errors;
  const r = decoded.resource;
  return { ...r, metadata: { ...r.metadata, resourceVersion: String(kv.modRevision) } };
}

function serialize(r: Resource): string {
  const { resourceVersion: _version, ...metadata } = r.metadata;
  return JSON.stringify({ ...r, metadata });
}

export type WriteResult =
  | { readonly ok: true; readonly resource: Resource; readonly created: boolean }
  | { readonly ok: false; readonly errors: readonly string[] };

/** CRUD on resources, validated. Backs `brindlectl apply/create/replace/get/delete`. */
export class ResourceStore {
  constructor(readonly store: Store) {}

  async get(kind: ResourceKind, name: string): Promise<Resource | undefined> {
    const kv = await this.store.get(resourceKey(kind, name));
    const r = kv && decodeStored(kv);
    return r && !Array.isArray(r) ? r : undefined;
  }

  async list(kind?: ResourceKind): Promise<Resource[]> {
    const { items } = await this.store.list(kind ? `${PREFIX}${kind.toLowerCase()}/` : PREFIX);
    return items.map(decodeStored).filter((r): r is Resource => !Array.isArray(r));
  }

  /**
   * Validates `input` and stores it: `create` only if absent, `replace` only if present, `apply` either
   * way. A field Brindle does not implement is refused here too, whoever writes.
   */
  async write(input: unknown, mode: 'create' | 'replace' | 'apply'): Promise<WriteResult> {
    const decoded = decodeResource(input);
    if (!decoded.resource) return { ok: false, errors: decoded.errors.map(formatValidationError) };
    const r = decoded.resource;
    const { refused } = fieldSupport(r);
    if (refused.length > 0) {
      const { kind, metadata } = r;
      return {
        ok: false,
        errors: refused.map((f) => validationError(kind, metadata.name, f.path, f.reason).message),
      };
    }
    const key = resourceKey(r.kind, r.metadata.name);
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.store.get(key);
      const id = `${r.kind}/${r.metadata.name}`;
      if (current && mode === 'create')
        return { ok: false, errors: [`${id}: already exists (use replace or apply)`] };
      if (!current && mode === 'replace')
        return { ok: false, errors: [`${id}: does not exist (use create or apply)`] };
      const result = current
        ? await this.store.update(key, serialize(r), current.modRevision)
        : await this.store.create(key, serialize(r));
      if (result.ok)
        return {
          ok: true,
          resource: {
            ...r,
            metadata: { ...r.metadata, resourceVersion: String(result.revision) },
          } as Resource,
          created: !current,
        };
    }
    throw new StoreError('conflict', key, 'kept changing while being written');
  }

  async delete(kind: ResourceKind, name: string): Promise<boolean> {
    return this.store.delete(resourceKey(kind, name));
  }
}

/** Every resource the routing side reads, at one datastore revision. */
export interface ResourceSnapshot {
  readonly revision: number;
  readonly configs: readonly BGPConfiguration[];
  readonly peers: readonly BGPPeer[];
  readonly filters: readonly BGPFilter[];
  readonly nodes: readonly Node[];
  readonly pools: readonly IPPool[];
  readonly ipamConfigs: readonly IPAMConfiguration[];
  readonly bfdConfigs: readonly BFDConfiguration[];
}

function snapshotOf(byKey: ReadonlyMap<string, Resource>, revision: number): ResourceSnapshot {
  const of = <K extends ResourceKind>(kind: K) =>
    [...byKey.values()].filter((r): r is Extract<Resource, { kind: K }> => r.kind === kind);
  return {
    revision,
    configs: of('BGPConfiguration'),
    peers: of('BGPPeer'),
    filters: of('BGPFilter'),
    nodes: of('Node'),
    pools: of('IPPool'),
    ipamConfigs: of('IPAMConfiguration'),
    bfdConfigs: of('BFDConfiguration'),
  };
}

const RETRY_MS = [500, 1000, 2000, 5000];

/**
 * Lists the resources, then follows the watch; every change yields a new snapshot. When the datastore
 * is away the last snapshot stays current (sessions never flap for it), `health$` says so, and the
 * cache catches up when it comes back; a compacted watch is answered by listing again. So is a
 * datastore whose history was replaced (wiped and refilled, restored from a backup: its revision went
 * backwards or its cluster changed), as SIGHUP would: consumers apply the new snapshot as a diff.
 */
export class ResourceCache {
  private readonly byKey = new Map<string, Resource>();
  private readonly snapshots = new BehaviorSubject<ResourceSnapshot | undefined>(undefined);
  readonly snapshot$: Observable<ResourceSnapshot | undefined> = this.snapshots.asObservable();
  private watch: Subscription | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private stopped = false;
  invalidStored = 0;
  /** What was last logged about each key's unsupported fields, so a relist does not repeat it. */
  private readonly reportedFields = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  get health$(): Observable<StoreHealth> {
    return this.store.health$;
  }

  get current(): ResourceSnapshot | undefined {
    return this.snapshots.value;
  }

  /** Starts listing (retrying until the datastore answers); resolves after the first attempt. */
  async start(): Promise<void> {
    await this.list();
  }

  /**
   * Lists every resource again and replaces the view (SIGHUP): a new snapshot is emitted even when
   * nothing changed, since consumers apply only the difference. Resolves false when the datastore did
   * not answer: the last good view stays and the retry loop carries on, as at start.
   */
  async resync(): Promise<boolean> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    return this.list();
  }

  private async list(): Promise<boolean> {
    if (this.stopped) return false;
    try {
      const { items, revision } = await this.store.list(PREFIX);
      if (this.stopped) return false;
      this.checkRevision(revision);
      this.byKey.clear();
      for (const kv of items) this.put(kv.key, kv.value, kv.modRevision);
      for (const key of this.reportedFields.keys()) if (!this.byKey.has(key)) this.reportedFields.delete(key);
      this.attempts = 0;
      this.snapshots.next(snapshotOf(this.byKey, revision));
      this.follow(revision);
      return true;
    } catch (error) {
      const delay = RETRY_MS[Math.min(this.attempts++, RETRY_MS.length - 1)];
      this.log.warn(
        { event: 'datastore-unavailable', reason: String(error), retryMs: delay },
        'cannot list resources; keeping the last good view',
      );
      this.retryTimer = setTimeout(() => void this.list(), delay);
      this.retryTimer.unref();
      return false;
    }
  }

  private follow(revision: number): void {
    this.watch?.unsubscribe();
    this.watch = this.store.watch(PREFIX, revision).subscribe({
      next: (event) => this.apply(event),
      error: (error: unknown) => {
        if (this.stopped || isStoreError(error, 'closed')) return;
        if (isStoreError(error, 'reset')) {
          this.log.warn(
            { event: 'datastore-reset', reason: error.message, revision: this.current?.revision },
            'the datastore was replaced (its revision went back or its cluster changed); listing everything again',
          );
        } else {
          this.log.warn(
            { event: 'watch-restart', reason: String(error) },
            'resource watch ended; listing again',
          );
        }
        void this.list();
      },
    });
  }

  /** A list behind the last snapshot: the datastore went back (a backend that cannot tell by itself). */
  private checkRevision(revision: number): void {
    const last = this.current?.revision;
    if (last === undefined || revision >= last) return;
    this.log.warn(
      { event: 'datastore-went-back', revision, lastRevision: last },
      'the datastore revision went backwards; taking its current content',
    );
  }

  private apply(event: WatchEvent): void {
    if (event.type === 'delete') {
      this.byKey.delete(event.key);
      this.reportedFields.delete(event.key);
    } else if (event.value !== undefined) this.put(event.key, event.value, event.modRevision);
    this.snapshots.next(snapshotOf(this.byKey, event.modRevision));
  }

  private put(key: string, value: string, modRevision: number): void {
    const decoded = decodeStored({ key, value, modRevision, createRevision: modRevision });
    if (!Array.isArray(decoded)) {
      this.byKey.set(key, decoded);
      this.reportFields(key, decoded);
      return;
    }
    // Written by something that skipped validation: ignored, the last good version (if any) stays.
    this.invalidStored++;
    this.log.error(
      { event: 'invalid-resource', key, errors: decoded.map((e) => e.message) },
      'invalid resource in the datastore ignored',
    );
  }

  /**
   * A stored resource with a field `brindlectl apply` refuses (written before Brindle refused it, or
   * by something that skipped the check) is applied as before — the field has no effect, as it never
   * had — rather than dropped, which would take its sessions or its settings away; the log says so
   * at error level. Ignored fields are logged as warnings. Each once per change.
   */
  private reportFields(key: string, resource: Resource): void {
    const { refused, ignored } = fieldSupport(resource);
    const said = JSON.stringify([refused, ignored]);
    if (this.reportedFields.get(key) === said) return;
    this.reportedFields.set(key, said);
    const fields = (list: typeof refused) => list.map((f) => `${f.path}: ${f.reason}`);
    if (refused.length > 0)
      this.log.error(
        { event: 'unsupported-fields', key, fields: fields(refused) },
        'stored resource has fields Brindle does not support: they have no effect (brindlectl apply refuses them)',
      );
    if (ignored.length > 0)
      this.log.warn(
        { event: 'ignored-fields', key, fields: fields(ignored) },
        'stored resource has fields Brindle ignores',
      );
  }

  stop(): void {
    this.stopped = true;
    this.watch?.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.snapshots.complete();
  }
}
