// Typed, decoded access to the IPAM records in the Store (keys.ts, records.ts). Every write is one
// compare-and-swap primitive — create-if-absent, update at a mod revision, delete at a mod revision —
// or one transaction of such writes (a block and the handles that count its addresses, commitBlock),
// and a lost race comes back with what is there now so the caller can retry without another read
// (§7.4). Datastore failures become IpamError 'datastore' with the StoreError as cause; nothing here
// retries.
//
// The last version of each block this client read or wrote is remembered (knownBlock): an allocation
// can compare-and-swap against it without reading the block first. It is only a guess — the CAS
// refuses it when another writer has moved the block on, and the failed CAS returns the block as it is.

import type { KeyValue, Store, TxnOp } from '../datastore/store.ts';
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

/** A handle's new counts in a commitBlock; counts that are all zero delete it. */
export interface HandleWrite {
  readonly value: IpamHandle;
  /** The revision it was read at; undefined: it must not exist yet (create). */
  readonly modRevision: number | undefined;
}

export type BlockCommit =
  | { readonly ok: true; readonly modRevision: number }
  /** A precondition failed and nothing was written: the block and handles as they are now. */
  | {
      readonly ok: false;
      readonly block: Versioned<AllocationBlock> | undefined;
      readonly handles: ReadonlyMap<string, Versioned<IpamHandle> | undefined>;
    };

/** Blocks remembered per client; the oldest is forgotten beyond this. */
const KNOWN_BLOCKS_MAX = 1_024;

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
  /** Block key → the last version seen (read or written), most recently seen last. */
  private readonly known = new Map<string, Versioned<AllocationBlock>>();

  constructor(readonly store: Store) {}

  // --- blocks --------------------------------------------------------------------------------------

  async getBlock(cidr: Prefix): Promise<Versioned<AllocationBlock> | undefined> {
    const key = blockKey(cidr);
    const kv = await this.call('get', key, () => this.store.get(key));
    return this.remember(key, kv && this.decodeBlock(kv));
  }

  /** The last version of the block this client saw, without a read; it may be stale. */
  knownBlock(cidr: Prefix): Versioned<AllocationBlock> | undefined {
    return this.known.get(blockKey(cidr));
  }

  async listBlocks(): Promise<Versioned<AllocationBlock>[]> {
    const { items } = await this.call('list', BLOCK_PREFIX, () => this.store.list(BLOCK_PREFIX));
    return items.map((kv) => this.remember(kv.key, this.decodeBlock(kv))!);
  }

  /**
   * A stored block, decoded — or the remembered one when it is that very version: a key's mod
   * revision names one write, and decoding a block is most of what a read costs.
   */
  private decodeBlock(kv: KeyValue): Versioned<AllocationBlock> {
    const known = this.known.get(kv.key);
    if (known?.modRevision === kv.modRevision) return known;
    return { value: BLOCK.decode(kv.key, kv.value), modRevision: kv.modRevision };
  }

  async createBlock(block: AllocationBlock): Promise<WriteResult<AllocationBlock>> {
    return this.rememberWrite(block, await this.create(BLOCK, block));
  }

  async updateBlock(block: AllocationBlock, modRevision: number): Promise<WriteResult<AllocationBlock>> {
    return this.rememberWrite(block, await this.update(BLOCK, block, modRevision));
  }

  async deleteBlock(cidr: Prefix, modRevision: number): Promise<boolean> {
    const deleted = await this.delete(blockKey(cidr), modRevision);
    this.known.delete(blockKey(cidr));
    return deleted;
  }

  /**
   * Write `block` at `modRevision` (or delete it there, with `deleteBlock`) together with the handles
   * that count its addresses, in one transaction: each handle is created, updated at its revision, or
   * deleted when its counts are all zero (one to delete that does not exist is left out).
   */
  async commitBlock(
    block: AllocationBlock,
    modRevision: number,
    handles: readonly HandleWrite[],
    options: { readonly deleteBlock?: boolean } = {},
  ): Promise<BlockCommit> {
    const key = blockKey(block.cidr);
    const ops: TxnOp[] = [
      options.deleteBlock === true
        ? { type: 'delete', key, expectedModRevision: modRevision }
        : { type: 'update', key, value: encodeBlock(block), expectedModRevision: modRevision },
    ];
    for (const handle of handles) {
      const op = handleOp(handle);
      if (op !== undefined) ops.push(op);
    }
    const result = await this.call('commit', key, () => this.store.transact(ops));
    if (result.ok) {
      const written =
        options.deleteBlock === true ? undefined : { value: block, modRevision: result.modRevisions[0] };
      this.remember(key, written);
      return { ok: true, modRevision: result.modRevisions[0] };
    }
    const [current, ...others] = result.current;
    const handlesNow = new Map<string, Versioned<IpamHandle> | undefined>();
    others.forEach((kv, i) => {
      const handleKeyText = ops[i + 1].key;
      const value = kv && { value: HANDLE.decode(handleKeyText, kv.value), modRevision: kv.modRevision };
      handlesNow.set(handleKeyText.slice(HANDLE_PREFIX.length), value);
    });
    return {
      ok: false,
      block: this.remember(key, current && this.decodeBlock(current)),
      handles: handlesNow,
    };
  }

  private remember(
    key: string,
    block: Versioned<AllocationBlock> | undefined,
  ): Versioned<AllocationBlock> | undefined {
    this.known.delete(key);
    if (block === undefined) return undefined;
    this.known.set(key, block);
    if (this.known.size > KNOWN_BLOCKS_MAX) this.known.delete(this.known.keys().next().value as string);
    return block;
  }

  private rememberWrite(
    block: AllocationBlock,
    result: WriteResult<AllocationBlock>,
  ): WriteResult<AllocationBlock> {
    const key = blockKey(block.cidr);
    this.remember(key, result.ok ? { value: block, modRevision: result.modRevision } : result.current);
    return result;
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

/** The transaction op of one handle write; undefined when there is nothing to write. */
function handleOp(handle: HandleWrite): TxnOp | undefined {
  const key = handleKey(handle.value.handleId);
  if (Object.keys(handle.value.block).length === 0) {
    return handle.modRevision === undefined
      ? undefined
      : { type: 'delete', key, expectedModRevision: handle.modRevision };
  }
  const value = encodeHandle(handle.value);
  return handle.modRevision === undefined
    ? { type: 'create', key, value }
    : { type: 'update', key, value, expectedModRevision: handle.modRevision };
}
