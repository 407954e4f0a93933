// Many processes allocating at once against one real etcd (§7.4): 8 worker processes on 4 nodes (two
// per node, so they race for the same blocks as well as across hosts) × 500 single-address
// autoAssigns. Every address must be handed out once, the blocks must hold exactly the acknowledged
// allocations, every handle must match its block, and `ipam check` must find nothing. Then the same
// with one worker SIGKILLed mid-run: the survivors finish, nothing acknowledged is lost, `check`
// reports only the residue the crash-consistency table in allocator.ts allows (and only for the dead
// worker), a new allocation on its node succeeds, and `check --fix` clears the rest.

import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import test from 'ava';
import type { ExecutionContext } from 'ava';

import { openEtcdStore } from '../../src/datastore/etcd-store.ts';
import type { Store } from '../../src/datastore/store.ts';
import { IpamClient } from '../../src/ipam/allocator.ts';
import { checkIpam, DEFAULT_MIN_AGE_MS } from '../../src/ipam/check.ts';
import type { IpamProblem } from '../../src/ipam/check.ts';
import { startEtcd } from '../helpers/etcd.ts';
import type { EtcdHandle } from '../helpers/etcd.ts';
import { waitFor } from '../helpers/netns.ts';
import { allocations, seedPool, snapshotOf } from './support.ts';
import type { WorkerMessage } from './worker.ts';

const WORKERS = 8;
const NODES = 4;
const PER_WORKER = 500;
/** Requests each worker keeps in flight: CNI invocations on one node overlap too. */
const CONCURRENCY = 2;
const WAIT_MS = 90_000;
const WORKER_SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url));

let etcd: EtcdHandle | undefined;
let prefixes = 0;

test.before(async () => {
  etcd = await startEtcd();
});

test.after.always(async () => {
  await etcd?.stop();
});

interface Worker {
  readonly id: string;
  readonly node: string;
  readonly process: ChildProcess;
  readonly assigned: Extract<WorkerMessage, { type: 'assigned' }>[];
  readonly ready: Promise<void>;
  /** Resolves with the worker's own time and CPU; rejects if it fails or exits first. */
  readonly done: Promise<{ elapsedMs: number; cpuMs: number }>;
  readonly exited: Promise<void>;
}

function startWorker(t: ExecutionContext, prefix: string, index: number): Worker {
  const id = `w${index}`;
  const node = `node-${index % NODES}`;
  const args = [etcd!.endpoint, prefix, node, String(PER_WORKER), id, String(CONCURRENCY)];
  const child = fork(WORKER_SCRIPT, args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const assigned: Extract<WorkerMessage, { type: 'assigned' }>[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const done = new Promise<{ elapsedMs: number; cpuMs: number }>((resolve, reject) => {
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') markReady();
      else if (message.type === 'assigned') assigned.push(message);
      else if (message.type === 'done') resolve(message);
      else reject(new Error(`${id} failed: ${message.message}`));
    });
    void exited.then(() => reject(new Error(`${id} exited before it was done`)));
  });
  done.catch(() => undefined); // A killed worker never finishes; the test looks at it when it cares.
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { id, node, process: child, assigned, ready, done, exited };
}

async function openPrefixedStore(t: ExecutionContext): Promise<{ store: Store; prefix: string }> {
  prefixes += 1;
  const prefix = `/brindle-contention-${prefixes}/`;
  const store = openEtcdStore({ endpoints: [etcd!.endpoint], prefix });
  t.teardown(() => store.close());
  await seedPool(store, 'pool', { cidr: '10.64.0.0/16', blockSize: 26 });
  return { store, prefix };
}

/** Start every worker, wait until all are connected, then let them go at once. */
async function runWorkers(
  t: ExecutionContext,
  prefix: string,
): Promise<{ workers: Worker[]; startedAt: number }> {
  const workers = Array.from({ length: WORKERS }, (_, i) => startWorker(t, prefix, i));
  await withTimeout(Promise.all(workers.map((w) => w.ready)), WAIT_MS, 'workers to connect');
  const startedAt = performance.now();
  for (const worker of workers) worker.process.send({ type: 'go' });
  return { workers, startedAt };
}

test.serial(
  '8 processes × 500 allocations at once: 4,000 distinct addresses, exact accounting, check clean',
  async (t) => {
    const { store, prefix } = await openPrefixedStore(t);
    const { workers, startedAt } = await runWorkers(t, prefix);
    const done = await withTimeout(Promise.all(workers.map((w) => w.done)), WAIT_MS, 'the workers');
    t.log(
      `allocation phase ${Math.round(performance.now() - startedAt)} ms wall; per worker ` +
        done.map((d) => `${Math.round(d.elapsedMs)} ms (cpu ${Math.round(d.cpuMs)})`).join(', ') +
        `; etcd cpu ${etcdCpuMs()} ms`,
    );
    const acked = workers.flatMap((w) => w.assigned);
    t.is(acked.length, WORKERS * PER_WORKER);
    t.is(new Set(acked.map((a) => a.address)).size, WORKERS * PER_WORKER, 'no address handed out twice');

    const snapshot = await snapshotOf(store);
    const held = allocations(snapshot);
    t.is(held.length, WORKERS * PER_WORKER, 'block allocation counts add up to 4,000');
    t.deepEqual(held.map((a) => a.address).sort(), acked.map((a) => a.address).sort());
    const byHandle = new Map(held.map((a) => [a.handleId, a]));
    t.is(snapshot.handles.length, WORKERS * PER_WORKER);
    const wrongHandles = snapshot.handles.filter(({ value }) => {
      const counts = Object.entries(value.block);
      const block = byHandle.get(value.handleId)?.block;
      return counts.length !== 1 || counts[0][0] !== block || counts[0][1] !== 1;
    });
    t.deepEqual(wrongHandles, [], 'every handle counts exactly its one address');
    t.true(
      held.every((a) => a.affinity === `host:${a.node}`),
      'every address in its own host’s blocks',
    );
    // A host claims a block only when all of its blocks are full, so 1,000 addresses take exactly 16.
    for (let n = 0; n < NODES; n += 1) {
      const blocks = snapshot.blocks.filter((b) => b.value.affinity === `host:node-${n}`).length;
      t.is(blocks, Math.ceil((PER_WORKER * (WORKERS / NODES)) / 64), `node-${n} blocks`);
    }
    t.is(snapshot.affinities.length, snapshot.blocks.length, 'one affinity per block, nothing else');
    t.true(snapshot.affinities.every((a) => a.value.state === 'confirmed'));
    const report = await checkIpam(store);
    t.deepEqual(report.problems, [], 'ipam check is clean');
    t.is(report.summary.allocations, WORKERS * PER_WORKER);
  },
);

/** What a worker killed mid-allocation may leave behind (allocator.ts, "Crash consistency"). */
function explainedByTheKill(problem: IpamProblem, killed: Worker): boolean {
  const ofKilledNode = problem.node === killed.node;
  // A handle is written in the same transaction as its block, so no handle-mismatch is explained.
  switch (problem.kind) {
    case 'orphaned-affinity':
      return ofKilledNode && problem.detail.startsWith('pending affinity');
    case 'unconfirmed-affinity':
      return ofKilledNode;
    default:
      return false;
  }
}

test.serial(
  'one of the 8 processes SIGKILLed mid-run: nothing acknowledged lost, only explained residue',
  async (t) => {
    const { store, prefix } = await openPrefixedStore(t);
    const { workers } = await runWorkers(t, prefix);
    const [victim, ...survivors] = workers;
    await waitFor(() => victim.assigned.length >= 150, {
      timeoutMs: WAIT_MS,
      intervalMs: 5,
      what: 'the victim',
    });
    victim.process.kill('SIGKILL');
    await victim.exited;
    await withTimeout(Promise.all(survivors.map((w) => w.done)), WAIT_MS, 'the surviving workers');
    t.log(`victim acknowledged ${victim.assigned.length} before the kill`);

    const acked = workers.flatMap((w) => w.assigned);
    const held = allocations(await snapshotOf(store));
    const heldAddresses = new Set(held.map((a) => a.address));
    t.is(heldAddresses.size, held.length, 'no address allocated twice');
    t.deepEqual(
      acked.filter((a) => !heldAddresses.has(a.address)),
      [],
      'every acknowledged allocation is in its block',
    );
    // Allocations nobody acknowledged: the victim's in-flight requests whose block write landed.
    const ackedAddresses = new Set(acked.map((a) => a.address));
    const unacked = held.filter((a) => !ackedAddresses.has(a.address));
    t.true(unacked.length <= CONCURRENCY, `${unacked.length} unacknowledged allocations`);
    t.true(unacked.every((a) => a.handleId?.startsWith(`${victim.id}-`)));

    const report = await checkIpam(store);
    t.log(report.problems.map((p) => `${p.kind}: ${p.detail}`).join('\n') || 'check: clean');
    t.deepEqual(
      report.problems.filter((p) => !explainedByTheKill(p, victim)),
      [],
      'only residue a killed allocation can leave',
    );
    t.true(report.problems.length <= 2 * CONCURRENCY);

    // The victim's node allocates again (finishing or withdrawing its cut-short claims on the way) …
    const ipam = new IpamClient({ store });
    const again = await ipam.autoAssign({
      node: victim.node,
      handleId: 'after-kill',
      num4: 1,
      intendedUse: 'Workload',
    });
    t.false(heldAddresses.has(again.ipv4[0].address));
    // … and once old enough, check --fix repairs whatever is left; then check is clean.
    const later = (): number => Date.now() + DEFAULT_MIN_AGE_MS + 1_000;
    const fixed = await checkIpam(store, { fix: true, now: later });
    t.deepEqual(fixed.fixed, fixed.problems, 'every remaining problem is repairable');
    t.deepEqual((await checkIpam(store)).problems, []);
  },
);

/** etcd's CPU time so far, from /proc (utime + stime, in clock ticks of 10 ms). */
function etcdCpuMs(): number {
  const stat = readFileSync(`/proc/${etcd!.pid()}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}
