// The release paths (calico-routing.md §7.3, libcalico-go ipam.go ReleaseIPs / ReleaseByHandle): free
// addresses in their blocks by CAS, then lower the IPAMHandles — in that order, so a handle count is
// never below what the blocks hold (handle.ts). A release names optional preconditions (the handle,
// the sequence number an allocation was given); any mismatch refuses everything asked of that block,
// so a stale release can never free an address that has been handed to someone else since (§7.4).

import type { Prefix } from '../lib/prefix.ts';
import { attributeOf, isEmpty, release, releaseByHandle as releaseHandleOrdinals } from './block.ts';
import type { AllocationBlock, ReleaseOutcome } from './block.ts';
import { addressAt, formatAddress, formatCidr, ordinalOf, parseAddress, parseCidr } from './cidr.ts';
import { conflictError } from './context.ts';
import type { IpamContext } from './context.ts';
import type { Versioned } from './datastore.ts';
import { IpamError } from './errors.ts';
import { adjustHandle } from './handle.ts';
import { blockContaining, poolContaining } from './pool.ts';
import type { IpamPool } from './pool.ts';

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
 * The block write of a release: CAS (or CAS-delete an empty unaffine block, §7.3 — an affine one stays
 * for its host), re-planned from the current block on a lost race; then the handles are lowered.
 * Undefined when the block is gone.
 */
async function writeRelease(
  ctx: IpamContext,
  cidr: Prefix,
  plan: (block: AllocationBlock) => ReleaseOutcome,
): Promise<ReleaseOutcome | undefined> {
  let current = await ctx.ds.getBlock(cidr);
  for (let attempt = 0; attempt < ctx.retries; attempt += 1) {
    if (current === undefined) return undefined;
    const outcome = plan(current.value);
    if (!outcome.ok || outcome.released.length === 0) return outcome;
    const written = await writeReleasedBlock(ctx, current, outcome.block);
    if (written === true) {
      await lowerHandles(ctx, current.value, outcome.released);
      return outcome;
    }
    current = written;
  }
  throw conflictError(`releasing in block ${formatCidr(cidr)}`, ctx.retries);
}

/** True when written; otherwise the block as it is now (undefined if gone). */
async function writeReleasedBlock(
  ctx: IpamContext,
  current: Versioned<AllocationBlock>,
  next: AllocationBlock,
): Promise<true | Versioned<AllocationBlock> | undefined> {
  if (isEmpty(next) && next.affinity === undefined) {
    if (await ctx.ds.deleteBlock(next.cidr, current.modRevision)) return true;
    return ctx.ds.getBlock(next.cidr);
  }
  const result = await ctx.ds.updateBlock(next, current.modRevision);
  return result.ok ? true : result.current;
}

async function lowerHandles(
  ctx: IpamContext,
  before: AllocationBlock,
  ordinals: readonly number[],
): Promise<void> {
  const tally = new Map<string, number>();
  for (const ordinal of ordinals) {
    const handleId = attributeOf(before, ordinal)?.handleId;
    if (handleId !== undefined) tally.set(handleId, (tally.get(handleId) ?? 0) + 1);
  }
  const cidr = formatCidr(before.cidr);
  for (const [handleId, count] of tally) await adjustHandle(ctx, handleId, cidr, -count);
}
