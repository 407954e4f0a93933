// What the resource commands (`apply`, `get`, `delete`, …) print: the kind's table from the resources
// module, the resources as YAML or JSON (`<Kind>List` for lists, as calicoctl), and the one-line
// summaries of writes.

import { API_VERSION, renderTable, resourceTable } from '../resources/index.ts';
import type { Resource, ResourceKind, ResourceOfKind, TableContext } from '../resources/index.ts';
import { formatDocument } from './output.ts';
import type { OutputFormat } from './output.ts';

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
