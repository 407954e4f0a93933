// Two ADDs racing for the last free address of a block (§7.2 steps 6–8), through the daemon (one
// process: its allocator plans the two on the block one after the other) and without it (two plugin
// processes: the block's CAS decides). One gets the address; the other gets an address of the next
// block the node claims or, when the pool has no other block, CNI error 102 (pool exhausted) — never
// the same address. Pools of /30 blocks (four addresses, one of them the node's gateway).

import test from 'ava';
import type { ExecutionContext } from 'ava';

import { runPlugin } from '../../src/cni/main.ts';
import type { PluginOutput } from '../../src/cni/cni.ts';
import { withCleanup } from '../helpers/netns.ts';
import {
  cniEnv,
  directInProcess,
  killBrindle,
  netConf,
  raceForLastAddress,
  removeCniEnv,
  startBrindle,
  usedDatastore,
} from './support.ts';
import type { AddOutcome, CniEnv } from './support.ts';

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

/** runPlugin's ADD as a race outcome. */
const outcome = (output: PluginOutput): AddOutcome => ({ ok: output.exitCode === 0, stdout: output.stdout });

function race(pools: { two: string; one: string }, tag: string, options = {}) {
  return (t: ExecutionContext) =>
    raceForLastAddress(t, current(), async (pool, id) => outcome(await add(pool, id, options)), {
      ...pools,
      tag,
      network: NETWORK,
    });
}

test.serial(
  'through the daemon: one gets the last address, the other the next block or an error',
  async (t) => {
    const cleanup = withCleanup(t);
    await startBrindle(current(), cleanup);
    await race({ two: 'two-blocks-daemon', one: 'one-block-daemon' }, 'daemon')(t);
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
  await race({ two: 'two-blocks-direct', one: 'one-block-direct' }, 'direct', { direct })(t);
});
