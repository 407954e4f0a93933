// What the CNI tests share: a temp Brindle config with its own embedded store and an IPPool, a
// node-mode daemon (`node bin/brindle`, FIB off, control socket in the temp dir) that the test starts
// and may SIGKILL, and running CNI plugins as the runtime does (network config on stdin, CNI_* vars):
// the Node plugin (bin/brindle-ipam) or the native front the package installs (SHIM).

import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CniError } from '../../src/cni/cni.ts';
import { DaemonClient } from '../../src/cni/daemon-client.ts';
import { openStore } from '../../src/datastore/open.ts';
import type { Store } from '../../src/datastore/store.ts';
import { showIpam } from '../../src/ipam/index.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { createNetns, freePort, run, startDaemon, waitFor } from '../helpers/netns.ts';
import type { Cleanup, Daemon } from '../helpers/netns.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PLUGIN = join(ROOT, 'bin', 'brindle-ipam');
/** brindle-ipam's native front (native/cni-shim.c), built by `npm run build:native` (`npm ci`). */
export const SHIM = join(ROOT, 'build', 'Release', 'brindle-ipam');
export const CNI_BIN = '/usr/lib/cni';
const PLUGIN_TIMEOUT_MS = 30_000;

export interface CniEnv {
  readonly dir: string;
  readonly node: string;
  readonly configFile: string;
  /** The daemon's control socket (absent until startBrindle; the plugin then falls back). */
  readonly socket: string;
  /** A temp dir with brindle-ipam linked in, for CNI_PATH. */
  readonly cniPath: string;
  readonly store: Store;
}

export interface PoolSpec {
  readonly name: string;
  readonly cidr: string;
  readonly blockSize: number;
}

/** A temp dir with a Brindle config (embedded store) holding `pools`; `plugin` is on CNI_PATH. */
export async function cniEnv(node: string, pools: readonly PoolSpec[], plugin = PLUGIN): Promise<CniEnv> {
  if (!existsSync(plugin))
    throw new Error(`${plugin} is missing: run 'npm run build:native' (npm ci runs it)`);
  const dir = await mkdtemp(join(tmpdir(), 'brindle-cni-'));
  const configFile = join(dir, 'brindle.yaml');
  const socket = join(dir, 'brindle.sock');
  const bgpPort = await freePort();
  writeFileSync(
    configFile,
    [
      'mode: node',
      `nodeName: ${node}`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: 127.0.0.1, listenPort: ${bgpPort} }`,
      `api: { listen: '127.0.0.1:0', socket: ${socket} }`,
      'log: { level: warn }',
      'fib: { enabled: false }',
      '',
    ].join('\n'),
  );
  const cniPath = join(dir, 'cni');
  mkdirSync(cniPath);
  symlinkSync(plugin, join(cniPath, 'brindle-ipam'));
  const store = await openStore({ backend: 'lmdb', path: join(dir, 'store') });
  for (const pool of pools) {
    const written = await new ResourceStore(store).write(
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: pool.name },
        spec: { cidr: pool.cidr, blockSize: pool.blockSize, nodeSelector: 'all()' },
      },
      'apply',
    );
    if (!written.ok) throw new Error(written.errors.join('\n'));
  }
  return { dir, node, configFile, socket, cniPath, store };
}

export async function removeCniEnv(env: CniEnv | undefined): Promise<void> {
  await env?.store.close();
  if (env) await rm(env.dir, { recursive: true, force: true });
}

/** The daemon's environment without any BRINDLE_* setting of the test run's own. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BRINDLE_')));
}

/** Starts the node's daemon and waits until its socket serves IPAM. */
export async function startBrindle(env: CniEnv, cleanup: Cleanup): Promise<Daemon> {
  const daemon = startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', env.configFile],
    { name: 'brindle', cwd: ROOT, env: cleanEnv() },
    cleanup,
  );
  const client = new DaemonClient(env.socket, 2_000);
  await waitFor(
    async () => {
      if (!daemon.running()) throw new Error(`the daemon exited:\n${daemon.output()}`);
      return (await client.addresses('probe')).length === 0;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'the daemon to serve IPAM on its socket' },
  );
  return daemon;
}

/** SIGKILL, as a crash: no shutdown, the socket file stays behind. */
export async function killBrindle(daemon: Daemon): Promise<void> {
  process.kill(daemon.pid, 'SIGKILL');
  await daemon.exited;
}

export interface Exec {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a CNI plugin binary (or brindlectl: `args`) with only PATH and `vars` in its environment and
 * `input` on stdin, as a runtime does; killed after PLUGIN_TIMEOUT_MS.
 */
export function exec(
  file: string,
  vars: Record<string, string>,
  input: string,
  args: readonly string[] = [],
): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: { PATH: process.env.PATH ?? '', ...vars },
      timeout: PLUGIN_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** The network config the runtime hands the main plugin; `ipam` names this env's config and socket. */
export function netConf(env: CniEnv, network: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: network,
    type: 'ptp',
    ipam: { type: 'brindle-ipam', config: env.configFile, socket: env.socket },
    ...extra,
  });
}

/** A main plugin (ptp, bridge) from CNI_BIN, finding brindle-ipam on CNI_PATH; `path` is its PATH. */
export function mainPlugin(
  env: CniEnv,
  plugin: string,
  vars: { command: string; containerId: string; netns: string; path?: string },
  config: string,
): Promise<Exec> {
  return exec(
    join(CNI_BIN, plugin),
    {
      CNI_COMMAND: vars.command,
      CNI_CONTAINERID: vars.containerId,
      CNI_NETNS: `/var/run/netns/${vars.netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: `${env.cniPath}:${CNI_BIN}`,
      ...(vars.path === undefined ? {} : { PATH: vars.path }),
    },
    config,
  );
}

/** Refuses to run without ptp and bridge, or in a pool this host already routes. */
export async function requirePluginsAndFreePools(pools: readonly string[]): Promise<void> {
  for (const plugin of ['ptp', 'bridge']) {
    if (!existsSync(join(CNI_BIN, plugin)))
      throw new Error(
        `${CNI_BIN}/${plugin} is missing: run 'npm run setup:test' (containernetworking-plugins)`,
      );
  }
  for (const pool of pools) {
    const routed = (await run('ip', ['-4', 'route', 'show', 'root', pool])).stdout.trim();
    if (routed !== '')
      throw new Error(`${pool} is already routed on this host, refusing to test in it:\n${routed}`);
  }
}

export interface AddResult {
  readonly cniVersion: string;
  readonly ips: { readonly address: string; readonly gateway: string }[];
  readonly routes: { readonly dst: string }[];
  readonly dns: object;
}

/**
 * A pod of `network`: its namespace, `call` running the main plugin for it (PATH `path` when given),
 * and a teardown that DELs it and removes its host route.
 */
export async function cniPod(
  env: CniEnv,
  network: string,
  pod: { tag: string; plugin: string; config: string },
  cleanup: Cleanup,
) {
  const containerId = `${pod.tag}-${process.pid}-${Date.now()}`;
  const netns = await createNetns(pod.tag, cleanup);
  const state: { address?: string } = {};
  const call = (command: string, path?: string) =>
    mainPlugin(env, pod.plugin, { command, containerId, netns, path }, pod.config);
  cleanup.add(async () => {
    await call('DEL').catch(() => undefined);
    if (state.address) await run('ip', ['route', 'del', `${state.address}/32`]).catch(() => undefined);
  });
  return { containerId, netns, state, call, handleId: `${network}.${containerId}` };
}

export type CniPod = Awaited<ReturnType<typeof cniPod>>;

/** The pod's ADD, which must succeed; its address is remembered for the teardown. */
export async function addPod(t: ExecutionContext, p: CniPod, path?: string): Promise<AddResult & Exec> {
  const added = await p.call('ADD', path);
  t.is(added.code, 0, `ADD ${p.containerId}:\n${added.stdout}\n${added.stderr}`);
  const result = JSON.parse(added.stdout) as AddResult;
  p.state.address = result.ips[0]?.address.split('/')[0];
  return { ...result, ...added };
}

/** An ADD's outcome, from a plugin process or from runPlugin in this one. */
export interface AddOutcome {
  readonly ok: boolean;
  readonly stdout: string;
}

export const addressOf = (output: { stdout: string }) =>
  (JSON.parse(output.stdout) as AddResult).ips[0].address.split('/')[0];

const blockOf = (address: string) => {
  const parts = address.split('.').map(Number);
  return `${parts.slice(0, 3).join('.')}.${parts[3] & ~3}/30`;
};

/**
 * Two ADDs racing for the last free address of a /30 block (§7.2 steps 6–8), after the node's gateway
 * and two pods took the rest. Pool `two` has a second block: one racer gets the last address, the
 * other one of the next block. Pool `one` has none: exactly one gets it, the other CNI error 102.
 */
export async function raceForLastAddress(
  t: ExecutionContext,
  env: CniEnv,
  add: (pool: string, containerId: string) => Promise<AddOutcome>,
  race: { two: string; one: string; tag: string; network: string },
): Promise<void> {
  const fill = async (pool: string) => {
    const a = await add(pool, `${race.tag}-${pool}-a`);
    const b = await add(pool, `${race.tag}-${pool}-b`);
    t.true(a.ok && b.ok, a.stdout + b.stdout);
    t.is(blockOf(addressOf(a)), blockOf(addressOf(b)));
    return blockOf(addressOf(a));
  };
  const first = await fill(race.two);
  const [x, y] = await Promise.all([add(race.two, `${race.tag}-x`), add(race.two, `${race.tag}-y`)]);
  t.true(x.ok && y.ok, x.stdout + y.stdout);
  t.not(addressOf(x), addressOf(y));
  const blocks = [blockOf(addressOf(x)), blockOf(addressOf(y))];
  t.true(blocks.includes(first), `one of ${blocks.join(', ')} is ${first}`);
  t.is(new Set(blocks).size, 2, 'the other came from the next block');

  await fill(race.one);
  const outcomes = await Promise.all([add(race.one, `${race.tag}-p`), add(race.one, `${race.tag}-q`)]);
  const won = outcomes.filter((o) => o.ok);
  t.is(won.length, 1, outcomes.map((o) => o.stdout).join('\n'));
  t.like(JSON.parse(outcomes.find((o) => !o.ok)?.stdout ?? '{}'), { code: 102 });
  const usage = (await showIpam(env.store, { ip: addressOf(won[0]) })).address;
  const winner = won[0] === outcomes[0] ? 'p' : 'q';
  t.like(usage, { state: 'in-use', handleId: `${race.network}.${race.tag}-${winner}` });
}

const DIRECT_PROCESSES = 4;

/** At most `size` bodies running at once; the rest wait their turn in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  async run<T>(body: () => Promise<T>): Promise<T> {
    if (this.free === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.free -= 1;
    try {
      return await body();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

/**
 * runPlugin's datastore path in a plugin process of its own (the socket pointed nowhere), for tests
 * that call the plugin in-process: one process must not open the embedded store many times at once.
 */
export function directInProcess(env: CniEnv) {
  // A few plugin processes at a time: dozens starting at once on a busy machine outlast any timeout.
  const slots = new Slots(DIRECT_PROCESSES);
  return async (vars: NodeJS.ProcessEnv, stdin: string): Promise<string> => {
    const conf = JSON.parse(stdin) as { ipam: Record<string, unknown> };
    conf.ipam.socket = join(env.dir, 'no-daemon.sock');
    const cni = Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith('CNI_'))) as Record<
      string,
      string
    >;
    const result = await slots.run(() => exec(PLUGIN, cni, JSON.stringify(conf)));
    if (result.code === 0) return result.stdout;
    if (result.stdout === '')
      throw new CniError(11, `the plugin process ended without an answer (${result.code})`);
    const error = JSON.parse(result.stdout) as { code: number; msg: string };
    throw new CniError(error.code, error.msg);
  };
}

/** Whether the plugin fell back to the datastore (it says so on stderr). */
export function usedDatastore(output: { stderr: string }): boolean {
  return output.stderr.includes('using the datastore');
}
