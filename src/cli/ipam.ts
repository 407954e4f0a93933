// `brindlectl ipam show|check|release|configure`, as calicoctl's ipam commands, straight against the
// datastore (the daemon need not run). The data comes from src/ipam (showIpam, checkIpam, IpamClient);
// this module only parses, prints and picks the exit code.
//
// `ipam check` also checks this node's workload allocations against its network namespaces (the node
// is the config's nodeName; run it on that node): one whose namespace is gone and that is older than
// --grace-period seconds (60) is a leaked-workload, released by --fix.
//
// `ipam check` exits 1 when problems remain after it ran (all of them without --fix; those --fix did
// not or could not repair with it), so scripts and health checks can act on it; 0 means clean.

import { existsSync } from 'node:fs';
import { checkIpam, DEFAULT_WORKLOAD_GRACE_MS, IpamClient, isIpamError, showIpam } from '../ipam/index.ts';
import type { AddressUsage, IpamProblem, IpamShowData } from '../ipam/index.ts';
import type { IPAMConfigurationSpec } from '../resources/index.ts';
import { ResourceStore } from '../resources/store.ts';
import type { Command, CommandContext, OptionSpec, ParsedArgs } from './command.ts';
import { failure, optionValue, UsageError } from './command.ts';
import { formatTable } from './output.ts';

const SHOW_BLOCKS: OptionSpec = { long: 'show-blocks' };
const IP: OptionSpec = { long: 'ip', value: true };
const FIX: OptionSpec = { long: 'fix' };
const GRACE_PERIOD: OptionSpec = { long: 'grace-period', value: true };
const STRICT_AFFINITY: OptionSpec = { long: 'strictaffinity', value: true };
const MAX_BLOCKS: OptionSpec = { long: 'max-blocks-per-host', value: true };

const SUBCOMMANDS = ['show', 'check', 'release', 'configure'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** Which options each subcommand accepts (the parser knows them all; this refuses the rest). */
const ALLOWED: Record<Subcommand, readonly string[]> = {
  show: [SHOW_BLOCKS.long, IP.long],
  check: [FIX.long, GRACE_PERIOD.long],
  release: [IP.long],
  configure: [STRICT_AFFINITY.long, MAX_BLOCKS.long],
};

const HELP = `usage: brindlectl ipam show [--show-blocks] [--ip ADDR]
       brindlectl ipam check [--fix] [--grace-period=SEC]
       brindlectl ipam release --ip ADDR
       brindlectl ipam configure [--strictaffinity=true|false] [--max-blocks-per-host=N]

IP address management, as calicoctl ipam.

  show        usage of every IPPool (IPS TOTAL, IPS IN USE, IPS FREE); --show-blocks adds each
              allocation block; --ip ADDR tells who holds one address
  check       look for inconsistencies (leaked addresses, handle counts, stale affinities, blocks
              outside pools); --fix repairs those that are safe to repair (residue older than five
              minutes). On a node, also every allocation of the node whose container's network
              namespace is gone, once older than --grace-period (60 s); --fix releases those.
              Exits 1 when problems remain, 0 when IPAM is consistent.
  release     release one address (e.g. one leaked by a crashed runtime); exits 1 when it was not
              allocated
  configure   write the IPAMConfiguration resource "default": strictAffinity (no borrowing from
              other nodes' blocks), maxBlocksPerHost (0: the default, 20)`;

function percent(part: bigint, whole: bigint): string {
  return whole === 0n ? '0%' : `${(part * 100n) / whole}%`;
}

function usageRows(data: IpamShowData): string[][] {
  const rows: string[][] = [];
  for (const pool of data.pools) {
    rows.push([
      'IP Pool',
      pool.cidr,
      String(pool.size),
      `${pool.inUse} (${percent(BigInt(pool.inUse), pool.size)})`,
      `${pool.free} (${percent(pool.free, pool.size)})`,
    ]);
    for (const block of data.blocks?.filter((b) => b.pool === pool.name) ?? []) {
      const size = BigInt(block.size);
      rows.push([
        'Block',
        block.cidr,
        String(block.size),
        `${block.inUse} (${percent(BigInt(block.inUse), size)})`,
        `${block.free} (${percent(BigInt(block.free), size)})`,
      ]);
    }
  }
  for (const block of data.blocks?.filter((b) => b.pool === undefined) ?? []) {
    rows.push(['Block (no pool)', block.cidr, String(block.size), String(block.inUse), String(block.free)]);
  }
  return rows;
}

function addressLines(usage: AddressUsage): string[] {
  switch (usage.state) {
    case 'in-use': {
      const attributes = Object.entries(usage.attributes).map(([k, v]) => `  ${k}: ${v}`);
      return [
        `IP ${usage.address} is in use`,
        `Block: ${usage.block}${usage.borrowed ? ' (borrowed)' : ''}`,
        `Handle: ${usage.handleId ?? '-'}`,
        ...(attributes.length > 0 ? ['Attributes:', ...attributes] : []),
      ];
    }
    case 'free':
      return [`IP ${usage.address} is not assigned (block ${usage.block})`];
    case 'no-block':
      return [`IP ${usage.address} is not assigned (no block claimed for it yet)`];
    case 'not-in-pool':
      return [`IP ${usage.address} is not in any IP pool`];
  }
}

async function show(args: ParsedArgs, context: CommandContext): Promise<void> {
  const ip = optionValue(args, IP.long);
  const data = await showIpam(await context.store(), {
    showBlocks: args.options.has(SHOW_BLOCKS.long),
    ...(ip === undefined ? {} : { ip }),
  });
  if (data.address) {
    context.io.out(`${addressLines(data.address).join('\n')}\n`);
    return;
  }
  context.io.out(formatTable(['GROUPING', 'CIDR', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE'], usageRows(data)));
}

function problemLines(problem: IpamProblem, fixed: boolean): string[] {
  return [
    `${fixed ? 'FIXED ' : ''}${problem.kind}: ${problem.key}`,
    `  ${problem.detail}`,
    `  ${problem.explanation}`,
  ];
}

async function check(args: ParsedArgs, context: CommandContext): Promise<void> {
  const fix = args.options.has(FIX.long);
  const grace = optionValue(args, GRACE_PERIOD.long);
  const workloads = {
    node: context.config().nodeName,
    graceMs: grace === undefined ? DEFAULT_WORKLOAD_GRACE_MS : parseCount(grace, GRACE_PERIOD.long) * 1000,
    netnsExists: existsSync,
  };
  const report = await checkIpam(await context.store(), { fix, workloads });
  const { summary } = report;
  const fixed = new Set(report.fixed);
  const lines = [
    `Checked IPAM at revision ${report.revision}: ${summary.blocks} block(s), ${summary.affinities} affinity(ies), ${summary.handles} handle(s), ${summary.allocations} allocation(s)`,
    ...report.problems.flatMap((p) => problemLines(p, fixed.has(p))),
  ];
  const remaining = report.problems.length - report.fixed.length;
  lines.push(
    report.problems.length === 0
      ? 'No problems found'
      : `Found ${report.problems.length} problem(s)${fix ? `, fixed ${report.fixed.length}` : ' (run with --fix to repair the fixable ones)'}`,
  );
  context.io.out(`${lines.join('\n')}\n`);
  if (remaining > 0) throw failure(`${remaining} IPAM problem(s) remain`);
}

async function release(args: ParsedArgs, context: CommandContext): Promise<void> {
  const ip = optionValue(args, IP.long);
  if (ip === undefined) throw new UsageError('ipam release needs --ip ADDR');
  let result;
  try {
    result = await new IpamClient({ store: await context.store() }).releaseIps([{ address: ip }]);
  } catch (error) {
    if (isIpamError(error) && error.code !== 'datastore') throw failure(error.message);
    throw error;
  }
  if (result.released.length > 0) {
    context.io.out(`Successfully released IP address ${ip}\n`);
    return;
  }
  const refused = result.refused.map((r) => `${r.address}: ${r.reason}`);
  throw failure(
    refused.length > 0 ? `Failed to release ${refused.join('; ')}` : `IP address ${ip} is not assigned`,
  );
}

function parseBool(text: string, option: string): boolean {
  if (/^(true|yes|1)$/i.test(text)) return true;
  if (/^(false|no|0)$/i.test(text)) return false;
  throw new UsageError(`option --${option} must be true or false, not "${text}"`);
}

async function configure(args: ParsedArgs, context: CommandContext): Promise<void> {
  const strict = optionValue(args, STRICT_AFFINITY.long);
  const maxBlocks = optionValue(args, MAX_BLOCKS.long);
  if (strict === undefined && maxBlocks === undefined) {
    throw new UsageError('ipam configure needs --strictaffinity and/or --max-blocks-per-host');
  }
  const changes: IPAMConfigurationSpec = {
    ...(strict === undefined ? {} : { strictAffinity: parseBool(strict, STRICT_AFFINITY.long) }),
    ...(maxBlocks === undefined ? {} : { maxBlocksPerHost: parseCount(maxBlocks, MAX_BLOCKS.long) }),
  };
  const resources = new ResourceStore(await context.store());
  const existing = await resources.get('IPAMConfiguration', 'default');
  const spec = existing?.kind === 'IPAMConfiguration' ? existing.spec : {};
  const written = await resources.write(
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPAMConfiguration',
      metadata: { name: 'default' },
      spec: { ...spec, ...changes },
    },
    'apply',
  );
  if (!written.ok) throw failure(...written.errors);
  const lines = [
    ...(changes.strictAffinity === undefined
      ? []
      : [`Successfully set StrictAffinity to: ${changes.strictAffinity}`]),
    ...(changes.maxBlocksPerHost === undefined
      ? []
      : [`Successfully set MaxBlocksPerHost to: ${changes.maxBlocksPerHost}`]),
  ];
  context.io.out(`${lines.join('\n')}\n`);
}

function parseCount(text: string, option: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`option --${option} must be a whole number, not "${text}"`);
  return Number(text);
}

const RUN: Record<Subcommand, (args: ParsedArgs, context: CommandContext) => Promise<void>> = {
  show,
  check,
  release,
  configure,
};

export const ipamCommand: Command = {
  name: 'ipam',
  summary: 'Show, check and repair IP address management; release an address; configure IPAM',
  help: HELP,
  options: [SHOW_BLOCKS, IP, FIX, GRACE_PERIOD, STRICT_AFFINITY, MAX_BLOCKS],
  words: SUBCOMMANDS,
  examples: [
    'brindlectl ipam show --show-blocks',
    'brindlectl ipam check',
    'brindlectl ipam release --ip 10.65.0.7',
  ],
  run: (args, context) => {
    const [name, ...extra] = args.positionals;
    if (name === undefined) throw new UsageError(`missing subcommand (one of: ${SUBCOMMANDS.join(', ')})`);
    const sub = SUBCOMMANDS.find((s) => s === name);
    if (!sub) throw new UsageError(`unknown ipam subcommand "${name}" (one of: ${SUBCOMMANDS.join(', ')})`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const wrong = [...args.options.keys()].find((o) => !ALLOWED[sub].includes(o));
    if (wrong !== undefined) throw new UsageError(`option --${wrong} does not apply to ipam ${sub}`);
    return RUN[sub](args, context);
  },
};
