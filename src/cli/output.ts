// How brindlectl prints, for every command: calicoctl's tables (columns three spaces apart) and YAML
// and JSON documents. The resource commands' own output (tables from the resources module, `<Kind>List`
// wrappers, write summaries) is in resource-output.ts, so the daemon-facing commands (`status`,
// `peers`, `routes`) do not load the resource schema.

import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'wide', 'yaml', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(text: string): OutputFormat | undefined {
  return OUTPUT_FORMATS.find((f) => f === text);
}

/** Left-aligned columns three spaces apart, like calicoctl's tabwriter. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return new TableStream(header).page(rows);
}

/**
 * A table printed page by page (`routes --all`): the header once, each page as it arrives, columns as
 * wide as the widest cell so far (a later page may widen them; what is printed stays as it is). One
 * page prints exactly as formatTable would.
 */
export class TableStream {
  private readonly widths: number[];
  private headerDone = false;

  constructor(private readonly header: readonly string[]) {
    this.widths = header.map((h) => h.length);
  }

  page(rows: readonly (readonly string[])[]): string {
    for (const row of rows)
      row.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i], cell.length)));
    const lines = this.headerDone ? rows : [this.header, ...rows];
    this.headerDone = true;
    return lines.map((cells) => this.line(cells)).join('');
  }

  private line(cells: readonly string[]): string {
    const padded = cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(this.widths[i] + 3)));
    return `${padded.join('').trimEnd()}\n`;
  }
}

/** Any plain value as one YAML document or indented JSON, ending with a newline. */
export function formatDocument(value: unknown, format: 'yaml' | 'json'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}
