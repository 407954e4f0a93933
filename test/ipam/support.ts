// Helpers shared by the IPAM tests: stores on both backends, resources seeded through the validated
// ResourceStore, a seeded PRNG for property tests, and whole-state accounting.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { ExecutionContext } from 'ava';

import { openEtcdStore } from '../../src/datastore/etcd-store.ts';
import { openLmdbStore } from '../../src/datastore/lmdb-store.ts';
import type { Store } from '../../src/datastore/store.ts';
import { allocatedOrdinals, attributeOf, ordinalAddress } from '../../src/ipam/block.ts';
import { formatAddress, formatCidr } from '../../src/ipam/cidr.ts';
import { IpamDatastore } from '../../src/ipam/datastore.ts';
import type { IpamSnapshot } from '../../src/ipam/datastore.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import type { IPAMConfigurationSpec, IPPoolSpec } from '../../src/resources/types.ts';

export interface Backend {
  readonly name: string;
  /** A fresh, empty store for one test, closed in the test's teardown. */
  open(t: ExecutionContext): Promise<Store>;
}

export async function tempDir(t: ExecutionContext, tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `brindle-${tag}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export const lmdbBackend: Backend = {
  name: 'lmdb',
  async open(t) {
    const store = await openLmdbStore({ path: await tempDir(t, 'ipam') });
    t.teardown(() => store.close());
    return store;
  },
};

let etcdPrefixes = 0;

/** Each store gets its own key prefix on the shared etcd. */
export function etcdBackend(endpoint: () => string): Backend {
  return {
    name: 'etcd',
    open(t) {
      etcdPrefixes += 1;
      const store = openEtcdStore({
        endpoints: [endpoint()],
        prefix: `/brindle-ipam-${process.pid}-${etcdPrefixes}/`,
      });
      t.teardown(() => store.close());
      return Promise.resolve(store);
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Resources

const API_VERSION = 'projectcalico.org/v3';

async function write(store: Store, resource: unknown): Promise<void> {
  const result = await new ResourceStore(store).write(resource, 'apply');
  if (!result.ok) throw new Error(result.errors.join('\n'));
}

export function seedPool(store: Store, name: string, spec: IPPoolSpec): Promise<void> {
  return write(store, { apiVersion: API_VERSION, kind: 'IPPool', metadata: { name }, spec });
}

export function seedIpamConfig(store: Store, spec: IPAMConfigurationSpec): Promise<void> {
  return write(store, {
    apiVersion: API_VERSION,
    kind: 'IPAMConfiguration',
    metadata: { name: 'default' },
    spec,
  });
}

export function seedNode(store: Store, name: string, labels: Record<string, string>): Promise<void> {
  return write(store, { apiVersion: API_VERSION, kind: 'Node', metadata: { name, labels }, spec: {} });
}

// ---------------------------------------------------------------------------------------------------
// Accounting over the whole IPAM state

export interface Allocation {
  readonly address: string;
  readonly block: string;
  /** The block's affinity ("host:n1"), undefined when unaffine. */
  readonly affinity: string | undefined;
  readonly handleId: string | undefined;
  readonly node: string | undefined;
}

export function snapshotOf(store: Store): Promise<IpamSnapshot> {
  return new IpamDatastore(store).snapshot();
}

/** Every allocation in every block. */
export function allocations(snapshot: IpamSnapshot): Allocation[] {
  return snapshot.blocks.flatMap(({ value }) =>
    allocatedOrdinals(value).map((ordinal) => ({
      address: formatAddress(ordinalAddress(value, ordinal)),
      block: formatCidr(value.cidr),
      affinity: value.affinity,
      handleId: attributeOf(value, ordinal)?.handleId,
      node: attributeOf(value, ordinal)?.secondary.node,
    })),
  );
}

/** handle id → total count over its blocks. */
export function handleTotals(snapshot: IpamSnapshot): Map<string, number> {
  return new Map(
    snapshot.handles.map(({ value }) => [
      value.handleId,
      Object.values(value.block).reduce((a, b) => a + b, 0),
    ]),
  );
}

/** `store`, counting the transactions made through it. */
export function countingStore(store: Store): { store: Store; transactions: () => number } {
  let transactions = 0;
  const counted: Store = {
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    create: (key, value) => store.create(key, value),
    update: (key, value, rev) => store.update(key, value, rev),
    delete: (key, rev) => store.delete(key, rev),
    transact: (ops) => {
      transactions += 1;
      return store.transact(ops);
    },
    watch: (prefix, from) => store.watch(prefix, from),
    health$: store.health$,
    close: () => store.close(),
  };
  return { store: counted, transactions: () => transactions };
}

// ---------------------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing property run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(random: () => number, below: number): number {
  return Math.floor(random() * below);
}
