// Brindle as the reflector under test, started as the README tells an operator to: the compiled
// `bin/brindle --config FILE` in reflector mode on its embedded datastore, its sessions from resources
// applied beforehand with `brindlectl apply` — a BGPConfiguration (mesh off, AS 64512), the
// reflector's own Node (its address and a routeReflectorClusterID, which makes every iBGP peer a
// client) and one BGPPeer per client (`node` the reflector, `peerIP` the client). Plain node on dist/,
// pinned to core 0, no flag of the benchmark's own except `--import daemon-probe.js`, which counts
// reads, writes and decision turns per phase (see that file); `BENCH_BRINDLE_NODE_FLAGS` adds Node
// flags (`--cpu-prof --cpu-prof-dir=DIR`: `--cpu-prof` is not allowed in NODE_OPTIONS).
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brindlectl, cleanEnv, daemonGet as get } from '../../test/helpers/brindle.ts';
import { freePort } from '../../test/helpers/netns.ts';
import { daemonNodeFlags } from '../launcher.ts';
import { launch } from './reflector.ts';
import type {
  DiagnosticFigure,
  PhaseDiagnostics,
  ReflectorSetup,
  ReflectorUnderTest,
  RunningReflector,
} from './reflector.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROBE = fileURLToPath(new URL('./daemon-probe.js', import.meta.url));
const NODE_NAME = 'bench-rr';
const START_TIMEOUT_MS = 60_000;

export function brindleConfig(setup: ReflectorSetup, dir: string, apiPort: number): string {
  return [
    'mode: reflector',
    `nodeName: ${NODE_NAME}`,
    `routerId: ${setup.routerId}`,
    `node: { ipv4Address: ${setup.address}/32 }`,
    `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
    `bgp: { listenAddress: ${setup.address}, listenPort: ${setup.port} }`,
    `api: { listen: '127.0.0.1:${apiPort}', socket: ${join(dir, 'brindle.sock')} }`,
    'log: { level: warn, format: json }',
    'fib: { enabled: false }',
    '',
  ].join('\n');
}

/** The resources an operator applies: BGPConfiguration, the reflector's Node, a BGPPeer per client. */
export function brindleResources(setup: ReflectorSetup): string {
  const documents = [
    'apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\n' +
      `spec: { nodeToNodeMeshEnabled: false, asNumber: ${setup.localAs} }`,
    `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: { name: ${NODE_NAME} }\n` +
      `spec: { bgp: { ipv4Address: ${setup.address}/32, routeReflectorClusterID: ${setup.clusterId} } }`,
    ...setup.clients.map(
      (address, i) =>
        `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: client-${i} }\n` +
        `spec: { node: ${NODE_NAME}, peerIP: ${address}, asNumber: ${setup.localAs} }`,
    ),
  ];
  return documents.join('\n---\n') + '\n';
}

/** Sum of a metric's series in a Prometheus text exposition; undefined when absent. */
export function metricSum(exposition: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface ProbeSnapshot {
  readonly now: number;
  readonly startedMonotonicUs: number;
  readonly elu: { utilization: number; activeMs: number; idleMs: number };
  readonly eluToLastWrite: number;
  readonly reads: { chunks: number; bytes: number; first: number; last: number };
  readonly writes: {
    calls: number;
    bytes: number;
    refused: number;
    first: number;
    last: number;
    firstUpdate: number;
    sockets: number;
    perSocketMin: number;
    perSocketMedian: number;
    perSocketMax: number;
  };
  readonly decisions: { turns: number; ms: number; first: number; last: number };
  readonly drains: { turns: number; ms: number; first: number; last: number };
  readonly binMs: number;
  readonly bins: { read: number[]; written: number[]; decideMs: number[]; drainMs: number[] };
}

/**
 * A scrape of /metrics once the Loc-RIB census behind it stands. The census walks the Loc-RIB in
 * slices after a scrape finds the RIB changed, and that scrape answers with the previous census: ask
 * until brindle_rib_paths repeats (and, with `routes`, is not 0), so no walk is left running into a
 * phase and the figure is current.
 */
async function settledScrape(apiPort: number, routes: boolean): Promise<string> {
  let previous: number | undefined;
  let exposition = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    exposition = await get({ port: apiPort }, '/metrics');
    const paths = metricSum(exposition, 'brindle_rib_paths');
    if (paths !== undefined && paths === previous && (!routes || paths > 0)) break;
    previous = paths;
    await new Promise((r) => setTimeout(r, 300));
  }
  return exposition;
}

/** Where the last probe snapshots are written (BENCH_PROBE_DIR), for bench/README.md's analysis. */
const PROBE_DIR = process.env.BENCH_PROBE_DIR;
let snapshotsTaken = 0;

/**
 * Per phase: event-loop utilisation from /metrics (brindle_event_loop_*_seconds_total, active time
 * over the generator's wall time: the loop idles after the phase ends, so the busy share is the
 * active seconds over the phase's wall time), and the probe's reads, writes and turns.
 */
function diagnostics(apiPort: number, probeSocket: string): PhaseDiagnostics {
  let activeBefore = 0;
  const activeSeconds = (exposition: string) =>
    metricSum(exposition, 'brindle_event_loop_active_seconds_total') ?? NaN;
  return {
    async begin() {
      activeBefore = activeSeconds(await settledScrape(apiPort, false));
      await get({ socketPath: probeSocket }, '/reset');
    },
    async end(wallMs: number): Promise<DiagnosticFigure[]> {
      const p = JSON.parse(await get({ socketPath: probeSocket }, '/snapshot')) as ProbeSnapshot;
      const activeMs = (activeSeconds(await get({ port: apiPort }, '/metrics')) - activeBefore) * 1000;
      if (PROBE_DIR) {
        const file = join(PROBE_DIR, `probe-${process.pid}-${++snapshotsTaken}.json`);
        await writeFile(file, JSON.stringify({ wallMs, activeMs, ...p }));
      }
      const ms = (value: number) => Math.round(value * 10) / 10;
      return [
        {
          metric: 'event-loop utilisation',
          value: p.eluToLastWrite * 100,
          unit: '%',
          note:
            `from the phase's start to the last write; /metrics: ${ms(activeMs)} ms active in ` +
            `${ms(wallMs)} ms of wall time (its scrape and the work after the phase included)`,
        },
        {
          metric: 'last byte read → first UPDATE written',
          value: p.writes.firstUpdate - p.reads.last,
          unit: 'ms',
          note:
            `first byte read ${ms(p.reads.first)} ms, last ${ms(p.reads.last)} ms; UPDATEs written ` +
            `${ms(p.writes.firstUpdate)}–${ms(p.writes.last)} ms (${p.writes.refused} writes met a full socket)`,
        },
        {
          metric: 'last UPDATE written',
          value: p.writes.last,
          unit: 'ms',
          note: `the last receiver held everything ${ms(wallMs - p.writes.last)} ms later (delivery and the generator's reading)`,
        },
        {
          metric: 'decision turns',
          value: p.decisions.turns,
          unit: 'turns',
          note: `${ms(p.decisions.ms)} ms deciding, ${ms(p.decisions.first)}–${ms(p.decisions.last)} ms; ${p.drains.turns} Adj-RIB-Out turns, ${ms(p.drains.ms)} ms`,
        },
        {
          metric: 'writes per client',
          value: p.writes.perSocketMedian,
          unit: 'writes',
          note: `median of ${p.writes.sockets} sockets (min ${p.writes.perSocketMin}, max ${p.writes.perSocketMax}), ${p.writes.bytes.toLocaleString('en-US')} bytes`,
        },
      ];
    },
  };
}

export const brindle: ReflectorUnderTest = {
  name: 'brindle',
  phaseCapSec: 60,
  unavailable: () =>
    Promise.resolve(
      existsSync(join(ROOT, 'dist/main/brindle.js'))
        ? undefined
        : 'dist/ not built (npm run build): bin/brindle runs the compiled daemon',
    ),
  async start(setup: ReflectorSetup): Promise<RunningReflector> {
    const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-daemon-'));
    const config = join(dir, 'brindle.yaml');
    const resources = join(dir, 'resources.yaml');
    const probeSocket = join(dir, 'probe.sock');
    const apiPort = await freePort();
    await writeFile(config, brindleConfig(setup, dir, apiPort));
    await writeFile(resources, brindleResources(setup));
    await brindlectl(config, 'apply', '-f', resources);
    const extraFlags = process.env.BENCH_BRINDLE_NODE_FLAGS?.split(' ').filter((f) => f !== '') ?? [];
    const launched = await launch({
      name: 'brindle',
      command: process.execPath,
      args: [
        ...daemonNodeFlags(),
        ...extraFlags,
        '--import',
        PROBE,
        join(ROOT, 'bin/brindle'),
        '--config',
        config,
      ],
      dir,
      env: {
        ...cleanEnv(),
        BRINDLE_BENCH_PROBE: probeSocket,
        BRINDLE_BENCH_DIST: join(ROOT, 'dist'),
        BRINDLE_BENCH_BGP_PORT: String(setup.port),
      },
      cwd: ROOT,
      // Ready once every BGPPeer has become a configured session.
      ready: async () => {
        const status = JSON.parse(await get({ port: apiPort }, '/api/v1/status').catch(() => '{}')) as {
          summary?: { ipv4: { established: number; notEstablished: number } };
        };
        const ipv4 = status.summary?.ipv4;
        return ipv4 !== undefined && ipv4.established + ipv4.notEstablished === setup.clients.length;
      },
      readyTimeoutMs: START_TIMEOUT_MS,
    });
    return {
      ...launched,
      pathsStored: async () => metricSum(await settledScrape(apiPort, true), 'brindle_rib_paths'),
      diagnostics: diagnostics(apiPort, probeSocket),
    };
  },
};
