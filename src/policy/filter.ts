// BGPFilter (calico-routing.md §4): each rule compiled once into its match tests and operations, and
// evaluated as confd's generated BIRD functions run. Filters run in the order the BGPPeer lists them,
// rules in order within a filter, and the first rule that accepts or rejects ends the whole peer
// filter (BIRD's `accept;` / `reject;` leave the filter). No rule matching is "no verdict": the caller
// falls through (import: accept; export: Calico's export default, then reject).

import { AsPathSegmentType } from '../bgp/constants.ts';
import type { AsPathSegment } from '../bgp/types.ts';
import { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import type { BGPFilter, BGPFilterOperation, BGPFilterRule } from '../resources/types.ts';
import { addCommunities, communitySet, hasCommunity, parseCommunity } from './communities.ts';
import { localPrefOf } from './priority.ts';
import { cidrPrefix, inRange, interfacePattern, prefixRange, samePrefix, within } from './prefix-set.ts';

export type FilterDirection = 'import' | 'export';

/** A route as a BGPFilter rule sees it. */
export interface FilterRoute {
  readonly prefix: Prefix;
  readonly attributes: RouteAttributes;
  /** Learned from a BGP peer (BIRD's `source ~ [RTS_BGP]`), not originated here. */
  readonly fromBgp: boolean;
  /** The route's outgoing interface (BIRD's `ifname`), when known. */
  readonly interface: string | undefined;
  /** The route's priority in kernel metric units (§4.3). */
  readonly priority: number;
}

type Match = (route: FilterRoute) => boolean;
type Operation = (attributes: RouteAttributes) => RouteAttributes;

export interface CompiledRule {
  readonly action: 'accept' | 'reject';
  /** Undefined: every peer; else only eBGP or only iBGP peers (peer AS ≠ / = the effective local AS). */
  readonly peerType: 'eBGP' | 'iBGP' | undefined;
  readonly matches: readonly Match[];
  readonly operations: readonly Operation[];
  /** Where the rule is written: `tor-out.exportV4[2]`, for logs. */
  readonly source: string;
}

export interface CompiledFilter {
  readonly name: string;
  readonly importV4: readonly CompiledRule[];
  readonly importV6: readonly CompiledRule[];
  readonly exportV4: readonly CompiledRule[];
  readonly exportV6: readonly CompiledRule[];
}

export function compileFilter(filter: BGPFilter): CompiledFilter {
  const name = filter.metadata.name;
  const rules = (field: 'importV4' | 'importV6' | 'exportV4' | 'exportV6') =>
    (filter.spec[field] ?? []).map((rule, i) => compileRule(rule, `${name}.${field}[${i}]`));
  return {
    name,
    importV4: rules('importV4'),
    importV6: rules('importV6'),
    exportV4: rules('exportV4'),
    exportV6: rules('exportV6'),
  };
}

/** §4.2's condition mapping, one test per field the rule sets, ANDed. */
function compileRule(rule: BGPFilterRule, source: string): CompiledRule {
  const matches: Match[] = [];
  const cidr = rule.cidr === undefined ? undefined : cidrPrefix(rule.cidr);
  if (cidr && rule.matchOperator) matches.push(cidrMatch(cidr, rule));
  if (rule.source === 'RemotePeers') matches.push((r) => r.fromBgp);
  if (rule.interface !== undefined) {
    const pattern = interfacePattern(rule.interface);
    matches.push((r) => r.interface !== undefined && pattern.test(r.interface));
  }
  const community = rule.communities?.values[0];
  const parsed = community === undefined ? undefined : parseCommunity(community);
  if (parsed) matches.push((r) => hasCommunity(r.attributes, parsed));
  const asPathPrefix = rule.asPathPrefix;
  if (asPathPrefix) matches.push((r) => startsWith(r.attributes.asPath, asPathPrefix));
  const priority = rule.priority;
  if (priority !== undefined) matches.push((r) => r.priority === priority);
  return {
    action: rule.action === 'Accept' ? 'accept' : 'reject',
    peerType: rule.peerType,
    matches,
    operations: rule.action === 'Accept' ? (rule.operations ?? []).map(compileOperation) : [],
    source,
  };
}

/**
 * Equal `net = C`, NotEqual `net != C`, In `net ~ C`, NotIn `net !~ C`. With prefixLength confd
 * puts the prefix set `[ C{min,max} ]` on the right of every operator; Brindle reads `=`/`!=`
 * against a set as membership, the same as `~`/`!~`.
 */
function cidrMatch(cidr: Prefix, rule: BGPFilterRule): Match {
  const negate = rule.matchOperator === 'NotEqual' || rule.matchOperator === 'NotIn';
  let test: Match;
  if (rule.prefixLength) {
    const range = prefixRange(cidr, rule.prefixLength.min, rule.prefixLength.max);
    test = (r) => inRange(r.prefix, range);
  } else if (rule.matchOperator === 'Equal' || rule.matchOperator === 'NotEqual') {
    test = (r) => samePrefix(r.prefix, cidr);
  } else {
    test = (r) => within(r.prefix, cidr);
  }
  return negate ? (r) => !test(r) : test;
}

/** BIRD `bgp_path ~ [= a b * =]`: the AS_PATH begins with these ASNs. */
function startsWith(path: readonly AsPathSegment[] | undefined, asns: readonly number[]): boolean {
  let i = 0;
  for (const segment of path ?? []) {
    // An AS_SET is one unordered element: a listed ASN cannot match a position inside it.
    if (segment.type !== AsPathSegmentType.AsSequence) return i === asns.length;
    for (const asn of segment.asns) {
      if (i === asns.length) return true;
      if (asn !== asns[i++]) return false;
    }
  }
  return i === asns.length;
}

function compileOperation(op: BGPFilterOperation): Operation {
  if (op.addCommunity) {
    const community = parseCommunity(op.addCommunity.value);
    const set = communitySet(community ? [community] : []);
    return (a) => addCommunities(a, set);
  }
  if (op.prependASPath) {
    // confd prepends in reverse, so the listed order ends up first.
    const asns = op.prependASPath.prefix;
    return (a) => ({ ...a, asPath: prependAsns(a.asPath, asns) });
  }
  const localPref = localPrefOf(op.setPriority?.value ?? 0);
  return (a) => ({ ...a, localPref });
}

function prependAsns(path: readonly AsPathSegment[] | undefined, asns: readonly number[]): AsPathSegment[] {
  const segments = path ?? [];
  const first = segments[0];
  if (first?.type === AsPathSegmentType.AsSequence && first.asns.length + asns.length <= 255)
    return [{ type: AsPathSegmentType.AsSequence, asns: [...asns, ...first.asns] }, ...segments.slice(1)];
  return [{ type: AsPathSegmentType.AsSequence, asns: [...asns] }, ...segments];
}

export function applyOperations(rule: CompiledRule, attributes: RouteAttributes): RouteAttributes {
  let a = attributes;
  for (const op of rule.operations) a = op(a);
  return a;
}

function rulesOf(filter: CompiledFilter, direction: FilterDirection, afi: Afi): readonly CompiledRule[] {
  if (direction === 'import') return afi === Afi.Ipv4 ? filter.importV4 : filter.importV6;
  return afi === Afi.Ipv4 ? filter.exportV4 : filter.exportV6;
}

function ruleMatches(rule: CompiledRule, route: FilterRoute, internal: boolean): boolean {
  if (rule.peerType === 'iBGP' && !internal) return false;
  if (rule.peerType === 'eBGP' && internal) return false;
  for (const match of rule.matches) if (!match(route)) return false;
  return true;
}

/**
 * Runs the peer's filters on one route: the first rule that matches decides (accept or reject), or
 * undefined when none does. `internal`: the peer is iBGP (peer AS = the effective local AS).
 */
export function evaluateFilters(
  filters: readonly CompiledFilter[],
  direction: FilterDirection,
  route: FilterRoute,
  internal: boolean,
): CompiledRule | undefined {
  for (const filter of filters)
    for (const rule of rulesOf(filter, direction, route.prefix.afi))
      if (ruleMatches(rule, route, internal)) return rule;
  return undefined;
}
