// The IPAM client against a real store, run on every backend (allocator-lmdb.test.ts,
// allocator-etcd.test.ts): the claim protocol (§7.2 6c), auto-assign, the cap / strict / borrow /
// no-pool errors, assignIp, the release paths (§7.3), the residue of cut-short claims healing, and
// the batched block writes (block-writer.ts): concurrent requests of one client share a transaction,
// a remembered block that another client moved on is re-planned, never trusted.
// Every scenario ends with `ipam check` finding nothing: nothing is ever half-written.

import type { ExecutionContext, TestFn } from 'ava';

import type { Store } from '../../src/datastore/store.ts';
import { IpamClient } from '../../src/ipam/allocator.ts';
import { newBlock } from '../../src/ipam/block.ts';
import { formatCidr, parseCidr } from '../../src/ipam/cidr.ts';
import { checkIpam } from '../../src/ipam/check.ts';
import { IpamDatastore } from '../../src/ipam/datastore.ts';
import { isIpamError } from '../../src/ipam/errors.ts';
import type { IpamErrorCode } from '../../src/ipam/errors.ts';
import { blockWalk, ipamPool } from '../../src/ipam/pool.ts';
import { nodeRoutes } from '../../src/ipam/routes.ts';
import { showIpam } from '../../src/ipam/show.ts';
import type { IPAMConfigurationSpec, IPPoolSpec } from '../../src/resources/types.ts';
import type { Backend } from './support.ts';
import { allocations, countingStore, seedIpamConfig, seedNode, seedPool, snapshotOf } from './support.ts';

const POOL: IPPoolSpec = { cidr: '10.65.0.0/22', blockSize: 26 };
const POOL6: IPPoolSpec = { cidr: 'fd00:65::/120', blockSize: 122 };

interface Setup {
  readonly store: Store;
  readonly ipam: IpamClient;
  readonly ds: IpamDatastore;
}

async function setup(
  t: ExecutionContext,
  backend: Backend,
  options: { pools?: Record<string, IPPoolSpec>; config?: IPAMConfigurationSpec; now?: () => number } = {},
): Promise<Setup> {
  const store = await backend.open(t);
  for (const [name, spec] of Object.entries(options.pools ?? { pool4: POOL }))
    await seedPool(store, name, spec);
  if (options.config) await seedIpamConfig(store, options.config);
  return { store, ipam: new IpamClient({ store, now: options.now }), ds: new IpamDatastore(store) };
}

/** The blocks `node` walks through in POOL, in order (§7.2 6b). */
function walkOf(node: string, spec: IPPoolSpec = POOL): string[] {
  const pool = ipamPool({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name: 'p' },
    spec,
  })!;
  return [...blockWalk(pool, node)].map(formatCidr);
}

async function assertClean(t: ExecutionContext, store: Store): Promise<void> {
  const report = await checkIpam(store);
  t.deepEqual(
    report.problems.map((p) => `${p.kind}: ${p.detail}`),
    [],
    'ipam check finds nothing',
  );
}

async function rejects(t: ExecutionContext, promise: Promise<unknown>, code: IpamErrorCode, message: RegExp) {
  const error = await t.throwsAsync(promise);
  t.true(isIpamError(error, code), `expected ${code}, got ${String(error)}`);
  t.regex(error?.message ?? '', message);
}

async function affinityStates(ds: IpamDatastore, node: string): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await ds.listHostAffinities(node)).map((a) => [formatCidr(a.value.cidr), a.value.state]),
  );
}

export function allocatorScenarios(test: TestFn, backend: Backend): void {
  const name = (what: string): string => `${backend.name}: ${what}`;

  test(
    name('the first autoAssign claims the first block of the host walk: affinity confirmed, handle counted'),
    async (t) => {
      const { store, ipam, ds } = await setup(t, backend);
      const result = await ipam.autoAssign({
        node: 'node-a',
        handleId: 'h1',
        num4: 1,
        intendedUse: 'Workload',
      });
      const first = walkOf('node-a')[0];
      t.is(result.ipv4.length, 1);
      t.is(result.ipv4[0].block, first);
      t.is(result.ipv4[0].address, first.split('/')[0]);
      t.false(result.ipv4[0].borrowed);
      t.deepEqual(await affinityStates(ds, 'node-a'), { [first]: 'confirmed' });
      const block = await ds.getBlock(parseCidr(first)!);
      t.is(block?.value.affinity, 'host:node-a');
      t.deepEqual((await ds.getHandle('h1'))?.value.block, { [first]: 1 });
      await assertClean(t, store);
    },
  );

  test(name('a host fills its block before claiming the next one, in walk order'), async (t) => {
    const { store, ipam, ds } = await setup(t, backend);
    const result = await ipam.autoAssign({
      node: 'node-a',
      handleId: 'h',
      num4: 70,
      intendedUse: 'Workload',
    });
    const [first, second] = walkOf('node-a');
    t.is(result.ipv4.filter((a) => a.block === first).length, 64);
    t.is(result.ipv4.filter((a) => a.block === second).length, 6);
    t.deepEqual(await affinityStates(ds, 'node-a'), { [first]: 'confirmed', [second]: 'confirmed' });
    t.deepEqual((await ds.getHandle('h'))?.value.block, { [first]: 64, [second]: 6 });
    await assertClean(t, store);
  });

  test(
    name('a claim that loses the block to another host withdraws its affinity and takes the next'),
    async (t) => {
      const { store, ipam, ds } = await setup(t, backend);
      const [first, second] = walkOf('node-a');
      // node-b takes node-a's first block; node-a also holds a pending affinity for it, as a claim that
      // lost the race and was cut short before it withdrew would leave behind.
      await ipam.assignIp({ node: 'node-b', address: first.split('/')[0], handleId: 'b' });
      await ds.createAffinity({ state: 'pending', node: 'node-a', cidr: parseCidr(first)!, claimTime: 0 });
      const result = await ipam.autoAssign({
        node: 'node-a',
        handleId: 'a',
        num4: 1,
        intendedUse: 'Workload',
      });
      t.is(result.ipv4[0].block, second);
      t.deepEqual(await affinityStates(ds, 'node-a'), { [second]: 'confirmed' });
      t.is((await ds.getBlock(parseCidr(first)!))?.value.affinity, 'host:node-b');
      await assertClean(t, store);
    },
  );

  test(
    name('claims cut short are finished by the host: a pending affinity with or without its block'),
    async (t) => {
      const { store, ipam, ds } = await setup(t, backend);
      const [first, second] = walkOf('node-a').map((c) => parseCidr(c)!);
      await ds.createAffinity({ state: 'pending', node: 'node-a', cidr: first, claimTime: 0 });
      await ds.createAffinity({ state: 'pending', node: 'node-a', cidr: second, claimTime: 0 });
      await ds.createBlock(
        newBlock(second, { affinity: 'host:node-a', affinityClaimTime: 0, sequenceNumber: 1 }),
      );
      t.deepEqual((await checkIpam(store)).problems.map((p) => p.kind).sort(), [
        'orphaned-affinity',
        'unconfirmed-affinity',
      ]);
      const result = await ipam.autoAssign({
        node: 'node-a',
        handleId: 'a',
        num4: 65,
        intendedUse: 'Workload',
      });
      t.deepEqual(new Set(result.ipv4.map((a) => a.block)), new Set([formatCidr(first), formatCidr(second)]));
      t.deepEqual(await affinityStates(ds, 'node-a'), {
        [formatCidr(first)]: 'confirmed',
        [formatCidr(second)]: 'confirmed',
      });
      await assertClean(t, store);
    },
  );

  test(
    name('per-host block cap: "cannot allocate new block due to per host block limit", nothing kept'),
    async (t) => {
      const { store, ipam, ds } = await setup(t, backend, {
        config: { strictAffinity: true, maxBlocksPerHost: 1 },
      });
      await rejects(
        t,
        ipam.autoAssign({ node: 'node-a', handleId: 'h', num4: 65, intendedUse: 'Workload' }),
        'block-limit',
        /cannot allocate new block due to per host block limit \(1 blocks; assigned 64 of 65/,
      );
      // The 64 addresses of the first block were released again; the block stays affine (§7.3).
      t.deepEqual(allocations(await snapshotOf(store)), []);
      t.is(await ds.getHandle('h'), undefined);
      t.deepEqual(await affinityStates(ds, 'node-a'), { [walkOf('node-a')[0]]: 'confirmed' });
      // Existing blocks still fill.
      t.is((await ipam.autoAssign({ node: 'node-a', num4: 64, intendedUse: 'Workload' })).ipv4.length, 64);
      await assertClean(t, store);
    },
  );

  test(name('strict affinity off: at the cap a host borrows from another host’s block'), async (t) => {
    const { store, ipam } = await setup(t, backend);
    const b = await ipam.autoAssign({ node: 'node-b', handleId: 'b', num4: 1, intendedUse: 'Workload' });
    const result = await ipam.autoAssign({
      node: 'node-a',
      handleId: 'a',
      num4: 65,
      intendedUse: 'Workload',
      maxBlocksPerHost: 1,
    });
    const borrowed = result.ipv4.filter((a) => a.borrowed);
    t.is(borrowed.length, 1);
    t.is(borrowed[0].block, b.ipv4[0].block);
    const routes = nodeRoutes(
      'node-a',
      (await snapshotOf(store)).affinities.map((a) => a.value),
      (await snapshotOf(store)).blocks.map((x) => x.value),
      [],
    );
    t.true(
      routes.originate.some((p) => formatCidr(p) === `${borrowed[0].address}/32`),
      'a borrowed /32 is routed',
    );
    await assertClean(t, store);
  });

  test(name('strict affinity on: no borrowing; an exhausted pool names strict affinity'), async (t) => {
    const { store, ipam } = await setup(t, backend, {
      pools: { tiny: { cidr: '10.66.0.0/26' } },
      config: { strictAffinity: true },
    });
    await ipam.autoAssign({ node: 'node-b', num4: 1, intendedUse: 'Workload' });
    await rejects(
      t,
      ipam.autoAssign({ node: 'node-a', num4: 1, intendedUse: 'Workload' }),
      'pool-exhausted',
      /no more free affine blocks and strict affinity enabled \(pools: tiny/,
    );
    await seedIpamConfig(store, { strictAffinity: false });
    const borrowed = await ipam.autoAssign({ node: 'node-a', num4: 1, intendedUse: 'Workload' });
    t.true(borrowed.ipv4[0].borrowed);
    await ipam.autoAssign({ node: 'node-a', num4: 62, intendedUse: 'Workload' });
    await rejects(
      t,
      ipam.autoAssign({ node: 'node-a', num4: 1, intendedUse: 'Workload' }),
      'pool-exhausted',
      /no IPs available in pools: tiny/,
    );
    await assertClean(t, store);
  });

  test(name('no pool for the node: the error names the node and the cause'), async (t) => {
    const { store, ipam } = await setup(t, backend, {
      pools: { racked: { cidr: '10.65.0.0/22', nodeSelector: "rack == 'r1'" } },
    });
    await seedNode(store, 'node-a', { rack: 'r2' });
    await rejects(
      t,
      ipam.autoAssign({ node: 'node-a', num4: 1, intendedUse: 'Workload' }),
      'no-pool',
      /no configured Calico pools for node node-a \(IPv4: racked nodeSelector "rack == 'r1'" does not match\)/,
    );
    await seedNode(store, 'node-a', { rack: 'r1' });
    t.is((await ipam.autoAssign({ node: 'node-a', num4: 1, intendedUse: 'Workload' })).ipv4.length, 1);
    await rejects(
      t,
      ipam.autoAssign({ node: 'node-a', handleId: 'dual', num4: 1, num6: 1, intendedUse: 'Workload' }),
      'no-pool',
      /node node-a \(no IPv6 pools exist\)/,
    );
    // The IPv4 half of the failed dual-stack request was rolled back.
    t.is(allocations(await snapshotOf(store)).length, 1);
    await assertClean(t, store);
  });

  test(name('dual stack: IPv4 and IPv6 from their own blocks, released together by handle'), async (t) => {
    const { store, ipam, ds } = await setup(t, backend, { pools: { pool4: POOL, pool6: POOL6 } });
    const result = await ipam.autoAssign({
      node: 'node-a',
      handleId: 'pod',
      num4: 1,
      num6: 2,
      intendedUse: 'Workload',
    });
    t.is(result.ipv4.length, 1);
    t.deepEqual(
      result.ipv6.map((a) => a.block),
      [walkOf('node-a', POOL6)[0], walkOf('node-a', POOL6)[0]],
    );
    t.is(Object.keys((await ds.getHandle('pod'))!.value.block).length, 2);
    const released = await ipam.releaseByHandle('pod');
    t.deepEqual([...released.released].sort(), [...result.ipv4, ...result.ipv6].map((a) => a.address).sort());
    t.is(await ds.getHandle('pod'), undefined);
    t.deepEqual(await ipam.releaseByHandle('pod'), { released: [] });
    await assertClean(t, store);
  });

  test(
    name('assignIp: a specific address, refused when taken, outside pools or in a strict foreign block'),
    async (t) => {
      const { store, ipam } = await setup(t, backend);
      const address = await ipam.assignIp({ node: 'node-a', address: '10.65.1.7', handleId: 'a' });
      t.is(address.block, '10.65.1.0/26');
      t.false(address.borrowed);
      await rejects(
        t,
        ipam.assignIp({ node: 'node-b', address: '10.65.1.7', handleId: 'b' }),
        'already-allocated',
        /10\.65\.1\.7 is already allocated \(handle a\)/,
      );
      await rejects(
        t,
        ipam.assignIp({ node: 'node-b', address: '10.99.0.1' }),
        'not-in-pool',
        /not in any enabled IPPool/,
      );
      const borrowed = await ipam.assignIp({ node: 'node-b', address: '10.65.1.8', handleId: 'b' });
      t.true(borrowed.borrowed);
      await seedIpamConfig(store, { strictAffinity: true });
      await rejects(
        t,
        ipam.assignIp({ node: 'node-b', address: '10.65.1.9' }),
        'strict-affinity',
        /block 10\.65\.1\.0\/26 belongs to host:node-a and strictAffinity is on/,
      );
      await assertClean(t, store);
    },
  );

  test(
    name('releaseIps: handle and sequence checks refuse stale releases; unallocated is reported'),
    async (t) => {
      const { store, ipam } = await setup(t, backend);
      const [a] = (await ipam.autoAssign({ node: 'node-a', handleId: 'a', num4: 1, intendedUse: 'Workload' }))
        .ipv4;
      t.deepEqual(await ipam.releaseIps([{ address: a.address, handleId: 'other' }]), {
        released: [],
        notAllocated: [],
        refused: [{ address: a.address, reason: `${a.address}: allocated to handle "a", not "other"` }],
      });
      t.deepEqual(
        await ipam.releaseIps([{ address: a.address, handleId: 'a', sequenceNumber: a.sequenceNumber }]),
        {
          released: [a.address],
          notAllocated: [],
          refused: [],
        },
      );
      // The same address handed out again (64 later: FIFO) — the old release must not free it.
      const again = await ipam.assignIp({ node: 'node-a', address: a.address, handleId: 'a' });
      const stale = await ipam.releaseIps([
        { address: a.address, handleId: 'a', sequenceNumber: a.sequenceNumber },
      ]);
      t.is(stale.refused.length, 1);
      t.regex(stale.refused[0].reason, /stale release/);
      t.deepEqual(await ipam.releaseIps([{ address: '10.65.3.3' }, { address: '10.200.0.1' }]), {
        released: [],
        notAllocated: ['10.200.0.1', '10.65.3.3'],
        refused: [],
      });
      t.deepEqual(
        (await ipam.releaseIps([{ address: a.address, sequenceNumber: again.sequenceNumber }])).released,
        [a.address],
      );
      await assertClean(t, store);
    },
  );

  test(
    name('an empty block stays while affine; an unaffine one is deleted when its last address goes'),
    async (t) => {
      const { store, ipam, ds } = await setup(t, backend);
      const [a, b] = (
        await ipam.autoAssign({ node: 'node-a', handleId: 'h', num4: 2, intendedUse: 'Workload' })
      ).ipv4;
      const cidr = parseCidr(a.block)!;
      await ipam.releaseIps([{ address: a.address }]);
      t.deepEqual(await ipam.releaseHostAffinities('node-a', { requireEmpty: true }), {
        released: [],
        notEmpty: [a.block],
      });
      t.deepEqual(await affinityStates(ds, 'node-a'), { [a.block]: 'confirmed' });
      t.deepEqual(await ipam.releaseHostAffinities('node-a'), { released: [a.block], notEmpty: [] });
      t.is((await ds.getBlock(cidr))?.value.affinity, undefined, 'non-empty: kept, unaffine, borrowable');
      t.deepEqual(await affinityStates(ds, 'node-a'), {});
      await ipam.releaseIps([{ address: b.address }]);
      t.is(await ds.getBlock(cidr), undefined, 'empty and unaffine: deleted');
      await assertClean(t, store);
    },
  );

  test(
    name('releaseHostAffinities deletes empty blocks; a pool that stops selecting the node drops them'),
    async (t) => {
      const { store, ipam, ds } = await setup(t, backend, {
        pools: {
          racked: { ...POOL, nodeSelector: "rack == 'r1'" },
          other: { cidr: '10.70.0.0/22', blockSize: 26 },
        },
      });
      await seedNode(store, 'node-a', { rack: 'r1' });
      const [a] = (
        await ipam.autoAssign({
          node: 'node-a',
          handleId: 'h',
          num4: 1,
          ipv4Pools: ['racked'],
          intendedUse: 'Workload',
        })
      ).ipv4;
      await ipam.releaseByHandle('h');
      t.deepEqual(await affinityStates(ds, 'node-a'), { [a.block]: 'confirmed' });
      // §7.2 step 4: once the pool no longer selects node-a, its empty block there is released.
      await seedNode(store, 'node-a', { rack: 'r2' });
      const next = await ipam.autoAssign({ node: 'node-a', num4: 1, intendedUse: 'Workload' });
      t.true(next.ipv4[0].address.startsWith('10.70.'));
      t.is(await ds.getBlock(parseCidr(a.block)!), undefined);
      t.deepEqual(Object.keys(await affinityStates(ds, 'node-a')), [next.ipv4[0].block]);
      t.deepEqual(await ipam.releaseHostAffinities('node-a'), {
        released: [next.ipv4[0].block],
        notEmpty: [],
      });
      t.deepEqual(await affinityStates(ds, 'node-a'), {});
      await assertClean(t, store);
    },
  );

  test(
    name('concurrent autoAssigns on three hosts in one process: distinct addresses, exact accounting'),
    async (t) => {
      const { store, ipam } = await setup(t, backend);
      const nodes = ['node-a', 'node-b', 'node-c'];
      const requests = nodes.flatMap((node) =>
        Array.from({ length: 25 }, (_, i) =>
          ipam.autoAssign({ node, handleId: `${node}-${i}`, num4: 1, intendedUse: 'Workload' }),
        ),
      );
      const results = await Promise.all(requests);
      const addresses = results.map((r) => r.ipv4[0].address);
      t.is(new Set(addresses).size, 75);
      const state = allocations(await snapshotOf(store));
      t.is(state.length, 75);
      for (const allocation of state)
        t.is(allocation.affinity, `host:${allocation.node}`, 'each host in its own blocks');
      await assertClean(t, store);
      const show = await showIpam(store, { showBlocks: true });
      t.is(show.pools[0].inUse, 75);
      t.deepEqual(
        show.nodes.map((n) => [n.node, n.inUse, n.borrowed]),
        nodes.map((n) => [n, 25, 0]),
      );
    },
  );

  test(
    name('concurrent autoAssigns on one host share block writes: far fewer transactions than requests'),
    async (t) => {
      const { store } = await setup(t, backend);
      const counting = countingStore(store);
      const ipam = new IpamClient({ store: counting.store });
      await ipam.autoAssign({ node: 'node-a', handleId: 'first', num4: 1, intendedUse: 'Workload' });
      const before = counting.transactions();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          ipam.autoAssign({ node: 'node-a', handleId: `h${i}`, num4: 1, intendedUse: 'Workload' }),
        ),
      );
      const transactions = counting.transactions() - before;
      t.true(transactions <= 4, `${transactions} transactions for 40 requests`);
      const addresses = results.map((r) => r.ipv4[0].address);
      t.is(new Set(addresses).size, 40);
      t.is(new Set(results.map((r) => r.ipv4[0].sequenceNumber)).size, 40, 'one sequence number each');
      const snapshot = await snapshotOf(store);
      t.is(allocations(snapshot).length, 41);
      t.is(snapshot.handles.length, 41);
      // Each release names its sequence number: all of them are accepted, exactly.
      const released = await ipam.releaseIps(
        results.map((r) => ({ address: r.ipv4[0].address, sequenceNumber: r.ipv4[0].sequenceNumber })),
      );
      t.is(released.released.length, 40);
      t.deepEqual(
        (await snapshotOf(store)).handles.map((h) => h.value.handleId),
        ['first'],
      );
      await assertClean(t, store);
    },
  );

  test(
    name('a batch where one assignIp is refused: the others are written, the refusal names the cause'),
    async (t) => {
      const { store, ipam } = await setup(t, backend);
      const first = await ipam.autoAssign({
        node: 'node-a',
        handleId: 'h0',
        num4: 1,
        intendedUse: 'Workload',
      });
      const taken = first.ipv4[0].address;
      const settled = await Promise.allSettled([
        ipam.autoAssign({ node: 'node-a', handleId: 'h1', num4: 2, intendedUse: 'Workload' }),
        ipam.assignIp({ address: taken, node: 'node-a', handleId: 'thief' }),
        ipam.autoAssign({ node: 'node-a', handleId: 'h2', num4: 1, intendedUse: 'Workload' }),
      ]);
      t.is(settled[0].status, 'fulfilled');
      t.is(settled[2].status, 'fulfilled');
      if (settled[1].status !== 'rejected') return t.fail('the taken address was assigned again');
      t.true(isIpamError(settled[1].reason, 'already-allocated'), String(settled[1].reason));
      t.is(allocations(await snapshotOf(store)).length, 4);
      t.is(await new IpamDatastore(store).getHandle('thief'), undefined);
      await assertClean(t, store);
    },
  );

  test(
    name('another client moves a block on: the remembered version is re-planned, nothing handed out twice'),
    async (t) => {
      const { store, ipam } = await setup(t, backend);
      const other = new IpamClient({ store });
      const seen = new Set<string>();
      for (let i = 0; i < 10; i += 1) {
        // Each client's memory of the block is stale every time it comes back to it.
        for (const client of [ipam, other]) {
          const { ipv4 } = await client.autoAssign({
            node: 'node-a',
            handleId: `h${i}-${client === ipam ? 'a' : 'b'}`,
            num4: 1,
            intendedUse: 'Workload',
          });
          t.false(seen.has(ipv4[0].address), `${ipv4[0].address} handed out twice`);
          seen.add(ipv4[0].address);
        }
      }
      t.is(allocations(await snapshotOf(store)).length, 20);
      await assertClean(t, store);
    },
  );

  test(
    name('a block this client remembers full but another client freed is used before claiming another'),
    async (t) => {
      const { store, ipam, ds } = await setup(t, backend);
      const filled = await ipam.autoAssign({
        node: 'node-a',
        handleId: 'fill',
        num4: 64,
        intendedUse: 'Workload',
      });
      const block = filled.ipv4[0].block;
      t.true(filled.ipv4.every((a) => a.block === block));
      await new IpamClient({ store }).releaseIps([{ address: filled.ipv4[10].address }]);
      const next = await ipam.autoAssign({
        node: 'node-a',
        handleId: 'next',
        num4: 1,
        intendedUse: 'Workload',
      });
      t.is(next.ipv4[0].address, filled.ipv4[10].address);
      t.deepEqual(Object.keys(await affinityStates(ds, 'node-a')), [block], 'no second block claimed');
      await assertClean(t, store);
    },
  );
}
