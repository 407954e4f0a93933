// Brindle's Prometheus registry and the text exposition format (version 0.0.4): metric families in
// registration order, each as `# HELP`, `# TYPE` and its samples, blocks separated by a blank line.
// HELP text escapes `\` and newline; label values also escape `"`; values are Go-style floats with
// `+Inf`, `-Inf` and `NaN`. A histogram is exposed as cumulative `_bucket{le=…}` series ending in
// `le="+Inf"`, then `_sum` and `_count`. Families compute their samples when scraped (collect.ts);
// nothing here runs between scrapes.

export type Labels = Readonly<Record<string, string>>;
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface Sample {
  /** The sample's name when it is not the family's (a histogram's `_bucket`, `_sum`, `_count`). */
  readonly name?: string;
  readonly labels: Labels;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** This scrape's samples, in exposition order. */
  collect(): readonly Sample[] | Promise<readonly Sample[]>;
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class Registry {
  readonly contentType = CONTENT_TYPE;
  private families = new Map<string, MetricFamily>();

  register(family: MetricFamily): void {
    const known = this.families.get(family.name);
    if (known !== undefined && known !== family)
      throw new Error(`A metric with the name ${family.name} has already been registered.`);
    this.families.set(family.name, family);
  }

  getSingleMetric(name: string): MetricFamily | undefined {
    return this.families.get(name);
  }

  clear(): void {
    this.families = new Map();
  }

  /**
   * The exposition of every family. Collections start in registration order (a family may read what
   * an earlier one gathered in the same scrape) and asynchronous ones run concurrently.
   */
  async metrics(): Promise<string> {
    const families = [...this.families.values()];
    // An async function runs synchronously up to its first await: the collections start in order.
    const samples = await Promise.all(families.map(async (family) => family.collect()));
    return `${families.map((family, i) => formatFamily(family, samples[i])).join('\n\n')}\n`;
  }
}

function formatFamily(family: MetricFamily, samples: readonly Sample[]): string {
  const lines = [`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`];
  for (const sample of samples)
    lines.push(`${sample.name ?? family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  return lines.join('\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(value: string): string {
  return escapeHelp(value).replace(/"/g, '\\"');
}

/** `{a="1",b="2"}` in the labels' own order, or nothing for no labels. */
function formatLabels(labels: Labels): string {
  const pairs: string[] = [];
  for (const name in labels) pairs.push(`${name}="${escapeLabelValue(labels[name])}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Throws when `labels` names a label the family did not declare (a programming error). */
export function checkLabels(family: string, labelNames: readonly string[], labels: Labels): void {
  for (const name in labels)
    if (!labelNames.includes(name))
      throw new Error(`${family}: label "${name}" is not one of its labels (${labelNames.join(', ')})`);
}

/** The identity of a series among a family's: its label values in declared order. */
export function seriesKey(labelNames: readonly string[], labels: Labels): string {
  let key = '';
  for (let i = 0; i < labelNames.length; i++) {
    const value = labels[labelNames[i]];
    if (value !== undefined) key += `${i}\u0000${value}\u0001`;
  }
  return key;
}

export interface HistogramSpec {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
  /** Upper bounds of the buckets, ascending; `+Inf` is implied. */
  readonly buckets: readonly number[];
}

interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A histogram observed as events happen (not on scrape), e.g. each garbage collection's duration. */
export class Histogram implements MetricFamily {
  readonly type = 'histogram';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly string[];
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, HistogramSeries>();

  constructor(spec: HistogramSpec) {
    this.name = spec.name;
    this.help = spec.help;
    this.labelNames = spec.labelNames ?? [];
    this.bounds = spec.buckets;
  }

  observe(labels: Labels, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name}: ${value} is not a finite number`);
    checkLabels(this.name, this.labelNames, labels);
    const key = seriesKey(this.labelNames, labels);
    let series = this.series.get(key);
    if (series === undefined) {
      series = { labels, counts: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    const bucket = this.bounds.findIndex((bound) => value <= bound);
    if (bucket >= 0) series.counts[bucket]++;
    series.sum += value;
    series.count++;
  }

  collect(): Sample[] {
    const samples: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += counts[i];
        samples.push({ name: bucket, labels: { le: String(bound), ...labels }, value: cumulative });
      });
      samples.push({ name: bucket, labels: { le: '+Inf', ...labels }, value: count });
      samples.push({ name: `${this.name}_sum`, labels, value: sum });
      samples.push({ name: `${this.name}_count`, labels, value: count });
    }
    return samples;
  }
}
