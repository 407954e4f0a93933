// GET /api/v1/ui/routes: the web console's route search, one page at a time, so a browser never loads
// a 500k-route table. The query is brindlectl's (route-search.ts); the console pages by offset.

import type { RouterView } from '../metrics/source.ts';
import { findRoutes, parsePaging, parseRouteSearch, SEARCH_PARAMETERS } from './route-search.ts';
import type { PeerResolver, RoutePaging, RouteSearch } from './route-search.ts';
import { destView } from './route-view.ts';

export const UI_PAGE_SIZE = 50;
const MAX_UI_PAGE = 500;

export interface UiRouteSearch {
  readonly search: RouteSearch;
  readonly paging: RoutePaging;
}

export function parseUiRouteSearch(query: URLSearchParams, peerName?: PeerResolver): UiRouteSearch {
  const paging = parsePaging(query, [...SEARCH_PARAMETERS, 'offset', 'limit', 'count'], {
    fallback: UI_PAGE_SIZE,
    max: MAX_UI_PAGE,
  });
  return { search: parseRouteSearch(query, peerName), paging };
}

/** One page of matching destinations, whether more follow, and how many match in all. */
export async function searchRoutes(router: RouterView | undefined, { search, paging }: UiRouteSearch) {
  const rib = router?.locRib;
  const page = await findRoutes(rib, search, paging);
  return {
    offset: paging.offset,
    more: page.remaining > 0,
    total: page.total,
    routes: rib ? page.dests.map((dest) => destView(rib, dest, router?.identity)) : [],
  };
}
