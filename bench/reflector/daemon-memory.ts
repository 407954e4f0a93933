// The Brindle daemon's RSS by part (memory-census.ts's split of /proc/PID/smaps) through one reflector
// scenario, started as `npm run bench -- reflector` starts it (bin/brindle, resources applied with
// brindlectl, pinned to core 0): sampled from this process every 50 ms, reported at the sample with
// the highest RSS, converged (1 s after every receiver holds everything, when the benchmark reads
// `bytes per stored path`), after 30 s more of idling (this tool's `bytes per stored path` row is
// read then) and at the end, beside the scenario's own rows. `npm run build` first.
//
//   npx tsx bench/reflector/daemon-memory.ts [S3]      (BENCH_SCALE=small for the small sizes)
import { brindle } from './brindle.ts';
import { setupFor } from './index.ts';
import { rssParts } from './memory-census.ts';
import type { RssParts } from './memory-census.ts';
import { scaleFromEnv } from './plan.ts';
import { currentAffinity, GENERATOR_CORE, pinSelf } from './reflector.ts';
import { scenarios, SETTLE_MS } from './scenarios.ts';

const SAMPLE_MS = 50;
const IDLE_MS = 30_000;
const MIB = 1024 * 1024;

const PARTS: readonly [string, (p: RssParts) => number][] = [
  ['anonymous (V8 heap, thread arenas, mmapped buffers)', (p) => p.anonymous],
  ['glibc main arena ([heap])', (p) => p.glibcHeap],
  ['code and libraries (file-backed)', (p) => p.file],
  ['stacks', (p) => p.stack],
  ['= RSS', (p) => p.total],
];

async function main(): Promise<void> {
  const id = process.argv[2] ?? 'S3';
  const scenario = scenarios.find((s) => s.id === id);
  if (!scenario) throw new Error(`no scenario ${id}`);
  const unavailable = await brindle.unavailable();
  if (unavailable) throw new Error(unavailable);
  const scale = scaleFromEnv();
  const affinity = currentAffinity();
  pinSelf(String(GENERATOR_CORE));
  const running = await brindle.start(setupFor(scenario.clientCount(scale)));
  const first = rssParts(running.pid);
  let peak = first;
  let converged: RssParts | undefined;
  const sampler = setInterval(() => {
    const parts = rssParts(running.pid);
    if (parts.total > peak.total) peak = parts;
  }, SAMPLE_MS);
  // Converged: SETTLE_MS after the scenario calls settle(), as the benchmark reads it; then the
  // daemon idles IDLE_MS more (the scenario's `bytes per stored path` row is read after that).
  let idle: RssParts | undefined;
  const observed = {
    ...running,
    settle: async () => {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      converged = rssParts(running.pid);
      await new Promise((r) => setTimeout(r, IDLE_MS));
      idle = rssParts(running.pid);
    },
  };
  try {
    const rows = await scenario.run(observed, scale, brindle.phaseCapSec * 1000, SETTLE_MS);
    clearInterval(sampler);
    const end = rssParts(running.pid);
    console.log(`${scenario.label(scale)}, bin/brindle:`);
    for (const m of rows)
      console.log(`  ${m.metric}: ${Number.isFinite(m.value) ? m.value.toFixed(2) : '-'} ${m.unit}`);
    const head = `| part of RSS | started, no session | peak sample | converged | idle ${IDLE_MS / 1000} s more | after withdraw all |`;
    console.log(`\n${head}\n|---|---|---|---|---|---|`);
    const mib = (n: number | undefined) => (n === undefined ? '-' : `${(n / MIB).toFixed(1)} MiB`);
    for (const [part, of] of PARTS) {
      const cells = [first, peak, converged, idle, end].map((p) => mib(p && of(p)));
      console.log(`| ${part} | ${cells.join(' | ')} |`);
    }
  } finally {
    clearInterval(sampler);
    await running.stop();
    if (affinity !== undefined) pinSelf(affinity);
  }
}

await main();
