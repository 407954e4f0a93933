// IPAM allocation throughput (targets: ≥ 2,000 durable allocations/s on the embedded store, ≥ 300/s on
// etcd, from one node): autoAssign of one IPv4 address per call, each under its own handle (as the CNI
// plugin does per pod), with one allocator and with 8 concurrent allocators in this process sharing
// one node (a kubelet starting pods in parallel: they contend for the same blocks), and, for contrast,
// 8 allocators for 8 nodes (no shared block; shows how far the store batches commits). Every case gets a
// fresh store (a temp dir; an etcd key prefix) and is bounded by a count and a deadline.
//
// Durable: the embedded store fsyncs each commit before it resolves (lmdb-store.ts); etcd acknowledges
// a write once its WAL is fsynced.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openStore } from '../src/datastore/open.ts';
import type { Store } from '../src/datastore/store.ts';
import { IpamClient } from '../src/ipam/index.ts';
import { ResourceStore } from '../src/reflector/resources/store.ts';
import { startEtcd } from '../test/helpers/etcd.ts';
import type { BenchRow } from './table.ts';

const NODE = 'bench-node';
const DEADLINE_MS = 15_000;
const CONCURRENCY = 8;

interface Backend {
  readonly name: string;
  readonly allocations: number;
  readonly target: number;
  /** A fresh, empty store for one case, and how to dispose of it. */
  readonly open: (tag: string) => Promise<{ store: Store; dispose: () => Promise<void> }>;
}

async function addPool(store: Store): Promise<void> {
  // /22 blocks: the default limit of 20 blocks per host holds 20,480 addresses.
  const written = await new ResourceStore(store).write(
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'bench' },
      spec: { cidr: '10.80.0.0/12', blockSize: 22, nodeSelector: 'all()' },
    },
    'apply',
  );
  if (!written.ok) throw new Error(written.errors.join('\n'));
}

/** `workers` allocators share `total` allocations; stops at the deadline. Returns allocations/s. */
async function measure(
  store: Store,
  workers: number,
  total: number,
  nodes: 'one node' | 'a node each',
): Promise<{ rate: number; done: number; timedOut: boolean }> {
  let next = 0;
  let done = 0;
  const deadline = performance.now() + DEADLINE_MS;
  const start = performance.now();
  const worker = async (id: number) => {
    const client = new IpamClient({ store });
    while (next < total && performance.now() < deadline) {
      const n = next++;
      await client.autoAssign({
        node: nodes === 'one node' ? NODE : `${NODE}-${id}`,
        handleId: `bench.${id}.${n}`,
        num4: 1,
        intendedUse: 'Workload',
      });
      done++;
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, id) => worker(id)));
  const seconds = (performance.now() - start) / 1000;
  return { rate: done / seconds, done, timedOut: done < total };
}

async function runBackend(backend: Backend): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const cases = [
    { workers: 1, nodes: 'one node', name: '1 allocator' },
    { workers: CONCURRENCY, nodes: 'one node', name: `${CONCURRENCY} concurrent allocators, one node` },
    { workers: CONCURRENCY, nodes: 'a node each', name: `${CONCURRENCY} concurrent allocators, a node each` },
  ] as const;
  for (const [index, { workers, nodes, name }] of cases.entries()) {
    const { store, dispose } = await backend.open(`case${index}`);
    try {
      await addPool(store);
      // Warm-up: the first claim of a block and module loading are not what is measured.
      await new IpamClient({ store }).autoAssign({
        node: NODE,
        handleId: 'warmup',
        num4: 1,
        intendedUse: 'Workload',
      });
      const { rate, done, timedOut } = await measure(store, workers, backend.allocations, nodes);
      rows.push({
        suite: 'ipam',
        case: `${backend.name}, ${name}`,
        metric: 'allocations/s',
        value: rate,
        unit: 'alloc/s',
        target: `≥ ${backend.target.toLocaleString('en-US')}`,
        // The target is for one node; the a-node-each case shows how far commits batch.
        ...(nodes === 'one node' ? { met: rate >= backend.target } : {}),
        note: `${done} allocations${timedOut ? `, stopped at the ${DEADLINE_MS / 1000} s deadline` : ''}`,
      });
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
      allocations: 4_000,
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
        allocations: 1_500,
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
