// `brindlectl routes` (like `birdc show route` and `gobgp global rib`): the Loc-RIB's destinations with
// every candidate path, which is best and why each other lost, from the daemon's GET /api/v1/routes.
// Nothing is cut silently: a page ends with how many more match and how to see them; --all pages
// through the whole table with the cursor the daemon hands out, printing each page as it arrives, so
// neither side ever holds a 500k-route table; --count prints only the figures.

import { optionValue, OUTPUT_OPTION, UsageError } from './command.ts';
import type { Command, CommandContext, ParsedArgs } from './command.ts';
import { formatDocument, TableStream } from './output.ts';
import { callDaemon } from './socket.ts';

/** Destinations per page when no --limit is given, and per request under --all. */
const DEFAULT_LIMIT = 1000;
const ALL_PAGE = 25_000;
const MAX_LIMIT = 100_000;
/** A page of a large table walks it all: more time than an ordinary call. */
const PAGE_TIMEOUT_MS = 60_000;

export interface RoutePath {
  from: string;
  best: boolean;
  ecmp: boolean;
  eligible: boolean;
  ineligible?: string | null;
  stale?: boolean;
  lostAt: string | null;
  attributes: {
    nextHop?: string | null;
    asPath?: string;
    localPref?: number | null;
    med?: number | null;
    communities?: string[];
    originatorId?: string | null;
  };
}

export interface RouteDest {
  prefix: string;
  paths: RoutePath[];
}

interface RoutesDoc {
  count: number;
  total: number;
  more: number;
  next: string | null;
  summary: Record<string, { destinations: number; paths: number }>;
  routes: RouteDest[];
}

/** Why a path is or is not the best; an ECMP member forwards too, though it lost the tie-break. */
export function routeWhy(p: RoutePath): string {
  const why = p.best
    ? 'best'
    : !p.eligible
      ? `ineligible${p.ineligible ? `: ${p.ineligible}` : ''}`
      : `${p.ecmp ? 'ecmp, ' : ''}lost at ${p.lostAt ?? '?'}`;
  return p.stale ? `${why} (stale)` : why;
}

const HEADER = ['PREFIX', 'BEST', 'NEXT HOP', 'FROM', 'WHY'];
const WIDE_HEADER = [...HEADER, 'AS PATH', 'LOCAL PREF', 'MED', 'COMMUNITIES', 'ORIGINATOR'];

export function routeRows(routes: readonly RouteDest[], wide: boolean): string[][] {
  return routes.flatMap((r) =>
    r.paths.map((p) => {
      const a = p.attributes;
      const row = [r.prefix, p.best ? '*' : '', a.nextHop ?? '', p.from, routeWhy(p)];
      if (!wide) return row;
      const extra = [a.asPath ?? '', String(a.localPref ?? ''), String(a.med ?? '')];
      return [...row, ...extra, (a.communities ?? []).join(' '), a.originatorId ?? ''];
    }),
  );
}

export function routeTable(wide: boolean): TableStream {
  return new TableStream(wide ? WIDE_HEADER : HEADER);
}

/** Query parameter → option. */
const FILTERS = { peer: 'peer', community: 'community', nextHop: 'next-hop' } as const;

/** `routes 10.0.0.0/8`, `routes 10.1.2.3`, `routes for 10.1.2.3`, with --longer and the filters. */
function searchQuery(args: ParsedArgs): URLSearchParams {
  const query = new URLSearchParams();
  const [first, second, extra] = args.positionals;
  const forAddress = first === 'for';
  const target = forAddress ? second : first;
  if ((forAddress ? extra : second) !== undefined)
    throw new UsageError(`unexpected argument "${forAddress ? extra : second}"`);
  if (forAddress && target === undefined) throw new UsageError('"for" needs an address');
  if (target !== undefined) query.set('prefix', target);
  if (forAddress) query.set('match', 'longest');
  if (args.options.has('longer')) {
    if (target === undefined || forAddress) throw new UsageError('--longer needs a PREFIX');
    query.set('match', 'longer');
  }
  const family = optionValue(args, 'family');
  if (family !== undefined && family !== 'ipv4' && family !== 'ipv6')
    throw new UsageError(`--family must be ipv4 or ipv6, not "${family}"`);
  if (family !== undefined) query.set('family', family);
  for (const [parameter, option] of Object.entries(FILTERS)) {
    const value = optionValue(args, option);
    if (value !== undefined) query.set(parameter, value);
  }
  return query;
}

function pageLimit(args: ParsedArgs): number {
  const text = optionValue(args, 'limit');
  const paging = ['limit', 'all', 'count'].filter((o) => args.options.has(o));
  if (paging.length > 1) throw new UsageError(`--${paging.join(' and --')} exclude each other`);
  if (text === undefined) return DEFAULT_LIMIT;
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > MAX_LIMIT)
    throw new UsageError(`--limit must be a number from 1 to ${MAX_LIMIT}, not "${text}"`);
  return limit;
}

function formatOf(args: ParsedArgs): 'table' | 'wide' | 'yaml' | 'json' {
  const o = optionValue(args, 'output') ?? 'table';
  if (o === 'table' || o === 'wide' || o === 'yaml' || o === 'json') return o;
  throw new UsageError(`unknown output format "${o}" (table, wide, yaml or json)`);
}

function fetchPage(context: CommandContext, query: URLSearchParams): Promise<RoutesDoc> {
  const path = `/api/v1/routes?${query.toString()}`;
  return callDaemon(context.config().api.socket, path, { timeoutMs: PAGE_TIMEOUT_MS }) as Promise<RoutesDoc>;
}

const count = (n: number) => n.toLocaleString('en-US');

/** `gobgp global rib summary`: destinations and paths by family, and the total. */
function summaryTable(doc: RoutesDoc): string {
  const families = [...new Set(['ipv4-unicast', 'ipv6-unicast', ...Object.keys(doc.summary)])];
  const total = { destinations: 0, paths: 0 };
  const rows = families.map((family) => {
    const f = doc.summary[family] ?? { destinations: 0, paths: 0 };
    total.destinations += f.destinations;
    total.paths += f.paths;
    return [family, count(f.destinations), count(f.paths)];
  });
  rows.push(['total', count(total.destinations), count(total.paths)]);
  return new TableStream(['FAMILY', 'DESTINATIONS', 'PATHS']).page(rows);
}

/** The line after a cut page: how many more, and how to see them. */
function moreNotice(doc: RoutesDoc): string {
  return (
    `... ${count(doc.more)} more of ${count(doc.total)} matching destinations: ` +
    'raise --limit, use --all or --count, or narrow with PREFIX --longer, --peer, --community, --next-hop, --family\n'
  );
}

async function printAll(context: CommandContext, query: URLSearchParams, format: string): Promise<void> {
  const table = routeTable(format === 'wide');
  const io = context.io;
  query.set('limit', String(ALL_PAGE));
  let listed = 0;
  if (format === 'yaml') io.out('routes:\n');
  if (format === 'json') io.out('{\n  "routes": [');
  for (;;) {
    const doc = await fetchPage(context, query);
    if (format === 'table' || format === 'wide') io.out(table.page(routeRows(doc.routes, format === 'wide')));
    else if (format === 'yaml' && doc.routes.length > 0) io.out(formatDocument(doc.routes, 'yaml'));
    else if (format === 'json') io.out(jsonItems(doc.routes, listed > 0));
    listed += doc.count;
    if (doc.next === null) break;
    query.set('after', doc.next);
  }
  if (format === 'json') io.out(`${listed > 0 ? '\n  ' : ''}],\n  "count": ${listed}\n}\n`);
}

/** Routes as elements of the "routes" array of a JSON document printed piece by piece. */
function jsonItems(routes: readonly RouteDest[], continued: boolean): string {
  const items = routes.map((r) => `    ${JSON.stringify(r, null, 2).replaceAll('\n', '\n    ')}`);
  return items.length === 0 ? '' : `${continued ? ',' : ''}\n${items.join(',\n')}`;
}

async function runRoutes(args: ParsedArgs, context: CommandContext): Promise<void> {
  const query = searchQuery(args);
  const format = formatOf(args);
  const structured = format === 'yaml' || format === 'json';
  const limit = pageLimit(args);
  if (args.options.has('count')) {
    query.set('count', 'true');
    const doc = await fetchPage(context, query);
    const figures = { total: doc.total, summary: doc.summary };
    context.io.out(structured ? formatDocument(figures, format) : summaryTable(doc));
    return;
  }
  if (args.options.has('all')) return printAll(context, query, format);
  query.set('limit', String(limit));
  const doc = await fetchPage(context, query);
  if (structured) {
    context.io.out(formatDocument(doc, format));
    if (doc.more > 0) context.io.err(moreNotice(doc));
    return;
  }
  const table = routeTable(format === 'wide');
  const rows = routeRows(doc.routes, format === 'wide');
  context.io.out(rows.length === 0 ? 'No matching routes.\n' : table.page(rows));
  if (doc.more > 0) context.io.out(moreNotice(doc));
}

export const routesCommand: Command = {
  name: 'routes',
  summary: 'Show best and candidate paths, why each loser lost; page, count, look up, filter',
  help: `usage: brindlectl routes [PREFIX [--longer] | ADDRESS | for ADDRESS] [--family ipv4|ipv6]
                        [--peer PEER] [--community ASN:VALUE] [--next-hop ADDRESS]
                        [--limit N | --all | --count] [-o table|wide|yaml|json]

The Loc-RIB in prefix order: every candidate path of each destination, the best marked, and for the
others the step of the decision process they lost at, or why they are ineligible (next hop
unresolved, AS_PATH or CLUSTER_LIST loop, ORIGINATOR_ID is ours, NEXT_HOP is our own address);
paths kept stale by graceful restart say so. At most ${DEFAULT_LIMIT} destinations unless told otherwise;
a cut list ends with how many more match.

  PREFIX           that prefix exactly; with --longer, it and every more specific one
  ADDRESS, for ADDRESS
                   the longest prefix that covers the address

Options:
  --longer                 the prefix and every more specific one (BIRD's "show route in")
  --family FAMILY          ipv4 or ipv6
  --peer PEER              destinations with a path from this peer (name or address)
  --community ASN:VALUE    destinations with a path carrying this community
  --next-hop ADDRESS       destinations with a path through this next hop
  --limit N                at most N destinations (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})
  --all                    every matching destination, fetched and printed page by page
  --count                  only the number of destinations and paths, by family
  -o, --output FORMAT      table (default), wide (adds AS path, local pref, MED, communities,
                           originator), yaml or json`,
  options: [
    OUTPUT_OPTION,
    { long: 'family', value: true, choices: ['ipv4', 'ipv6'] },
    { long: 'longer' },
    { long: 'peer', value: true },
    { long: 'community', value: true },
    { long: 'next-hop', value: true },
    { long: 'limit', value: true },
    { long: 'all' },
    { long: 'count' },
  ],
  words: ['for'],
  examples: [
    'brindlectl routes',
    'brindlectl routes --count',
    'brindlectl routes for 10.65.3.7',
    'brindlectl routes 10.0.0.0/8 --longer',
    'brindlectl routes --peer rack1-tor --community 64512:100 --all',
  ],
  run: runRoutes,
};
