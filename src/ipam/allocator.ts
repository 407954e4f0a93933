// The IPAM client (calico-routing.md §7.2–§7.4, libcalico-go ipam.go): autoAssign, assignIp,
// releaseIps, releaseByHandle, releaseHostAffinities. Many processes on many hosts run this against one
// Store at once; they coordinate only through compare-and-swap on the records (keys.ts):
//
// - every write is create-if-absent, update-at-revision or delete-at-revision, alone or in one
//   transaction with others; a lost race retries from what the failed write returned, at most
//   DATASTORE_RETRIES times (§7.4); any other failure surfaces as IpamError;
// - blocks are claimed with the two-phase affinity protocol (affinity.ts);
// - a block write that allocates or releases carries the IPAMHandle changes that go with it in the
//   same transaction (handle.ts), so handle counts always equal what the blocks hold;
// - the requests of one client that want the same block at the same time share its write
//   (block-writer.ts), and one search for a new block runs at a time per node and family.
//
// The release paths live in release.ts; the pure block and pool cores in block.ts and pool.ts.
//
// Crash consistency. A process can die (SIGKILL, power) between any two writes; no single write or
// transaction is ever half-done (both backends commit atomically). What each gap can leave behind, and
// who mends it:
//
//   gap                                          left behind                      mended by
//   claim: after the pending affinity            pending affinity, no block       the host's next autoAssign
//                                                                                 (re-claims it, §7.2 6a);
//                                                                                 check --fix once old
//   claim: after the block, before confirming    pending affinity + its block     the host's next autoAssign
//                                                                                 (confirms it); check --fix
//   affinity release: after marking / the block  pendingDeletion affinity         releaseHostAffinities
//                                                                                 again; check --fix
//
// Assignments and releases leave nothing: block and handles are one transaction. Every residue is one
// of check.ts's problems, marked fixable and explained, and none of them can hand one address to two
// owners: the block record alone decides who holds an address, and it is written by CAS. A pending
// affinity produces no route (§7.5), so a cut-short claim is never advertised.
//
// Departure: Calico's AutoAssign returns a partial result with messages when it finds fewer addresses
// than asked for (the CNI plugin then releases by handle); autoAssign here is all or nothing — on a
// shortfall or an IPv6 failure it releases what it assigned in this call (by address, handle and
// sequence number) and throws an IpamError naming the cause.

import type { Store } from '../datastore/store.ts';
import type { Prefix } from '../lib/prefix.ts';
import { ipPoolAllowedUses } from '../resources/defaults.ts';
import type { Labels } from '../resources/selector.ts';
import { claimAffinity, confirmAffinity, releaseBlockAffinity } from './affinity.ts';
import { assign, assignOrdinal, attributeOf, freeCount, ordinalAddress } from './block.ts';
import type { AllocationAttribute, AllocationBlock, Assignment } from './block.ts';
import {
  familyOf,
  formatAddress,
  formatCidr,
  ordinalOf,
  parseAddress,
  parseCidr,
  prefixContains,
} from './cidr.ts';
import type { IpFamily } from './cidr.ts';
import { BlockWriter } from './block-writer.ts';
import { conflictError, DATASTORE_RETRIES } from './context.ts';
import type { IpamContext } from './context.ts';
import { IpamDatastore } from './datastore.ts';
import type { Versioned } from './datastore.ts';
import { IpamError, isIpamError } from './errors.ts';
import { checkHandleId, checkNodeName, hostAffinity } from './keys.ts';
import {
  blockContaining,
  blockWalk,
  determinePools,
  inWalkOrder,
  ipamPools,
  poolContaining,
  poolFamily,
  poolSelectsNode,
} from './pool.ts';
import type { IntendedUse, IpamPool } from './pool.ts';
import type { BlockAffinity } from './records.ts';
import { parseReleaseRequest, releaseByHandle, releaseIps } from './release.ts';
import type { ReleaseRequest, ReleaseResult } from './release.ts';
import { effectiveIpamConfig, storeResources } from './resources.ts';
import type { IpamConfig, IpamResources } from './resources.ts';

export interface IpamClientOptions {
  readonly store: Store;
  /** Pools, IPAMConfiguration and node labels; read from `store` on every call when absent. */
  readonly resources?: IpamResources;
  /** Wall-clock milliseconds (Date.now when absent); stamped into claim times and handles. */
  readonly now?: () => number;
  /** CAS retries before giving up; Calico's 100 when absent (§7.4). */
  readonly datastoreRetries?: number;
  /** Start of the walk for single-address blocks (Math.random when absent). */
  readonly random?: () => number;
}

/** Calico's AutoAssignArgs, the parts Brindle uses. */
export interface AutoAssignArgs {
  readonly node: string;
  /** The IPAMHandle the addresses are counted in (CNI: `k8s-pod-network.<containerID>`). */
  readonly handleId?: string;
  /** Owner attributes stored with each address (Calico's `secondary`); `node` is added. */
  readonly attrs?: Readonly<Record<string, string>>;
  readonly num4?: number;
  readonly num6?: number;
  /** §7.2 step 1: required, as in Calico. */
  readonly intendedUse: IntendedUse;
  /** Pools (names or CIDRs) to use regardless of their selectors (§7.2 step 3). */
  readonly ipv4Pools?: readonly string[];
  readonly ipv6Pools?: readonly string[];
  /** The workload namespace's labels, for pools with a namespaceSelector. */
  readonly namespaceLabels?: Labels;
  /** A lower per-request block cap (Calico's MaxBlocksPerHost argument); 0 or absent: the config's. */
  readonly maxBlocksPerHost?: number;
}

export interface AssignedAddress {
  /** "10.65.0.5" */
  readonly address: string;
  /** The host prefix, for callers that work in numbers. */
  readonly prefix: Prefix;
  /** The block it came from, "10.65.0.0/26" (Calico returns the address with the block's mask). */
  readonly block: string;
  readonly handleId: string | undefined;
  /** Pass it back to releaseIps so a stale release cannot free a reused address (§7.4). */
  readonly sequenceNumber: number;
  /** True when the block is not this node's (§7.2 step 8): the node routes it as a /32 (/128). */
  readonly borrowed: boolean;
}

export interface AutoAssignResult {
  readonly ipv4: readonly AssignedAddress[];
  readonly ipv6: readonly AssignedAddress[];
}

export interface AssignIpArgs {
  readonly address: string;
  readonly node: string;
  readonly handleId?: string;
  readonly attrs?: Readonly<Record<string, string>>;
  /** When given, the pool must allow this use (§7.2 AssignIP). */
  readonly intendedUse?: IntendedUse;
}

/** Why the search of a host's own blocks stopped (§7.2 step 6), for the error when borrowing fails too. */
type HostBlocksOutcome = 'done' | 'block-limit' | 'no-auto-allocate' | 'pools-exhausted';

interface Environment {
  readonly pools: readonly IpamPool[];
  readonly config: IpamConfig;
  readonly nodeLabels: Labels;
}

interface AutoAssignEnvironment extends Environment {
  /** The host's affinities, both families (§7.2 step 4): listed once, when first needed. */
  readonly hostAffinities: () => Promise<readonly Versioned<BlockAffinity>[]>;
}

/** One family's share of an autoAssign; `assigned` fills up as blocks are written. */
interface FamilyAssign {
  readonly node: string;
  readonly family: IpFamily;
  readonly num: number;
  readonly handleId: string | undefined;
  readonly attribute: AllocationAttribute;
  /** The pools this request may allocate from (§7.2 step 3). */
  readonly pools: readonly IpamPool[];
  /** Every pool of the family, for step 4. */
  readonly familyPools: readonly IpamPool[];
  readonly nodeLabels: Labels;
  readonly config: IpamConfig;
  readonly cap: number;
  readonly hostAffinities: () => Promise<readonly Versioned<BlockAffinity>[]>;
  readonly assigned: AssignedAddress[];
}

const remaining = (request: FamilyAssign): number => request.num - request.assigned.length;
const hintKey = (request: FamilyAssign): string => `${request.node}/${request.family}`;

export class IpamClient {
  private readonly ctx: IpamContext;
  private readonly resources: IpamResources;
  private readonly random: () => number;
  /** node/family → the block that last had room: tried first (an ordering hint, never a decision). */
  private readonly lastBlock = new Map<string, string>();
  /** Writes concurrent assignments to one block together (block-writer.ts). */
  private readonly writer: BlockWriter;
  /** node/family → the end of the queue of searches for room (assignFromHostBlocks). */
  private readonly searches = new Map<string, Promise<void>>();

  constructor(options: IpamClientOptions) {
    this.ctx = {
      ds: new IpamDatastore(options.store),
      now: options.now ?? Date.now,
      retries: options.datastoreRetries ?? DATASTORE_RETRIES,
    };
    this.writer = new BlockWriter(this.ctx);
    this.resources = options.resources ?? storeResources(options.store);
    this.random = options.random ?? Math.random;
  }

  private get ds(): IpamDatastore {
    return this.ctx.ds;
  }

  // -------------------------------------------------------------------------------------------------
  // autoAssign (§7.2)

  async autoAssign(args: AutoAssignArgs): Promise<AutoAssignResult> {
    checkAutoAssignArgs(args);
    const env = await this.autoAssignEnvironment(args);
    // §7.2: IPv4 first; an IPv4 error aborts IPv6.
    const ipv4 = await this.autoAssignFamily(env, args, 4, args.num4 ?? 0);
    try {
      const ipv6 = await this.autoAssignFamily(env, args, 6, args.num6 ?? 0);
      return { ipv4, ipv6 };
    } catch (error) {
      await this.rollback(ipv4, error);
      throw error;
    }
  }

  private async autoAssignEnvironment(args: AutoAssignArgs): Promise<AutoAssignEnvironment> {
    const env = await this.environment(args.node);
    let listed: Promise<Versioned<BlockAffinity>[]> | undefined;
    const hostAffinities = () => (listed ??= this.ds.listHostAffinities(args.node));
    return { ...env, hostAffinities };
  }

  private async autoAssignFamily(
    env: AutoAssignEnvironment,
    args: AutoAssignArgs,
    family: IpFamily,
    num: number,
  ): Promise<AssignedAddress[]> {
    if (num === 0) return [];
    const request = this.familyRequest(env, args, family, num);
    try {
      const outcome = await this.assignFromHostBlocks(request);
      // §7.2 step 8: borrow from other hosts' blocks only when strict affinity is off.
      if (remaining(request) > 0 && !request.config.strictAffinity) await this.borrow(request);
      if (remaining(request) > 0) throw shortfallError(request, outcome);
      return request.assigned;
    } catch (error) {
      await this.rollback(request.assigned, error);
      throw error;
    }
  }

  /** §7.2 steps 3 and 5: the pools, the block cap and the attribute for one family. */
  private familyRequest(
    env: AutoAssignEnvironment,
    args: AutoAssignArgs,
    family: IpFamily,
    num: number,
  ): FamilyAssign {
    const familyPools = env.pools.filter((pool) => poolFamily(pool) === family);
    const choice = determinePools(env.pools, {
      family,
      node: args.node,
      nodeLabels: env.nodeLabels,
      namespaceLabels: args.namespaceLabels,
      intendedUse: args.intendedUse,
      requested: family === 4 ? args.ipv4Pools : args.ipv6Pools,
    });
    if (!choice.ok) throw new IpamError('no-pool', choice.cause);
    const requestCap = args.maxBlocksPerHost ?? 0;
    const cap =
      requestCap > 0 ? Math.min(requestCap, env.config.maxBlocksPerHost) : env.config.maxBlocksPerHost;
    return {
      node: args.node,
      family,
      num,
      handleId: args.handleId,
      attribute: ownerAttribute(args.node, args.handleId, args.attrs),
      pools: choice.pools,
      familyPools,
      nodeLabels: env.nodeLabels,
      config: env.config,
      cap,
      hostAffinities: env.hostAffinities,
      assigned: [],
    };
  }

  /** §7.2 step 6: fill the host's affine blocks, claiming new ones while the cap allows. */
  private async assignFromHostBlocks(request: FamilyAssign): Promise<HostBlocksOutcome> {
    await this.assignFromHintedBlock(request);
    if (remaining(request) === 0) return 'done';
    // The search below runs once at a time per node and family in this client. Concurrent requests
    // that found the hinted block full would otherwise all claim the same next block of the walk and
    // race each other's CAS on it; instead they wait for the running search, then try the block it
    // found (the new hint) together — one batched write — and search themselves only if still short.
    const key = hintKey(request);
    const running = this.searches.get(key);
    if (running !== undefined) {
      await running;
      await this.assignFromHintedBlock(request);
      if (remaining(request) === 0) return 'done';
    }
    return this.oneSearchAtATime(key, async () => {
      await this.assignFromHintedBlock(request);
      return remaining(request) === 0 ? 'done' : this.searchHostBlocks(request);
    });
  }

  /** Run `search` after every search already queued for `key` has finished (a FIFO lock). */
  private async oneSearchAtATime<T>(key: string, search: () => Promise<T>): Promise<T> {
    const previous = this.searches.get(key) ?? Promise.resolve();
    let finish: () => void = () => undefined;
    const mine = previous.then(() => new Promise<void>((resolve) => (finish = resolve)));
    this.searches.set(key, mine);
    try {
      await previous;
      return await search();
    } finally {
      finish();
      if (this.searches.get(key) === mine) this.searches.delete(key);
    }
  }

  /** §7.2 step 6 beyond the hint: the host's other affine blocks, then new claims. */
  private async searchHostBlocks(request: FamilyAssign): Promise<HostBlocksOutcome> {
    const { usable, owned: ownedAtStart } = await this.affineBlocks(request);
    for (const affinity of usable) {
      if (remaining(request) === 0) return 'done';
      const block = await this.getBlockFromAffinity(request.node, affinity);
      if (block !== undefined) await this.assignFromExistingBlock(request, block.value.cidr, true);
    }
    let owned = ownedAtStart;
    for (let attempt = 0; remaining(request) > 0; attempt += 1) {
      if (owned >= request.cap) return 'block-limit';
      if (!request.config.autoAllocateBlocks) return 'no-auto-allocate';
      if (attempt >= this.ctx.retries) throw conflictError(`claiming a block for ${request.node}`, attempt);
      const cidr = await this.findUsableBlock(request);
      if (cidr === undefined) return 'pools-exhausted';
      const claim = await claimAffinity(this.ctx, request.node, cidr);
      if (claim === 'conflict') continue;
      if (claim === 'claimed') owned += 1;
      await this.assignFromExistingBlock(request, cidr, true);
    }
    return 'done';
  }

  /**
   * §7.2 step 4: the host's affinities in this family. Affinities of blocks no pool of this node's
   * selects any more are released when their block is empty; the rest count toward the cap, and those
   * in the request's pools are the ones to fill — newest claim first, since older blocks are the ones
   * most likely full (any order is Calico's; it only decides which own block fills first).
   */
  private async affineBlocks(
    request: FamilyAssign,
  ): Promise<{ usable: Versioned<BlockAffinity>[]; owned: number }> {
    const usable: Versioned<BlockAffinity>[] = [];
    let owned = 0;
    for (const affinity of await request.hostAffinities()) {
      const { cidr, state } = affinity.value;
      if (familyOf(cidr) !== request.family || state === 'pendingDeletion') continue;
      const pool = poolContaining(request.familyPools, cidr);
      if (pool === undefined || !poolSelectsNode(pool, request.nodeLabels)) {
        if ((await releaseBlockAffinity(this.ctx, request.node, cidr, true)) === 'released') continue;
      }
      owned += 1;
      if (pool !== undefined && request.pools.includes(pool)) usable.push(affinity);
    }
    usable.sort((a, b) => b.value.claimTime - a.value.claimTime);
    return { usable, owned };
  }

  /**
   * §7.2 step 6a, taken first for the block that last had room in this client: when it lies in one
   * of the request's pools, assign from it without listing the host's affinities. Equivalent to 6a
   * visiting that affinity first: assignment checks the block's own `affinity` field under CAS, and a
   * block that is no longer this host's, or full, is simply passed over. In the common case an
   * allocation is then one transaction (block and handle) on the block as this client last wrote it,
   * shared with the client's other allocations in flight (block-writer.ts).
   */
  private async assignFromHintedBlock(request: FamilyAssign): Promise<void> {
    const key = hintKey(request);
    const hint = this.lastBlock.get(key);
    const cidr = hint === undefined ? undefined : parseCidr(hint);
    if (cidr === undefined || !request.pools.some((pool) => prefixContains(pool.cidr, cidr))) return;
    const assigned = await this.assignFromExistingBlock(request, cidr, true);
    if (assigned === 0) this.lastBlock.delete(key);
  }

  /**
   * §7.2 step 6a, Calico's getBlockFromAffinity: the affinity's block, when it is really this host's.
   * A missing block is created again (a claim cut short); a block that names someone else makes the
   * affinity stale, and it is deleted; a pending affinity whose block is ours is confirmed.
   */
  private async getBlockFromAffinity(
    node: string,
    affinity: Versioned<BlockAffinity>,
  ): Promise<Versioned<AllocationBlock> | undefined> {
    const { cidr } = affinity.value;
    const block = await this.ds.getBlock(cidr);
    if (block === undefined) {
      const claim = await claimAffinity(this.ctx, node, cidr);
      return claim === 'conflict' ? undefined : this.ds.getBlock(cidr);
    }
    if (block.value.affinity !== hostAffinity(node)) {
      await this.ds.deleteAffinity(node, cidr, affinity.modRevision);
      return undefined;
    }
    if (affinity.value.state !== 'confirmed' && !(await confirmAffinity(this.ctx, affinity)))
      return undefined;
    return block;
  }

  /**
   * §7.2 step 6b, Calico's findUsableBlock: walk each pool's blocks in this host's order and return
   * the first CIDR with no block yet, or a block already affine to this host that has room.
   */
  private async findUsableBlock(request: FamilyAssign): Promise<Prefix | undefined> {
    const existing = new Map<string, AllocationBlock>();
    for (const { value } of await this.ds.listBlocks()) {
      if (familyOf(value.cidr) === request.family) existing.set(wordsKey(value.cidr), value);
    }
    const host = hostAffinity(request.node);
    for (const pool of request.pools) {
      for (const cidr of blockWalk(pool, request.node, { random: this.random })) {
        const block = existing.get(wordsKey(cidr));
        if (block === undefined) return cidr;
        if (block.affinity === host && freeCount(block) > 0) return cidr;
      }
    }
    return undefined;
  }

  /**
   * §7.2 step 8: other hosts' existing blocks (and unaffine ones), in this host's walk order, without
   * an affinity check. Borrowing never creates a block and never changes a block's affinity.
   */
  private async borrow(request: FamilyAssign): Promise<void> {
    const host = hostAffinity(request.node);
    const candidates = (await this.ds.listBlocks()).filter(
      ({ value }) =>
        familyOf(value.cidr) === request.family && value.affinity !== host && freeCount(value) > 0,
    );
    for (const pool of request.pools) {
      const inPool = candidates.filter(({ value }) => prefixContains(pool.cidr, value.cidr));
      for (const block of inWalkOrder(pool, request.node, inPool, (b) => b.value.cidr)) {
        if (remaining(request) === 0) return;
        await this.assignFromExistingBlock(request, block.value.cidr, false);
      }
    }
  }

  /**
   * §7.2 step 7, Calico's assignFromExistingBlock: as many as still needed from one block, written
   * with the handle in one transaction (block-writer.ts). With `affinityCheck`, only while the block
   * is this host's.
   */
  private async assignFromExistingBlock(
    request: FamilyAssign,
    cidr: Prefix,
    affinityCheck: boolean,
  ): Promise<number> {
    const host = hostAffinity(request.node);
    const written = await this.writer.assign(cidr, {
      handleId: request.handleId,
      plan: (block) =>
        affinityCheck && block.affinity !== host
          ? undefined
          : assign(block, remaining(request), request.attribute),
    });
    if (written === undefined) return 0;
    for (const ordinal of written.ordinals) {
      request.assigned.push(assignedAddress(written.block, ordinal, request.handleId, host));
    }
    // The hint names an own block that still has room after this write, or nothing.
    const key = hintKey(request);
    if (written.block.affinity === host && freeCount(written.block) > 0) {
      this.lastBlock.set(key, formatCidr(written.block.cidr));
    } else if (this.lastBlock.get(key) === formatCidr(written.block.cidr)) {
      this.lastBlock.delete(key);
    }
    return written.ordinals.length;
  }

  /** Release what this call assigned, exactly (handle and sequence number), before reporting `cause`. */
  private async rollback(assigned: readonly AssignedAddress[], cause: unknown): Promise<void> {
    if (assigned.length === 0) return;
    try {
      await this.releaseIps(
        assigned.map(({ address, handleId, sequenceNumber }) => ({ address, handleId, sequenceNumber })),
      );
    } catch (error) {
      throw withNote(
        cause,
        `releasing the ${assigned.length} addresses assigned before it failed too (${String(error)}); ipam check reports them`,
      );
    }
  }

  // -------------------------------------------------------------------------------------------------
  // assignIp (§7.2, AssignIP): one named address. Its block is claimed for the node when it does not
  // exist yet (the per-host cap applies to autoAssign only, as in Calico); with strict affinity the
  // block must be the node's own.

  async assignIp(args: AssignIpArgs): Promise<AssignedAddress> {
    checkNodeName(args.node);
    if (args.handleId !== undefined) checkHandleId(args.handleId);
    const address = parseAddress(args.address);
    if (address === undefined)
      throw new IpamError('invalid-request', `${JSON.stringify(args.address)} is not an IP address`);
    const env = await this.environment(args.node);
    const pool = poolContaining(
      env.pools.filter((p) => p.resource.spec.disabled !== true),
      address,
    );
    if (pool === undefined)
      throw new IpamError('not-in-pool', `${args.address} is not in any enabled IPPool`);
    if (args.intendedUse !== undefined && !ipPoolAllowedUses(pool.resource.spec).includes(args.intendedUse)) {
      throw new IpamError(
        'use-not-allowed',
        `IPPool ${pool.name} does not allow ${args.intendedUse} addresses`,
      );
    }
    return this.assignAddressInPool(args, env, pool, address);
  }

  private async assignAddressInPool(
    args: AssignIpArgs,
    env: Environment,
    pool: IpamPool,
    address: Prefix,
  ): Promise<AssignedAddress> {
    const cidr = blockContaining(pool, address);
    const ordinal = ordinalOf(cidr, address);
    const host = hostAffinity(args.node);
    const attribute = ownerAttribute(args.node, args.handleId, args.attrs);
    const plan = (block: AllocationBlock): Assignment => {
      if (block.affinity !== host && env.config.strictAffinity) {
        const owner = block.affinity ?? 'no host';
        throw new IpamError(
          'strict-affinity',
          `${args.address}: block ${formatCidr(cidr)} belongs to ${owner} and strictAffinity is on`,
        );
      }
      const result = assignOrdinal(block, ordinal, attribute);
      if (!result.ok)
        throw new IpamError(
          'already-allocated',
          `${args.address} is already allocated${holderText(block, ordinal)}`,
        );
      return { block: result.block, ordinals: [ordinal] };
    };
    for (let attempt = 0; attempt < this.ctx.retries; attempt += 1) {
      // `plan` assigns or throws: nothing written means the block does not exist (yet).
      const written = await this.writer.assign(cidr, { handleId: args.handleId, plan });
      if (written !== undefined) return assignedAddress(written.block, ordinal, args.handleId, host);
      await claimAffinity(this.ctx, args.node, cidr); // Whoever wins, the block exists afterwards.
    }
    throw conflictError(`assigning ${args.address}`, this.ctx.retries);
  }

  // -------------------------------------------------------------------------------------------------
  // Release (§7.3)

  /**
   * Calico's ReleaseIPs (§7.3, release.ts): per block, all or none; handle and sequence-number
   * preconditions refuse stale releases. The pool lookup includes disabled pools.
   */
  async releaseIps(requests: readonly ReleaseRequest[]): Promise<ReleaseResult> {
    const parsed = requests.map(parseReleaseRequest);
    const pools = ipamPools((await this.call(() => this.resources.read())).pools);
    return releaseIps(this.ctx, pools, parsed);
  }

  /** Calico's ReleaseByHandle (§7.3, release.ts): every address the handle holds. */
  releaseByHandle(handleId: string): Promise<{ readonly released: readonly string[] }> {
    checkHandleId(handleId);
    return releaseByHandle(this.ctx, handleId);
  }

  /**
   * §7.3 ReleaseHostAffinities: give up every block affinity of `node` (node removal, pool changes).
   * Empty blocks are deleted, non-empty ones become unaffine (their addresses stay allocated and are
   * borrowed from then on); with `requireEmpty`, non-empty blocks keep their affinity instead.
   */
  async releaseHostAffinities(
    node: string,
    options: { readonly requireEmpty?: boolean } = {},
  ): Promise<{ readonly released: readonly string[]; readonly notEmpty: readonly string[] }> {
    checkNodeName(node);
    const released: string[] = [];
    const notEmpty: string[] = [];
    for (const { value } of await this.ds.listHostAffinities(node)) {
      const outcome = await releaseBlockAffinity(this.ctx, node, value.cidr, options.requireEmpty ?? false);
      (outcome === 'released' ? released : notEmpty).push(formatCidr(value.cidr));
    }
    return { released, notEmpty };
  }

  // -------------------------------------------------------------------------------------------------

  private async environment(node: string): Promise<Environment> {
    const view = await this.call(() => this.resources.read(node));
    return {
      pools: ipamPools(view.pools),
      config: effectiveIpamConfig(view.ipamConfiguration),
      nodeLabels: view.nodeLabels,
    };
  }

  /** Resource reads fail as StoreErrors; IPAM reports them as 'datastore' errors like its own. */
  private async call<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (isIpamError(error)) throw error;
      throw new IpamError('datastore', `reading IPAM resources failed: ${String(error)}`, { cause: error });
    }
  }
}

// ---------------------------------------------------------------------------------------------------

function checkAutoAssignArgs(args: AutoAssignArgs): void {
  checkNodeName(args.node);
  if (args.handleId !== undefined) checkHandleId(args.handleId);
  for (const [name, value] of [
    ['num4', args.num4],
    ['num6', args.num6],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new IpamError('invalid-request', `${name} must be a whole number, not ${String(value)}`);
    }
  }
  if (args.intendedUse !== 'Workload' && args.intendedUse !== 'Tunnel') {
    // LoadBalancer addresses use `virtual:` affinities (§13.5), which Brindle does not allocate yet.
    throw new IpamError(
      'invalid-request',
      `intendedUse must be Workload or Tunnel, not ${String(args.intendedUse)}`,
    );
  }
}

/** Calico's owner attributes, with `node` set: routes.ts finds a node's borrowed addresses by it. */
function ownerAttribute(
  node: string,
  handleId: string | undefined,
  attrs: Readonly<Record<string, string>> | undefined,
): AllocationAttribute {
  return { handleId, secondary: { ...attrs, node: attrs?.node ?? node } };
}

function assignedAddress(
  block: AllocationBlock,
  ordinal: number,
  handleId: string | undefined,
  host: string,
): AssignedAddress {
  const prefix = ordinalAddress(block, ordinal);
  return {
    address: formatAddress(prefix),
    prefix,
    block: formatCidr(block.cidr),
    handleId,
    sequenceNumber: block.sequenceNumberForAllocation[ordinal] ?? block.sequenceNumber,
    borrowed: block.affinity !== host,
  };
}

function holderText(block: AllocationBlock, ordinal: number): string {
  const handleId = attributeOf(block, ordinal)?.handleId;
  return handleId === undefined ? '' : ` (handle ${handleId})`;
}

/** The error an autoAssign that found too few addresses throws, naming why (§7.2 steps 5, 6d, 8). */
function shortfallError(request: FamilyAssign, outcome: HostBlocksOutcome): IpamError {
  const got = `assigned ${request.assigned.length} of ${request.num} IPv${request.family} addresses for node ${request.node}`;
  const pools = request.pools.map((p) => p.name).join(', ');
  switch (outcome) {
    case 'block-limit':
      return new IpamError(
        'block-limit',
        `cannot allocate new block due to per host block limit (${request.cap} blocks; ${got})`,
      );
    case 'no-auto-allocate':
      return new IpamError(
        'pool-exhausted',
        `the host's blocks are full and autoAllocateBlocks is false (${got})`,
      );
    case 'pools-exhausted':
    case 'done':
      return new IpamError(
        'pool-exhausted',
        request.config.strictAffinity
          ? `no more free affine blocks and strict affinity enabled (pools: ${pools}; ${got})`
          : `no IPs available in pools: ${pools} (${got})`,
      );
  }
}

/** A map key for blocks of one length: their address words. */
function wordsKey(prefix: Prefix): string {
  return `${prefix.w0}.${prefix.w1}.${prefix.w2}.${prefix.w3}`;
}

function withNote(cause: unknown, note: string): IpamError {
  const base = isIpamError(cause) ? cause : new IpamError('datastore', String(cause), { cause });
  return new IpamError(base.code, `${base.message}; ${note}`, { cause: base.cause ?? base });
}
