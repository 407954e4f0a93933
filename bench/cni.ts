// brindle-ipam ADD latency as the container runtime sees it: one plugin process per call, spawned
// with the network config on stdin, timed from spawn to exit (targets: with the node's daemon
// running, median ≤ 100 ms and p95 ≤ 200 ms over 300 sequential ADDs and over 8 concurrent streams;
// without it, no slower than the compiled datastore path). The plugins and the daemon run as they
// ship: the native front build/Release/brindle-ipam (what /opt/cni/bin/brindle-ipam links to), the
// Node plugin bin/brindle-ipam, and bin/brindle, on the compiled dist/ (`npm ci` builds all three).
// Each call's CPU time (user + system, GNU time) is reported next to its wall time, and with the
// daemon up the daemon's own CPU time per ADD. Cases:
//   - bare node: `node -e ''`, the floor any Node plugin pays on this machine;
//   - daemon up, native front: the daemon runs the plugin (POST /api/v1/cni); no Node process starts;
//     its DELs are timed too;
//   - daemon up, Node plugin: the entry asks the daemon over its control socket (src/cni/main.ts);
//   - daemon up, in-process: the same request from this process (runPlugin), without a process start:
//     what the daemon and the socket cost, so the rest of a plugin call is Node's own start-up;
//   - daemon down, Node plugin and native front: the socket is gone, the Node plugin (exec'd by the
//     front after one refused connect) imports the datastore path and allocates itself.
// Each case uses an embedded store in a temp dir and DELs what it allocated. Counts and a deadline
// bound every loop; BENCH_SCALE=small runs a few calls of each, to check the suite works.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DaemonClient } from '../src/cni/daemon-client.ts';
import { runPlugin } from '../src/cni/main.ts';
import { openStore } from '../src/datastore/open.ts';
import { ResourceStore } from '../src/resources/store.ts';
import { daemonNodeFlags } from './launcher.ts';
import type { BenchRow } from './table.ts';
import { procFigures } from './startup.ts';
import { requireGnuTime, timedRun } from './timed.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NODE = 'bench-cni-node';
const SMALL = process.env.BENCH_SCALE === 'small';
const SEQUENTIAL = SMALL ? 30 : 300;
const STREAMS = 8;
const PER_STREAM = SMALL ? 4 : 40;
/** The datastore path costs ~0.5 s a call: fewer calls, same shape. */
const DOWN_SEQUENTIAL = SMALL ? 8 : 40;
const DOWN_PER_STREAM = SMALL ? 2 : 8;
const BARE = SMALL ? 10 : 30;
/** Per case. */
const DEADLINE_MS = 180_000;
const PLUGIN = join(ROOT, 'bin/brindle-ipam');
const FRONT = join(ROOT, 'build/Release/brindle-ipam');
const DAEMON = join(ROOT, 'bin/brindle');

interface Setup {
  readonly dir: string;
  readonly config: string;
  readonly socket: string;
}

async function setup(): Promise<Setup> {
  requireGnuTime();
  if (!existsSync(join(ROOT, 'dist/cni/main.js')))
    throw new Error('dist/ is missing: run `npm run build` (npm ci runs it)');
  if (!existsSync(FRONT))
    throw new Error(`${FRONT} is missing: run \`npm run build:native\` (npm ci runs it)`);
  const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-cni-'));
  const socket = join(dir, 'brindle.sock');
  const config = join(dir, 'brindle.yaml');
  writeFileSync(
    config,
    [
      'mode: node',
      `nodeName: ${NODE}`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: 127.0.0.1, listenPort: ${20_000 + (process.pid % 20_000)} }`,
      `api: { listen: '127.0.0.1:0', socket: ${socket} }`,
      'log: { level: warn }',
      'fib: { enabled: false }',
      '',
    ].join('\n'),
  );
  const store = await openStore({ backend: 'lmdb', path: join(dir, 'store') });
  const pool = { cidr: '10.70.0.0/16', blockSize: 26, nodeSelector: 'all()' };
  const meta = { name: 'bench-cni' };
  await new ResourceStore(store).write(
    { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: meta, spec: pool },
    'apply',
  );
  const maxBlocks = { maxBlocksPerHost: 100, strictAffinity: true };
  await new ResourceStore(store).write(
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPAMConfiguration',
      metadata: { name: 'default' },
      spec: maxBlocks,
    },
    'apply',
  );
  await store.close();
  mkdirSync(join(dir, 'netns'));
  return { dir, config, socket };
}

/** The daemon as shipped; resolves once its socket serves IPAM. */
async function startBrindle(s: Setup): Promise<ChildProcess> {
  const daemon = spawn(process.execPath, [...daemonNodeFlags(), DAEMON, '--config', s.config], {
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '' },
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      await new DaemonClient(s.socket, 2_000).addresses('probe');
      return daemon;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  daemon.kill('SIGKILL');
  throw new Error('the daemon did not start');
}

const conf = (s: Setup) =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'bench',
    type: 'ptp',
    ipam: { type: 'brindle-ipam', config: s.config, socket: s.socket },
  });

/** One ADD or DEL through runPlugin in this process (the daemon must be up); its wall time in ms. */
async function inProcess(s: Setup, containerId: string, command: 'ADD' | 'DEL'): Promise<Timing> {
  const started = performance.now();
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: join(s.dir, 'netns', containerId),
  };
  const output = await runPlugin(env, conf(s));
  if (output.exitCode !== 0 || output.stderr !== '')
    throw new Error(`${command}: ${output.stdout}${output.stderr}`);
  return { wallMs: performance.now() - started };
}

interface Timing {
  readonly wallMs: number;
  /** The plugin process's user + system time; absent in-process. */
  readonly cpuMs?: number;
}

/** One plugin process running `argv`, as the runtime starts it; its wall and CPU time in ms. */
const process_ =
  (argv: readonly string[]): Call =>
  (s, containerId, command) => {
    const env = {
      PATH: process.env.PATH ?? '',
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: join(s.dir, 'netns', containerId),
      CNI_IFNAME: 'eth0',
    };
    return timedRun(argv, { env, input: conf(s), check: failedResult(command) });
  };

const nodePlugin = process_([process.execPath, PLUGIN]);
const front = process_([FRONT]);

/** A CNI error result on stdout (exit code 0 is not enough to know the call worked). */
const failedResult = (command: string) => (stdout: string) => {
  if (stdout.includes('"code"')) throw new Error(`${command}: ${stdout}`);
};

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface Sample {
  readonly times: number[];
  readonly cpu: number[];
  readonly ids: string[];
}

type Call = (s: Setup, containerId: string, command: 'ADD' | 'DEL') => Promise<Timing>;

async function sequential(
  s: Setup,
  tag: string,
  count: number,
  deadline: number,
  call: Call,
  command: 'ADD' | 'DEL' = 'ADD',
): Promise<Sample> {
  const sample: Sample = { times: [], cpu: [], ids: [] };
  for (let i = 0; i < count && Date.now() < deadline; i += 1) {
    sample.ids.push(`${tag}-${i}`);
    const timing = await call(s, `${tag}-${i}`, command);
    sample.times.push(timing.wallMs);
    if (timing.cpuMs !== undefined) sample.cpu.push(timing.cpuMs);
  }
  return sample;
}

async function streams(
  s: Setup,
  tag: string,
  perStream: number,
  deadline: number,
  call: Call,
): Promise<Sample> {
  const parts = await Promise.all(
    Array.from({ length: STREAMS }, (_, k) => sequential(s, `${tag}-${k}`, perStream, deadline, call)),
  );
  return {
    times: parts.flatMap((p) => p.times),
    cpu: parts.flatMap((p) => p.cpu),
    ids: parts.flatMap((p) => p.ids),
  };
}

async function release(s: Setup, ids: readonly string[], call: Call): Promise<void> {
  for (let i = 0; i < ids.length; i += STREAMS) {
    await Promise.all(ids.slice(i, i + STREAMS).map((id) => call(s, id, 'DEL')));
  }
}

function rows(
  name: string,
  sample: Sample,
  targets: { median?: string; p95?: string },
  limits?: [number, number],
) {
  const sorted = [...sample.times].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const p95 = quantile(sorted, 0.95);
  const note = `${sorted.length} calls`;
  const cpu = [...sample.cpu].sort((a, b) => a - b);
  const cpuRow = {
    suite: 'cni',
    case: name,
    metric: 'CPU median',
    value: quantile(cpu, 0.5),
    unit: 'ms',
    note: 'the plugin process: user + system',
  };
  return [
    {
      suite: 'cni',
      case: name,
      metric: 'median',
      value: median,
      unit: 'ms',
      note,
      ...target(targets.median, limits && median <= limits[0]),
    },
    {
      suite: 'cni',
      case: name,
      metric: 'p95',
      value: p95,
      unit: 'ms',
      note,
      ...target(targets.p95, limits && p95 <= limits[1]),
    },
    ...(cpu.length > 0 ? [cpuRow] : []),
  ] satisfies BenchRow[];
}

function target(text: string | undefined, met: boolean | undefined) {
  return text === undefined ? {} : { target: text, met: met ?? false };
}

const TARGET = { median: '≤ 100', p95: '≤ 200' };
const LIMITS: [number, number] = [100, 200];

/** The daemon's CPU time per call over `body`: its share of each ADD, which the plugin's does not show. */
async function withDaemonCpu(daemon: ChildProcess, name: string, body: () => Promise<Sample>) {
  const before = procFigures(daemon.pid!).cpuMs;
  const sample = await body();
  const perCall = (procFigures(daemon.pid!).cpuMs - before) / Math.max(1, sample.times.length);
  const row: BenchRow = {
    suite: 'cni',
    case: name,
    metric: 'daemon CPU per call',
    value: perCall,
    unit: 'ms',
    note: 'the daemon: user + system, 10 ms ticks',
  };
  return { sample, row };
}

/** With the daemon up: 300 sequential ADDs and 8 streams through `call`, then (front only) its DELs. */
async function daemonUp(s: Setup, daemon: ChildProcess, label: string, call: Call): Promise<BenchRow[]> {
  const deadline = () => Date.now() + DEADLINE_MS;
  const tag = label.replaceAll(' ', '-');
  const name = (what: string) => `daemon up, ${label}, ${what}`;
  const seqName = name(`${SEQUENTIAL} sequential`);
  const seq = await withDaemonCpu(daemon, seqName, () =>
    sequential(s, `${tag}-seq`, SEQUENTIAL, deadline(), call),
  );
  const parName = name(`${STREAMS} concurrent streams`);
  const par = await withDaemonCpu(daemon, parName, () =>
    streams(s, `${tag}-par`, PER_STREAM, deadline(), call),
  );
  const out = [
    ...rows(seqName, seq.sample, call === inProcess ? {} : TARGET, LIMITS),
    seq.row,
    ...rows(parName, par.sample, call === inProcess ? {} : TARGET, LIMITS),
    par.row,
  ];
  if (call === front) {
    const delName = name(`DEL, ${seq.sample.ids.length} sequential`);
    const dels = await withDaemonCpu(daemon, delName, () =>
      sequential(s, `${tag}-seq`, seq.sample.ids.length, deadline(), call, 'DEL'),
    );
    out.push(...rows(delName, dels.sample, {}), dels.row);
    await release(s, par.sample.ids, inProcess);
  } else {
    // Untimed: DEL through the daemon, in-process.
    await release(s, [...seq.sample.ids, ...par.sample.ids], inProcess);
  }
  return out;
}

/** With the daemon down: the datastore path, through `call`. */
async function daemonDown(s: Setup, label: string, call: Call): Promise<BenchRow[]> {
  const deadline = () => Date.now() + DEADLINE_MS;
  const tag = `down-${label.replaceAll(' ', '-')}`;
  const seq = await sequential(s, `${tag}-seq`, DOWN_SEQUENTIAL, deadline(), call);
  const par = await streams(s, `${tag}-par`, DOWN_PER_STREAM, deadline(), call);
  await release(s, [...seq.ids, ...par.ids], call);
  return [
    ...rows(`daemon down, ${label}, ${DOWN_SEQUENTIAL} sequential`, seq, {}),
    ...rows(`daemon down, ${label}, ${STREAMS} concurrent streams`, par, {}),
  ];
}

export async function runCniBench(): Promise<BenchRow[]> {
  const s = await setup();
  const out: BenchRow[] = [
    {
      suite: 'cni',
      case: 'machine',
      metric: 'load average (1 min)',
      value: loadavg()[0],
      unit: '',
      note: 'trust wall times near 0',
    },
  ];
  let daemon: ChildProcess | undefined;
  try {
    const bare: Sample = { times: [], cpu: [], ids: [] };
    for (let i = 0; i < BARE; i += 1) {
      const { wallMs, cpuMs } = await timedRun([process.execPath, '-e', '']);
      bare.times.push(wallMs);
      bare.cpu.push(cpuMs);
    }
    out.push(...rows("bare `node -e ''`", bare, {}));

    daemon = await startBrindle(s);
    out.push(...(await daemonUp(s, daemon, 'native front', front)));
    out.push(...(await daemonUp(s, daemon, 'Node plugin', nodePlugin)));
    out.push(...(await daemonUp(s, daemon, 'in-process', inProcess)));
    daemon.kill('SIGKILL');
    daemon = undefined;

    out.push(...(await daemonDown(s, 'Node plugin', nodePlugin)));
    out.push(...(await daemonDown(s, 'native front', front)));
  } finally {
    daemon?.kill('SIGKILL');
    await rm(s.dir, { recursive: true, force: true });
  }
  return out;
}
