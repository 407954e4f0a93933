// A workload's addresses, as a CNI IPAM plugin needs them (calico-ipam over libcalico-go, §7.2–§7.3):
// assign to a handle — idempotently: a handle that already holds an address of a family keeps it, as
// Calico's plugin reuses a retried ADD's addresses — release by handle, and list what a handle holds.
// Each address comes with its pool's prefix length and a gateway: an address of this node's in the same
// pool, held under `brindle-gateway.<node>.<pool>` and allocated on first use (what ptp needs: it
// refuses /32 addresses and off-subnet gateways). The node's daemon serves these over its control
// socket with one long-lived instance; the plugin's fallback uses one for a single request. Both paths
// answer the same WorkloadAddress list, so the CNI result is the same whichever served it.
//
// Concurrency: in one instance, requests for the same handle (a runtime retrying ADD while the first
// is in flight) run one after another, and the first request for a node's gateway in a pool is shared
// by everyone who needs it, so neither is ever allocated twice by one process. Across processes the
// allocator's CAS and the handle make every write safe; two processes assigning one new handle at the
// same moment can leave it holding two addresses, which its DEL releases together.

import type { Store } from '../datastore/store.ts';
import type { Prefix } from '../lib/prefix.ts';
import { prefixBytes } from '../lib/prefix.ts';
import { IpamClient } from './allocator.ts';
import type { AssignedAddress } from './allocator.ts';
import { allocatedOrdinals, attributeOf, ordinalAddress } from './block.ts';
import { familyOf, formatAddress, parseCidr } from './cidr.ts';
import type { IpFamily } from './cidr.ts';
import { IpamDatastore } from './datastore.ts';
import { ipamPools, poolContaining } from './pool.ts';
import type { IpamPool } from './pool.ts';
import { storeResources } from './resources.ts';
import type { IpamResources } from './resources.ts';

/** Owner attributes a workload allocation records (Calico's `secondary`), read by `ipam check`. */
export const WORKLOAD_ATTRIBUTES = {
  containerId: 'containerID',
  /** The CNI_NETNS path: the check reports the allocation once it no longer exists on the node. */
  netns: 'netns',
  /** ISO 8601 wall-clock time of the ADD: the check's grace period counts from it. */
  timestamp: 'timestamp',
} as const;

export interface WorkloadRequest {
  readonly handleId: string;
  readonly node: string;
  /** Owner attributes (WORKLOAD_ATTRIBUTES, pod, namespace, interface); `node` is added. */
  readonly attrs: Readonly<Record<string, string>>;
  readonly num4: number;
  readonly num6: number;
  readonly ipv4Pools?: readonly string[];
  readonly ipv6Pools?: readonly string[];
}

/** One address as the main plugin configures it. */
export interface WorkloadAddress {
  readonly family: IpFamily;
  /** "10.65.0.5" */
  readonly address: string;
  /** The pool's prefix length (the block's when the pool is gone). */
  readonly prefixLength: number;
  readonly gateway: string;
}

export interface WorkloadIpamOptions {
  readonly store: Store;
  /** A ResourceCache view in a long-lived process; read from the store per request when absent. */
  readonly resources?: IpamResources;
  readonly now?: () => number;
}

/** The node's gateway address in a pool, held under this handle (one per node, pool and family). */
export function gatewayHandleOf(node: string, pool: string): string {
  return `brindle-gateway.${node}.${pool}`;
}

/** An address a handle holds, with the block it is in ("10.65.0.0/26"). */
interface Held {
  readonly prefix: Prefix;
  readonly block: string;
}

export class WorkloadIpam {
  private readonly client: IpamClient;
  private readonly ds: IpamDatastore;
  private readonly resources: IpamResources;
  /** handle → the end of its queue of requests. */
  private readonly handleQueues = new Map<string, Promise<unknown>>();
  /** `<node>/<pool>` → the gateway address, found or allocated once. */
  private readonly gateways = new Map<string, Promise<string | undefined>>();

  constructor(options: WorkloadIpamOptions) {
    this.resources = options.resources ?? storeResources(options.store);
    this.client = new IpamClient({ store: options.store, resources: this.resources, now: options.now });
    this.ds = new IpamDatastore(options.store);
  }

  /** The handle's addresses, assigning those of a requested family it does not hold yet. */
  assign(request: WorkloadRequest): Promise<WorkloadAddress[]> {
    return this.serialized(request.handleId, async () => {
      const held = await this.heldBy(request.handleId);
      const kept = (family: IpFamily, num: number) =>
        num > 0 ? held.filter((h) => familyOf(h.prefix) === family).slice(0, num) : [];
      const kept4 = kept(4, request.num4);
      const kept6 = kept(6, request.num6);
      const num4 = request.num4 - kept4.length;
      const num6 = request.num6 - kept6.length;
      const fresh = num4 + num6 === 0 ? [] : await this.autoAssign(request, num4, num6);
      const all = [...kept4, ...kept6, ...fresh].sort((a, b) => familyOf(a.prefix) - familyOf(b.prefix));
      return Promise.all(all.map((h) => this.workloadAddress(request.node, h)));
    });
  }

  /** Every address the handle holds; none is success (a repeated DEL). */
  release(handleId: string): Promise<{ readonly released: readonly string[] }> {
    return this.serialized(handleId, () => this.client.releaseByHandle(handleId));
  }

  /** The addresses the handle holds, lowest first ("10.65.0.5"). */
  async addresses(handleId: string): Promise<string[]> {
    return (await this.heldBy(handleId)).map((h) => formatAddress(h.prefix));
  }

  private async autoAssign(request: WorkloadRequest, num4: number, num6: number): Promise<Held[]> {
    const result = await this.client.autoAssign({
      node: request.node,
      handleId: request.handleId,
      attrs: request.attrs,
      num4,
      num6,
      intendedUse: 'Workload',
      ...(request.ipv4Pools ? { ipv4Pools: request.ipv4Pools } : {}),
      ...(request.ipv6Pools ? { ipv6Pools: request.ipv6Pools } : {}),
    });
    return [...result.ipv4, ...result.ipv6].map((a: AssignedAddress) => ({
      prefix: a.prefix,
      block: a.block,
    }));
  }

  /**
   * The addresses a handle holds, read through its IPAMHandle (written in the same transaction as
   * the blocks, so it names every block that holds one): one read per block, not a snapshot.
   */
  private async heldBy(handleId: string): Promise<Held[]> {
    const handle = await this.ds.getHandle(handleId);
    if (handle === undefined) return [];
    const found: Held[] = [];
    for (const cidr of Object.keys(handle.value.block)) {
      const prefix = parseCidr(cidr);
      const block = prefix && (await this.ds.getBlock(prefix));
      if (block === undefined) continue;
      for (const ordinal of allocatedOrdinals(block.value)) {
        if (attributeOf(block.value, ordinal)?.handleId !== handleId) continue;
        found.push({ prefix: ordinalAddress(block.value, ordinal), block: cidr });
      }
    }
    return found.sort((a, b) => Buffer.compare(prefixBytes(a.prefix), prefixBytes(b.prefix)));
  }

  private async workloadAddress(node: string, { prefix, block }: Held): Promise<WorkloadAddress> {
    const pools = ipamPools((await this.resources.read()).pools);
    const pool = poolContaining(pools, prefix);
    const family = familyOf(prefix);
    // A pool deleted under its allocations: the block stands in for it, as before the pool existed.
    const prefixLength = pool?.cidr.length ?? Number(block.split('/')[1]);
    const poolName = pool?.name ?? block.replace('/', '-');
    const gateway = (await this.gateway(node, poolName, pool, family)) ?? formatAddress(prefix);
    return { family, address: formatAddress(prefix), prefixLength, gateway };
  }

  /**
   * The node's gateway in a pool: the lowest address its gateway handle holds, or one allocated now
   * (two processes allocating it at once both keep theirs; everyone uses the lowest). Remembered for
   * this instance's life; a failed lookup is forgotten so the next request tries again.
   */
  private gateway(
    node: string,
    poolName: string,
    pool: IpamPool | undefined,
    family: IpFamily,
  ): Promise<string | undefined> {
    const key = `${node}/${poolName}`;
    let found = this.gateways.get(key);
    if (found === undefined) {
      found = this.findGateway(node, gatewayHandleOf(node, poolName), pool, family);
      this.gateways.set(key, found);
      found.catch(() => this.gateways.delete(key));
    }
    return found;
  }

  private async findGateway(
    node: string,
    handleId: string,
    pool: IpamPool | undefined,
    family: IpFamily,
  ): Promise<string | undefined> {
    const held = await this.addresses(handleId);
    if (held.length > 0) return held[0];
    const pools = pool ? [pool.name] : undefined;
    await this.client.autoAssign({
      node,
      handleId,
      attrs: { type: 'gateway' },
      num4: family === 4 ? 1 : 0,
      num6: family === 6 ? 1 : 0,
      intendedUse: 'Workload',
      ...(pools ? (family === 6 ? { ipv6Pools: pools } : { ipv4Pools: pools }) : {}),
    });
    return (await this.addresses(handleId))[0];
  }

  /** Runs `body` after every earlier request for the same handle in this instance has finished. */
  private serialized<T>(handleId: string, body: () => Promise<T>): Promise<T> {
    const previous = this.handleQueues.get(handleId) ?? Promise.resolve();
    const next = previous.then(body, body);
    const tail = next.catch(() => undefined);
    this.handleQueues.set(handleId, tail);
    void tail.then(() => {
      if (this.handleQueues.get(handleId) === tail) this.handleQueues.delete(handleId);
    });
    return next;
  }
}
