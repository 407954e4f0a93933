// The JSON each IPAM key holds (keys.ts), in Calico's field names (calico-routing.md §7.1:
// api/pkg/apis/projectcalico/v3/{ipamblocks,blockaffinity,ipamhandle}.go), and the decoders that check
// what another process (or an older build) wrote before the allocator trusts it.
//
// Departures from Calico, all additive: BlockAffinity carries `claimTime` and IPAMHandle `updatedAt`
// (RFC 3339). Calico reads these ages from Kubernetes metadata; Brindle's store has no such metadata,
// and `ipam check --fix` needs them to tell an abandoned step from one still in flight (check.ts).
// There is no `deleted` soft-delete field: both backends have compare-and-delete (§7.4 KDD note).

import type { Prefix } from '../lib/prefix.ts';
import type { AllocationAttribute, AllocationBlock } from './block.ts';
import { blockSize } from './block.ts';
import { formatCidr, parseCidr } from './cidr.ts';
import { IpamError } from './errors.ts';

// ---------------------------------------------------------------------------------------------------
// BlockAffinity and IPAMHandle, as the allocator holds them

/** ∅ → pending → confirmed → pendingDeletion → ∅ (§7.1). Calico's legacy "" reads as confirmed. */
export const AFFINITY_STATES = ['pending', 'confirmed', 'pendingDeletion'] as const;
export type AffinityState = (typeof AFFINITY_STATES)[number];

export interface BlockAffinity {
  readonly state: AffinityState;
  readonly node: string;
  readonly cidr: Prefix;
  /** Wall-clock milliseconds when the claim began (Brindle's addition, see above). */
  readonly claimTime: number;
}

export interface IpamHandle {
  readonly handleId: string;
  /** Block CIDR text → how many addresses this handle holds there. */
  readonly block: Readonly<Record<string, number>>;
  /** Wall-clock milliseconds of the last change (Brindle's addition, see above). */
  readonly updatedAt: number;
}

// ---------------------------------------------------------------------------------------------------
// Encode

interface StoredAttribute {
  handle_id?: string;
  secondary?: Record<string, string>;
}

export function encodeBlock(block: AllocationBlock): string {
  const sequences: Record<string, number> = {};
  block.sequenceNumberForAllocation.forEach((seq, ordinal) => {
    if (seq !== null) sequences[String(ordinal)] = seq;
  });
  return JSON.stringify({
    cidr: formatCidr(block.cidr),
    affinity: block.affinity ?? null,
    affinityClaimTime: block.affinityClaimTime === undefined ? null : isoTime(block.affinityClaimTime),
    allocations: block.allocations,
    unallocated: block.unallocated,
    attributes: block.attributes.map(encodeAttribute),
    sequenceNumber: block.sequenceNumber,
    sequenceNumberForAllocation: sequences,
  });
}

function encodeAttribute(attribute: AllocationAttribute): StoredAttribute {
  const stored: StoredAttribute = {};
  if (attribute.handleId !== undefined) stored.handle_id = attribute.handleId;
  if (Object.keys(attribute.secondary).length > 0) stored.secondary = { ...attribute.secondary };
  return stored;
}

export function encodeAffinity(affinity: BlockAffinity): string {
  return JSON.stringify({
    state: affinity.state,
    node: affinity.node,
    type: 'host',
    cidr: formatCidr(affinity.cidr),
    claimTime: isoTime(affinity.claimTime),
  });
}

export function encodeHandle(handle: IpamHandle): string {
  return JSON.stringify({
    handleID: handle.handleId,
    block: handle.block,
    updatedAt: isoTime(handle.updatedAt),
  });
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

// ---------------------------------------------------------------------------------------------------
// Decode: every failure is IpamError 'corrupt' naming the key and the field

type Json = Record<string, unknown>;

class Reader {
  constructor(
    private readonly key: string,
    private readonly json: Json,
  ) {}

  static parse(key: string, text: string): Reader {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw corrupt(key, 'not JSON');
    }
    if (!isObject(json)) throw corrupt(key, 'not a JSON object');
    return new Reader(key, json);
  }

  fail(field: string, reason: string): IpamError {
    return corrupt(this.key, `${field}: ${reason}`);
  }

  string(field: string): string {
    const value = this.json[field];
    if (typeof value !== 'string' || value === '') throw this.fail(field, 'not a non-empty string');
    return value;
  }

  /** Absent, null and "" all mean unset (Go's omitempty and Calico's legacy empty affinity state). */
  optionalString(field: string): string | undefined {
    const value = this.json[field];
    return value === undefined || value === null || value === '' ? undefined : this.string(field);
  }

  cidr(field: string): Prefix {
    const cidr = parseCidr(this.string(field));
    if (cidr === undefined) throw this.fail(field, 'not a masked CIDR');
    return cidr;
  }

  time(field: string): number {
    const ms = Date.parse(this.string(field));
    if (Number.isNaN(ms)) throw this.fail(field, 'not an RFC 3339 time');
    return ms;
  }

  optionalTime(field: string): number | undefined {
    return this.optionalString(field) === undefined ? undefined : this.time(field);
  }

  integer(field: string): number {
    const value = this.json[field];
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw this.fail(field, 'not a whole number');
    return value as number;
  }

  array(field: string): unknown[] {
    const value = this.json[field];
    if (!Array.isArray(value)) throw this.fail(field, 'not a list');
    return value;
  }

  object(field: string): Json {
    const value = this.json[field] ?? {};
    if (!isObject(value)) throw this.fail(field, 'not an object');
    return value;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function corrupt(key: string, reason: string): IpamError {
  return new IpamError('corrupt', `IPAM record ${key}: ${reason}`);
}

export function decodeAffinity(key: string, text: string): BlockAffinity {
  const r = Reader.parse(key, text);
  const state = r.optionalString('state') ?? 'confirmed';
  if (!(AFFINITY_STATES as readonly string[]).includes(state)) throw r.fail('state', `unknown "${state}"`);
  const type = r.optionalString('type') ?? 'host';
  if (type !== 'host') throw r.fail('type', `"${type}" affinities are not supported`);
  return {
    state: state as AffinityState,
    node: r.string('node'),
    cidr: r.cidr('cidr'),
    claimTime: r.optionalTime('claimTime') ?? 0,
  };
}

export function decodeHandle(key: string, text: string): IpamHandle {
  const r = Reader.parse(key, text);
  const block: Record<string, number> = {};
  for (const [cidr, count] of Object.entries(r.object('block'))) {
    if (parseCidr(cidr) === undefined) throw r.fail(`block.${cidr}`, 'not a masked CIDR');
    if (!Number.isSafeInteger(count) || (count as number) < 0) throw r.fail(`block.${cidr}`, 'bad count');
    block[cidr] = count as number;
  }
  return { handleId: r.string('handleID'), block, updatedAt: r.optionalTime('updatedAt') ?? 0 };
}

export function decodeBlock(key: string, text: string): AllocationBlock {
  const r = Reader.parse(key, text);
  const cidr = r.cidr('cidr');
  const size = blockSize(cidr);
  const attributes = r.array('attributes').map((a, i) => decodeAttribute(r, `attributes[${i}]`, a));
  const allocations = decodeAllocations(r, size, attributes.length);
  const unallocated = decodeUnallocated(r, size, allocations);
  return {
    cidr,
    affinity: r.optionalString('affinity'),
    affinityClaimTime: r.optionalTime('affinityClaimTime'),
    allocations,
    unallocated,
    attributes,
    sequenceNumber: r.integer('sequenceNumber'),
    sequenceNumberForAllocation: decodeSequences(r, size, allocations),
  };
}

function decodeAttribute(r: Reader, field: string, value: unknown): AllocationAttribute {
  if (!isObject(value)) throw r.fail(field, 'not an object');
  const handleId = value.handle_id;
  if (handleId !== undefined && handleId !== null && typeof handleId !== 'string') {
    throw r.fail(`${field}.handle_id`, 'not a string');
  }
  const secondary = value.secondary ?? {};
  if (!isObject(secondary) || !Object.values(secondary).every((v) => typeof v === 'string')) {
    throw r.fail(`${field}.secondary`, 'not a map of strings');
  }
  return { handleId: handleId ?? undefined, secondary: secondary as Record<string, string> };
}

function decodeAllocations(r: Reader, size: number, attributeCount: number): (number | null)[] {
  const allocations = r.array('allocations');
  if (allocations.length !== size)
    throw r.fail('allocations', `has ${allocations.length} entries, not ${size}`);
  return allocations.map((index, ordinal) => {
    if (index === null) return null;
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= attributeCount) {
      throw r.fail(`allocations[${ordinal}]`, 'not an attribute index');
    }
    return index as number;
  });
}

/** The free list must be exactly the unallocated ordinals, each once. */
function decodeUnallocated(r: Reader, size: number, allocations: readonly (number | null)[]): number[] {
  const unallocated = r.array('unallocated');
  const seen = new Set<number>();
  for (const ordinal of unallocated) {
    if (!Number.isInteger(ordinal) || (ordinal as number) < 0 || (ordinal as number) >= size) {
      throw r.fail('unallocated', `${String(ordinal)} is not an ordinal`);
    }
    if (seen.has(ordinal as number) || allocations[ordinal as number] !== null) {
      throw r.fail('unallocated', `ordinal ${String(ordinal)} is listed twice or allocated`);
    }
    seen.add(ordinal as number);
  }
  const free = allocations.filter((a) => a === null).length;
  if (seen.size !== free) throw r.fail('unallocated', `lists ${seen.size} ordinals, ${free} are free`);
  return unallocated as number[];
}

function decodeSequences(
  r: Reader,
  size: number,
  allocations: readonly (number | null)[],
): (number | null)[] {
  const sequences = new Array<number | null>(size).fill(null);
  for (const [ordinal, seq] of Object.entries(r.object('sequenceNumberForAllocation'))) {
    const index = Number(ordinal);
    if (!Number.isInteger(index) || index < 0 || index >= size || !Number.isSafeInteger(seq)) {
      throw r.fail(`sequenceNumberForAllocation.${ordinal}`, 'bad entry');
    }
    // Calico may leave entries for freed ordinals behind; only allocated ones mean anything.
    if (allocations[index] !== null) sequences[index] = seq as number;
  }
  return sequences;
}
