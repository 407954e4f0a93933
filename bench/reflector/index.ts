// The route-reflector benchmark (`npm run bench -- reflector`): the same scenarios against BIRD 2,
// GoBGP, FRR, OpenBGPD and the Brindle daemon, side by side in one table. Each reflector runs pinned to
// core 0; this process is the load generator, pinned to core 1 for the duration. Within a scenario the
// reflectors take turns (BENCH_ROUNDS rounds, each reflector once per round, medians reported), so a
// change in the machine's load falls on all of them. Brindle's targets (from the issue) compare its
// figures with its own CPU time and with BIRD's in the same run.
import os from 'node:os';
import { bird2 } from './bird.ts';
import { brindle } from './brindle.ts';
import { brindleRouter } from './brindle-router.ts';
import { frr } from './frr.ts';
import { gobgp } from './gobgp.ts';
import { openbgpd } from './openbgpd.ts';
import { clientAddress, LOCAL_AS, REFLECTOR_ADDRESS, REFLECTOR_PORT, scaleFromEnv } from './plan.ts';
import type { Scale } from './plan.ts';
import { currentAffinity, GENERATOR_CORE, pinSelf } from './reflector.ts';
import type { ReflectorSetup, ReflectorUnderTest } from './reflector.ts';
import { scenarios, SETTLE_MS } from './scenarios.ts';
import type { Measurement, Scenario } from './scenarios.ts';
import type { BenchRow } from '../table.ts';

/** Run by default; the Router-class contrast only when named in BENCH_REFLECTORS. */
const DEFAULT_REFLECTORS: readonly ReflectorUnderTest[] = [bird2, gobgp, frr, openbgpd, brindle];
const ALL_REFLECTORS: readonly ReflectorUnderTest[] = [...DEFAULT_REFLECTORS, brindleRouter];
const SINGLE_WITHDRAWAL_TARGET_MS = 100;
const BYTES_PER_PATH_TARGET = 120;
const IDLE_RSS_TARGET_MIB = 50;

function selectedReflectors(env: NodeJS.ProcessEnv = process.env): readonly ReflectorUnderTest[] {
  const wanted = env.BENCH_REFLECTORS?.split(',').map((s) => s.trim());
  if (!wanted) return DEFAULT_REFLECTORS;
  const unknown = wanted.filter((w) => !ALL_REFLECTORS.some((r) => r.name === w));
  if (unknown.length > 0) throw new Error(`BENCH_REFLECTORS: unknown ${unknown.join(', ')}`);
  return ALL_REFLECTORS.filter((r) => wanted.includes(r.name));
}

function selectedScenarios(env: NodeJS.ProcessEnv = process.env): readonly Scenario[] {
  const wanted = env.BENCH_SCENARIOS?.split(',').map((s) => s.trim());
  if (!wanted) return scenarios;
  const unknown = wanted.filter((w) => !scenarios.some((s) => s.id === w));
  if (unknown.length > 0) throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')}`);
  return scenarios.filter((s) => wanted.includes(s.id));
}

function rounds(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BENCH_ROUNDS ?? 1);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`BENCH_ROUNDS=${env.BENCH_ROUNDS}: 1 to 9`);
  return n;
}

export function setupFor(clients: number): ReflectorSetup {
  return {
    address: REFLECTOR_ADDRESS,
    port: REFLECTOR_PORT,
    localAs: LOCAL_AS,
    routerId: REFLECTOR_ADDRESS,
    clusterId: REFLECTOR_ADDRESS,
    clients: Array.from({ length: clients }, (_, i) => clientAddress(i)),
  };
}

function status(note: string): Measurement[] {
  return [{ metric: 'status', value: NaN, unit: '', note }];
}

/** Runs one scenario against one reflector; whatever goes wrong becomes a status row, not a crash. */
async function measure(
  scenario: Scenario,
  reflector: ReflectorUnderTest,
  scale: Scale,
): Promise<Measurement[]> {
  const unavailable = await reflector.unavailable();
  if (unavailable !== undefined) return status(unavailable);
  const skipped = reflector.skip?.(scenario.id);
  if (skipped !== undefined) return status(`skipped by design: ${skipped}`);
  let running;
  try {
    running = await reflector.start(setupFor(scenario.clientCount(scale)));
  } catch (error) {
    return status(`failed to start: ${message(error)}`);
  }
  try {
    const settleMs = Math.max(SETTLE_MS, reflector.settleAfterEstablishMs ?? 0);
    return await scenario.run(running, scale, reflector.phaseCapSec * 1000, settleMs);
  } catch (error) {
    const died = running.running() ? '' : ` (reflector exited: ${running.output().trim().slice(-300)})`;
    return status(`failed: ${message(error)}${died}`);
  } finally {
    await running.stop().catch((e: unknown) => process.stderr.write(`    stopping: ${message(e)}\n`));
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A figure of another reflector's in the same scenario, when it was measured. */
function figure(of: readonly Measurement[], metric: string): number | undefined {
  const value = of.find((m) => m.metric === metric)?.value;
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

type Target = Pick<BenchRow, 'target' | 'met'>;

function atMost(value: number, bound: number | undefined, text: string): Target {
  if (bound === undefined) return { target: `≤ ${text} (not measured)` };
  return { target: `≤ ${text} (${bound.toFixed(2)})`, met: Number.isFinite(value) && value <= bound };
}

/**
 * The targets, which apply to Brindle: convergence ≤ 1.2 × its own CPU time and ≤ 0.7 × BIRD's
 * convergence; withdraw-all ≤ BIRD's (S1, S3); peak RSS ≤ 2 × BIRD's (S3); ≤ 120 B per stored path;
 * idle RSS ≤ 50 MiB; one client's withdrawal ≤ 100 ms.
 */
function withTarget(
  scenario: Scenario,
  m: Measurement,
  own: readonly Measurement[],
  bird: readonly Measurement[],
): Target | undefined {
  const birds = (metric: string) => figure(bird, metric);
  switch (m.metric) {
    case 'convergence': {
      const cpu = figure(own, 'convergence: reflector CPU');
      const vsCpu = atMost(m.value, cpu === undefined ? undefined : 1.2 * cpu, '1.2 × own CPU');
      const b = birds('convergence');
      const vsBird = atMost(m.value, b === undefined ? undefined : 0.7 * b, '0.7 × bird2');
      return {
        target: `${vsCpu.target}; ${vsBird.target}`,
        met: vsCpu.met === undefined || vsBird.met === undefined ? undefined : vsCpu.met && vsBird.met,
      };
    }
    case 'withdraw all':
      return scenario.id === 'S1' || scenario.id === 'S3'
        ? atMost(m.value, birds('withdraw all'), 'bird2')
        : undefined;
    case 'peak RSS': {
      const b = birds('peak RSS');
      return scenario.id === 'S3'
        ? atMost(m.value, b === undefined ? undefined : 2 * b, '2 × bird2')
        : undefined;
    }
    case 'bytes per stored path':
      return atMost(m.value, BYTES_PER_PATH_TARGET, String(BYTES_PER_PATH_TARGET));
    case 'idle RSS (sessions up, no route)':
      return atMost(m.value, IDLE_RSS_TARGET_MIB, String(IDLE_RSS_TARGET_MIB));
    default:
      return m.metric.startsWith('one client withdrawn') && !m.metric.includes(':')
        ? atMost(m.value, SINGLE_WITHDRAWAL_TARGET_MS, String(SINGLE_WITHDRAWAL_TARGET_MS))
        : undefined;
  }
}

/** Per metric, the median over the rounds (NaN-valued rows count as missing); the notes of the first. */
export function medians(runs: readonly (readonly Measurement[])[]): Measurement[] {
  const first = runs[0] ?? [];
  return first.map((m) => {
    const values = runs
      .map((r) => r.find((x) => x.metric === m.metric)?.value)
      .filter((v): v is number => v !== undefined && Number.isFinite(v))
      .sort((a, b) => a - b);
    const value = values.length === 0 ? NaN : values[Math.floor((values.length - 1) / 2)];
    const note = runs.length > 1 && values.length > 0 ? [m.note, `median of ${values.length}`] : [m.note];
    const joined = note.filter((n) => n !== undefined).join('; ');
    return { ...m, value, note: joined === '' ? undefined : joined };
  });
}

/** Other work on this two-core machine skews every number: say how busy it was. */
function machineLoad(): BenchRow {
  const load = os.loadavg()[0];
  if (load > 0.5)
    process.stderr.write(`  load average ${load.toFixed(2)}: other processes compete for the cores\n`);
  return {
    suite: 'reflector',
    case: 'machine',
    metric: 'load average (1 min) at start',
    value: load,
    unit: '',
  };
}

export async function runReflectorBench(): Promise<BenchRow[]> {
  const scale = scaleFromEnv();
  const reflectors = selectedReflectors();
  const affinity = currentAffinity();
  pinSelf(String(GENERATOR_CORE));
  const rows: BenchRow[] = [machineLoad()];
  try {
    for (const scenario of selectedScenarios()) {
      const runs = new Map<string, Measurement[][]>(reflectors.map((r) => [r.name, []]));
      for (let round = 0; round < rounds(); round++) {
        for (const reflector of reflectors) {
          process.stderr.write(`  ${scenario.label(scale)} (${reflector.name}), round ${round + 1}…\n`);
          const started = performance.now();
          runs.get(reflector.name)!.push(await measure(scenario, reflector, scale));
          process.stderr.write(`    ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
        }
      }
      const byReflector = new Map([...runs].map(([name, r]) => [name, medians(r)]));
      const bird = byReflector.get(bird2.name) ?? [];
      for (const [name, measurements] of byReflector) {
        for (const m of measurements) {
          rows.push({
            suite: 'reflector',
            case: `${scenario.label(scale)} (${name})`,
            metric: m.metric,
            value: m.value,
            unit: m.unit,
            note: m.note,
            ...(name === brindle.name ? withTarget(scenario, m, measurements, bird) : {}),
          });
        }
      }
    }
  } finally {
    if (affinity !== undefined) pinSelf(affinity);
  }
  return rows;
}
