// Reads a V8 CPU profile (`node --cpu-prof`) and prints where the samples fell: by function (self
// time) and by category ((idle), (garbage collector), (program), JavaScript), optionally only within a
// window of the monotonic clock — the reflector benchmark's probe files (BENCH_PROBE_DIR) give each
// phase's start (`startedMonotonicUs`) and wall time, so one phase of a whole-run profile can be read:
//
//   npx tsx bench/cpu-profile.ts PROFILE.cpuprofile [PROBE.json] [--top N]
//
// Samples are timestamped with V8's TimeTicks, CLOCK_MONOTONIC in µs on Linux, the clock of
// process.hrtime: the same axis as the probe's.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

interface Window {
  readonly fromUs: number;
  readonly toUs: number;
}

/** Sampled µs per node id within the window (each sample counts the interval up to the next one). */
export function selfTimes(profile: Profile, window?: Window): Map<number, number> {
  const byNode = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    const interval = profile.timeDeltas[i + 1] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    byNode.set(profile.samples[i], (byNode.get(profile.samples[i]) ?? 0) + interval);
  }
  return byNode;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  if (url === '') return functionName === '' ? '(anonymous)' : functionName;
  const file = url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^node:/, 'node:');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

export function summarise(profile: Profile, window: Window | undefined, top: number): string {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byLabel = new Map<string, number>();
  const byCategory = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfTimes(profile, window)) {
    const node = nodes.get(id);
    if (!node) continue;
    total += us;
    const name = label(node);
    byLabel.set(name, (byLabel.get(name) ?? 0) + us);
    const category = name.startsWith('(')
      ? name
      : node.callFrame.url.startsWith('node:')
        ? 'node internals'
        : 'JavaScript';
    byCategory.set(category, (byCategory.get(category) ?? 0) + us);
  }
  const share = (us: number) =>
    `${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(1).padStart(8)} ms`;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return [
    `${(total / 1000).toFixed(1)} ms sampled${window ? ` in ${((window.toUs - window.fromUs) / 1000).toFixed(1)} ms of wall time` : ''}`,
    '',
    'by category:',
    ...sorted(byCategory).map(([name, us]) => `  ${share(us)}  ${name}`),
    '',
    `top ${top} by self time:`,
    ...sorted(byLabel)
      .slice(0, top)
      .map(([name, us]) => `  ${share(us)}  ${name}`),
  ].join('\n');
}

function main(argv: readonly string[]): void {
  const files = argv.filter((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 25;
  if (files.length === 0) throw new Error('usage: cpu-profile.ts PROFILE.cpuprofile [PROBE.json] [--top N]');
  const profile = JSON.parse(readFileSync(files[0], 'utf8')) as Profile;
  let window: Window | undefined;
  if (files[1]) {
    const probe = JSON.parse(readFileSync(files[1], 'utf8')) as {
      startedMonotonicUs: number;
      wallMs: number;
    };
    window = { fromUs: probe.startedMonotonicUs, toUs: probe.startedMonotonicUs + probe.wallMs * 1000 };
  }
  console.log(summarise(profile, window, top));
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
