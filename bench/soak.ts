// Memory across session churn (`npm run bench soak`): the real daemon, started as an operator starts
// it (bin/brindle with a configuration file, its resources applied with brindlectl to its datastore),
// reflects for one client while 2,000 iBGP peers come up, 100 at a time, each announce 300 routes with
// an attribute set of their own, and go away — by Cease, by TCP reset, or by hold-timer expiry.
// The 2,000 are Nodes of the reflector's own cluster ID, so RFC 4456 §6 non-clients: their routes go
// to the client alone. (As clients, every route would also go to every other session up at the
// time: a fan-out test, not a churn test.)
// Reported: the daemon's RSS and heap used at the start, at the peak (the kernel's VmHWM between
// samples), 60 s after the last session went as the daemon left it on its own (it collects and
// trims once quiet: src/daemon/memory-trim.ts), then after a full GC the benchmark forces
// (HeapProfiler.collectGarbage over the inspector), and after a second forced GC 10 s later, with the
// daemon's own trims (brindle_memory_trims_total). Target: back within 32 MB of the start.
// BENCH_SCALE=small runs 100 sessions of 50 routes and waits 10 s; BENCH_SESSIONS=N sets the count.
// Where the RSS is (V8 spaces, glibc's arena, other anonymous memory) is written to stderr.
// Every loop is bounded by a count and every wait by a deadline; the daemon is stopped on failure.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MessageFramer } from '../src/bgp/codec/framer.ts';
import { encodeKeepalive } from '../src/bgp/codec/message.ts';
import { encodeNotification } from '../src/bgp/codec/notification.ts';
import { encodeOpen } from '../src/bgp/codec/open.ts';
import { encodeAttributeSet, UpdatePacker } from '../src/bgp/codec/update-packer.ts';
import { CeaseSubcode, ErrorCode, MessageType } from '../src/bgp/constants.ts';
import { BgpError } from '../src/bgp/errors.ts';
import type { CodecContext, PathAttributes } from '../src/bgp/types.ts';
import { Afi, Safi } from '../src/lib/family.ts';
import { ipv4Prefix } from '../src/lib/prefix.ts';
import { freePort } from '../test/helpers/netns.ts';
import { daemonNodeFlags } from './launcher.ts';
import { procFigures, startUntilReady, stop, writeConfig } from './startup.ts';
import type { DaemonConfig } from './startup.ts';
import type { BenchRow } from './table.ts';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const SMALL = process.env.BENCH_SCALE === 'small';
export const AS = 64512;
const CLUSTER_ID = '244.0.0.1';
const SCALE = {
  ...(SMALL
    ? { sessions: 100, routes: 50, concurrent: 50, settleMs: 10_000 }
    : { sessions: 2000, routes: 300, concurrent: 100, settleMs: 60_000 }),
  ...(process.env.BENCH_SESSIONS ? { sessions: Number(process.env.BENCH_SESSIONS) } : {}),
};
const HOLD_TIME_EXPIRY_SEC = 3;
const SESSION_DEADLINE_MS = 60_000;
const WAVE_DEADLINE_MS = 120_000;
const SAMPLE_MS = 500;
const REPORT_SIGNAL = 'SIGPWR';
const REPORT_DEADLINE_MS = 30_000;
const GC_DEADLINE_MS = 120_000;
const SECOND_GC_AFTER_MS = 10_000;
export const CTX: CodecContext = {
  fourOctetAs: true,
  addPath: new Set(),
  maxMessageLength: 4096,
  external: false,
};
const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------
// The daemon and its resources

/** Loopback source address of generated peer `i`: 127.90.1.1 on, 250 to a /24 (no .0, no .255). */
export function peerAddress(i: number): string {
  const block = Math.floor(i / 250);
  return `127.${90 + Math.floor(block / 250)}.${(block % 250) + 1}.${(i % 250) + 1}`;
}

export interface Started {
  readonly dir: string;
  readonly config: DaemonConfig;
  readonly bgpPort: number;
  readonly inspectPort: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * YAML documents: the reflector node, its clients as Nodes, `peers` as global BGPPeers (clients too:
 * iBGP to a route reflector without a cluster ID of their own), and `nonClients` as Nodes of the
 * reflector's own cluster ID (RFC 4456 §6 non-clients: their routes go to the clients only, and they
 * get only the clients' routes), peered by one selector BGPPeer.
 */
export function resources(
  clients: readonly string[],
  peers: readonly { address: string; as: number }[],
  nonClients: readonly string[] = [],
): string {
  const docs = [
    `apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\nspec: { nodeToNodeMeshEnabled: false, asNumber: ${AS} }`,
    `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: { name: bench-node, labels: { route-reflector: 'true' } }\nspec: { bgp: { ipv4Address: 127.0.0.1/32, routeReflectorClusterID: ${CLUSTER_ID} } }`,
    `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: peer-with-route-reflectors }\nspec: { nodeSelector: "!has(non-client)", peerSelector: route-reflector == 'true' }`,
    ...clients.map(
      (address, i) =>
        `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: { name: client-${i} }\nspec: { bgp: { ipv4Address: ${address}/32 } }`,
    ),
    ...peers.map(
      (p, i) =>
        `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: bench-peer-${i} }\nspec: { nodeSelector: route-reflector == 'true', peerIP: ${p.address}, asNumber: ${p.as} }`,
    ),
    ...(nonClients.length > 0
      ? [
          `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: non-clients }\nspec: { nodeSelector: route-reflector == 'true', peerSelector: has(non-client) }`,
        ]
      : []),
    ...nonClients.map(
      (address, i) =>
        `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: { name: non-client-${i}, labels: { non-client: 'true' } }\nspec: { bgp: { ipv4Address: ${address}/32, routeReflectorClusterID: ${CLUSTER_ID} } }`,
    ),
  ];
  return docs.join('\n---\n') + '\n';
}

/** Writes the config, applies the resources with brindlectl, starts bin/brindle until ready. */
export async function startBrindle(name: string, yaml: string): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), `brindle-bench-${name}-`));
  const config = await writeConfig({ dir, tsxIpam: '' }, name, 'reflector');
  const file = join(dir, 'resources.yaml');
  await writeFile(file, yaml);
  const ctl = join(ROOT, 'bin/brindlectl');
  await execFileAsync(process.execPath, [ctl, '--config', config.file, 'apply', '-f', file], {
    cwd: ROOT,
    timeout: 120_000,
    maxBuffer: 64 * MB,
  });
  const text = await readFile(config.file, 'utf8');
  const bgpPort = Number(/listenPort: (\d+)/.exec(text)?.[1]);
  // The inspector, on loopback, is how the benchmark forces a full GC from outside (see forceGc).
  const inspectPort = await freePort();
  const argv = [
    process.execPath,
    ...daemonNodeFlags(),
    `--inspect=127.0.0.1:${inspectPort}`,
    // A diagnostic report (SIGPWR) gives the heap used without /metrics, whose exposition grows
    // with the peers (5 MB at 2,000) and costs the daemon a second of CPU per scrape.
    '--report-on-signal',
    `--report-signal=${REPORT_SIGNAL}`,
    '--report-compact',
    `--report-directory=${dir}`,
    `--diagnostic-dir=${dir}`,
    // e.g. BENCH_DAEMON_FLAGS="--cpu-prof --cpu-prof-dir=/some/dir" to see where the daemon's time goes.
    ...(process.env.BENCH_DAEMON_FLAGS?.split(' ').filter((f) => f !== '') ?? []),
    join(ROOT, 'bin/brindle'),
  ];
  // Live, not ready: ready waits for every configured peer, and these come later.
  const live = async () => (await get(config.socket, '/health/live')) !== '';
  const daemon = await startUntilReady([...argv, '--config', config.file], live);
  return {
    dir,
    config,
    bgpPort,
    inspectPort,
    pid: daemon.child.pid!,
    stop: async () => {
      await stop(daemon.child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** GET on the control socket; the body, or '' when nothing answers in time. */
function get(socket: string, path: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', () => resolve(''));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

interface HeapSpace {
  readonly memorySize: number;
  readonly used: number;
}
interface Report {
  readonly javascriptHeap: { usedMemory: number; heapSpaces: Record<string, HeapSpace> };
}

/** The daemon's V8 heap used, in MB, from a diagnostic report; NaN when none comes in time. */
export async function heapUsedMb(daemon: Started): Promise<number> {
  return ((await diagnosticReport(daemon))?.javascriptHeap.usedMemory ?? NaN) / MB;
}

/**
 * Where the daemon's RSS is, in MB: V8's heap spaces (committed/used, from a diagnostic report), its
 * external memory (Buffers' backing stores, malloc'd), and from /proc/PID/smaps the resident memory
 * by kind: glibc's main arena ([heap]), other anonymous mappings (V8 pages, thread arenas, stacks),
 * and file-backed pages (code, libraries).
 */
export async function rssBreakdown(daemon: Started): Promise<string> {
  const report = await diagnosticReport(daemon);
  const spaces = Object.entries(report?.javascriptHeap.heapSpaces ?? {})
    .filter(([, s]) => s.memorySize > 0)
    .map(([name, s]) => `${name} ${mb(s.memorySize)}/${mb(s.used)}`);
  const committed = Object.values(report?.javascriptHeap.heapSpaces ?? {}).reduce(
    (n, s) => n + s.memorySize,
    0,
  );
  const kinds = new Map<string, number>();
  let kind = '';
  for (const line of (await readFile(`/proc/${daemon.pid}/smaps`, 'utf8')).split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (mapping) kind = mapping[2] === '[heap]' ? 'brk' : mapping[1] !== '0' ? 'file' : 'anon';
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds.set(kind, (kinds.get(kind) ?? 0) + Number(rss[1]) * 1024);
  }
  const proc = [...kinds].map(([k, bytes]) => `${k} ${mb(bytes)}`).join(', ');
  const usage = await memoryUsage(daemon);
  const external = usage ? `external ${mb(usage.external)} (ArrayBuffers ${mb(usage.arrayBuffers)})` : '';
  return `V8 committed ${mb(committed)} (${spaces.join(', ')}); ${external}; RSS by mapping: ${proc}`;
}

const mb = (bytes: number) => (bytes / MB).toFixed(1);

async function diagnosticReport(daemon: Started): Promise<Report | undefined> {
  process.kill(daemon.pid, REPORT_SIGNAL);
  const deadline = Date.now() + REPORT_DEADLINE_MS;
  while (Date.now() < deadline) {
    await sleep(100);
    const [file] = (await readdir(daemon.dir)).filter((f) => f.startsWith('report.') && f.endsWith('.json'));
    if (file === undefined) continue;
    const path = join(daemon.dir, file);
    try {
      const report = JSON.parse(await readFile(path, 'utf8')) as Report;
      await rm(path, { force: true });
      return report;
    } catch {
      // Still being written: read again on the next round.
    }
  }
  return undefined;
}

/**
 * Forces a full GC in the daemon: HeapProfiler.collectGarbage over its inspector, sent by a child
 * Node with WebSocket. (A heap snapshot also collects first, but writing one takes hundreds of MB of
 * malloc'd memory that stays in RSS afterwards: the figure after it measured the snapshot.)
 */
export async function forceGc(daemon: Started): Promise<void> {
  await inspect(daemon, 'HeapProfiler.collectGarbage', {});
}

/** The daemon's process.memoryUsage() (external and ArrayBuffer memory are outside the V8 heap). */
async function memoryUsage(daemon: Started): Promise<NodeJS.MemoryUsage | undefined> {
  const params = { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true };
  const answer = (await inspect(daemon, 'Runtime.evaluate', params)) as { result?: { value?: string } };
  return answer.result?.value ? (JSON.parse(answer.result.value) as NodeJS.MemoryUsage) : undefined;
}

/** One inspector method in the daemon, sent by a child Node with WebSocket; its result. */
async function inspect(daemon: Started, method: string, params: object): Promise<unknown> {
  const targets = JSON.parse(await httpGet(`http://127.0.0.1:${daemon.inspectPort}/json/list`)) as {
    webSocketDebuggerUrl: string;
  }[];
  const script = `const ws = new WebSocket(process.argv[1]);
ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: process.argv[2], params: JSON.parse(process.argv[3]) }));
ws.onmessage = (m) => { const a = JSON.parse(m.data); if (a.id === 1) { console.log(JSON.stringify(a.result ?? {})); ws.close(); process.exit(0); } };
ws.onerror = () => process.exit(1);`;
  const { stdout } = await execFileAsync(
    process.execPath,
    [
      '--experimental-websocket',
      '--no-warnings',
      '-e',
      script,
      targets[0].webSocketDebuggerUrl,
      method,
      JSON.stringify(params),
    ],
    { timeout: GC_DEADLINE_MS },
  );
  return JSON.parse(stdout) as unknown;
}

/** What the daemon still holds, from one scrape of /metrics: paths, attribute sets, update groups. */
async function ribState(daemon: Started): Promise<string> {
  const text = await get(daemon.config.socket, '/metrics');
  const sum = (name: string) =>
    [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
  return (
    `${sum('brindle_rib_paths')} paths, ${sum('brindle_rib_attribute_sets')} attribute sets, ` +
    `${sum('brindle_adj_rib_out_update_groups')} update groups, ` +
    `${sum('brindle_adj_rib_out_backlog_destinations')} destinations staged; the daemon trimmed ` +
    `${sum('brindle_memory_trims_total')} times, ${mb(sum('brindle_memory_trim_released_bytes_total'))} MB`
  );
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer`)));
    req.end();
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * RSS (from /proc) and heap used (from /metrics) of the daemon, sampled while started; the peaks. A
 * sample starts only once the previous one is answered: a daemon slow to answer /metrics is not sent
 * a pile of scrapes, each building the whole exposition.
 */
export class MemorySampler {
  peakRssMb = 0;
  peakHeapMb = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private hwmReset = false;

  constructor(private readonly daemon: Started) {}

  start(): void {
    // The kernel's high-water mark (VmHWM) catches peaks between samples; it is reset here, so the
    // start's forced GC (a heap snapshot, which grows RSS while written) is not counted as the peak.
    try {
      writeFileSync(`/proc/${this.daemon.pid}/clear_refs`, '5');
      this.hwmReset = true;
    } catch {
      this.hwmReset = false;
    }
    this.running = true;
    const next = () => {
      if (this.running) this.timer = setTimeout(() => void this.sample().then(next), SAMPLE_MS);
    };
    next();
  }

  /** RSS and heap used now, without counting them towards the peaks. */
  async read(): Promise<{ rssMb: number; heapMb: number }> {
    const rssMb = procFigures(this.daemon.pid).rssMb;
    return { rssMb, heapMb: await heapUsedMb(this.daemon) };
  }

  async sample(): Promise<{ rssMb: number; heapMb: number }> {
    const { rssMb, heapMb } = await this.read();
    const figures = procFigures(this.daemon.pid);
    this.peakRssMb = Math.max(this.peakRssMb, rssMb, this.hwmReset ? figures.peakRssMb : figures.rssMb);
    if (Number.isFinite(heapMb)) this.peakHeapMb = Math.max(this.peakHeapMb, heapMb);
    return { rssMb, heapMb };
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }
}

// ---------------------------------------------------------------------------------------------------
// Generated peers

export interface PeerOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress: string;
  readonly as: number;
  readonly bgpIdentifier: number;
  readonly holdTimeSec: number;
  /** Called with every UPDATE received (raw frame), when the session reads. */
  readonly onUpdate?: (frame: Buffer) => void;
}

/** A generated BGP speaker over one TCP connection: OPEN, KEEPALIVE answers, raw UPDATEs. */
export class GeneratedPeer {
  readonly socket: net.Socket;
  established = false;
  closed = false;
  private readonly framer = new MessageFramer();
  private keepalives: ReturnType<typeof setInterval> | undefined;
  readonly up: Promise<void>;

  constructor(readonly options: PeerOptions) {
    const { host, port, localAddress } = options;
    this.socket = net.connect({ host, port, localAddress });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => this.stopKeepalives());
    this.up = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${localAddress}: not established`)),
        SESSION_DEADLINE_MS,
      );
      this.socket.on('close', () => {
        this.closed = true;
        clearTimeout(timer);
        if (!this.established) reject(new Error(`${localAddress}: closed before established`));
      });
      this.socket.on('connect', () => this.socket.write(this.open()));
      this.socket.on('data', (chunk: Buffer) => {
        this.framer.push(chunk);
        for (
          let m = this.framer.next();
          m !== undefined && !(m instanceof BgpError);
          m = this.framer.next()
        ) {
          const type = m[18];
          if (type === MessageType.Open) this.socket.write(encodeKeepalive());
          if (type === MessageType.Keepalive && !this.established) {
            this.established = true;
            clearTimeout(timer);
            resolve();
          }
          if (type === MessageType.Update) options.onUpdate?.(m);
        }
      });
    });
    this.up.catch(() => undefined);
  }

  private open(): Buffer {
    return encodeOpen({
      version: 4,
      myAutonomousSystem: this.options.as > 0xffff ? 23456 : this.options.as,
      holdTimeSec: this.options.holdTimeSec,
      bgpIdentifier: this.options.bgpIdentifier,
      capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn: this.options.as }],
      unsupportedParameters: [],
      extendedParameters: false,
    });
  }

  /** KEEPALIVE every third of the hold time, to keep the session up while it is quiet. */
  keepAlive(): void {
    this.keepalives = setInterval(
      () => this.socket.write(encodeKeepalive()),
      (this.options.holdTimeSec * 1000) / 3,
    );
  }

  stopKeepalives(): void {
    clearInterval(this.keepalives);
  }

  /** Writes bytes; resolves when the socket takes more (TCP pushes back on a flood). */
  write(bytes: Buffer): Promise<void> {
    if (this.closed || this.socket.write(bytes)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  close(how: 'cease' | 'reset' | 'end'): void {
    this.stopKeepalives();
    if (how === 'cease')
      this.socket.end(
        encodeNotification({ code: ErrorCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown }),
      );
    else if (how === 'reset') this.socket.resetAndDestroy();
    else this.socket.end();
  }
}

/** UPDATEs announcing /24s `first`… (`count` of them) from `nextHop`, one attribute set per route when `distinct`. */
export function announcements(
  first: number,
  count: number,
  nextHop: string,
  distinct: boolean,
  asPath: number[] = [],
): Buffer {
  const packer = new UpdatePacker(CTX);
  let shared = undefined as ReturnType<typeof encodeAttributeSet> | undefined;
  for (let k = first; k < first + count; k++) {
    const attributes: PathAttributes = {
      origin: 0,
      asPath: asPath.length > 0 ? [{ type: 2, asns: asPath }] : [],
      nextHop,
      localPref: 100,
      multiExitDisc: distinct ? k : 0,
      communities: distinct ? [AS * 65536 + (k & 0xffff), (k >>> 16) + 1] : undefined,
    };
    const encoded =
      distinct || !shared ? encodeAttributeSet(Afi.Ipv4, Safi.Unicast, attributes, CTX) : shared;
    if (!distinct) shared = encoded;
    packer.announce(encoded, [prefixOf(k)]);
  }
  return packer.take();
}

export function withdrawals(first: number, count: number): Buffer {
  const packer = new UpdatePacker(CTX);
  const prefixes = Array.from({ length: count }, (_, i) => prefixOf(first + i));
  packer.withdraw(Afi.Ipv4, Safi.Unicast, prefixes);
  return packer.take();
}

/** The k-th /24 from 20.0.0.0 on. */
function prefixOf(k: number) {
  return ipv4Prefix(((20 << 24) + k * 256) >>> 0, 24);
}

// ---------------------------------------------------------------------------------------------------
// The suite

type Ending = 'cease' | 'reset' | 'hold-timer';
const ENDINGS: Ending[] = ['cease', 'reset', 'hold-timer'];

/** One generated session: up, its routes, then its ending; why it never came up, or 'up'. */
async function soakSession(daemon: Started, i: number): Promise<string> {
  const ending = ENDINGS[i % ENDINGS.length];
  const peer = new GeneratedPeer({
    host: '127.0.0.1',
    port: daemon.bgpPort,
    localAddress: peerAddress(i),
    as: AS,
    bgpIdentifier: 0x0b000000 + i,
    holdTimeSec: ending === 'hold-timer' ? HOLD_TIME_EXPIRY_SEC : 90,
  });
  try {
    await peer.up;
  } catch (error) {
    peer.close('reset');
    return (error as Error).message.replace(/^\S+: /, '');
  }
  await peer.write(announcements(i * SCALE.routes, SCALE.routes, peerAddress(i), true));
  if (ending === 'hold-timer') {
    // Silent from now on: the daemon's hold timer ends the session.
    const deadline = Date.now() + (HOLD_TIME_EXPIRY_SEC + 10) * 1000;
    while (!peer.closed && Date.now() < deadline) await sleep(200);
    peer.close('reset');
    return 'up';
  }
  await sleep(200);
  peer.close(ending);
  return 'up';
}

/** The daemon's RSS from /proc every 5 s for `ms` (nothing asked of the daemon, so it may stay quiet). */
async function rssTrace(daemon: Started, ms: number): Promise<string[]> {
  const trace: string[] = [];
  for (let waited = 0; waited < ms; waited += 5_000) {
    await sleep(Math.min(5_000, ms - waited));
    trace.push(procFigures(daemon.pid).rssMb.toFixed(0));
  }
  return trace;
}

const said = (outcomes: Map<string, number>) => [...outcomes].map(([k, n]) => `${n} ${k}`).join(', ');

export async function runSoakBench(): Promise<BenchRow[]> {
  const reader = '127.89.0.1';
  const nonClients = Array.from({ length: SCALE.sessions }, (_, i) => peerAddress(i));
  const daemon = await startBrindle('soak', resources([reader], [], nonClients));
  const sampler = new MemorySampler(daemon);
  let received = 0;
  const client = new GeneratedPeer({
    host: '127.0.0.1',
    port: daemon.bgpPort,
    localAddress: reader,
    as: AS,
    bgpIdentifier: 0x0c000001,
    holdTimeSec: 90,
    onUpdate: () => received++,
  });
  try {
    await client.up;
    client.keepAlive();
    await sleep(5000);
    await forceGc(daemon);
    const start = await sampler.read();
    process.stderr.write(`soak: at start: ${await rssBreakdown(daemon)}\n`);
    const load = loadavg()[0];
    sampler.start();
    const started = Date.now();
    const outcomes = new Map<string, number>();
    const outcome = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    for (let first = 0; first < SCALE.sessions; first += SCALE.concurrent) {
      const wave = Array.from({ length: Math.min(SCALE.concurrent, SCALE.sessions - first) }, (_, j) =>
        soakSession(daemon, first + j).then(outcome),
      );
      await Promise.race([Promise.all(wave), sleep(WAVE_DEADLINE_MS)]);
      const took = ((Date.now() - started) / 1000).toFixed(0);
      process.stderr.write(`soak: ${first + wave.length} sessions, ${said(outcomes)}, ${took} s\n`);
    }
    const churnSec = (Date.now() - started) / 1000;
    // A diagnostic report every half second would keep the daemon from ever looking quiet; the
    // kernel's VmHWM, read by the sample after the wait, still holds the peak of the wait.
    sampler.stop();
    process.stderr.write(
      `soak: RSS during the wait, every 5 s: ${(await rssTrace(daemon, SCALE.settleMs)).join(' ')} MB\n`,
    );
    const after = await sampler.sample();
    process.stderr.write(
      `soak: ${SCALE.settleMs / 1000} s after, on its own: ${await rssBreakdown(daemon)}\n`,
    );
    await forceGc(daemon);
    const afterGc = await sampler.read();
    process.stderr.write(`soak: after GC: ${await rssBreakdown(daemon)}\n`);
    // What changes 10 s later: the daemon's own trim after the forced GC, if it saw work to trim after.
    await sleep(SECOND_GC_AFTER_MS);
    await forceGc(daemon);
    const afterSecondGc = await sampler.read();
    process.stderr.write(`soak: after the second GC: ${await rssBreakdown(daemon)}\n`);
    const loadAfter = loadavg()[0];
    const left = await ribState(daemon);
    const base = { suite: 'soak', case: `${SCALE.sessions} sessions × ${SCALE.routes} distinct routes` };
    const note = `load ${load.toFixed(1)} → ${loadAfter.toFixed(1)}; sessions: ${said(outcomes)}; churn took ${churnSec.toFixed(0)} s; client got ${received} UPDATEs; after: ${left}`;
    const within = (value: number, from: number) => ({
      target: `≤ start + 32`,
      met: value - from <= 32,
    });
    return [
      { ...base, metric: 'RSS at start', value: start.rssMb, unit: 'MB', note },
      { ...base, metric: 'RSS peak', value: sampler.peakRssMb, unit: 'MB' },
      {
        ...base,
        metric: `RSS ${SCALE.settleMs / 1000} s after, on its own`,
        value: after.rssMb,
        unit: 'MB',
        ...within(after.rssMb, start.rssMb),
      },
      {
        ...base,
        metric: 'RSS after a forced GC',
        value: afterGc.rssMb,
        unit: 'MB',
        ...within(afterGc.rssMb, start.rssMb),
      },
      {
        ...base,
        metric: `RSS after a second forced GC ${SECOND_GC_AFTER_MS / 1000} s later`,
        value: afterSecondGc.rssMb,
        unit: 'MB',
      },
      { ...base, metric: 'heap used at start', value: start.heapMb, unit: 'MB' },
      { ...base, metric: 'heap used peak', value: sampler.peakHeapMb, unit: 'MB' },
      {
        ...base,
        metric: `heap used ${SCALE.settleMs / 1000} s after, on its own`,
        value: after.heapMb,
        unit: 'MB',
      },
      {
        ...base,
        metric: 'heap used after a forced GC',
        value: afterGc.heapMb,
        unit: 'MB',
        ...within(afterGc.heapMb, start.heapMb),
      },
      { ...base, metric: 'heap used after the second forced GC', value: afterSecondGc.heapMb, unit: 'MB' },
    ];
  } finally {
    sampler.stop();
    client.close('reset');
    await daemon.stop();
  }
}
