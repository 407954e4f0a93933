// The three scenarios of the reflector benchmark, run against one reflector under test at a time.
// Timing: every phase is timed in this (the generator's) process with performance.now(), from just
// before the first UPDATE (or the NOTIFICATION closing a session) is written to the socket, to the end
// of the received chunk that made the phase's condition true at the last receiver. Memory is read from
// /proc/PID/status of the reflector.
import { encodeUpdate } from '../../src/bgp/codec/update.ts';
import { encodeAttributeSet, UpdatePacker } from '../../src/bgp/codec/update-packer.ts';
import { Origin } from '../../src/bgp/constants.ts';
import type { PathAttributes } from '../../src/bgp/types.ts';
import { Afi, Safi } from '../../src/lib/family.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { BenchClient, CLIENT_CODEC, establishAll, PrefixSpace, Tally, watch } from './client.ts';
import { LOCAL_AS, nextHopAddress, shortCount } from './plan.ts';
import type { Scale } from './plan.ts';
import { readMemory } from './reflector.ts';
import type { RunningReflector, ScenarioId } from './reflector.ts';

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
  run(reflector: RunningReflector, scale: Scale, phaseCapMs: number): Promise<Measurement[]>;
}

const ESTABLISH_TIMEOUT_MS = 60_000;
/** Pause between the last session coming up and the first UPDATE, and before reading steady memory. */
const SETTLE_MS = 1_000;
/** S1 and S3 announce /24s from 16.0.0.0 (up to 2^20 of them end at 31.255.255.0/24). */
const INJECTED_BASE = 0x10000000;
/** S2's /26 blocks, as Calico's IPAM hands them out, from 10.64.0.0. */
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
function injectorStreams(space: PrefixSpace, sets: number): { announce: Buffer; withdraw: Buffer } {
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
}

async function timed(
  tally: Tally,
  start: () => void,
  condition: () => boolean,
  capMs: number,
): Promise<Timed> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  start();
  const at = await tally.until(condition, capMs);
  const wallMs = (at ?? performance.now()) - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    seconds: at === undefined ? undefined : wallMs / 1000,
    generatorLoad: (cpu.user + cpu.system) / 1000 / wallMs,
  };
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

function convergence(t: Timed, capMs: number, receivers: readonly BenchClient[]): Measurement {
  const m = seconds('convergence', t, capMs, () => progress(receivers));
  const notes = [m.note, oddities(receivers)].filter((n) => n !== undefined);
  return notes.length > 0 ? { ...m, note: notes.join('; ') } : m;
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
  /** Also measure steady-state bytes per stored path after convergence (S3). */
  readonly memoryPerPath: boolean;
}

/** S1 and S3: client 0 injects everything, clients 1..M receive it; then it withdraws everything. */
async function injectorScenario(
  reflector: RunningReflector,
  options: InjectorOptions,
  capMs: number,
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
    await sleep(SETTLE_MS);
    const baseline = readMemory(reflector.pid).rss;
    const allHeld = () => tally.full === tally.receivers;
    const converged = await timed(tally, () => injector.send(announce), allHeld, capMs);
    out.push(convergence(converged, capMs, receivers), generatorLoad(converged));
    if (converged.seconds !== undefined) {
      out.push(packing(receivers));
      if (options.memoryPerPath) out.push(await bytesPerPath(reflector, baseline, space.size));
      const noneHeld = () => tally.empty === tally.receivers;
      const withdrawn = await timed(tally, () => injector.send(withdraw), noneHeld, capMs);
      out.push(seconds('withdraw all', withdrawn, capMs, () => progress(receivers)));
    } else {
      if (options.memoryPerPath) out.push(notMeasured('bytes per stored path', 'B', 'no convergence'));
      out.push(notMeasured('withdraw all', 's', 'no convergence'));
    }
    out.push(peakRss(reflector));
    return out;
  } finally {
    for (const c of everyone) c.destroy();
  }
}

/**
 * (RSS once every receiver holds every path, after a settle) − (RSS with the sessions up and no
 * routes), over the paths stored: one per injected prefix.
 */
async function bytesPerPath(
  reflector: RunningReflector,
  baseline: number,
  paths: number,
): Promise<Measurement> {
  await reflector.settle?.();
  await sleep(SETTLE_MS);
  const rss = readMemory(reflector.pid).rss;
  const reported = await reflector.pathsStored().catch(() => undefined);
  const note =
    reported === undefined || reported === paths ? undefined : `reflector reports ${reported} paths`;
  return { metric: 'bytes per stored path', value: (rss - baseline) / paths, unit: 'B', note };
}

/**
 * S2, Calico-shaped: every client announces its own /26 blocks and must end up with everyone else's.
 * Then one client withdraws its blocks by UPDATE, and another closes its session (Cease, then FIN).
 */
async function calicoScenario(
  reflector: RunningReflector,
  scale: Scale,
  capMs: number,
): Promise<Measurement[]> {
  const count = scale.s2Clients;
  const blocks = scale.s2BlocksPerClient;
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
    await sleep(SETTLE_MS);
    const allHeld = () => tally.full === tally.receivers;
    const start = () => clients.forEach((c, i) => c.send(announcements[i]));
    const converged = await timed(tally, start, allHeld, capMs);
    out.push(convergence(converged, capMs, clients), generatorLoad(converged));
    const byUpdate = 'one client withdrawn (UPDATE)';
    const bySession = 'one client withdrawn (session closed)';
    if (converged.seconds === undefined) {
      out.push(notMeasured(byUpdate, 'ms', 'no convergence'), notMeasured(bySession, 'ms', 'no convergence'));
    } else {
      out.push(
        await singleWithdrawal(byUpdate, space, clients, tally, count - 1, capMs, (c) =>
          c.send(encodeUpdate({ withdrawnRoutes: ownBlocks(count - 1) }, CLIENT_CODEC)),
        ),
      );
      out.push(
        await singleWithdrawal(bySession, space, clients, tally, count - 2, capMs, (c) => c.shutdown()),
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
  const t = await timed(tally, () => act(client), cleared, capMs);
  if (t.seconds === undefined) {
    return { ...seconds(metric, t, capMs, () => 'withdrawal not seen everywhere'), unit: 'ms' };
  }
  return { metric, value: t.seconds * 1000, unit: 'ms' };
}

export const scenarios: readonly Scenario[] = [
  {
    id: 'S1',
    label: (s) => `S1 ${shortCount(s.s1Prefixes)}→${s.s1Receivers}`,
    clientCount: (s) => 1 + s.s1Receivers,
    run: (r, s, cap) =>
      injectorScenario(
        r,
        { prefixes: s.s1Prefixes, sets: s.s1AttributeSets, receivers: s.s1Receivers, memoryPerPath: false },
        cap,
      ),
  },
  {
    id: 'S2',
    label: (s) => `S2 ${s.s2Clients}×${s.s2BlocksPerClient} /26`,
    clientCount: (s) => s.s2Clients,
    run: calicoScenario,
  },
  {
    id: 'S3',
    label: (s) => `S3 ${shortCount(s.s3Prefixes)}→${s.s3Receivers}`,
    clientCount: (s) => 1 + s.s3Receivers,
    run: (r, s, cap) =>
      injectorScenario(
        r,
        { prefixes: s.s3Prefixes, sets: s.s1AttributeSets, receivers: s.s3Receivers, memoryPerPath: true },
        cap,
      ),
  },
];
