// GET /api/v1/ui/routes: the web console's route search, one page at a time, so a browser never loads
// a 500k-route table. A prefix matches exactly, by longest match (an address, or `match=longest`) or
// by every longer prefix it covers (`match=longer`, BIRD's `show route in`); `peer`, `community` and
// `nextHop` keep destinations with at least one candidate path that has them. Pages are offsets into
// the matching destinations in the Loc-RIB's own order: cheap and stable while the table is quiet.

import { formatPrefix, maskWord, maxPrefixLength, parsePrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { LocRib } from '../rib/loc-rib.ts';
import type { Dest, Path } from '../rib/route.ts';
import { HttpError } from './http.ts';
import { checkParameters, familyParameter, limitParameter, parseTarget } from './query.ts';
import { destView } from './route-view.ts';

export const UI_PAGE_SIZE = 50;
/** Destinations examined per event-loop turn. */
const WALK_SLICE = 25_000;
const MAX_UI_PAGE = 500;

type Match = 'exact' | 'longest' | 'longer';

export interface RouteSearch {
  readonly prefix?: Prefix;
  readonly match: Match;
  readonly afi?: number;
  readonly peer?: string;
  /** RFC 1997 community as its 32-bit value, from "64512:100". */
  readonly community?: number;
  readonly nextHop?: string;
  readonly offset: number;
  readonly limit: number;
}

export function parseRouteSearch(query: URLSearchParams): RouteSearch {
  checkParameters(query, ['prefix', 'match', 'family', 'peer', 'community', 'nextHop', 'offset', 'limit']);
  const text = query.get('prefix')?.trim() || undefined;
  const target = text === undefined ? undefined : parseTarget(text);
  const asked = query.get('match') ?? (target?.host ? 'longest' : 'exact');
  if (asked !== 'exact' && asked !== 'longest' && asked !== 'longer')
    throw new HttpError(400, `match must be exact, longest or longer, not "${asked}"`);
  const offset = Number(query.get('offset') ?? 0);
  if (!Number.isInteger(offset) || offset < 0) throw new HttpError(400, 'offset must be a whole number');
  return {
    prefix: target?.prefix ?? target?.host,
    match: asked,
    afi: familyParameter(query),
    peer: query.get('peer') || undefined,
    community: communityParameter(query.get('community')),
    nextHop: query.get('nextHop') || undefined,
    offset,
    limit: limitParameter(query, UI_PAGE_SIZE, MAX_UI_PAGE),
  };
}

/** "64512:100" → 64512 × 65536 + 100; undefined when absent. */
function communityParameter(text: string | null): number | undefined {
  if (!text) return undefined;
  const match = /^(\d{1,5}):(\d{1,5})$/.exec(text.trim());
  const high = Number(match?.[1]);
  const low = Number(match?.[2]);
  if (!match || high > 0xffff || low > 0xffff)
    throw new HttpError(400, `community must be ASN:VALUE (each 0–65535), not "${text}"`);
  return high * 65536 + low;
}

/**
 * One page of matching destinations, and whether more follow. A filtered walk may cover the whole
 * table (about a second for 500k destinations), so it yields to the event loop every WALK_SLICE
 * destinations: sessions keep their keepalives while a search runs.
 */
export async function searchRoutes(rib: LocRib | undefined, search: RouteSearch) {
  const routes: ReturnType<typeof destView>[] = [];
  if (!rib) return { offset: search.offset, more: false, routes };
  let matched = 0;
  let walked = 0;
  for (const dest of candidates(rib, search)) {
    if (++walked % WALK_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    if (!keeps(dest, search)) continue;
    if (matched++ < search.offset) continue;
    if (routes.length === search.limit) return { offset: search.offset, more: true, routes };
    routes.push(destView(rib, dest));
  }
  return { offset: search.offset, more: false, routes };
}

function* candidates(rib: LocRib, search: RouteSearch): Iterable<Dest> {
  const prefix = search.prefix;
  if (!prefix || search.match === 'longer') {
    yield* rib.dests();
    return;
  }
  const dest = search.match === 'exact' ? rib.get(prefix) : longestMatch(rib, prefix);
  if (dest) yield dest;
}

/** The longest prefix in the Loc-RIB that covers `prefix` (BIRD's `show route for`). */
function longestMatch(rib: LocRib, prefix: Prefix): Dest | undefined {
  const address = formatPrefix({ ...prefix, length: maxPrefixLength(prefix.afi) }).split('/')[0];
  for (let length = prefix.length; length >= 0; length--) {
    const dest = rib.get(parsePrefix(`${address}/${length}`) as Prefix);
    if (dest) return dest;
  }
  return undefined;
}

function keeps(dest: Dest, search: RouteSearch): boolean {
  if (search.afi !== undefined && dest.afi !== search.afi) return false;
  if (search.match === 'longer' && search.prefix && !covers(search.prefix, dest)) return false;
  if (!search.peer && !search.community && !search.nextHop) return true;
  return dest.paths.some((path) => pathKeeps(path, search));
}

function pathKeeps(path: Path, search: RouteSearch): boolean {
  const a = path.attrs.attributes;
  if (search.peer && path.peer.name !== search.peer) return false;
  if (search.nextHop && a.nextHop !== search.nextHop) return false;
  if (search.community !== undefined && !(a.communities ?? []).includes(search.community)) return false;
  return true;
}

/** `outer` covers `inner`: same family, no shorter, and equal in outer's first `length` bits. */
export function covers(outer: Prefix, inner: Prefix): boolean {
  if (outer.afi !== inner.afi || inner.length < outer.length) return false;
  for (let i = 0; i < 4; i++) {
    const bits = Math.min(32, Math.max(0, outer.length - 32 * i));
    if (maskWord(word(inner, i), bits) !== maskWord(word(outer, i), bits)) return false;
  }
  return true;
}

/** Word `i` of a prefix without building an array (this runs once per destination of a walk). */
function word(p: Prefix, i: number): number {
  return i === 0 ? p.w0 : i === 1 ? p.w1 : i === 2 ? p.w2 : p.w3;
}
