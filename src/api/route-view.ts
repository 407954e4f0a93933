// Loc-RIB destinations as JSON: every candidate path with its attributes, which one is best, which are
// in the ECMP set, and for each loser the decision step that eliminated it, as the Loc-RIB's own
// decision recorded it (with its configured options), so `brindlectl routes` can say why a route lost.
// Pure functions of the Loc-RIB.

import { AsPathSegmentType, Origin } from '../bgp/constants.ts';
import type { AsPathSegment } from '../bgp/types.ts';
import { formatIpv4 } from '../lib/address.ts';
import type { Afi } from '../lib/family.ts';
import { formatPrefix, maxPrefixLength, parsePrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import { DECISION_STEPS } from '../rib/decision.ts';
import type { LostAt } from '../rib/decision.ts';
import type { LocRib } from '../rib/loc-rib.ts';
import type { Dest, Path } from '../rib/route.ts';
import { destFamily } from '../metrics/rib-census.ts';
import { checkParameters, familyParameter, limitParameter, parseTarget } from './query.ts';

const ORIGIN_NAMES: Record<number, string> = {
  [Origin.Igp]: 'IGP',
  [Origin.Egp]: 'EGP',
  [Origin.Incomplete]: 'INCOMPLETE',
};

/** Routes listed when no limit is given; a full table is for the CLI to page through, not one reply. */
export const DEFAULT_ROUTE_LIMIT = 1000;
export const MAX_ROUTE_LIMIT = 100_000;

export interface RouteQuery {
  /** Exact prefix ("10.0.0.0/24"), or an address for the longest match ("10.0.0.7"). */
  readonly prefix?: string;
  readonly afi?: Afi;
  readonly limit: number;
}

/** The query string of GET /api/v1/routes, validated (400 on anything unknown). */
export function parseRouteQuery(query: URLSearchParams): RouteQuery {
  checkParameters(query, ['prefix', 'family', 'limit']);
  const afi = familyParameter(query);
  const limit = limitParameter(query, DEFAULT_ROUTE_LIMIT, MAX_ROUTE_LIMIT);
  return { prefix: query.get('prefix') ?? undefined, afi, limit };
}

export function routesDocument(rib: LocRib | undefined, query: RouteQuery) {
  if (!rib) return { count: 0, truncated: false, routes: [] };
  const { dests, truncated } = selectDests(rib, query);
  return {
    count: dests.length,
    truncated,
    routes: dests.sort(compareDests).map((dest) => destView(rib, dest)),
  };
}

function selectDests(rib: LocRib, query: RouteQuery): { dests: Dest[]; truncated: boolean } {
  if (query.prefix !== undefined) {
    const dest = lookup(rib, query.prefix);
    const matches = dest && (query.afi === undefined || dest.afi === query.afi) ? [dest] : [];
    return { dests: matches, truncated: false };
  }
  const dests: Dest[] = [];
  for (const dest of rib.dests()) {
    if (query.afi !== undefined && dest.afi !== query.afi) continue;
    if (dests.length === query.limit) return { dests, truncated: true };
    dests.push(dest);
  }
  return { dests, truncated: false };
}

/** An exact prefix, or the longest prefix that covers an address (BIRD's `show route for`). */
function lookup(rib: LocRib, text: string): Dest | undefined {
  const { prefix, host } = parseTarget(text);
  if (prefix) return rib.get(prefix);
  for (let length = maxPrefixLength(host.afi); length >= 0; length--) {
    const dest = rib.get(parsePrefix(`${text}/${length}`) as Prefix);
    if (dest) return dest;
  }
  return undefined;
}

function compareDests(a: Dest, b: Dest): number {
  return a.afi - b.afi || a.w0 - b.w0 || a.w1 - b.w1 || a.w2 - b.w2 || a.w3 - b.w3 || a.length - b.length;
}

/** Best first, then losers by how far they got in the decision process, ineligible last. */
function rank(lostAt: LostAt | undefined): number {
  if (lostAt === undefined) return -1;
  if (lostAt === 'ineligible') return DECISION_STEPS.length;
  return DECISION_STEPS.length - DECISION_STEPS.indexOf(lostAt);
}

export function destView(rib: LocRib, dest: Dest) {
  const explained = dest.paths
    .map((path) => ({ path, lostAt: rib.lostAt(dest, path) }))
    .sort((a, b) => rank(a.lostAt) - rank(b.lostAt));
  return {
    prefix: formatPrefix(dest),
    family: destFamily(dest),
    paths: explained.map(({ path, lostAt }) => pathView(rib, dest, path, lostAt)),
  };
}

export function pathView(rib: LocRib, dest: Dest, path: Path, lostAt?: LostAt) {
  return {
    from: path.peer.local ? 'local' : path.peer.name,
    best: dest.best === path,
    ecmp: dest.ecmp.includes(path),
    eligible: path.eligible,
    stale: rib.isStale(dest, path),
    lostAt: dest.best === path ? null : (lostAt ?? null),
    pathId: path.pathId,
    attributes: attributesView(path.attrs.attributes),
  };
}

export function attributesView(a: Readonly<RouteAttributes>) {
  return {
    origin: a.origin === undefined ? null : (ORIGIN_NAMES[a.origin] ?? String(a.origin)),
    asPath: formatAsPath(a.asPath ?? []),
    nextHop: a.nextHop ?? null,
    ...(a.linkLocalNextHop ? { linkLocalNextHop: a.linkLocalNextHop } : {}),
    med: a.multiExitDisc ?? null,
    localPref: a.localPref ?? null,
    ...(a.atomicAggregate ? { atomicAggregate: true } : {}),
    ...(a.aggregator ? { aggregator: `${a.aggregator.asn} ${a.aggregator.address}` } : {}),
    communities: (a.communities ?? []).map((c) => `${c >>> 16}:${c & 0xffff}`),
    ...(a.largeCommunities?.length
      ? {
          largeCommunities: a.largeCommunities.map(
            (c) => `${c.globalAdministrator}:${c.localData1}:${c.localData2}`,
          ),
        }
      : {}),
    ...(a.extendedCommunities?.length
      ? { extendedCommunities: a.extendedCommunities.map((c) => c.toString(16).padStart(16, '0')) }
      : {}),
    originatorId: a.originatorId === undefined ? null : formatIpv4(a.originatorId),
    clusterList: (a.clusterList ?? []).map(formatIpv4),
    ...(a.unknown?.length ? { unknownAttributes: a.unknown.map((u) => u.typeCode) } : {}),
  };
}

/** "64512 64513 {64514,64515}", confederation segments in parentheses (as BIRD prints them). */
export function formatAsPath(segments: readonly AsPathSegment[]): string {
  return segments
    .map((s) => {
      const asns = s.asns.join(' ');
      switch (s.type) {
        case AsPathSegmentType.AsSequence:
          return asns;
        case AsPathSegmentType.AsSet:
          return `{${s.asns.join(',')}}`;
        case AsPathSegmentType.AsConfedSequence:
          return `(${asns})`;
        case AsPathSegmentType.AsConfedSet:
          return `({${s.asns.join(',')}})`;
        default:
          return asns;
      }
    })
    .join(' ');
}
