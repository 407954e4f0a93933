// The kernel FIB benchmark (`npm run bench -- fib`): 100,000 IPv4 /32 routes via a veth gateway,
// installed and then removed, by Brindle's FIB engine, by `ip -force -batch -` and by BIRD 2's kernel
// protocol, side by side in one run. Everything happens in a fresh network namespace (deleted at the
// end, whatever happens); bench/fib-runner.ts does the work inside it, pinned to core 1, with each
// subject pinned to core 0. Target from the issue: Brindle ≥ BIRD, inserting and deleting.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Cleanup, createNetns, createVeth, inNetns } from '../test/helpers/netns.ts';
import type { BenchRow } from './table.ts';

const RUN_CAP_MS = 10 * 60_000;
const CASES = ['brindle', 'ip -batch', 'bird2'] as const;

interface PhaseLine {
  readonly case: string;
  readonly round: number;
  readonly phase?: 'insert' | 'delete';
  readonly seconds?: number;
  readonly cpuSeconds?: number;
  readonly verified?: number;
  readonly method?: string;
  readonly ownMs?: number;
  readonly error?: string;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function status(note: string): BenchRow[] {
  return [{ suite: 'fib', case: 'status', metric: 'status', value: NaN, unit: '', note }];
}

async function runInNamespace(netns: string, cleanup: Cleanup): Promise<PhaseLine[]> {
  const runner = fileURLToPath(new URL('./fib-runner.ts', import.meta.url));
  const [file, argv] = inNetns(netns, 'taskset', ['-c', '1', process.execPath, '--import=tsx', runner]);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
  cleanup.add(async () => {
    child.kill('SIGKILL');
    await closed;
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
  const lines: PhaseLine[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const parsed = JSON.parse(line) as PhaseLine & { finished?: boolean };
    if (parsed.finished) return;
    lines.push(parsed);
    const what = parsed.error ? `error: ${parsed.error}` : `${parsed.phase} ${parsed.seconds?.toFixed(3)} s`;
    process.stderr.write(`  fib round ${parsed.round} ${parsed.case}: ${what}\n`);
  });
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<'cap'>((resolve) => (timer = setTimeout(() => resolve('cap'), RUN_CAP_MS)));
  const code = await Promise.race([closed, cap]).finally(() => clearTimeout(timer));
  if (code === 'cap') throw new Error(`did not finish within ${RUN_CAP_MS / 60_000} min`);
  if (code !== 0) throw new Error(`runner exited with ${code}: ${stderr.trim()}`);
  return lines;
}

function rows(lines: readonly PhaseLine[], routes: number): BenchRow[] {
  const runsOf = (name: string, phase: 'insert' | 'delete') =>
    lines.filter((l) => l.case === name && l.phase === phase && l.seconds !== undefined);
  const wall = (name: string, phase: 'insert' | 'delete') =>
    median(runsOf(name, phase).map((l) => routes / (l.seconds as number)));
  const cpu = (name: string, phase: 'insert' | 'delete') =>
    median(runsOf(name, phase).flatMap((l) => (l.cpuSeconds ? [routes / l.cpuSeconds] : [])));
  const out: BenchRow[] = [];
  for (const name of CASES) {
    const errors = lines.filter((l) => l.case === name && l.error !== undefined);
    for (const phase of ['insert', 'delete'] as const) {
      const runs = runsOf(name, phase);
      const wrong = runs.filter((l) => l.verified !== (phase === 'insert' ? routes : 0));
      const polled = runs.filter((l) => l.method !== 'notifications').length;
      const own = runs.map((l) => l.ownMs).filter((ms): ms is number => ms !== undefined);
      const notes = [
        `median of ${runs.length}`,
        own.length > 0 ? `engine's own time ${(median(own) / 1000).toFixed(3)} s` : '',
        polled > 0 ? `${polled} timed by dump polling (notifications dropped)` : '',
        wrong.length > 0 ? `kernel count wrong in ${wrong.length} run(s)` : '',
        errors.length > 0 ? `${errors.length} failed: ${errors[0].error}` : '',
      ].filter(Boolean);
      const compare = (value: number, bird: number) =>
        name === 'brindle' && Number.isFinite(bird) && Number.isFinite(value) ? value >= bird : undefined;
      const target = name === 'brindle' ? '≥ BIRD' : undefined;
      const rate = wall(name, phase);
      const perCpu = cpu(name, phase);
      out.push({
        suite: 'fib',
        case: name,
        metric: phase,
        value: rate,
        unit: 'routes/s',
        target,
        met: compare(rate, wall('bird2', phase)),
        note: notes.join('; '),
      });
      out.push({
        suite: 'fib',
        case: name,
        metric: `${phase} per CPU`,
        value: perCpu,
        unit: 'routes/CPU-s',
        target,
        met: compare(perCpu, cpu('bird2', phase)),
        note: "the subject's user + system time, kernel route work included",
      });
    }
  }
  return out;
}

export async function runFibBench(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) return status('needs root (network namespaces, CAP_NET_ADMIN)');
  const routes = Number(process.env.BENCH_FIB_ROUTES ?? 100_000);
  const cleanup = new Cleanup();
  try {
    const netns = await createNetns('fibbench', cleanup);
    await createVeth({ netns, ifname: 'v0', addresses: ['10.0.0.1/24'] }, { netns, ifname: 'v0p' }, cleanup);
    const load = os.loadavg()[0];
    const lines = await runInNamespace(netns, cleanup);
    const machine: BenchRow = {
      suite: 'fib',
      case: 'machine',
      metric: 'load average (1 min) at start',
      value: load,
      unit: '',
      note: 'two cores: routes/s compare only on a quiet machine; routes per CPU-second hold under load',
    };
    return [machine, ...rows(lines, routes)];
  } catch (error) {
    return status(`failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await cleanup.run().catch(() => undefined);
  }
}
