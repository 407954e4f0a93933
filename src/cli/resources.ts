// The resource commands — apply, create, replace, get, delete — as calicoctl has them, straight
// against the datastore (the daemon need not run; it follows the changes through its watch). A file
// is validated whole before anything is written: one invalid resource and nothing changes. create,
// replace and delete check every resource's presence first for the same reason; only a concurrent
// writer between that check and the writes can leave a file half applied, and the output says so.

import { readFile } from 'node:fs/promises';
import {
  checkFieldSupport,
  crossCheck,
  formatValidationError,
  parseResources,
  RESOURCE_KINDS,
} from '../resources/index.ts';
import type {
  BGPConfiguration,
  CrossFinding,
  ParseResult,
  Resource,
  ResourceKind,
} from '../resources/index.ts';
import { kindOf, resourceKey, ResourceStore } from '../resources/store.ts';
import type { Command, CommandContext, Io, OptionSpec, ParsedArgs } from './command.ts';
import { CliError, EXIT, failure, optionValue, OUTPUT_OPTION, UsageError } from './command.ts';
import { OUTPUT_FORMATS, parseOutputFormat } from './output.ts';
import { formatResources, summaryLines } from './resource-output.ts';
import { DRY_RUN_FORMATS, parseDryRunFormat, previewChange } from './dry-run.ts';
import type { DryRunFormat } from './dry-run.ts';

const FILENAME: OptionSpec = { long: 'filename', short: 'f', value: true };
const OUTPUT: OptionSpec = OUTPUT_OPTION;
const SKIP_EXISTS: OptionSpec = { long: 'skip-exists' };
const SKIP_NOT_EXISTS: OptionSpec = { long: 'skip-not-exists' };
const DRY_RUN: OptionSpec = { long: 'dry-run' };
const DRY_RUN_OUTPUT: OptionSpec = { ...OUTPUT_OPTION, choices: DRY_RUN_FORMATS };

const KINDS_HELP = `Kinds (case-insensitive, singular or plural): bgpconfiguration (bgpconfig), bgppeer (bgpp, bp),
bgpfilter, node, ippool (pool), ipamconfiguration (ipamconfig).`;

const FILE_HELP = `FILE holds one or more resources: YAML documents separated by '---', a JSON object or array, or a
List; '-' reads stdin.`;

const DRY_RUN_HELP = `With --dry-run nothing is written: the input is checked as for the real command (errors and
exit code as without it), then the running daemon, over its control socket, says which of its BGP
sessions the change would add, remove, reset (with the fields that force the reset) or change in
place (BGPFilters, no reset). If no daemon answers, that is said and only validation was done.`;

type WriteMode = 'apply' | 'create' | 'replace';

const PAST: Record<WriteMode | 'delete', string> = {
  apply: 'applied',
  create: 'created',
  replace: 'replaced',
  delete: 'deleted',
};

// ---------------------------------------------------------------------------------------------------
// Input

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
};

async function readInput(file: string, io: Io): Promise<{ text: string; source: string }> {
  if (file === '-') return { text: await io.readStdin(), source: 'stdin' };
  try {
    return { text: await readFile(file, 'utf8'), source: file };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const reason = READ_ERRORS[code] ?? (error instanceof Error ? error.message : String(error));
    throw new CliError(EXIT.usage, [`Failed to read ${file}: ${reason}`]);
  }
}

/** Every resource in the file, or every reason one is invalid (exit 1, nothing written). */
async function loadResources(file: string, io: Io, verb: string): Promise<ParseResult & { source: string }> {
  const { text, source } = await readInput(file, io);
  const parsed = parseResources(text, source);
  const { resources, errors } = parsed;
  if (errors.length > 0) {
    throw failure(
      ...errors.map(formatValidationError),
      `Failed to ${verb} resources from ${source}: ${errors.length} error(s); nothing was ${verb === 'delete' ? 'deleted' : 'written'}`,
    );
  }
  if (resources.length === 0) throw failure(`Failed to ${verb}: no resources in ${source}`);
  return { ...parsed, source };
}

/**
 * The fields Brindle does not implement, then the checks across resources against the datastore as
 * the write would leave it: a refused field or what Calico refuses fails the whole write (nothing
 * written); warnings (ignored fields among them) go to stderr, each at its file line.
 */
async function checkAcross(
  rs: ResourceStore,
  parsed: ParseResult & { source: string },
  verb: string,
  io: Io,
) {
  const support = checkFieldSupport(parsed.resources);
  const across = crossCheck(parsed.resources, await rs.list());
  const errors = [...support.errors, ...across.errors];
  const warnings = [...support.warnings, ...across.warnings];
  const line = (f: CrossFinding, level: string) =>
    `${parsed.where(f.resource, f.path)}: ${level}${f.resource.kind}/${f.resource.metadata.name}: ${f.path}: ${f.reason}`;
  for (const w of parsed.warnings) io.err(`${w.source ?? parsed.source}: warning: ${w.message}\n`);
  for (const w of warnings) io.err(`${line(w, 'warning: ')}\n`);
  if (errors.length > 0)
    throw failure(
      ...errors.map((e) => line(e, '')),
      `Failed to ${verb} resources from ${parsed.source}: ${errors.length} error(s); nothing was written`,
    );
}

function requireKind(text: string | undefined): ResourceKind {
  if (text === undefined) throw new UsageError('missing KIND');
  const kind = kindOf(text);
  if (!kind) {
    const known = RESOURCE_KINDS.map((k) => k.toLowerCase()).join(', ');
    throw new UsageError(`unknown resource kind "${text}" (one of: ${known})`);
  }
  return kind;
}

function requireFile(args: ParsedArgs): string {
  const file = optionValue(args, FILENAME.long);
  if (file === undefined) throw new UsageError(`missing -f FILE (or -f - for stdin)`);
  if (args.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${args.positionals[0]}" (resources come from -f FILE)`);
  }
  return file;
}

const id = (r: Pick<Resource, 'kind' | 'metadata'>) => `${r.kind}/${r.metadata.name}`;

// ---------------------------------------------------------------------------------------------------
// apply, create, replace

/** Whether each resource is in the datastore (read straight from it, valid or not). */
function presence(rs: ResourceStore, resources: readonly Pick<Resource, 'kind' | 'metadata'>[]) {
  return Promise.all(
    resources.map(async (r) => (await rs.store.get(resourceKey(r.kind, r.metadata.name))) !== undefined),
  );
}

/**
 * What create or replace may write: every resource, or a failure (nothing written) naming each one
 * whose presence is wrong — create refuses what exists (unless skipped), replace what does not.
 */
async function writable(rs: ResourceStore, resources: Resource[], mode: WriteMode, skipExisting: boolean) {
  if (mode === 'apply') return resources;
  const present = await presence(rs, resources);
  const refused = resources.filter((_, i) => present[i] === (mode === 'create'));
  if (mode === 'create' && skipExisting) return resources.filter((r) => !refused.includes(r));
  if (refused.length === 0) return resources;
  const [reason, what] =
    mode === 'create'
      ? ['already exists (use replace or apply)', 'already exist']
      : ['does not exist (use create or apply)', 'do not exist'];
  throw failure(
    ...refused.map((r) => `${id(r)}: ${reason}`),
    `Failed to ${mode}: ${refused.length} resource(s) ${what}; nothing was written`,
  );
}

/** --dry-run's output format, or undefined for a real write (-o only goes with --dry-run). */
function dryRunFormat(args: ParsedArgs): DryRunFormat | undefined {
  const output = optionValue(args, OUTPUT.long);
  if (!args.options.has(DRY_RUN.long)) {
    if (output !== undefined) throw new UsageError('-o goes with --dry-run only');
    return undefined;
  }
  return parseDryRunFormat(output);
}

async function writeResources(mode: WriteMode, args: ParsedArgs, context: CommandContext): Promise<void> {
  const dryRun = dryRunFormat(args);
  const parsed = await loadResources(requireFile(args), context.io, mode);
  const { resources } = parsed;
  const rs = new ResourceStore(await context.store());
  await checkAcross(rs, parsed, mode, context.io);
  const todo = await writable(rs, resources, mode, args.options.has(SKIP_EXISTS.long));
  if (dryRun) return previewChange('apply', todo, dryRun, context);
  const written: Resource[] = [];
  try {
    for (const r of todo) {
      const result = await rs.write(r, mode);
      if (!result.ok) {
        throw failure(
          ...result.errors,
          `Failed to ${mode} ${id(r)} (changed concurrently); ${written.length} of ${todo.length} resource(s) were written`,
        );
      }
      written.push(result.resource);
    }
  } finally {
    // Also after a failure part way: what was written stays written, and the output says so.
    context.io.out(lines(summaryLines(PAST[mode], written)));
  }
  if (todo.length < resources.length) {
    context.io.out(`Skipped ${resources.length - todo.length} resource(s) that already exist\n`);
  }
}

function lines(list: readonly string[]): string {
  return list.map((line) => `${line}\n`).join('');
}

// ---------------------------------------------------------------------------------------------------
// get

async function get(args: ParsedArgs, context: CommandContext): Promise<void> {
  const [kindText, ...names] = args.positionals;
  const kind = requireKind(kindText);
  const formatText = optionValue(args, OUTPUT.long) ?? 'table';
  const format = parseOutputFormat(formatText);
  if (!format)
    throw new UsageError(`unknown output format "${formatText}" (one of: ${OUTPUT_FORMATS.join(', ')})`);
  const rs = new ResourceStore(await context.store());
  let resources: Resource[];
  const missing: string[] = [];
  if (names.length === 0) {
    resources = await rs.list(kind);
  } else {
    const found = await Promise.all(names.map((name) => rs.get(kind, name)));
    resources = found.filter((r): r is Resource => r !== undefined);
    names.forEach((name, i) => found[i] === undefined && missing.push(`${kind}/${name}: does not exist`));
  }
  // Node rows show the global AS number, in parentheses, for nodes without their own.
  const configs =
    kind === 'Node'
      ? (await rs.list('BGPConfiguration')).filter(
          (r): r is BGPConfiguration => r.kind === 'BGPConfiguration',
        )
      : [];
  if (resources.length > 0 || missing.length === 0) {
    context.io.out(
      formatResources({ kind, resources, format, single: names.length === 1, context: { configs } }),
    );
  }
  if (missing.length > 0) throw failure(...missing);
}

// ---------------------------------------------------------------------------------------------------
// delete

async function deleteResources(args: ParsedArgs, context: CommandContext): Promise<void> {
  const dryRun = dryRunFormat(args);
  const file = optionValue(args, FILENAME.long);
  let targets: Pick<Resource, 'kind' | 'metadata'>[];
  if (file !== undefined) {
    targets = (await loadResources(requireFile(args), context.io, 'delete')).resources;
  } else {
    const [kindText, ...names] = args.positionals;
    const kind = requireKind(kindText);
    if (names.length === 0) throw new UsageError('missing NAME (delete KIND NAME... or delete -f FILE)');
    targets = [...new Set(names)].map((name) => ({ kind, metadata: { name } }));
  }
  const rs = new ResourceStore(await context.store());
  const present = await presence(rs, targets);
  const missing = targets.filter((_, i) => !present[i]);
  const skip = args.options.has(SKIP_NOT_EXISTS.long);
  if (missing.length > 0 && !skip) {
    throw failure(
      ...missing.map((r) => `${id(r)}: does not exist`),
      `Failed to delete: ${missing.length} resource(s) do not exist; nothing was deleted`,
    );
  }
  if (dryRun)
    return previewChange(
      'delete',
      targets.filter((_, i) => present[i]),
      dryRun,
      context,
    );
  const deleted: Pick<Resource, 'kind'>[] = [];
  for (const target of targets) {
    if (await rs.delete(target.kind, target.metadata.name)) deleted.push(target);
  }
  context.io.out(lines(summaryLines(PAST.delete, deleted)));
  const gone = targets.length - deleted.length;
  if (gone > 0 && skip) context.io.out(`Skipped ${gone} resource(s) that do not exist\n`);
  else if (gone > 0) throw failure(`${gone} resource(s) were deleted concurrently by someone else`);
}

// ---------------------------------------------------------------------------------------------------
// The commands

function writeCommand(mode: WriteMode, summary: string, detail: string): Command {
  const skip =
    mode === 'create' ? '\n  --skip-exists        leave resources that already exist as they are' : '';
  return {
    name: mode,
    summary,
    help: `usage: brindlectl ${mode} -f FILE${mode === 'create' ? ' [--skip-exists]' : ''} [--dry-run [-o table|json]]

${summary}. ${detail}

${FILE_HELP} Every resource is validated
before anything is written: if any is invalid, each error is printed (file:line, resource, field,
reason) and nothing is written. A Calico field Brindle does not implement is such an error; one that
Calico's routing ignores too (Felix's natOutgoing, a Node's VXLAN addresses) is written with a warning.
README.md lists every field ("Calico fields").

${DRY_RUN_HELP}

Options:
  -f, --filename FILE  the resources to ${mode} ('-' for stdin)${skip}
  --dry-run            validate and preview the BGP session changes; write nothing
  -o, --output FORMAT  with --dry-run: table (default) or json`,
    options:
      mode === 'create'
        ? [FILENAME, SKIP_EXISTS, DRY_RUN, DRY_RUN_OUTPUT]
        : [FILENAME, DRY_RUN, DRY_RUN_OUTPUT],
    examples: [
      `brindlectl ${mode} -f config/examples/tor-peer.yaml`,
      `cat peers.yaml | brindlectl ${mode} -f -`,
      `brindlectl ${mode} -f config/examples/tor-peer.yaml --dry-run`,
    ],
    run: (args, context) => writeResources(mode, args, context),
  };
}

export const resourceCommands: readonly Command[] = [
  writeCommand(
    'apply',
    'Create or replace resources from a file',
    'Resources that exist are replaced, the others created.',
  ),
  writeCommand(
    'create',
    'Create resources from a file',
    'Fails, writing nothing, if any of them already exists.',
  ),
  writeCommand(
    'replace',
    'Replace resources from a file',
    'Fails, writing nothing, if any of them does not exist.',
  ),
  {
    name: 'get',
    summary: 'Show resources of one kind',
    help: `usage: brindlectl get KIND [NAME...] [-o table|wide|yaml|json]

Show every resource of KIND, or the ones named. Without -o, a table with calicoctl's columns; wide
adds columns for some kinds. yaml and json print one resource asked for by name as itself, and
anything else as a List (kind: <Kind>List, items: [...]), which apply -f accepts back.

${KINDS_HELP}

Options:
  -o, --output FORMAT  table (default), wide, yaml or json`,
    options: [OUTPUT],
    words: RESOURCE_KINDS.map((k) => k.toLowerCase()),
    examples: ['brindlectl get bgppeer', 'brindlectl get ippool default-ipv4-ippool -o yaml'],
    run: get,
  },
  {
    name: 'delete',
    summary: 'Delete resources by kind and name, or those in a file',
    help: `usage: brindlectl delete KIND NAME... [--skip-not-exists] [--dry-run [-o table|json]]
       brindlectl delete -f FILE [--skip-not-exists] [--dry-run [-o table|json]]

Delete the named resources of KIND, or the resources in FILE (only their kind and name matter, but the
file must be valid). Fails, deleting nothing, if any of them does not exist.

${KINDS_HELP}

${DRY_RUN_HELP}

Options:
  -f, --filename FILE  delete the resources in FILE ('-' for stdin)
  --skip-not-exists    ignore resources that do not exist
  --dry-run            check and preview the BGP session changes; delete nothing
  -o, --output FORMAT  with --dry-run: table (default) or json`,
    options: [FILENAME, SKIP_NOT_EXISTS, DRY_RUN, DRY_RUN_OUTPUT],
    words: RESOURCE_KINDS.map((k) => k.toLowerCase()),
    examples: [
      'brindlectl delete bgppeer rack1-tor',
      'brindlectl delete -f peers.yaml',
      'brindlectl delete bgppeer rack1-tor --dry-run -o json',
    ],
    run: deleteResources,
  },
];
