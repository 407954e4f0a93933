// brindlectl commands that act on the running daemon, over its control socket only (the TCP listener
// refuses them): `reset` a peer (hard: Cease/Administrative Reset; soft in: ROUTE-REFRESH; soft out:
// our routes sent again), `reload` (what SIGHUP does), `log-level`, `restart` and `stop` (with
// --graceful: peers keep the routes, RFC 4724 §4); and `version`, the CLI's and the daemon's.

import { CliError, optionValue, packageVersion, UsageError } from './command.ts';
import type { Command, CommandContext, ParsedArgs } from './command.ts';
import { callDaemon } from './socket.ts';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

function socketOf(context: CommandContext): string {
  return context.config().api.socket;
}

function onePositional(args: ParsedArgs, what: string): string {
  const [value, extra] = args.positionals;
  if (value === undefined) throw new UsageError(`missing ${what}`);
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  return value;
}

function noPositionals(args: ParsedArgs): void {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
}

const reset: Command = {
  name: 'reset',
  summary: 'Reset a BGP session, or refresh its routes in or out (soft)',
  help: `usage: brindlectl reset PEER [--soft in|out]

PEER is a session's name (as status -o wide shows it), its BGPPeer's name or its address.
Without --soft the session is closed with a NOTIFICATION Cease/Administrative Reset (RFC 4486) and
starts again. --soft in asks the peer to send its routes again (ROUTE-REFRESH, RFC 2918); --soft out
sends it ours again. A soft reset keeps the session up.

Options:
  --soft in|out   refresh routes instead of closing the session`,
  options: [{ long: 'soft', value: true, choices: ['in', 'out'] }],
  examples: ['brindlectl reset rack1-tor', 'brindlectl reset 10.0.0.2 --soft in'],
  async run(args, context) {
    const peer = onePositional(args, 'PEER');
    const soft = optionValue(args, 'soft');
    if (soft !== undefined && soft !== 'in' && soft !== 'out')
      throw new UsageError(`--soft must be in or out, not "${soft}"`);
    const query = soft ? `?soft=${soft}` : '';
    const path = `/api/v1/peers/${encodeURIComponent(peer)}/reset${query}`;
    const doc = (await callDaemon(socketOf(context), path, { method: 'POST' })) as {
      peer: string;
      families?: string[];
      before?: string;
    };
    context.io.out(
      soft === undefined
        ? `Reset ${doc.peer} (was ${doc.before}): Cease/Administrative Reset sent, the session starts again.\n`
        : soft === 'in'
          ? `Asked ${doc.peer} to send its routes again (${doc.families?.join(', ')}).\n`
          : `Sending ${doc.peer} every route again (${doc.families?.join(', ')}).\n`,
    );
  },
};

const reload: Command = {
  name: 'reload',
  summary: 'Re-read the configuration file, as SIGHUP does',
  help: `usage: brindlectl reload

The daemon re-reads its configuration file and the datastore's resources, as on SIGHUP. An invalid
file is refused with its errors (exit 1) and the running configuration stays.`,
  options: [],
  examples: ['brindlectl reload'],
  async run(args, context) {
    noPositionals(args);
    const doc = (await callDaemon(socketOf(context), '/api/v1/reload', { method: 'POST' })) as {
      level: string;
    };
    context.io.out(`Reloaded the configuration (log level ${doc.level}).\n`);
  },
};

const GRACEFUL_HELP = `  --graceful   end the sessions so that peers with Graceful Restart keep this node's routes
               (no NOTIFICATION, or Cease/Administrative Reset with peers that set the N bit,
               RFC 8538) and keep the kernel routes; the next start sets the Restart State bit
               and defers its routes until every peer sent End-of-RIB (RFC 4724 §4.1). Refused
               when it could not be graceful (bgp.gracefulRestart false, or a reflector without
               bgp.restartStateFile).`;

/** POST /api/v1/restart or /api/v1/stop, with or without --graceful. */
async function stopDaemon(args: ParsedArgs, context: CommandContext, restart: boolean): Promise<void> {
  noPositionals(args);
  const graceful = args.options.get('graceful') === true;
  const path = `/api/v1/${restart ? 'restart' : 'stop'}?graceful=${graceful}`;
  await callDaemon(socketOf(context), path, { method: 'POST' });
  const how = graceful
    ? ' gracefully: peers keep its routes'
    : ': every peer gets Cease/Administrative Shutdown';
  context.io.out(`Brindle is ${restart ? 'restarting' : 'stopping'}${how}.\n`);
}

const restartCommand: Command = {
  name: 'restart',
  summary: 'Restart the daemon; --graceful keeps every route forwarding (planned graceful restart)',
  help: `usage: brindlectl restart [--graceful]

Stops the daemon and exits with status 75, on which the systemd units start it again
(RestartForceExitStatus=75). Without --graceful this is systemctl restart: every peer gets
Cease/Administrative Shutdown and drops the routes. For an upgrade, install the new version first,
then restart --graceful.

Options:
${GRACEFUL_HELP}`,
  options: [{ long: 'graceful' }],
  examples: ['brindlectl restart --graceful'],
  run: (args, context) => stopDaemon(args, context, true),
};

const stopCommand: Command = {
  name: 'stop',
  summary: 'Stop the daemon; --graceful leaves peers keeping its routes until it starts again',
  help: `usage: brindlectl stop [--graceful]

Stops the daemon, exit status 0: the systemd units do not start it again. Without --graceful this is
systemctl stop (SIGTERM). With --graceful, start it again within the restart time (120 s by default)
for the peers to keep forwarding to it: stop --graceful, replace the package, start.

Options:
${GRACEFUL_HELP}`,
  options: [{ long: 'graceful' }],
  examples: ['brindlectl stop --graceful && apt-get install ./brindle.deb && systemctl start brindle-node'],
  run: (args, context) => stopDaemon(args, context, false),
};

const logLevel: Command = {
  name: 'log-level',
  summary: "Show or set the running daemon's log level",
  help: `usage: brindlectl log-level [LEVEL]

Without LEVEL, print the level the daemon logs at; with one (${LOG_LEVELS.join(', ')}), set it
until the next reload or restart.`,
  options: [],
  words: LOG_LEVELS,
  examples: ['brindlectl log-level', 'brindlectl log-level debug'],
  async run(args, context) {
    const [level, extra] = args.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    if (level === undefined) {
      const doc = (await callDaemon(socketOf(context), '/api/v1/log-level')) as { level: string };
      context.io.out(`${doc.level}\n`);
      return;
    }
    if (!LOG_LEVELS.includes(level))
      throw new UsageError(`LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
    const body = { level };
    const doc = (await callDaemon(socketOf(context), '/api/v1/log-level', { method: 'PUT', body })) as {
      previous: string;
      level: string;
    };
    context.io.out(`Log level ${doc.previous} -> ${doc.level}.\n`);
  },
};

const version: Command = {
  name: 'version',
  summary: 'Print the version of brindlectl and of the running daemon',
  help: `usage: brindlectl version

The version of brindlectl, and that of the daemon its socket leads to. When no daemon answers,
that is said on stderr and the exit code is still 0: the client's version is an answer.`,
  options: [],
  examples: ['brindlectl version'],
  async run(args, context) {
    noPositionals(args);
    context.io.out(`Client Version:   ${packageVersion()}\n`);
    try {
      const doc = (await callDaemon(socketOf(context), '/api/v1/version')) as { version: string };
      context.io.out(`Daemon Version:   ${doc.version}\n`);
    } catch (error) {
      // As kubectl: the client's version is an answer; the missing server is said on stderr.
      const why = error instanceof CliError ? error.lines.join(' ') : String(error);
      context.io.err(`Daemon Version:   unknown: ${why}\n`);
    }
  },
};

export const operatorCommands: readonly Command[] = [reset, reload, logLevel, restartCommand, stopCommand];
export const versionCommand = version;
