// `npm run bench`: runs every benchmark suite (or those named on the command line) and prints one
// table. Speed and memory targets live here, never in timed unit tests.
import os from 'node:os';
import { printSideBySide, printTable } from './table.ts';
import type { BenchRow } from './table.ts';

const suites: Record<string, () => Promise<BenchRow[]>> = {
  codec: async () => (await import('./codec.ts')).runCodecBench(),
  sessions: async () => (await import('./sessions.ts')).runSessionBench(),
  reflector: async () => (await import('./reflector/index.ts')).runReflectorBench(),
  fib: async () => (await import('./fib.ts')).runFibBench(),
  ipam: async () => (await import('./ipam.ts')).runIpamBench(),
  rib: async () => (await import('./rib-withdraw.ts')).runRibWithdrawBench(),
  policy: async () => (await import('./policy-change.ts')).runPolicyChangeBench(),
  startup: async () => (await import('./startup.ts')).runStartupBench(),
  cni: async () => (await import('./cni.ts')).runCniBench(),
  soak: async () => (await import('./soak.ts')).runSoakBench(),
  flood: async () => (await import('./flood.ts')).runFloodBench(),
  bfd: async () => (await import('./bfd.ts')).runBfdBench(),
};

const wanted = process.argv.slice(2);
const rows: BenchRow[] = [];
for (const [name, run] of Object.entries(suites)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stderr.write(`running ${name}…\n`);
  rows.push(...(await run()));
}
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`Brindle benchmarks — node ${process.version}, ${os.cpus().length} × ${cpu}\n`);
console.log(printTable(rows));
// The reflectors side by side, as the table: wall time, CPU time and memory per scenario.
const reflectorRows = rows.filter((r) => r.suite === 'reflector');
const summary = (metric: string) =>
  !metric.includes(': ') || metric.endsWith(': reflector CPU') || metric.endsWith('waited for its core');
if (reflectorRows.length > 1) console.log(`\n${printSideBySide(reflectorRows, summary)}`);
