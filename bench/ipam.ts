// IPAM allocation throughput (targets: ≥ 2,000 durable allocations/s on the embedded store, ≥ 300/s on
// etcd, from one node): autoAssign of one IPv4 address per call, each under its own handle (as the CNI
// plugin does per pod). Cases:
//   - 1 allocator: one request at a time, each awaited before the next;
//   - 8 concurrent, one node: 8 requests in flight at all times through the node's one IpamClient (a
//     kubelet starting pods in parallel); they share the node's block, so the client batches them;
//   - 8 concurrent, a node each: 8 clients for 8 nodes, no shared block (how far the store itself
//     batches commits);
//   - 1 allocator, resources read per call: what a one-shot process (brindle-ipam) pays on top.
// Every client but the last reads pools from a ResourceCache that follows the store, as a long-lived
// process does. Blocks are the default /26, with the per-host block cap raised so a node can hold what
// a case allocates. Every case gets a fresh store (a temp dir; an etcd key prefix) and is bounded by a
// count and a deadline.
//
// Durable: the embedded store fsyncs each commit before it resolves (lmdb-store.ts); etcd acknowledges
// a write once its WAL is fsynced.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openStore } from '../src/datastore/open.ts';
import type { Store } from '../src/datastore/store.ts';
import { cachedResources, IpamClient } from '../src/ipam/index.ts';
import type { IpamResources } from '../src/ipam/index.ts';
import { silentLogger } from '../src/lib/log.ts';
import { ResourceCache, ResourceStore } from '../src/resources/store.ts';
import { startEtcd } from '../test/helpers/etcd.ts';
import type { BenchRow } from './table.ts';

const NODE = 'bench-node';
const DEADLINE_MS = 15_000;
const CONCURRENCY = 8;
/** /26 blocks; 200 of them hold 12,800 addresses per node, more than any case allocates. */
const BLOCK_SIZE = 26;
const MAX_BLOCKS_PER_HOST = 200;

interface Backend {
  readonly name: string;
  readonly allocations: number;
  readonly target: number;
  /** A fresh, empty store for one case, and how to dispose of it. */
  readonly open: (tag: string) => Promise<{ store: Store; dispose: () => Promise<void> }>;
}

interface Case {
  readonly name: string;
  readonly allocators: number;
  readonly nodes: 'one node' | 'a node each';
  readonly resources: 'cached' | 'read per call';
}

const CASES: readonly Case[] = [
  { name: '1 allocator', allocators: 1, nodes: 'one node', resources: 'cached' },
  {
    name: `${CONCURRENCY} concurrent allocators, one node`,
    allocators: CONCURRENCY,
    nodes: 'one node',
    resources: 'cached',
  },
  {
    name: `${CONCURRENCY} concurrent allocators, a node each`,
    allocators: CONCURRENCY,
    nodes: 'a node each',
    resources: 'cached',
  },
  {
    name: '1 allocator, resources read per call',
    allocators: 1,
    nodes: 'one node',
    resources: 'read per call',
  },
];

async function seed(store: Store): Promise<void> {
  const resources = new ResourceStore(store);
  for (const resource of [
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'bench' },
      spec: { cidr: '10.80.0.0/12', blockSize: BLOCK_SIZE, nodeSelector: 'all()' },
    },
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPAMConfiguration',
      metadata: { name: 'default' },
      // Calico accepts a block cap only with strict affinity; the bench borrows nothing anyway.
      spec: { maxBlocksPerHost: MAX_BLOCKS_PER_HOST, strictAffinity: true },
    },
  ]) {
    const written = await resources.write(resource, 'apply');
    if (!written.ok) throw new Error(written.errors.join('\n'));
  }
}

/** `allocators` loops share `total` allocations; stops at the deadline. Returns allocations/s. */
async function measure(
  clientFor: (allocator: number) => { client: IpamClient; node: string },
  allocators: number,
  total: number,
): Promise<{ rate: number; done: number; timedOut: boolean }> {
  let next = 0;
  let done = 0;
  const deadline = performance.now() + DEADLINE_MS;
  const start = performance.now();
  const loop = async (id: number) => {
    const { client, node } = clientFor(id);
    while (next < total && performance.now() < deadline) {
      const n = next++;
      await client.autoAssign({ node, handleId: `bench.${id}.${n}`, num4: 1, intendedUse: 'Workload' });
      done++;
    }
  };
  await Promise.all(Array.from({ length: allocators }, (_, id) => loop(id)));
  const seconds = (performance.now() - start) / 1000;
  return { rate: done / seconds, done, timedOut: done < total };
}

async function runCase(backend: Backend, store: Store, spec: Case): Promise<BenchRow> {
  await seed(store);
  const cache = new ResourceCache(store, silentLogger);
  try {
    await cache.start();
    const resources: IpamResources | undefined =
      spec.resources === 'cached' ? cachedResources(cache, store) : undefined;
    const nodes =
      spec.nodes === 'one node' ? [NODE] : Array.from({ length: spec.allocators }, (_, i) => `${NODE}-${i}`);
    const clients = nodes.map((node) => ({ client: new IpamClient({ store, resources }), node }));
    // Warm-up: each node's first block claim and module loading are not what is measured.
    for (const { client, node } of clients) {
      await client.autoAssign({ node, handleId: `warmup.${node}`, num4: 1, intendedUse: 'Workload' });
    }
    const { rate, done, timedOut } = await measure(
      (id) => clients[id % clients.length],
      spec.allocators,
      backend.allocations,
    );
    return {
      suite: 'ipam',
      case: `${backend.name}, ${spec.name}`,
      metric: 'allocations/s',
      value: rate,
      unit: 'alloc/s',
      target: `≥ ${backend.target.toLocaleString('en-US')}`,
      // The target is for one node with its allocator's usual (cached) view of the pools.
      ...(spec.nodes === 'one node' && spec.resources === 'cached' ? { met: rate >= backend.target } : {}),
      note: `${done} allocations${timedOut ? `, stopped at the ${DEADLINE_MS / 1000} s deadline` : ''}`,
    };
  } finally {
    cache.stop();
  }
}

async function runBackend(backend: Backend): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const [index, spec] of CASES.entries()) {
    const { store, dispose } = await backend.open(`case${index}`);
    try {
      rows.push(await runCase(backend, store, spec));
    } finally {
      await dispose();
    }
  }
  return rows;
}

export async function runIpamBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  rows.push(
    ...(await runBackend({
      name: 'embedded',
      allocations: 6_000,
      target: 2_000,
      open: async () => {
        const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-ipam-'));
        const store = await openStore({ backend: 'lmdb', path: join(dir, 'store') });
        return {
          store,
          dispose: async () => {
            await store.close();
            await rm(dir, { recursive: true, force: true });
          },
        };
      },
    })),
  );
  let etcd;
  try {
    etcd = await startEtcd();
  } catch (error) {
    rows.push({
      suite: 'ipam',
      case: 'etcd',
      metric: 'allocations/s',
      value: NaN,
      unit: 'alloc/s',
      target: '≥ 300',
      note: `etcd did not start: ${error instanceof Error ? error.message : String(error)}`,
    });
    return rows;
  }
  const endpoint = etcd.endpoint;
  try {
    rows.push(
      ...(await runBackend({
        name: 'etcd',
        allocations: 3_000,
        target: 300,
        open: async (tag) => {
          const store = await openStore({ backend: 'etcd', endpoints: [endpoint], prefix: `/bench-${tag}/` });
          return { store, dispose: () => store.close() };
        },
      })),
    );
  } finally {
    await etcd.stop();
  }
  return rows;
}
