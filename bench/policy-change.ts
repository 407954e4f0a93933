// `npm run bench -- policy`: a live routing-policy change on the real daemon (reflector mode, embedded
// datastore, in this process), with 100k routes from one client reflected to another. Each phase
// writes a BGPFilter to the datastore, as `brindlectl apply` does, and times until the receiving
// client holds the new set: export rejecting half of the routes to the receiver, accepting them
// again, then import rejecting half of what the injector sent (judged again from the stored
// Adj-RIB-In, no ROUTE-REFRESH) and accepting it again. Per phase: wall time, this process's CPU
// time (the daemon's, plus the two clients reading and writing their sockets), the longest
// event-loop turn as CPU time between two 2 ms timer ticks (load-independent; the clients' reading of
// what arrives in the same turn counts too) and as timer lateness (perf_hooks.monitorEventLoopDelay,
// which includes waiting for a core on a loaded machine), and that no session was reset.
//
// Loopback only: the reflector benchmark's address plan (127.93.0.1 and its first two clients).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { encodeAttributeSet, UpdatePacker } from '../src/bgp/codec/update-packer.ts';
import { Origin } from '../src/bgp/constants.ts';
import { loadConfig } from '../src/config/config.ts';
import { Daemon } from '../src/daemon/daemon.ts';
import { openStore } from '../src/datastore/open.ts';
import { Afi, Safi } from '../src/lib/family.ts';
import { silentLogger } from '../src/lib/log.ts';
import type { Nlri } from '../src/lib/prefix.ts';
import { ResourceStore } from '../src/resources/store.ts';
import { BenchClient, CLIENT_CODEC, establishAll, PrefixSpace, Tally } from './reflector/client.ts';
import {
  clientAddress,
  LOCAL_AS,
  nextHopAddress,
  REFLECTOR_ADDRESS,
  REFLECTOR_PORT,
} from './reflector/plan.ts';
import { TurnSampler } from './rib-withdraw.ts';
import type { BenchRow } from './table.ts';

const ROUTES = 100_000;
/**
 * /24s from 9.60.176.0: the first half lies in 9.0.0.0/8, the second exactly fills 10.0.0.0/8's
 * first 50,000 /24s, so one rule on 10.0.0.0/8 takes exactly half.
 */
const BASE = 0x0a000000 - (ROUTES / 2) * 256;
const HALF = '10.0.0.0/8';
const PHASE_CAP_MS = 60_000;
const ESTABLISH_TIMEOUT_MS = 30_000;
/** The target for a walk's longest turn, as for the Loc-RIB's other walks (rib suite). */
const TARGET_MAX_TURN_MS = 50;
const NODE = 'bench-policy';

const filter = (name: string, spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'BGPFilter',
  metadata: { name },
  spec,
});

const peer = (name: string, index: number, filters: string[]) => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'BGPPeer',
  metadata: { name },
  spec: { node: NODE, peerIP: clientAddress(index), asNumber: LOCAL_AS, filters },
});

const REJECT_HALF = [{ cidr: HALF, matchOperator: 'In', action: 'Reject' }];
/** A rule that matches nothing the injector sends: the filter exists and decides nothing. */
const NOTHING = [{ cidr: '192.0.2.0/24', matchOperator: 'Equal', action: 'Reject' }];

interface Phase {
  readonly name: string;
  readonly filter: object;
  readonly held: number;
}

const PHASES: readonly Phase[] = [
  { name: 'export rejects half', filter: filter('to-receiver', { exportV4: REJECT_HALF }), held: ROUTES / 2 },
  { name: 'export accepts all again', filter: filter('to-receiver', { exportV4: NOTHING }), held: ROUTES },
  {
    name: 'import rejects half',
    filter: filter('from-injector', { importV4: REJECT_HALF }),
    held: ROUTES / 2,
  },
  { name: 'import accepts all again', filter: filter('from-injector', { importV4: NOTHING }), held: ROUTES },
];

function announcement(space: PrefixSpace): Buffer {
  const packer = new UpdatePacker(CLIENT_CODEC, 1 << 20);
  const all: Nlri[] = [];
  for (let i = 0; i < space.size; i++) all.push(space.prefix(i));
  const attributes = { origin: Origin.Igp, asPath: [], nextHop: nextHopAddress(0), localPref: 100 };
  packer.announce(encodeAttributeSet(Afi.Ipv4, Safi.Unicast, attributes, CLIENT_CODEC), all);
  return packer.take();
}

async function startDaemon(
  dir: string,
): Promise<{ daemon: Daemon; resources: ResourceStore; close: () => Promise<void> }> {
  const path = join(dir, 'store');
  const store = await openStore({ backend: 'lmdb', path });
  const resources = new ResourceStore(store);
  const write = async (resource: object) => {
    const result = await resources.write(resource, 'apply');
    if (!result.ok) throw new Error(result.errors.join('; '));
  };
  await write({
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { asNumber: LOCAL_AS, nodeToNodeMeshEnabled: false, listenPort: REFLECTOR_PORT },
  });
  await write({
    apiVersion: 'projectcalico.org/v3',
    kind: 'Node',
    metadata: { name: NODE },
    spec: { bgp: { ipv4Address: `${REFLECTOR_ADDRESS}/32`, routeReflectorClusterID: '224.0.0.1' } },
  });
  await write(filter('from-injector', { importV4: NOTHING }));
  await write(filter('to-receiver', { exportV4: NOTHING }));
  await write(peer('injector', 0, ['from-injector']));
  await write(peer('receiver', 1, ['to-receiver']));
  const loaded = loadConfig(undefined, {
    BRINDLE_MODE: 'reflector',
    BRINDLE_NODE_NAME: NODE,
    BRINDLE_NODE_IPV4: `${REFLECTOR_ADDRESS}/32`,
    BRINDLE_BGP_LISTEN_ADDRESS: REFLECTOR_ADDRESS,
    BRINDLE_DATASTORE: 'embedded',
    BRINDLE_DATASTORE_PATH: path,
    BRINDLE_API_SOCKET: join(dir, 'brindle.sock'),
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  const daemon = await Daemon.start(loaded.config, silentLogger);
  return { daemon, resources, close: () => daemon.stop().finally(() => store.close()) };
}

async function phase(
  resources: ResourceStore,
  step: Phase,
  receiver: BenchClient,
  tally: Tally,
): Promise<{ wallMs: number | undefined; cpuMs: number; maxTurnMs: number; maxTurnCpuMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  const sampler = new TurnSampler();
  histogram.enable();
  sampler.start();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const written = await resources.write(step.filter, 'apply');
  if (!written.ok) throw new Error(written.errors.join('; '));
  const at = await tally.until(() => receiver.held === step.held, PHASE_CAP_MS);
  const used = process.cpuUsage(cpu);
  sampler.stop();
  histogram.disable();
  return {
    wallMs: at === undefined ? undefined : at - start,
    cpuMs: (used.user + used.system) / 1000,
    // The histogram records how late its 1 ms timer ran: the longest turn is about that much plus 1 ms.
    maxTurnMs: histogram.max / 1e6,
    maxTurnCpuMs: sampler.maxCpuMs,
  };
}

export async function runPolicyChangeBench(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(os.tmpdir(), 'brindle-bench-policy-'));
  const { daemon, resources, close } = await startDaemon(dir);
  const space = new PrefixSpace(BASE >>> 0, 24, ROUTES);
  const tally = new Tally();
  const injector = new BenchClient({ index: 0, space, ownFrom: 0, ownTo: ROUTES, receiver: false, tally });
  const receiver = new BenchClient({ index: 1, space, receiver: true, tally });
  const rows: BenchRow[] = [];
  const row = (name: string, metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}) =>
    rows.push({ suite: 'policy', case: `${ROUTES / 1000}k routes: ${name}`, metric, value, unit, ...extra });
  try {
    await establishAll([injector, receiver], ESTABLISH_TIMEOUT_MS);
    injector.send(announcement(space));
    const loaded = await tally.until(() => receiver.held === ROUTES, PHASE_CAP_MS);
    if (loaded === undefined) throw new Error(`the receiver holds ${receiver.held} of ${ROUTES} routes`);
    const sessions = () =>
      daemon.bgp
        ?.allPeers()
        .map((p) => p.counters.establishedCount)
        .join() ?? '';
    const before = sessions();
    for (const step of PHASES) {
      const result = await phase(resources, step, receiver, tally);
      const note = `load ${os.loadavg()[0].toFixed(1)}; receiver holds ${receiver.held}`;
      row(step.name, 'until the receiver holds the new set', result.wallMs ?? NaN, 'ms', {
        note: result.wallMs === undefined ? `did not finish in ${PHASE_CAP_MS / 1000} s; ${note}` : note,
      });
      row(step.name, 'CPU time (daemon + both clients)', result.cpuMs, 'ms');
      row(step.name, 'longest event-loop turn, CPU time', result.maxTurnCpuMs, 'ms', {
        target: `≤ ${TARGET_MAX_TURN_MS}`,
        met: result.maxTurnCpuMs <= TARGET_MAX_TURN_MS,
      });
      row(step.name, 'longest event-loop turn, wall (timer lateness)', result.maxTurnMs, 'ms', {
        note: 'includes time the process waited for a core',
      });
    }
    row('all phases', 'sessions reset', before === sessions() ? 0 : 1, 'count', {
      target: '0',
      met: before === sessions(),
    });
    return rows;
  } finally {
    injector.destroy();
    receiver.destroy();
    await close();
    await rm(dir, { recursive: true, force: true });
  }
}
