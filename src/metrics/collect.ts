// Collect-on-scrape series: each metric reads the live objects when Prometheus scrapes and keeps no
// state between scrapes, so a removed peer's series disappear with it and nothing is updated on a hot
// path. Counters come from monotonic counts the modules keep; when a peer is re-created its counts
// restart from zero, which Prometheus treats as a counter reset.

import { checkLabels, seriesKey } from './exposition.ts';
import type { Labels, MetricFamily, MetricType, Registry, Sample } from './exposition.ts';

export type { Labels, Registry } from './exposition.ts';
/** Sets one series' value for this scrape. */
export type Emit = (labels: Labels, value: number) => void;

export interface SeriesSpec {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
}

/** Fills the series of one scrape; may be async (a datastore read). */
export type Fill = (emit: Emit) => void | Promise<void>;

/**
 * A family whose series `fill` emits on each scrape, into a list of its own, so concurrent scrapes of
 * an async fill never interleave their values. A gauge keeps the last value emitted for a label set, a
 * counter adds them up; a family without labels reads 0 when nothing is emitted.
 */
function scraped(registry: Registry, type: MetricType, spec: SeriesSpec, fill: Fill): MetricFamily {
  const labelNames = spec.labelNames ?? [];
  const family: MetricFamily = {
    name: spec.name,
    help: spec.help,
    type,
    collect() {
      const series = new Map<string, { labels: Labels; value: number }>();
      if (labelNames.length === 0) series.set('', { labels: {}, value: 0 });
      const done = fill((labels, value) => {
        if (typeof value !== 'number') throw new TypeError(`${spec.name}: ${String(value)} is not a number`);
        if (type === 'counter' && value < 0) throw new Error(`${spec.name}: a counter cannot decrease`);
        checkLabels(spec.name, labelNames, labels);
        const key = seriesKey(labelNames, labels);
        const known = series.get(key);
        if (known === undefined) series.set(key, { labels, value });
        else known.value = type === 'counter' ? known.value + value : value;
      });
      const samples = (): Sample[] => [...series.values()];
      return done instanceof Promise ? done.then(samples) : samples();
    },
  };
  registry.register(family);
  return family;
}

export function scrapedGauge(registry: Registry, spec: SeriesSpec, fill: Fill): MetricFamily {
  return scraped(registry, 'gauge', spec, fill);
}

export function scrapedCounter(registry: Registry, spec: SeriesSpec, fill: Fill): MetricFamily {
  if (!spec.name.endsWith('_total')) throw new Error(`counter ${spec.name} must end in _total`);
  return scraped(registry, 'counter', spec, fill);
}

/** Emits every entry of a count map, with the key split into labels. */
export function emitMap(
  emit: Emit,
  base: Labels,
  counts: ReadonlyMap<string, number>,
  keyLabels: (key: string) => Labels,
): void {
  for (const [key, value] of counts) emit({ ...base, ...keyLabels(key) }, value);
}
