// What every brindlectl command module shares: the Command shape main.ts dispatches to, the context a
// command runs in (streams, the daemon config, the datastore), the errors that choose the exit code,
// and the option parser. Command modules import this file only, never main.ts. What a Command declares
// (summary, help, options with their values, examples, the words its arguments take) is also what the
// shell completion and the man page are generated from (reference.ts): there is no second copy.

import { readFileSync } from 'node:fs';
import type { BrindleConfig } from '../config/config.ts';
import type { Store } from '../datastore/store.ts';

/** Exit codes scripts can rely on; `brindlectl --help` lists them. */
export const EXIT = {
  ok: 0,
  /** The operation failed: invalid resources, not found, already exists. */
  failed: 1,
  /** The command line (or the config or input file it names) is unusable. */
  usage: 2,
  /** The datastore (or, for daemon commands, the daemon) did not answer within its bound. */
  unavailable: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  the operation failed: invalid resources (nothing is written), not found, already exists
  2  usage error: unknown command, kind or option; unreadable input file; invalid --config
  3  datastore unavailable: etcd did not answer within 5 s, or the embedded store cannot be opened`;

/** An expected failure: printed as its lines (no stack trace), then the process exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    readonly lines: readonly string[],
  ) {
    super(lines.join('\n'));
    this.name = 'CliError';
  }
}

/** A failed operation (exit 1). */
export function failure(...lines: string[]): CliError {
  return new CliError(EXIT.failed, lines);
}

/** A bad command line (exit 2); main.ts adds the pointer to the command's --help. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(EXIT.usage, [message]);
    this.name = 'UsageError';
  }
}

export interface Io {
  /** Text for stdout (results); written as given, so it ends with its own newline. */
  out(text: string): void;
  /** Text for stderr (errors and warnings). */
  err(text: string): void;
  /** Everything on stdin, for `-f -`. */
  readStdin(): Promise<string>;
}

export interface CommandContext {
  readonly io: Io;
  /** The daemon config: --config FILE, else $BRINDLE_CONFIG, else /etc/brindle/brindle.yaml, + env. */
  config(): BrindleConfig;
  /** The datastore the config names, opened on first use; main.ts closes it after the command. */
  store(): Promise<Store>;
  /** Every command, in the order the help lists them (for the completion and the man page). */
  commands(): Promise<readonly Command[]>;
}

/** brindlectl's version: the package's. */
export function packageVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

export interface OptionSpec {
  /** The key in ParsedArgs.options, and the long form (`--output`). */
  readonly long: string;
  /** One-letter form (`-o`). */
  readonly short?: string;
  /** Takes a value (`-o yaml`, `-oyaml`, `--output yaml`, `--output=yaml`); otherwise a flag. */
  readonly value?: boolean;
  /** The values it takes, when they are a fixed set (offered by the shell completion). */
  readonly choices?: readonly string[];
}

export interface ParsedArgs {
  readonly options: ReadonlyMap<string, string | true>;
  readonly positionals: readonly string[];
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The command's --help text, without the exit codes (main.ts appends them). */
  readonly help: string;
  readonly options: readonly OptionSpec[];
  /** Command lines shown under "Examples:" in the --help and the man page. */
  readonly examples?: readonly string[];
  /** Fixed words its arguments may be (subcommands, keywords), offered by the shell completion. */
  readonly words?: readonly string[];
  run(args: ParsedArgs, context: CommandContext): Promise<void>;
}

/** The -o option of the commands that print tables or documents. */
export const OUTPUT_OPTION: OptionSpec = {
  long: 'output',
  short: 'o',
  value: true,
  choices: ['table', 'wide', 'yaml', 'json'],
};

/**
 * Options anywhere among the positionals, GNU style; `--` ends the options and a lone `-` is a
 * positional (or an option's value: `-f -` is stdin). A repeated option keeps its last value.
 */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const [flag, inline] = long ? splitOnce(arg.slice(2), '=') : [arg.slice(1, 2), arg.slice(2) || undefined];
    const spec = specs.find((s) => (long ? s.long === flag : s.short === flag));
    if (!spec) throw new UsageError(`unknown option "${long ? `--${flag}` : `-${flag}`}"`);
    if (!spec.value) {
      if (inline !== undefined) throw new UsageError(`option --${spec.long} takes no value`);
      options.set(spec.long, true);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new UsageError(`option --${spec.long} needs a value`);
    options.set(spec.long, value);
  }
  return { options, positionals };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

/** The value of a value-taking option, if given. */
export function optionValue(args: ParsedArgs, long: string): string | undefined {
  const value = args.options.get(long);
  return typeof value === 'string' ? value : undefined;
}
