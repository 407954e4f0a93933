// Loc-RIB destinations as JSON: every candidate path with its attributes, which one is best, which are
// in the ECMP set, and for each loser the decision step that eliminated it, as the Loc-RIB's own
// decision recorded it (with its configured options), so `brindlectl routes` can say why a route lost.
// Pure functions of the Loc-RIB.

import { AsPathSegmentType, Origin } from '../bgp/constants.ts';
import type { AsPathSegment } from '../bgp/types.ts';
import { formatIpv4 } from '../lib/address.ts';
import type { Afi } from '../lib/family.ts';
import { formatPrefix } from '../lib/prefix.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import { DECISION_STEPS } from '../rib/decision.ts';
import type { LostAt } from '../rib/decision.ts';
import type { LocRib } from '../rib/loc-rib.ts';
import type { Dest, Path } from '../rib/route.ts';
import { destFamily } from '../metrics/rib-census.ts';
import type { RouterView } from '../metrics/source.ts';
import type { Peer } from '../bgp/session/peer.ts';
import { parseTarget } from './query.ts';
import {
  findRoutes,
  findRoutesNow,
  parsePaging,
  parseRouteSearch,
  SEARCH_PARAMETERS,
} from './route-search.ts';
import type { PeerResolver, RoutePage, RoutePaging, RouteSearch } from './route-search.ts';

const ORIGIN_NAMES: Record<number, string> = {
  [Origin.Igp]: 'IGP',
  [Origin.Egp]: 'EGP',
  [Origin.Incomplete]: 'INCOMPLETE',
};

/** Routes listed when no limit is given; a full table is for the CLI to page through, not one reply. */
export const DEFAULT_ROUTE_LIMIT = 1000;
export const MAX_ROUTE_LIMIT = 100_000;

export interface RouteQuery {
  readonly search: RouteSearch;
  readonly paging: RoutePaging;
}

/** The query string of GET /api/v1/routes, validated (400 on anything unknown). */
export function parseRouteQuery(query: URLSearchParams, peerName?: PeerResolver): RouteQuery {
  const paging = parsePaging(query, [...SEARCH_PARAMETERS, 'after', 'limit', 'count'], {
    fallback: DEFAULT_ROUTE_LIMIT,
    max: MAX_ROUTE_LIMIT,
  });
  return { search: parseRouteSearch(query, peerName), paging };
}

/** One page of GET /api/v1/routes; the walk yields to the event loop (route-search.ts). */
export async function queryRoutes(router: RouterView | undefined, query: RouteQuery) {
  const rib = router?.locRib;
  return routePageDocument(rib, await findRoutes(rib, query.search, query.paging), router?.identity);
}

/** The first `limit` routes of a small table at once (an address finds its longest match). */
export function routesDocument(
  rib: LocRib | undefined,
  query: { prefix?: string; afi?: Afi; limit: number },
) {
  const target = query.prefix === undefined ? undefined : parseTarget(query.prefix);
  const search: RouteSearch = {
    prefix: target?.prefix ?? target?.host,
    match: target?.host ? 'longest' : 'exact',
    afi: query.afi,
  };
  return routePageDocument(rib, findRoutesNow(rib, search, { offset: 0, limit: query.limit }));
}

/**
 * `count` routes in this page of `total` matching, `more` after it (`next` is the cursor for them),
 * and the matches by family.
 */
function routePageDocument(rib: LocRib | undefined, page: RoutePage, identity?: Identity) {
  const last = page.dests.at(-1);
  return {
    count: page.dests.length,
    total: page.total,
    more: page.remaining,
    next: page.remaining > 0 && last ? formatPrefix(last) : null,
    truncated: page.remaining > 0,
    summary: page.summary,
    routes: rib ? page.dests.map((dest) => destView(rib, dest, identity)) : [],
  };
}

/**
 * GET /api/v1/peers/PEER/received: the paths the peer sent us (its Adj-RIB-In; `accepted=true`: only
 * those the decision may use). /advertised: what its session was sent (its Adj-RIB-Out), with the
 * attributes as sent. Pages as GET /api/v1/routes does.
 */
export async function peerRoutes(
  router: RouterView | undefined,
  peer: Peer,
  view: 'received' | 'advertised',
  query: URLSearchParams,
) {
  const paging = parsePaging(query, ['after', 'limit', 'accepted'], {
    fallback: DEFAULT_ROUTE_LIMIT,
    max: MAX_ROUTE_LIMIT,
  });
  const name = peer.config.name;
  const title = { peer: peer.config.bgpPeer ? `${name} (${peer.config.bgpPeer})` : name };
  const rib = router?.locRib;
  if (view === 'received') {
    const eligibleOnly = query.get('accepted') === 'true';
    const search: RouteSearch = { match: 'exact', peer: name, eligibleOnly };
    const doc = routePageDocument(rib, await findRoutes(rib, search, paging), router?.identity);
    const own = (p: { from: string; eligible: boolean }) => p.from === name && (!eligibleOnly || p.eligible);
    return { ...title, ...doc, routes: doc.routes.map((r) => ({ ...r, paths: r.paths.filter(own) })) };
  }
  const sent = router?.adjRibOut.advertisedTo?.(name);
  const search: RouteSearch = { match: 'exact', where: (dest) => (sent ? sent(dest).length > 0 : false) };
  const page = await findRoutes(sent ? rib : undefined, search, paging);
  const doc = routePageDocument(undefined, page);
  const routes = page.dests.map((dest) => ({
    prefix: formatPrefix(dest),
    family: destFamily(dest),
    paths: (sent?.(dest) ?? []).map(({ attrs, source }) => ({
      from: source.local ? 'local' : source.name,
      best: true,
      ecmp: false,
      eligible: true,
      lostAt: null,
      attributes: attributesView(attrs.attributes),
    })),
  }));
  return { ...title, ...doc, routes };
}

/** Best first, then losers by how far they got in the decision process, ineligible last. */
function rank(lostAt: LostAt | undefined): number {
  if (lostAt === undefined) return -1;
  if (lostAt === 'ineligible') return DECISION_STEPS.length;
  return DECISION_STEPS.length - DECISION_STEPS.indexOf(lostAt);
}

export function destView(rib: LocRib, dest: Dest, identity?: Identity) {
  const explained = dest.paths
    .map((path) => ({ path, lostAt: rib.lostAt(dest, path) }))
    .sort((a, b) => rank(a.lostAt) - rank(b.lostAt));
  return {
    prefix: formatPrefix(dest),
    family: destFamily(dest),
    paths: explained.map(({ path, lostAt }) => pathView(rib, dest, path, lostAt, identity)),
  };
}

export function pathView(rib: LocRib, dest: Dest, path: Path, lostAt?: LostAt, identity?: Identity) {
  return {
    from: path.peer.local ? 'local' : path.peer.name,
    best: dest.best === path,
    ecmp: dest.ecmp.includes(path),
    eligible: path.eligible,
    ineligible: ineligibleReason(path, identity),
    stale: rib.isStale(dest, path),
    lostAt: dest.best === path ? null : (lostAt ?? null),
    pathId: path.pathId,
    attributes: attributesView(path.attrs.attributes),
  };
}

/** The speaker's identity, which the loop checks compare a path's attributes with. */
type Identity = RouterView['identity'];

/**
 * Why a path takes no part in the decision, in the words of the rule that excluded it: RFC 4271
 * §9.1.2 (unresolvable NEXT_HOP, our AS in the AS_PATH), RFC 4456 §8 (our ORIGINATOR_ID or CLUSTER_ID)
 * or §6.3 (the NEXT_HOP is our own address). The path records only that it is not loop-free; which
 * check said so is read again from its attributes, in the order the ingress applies them.
 */
export function ineligibleReason(path: Path, identity: Identity | undefined): string | null {
  if (path.eligible) return null;
  if (!path.reachable) return 'next hop unresolved';
  if (!identity) return 'loop';
  const a = path.attrs.attributes;
  if (a.originatorId === identity.routerId) return 'ORIGINATOR_ID is ours';
  if (a.clusterList?.includes(identity.clusterId)) return 'CLUSTER_LIST loop';
  if (path.attrs.containsAs(identity.localAs)) return 'AS_PATH loop';
  return 'NEXT_HOP is our own address';
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
