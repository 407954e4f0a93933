// brindle-ipam's native front (native/cni-shim.c, what the package installs as /opt/cni/bin/brindle-ipam)
// under the real `ptp` and `bridge` plugins and container network namespaces this test creates. With
// the node's daemon up the daemon runs the plugin and no Node process starts (the front runs with no
// `node` on PATH); with the daemon down the front execs the Node plugin, which uses the datastore. Also:
// a daemon that took the request and died before answering (the retried ADD gets the address it
// committed, never a second), the daemon SIGKILLed while ADDs are in flight, and two ADDs racing for
// the last free address of a block, through the daemon and without it.
//
// The pools are checked to be unrouted on this host first; teardown runs DEL, deletes the namespaces
// (taking the veths along), the bridge and any route left, and stops the daemon, even when an
// assertion failed. Needs root.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';

import { checkIpam, IpamDatastore, showIpam } from '../../src/ipam/index.ts';
import { run, withCleanup } from '../helpers/netns.ts';
import type { Cleanup } from '../helpers/netns.ts';
import {
  addPod,
  addressOf,
  cniEnv,
  cniPod,
  exec,
  killBrindle,
  netConf,
  PLUGIN,
  raceForLastAddress,
  removeCniEnv,
  requirePluginsAndFreePools,
  SHIM,
  startBrindle,
  usedDatastore,
} from './support.ts';
import type { CniEnv, CniPod, Exec } from './support.ts';

const POOL = '10.72.0.0/16';
const NODE = 'cni-shim-node';
const NETWORK = 'brindle-shim-test';
const BRIDGE = `brs${process.pid % 100_000}`;
/** A PATH with no `node` on it: a front that tried to run the Node plugin would fail. */
const NO_NODE = '/nonexistent';

let env: CniEnv | undefined;

test.before(async () => {
  await requirePluginsAndFreePools([POOL, '10.73.0.0/16']);
  env = await cniEnv(
    NODE,
    [
      { name: 'shim-pool', cidr: POOL, blockSize: 26 },
      { name: 'two-blocks-daemon', cidr: '10.73.0.0/29', blockSize: 30 },
      { name: 'one-block-daemon', cidr: '10.73.1.0/30', blockSize: 30 },
      { name: 'two-blocks-direct', cidr: '10.73.2.0/29', blockSize: 30 },
      { name: 'one-block-direct', cidr: '10.73.3.0/30', blockSize: 30 },
    ],
    SHIM,
  );
});

test.after.always(() => removeCniEnv(env));

function current(): CniEnv {
  if (!env) throw new Error('setup failed');
  return env;
}

/** The network config with `ipam` limited to `pool` (the test's pools are all the node's). */
function confIn(pool: string, extra: Record<string, unknown> = {}): string {
  const ipam = { ...(JSON.parse(netConf(current(), NETWORK)) as { ipam: object }).ipam, ipv4_pools: [pool] };
  return netConf(current(), NETWORK, { ...extra, ipam });
}

const conf = (extra: Record<string, unknown> = {}) => confIn('shim-pool', extra);

/** The front itself, as a main plugin runs it; `path` is its PATH (NO_NODE: no Node may start). */
function front(vars: Record<string, string>, config: string, path = process.env.PATH ?? ''): Promise<Exec> {
  return exec(SHIM, { ...vars, PATH: path }, config);
}

function addVars(containerId: string, netns = '/nonexistent') {
  return { CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0' };
}

/** A pod of this test's network whose main plugin is `plugin`. */
function pod(tag: string, plugin: string, config: string, cleanup: Cleanup): Promise<CniPod> {
  return cniPod(current(), NETWORK, { tag, plugin, config }, cleanup);
}

const add = addPod;

const inPool = (address: string) => address.startsWith('10.72.');

test.serial('ptp and bridge through the front: the daemon runs the plugin, Node without it', async (t) => {
  const cleanup = withCleanup(t);
  cleanup.add(() => run('ip', ['link', 'del', BRIDGE]).catch(() => undefined));
  const ptpConf = conf();
  const bridgeConf = conf({ type: 'bridge', bridge: BRIDGE, isGateway: true });
  let daemon = await startBrindle(current(), cleanup);

  // Daemon up: served with no Node on PATH, so no Node process ran.
  const viaPtp = await pod('cni-s1', 'ptp', ptpConf, cleanup);
  const first = await add(t, viaPtp, NO_NODE);
  const [address, length] = first.ips[0].address.split('/');
  t.true(inPool(address), address);
  t.is(length, '16');
  t.deepEqual(first.routes, [{ dst: '0.0.0.0/0' }]);
  const podAddresses = (await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'], { netns: viaPtp.netns }))
    .stdout;
  t.true(podAddresses.includes(`${address}/16`), podAddresses);
  t.regex((await run('ip', ['-4', 'route', 'show', `${address}/32`])).stdout, /dev veth\S+ scope host/);

  const viaBridge = await pod('cni-s2', 'bridge', bridgeConf, cleanup);
  const second = await add(t, viaBridge, NO_NODE);
  t.is(second.ips[0].gateway, first.ips[0].gateway);
  t.not(second.ips[0].address, first.ips[0].address);

  // The same bytes as the Node plugin's for the same container (a retried ADD: same address).
  const vars = addVars(viaPtp.containerId, `/var/run/netns/${viaPtp.netns}`);
  const fromFront = await front(vars, ptpConf, NO_NODE);
  const fromNode = await exec(PLUGIN, vars, ptpConf);
  t.is(fromFront.code, 0, fromFront.stdout);
  t.is(fromFront.stdout, fromNode.stdout);
  t.is(addressOf(fromFront), address);

  const checkVars = { CNI_COMMAND: 'CHECK', CNI_CONTAINERID: viaPtp.containerId, CNI_IFNAME: 'eth0' };
  const checked = await front(checkVars, conf({ prevResult: first }), NO_NODE);
  t.is(checked.code, 0, checked.stdout);
  const wrong = await front(
    { ...checkVars, CNI_CONTAINERID: 'someone-else' },
    conf({ prevResult: first }),
    NO_NODE,
  );
  t.like(JSON.parse(wrong.stdout), { code: 110 });
  t.is(wrong.code, 1);
  // No ipam section: the socket is $BRINDLE_API_SOCKET's, as for the Node plugin.
  const version = await front(
    { CNI_COMMAND: 'VERSION', BRINDLE_API_SOCKET: current().socket },
    '{"cniVersion":"0.4.0"}',
    NO_NODE,
  );
  t.is(version.code, 0, version.stderr);
  t.is(version.stdout, (await exec(PLUGIN, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}')).stdout);

  // Daemon down (a crash: its socket file stays): the front execs the Node plugin, same result shape.
  await killBrindle(daemon);
  const viaStore = await pod('cni-s3', 'ptp', ptpConf, cleanup);
  const third = await add(t, viaStore);
  t.true(usedDatastore(third), third.stderr);
  t.deepEqual(Object.keys(third).sort(), Object.keys(first).sort());
  t.is(third.ips[0].gateway, first.ips[0].gateway);
  t.deepEqual(third.routes, first.routes);
  const versionDown = await front({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
  t.is(versionDown.stdout, version.stdout);
  const deletedDown = await viaBridge.call('DEL');
  t.is(deletedDown.code, 0, deletedDown.stdout);
  t.true(usedDatastore(deletedDown));

  // A restarted daemon serves again, and sees what the Node plugin did without it.
  daemon = await startBrindle(current(), cleanup);
  for (const p of [viaPtp, viaStore]) {
    const deleted = await p.call('DEL', NO_NODE);
    t.is(deleted.code, 0, deleted.stdout + deleted.stderr);
    t.is(await new IpamDatastore(current().store).getHandle(p.handleId), undefined);
  }
  for (const r of [first, second, third]) {
    const state = (await showIpam(current().store, { ip: r.ips[0].address.split('/')[0] })).address?.state;
    t.is(state, 'free');
  }
  t.true(daemon.running());
});

/** A daemon that takes each request and dies before it answers: the connection just closes. */
async function dyingDaemon(socket: string, cleanup: Cleanup): Promise<{ calls: () => number }> {
  rmSync(socket, { force: true });
  let calls = 0;
  const server: Server = createServer((connection) => {
    calls += 1;
    connection.once('data', () => connection.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  cleanup.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { calls: () => calls };
}

test.serial(
  'a daemon that committed an ADD and died before answering: the retried ADD gets that address, no second',
  async (t) => {
    const cleanup = withCleanup(t);
    const daemon = await startBrindle(current(), cleanup);
    const committed = await front(addVars('committed'), conf(), NO_NODE);
    t.is(committed.code, 0, committed.stdout);
    await killBrindle(daemon);

    // The runtime retries the ADD it got no answer for; both the front and the Node plugin lose it.
    const dying = await dyingDaemon(current().socket, cleanup);
    const retried = await front(addVars('committed'), conf());
    t.is(retried.code, 0, retried.stdout + retried.stderr);
    t.regex(retried.stderr, /did not answer the plugin call; running the Node plugin/);
    t.true(usedDatastore(retried), retried.stderr);
    t.is(addressOf(retried), addressOf(committed));
    t.is(dying.calls(), 2, 'the front, then the Node plugin');
    const handle = await new IpamDatastore(current().store).getHandle(`${NETWORK}.committed`);
    t.deepEqual(Object.values(handle?.value.block ?? {}), [1], 'the handle holds one address');

    const fresh = await front(addVars('fresh'), conf());
    t.is(fresh.code, 0, fresh.stdout + fresh.stderr);
    t.not(addressOf(fresh), addressOf(committed));
    for (const id of ['committed', 'fresh']) {
      const deleted = await front({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: id }, conf());
      t.is(deleted.code, 0, deleted.stdout + deleted.stderr);
    }
  },
);

test.serial('the daemon SIGKILLed while ADDs run through the front: no duplicate, none lost', async (t) => {
  const cleanup = withCleanup(t);
  const daemon = await startBrindle(current(), cleanup);
  const count = 8;
  const dir = join(current().dir, 'netns-shim');
  mkdirSync(dir, { recursive: true });
  const netns = Array.from({ length: count }, (_, i) => {
    writeFileSync(join(dir, `pod-${i}`), '');
    return join(dir, `pod-${i}`);
  });
  const addOf = (i: number) => front(addVars(`shim-kill-${i}`, netns[i]), conf());
  const adds = netns.map((_, i) => addOf(i));
  await Promise.race(adds);
  await killBrindle(daemon);
  const outputs = await Promise.all(adds);
  const fellBack = outputs.filter(usedDatastore).length;
  t.log(
    `${count} ADDs: ${count - fellBack} answered by the daemon, ${fellBack} by the Node plugin after it died`,
  );
  // Anything that failed is retried, as the runtime would; ADD is idempotent by handle.
  const results = await Promise.all(
    outputs.map(async (output, i) => {
      if (output.code === 0) return output;
      t.like(JSON.parse(output.stdout), { code: 11 }, output.stdout + output.stderr);
      return addOf(i);
    }),
  );
  const addresses = results.map(addressOf);
  t.is(new Set(addresses).size, count, 'no address given twice');
  const ds = new IpamDatastore(current().store);
  for (let i = 0; i < count; i++) {
    const handle = await ds.getHandle(`${NETWORK}.shim-kill-${i}`);
    t.deepEqual(Object.values(handle?.value.block ?? {}), [1], `shim-kill-${i} holds one address`);
  }
  const workloads = { node: NODE, graceMs: 0, netnsExists: existsSync };
  t.deepEqual((await checkIpam(current().store, { workloads })).problems, []);
  for (let i = 0; i < count; i++) {
    const deleted = await front({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: `shim-kill-${i}` }, conf());
    t.is(deleted.code, 0, deleted.stdout + deleted.stderr);
  }
});

/** Two ADDs through the front, `path` its PATH. */
function race(pools: { two: string; one: string }, tag: string, path?: string) {
  return (t: ExecutionContext) =>
    raceForLastAddress(
      t,
      current(),
      async (pool, id) => {
        const added = await front(addVars(id), confIn(pool), path);
        return { ok: added.code === 0, stdout: added.stdout };
      },
      { ...pools, tag, network: NETWORK },
    );
}

test.serial('two ADDs through the front race for the last address: through the daemon', async (t) => {
  const cleanup = withCleanup(t);
  await startBrindle(current(), cleanup);
  await race({ two: 'two-blocks-daemon', one: 'one-block-daemon' }, 'daemon', NO_NODE)(t);
});

test.serial('two ADDs through the front race for the last address: without the daemon', async (t) => {
  const cleanup = withCleanup(t);
  await killBrindle(await startBrindle(current(), cleanup));
  await race({ two: 'two-blocks-direct', one: 'one-block-direct' }, 'direct')(t);
});
