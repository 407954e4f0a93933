// brindle-ipam ADD latency as the container runtime sees it: one plugin process per call, spawned
// with the network config on stdin, timed from spawn to exit (targets: with the node's daemon
// running, median ≤ 100 ms and p95 ≤ 200 ms over 300 sequential ADDs and over 8 concurrent streams;
// without it, no slower than the compiled datastore path). The plugin runs compiled, as it ships:
// src/ is compiled with tsc into a temp dir and run with plain node (no tsx). Cases:
//   - bare node: `node -e ''`, the floor any Node plugin pays on this machine;
//   - daemon up: the entry asks the daemon over its control socket (src/cni/main.ts);
//   - daemon up, in-process: the same request from this process (runPlugin), without a process start:
//     what the daemon and the socket cost, so the rest of a plugin call is Node's own start-up;
//   - daemon down: the socket is gone, the entry imports the datastore path and allocates itself.
// Each case uses an embedded store in a temp dir and DELs what it allocated. Counts and a deadline
// bound every loop.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DaemonClient } from '../src/cni/daemon-client.ts';
import { runPlugin } from '../src/cni/main.ts';
import { openStore } from '../src/datastore/open.ts';
import { ResourceStore } from '../src/resources/store.ts';
import type { BenchRow } from './table.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const NODE = 'bench-cni-node';
const SEQUENTIAL = 300;
const STREAMS = 8;
const PER_STREAM = 40;
/** The datastore path costs ~0.5 s a call: fewer calls, same shape. */
const DOWN_SEQUENTIAL = 40;
const DOWN_PER_STREAM = 8;
const BARE = 30;
/** Per case. */
const DEADLINE_MS = 180_000;
const CALL_TIMEOUT_MS = 30_000;
const COMPILE_TIMEOUT_MS = 300_000;

interface Setup {
  readonly dir: string;
  readonly entry: string;
  readonly config: string;
  readonly socket: string;
}

/** Compiles src/ with tsc into `dir` (imports rewritten to .js) and writes the plugin's entry. */
async function compile(dir: string): Promise<string> {
  await run(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.json'),
      '--noEmit',
      'false',
      '--rewriteRelativeImportExtensions',
      '--outDir',
      dir,
      '--rootDir',
      ROOT,
    ],
    '',
    undefined,
    COMPILE_TIMEOUT_MS,
  );
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const entry = join(dir, 'brindle-ipam.js');
  writeFileSync(entry, "import { main } from './src/cni/main.js';\nprocess.exit(await main());\n");
  return entry;
}

function run(
  file: string,
  args: readonly string[],
  input = '',
  env?: NodeJS.ProcessEnv,
  timeout = CALL_TIMEOUT_MS,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(file, args, {
      env,
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(0) : reject(new Error(`${file} exited ${code}: ${stderr}`)),
    );
    child.stdin?.end(input);
  });
}

async function setup(): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-cni-'));
  const entry = await compile(join(dir, 'build'));
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
  return { dir, entry, config, socket };
}

/** The daemon, started from the compiled tree; resolves once its socket serves IPAM. */
async function startBrindle(s: Setup): Promise<ChildProcess> {
  const daemon = spawn(process.execPath, [join(s.dir, 'build/src/main/brindle.js'), '--config', s.config], {
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

/** One ADD or DEL through runPlugin in this process (the daemon must be up); its time in ms. */
async function inProcess(s: Setup, containerId: string, command: 'ADD' | 'DEL'): Promise<number> {
  const started = performance.now();
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: join(s.dir, 'netns', containerId),
  };
  const output = await runPlugin(env, conf(s));
  if (output.exitCode !== 0 || output.stderr !== '')
    throw new Error(`${command}: ${output.stdout}${output.stderr}`);
  return performance.now() - started;
}

/** One plugin process; resolves with its wall time in ms. */
async function plugin(s: Setup, containerId: string, command: 'ADD' | 'DEL'): Promise<number> {
  const env = {
    PATH: process.env.PATH ?? '',
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: join(s.dir, 'netns', containerId),
    CNI_IFNAME: 'eth0',
  };
  const started = performance.now();
  await run(process.execPath, [s.entry], conf(s), env);
  return performance.now() - started;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface Sample {
  readonly times: number[];
  readonly ids: string[];
}

type Call = typeof plugin;

async function sequential(
  s: Setup,
  tag: string,
  count: number,
  deadline: number,
  call: Call = plugin,
): Promise<Sample> {
  const sample: Sample = { times: [], ids: [] };
  for (let i = 0; i < count && Date.now() < deadline; i += 1) {
    sample.ids.push(`${tag}-${i}`);
    sample.times.push(await call(s, `${tag}-${i}`, 'ADD'));
  }
  return sample;
}

async function streams(
  s: Setup,
  tag: string,
  perStream: number,
  deadline: number,
  call: Call = plugin,
): Promise<Sample> {
  const parts = await Promise.all(
    Array.from({ length: STREAMS }, (_, k) => sequential(s, `${tag}-${k}`, perStream, deadline, call)),
  );
  return { times: parts.flatMap((p) => p.times), ids: parts.flatMap((p) => p.ids) };
}

async function release(s: Setup, ids: readonly string[], call: Call = plugin): Promise<void> {
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
  const note = `${sorted.length} ADDs`;
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
  ] satisfies BenchRow[];
}

function target(text: string | undefined, met: boolean | undefined) {
  return text === undefined ? {} : { target: text, met: met ?? false };
}

export async function runCniBench(): Promise<BenchRow[]> {
  const s = await setup();
  const deadline = () => Date.now() + DEADLINE_MS;
  const out: BenchRow[] = [];
  let daemon: ChildProcess | undefined;
  try {
    const bare: number[] = [];
    for (let i = 0; i < BARE; i += 1) {
      const started = performance.now();
      await run(process.execPath, ['-e', '']);
      bare.push(performance.now() - started);
    }
    out.push(...rows("bare `node -e ''`", { times: bare, ids: [] }, {}));

    daemon = await startBrindle(s);
    const seq = await sequential(s, 'up-seq', SEQUENTIAL, deadline());
    out.push(
      ...rows(`daemon up, ${SEQUENTIAL} sequential`, seq, { median: '≤ 100', p95: '≤ 200' }, [100, 200]),
    );
    const par = await streams(s, 'up-par', PER_STREAM, deadline());
    out.push(
      ...rows(`daemon up, ${STREAMS} concurrent streams`, par, { median: '≤ 100', p95: '≤ 200' }, [100, 200]),
    );
    const local = await sequential(s, 'up-local', SEQUENTIAL, deadline(), inProcess);
    out.push(...rows(`daemon up, in-process, ${SEQUENTIAL} sequential`, local, {}));
    const localPar = await streams(s, 'up-local-par', PER_STREAM, deadline(), inProcess);
    out.push(...rows(`daemon up, in-process, ${STREAMS} concurrent streams`, localPar, {}));
    // Untimed: DEL through the daemon, in-process.
    await release(s, [...seq.ids, ...par.ids, ...local.ids, ...localPar.ids], inProcess);
    daemon.kill('SIGKILL');
    daemon = undefined;

    const downSeq = await sequential(s, 'down-seq', DOWN_SEQUENTIAL, deadline());
    out.push(...rows(`daemon down, ${DOWN_SEQUENTIAL} sequential`, downSeq, {}));
    const downPar = await streams(s, 'down-par', DOWN_PER_STREAM, deadline());
    out.push(...rows(`daemon down, ${STREAMS} concurrent streams`, downPar, {}));
    await release(s, [...downSeq.ids, ...downPar.ids]);
  } finally {
    daemon?.kill('SIGKILL');
    await rm(s.dir, { recursive: true, force: true });
  }
  return out;
}
