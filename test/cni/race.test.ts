// Two ADDs racing for the last free address of a block (§7.2 steps 6–8), through the daemon (one
// process: its allocator plans the two on the block one after the other) and without it (two plugin
// processes: the block's CAS decides). One gets the address; the other gets an address of the next
// block the node claims or, when the pool has no other block, CNI error 102 (pool exhausted) — never
// the same address. Pools of /30 blocks (four addresses, one of them the node's gateway).

import test from 'ava';
import type { ExecutionContext } from 'ava';

import { runPlugin } from '../../src/cni/main.ts';
import type { PluginOutput } from '../../src/cni/cni.ts';
import { showIpam } from '../../src/ipam/index.ts';
import { withCleanup } from '../helpers/netns.ts';
import {
  cniEnv,
  directInProcess,
  killBrindle,
  netConf,
  removeCniEnv,
  startBrindle,
  usedDatastore,
} from './support.ts';
import type { CniEnv } from './support.ts';

const NODE = 'cni-race-node';
const NETWORK = 'brindle-race';

let env: CniEnv | undefined;

test.before(async () => {
  // Loopback-free, unrouted test ranges; nothing is configured in the kernel by this test.
  env = await cniEnv(NODE, [
    { name: 'two-blocks-daemon', cidr: '10.69.0.0/29', blockSize: 30 },
    { name: 'one-block-daemon', cidr: '10.69.1.0/30', blockSize: 30 },
    { name: 'two-blocks-direct', cidr: '10.69.2.0/29', blockSize: 30 },
    { name: 'one-block-direct', cidr: '10.69.3.0/30', blockSize: 30 },
  ]);
});

test.after.always(() => removeCniEnv(env));

function current(): CniEnv {
  if (!env) throw new Error('setup failed');
  return env;
}

function add(pool: string, containerId: string, options: Parameters<typeof runPlugin>[2] = {}) {
  const conf = netConf(current(), NETWORK, { ipam: { ...ipamOf(), ipv4_pools: [pool] } });
  return runPlugin(
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: '/nonexistent' },
    conf,
    options,
  );
}

function ipamOf(): Record<string, unknown> {
  return (JSON.parse(netConf(current(), NETWORK)) as { ipam: Record<string, unknown> }).ipam;
}

function addressOf(output: PluginOutput): string {
  return (JSON.parse(output.stdout) as { ips: { address: string }[] }).ips[0].address.split('/')[0];
}

const blockOf = (address: string) => {
  const parts = address.split('.').map(Number);
  return `${parts.slice(0, 3).join('.')}.${parts[3] & ~3}/30`;
};

/** Fills the pool's first block up to its last free address: the gateway and two pods. */
async function fillToLast(t: ExecutionContext, pool: string, tag: string, options = {}): Promise<string> {
  const a = await add(pool, `${tag}-a`, options);
  const b = await add(pool, `${tag}-b`, options);
  t.is(a.exitCode, 0, a.stdout);
  t.is(b.exitCode, 0, b.stdout);
  t.is(blockOf(addressOf(a)), blockOf(addressOf(b)));
  return blockOf(addressOf(a));
}

async function race(t: ExecutionContext, pools: { two: string; one: string }, tag: string, options = {}) {
  // A second block to move on to: one of the racers gets the last address, the other the next block.
  const first = await fillToLast(t, pools.two, `${tag}-two`, options);
  const [x, y] = await Promise.all([
    add(pools.two, `${tag}-x`, options),
    add(pools.two, `${tag}-y`, options),
  ]);
  t.is(x.exitCode, 0, x.stdout);
  t.is(y.exitCode, 0, y.stdout);
  const blocks = [blockOf(addressOf(x)), blockOf(addressOf(y))].sort();
  t.not(addressOf(x), addressOf(y));
  t.true(blocks.includes(first), `one of ${blocks.join(', ')} is ${first}`);
  t.is(new Set(blocks).size, 2, 'the other came from the next block');

  // No other block: exactly one racer gets the last address, the other "pool exhausted".
  await fillToLast(t, pools.one, `${tag}-one`, options);
  const outcomes = await Promise.all([
    add(pools.one, `${tag}-p`, options),
    add(pools.one, `${tag}-q`, options),
  ]);
  const won = outcomes.filter((o) => o.exitCode === 0);
  t.is(won.length, 1, outcomes.map((o) => o.stdout).join('\n'));
  t.like(JSON.parse(outcomes.find((o) => o.exitCode !== 0)?.stdout ?? '{}'), { code: 102 });
  const usage = (await showIpam(current().store, { ip: addressOf(won[0]) })).address;
  t.like(usage, { state: 'in-use', handleId: `${NETWORK}.${tag}-${won[0] === outcomes[0] ? 'p' : 'q'}` });
}

test.serial(
  'through the daemon: one gets the last address, the other the next block or an error',
  async (t) => {
    const cleanup = withCleanup(t);
    await startBrindle(current(), cleanup);
    await race(t, { two: 'two-blocks-daemon', one: 'one-block-daemon' }, 'daemon');
  },
);

test.serial('two plugin processes without the daemon: the same, decided by the block CAS', async (t) => {
  // A crashed daemon's socket answers nothing: every call goes to the datastore in its own process.
  const cleanup = withCleanup(t);
  await killBrindle(await startBrindle(current(), cleanup));
  const direct = directInProcess(current());
  const probe = await add('two-blocks-direct', 'probe', { direct });
  t.true(usedDatastore(probe), probe.stderr);
  await runPlugin({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'probe' }, netConf(current(), NETWORK), { direct });
  await race(t, { two: 'two-blocks-direct', one: 'one-block-direct' }, 'direct', { direct });
});
