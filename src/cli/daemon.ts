// brindlectl commands that ask the running daemon (over its unix socket, api.socket): `status` (like
// `calicoctl node status` / `birdc show protocols`), `peers`, `routes`, `fib`. No routing logic here:
// the daemon's JSON API is the source, this only prints it. Options are checked here (exit 2); a
// prefix the daemon cannot parse is its 400 message (exit 1).

import http from 'node:http';
import { CliError, EXIT, optionValue, UsageError } from './command.ts';
import type { Command, CommandContext, OptionSpec, ParsedArgs } from './command.ts';
import { formatDocument, formatTable } from './output.ts';

const REQUEST_TIMEOUT_MS = 5000;
const OUTPUT: OptionSpec = { long: 'output', short: 'o', value: true };

/** GET a path of the daemon's API over its unix socket; a daemon that does not answer is exit 3. */
function getJson(socketPath: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const unavailable = (why: string) =>
      reject(
        new CliError(EXIT.unavailable, [
          `Brindle is not running, or its API socket ${socketPath} does not answer (${why}).`,
        ]),
      );
    const req = http.get({ socketPath, path, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if ((res.statusCode ?? 500) >= 400) {
          const error = safeParse(body)?.error;
          const message = typeof error === 'string' ? error : body;
          return reject(new CliError(EXIT.failed, [message]));
        }
        resolve(JSON.parse(body));
      });
    });
    req.on('timeout', () => {
      req.destroy();
      unavailable(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
    });
    req.on('error', (e: NodeJS.ErrnoException) => unavailable(e.code ?? e.message));
  });
}

function safeParse(text: string): { error?: unknown } | undefined {
  try {
    return JSON.parse(text) as { error?: unknown };
  } catch {
    return undefined;
  }
}

function outputFormat(args: ParsedArgs): 'table' | 'yaml' | 'json' | 'wide' {
  const o = args.options.get('output');
  if (o === undefined) return 'table';
  if (o === 'yaml' || o === 'json' || o === 'wide') return o;
  throw new UsageError(`unknown output format "${String(o)}" (table, wide, yaml or json)`);
}

function print(context: CommandContext, args: ParsedArgs, document: unknown, table: () => string): void {
  const format = outputFormat(args);
  context.io.out(format === 'yaml' || format === 'json' ? formatDocument(document, format) : table());
}

interface StatusPeer {
  name: string;
  remote: string;
  type: string;
  addressFamily: string;
  state: string;
  since: string;
  info: string;
}

const PEER_TYPES: Record<string, string> = {
  mesh: 'node-to-node mesh',
  global: 'global',
  node: 'node specific',
};

function statusTable(
  doc: { router?: { routerId?: string; localAs?: number }; peers: StatusPeer[] },
  wide: boolean,
): string {
  const lines: string[] = [
    `Brindle is running (router ID ${doc.router?.routerId ?? '-'}, AS ${doc.router?.localAs ?? '-'}).`,
  ];
  for (const family of ['ipv4', 'ipv6']) {
    const peers = doc.peers.filter((p) => p.addressFamily === family);
    lines.push('', `${family === 'ipv4' ? 'IPv4' : 'IPv6'} BGP status`);
    if (peers.length === 0) {
      lines.push(`No ${family === 'ipv4' ? 'IPv4' : 'IPv6'} peers found.`);
      continue;
    }
    const rows = peers.map((p) => {
      const type = PEER_TYPES[p.type] ?? p.type;
      const state = p.state === 'Established' ? 'up' : p.state === 'Idle' ? 'down' : 'start';
      return wide
        ? [p.name, p.remote, type, state, p.state, p.since, p.info]
        : [p.remote, type, state, p.since, p.info];
    });
    const header = wide
      ? ['NAME', 'PEER ADDRESS', 'PEER TYPE', 'STATE', 'BGP STATE', 'SINCE', 'INFO']
      : ['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO'];
    lines.push(formatTable(header, rows).trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

const status: Command = {
  name: 'status',
  summary: 'Show every BGP session of the running daemon (like calicoctl node status)',
  help: 'usage: brindlectl status [-o table|wide|yaml|json]\n\nOne line per peer: address, type, state, since, info; wide adds the name and the BGP state.',
  options: [OUTPUT],
  async run(args, context) {
    const doc = (await getJson(context.config().api.socket, '/api/v1/status')) as Parameters<
      typeof statusTable
    >[0];
    print(context, args, doc, () => statusTable(doc, outputFormat(args) === 'wide'));
  },
};

const peers: Command = {
  name: 'peers',
  summary: 'Show BGP peers in detail: capabilities, timers, counters, last error',
  help: 'usage: brindlectl peers [NAME|ADDRESS] [-o yaml|json]\n\nDetail of every peer, or of one.',
  options: [OUTPUT],
  async run(args, context) {
    const which = args.positionals[0];
    const doc = await getJson(
      context.config().api.socket,
      which ? `/api/v1/peers/${encodeURIComponent(which)}` : '/api/v1/peers',
    );
    // Peer detail is nested: YAML is the readable default.
    context.io.out(formatDocument(doc, outputFormat(args) === 'json' ? 'json' : 'yaml'));
  },
};

interface RoutePath {
  from: string;
  best: boolean;
  ecmp: boolean;
  eligible: boolean;
  lostAt: string | null;
  attributes: {
    nextHop?: string;
    asPath?: string;
    localPref?: number | null;
    med?: number | null;
    originatorId?: string | null;
  };
}

/** Why a path is or is not the best; an ECMP member forwards too, though it lost the tie-break. */
function routeWhy(p: RoutePath): string {
  if (p.best) return 'best';
  if (!p.eligible) return 'ineligible';
  return `${p.ecmp ? 'ecmp, ' : ''}lost at ${p.lostAt ?? '?'}`;
}

function routesTable(doc: { routes: { prefix: string; paths: RoutePath[] }[] }, wide: boolean): string {
  const rows = doc.routes.flatMap((r) =>
    r.paths.map((p) => {
      const row = [r.prefix, p.best ? '*' : '', p.attributes.nextHop ?? '', p.from, routeWhy(p)];
      return wide
        ? [
            ...row,
            p.attributes.asPath ?? '',
            String(p.attributes.localPref ?? ''),
            String(p.attributes.med ?? ''),
            p.attributes.originatorId ?? '',
          ]
        : row;
    }),
  );
  const header = ['PREFIX', 'BEST', 'NEXT HOP', 'FROM', 'WHY'];
  return formatTable(wide ? [...header, 'AS PATH', 'LOCAL PREF', 'MED', 'ORIGINATOR'] : header, rows);
}

const routes: Command = {
  name: 'routes',
  summary: 'Show best and candidate paths, and the decision step each loser lost at',
  help: 'usage: brindlectl routes [PREFIX|ADDRESS] [--family ipv4|ipv6] [-o table|wide|yaml|json]',
  options: [OUTPUT, { long: 'family', value: true }],
  async run(args, context) {
    const query = new URLSearchParams();
    if (args.positionals[0]) query.set('prefix', args.positionals[0]);
    const family = args.options.get('family');
    if (family !== undefined) {
      if (family !== 'ipv4' && family !== 'ipv6')
        throw new UsageError(`--family must be ipv4 or ipv6, not "${String(family)}"`);
      query.set('family', family);
    }
    const doc = (await getJson(
      context.config().api.socket,
      `/api/v1/routes?${query.toString()}`,
    )) as Parameters<typeof routesTable>[0];
    print(context, args, doc, () => routesTable(doc, outputFormat(args) === 'wide'));
  },
};

interface FibHop {
  gateway: string | null;
  device: string | null;
  onlink?: boolean;
}

interface FibRouteRow {
  prefix: string;
  family: string;
  kind: string;
  nextHops: FibHop[];
  state: string;
  kernel: { kind: string; nextHops: FibHop[] } | null;
  error: { code: string; message: string | null } | null;
}

type FibDoc =
  | { enabled: false; reason: string }
  | {
      enabled: true;
      table: number;
      protocol: number;
      state: string;
      summary: { desired: number; installed: number; pending: number; failed: number };
      truncated: boolean;
      routes: FibRouteRow[];
    };

/** "10.0.0.2 dev eth0, 10.0.1.2 dev eth1"; "-" for a blackhole. */
function formatHops(kind: string, hops: readonly FibHop[]): string {
  if (kind === 'blackhole') return '-';
  const hop = (h: FibHop) =>
    [h.gateway, h.device && `dev ${h.device}`, h.onlink && 'onlink'].filter(Boolean).join(' ');
  return hops.map(hop).join(', ');
}

/** Why a route is not simply installed, in a few words. */
function fibInfo(r: FibRouteRow): string {
  if (r.error) return r.error.message ? `${r.error.code}: ${r.error.message}` : r.error.code;
  if (r.state === 'pending')
    return r.kernel ? `kernel has ${formatHops(r.kernel.kind, r.kernel.nextHops)}` : 'not in the kernel yet';
  if (r.state === 'stale') return 'no longer desired';
  return '';
}

function fibTable(doc: FibDoc, wide: boolean): string {
  if (!doc.enabled) return `No kernel FIB: ${doc.reason}.\n`;
  const s = doc.summary;
  const lines = [
    `Kernel FIB: table ${doc.table}, protocol ${doc.protocol}, ${doc.state}: ${s.desired} desired, ` +
      `${s.installed} installed, ${s.pending} pending, ${s.failed} failed.`,
    '',
  ];
  if (doc.routes.length === 0) return `${[...lines, 'No routes.'].join('\n')}\n`;
  const rows = doc.routes.map((r) => {
    const hops = formatHops(r.kind, r.nextHops);
    const kernel = r.kernel ? formatHops(r.kernel.kind, r.kernel.nextHops) : 'absent';
    return wide
      ? [r.prefix, r.family, r.kind, hops, kernel, r.state, fibInfo(r)]
      : [r.prefix, r.kind, hops, r.state, fibInfo(r)];
  });
  const header = wide
    ? ['PREFIX', 'FAMILY', 'KIND', 'NEXT HOPS', 'KERNEL', 'STATE', 'INFO']
    : ['PREFIX', 'KIND', 'NEXT HOPS', 'STATE', 'INFO'];
  const more = doc.truncated
    ? '(more routes: narrow with PREFIX, --family or --state, or raise --limit)\n'
    : '';
  return `${lines.join('\n')}\n${formatTable(header, rows)}${more}`;
}

const FIB_STATES = ['installed', 'pending', 'failed', 'stale'];

function fibQuery(args: ParsedArgs): URLSearchParams {
  const query = new URLSearchParams();
  if (args.positionals[0]) query.set('prefix', args.positionals[0]);
  const family = optionValue(args, 'family');
  if (family !== undefined && family !== 'ipv4' && family !== 'ipv6')
    throw new UsageError(`--family must be ipv4 or ipv6, not "${family}"`);
  const state = optionValue(args, 'state');
  if (state !== undefined && !FIB_STATES.includes(state))
    throw new UsageError(`--state must be one of ${FIB_STATES.join(', ')}, not "${state}"`);
  const limit = optionValue(args, 'limit');
  if (limit !== undefined && !/^[1-9]\d{0,5}$/.test(limit))
    throw new UsageError(`--limit must be a positive number, not "${limit}"`);
  for (const [name, value] of Object.entries({ family, state, limit }))
    if (value !== undefined) query.set(name, value);
  return query;
}

const fib: Command = {
  name: 'fib',
  summary: 'Show what is in the kernel FIB versus what should be',
  help: `usage: brindlectl fib [PREFIX|ADDRESS] [--family ipv4|ipv6] [--state STATE] [--limit N]
                     [-o table|wide|yaml|json]

Every route Brindle wants in its kernel table or holds there: kind, next hops, and its state —
installed, pending (a write queued or in flight), failed (the kernel refused it: errno and message;
retried with backoff) or stale (in the kernel, no longer desired). An ADDRESS shows the longest route
that covers it. A route reflector programs no kernel routes and says so.`,
  options: [
    OUTPUT,
    { long: 'family', value: true },
    { long: 'state', value: true },
    { long: 'limit', value: true },
  ],
  async run(args, context) {
    const query = fibQuery(args);
    const path = `/api/v1/fib${query.size > 0 ? `?${query.toString()}` : ''}`;
    const doc = (await getJson(context.config().api.socket, path)) as FibDoc;
    print(context, args, doc, () => fibTable(doc, outputFormat(args) === 'wide'));
  },
};

export const daemonCommands: readonly Command[] = [status, peers, routes, fib];
