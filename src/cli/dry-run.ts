// `--dry-run` of apply, create, replace and delete: the file was validated as for the write, nothing
// is written, and the running daemon (over its control socket, POST /api/v1/preview/sessions) says
// which of its BGP sessions the change would add, remove or reset, and per established session the
// prefixes it would newly advertise, withdraw or send with other attributes, and those it would drop
// or newly accept on import (evaluated over its current RIB). The table lists the first few prefixes
// of each; `-o json` gives them all. Without a daemon that answers, the output says only validation
// was done.

import type { Resource } from '../resources/index.ts';
import type { CommandContext } from './command.ts';
import { CliError, EXIT, UsageError } from './command.ts';
import { formatDocument, formatTable } from './output.ts';
import { callDaemon } from './socket.ts';

export const DRY_RUN_FORMATS = ['table', 'json'] as const;
export type DryRunFormat = (typeof DRY_RUN_FORMATS)[number];

/** One session in the daemon's answer (reflector/session-preview.ts, as JSON). */
interface SessionLine {
  readonly session: string;
  readonly bgpPeer?: string;
  readonly remoteAddress: string;
  readonly fields?: readonly string[];
}

/** One session's route changes (policy/route-preview.ts, as JSON). */
interface PeerRouteChanges {
  readonly peer: string;
  readonly remoteAddress: string;
  readonly advertised: readonly string[];
  readonly withdrawn: readonly string[];
  readonly changed: readonly string[];
  readonly importDropped: readonly string[];
  readonly importAccepted: readonly string[];
}

interface RoutePreview {
  readonly destinations: number;
  readonly peers: readonly PeerRouteChanges[];
}

interface SessionPreview {
  readonly routes?: RoutePreview;
  readonly added: readonly SessionLine[];
  readonly removed: readonly SessionLine[];
  readonly reset: readonly SessionLine[];
  readonly changedInPlace: readonly SessionLine[];
  readonly unchanged: number;
  readonly speakerRestart?: readonly string[];
  readonly note?: string;
}

const NOTHING_WRITTEN = 'dry run: nothing was written';
/** Prefixes the table lists per session and kind of change. */
const PREFIXES_SHOWN = 5;
const ROUTE_CHANGES = [
  ['advertised', 'advertised'],
  ['withdrawn', 'withdrawn'],
  ['changed', 'attributes changed'],
  ['importDropped', 'dropped on import'],
  ['importAccepted', 'accepted on import'],
] as const;

export function parseDryRunFormat(text: string | undefined): DryRunFormat {
  const format = DRY_RUN_FORMATS.find((f) => f === (text ?? 'table'));
  if (!format) throw new UsageError(`unknown output format "${text}" for --dry-run (table or json)`);
  return format;
}

/** Asks the daemon what the change would do to its sessions, and prints it; writes nothing. */
export async function previewChange(
  operation: 'apply' | 'delete',
  resources: readonly Pick<Resource, 'kind' | 'metadata'>[],
  format: DryRunFormat,
  context: CommandContext,
): Promise<void> {
  const { io } = context;
  const valid = `${resources.length} resource(s) valid for ${operation}`;
  let preview: SessionPreview | undefined;
  let unreachable: string | undefined;
  try {
    preview = (await callDaemon(context.config().api.socket, '/api/v1/preview/sessions', {
      method: 'POST',
      body: { operation, resources: operation === 'delete' ? resources.map(ref) : resources },
    })) as SessionPreview;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    if (error.exitCode !== EXIT.unavailable)
      throw new CliError(error.exitCode, [...error.lines, NOTHING_WRITTEN]);
    unreachable = error.lines.join(' ');
  }
  if (format === 'json') {
    const { routes, ...sessions } = preview ?? {};
    const daemon = preview ? { sessions, ...(routes ? { routes } : {}) } : { daemonUnreachable: unreachable };
    io.out(
      formatDocument(
        { dryRun: true, written: false, operation, resources: resources.map(id), ...daemon },
        'json',
      ),
    );
    return;
  }
  io.out(`${NOTHING_WRITTEN}\n${valid}\n`);
  if (!preview) {
    io.out(`No daemon answered, so only validation was done: ${unreachable}\n`);
    return;
  }
  io.out(sessionLines(preview));
  if (preview.routes) io.out(routeLines(preview.routes) + resetLines(preview));
}

/** Counts per session, then the first prefixes of each kind of change. */
function routeLines(routes: RoutePreview): string {
  const changed = routes.peers.filter((p) => ROUTE_CHANGES.some(([k]) => p[k].length > 0));
  const walked = `${routes.destinations} destination(s) of the RIB evaluated`;
  if (changed.length === 0)
    return `No route sent to or accepted from an established session would change (${walked}).\n`;
  const table = formatTable(
    ['SESSION', 'REMOTE', 'ADVERTISED', 'WITHDRAWN', 'CHANGED', 'IMPORT-DROPPED', 'IMPORT-ACCEPTED'],
    changed.map((p) => [p.peer, p.remoteAddress, ...ROUTE_CHANGES.map(([k]) => String(p[k].length))]),
  );
  const lists = changed.flatMap((p) =>
    ROUTE_CHANGES.filter(([k]) => p[k].length > 0).map(
      ([k, label]) => `${p.peer} ${label}: ${firstFew(p[k])}\n`,
    ),
  );
  return `\nRoutes (${walked}):\n${table}${lists.join('')}`;
}

/**
 * A session that would be reset is not changed route by route: the preview applied only its new
 * filters, while the reset withdraws everything on both sides and sends it all again (RFC 4271 §8.2.2).
 */
function resetLines(p: SessionPreview): string {
  const established = p.routes?.peers ?? [];
  const names = p.speakerRestart
    ? established.map((r) => r.peer)
    : p.reset
        .filter((s) => established.some((r) => r.remoteAddress === s.remoteAddress))
        .map((s) => s.session);
  return names
    .map(
      (name) =>
        `${name} would be reset: every route is withdrawn and sent again both ways under all its new ` +
        'settings; the routes above show only what its new filters change.\n',
    )
    .join('');
}

function firstFew(prefixes: readonly string[]): string {
  const shown = prefixes.slice(0, PREFIXES_SHOWN).join(', ');
  const more = prefixes.length - PREFIXES_SHOWN;
  return more > 0 ? `${shown} … and ${more} more (-o json lists all)` : shown;
}

function sessionLines(p: SessionPreview): string {
  const rows = [
    ...p.added.map((s) => row('added', s)),
    ...p.removed.map((s) => row('removed', s)),
    ...p.reset.map((s) => row('reset', s)),
    ...p.changedInPlace.map((s) => row('in place', s)),
  ];
  const notes = [
    ...(p.speakerRestart
      ? [`The BGP speaker would restart (${p.speakerRestart.join(', ')} changed): every session resets.`]
      : []),
    ...(p.note ? [`${p.note}.`] : []),
  ];
  const table =
    rows.length === 0
      ? `No BGP session of the daemon would change (${p.unchanged} unchanged).\n`
      : formatTable(['CHANGE', 'SESSION', 'BGPPEER', 'REMOTE', 'FIELDS'], rows) +
        `${p.unchanged} session(s) unchanged.\n`;
  return table + notes.map((n) => `${n}\n`).join('');
}

function row(change: string, s: SessionLine): string[] {
  return [change, s.session, s.bgpPeer ?? '(mesh)', s.remoteAddress, (s.fields ?? []).join(',')];
}

const id = (r: Pick<Resource, 'kind' | 'metadata'>) => `${r.kind}/${r.metadata.name}`;
const ref = (r: Pick<Resource, 'kind' | 'metadata'>) => ({
  kind: r.kind,
  metadata: { name: r.metadata.name },
});
