// The five scenarios of the reflector benchmark, run against one reflector under test at a time.
// Timing: every phase is timed in this (the generator's) process with performance.now(), from just
// before the first UPDATE (or the NOTIFICATION closing a session) is written to the socket, to the end
// of the received chunk that made the phase's condition true at the last receiver. Over the same
// interval: the reflector's CPU time (utime + stime of its processes, /proc/PID/stat), the 1-minute load
// average at its end, and the reflector's peak RSS so far (/proc/PID/status VmHWM); for Brindle also
// where its time went (reflector.diagnostics).
import os from 'node:os';
import { encodeUpdate } from '../../src/bgp/codec/update.ts';
import { encodeAttributeSet, UpdatePacker } from '../../src/bgp/codec/update-packer.ts';
import { Origin } from '../../src/bgp/constants.ts';
import type { PathAttributes } from '../../src/bgp/types.ts';
import { Afi, Safi } from '../../src/lib/family.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { BenchClient, CLIENT_CODEC, establishAll, PrefixSpace, Tally, watch } from './client.ts';
import { LOCAL_AS, nextHopAddress, shortCount } from './plan.ts';
import type { Scale } from './plan.ts';
import {
  cpuSeconds,
  mainThreadCpuSeconds,
  processTree,
  readMemory,
  runQueueWaitSeconds,
} from './reflector.ts';
import type { DiagnosticFigure, RunningReflector, ScenarioId } from './reflector.ts';

/** One number a scenario measured; NaN with a note when it could not be measured. */
export interface Measurement {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

export interface Scenario {
  readonly id: ScenarioId;
  /** `S1 100k→10`. */
  label(scale: Scale): string;
  /** Sessions the reflector must be configured for: clients 0 .. n-1. */
  clientCount(scale: Scale): number;
  /** `settleMs`: the pause between the last session coming up and the first UPDATE. */
  run(
    reflector: RunningReflector,
    scale: Scale,
    phaseCapMs: number,
    settleMs: number,
  ): Promise<Measurement[]>;
}

const ESTABLISH_TIMEOUT_MS = 120_000;
/** Pause between the last session coming up and the first UPDATE, and before reading steady memory. */
export const SETTLE_MS = 1_000;
/**
 * Where idle RSS is read, the sessions have been up and idle this much longer: a daemon just started
 * still holds its start-up's garbage (Brindle reclaims it after 5 s quiet, src/daemon/memory-trim.ts).
 */
const IDLE_MS = 7_000;
/** The injector scenarios announce /24s from 16.0.0.0 (up to 2^20 of them end at 31.255.255.0/24). */
export const INJECTED_BASE = 0x10000000;
/** S4's /26 blocks, as Calico's IPAM hands them out, from 10.64.0.0. */
const BLOCK_BASE = 0x0a400000;
const MIB = 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An iBGP route as a client originates it: empty AS_PATH, its own next hop, a community per set. */
function attributes(n: number): PathAttributes {
  return {
    origin: Origin.Igp,
    asPath: [],
    nextHop: nextHopAddress(n),
    localPref: 100,
    multiExitDisc: n,
    communities: [((LOCAL_AS << 16) | n) >>> 0],
  };
}

/**
 * The injector's whole announcement and withdrawal, encoded before timing starts. Prefix i belongs to
 * attribute set i mod `sets`, so each set's prefixes are spread over the space, as in a real table.
 */
export function injectorStreams(space: PrefixSpace, sets: number): { announce: Buffer; withdraw: Buffer } {
  const packer = new UpdatePacker(CLIENT_CODEC, 1 << 20);
  const all: Nlri[] = [];
  for (let i = 0; i < space.size; i++) all.push(space.prefix(i));
  for (let k = 0; k < sets; k++) {
    const set = encodeAttributeSet(Afi.Ipv4, Safi.Unicast, attributes(k), CLIENT_CODEC);
    packer.announce(
      set,
      all.filter((_, i) => i % sets === k),
    );
  }
  const announce = packer.take();
  packer.withdraw(Afi.Ipv4, Safi.Unicast, all);
  return { announce, withdraw: packer.take() };
}

interface Timed {
  /** Seconds from start() until the condition held; undefined past the cap. */
  readonly seconds: number | undefined;
  /** This process's CPU time over the same interval, as a share of one core (1 = the generator was the bottleneck). */
  readonly generatorLoad: number;
  /** The reflector's CPU time over the interval (up to the cap when it did not finish), seconds. */
  readonly reflectorCpu: number;
  /** Of reflectorCpu, what the main thread of each of its processes ran. */
  readonly reflectorMainCpu: number;
  /** Seconds the reflector, and this process, were runnable but waited for their core (schedstat). */
  readonly reflectorWait: number;
  readonly generatorWait: number;
  /** 1-minute load average and the reflector's peak RSS (MiB) when the phase ended. */
  readonly load: number;
  readonly peakMib: number;
  /** Where the reflector's time went (Brindle), when it finished. */
  readonly diagnostics: DiagnosticFigure[];
}

/** The reflector as a phase sees it: its processes, fixed once its sessions are up. */
interface Subject {
  readonly reflector: RunningReflector;
  readonly pids: readonly number[];
}

function subject(reflector: RunningReflector): Subject {
  return { reflector, pids: processTree(reflector.pid) };
}

async function timed(
  on: Subject,
  tally: Tally,
  start: () => void,
  condition: () => boolean,
  capMs: number,
): Promise<Timed> {
  await on.reflector.diagnostics?.begin();
  const reflector0 = cpuSeconds(on.pids);
  const main0 = mainThreadCpuSeconds(on.pids);
  const wait0 = runQueueWaitSeconds(on.pids);
  const generatorWait0 = runQueueWaitSeconds([process.pid]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  start();
  const at = await tally.until(condition, capMs);
  const reflectorCpu = cpuSeconds(on.pids) - reflector0;
  const reflectorMainCpu = mainThreadCpuSeconds(on.pids) - main0;
  const reflectorWait = runQueueWaitSeconds(on.pids) - wait0;
  const generatorWait = runQueueWaitSeconds([process.pid]) - generatorWait0;
  const wallMs = (at ?? performance.now()) - t0;
  const cpu = process.cpuUsage(cpu0);
  const diagnostics = at === undefined ? [] : ((await on.reflector.diagnostics?.end(wallMs)) ?? []);
  return {
    seconds: at === undefined ? undefined : wallMs / 1000,
    generatorLoad: (cpu.user + cpu.system) / 1000 / wallMs,
    reflectorCpu,
    reflectorMainCpu,
    reflectorWait,
    generatorWait,
    load: os.loadavg()[0],
    peakMib: readMemory(on.reflector.pid).peak / MIB,
    diagnostics,
  };
}

/** A phase's rows: its wall time (with the load and peak RSS), the reflector's CPU time, diagnostics. */
function phaseRows(metric: string, t: Timed, capMs: number, detail: () => string): Measurement[] {
  const wall = seconds(metric, t, capMs, detail);
  const context = `load ${t.load.toFixed(2)}; peak RSS ${t.peakMib.toFixed(0)} MiB`;
  const share =
    t.seconds === undefined ? '' : `${((t.reflectorCpu / t.seconds) * 100).toFixed(0)} % of the wall time; `;
  // utime + stime count in 10 ms ticks, the main thread's run time in ns: the helpers' share is ±0.01 s.
  const helpers = Math.max(0, t.reflectorCpu - t.reflectorMainCpu);
  const threads = `main thread ${t.reflectorMainCpu.toFixed(2)} s, other threads ${helpers.toFixed(2)} s`;
  return [
    { ...wall, note: [wall.note, context].filter((n) => n !== undefined).join('; ') },
    { metric: `${metric}: reflector CPU`, value: t.reflectorCpu, unit: 's', note: share + threads },
    {
      metric: `${metric}: reflector waited for its core`,
      value: t.reflectorWait,
      unit: 's',
      note: `runnable, other processes on core 0 running (schedstat); the generator waited ${t.generatorWait.toFixed(2)} s for core 1`,
    },
    ...t.diagnostics.map((d) => ({ ...d, metric: `${metric}: ${d.metric}` })),
  ];
}

function generatorLoad(t: Timed): Measurement {
  return { metric: 'generator CPU (convergence)', value: t.generatorLoad * 100, unit: '% of core 1' };
}

/** How far receivers got: for the "did not finish" note. */
function progress(receivers: readonly BenchClient[]): string {
  const counted = receivers.filter((c) => c.counts);
  const held = counted.reduce((n, c) => n + c.held, 0);
  const expected = counted.reduce((n, c) => n + c.expected, 0);
  return `${held.toLocaleString('en-US')} of ${expected.toLocaleString('en-US')} prefix copies held`;
}

/** What receivers got that they should not have, as a note on the convergence row. */
function oddities(receivers: readonly BenchClient[]): string | undefined {
  const echoed = receivers.reduce((n, c) => n + c.echoed, 0);
  const foreign = receivers.reduce((n, c) => n + c.foreign, 0);
  const parts = [
    echoed > 0 ? `${echoed} prefixes reflected back to their originator` : '',
    foreign > 0 ? `${foreign} prefixes never announced` : '',
  ].filter((p) => p !== '');
  return parts.length > 0 ? parts.join('; ') : undefined;
}

function seconds(metric: string, t: Timed, capMs: number, detail: () => string): Measurement {
  if (t.seconds !== undefined) return { metric, value: t.seconds, unit: 's' };
  return { metric, value: NaN, unit: 's', note: `did not finish within ${capMs / 1000} s (${detail()})` };
}

function convergence(t: Timed, capMs: number, receivers: readonly BenchClient[]): Measurement[] {
  const [m, ...rest] = phaseRows('convergence', t, capMs, () => progress(receivers));
  const notes = [m.note, oddities(receivers)].filter((n) => n !== undefined);
  return [notes.length > 0 ? { ...m, note: notes.join('; ') } : m, ...rest];
}

function notMeasured(metric: string, unit: string, why: string): Measurement {
  return { metric, value: NaN, unit, note: `not measured: ${why}` };
}

function peakRss(reflector: RunningReflector): Measurement {
  return { metric: 'peak RSS', value: readMemory(reflector.pid).peak / MIB, unit: 'MiB' };
}

/** Reflector's prefixes per UPDATE, as the receivers saw them. */
function packing(receivers: readonly BenchClient[]): Measurement {
  const updates = receivers.reduce((n, c) => n + c.announcingUpdates, 0);
  const prefixes = receivers.reduce((n, c) => n + c.announcedPrefixes, 0);
  return { metric: 'prefixes per UPDATE', value: updates === 0 ? NaN : prefixes / updates, unit: 'prefixes' };
}

interface InjectorOptions {
  readonly prefixes: number;
  readonly sets: number;
  readonly receivers: number;
  /** Also report the RSS with the sessions up and no route (S1). */
  readonly idleRss: boolean;
  /** Also measure steady-state bytes per stored path after convergence (S3). */
  readonly memoryPerPath: boolean;
  /** Then announce and withdraw the table a second time (S1, S3): see again(). */
  readonly again: boolean;
}

/** The first table's phases longer than this are not run a second time (GoBGP's take a minute). */
const AGAIN_MAX_S = 10;

/** One table's phases as the injector runs them: the announcement and the withdrawal, timed. */
interface TableCycle {
  converge(): Promise<Timed>;
  withdraw(): Promise<Timed>;
}

/**
 * The same table announced and withdrawn once more by the same reflector, settled in between: what a
 * reflector that has been running pays for a table. The first time is what a freshly started one pays,
 * and for Brindle that includes V8 compiling the code of each phase as it first runs it (the CPU rows
 * split the main thread from the compiler's and garbage collector's threads).
 */
async function again(
  cycle: TableCycle,
  first: { converged: Timed; withdrawn: Timed },
  capMs: number,
  settleMs: number,
  detail: () => string,
): Promise<Measurement[]> {
  const metrics = ['convergence, again', 'withdraw all, again'];
  const took = Math.max(first.converged.seconds ?? Infinity, first.withdrawn.seconds ?? Infinity);
  if (took > AGAIN_MAX_S) {
    const why = `the first table's phases took ${Number.isFinite(took) ? `${took.toFixed(0)} s` : 'too long'}`;
    return metrics.map((m) => notMeasured(m, 's', why));
  }
  await sleep(settleMs);
  const reconverged = await cycle.converge();
  const out = phaseRows(metrics[0], reconverged, capMs, detail);
  if (reconverged.seconds === undefined) return [...out, notMeasured(metrics[1], 's', 'no convergence')];
  await sleep(settleMs);
  return [...out, ...phaseRows(metrics[1], await cycle.withdraw(), capMs, detail)];
}

/** Client 0 injects everything, clients 1..M receive it; then it withdraws everything. */
async function injectedScenario(
  reflector: RunningReflector,
  options: InjectorOptions,
  capMs: number,
  settleMs: number,
): Promise<Measurement[]> {
  const space = new PrefixSpace(INJECTED_BASE, 24, options.prefixes);
  const tally = new Tally();
  const injector = new BenchClient({
    index: 0,
    space,
    ownFrom: 0,
    ownTo: space.size,
    receiver: false,
    tally,
  });
  const receivers = Array.from(
    { length: options.receivers },
    (_, k) =>
      new BenchClient({
        index: k + 1,
        space,
        receiver: true,
        tally,
        expectedNextHop: (i) => nextHopAddress(i % options.sets),
      }),
  );
  const everyone = [injector, ...receivers];
  const out: Measurement[] = [];
  try {
    const { announce, withdraw } = injectorStreams(space, options.sets);
    await establishAll(everyone, ESTABLISH_TIMEOUT_MS);
    // Idle RSS, and the baseline of bytes per stored path, as the reflector stands once idle.
    await sleep(settleMs + (options.idleRss || options.memoryPerPath ? IDLE_MS : 0));
    const on = subject(reflector);
    const baseline = readMemory(reflector.pid).rss;
    if (options.idleRss)
      out.push({ metric: 'idle RSS (sessions up, no route)', value: baseline / MIB, unit: 'MiB' });
    const allHeld = () => tally.full === tally.receivers;
    const noneHeld = () => tally.empty === tally.receivers;
    const cycle: TableCycle = {
      converge: () => timed(on, tally, () => injector.send(announce), allHeld, capMs),
      withdraw: () => timed(on, tally, () => injector.send(withdraw), noneHeld, capMs),
    };
    const detail = () => progress(receivers);
    const converged = await cycle.converge();
    out.push(...convergence(converged, capMs, receivers), generatorLoad(converged));
    if (converged.seconds !== undefined) {
      out.push(packing(receivers));
      if (options.memoryPerPath) out.push(...(await bytesPerPath(reflector, baseline, space.size)));
      const withdrawn = await cycle.withdraw();
      out.push(...phaseRows('withdraw all', withdrawn, capMs, detail));
      // The peak is the first table's: read before the second.
      out.push(peakRss(reflector));
      if (options.again) out.push(...(await again(cycle, { converged, withdrawn }, capMs, settleMs, detail)));
    } else {
      if (options.memoryPerPath) out.push(notMeasured('bytes per stored path', 'B', 'no convergence'));
      out.push(notMeasured('withdraw all', 's', 'no convergence'), peakRss(reflector));
    }
    return out;
  } finally {
    for (const c of everyone) c.destroy();
  }
}

/**
 * (RSS once every receiver holds every path, after a settle) − (RSS with the sessions up and no
 * routes), over the paths stored: one per injected prefix.
 */
/**
 * RSS over idle RSS per stored path: 1 s after convergence, and once the reflector has held the table
 * idle as long as idle RSS was read after the sessions came up (what a reflector holding a table costs
 * from then on: Brindle has given back the convergence's garbage by then, src/daemon/memory-trim.ts).
 */
async function bytesPerPath(
  reflector: RunningReflector,
  baseline: number,
  paths: number,
): Promise<Measurement[]> {
  await reflector.settle?.();
  await sleep(SETTLE_MS);
  const converged = readMemory(reflector.pid).rss;
  await sleep(IDLE_MS);
  const idle = readMemory(reflector.pid).rss;
  const reported = await reflector.pathsStored().catch(() => undefined);
  const note =
    reported === undefined || reported === paths ? undefined : `reflector reports ${reported} paths`;
  return [
    { metric: 'bytes per stored path', value: (idle - baseline) / paths, unit: 'B', note },
    {
      metric: 'bytes per stored path, 1 s after convergence',
      value: (converged - baseline) / paths,
      unit: 'B',
    },
  ];
}

/**
 * S4, Calico-shaped: every client announces its own /26 blocks and must end up with everyone else's.
 * Then one client withdraws its blocks by UPDATE, and another closes its session (Cease, then FIN).
 */
async function calicoScenario(
  reflector: RunningReflector,
  scale: Scale,
  capMs: number,
  settleMs: number,
): Promise<Measurement[]> {
  const count = scale.s4Clients;
  const blocks = scale.s4BlocksPerClient;
  const space = new PrefixSpace(BLOCK_BASE, 26, count * blocks);
  const tally = new Tally();
  const clients = Array.from(
    { length: count },
    (_, i) =>
      new BenchClient({
        index: i,
        space,
        ownFrom: i * blocks,
        ownTo: (i + 1) * blocks,
        receiver: true,
        tally,
        expectedNextHop: (b) => nextHopAddress(Math.floor(b / blocks)),
      }),
  );
  const ownBlocks = (i: number) => Array.from({ length: blocks }, (_, b) => space.prefix(i * blocks + b));
  const announcements = clients.map((_, i) =>
    encodeUpdate({ attributes: attributes(i), nlri: ownBlocks(i) }, CLIENT_CODEC),
  );
  const out: Measurement[] = [];
  try {
    await establishAll(clients, ESTABLISH_TIMEOUT_MS);
    await sleep(settleMs);
    const on = subject(reflector);
    const allHeld = () => tally.full === tally.receivers;
    const start = () => clients.forEach((c, i) => c.send(announcements[i]));
    const converged = await timed(on, tally, start, allHeld, capMs);
    out.push(...convergence(converged, capMs, clients), generatorLoad(converged));
    const byUpdate = 'one client withdrawn (UPDATE)';
    const bySession = 'one client withdrawn (session closed)';
    if (converged.seconds === undefined) {
      out.push(notMeasured(byUpdate, 'ms', 'no convergence'), notMeasured(bySession, 'ms', 'no convergence'));
    } else {
      out.push(
        await singleWithdrawal(byUpdate, on, space, clients, tally, count - 1, capMs, (c) =>
          c.send(encodeUpdate({ withdrawnRoutes: ownBlocks(count - 1) }, CLIENT_CODEC)),
        ),
      );
      out.push(
        await singleWithdrawal(bySession, on, space, clients, tally, count - 2, capMs, (c) => c.shutdown()),
      );
    }
    out.push(peakRss(reflector));
    return out;
  } finally {
    for (const c of clients) c.destroy();
  }
}

/** Milliseconds until no other client holds any of client `who`'s blocks after `act(client)`. */
async function singleWithdrawal(
  metric: string,
  on: Subject,
  space: PrefixSpace,
  clients: readonly BenchClient[],
  tally: Tally,
  who: number,
  capMs: number,
  act: (client: BenchClient) => void,
): Promise<Measurement> {
  const client = clients[who];
  const from = who * (space.size / clients.length);
  watch(space, clients, tally, from, from + space.size / clients.length);
  const cleared = () => tally.watchClear === tally.receivers;
  const t = await timed(on, tally, () => act(client), cleared, capMs);
  if (t.seconds === undefined) {
    return { ...seconds(metric, t, capMs, () => 'withdrawal not seen everywhere'), unit: 'ms' };
  }
  return { metric, value: t.seconds * 1000, unit: 'ms' };
}

/** An injector scenario: `prefixes` /24s from client 0 to `receivers` clients. */
function injected(
  id: ScenarioId,
  size: (s: Scale) => { prefixes: number; receivers: number },
  extra: { idleRss?: boolean; memoryPerPath?: boolean; again?: boolean } = {},
): Scenario {
  return {
    id,
    label: (s) => `${id} ${shortCount(size(s).prefixes)}→${size(s).receivers}`,
    clientCount: (s) => 1 + size(s).receivers,
    run: (r, s, cap, settle) =>
      injectedScenario(
        r,
        {
          ...size(s),
          sets: s.attributeSets,
          idleRss: extra.idleRss ?? false,
          memoryPerPath: extra.memoryPerPath ?? false,
          again: extra.again ?? false,
        },
        cap,
        settle,
      ),
  };
}

export const scenarios: readonly Scenario[] = [
  injected('S1', (s) => ({ prefixes: s.s1Prefixes, receivers: s.s1Receivers }), {
    idleRss: true,
    again: true,
  }),
  injected('S2', (s) => ({ prefixes: s.s2Prefixes, receivers: s.s2Receivers })),
  injected('S3', (s) => ({ prefixes: s.s3Prefixes, receivers: s.s3Receivers }), {
    memoryPerPath: true,
    again: true,
  }),
  {
    id: 'S4',
    label: (s) => `S4 ${s.s4Clients}×${s.s4BlocksPerClient} /26`,
    clientCount: (s) => s.s4Clients,
    run: calicoScenario,
  },
  injected('S5', (s) => ({ prefixes: s.s5Prefixes, receivers: s.s5Receivers })),
];
