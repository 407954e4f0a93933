// The kernel FIB as JSON (GET /api/v1/fib, `brindlectl fib`): for every prefix Brindle wants or holds
// in its kernel table, what should be there (kind, next hops), what the kernel holds, and the state
// between the two — installed, pending, failed with the kernel's errno, or stale. Pure functions of
// what the FIB engine reports; a daemon without a FIB (reflector mode, or fib.enabled false) answers
// with `enabled: false` and the reason, not an error: nothing is wrong, there is just nothing to show.

import { Afi } from '../lib/family.ts';
import { formatPrefix, maskWord } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { FibRouteReport, FibRouteState, FibStatus } from '../fib/fib.ts';
import type { FibNextHop, FibRoute } from '../fib/types.ts';
import { HttpError } from './http.ts';
import { checkParameters, familyParameter, limitParameter, parseTarget } from './query.ts';

/** Routes listed when no limit is given, as for GET /api/v1/routes. */
export const DEFAULT_FIB_LIMIT = 1000;
export const MAX_FIB_LIMIT = 100_000;

const STATES: readonly FibRouteState[] = ['installed', 'pending', 'failed', 'stale'];

/** What the daemon's node routing offers the view (daemon/node-routing.ts). */
export interface FibViewSource {
  readonly status: FibStatus;
  fibRoutes(): Iterable<FibRouteReport>;
}

/** Where Brindle's routes live (the daemon config's `fib` section). */
export interface FibPlacement {
  readonly table: number;
  readonly protocol: number;
}

export interface FibQuery {
  /** Exact prefix, or an address for the longest route that covers it. */
  readonly prefix?: Prefix;
  readonly host?: Prefix;
  readonly afi?: Afi;
  readonly state?: FibRouteState;
  readonly limit: number;
}

/** The query string of GET /api/v1/fib, validated (400 on anything unknown). */
export function parseFibQuery(query: URLSearchParams): FibQuery {
  checkParameters(query, ['prefix', 'family', 'state', 'limit']);
  const afi = familyParameter(query);
  const state = query.get('state') ?? undefined;
  if (state !== undefined && !(STATES as readonly string[]).includes(state))
    throw new HttpError(400, `state must be one of ${STATES.join(', ')}, not "${state}"`);
  const limit = limitParameter(query, DEFAULT_FIB_LIMIT, MAX_FIB_LIMIT);
  const text = query.get('prefix');
  const target = text === null ? {} : parseTarget(text);
  return { ...target, afi, state: state as FibRouteState | undefined, limit };
}

/** The FIB's state and its routes, sorted by family, address and length. */
export function fibDocument(source: FibViewSource, placement: FibPlacement, query: FibQuery) {
  const { routes, truncated } = selectRoutes(source.fibRoutes(), query);
  const status = source.status;
  return {
    enabled: true,
    table: placement.table,
    protocol: placement.protocol,
    state: status.state,
    summary: {
      desired: status.desired,
      installed: status.installed,
      pending: status.backlog,
      failed: status.failed,
    },
    count: routes.length,
    truncated,
    routes: routes.map(routeView),
  };
}

/** The answer of a daemon that programs no kernel FIB. */
export function noFibDocument(reason: string) {
  return { enabled: false, reason };
}

function selectRoutes(
  reports: Iterable<FibRouteReport>,
  query: FibQuery,
): { routes: FibRouteReport[]; truncated: boolean } {
  const matches: FibRouteReport[] = [];
  for (const r of reports) {
    if (query.afi !== undefined && r.prefix.afi !== query.afi) continue;
    if (query.state !== undefined && r.state !== query.state) continue;
    if (query.prefix && formatPrefix(r.prefix) !== formatPrefix(query.prefix)) continue;
    if (query.host && !covers(r.prefix, query.host)) continue;
    matches.push(r);
  }
  matches.sort((a, b) => comparePrefixes(a.prefix, b.prefix));
  if (query.host) return { routes: matches.slice(-1), truncated: false }; // the longest match
  return { routes: matches.slice(0, query.limit), truncated: matches.length > query.limit };
}

function covers(route: Prefix, host: Prefix): boolean {
  const n = route.length;
  return (
    route.afi === host.afi &&
    n <= host.length &&
    maskWord(host.w0, n) === route.w0 &&
    maskWord(host.w1, n - 32) === route.w1 &&
    maskWord(host.w2, n - 64) === route.w2 &&
    maskWord(host.w3, n - 96) === route.w3
  );
}

function comparePrefixes(a: Prefix, b: Prefix): number {
  return a.afi - b.afi || a.w0 - b.w0 || a.w1 - b.w1 || a.w2 - b.w2 || a.w3 - b.w3 || a.length - b.length;
}

function routeView(r: FibRouteReport) {
  // A stale route is wanted nowhere: what it is comes from the kernel.
  const shown = (r.desired ?? r.kernel) as FibRoute;
  return {
    prefix: formatPrefix(r.prefix),
    family: r.prefix.afi === Afi.Ipv4 ? 'ipv4' : 'ipv6',
    kind: shown.kind,
    nextHops: nextHopsView(shown),
    state: r.state,
    kernel: r.kernel ? { kind: r.kernel.kind, nextHops: nextHopsView(r.kernel) } : null,
    error: r.failure
      ? {
          errno: r.failure.errno,
          code: r.failure.code,
          message: r.failure.message ?? null,
          attempts: r.failure.attempts,
          retryInMs: r.failure.retryInMs,
        }
      : null,
  };
}

/** The order of an ECMP set means nothing (equal weights): sorted, so the output is stable. */
function nextHopsView(route: FibRoute) {
  if (route.kind === 'blackhole') return [];
  const key = (h: FibNextHop) => `${h.gateway ?? ''} ${h.device ?? ''}`;
  return [...route.nextHops].sort((a, b) => key(a).localeCompare(key(b))).map(nextHopView);
}

function nextHopView(hop: FibNextHop) {
  return {
    gateway: hop.gateway ?? null,
    device: hop.device ?? null,
    ...(hop.onlink ? { onlink: true } : {}),
  };
}
