// `ipam check` (src/ipam/check.ts) on crafted states: every residue a cut-short operation can leave,
// reported with its kind; what --fix repairs (only the provably safe, and residue only once it is
// older than the minimum age); what it never touches. Runs on LMDB; the protocol paths that produce
// these states are exercised on both backends by scenarios.ts and contention.test.ts.

import test from 'ava';
import type { ExecutionContext } from 'ava';

import { IpamClient } from '../../src/ipam/allocator.ts';
import { assign, newBlock } from '../../src/ipam/block.ts';
import { addressAt, formatAddress, parseCidr } from '../../src/ipam/cidr.ts';
import { checkIpam, DEFAULT_MIN_AGE_MS } from '../../src/ipam/check.ts';
import type { CheckReport } from '../../src/ipam/check.ts';
import { IpamDatastore } from '../../src/ipam/datastore.ts';
import { blockKey } from '../../src/ipam/keys.ts';
import { showIpam } from '../../src/ipam/show.ts';
import { lmdbBackend, seedPool } from './support.ts';

const T0 = Date.parse('2026-08-01T10:00:00Z');
const cidr = (text: string) => parseCidr(text)!;

function summary(report: CheckReport, which: 'problems' | 'fixed' = 'problems'): string[] {
  return report[which].map((p) => `${p.kind} ${p.key}${p.repair ? ` → ${p.repair.action}` : ''}`).sort();
}

/** Every kind of trouble, written straight into the store at time T0. */
async function damagedStore(t: ExecutionContext) {
  const store = await lmdbBackend.open(t);
  await seedPool(store, 'pool', { cidr: '10.65.0.0/16', blockSize: 26 });
  const ds = new IpamDatastore(store);
  const ipam = new IpamClient({ store, now: () => T0 });
  // A healthy allocation, for contrast.
  await ipam.autoAssign({ node: 'n1', handleId: 'ok', num4: 1, intendedUse: 'Workload' });
  const pending = (
    node: string,
    block: string,
    state: 'pending' | 'confirmed' | 'pendingDeletion' = 'pending',
  ) => ds.createAffinity({ node, cidr: cidr(block), state, claimTime: T0 });
  const mkBlock = (block: string, host: string | undefined, owner?: { handleId: string; count: number }) => {
    const empty = newBlock(cidr(block), {
      affinity: host && `host:${host}`,
      affinityClaimTime: T0,
      sequenceNumber: 1,
    });
    const filled = owner
      ? assign(empty, owner.count, { handleId: owner.handleId, secondary: { node: 'n9' } }).block
      : empty;
    return ds.createBlock(filled);
  };
  // Claims cut short: a pending affinity with no block; one whose block was created but not confirmed.
  await pending('n2', '10.65.1.0/26');
  await pending('n2', '10.65.1.64/26');
  await mkBlock('10.65.1.64/26', 'n2');
  // A release cut short after it rewrote the block; one cut short before.
  await pending('n3', '10.65.2.0/26', 'pendingDeletion');
  await mkBlock('10.65.2.0/26', undefined, { handleId: 'rel', count: 1 });
  await ds.createHandle({ handleId: 'rel', block: { '10.65.2.0/26': 1 }, updatedAt: T0 });
  await pending('n3', '10.65.2.64/26', 'pendingDeletion');
  await mkBlock('10.65.2.64/26', 'n3');
  // An assignment cut short after raising its handle; a handle below its blocks; a handle gone.
  await ds.createHandle({ handleId: 'raised', block: { '10.65.2.0/26': 1 }, updatedAt: T0 });
  await mkBlock('10.65.3.0/26', 'n4', { handleId: 'under', count: 2 });
  await pending('n4', '10.65.3.0/26', 'confirmed');
  await ds.createHandle({ handleId: 'under', block: { '10.65.3.0/26': 1 }, updatedAt: T0 });
  await mkBlock('10.65.3.64/26', undefined, { handleId: 'gone', count: 1 });
  // Not left by the protocol: a confirmed affinity without a block, a block without its affinity,
  // a block outside every pool, overlapping blocks, an undecodable record.
  await pending('n5', '10.65.4.0/26', 'confirmed');
  await mkBlock('10.65.5.0/26', 'n6');
  await mkBlock('10.99.0.0/26', undefined);
  await mkBlock('10.65.6.0/25', undefined);
  await mkBlock('10.65.6.0/26', undefined);
  await store.create(`${blockKey(cidr('10.65.7.0/26'))}`, JSON.stringify({ cidr: '10.65.7.0/26' }));
  return { store, ds };
}

const REPORTED = [
  'block-outside-pools ipam/v2/block/10.99.0.0-26',
  'block-without-affinity ipam/v2/block/10.65.5.0-26',
  'handle-mismatch ipam/v2/handle/raised',
  'handle-mismatch ipam/v2/handle/under → set-handle',
  'invalid-record ipam/v2/block/10.65.7.0-26',
  'leaked-address ipam/v2/handle/gone → set-handle',
  'orphaned-affinity ipam/v2/affinity/host:n2/10.65.1.0-26',
  'orphaned-affinity ipam/v2/affinity/host:n3/10.65.2.0-26 → delete-affinity',
  'orphaned-affinity ipam/v2/affinity/host:n5/10.65.4.0-26',
  'overlapping-blocks ipam/v2/block/10.65.6.0-26',
  'stalled-release ipam/v2/affinity/host:n3/10.65.2.64-26',
  'unconfirmed-affinity ipam/v2/affinity/host:n2/10.65.1.64-26',
];

test('check reports every kind of trouble, and offers repairs only for the safe ones', async (t) => {
  const { store } = await damagedStore(t);
  const report = await checkIpam(store, { now: () => T0 + 1_000 });
  t.deepEqual(summary(report), REPORTED);
  t.deepEqual(report.fixed, []);
  const raised = report.problems.find((p) => p.key.endsWith('/raised'))!;
  t.regex(raised.detail, /10\.65\.2\.0\/26: handle 1, blocks 0/);
  t.regex(raised.explanation, /an allocator that wrote handle and block one after the other/);
});

test('check --fix repairs young residue only where age does not matter, then the rest once old', async (t) => {
  const { store, ds } = await damagedStore(t);
  const young = await checkIpam(store, { fix: true, now: () => T0 + 1_000 });
  t.deepEqual(summary(young, 'fixed'), [
    'handle-mismatch ipam/v2/handle/under → set-handle',
    'leaked-address ipam/v2/handle/gone → set-handle',
    'orphaned-affinity ipam/v2/affinity/host:n3/10.65.2.0-26 → delete-affinity',
  ]);
  t.deepEqual((await ds.getHandle('under'))?.value.block, { '10.65.3.0/26': 2 });
  t.deepEqual((await ds.getHandle('gone'))?.value.block, { '10.65.3.64/26': 1 });

  const old = await checkIpam(store, { fix: true, now: () => T0 + DEFAULT_MIN_AGE_MS + 1 });
  t.deepEqual(summary(old, 'fixed'), [
    'handle-mismatch ipam/v2/handle/raised → set-handle',
    'orphaned-affinity ipam/v2/affinity/host:n2/10.65.1.0-26 → delete-affinity',
    'unconfirmed-affinity ipam/v2/affinity/host:n2/10.65.1.64-26 → confirm-affinity',
  ]);
  t.is(await ds.getHandle('raised'), undefined, 'a handle holding nothing is deleted');
  t.is((await ds.getAffinity('n2', cidr('10.65.1.64/26')))?.value.state, 'confirmed');

  // What is left is for a human: --fix never touches it.
  const after = await checkIpam(store, { fix: true, now: () => T0 + 10 * DEFAULT_MIN_AGE_MS });
  t.deepEqual(after.fixed, []);
  t.deepEqual(summary(after), [
    'block-outside-pools ipam/v2/block/10.99.0.0-26',
    'block-without-affinity ipam/v2/block/10.65.5.0-26',
    'invalid-record ipam/v2/block/10.65.7.0-26',
    'orphaned-affinity ipam/v2/affinity/host:n5/10.65.4.0-26',
    'overlapping-blocks ipam/v2/block/10.65.6.0-26',
    'stalled-release ipam/v2/affinity/host:n3/10.65.2.64-26',
  ]);
});

test('a repair is a CAS at the revision the check read: a record changed since is left alone', async (t) => {
  const store = await lmdbBackend.open(t);
  await seedPool(store, 'pool', { cidr: '10.65.0.0/16' });
  const ds = new IpamDatastore(store);
  await ds.createHandle({ handleId: 'h', block: { '10.65.0.0/26': 1 }, updatedAt: T0 });
  // Between the check's read and its write, another writer changes the handle.
  const racing = {
    read: async () => {
      const current = (await ds.getHandle('h'))!;
      await ds.updateHandle({ ...current.value, block: { '10.65.0.0/26': 2 } }, current.modRevision);
      return { pools: [], ipamConfiguration: undefined, nodeLabels: {} };
    },
  };
  const report = await checkIpam(store, { fix: true, now: () => T0 + DEFAULT_MIN_AGE_MS, resources: racing });
  t.is(report.problems.length, 1);
  t.deepEqual(report.fixed, []);
  t.deepEqual((await ds.getHandle('h'))?.value.block, { '10.65.0.0/26': 2 });
});

test('show: pool size and use, blocks per node, borrowed addresses, one address', async (t) => {
  const store = await lmdbBackend.open(t);
  await seedPool(store, 'pool', { cidr: '10.65.0.0/24', blockSize: 26 });
  await seedPool(store, 'v6', { cidr: 'fd00:65::/64' });
  const ipam = new IpamClient({ store });
  const a = await ipam.autoAssign({ node: 'n1', handleId: 'a', num4: 3, num6: 1, intendedUse: 'Workload' });
  const b = await ipam.autoAssign({ node: 'n2', handleId: 'b', num4: 1, intendedUse: 'Workload' });
  const inN1Block = formatAddress(addressAt(cidr(a.ipv4[0].block), 10));
  const borrowed = await ipam.assignIp({ node: 'n2', address: inN1Block, handleId: 'c' });
  const show = await showIpam(store, { showBlocks: true, ip: borrowed.address });
  t.deepEqual(
    show.pools.map((p) => [p.name, p.size, p.inUse, p.free, p.blocks, p.borrowed]),
    [
      ['pool', 256n, 5, 251n, 2, 1],
      ['v6', 1n << 64n, 1, (1n << 64n) - 1n, 1, 0],
    ],
  );
  t.deepEqual(
    show.nodes.map((n) => [n.node, n.blocks, n.inUse, n.borrowed]),
    [
      ['n1', 2, 4, 0],
      ['n2', 1, 2, 1],
    ],
  );
  t.is(show.blocks?.length, 3);
  t.deepEqual(show.blocks?.find((x) => x.cidr === b.ipv4[0].block)?.node, 'n2');
  t.like(show.address, {
    address: inN1Block,
    state: 'in-use',
    pool: 'pool',
    handleId: 'c',
    borrowed: true,
    attributes: { node: 'n2' },
  });
  const free = formatAddress(addressAt(cidr(a.ipv4[0].block), 11));
  t.like((await showIpam(store, { ip: free })).address, { state: 'free' });
  t.like((await showIpam(store, { ip: '10.9.9.9' })).address, { state: 'not-in-pool' });
});

test('leaked-workload: this node’s allocations whose netns is gone, after the grace period; --fix releases them', async (t) => {
  const store = await lmdbBackend.open(t);
  await seedPool(store, 'pool', { cidr: '10.65.0.0/16', blockSize: 26 });
  const ipam = new IpamClient({ store, now: () => T0 });
  const pod = (node: string, handleId: string, netns?: string) =>
    ipam.autoAssign({
      node,
      handleId,
      num4: 1,
      intendedUse: 'Workload',
      attrs: netns
        ? { netns, containerID: handleId, timestamp: new Date(T0).toISOString() }
        : { type: 'gateway' },
    });
  const gone = (await pod('n1', 'gone', '/var/run/netns/gone')).ipv4[0];
  await pod('n1', 'live', '/var/run/netns/live');
  await pod('n1', 'brindle-gateway.n1.pool'); // no netns: never a workload leak
  await pod('n2', 'elsewhere', '/var/run/netns/gone'); // another node's path means nothing here
  const workloads = { node: 'n1', graceMs: 60_000, netnsExists: (path: string) => path.endsWith('/live') };

  const young = await checkIpam(store, { workloads, now: () => T0 + 59_000, fix: true });
  t.deepEqual(summary(young), []);
  const old = await checkIpam(store, { workloads, now: () => T0 + 60_000 });
  t.deepEqual(summary(old), [
    `leaked-workload ipam/v2/block/${gone.block.replace('/', '-')} → release-address`,
  ]);
  t.like(old.problems[0], { handleId: 'gone', node: 'n1' });
  t.regex(old.problems[0].detail, new RegExp(`^${gone.address.replaceAll('.', '\\.')} .*container gone`));

  const fixed = await checkIpam(store, { workloads, now: () => T0 + 60_000, fix: true });
  t.is(fixed.fixed.length, 1);
  t.is((await showIpam(store, { ip: gone.address })).address?.state, 'free');
  t.deepEqual(summary(await checkIpam(store, { workloads, now: () => T0 + 60_000 })), []);
});
