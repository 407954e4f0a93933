// How brindlectl prints: calicoctl's tables (columns from the resources module), YAML and JSON
// documents, `<Kind>List` wrappers for lists, and the one-line summaries of writes. Generic writers
// (formatTable, formatDocument) are for the daemon-facing commands too.

import { stringify } from 'yaml';
import { API_VERSION, renderTable, resourceTable } from '../resources/index.ts';
import type { Resource, ResourceKind, ResourceOfKind, Table, TableContext } from '../resources/index.ts';

export const OUTPUT_FORMATS = ['table', 'wide', 'yaml', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function parseOutputFormat(text: string): OutputFormat | undefined {
  return OUTPUT_FORMATS.find((f) => f === text);
}

/** Left-aligned columns three spaces apart, like calicoctl's tabwriter. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const table: Table = { header, rows };
  return renderTable(table);
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

/** A Kubernetes-style list, as `calicoctl get -o yaml|json` prints one: `kind: <Kind>List`. */
export function resourceList(kind: ResourceKind, items: readonly Resource[]): object {
  return { apiVersion: API_VERSION, kind: `${kind}List`, metadata: {}, items };
}

export interface ResourceOutput<K extends ResourceKind> {
  readonly kind: K;
  readonly resources: readonly ResourceOfKind<K>[];
  readonly format: OutputFormat;
  /** One resource was asked for by name: YAML and JSON print it bare instead of in a List. */
  readonly single?: boolean;
  readonly context?: TableContext;
}

/** `get` output: the kind's table (`wide` adds columns), or the resources as YAML or JSON. */
export function formatResources<K extends ResourceKind>(output: ResourceOutput<K>): string {
  const { kind, resources, format } = output;
  if (format === 'table' || format === 'wide') {
    return renderTable(resourceTable(kind, resources, format === 'wide', output.context));
  }
  const value = output.single && resources.length === 1 ? resources[0] : resourceList(kind, resources);
  return formatDocument(value, format);
}

/**
 * calicoctl's `Successfully applied 2 'BGPPeer' resource(s)`, one line per kind in the order the kinds
 * first appear.
 */
export function summaryLines(verb: string, resources: readonly Pick<Resource, 'kind'>[]): string[] {
  const counts = new Map<ResourceKind, number>();
  for (const r of resources) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
  return [...counts].map(([kind, count]) => `Successfully ${verb} ${count} '${kind}' resource(s)`);
}
