// brindlectl commands that ask the running daemon (over its unix socket, api.socket): `status` (like
// `calicoctl node status` / `gobgp neighbor`), `peers` (detail, and what a peer sent us and what we
// advertise to it), `routes` (routes.ts), `fib`. No routing logic here: the daemon's JSON API is the
// source, this only prints it. Options are checked here (exit 2); a prefix the daemon cannot parse is
// its 400 message (exit 1).

import { optionValue, OUTPUT_OPTION, UsageError } from './command.ts';
import type { Command, CommandContext, ParsedArgs } from './command.ts';
import { formatDocument, formatTable } from './output.ts';
import { routeRows, routesCommand, routeTable } from './routes.ts';
import type { RouteDest } from './routes.ts';
import { callDaemon } from './socket.ts';

const OUTPUT = OUTPUT_OPTION;

function getJson(socketPath: string, path: string): Promise<unknown> {
  return callDaemon(socketPath, path);
}

export function outputFormat(args: ParsedArgs): 'table' | 'yaml' | 'json' | 'wide' {
  const o = args.options.get('output');
  if (o === undefined) return 'table';
  if (o === 'yaml' || o === 'json' || o === 'wide') return o;
  throw new UsageError(`unknown output format "${String(o)}" (table, wide, yaml or json)`);
}

export function print(
  context: CommandContext,
  args: ParsedArgs,
  document: unknown,
  table: () => string,
): void {
  const format = outputFormat(args);
  context.io.out(format === 'yaml' || format === 'json' ? formatDocument(document, format) : table());
}

interface StatusPeer {
  name: string;
  /** The BGPPeer resource the session comes from (absent for the mesh). */
  bgpPeer?: string | null;
  remote: string;
  type: string;
  addressFamily: string;
  state: string;
  since: string;
  info: string;
  counts?: { received: number; accepted: number; advertised: number | null };
}

const PEER_TYPES: Record<string, string> = {
  mesh: 'node-to-node mesh',
  global: 'global',
  node: 'node specific',
};

function prefixCells(p: StatusPeer): string[] {
  const n = p.counts;
  return n
    ? [String(n.received), String(n.accepted), n.advertised === null ? '-' : String(n.advertised)]
    : ['', '', ''];
}

function statusRow(p: StatusPeer, wide: boolean): string[] {
  const type = PEER_TYPES[p.type] ?? p.type;
  const state = p.state === 'Established' ? 'up' : p.state === 'Idle' ? 'down' : 'start';
  return wide
    ? [p.name, p.bgpPeer ?? '-', p.remote, type, state, p.state, p.since, ...prefixCells(p), p.info]
    : [p.remote, type, state, p.since, p.bgpPeer ?? '-', ...prefixCells(p), p.info];
}

const COUNTS = ['RECEIVED', 'ACCEPTED', 'ADVERTISED'];
const STATUS_HEADER = ['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'BGPPEER', ...COUNTS, 'INFO'];
const STATUS_WIDE = [
  'NAME',
  'BGPPEER',
  'PEER ADDRESS',
  'PEER TYPE',
  'STATE',
  'BGP STATE',
  'SINCE',
  ...COUNTS,
  'INFO',
];

/** GET /api/v1/status's selectionDeferral (api/deferral-view.ts). */
interface StatusDeferral {
  active: boolean;
  since: string;
  timeSec: number;
  remainingSec: number;
  durationSec?: number;
  reason?: string;
  releasedFamilies: string[];
  awaiting: { peer: string; remote: string; established: boolean; endOfRibAwaited: string[] }[];
}

/** After a graceful restart: whether best-path selection is still deferred, and for whom. */
function deferralLines(d: StatusDeferral | undefined): string[] {
  if (!d) return [];
  if (!d.active)
    return [`Graceful restart: selection deferral ended after ${d.durationSec} s (${d.reason ?? 'ended'}).`];
  const released = d.releasedFamilies.length > 0 ? `; released: ${d.releasedFamilies.join(', ')}` : '';
  const lines = [
    `Graceful restart: best-path selection deferred since ${d.since}, ${d.remainingSec} s left of ${d.timeSec} s${released}.`,
  ];
  for (const a of d.awaiting)
    lines.push(
      `  awaiting ${a.peer} (${a.remote}): ${a.established ? `End-of-RIB for ${a.endOfRibAwaited.join(', ')}` : 'not Established yet'}`,
    );
  return lines;
}

function statusTable(
  doc: {
    router?: { routerId?: string; localAs?: number };
    peers: StatusPeer[];
    selectionDeferral?: StatusDeferral;
  },
  wide: boolean,
): string {
  const lines: string[] = [
    `Brindle is running (router ID ${doc.router?.routerId ?? '-'}, AS ${doc.router?.localAs ?? '-'}).`,
    ...deferralLines(doc.selectionDeferral),
  ];
  for (const family of ['ipv4', 'ipv6']) {
    const peers = doc.peers.filter((p) => p.addressFamily === family);
    lines.push('', `${family === 'ipv4' ? 'IPv4' : 'IPv6'} BGP status`);
    if (peers.length === 0) {
      lines.push(`No ${family === 'ipv4' ? 'IPv4' : 'IPv6'} peers found.`);
      continue;
    }
    const rows = peers.map((p) => statusRow(p, wide));
    lines.push(formatTable(wide ? STATUS_WIDE : STATUS_HEADER, rows).trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

const status: Command = {
  name: 'status',
  summary: 'Show every BGP session of the running daemon (like calicoctl node status)',
  help: `usage: brindlectl status [-o table|wide|yaml|json]

One line per session: the peer's address, the BGPPeer it comes from, its type, state, since when
(the time it went down, while it cannot be reached), the prefixes it sent us (received), those
usable (accepted: no loop, next hop resolved), those we advertise to it, and the reason it is down.
wide adds the session's name (BIRD's protocol name) and its BGP state. After a graceful restart it
also says whether best-path selection is still deferred (RFC 4724 §4.1), since when, the time left,
and whose End-of-RIB it awaits.`,
  options: [OUTPUT],
  examples: ['brindlectl status', 'brindlectl status -o wide'],
  async run(args, context) {
    const doc = (await getJson(context.config().api.socket, '/api/v1/status')) as Parameters<
      typeof statusTable
    >[0];
    print(context, args, doc, () => statusTable(doc, outputFormat(args) === 'wide'));
  },
};

const PEER_VIEWS = ['received', 'advertised'] as const;

const peers: Command = {
  name: 'peers',
  summary: 'Show BGP peers in detail; the routes a peer sent us, or those we advertise to it',
  help: `usage: brindlectl peers [PEER] [-o yaml|json]
       brindlectl peers PEER received [--accepted] [--limit N] [-o table|wide|yaml|json]
       brindlectl peers PEER advertised [--limit N] [-o table|wide|yaml|json]

Detail of every peer, or of one: capabilities, timers, counters, last error, prefix counts. PEER is
the session's name, its BGPPeer's name or its address.

  received     the paths PEER sent us (its Adj-RIB-In, before any policy); with --accepted only
               those the decision process may use (no loop, next hop resolved)
  advertised   the routes we advertise to PEER (its Adj-RIB-Out), with the attributes sent

Options:
  --accepted           received: only the paths accepted
  --limit N            at most N destinations (default 1000)
  -o, --output FORMAT  yaml (default for the detail), json; table (default), wide for the routes`,
  options: [OUTPUT, { long: 'accepted' }, { long: 'limit', value: true }],
  words: [...PEER_VIEWS],
  examples: ['brindlectl peers', 'brindlectl peers rack1-tor', 'brindlectl peers 10.0.0.2 advertised'],
  async run(args, context) {
    const [which, view, extra] = args.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    if (view !== undefined) return peerRoutes(args, context, which, view);
    if (args.options.has('accepted') || args.options.has('limit'))
      throw new UsageError('--accepted and --limit apply to received and advertised');
    const doc = await getJson(
      context.config().api.socket,
      which ? `/api/v1/peers/${encodeURIComponent(which)}` : '/api/v1/peers',
    );
    // Peer detail is nested: YAML is the readable default.
    context.io.out(formatDocument(doc, outputFormat(args) === 'json' ? 'json' : 'yaml'));
  },
};

interface PeerRoutesDoc {
  peer: string;
  count: number;
  total: number;
  more: number;
  routes: RouteDest[];
}

async function peerRoutes(args: ParsedArgs, context: CommandContext, peer: string, view: string) {
  if (view !== 'received' && view !== 'advertised')
    throw new UsageError(`unknown view "${view}" (received or advertised)`);
  if (view === 'advertised' && args.options.has('accepted'))
    throw new UsageError('--accepted applies to received');
  const query = new URLSearchParams();
  const limit = optionValue(args, 'limit');
  if (limit !== undefined && !/^[1-9]\d{0,5}$/.test(limit))
    throw new UsageError(`--limit must be a positive number, not "${limit}"`);
  if (limit !== undefined) query.set('limit', limit);
  if (args.options.has('accepted')) query.set('accepted', 'true');
  const path = `/api/v1/peers/${encodeURIComponent(peer)}/${view}${query.size > 0 ? `?${query.toString()}` : ''}`;
  const doc = (await getJson(context.config().api.socket, path)) as PeerRoutesDoc;
  const format = outputFormat(args);
  print(context, args, doc, () => {
    const rows = routeRows(doc.routes, format === 'wide');
    const title = `${view === 'received' ? 'Received from' : 'Advertised to'} ${doc.peer}: ${doc.total} destinations.\n`;
    const more = doc.more > 0 ? `... ${doc.more} more: raise --limit\n` : '';
    return `${title}${rows.length === 0 ? '' : routeTable(format === 'wide').page(rows)}${more}`;
  });
}

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
    { long: 'family', value: true, choices: ['ipv4', 'ipv6'] },
    { long: 'state', value: true, choices: FIB_STATES },
    { long: 'limit', value: true },
  ],
  examples: ['brindlectl fib', 'brindlectl fib --state failed', 'brindlectl fib 10.65.3.7'],
  async run(args, context) {
    const query = fibQuery(args);
    const path = `/api/v1/fib${query.size > 0 ? `?${query.toString()}` : ''}`;
    const doc = (await getJson(context.config().api.socket, path)) as FibDoc;
    print(context, args, doc, () => fibTable(doc, outputFormat(args) === 'wide'));
  },
};

export const daemonCommands: readonly Command[] = [status, peers, routesCommand, fib];
