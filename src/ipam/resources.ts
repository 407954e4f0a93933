// What IPAM reads from the routing resources (calico-routing.md §6, §7.1): the IPPools, the
// IPAMConfiguration singleton with its in-memory defaults, and a node's labels for pool nodeSelectors.
// An interface, so a long-lived process serves it from a ResourceCache that follows the store
// (cachedResources: no read per allocation) while brindlectl and the CNI plugin, which make one request
// per run, read the Store directly (storeResources).

import type { Store } from '../datastore/store.ts';
import { decodeResource } from '../resources/decode.ts';
import { DEFAULTS, ipamMaxBlocksPerHost, ipPoolNodeSelector } from '../resources/defaults.ts';
import { IPAM_CONFIG_NAME } from '../resources/ipam-configuration.ts';
import { ResourceStore, resourceKey } from '../resources/store.ts';
import type { ResourceSnapshot } from '../resources/store.ts';
import type { IPAMConfigurationSpec, IPPool, Resource } from '../resources/types.ts';
import type { Labels } from '../resources/selector.ts';

export interface IpamResourceView {
  readonly pools: readonly IPPool[];
  /** The spec of IPAMConfiguration `default`; undefined when absent (defaults apply, §7.1). */
  readonly ipamConfiguration: IPAMConfigurationSpec | undefined;
  /** The Node resource's labels ({} when it has none, or when no pool's nodeSelector looks at labels). */
  readonly nodeLabels: Labels;
}

export interface IpamResources {
  /** One consistent-enough view for one request; `node` only when labels matter (allocation). */
  read(node?: string): Promise<IpamResourceView>;
}

const POOL_PREFIX = resourceKey('IPPool', '');
const CONFIG_KEY = resourceKey('IPAMConfiguration', IPAM_CONFIG_NAME);
/** `v3/ipamconfiguration/…` and `v3/ippool/…` share this prefix: one list reads both. */
const IPAM_RESOURCES_PREFIX = 'v3/ip';

/**
 * Read from the Store on every call, as a short-lived CLI or CNI process wants: one list for pools and
 * the IPAMConfiguration, plus the Node only when some pool's nodeSelector is not all(). Stored
 * resources that fail validation are skipped, as the ResourceCache skips them.
 */
export function storeResources(store: Store): IpamResources {
  const resources = new ResourceStore(store);
  return {
    async read(node) {
      const { items } = await store.list(IPAM_RESOURCES_PREFIX);
      const decoded = items.map((kv) => ({ key: kv.key, resource: decodeStoredResource(kv.value) }));
      const pools = decoded
        .filter((d) => d.key.startsWith(POOL_PREFIX))
        .map((d) => d.resource)
        .filter((r): r is IPPool => r?.kind === 'IPPool');
      const config = decoded.find((d) => d.key === CONFIG_KEY)?.resource;
      const ipamConfiguration = config?.kind === 'IPAMConfiguration' ? config.spec : undefined;
      const labelsMatter =
        node !== undefined && pools.some((p) => ipPoolNodeSelector(p.spec).trim() !== 'all()');
      const nodeLabels = labelsMatter ? ((await resources.get('Node', node))?.metadata.labels ?? {}) : {};
      return { pools, ipamConfiguration, nodeLabels };
    },
  };
}

/**
 * Served from a resource cache that lists and watches the store (the daemon's ResourceCache): no
 * datastore read per request. A pool change reaches allocations once the watch delivers it, as it
 * reaches Calico's through its informers; until the cache has listed, reads go to `store`. Address
 * uniqueness never depends on this view: the block CAS decides every allocation.
 */
export function cachedResources(
  cache: { readonly current: ResourceSnapshot | undefined },
  store: Store,
): IpamResources {
  const fallback = storeResources(store);
  return {
    read(node) {
      const snapshot = cache.current;
      if (snapshot === undefined) return fallback.read(node);
      const config = snapshot.ipamConfigs.find((c) => c.metadata.name === IPAM_CONFIG_NAME);
      const labels =
        node === undefined
          ? undefined
          : snapshot.nodes.find((n) => n.metadata.name === node)?.metadata.labels;
      return Promise.resolve({
        pools: snapshot.pools,
        ipamConfiguration: config?.spec,
        nodeLabels: labels ?? {},
      });
    },
  };
}

function decodeStoredResource(text: string): Resource | undefined {
  try {
    return decodeResource(JSON.parse(text)).resource;
  } catch {
    return undefined;
  }
}

/** IPAMConfiguration with its defaults applied (§7.1). */
export interface IpamConfig {
  readonly strictAffinity: boolean;
  readonly autoAllocateBlocks: boolean;
  /** 0 in the resource means 20. */
  readonly maxBlocksPerHost: number;
}

export function effectiveIpamConfig(spec: IPAMConfigurationSpec | undefined): IpamConfig {
  const defaults = DEFAULTS.IPAMConfiguration;
  return {
    strictAffinity: spec?.strictAffinity ?? defaults.strictAffinity,
    autoAllocateBlocks: spec?.autoAllocateBlocks ?? defaults.autoAllocateBlocks,
    maxBlocksPerHost: ipamMaxBlocksPerHost(spec),
  };
}
