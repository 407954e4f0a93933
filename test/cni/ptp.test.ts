// brindle-ipam under the real `ptp` CNI plugin (Debian's containernetworking-plugins, installed by
// test/setup/install-peers.sh into /usr/lib/cni): a temp Brindle config with its own embedded store,
// an IPPool, a network namespace as the pod, and ptp finding bin/brindle-ipam on CNI_PATH through a
// symlink in a temp dir. ADD must give the pod an address of this node's block and the host a /32
// route to it; DEL must free the address and the handle; a second DEL must succeed.
//
// This touches the root namespace (ptp adds a veth and a route there): the pool is checked to be
// unrouted on this host first, and teardown runs ptp DEL, deletes the namespace (which takes the veth
// pair along) and deletes any route left to the pod's address, even when an assertion failed.
// Needs root.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runPlugin } from '../../src/cni/main.ts';
import { openStore } from '../../src/datastore/open.ts';
import type { Store } from '../../src/datastore/store.ts';
import { IpamDatastore, showIpam } from '../../src/ipam/index.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { createNetns, run, withCleanup } from '../helpers/netns.ts';
import { exec } from './support.ts';
import type { Exec } from './support.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PLUGIN = join(ROOT, 'bin', 'brindle-ipam');
const CNI_BIN = '/usr/lib/cni';
const POOL = '10.65.0.0/16';
const NODE = 'cni-test-node';
const NETWORK = 'brindle-test';

interface Env {
  readonly dir: string;
  readonly configFile: string;
  readonly cniPath: string;
  readonly store: Store;
}

let env: Env | undefined;

test.before(async () => {
  if (!existsSync(join(CNI_BIN, 'ptp'))) {
    throw new Error(`${CNI_BIN}/ptp is missing: run 'npm run setup:test' (containernetworking-plugins)`);
  }
  const routed = (await run('ip', ['-4', 'route', 'show', 'root', POOL])).stdout.trim();
  if (routed !== '')
    throw new Error(`${POOL} is already routed on this host, refusing to test in it:\n${routed}`);
  const dir = await mkdtemp(join(tmpdir(), 'brindle-cni-'));
  const configFile = join(dir, 'brindle.yaml');
  writeFileSync(
    configFile,
    `nodeName: ${NODE}\ndatastore:\n  type: embedded\n  path: ${join(dir, 'store')}\n`,
  );
  const cniPath = join(dir, 'cni');
  mkdirSync(cniPath);
  symlinkSync(PLUGIN, join(cniPath, 'brindle-ipam'));
  const store = await openStore({ backend: 'lmdb', path: join(dir, 'store') });
  const written = await new ResourceStore(store).write(
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'cni-test-pool' },
      spec: { cidr: POOL, blockSize: 26, nodeSelector: 'all()' },
    },
    'apply',
  );
  if (!written.ok) throw new Error(written.errors.join('\n'));
  env = { dir, configFile, cniPath, store };
});

test.after.always(async () => {
  await env?.store.close();
  if (env) await rm(env.dir, { recursive: true, force: true });
});

function current(): Env {
  if (!env) throw new Error('setup failed');
  return env;
}

function netConf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: NETWORK,
    type: 'ptp',
    ipam: { type: 'brindle-ipam', config: current().configFile, socket: join(current().dir, 'none.sock') },
    ...extra,
  });
}

function ptp(
  command: string,
  containerId: string,
  netns: string,
  extra?: Record<string, unknown>,
): Promise<Exec> {
  return exec(
    join(CNI_BIN, 'ptp'),
    {
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: `/var/run/netns/${netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: `${current().cniPath}:${CNI_BIN}`,
    },
    netConf(extra),
  );
}

function inPool(address: string): boolean {
  const [a, b] = address.split('.').map(Number);
  return a === 10 && b === 65;
}

async function hostRoute(address: string): Promise<string> {
  return (await run('ip', ['-4', 'route', 'show', `${address}/32`])).stdout.trim();
}

function logged(t: ExecutionContext, what: string, result: Exec): void {
  t.log(`${what}: exit ${result.code}\n${result.stdout}\n${result.stderr}`);
}

test('ptp ADD gives the pod an address of the node block and the host a /32 route; DEL frees it', async (t) => {
  const cleanup = withCleanup(t);
  const containerId = `ptp-${process.pid}-${Date.now()}`;
  const handleId = `${NETWORK}.${containerId}`;
  const netns = await createNetns('cni-pod', cleanup);
  const pod: { address?: string } = {};
  // Runs before the namespace is deleted (LIFO): ptp DEL, then any route it left.
  cleanup.add(async () => {
    await ptp('DEL', containerId, netns).catch(() => undefined);
    if (pod.address) await run('ip', ['route', 'del', `${pod.address}/32`]).catch(() => undefined);
  });

  const added = await ptp('ADD', containerId, netns);
  if (added.code !== 0) logged(t, 'ADD', added);
  t.is(added.code, 0);
  const result = JSON.parse(added.stdout) as { ips: { address: string; gateway: string }[] };
  t.is(result.ips.length, 1);
  const [address, length] = result.ips[0].address.split('/');
  pod.address = address;
  t.true(inPool(address), address);
  t.is(length, '16'); // the pool's prefix length: what ptp needs to reach the gateway
  t.true(inPool(result.ips[0].gateway));

  // IPAM: allocated under Calico's handle, in a block affine to this node.
  const shown = await showIpam(current().store, { ip: address, showBlocks: true });
  const usage = shown.address;
  t.is(usage?.state, 'in-use');
  if (usage?.state !== 'in-use') return;
  t.is(usage.handleId, handleId);
  t.false(usage.borrowed);
  t.is(shown.blocks?.find((b) => b.cidr === usage.block)?.node, NODE);

  // The pod has the address; the host routes it as a /32 through the veth.
  const podAddresses = (await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0'], { netns })).stdout;
  t.true(podAddresses.includes(`${address}/16`), podAddresses);
  const route = await hostRoute(address);
  t.regex(route, /dev veth\S+ scope host/);

  // CHECK with the result as prevResult.
  const checkVars = { CNI_COMMAND: 'CHECK', CNI_CONTAINERID: containerId, CNI_IFNAME: 'eth0' };
  const checked = await runPlugin(checkVars, netConf({ prevResult: result }));
  t.is(checked.exitCode, 0, checked.stdout);
  const wrong = await runPlugin(
    { ...checkVars, CNI_CONTAINERID: 'someone-else' },
    netConf({ prevResult: result }),
  );
  t.is(wrong.exitCode, 1);
  t.is((JSON.parse(wrong.stdout) as { code: number }).code, 110);

  // DEL: the address is free, the handle gone, the route gone; a second DEL is a no-op success.
  const deleted = await ptp('DEL', containerId, netns);
  if (deleted.code !== 0) logged(t, 'DEL', deleted);
  t.is(deleted.code, 0);
  t.is((await showIpam(current().store, { ip: address })).address?.state, 'free');
  t.is(await new IpamDatastore(current().store).getHandle(handleId), undefined);
  t.is(await hostRoute(address), '');
  const again = await ptp('DEL', containerId, netns);
  if (again.code !== 0) logged(t, 'second DEL', again);
  t.is(again.code, 0);
});

test('the plugin answers VERSION and reports errors as CNI error objects', async (t) => {
  const version = await exec(PLUGIN, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  t.is(version.code, 0);
  t.deepEqual(JSON.parse(version.stdout), {
    cniVersion: '1.0.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'],
  });

  const garbage = await exec(PLUGIN, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x' }, 'not json');
  t.is(garbage.code, 1);
  t.like(JSON.parse(garbage.stdout), { cniVersion: '1.0.0', code: 6 });
  t.false(garbage.stdout.includes('    at '));

  const noEnv = await runPlugin({ CNI_COMMAND: 'ADD' }, netConf());
  t.is(noEnv.exitCode, 1);
  t.like(JSON.parse(noEnv.stdout), { code: 4 });

  const oldVersion = await runPlugin(
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x' },
    netConf({ cniVersion: '0.1.0' }),
  );
  t.like(JSON.parse(oldVersion.stdout), { code: 1 });

  // The datastore cannot be opened (a file where its directory should be): "try again later".
  const blocked = join(current().dir, 'blocked');
  writeFileSync(blocked, '');
  const badConfig = join(current().dir, 'bad.yaml');
  writeFileSync(
    badConfig,
    `nodeName: ${NODE}\ndatastore:\n  type: embedded\n  path: ${join(blocked, 'store')}\n`,
  );
  const unavailable = await runPlugin(
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x' },
    JSON.stringify({ cniVersion: '1.0.0', name: NETWORK, ipam: { type: 'brindle-ipam', config: badConfig } }),
  );
  t.is(unavailable.exitCode, 1);
  t.like(JSON.parse(unavailable.stdout), { code: 11 });
});
