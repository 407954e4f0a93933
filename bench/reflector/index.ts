// The route-reflector benchmark (`npm run bench -- reflector`): the same scenarios against BIRD 2,
// GoBGP and Brindle, side by side in one table. Each reflector runs pinned to core 0; this process is
// the load generator, pinned to core 1 for the duration. Brindle's targets (from the issue) compare its
// convergence with BIRD's in the same run.
import os from 'node:os';
import { bird2 } from './bird.ts';
import { brindle } from './brindle.ts';
import { gobgp } from './gobgp.ts';
import { clientAddress, LOCAL_AS, REFLECTOR_ADDRESS, REFLECTOR_PORT, scaleFromEnv } from './plan.ts';
import type { Scale } from './plan.ts';
import { currentAffinity, GENERATOR_CORE, pinSelf } from './reflector.ts';
import type { ReflectorSetup, ReflectorUnderTest } from './reflector.ts';
import { scenarios } from './scenarios.ts';
import type { Measurement, Scenario } from './scenarios.ts';
import type { BenchRow } from '../table.ts';

const REFLECTORS: readonly ReflectorUnderTest[] = [bird2, gobgp, brindle];
const SINGLE_WITHDRAWAL_TARGET_MS = 100;
const BYTES_PER_PATH_TARGET = 250;

function selectedReflectors(env: NodeJS.ProcessEnv = process.env): readonly ReflectorUnderTest[] {
  const wanted = env.BENCH_REFLECTORS?.split(',').map((s) => s.trim());
  if (!wanted) return REFLECTORS;
  const unknown = wanted.filter((w) => !REFLECTORS.some((r) => r.name === w));
  if (unknown.length > 0) throw new Error(`BENCH_REFLECTORS: unknown ${unknown.join(', ')}`);
  return REFLECTORS.filter((r) => wanted.includes(r.name));
}

function selectedScenarios(env: NodeJS.ProcessEnv = process.env): readonly Scenario[] {
  const wanted = env.BENCH_SCENARIOS?.split(',').map((s) => s.trim());
  if (!wanted) return scenarios;
  const unknown = wanted.filter((w) => !scenarios.some((s) => s.id === w));
  if (unknown.length > 0) throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')}`);
  return scenarios.filter((s) => wanted.includes(s.id));
}

function setupFor(clients: number): ReflectorSetup {
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
    return await scenario.run(running, scale, reflector.phaseCapSec * 1000);
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

/** The targets, which apply to Brindle: convergence ≤ BIRD's, one withdrawal ≤ 100 ms, ≤ 250 B/path. */
function withTarget(scenario: Scenario, m: Measurement, bird: readonly Measurement[]): Partial<BenchRow> {
  const measured = Number.isFinite(m.value);
  if (m.metric === 'convergence' && scenario.id !== 'S3') {
    const reference = bird.find((b) => b.metric === 'convergence')?.value;
    if (reference === undefined || !Number.isFinite(reference)) return { target: '≤ bird2 (not measured)' };
    return { target: `≤ bird2 (${reference.toFixed(2)})`, met: measured && m.value <= reference };
  }
  if (m.metric.startsWith('one client withdrawn')) {
    return {
      target: `≤ ${SINGLE_WITHDRAWAL_TARGET_MS}`,
      met: measured && m.value <= SINGLE_WITHDRAWAL_TARGET_MS,
    };
  }
  if (m.metric === 'bytes per stored path') {
    return { target: `≤ ${BYTES_PER_PATH_TARGET}`, met: measured && m.value <= BYTES_PER_PATH_TARGET };
  }
  return {};
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
      const byReflector = new Map<string, Measurement[]>();
      for (const reflector of reflectors) {
        process.stderr.write(`  ${scenario.label(scale)} (${reflector.name})…\n`);
        const started = performance.now();
        byReflector.set(reflector.name, await measure(scenario, reflector, scale));
        process.stderr.write(`    ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
      }
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
            ...(name === brindle.name ? withTarget(scenario, m, bird) : {}),
          });
        }
      }
    }
  } finally {
    if (affinity !== undefined) pinSelf(affinity);
  }
  return rows;
}
