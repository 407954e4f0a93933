// Long-lived graceful restart (RFC 9494) on real forwarding: every route reflector of a cluster dies
// and the pods stay reachable for the long-lived stale time.
//
// Two nodes (`bin/brindle`, node mode, each in its namespace, programming its kernel) are clients of
// two route reflectors (`bin/brindle`, reflector mode, one cluster ID), all on one bridged segment,
// node-to-node mesh off. Each node has a pod (the CNI `ptp` plugin, its address from brindle-ipam)
// in a block of its own. Resources go in through `brindlectl apply`: the BGPPeer from the nodes to
// the reflectors has `restartMode: LongLivedGracefulRestart` and a short `maxRestartTime` (the
// long-lived stale time); the reflectors announce a short Restart Time (`bgp.llgrRestartTimeSec`).
//
// With a ping running from one pod to the other every 0.2 s, both reflectors are SIGKILLed. Through
// the restart time and the long-lived stale time no ping is lost, both nodes' kernels keep the route
// to the other node's block, and `brindlectl routes` shows its paths stale with LLGR_STALE (65535:6)
// once the restart time is over; when the stale time ends the routes leave the kernels. A reflector
// started again brings them back, fresh. Each daemon has its own embedded datastore, so each node
// takes its block from a pool of its own (an IPPool nodeSelector), as if one store assigned them.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brindlectl, cleanEnv } from '../helpers/brindle.ts';
import { createLan } from '../helpers/lan.ts';
import type { Lan } from '../helpers/lan.ts';
import { Cleanup, createNetns, run, sleep, startDaemon, waitFor } from '../helpers/netns.ts';
import type { Daemon } from '../helpers/netns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CNI_BIN = '/usr/lib/cni';
const LAN_INDEX = 67;
const AS = 64512;
const CLUSTER_ID = '10.255.67.100';
/** The Restart Time the reflectors announce: their routes are kept unchanged this long. */
const RESTART_TIME_SEC = 3;
/** The long-lived stale time (BGPPeer maxRestartTime): then kept as LLGR_STALE this long. */
const STALE_TIME_SEC = 15;
/** The pings run while the routes are kept: from the kill to 2 s before the stale time ends. */
const PING_INTERVAL_SEC = 0.2;
const PING_COUNT = Math.floor((RESTART_TIME_SEC + STALE_TIME_SEC - 2) / PING_INTERVAL_SEC);
/** RFC 9494 §2 LLGR_STALE, as `brindlectl routes -o json` writes communities. */
const LLGR_STALE = '65535:6';
/** Brindle's kernel route protocol (fib.protocol's default). */
const PROTO = '205';

interface Host {
  readonly name: string;
  readonly index: number;
  readonly mode: 'reflector' | 'node';
  /** Node mode: the pool its block comes from, and that block (once its pod has an address). */
  readonly pool?: string;
  block?: string;
  netns: string;
  config: string;
  daemon?: Daemon;
  /** Node mode: its pod's namespace and address. */
  pod?: { readonly netns: string; readonly address: string };
}

interface Cluster {
  readonly lan: Lan;
  readonly cleanup: Cleanup;
  readonly dir: string;
  readonly reflectors: readonly Host[];
  readonly nodes: readonly [Host, Host];
}

const host = (name: string, index: number, mode: Host['mode'], pool?: string): Host => ({
  name,
  index,
  mode,
  pool,
  netns: '',
  config: '',
});

const resource = (kind: string, name: string, spec: object, labels?: Record<string, string>) => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: labels ? { name, labels } : { name },
  spec,
});

/** The same resources go into every daemon's own datastore. */
function resources(lan: Lan, hosts: readonly Host[]): object[] {
  return [
    resource('BGPConfiguration', 'default', { asNumber: AS, nodeToNodeMeshEnabled: false }),
    ...hosts.map((h) =>
      h.mode === 'reflector'
        ? resource(
            'Node',
            h.name,
            { bgp: { ipv4Address: `${lan.address4(h.index)}/24`, routeReflectorClusterID: CLUSTER_ID } },
            { 'route-reflector': 'true' },
          )
        : resource('Node', h.name, { bgp: { ipv4Address: `${lan.address4(h.index)}/24` } }, { llgr: h.name }),
    ),
    ...hosts
      .filter((h) => h.pool !== undefined)
      .map((h) =>
        resource('IPPool', `pool-${h.name}`, {
          cidr: h.pool,
          blockSize: 26,
          nodeSelector: `llgr == '${h.name}'`,
        }),
      ),
    resource('BGPPeer', 'to-reflectors', {
      nodeSelector: '!has(route-reflector)',
      peerSelector: "route-reflector == 'true'",
      restartMode: 'LongLivedGracefulRestart',
      maxRestartTime: `${STALE_TIME_SEC}s`,
    }),
  ];
}

function configText(lan: Lan, dir: string, h: Host): string {
  const address = lan.address4(h.index);
  return [
    `mode: ${h.mode}`,
    `nodeName: ${h.name}`,
    `node: { ipv4Address: ${address}/24 }`,
    `datastore: { type: embedded, path: ${join(dir, h.name, 'store')} }`,
    `bgp: { listenAddress: ${address}, listenPort: 179, llgrRestartTimeSec: ${RESTART_TIME_SEC} }`,
    `api: { listen: '127.0.0.1:0', socket: ${join(dir, h.name, 'brindle.sock')} }`,
    'log: { level: info, format: json }',
    `fib: { enabled: ${h.mode === 'node'} }`,
    '',
  ].join('\n');
}

function startBrindle(c: Cluster, h: Host): Daemon {
  h.daemon = startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', h.config],
    { name: `brindle-${h.name}`, cwd: ROOT, env: cleanEnv(), netns: h.netns },
    c.cleanup,
  );
  return h.daemon;
}

async function buildCluster(t: ExecutionContext): Promise<Cluster> {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const dir = await mkdtemp(join(tmpdir(), 'brindle-llgr-fwd-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const lan = await createLan(
    { tag: 'llf', subnet4: `100.64.${LAN_INDEX}.0/24`, subnet6: `fd00:${LAN_INDEX}::/64` },
    cleanup,
  );
  const reflectors = [host('rr1', 1, 'reflector'), host('rr2', 2, 'reflector')];
  const nodes: [Host, Host] = [
    host('node-a', 11, 'node', '10.69.11.0/24'),
    host('node-b', 12, 'node', '10.69.12.0/24'),
  ];
  const all = [...reflectors, ...nodes];
  const objects = join(dir, 'resources.yaml');
  await writeFile(
    objects,
    resources(lan, all)
      .map((r) => JSON.stringify(r))
      .join('\n---\n'),
  );
  await Promise.all(
    all.map(async (h) => {
      h.netns = (await lan.addHost(h.name, h.index)).netns!;
      if (h.mode === 'node') await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: h.netns });
      await mkdir(join(dir, h.name));
      h.config = join(dir, h.name, 'brindle.yaml');
      await writeFile(h.config, configText(lan, dir, h));
      await brindlectl(h.config, 'apply', '-f', objects);
    }),
  );
  const c: Cluster = { lan, cleanup, dir, reflectors, nodes };
  for (const h of all) startBrindle(c, h);
  return c;
}

/** A pod on node `h`: the CNI `ptp` plugin run in the node's namespace, brindle-ipam on CNI_PATH. */
async function addPod(c: Cluster, h: Host): Promise<void> {
  const cniPath = join(c.dir, 'cni');
  await mkdir(cniPath, { recursive: true });
  await symlink(join(ROOT, 'bin', 'brindle-ipam'), join(cniPath, 'brindle-ipam')).catch(() => undefined);
  const netns = await createNetns(`llf-${h.index}p`, c.cleanup);
  const netConf = {
    cniVersion: '1.0.0',
    name: 'llgr',
    type: 'ptp',
    ipam: { type: 'brindle-ipam', config: h.config },
  };
  const env = {
    PATH: process.env.PATH ?? '',
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: `${h.name}-pod`,
    CNI_NETNS: `/var/run/netns/${netns}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: `${cniPath}:${CNI_BIN}`,
  };
  const result = await withStdin(
    'ip',
    ['netns', 'exec', h.netns, join(CNI_BIN, 'ptp')],
    env,
    JSON.stringify(netConf),
  );
  const address = (JSON.parse(result) as { ips: { address: string }[] }).ips[0]?.address.split('/')[0];
  if (!address) throw new Error(`ptp ADD on ${h.name} returned no address: ${result}`);
  h.pod = { netns, address };
  h.block = blockOf(address);
}

/** The /26 block (the pools' blockSize) holding an IPv4 address. */
function blockOf(address: string): string {
  const octets = address.split('.').map(Number);
  octets[3] -= octets[3] % 64;
  return `${octets.join('.')}/26`;
}

/** Runs a command with `input` on stdin (bounded to 30 s); its stdout, or a rejection with its output. */
function withStdin(command: string, args: string[], env: NodeJS.ProcessEnv, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, timeout: 30_000, killSignal: 'SIGKILL' });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} exit ${code}: ${out}`)),
    );
    child.stdin.end(input);
  });
}

/** The kernel route on `h` to the other node's block through that node, or undefined. */
async function kernelRoute(c: Cluster, h: Host): Promise<string | undefined> {
  const other = c.nodes.find((n) => n !== h)!;
  const { stdout } = await run('ip', ['-4', 'route', 'show', 'proto', PROTO], { netns: h.netns });
  const via = `${other.block} via ${c.lan.address4(other.index)} `;
  return stdout.split('\n').find((line) => line.startsWith(via));
}

interface PathView {
  readonly stale?: boolean;
  readonly attributes: { readonly communities?: readonly string[] };
}

/** The paths node `h` holds for the other node's block, from `brindlectl routes -o json`. */
async function pathsToOther(c: Cluster, h: Host): Promise<readonly PathView[]> {
  const other = c.nodes.find((n) => n !== h)!;
  const text = await brindlectl(h.config, 'routes', other.block!, '-o', 'json');
  const doc = JSON.parse(text) as { routes: { prefix: string; paths: PathView[] }[] };
  return doc.routes.find((r) => r.prefix === other.block)?.paths ?? [];
}

const llgrStale = (p: PathView): boolean => (p.attributes.communities ?? []).includes(LLGR_STALE);

/** Both reflectors' paths, kept as stale. */
const stillGraceful = (paths: readonly PathView[]): readonly PathView[] | undefined =>
  paths.length === 2 && paths.every((p) => p.stale === true) ? paths : undefined;

const allLlgrStale = (paths: readonly PathView[]): boolean =>
  stillGraceful(paths) !== undefined && paths.every(llgrStale);

/** ping's "N packets transmitted, M received", whatever its exit code (it fails when replies are lost). */
async function ping(
  from: Host,
  to: Host,
  count: number,
): Promise<{ sent: number; received: number; summary: string }> {
  const args = ['-n', '-q', '-c', String(count), '-i', String(PING_INTERVAL_SEC), '-W', '1', to.pod!.address];
  const timeoutMs = (count * PING_INTERVAL_SEC + 15) * 1000;
  const stdout = await run('ping', args, { netns: from.pod!.netns, timeoutMs }).then(
    (r) => r.stdout,
    (e: { stdout?: string }) => e.stdout ?? '',
  );
  const m = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  const summary = stdout.trim().split('\n').slice(-2).join(' | ');
  return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), summary };
}

/**
 * Samples both nodes' kernel routes every 200 ms from the kill until each is gone (at most
 * `limitMs`): the seconds after the kill at which each node's route was first missing.
 */
async function watchKernelRoutes(
  c: Cluster,
  killedAt: number,
  limitMs: number,
): Promise<(number | undefined)[]> {
  const goneAfterSec: (number | undefined)[] = c.nodes.map(() => undefined);
  while (Date.now() - killedAt < limitMs && goneAfterSec.some((g) => g === undefined)) {
    const routes = await Promise.all(c.nodes.map((h) => kernelRoute(c, h)));
    routes.forEach((r, i) => {
      if (r === undefined && goneAfterSec[i] === undefined) goneAfterSec[i] = (Date.now() - killedAt) / 1000;
    });
    await sleep(200);
  }
  return goneAfterSec;
}

async function diagnosed<T>(t: ExecutionContext, c: Cluster, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    for (const h of [...c.reflectors, ...c.nodes])
      t.log(`--- ${h.name}\n${h.daemon?.output().slice(-2500) ?? ''}`);
    throw error;
  }
}

/** Pods on both nodes, each node routing the other's block through both reflectors. */
async function converge(t: ExecutionContext, c: Cluster): Promise<void> {
  const [a, b] = c.nodes;
  await diagnosed(t, c, async () => {
    await Promise.all(c.nodes.map((h) => addPod(c, h)));
    await waitFor(async () => (await kernelRoute(c, a)) && (await kernelRoute(c, b)), {
      timeoutMs: 45_000,
      intervalMs: 250,
      what: "each node's kernel to route the other node's block",
    });
    // Both reflectors reflected it: two paths on each node.
    await waitFor(
      async () => (await pathsToOther(c, a)).length === 2 && (await pathsToOther(c, b)).length === 2,
      { timeoutMs: 20_000, intervalMs: 250, what: 'a path from each reflector on each node' },
    );
  });
  t.log(`pods ${a.pod!.address} (block ${a.block}) and ${b.pod!.address} (block ${b.block})`);
}

/**
 * What node-a sees each reflector announce (`brindlectl peers ADDRESS`): the Restart Time of its
 * `bgp.llgrRestartTimeSec`, and long-lived graceful restart with the BGPPeer's stale time.
 */
async function reflectorsAnnounceLlgr(t: ExecutionContext, c: Cluster): Promise<void> {
  for (const rr of c.reflectors) {
    const text = await brindlectl(c.nodes[0].config, 'peers', c.lan.address4(rr.index), '-o', 'json');
    const negotiated = (JSON.parse(text) as { negotiated: Negotiated | null }).negotiated;
    t.is(negotiated?.peerGracefulRestartTimeSec, RESTART_TIME_SEC, `${rr.name}'s Restart Time`);
    const llgr = `ipv4-unicast ${STALE_TIME_SEC}s`;
    t.true(
      negotiated?.peerCapabilities.some((cap) => cap.endsWith(llgr)),
      `${rr.name} announces LLGR, ${llgr}`,
    );
  }
}

interface Negotiated {
  readonly peerGracefulRestartTimeSec: number | null;
  readonly peerCapabilities: readonly string[];
}

/** SIGKILL of every reflector at once: no Cease, the nodes' sessions just end. */
async function killReflectors(c: Cluster): Promise<number> {
  for (const rr of c.reflectors) process.kill(rr.daemon!.pid, 'SIGKILL');
  const killedAt = Date.now();
  await Promise.all(c.reflectors.map((rr) => rr.daemon!.exited));
  return killedAt;
}

/** RFC 4724 §4.2: within the restart time node-a keeps both paths stale, not LLGR-stale yet. */
async function keptWithinRestartTime(t: ExecutionContext, c: Cluster, killedAt: number): Promise<void> {
  const paths = await waitFor(async () => stillGraceful(await pathsToOther(c, c.nodes[0])), {
    timeoutMs: 5_000,
    intervalMs: 100,
    what: "node-a's paths to be kept stale",
  });
  const afterSec = (Date.now() - killedAt) / 1000;
  t.log(`node-a's paths kept stale ${afterSec.toFixed(1)} s after the kill`);
  if (afterSec < RESTART_TIME_SEC - 0.5)
    t.false(paths.some(llgrStale), 'no LLGR_STALE within the restart time');
}

/** RFC 9494 §4.2: past the restart time every path of both nodes is LLGR-stale; seconds after the kill. */
function llgrStaleOnBoth(t: ExecutionContext, c: Cluster, killedAt: number): Promise<number[]> {
  return diagnosed(t, c, () =>
    Promise.all(
      c.nodes.map(async (h) => {
        await waitFor(async () => allLlgrStale(await pathsToOther(c, h)) || undefined, {
          timeoutMs: (RESTART_TIME_SEC + 15) * 1000,
          intervalMs: 250,
          what: `${h.name}'s paths to become LLGR-stale`,
        });
        return (Date.now() - killedAt) / 1000;
      }),
    ),
  );
}

/** A reflector started again: both nodes install its fresh route (no stale flag, no LLGR_STALE). */
async function freshFromRestartedReflector(t: ExecutionContext, c: Cluster): Promise<void> {
  startBrindle(c, c.reflectors[0]);
  const fresh = (paths: readonly PathView[]) =>
    paths.length === 1 && paths[0].stale !== true && !llgrStale(paths[0]);
  await diagnosed(t, c, () =>
    waitFor(
      async () =>
        (await kernelRoute(c, c.nodes[0])) &&
        (await kernelRoute(c, c.nodes[1])) &&
        (await Promise.all(c.nodes.map((h) => pathsToOther(c, h)))).every(fresh),
      { timeoutMs: 45_000, intervalMs: 250, what: 'fresh routes from the restarted reflector' },
    ),
  );
}

const seconds = (values: readonly (number | undefined)[]): string =>
  values.map((s) => s?.toFixed(1)).join(' / ');

test('every reflector SIGKILLed: pods stay reachable through the long-lived stale time, then the routes go; a reflector back brings them back fresh', async (t) => {
  const c = await buildCluster(t);
  const [a, b] = c.nodes;
  await converge(t, c);
  await reflectorsAnnounceLlgr(t, c);
  const warmUp = await ping(a, b, 3);
  t.is(warmUp.received, 3, `pod to pod before the kill: ${warmUp.summary}`);

  const pings = ping(a, b, PING_COUNT);
  await sleep(500);
  const killedAt = await killReflectors(c);
  const limitMs = (RESTART_TIME_SEC + STALE_TIME_SEC + 20) * 1000;
  const watch = watchKernelRoutes(c, killedAt, limitMs);
  await keptWithinRestartTime(t, c, killedAt);
  const llgrAfterSec = await llgrStaleOnBoth(t, c, killedAt);
  const during = await pings;
  const goneAfterSec = await watch;
  const pingEndSec = PING_COUNT * PING_INTERVAL_SEC - 0.5;
  t.log(`${during.summary}; pinging from 0.5 s before the kill to ${pingEndSec.toFixed(1)} s after`);
  t.log(`LLGR_STALE on node-a / node-b ${seconds(llgrAfterSec)} s after the kill`);
  t.log(`kernel route gone on node-a / node-b ${seconds(goneAfterSec)} s after the kill`);
  t.is(during.sent, PING_COUNT);
  t.is(during.received, during.sent, 'no ping lost while the reflectors stay dead');
  for (const s of llgrAfterSec)
    t.true(s >= RESTART_TIME_SEC - 0.2, `LLGR-stale after the restart time (${s} s)`);
  for (const s of goneAfterSec) {
    t.truthy(s, `the kernel route went within ${limitMs / 1000} s`);
    const earliest = RESTART_TIME_SEC + STALE_TIME_SEC - 0.5;
    t.true((s ?? 0) >= earliest, `kept in the kernel until the stale time ended (${s} s)`);
  }
  t.is((await ping(a, b, 2)).received, 0, 'no route to the other pod once the stale time ended');

  await freshFromRestartedReflector(t, c);
  const after = await ping(a, b, 5);
  t.is(after.received, 5, `pod to pod after the reflector's return: ${after.summary}`);
});
