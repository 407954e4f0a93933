// BlockAffinity, the record that makes a block a host's own (calico-routing.md §7.1), and the protocol
// steps that change it, each a compare-and-swap:
//
//   claim    (§7.2 6c)  ∅ → pending; create the block with affinity host:<node>; → confirmed.
//                       The block create is the arbiter: if it already exists and names this host the
//                       claim goes on (a same-host claimer got there first); if it names anyone else, the
//                       pending affinity is withdrawn and the caller tries another block. Pending
//                       affinities produce no routes (§7.5), so a lost claim is never advertised.
//   confirm  (§7.2 6a)  pending → confirmed, when the block names this host.
//   release  (§7.3)     → pendingDeletion; delete the block if empty, else clear its affinity (it becomes
//                       borrowable); delete the affinity.

import { affinityHost, hostAffinity } from './keys.ts';
import type { Prefix } from '../lib/prefix.ts';
import { isEmpty, newBlock, withAffinity } from './block.ts';
import { formatCidr } from './cidr.ts';
import { conflictError } from './context.ts';
import type { IpamContext } from './context.ts';
import type { Versioned } from './datastore.ts';
import type { BlockAffinity } from './records.ts';

/** `claimed`: this call created the affinity; `already-ours`: it existed for this host already. */
export type ClaimResult = 'claimed' | 'already-ours' | 'conflict';

/** §7.2 step 6c, Calico's claimAffinity: the two-phase claim of `cidr` for `node`. */
export async function claimAffinity(ctx: IpamContext, node: string, cidr: Prefix): Promise<ClaimResult> {
  const pending = await writePendingAffinity(ctx, node, cidr);
  if (pending === undefined) return 'conflict';
  const now = ctx.now();
  const block = newBlock(cidr, {
    affinity: hostAffinity(node),
    affinityClaimTime: now,
    sequenceNumber: now * 1_000,
  });
  const created = await ctx.ds.createBlock(block);
  if (!created.ok && created.current?.value.affinity !== hostAffinity(node)) {
    // Someone else's block (errBlockClaimConflict): withdraw the claim, the caller tries another block.
    if (pending.affinity.value.state === 'pending') {
      await ctx.ds.deleteAffinity(node, cidr, pending.affinity.modRevision);
    }
    return 'conflict';
  }
  if (!(await confirmAffinity(ctx, pending.affinity))) return 'conflict';
  return pending.created ? 'claimed' : 'already-ours';
}

interface PendingAffinity {
  readonly affinity: Versioned<BlockAffinity>;
  readonly created: boolean;
}

/**
 * Create the affinity as pending; an existing pending one is rewritten with a fresh claim time (so
 * `ipam check --fix`, which removes pending affinities only when old, cannot remove it under this
 * claim), a confirmed one is kept, and one pending deletion means the block is being released.
 */
async function writePendingAffinity(
  ctx: IpamContext,
  node: string,
  cidr: Prefix,
): Promise<PendingAffinity | undefined> {
  const fresh: BlockAffinity = { state: 'pending', node, cidr, claimTime: ctx.now() };
  let result = await ctx.ds.createAffinity(fresh);
  let created = true;
  for (let attempt = 0; attempt < ctx.retries; attempt += 1) {
    if (result.ok) return { affinity: { value: fresh, modRevision: result.modRevision }, created };
    const current = result.current;
    created = current === undefined;
    if (current === undefined) result = await ctx.ds.createAffinity(fresh);
    else if (current.value.state === 'confirmed') return { affinity: current, created: false };
    else if (current.value.state === 'pendingDeletion') return undefined;
    else result = await ctx.ds.updateAffinity(fresh, current.modRevision);
  }
  throw conflictError(`affinity of ${node} for ${formatCidr(cidr)}`, ctx.retries);
}

/**
 * pending → confirmed by CAS. True once confirmed (by this call or a racing same-host claimer, which
 * Calico accepts too); false when the affinity was withdrawn or is being released.
 */
export async function confirmAffinity(
  ctx: IpamContext,
  affinity: Versioned<BlockAffinity>,
): Promise<boolean> {
  let current: Versioned<BlockAffinity> | undefined = affinity;
  for (let attempt = 0; attempt < ctx.retries; attempt += 1) {
    if (current === undefined || current.value.state === 'pendingDeletion') return false;
    if (current.value.state === 'confirmed') return true;
    const result = await ctx.ds.updateAffinity({ ...current.value, state: 'confirmed' }, current.modRevision);
    if (result.ok) return true;
    current = result.current;
  }
  throw conflictError(
    `confirming ${formatCidr(affinity.value.cidr)} for ${affinity.value.node}`,
    ctx.retries,
  );
}

export type AffinityRelease = 'released' | 'not-empty';

/**
 * §7.3 Calico's releaseBlockAffinity: mark the affinity pendingDeletion, then delete the block when it
 * is empty or clear the block's affinity when it is not (its addresses stay allocated, now borrowed),
 * then delete the affinity. With `requireEmpty`, a non-empty block keeps its affinity ('not-empty').
 * An affinity whose block is gone or belongs elsewhere is simply deleted.
 */
export async function releaseBlockAffinity(
  ctx: IpamContext,
  node: string,
  cidr: Prefix,
  requireEmpty: boolean,
): Promise<AffinityRelease> {
  let markedByUs: Versioned<BlockAffinity> | undefined;
  for (let attempt = 0; attempt < ctx.retries; attempt += 1) {
    const affinity = await ctx.ds.getAffinity(node, cidr);
    if (affinity === undefined) return 'released';
    const block = await ctx.ds.getBlock(cidr);
    if (block === undefined || affinityHost(block.value.affinity) !== node) {
      if (await ctx.ds.deleteAffinity(node, cidr, affinity.modRevision)) return 'released';
      continue;
    }
    if (requireEmpty && !isEmpty(block.value)) {
      if (markedByUs !== undefined) await unmark(ctx, markedByUs);
      return 'not-empty';
    }
    const marked =
      affinity.value.state === 'pendingDeletion' ? affinity : await markPendingDeletion(ctx, affinity);
    if (marked === undefined) continue;
    markedByUs ??= marked;
    const blockWritten = isEmpty(block.value)
      ? await ctx.ds.deleteBlock(cidr, block.modRevision)
      : (await ctx.ds.updateBlock(withAffinity(block.value, undefined, undefined), block.modRevision)).ok;
    if (!blockWritten) continue; // The block changed under us (an allocation): look again.
    await ctx.ds.deleteAffinity(node, cidr, marked.modRevision);
    return 'released';
  }
  throw conflictError(`releasing ${formatCidr(cidr)} from ${node}`, ctx.retries);
}

async function markPendingDeletion(
  ctx: IpamContext,
  affinity: Versioned<BlockAffinity>,
): Promise<Versioned<BlockAffinity> | undefined> {
  const marked: BlockAffinity = { ...affinity.value, state: 'pendingDeletion' };
  const result = await ctx.ds.updateAffinity(marked, affinity.modRevision);
  return result.ok ? { value: marked, modRevision: result.modRevision } : undefined;
}

/** Undo our own pendingDeletion mark when the block turned out not to be empty after all. */
async function unmark(ctx: IpamContext, marked: Versioned<BlockAffinity>): Promise<void> {
  const current = await ctx.ds.getAffinity(marked.value.node, marked.value.cidr);
  if (current?.value.state !== 'pendingDeletion') return;
  await ctx.ds.updateAffinity({ ...current.value, state: 'confirmed' }, current.modRevision);
}
