// brindlectl status, peers, routes and fib against a node-mode daemon: `bin/brindle` in a network
// namespace of its own, programming that namespace's kernel, with real BGP sessions to two speakers in
// a second namespace (speakers-child.ts). The speakers announce routes that exercise the decision
// process (losers at LOCAL_PREF and AS_PATH length, an unreachable next hop, an ECMP pair) and one
// route the kernel refuses (a static route holds its prefix). IPAM gives the node an IPv4 block, which
// it originates and blackholes, and an IPv6 block from a pool not exported over BGP (blackholed only).
// Inside the namespaces addresses and ports are fixed; times, durations and the few counters that
// depend on timing are masked.
//
// Golden files (test/cli/golden/node-*) change only when asked to:
//
//   UPDATE_GOLDEN=1 npx ava test/cli/node-daemon.test.ts    # rewrite them from the current output
//   npx ava test/cli/node-daemon.test.ts                    # then check, and review the git diff
//
// Also here: the FIB and IPAM series the daemon serves on /metrics, and fib's filters. Every child
// (daemon, speakers, CLI) is bounded and stopped by its PID; the namespaces and the temp dir go in
// after.always, and the netns helper's exit hook deletes the namespaces if the process dies first.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { matchesGolden } from './golden.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Origin } from '../../src/bgp/constants.ts';
import { formatDocument } from '../../src/cli/output.ts';
import { openStore } from '../../src/datastore/open.ts';
import { IpamClient } from '../../src/ipam/index.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { call, normalise } from '../api/support.ts';
import {
  Cleanup,
  createLinkedNetns,
  createNetns,
  inNetns,
  run,
  startDaemon,
  waitFor,
} from '../helpers/netns.ts';
import type { Daemon } from '../helpers/netns.ts';
import type { TestRoute } from '../helpers/routes.ts';
import type { SpeakersSpec } from './speakers-child.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin');
const SPEAKERS_CHILD = fileURLToPath(new URL('./speakers-child.ts', import.meta.url));
const CLI_TIMEOUT_MS = 30_000;
const CLI_CONCURRENCY = 2;

const NODE = '10.99.0.1';
const RACK_A = '10.99.0.2';
const RACK_B = '10.99.0.3';
const AS = 64512;
/** Loc-RIB destinations once everything arrived: 7 announced and the node's IPv4 block. */
const RIB_PREFIXES = 8;
/** Their paths: 6 from one speaker, 4 from the other, and the block's. */
const RIB_PATHS = 11;

interface Fixture {
  readonly dir: string;
  readonly config: string;
  readonly socket: string;
  /** The node's IPAM blocks ("10.65.x.y/26", "fd00:65::x/122"). */
  readonly block: string;
  readonly block6: string;
  readonly daemon: Daemon;
}

const cleanup = new Cleanup();
let fixture: Promise<Fixture> | undefined;

test.after.always(() => cleanup.run());

function route(nextHop: string, prefix: string, extra: Partial<TestRoute['attributes']> = {}): TestRoute {
  return { prefix, attributes: { origin: Origin.Igp, asPath: [], nextHop, ...extra } };
}

const SPEAKERS: SpeakersSpec['speakers'] = [
  {
    address: RACK_A,
    remote: NODE,
    routes: [
      route(RACK_A, '10.244.1.0/24', { communities: [AS * 65536 + 7] }),
      route(RACK_A, '10.244.9.0/24', { localPref: 100 }),
      route(RACK_A, '10.244.8.0/24', { asPath: [{ type: 2, asns: [65001] }] }),
      route(RACK_A, '10.244.7.0/24'),
      route(RACK_A, '10.244.4.0/24'),
      route('192.0.2.1', '10.244.3.0/24'),
    ],
  },
  {
    address: RACK_B,
    remote: NODE,
    routes: [
      route(RACK_B, '10.244.2.0/24', { multiExitDisc: 5 }),
      route(RACK_B, '10.244.9.0/24', { localPref: 200 }),
      route(RACK_B, '10.244.8.0/24'),
      route(RACK_B, '10.244.7.0/24'),
    ],
  },
];

/**
 * The datastore as an operator would have left it: BGPPeers, two pools, pods on this node. The IPv6
 * pool is not exported over BGP (only blackholed): the sessions here are IPv4 and carry IPv4 only.
 */
async function seedStore(path: string): Promise<{ block: string; block6: string }> {
  const store = await openStore({ backend: 'lmdb', path });
  try {
    const resources = new ResourceStore(store);
    const write = async (kind: string, name: string, spec: object) => {
      const result = await resources.write(
        { apiVersion: 'projectcalico.org/v3', kind, metadata: { name }, spec },
        'apply',
      );
      if (!result.ok) throw new Error(result.errors.join('; '));
    };
    await write('BGPPeer', 'rack-a', { peerIP: RACK_A, asNumber: AS });
    await write('BGPPeer', 'rack-b', { peerIP: RACK_B, asNumber: AS });
    await write('IPPool', 'pool-a', { cidr: '10.65.0.0/16', blockSize: 26, nodeSelector: 'all()' });
    await write('IPPool', 'pool-b6', {
      cidr: 'fd00:65::/112',
      blockSize: 122,
      nodeSelector: 'all()',
      disableBGPExport: true,
    });
    const ipam = new IpamClient({ store });
    const pods = await ipam.autoAssign({ node: 'node-1', num4: 2, num6: 1, intendedUse: 'Workload' });
    return { block: pods.ipv4[0].block, block6: pods.ipv6[0].block };
  } finally {
    await store.close();
  }
}

/** The speakers' child in `netns`, once it listens. */
async function startSpeakers(netns: string): Promise<void> {
  const spec: SpeakersSpec = { port: 179, as: AS, speakers: SPEAKERS };
  const [file, argv] = inNetns(netns, process.execPath, [
    '--import=tsx',
    SPEAKERS_CHILD,
    JSON.stringify(spec),
  ]);
  const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], cwd: ROOT });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  cleanup.add(async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-16_384)));
  let ready = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.includes('"ready"')) ready = true;
  });
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`the speakers exited:\n${output}`);
      return ready;
    },
    { timeoutMs: 30_000, intervalMs: 50, what: 'the speakers to listen' },
  );
}

async function setup(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-ctl-node-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const peers = await createNetns('ctlpeers', cleanup);
  const { netns } = await createLinkedNetns(
    {
      tag: 'ctlnode',
      peerNetns: peers,
      ifname: 'eth0',
      peerIfname: 'eth0',
      addresses: [`${NODE}/24`],
      peerAddresses: [`${RACK_A}/24`, `${RACK_B}/24`],
    },
    cleanup,
  );
  // Another routing daemon's route at a prefix Brindle will want, at the metric Brindle gives it
  // (2147483647 − LOCAL_PREF 100, as Calico's BIRD does): the kernel refuses ours (EEXIST). At any
  // other metric the two would stand side by side.
  await run('ip', [
    '-n',
    netns,
    'route',
    'add',
    '10.244.4.0/24',
    'via',
    RACK_A,
    'proto',
    'static',
    'metric',
    '2147483547',
  ]);
  const { block, block6 } = await seedStore(join(dir, 'store'));
  await startSpeakers(peers);

  const config = join(dir, 'brindle.yaml');
  const socket = join(dir, 'brindle.sock');
  await writeFile(
    config,
    [
      'mode: node',
      'nodeName: node-1',
      `node: { ipv4Address: ${NODE}/24 }`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: ${NODE}, listenPort: 179 }`,
      `api: { listen: '127.0.0.1:9179', socket: ${socket} }`,
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  const daemon = startDaemon(
    process.execPath,
    [join(BIN, 'brindle'), '--config', config],
    { name: 'brindle', netns, env: cleanEnv(), cwd: dir, stopTimeoutMs: 6_000 },
    cleanup,
  );
  await converged(socket, daemon);
  return { dir, config, socket, block, block6, daemon };
}

interface FibDoc {
  summary: { desired: number; installed: number; pending: number; failed: number };
  routes: { prefix: string; state: string; nextHops: { gateway: string | null }[] }[];
}

/**
 * Every session up, every path in the Loc-RIB, and the FIB settled with its one refusal and with the
 * decisions that need both speakers' paths (10.244.{7,8,9}.0/24) made: the goldens see one state.
 */
async function converged(socketPath: string, daemon: Daemon): Promise<void> {
  const get = async <T>(path: string): Promise<T> => {
    if (!daemon.running()) throw new Error(`the daemon exited:\n${daemon.output()}`);
    return (await call({ socketPath }, 'GET', path)).json<T>();
  };
  const gateways = (fib: FibDoc, prefix: string) => {
    const found = fib.routes.find((r) => r.prefix === prefix && r.state === 'installed');
    return found?.nextHops.map((h) => h.gateway).join(',');
  };
  await waitFor(
    async () => {
      const status = await get<{
        peers: { state: string; counts?: { received: number; advertised: number } }[];
      }>('/api/v1/status');
      const routes = await get<{ count: number; routes: { paths: unknown[] }[] }>('/api/v1/routes');
      const fib = await get<FibDoc>('/api/v1/fib');
      const s = fib.summary;
      return (
        status.peers.length === 2 &&
        status.peers.every((p) => p.state === 'Established') &&
        // The per-peer counts come from the RIB census, which follows the Loc-RIB a little later.
        status.peers.reduce((n, p) => n + (p.counts?.received ?? 0), 0) === RIB_PATHS - 1 &&
        status.peers.every((p) => p.counts?.advertised === 1) &&
        routes.count === RIB_PREFIXES &&
        routes.routes.flatMap((r) => r.paths).length === RIB_PATHS &&
        s.desired === 8 &&
        s.installed === 7 &&
        s.failed === 1 &&
        s.pending === 0 &&
        gateways(fib, '10.244.7.0/24') === `${RACK_A},${RACK_B}` &&
        gateways(fib, '10.244.8.0/24') === RACK_B &&
        gateways(fib, '10.244.9.0/24') === RACK_B
      );
    },
    { timeoutMs: 60_000, intervalMs: 250, what: 'the node daemon to converge' },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${daemon.output()}`);
  });
}

function ready(): Promise<Fixture> {
  fixture ??= setup();
  return fixture;
}

// ---------------------------------------------------------------------------------------------------
// Running the CLI

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The test runner's environment without anything that would steer the CLI or the daemon elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('BRINDLE_') && key !== 'NODE_OPTIONS') env[key] = value;
  return env;
}

let running = 0;
const waiting: (() => void)[] = [];

async function brindlectl(f: Fixture, ...args: string[]): Promise<CliResult> {
  if (running >= CLI_CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await spawnCli(['--config', f.config, ...args]);
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

function spawnCli(args: readonly string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [join(BIN, 'brindlectl'), ...args], {
    cwd: tmpdir(),
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`brindlectl ${args.join(' ')}: no exit within ${CLI_TIMEOUT_MS} ms`));
    }, CLI_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Golden files

/** Values that depend on timing: how UPDATEs were batched, keepalives, the FIB's retry schedule. */
const VOLATILE = [
  'messagesSent.update',
  'updatesSent',
  'messagesSent.keepalive',
  'messagesReceived.keepalive',
  'error.attempts',
  'error.retryInMs',
];
const ISO_TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g;

/**
 * Tables: times become a placeholder of the same width (the columns stay aligned) and a trailing
 * duration becomes <duration>. YAML and JSON: parsed, masked (api/support.ts normalise) and printed
 * again as the CLI prints them — after checking that printing the parsed output gives it back.
 */
function masked(t: ExecutionContext, format: 'table' | 'yaml' | 'json', text: string): string {
  if (format === 'table')
    return text
      .replace(ISO_TIME, 'YYYY-MM-DDTHH:MM:SS.sssZ')
      .replace(/ for (\d+d)?(\d+h)?(\d+m)?\d+s$/gm, ' for <duration>');
  const value = format === 'json' ? (JSON.parse(text) as unknown) : (parse(text) as unknown);
  t.is(formatDocument(value, format), text, 'the output is what the CLI prints for its document');
  return formatDocument(normalise(value, new Map(), VOLATILE), format);
}

const FORMATS = [
  { flags: [], suffix: 'txt', format: 'table' },
  { flags: ['-o', 'wide'], suffix: 'wide.txt', format: 'table' },
  { flags: ['-o', 'yaml'], suffix: 'yaml', format: 'yaml' },
  { flags: ['-o', 'json'], suffix: 'json', format: 'json' },
] as const;

/** Command lines and the golden name each is kept under (a format suffix is added). */
const GOLDEN_COMMANDS: { args: string[]; name: string; formats: readonly (typeof FORMATS)[number][] }[] = [
  { args: ['status'], name: 'node-status', formats: FORMATS },
  { args: ['routes'], name: 'node-routes', formats: FORMATS },
  { args: ['routes', '10.244.9.0/24'], name: 'node-routes-10.244.9.0', formats: FORMATS.slice(0, 2) },
  { args: ['fib'], name: 'node-fib', formats: FORMATS },
  // Peer detail is nested: YAML by default, or JSON.
  { args: ['peers'], name: 'node-peers', formats: [FORMATS[2], FORMATS[3]] },
  { args: ['peers', RACK_B], name: 'node-peers-rack-b', formats: [FORMATS[2]] },
  // What a peer sent us (by its BGPPeer name) and what we advertise to it; the routes' figures.
  { args: ['peers', 'rack-a', 'received'], name: 'node-peers-rack-a-received', formats: FORMATS.slice(0, 2) },
  {
    args: ['peers', RACK_B, 'advertised'],
    name: 'node-peers-rack-b-advertised',
    formats: FORMATS.slice(0, 2),
  },
  { args: ['routes', '--count'], name: 'node-routes-count', formats: [FORMATS[0]] },
  {
    args: ['routes', '10.244.0.0/16', '--longer', '--limit', '3'],
    name: 'node-routes-longer',
    formats: [FORMATS[0]],
  },
];

test('status, peers, routes and fib in every format (golden)', async (t) => {
  const f = await ready();
  const runs = GOLDEN_COMMANDS.flatMap(({ args, name, formats }) =>
    formats.map(async ({ flags, suffix, format }) => {
      const result = await brindlectl(f, ...args, ...flags);
      return { command: [...args, ...flags].join(' '), result, name: `${name}.${suffix}`, format };
    }),
  );
  for (const { command, result, name, format } of await Promise.all(runs)) {
    t.is(result.code, 0, `brindlectl ${command}: ${result.stderr}`);
    t.is(result.stderr, '', `brindlectl ${command}`);
    matchesGolden(t, name, masked(t, format, result.stdout));
  }
});

test('fib narrows by state, family and address; bad options are usage errors', async (t) => {
  const f = await ready();
  const [failed, v6, covering, badState, badFamily, notPrefix] = await Promise.all([
    brindlectl(f, 'fib', '--state', 'failed', '-o', 'json'),
    brindlectl(f, 'fib', '--family', 'ipv6', '-o', 'json'),
    brindlectl(f, 'fib', addressIn(f.block, 7), '-o', 'json'),
    brindlectl(f, 'fib', '--state', 'lost'),
    brindlectl(f, 'fib', '--family', 'ipx'),
    brindlectl(f, 'fib', 'banana'),
  ]);
  const prefixes = (r: CliResult) =>
    (JSON.parse(r.stdout) as { routes: { prefix: string; state: string }[] }).routes.map((x) => x.prefix);
  t.deepEqual(prefixes(failed), ['10.244.4.0/24']);
  t.regex(failed.stdout, /"code": "EEXIST"/);
  t.deepEqual(prefixes(v6), [f.block6]);
  t.deepEqual(prefixes(covering), [f.block], 'an address finds the block that covers it');
  t.is(badState.code, 2);
  t.regex(badState.stderr, /--state must be one of installed, pending, failed, stale/);
  t.is(badFamily.code, 2);
  t.is(notPrefix.code, 1, 'the daemon cannot parse it: a failed request');
  t.regex(notPrefix.stderr, /not a prefix or an address: "banana"/);
});

/** The address `offset` into an IPv4 block: ("10.65.3.64/26", 7) → "10.65.3.71". */
function addressIn(block: string, offset: number): string {
  const [a, b, c, d] = block.split(/[./]/).map(Number);
  return `${a}.${b}.${c}.${d + offset}`;
}

/** One series' value from the text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('the node daemon exports its FIB and IPAM figures on /metrics', async (t) => {
  const f = await ready();
  const text = (await call({ socketPath: f.socket }, 'GET', '/metrics')).text;
  // Installed: the blocks' blackholes and 10.244.{1,2,7,8,9}.0/24; 10.244.4.0/24 refused.
  t.is(sample(text, 'brindle_fib_routes{family="ipv4-unicast"}'), 6);
  t.is(sample(text, 'brindle_fib_routes{family="ipv6-unicast"}'), 1);
  t.is(sample(text, 'brindle_fib_desired_routes{family="ipv4-unicast"}'), 7);
  t.is(sample(text, 'brindle_fib_desired_routes{family="ipv6-unicast"}'), 1);
  t.is(sample(text, 'brindle_fib_failed_routes'), 1);
  t.is(sample(text, 'brindle_fib_pending_routes'), 0);
  t.true((sample(text, 'brindle_fib_writes_total{op="add",result="ok"}') ?? 0) >= 7);
  t.true((sample(text, 'brindle_fib_writes_total{op="add",result="failed"}') ?? 0) >= 1);
  t.true((sample(text, 'brindle_fib_reconciles_total') ?? 0) >= 1);
  t.is(sample(text, 'brindle_fib_overruns_total'), 0);
  const reconciledAt = sample(text, 'brindle_fib_last_reconcile_timestamp_seconds') ?? 0;
  t.true(Math.abs(reconciledAt - Date.now() / 1000) < 300, `a Unix time: ${reconciledAt}`);

  t.is(sample(text, 'brindle_ipam_ippool_size{ippool="pool-a"}'), 65536);
  t.is(sample(text, 'brindle_ipam_allocations_in_use{ippool="pool-a",node="node-1"}'), 2);
  t.is(sample(text, 'brindle_ipam_allocations_borrowed{ippool="pool-a",node="node-1"}'), 0);
  t.is(sample(text, 'brindle_ipam_blocks{ippool="pool-a",node="node-1"}'), 1);
  t.is(sample(text, 'brindle_ipam_ippool_size{ippool="pool-b6"}'), 65536);
  t.is(sample(text, 'brindle_ipam_allocations_in_use{ippool="pool-b6",node="node-1"}'), 1);
  t.regex(text, /^brindle_build_info\{version="[^"]+",mode="node",node="node-1",datastore="embedded"/m);
  t.notRegex(text, /10\.244\.|10\.65\.|fd00:/, 'no prefix is ever a label');
});
