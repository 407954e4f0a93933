// The whole of Brindle as a cluster's routing control plane, in network namespaces this file creates:
// four nodes and a route-reflector node on one bridged segment, a ToR router running BIRD 2, and a real
// etcd the nodes reach over the segment (served by this process's namespace, which joins the segment
// as host .250). Every node runs `bin/brindle` in node mode inside its namespace and programs that
// namespace's kernel; two pods per node get their addresses from brindle-ipam through the real CNI
// `ptp` plugin. The steps share one cluster and run in order:
//   1. pods ping every pod on the other nodes over the default full mesh;
//   2. each node's kernel holds one Brindle route per remote block and a blackhole per own block,
//      and BIRD on the ToR holds every block;
//   3. mesh → one route reflector (the BGPPeer first, then the mesh off, as Calico's docs order it):
//      pings keep working, no ping is lost, and no session that did not need to change restarts;
//   4. SIGKILL of one node's Brindle without graceful restart: its block is withdrawn everywhere at once
//      (well within the hold time); a restart brings it back;
//   5. SIGKILL with graceful restart on: the others keep the route and pods keep reaching its pods
//      while it restarts;
//   6. an IPIP pool: routes to remote blocks go `via <node> dev tunl0 onlink` (ipipMode Always), and
//      back on eth0 with CrossSubnet, every node being on one subnet;
//   7. a node's web console in chromium: the cluster drawn from the resources with its own sessions
//      live, the pool's blocks and no IPAM problem, the FIB in sync, and the live event stream
//      reconnecting after the daemon restarts;
//   8. BFD (BFDConfiguration, failureDetectionMode on the reflector and ToR peers, BFD on the ToR's
//      BIRD): a node's link dies and its block leaves the other nodes' kernels, and the ToR, within
//      the Detection Time rather than the hold time.
// Everything is torn down in test.after.always, also when a step fails. Needs root.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openStore } from '../../src/datastore/open.ts';
import type { Store } from '../../src/datastore/store.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { startEtcd } from '../helpers/etcd.ts';
import type { EtcdHandle } from '../helpers/etcd.ts';
import { launchConsoleBrowser, openView, screenshot } from '../helpers/browser.ts';
import { createLan } from '../helpers/lan.ts';
import type { Lan } from '../helpers/lan.ts';
import { Cleanup, createNetns, run, sleep, startDaemon, waitFor } from '../helpers/netns.ts';
import type { Daemon } from '../helpers/netns.ts';
import { startBird } from '../helpers/peers.ts';
import type { BirdHandle } from '../helpers/peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CNI_BIN = '/usr/lib/cni';
/** The segment: 100.64.30.0/24 (test/helpers/interop.ts keeps one index per file). */
const LAN_INDEX = 30;
const POOL = '10.67.0.0/16';
const BLOCK_SIZE = 26;
const CLUSTER_AS = 64512;
const TOR_AS = 64513;
const TOR_INDEX = 1;
const RR_INDEX = 20;
const ETCD_INDEX = 250;
const API_PORT = 9179;
/** Brindle's kernel route protocol (config default; `proto brindle` once named in rt_protos). */
const PROTO = '205';
const CONVERGE_MS = 45_000;

interface ClusterNode {
  readonly name: string;
  readonly index: number;
  readonly address: string;
  netns: string;
  configFile: string;
  daemon: Daemon | undefined;
  readonly pods: Pod[];
}

interface Pod {
  readonly name: string;
  readonly netns: string;
  readonly address: string;
}

interface Cluster {
  readonly dir: string;
  readonly lan: Lan;
  readonly etcd: EtcdHandle;
  readonly store: Store;
  readonly resources: ResourceStore;
  readonly tor: BirdHandle;
  readonly nodes: ClusterNode[];
  readonly rr: ClusterNode;
  readonly cniPath: string;
}

const cleanup = new Cleanup();
let cluster: Cluster | undefined;

function current(): Cluster {
  if (!cluster) throw new Error('the cluster was not built (see the first failure)');
  return cluster;
}

// --- building the cluster ------------------------------------------------------------------------

/** The daemon's environment without any BRINDLE_* setting of the test run's own. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BRINDLE_')));
}

interface NodeSettings {
  readonly mode: 'node' | 'reflector';
  readonly gracefulRestart: boolean;
}

function configText(c: { dir: string; etcd: EtcdHandle; lan: Lan }, n: ClusterNode, s: NodeSettings) {
  const etcd = `http://${c.lan.address4(ETCD_INDEX)}:${c.etcd.clientPort}`;
  return [
    `mode: ${s.mode}`,
    `nodeName: ${n.name}`,
    `node: { ipv4Address: ${n.address}/24 }`,
    `datastore: { type: etcd, etcdEndpoints: ['${etcd}'] }`,
    `bgp: { listenAddress: '${n.address}', listenPort: 179, gracefulRestart: ${s.gracefulRestart} }`,
    // On the segment address, so this process can read the API of every node.
    `api: { listen: '${n.address}:${API_PORT}', socket: ${join(c.dir, `${n.name}.sock`)} }`,
    'log: { level: info }',
    `fib: { enabled: ${s.mode === 'node'}, table: 254, keepRoutesOnStop: true }`,
    '',
  ].join('\n');
}

async function writeConfig(c: { dir: string; etcd: EtcdHandle; lan: Lan }, n: ClusterNode, s: NodeSettings) {
  await writeFile(n.configFile, configText(c, n, s));
}

function startBrindle(n: ClusterNode): Daemon {
  const daemon = startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', n.configFile],
    { name: `brindle-${n.name}`, netns: n.netns, cwd: ROOT, env: cleanEnv() },
    cleanup,
  );
  n.daemon = daemon;
  return daemon;
}

const resource = (kind: string, name: string, spec: object, labels?: Record<string, string>) => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: labels ? { name, labels } : { name },
  spec,
});

async function apply(resources: ResourceStore, ...docs: object[]): Promise<void> {
  for (const doc of docs) {
    const result = await resources.write(doc, 'apply');
    if (!result.ok) throw new Error(result.errors.join('\n'));
  }
}

test.before(async () => {
  for (const tool of ['ptp']) {
    if (!existsSync(join(CNI_BIN, tool)))
      throw new Error(
        `${CNI_BIN}/${tool} is missing: run 'npm run setup:test' (containernetworking-plugins)`,
      );
  }
  const dir = await mkdtemp(join(tmpdir(), 'brindle-e2e-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const cniPath = join(dir, 'cni');
  await run('mkdir', ['-p', cniPath]);
  await symlink(join(ROOT, 'bin', 'brindle-ipam'), join(cniPath, 'brindle-ipam'));

  const lan = await createLan(
    { tag: 'e2e', subnet4: `100.64.${LAN_INDEX}.0/24`, subnet6: `fd00:${LAN_INDEX}::/64` },
    cleanup,
  );
  await lan.rootAddress(ETCD_INDEX);
  const etcd = await startEtcd({ clientAddresses: [lan.address4(ETCD_INDEX)] });
  cleanup.add(() => etcd.stop());
  const store = await openStore({ backend: 'etcd', endpoints: [etcd.endpoint], prefix: '/brindle/' });
  cleanup.add(() => store.close());
  const resources = new ResourceStore(store);

  const node = (name: string, index: number): ClusterNode => ({
    name,
    index,
    address: lan.address4(index),
    netns: '',
    configFile: join(dir, `${name}.yaml`),
    daemon: undefined,
    pods: [],
  });
  const nodes = [1, 2, 3, 4].map((i) => node(`node${i}`, 10 + i));
  const rr = node('rr', RR_INDEX);
  for (const n of [...nodes, rr]) {
    n.netns = (await lan.addHost(n.name, n.index)).netns!;
    await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: n.netns });
  }

  const torNetns = (await lan.addHost('tor', TOR_INDEX)).netns!;
  const tor = await startBird(
    {
      netns: torNetns,
      routerId: lan.address4(TOR_INDEX),
      localAddress: lan.address4(TOR_INDEX),
      asn: TOR_AS,
      neighbors: nodes.map((n) => ({ address: n.address, asn: CLUSTER_AS, families: ['ipv4'] as const })),
    },
    cleanup,
  );

  // Calico's resources: the mesh on, one pool, the ToR as a global peer of every (non-reflector) node,
  // and the reflector node labelled with its cluster ID up front (its daemon keeps both).
  await apply(
    resources,
    resource('BGPConfiguration', 'default', { asNumber: CLUSTER_AS, nodeToNodeMeshEnabled: true }),
    resource('IPPool', 'e2e-pool', { cidr: POOL, blockSize: BLOCK_SIZE, nodeSelector: 'all()' }),
    resource('BGPPeer', 'tor', {
      peerIP: lan.address4(TOR_INDEX),
      asNumber: TOR_AS,
      nodeSelector: '!has(route-reflector)',
    }),
    resource(
      'Node',
      rr.name,
      { bgp: { ipv4Address: `${rr.address}/24`, routeReflectorClusterID: '244.0.0.1' } },
      { 'route-reflector': 'true' },
    ),
  );

  const base = { dir, etcd, lan };
  // node4 runs without graceful restart first (step 4), then with it (step 5).
  for (const n of nodes) await writeConfig(base, n, { mode: 'node', gracefulRestart: n.name !== 'node4' });
  await writeConfig(base, rr, { mode: 'reflector', gracefulRestart: true });
  for (const n of [...nodes, rr]) startBrindle(n);

  cluster = { dir, lan, etcd, store, resources, tor, nodes, rr, cniPath };
  await diagnosed(() => waitForSessions(current(), meshPeers), 'the full mesh to come up');
  await diagnosed(() => Promise.all(nodes.map((n) => addPods(current(), n))), 'the pods to get addresses');
});

test.after.always(async () => {
  await cleanup.run();
});

/** Adds two pods to a node through ptp and brindle-ipam, one after the other (like a kubelet). */
async function addPods(c: Cluster, n: ClusterNode): Promise<void> {
  for (const i of [1, 2]) {
    const name = `${n.name}-pod${i}`;
    const netns = await createNetns(`e2e-${n.index}p${i}`, cleanup);
    const result = await cni(c, n, 'ADD', name, netns);
    const ip = (JSON.parse(result) as { ips: { address: string }[] }).ips[0]?.address;
    if (!ip) throw new Error(`ptp ADD for ${name} returned no address: ${result}`);
    n.pods.push({ name, netns, address: ip.split('/')[0] });
  }
}

/** The CNI `ptp` plugin, run in the node's namespace as a kubelet would, brindle-ipam on CNI_PATH. */
function cni(c: Cluster, n: ClusterNode, command: string, containerId: string, podNetns: string) {
  const netConf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'e2e',
    type: 'ptp',
    ipam: { type: 'brindle-ipam', config: n.configFile },
  });
  return new Promise<string>((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', n.netns, join(CNI_BIN, 'ptp')], {
      env: {
        PATH: process.env.PATH ?? '',
        CNI_COMMAND: command,
        CNI_CONTAINERID: containerId,
        CNI_NETNS: `/var/run/netns/${podNetns}`,
        CNI_IFNAME: 'eth0',
        CNI_PATH: `${c.cniPath}:${CNI_BIN}`,
      },
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`ptp ${command} exit ${code}: ${stdout}${stderr}`)),
    );
    child.stdin.end(netConf);
  });
}

// --- reading the cluster -------------------------------------------------------------------------

interface PeerView {
  readonly name: string;
  readonly remote: string;
  readonly state: string;
  readonly since: string | null;
  readonly counters?: { readonly establishedCount: number };
}

async function api<T>(n: ClusterNode, path: string): Promise<T> {
  const response = await fetch(`http://${n.address}:${API_PORT}${path}`, {
    signal: AbortSignal.timeout(3_000),
  });
  if (!response.ok) throw new Error(`${n.name} ${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

async function peersOf(n: ClusterNode): Promise<Map<string, PeerView>> {
  const doc = await api<{ peers: PeerView[] }>(n, '/api/v1/peers');
  return new Map(doc.peers.map((p) => [p.remote, p]));
}

/** The addresses a node should have sessions with, in the mesh. */
function meshPeers(c: Cluster, n: ClusterNode): string[] {
  if (n === c.rr) return [];
  return [...c.nodes.filter((o) => o !== n).map((o) => o.address), c.lan.address4(TOR_INDEX)];
}

/** With the reflector: every node has it and the ToR; the reflector has every node. */
function reflectorPeers(c: Cluster, n: ClusterNode): string[] {
  if (n === c.rr) return c.nodes.map((o) => o.address);
  return [c.rr.address, c.lan.address4(TOR_INDEX)];
}

/** Until every node's sessions are exactly `expected(node)`, all Established. */
async function waitForSessions(c: Cluster, expected: (c: Cluster, n: ClusterNode) => string[]) {
  await waitFor(
    async () => {
      for (const n of [...c.nodes, c.rr]) {
        const peers = await peersOf(n);
        const want = expected(c, n);
        if (peers.size !== want.length) return false;
        if (!want.every((a) => peers.get(a)?.state === 'Established')) return false;
      }
      return true;
    },
    { timeoutMs: CONVERGE_MS, intervalMs: 250, what: 'the expected sessions to be Established' },
  );
}

/** The block (/26) holding an address. */
function blockOf(address: string): string {
  const octets = address.split('.').map(Number);
  const size = 2 ** (32 - BLOCK_SIZE);
  octets[3] = Math.floor(octets[3] / size) * size;
  return `${octets.join('.')}/${BLOCK_SIZE}`;
}

function blocksOf(n: ClusterNode): string[] {
  return [...new Set(n.pods.map((p) => blockOf(p.address)))].sort();
}

/** Brindle's kernel routes in a node's namespace, one normalised line each, sorted. */
async function brindleRoutes(n: ClusterNode): Promise<string[]> {
  const { stdout } = await run('ip', ['-4', 'route', 'show', 'proto', PROTO], { netns: n.netns });
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      // `ip route show proto N` leaves out "proto N": keep the prefix, the gateway and the device.
      const words = line.split(/\s+/);
      if (words[0] === 'blackhole') return `blackhole ${words[1]}`;
      const after = (key: string) => words[words.indexOf(key) + 1];
      const flags = ['onlink', 'nexthop'].filter((w) => words.includes(w));
      return [words[0], 'via', after('via'), 'dev', after('dev'), ...flags].join(' ');
    })
    .sort();
}

/** What a node's kernel must hold: a route via the owner per remote block, a blackhole per own block. */
function expectedRoutes(c: Cluster, n: ClusterNode, without: ClusterNode[] = [], via = 'dev eth0'): string[] {
  const lines = blocksOf(n).map((b) => `blackhole ${b}`);
  for (const other of c.nodes) {
    if (other === n || without.includes(other)) continue;
    for (const b of blocksOf(other)) lines.push(`${b} via ${other.address} ${via}`);
  }
  return lines.sort();
}

async function waitForRoutes(
  c: Cluster,
  without: ClusterNode[] = [],
  what = 'the expected kernel routes',
  via?: string,
) {
  const nodes = c.nodes.filter((n) => !without.includes(n));
  await waitFor(
    async () => {
      for (const n of nodes) {
        const have = await brindleRoutes(n);
        if (JSON.stringify(have) !== JSON.stringify(expectedRoutes(c, n, without, via))) return false;
      }
      return true;
    },
    { timeoutMs: CONVERGE_MS, intervalMs: 200, what },
  );
}

async function ping(from: Pod, to: Pod): Promise<boolean> {
  try {
    await run('ping', ['-c', '1', '-W', '2', '-q', to.address], { netns: from.netns, timeoutMs: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** Every pod pings every pod on the other nodes; returns the pairs that failed. */
async function pingAcross(c: Cluster, nodes = c.nodes): Promise<string[]> {
  const pairs: [Pod, Pod][] = [];
  for (const a of nodes)
    for (const b of nodes) if (a !== b) for (const p of a.pods) for (const q of b.pods) pairs.push([p, q]);
  const failed: string[] = [];
  const width = 8;
  for (let i = 0; i < pairs.length; i += width) {
    const batch = pairs.slice(i, i + width);
    const results = await Promise.all(batch.map(([p, q]) => ping(p, q)));
    results.forEach((ok, j) => ok || failed.push(`${batch[j][0].name} -> ${batch[j][1].name}`));
  }
  return failed;
}

/** `ping` at 10/s for `seconds`: how many of the echo requests were lost. */
async function pingLoss(from: Pod, to: Pod, seconds: number): Promise<{ sent: number; lost: number }> {
  const count = seconds * 10;
  const { stdout, stderr } = await run(
    'ping',
    ['-c', String(count), '-i', '0.1', '-W', '1', '-q', to.address],
    {
      netns: from.netns,
      timeoutMs: (seconds + 10) * 1000,
    },
  ).catch((error: { stdout?: string; message?: string }) => ({
    stdout: error.stdout ?? '',
    stderr: error.message ?? '',
  }));
  const match = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  if (!match) throw new Error(`unexpected ping output: ${stdout} ${stderr}`);
  return { sent: Number(match[1]), lost: Number(match[1]) - Number(match[2]) };
}

/** The establishment of each session: unchanged means it did not restart in between. */
async function establishments(c: Cluster): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of [...c.nodes, c.rr]) {
    for (const [remote, p] of await peersOf(n))
      out.set(`${n.name}->${remote}`, `${p.since} #${p.counters?.establishedCount}`);
  }
  return out;
}

async function diagnosed<T>(fn: () => Promise<T>, what: string, t?: ExecutionContext): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const c = cluster;
    const logs = c
      ? [...c.nodes, c.rr].map((n) => `--- ${n.name}\n${n.daemon?.output().slice(-2500) ?? ''}`).join('\n')
      : '';
    const message = `${what}: ${(error as Error).message}\n${logs}`;
    if (t) t.log(message);
    throw new Error(message, { cause: error });
  }
}

// --- the steps -----------------------------------------------------------------------------------

test.serial('1. every pod pings every pod on the other nodes over the full mesh', async (t) => {
  const c = current();
  for (const n of c.nodes) t.is(blocksOf(n).length, 1, `${n.name}'s two pods share one block`);
  t.is(new Set(c.nodes.flatMap(blocksOf)).size, 4, 'one block per node');
  await diagnosed(() => waitForRoutes(c), 'routes before pinging', t);
  t.deepEqual(await pingAcross(c), []);
});

test.serial(
  '2. each kernel has one route per remote block and a blackhole per own block; the ToR has every block',
  async (t) => {
    const c = current();
    for (const n of c.nodes) t.deepEqual(await brindleRoutes(n), expectedRoutes(c, n), n.name);
    const rib = await c.tor.rib('ipv4');
    for (const n of c.nodes)
      for (const b of blocksOf(n)) t.regex(rib, new RegExp(`^${b.replace(/\./g, '\\.')}\\s`, 'm'), b);
  },
);

test.serial('3. mesh to one route reflector: no lost ping, and only the mesh sessions go', async (t) => {
  const c = current();
  const [a, b] = [c.nodes[0], c.nodes[1]];
  // Calico's order: peer every node with the reflector, then turn the mesh off.
  await apply(
    c.resources,
    resource('BGPPeer', 'to-rr', {
      nodeSelector: '!has(route-reflector)',
      peerSelector: 'has(route-reflector)',
    }),
  );
  await diagnosed(
    () =>
      waitForSessions(c, (c2, n) =>
        n === c2.rr ? reflectorPeers(c2, n) : [...meshPeers(c2, n), c2.rr.address],
      ),
    'the reflector sessions to come up',
    t,
  );
  const before = await establishments(c);
  const loss = pingLoss(a.pods[0], b.pods[0], 8);
  await sleep(1_000);
  await apply(
    c.resources,
    resource('BGPConfiguration', 'default', { asNumber: CLUSTER_AS, nodeToNodeMeshEnabled: false }),
  );
  await diagnosed(() => waitForSessions(c, reflectorPeers), 'the mesh sessions to go', t);
  const after = await establishments(c);
  for (const [session, since] of after) t.is(before.get(session), since, `${session} did not restart`);
  t.is(after.size, 4 * 2 + 4, 'each node: the reflector and the ToR; the reflector: every node');
  t.deepEqual(await loss, { sent: 80, lost: 0 }, 'no ping lost while the mesh went away');
  await diagnosed(() => waitForRoutes(c), 'the routes through the reflector', t);
  t.deepEqual(await pingAcross(c), []);
});

test.serial(
  '4. SIGKILL without graceful restart: the block is withdrawn everywhere at once; a restart restores it',
  async (t) => {
    const c = current();
    const victim = c.nodes[3];
    const killedAt = Date.now();
    process.kill(victim.daemon!.pid, 'SIGKILL');
    await victim.daemon!.exited;
    await diagnosed(() => waitForRoutes(c, [victim], 'the others to drop its block'), 'withdrawal', t);
    const elapsed = Date.now() - killedAt;
    t.log(`block withdrawn from every other node ${elapsed} ms after SIGKILL`);
    t.true(elapsed < 240_000, 'within the hold time');
    await waitFor(async () => !(await c.tor.rib('ipv4')).includes(blocksOf(victim)[0]), {
      timeoutMs: CONVERGE_MS,
      what: 'the ToR to drop the block',
    });

    await writeConfig(c, victim, { mode: 'node', gracefulRestart: true });
    startBrindle(victim);
    await diagnosed(() => waitForSessions(c, reflectorPeers), 'the restarted node to peer again', t);
    await diagnosed(() => waitForRoutes(c), 'the block to come back', t);
    t.deepEqual(await pingAcross(c), []);
  },
);

test.serial(
  '5. SIGKILL with graceful restart: the others keep forwarding to its pods while it restarts',
  async (t) => {
    const c = current();
    const victim = c.nodes[3];
    const loss = pingLoss(c.nodes[0].pods[0], victim.pods[0], 12);
    await sleep(1_000);
    process.kill(victim.daemon!.pid, 'SIGKILL');
    await victim.daemon!.exited;
    await sleep(3_000);
    for (const n of c.nodes.slice(0, 3))
      t.deepEqual(
        await brindleRoutes(n),
        expectedRoutes(c, n),
        `${n.name} keeps the route while node4 is down`,
      );
    startBrindle(victim);
    await diagnosed(() => waitForSessions(c, reflectorPeers), 'the restarted node to peer again', t);
    t.deepEqual(await loss, { sent: 120, lost: 0 }, 'no ping lost across the restart');
    await diagnosed(() => waitForRoutes(c), 'the routes after the restart', t);
    t.deepEqual(await pingAcross(c), []);
  },
);

test.serial(
  '6. an ipipMode Always pool routes remote blocks over tunl0 onlink; CrossSubnet on one segment does not',
  async (t) => {
    const c = current();
    // The test kernel has no ipip module: a tun device named tunl0 stands in (routes show linkdown).
    for (const n of c.nodes) {
      await run('ip', ['tuntap', 'add', 'tunl0', 'mode', 'tun'], { netns: n.netns });
      await run('ip', ['link', 'set', 'tunl0', 'up'], { netns: n.netns });
    }
    const pool = (ipipMode: string) =>
      resource('IPPool', 'e2e-pool', { cidr: POOL, blockSize: BLOCK_SIZE, nodeSelector: 'all()', ipipMode });
    await apply(c.resources, pool('Always'));
    await diagnosed(
      () => waitForRoutes(c, [], 'routes over tunl0', 'dev tunl0 onlink'),
      'ipipMode Always',
      t,
    );
    await apply(c.resources, pool('CrossSubnet'));
    await diagnosed(() => waitForRoutes(c, [], 'native routes again'), 'ipipMode CrossSubnet', t);
    t.deepEqual(await pingAcross(c), []);
  },
);

test.serial(
  '7. the web console of a node: the cluster from the resources, IPAM blocks, the FIB, live events back after a restart',
  async (t) => {
    const c = current();
    const n = c.nodes[0];
    const base = `http://${n.address}:${API_PORT}`;
    const b = await launchConsoleBrowser();
    cleanup.add(() => b.close());
    const { page } = b;

    await openView(page, base, 'topology');
    t.is(
      await page.locator('#topology-summary').innerText(),
      '4 nodes, 1 route reflectors, 1 external peers; node-to-node mesh off',
    );
    // node1's own sessions (the reflector, the ToR) in their live state; the other nodes' as wanted.
    const own = page.locator(`line.edge.up[data-from="${n.name}"], line.edge.up[data-to="${n.name}"]`);
    t.is(await own.count(), 2);
    t.is(await page.locator('line.edge.desired').count(), 3 * 2);
    await screenshot(t, page, 'cluster-topology');

    await openView(page, base, 'ipam');
    const pool = page.locator('section.pool[data-pool="e2e-pool"]');
    // Every pod's address, and each node's gateway address in the pool (the pods' default route).
    const inUse = c.nodes.reduce((sum, x) => sum + x.pods.length + 1, 0);
    t.regex(await pool.innerText(), new RegExp(`${inUse} of 65536 addresses in use, 4 blocks, 0 borrowed`));
    t.is(await pool.locator('rect[data-block]').count(), 4);
    t.is(await page.locator('#ipam-problems h2').innerText(), 'Problems found by the check: 0');
    await screenshot(t, page, 'cluster-ipam');

    await openView(page, base, 'fib');
    const routes = expectedRoutes(c, n).length;
    t.regex(
      await page.locator('main p').first().innerText(),
      new RegExp(`: ${routes} desired, ${routes} installed, 0 pending, 0 failed`),
    );
    t.is(await page.locator('main tbody .badge.down').count(), 0);
    await screenshot(t, page, 'cluster-fib');
    t.deepEqual(b.consoleErrors, []);

    // Live events survive a daemon restart: the stream reconnects by itself, and a session reset
    // afterwards shows the other nodes' blocks being decided again.
    await openView(page, base, 'events');
    await page.waitForSelector('#stream-status:text("live")', { timeout: 5_000 });
    await n.daemon!.stop();
    await page.waitForSelector('#stream-status:text("reconnecting")', { timeout: 5_000 });
    startBrindle(n);
    await page.waitForSelector('#stream-status:text("live")', { timeout: 30_000 });
    await diagnosed(() => waitForSessions(c, reflectorPeers), 'node1 to peer again', t);
    const reflector = (await peersOf(n)).get(c.rr.address)!.name;
    await socketPost(join(c.dir, `${n.name}.sock`), `/api/v1/peers/${reflector}/reset`);
    const remote = blocksOf(c.nodes[1])[0];
    await page.waitForSelector(`#event-rows tr[data-prefix="${remote}"]`, { timeout: 30_000 });
    await screenshot(t, page, 'cluster-events-after-restart');
    await diagnosed(() => waitForSessions(c, reflectorPeers), 'the reset session to come back', t);
    await diagnosed(() => waitForRoutes(c), 'the routes after the reset', t);
  },
);

const BFD_INTERVAL_MS = 100;
const BFD_MULT = 5;

/** BFD on the ToR's BIRD: a session per BGP neighbour (`bfd on`), at the nodes' intervals. */
async function torBfd(c: Cluster): Promise<void> {
  const bfd = `protocol bfd {\n  interface "eth0" { min rx interval ${BFD_INTERVAL_MS} ms; min tx interval ${BFD_INTERVAL_MS} ms; multiplier ${BFD_MULT}; };\n}\n`;
  const config = c.tor.config.replaceAll('strict bind yes;', 'strict bind yes;\n  bfd on;') + bfd;
  await writeFile(join(c.tor.dir, 'bird.conf'), config);
  await c.tor.birdc('configure');
}

interface BfdView {
  readonly sessions: readonly { readonly peer: string; readonly state: string }[];
}

/** Every node's BFD sessions (reflector and ToR; the reflector's with every node) are Up. */
async function bfdUp(c: Cluster): Promise<void> {
  await waitFor(
    async () => {
      for (const n of [...c.nodes, c.rr]) {
        const { sessions } = await api<BfdView>(n, '/api/v1/bfd');
        if (sessions.length !== reflectorPeers(c, n).length) return false;
        if (!sessions.every((s) => s.state === 'Up')) return false;
      }
      return /Up/.test(await c.tor.birdc('show', 'bfd', 'sessions'));
    },
    { timeoutMs: CONVERGE_MS, intervalMs: 250, what: 'every BFD session Up' },
  );
}

/** `ip -ts monitor route` in a node's namespace: when each route left its kernel (wall clock, ms). */
function routeDeletions(n: ClusterNode): { deleted: Map<string, number>; stop: () => void } {
  const deleted = new Map<string, number>();
  const child = spawn('ip', ['-ts', '-n', n.netns, 'monitor', 'route'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  cleanup.add(() => child.kill('SIGKILL'));
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^\[(\S+)\] Deleted (\S+) /.exec(line);
      if (m) deleted.set(m[2], new Date(m[1]).getTime());
    }
  });
  return { deleted, stop: () => child.kill('SIGKILL') };
}

test.serial(
  '8. BFD: a node whose link dies is withdrawn everywhere within the Detection Time, not the hold time',
  async (t) => {
    const c = current();
    const victim = c.nodes[3];
    const watcher = c.nodes[0];
    const bfdPeer = { failureDetectionMode: 'BFDIfDirectlyConnected' };
    await apply(
      c.resources,
      resource('BFDConfiguration', 'e2e', {
        interfaces: [
          {
            matchPattern: 'eth0',
            minimumRecvInterval: `${BFD_INTERVAL_MS}ms`,
            minimumSendInterval: `${BFD_INTERVAL_MS}ms`,
            idleSendInterval: '1s',
            multiplier: BFD_MULT,
          },
        ],
      }),
      resource('BGPPeer', 'tor', {
        peerIP: c.lan.address4(TOR_INDEX),
        asNumber: TOR_AS,
        nodeSelector: '!has(route-reflector)',
        ...bfdPeer,
      }),
      resource('BGPPeer', 'to-rr', {
        nodeSelector: '!has(route-reflector)',
        peerSelector: 'has(route-reflector)',
        ...bfdPeer,
      }),
    );
    await torBfd(c);
    await diagnosed(() => bfdUp(c), 'BFD to come Up', t);
    await diagnosed(() => waitForSessions(c, reflectorPeers), 'BGP with BFD', t);
    await diagnosed(() => waitForRoutes(c), 'the routes with BFD', t);
    const block = blocksOf(victim)[0];
    const monitor = routeDeletions(watcher);
    await sleep(200);
    const downAt = Date.now();
    await run('ip', ['-n', victim.netns, 'link', 'set', 'eth0', 'down']);
    const others = c.nodes.filter((n) => n !== victim);
    await diagnosed(() => waitForRoutes(c, [victim], 'the others to drop its block'), 'withdrawal by BFD', t);
    const goneAt = await waitFor(() => monitor.deleted.get(block), {
      timeoutMs: 5_000,
      what: 'the deletion',
    });
    monitor.stop();
    const detectionMs = BFD_INTERVAL_MS * BFD_MULT;
    const elapsed = goneAt - downAt;
    t.log(
      `${block} left ${watcher.name}'s kernel ${elapsed} ms after ${victim.name}'s link went down (Detection Time ${detectionMs} ms, hold time 240 s)`,
    );
    // The Detection Time, then a withdrawal through the reflector and a kernel write; a busy machine
    // adds scheduling delay, never seconds.
    t.true(elapsed < detectionMs + 1_000, `${elapsed} ms`);
    for (const n of others)
      t.false(
        (await brindleRoutes(n)).some((r) => r.startsWith(block)),
        n.name,
      );
    await waitFor(async () => !(await c.tor.rib('ipv4')).includes(block), {
      timeoutMs: detectionMs + 2_000,
      intervalMs: 50,
      what: 'the ToR (BIRD with BFD) to drop the block',
    });
    const rr = (await api<BfdView>(c.rr, '/api/v1/bfd')).sessions.find((s) => s.peer === victim.address);
    t.is(rr?.state, 'Down', "the reflector's BFD session with the node");
  },
);

/** POST on a daemon's control socket (state changes go there, never over HTTP on the network). */
function socketPost(socketPath: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'POST', timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode! < 300 ? resolve() : reject(new Error(`POST ${path}: HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
