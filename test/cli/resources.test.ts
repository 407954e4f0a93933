// brindlectl's resource commands, run as an operator runs them: `node bin/brindlectl …` in a child
// process (from a temp dir, not the repo), against the embedded store (found through the environment,
// BRINDLE_DATASTORE_PATH) and against a real etcd (found through a config file, --config). Each test
// has its own store: a temp dir, or its own etcd key prefix in the one etcd this file starts.
//
// Golden files: test/cli/golden/ holds the expected `get` output of every kind in every format, shared
// by both backends (resourceVersion values are masked as "<rv>": etcd revisions depend on what ran
// before). They change only when asked to:
//
//   UPDATE_GOLDEN=1 npx ava test/cli/resources.test.ts    # rewrite them from the current output
//   npx ava test/cli/resources.test.ts                    # then check, and review the git diff
//
// Every child process is killed after CLI_TIMEOUT_MS; temp dirs and etcd are removed at the end.

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { matchesGolden } from './golden.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RESOURCE_KINDS } from '../../src/resources/index.ts';
import { startEtcd } from '../helpers/etcd.ts';
import type { EtcdHandle } from '../helpers/etcd.ts';
import { freePort } from '../helpers/netns.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'brindlectl');
const EXAMPLES = join(ROOT, 'config', 'examples');
const FIXTURES = join(ROOT, 'test', 'cli', 'fixtures');
/** Far above a normal run (about a second), far below ava's own timeout. */
const CLI_TIMEOUT_MS = 30_000;
/** Each run costs most of a CPU second (Node, tsx, the modules): more at once only queue for CPU. */
const CLI_CONCURRENCY = Math.max(2, availableParallelism());

// ---------------------------------------------------------------------------------------------------
// Running the CLI

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

interface CliOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Written to stdin, which is then closed (always closed, so `-f -` never waits). */
  readonly input?: string;
}

/** The test runner's environment without anything that would steer the CLI elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('BRINDLE_') && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return env;
}

let running = 0;
const waiting: (() => void)[] = [];

/** Runs `task` once fewer than CLI_CONCURRENCY children are running. */
async function limited<T>(task: () => Promise<T>): Promise<T> {
  if (running >= CLI_CONCURRENCY) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await task();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

function brindlectl(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return limited(() => spawnCli(args, options));
}

function spawnCli(args: readonly string[], options: CliOptions): Promise<CliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? tmpdir(),
    env: { ...cleanEnv(), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`brindlectl ${args.join(' ')}: no exit within ${CLI_TIMEOUT_MS} ms\n${stdout}${stderr}`),
      );
    }, CLI_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

/** The result as one string, for assertion messages. */
const show = (r: CliResult) => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

// ---------------------------------------------------------------------------------------------------
// Backends: how a test's CLI finds its own store

interface Backend {
  readonly name: 'embedded' | 'etcd';
  /** Runs brindlectl against this test's store, from this test's temp dir. */
  readonly run: (args: readonly string[], options?: CliOptions) => Promise<CliResult>;
  /** The temp dir the CLI runs in: files written here are named relative to it in messages. */
  readonly dir: string;
}

let etcd: EtcdHandle | undefined;
let prefixes = 0;

test.before(async () => {
  etcd = await startEtcd();
});

test.after.always(async () => {
  await etcd?.stop();
});

/** Registers cleanup: a test's t.teardown, or the file's end for what tests share. */
type Cleanup = (fn: () => Promise<void>) => void;
const atEnd: (() => Promise<void>)[] = [];

test.after.always(async () => {
  await Promise.all(atEnd.map((fn) => fn()));
});

const byTest =
  (t: ExecutionContext): Cleanup =>
  (fn) =>
    t.teardown(fn);

async function tempDir(cleanup: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-cli-'));
  cleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function embedded(cleanup: Cleanup): Promise<Backend> {
  const dir = await tempDir(cleanup);
  const env = { BRINDLE_DATASTORE: 'embedded', BRINDLE_DATASTORE_PATH: join(dir, 'store') };
  return { name: 'embedded', dir, run: (args, o = {}) => brindlectl(args, { cwd: dir, ...o, env }) };
}

async function etcdBackend(cleanup: Cleanup): Promise<Backend> {
  if (etcd === undefined) throw new Error('etcd did not start');
  const dir = await tempDir(cleanup);
  prefixes += 1;
  const config = join(dir, 'brindle.yaml');
  writeFileSync(
    config,
    `datastore:\n  type: etcd\n  etcdEndpoints: ['${etcd.endpoint}']\n  etcdPrefix: /brindle-cli-${prefixes}/\n`,
  );
  return {
    name: 'etcd',
    dir,
    run: (args, o = {}) => brindlectl(['--config', config, ...args], { cwd: dir, ...o }),
  };
}

const BACKENDS = [
  { name: 'embedded', open: embedded },
  { name: 'etcd', open: etcdBackend },
] as const;

/** Runs and checks the exit code, showing everything the CLI said when it differs. */
async function expectExit(
  t: ExecutionContext,
  backend: Backend,
  args: readonly string[],
  code: number,
  options?: CliOptions,
): Promise<CliResult> {
  const result = await backend.run(args, options);
  t.is(result.code, code, `brindlectl ${args.join(' ')}\n${show(result)}`);
  return result;
}

function exampleFiles(): string[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

/** Every file in config/examples, then the fixtures that fill the kinds the examples leave empty. */
async function applyExamples(backend: Backend): Promise<string> {
  let out = '';
  const files = [
    ...exampleFiles().map((file) => join(EXAMPLES, file)),
    ...readdirSync(FIXTURES)
      .sort()
      .map((file) => join(FIXTURES, file)),
  ];
  for (const file of files) {
    const result = await backend.run(['apply', '-f', file]);
    if (result.code !== 0 || result.stderr !== '') throw new Error(`apply -f ${file}\n${show(result)}`);
    out += `$ brindlectl apply -f ${relative(ROOT, file)}\n${result.stdout}`;
  }
  return out;
}

/** One store per backend holding every example, shared by the read-only golden tests. */
const withExamples = new Map<string, Promise<{ backend: Backend; applied: string }>>();

function examplesApplied(name: string, open: (cleanup: Cleanup) => Promise<Backend>) {
  let ready = withExamples.get(name);
  if (!ready) {
    ready = open((fn) => atEnd.push(fn)).then(async (backend) => ({
      backend,
      applied: await applyExamples(backend),
    }));
    withExamples.set(name, ready);
  }
  return ready;
}

// ---------------------------------------------------------------------------------------------------
// Golden files

/** Revisions differ between backends and runs; everything else must match byte for byte. */
function maskRevisions(text: string): string {
  return text.replace(/("?resourceVersion"?: )["']\d+["']/g, '$1"<rv>"');
}

function golden(t: ExecutionContext, name: string, actual: string): void {
  matchesGolden(t, name, maskRevisions(actual));
}

const FORMATS = [
  { flags: [], suffix: 'txt' },
  { flags: ['-o', 'wide'], suffix: 'wide.txt' },
  { flags: ['-o', 'yaml'], suffix: 'yaml' },
  { flags: ['-o', 'json'], suffix: 'json' },
] as const;

/** Every alias an operator may type, with the kind it stands for. */
const ALIASES: readonly (readonly [string, string])[] = [
  ['bgppeer', 'BGPPeer'],
  ['bgppeers', 'BGPPeer'],
  ['bgpp', 'BGPPeer'],
  ['bp', 'BGPPeer'],
  ['BGPPeer', 'BGPPeer'],
  ['ippool', 'IPPool'],
  ['ippools', 'IPPool'],
  ['pool', 'IPPool'],
  ['node', 'Node'],
  ['nodes', 'Node'],
  ['bgpconfig', 'BGPConfiguration'],
  ['bgpconfiguration', 'BGPConfiguration'],
  ['bgpconfigurations', 'BGPConfiguration'],
  ['bgpfilter', 'BGPFilter'],
  ['bgpfilters', 'BGPFilter'],
  ['ipamconfig', 'IPAMConfiguration'],
  ['ipamconfiguration', 'IPAMConfiguration'],
];

// ---------------------------------------------------------------------------------------------------
// Fixtures (written into the test's temp dir, so messages name them relative to it)

const PEER_A = `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: peer-a
spec:
  peerIP: 10.0.0.2
  asNumber: 65002
`;

const PEER_B = `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: peer-b
spec:
  peerIP: 10.0.0.3
  asNumber: 65003
`;

const PEER_A_CHANGED = PEER_A.replace('65002', '65102');

const INVALID = `${PEER_A}---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bad-peer
spec:
  peerIP: 10.0.0.300
  asNumber: 0
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: no-cidr
spec:
  blockSize: 26
`;

function fixture(backend: Backend, name: string, text: string): string {
  writeFileSync(join(backend.dir, name), text);
  return name;
}

// ---------------------------------------------------------------------------------------------------
// Tests against both backends

for (const { name, open } of BACKENDS) {
  test(`${name}: apply every example (golden)`, async (t) => {
    golden(t, 'apply-examples.txt', (await examplesApplied(name, open)).applied);
  });

  for (const kind of RESOURCE_KINDS) {
    test(`${name}: get ${kind} as table, wide, yaml and json (golden)`, async (t) => {
      const { backend } = await examplesApplied(name, open);
      await Promise.all(
        FORMATS.map(async ({ flags, suffix }) => {
          const result = await expectExit(t, backend, ['get', kind.toLowerCase(), ...flags], 0);
          t.is(result.stderr, '');
          golden(t, `get-${kind.toLowerCase()}.${suffix}`, result.stdout);
        }),
      );
    });
  }

  test(`${name}: get KIND NAME prints one resource, bare in yaml (golden)`, async (t) => {
    const { backend } = await examplesApplied(name, open);
    const [yaml, table] = await Promise.all([
      expectExit(t, backend, ['get', 'node', 'rr-1', '-o', 'yaml'], 0),
      expectExit(t, backend, ['get', 'bgppeer', 'rack1-tor'], 0),
    ]);
    golden(t, 'get-node-rr-1.yaml', yaml.stdout);
    golden(t, 'get-bgppeer-rack1-tor.txt', table.stdout);
  });

  test(`${name}: create of an existing resource fails and writes nothing`, async (t) => {
    const backend = await open(byTest(t));
    await expectExit(t, backend, ['create', '-f', fixture(backend, 'a.yaml', PEER_A)], 0);
    const both = fixture(backend, 'both.yaml', `${PEER_B}---\n${PEER_A}`);
    const result = await expectExit(t, backend, ['create', '-f', both], 1);
    t.deepEqual(lines(result.stderr), [
      'BGPPeer/peer-a: already exists (use replace or apply)',
      'Failed to create: 1 resource(s) already exist; nothing was written',
    ]);
    t.is(result.stdout, '');
    const peers = await expectExit(t, backend, ['get', 'bgppeer'], 0);
    t.deepEqual(lines(peers.stdout).slice(1), ['peer-a   10.0.0.2   (global)   65002']);
    // --skip-exists creates the rest.
    const skipped = await expectExit(t, backend, ['create', '-f', both, '--skip-exists'], 0);
    t.deepEqual(lines(skipped.stdout), [
      "Successfully created 1 'BGPPeer' resource(s)",
      'Skipped 1 resource(s) that already exist',
    ]);
  });

  test(`${name}: replace of a missing resource fails and writes nothing; replace of a present one works`, async (t) => {
    const backend = await open(byTest(t));
    await expectExit(t, backend, ['apply', '-f', fixture(backend, 'a.yaml', PEER_A)], 0);
    const mixed = fixture(backend, 'mixed.yaml', `${PEER_A_CHANGED}---\n${PEER_B}`);
    const result = await expectExit(t, backend, ['replace', '-f', mixed], 1);
    t.deepEqual(lines(result.stderr), [
      'BGPPeer/peer-b: does not exist (use create or apply)',
      'Failed to replace: 1 resource(s) do not exist; nothing was written',
    ]);
    const unchanged = await expectExit(t, backend, ['get', 'bgppeer', 'peer-a', '-o', 'json'], 0);
    t.is((JSON.parse(unchanged.stdout) as { spec: { asNumber: number } }).spec.asNumber, 65002);
    const replaced = await expectExit(
      t,
      backend,
      ['replace', '-f', fixture(backend, 'a2.yaml', PEER_A_CHANGED)],
      0,
    );
    t.is(replaced.stdout, "Successfully replaced 1 'BGPPeer' resource(s)\n");
    const changed = await expectExit(t, backend, ['get', 'bgppeer', 'peer-a', '-o', 'json'], 0);
    t.is((JSON.parse(changed.stdout) as { spec: { asNumber: number } }).spec.asNumber, 65102);
  });

  test(`${name}: delete by kind and name, and by file`, async (t) => {
    const backend = await open(byTest(t));
    const reflectors = join(EXAMPLES, 'route-reflectors.yaml');
    await expectExit(t, backend, ['apply', '-f', reflectors], 0);
    const one = await expectExit(t, backend, ['delete', 'node', 'rr-1'], 0);
    t.is(one.stdout, "Successfully deleted 1 'Node' resource(s)\n");
    const again = await expectExit(t, backend, ['delete', 'nodes', 'rr-1'], 1);
    t.deepEqual(lines(again.stderr), [
      'Node/rr-1: does not exist',
      'Failed to delete: 1 resource(s) do not exist; nothing was deleted',
    ]);
    // The file names rr-1, which is gone: nothing in it is deleted.
    await expectExit(t, backend, ['delete', '-f', reflectors], 1);
    t.deepEqual(lines((await expectExit(t, backend, ['get', 'node'], 0)).stdout), [
      'NAME   ASN       IPV4           IPV6',
      'rr-2   (64512)   10.0.0.12/24',
    ]);
    const rest = await expectExit(t, backend, ['delete', '-f', reflectors, '--skip-not-exists'], 0);
    t.deepEqual(lines(rest.stdout), [
      "Successfully deleted 1 'BGPConfiguration' resource(s)",
      "Successfully deleted 1 'Node' resource(s)",
      "Successfully deleted 1 'BGPPeer' resource(s)",
      'Skipped 1 resource(s) that do not exist',
    ]);
    for (const kind of ['node', 'bgppeer', 'bgpconfig']) {
      t.is(lines((await expectExit(t, backend, ['get', kind], 0)).stdout).length, 1, `${kind}: header only`);
    }
    const missing = await expectExit(t, backend, ['get', 'node', 'rr-1'], 1);
    t.is(missing.stderr, 'Node/rr-1: does not exist\n');
    t.is(missing.stdout, '');
  });

  test(`${name}: an invalid file prints each error and writes nothing`, async (t) => {
    const backend = await open(byTest(t));
    const result = await expectExit(
      t,
      backend,
      ['apply', '-f', fixture(backend, 'invalid.yaml', INVALID)],
      1,
    );
    t.deepEqual(lines(result.stderr), [
      'invalid.yaml:14: BGPPeer/bad-peer: spec.peerIP: "10.0.0.300" is not an IP address or ip:port',
      'invalid.yaml:15: BGPPeer/bad-peer: spec.asNumber: AS 0 is reserved (RFC 7607)',
      'invalid.yaml:22: IPPool/no-cidr: spec.cidr: required',
      'Failed to apply resources from invalid.yaml: 3 error(s); nothing was written',
    ]);
    t.is(result.stdout, '');
    // peer-a is valid, but it came in the same file: not written either.
    for (const kind of ['bgppeer', 'ippool']) {
      t.deepEqual(lines((await expectExit(t, backend, ['get', kind, '-o', 'json'], 0)).stdout).slice(0, 5), [
        '{',
        '  "apiVersion": "projectcalico.org/v3",',
        `  "kind": "${kind === 'bgppeer' ? 'BGPPeer' : 'IPPool'}List",`,
        '  "metadata": {},',
        '  "items": []',
      ]);
    }
  });

  test(`${name}: -f - reads stdin, and get -o yaml applies back`, async (t) => {
    const backend = await open(byTest(t));
    const created = await expectExit(t, backend, ['create', '-f', '-'], 0, {
      input: `${PEER_A}---\n${PEER_B}`,
    });
    t.is(created.stdout, "Successfully created 2 'BGPPeer' resource(s)\n");
    const listed = await expectExit(t, backend, ['get', 'bgppeers', '-o', 'yaml'], 0);
    t.regex(listed.stdout, /^kind: BGPPeerList$/m);
    const reapplied = await expectExit(t, backend, ['apply', '-f', '-'], 0, { input: listed.stdout });
    t.is(reapplied.stdout, "Successfully applied 2 'BGPPeer' resource(s)\n");
    const invalid = await expectExit(t, backend, ['apply', '-f', '-'], 1, { input: INVALID });
    t.is(
      lines(invalid.stderr)[0],
      'stdin:14: BGPPeer/bad-peer: spec.peerIP: "10.0.0.300" is not an IP address or ip:port',
    );
    const empty = await expectExit(t, backend, ['apply', '-f', '-'], 1, { input: '# nothing\n' });
    t.is(empty.stderr, 'Failed to apply: no resources in stdin\n');
  });
}

test('kind aliases name the same kind', async (t) => {
  const backend = await embedded(byTest(t));
  await Promise.all(
    ALIASES.map(async ([alias, kind]) => {
      const result = await expectExit(t, backend, ['get', alias, '-o', 'json'], 0);
      t.is((JSON.parse(result.stdout) as { kind: string }).kind, `${kind}List`, alias);
    }),
  );
});

// ---------------------------------------------------------------------------------------------------
// Usage, help, version, an unreachable datastore

const USAGE_ERRORS: readonly (readonly [readonly string[], string])[] = [
  [[], 'brindlectl: no command given'],
  [['frob'], 'brindlectl: unknown command "frob"'],
  [['get'], 'brindlectl get: missing KIND'],
  [
    ['get', 'widgets'],
    'brindlectl get: unknown resource kind "widgets" (one of: bgpconfiguration, bgppeer, bgpfilter, node, ippool, ipamconfiguration, bfdconfiguration)',
  ],
  [
    ['get', 'bp', '-o', 'xml'],
    'brindlectl get: unknown output format "xml" (one of: table, wide, yaml, json)',
  ],
  [['get', 'bp', '--bogus'], 'brindlectl get: unknown option "--bogus"'],
  [['apply'], 'brindlectl apply: missing -f FILE (or -f - for stdin)'],
  [['apply', '-f'], 'brindlectl apply: option --filename needs a value'],
  [
    ['apply', '-f', 'x.yaml', 'extra'],
    'brindlectl apply: unexpected argument "extra" (resources come from -f FILE)',
  ],
  [['delete', 'bgppeer'], 'brindlectl delete: missing NAME (delete KIND NAME... or delete -f FILE)'],
  [['version', 'extra'], 'brindlectl version: unexpected argument "extra"'],
  [['--config'], 'brindlectl: option --config needs a value'],
];

test('usage errors exit 2 with the reason and a pointer to --help, and touch no datastore', async (t) => {
  const dir = await tempDir(byTest(t));
  // A datastore that cannot open: a usage error must be found before the datastore is tried.
  const env = { BRINDLE_DATASTORE_PATH: '/dev/null/store' };
  await Promise.all(
    USAGE_ERRORS.map(async ([args, message]) => {
      const result = await brindlectl(args, { cwd: dir, env });
      t.is(result.code, 2, `${args.join(' ')}\n${show(result)}`);
      t.is(lines(result.stderr)[0], message);
      t.regex(lines(result.stderr)[1] ?? '', /^Run 'brindlectl( \w+)? --help' for usage\.$/);
      t.is(result.stdout, '');
    }),
  );
});

test('an unreadable input file or an invalid config is a usage error (exit 2)', async (t) => {
  const dir = await tempDir(byTest(t));
  const missing = await brindlectl(['apply', '-f', 'missing.yaml'], { cwd: dir });
  t.is(missing.code, 2, show(missing));
  t.is(missing.stderr, 'Failed to read missing.yaml: no such file\n');
  writeFileSync(join(dir, 'typo.yaml'), 'datastore:\n  tpye: etcd\n');
  const typo = await brindlectl(['--config', 'typo.yaml', 'get', 'bgppeer'], { cwd: dir });
  t.is(typo.code, 2, show(typo));
  t.deepEqual(lines(typo.stderr), [
    'Invalid configuration in typo.yaml:',
    "  configuration param 'datastore.tpye' not declared in the schema",
  ]);
});

test('--help for brindlectl and each command, with the exit codes; version', async (t) => {
  const dir = await tempDir(byTest(t));
  const top = await brindlectl(['--help'], { cwd: dir });
  t.is(top.code, 0, show(top));
  t.regex(top.stdout, /^usage: brindlectl \[--config FILE\] COMMAND/);
  t.regex(top.stdout, /^ {2}3 {2}datastore unavailable/m);
  const asked = [
    ...['apply', 'create', 'replace', 'get', 'delete', 'version'].map((command) => [command, '--help']),
    ['help', 'delete'],
    ['get', 'bgppeer', '-h'],
  ];
  await Promise.all(
    asked.map(async (args) => {
      const result = await brindlectl(args, { cwd: dir });
      t.is(result.code, 0, show(result));
      t.true(
        result.stdout.startsWith(`usage: brindlectl ${args[0] === 'help' ? args[1] : args[0]}`),
        args.join(' '),
      );
      t.regex(result.stdout, /^Exit codes:$/m, args.join(' '));
    }),
  );
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const args of [['version'], ['--version']]) {
    const result = await brindlectl(args, { cwd: dir });
    t.is(result.stdout, `Client Version:   ${pkg.version}\n`, show(result));
  }
});

test('an etcd endpoint with nothing listening: exit 3 within a few seconds, naming the endpoint', async (t) => {
  const dir = await tempDir(byTest(t));
  const port = await freePort();
  const config = join(dir, 'brindle.yaml');
  writeFileSync(config, `datastore:\n  type: etcd\n  etcdEndpoints: ['http://127.0.0.1:${port}']\n`);
  // Found through $BRINDLE_CONFIG this time.
  for (const args of [
    ['get', 'bgppeer'],
    ['apply', '-f', join(EXAMPLES, 'tor-peer.yaml')],
    ['delete', 'bp', 'x'],
  ]) {
    const result = await brindlectl(args, { cwd: dir, env: { BRINDLE_CONFIG: config } });
    t.is(result.code, 3, show(result));
    t.true(
      result.stderr.startsWith(`Datastore unavailable (etcd http://127.0.0.1:${port}, prefix /brindle/): `),
      result.stderr,
    );
    t.is(lines(result.stderr).length, 1, result.stderr);
    t.is(result.stderr.split('ECONNREFUSED').length, 2, `the reason once: ${result.stderr}`);
    // The per-call bound is 5 s; a refused connection fails at once. Either way, not a hang — the
    // bound checked is loose, since a CI runner busy with the rest of the suite stretches wall time.
    t.true(result.elapsedMs < 45_000, `took ${result.elapsedMs} ms`);
  }
});

test('an embedded store that cannot be opened: exit 3, naming the path', async (t) => {
  const dir = await tempDir(byTest(t));
  const result = await brindlectl(['get', 'ippool'], {
    cwd: dir,
    env: { BRINDLE_DATASTORE_PATH: '/dev/null/store' },
  });
  t.is(result.code, 3, show(result));
  t.is(lines(result.stderr).length, 1, result.stderr);
  t.true(
    result.stderr.startsWith('Datastore unavailable (embedded datastore /dev/null/store): '),
    result.stderr,
  );
});

test('an etcd endpoint that accepts connections but never answers: exit 3 after the 5 s bound', async (t) => {
  const dir = await tempDir(byTest(t));
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const address = silent.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const env = { BRINDLE_DATASTORE: 'etcd', BRINDLE_ETCD_ENDPOINTS: `http://127.0.0.1:${port}` };
  const result = await brindlectl(['get', 'bgppeer'], { cwd: dir, env });
  t.is(result.code, 3, show(result));
  t.true(
    result.stderr.startsWith(`Datastore unavailable (etcd http://127.0.0.1:${port}, prefix /brindle/): `),
    result.stderr,
  );
  // Not a hang: the 5 s per-call bound ends it (loosely checked, as above).
  t.true(result.elapsedMs < 60_000, `took ${result.elapsedMs} ms`);
});
