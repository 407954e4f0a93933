// The Brindle daemon's RSS by part (memory-census.ts's split of /proc/PID/smaps) through one reflector
// scenario, started as `npm run bench -- reflector` starts it (bin/brindle, resources applied with
// brindlectl, pinned to core 0): sampled from this process every 50 ms, reported at the sample with
// the highest RSS, when `bytes per stored path` is read (converged, 1 s after every receiver holds
// everything) and at the end, beside the scenario's own rows. `npm run build` first.
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
  // The scenario reads `bytes per stored path` SETTLE_MS after it calls settle().
  const observed = {
    ...running,
    settle: () => {
      setTimeout(() => (converged = rssParts(running.pid)), SETTLE_MS);
      return Promise.resolve();
    },
  };
  try {
    const rows = await scenario.run(observed, scale, brindle.phaseCapSec * 1000, SETTLE_MS);
    clearInterval(sampler);
    const end = rssParts(running.pid);
    console.log(`${scenario.label(scale)}, bin/brindle:`);
    for (const m of rows)
      console.log(`  ${m.metric}: ${Number.isFinite(m.value) ? m.value.toFixed(2) : '-'} ${m.unit}`);
    console.log(
      '\n| part of RSS | started, no session | peak sample | converged | after withdraw all |\n|---|---|---|---|---|',
    );
    const mib = (n: number | undefined) => (n === undefined ? '-' : `${(n / MIB).toFixed(1)} MiB`);
    for (const [part, of] of PARTS)
      console.log(
        `| ${part} | ${mib(of(first))} | ${mib(of(peak))} | ${mib(converged && of(converged))} | ${mib(of(end))} |`,
      );
  } finally {
    clearInterval(sampler);
    await running.stop();
    if (affinity !== undefined) pinSelf(affinity);
  }
}

await main();
