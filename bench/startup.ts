// Startup and per-call cost, as an operator meets them (`npm run bench startup`). Each program runs as
// shipped — bin/* on the compiled dist/ with plain node — side by side, in the same run, with the
// tsx path (the TypeScript compiled at every start, as before the build; its cache warm, the first
// run not counted) and with BIRD/birdc where they have a counterpart:
//   - the daemon, start to `GET /health/ready` answering 200 (BIRD: start to its control socket's
//     greeting, which is when birdc answers), restarting on a datastore that exists;
//   - `brindlectl status` against the running daemon (birdc `show protocols` against BIRD);
//   - `brindle-ipam` ADD then DEL of one container, with the daemon running on the same datastore and
//     without it: the native front /opt/cni/bin/brindle-ipam links to (build/Release/brindle-ipam:
//     the daemon runs the plugin; without it, it execs the Node plugin), beside the Node plugin itself
//     (bin/brindle-ipam) and its tsx path;
//   - idle RSS of the daemon in reflector mode and in node mode (kernel FIB on, in a network namespace
//     of its own), 5 s after it is ready; an empty `node -e ''` is Node 20's own floor, and a node
//     that only imports the daemon's dependencies, or all of its modules, and idles as long is the
//     floor those impose.
// Per case: median and p95 wall time, median CPU time (user + system), peak RSS. Targets (on the
// project's 2-core machine): start to ready ≤ 1.0 s, idle RSS ≤ 60 MB in reflector mode, brindlectl
// status ≤ 250 ms median. Every loop is bounded by a count and every wait by a deadline; daemons,
// BIRD and the namespace are removed even when a case fails.

import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../test/helpers/netns.ts';
import { daemonNodeFlags } from './launcher.ts';
import type { BenchRow } from './table.ts';
import { requireGnuTime, timedRun } from './timed.ts';
import type { Sample } from './timed.ts';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SUITE = 'startup';
const START_RUNS = 7;
const CALL_RUNS = 15;
const IPAM_RUNS = 9;
const READY_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 8_000;
const IDLE_MS = 5_000;
const POLL_MS = 5;
const CLOCK_TICKS_PER_S = 100;

/** Brindle's two ways to run: bin/* on dist/ (as shipped), or the TypeScript through tsx. */
type Path = 'compiled' | 'tsx';
const PATHS: readonly Path[] = ['compiled', 'tsx'];
/** brindle-ipam's native front (native/cni-shim.c), built by `npm run build:native`. */
const FRONT = join(ROOT, 'build/Release/brindle-ipam');
/** The CNI plugin's ways to run: its native front too. */
type IpamPath = Path | 'native front';

export interface Workspace {
  readonly dir: string;
  readonly tsxIpam: string;
}

/** The program `bin` (brindle, brindlectl, brindle-ipam) as node argv on `path`. */
function programArgv(ws: Workspace, path: Path, bin: string): string[] {
  if (path === 'compiled') return [...(bin === 'brindle' ? daemonNodeFlags() : []), join(ROOT, 'bin', bin)];
  const source = { brindle: 'src/main/brindle.ts', brindlectl: 'src/cli/main.ts' }[bin];
  return ['--import=tsx', source ? join(ROOT, source) : ws.tsxIpam];
}

// ---------------------------------------------------------------------------------------------------
// Figures

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function rows(what: string, path: string, samples: readonly Sample[], target?: TargetSpec): BenchRow[] {
  const wall = samples.map((s) => s.wallMs).sort((a, b) => a - b);
  const cpu = samples.map((s) => s.cpuMs).sort((a, b) => a - b);
  const peak = samples.length === 0 ? NaN : Math.max(...samples.map((s) => s.peakRssMb));
  const median = percentile(wall, 50);
  const note = samples.length === 0 ? 'no sample (see stderr)' : `${samples.length} runs`;
  const base = { suite: SUITE, case: `${what} · ${path}` };
  return [
    { ...base, metric: 'median', value: median, unit: 'ms', note, ...target?.(median) },
    { ...base, metric: 'p95', value: percentile(wall, 95), unit: 'ms' },
    { ...base, metric: 'CPU median', value: percentile(cpu, 50), unit: 'ms' },
    { ...base, metric: 'peak RSS', value: peak, unit: 'MB' },
  ];
}

type TargetSpec = (value: number) => { target: string; met: boolean };
const atMost =
  (limit: number, text: string): TargetSpec =>
  (value) => ({ target: text, met: value <= limit });

/** utime + stime of a running process, in ms; its peak and current RSS in MB. */
export function procFigures(pid: number): { cpuMs: number; peakRssMb: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return {
    cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_S,
    peakRssMb: kb('VmHWM') / 1024,
    rssMb: kb('VmRSS') / 1024,
  };
}

// ---------------------------------------------------------------------------------------------------
// Short-lived programs: /usr/bin/time reports their CPU time and peak RSS (timed.ts)

function timed(argv: readonly string[], env: NodeJS.ProcessEnv, input = ''): Promise<Sample> {
  return timedRun(argv, {
    env,
    cwd: ROOT,
    input,
    check: (stdout) => {
      if (stdout.includes('"code"')) throw new Error(`${argv.join(' ')}: ${stdout}`);
    },
  });
}

async function repeat(runs: number, once: (i: number) => Promise<Sample>): Promise<Sample[]> {
  await once(-1); // warm-up, not counted: page cache, tsx's transform cache
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once(i));
  return samples;
}

// ---------------------------------------------------------------------------------------------------
// The daemon

export interface DaemonConfig {
  readonly file: string;
  readonly socket: string;
}

export async function writeConfig(
  ws: Workspace,
  name: string,
  mode: 'reflector' | 'node',
  fib = mode === 'node',
): Promise<DaemonConfig> {
  const file = join(ws.dir, `${name}.yaml`);
  const socket = join(ws.dir, `${name}.sock`);
  const node = mode === 'node' ? `fib: { enabled: ${fib} }\n` : '';
  await writeFile(
    file,
    `mode: ${mode}\nnodeName: bench-node\nrouterId: 127.0.0.1\nnode: { ipv4Address: 127.0.0.1/32 }\n` +
      `datastore: { type: embedded, path: ${join(ws.dir, `${name}-store`)} }\n` +
      `bgp: { listenAddress: 127.0.0.1, listenPort: ${await freePort()} }\n` +
      `api: { listen: '127.0.0.1:${await freePort()}', socket: ${socket} }\n` +
      `log: { level: warn }\n${node}`,
  );
  return { file, socket };
}

/** The status code of GET /health/ready on the control socket, 0 when nothing answers. */
function readyStatus(socket: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/health/ready', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Whether BIRD's control socket greets ("0001 BIRD … ready."). */
function birdGreets(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = connect(socket);
    conn.setTimeout(1000, () => conn.destroy());
    conn.once('data', (data) => {
      conn.destroy();
      resolve(data.toString().startsWith('0001'));
    });
    conn.once('error', () => resolve(false));
    conn.once('close', () => resolve(false));
  });
}

async function waitUntil(check: () => Promise<boolean>, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before it was ready`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`not ready within ${READY_DEADLINE_MS} ms`);
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
  await exited;
  clearTimeout(timer);
}

interface Started {
  readonly child: ChildProcess;
  readonly sample: Sample;
}

/** Starts `argv`, waits until `ready`, and takes the wall time, CPU time and peak RSS up to then. */
export async function startUntilReady(
  argv: readonly string[],
  ready: () => Promise<boolean>,
): Promise<Started> {
  const started = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitUntil(ready, child);
  } catch (error) {
    await stop(child);
    throw error;
  }
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const { cpuMs, peakRssMb } = procFigures(child.pid!);
  return { child, sample: { wallMs, cpuMs, peakRssMb } };
}

export function startDaemon(argv: readonly string[], config: DaemonConfig): Promise<Started> {
  return startUntilReady(
    [...argv, '--config', config.file],
    async () => (await readyStatus(config.socket)) === 200,
  );
}

async function daemonStarts(ws: Workspace, path: Path): Promise<Sample[]> {
  const config = await writeConfig(ws, `start-${path}`, 'reflector');
  const argv = [process.execPath, ...programArgv(ws, path, 'brindle')];
  return repeat(START_RUNS, async () => {
    const { child, sample } = await startDaemon(argv, config);
    await stop(child);
    return sample;
  });
}

/** RSS once the process has been idle IDLE_MS after it was ready. */
async function idleRss(started: Started): Promise<Sample> {
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const { rssMb, cpuMs } = procFigures(started.child.pid!);
  return { wallMs: started.sample.wallMs, cpuMs, peakRssMb: rssMb };
}

// ---------------------------------------------------------------------------------------------------
// BIRD

interface Bird {
  readonly conf: string;
  readonly socket: string;
}

async function birdFiles(ws: Workspace): Promise<Bird | undefined> {
  if (!existsSync('/usr/sbin/bird') || !existsSync('/usr/sbin/birdc')) return undefined;
  const conf = join(ws.dir, 'bird.conf');
  await writeFile(conf, 'router id 127.0.0.1;\nprotocol device {}\n');
  return { conf, socket: join(ws.dir, 'bird.ctl') };
}

function startBird(ws: Workspace, bird: Bird): Promise<Started> {
  const argv = ['/usr/sbin/bird', '-f', '-c', bird.conf, '-s', bird.socket, '-P', join(ws.dir, 'bird.pid')];
  return startUntilReady(argv, () => birdGreets(bird.socket));
}

// ---------------------------------------------------------------------------------------------------
// The cases

async function startCases(ws: Workspace, bird: Bird | undefined): Promise<BenchRow[]> {
  const what = 'daemon start → ready';
  const out: BenchRow[] = [];
  for (const path of PATHS)
    out.push(
      ...rows(
        what,
        path,
        await daemonStarts(ws, path),
        path === 'compiled' ? atMost(1000, '≤ 1,000') : undefined,
      ),
    );
  if (bird) {
    const samples = await repeat(START_RUNS, async () => {
      const started = await startBird(ws, bird);
      await stop(started.child);
      return started.sample;
    });
    out.push(...rows(what, 'BIRD', samples));
  }
  return out;
}

async function statusCases(ws: Workspace, bird: Bird | undefined): Promise<BenchRow[]> {
  const config = await writeConfig(ws, 'status', 'reflector');
  const daemon = await startDaemon([process.execPath, ...programArgv(ws, 'compiled', 'brindle')], config);
  const out: BenchRow[] = [];
  try {
    for (const path of PATHS) {
      const argv = [
        process.execPath,
        ...programArgv(ws, path, 'brindlectl'),
        '--config',
        config.file,
        'status',
      ];
      const samples = await repeat(CALL_RUNS, () => timed(argv, process.env));
      out.push(
        ...rows('brindlectl status', path, samples, path === 'compiled' ? atMost(250, '≤ 250') : undefined),
      );
    }
  } finally {
    await stop(daemon.child);
  }
  if (bird) {
    const started = await startBird(ws, bird);
    try {
      const argv = ['/usr/sbin/birdc', '-s', bird.socket, 'show', 'protocols'];
      out.push(
        ...rows('birdc show protocols', 'BIRD', await repeat(CALL_RUNS, () => timed(argv, process.env))),
      );
    } finally {
      await stop(started.child);
    }
  }
  return out;
}

const IPPOOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: bench-pool }
spec: { cidr: 10.77.0.0/16, blockSize: 26 }
`;

/** ADD then DEL of one container per run, on `path`; returns the ADD and the DEL samples. */
async function ipamCalls(ws: Workspace, path: IpamPath, config: DaemonConfig): Promise<[Sample[], Sample[]]> {
  const argv =
    path === 'native front' ? [FRONT] : [process.execPath, ...programArgv(ws, path, 'brindle-ipam')];
  const netconf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'bench',
    // The daemon's socket, as a node's network config names it (or the default socket, which the
    // shipped conflist relies on); the config file is the datastore path when no daemon answers.
    ipam: { type: 'brindle-ipam', config: config.file, socket: config.socket, nodeName: 'bench-node' },
  });
  const env = (command: string, i: number) => ({
    ...process.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: `bench-${path.replace(' ', '-')}-${i}`,
    CNI_NETNS: '/var/run/netns/bench',
    CNI_IFNAME: 'eth0',
  });
  const adds: Sample[] = [];
  const dels = await repeat(IPAM_RUNS, async (i) => {
    const add = await timed(argv, env('ADD', i), netconf);
    if (i >= 0) adds.push(add);
    return timed(argv, env('DEL', i), netconf);
  });
  return [adds, dels];
}

async function ipamCases(ws: Workspace): Promise<BenchRow[]> {
  // A node's daemon (the one that serves its CNI plugin), its kernel FIB off: no namespace needed.
  const config = await writeConfig(ws, 'ipam', 'node', false);
  const pool = join(ws.dir, 'pool.yaml');
  await writeFile(pool, IPPOOL);
  const ctl = [process.execPath, join(ROOT, 'bin/brindlectl'), '--config', config.file, 'apply', '-f', pool];
  await execFileAsync(ctl[0], ctl.slice(1), { cwd: ROOT, timeout: 60_000 });
  const out: BenchRow[] = [];
  const paths: IpamPath[] = existsSync(FRONT) ? ['native front', ...PATHS] : [...PATHS];
  if (!existsSync(FRONT)) process.stderr.write(`no ${FRONT} (npm run build:native): no native front rows\n`);
  const measure = async (daemon: string) => {
    for (const path of paths) {
      const [adds, dels] = await ipamCalls(ws, path, config);
      out.push(
        ...rows(`brindle-ipam ADD, ${daemon}`, path, adds),
        ...rows(`brindle-ipam DEL, ${daemon}`, path, dels),
      );
    }
  };
  await measure('no daemon');
  const daemon = await startDaemon([process.execPath, ...programArgv(ws, 'compiled', 'brindle')], config);
  try {
    await measure('daemon running');
  } finally {
    await stop(daemon.child);
  }
  return out;
}

async function withNetns<T>(fn: (netns: string) => Promise<T>): Promise<T> {
  const netns = `brindle-bench-${process.pid}`;
  await execFileAsync('ip', ['netns', 'add', netns]);
  try {
    await execFileAsync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    return await fn(netns);
  } finally {
    await execFileAsync('ip', ['netns', 'del', netns]).catch(() => undefined);
  }
}

async function idleCase(ws: Workspace, path: Path, mode: 'reflector' | 'node'): Promise<Sample> {
  const config = await writeConfig(ws, `idle-${mode}-${path}`, mode);
  const program = [process.execPath, ...programArgv(ws, path, 'brindle')];
  const run = async (prefix: readonly string[]) => {
    const started = await startDaemon([...prefix, ...program], config);
    try {
      return await idleRss(started);
    } finally {
      await stop(started.child);
    }
  };
  // Node mode programs the kernel FIB: only in a namespace of its own.
  return mode === 'node' ? withNetns((netns) => run(['ip', 'netns', 'exec', netns])) : run([]);
}

async function idleCases(ws: Workspace, bird: Bird | undefined): Promise<BenchRow[]> {
  const out: BenchRow[] = [];
  const row = (what: string, path: string, s: Sample, target?: TargetSpec): BenchRow => ({
    suite: SUITE,
    case: `${what} · ${path}`,
    metric: 'idle RSS',
    value: s.peakRssMb,
    unit: 'MB',
    note: `${IDLE_MS / 1000} s after ready`,
    ...target?.(s.peakRssMb),
  });
  for (const mode of ['reflector', 'node'] as const)
    for (const path of PATHS) {
      const target = mode === 'reflector' && path === 'compiled' ? atMost(60, '≤ 60') : undefined;
      out.push(row(`daemon idle, ${mode} mode`, path, await idleCase(ws, path, mode), target));
    }
  if (bird) {
    const started = await startBird(ws, bird);
    try {
      out.push(row('daemon idle', 'BIRD', await idleRss(started)));
    } finally {
      await stop(started.child);
    }
  }
  const floor = await repeat(CALL_RUNS, () => timed([process.execPath, '-e', ''], process.env));
  out.push(...rows("node -e '' (Node 20's floor)", 'node', floor));
  for (const [what, modules] of LOADED_FLOORS)
    out.push(row(`node idle, ${what} loaded (floor)`, 'node', await loadedIdle(ws, modules)));
  return out;
}

/** What a bare node imports for the floor rows: the daemon's dependencies, then its own modules. */
const LOADED_FLOORS: readonly (readonly [string, readonly string[]])[] = [
  ['its dependencies', ['rxjs', 'lmdb', 'pino', 'yaml', 'convict']],
  [
    "Brindle's modules",
    ['dist/main/daemon-api.js', 'dist/daemon/daemon.js', 'dist/config/config.js', 'dist/lib/log.js'].map(
      (file) => new URL(file, `file://${ROOT}`).href,
    ),
  ],
];

/** RSS of a node that imports `modules`, starts nothing, and idles IDLE_MS. */
async function loadedIdle(ws: Workspace, modules: readonly string[]): Promise<Sample> {
  const marker = join(ws.dir, `loaded-${process.hrtime.bigint()}`);
  const code =
    modules.map((m) => `await import(${JSON.stringify(m)});`).join('') +
    `(await import('node:fs')).writeFileSync(${JSON.stringify(marker)}, '');setInterval(() => {}, 1000);`;
  const loaded = () => Promise.resolve(existsSync(marker));
  const started = await startUntilReady([process.execPath, '--input-type=module', '-e', code], loaded);
  try {
    return await idleRss(started);
  } finally {
    await stop(started.child);
  }
}

export async function runStartupBench(): Promise<BenchRow[]> {
  requireGnuTime();
  const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-startup-'));
  const tsxIpam = join(dir, 'ipam-tsx.mjs');
  await writeFile(
    tsxIpam,
    `const { main } = await import(${JSON.stringify(join(ROOT, 'src/cni/main.ts'))});\nprocess.exit(await main());\n`,
  );
  const ws = { dir, tsxIpam };
  // Wall times are only as good as the machine is idle; CPU times and RSS much less so.
  const load: BenchRow = {
    suite: SUITE,
    case: 'machine',
    metric: 'load average (1 min)',
    value: loadavg()[0],
    unit: '',
    note: 'trust wall times near 0',
  };
  try {
    const bird = await birdFiles(ws);
    return [
      load,
      ...(await startCases(ws, bird)),
      ...(await statusCases(ws, bird)),
      ...(await ipamCases(ws)),
      ...(await idleCases(ws, bird)),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
