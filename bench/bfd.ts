// BFD at scale (`npm run bench -- bfd`): the daemon as shipped (bin/brindle, node mode, its kernel FIB
// in a network namespace, resources applied with brindlectl) with 50 BFD sessions at 100 ms × 3 to 50
// BIRD 2 peers, each in a namespace of its own on one bridged segment, each a BGP peer announcing one
// /24 that Brindle installs in its kernel. Two phases:
//   1. Convergence: a generated eBGP peer (this process, on the segment) announces 500,000 /24s, which
//      Brindle decides and installs, then withdraws them all. Meanwhile Brindle's BFD packets are
//      captured on its switch port (dumpcap's kernel timestamps) and every gap between two packets to
//      one peer is compared with the negotiated interval (RFC 5880 §6.8.7 allows no longer) and with
//      the Detection Time the peer applies (a longer gap is a false failure). The daemon's own count
//      (brindlectl bfd: LATE) and any session that went Down are reported beside it.
//   2. Failure: one peer at a time, its switch port is set down (the peer's cable pulled: Brindle's own
//      link stays up, so only BFD can notice) and `ip -ts monitor route` in Brindle's namespace stamps
//      the moment the peer's route leaves the kernel. Median and p95 over the peers (target ≤ 350 ms
//      median), with the split at the moment BFD went Down.
//   3. Reroute: the network of test/bfd/reroute.test.ts (test/helpers/reroute.ts) — Brindle as a node
//      with two upstreams that both reach D, B's path the one installed — on a network of its own per
//      round. B's cable is pulled at the switch while a ping per family runs from Brindle's namespace
//      to D every 10 ms; the gap between the last reply through B and the first through C, per family
//      and round. Detection Time 300 ms, hold time 90 s.
// BENCH_SCALE=small: 10 peers, 100,000 routes, 5 failures, 3 reroutes (else 10). Needs root, bird, tshark (dumpcap).
// Every wait is bounded; namespaces and processes go in a finally, also when a phase fails.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BfdDocument, BfdSessionStatus } from '../src/api/bfd-view.ts';
import { callDaemon } from '../src/cli/socket.ts';
import { parseIpv4 } from '../src/lib/address.ts';
import { brindlectl, cleanEnv } from '../test/helpers/brindle.ts';
import { createLan } from '../test/helpers/lan.ts';
import type { Lan, LanHost } from '../test/helpers/lan.ts';
import { Cleanup, run, startDaemon, waitFor } from '../test/helpers/netns.ts';
import { startBird } from '../test/helpers/peers.ts';
import { longestReplyGap } from '../test/helpers/ping.ts';
import {
  converged,
  failOver,
  FAMILIES,
  pullB,
  sessionsWithB,
  startReroute,
} from '../test/helpers/reroute.ts';
import { daemonNodeFlags } from './launcher.ts';
import { shortCount } from './reflector/plan.ts';
import { announcements, GeneratedPeer, SMALL, withdrawals } from './soak.ts';
import type { BenchRow } from './table.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SUITE = 'bfd';
const PEERS = SMALL ? 10 : 50;
const FAILURES = SMALL ? 5 : 25;
const REROUTES = SMALL ? 3 : 10;
const ROUTES = SMALL ? 100_000 : 500_000;
const INTERVAL_MS = 100;
const MULT = 3;
const AS = 64512;
const PEER_AS = 65001;
const GENERATOR_AS = 65100;
/** The segment 100.64.77.0/24: Brindle is host 1, peer i host 10 + i, this process host 250. */
const LAN_INDEX = 77;
const NODE_INDEX = 1;
const GENERATOR_INDEX = 250;
const peerIndex = (i: number) => 10 + i;
const peerRoute = (i: number) => `198.18.${i}.0/24`;
/** Brindle's kernel route protocol. */
const PROTO = '205';
const CONVERGE_MS = 300_000;
const ROUTE_GONE_MS = 3_000;

interface Bench {
  readonly lan: Lan;
  readonly node: LanHost;
  readonly generator: LanHost;
  readonly dir: string;
  readonly configFile: string;
  readonly socket: string;
}

export async function runBfdBench(): Promise<BenchRow[]> {
  const missing = ['bird', 'birdc', 'dumpcap'].filter((tool) => !onPath(tool));
  if (process.getuid?.() !== 0 || missing.length > 0)
    return [status(`needs root and ${missing.join(', ') || 'nothing else'}`)];
  const cleanup = new Cleanup();
  const rows: BenchRow[] = [row('setup', 'load average (1 min)', loadavg()[0], '')];
  try {
    const bench = await setUp(cleanup);
    progress(`${PEERS} BFD sessions Up; announcing ${shortCount(ROUTES)} routes`);
    rows.push(...(await convergence(bench, cleanup)));
    await allUp(bench);
    progress(`taking ${FAILURES} peers' links down`);
    rows.push(...(await failures(bench, cleanup)));
  } catch (error) {
    rows.push(status(`failed: ${(error as Error).message.split('\n')[0]}`));
  } finally {
    await cleanup.run().catch(() => undefined);
  }
  progress(`pulling an upstream's cable ${REROUTES} times with pings running`);
  rows.push(
    ...(await reroutes().catch((e: Error) => [status(`reroute failed: ${e.message.split('\n')[0]}`)])),
  );
  return rows;
}

function progress(text: string): void {
  process.stderr.write(`  bfd: ${text}\n`);
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, tool)));
}

function row(c: string, metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}) {
  return { suite: SUITE, case: c, metric, value, unit, ...extra } satisfies BenchRow;
}

function status(note: string): BenchRow {
  return row('setup', 'status', NaN, '', { note });
}

// --- the network, the daemon and its peers -----------------------------------------------------------

async function setUp(cleanup: Cleanup): Promise<Bench> {
  const lan = await createLan(
    { tag: 'bfdb', subnet4: `100.64.${LAN_INDEX}.0/24`, subnet6: `fd00:${LAN_INDEX}::/64` },
    cleanup,
  );
  const node = await lan.addHost('node', NODE_INDEX);
  const generator = await lan.rootAddress(GENERATOR_INDEX);
  const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-bfd-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const bench: Bench = {
    lan,
    node,
    generator,
    dir,
    configFile: join(dir, 'brindle.yaml'),
    socket: join(dir, 'brindle.sock'),
  };
  await startBrindle(bench, cleanup);
  for (let first = 1; first <= PEERS; first += 10) {
    const batch = Array.from({ length: Math.min(10, PEERS - first + 1) }, (_, k) => first + k);
    await Promise.all(batch.map((i) => startPeer(bench, i, cleanup)));
  }
  await allUp(bench);
  return bench;
}

/** Every BFD session Up and every peer's route in Brindle's kernel. */
async function allUp(bench: Bench): Promise<void> {
  await waitFor(async () => (await sessions(bench)).filter((s) => s.state === 'Up').length === PEERS, {
    timeoutMs: 60_000,
    intervalMs: 500,
    what: `${PEERS} BFD sessions Up`,
  });
  await waitFor(async () => (await peerRoutesInKernel(bench)) === PEERS, {
    timeoutMs: 60_000,
    intervalMs: 500,
    what: `the ${PEERS} peers' routes in the kernel`,
  });
}

/** As the README has an operator do it: a config file, brindlectl apply, then bin/brindle. */
async function startBrindle(b: Bench, cleanup: Cleanup): Promise<void> {
  const address = b.node.address4;
  await writeFile(
    b.configFile,
    [
      'mode: node',
      'nodeName: bench-bfd',
      `routerId: ${address}`,
      `node: { ipv4Address: ${address}/24 }`,
      `datastore: { type: embedded, path: ${join(b.dir, 'store')} }`,
      `bgp: { listenAddress: ${address}, listenPort: 179 }`,
      `api: { socket: ${b.socket} }`,
      'log: { level: warn }',
      'fib: { enabled: true, table: 254 }',
      '',
    ].join('\n'),
  );
  const resources = join(b.dir, 'resources.yaml');
  await writeFile(resources, resourcesYaml(b));
  await brindlectl(b.configFile, 'apply', '-f', resources);
  const daemon = startDaemon(
    process.execPath,
    [...daemonNodeFlags(), join(ROOT, 'bin/brindle'), '--config', b.configFile],
    { name: 'brindle', netns: b.node.netns, cwd: ROOT, env: cleanEnv() },
    cleanup,
  );
  await waitFor(
    async () => {
      if (!daemon.running()) throw new Error(`brindle exited: ${daemon.output()}`);
      return (await callDaemon(b.socket, '/api/v1/status')) !== undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'the daemon to answer' },
  );
}

function resourcesYaml(b: Bench): string {
  const doc = (kind: string, name: string, spec: string) =>
    `apiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata: { name: ${name} }\nspec: ${spec}\n`;
  const peers = Array.from({ length: PEERS }, (_, k) =>
    doc(
      'BGPPeer',
      `bird-${k + 1}`,
      `{ peerIP: ${b.lan.address4(peerIndex(k + 1))}, asNumber: ${PEER_AS}, failureDetectionMode: BFDIfDirectlyConnected }`,
    ),
  );
  return [
    doc('BGPConfiguration', 'default', `{ asNumber: ${AS}, nodeToNodeMeshEnabled: false }`),
    doc(
      'BFDConfiguration',
      'bench',
      `{ interfaces: [{ matchPattern: eth0, minimumRecvInterval: ${INTERVAL_MS}ms, minimumSendInterval: ${INTERVAL_MS}ms, idleSendInterval: 1s, multiplier: ${MULT} }] }`,
    ),
    doc('BGPPeer', 'generator', `{ peerIP: ${b.generator.address4}, asNumber: ${GENERATOR_AS} }`),
    ...peers,
  ].join('---\n');
}

/** BIRD 2 as peer i: eBGP waiting for Brindle, one route, a BFD session at 100 ms × 3. */
async function startPeer(b: Bench, i: number, cleanup: Cleanup): Promise<void> {
  const host = await b.lan.addHost(`p${i}`, peerIndex(i));
  const bfd = `protocol bfd {
  interface "eth0" { min rx interval ${INTERVAL_MS} ms; min tx interval ${INTERVAL_MS} ms; idle tx interval 1 s; multiplier ${MULT}; };
  neighbor ${b.node.address4} local ${host.address4};
}
`;
  await startBird(
    {
      netns: host.netns,
      routerId: host.address4,
      localAddress: host.address4,
      asn: PEER_AS,
      neighbors: [{ address: b.node.address4, asn: AS, passive: true, families: ['ipv4'] }],
      staticRoutes: [{ prefix: peerRoute(i) }],
      extraConfig: bfd,
    },
    cleanup,
  );
}

async function sessions(b: Bench): Promise<readonly BfdSessionStatus[]> {
  return ((await callDaemon(b.socket, '/api/v1/bfd')) as BfdDocument).sessions;
}

async function peerRoutesInKernel(b: Bench): Promise<number> {
  const { stdout } = await run('ip', ['-4', 'route', 'show', 'proto', PROTO, 'root', '198.18.0.0/16'], {
    netns: b.node.netns,
  });
  return stdout.split('\n').filter((line) => line.startsWith('198.18.')).length;
}

/** Brindle's routes in its kernel, from its own gauge (cheaper than listing 500k routes). */
async function fibRoutes(b: Bench): Promise<number> {
  const text = await metricsText(b.socket);
  const value = /^brindle_fib_routes\{family="ipv4-unicast"\} (\S+)/m.exec(text)?.[1];
  return value === undefined ? NaN : Number(value);
}

function metricsText(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/metrics', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('/metrics: no answer in 10 s')));
    req.end();
  });
}

// --- phase 1: BFD while 500k routes converge -------------------------------------------------------

async function convergence(b: Bench, cleanup: Cleanup): Promise<BenchRow[]> {
  const label = `${PEERS} sessions ${INTERVAL_MS} ms × ${MULT}, ${shortCount(ROUTES)} routes in and out`;
  const peer = new GeneratedPeer({
    host: b.node.address4,
    port: 179,
    localAddress: b.generator.address4,
    as: GENERATOR_AS,
    bgpIdentifier: parseIpv4(b.generator.address4),
    holdTimeSec: 90,
  });
  cleanup.add(() => peer.socket.destroy());
  await peer.up;
  peer.keepAlive();
  const announce = announcements(0, ROUTES, b.generator.address4, false, [GENERATOR_AS]);
  const withdraw = withdrawals(0, ROUTES);
  const before = await sessions(b);
  const capture = await startCapture(b, cleanup);
  const started = performance.now();
  await peer.write(announce);
  await waitFor(async () => (await fibRoutes(b)) >= ROUTES + PEERS, {
    timeoutMs: CONVERGE_MS,
    intervalMs: 250,
    what: `${shortCount(ROUTES)} routes in the kernel`,
  });
  const installedS = (performance.now() - started) / 1000;
  const load = loadavg()[0];
  const withdrawStarted = performance.now();
  await peer.write(withdraw);
  await waitFor(async () => (await fibRoutes(b)) <= PEERS, {
    timeoutMs: CONVERGE_MS,
    intervalMs: 250,
    what: 'the routes out of the kernel',
  });
  const withdrawnS = (performance.now() - withdrawStarted) / 1000;
  const gaps = await capture.stop();
  const after = await sessions(b);
  const note = `load ${load.toFixed(1)}`;
  return [
    row(label, 'announced → all in the kernel', installedS, 's', { note }),
    row(label, 'withdrawn → all out of the kernel', withdrawnS, 's'),
    ...gapRows(label, gaps),
    ...daemonRows(label, before, after),
  ];
}

interface Capture {
  /** Ends the capture; the gaps between consecutive packets to each peer, in ms. */
  stop(): Promise<number[]>;
}

/** dumpcap on Brindle's switch port: kernel timestamps, unaffected by how busy this process is. */
async function startCapture(b: Bench, cleanup: Cleanup): Promise<Capture> {
  const port = `p${NODE_INDEX}`;
  const filter = `udp dst port 3784 and src host ${b.node.address4}`;
  const file = join(b.dir, 'bfd.pcapng');
  const child = spawn(
    'ip',
    ['netns', 'exec', b.lan.switchNetns, 'dumpcap', '-q', '-i', port, '-f', filter, '-w', file],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  cleanup.add(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitFor(() => /Capturing on/.test(stderr) || exited(child, stderr), {
    timeoutMs: 15_000,
    intervalMs: 50,
    what: 'dumpcap to start',
  });
  return {
    stop: async () => {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('close', resolve));
      return gapsIn(file);
    },
  };
}

function exited(child: ChildProcess, output: string): false {
  if (child.exitCode !== null) throw new Error(`exited: ${output}`);
  return false;
}

async function gapsIn(file: string): Promise<number[]> {
  const { stdout } = await run(
    'tshark',
    ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'ip.dst'],
    {
      timeoutMs: 120_000,
    },
  );
  const last = new Map<string, number>();
  const gaps: number[] = [];
  for (const line of stdout.split('\n')) {
    const [epoch, dst] = line.split('\t');
    if (dst === undefined) continue;
    const atMs = Number(epoch) * 1000;
    const previous = last.get(dst);
    if (previous !== undefined) gaps.push(atMs - previous);
    last.set(dst, atMs);
  }
  return gaps;
}

function gapRows(label: string, gaps: readonly number[]): BenchRow[] {
  const sorted = [...gaps].sort((a, b) => a - b);
  const late = gaps.filter((g) => g > INTERVAL_MS).length;
  const beyond = gaps.filter((g) => g > INTERVAL_MS * MULT).length;
  return [
    row(label, 'packets on the wire (gaps measured)', gaps.length, ''),
    row(label, `late on the wire (gap > ${INTERVAL_MS} ms)`, late, '', {
      note: `${((100 * late) / Math.max(1, gaps.length)).toFixed(2)} % of gaps`,
    }),
    row(label, `gaps > Detection Time (${INTERVAL_MS * MULT} ms) on the wire`, beyond, '', {
      target: '0',
      met: beyond === 0,
    }),
    row(label, 'gap p99 on the wire', percentile(sorted, 0.99), 'ms'),
    row(label, 'longest gap on the wire', sorted.at(-1) ?? NaN, 'ms'),
  ];
}

function daemonRows(
  label: string,
  before: readonly BfdSessionStatus[],
  after: readonly BfdSessionStatus[],
): BenchRow[] {
  const sum = (list: readonly BfdSessionStatus[], f: (s: BfdSessionStatus) => number) =>
    list.reduce((n, s) => n + f(s), 0);
  const late = sum(after, (s) => s.lateTransmissions) - sum(before, (s) => s.lateTransmissions);
  const beyond =
    sum(after, (s) => s.txGapsBeyondDetectionTime) - sum(before, (s) => s.txGapsBeyondDetectionTime);
  const downs = after.filter((s) => s.state !== 'Up').length;
  const flapped = after.filter((s) => {
    const was = before.find((x) => x.peer === s.peer);
    return s.lastDown?.at !== was?.lastDown?.at;
  }).length;
  return [
    row(label, 'late transmissions (the daemon counts)', late, ''),
    row(label, 'gaps > Detection Time (the daemon counts)', beyond, '', { target: '0', met: beyond === 0 }),
    row(label, 'longest gap while Up (the daemon)', Math.max(...after.map((s) => s.longestTxGapMs)), 'ms'),
    row(label, 'sessions that went Down', flapped + downs, '', { target: '0', met: flapped + downs === 0 }),
  ];
}

// --- phase 2: a peer's link goes down --------------------------------------------------------------

interface RouteEvent {
  readonly atMs: number;
  readonly text: string;
}

async function failures(b: Bench, cleanup: Cleanup): Promise<BenchRow[]> {
  const events: RouteEvent[] = [];
  const monitor = spawn('ip', ['-ts', '-n', b.node.netns!, 'monitor', 'route'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  cleanup.add(() => monitor.kill('SIGKILL'));
  createInterface({ input: monitor.stdout }).on('line', (line) => {
    const event = routeEvent(line);
    if (event) events.push(event);
  });
  // One ip process reads the commands: a port goes down the moment its line is written.
  const ports = spawn('ip', ['-n', b.lan.switchNetns, '-batch', '-'], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  cleanup.add(() => ports.kill('SIGKILL'));
  const samples: { total: number; detect: number; install: number }[] = [];
  for (let i = 1; i <= FAILURES; i++) {
    const downAt = performance.timeOrigin + performance.now();
    ports.stdin.write(`link set p${peerIndex(i)} down\n`);
    const prefix = peerRoute(i);
    const gone = await waitFor(
      () => events.find((e) => e.text.startsWith(`Deleted ${prefix} `) && e.atMs >= downAt),
      { timeoutMs: ROUTE_GONE_MS, intervalMs: 5, what: `${prefix} to leave the kernel` },
    );
    const session = (await sessions(b)).find((s) => s.peer === b.lan.address4(peerIndex(i)));
    const bfdDownAt = session?.lastDown ? Date.parse(session.lastDown.at) : NaN;
    samples.push({
      total: gone.atMs - downAt,
      detect: bfdDownAt - downAt,
      install: gone.atMs - bfdDownAt,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  ports.stdin.end();
  return failureRows(samples);
}

/** `[2026-12-07T09:57:16.814167] Deleted 198.18.1.0/24 via …`: local time, microseconds. */
function routeEvent(line: string): RouteEvent | undefined {
  const match = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (.*)$/.exec(line);
  if (!match) return undefined;
  const atMs = new Date(match[1]).getTime() + Number(match[2]) / 1000;
  return { atMs, text: match[3] };
}

function failureRows(samples: readonly { total: number; detect: number; install: number }[]): BenchRow[] {
  const label = `${FAILURES} of ${PEERS} peers' links down, one at a time`;
  const note = `load ${loadavg()[0].toFixed(1)}; Detection Time ${INTERVAL_MS * MULT} ms`;
  return [
    ...spreadRows(
      label,
      'link down → route out of the kernel',
      samples.map((s) => s.total),
      note,
    ),
    row(label, 'link down → BFD Down, median', median(samples.map((s) => s.detect)), 'ms', {
      note: 'BFD Down stamped to the millisecond by the daemon',
    }),
    row(label, 'BFD Down → route out of the kernel, median', median(samples.map((s) => s.install)), 'ms'),
  ];
}

/** Median (against the issue's ≤ 350 ms target), p95 and max of `values`, in ms. */
function spreadRows(label: string, what: string, values: readonly number[], note: string): BenchRow[] {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = percentile(sorted, 0.5);
  return [
    row(label, `${what}, median`, middle, 'ms', { target: '≤ 350', met: middle <= 350, note }),
    row(label, `${what}, p95`, percentile(sorted, 0.95), 'ms'),
    row(label, `${what}, max`, sorted.at(-1) ?? NaN, 'ms'),
  ];
}

function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

// --- phase 3: routed around, pings running ------------------------------------------------------------

/** Each round on a network of its own, removed before the next; the gap per family, and BFD Down. */
async function reroutes(): Promise<BenchRow[]> {
  const gaps: number[] = [];
  const detections: number[] = [];
  for (let round = 0; round < REROUTES; round++) {
    const cleanup = new Cleanup();
    try {
      const s = await startReroute(cleanup);
      await converged(s);
      const f = await failOver(s, cleanup, () => pullB(s));
      for (const family of FAMILIES) {
        const gap = longestReplyGap(f.pings[family].replies, f.failedAtMs);
        if (gap) gaps.push(gap.gapMs);
        const down = (await sessionsWithB(s, family)).bfd?.lastDown?.at;
        if (down !== undefined) detections.push(Date.parse(down) - f.failedAtMs);
      }
    } finally {
      await cleanup.run().catch(() => undefined);
    }
  }
  return rerouteRows(gaps, detections);
}

function rerouteRows(gaps: number[], detections: number[]): BenchRow[] {
  const label = `${REROUTES} upstream cables pulled, pings every 10 ms, IPv4 and IPv6`;
  const note = `load ${loadavg()[0].toFixed(1)}; Detection Time ${INTERVAL_MS * MULT} ms, hold time 90 s`;
  return [
    ...spreadRows(label, 'gap in ping replies', gaps, note),
    row(label, 'cable pulled → BFD Down, median', median(detections), 'ms'),
  ];
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}
