// `brindlectl`: the operator's CLI. Owns argv → command, the global options, the context commands run
// in (the daemon's own config, the datastore it names) and the mapping of every outcome to an exit
// code (command.ts: 0 ok, 1 failed, 2 usage, 3 unavailable). Expected errors print their message,
// never a stack trace. The commands live in their own modules and hold no routing logic; a module is
// imported only when one of its commands runs (or for the help), so `brindlectl status` loads the
// socket client and the table printer, not the datastore and resource stack.

import { defaultConfig, loadConfig, SYSTEM_CONFIG } from '../config/config.ts';
import type { BrindleConfig, ConfigChoice } from '../config/config.ts';
import { openStore, storeConfig } from '../datastore/open.ts';
import { isStoreError } from '../datastore/store.ts';
import type { Store, StoreError } from '../datastore/store.ts';
import { CliError, EXIT, EXIT_CODES_HELP, parseArgs, UsageError } from './command.ts';
import type { Command, CommandContext, ExitCode, Io } from './command.ts';

/** The deadline of each etcd call, and of connecting to etcd at all. */
const ETCD_REQUEST_TIMEOUT_MS = 5_000;
/** close() of the datastore may not hold the exit up longer than this. */
const CLOSE_BOUND_MS = 2_000;

interface CommandModule {
  /** The names of the commands it defines, in the order the help lists them. */
  readonly names: readonly string[];
  load(): Promise<readonly Command[]>;
}

const COMMAND_MODULES: readonly CommandModule[] = [
  {
    names: ['apply', 'create', 'replace', 'get', 'delete'],
    load: async () => (await import('./resources.ts')).resourceCommands,
  },
  {
    names: ['status', 'peers', 'routes', 'fib'],
    load: async () => (await import('./daemon.ts')).daemonCommands,
  },
  {
    names: ['reset', 'reload', 'log-level', 'restart', 'stop'],
    load: async () => (await import('./operate.ts')).operatorCommands,
  },
  { names: ['ipam'], load: async () => [(await import('./ipam.ts')).ipamCommand] },
  { names: ['bfd'], load: async () => [(await import('./bfd.ts')).bfdCommand] },
  { names: ['version'], load: async () => [(await import('./operate.ts')).versionCommand] },
  {
    names: ['completion', 'man'],
    load: async () => (await import('./reference.ts')).referenceCommands,
  },
];

/** A module's commands, checked against the names it is listed with (a mismatch is a bug here). */
async function loadModule(module: CommandModule): Promise<readonly Command[]> {
  const commands = await module.load();
  const names = commands.map((c) => c.name);
  if (names.join() !== module.names.join())
    throw new Error(
      `command table lists ${module.names.join(', ')} but the module defines ${names.join(', ')}`,
    );
  return commands;
}

async function allCommands(): Promise<Command[]> {
  return (await Promise.all(COMMAND_MODULES.map(loadModule))).flat();
}

async function findCommand(name: string): Promise<Command> {
  const module = COMMAND_MODULES.find((m) => m.names.includes(name));
  const command = module && (await loadModule(module)).find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"`);
  return command;
}

function usage(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return `usage: brindlectl [--config FILE] COMMAND [ARGS...]

Manage Brindle's resources (projectcalico.org/v3 BGPConfiguration, BGPPeer, BGPFilter, Node, IPPool,
IPAMConfiguration) in its datastore, embedded or etcd, whether or not the daemon runs: the daemon
follows every change.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Run 'brindlectl COMMAND --help' for a command's arguments.

Options:
  --config FILE   the daemon's config file, read for its datastore and socket (default:
                  $BRINDLE_CONFIG, else ${SYSTEM_CONFIG} when it exists, else this checkout's
                  config/brindle.yaml once \`npm start\` has run here, else built-in defaults; the
                  last two are named on stderr); BRINDLE_DATASTORE, BRINDLE_DATASTORE_PATH,
                  BRINDLE_ETCD_ENDPOINTS and BRINDLE_ETCD_PREFIX override it, as for the daemon
  -h, --help      show this help
  --version       print the version

${EXIT_CODES_HELP}
`;
}

function commandHelp(command: Command): string {
  const examples = command.examples?.length
    ? `\n\nExamples:\n${command.examples.map((e) => `  ${e}`).join('\n')}`
    : '';
  return `${command.help}${examples}

Global options:
  --config FILE        the daemon's config file, for the datastore settings
  -h, --help           show this help

${EXIT_CODES_HELP}
`;
}

// ---------------------------------------------------------------------------------------------------
// The context: config and datastore, loaded on first use (help and version need neither).

/** The datastore as the messages name it: the etcd endpoints or the embedded store's directory. */
function describeDatastore(config: BrindleConfig): string {
  const d = config.datastore;
  return d.type === 'etcd'
    ? `etcd ${d.etcdEndpoints.join(',')}, prefix ${d.etcdPrefix}`
    : `embedded datastore ${d.path}`;
}

class Context implements CommandContext {
  private loaded: BrindleConfig | undefined;
  private opened: Promise<Store> | undefined;

  constructor(
    readonly io: Io,
    private readonly choice: ConfigChoice,
  ) {}

  config(): BrindleConfig {
    if (this.loaded) return this.loaded;
    const result = loadConfig(this.choice.file, process.env, this.choice.baseDir);
    if (!result.ok) {
      const where = result.file ? ` in ${result.file}` : '';
      throw new CliError(EXIT.usage, [
        `Invalid configuration${where}:`,
        ...result.errors.map((e) => `  ${e}`),
      ]);
    }
    this.loaded = result.config;
    this.sayWhich(result.config);
    return this.loaded;
  }

  /**
   * Which datastore and socket, whenever they are not the obvious ones (a --config, $BRINDLE_CONFIG
   * or the system's file): a newcomer must never talk to another store than the daemon's unawares.
   */
  private sayWhich(config: BrindleConfig): void {
    const { source, file } = this.choice;
    if (source !== 'checkout' && source !== 'defaults') return;
    // A datastore named in the environment is a choice made, not a default taken.
    const named = ['BRINDLE_DATASTORE', 'BRINDLE_DATASTORE_PATH', 'BRINDLE_ETCD_ENDPOINTS'];
    if (source === 'defaults' && named.some((variable) => process.env[variable] !== undefined)) return;
    const from =
      source === 'checkout'
        ? `${file} (the config \`npm start\` runs in this checkout)`
        : `built-in defaults (no --config, $BRINDLE_CONFIG or ${SYSTEM_CONFIG})`;
    this.io.err(`brindlectl: using ${from}: ${describeDatastore(config)}, socket ${config.api.socket}\n`);
  }

  commands(): Promise<readonly Command[]> {
    return allCommands();
  }

  store(): Promise<Store> {
    this.opened ??= openStore(storeConfig(this.config().datastore, ETCD_REQUEST_TIMEOUT_MS));
    return this.opened;
  }

  datastore(): string | undefined {
    return this.loaded && describeDatastore(this.loaded);
  }

  async close(): Promise<void> {
    const store = await this.opened?.catch(() => undefined);
    if (!store) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_BOUND_MS)));
    await Promise.race([store.close().catch(() => undefined), bound]);
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------
// argv → command → exit code

interface Invocation {
  readonly configFile?: string;
  /** Absent: the top-level help (or version) was asked for. */
  readonly command?: Command;
  readonly rest: readonly string[];
  readonly help: boolean;
}

/** Takes the global options (anywhere before `--`) out of argv and finds the command. */
async function invocation(argv: readonly string[]): Promise<Invocation | 'version'> {
  let configFile: string | undefined;
  const rest: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === '--config') {
      configFile = argv[++i];
      if (!configFile) throw new UsageError('option --config needs a value');
    } else if (arg.startsWith('--config=')) configFile = arg.slice('--config='.length);
    else if (arg === '-h' || arg === '--help') help = true;
    else if (arg === '--version' && rest.length === 0) return 'version';
    else rest.push(arg);
  }
  const [name, ...args] = rest;
  if (name === undefined) {
    if (help) return { configFile, rest: [], help };
    throw new UsageError('no command given');
  }
  if (name === 'help') {
    return {
      configFile,
      command: args[0] === undefined ? undefined : await findCommand(args[0]),
      rest: [],
      help: true,
    };
  }
  return { configFile, command: await findCommand(name), rest: args, help };
}

/** gRPC ends its messages with a "Resolution note:" that is empty for a plain connection failure. */
const withoutEmptyNote = (text: string) => text.replace(/\s*Resolution note:\s*$/, '');

function storeErrorLines(error: StoreError, datastore: string | undefined): string[] {
  // "datastore unavailable (key "v3/bgppeer/"): etcd list failed: …" → what failed, and why.
  const detail = withoutEmptyNote(error.message.replace(/^datastore \w+( \(key "[^"]*"\))?: /, ''));
  const cause = error.cause instanceof Error ? withoutEmptyNote(error.cause.message) : '';
  const reason = cause === '' || detail.includes(cause) ? detail : `${detail}: ${cause}`;
  const where = datastore ?? 'the datastore';
  return error.kind === 'unavailable'
    ? [`Datastore unavailable (${where}): ${reason}`]
    : [`Datastore error (${error.kind}) from ${where}: ${reason}`];
}

function report(
  error: unknown,
  command: Command | undefined,
  context: Context | undefined,
  io: Io,
): ExitCode {
  if (error instanceof UsageError) {
    const name = command ? `brindlectl ${command.name}` : 'brindlectl';
    io.err(`${name}: ${error.message}\nRun '${name} --help' for usage.\n`);
    return EXIT.usage;
  }
  if (error instanceof CliError) {
    io.err(error.lines.map((line) => `${line}\n`).join(''));
    return error.exitCode;
  }
  if (isStoreError(error)) {
    io.err(`${storeErrorLines(error, context?.datastore()).join('\n')}\n`);
    return error.kind === 'unavailable' ? EXIT.unavailable : EXIT.failed;
  }
  // Not expected: a bug, so the stack is worth having.
  io.err(
    `brindlectl: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return EXIT.failed;
}

async function main(argv: readonly string[], io: Io): Promise<ExitCode> {
  let found: Invocation | 'version';
  try {
    found = await invocation(argv);
  } catch (error) {
    return report(error, undefined, undefined, io);
  }
  if (found === 'version') return main(['version'], io);
  const { command } = found;
  if (found.help) {
    io.out(command ? commandHelp(command) : usage(await allCommands()));
    return EXIT.ok;
  }
  if (!command) return EXIT.usage; // unreachable: invocation() throws when there is no command
  const choice: ConfigChoice =
    found.configFile === undefined ? defaultConfig() : { file: found.configFile, source: 'argument' };
  const context = new Context(io, choice);
  try {
    await command.run(parseArgs(found.rest, command.options), context);
    return EXIT.ok;
  } catch (error) {
    return report(error, command, context, io);
  } finally {
    await context.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `brindlectl get … | head` closes the pipe early: that is the reader's choice, not an error. */
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(EXIT.ok);
  throw error;
});

const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  readStdin,
};

const code = await main(process.argv.slice(2), processIo);
// Pending writes drain first; the exit itself does not wait for etcd's client to wind down.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
