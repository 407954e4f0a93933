// `brindle`: the daemon's entry point. Parses argv, loads and checks the config, starts the daemon,
// and turns signals into orderly actions: SIGTERM/SIGINT stop every session with Cease/Administrative
// Shutdown and exit 0 within a bound; SIGHUP re-reads the config file (the log level applies at once,
// any other changed setting is logged as needing a restart) and lists the resources again. The API's
// stop and restart commands stop the same way, or gracefully (RFC 4724 §4), a restart exiting 75.
//
// Start-up time is module loading, so the daemon and its API (RxJS, the BGP stack, the metrics, the
// datastore) are imported only once the config is valid and the process is to run: `--version`,
// `--help` and `--check-config` load only what they print.

import { readFileSync } from 'node:fs';
import type { DaemonApi } from './daemon-api.ts';
import type { DaemonStopper, ReloadResult } from '../api/server.ts';
import type { Logger } from '../lib/log.ts';
import { defaultConfig, describeSettings, loadConfig } from '../config/config.ts';
import type { BrindleConfig, ConfigChoice } from '../config/config.ts';
import type { Daemon } from '../daemon/daemon.ts';

const USAGE = `usage: brindle [--config FILE] [--check-config] [--help] [--version]

  --config FILE    YAML or JSON daemon config (default: $BRINDLE_CONFIG, else /etc/brindle/brindle.yaml
                   when it exists, else this checkout's config/brindle.yaml once \`npm start\` has run
                   here, else built-in defaults)
  --check-config   print the effective configuration, or every error, and exit (0 valid, 1 invalid)

Settings (each can also be set with its environment variable):`;

/** How long a stop may take before the process exits anyway. */
const STOP_BOUND_MS = 5000;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function help(): string {
  const rows = describeSettings().map(
    (s) => `  ${s.setting} (${s.env}, default ${JSON.stringify(s.default)})\n      ${s.doc}`,
  );
  return `${USAGE}\n${rows.join('\n')}`;
}

function parseArgs(argv: string[]): { choice: ConfigChoice; check: boolean } | string {
  let file: string | undefined;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return help();
    if (arg === '--version') return `brindle ${version()}`;
    if (arg === '--check-config') check = true;
    else if (arg === '--config' && argv[i + 1]) file = argv[++i];
    else if (arg.startsWith('--config=')) file = arg.slice('--config='.length);
    else return `brindle: unknown argument "${arg}"\n\n${USAGE}`;
  }
  return { choice: file === undefined ? defaultConfig() : { file, source: 'argument' }, check };
}

/** Settings a reload applies at once; a change to any other waits for a restart. */
const APPLIED_ON_RELOAD = new Set(['log.level']);

/** Dotted names of the settings whose values differ: "bgp.listenPort", "datastore.etcdEndpoints". */
function changedSettings(running: object, next: object, path = ''): string[] {
  const section = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  return [...keys].flatMap((key) => {
    const a = (running as Record<string, unknown>)[key];
    const b = (next as Record<string, unknown>)[key];
    if (section(a) && section(b)) return changedSettings(a, b, `${path}${key}.`);
    return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${path}${key}`];
  });
}

/**
 * SIGHUP, or POST /api/v1/reload: re-reads the config file — the log level applies at once, other
 * changes are compared with the running config and named as needing a restart — and lists the
 * resources again; only sessions whose desired parameters changed restart.
 */
function reload(daemon: Daemon, log: Logger, choice: ConfigChoice): ReloadResult {
  const reloaded = loadConfig(choice.file, process.env, choice.baseDir);
  if (!reloaded.ok) {
    log.error(
      { event: 'reload', errors: reloaded.errors },
      'config reload failed; keeping the running config',
    );
    return { ok: false, errors: reloaded.errors };
  }
  log.level = reloaded.config.log.level;
  const needsRestart = changedSettings(daemon.config, reloaded.config).filter(
    (setting) => !APPLIED_ON_RELOAD.has(setting),
  );
  if (needsRestart.length > 0)
    log.warn(
      { event: 'reload', needsRestart },
      `needs restart: ${needsRestart.join(', ')} changed; the running values stay until then`,
    );
  log.info({ event: 'reload', logLevel: log.level }, 'config reloaded; listing the resources again');
  void daemon
    .reload()
    .then((listed) =>
      listed
        ? log.info({ event: 'resync', revision: daemon.cache.current?.revision }, 'resources re-synced')
        : log.warn({ event: 'resync' }, 'datastore did not answer; keeping the last good view'),
    );
  return { ok: true, level: log.level };
}

/**
 * The exit status of a stop for a restart (`brindlectl restart`, POST /api/v1/restart): EX_TEMPFAIL.
 * The systemd units start the daemon again on it (RestartForceExitStatus=75) and count it as a clean
 * exit (SuccessExitStatus=75); a plain stop exits 0 and stays stopped.
 */
const EXIT_RESTART = 75;

interface StopPlan {
  /** RFC 4724 §4: stop so that peers keep the routes, and keep the kernel's (Daemon.stopForRestart). */
  readonly graceful: boolean;
  /** Exit with EXIT_RESTART, for the service manager to start the daemon again. */
  readonly restart: boolean;
  readonly why: string;
}

/** Stops the daemon once, however asked (a signal, the API), and exits within STOP_BOUND_MS. */
function stopper(daemon: Daemon, log: Logger, api: () => DaemonApi | undefined): (plan: StopPlan) => void {
  let stopping = false;
  return (plan) => {
    if (stopping) return;
    stopping = true;
    const code = plan.restart ? EXIT_RESTART : 0;
    // The process may end on its own once everything is closed: with this status, not 0.
    process.exitCode = code;
    const message = `brindle ${plan.restart ? 'restarting' : 'stopping'} (${plan.why})`;
    log.info({ event: 'stop', reason: plan.why, graceful: plan.graceful, restart: plan.restart }, message);
    setTimeout(() => process.exit(code), STOP_BOUND_MS).unref();
    void (api()?.close() ?? Promise.resolve())
      .then(() => (plan.graceful ? daemon.stopForRestart(message) : daemon.stop(message)))
      .then(() => {
        log.flush();
        setTimeout(() => process.exit(code), 300).unref();
      });
  };
}

/** POST /api/v1/restart and /api/v1/stop: refused when a graceful restart cannot be graceful. */
function stopCommands(daemon: Daemon, stop: (plan: StopPlan) => void): DaemonStopper {
  return {
    refusal: (request) => (request.graceful ? daemon.gracefulRestartRefusal() : undefined),
    run: (request) => stop({ ...request, why: `${request.restart ? 'restart' : 'stop'} requested` }),
  };
}

function handleSignals(
  daemon: Daemon,
  stop: (plan: StopPlan) => void,
  log: Logger,
  choice: ConfigChoice,
): void {
  // SIGTERM stays an ordinary stop (Cease to every peer), as for BIRD and FRR.
  process.on('SIGTERM', () => stop({ graceful: false, restart: false, why: 'SIGTERM' }));
  process.on('SIGINT', () => stop({ graceful: false, restart: false, why: 'SIGINT' }));
  process.on('SIGHUP', () => reload(daemon, log, choice));
}

async function run(config: BrindleConfig, choice: ConfigChoice): Promise<void> {
  const [{ createLogger }, { Daemon }, { startDaemonApi }] = await Promise.all([
    import('../lib/log.ts'),
    import('../daemon/daemon.ts'),
    import('./daemon-api.ts'),
  ]);
  const log = createLogger(config.log.level, config.log.format);
  process.on('uncaughtException', (error) => {
    log.fatal({ event: 'uncaught', reason: error.stack ?? String(error) }, 'uncaught exception');
    log.flush();
    process.exit(70);
  });
  const daemon = await Daemon.start(config, log);
  let api: DaemonApi | undefined;
  const stop = stopper(daemon, log, () => api);
  try {
    const reloadNow = () => reload(daemon, log, choice);
    api = await startDaemonApi(daemon, log, reloadNow, version(), stopCommands(daemon, stop));
  } catch (error) {
    log.fatal({ event: 'api-failed', reason: String(error) }, 'cannot start the API; stopping');
    await daemon.stop('brindle could not start its API');
    log.flush();
    process.exit(1);
  }
  handleSignals(daemon, stop, log, choice);
}

const args = parseArgs(process.argv.slice(2));
if (typeof args === 'string') {
  console.log(args);
  process.exit(args.startsWith('brindle: unknown') ? 2 : 0);
}
const loaded = loadConfig(args.choice.file, process.env, args.choice.baseDir);
if (!loaded.ok) {
  console.error(
    `brindle: invalid configuration${loaded.file ? ` in ${loaded.file}` : ''}:\n${loaded.errors.map((e) => `  ${e}`).join('\n')}`,
  );
  process.exit(1);
}
if (args.check) {
  console.log(
    `# effective configuration${loaded.file ? ` (${loaded.file} over defaults and environment)` : ' (defaults and environment)'}`,
  );
  const { stringify } = await import('yaml');
  console.log(stringify(loaded.config).trimEnd());
  process.exit(0);
}
await run(loaded.config, args.choice);
