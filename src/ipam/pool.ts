// IPPools as IPAM sees them (calico-routing.md §6, §7.2): the blocks a pool is carved into, the
// deterministic per-host order in which a host looks at them (§7.2 step 6b), and which pools a request
// may use (§7.2 step 3). Pure: no I/O. IPv4 block indexes are plain numbers (at most 2^12 · 2^20
// blocks); IPv6 pools can hold more than 2^53 blocks, so their indexes are bigints — per block, never
// per address.

import { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import { ipPoolAllowedUses, ipPoolBlockSize, ipPoolNodeSelector } from '../resources/defaults.ts';
import type { IPPool, IPPoolAllowedUse } from '../resources/types.ts';
import { parseSelector, SelectorError } from '../resources/selector.ts';
import type { Labels, Selector } from '../resources/selector.ts';
import {
  familyOf,
  fromBigInt,
  hostBits,
  makePrefix,
  parseCidr,
  prefixContains,
  toBigInt,
  truncate,
} from './cidr.ts';
import type { IpFamily } from './cidr.ts';

/** An IPPool with its CIDR parsed and its defaults applied. */
export interface IpamPool {
  readonly name: string;
  readonly cidr: Prefix;
  readonly blockSize: number;
  readonly resource: IPPool;
}

/** undefined when the stored CIDR does not parse (validation keeps that from happening). */
export function ipamPool(resource: IPPool): IpamPool | undefined {
  const cidr = parseCidr(resource.spec.cidr);
  if (cidr === undefined) return undefined;
  return { name: resource.metadata.name, cidr, blockSize: ipPoolBlockSize(resource.spec), resource };
}

export function ipamPools(resources: readonly IPPool[]): IpamPool[] {
  return resources.map(ipamPool).filter((p): p is IpamPool => p !== undefined);
}

export function poolFamily(pool: IpamPool): IpFamily {
  return familyOf(pool.cidr);
}

/** The pool whose CIDR holds `prefix` (an address or a block); pools never overlap (§6). */
export function poolContaining(pools: readonly IpamPool[], prefix: Prefix): IpamPool | undefined {
  return pools.find((pool) => prefixContains(pool.cidr, prefix));
}

/** The block of `pool` that holds `address`. */
export function blockContaining(pool: IpamPool, address: Prefix): Prefix {
  return truncate(address, pool.blockSize);
}

// ---------------------------------------------------------------------------------------------------
// Blocks of a pool

/** How many blocks the pool holds (a /26 pool of /26 blocks holds one). */
export function blockCount(pool: IpamPool): bigint {
  return 1n << BigInt(Math.max(0, pool.blockSize - pool.cidr.length));
}

/** The block at `index` (0 ≤ index < blockCount). */
export function blockAt(pool: IpamPool, index: bigint): Prefix {
  const shift = hostBits(makePrefix(pool.cidr.afi, pool.blockSize, 0));
  if (pool.cidr.afi === Afi.Ipv4) {
    return makePrefix(Afi.Ipv4, pool.blockSize, pool.cidr.w0 + Number(index) * 2 ** shift);
  }
  return fromBigInt(Afi.Ipv6, toBigInt(pool.cidr) + (index << BigInt(shift)), pool.blockSize);
}

/** The index of `block` inside `pool` (the inverse of blockAt). */
export function blockIndex(pool: IpamPool, block: Prefix): bigint {
  const shift = BigInt(hostBits(block));
  return (toBigInt(block) - toBigInt(pool.cidr)) >> shift;
}

/** FNV-1 32-bit over the UTF-8 bytes: Go's hash/fnv New32, which Calico seeds its walk with. */
export function fnv32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash = (Math.imul(hash, 0x01000193) ^ byte) >>> 0;
  }
  return hash;
}

export interface BlockWalkOptions {
  /** For single-address blocks only: Calico time-seeds that walk (§7.2 6b); tests inject this. */
  readonly random?: () => number;
}

/**
 * Calico's randomBlockGenerator (§7.2 step 6b): every block of the pool once, starting at an index
 * derived from the host name and wrapping around once. The same host always walks the same order, so
 * concurrent requests on one host converge on the same next block instead of each claiming its own;
 * different hosts start in different places. Departure: Calico feeds the FNV-32 hash to Go's math/rand
 * as a seed and draws the start from it; Brindle takes the hash modulo the block count directly, so
 * the order is deterministic but not Calico's. Single-address blocks start at a random index, as
 * Calico's do, since there every request needs a block of its own.
 */
export function* blockWalk(pool: IpamPool, host: string, options: BlockWalkOptions = {}): Generator<Prefix> {
  const count = blockCount(pool);
  const start = walkStart(pool, host, count, options);
  if (pool.cidr.afi === Afi.Ipv4) {
    yield* walkIpv4(pool, Number(count), Number(start));
    return;
  }
  for (let n = 0n, index = start; n < count; n += 1n) {
    yield blockAt(pool, index);
    index = index + 1n === count ? 0n : index + 1n;
  }
}

function walkStart(pool: IpamPool, host: string, count: bigint, options: BlockWalkOptions): bigint {
  const singleAddress = hostBits(makePrefix(pool.cidr.afi, pool.blockSize, 0)) === 0;
  if (singleAddress) {
    const random = options.random ?? Math.random;
    return BigInt(Math.floor(random() * Number(count < 1n << 52n ? count : 1n << 52n)));
  }
  return BigInt(fnv32(host)) % count;
}

function* walkIpv4(pool: IpamPool, count: number, start: number): Generator<Prefix> {
  const step = 2 ** (32 - pool.blockSize);
  for (let n = 0, index = start; n < count; n += 1) {
    yield makePrefix(Afi.Ipv4, pool.blockSize, pool.cidr.w0 + index * step);
    index = index + 1 === count ? 0 : index + 1;
  }
}

/**
 * `items` (blocks inside `pool`) in the order blockWalk would visit them. Borrowing (§7.2 step 8) walks
 * only blocks that exist, so this sorts them instead of stepping through every possible CIDR.
 */
export function inWalkOrder<T>(
  pool: IpamPool,
  host: string,
  items: readonly T[],
  cidrOf: (item: T) => Prefix,
): T[] {
  const count = blockCount(pool);
  const start = walkStart(pool, host, count, { random: () => 0 });
  const position = (item: T): bigint => (blockIndex(pool, cidrOf(item)) - start + count) % count;
  return items
    .map((item) => ({ item, at: position(item) }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
    .map((entry) => entry.item);
}

// ---------------------------------------------------------------------------------------------------
// Which pools a request may use (§7.2 step 3, Calico's determinePools)

export type IntendedUse = IPPoolAllowedUse;

export interface PoolRequest {
  readonly family: IpFamily;
  readonly node: string;
  readonly nodeLabels: Labels;
  /** Labels of the workload's namespace; absent for host-level addresses (tunnels). */
  readonly namespaceLabels?: Labels;
  readonly intendedUse: IntendedUse;
  /** Pools named by the request (names or CIDRs): used whatever their selectors say. */
  readonly requested?: readonly string[];
}

export type PoolChoice =
  { readonly ok: true; readonly pools: readonly IpamPool[] } | { readonly ok: false; readonly cause: string };

export function determinePools(pools: readonly IpamPool[], request: PoolRequest): PoolChoice {
  const ofFamily = pools.filter((pool) => poolFamily(pool) === request.family);
  const requested = request.requested ?? [];
  const verdicts =
    requested.length > 0
      ? requestedPoolVerdicts(ofFamily, requested)
      : ofFamily.map((p) => autoVerdict(p, request));
  const usable = verdicts.map((v) => (v.pool && v.reason === undefined ? useVerdict(v.pool, request) : v));
  const chosen = usable.filter((v) => v.reason === undefined && v.pool !== undefined).map((v) => v.pool!);
  if (chosen.length > 0) return { ok: true, pools: chosen };
  return { ok: false, cause: noPoolCause(request, usable) };
}

interface Verdict {
  readonly pool?: IpamPool;
  readonly name: string;
  /** Why the pool is not usable; undefined when it is. */
  readonly reason?: string;
}

function requestedPoolVerdicts(pools: readonly IpamPool[], requested: readonly string[]): Verdict[] {
  return requested.map((wanted) => {
    const pool = pools.find((p) => p.name === wanted || p.resource.spec.cidr === wanted);
    if (pool === undefined) return { name: wanted, reason: 'requested but does not exist' };
    return pool.resource.spec.disabled === true
      ? { pool, name: pool.name, reason: 'disabled' }
      : { pool, name: pool.name };
  });
}

function autoVerdict(pool: IpamPool, request: PoolRequest): Verdict {
  const { spec } = pool.resource;
  const name = pool.name;
  if (spec.disabled === true) return { pool, name, reason: 'disabled' };
  if (spec.assignmentMode === 'Manual')
    return { pool, name, reason: 'assignmentMode Manual (name it to use it)' };
  const nodeSelector = ipPoolNodeSelector(spec);
  if (!selectorMatches(nodeSelector, request.nodeLabels)) {
    return { pool, name, reason: `nodeSelector ${JSON.stringify(nodeSelector)} does not match` };
  }
  const namespaceSelector = spec.namespaceSelector;
  if (namespaceSelector !== undefined && namespaceSelector.trim() !== '') {
    if (request.namespaceLabels === undefined)
      return { pool, name, reason: 'namespaceSelector needs a namespace' };
    if (!selectorMatches(namespaceSelector, request.namespaceLabels)) {
      return { pool, name, reason: `namespaceSelector ${JSON.stringify(namespaceSelector)} does not match` };
    }
  }
  return { pool, name };
}

function useVerdict(pool: IpamPool, request: PoolRequest): Verdict {
  const uses = ipPoolAllowedUses(pool.resource.spec);
  return uses.includes(request.intendedUse)
    ? { pool, name: pool.name }
    : { pool, name: pool.name, reason: `allowedUses [${uses.join(', ')}] excludes ${request.intendedUse}` };
}

/** "no configured Calico pools for node n1 (IPv4: pool-a disabled; pool-b nodeSelector … does not match)". */
function noPoolCause(request: PoolRequest, verdicts: readonly Verdict[]): string {
  const family = `IPv${request.family}`;
  const why =
    verdicts.length === 0
      ? `no ${family} pools exist`
      : `${family}: ${verdicts.map((v) => `${v.name} ${v.reason ?? 'usable'}`).join('; ')}`;
  return `no configured Calico pools for node ${request.node} (${why})`;
}

/** True when `pool` (by its nodeSelector alone) selects the node: §7.2 step 4 keeps such blocks. */
export function poolSelectsNode(pool: IpamPool, nodeLabels: Labels): boolean {
  return selectorMatches(ipPoolNodeSelector(pool.resource.spec), nodeLabels);
}

const selectorCache = new Map<string, Selector | SelectorError>();

/** A selector that does not parse selects nothing (stored pools are validated, so this is defensive). */
function selectorMatches(text: string, labels: Labels): boolean {
  let selector = selectorCache.get(text);
  if (selector === undefined) {
    selector = parseSelector(text);
    if (selectorCache.size > 1_000) selectorCache.clear();
    selectorCache.set(text, selector);
  }
  return !(selector instanceof SelectorError) && selector.matches(labels);
}
