// Resources as the CLI shows them: YAML or JSON documents, and calicoctl's `get` tables (the same
// columns and cell rules as calicoctl/resourcemgr, calico-routing.md §8).

import { stringify } from 'yaml';
import { globalAsNumber, ipamMaxBlocksPerHost, ipPoolNodeSelector } from './defaults.ts';
import type {
  BFDConfiguration,
  BGPConfiguration,
  BGPFilter,
  BGPPeer,
  IPAMConfiguration,
  IPPool,
  Node,
  Resource,
  ResourceKind,
  ResourceOfKind,
} from './types.ts';

export type ResourceFormat = 'yaml' | 'json';

export function formatResource(resource: Resource | readonly Resource[], format: ResourceFormat): string {
  if (format === 'json') return `${JSON.stringify(resource, null, 2)}\n`;
  if (!Array.isArray(resource)) return stringify(resource);
  return resource.map((r) => stringify(r)).join('---\n');
}

export interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export interface TableContext {
  /** The BGPConfigurations in force: Node rows show the global AS, in parentheses, when a node has none. */
  readonly configs?: readonly BGPConfiguration[];
}

type Cell<R> = (resource: R, context: TableContext) => string;

interface Columns<R> {
  readonly narrow: readonly string[];
  readonly wide: readonly string[];
  readonly cells: Readonly<Record<string, Cell<R>>>;
}

const name: Cell<Resource> = (r) => r.metadata.name;
const text = (value: string | number | boolean | undefined): string =>
  value === undefined ? '' : String(value);

const COLUMNS: { readonly [K in ResourceKind]: Columns<ResourceOfKind<K>> } = {
  BGPConfiguration: {
    narrow: ['NAME', 'LOGSEVERITY', 'MESHENABLED', 'ASNUMBER'],
    wide: ['NAME', 'LOGSEVERITY', 'MESHENABLED', 'ASNUMBER'],
    cells: {
      NAME: name,
      LOGSEVERITY: (r: BGPConfiguration) => text(r.spec.logSeverityScreen),
      MESHENABLED: (r: BGPConfiguration) =>
        r.spec.nodeToNodeMeshEnabled === undefined ? '-' : String(r.spec.nodeToNodeMeshEnabled),
      ASNUMBER: (r: BGPConfiguration) => (r.spec.asNumber === undefined ? '-' : String(r.spec.asNumber)),
    },
  },
  BGPPeer: {
    narrow: ['NAME', 'PEERIP', 'NODE', 'ASN'],
    wide: ['NAME', 'PEERIP', 'NODE', 'ASN'],
    cells: {
      NAME: name,
      PEERIP: (r: BGPPeer) => text(r.spec.peerIP),
      NODE: (r: BGPPeer) => r.spec.node ?? r.spec.nodeSelector ?? '(global)',
      ASN: (r: BGPPeer) => String(r.spec.asNumber ?? 0),
    },
  },
  BGPFilter: {
    narrow: ['NAME'],
    wide: ['NAME', 'NUMEXPORTV4', 'NUMIMPORTV4', 'NUMEXPORTV6', 'NUMIMPORTV6'],
    cells: {
      NAME: name,
      NUMEXPORTV4: (r: BGPFilter) => String(r.spec.exportV4?.length ?? 0),
      NUMIMPORTV4: (r: BGPFilter) => String(r.spec.importV4?.length ?? 0),
      NUMEXPORTV6: (r: BGPFilter) => String(r.spec.exportV6?.length ?? 0),
      NUMIMPORTV6: (r: BGPFilter) => String(r.spec.importV6?.length ?? 0),
    },
  },
  Node: {
    narrow: ['NAME', 'ASN', 'IPV4', 'IPV6'],
    wide: ['NAME', 'ASN', 'IPV4', 'IPV6'],
    cells: {
      NAME: name,
      ASN: (r: Node, context) => {
        if (!r.spec.bgp) return '';
        return r.spec.bgp.asNumber !== undefined
          ? String(r.spec.bgp.asNumber)
          : `(${globalAsNumber(context.configs ?? [])})`;
      },
      IPV4: (r: Node) => text(r.spec.bgp?.ipv4Address),
      IPV6: (r: Node) => text(r.spec.bgp?.ipv6Address),
    },
  },
  IPPool: {
    narrow: ['NAME', 'CIDR', 'SELECTOR'],
    wide: [
      'NAME',
      'CIDR',
      'NAT',
      'IPIPMODE',
      'VXLANMODE',
      'DISABLED',
      'DISABLEBGPEXPORT',
      'SELECTOR',
      'ASSIGNMENTMODE',
    ],
    cells: {
      NAME: name,
      CIDR: (r: IPPool) => r.spec.cidr,
      NAT: (r: IPPool) => String(r.spec.natOutgoing ?? false),
      IPIPMODE: (r: IPPool) => r.spec.ipipMode ?? 'Never',
      VXLANMODE: (r: IPPool) => r.spec.vxlanMode ?? 'Never',
      DISABLED: (r: IPPool) => String(r.spec.disabled ?? false),
      DISABLEBGPEXPORT: (r: IPPool) => String(r.spec.disableBGPExport ?? false),
      SELECTOR: (r: IPPool) => ipPoolNodeSelector(r.spec),
      ASSIGNMENTMODE: (r: IPPool) => r.spec.assignmentMode ?? 'Automatic',
    },
  },
  IPAMConfiguration: {
    narrow: ['NAME', 'STRICTAFFINITY', 'AUTOALLOCATEBLOCKS'],
    wide: ['NAME', 'STRICTAFFINITY', 'AUTOALLOCATEBLOCKS', 'MAXBLOCKSPERHOST'],
    cells: {
      NAME: name,
      STRICTAFFINITY: (r: IPAMConfiguration) => String(r.spec.strictAffinity ?? false),
      AUTOALLOCATEBLOCKS: (r: IPAMConfiguration) => String(r.spec.autoAllocateBlocks ?? true),
      MAXBLOCKSPERHOST: (r: IPAMConfiguration) => String(ipamMaxBlocksPerHost(r.spec)),
    },
  },
  BFDConfiguration: {
    narrow: ['NAME', 'SELECTOR', 'INTERFACES'],
    wide: ['NAME', 'SELECTOR', 'INTERFACES'],
    cells: {
      NAME: name,
      SELECTOR: (r: BFDConfiguration) => r.spec.nodeSelector ?? 'all()',
      INTERFACES: (r: BFDConfiguration) => (r.spec.interfaces ?? []).map((i) => i.matchPattern).join(','),
    },
  },
};

/** The `get` table of one kind: calicoctl's columns (`wide` for `-o wide`), rows in input order. */
export function resourceTable<K extends ResourceKind>(
  kind: K,
  resources: readonly ResourceOfKind<K>[],
  wide = false,
  context: TableContext = {},
): Table {
  const columns = COLUMNS[kind] as Columns<ResourceOfKind<K>>;
  const header = wide ? columns.wide : columns.narrow;
  return { header, rows: resources.map((r) => header.map((column) => columns.cells[column](r, context))) };
}

/** Left-aligned columns separated by three spaces, as calicoctl's tabwriter prints them. */
export function renderTable(table: Table): string {
  const widths = table.header.map((h, i) => Math.max(h.length, ...table.rows.map((row) => row[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] + 3)))
      .join('')
      .trimEnd();
  return [table.header, ...table.rows].map(line).join('\n') + '\n';
}
