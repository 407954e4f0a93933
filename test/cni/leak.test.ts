// `brindlectl ipam check` on the node finds a pod's allocation whose network namespace is gone (the
// container vanished without a CNI DEL), once it is older than the grace period, and `--fix` releases
// it; a live pod's allocation and the node's gateway are never reported. Real `ptp`, a namespace this
// test creates and deletes, the daemon serving the plugin; the grace period is driven by the
// --grace-period flag, not by waiting. Needs root.

import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { showIpam } from '../../src/ipam/index.ts';
import { createNetns, deleteNetns, run, withCleanup } from '../helpers/netns.ts';
import {
  CNI_BIN,
  cniEnv,
  exec,
  mainPlugin,
  netConf,
  removeCniEnv,
  ROOT,
  startBrindle,
  usedDatastore,
} from './support.ts';
import type { CniEnv } from './support.ts';

const POOL = '10.68.0.0/16';
const NODE = 'cni-leak-node';
const NETWORK = 'brindle-leak';

let env: CniEnv | undefined;

test.before(async () => {
  if (!existsSync(join(CNI_BIN, 'ptp')))
    throw new Error(`${CNI_BIN}/ptp is missing: run 'npm run setup:test'`);
  const routed = (await run('ip', ['-4', 'route', 'show', 'root', POOL])).stdout.trim();
  if (routed !== '')
    throw new Error(`${POOL} is already routed on this host, refusing to test in it:\n${routed}`);
  env = await cniEnv(NODE, [{ name: 'leak-pool', cidr: POOL, blockSize: 26 }]);
});

test.after.always(() => removeCniEnv(env));

function current(): CniEnv {
  if (!env) throw new Error('setup failed');
  return env;
}

/** `brindlectl ipam check ARGS` with this node's config: exit code and output. */
async function check(...args: string[]): Promise<{ code: number | null; out: string }> {
  const cli = [join(ROOT, 'bin/brindlectl'), '--config', current().configFile, 'ipam', 'check', ...args];
  const result = await exec(process.execPath, {}, '', cli);
  return { code: result.code, out: result.stdout + result.stderr };
}

test('a pod whose namespace is gone is a leak after the grace period; --fix releases it', async (t) => {
  const cleanup = withCleanup(t);
  await startBrindle(current(), cleanup);
  const conf = netConf(current(), NETWORK);
  const pods = await Promise.all(
    ['cni-live', 'cni-gone'].map(async (tag) => {
      const containerId = `${tag}-${process.pid}`;
      const netns = await createNetns(tag, cleanup);
      const vars = { command: 'ADD', containerId, netns };
      cleanup.add(() =>
        mainPlugin(current(), 'ptp', { ...vars, command: 'DEL' }, conf).catch(() => undefined),
      );
      const added = await mainPlugin(current(), 'ptp', vars, conf);
      t.is(added.code, 0, added.stdout + added.stderr);
      t.false(usedDatastore(added));
      const address = (JSON.parse(added.stdout) as { ips: { address: string }[] }).ips[0].address.split(
        '/',
      )[0];
      return { containerId, netns, address };
    }),
  );
  const [live, gone] = pods;
  const recorded = (await showIpam(current().store, { ip: gone.address })).address;
  t.like(recorded?.state === 'in-use' ? recorded.attributes : {}, {
    containerID: gone.containerId,
    netns: `/var/run/netns/${gone.netns}`,
    node: NODE,
  });

  // The container vanishes without a DEL: its namespace (and the veth with it) is gone.
  await deleteNetns(gone.netns);
  const young = await check();
  t.is(young.code, 0, young.out); // inside the default 60 s grace period
  t.notRegex(young.out, /leaked-workload/);

  const found = await check('--grace-period=0');
  t.is(found.code, 1, found.out);
  t.regex(
    found.out,
    new RegExp(
      `leaked-workload: .*\\n  ${gone.address.replaceAll('.', '\\.')} .*container ${gone.containerId}`,
    ),
  );
  // The live pod's address as an address, not as the start of its block's name (10.0.0.128-26).
  t.notRegex(found.out, new RegExp(`(^|\\s)${live.address.replaceAll('.', '\\.')}(?![\\d-])`), found.out);
  t.is(found.out.match(/leaked-workload/g)?.length, 1, found.out);

  const fixed = await check('--fix', '--grace-period=0');
  t.regex(fixed.out, /FIXED leaked-workload/);
  t.is(fixed.code, 0, fixed.out);
  t.is((await showIpam(current().store, { ip: gone.address })).address?.state, 'free');
  t.is((await showIpam(current().store, { ip: live.address })).address?.state, 'in-use');
  t.is((await check('--grace-period=0')).code, 0);
});
