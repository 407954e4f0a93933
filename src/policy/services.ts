// Service address ranges (calico-routing.md §7.6, confd's routes.go): the CIDRs of serviceClusterIPs,
// serviceExternalIPs and — with aggregation, the default — serviceLoadBalancerIPs are originated from
// every node not labelled exclude-from-external-load-balancers=true, so the ToR spreads traffic over
// them (ECMP); on every node, routes learned for them stay out of the kernel. Single addresses in
// those lists are per-service /32s (/128s), which need a Kubernetes watch: not done here.

import { formatPrefix, maxPrefixLength } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { BGPConfiguration, ServiceIPBlock } from '../resources/types.ts';
import { cidrPrefix } from './prefix-set.ts';

/** The well-known Kubernetes node label, and the bare form Calico's docs write. */
const EXCLUDE_LABELS = [
  'node.kubernetes.io/exclude-from-external-load-balancers',
  'exclude-from-external-load-balancers',
];

export interface ServiceRanges {
  /** Ranges this node originates (static routes in confd's terms). */
  readonly advertise: readonly Prefix[];
  /** Ranges whose learned routes are not installed in the kernel (confd's `rejectcidrs`). */
  readonly noKernel: readonly Prefix[];
  /** Route reflector allow-list: external and load-balancer ranges a reflector node always passes on. */
  readonly reflectorAllow: readonly Prefix[];
}

function ranges(blocks: readonly ServiceIPBlock[] | undefined): Prefix[] {
  const out: Prefix[] = [];
  for (const block of blocks ?? []) {
    const prefix = cidrPrefix(
      block.cidr.includes('/') ? block.cidr : `${block.cidr}/${block.cidr.includes(':') ? 128 : 32}`,
    );
    if (prefix) out.push(prefix);
  }
  return out;
}

const isRange = (p: Prefix): boolean => p.length < maxPrefixLength(p.afi);

export function excludedFromLoadBalancers(labels: Readonly<Record<string, string>> | undefined): boolean {
  return EXCLUDE_LABELS.some((key) => labels?.[key] === 'true');
}

/** Only the `default` BGPConfiguration's service fields count (§2: refused on node.<name> objects). */
export function serviceRanges(
  configs: readonly BGPConfiguration[],
  nodeLabels: Readonly<Record<string, string>> | undefined,
): ServiceRanges {
  const spec = configs.find((c) => c.metadata.name === 'default')?.spec;
  const aggregated = spec?.serviceLoadBalancerAggregation !== 'Disabled';
  const external = ranges(spec?.serviceExternalIPs);
  const loadBalancer = ranges(spec?.serviceLoadBalancerIPs);
  const all = [...ranges(spec?.serviceClusterIPs), ...external, ...(aggregated ? loadBalancer : [])].filter(
    isRange,
  );
  return {
    advertise: excludedFromLoadBalancers(nodeLabels) ? [] : all,
    noKernel: all,
    reflectorAllow: [...external, ...loadBalancer],
  };
}

/** How this node's originated routes of one kind (service ranges, IPAM blocks) move to `wanted`. */
export interface OriginationChanges {
  readonly announce: readonly Prefix[];
  readonly withdraw: readonly string[];
}

/**
 * The routes to originate and to withdraw so that `current` (prefixes as text) becomes `wanted`: what
 * the daemon does on a change, and what `apply --dry-run` shows it would do.
 */
export function originationChanges(
  current: ReadonlySet<string>,
  wanted: readonly Prefix[],
): OriginationChanges {
  const keep = new Set(wanted.map((p) => formatPrefix(p)));
  return {
    announce: wanted.filter((p) => !current.has(formatPrefix(p))),
    withdraw: [...current].filter((p) => !keep.has(p)),
  };
}
