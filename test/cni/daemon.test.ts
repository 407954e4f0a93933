// brindle-ipam with the node's daemon running (the fast path over its control socket) and without it
// (the datastore path), under the real `ptp` and `bridge` CNI plugins (Debian's containernetworking-
// plugins, installed by test/setup/install-peers.sh) and container network namespaces this test
// creates: ADD, CHECK, DEL and VERSION on both paths with the same result; the daemon SIGKILLed while
// ADDs are in flight (no duplicate, no lost address, ipam check clean); a restarted daemon serving again.
//
// The pool is checked to be unrouted on this host first; teardown runs DEL, deletes the namespaces
// (taking the veths along), the bridge and any route left, and stops the daemon, even when an
// assertion failed. Needs root.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { runPlugin } from '../../src/cni/main.ts';
import { checkIpam, IpamDatastore, showIpam } from '../../src/ipam/index.ts';
import { run, withCleanup } from '../helpers/netns.ts';
import type { Cleanup } from '../helpers/netns.ts';
import {
  addPod,
  cniEnv,
  cniPod,
  directInProcess,
  exec,
  killBrindle,
  netConf,
  PLUGIN,
  removeCniEnv,
  requirePluginsAndFreePools,
  startBrindle,
  usedDatastore,
} from './support.ts';
import type { AddResult, CniEnv, CniPod } from './support.ts';

const POOL = '10.67.0.0/16';
const NODE = 'cni-daemon-node';
const NETWORK = 'brindle-daemon-test';
const BRIDGE = `brb${process.pid % 100_000}`;

let env: CniEnv | undefined;

test.before(async () => {
  await requirePluginsAndFreePools([POOL]);
  env = await cniEnv(NODE, [{ name: 'daemon-pool', cidr: POOL, blockSize: 26 }]);
});

test.after.always(() => removeCniEnv(env));

function current(): CniEnv {
  if (!env) throw new Error('setup failed');
  return env;
}

/** A pod of this test's network whose main plugin is `plugin`. */
function pod(tag: string, plugin: string, config: string, cleanup: Cleanup): Promise<CniPod> {
  return cniPod(current(), NETWORK, { tag, plugin, config }, cleanup);
}

const add = (t: ExecutionContext, p: CniPod) => addPod(t, p);

function checkVars(containerId: string) {
  return { CNI_COMMAND: 'CHECK', CNI_CONTAINERID: containerId, CNI_IFNAME: 'eth0' };
}

const inPool = (address: string) => address.startsWith('10.67.');

test.serial(
  'ptp and bridge ADD, CHECK, DEL: served by the daemon, and the same result without it',
  async (t) => {
    const cleanup = withCleanup(t);
    cleanup.add(() => run('ip', ['link', 'del', BRIDGE]).catch(() => undefined));
    const ptpConf = netConf(current(), NETWORK);
    const bridgeConf = netConf(current(), NETWORK, { type: 'bridge', bridge: BRIDGE, isGateway: true });
    let daemon = await startBrindle(current(), cleanup);

    // Daemon up: ptp, then bridge; neither plugin touches the datastore itself.
    const viaPtp = await pod('cni-d1', 'ptp', ptpConf, cleanup);
    const first = await add(t, viaPtp);
    t.false(usedDatastore(first), first.stderr);
    const [address, length] = first.ips[0].address.split('/');
    t.true(inPool(address), address);
    t.is(length, '16');
    t.true(inPool(first.ips[0].gateway));
    t.deepEqual(first.routes, [{ dst: '0.0.0.0/0' }]);
    const podAddresses = (
      await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'], { netns: viaPtp.netns })
    ).stdout;
    t.true(podAddresses.includes(`${address}/16`), podAddresses);
    t.regex((await run('ip', ['-4', 'route', 'show', `${address}/32`])).stdout, /dev veth\S+ scope host/);

    const viaBridge = await pod('cni-d2', 'bridge', bridgeConf, cleanup);
    const second = await add(t, viaBridge);
    t.false(usedDatastore(second), second.stderr);
    t.is(second.ips[0].gateway, first.ips[0].gateway); // the node's one gateway in the pool
    t.not(second.ips[0].address, first.ips[0].address);
    const bridged = (await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'], { netns: viaBridge.netns }))
      .stdout;
    t.true(bridged.includes(second.ips[0].address), bridged);

    // A repeated ADD for the same container gets the same address (the runtime retrying).
    const again = await runPlugin(
      {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: viaPtp.containerId,
        CNI_NETNS: `/var/run/netns/${viaPtp.netns}`,
      },
      ptpConf,
    );
    t.is(again.exitCode, 0, again.stdout);
    t.is((JSON.parse(again.stdout) as AddResult).ips[0].address, first.ips[0].address);

    const checked = await runPlugin(
      checkVars(viaPtp.containerId),
      netConf(current(), NETWORK, { prevResult: first }),
    );
    t.is(checked.exitCode, 0, checked.stdout);
    t.false(usedDatastore(checked));
    const wrong = await runPlugin(
      checkVars('someone-else'),
      netConf(current(), NETWORK, { prevResult: first }),
    );
    t.like(JSON.parse(wrong.stdout), { code: 110 });

    const version = await exec(PLUGIN, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    t.is(version.code, 0);
    t.deepEqual(JSON.parse(version.stdout), {
      cniVersion: '0.4.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'],
    });

    // Daemon down (a crash: its socket file stays): the plugin falls back, with the same result shape.
    await killBrindle(daemon);
    const viaStore = await pod('cni-d3', 'ptp', ptpConf, cleanup);
    const third = await add(t, viaStore);
    t.true(usedDatastore(third), third.stderr);
    t.deepEqual(Object.keys(third).sort(), Object.keys(first).sort());
    t.is(third.ips[0].gateway, first.ips[0].gateway);
    t.is(third.ips[0].address.split('/')[1], '16');
    t.deepEqual(third.routes, first.routes);
    const checkedDown = await runPlugin(
      checkVars(viaStore.containerId),
      netConf(current(), NETWORK, { prevResult: third }),
    );
    t.is(checkedDown.exitCode, 0, checkedDown.stdout);
    t.true(usedDatastore(checkedDown));
    const deletedDown = await viaBridge.call('DEL');
    t.is(deletedDown.code, 0, deletedDown.stdout);
    t.true(usedDatastore(deletedDown));

    // A restarted daemon serves again, and sees what the plugin did without it.
    daemon = await startBrindle(current(), cleanup);
    for (const p of [viaPtp, viaStore]) {
      const deleted = await p.call('DEL');
      t.is(deleted.code, 0, deleted.stderr);
      t.false(usedDatastore(deleted), deleted.stderr);
      t.is(await new IpamDatastore(current().store).getHandle(p.handleId), undefined);
    }
    for (const r of [first, second, third]) {
      const state = (await showIpam(current().store, { ip: r.ips[0].address.split('/')[0] })).address?.state;
      t.is(state, 'free');
    }
    t.true(daemon.running());
  },
);

/** The namespace paths the check looks for: files in the temp dir stand in for them. */
function fakeNetns(dir: string, count: number): string[] {
  mkdirSync(dir, { recursive: true });
  return Array.from({ length: count }, (_, i) => {
    const path = join(dir, `pod-${i}`);
    writeFileSync(path, '');
    return path;
  });
}

test.serial(
  'the daemon SIGKILLed while ADDs are in flight: no duplicate, none lost, check clean',
  async (t) => {
    const cleanup = withCleanup(t);
    const daemon = await startBrindle(current(), cleanup);
    const count = 32;
    const netns = fakeNetns(join(current().dir, 'netns'), count);
    const conf = netConf(current(), NETWORK);
    const ids = netns.map((_, i) => `kill-${i}`);
    const direct = directInProcess(current());
    const addOf = (i: number) =>
      runPlugin(
        { CNI_COMMAND: 'ADD', CNI_CONTAINERID: ids[i], CNI_NETNS: netns[i], CNI_IFNAME: 'eth0' },
        conf,
        { direct },
      );
    const adds = ids.map((_, i) => addOf(i));
    // The first answer means the daemon is serving; the rest are in flight when it dies.
    await Promise.race(adds);
    await killBrindle(daemon);
    const outputs = await Promise.all(adds);
    const fellBack = outputs.filter(usedDatastore).length;
    t.log(
      `${count} ADDs: ${count - fellBack} answered by the daemon, ${fellBack} by the datastore after it died`,
    );
    // Anything that failed is retried, as the runtime would; ADD is idempotent by handle.
    const results = await Promise.all(
      outputs.map(async (output, i) => {
        if (output.exitCode === 0) return output;
        t.like(JSON.parse(output.stdout), { code: 11 }, output.stdout + output.stderr);
        return addOf(i);
      }),
    );
    const addresses = results.map((r) => (JSON.parse(r.stdout) as AddResult).ips[0].address.split('/')[0]);
    t.is(new Set(addresses).size, count, 'no address given twice');
    const ds = new IpamDatastore(current().store);
    for (const [i, id] of ids.entries()) {
      const handle = await ds.getHandle(`${NETWORK}.${id}`);
      t.is(
        Object.values(handle?.value.block ?? {}).reduce((a, b) => a + b, 0),
        1,
        `${id} holds one address`,
      );
      const usage = (await showIpam(current().store, { ip: addresses[i] })).address;
      t.like(usage, { state: 'in-use', handleId: `${NETWORK}.${id}` });
    }
    const workloads = { node: NODE, graceMs: 0, netnsExists: existsSync };
    t.deepEqual((await checkIpam(current().store, { workloads })).problems, []);

    // Every namespace gone without a DEL: each allocation is a leak, and --fix releases exactly those.
    rmSync(join(current().dir, 'netns'), { recursive: true });
    const leaks = await checkIpam(current().store, { workloads, fix: true });
    t.is(leaks.problems.length, count);
    t.true(leaks.problems.every((p) => p.kind === 'leaked-workload'));
    t.is(leaks.fixed.length, count);
    for (const address of addresses)
      t.is((await showIpam(current().store, { ip: address })).address?.state, 'free');
    t.deepEqual((await checkIpam(current().store, { workloads })).problems, []);
  },
);
