// Benchmark results as one printed table: every suite returns rows, the runner prints them together.

export interface BenchRow {
  readonly suite: string;
  readonly case: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  /** The target from the issue, as text ("≥ 3,000,000"), and whether the value meets it. */
  readonly target?: string;
  readonly met?: boolean;
  /** Why a value is missing (NaN) or what qualifies it ("did not finish within 120 s"). */
  readonly note?: string;
}

function formatValue(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function printTable(rows: readonly BenchRow[]): string {
  // The note column appears only when some row has a note.
  const notes = rows.some((r) => r.note !== undefined);
  const header = ['suite', 'case', 'metric', 'value', 'unit', 'target', 'met', ...(notes ? ['note'] : [])];
  const body = rows.map((r) => [
    r.suite,
    r.case,
    r.metric,
    formatValue(r.value),
    r.unit,
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    ...(notes ? [r.note ?? ''] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

/** Runs `fn` `runs` times and returns the median duration in seconds. */
export function medianSeconds(runs: number, fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * The rows of one suite whose case ends in "(name)" — one subject of several measured alike, such as
 * `S1 100k→10 (bird2)` — pivoted: a line per case and metric, a column per subject, in first-seen
 * order. `keep` picks the metrics shown; a subject's missing value prints as an empty cell, a value it
 * could not measure as "—".
 */
export function printSideBySide(rows: readonly BenchRow[], keep: (metric: string) => boolean): string {
  const subjects: string[] = [];
  const lines = new Map<string, Map<string, BenchRow>>();
  for (const row of rows) {
    const match = /^(.*) \(([^)]+)\)$/.exec(row.case);
    if (!match || !keep(row.metric)) continue;
    const [, what, subject] = match;
    if (!subjects.includes(subject)) subjects.push(subject);
    const key = `${what}\u0000${row.metric}`;
    if (!lines.has(key)) lines.set(key, new Map());
    lines.get(key)!.set(subject, row);
  }
  const cell = (r: BenchRow | undefined) =>
    r === undefined ? '' : `${formatValue(r.value)}${Number.isFinite(r.value) ? ` ${r.unit}` : ''}`.trim();
  const body = [...lines].map(([key, bySubject]) => [
    ...key.split('\u0000'),
    ...subjects.map((s) => cell(bySubject.get(s))),
  ]);
  const header = ['case', 'metric', ...subjects];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
