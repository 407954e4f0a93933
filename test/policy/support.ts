// Shared by the policy tests: routes as text, a RoutingPolicy built from resources written as YAML
// would write them, and the policy run the way the daemon runs it — the per-prefix verdict, then the
// RFC 4456 rules (ReflectorExport) on export; the peer's import filters on import — routes in,
// routes out.

import { AsPathSegmentType, Origin } from '../../src/bgp/constants.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import { AttrSetTable } from '../../src/rib/attr-set.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { Path } from '../../src/rib/route.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { ReflectorExport } from '../../src/reflector/reflection.ts';
import { RoutingPolicy } from '../../src/policy/policy.ts';
import type { PolicyInputs } from '../../src/policy/policy.ts';
import type {
  BGPConfiguration,
  BGPFilter,
  BGPFilterRule,
  BGPFilterSpec,
  IPPool,
} from '../../src/resources/types.ts';

export const LOCAL_AS = 64512;
export const EBGP_AS = 65001;
const table = new AttrSetTable();

export type Source = 'local' | 'ebgp' | 'ibgp';

export function ribPeer(source: Source): RibPeer {
  return {
    id: source === 'local' ? 0 : source === 'ebgp' ? 1 : 2,
    name: source,
    addressKey: `4:${source}`,
    bgpIdentifier: 0x0a000001,
    external: source === 'ebgp',
    peerAs: source === 'ebgp' ? EBGP_AS : LOCAL_AS,
    routeReflectorClient: false,
    local: source === 'local',
  };
}

const PEERS: Record<Source, RibPeer> = {
  local: ribPeer('local'),
  ebgp: ribPeer('ebgp'),
  ibgp: ribPeer('ibgp'),
};

/** One route in: its prefix, where it came from, and attributes beyond the defaults. */
export interface RouteIn {
  readonly prefix: string;
  readonly source?: Source;
  readonly attributes?: RouteAttributes;
}

export function route(prefix: string, source: Source = 'ebgp', attributes: RouteAttributes = {}): RouteIn {
  return { prefix, source, attributes };
}

export function asPath(...asns: number[]): RouteAttributes['asPath'] {
  return asns.length === 0 ? [] : [{ type: AsPathSegmentType.AsSequence, asns }];
}

function attributesOf(r: RouteIn): RouteAttributes {
  const v6 = r.prefix.includes(':');
  const source = r.source ?? 'ebgp';
  return {
    origin: Origin.Igp,
    asPath: source === 'ebgp' ? asPath(EBGP_AS) : asPath(),
    nextHop: source === 'local' ? undefined : v6 ? '2001:db8:ffff::1' : '192.0.2.1',
    ...r.attributes,
  };
}

export function target(kind: 'ebgp' | 'ibgp', filters: readonly string[] = []): ExportTarget {
  return {
    external: kind === 'ebgp',
    routeReflectorClient: false,
    localAs: LOCAL_AS,
    peerAs: kind === 'ebgp' ? 65002 : LOCAL_AS,
    nextHopMode: 'auto',
    localAddress4: '192.0.2.254',
    localAddress6: '2001:db8:ffff::fe',
    filters,
  };
}

export function filter(name: string, spec: BGPFilterSpec): BGPFilter {
  return { apiVersion: 'projectcalico.org/v3', kind: 'BGPFilter', metadata: { name }, spec };
}

/** A filter with `rules` on import or export of the prefix's family. */
export function rulesFilter(
  name: string,
  direction: 'import' | 'export',
  v6: boolean,
  rules: BGPFilterRule[],
): BGPFilter {
  return filter(name, { [`${direction}${v6 ? 'V6' : 'V4'}`]: rules });
}

export function pool(cidr: string, disableBGPExport = false): IPPool {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name: cidr.replace(/[/:.]/g, '-') },
    spec: { cidr, disableBGPExport },
  };
}

export function bgpConfig(name: string, spec: BGPConfiguration['spec']): BGPConfiguration {
  return { apiVersion: 'projectcalico.org/v3', kind: 'BGPConfiguration', metadata: { name }, spec };
}

export function policyOf(inputs: Partial<PolicyInputs>): RoutingPolicy {
  return new RoutingPolicy({
    mode: 'reflector',
    nodeName: 'n1',
    filters: [],
    pools: [],
    configs: [],
    ...inputs,
  });
}

export function prefixes(...texts: string[]): Prefix[] {
  return texts.map((t) => parsePrefix(t)!);
}

/** Exports every route in `routes` to `to` as the Adj-RIB-Out would: prefix text → attributes sent. */
export function exportThrough(
  policy: RoutingPolicy,
  routes: readonly RouteIn[],
  to: ExportTarget,
): Map<string, RouteAttributes> {
  const reflector = new ReflectorExport(
    { routerId: 0x0a0000fe, clusterId: 0x0a0000fe, localAs: LOCAL_AS },
    policy,
  );
  const out = new Map<string, RouteAttributes>();
  for (const r of routes) {
    const prefix = parsePrefix(r.prefix)!;
    const path = new Path(PEERS[r.source ?? 'ebgp'], 0, table.intern(attributesOf(r)), true);
    const verdict = reflector.exportVerdict(prefix, path, to);
    const attributes = verdict && reflector.exportAttributes(path, prefix.afi, to, verdict);
    if (attributes) out.set(formatPrefix(prefix), attributes);
  }
  return out;
}

/** Imports every route in `routes` from a peer with `filters`: prefix text → attributes kept. */
export function importThrough(
  policy: RoutingPolicy,
  filters: readonly string[],
  routes: readonly RouteIn[],
): Map<string, RouteAttributes> {
  const out = new Map<string, RouteAttributes>();
  for (const r of routes) {
    const prefix = parsePrefix(r.prefix)!;
    const attrs = table.intern(attributesOf(r));
    const kept = policy.importAttributes(filters, PEERS[r.source ?? 'ebgp'], prefix, attrs, table);
    if (kept) out.set(formatPrefix(prefix), kept.attributes);
  }
  return out;
}
