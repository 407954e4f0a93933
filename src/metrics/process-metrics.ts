// The process_* and nodejs_* series every Node.js exporter has (the names, help texts, labels and
// semantics of prom-client's default metrics, which Brindle exported before it had a registry of its
// own, so dashboards keep working): CPU time, memory from /proc/self/status, file descriptors, the
// event loop's delay, active handles, requests and resources, V8's heap by space, the Node.js version,
// and a histogram of garbage collection pauses. Read on scrape; only the event-loop delay monitor and
// the GC observer run in between, and stop() releases them.

import { readdirSync, readFileSync } from 'node:fs';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { scrapedCounter, scrapedGauge } from './collect.ts';
import type { Emit, Labels, Registry } from './collect.ts';
import { Histogram } from './exposition.ts';

const START_TIME_SECONDS = Math.round(Date.now() / 1000 - process.uptime());
/** How often the event-loop delay is sampled, in ms (prom-client's default). */
const EVENT_LOOP_RESOLUTION_MS = 10;
const GC_BUCKETS_SECONDS = [0.001, 0.01, 0.1, 1, 2, 5];

/** Registers the series; returns what stops the monitors they need. */
export function registerProcessMetrics(registry: Registry): () => void {
  registerCpu(registry);
  scrapedGauge(
    registry,
    { name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.' },
    (emit) => emit({}, START_TIME_SECONDS),
  );
  registerMemory(registry);
  registerFileDescriptors(registry);
  const stopLag = registerEventLoopLag(registry);
  registerActive(registry);
  registerHeap(registry);
  const [major, minor, patch] = process.version.slice(1).split('.');
  scrapedGauge(
    registry,
    {
      name: 'nodejs_version_info',
      help: 'Node.js version info.',
      labelNames: ['version', 'major', 'minor', 'patch'],
    },
    (emit) => emit({ version: process.version, major, minor, patch }, 1),
  );
  const stopGc = registerGc(registry);
  return () => {
    stopLag();
    stopGc();
  };
}

/** CPU time since the series were registered (as prom-client counted it). */
function registerCpu(registry: Registry): void {
  const start = process.cpuUsage();
  let used = { user: 0, system: 0 };
  const seconds = (micros: number) => micros / 1e6;
  const counter = (name: string, help: string, read: (emit: Emit) => void) =>
    scrapedCounter(registry, { name, help }, read);
  counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (emit) => {
    used = process.cpuUsage(start);
    emit({}, seconds(used.user));
  });
  counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', (emit) =>
    emit({}, seconds(used.system)),
  );
  counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (emit) =>
    emit({}, seconds(used.user + used.system)),
  );
}

/** VmRSS, VmSize and VmData of /proc/self/status, in bytes; empty where it cannot be read. */
function procStatus(): Map<string, number> {
  const values = new Map<string, number>();
  try {
    for (const line of readFileSync('/proc/self/status', 'utf8').split('\n')) {
      const match = /^(VmRSS|VmSize|VmData):\s+(\d+) kB/.exec(line);
      if (match) values.set(match[1], Number(match[2]) * 1024);
    }
  } catch {
    // not Linux, or no /proc: the series read 0
  }
  return values;
}

function registerMemory(registry: Registry): void {
  let status = new Map<string, number>();
  const gauge = (name: string, help: string, field: string, read = false) =>
    scrapedGauge(registry, { name, help }, (emit) => {
      if (read) status = procStatus();
      const value = status.get(field);
      if (value !== undefined) emit({}, value);
    });
  gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', 'VmRSS', true);
  gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', 'VmSize');
  gauge('process_heap_bytes', 'Process heap size in bytes.', 'VmData');
}

/** The soft limit on open files (`Max open files` of /proc/self/limits); undefined when unknown. */
function maxFileDescriptors(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    return line === undefined ? undefined : Number(line.split(/ {2,}/)[1]);
  } catch {
    return undefined;
  }
}

function registerFileDescriptors(registry: Registry): void {
  if (process.platform === 'linux')
    scrapedGauge(registry, { name: 'process_open_fds', help: 'Number of open file descriptors.' }, (emit) => {
      try {
        // less the descriptor readdirSync itself had open
        emit({}, readdirSync('/proc/self/fd').length - 1);
      } catch {
        // no /proc: the series reads 0
      }
    });
  const max = maxFileDescriptors();
  if (max !== undefined)
    scrapedGauge(
      registry,
      { name: 'process_max_fds', help: 'Maximum number of open file descriptors.' },
      (emit) => emit({}, max),
    );
}

/**
 * nodejs_eventloop_lag_seconds is how late a setImmediate scheduled at the previous scrape ran (0 at
 * the first); the others summarise the sampled delay since the previous scrape, then start afresh.
 */
function registerEventLoopLag(registry: Registry): () => void {
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  delay.enable();
  let lagSeconds = 0;
  let summary: Record<string, number> = {};
  scrapedGauge(
    registry,
    { name: 'nodejs_eventloop_lag_seconds', help: 'Lag of event loop in seconds.' },
    (emit) => {
      emit({}, lagSeconds);
      const start = process.hrtime.bigint();
      setImmediate(() => (lagSeconds = Number(process.hrtime.bigint() - start) / 1e9));
      const s = (ns: number) => ns / 1e9;
      summary = {
        min: s(delay.min),
        max: s(delay.max),
        mean: s(delay.mean),
        stddev: s(delay.stddev),
        p50: s(delay.percentile(50)),
        p90: s(delay.percentile(90)),
        p99: s(delay.percentile(99)),
      };
      delay.reset();
    },
  );
  const stats = [
    ['min', 'The minimum recorded event loop delay.'],
    ['max', 'The maximum recorded event loop delay.'],
    ['mean', 'The mean of the recorded event loop delays.'],
    ['stddev', 'The standard deviation of the recorded event loop delays.'],
    ['p50', 'The 50th percentile of the recorded event loop delays.'],
    ['p90', 'The 90th percentile of the recorded event loop delays.'],
    ['p99', 'The 99th percentile of the recorded event loop delays.'],
  ] as const;
  for (const [stat, help] of stats)
    scrapedGauge(registry, { name: `nodejs_eventloop_lag_${stat}_seconds`, help }, (emit) =>
      emit({}, summary[stat] ?? 0),
    );
  return () => delay.disable();
}

/** Counts by a key, in first-seen order. */
function countBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** Node's undocumented handle and request lists, which prom-client read too. */
interface ActiveLists {
  _getActiveHandles(): object[];
  _getActiveRequests(): object[];
}

function registerActive(registry: Registry): void {
  const lists = process as unknown as ActiveLists;
  const byClass = (item: unknown) => (item as object | null)?.constructor?.name;
  const pair = (
    name: string,
    what: string,
    help: string,
    read: () => readonly unknown[],
    type: (item: unknown) => string | undefined,
  ) => {
    scrapedGauge(registry, { name, help, labelNames: ['type'] }, (emit) => {
      for (const [t, n] of countBy(read(), type)) emit({ type: t }, n);
    });
    scrapedGauge(registry, { name: `${name}_total`, help: `Total number of active ${what}.` }, (emit) =>
      emit({}, read().length),
    );
  };
  pair(
    'nodejs_active_resources',
    'resources',
    'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    () => process.getActiveResourcesInfo(),
    (resource) => resource as string,
  );
  pair(
    'nodejs_active_handles',
    'handles',
    'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
    () => lists._getActiveHandles(),
    byClass,
  );
  pair(
    'nodejs_active_requests',
    'requests',
    'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
    () => lists._getActiveRequests(),
    byClass,
  );
}

function registerHeap(registry: Registry): void {
  let usage: NodeJS.MemoryUsage | undefined;
  const gauge = (name: string, help: string, pick: (u: NodeJS.MemoryUsage) => number, read = false) =>
    scrapedGauge(registry, { name, help }, (emit) => {
      if (read) usage = process.memoryUsage();
      if (usage) emit({}, pick(usage));
    });
  gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', (u) => u.heapTotal, true);
  gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', (u) => u.heapUsed);
  gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', (u) => u.external);
  let spaces: ReturnType<typeof getHeapSpaceStatistics> = [];
  const perSpace = (kind: 'total' | 'used' | 'available', pick: (s: (typeof spaces)[number]) => number) =>
    scrapedGauge(
      registry,
      {
        name: `nodejs_heap_space_size_${kind}_bytes`,
        help: `Process heap space size ${kind} from Node.js in bytes.`,
        labelNames: ['space'],
      },
      (emit) => {
        if (kind === 'total') spaces = getHeapSpaceStatistics();
        for (const s of spaces)
          emit({ space: s.space_name.slice(0, s.space_name.indexOf('_space')) }, pick(s));
      },
    );
  perSpace('total', (s) => s.space_size);
  perSpace('used', (s) => s.space_used_size);
  perSpace('available', (s) => s.space_available_size);
}

/** The daemon's returns of freed memory to the kernel (daemon/memory-trim.ts). */
export interface MemoryTrimSource {
  readonly trims: number;
  readonly releasedBytes: number;
}

export function registerMemoryTrimMetrics(registry: Registry, source: MemoryTrimSource): void {
  scrapedCounter(
    registry,
    {
      name: 'brindle_memory_trims_total',
      help: 'Times the daemon, quiet after a burst of work, ran a full garbage collection and malloc_trim.',
    },
    (emit) => emit({}, source.trims),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_memory_trim_released_bytes_total',
      help: 'Resident memory those collections and trims gave back to the kernel, in bytes.',
    },
    (emit) => emit({}, source.releasedBytes),
  );
}

/** Each garbage collection's pause, by kind, as Node's performance timeline reports it. */
function registerGc(registry: Registry): () => void {
  const kinds = new Map<number, string>([
    [perfConstants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
    [perfConstants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
    [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
    [perfConstants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
  ]);
  const histogram = new Histogram({
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: GC_BUCKETS_SECONDS,
  });
  registry.register(histogram);
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number } }).detail;
      const kind = kinds.get(detail?.kind ?? -1);
      if (kind !== undefined) histogram.observe({ kind } satisfies Labels, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
