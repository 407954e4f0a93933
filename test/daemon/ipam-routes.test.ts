// Block routes from a real node (calico-routing.md §7.5): a Brindle daemon in node mode (`node
// bin/brindle`, kernel FIB on) runs in a network namespace of its own, with BIRD as its eBGP peer in a
// second namespace joined by a veth pair, and an embedded store the test process shares with it. The
// test allocates through the IPAM client and looks at what BIRD received and at the daemon
// namespace's kernel routes:
//   - two pods in one block: exactly one /26 is advertised, and that /26 is blackholed;
//   - an address borrowed from another node's block: its /32 is advertised, nothing more blackholed;
//   - releasing the borrowed address withdraws the /32; releasing the pods and the host's affinity
//     withdraws the /26 and removes its blackhole from the kernel (at once, although the daemon has
//     just started and defers deleting what a previous run left).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openLmdbStore } from '../../src/datastore/lmdb-store.ts';
import { IpamClient } from '../../src/ipam/allocator.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { tempDir } from '../ipam/support.ts';
import { withDiagnostics } from '../helpers/interop.ts';
import { createLinkedNetns, createNetns, run, startDaemon, waitFor, withCleanup } from '../helpers/netns.ts';
import type { Daemon } from '../helpers/netns.ts';
import { startBird } from '../helpers/peers.ts';
import type { BirdHandle } from '../helpers/peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The segment between the two namespaces; it exists only inside them. */
const NODE_ADDRESS = '100.64.31.1';
const BIRD_ADDRESS = '100.64.31.2';
const NODE_AS = 64512;
const BIRD_AS = 65001;
const FIB_PROTOCOL = 205;
const WAIT_MS = 20_000;

function daemonConfig(store: string, socket: string): string {
  return [
    'mode: node',
    'nodeName: node-a',
    `node: { ipv4Address: ${NODE_ADDRESS}/24 }`,
    `datastore: { type: embedded, path: ${store} }`,
    `bgp: { listenAddress: ${NODE_ADDRESS}, listenPort: 179 }`,
    `api: { listen: '127.0.0.1:0', socket: ${socket} }`,
    'fib: { enabled: true, table: 254, keepRoutesOnStop: false }',
    '',
  ].join('\n');
}

/** The daemon's environment without any BRINDLE_* setting of the test run's own. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BRINDLE_')));
}

const resource = (kind: string, name: string, spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: { name },
  spec,
});

/** The IPv4 prefixes BIRD holds, sorted (`show route` lines start with the prefix). */
async function birdPrefixes(bird: BirdHandle): Promise<string[]> {
  const table = await bird.birdc('show', 'route', 'table', 'master4');
  return [...table.matchAll(/^(\d+\.\d+\.\d+\.\d+\/\d+)\s/gm)].map((m) => m[1]).sort();
}

/** The blackholes Brindle installed in the daemon's namespace, sorted. */
async function blackholes(netns: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', netns, '-4', 'route', 'show', 'proto', String(FIB_PROTOCOL)]);
  return [...stdout.matchAll(/^blackhole (\S+)/gm)].map((m) => m[1]).sort();
}

async function expectState(
  t: ExecutionContext,
  daemon: Daemon,
  bird: BirdHandle,
  netns: string,
  expected: { advertised: string[]; blackholed: string[] },
  what: string,
): Promise<void> {
  const advertised = [...expected.advertised].sort();
  const blackholed = [...expected.blackholed].sort();
  let seen = '';
  const matches = async () => {
    const now = { advertised: await birdPrefixes(bird), blackholed: await blackholes(netns) };
    seen = JSON.stringify(now);
    return seen === JSON.stringify({ advertised, blackholed });
  };
  await withDiagnostics(
    t,
    () => `last seen: ${seen}\n${daemon.output()}\n${bird.daemon.output()}`,
    () => waitFor(matches, { timeoutMs: WAIT_MS, intervalMs: 100, what }),
  );
  t.deepEqual(await birdPrefixes(bird), advertised, `${what}: advertised`);
  t.deepEqual(await blackholes(netns), blackholed, `${what}: blackholed`);
}

test('a node originates one /26 for two pods in its block, blackholes it, and a /32 for a borrowed address', async (t) => {
  const cleanup = withCleanup(t);
  const birdNetns = await createNetns('ipam-bird', cleanup);
  const { netns } = await createLinkedNetns(
    {
      tag: 'ipam-node',
      peerNetns: birdNetns,
      addresses: [`${NODE_ADDRESS}/24`],
      peerAddresses: [`${BIRD_ADDRESS}/24`],
    },
    cleanup,
  );
  const dir = await tempDir(t, 'ipam-routes');
  const storePath = join(dir, 'store');
  const store = await openLmdbStore({ path: storePath });
  cleanup.add(() => store.close());
  const resources = new ResourceStore(store);
  for (const r of [
    resource('BGPConfiguration', 'default', { asNumber: NODE_AS }),
    resource('BGPPeer', 'bird', { peerIP: BIRD_ADDRESS, asNumber: BIRD_AS }),
    resource('IPPool', 'pods', { cidr: '10.65.0.0/24', blockSize: 26 }),
  ]) {
    const written = await resources.write(r, 'apply');
    if (!written.ok) return t.fail(written.errors.join('; '));
  }

  const configFile = join(dir, 'brindle.yaml');
  await writeFile(configFile, daemonConfig(storePath, join(dir, 'brindle.sock')));
  const daemon = startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', configFile],
    { name: 'brindle node-a', netns, cwd: ROOT, env: cleanEnv() },
    cleanup,
  );
  const bird = await startBird(
    {
      netns: birdNetns,
      routerId: BIRD_ADDRESS,
      localAddress: BIRD_ADDRESS,
      asn: BIRD_AS,
      neighbors: [{ address: NODE_ADDRESS, asn: NODE_AS, families: ['ipv4'] }],
    },
    cleanup,
  );
  await withDiagnostics(
    t,
    () => daemon.output(),
    () => bird.waitEstablished(NODE_ADDRESS, WAIT_MS),
  );
  await expectState(t, daemon, bird, netns, { advertised: [], blackholed: [] }, 'no block yet');

  // Two pods on node-a: one block, one route, one blackhole.
  const ipam = new IpamClient({ store });
  const pods = [];
  for (const pod of ['pod-1', 'pod-2']) {
    const { ipv4 } = await ipam.autoAssign({
      node: 'node-a',
      handleId: `k8s-pod-network.${pod}`,
      num4: 1,
      intendedUse: 'Workload',
    });
    pods.push(ipv4[0]);
  }
  const block = pods[0].block;
  t.is(pods[1].block, block, 'both pods in one block');
  t.false(pods[0].borrowed);
  await expectState(t, daemon, bird, netns, { advertised: [block], blackholed: [block] }, 'two pods');

  // node-b (IPAM only: no daemon) owns another block; node-a borrows an address from it.
  const other = await ipam.autoAssign({
    node: 'node-b',
    handleId: 'k8s-pod-network.b',
    num4: 1,
    intendedUse: 'Workload',
  });
  const otherBlock = other.ipv4[0].block;
  t.not(otherBlock, block);
  const borrowedAddress = `${otherBlock.split('.').slice(0, 3).join('.')}.${Number(otherBlock.split('.')[3].split('/')[0]) + 5}`;
  const borrowed = await ipam.assignIp({
    address: borrowedAddress,
    node: 'node-a',
    handleId: 'k8s-pod-network.c',
  });
  t.true(borrowed.borrowed, 'the address lies in node-b’s block');
  await expectState(
    t,
    daemon,
    bird,
    netns,
    { advertised: [block, `${borrowedAddress}/32`], blackholed: [block] },
    'a borrowed address',
  );

  // Releasing the borrowed address withdraws its /32; giving the block up withdraws the /26.
  await ipam.releaseByHandle('k8s-pod-network.c');
  await expectState(
    t,
    daemon,
    bird,
    netns,
    { advertised: [block], blackholed: [block] },
    'borrowed released',
  );
  for (const pod of ['pod-1', 'pod-2']) await ipam.releaseByHandle(`k8s-pod-network.${pod}`);
  t.deepEqual(await ipam.releaseHostAffinities('node-a'), { released: [block], notEmpty: [] });
  await expectState(t, daemon, bird, netns, { advertised: [], blackholed: [] }, 'block released');
});
