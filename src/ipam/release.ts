// The release paths (calico-routing.md §7.3, libcalico-go ipam.go ReleaseIPs / ReleaseByHandle): free
// addresses in their blocks by CAS and lower the IPAMHandles that counted them, in one transaction per
// block (handle.ts). A release names optional preconditions (the handle, the sequence number an
// allocation was given); any mismatch refuses everything asked of that block, so a stale release can
// never free an address that has been handed to someone else since (§7.4).

import type { Prefix } from '../lib/prefix.ts';
import { attributeOf, isEmpty, release, releaseByHandle as releaseHandleOrdinals } from './block.ts';
import type { AllocationBlock, ReleaseOutcome } from './block.ts';
import { addressAt, formatAddress, formatCidr, ordinalOf, parseAddress, parseCidr } from './cidr.ts';
import { conflictError } from './context.ts';
import type { IpamContext } from './context.ts';
import type { Versioned } from './datastore.ts';
import { IpamError } from './errors.ts';
import { handleWrites } from './handle.ts';
import { blockContaining, poolContaining } from './pool.ts';
import type { IpamPool } from './pool.ts';
import type { IpamHandle } from './records.ts';

/** Calico's ReleaseOptions: the address, and optionally the preconditions a release must meet. */
export interface ReleaseRequest {
  readonly address: string;
  readonly handleId?: string;
  readonly sequenceNumber?: number;
}

export interface ReleaseResult {
  readonly released: readonly string[];
  /** Addresses that were not allocated: reported, not an error (§7.3). */
  readonly notAllocated: readonly string[];
  /** Addresses whose handle or sequence number did not match: nothing in their block was released. */
  readonly refused: readonly { readonly address: string; readonly reason: string }[];
}

export interface ParsedRelease extends ReleaseRequest {
  readonly prefix: Prefix;
}

export function parseReleaseRequest(request: ReleaseRequest): ParsedRelease {
  const prefix = parseAddress(request.address);
  if (prefix === undefined) {
    throw new IpamError('invalid-request', `${JSON.stringify(request.address)} is not an IP address`);
  }
  return { ...request, prefix };
}

/**
 * Calico's ReleaseIPs: group by block, then per block (in parallel) release all or none. `pools` are
 * every pool, disabled ones included (§7.3), to find each address's block; an address in no pool is
 * looked for in a scan of the blocks.
 */
export async function releaseIps(
  ctx: IpamContext,
  pools: readonly IpamPool[],
  requests: readonly ParsedRelease[],
): Promise<ReleaseResult> {
  const { groups, outside } = await groupByBlock(ctx, pools, requests);
  const results = await Promise.all([...groups.values()].map((g) => releaseInBlock(ctx, g.cidr, g.items)));
  return {
    released: results.flatMap((r) => r.released),
    notAllocated: [...outside.map((r) => r.address), ...results.flatMap((r) => r.notAllocated)],
    refused: results.flatMap((r) => r.refused),
  };
}

interface BlockGroup {
  readonly cidr: Prefix;
  readonly items: ParsedRelease[];
}

async function groupByBlock(
  ctx: IpamContext,
  pools: readonly IpamPool[],
  requests: readonly ParsedRelease[],
): Promise<{ groups: Map<string, BlockGroup>; outside: ParsedRelease[] }> {
  let scanned: Prefix[] | undefined;
  const groups = new Map<string, BlockGroup>();
  const outside: ParsedRelease[] = [];
  for (const request of requests) {
    const pool = poolContaining(pools, request.prefix);
    let cidr = pool && blockContaining(pool, request.prefix);
    if (cidr === undefined) {
      scanned ??= (await ctx.ds.listBlocks()).map((b) => b.value.cidr);
      cidr = scanned.find((block) => ordinalOf(block, request.prefix) >= 0);
    }
    if (cidr === undefined) {
      outside.push(request);
      continue;
    }
    const key = formatCidr(cidr);
    const group = groups.get(key) ?? { cidr, items: [] };
    group.items.push(request);
    groups.set(key, group);
  }
  return { groups, outside };
}

async function releaseInBlock(
  ctx: IpamContext,
  cidr: Prefix,
  items: readonly ParsedRelease[],
): Promise<ReleaseResult> {
  const requests = items.map((item) => ({
    ordinal: ordinalOf(cidr, item.prefix),
    handleId: item.handleId,
    sequenceNumber: item.sequenceNumber,
  }));
  const outcome = await writeRelease(ctx, cidr, (block) => release(block, requests));
  if (outcome === undefined) return { released: [], notAllocated: items.map((i) => i.address), refused: [] };
  if (!outcome.ok) {
    const reason = `${formatAddress(addressAt(cidr, outcome.ordinal))}: ${outcome.reason}`;
    return { released: [], notAllocated: [], refused: items.map((i) => ({ address: i.address, reason })) };
  }
  const byOrdinal = new Map(requests.map((r, i) => [r.ordinal, items[i].address]));
  const addresses = (ordinals: readonly number[]): string[] => ordinals.map((o) => byOrdinal.get(o)!);
  return {
    released: addresses(outcome.released),
    notAllocated: addresses(outcome.notAllocated),
    refused: [],
  };
}

/** Calico's ReleaseByHandle: every address the handle holds, block by block; a missing block is done. */
export async function releaseByHandle(
  ctx: IpamContext,
  handleId: string,
): Promise<{ readonly released: readonly string[] }> {
  const handle = await ctx.ds.getHandle(handleId);
  if (handle === undefined) return { released: [] };
  const released: string[] = [];
  for (const text of Object.keys(handle.value.block)) {
    const cidr = parseCidr(text);
    if (cidr === undefined) continue;
    const outcome = await writeRelease(ctx, cidr, (block) => {
      const result = releaseHandleOrdinals(block, handleId);
      return { ok: true, block: result.block, released: result.released, notAllocated: [] };
    });
    if (outcome?.ok) released.push(...outcome.released.map((o) => formatAddress(addressAt(cidr, o))));
  }
  return { released };
}

/**
 * The block write of a release: the block CAS (a CAS-delete when it is left empty and unaffine, §7.3 —
 * an affine one stays for its host) and the handles lowered, in one transaction; re-planned from the
 * block and handles the failed CAS returned on a lost race. Undefined when the block is gone.
 */
async function writeRelease(
  ctx: IpamContext,
  cidr: Prefix,
  plan: (block: AllocationBlock) => ReleaseOutcome,
): Promise<ReleaseOutcome | undefined> {
  let current = await ctx.ds.getBlock(cidr);
  const handles = new Map<string, Versioned<IpamHandle> | undefined>();
  for (let attempt = 0; attempt < ctx.retries; attempt += 1) {
    if (current === undefined) return undefined;
    const outcome = plan(current.value);
    if (!outcome.ok || outcome.released.length === 0) return outcome;
    const lowered = loweredHandles(current.value, outcome.released);
    await readHandles(ctx, lowered.keys(), handles);
    const writes = handleWrites(formatCidr(cidr), lowered, handles, ctx.now());
    const deleteBlock = isEmpty(outcome.block) && outcome.block.affinity === undefined;
    const result = await ctx.ds.commitBlock(outcome.block, current.modRevision, writes, { deleteBlock });
    if (result.ok) return outcome;
    current = result.block;
    for (const [handleId, handle] of result.handles) handles.set(handleId, handle);
  }
  throw conflictError(`releasing in block ${formatCidr(cidr)}`, ctx.retries);
}

/** Handle id → minus the number of `ordinals` it holds in `before`. */
function loweredHandles(before: AllocationBlock, ordinals: readonly number[]): Map<string, number> {
  const deltas = new Map<string, number>();
  for (const ordinal of ordinals) {
    const handleId = attributeOf(before, ordinal)?.handleId;
    if (handleId !== undefined) deltas.set(handleId, (deltas.get(handleId) ?? 0) - 1);
  }
  return deltas;
}

/** Read the handles not in `known` yet into it (undefined for those that do not exist). */
async function readHandles(
  ctx: IpamContext,
  handleIds: Iterable<string>,
  known: Map<string, Versioned<IpamHandle> | undefined>,
): Promise<void> {
  const missing = [...handleIds].filter((handleId) => !known.has(handleId));
  const read = await Promise.all(missing.map((handleId) => ctx.ds.getHandle(handleId)));
  missing.forEach((handleId, i) => known.set(handleId, read[i]));
}
