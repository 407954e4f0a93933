// brindlectl commands that ask the running daemon (over its unix socket, api.socket): `status` (like
// `calicoctl node status` / `birdc show protocols`), `peers`, `routes`, `fib`. No routing logic here:
// the daemon's JSON API is the source, this only prints it.

import http from 'node:http';
import { CliError, EXIT, UsageError } from './command.ts';
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

function statusTable(doc: { router?: { routerId?: string; localAs?: number }; peers: StatusPeer[] }): string {
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
    const rows = peers.map((p) => [
      p.remote,
      PEER_TYPES[p.type] ?? p.type,
      p.state === 'Established' ? 'up' : p.state === 'Idle' ? 'down' : 'start',
      p.since,
      p.info,
    ]);
    lines.push(formatTable(['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO'], rows).trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

const status: Command = {
  name: 'status',
  summary: 'Show every BGP session of the running daemon (like calicoctl node status)',
  help: 'usage: brindlectl status [-o table|yaml|json]\n\nOne line per peer: address, type, state, since, info.',
  options: [OUTPUT],
  async run(args, context) {
    const doc = (await getJson(context.config().api.socket, '/api/v1/status')) as Parameters<
      typeof statusTable
    >[0];
    print(context, args, doc, () => statusTable(doc));
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

function routesTable(doc: { routes: { prefix: string; paths: RoutePath[] }[] }, wide: boolean): string {
  const rows = doc.routes.flatMap((r) =>
    r.paths.map((p) => {
      const row = [
        r.prefix,
        p.best ? '*' : '',
        p.attributes.nextHop ?? '',
        p.from,
        p.best ? 'best' : p.eligible ? `lost at ${p.lostAt ?? '?'}` : 'ineligible',
      ];
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

const fib: Command = {
  name: 'fib',
  summary: 'Show what is in the kernel FIB versus what should be',
  help: 'usage: brindlectl fib [-o yaml|json]',
  options: [OUTPUT],
  async run(args, context) {
    const doc = await getJson(context.config().api.socket, '/api/v1/fib');
    context.io.out(formatDocument(doc, outputFormat(args) === 'json' ? 'json' : 'yaml'));
  },
};

export const daemonCommands: readonly Command[] = [status, peers, routes, fib];
