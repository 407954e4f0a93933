// The text exposition format byte for byte (HELP and label escaping, empty families, counters that add
// up, gauges whose last value wins, histogram buckets with `+Inf`, `_sum` and `_count`), checked again by
// Prometheus' own parser (`promtool check metrics`), and the process_* / nodejs_* series under the
// names, types and labels Brindle has always exported.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { scrapedCounter, scrapedGauge } from '../../src/metrics/collect.ts';
import { CONTENT_TYPE, Histogram, Registry } from '../../src/metrics/exposition.ts';
import { BrindleMetrics } from '../../src/metrics/registry.ts';
import type { BrindleSource } from '../../src/metrics/source.ts';
import { of } from 'rxjs';

const PROMTOOL = '/usr/bin/promtool';

function sampleRegistry(): { registry: Registry; gc: Histogram } {
  const registry = new Registry();
  scrapedGauge(
    registry,
    { name: 'demo_peer_info', help: 'Peers \\ with "quotes"\nand a new line.', labelNames: ['peer', 'note'] },
    (emit) => {
      emit({ peer: 'a', note: 'back\\slash "quoted"\nnext' }, 1);
      emit({ peer: 'b' }, 2);
      emit({ peer: 'a', note: 'back\\slash "quoted"\nnext' }, 3); // the last value wins
    },
  );
  scrapedGauge(registry, { name: 'demo_empty', help: 'No series.', labelNames: ['peer'] }, () => undefined);
  scrapedGauge(registry, { name: 'demo_unset', help: 'No labels, nothing emitted.' }, () => undefined);
  scrapedCounter(
    registry,
    { name: 'demo_messages_total', help: 'Messages.', labelNames: ['type'] },
    async (emit) => {
      await new Promise((r) => setTimeout(r, 1));
      emit({ type: 'update' }, 2);
      emit({ type: 'update' }, 3); // counters add up
      emit({ type: 'keepalive' }, 1.5);
    },
  );
  scrapedGauge(registry, { name: 'demo_odd_values', help: 'Odd values.', labelNames: ['v'] }, (emit) => {
    emit({ v: 'inf' }, Infinity);
    emit({ v: '-inf' }, -Infinity);
    emit({ v: 'nan' }, NaN);
    emit({ v: 'big' }, 1e21);
  });
  const gc = new Histogram({
    name: 'demo_duration_seconds',
    help: 'Durations.',
    labelNames: ['kind'],
    buckets: [0.001, 0.1, 1],
  });
  registry.register(gc);
  return { registry, gc };
}

const EXPECTED = `# HELP demo_peer_info Peers \\\\ with "quotes"\\nand a new line.
# TYPE demo_peer_info gauge
demo_peer_info{peer="a",note="back\\\\slash \\"quoted\\"\\nnext"} 3
demo_peer_info{peer="b"} 2

# HELP demo_empty No series.
# TYPE demo_empty gauge

# HELP demo_unset No labels, nothing emitted.
# TYPE demo_unset gauge
demo_unset 0

# HELP demo_messages_total Messages.
# TYPE demo_messages_total counter
demo_messages_total{type="update"} 5
demo_messages_total{type="keepalive"} 1.5

# HELP demo_odd_values Odd values.
# TYPE demo_odd_values gauge
demo_odd_values{v="inf"} +Inf
demo_odd_values{v="-inf"} -Inf
demo_odd_values{v="nan"} NaN
demo_odd_values{v="big"} 1e+21

# HELP demo_duration_seconds Durations.
# TYPE demo_duration_seconds histogram
demo_duration_seconds_bucket{le="0.001",kind="minor"} 1
demo_duration_seconds_bucket{le="0.1",kind="minor"} 2
demo_duration_seconds_bucket{le="1",kind="minor"} 2
demo_duration_seconds_bucket{le="+Inf",kind="minor"} 3
demo_duration_seconds_sum{kind="minor"} 3.0505
demo_duration_seconds_count{kind="minor"} 3
demo_duration_seconds_bucket{le="0.001",kind="major"} 0
demo_duration_seconds_bucket{le="0.1",kind="major"} 0
demo_duration_seconds_bucket{le="1",kind="major"} 1
demo_duration_seconds_bucket{le="+Inf",kind="major"} 1
demo_duration_seconds_sum{kind="major"} 1
demo_duration_seconds_count{kind="major"} 1
`;

test('the text format, byte for byte', async (t) => {
  const { registry, gc } = sampleRegistry();
  gc.observe({ kind: 'minor' }, 0.0005);
  gc.observe({ kind: 'minor' }, 0.05);
  gc.observe({ kind: 'major' }, 1);
  gc.observe({ kind: 'minor' }, 3);
  t.is(registry.contentType, CONTENT_TYPE);
  t.is(await registry.metrics(), EXPECTED);
});

test('programming errors are refused: an undeclared label, a decreasing counter, a name twice', async (t) => {
  const registry = new Registry();
  scrapedGauge(registry, { name: 'demo_a', help: 'A.', labelNames: ['peer'] }, (emit) =>
    emit({ pear: 'x' }, 1),
  );
  await t.throwsAsync(() => registry.metrics(), { message: /label "pear"/ });
  const counters = new Registry();
  scrapedCounter(counters, { name: 'demo_b_total', help: 'B.' }, (emit) => emit({}, -1));
  await t.throwsAsync(() => counters.metrics(), { message: /cannot decrease/ });
  t.throws(() => scrapedGauge(counters, { name: 'demo_b_total', help: 'B again.' }, () => undefined), {
    message: /already been registered/,
  });
  t.throws(() => scrapedCounter(counters, { name: 'demo_c', help: 'C.' }, () => undefined), {
    message: /must end in _total/,
  });
});

function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL, ['check', 'metrics'], { timeout: 10_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
    child.stdin?.end(text);
  });
}

const bareSource: BrindleSource = { bgp: undefined, router$: of(undefined) };

/** process_* and nodejs_* families with their types, in the order Brindle has always exposed them. */
const PROCESS_FAMILIES = [
  'process_cpu_user_seconds_total counter',
  'process_cpu_system_seconds_total counter',
  'process_cpu_seconds_total counter',
  'process_start_time_seconds gauge',
  'process_resident_memory_bytes gauge',
  'process_virtual_memory_bytes gauge',
  'process_heap_bytes gauge',
  'process_open_fds gauge',
  'process_max_fds gauge',
  'nodejs_eventloop_lag_seconds gauge',
  'nodejs_eventloop_lag_min_seconds gauge',
  'nodejs_eventloop_lag_max_seconds gauge',
  'nodejs_eventloop_lag_mean_seconds gauge',
  'nodejs_eventloop_lag_stddev_seconds gauge',
  'nodejs_eventloop_lag_p50_seconds gauge',
  'nodejs_eventloop_lag_p90_seconds gauge',
  'nodejs_eventloop_lag_p99_seconds gauge',
  'nodejs_active_resources gauge',
  'nodejs_active_resources_total gauge',
  'nodejs_active_handles gauge',
  'nodejs_active_handles_total gauge',
  'nodejs_active_requests gauge',
  'nodejs_active_requests_total gauge',
  'nodejs_heap_size_total_bytes gauge',
  'nodejs_heap_size_used_bytes gauge',
  'nodejs_external_memory_bytes gauge',
  'nodejs_heap_space_size_total_bytes gauge',
  'nodejs_heap_space_size_used_bytes gauge',
  'nodejs_heap_space_size_available_bytes gauge',
  'nodejs_version_info gauge',
  'nodejs_gc_duration_seconds histogram',
];

test('process and Node.js series: the same families, values that make sense, a GC histogram', async (t) => {
  const metrics = new BrindleMetrics(bareSource);
  t.teardown(() => metrics.close());
  // Garbage enough for a few scavenges; the GC observer reports them asynchronously.
  for (let round = 0; round < 20; round++) Array.from({ length: 100_000 }, (_, i) => ({ i }));
  await new Promise((r) => setTimeout(r, 100));
  const text = (await metrics.exposition()).body;
  const families = [...text.matchAll(/^# TYPE ((?:process|nodejs)_\S+) (\S+)$/gm)].map(
    (m) => `${m[1]} ${m[2]}`,
  );
  t.deepEqual(families, PROCESS_FAMILIES);
  const value = (series: string) => Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(text)?.[1]);
  t.true(value('process_resident_memory_bytes') > 10e6);
  t.true(value('process_open_fds') > 0);
  t.true(value('nodejs_heap_size_used_bytes') > 1e6);
  t.regex(text, /^nodejs_version_info\{version="v\d+\.\d+\.\d+",major="\d+",minor="\d+",patch="\d+"\} 1$/m);
  t.regex(text, /^nodejs_heap_space_size_used_bytes\{space="old"\} \d+$/m);
  t.regex(text, /^nodejs_gc_duration_seconds_bucket\{le="0\.001",kind="minor"\} \d+$/m);
  t.regex(text, /^nodejs_gc_duration_seconds_bucket\{le="\+Inf",kind="minor"\} \d+$/m);
  t.regex(text, /^nodejs_gc_duration_seconds_count\{kind="minor"\} [1-9]\d*$/m);
});

test('Prometheus parses the exposition (promtool check metrics)', async (t) => {
  if (!existsSync(PROMTOOL)) return t.pass('promtool is not installed (npm run setup:test installs it)');
  const { registry, gc } = sampleRegistry();
  gc.observe({ kind: 'minor' }, 0.01);
  const sample = await promtool(await registry.metrics());
  t.not(sample.code, 1, sample.output);
  t.notRegex(sample.output, /pars/i);

  const metrics = new BrindleMetrics(bareSource, {
    build: { version: '0.0.0', mode: 'reflector', nodeName: 'n1', datastore: 'embedded' },
  });
  t.teardown(() => metrics.close());
  const full = await promtool((await metrics.exposition()).body);
  t.not(full.code, 1, full.output);
  // The only complaints are about names Brindle inherited and keeps for existing dashboards.
  const complaints = full.output.split('\n').filter((line) => line.trim() !== '');
  t.deepEqual(
    complaints.filter(
      (line) => !/^nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/.test(line),
    ),
    [],
  );
});
