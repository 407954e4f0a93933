// `brindlectl ipam check [--fix]` (calico-routing.md §8): reads every IPAM record at one store
// revision, reports what does not add up, and with `fix` repairs only what is provably safe.
//
// What the protocol itself can leave behind (allocator.ts, "Crash consistency") is reported with its
// explanation and is always fixable once it is older than `minAgeMs` (default 5 minutes, so that a
// claim still in flight is never "repaired" under it):
//
//   unconfirmed-affinity  pending affinity whose block names its host   → confirm it
//   orphaned-affinity     pending affinity with no block, or whose block → delete it
//                         names another host
//   orphaned-affinity     pendingDeletion affinity whose block is gone   → delete it (finishes the
//                         or no longer names its host                       release; any age)
//   handle-mismatch       handle counts above what the blocks hold       → set them to the blocks'
//                         (once old: not left by this allocator, which writes a handle in the same
//                         transaction as its block; left by allocators that wrote them one after
//                         the other, and by manual edits)
//
// A handle count *below* the blocks' — including an allocation whose handle is gone (leaked-address) —
// is never produced by the protocol either, and it is raised to the blocks' at any age: blocks are the
// truth and a handle is only their index (it makes releaseByHandle find those addresses again). Everything else is reported for a human, never
// repaired: a block whose affinity names a host with no BlockAffinity for it, a confirmed affinity
// without its block (the host's next autoAssign recreates it) or with someone else's, a release stuck
// with its block still affine, blocks outside every pool or overlapping each other, undecodable
// records. Every repair is a CAS at the revision the check read, so a record that changed since is
// left alone for the next run.

import type { Store } from '../datastore/store.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { AllocationBlock } from './block.ts';
import { allocatedOrdinals, attributeOf, handleTally, ordinalAddress } from './block.ts';
import { comparePrefixes, formatAddress, formatCidr, prefixesOverlap } from './cidr.ts';
import type { IpamContext } from './context.ts';
import { IpamDatastore } from './datastore.ts';
import type { IpamSnapshot, Versioned } from './datastore.ts';
import { affinityHost, affinityKey, blockKey, handleKey } from './keys.ts';
import { ipamPools, poolContaining } from './pool.ts';
import type { IpamPool } from './pool.ts';
import type { BlockAffinity, IpamHandle } from './records.ts';
import { DATASTORE_RETRIES } from './context.ts';
import { parseReleaseRequest, releaseIps } from './release.ts';
import { storeResources } from './resources.ts';
import type { IpamResources } from './resources.ts';
import type { IPPool } from '../resources/types.ts';
import { WORKLOAD_ATTRIBUTES } from './workload.ts';

/** Younger residue may belong to an operation still in flight, so --fix leaves it alone. */
export const DEFAULT_MIN_AGE_MS = 5 * 60_000;
/** A younger workload allocation may belong to an ADD whose runtime is still creating its netns. */
export const DEFAULT_WORKLOAD_GRACE_MS = 60_000;

export const PROBLEM_KINDS = [
  'leaked-address',
  'leaked-workload',
  'handle-mismatch',
  'orphaned-affinity',
  'unconfirmed-affinity',
  'stalled-release',
  'block-without-affinity',
  'block-outside-pools',
  'overlapping-blocks',
  'invalid-record',
] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

/** What --fix does for a problem: a CAS write at the revision the check read. */
export type Repair =
  | { readonly action: 'delete-affinity'; readonly affinity: Versioned<BlockAffinity> }
  | { readonly action: 'confirm-affinity'; readonly affinity: Versioned<BlockAffinity> }
  | {
      readonly action: 'set-handle';
      readonly handleId: string;
      /** The counts the blocks support; empty means delete the handle. */
      readonly block: Readonly<Record<string, number>>;
      /** The handle's revision as read; undefined when it does not exist (create it). */
      readonly modRevision: number | undefined;
    }
  | {
      readonly action: 'release-address';
      readonly address: string;
      readonly handleId: string | undefined;
      readonly sequenceNumber: number;
    };

export interface IpamProblem {
  readonly kind: ProblemKind;
  /** The record the problem is about. */
  readonly key: string;
  readonly node?: string;
  readonly handleId?: string;
  readonly block?: string;
  /** What is wrong, with the numbers. */
  readonly detail: string;
  /** How it can come about. */
  readonly explanation: string;
  /** The repair --fix makes; absent when it leaves the problem alone (see `explanation`). */
  readonly repair?: Repair;
}

export interface CheckOptions {
  readonly fix?: boolean;
  readonly minAgeMs?: number;
  /** Wall-clock milliseconds (Date.now when absent). */
  readonly now?: () => number;
  /** Where pools come from; the store's resources when absent. */
  readonly resources?: IpamResources;
  /** Run on a node: check its workload allocations against its network namespaces. */
  readonly workloads?: WorkloadCheck;
}

export interface WorkloadCheck {
  /** The node the check runs on: only its allocations' namespace paths mean anything here. */
  readonly node: string;
  /** Allocations younger than this are not reported (DEFAULT_WORKLOAD_GRACE_MS). */
  readonly graceMs: number;
  readonly netnsExists: (path: string) => boolean;
}

export interface CheckReport {
  /** The store revision the check read everything at. */
  readonly revision: number;
  readonly summary: {
    readonly blocks: number;
    readonly affinities: number;
    readonly handles: number;
    readonly allocations: number;
  };
  readonly problems: readonly IpamProblem[];
  /** With `fix`: the problems whose repair was written (a lost CAS leaves one for the next run). */
  readonly fixed: readonly IpamProblem[];
}

export async function checkIpam(store: Store, options: CheckOptions = {}): Promise<CheckReport> {
  const ds = new IpamDatastore(store);
  const resources = options.resources ?? storeResources(store);
  const [snapshot, { pools }] = await Promise.all([ds.snapshot(), resources.read()]);
  const now = (options.now ?? Date.now)();
  const minAgeMs = options.minAgeMs ?? DEFAULT_MIN_AGE_MS;
  const problems = findProblems(snapshot, ipamPools(pools), now, minAgeMs, options.workloads);
  const fixed: IpamProblem[] = [];
  if (options.fix === true) {
    const ctx = { ds, now: () => now, retries: DATASTORE_RETRIES };
    for (const problem of problems) {
      if (problem.repair !== undefined && (await applyRepair(ctx, pools, problem.repair)))
        fixed.push(problem);
    }
  }
  return {
    revision: snapshot.revision,
    summary: {
      blocks: snapshot.blocks.length,
      affinities: snapshot.affinities.length,
      handles: snapshot.handles.length,
      allocations: snapshot.blocks.reduce((n, b) => n + allocatedOrdinals(b.value).length, 0),
    },
    problems,
    fixed,
  };
}

/** The analysis, pure: problems (with their repairs) in one snapshot. */
export function findProblems(
  snapshot: IpamSnapshot,
  pools: readonly IpamPool[],
  now: number,
  minAgeMs: number,
  workloads?: WorkloadCheck,
): IpamProblem[] {
  const blocks = new Map(snapshot.blocks.map((b) => [formatCidr(b.value.cidr), b]));
  const old = (ms: number): boolean => now - ms >= minAgeMs;
  return [
    ...snapshot.invalid.map(invalidRecord),
    ...snapshot.affinities.flatMap((a) => affinityProblems(a, blocks.get(formatCidr(a.value.cidr)), old)),
    ...blocksWithoutAffinity(snapshot),
    ...handleProblems(snapshot, old),
    ...blocksOutsidePools(snapshot, pools),
    ...overlappingBlocks(snapshot),
    ...(workloads ? leakedWorkloads(snapshot, now, workloads) : []),
  ];
}

function invalidRecord({ key, reason }: { key: string; reason: string }): IpamProblem {
  return {
    kind: 'invalid-record',
    key,
    detail: reason,
    explanation: 'written by something other than Brindle IPAM (or damaged); the allocator refuses to use it',
  };
}

// ---------------------------------------------------------------------------------------------------
// Affinities against their blocks

function affinityProblems(
  affinity: Versioned<BlockAffinity>,
  block: Versioned<AllocationBlock> | undefined,
  old: (ms: number) => boolean,
): IpamProblem[] {
  const { node, cidr, state, claimTime } = affinity.value;
  const base = { key: affinityKey(node, cidr), node, block: formatCidr(cidr) };
  const owner = block?.value.affinity;
  const ours = block !== undefined && affinityHost(owner) === node;
  const where = block === undefined ? 'has no block' : `has a block affine to ${owner ?? 'no host'}`;
  if (ours && state === 'confirmed') return [];
  if (ours && state === 'pendingDeletion') {
    return [
      {
        ...base,
        kind: 'stalled-release',
        detail: `affinity pending deletion whose block still names ${node}`,
        explanation:
          'an affinity release (§7.3) in flight, or cut short before it rewrote the block; ' +
          'releasing the host affinities again finishes it',
      },
    ];
  }
  if (ours) {
    return [
      {
        ...base,
        kind: 'unconfirmed-affinity',
        detail: `pending affinity whose block names ${node}: the block is not routed yet`,
        explanation: 'a claim (§7.2 6c) in flight, or cut short after it created the block',
        ...(old(claimTime) ? { repair: { action: 'confirm-affinity', affinity } } : {}),
      },
    ];
  }
  return [
    {
      ...base,
      kind: 'orphaned-affinity',
      detail: `${state} affinity ${where}`,
      explanation: orphanExplanation(state, block === undefined),
      ...(orphanRepairable(state, old(claimTime)) ? { repair: { action: 'delete-affinity', affinity } } : {}),
    },
  ];
}

function orphanExplanation(state: BlockAffinity['state'], noBlock: boolean): string {
  switch (state) {
    case 'pending':
      return noBlock
        ? 'a claim (§7.2 6c) in flight, or cut short before it created the block'
        : 'a claim that lost the block to another host, cut short before it withdrew';
    case 'pendingDeletion':
      return 'an affinity release (§7.3) in flight, or cut short after it rewrote the block';
    case 'confirmed':
      return noBlock
        ? "not left by the protocol (a release marks the affinity first); the host's next autoAssign recreates the block"
        : "not left by the protocol; the host's next autoAssign deletes the stale affinity (§7.2 6a)";
  }
}

function orphanRepairable(state: BlockAffinity['state'], isOld: boolean): boolean {
  return state === 'pendingDeletion' || (state === 'pending' && isOld);
}

/** Blocks whose affinity names a host that has no BlockAffinity for them. */
function blocksWithoutAffinity(snapshot: IpamSnapshot): IpamProblem[] {
  const keys = new Set(snapshot.affinities.map((a) => affinityKey(a.value.node, a.value.cidr)));
  return snapshot.blocks.flatMap(({ value }) => {
    const node = affinityHost(value.affinity);
    if (node === undefined || keys.has(affinityKey(node, value.cidr))) return [];
    return [
      {
        kind: 'block-without-affinity' as const,
        key: blockKey(value.cidr),
        node,
        block: formatCidr(value.cidr),
        detail: `block affine to ${node}, which has no BlockAffinity for it: not routed by ${node}`,
        explanation:
          'not left by the protocol (a claim writes the affinity first, a release deletes it last); ' +
          'a manual edit, or --fix removing a pending affinity under a claim stalled for minutes',
      },
    ];
  });
}

// ---------------------------------------------------------------------------------------------------
// Handles against the blocks

function handleProblems(snapshot: IpamSnapshot, old: (ms: number) => boolean): IpamProblem[] {
  const truth = blockTallies(snapshot.blocks);
  const handles = new Map(snapshot.handles.map((h) => [h.value.handleId, h]));
  const problems: IpamProblem[] = [];
  for (const [handleId, counts] of truth) {
    if (!handles.has(handleId)) problems.push(leakedAddresses(handleId, counts, snapshot.blocks));
  }
  for (const handle of snapshot.handles) {
    const problem = handleMismatch(handle, truth.get(handle.value.handleId) ?? new Map(), old);
    if (problem !== undefined) problems.push(problem);
  }
  return problems;
}

/** handle id → block CIDR → how many addresses the blocks say it holds. */
function blockTallies(blocks: readonly Versioned<AllocationBlock>[]): Map<string, Map<string, number>> {
  const truth = new Map<string, Map<string, number>>();
  for (const { value } of blocks) {
    for (const [handleId, count] of handleTally(value)) {
      const counts = truth.get(handleId) ?? new Map<string, number>();
      counts.set(formatCidr(value.cidr), count);
      truth.set(handleId, counts);
    }
  }
  return truth;
}

function leakedAddresses(
  handleId: string,
  counts: ReadonlyMap<string, number>,
  blocks: readonly Versioned<AllocationBlock>[],
): IpamProblem {
  const addresses = blocks.flatMap(({ value }) =>
    allocatedOrdinals(value)
      .filter((o) => attributeOf(value, o)?.handleId === handleId)
      .map((o) => `${formatCidr(value.cidr)}#${o}`),
  );
  return {
    kind: 'leaked-address',
    key: handleKey(handleId),
    handleId,
    detail: `${addresses.length} allocation(s) of handle ${handleId}, which does not exist: ${addresses.join(', ')}`,
    explanation:
      'not left by the protocol (a handle is written with its block); releaseByHandle cannot ' +
      'find these addresses until the handle exists again',
    repair: { action: 'set-handle', handleId, block: Object.fromEntries(counts), modRevision: undefined },
  };
}

function handleMismatch(
  handle: Versioned<IpamHandle>,
  truth: ReadonlyMap<string, number>,
  old: (ms: number) => boolean,
): IpamProblem | undefined {
  const { handleId, block, updatedAt } = handle.value;
  const cidrs = new Set([...Object.keys(block), ...truth.keys()]);
  const diffs = [...cidrs]
    .map((cidr) => ({ cidr, handle: block[cidr] ?? 0, blocks: truth.get(cidr) ?? 0 }))
    .filter((d) => d.handle !== d.blocks);
  if (diffs.length === 0) return undefined;
  const surplus = diffs.some((d) => d.handle > d.blocks);
  const detail = diffs.map((d) => `${d.cidr}: handle ${d.handle}, blocks ${d.blocks}`).join('; ');
  return {
    kind: 'handle-mismatch',
    key: handleKey(handleId),
    handleId,
    detail: `handle ${handleId} counts disagree with the blocks (${detail})`,
    explanation: surplus
      ? 'not left by the protocol (a handle is written in one transaction with its block): an allocator ' +
        'that wrote handle and block one after the other, or a manual edit'
      : 'not left by the protocol (a handle is written with its block); safe to raise to the blocks',
    ...(!surplus || old(updatedAt)
      ? {
          repair: {
            action: 'set-handle' as const,
            handleId,
            block: Object.fromEntries(truth),
            modRevision: handle.modRevision,
          },
        }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// Blocks against pools and each other

function blocksOutsidePools(snapshot: IpamSnapshot, pools: readonly IpamPool[]): IpamProblem[] {
  return snapshot.blocks
    .filter(({ value }) => poolContaining(pools, value.cidr) === undefined)
    .map(({ value }) => ({
      kind: 'block-outside-pools' as const,
      key: blockKey(value.cidr),
      block: formatCidr(value.cidr),
      ...(affinityHost(value.affinity) === undefined ? {} : { node: affinityHost(value.affinity) }),
      detail: `block ${formatCidr(value.cidr)} (${allocatedOrdinals(value).length} in use) lies in no IPPool`,
      explanation: 'its pool was deleted (or re-created with another CIDR) while addresses were in use',
    }));
}

/** Blocks of different sizes over the same addresses (a pool re-created with another blockSize, §6). */
function overlappingBlocks(snapshot: IpamSnapshot): IpamProblem[] {
  const sorted = snapshot.blocks.map((b) => b.value.cidr).sort(comparePrefixes);
  const problems: IpamProblem[] = [];
  for (let i = 1; i < sorted.length; i += 1) {
    const [a, b] = [sorted[i - 1], sorted[i]];
    if (prefixesOverlap(a, b)) problems.push(overlap(a, b));
  }
  return problems;
}

function overlap(a: Prefix, b: Prefix): IpamProblem {
  return {
    kind: 'overlapping-blocks',
    key: blockKey(b),
    block: formatCidr(b),
    detail: `blocks ${formatCidr(a)} and ${formatCidr(b)} overlap`,
    explanation: 'a pool was re-created with a different blockSize while old blocks remained (issue #10778)',
  };
}

// ---------------------------------------------------------------------------------------------------
// Workloads against the node's network namespaces

function leakedWorkloads(snapshot: IpamSnapshot, now: number, check: WorkloadCheck): IpamProblem[] {
  const problems: IpamProblem[] = [];
  for (const { value: block } of snapshot.blocks) {
    for (const ordinal of allocatedOrdinals(block)) {
      const problem = leakedWorkload(block, ordinal, now, check);
      if (problem !== undefined) problems.push(problem);
    }
  }
  return problems;
}

function leakedWorkload(
  block: AllocationBlock,
  ordinal: number,
  now: number,
  check: WorkloadCheck,
): IpamProblem | undefined {
  const attribute = attributeOf(block, ordinal);
  const secondary = attribute?.secondary ?? {};
  const netns = secondary[WORKLOAD_ATTRIBUTES.netns];
  if (netns === undefined || secondary.node !== check.node) return undefined;
  // No readable time: the age is unknown, so the allocation might be an ADD in flight.
  const at = Date.parse(secondary[WORKLOAD_ATTRIBUTES.timestamp] ?? '');
  if (!(now - at >= check.graceMs) || check.netnsExists(netns)) return undefined;
  const address = formatAddress(ordinalAddress(block, ordinal));
  const containerId = secondary[WORKLOAD_ATTRIBUTES.containerId] ?? '-';
  return {
    kind: 'leaked-workload',
    key: blockKey(block.cidr),
    node: check.node,
    ...(attribute?.handleId === undefined ? {} : { handleId: attribute.handleId }),
    block: formatCidr(block.cidr),
    detail: `${address} (handle ${attribute?.handleId ?? '-'}, container ${containerId}): its network namespace ${netns} no longer exists on ${check.node}`,
    explanation:
      'the container went away without a CNI DEL (killed, or its runtime lost track of it); ' +
      'releasing it is safe: a reused address has another sequence number',
    repair: {
      action: 'release-address',
      address,
      handleId: attribute?.handleId,
      sequenceNumber: block.sequenceNumberForAllocation[ordinal] ?? block.sequenceNumber,
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Repairs

async function applyRepair(ctx: IpamContext, pools: readonly IPPool[], repair: Repair): Promise<boolean> {
  const { ds } = ctx;
  const now = ctx.now();
  switch (repair.action) {
    case 'delete-affinity': {
      const { node, cidr } = repair.affinity.value;
      return ds.deleteAffinity(node, cidr, repair.affinity.modRevision);
    }
    case 'confirm-affinity': {
      const { value, modRevision } = repair.affinity;
      return (await ds.updateAffinity({ ...value, state: 'confirmed' }, modRevision)).ok;
    }
    case 'set-handle':
      return setHandle(ds, repair, now);
    case 'release-address':
      return releaseAddress(ctx, pools, repair);
  }
}

/** Released only while the address is still the handle's allocation with that sequence number. */
async function releaseAddress(
  ctx: IpamContext,
  pools: readonly IPPool[],
  repair: Extract<Repair, { action: 'release-address' }>,
): Promise<boolean> {
  const { address, handleId, sequenceNumber } = repair;
  const request = parseReleaseRequest({ address, sequenceNumber, ...(handleId ? { handleId } : {}) });
  return (await releaseIps(ctx, ipamPools(pools), [request])).released.length > 0;
}

async function setHandle(
  ds: IpamDatastore,
  repair: Extract<Repair, { action: 'set-handle' }>,
  now: number,
): Promise<boolean> {
  const handle: IpamHandle = { handleId: repair.handleId, block: repair.block, updatedAt: now };
  if (repair.modRevision === undefined) return (await ds.createHandle(handle)).ok;
  if (Object.keys(repair.block).length === 0) return ds.deleteHandle(repair.handleId, repair.modRevision);
  return (await ds.updateHandle(handle, repair.modRevision)).ok;
}
