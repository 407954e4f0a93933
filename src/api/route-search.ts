// The one route query behind GET /api/v1/routes (brindlectl routes) and GET /api/v1/ui/routes (the web
// console): which Loc-RIB destinations match, one page of them in prefix order, and how many match in
// all. A prefix matches exactly, by longest match (an address, or `match=longest`: BIRD's `show route
// for`) or by every longer prefix it covers (`match=longer`: BIRD's `show route in`); `peer`,
// `community` and `nextHop` keep destinations with at least one candidate path that has them.
//
// A 500k-destination table is never copied: one walk counts the matches and keeps only the page, the
// `offset + limit` smallest matches after the cursor (`after`, the last prefix of the previous page),
// in a bounded max-heap. The walk yields to the event loop every WALK_SLICE destinations, so sessions
// keep their keepalives while a query runs. A cursor page is stable while the table changes: what was
// added before the cursor is not shown, nothing is shown twice.

import { formatPrefix, maskWord, maxPrefixLength, parsePrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { LocRib } from '../rib/loc-rib.ts';
import type { Dest, Path } from '../rib/route.ts';
import { destFamily } from '../metrics/rib-census.ts';
import { HttpError } from './http.ts';
import { checkParameters, familyParameter, limitParameter, parseTarget } from './query.ts';

/** Destinations examined per event-loop turn. */
const WALK_SLICE = 25_000;

export type Match = 'exact' | 'longest' | 'longer';

export interface RouteSearch {
  readonly prefix?: Prefix;
  readonly match: Match;
  readonly afi?: number;
  /** A peer's (protocol) name, as paths record it. */
  readonly peer?: string;
  /** RFC 1997 community as its 32-bit value, from "64512:100". */
  readonly community?: number;
  readonly nextHop?: string;
  /** With `peer`: only its paths that take part in the decision (post-policy). */
  readonly eligibleOnly?: boolean;
  /** Any other test a destination must pass (what a peer was sent). */
  readonly where?: (dest: Dest) => boolean;
}

export interface RoutePaging {
  /** Only destinations after this prefix (in prefix order): the previous page's last. */
  readonly after?: Prefix;
  /** Matching destinations skipped before the page (the console's pager). */
  readonly offset: number;
  /** Destinations in the page; 0 counts without listing. */
  readonly limit: number;
}

/** Matching destinations and their candidate paths, by family name ("ipv4-unicast"). */
export type RouteSummary = Record<string, { destinations: number; paths: number }>;

export interface RoutePage {
  /** The page, in prefix order. */
  readonly dests: readonly Dest[];
  /** Every match, whatever the cursor and the page. */
  readonly summary: RouteSummary;
  readonly total: number;
  /** Matches after the page. */
  readonly remaining: number;
}

/** The search parameters both endpoints share (`prefix`, `match`, `family`, filters). */
export const SEARCH_PARAMETERS = ['prefix', 'match', 'family', 'peer', 'community', 'nextHop'] as const;

/** `peer` as the caller gave it (a name or an address) → the name paths record; undefined: as given. */
export type PeerResolver = (key: string) => string | undefined;

export function parseRouteSearch(
  query: URLSearchParams,
  peerName: PeerResolver = () => undefined,
): RouteSearch {
  const text = query.get('prefix')?.trim() || undefined;
  const target = text === undefined ? undefined : parseTarget(text);
  const asked = query.get('match') ?? (target?.host ? 'longest' : 'exact');
  if (asked !== 'exact' && asked !== 'longest' && asked !== 'longer')
    throw new HttpError(400, `match must be exact, longest or longer, not "${asked}"`);
  const peer = query.get('peer') || undefined;
  return {
    prefix: target?.prefix ?? target?.host,
    match: asked,
    afi: familyParameter(query),
    peer: peer && (peerName(peer) ?? peer),
    community: communityParameter(query.get('community')),
    nextHop: query.get('nextHop') || undefined,
  };
}

/** `offset`, `after`, `limit` and `count=true` (count only), checked against the allowed parameters. */
export function parsePaging(
  query: URLSearchParams,
  allowed: readonly string[],
  limits: { fallback: number; max: number },
): RoutePaging {
  checkParameters(query, allowed);
  const offset = Number(query.get('offset') ?? 0);
  if (!Number.isInteger(offset) || offset < 0) throw new HttpError(400, 'offset must be a whole number');
  const afterText = query.get('after');
  const after = afterText === null ? undefined : parsePrefix(afterText);
  if (afterText !== null && !after) throw new HttpError(400, `after must be a prefix, not "${afterText}"`);
  const count = query.get('count');
  if (count !== null && count !== 'true') throw new HttpError(400, `count must be true, not "${count}"`);
  const limit = limitParameter(query, limits.fallback, limits.max);
  return { after, offset, limit: count === 'true' ? 0 : limit };
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

/** Runs the query, yielding to the event loop between slices of the walk. */
export async function findRoutes(
  rib: LocRib | undefined,
  search: RouteSearch,
  paging: RoutePaging,
): Promise<RoutePage> {
  const collector = new PageCollector(paging);
  if (!rib) return collector.page();
  for (const _ of walk(rib, search, collector)) await new Promise((resolve) => setImmediate(resolve));
  return collector.page();
}

/** The same query in one go, for callers that hold no session (tests, small tables). */
export function findRoutesNow(rib: LocRib | undefined, search: RouteSearch, paging: RoutePaging): RoutePage {
  const collector = new PageCollector(paging);
  if (rib) for (const _ of walk(rib, search, collector));
  return collector.page();
}

/** Feeds every match to the collector; yields after each WALK_SLICE destinations examined. */
function* walk(rib: LocRib, search: RouteSearch, collector: PageCollector): Generator<void> {
  let walked = 0;
  for (const dest of candidates(rib, search)) {
    if (++walked % WALK_SLICE === 0) yield;
    if (keeps(dest, search)) collector.add(dest);
  }
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
  if (dest.pathCount === 0) return false;
  if (search.afi !== undefined && dest.afi !== search.afi) return false;
  if (search.match === 'longer' && search.prefix && !covers(search.prefix, dest)) return false;
  if (search.where && !search.where(dest)) return false;
  if (!search.peer && search.community === undefined && !search.nextHop) return true;
  return dest.paths.some((path) => pathKeeps(path, search));
}

function pathKeeps(path: Path, search: RouteSearch): boolean {
  const a = path.attrs.attributes;
  if (search.peer && path.peer.name !== search.peer) return false;
  if (search.eligibleOnly && !path.eligible) return false;
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

/** Prefix order: IPv4 before IPv6, then address, then length (a covering prefix first). */
export function comparePrefixes(a: Prefix, b: Prefix): number {
  return a.afi - b.afi || a.w0 - b.w0 || a.w1 - b.w1 || a.w2 - b.w2 || a.w3 - b.w3 || a.length - b.length;
}

/**
 * Counts every match and keeps the `offset + limit` smallest after the cursor: a max-heap whose top is
 * the largest kept, replaced when a smaller match arrives (O(matches × log page)).
 */
class PageCollector {
  private readonly heap: Dest[] = [];
  private readonly keep: number;
  private afterCursor = 0;
  readonly summary: RouteSummary = {};
  total = 0;

  constructor(private readonly paging: RoutePaging) {
    this.keep = paging.limit === 0 ? 0 : paging.offset + paging.limit;
  }

  add(dest: Dest): void {
    const family = destFamily(dest);
    const figures = (this.summary[family] ??= { destinations: 0, paths: 0 });
    figures.destinations++;
    figures.paths += dest.pathCount;
    this.total++;
    if (this.paging.after && comparePrefixes(dest, this.paging.after) <= 0) return;
    this.afterCursor++;
    if (this.keep === 0) return;
    const heap = this.heap;
    if (heap.length < this.keep) {
      heap.push(dest);
      this.siftUp(heap.length - 1);
    } else if (comparePrefixes(dest, heap[0]) < 0) {
      heap[0] = dest;
      this.siftDown(0);
    }
  }

  page(): RoutePage {
    const sorted = this.heap.sort(comparePrefixes);
    const dests = sorted.slice(this.paging.offset);
    const remaining = Math.max(0, this.afterCursor - this.paging.offset - dests.length);
    return { dests, summary: this.summary, total: this.total, remaining };
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (comparePrefixes(heap[i], heap[parent]) <= 0) return;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < heap.length && comparePrefixes(heap[left], heap[largest]) > 0) largest = left;
      if (right < heap.length && comparePrefixes(heap[right], heap[largest]) > 0) largest = right;
      if (largest === i) return;
      [heap[i], heap[largest]] = [heap[largest], heap[i]];
      i = largest;
    }
  }
}
