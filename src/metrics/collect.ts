// Collect-on-scrape series: each metric reads the live objects when Prometheus scrapes and keeps no
// state between scrapes, so a removed peer's series disappear with it and nothing is updated on a hot
// path. Counters come from monotonic counts the modules keep; when a peer is re-created its counts
// restart from zero, which Prometheus treats as a counter reset.

import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;
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
 * Runs `fill` into a list, then replaces the metric's series in one synchronous step, so concurrent
 * scrapes of an async fill never interleave their values.
 */
function collector(fill: Fill, apply: (series: [Labels, number][]) => void): () => void | Promise<void> {
  return () => {
    const series: [Labels, number][] = [];
    const done = fill((labels, value) => series.push([labels, value]));
    if (done instanceof Promise) return done.then(() => apply(series));
    apply(series);
  };
}

export function scrapedGauge(registry: Registry, spec: SeriesSpec, fill: Fill): Gauge {
  const gauge: Gauge = new Gauge({
    ...spec,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
    collect: collector(fill, (series) => {
      gauge.reset();
      for (const [labels, value] of series) gauge.set(labels, value);
    }),
  });
  return gauge;
}

export function scrapedCounter(registry: Registry, spec: SeriesSpec, fill: Fill): Counter {
  if (!spec.name.endsWith('_total')) throw new Error(`counter ${spec.name} must end in _total`);
  const counter: Counter = new Counter({
    ...spec,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
    collect: collector(fill, (series) => {
      counter.reset();
      for (const [labels, value] of series) counter.inc(labels, value);
    }),
  });
  return counter;
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
