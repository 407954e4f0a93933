// Typed, decoded access to the IPAM records in the Store (keys.ts, records.ts). Every write is one
// compare-and-swap primitive — create-if-absent, update at a mod revision, delete at a mod revision —
// and a lost race comes back as `{ ok: false, current }` so the caller can retry from what is there
// now without another read (§7.4). Datastore failures become IpamError 'datastore' with the StoreError
// as cause; nothing here retries.

import type { Store } from '../datastore/store.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { AllocationBlock } from './block.ts';
import { IpamError, isIpamError } from './errors.ts';
import {
  AFFINITY_PREFIX,
  affinityKey,
  BLOCK_PREFIX,
  blockKey,
  HANDLE_PREFIX,
  handleKey,
  hostAffinityPrefix,
  IPAM_PREFIX,
} from './keys.ts';
import {
  decodeAffinity,
  decodeBlock,
  decodeHandle,
  encodeAffinity,
  encodeBlock,
  encodeHandle,
} from './records.ts';
import type { BlockAffinity, IpamHandle } from './records.ts';

export interface Versioned<T> {
  readonly value: T;
  readonly modRevision: number;
}

export type WriteResult<T> =
  | { readonly ok: true; readonly modRevision: number }
  /** Lost the race: what the key holds now (undefined when it does not exist). */
  | { readonly ok: false; readonly current: Versioned<T> | undefined };

interface RecordKind<T> {
  readonly what: string;
  key(value: T): string;
  encode(value: T): string;
  decode(key: string, text: string): T;
}

const BLOCK: RecordKind<AllocationBlock> = {
  what: 'block',
  key: (block) => blockKey(block.cidr),
  encode: encodeBlock,
  decode: decodeBlock,
};
const AFFINITY: RecordKind<BlockAffinity> = {
  what: 'affinity',
  key: (affinity) => affinityKey(affinity.node, affinity.cidr),
  encode: encodeAffinity,
  decode: decodeAffinity,
};
const HANDLE: RecordKind<IpamHandle> = {
  what: 'handle',
  key: (handle) => handleKey(handle.handleId),
  encode: encodeHandle,
  decode: decodeHandle,
};

/** Everything under ipam/v2/ at one store revision (check.ts, show.ts, routes). */
export interface IpamSnapshot {
  readonly revision: number;
  readonly blocks: readonly Versioned<AllocationBlock>[];
  readonly affinities: readonly Versioned<BlockAffinity>[];
  readonly handles: readonly Versioned<IpamHandle>[];
  /** Records that do not decode, with the reason. */
  readonly invalid: readonly { readonly key: string; readonly reason: string }[];
}

export class IpamDatastore {
  constructor(readonly store: Store) {}

  // --- blocks --------------------------------------------------------------------------------------

  getBlock(cidr: Prefix): Promise<Versioned<AllocationBlock> | undefined> {
    return this.get(BLOCK, blockKey(cidr));
  }

  listBlocks(): Promise<Versioned<AllocationBlock>[]> {
    return this.list(BLOCK, BLOCK_PREFIX);
  }

  createBlock(block: AllocationBlock): Promise<WriteResult<AllocationBlock>> {
    return this.create(BLOCK, block);
  }

  updateBlock(block: AllocationBlock, modRevision: number): Promise<WriteResult<AllocationBlock>> {
    return this.update(BLOCK, block, modRevision);
  }

  deleteBlock(cidr: Prefix, modRevision: number): Promise<boolean> {
    return this.delete(blockKey(cidr), modRevision);
  }

  // --- affinities ----------------------------------------------------------------------------------

  getAffinity(node: string, cidr: Prefix): Promise<Versioned<BlockAffinity> | undefined> {
    return this.get(AFFINITY, affinityKey(node, cidr));
  }

  /** One host's affinities, both families (§7.2 step 4). */
  listHostAffinities(node: string): Promise<Versioned<BlockAffinity>[]> {
    return this.list(AFFINITY, hostAffinityPrefix(node));
  }

  listAffinities(): Promise<Versioned<BlockAffinity>[]> {
    return this.list(AFFINITY, AFFINITY_PREFIX);
  }

  createAffinity(affinity: BlockAffinity): Promise<WriteResult<BlockAffinity>> {
    return this.create(AFFINITY, affinity);
  }

  updateAffinity(affinity: BlockAffinity, modRevision: number): Promise<WriteResult<BlockAffinity>> {
    return this.update(AFFINITY, affinity, modRevision);
  }

  deleteAffinity(node: string, cidr: Prefix, modRevision: number): Promise<boolean> {
    return this.delete(affinityKey(node, cidr), modRevision);
  }

  // --- handles -------------------------------------------------------------------------------------

  getHandle(handleId: string): Promise<Versioned<IpamHandle> | undefined> {
    return this.get(HANDLE, handleKey(handleId));
  }

  createHandle(handle: IpamHandle): Promise<WriteResult<IpamHandle>> {
    return this.create(HANDLE, handle);
  }

  updateHandle(handle: IpamHandle, modRevision: number): Promise<WriteResult<IpamHandle>> {
    return this.update(HANDLE, handle, modRevision);
  }

  deleteHandle(handleId: string, modRevision: number): Promise<boolean> {
    return this.delete(handleKey(handleId), modRevision);
  }

  // --- everything ----------------------------------------------------------------------------------

  async snapshot(): Promise<IpamSnapshot> {
    const { items, revision } = await this.call('list', IPAM_PREFIX, () => this.store.list(IPAM_PREFIX));
    const blocks: Versioned<AllocationBlock>[] = [];
    const affinities: Versioned<BlockAffinity>[] = [];
    const handles: Versioned<IpamHandle>[] = [];
    const invalid: { key: string; reason: string }[] = [];
    for (const { key, value, modRevision } of items) {
      try {
        if (key.startsWith(BLOCK_PREFIX)) blocks.push({ value: decodeBlock(key, value), modRevision });
        else if (key.startsWith(AFFINITY_PREFIX))
          affinities.push({ value: decodeAffinity(key, value), modRevision });
        else if (key.startsWith(HANDLE_PREFIX))
          handles.push({ value: decodeHandle(key, value), modRevision });
        else invalid.push({ key, reason: 'not an IPAM key' });
      } catch (error) {
        if (!isIpamError(error, 'corrupt')) throw error;
        invalid.push({ key, reason: error.message });
      }
    }
    return { revision, blocks, affinities, handles, invalid };
  }

  // --- the primitives ------------------------------------------------------------------------------

  private async get<T>(kind: RecordKind<T>, key: string): Promise<Versioned<T> | undefined> {
    const kv = await this.call('get', key, () => this.store.get(key));
    return kv === undefined ? undefined : { value: kind.decode(key, kv.value), modRevision: kv.modRevision };
  }

  private async list<T>(kind: RecordKind<T>, prefix: string): Promise<Versioned<T>[]> {
    const { items } = await this.call('list', prefix, () => this.store.list(prefix));
    return items.map((kv) => ({ value: kind.decode(kv.key, kv.value), modRevision: kv.modRevision }));
  }

  private async create<T>(kind: RecordKind<T>, value: T): Promise<WriteResult<T>> {
    const key = kind.key(value);
    const result = await this.call('create', key, () => this.store.create(key, kind.encode(value)));
    if (result.ok) return { ok: true, modRevision: result.revision };
    return {
      ok: false,
      current: { value: kind.decode(key, result.current.value), modRevision: result.current.modRevision },
    };
  }

  private async update<T>(kind: RecordKind<T>, value: T, modRevision: number): Promise<WriteResult<T>> {
    const key = kind.key(value);
    const result = await this.call('update', key, () =>
      this.store.update(key, kind.encode(value), modRevision),
    );
    if (result.ok) return { ok: true, modRevision: result.revision };
    const current = result.current;
    return {
      ok: false,
      current: current && { value: kind.decode(key, current.value), modRevision: current.modRevision },
    };
  }

  private delete(key: string, modRevision: number): Promise<boolean> {
    return this.call('delete', key, () => this.store.delete(key, modRevision));
  }

  private async call<T>(op: string, key: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (isIpamError(error)) throw error;
      const detail = error instanceof Error ? error.message : String(error);
      throw new IpamError('datastore', `IPAM ${op} of ${key} failed: ${detail}`, { cause: error });
    }
  }
}
