// An IPAM block as Calico stores it (calico-routing.md §7.1 IPAMBlock; libcalico-go ipam_block.go),
// and the pure operations on it: assign from the head of the free list, release with handle and
// sequence-number preconditions, emptiness. Every function returns a new block and leaves its input
// untouched, so the allocator can retry a lost compare-and-swap from the block it re-read.
//
// Sequence numbers (§7.4): the block's `sequenceNumber` grows by one with every change; an ordinal
// allocated by a change records that change's number in `sequenceNumberForAllocation`. A release that
// names a sequence number is refused unless it matches, so a stale release (the address was freed and
// handed to someone else since) cannot free the new owner's address (ABA).

import type { Prefix } from '../lib/prefix.ts';
import { addressAt, hostBits, ordinalOf } from './cidr.ts';

export interface AllocationAttribute {
  /** The IPAMHandle this allocation is counted in; absent for allocations made without one. */
  readonly handleId: string | undefined;
  /** Owner attributes (Calico's `secondary`: pod, namespace, node, timestamp…). */
  readonly secondary: Readonly<Record<string, string>>;
}

export interface AllocationBlock {
  readonly cidr: Prefix;
  /** `host:<node>`, or undefined for an unaffine block (borrowable by anyone, §7.3). */
  readonly affinity: string | undefined;
  /** Wall-clock milliseconds of the affinity claim. */
  readonly affinityClaimTime: number | undefined;
  /** Ordinal → index into `attributes`, or null when free. */
  readonly allocations: readonly (number | null)[];
  /** Free ordinals, a FIFO: assign takes from the head, release appends to the tail (§7.3, v3.30). */
  readonly unallocated: readonly number[];
  readonly attributes: readonly AllocationAttribute[];
  readonly sequenceNumber: number;
  /** Ordinal → the sequence number of the change that allocated it, or null when free. */
  readonly sequenceNumberForAllocation: readonly (number | null)[];
}

/** The number of addresses (ordinals) in a block. */
export function blockSize(cidr: Prefix): number {
  return 2 ** hostBits(cidr);
}

export interface NewBlockOptions {
  readonly affinity: string | undefined;
  readonly affinityClaimTime: number | undefined;
  /** Calico starts at the creation time in ns; Brindle uses µs so it stays a safe integer. */
  readonly sequenceNumber: number;
}

export function newBlock(cidr: Prefix, options: NewBlockOptions): AllocationBlock {
  const size = blockSize(cidr);
  return {
    cidr,
    affinity: options.affinity,
    affinityClaimTime: options.affinityClaimTime,
    allocations: new Array<null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, ordinal) => ordinal),
    attributes: [],
    sequenceNumber: options.sequenceNumber,
    sequenceNumberForAllocation: new Array<null>(size).fill(null),
  };
}

// ---------------------------------------------------------------------------------------------------
// Queries

export function isEmpty(block: AllocationBlock): boolean {
  return block.allocations.every((a) => a === null);
}

export function inUseCount(block: AllocationBlock): number {
  return block.allocations.reduce<number>((n, a) => (a === null ? n : n + 1), 0);
}

/** Reserved ordinals (IPReservation, §7.1) stay in the free list but are never handed out. */
export type ReservedCheck = (ordinal: number) => boolean;
const NOTHING_RESERVED: ReservedCheck = () => false;

export function freeCount(block: AllocationBlock, isReserved: ReservedCheck = NOTHING_RESERVED): number {
  return block.unallocated.reduce((n, ordinal) => (isReserved(ordinal) ? n : n + 1), 0);
}

export function isAllocated(block: AllocationBlock, ordinal: number): boolean {
  return block.allocations[ordinal] !== null && block.allocations[ordinal] !== undefined;
}

export function attributeOf(block: AllocationBlock, ordinal: number): AllocationAttribute | undefined {
  const index = block.allocations[ordinal];
  return index === null || index === undefined ? undefined : block.attributes[index];
}

/** How many addresses each handle holds in this block (the truth IPAMHandle counts must match). */
export function handleTally(block: AllocationBlock): Map<string, number> {
  const tally = new Map<string, number>();
  for (let ordinal = 0; ordinal < block.allocations.length; ordinal += 1) {
    const handleId = attributeOf(block, ordinal)?.handleId;
    if (handleId !== undefined) tally.set(handleId, (tally.get(handleId) ?? 0) + 1);
  }
  return tally;
}

export function allocatedOrdinals(block: AllocationBlock): number[] {
  const ordinals: number[] = [];
  for (let ordinal = 0; ordinal < block.allocations.length; ordinal += 1) {
    if (isAllocated(block, ordinal)) ordinals.push(ordinal);
  }
  return ordinals;
}

export { addressAt, ordinalOf };

// ---------------------------------------------------------------------------------------------------
// Assign (§7.2 step 7, Calico's autoAssign / assign on the block)

export interface Assignment {
  /** The changed block; the input itself when nothing was assigned (nothing to write). */
  readonly block: AllocationBlock;
  readonly ordinals: readonly number[];
}

/** Up to `count` ordinals from the head of the free list, skipping reserved ones, for `attribute`. */
export function assign(
  block: AllocationBlock,
  count: number,
  attribute: AllocationAttribute,
  isReserved: ReservedCheck = NOTHING_RESERVED,
): Assignment {
  const taken: number[] = [];
  const kept: number[] = [];
  for (const ordinal of block.unallocated) {
    if (taken.length < count && !isReserved(ordinal)) taken.push(ordinal);
    else kept.push(ordinal);
  }
  if (taken.length === 0) return { block, ordinals: [] };
  return { block: allocate(block, taken, kept, attribute), ordinals: taken };
}

export type OrdinalAssignment =
  | { readonly ok: true; readonly block: AllocationBlock }
  | { readonly ok: false; readonly reason: 'already-allocated' | 'out-of-range' };

/** One specific ordinal (AssignIP): refused when it is taken. */
export function assignOrdinal(
  block: AllocationBlock,
  ordinal: number,
  attribute: AllocationAttribute,
): OrdinalAssignment {
  if (!Number.isInteger(ordinal) || ordinal < 0 || ordinal >= block.allocations.length) {
    return { ok: false, reason: 'out-of-range' };
  }
  if (isAllocated(block, ordinal)) return { ok: false, reason: 'already-allocated' };
  const kept = block.unallocated.filter((o) => o !== ordinal);
  return { ok: true, block: allocate(block, [ordinal], kept, attribute) };
}

/** The one place ordinals become allocated: one new sequence number for the whole change. */
function allocate(
  block: AllocationBlock,
  ordinals: readonly number[],
  unallocated: readonly number[],
  attribute: AllocationAttribute,
): AllocationBlock {
  const sequenceNumber = block.sequenceNumber + 1;
  const { attributes, index } = findOrAddAttribute(block.attributes, attribute);
  const allocations = [...block.allocations];
  const sequences = [...block.sequenceNumberForAllocation];
  for (const ordinal of ordinals) {
    allocations[ordinal] = index;
    sequences[ordinal] = sequenceNumber;
  }
  return {
    ...block,
    allocations,
    unallocated,
    attributes,
    sequenceNumber,
    sequenceNumberForAllocation: sequences,
  };
}

/** Calico shares one attribute entry between allocations with equal handle and owner attributes. */
function findOrAddAttribute(
  attributes: readonly AllocationAttribute[],
  attribute: AllocationAttribute,
): { attributes: readonly AllocationAttribute[]; index: number } {
  const found = attributes.findIndex((a) => sameAttribute(a, attribute));
  if (found >= 0) return { attributes, index: found };
  return { attributes: [...attributes, attribute], index: attributes.length };
}

function sameAttribute(a: AllocationAttribute, b: AllocationAttribute): boolean {
  if (a.handleId !== b.handleId) return false;
  const keys = Object.keys(a.secondary);
  return (
    keys.length === Object.keys(b.secondary).length &&
    keys.every((k) => Object.hasOwn(b.secondary, k) && a.secondary[k] === b.secondary[k])
  );
}

// ---------------------------------------------------------------------------------------------------
// Release (§7.3)

export interface OrdinalRelease {
  readonly ordinal: number;
  /** When given, the allocation must belong to this handle. */
  readonly handleId?: string;
  /** When given, the allocation must carry this sequence number (a stale release is refused). */
  readonly sequenceNumber?: number;
}

export type ReleaseOutcome =
  | {
      readonly ok: true;
      /** The changed block; the input itself when nothing was released. */
      readonly block: AllocationBlock;
      readonly released: readonly number[];
      /** Ordinals that were not allocated: Calico reports them, it does not fail (§7.3). */
      readonly notAllocated: readonly number[];
    }
  | { readonly ok: false; readonly ordinal: number; readonly reason: string };

/**
 * Release the requested ordinals, all or none: any handle or sequence-number mismatch refuses the whole
 * request for this block, as Calico's ReleaseIPs does per block (§7.3).
 */
export function release(block: AllocationBlock, requests: readonly OrdinalRelease[]): ReleaseOutcome {
  const released: number[] = [];
  const notAllocated: number[] = [];
  for (const request of requests) {
    const { ordinal } = request;
    if (released.includes(ordinal) || notAllocated.includes(ordinal)) continue;
    if (!isAllocated(block, ordinal)) {
      notAllocated.push(ordinal);
      continue;
    }
    const refusal = releasePrecondition(block, request);
    if (refusal !== undefined) return { ok: false, ordinal, reason: refusal };
    released.push(ordinal);
  }
  return { ok: true, block: free(block, released), released, notAllocated };
}

function releasePrecondition(block: AllocationBlock, request: OrdinalRelease): string | undefined {
  const holder = attributeOf(block, request.ordinal)?.handleId;
  if (request.handleId !== undefined && holder !== request.handleId) {
    return `allocated to handle ${JSON.stringify(holder ?? null)}, not ${JSON.stringify(request.handleId)}`;
  }
  const current = block.sequenceNumberForAllocation[request.ordinal];
  if (request.sequenceNumber !== undefined && current !== request.sequenceNumber) {
    return `stale release: sequence number ${request.sequenceNumber}, the allocation has ${current}`;
  }
  return undefined;
}

/** Every ordinal held by `handleId` (Calico's releaseByHandle on the block). */
export function releaseByHandle(
  block: AllocationBlock,
  handleId: string,
): { readonly block: AllocationBlock; readonly released: readonly number[] } {
  const released = allocatedOrdinals(block).filter((o) => attributeOf(block, o)?.handleId === handleId);
  return { block: free(block, released), released };
}

/** The one place ordinals become free: appended to the free list's tail, attributes compacted. */
function free(block: AllocationBlock, ordinals: readonly number[]): AllocationBlock {
  if (ordinals.length === 0) return block;
  const allocations = [...block.allocations];
  const sequences = [...block.sequenceNumberForAllocation];
  for (const ordinal of ordinals) {
    allocations[ordinal] = null;
    sequences[ordinal] = null;
  }
  return {
    ...block,
    ...compactAttributes(allocations, block.attributes),
    unallocated: [...block.unallocated, ...ordinals],
    sequenceNumber: block.sequenceNumber + 1,
    sequenceNumberForAllocation: sequences,
  };
}

/** Drop attribute entries nothing points at and renumber the rest (Calico's deleteAttributes). */
function compactAttributes(
  allocations: readonly (number | null)[],
  attributes: readonly AllocationAttribute[],
): { allocations: (number | null)[]; attributes: AllocationAttribute[] } {
  const renumbered = new Map<number, number>();
  const kept: AllocationAttribute[] = [];
  const remapped = allocations.map((index) => {
    if (index === null) return null;
    let next = renumbered.get(index);
    if (next === undefined) {
      next = kept.length;
      renumbered.set(index, next);
      kept.push(attributes[index]);
    }
    return next;
  });
  return { allocations: remapped, attributes: kept };
}

// ---------------------------------------------------------------------------------------------------
// Affinity on the block (§7.3 release: a non-empty block loses its affinity and becomes borrowable)

export function withAffinity(
  block: AllocationBlock,
  affinity: string | undefined,
  affinityClaimTime: number | undefined,
): AllocationBlock {
  return { ...block, affinity, affinityClaimTime, sequenceNumber: block.sequenceNumber + 1 };
}

/** The host prefix of each ordinal, for callers that report addresses. */
export function ordinalAddress(block: AllocationBlock, ordinal: number): Prefix {
  return addressAt(block.cidr, ordinal);
}
