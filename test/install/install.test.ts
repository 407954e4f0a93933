// scripts/install.sh into a temp dir (DESTDIR or --prefix): the tree it installs — the compiled dist/,
// no TypeScript and no tsx — runs (the links, the config check, brindlectl on the embedded store,
// every production dependency); the units, sysusers file, config and rt_protos entry are in place; an
// operator's config is never overwritten;
// a second run changes nothing (same inodes); --dry-run changes nothing; `systemd-analyze verify`
// accepts the installed units with their ExecStart paths pointing into the installed tree. The script
// runs from a snapshot of this checkout (node_modules linked), so edits made to the checkout while the
// tests run cannot look like a second install changing something.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { UNITS, unitCopies } from './unit-copies.ts';

const execFileAsync = promisify(execFile);
const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
/** A checkout as the script sees it; node_modules is linked, not copied. */
const SNAPSHOT = [
  'bin',
  'dist',
  'src',
  'systemd',
  'config',
  'scripts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'README.md',
  // Not to be installed: here so the test can see they are left out.
  'test',
  'bench',
  'native',
];
const ADDON = 'build/Release/brindle_native.node';
const CNI_SHIM = 'build/Release/brindle-ipam';
let ROOT = CHECKOUT;
let SCRIPT = join(CHECKOUT, 'scripts/install.sh');
const LIB = 'usr/lib/brindle';
const RT_PROTOS =
  '# Written by Brindle: the rtm_protocol of its kernel routes (fib.protocol).\n205\tbrindle\n';

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, {
      timeout: 120_000,
      killSignal: 'SIGKILL',
      env: options.env ?? process.env,
      cwd: options.cwd ?? ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The script with DESTDIR set to `root` (unless `root` is undefined). */
function install(root: string | undefined, ...args: string[]): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DESTDIR;
  if (root !== undefined) env.DESTDIR = root;
  return run('bash', [SCRIPT, ...args], { env });
}

const scratchDirs: string[] = [];
test.before(async () => {
  ROOT = await mkdtemp(join(tmpdir(), 'brindle-checkout-'));
  scratchDirs.push(ROOT);
  for (const entry of SNAPSHOT) await cp(join(CHECKOUT, entry), join(ROOT, entry), { recursive: true });
  for (const built of [ADDON, CNI_SHIM])
    if (existsSync(join(CHECKOUT, built))) await cp(join(CHECKOUT, built), join(ROOT, built));
  await symlink(join(CHECKOUT, 'node_modules'), join(ROOT, 'node_modules'));
  SCRIPT = join(ROOT, 'scripts/install.sh');
});
test.after.always(async () => {
  for (const dir of scratchDirs) await rm(dir, { recursive: true, force: true });
});

async function tempRoot(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-install-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function onPath(command: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${command}`])).code === 0;
}

/**
 * Every entry under `dir` with what a rewrite would change: inode, mode, size, mtime, link target. A
 * directory's mtime is left out: the script stages the tree next to /usr/lib/brindle, which touches
 * /usr/lib even when it then finds nothing changed.
 */
async function manifest(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    const s = await lstat(path);
    const target = s.isSymbolicLink() ? await readlink(path) : '';
    const mtime = s.isDirectory() ? '' : s.mtimeMs;
    out.set(entry, `${s.ino} ${s.mode.toString(8)} ${s.size} ${mtime} ${target}`);
  }
  return out;
}

async function same(a: string, b: string): Promise<boolean> {
  return (await readFile(a)).equals(await readFile(b));
}

const installed = async (t: ExecutionContext) => {
  const root = await tempRoot(t);
  const result = await install(root, '--mode', 'node');
  t.is(result.code, 0, result.stderr);
  return { root, result };
};

/** One install shared by the tests that only read it (they write their scratch files elsewhere). */
let sharedInstall: Promise<{ root: string; result: Result }> | undefined;
function shared(): Promise<{ root: string; result: Result }> {
  sharedInstall ??= (async () => {
    const root = await mkdtemp(join(tmpdir(), 'brindle-install-'));
    scratchDirs.push(root);
    return { root, result: await install(root, '--mode', 'node') };
  })();
  return sharedInstall;
}

test('a DESTDIR install lays out the tree, links, config, units and route protocol name', async (t) => {
  const { root, result } = await shared();
  t.is(result.code, 0, result.stderr);
  const lib = join(root, LIB);
  for (const path of [
    'bin/brindle',
    'bin/brindlectl',
    'bin/brindle-ipam',
    'dist/main/brindle.js',
    'dist/cli/main.js',
    'dist/cni/ipam-plugin.js',
    'dist/api/wait-live.js',
    'systemd/brindle-wait-live',
    'config/examples/route-reflectors.yaml',
    'package.json',
    'node_modules/lmdb/package.json',
  ])
    t.true(existsSync(join(lib, path)), path);
  if (existsSync(join(ROOT, ADDON))) t.true(existsSync(join(lib, ADDON)), 'the native addon');
  for (const absent of [
    'test',
    'bench',
    'native',
    '.git',
    '.brindle',
    // The compiled JavaScript runs with plain node: no TypeScript, no tsx, no build leftovers.
    'src',
    'tsconfig.json',
    'dist/main/brindle.d.ts',
    'dist/main/brindle.js.map',
    'dist/.tsbuildinfo',
    'node_modules/tsx',
    'node_modules/esbuild',
    'node_modules/typescript',
    'node_modules/ava',
  ])
    t.false(existsSync(join(lib, absent)), `${absent} is not installed`);
  t.regex(result.stdout, /\d+ production packages/);

  const writable = [...(await manifest(lib))].filter(([, m]) => {
    const mode = parseInt(m.split(' ')[1], 8);
    return (mode & 0o170000) !== 0o120000 && (mode & 0o022) !== 0;
  });
  t.deepEqual(writable, [], 'nothing in the tree is group- or world-writable');

  for (const name of ['brindle', 'brindlectl']) {
    const link = join(root, 'usr/local/bin', name);
    t.true((await lstat(link)).isSymbolicLink());
    t.is(await readlink(link), `../../lib/brindle/bin/${name}`);
  }
  // The CNI plugin: its native front when built (npm ci builds it), else the Node plugin.
  const front = existsSync(join(ROOT, CNI_SHIM));
  t.is(
    await readlink(join(root, 'opt/cni/bin/brindle-ipam')),
    `../../../${LIB}/${front ? CNI_SHIM : 'bin/brindle-ipam'}`,
  );
  if (front) t.true(existsSync(join(lib, CNI_SHIM)), 'the CNI front');
  t.true(await same(join(ROOT, 'config/node.yaml'), join(root, 'etc/brindle/brindle.yaml')));
  t.is((await lstat(join(root, 'etc/brindle/brindle.yaml'))).mode & 0o777, 0o644);
  t.is(await readFile(join(root, 'etc/iproute2/rt_protos.d/brindle.conf'), 'utf8'), RT_PROTOS);

  if (await onPath('systemctl')) {
    for (const unit of UNITS)
      t.true(await same(join(ROOT, 'systemd', unit), join(root, 'usr/lib/systemd/system', unit)), unit);
    t.true(
      await same(join(ROOT, 'systemd/brindle.sysusers.conf'), join(root, 'usr/lib/sysusers.d/brindle.conf')),
    );
  } else {
    t.regex(result.stdout, /units .*skipped: no systemd here/);
  }
});

test('the installed tree runs: brindle and brindlectl through the links, every dependency', async (t) => {
  const { root } = await shared();
  const work = await tempRoot(t);
  const bin = join(root, 'usr/local/bin');
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
  };
  const version = await run(join(bin, 'brindle'), ['--version'], { cwd: work });
  t.is(version.stdout.trim(), `brindle ${pkg.version}`, version.stderr);
  const check = await run(join(bin, 'brindle'), [
    '--config',
    join(root, 'etc/brindle/brindle.yaml'),
    '--check-config',
  ]);
  t.is(check.code, 0, check.stderr);
  t.regex(check.stdout, /^mode: node$/m);

  // brindlectl on an embedded store: lmdb's native module loads from the installed node_modules.
  const config = join(work, 'ctl.yaml');
  await writeFile(config, `datastore: { type: embedded, path: ${join(work, 'store')} }\n`);
  const peer = join(work, 'peer.yaml');
  await writeFile(
    peer,
    'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: tor }\nspec: { peerIP: 192.0.2.1, asNumber: 65001 }\n',
  );
  const applied = await run(join(bin, 'brindlectl'), ['--config', config, 'apply', '-f', peer], {
    cwd: work,
  });
  t.is(applied.code, 0, applied.stderr);
  const got = await run(join(bin, 'brindlectl'), ['--config', config, 'get', 'bgppeers'], { cwd: work });
  t.regex(got.stdout, /tor +192\.0\.2\.1/);

  // Modules the daemon imports only at run time (etcd3 for the etcd datastore) must be there too.
  const imports = Object.keys(pkg.dependencies)
    .map((d) => `await import(${JSON.stringify(d)});`)
    .join(' ');
  const loaded = await run(process.execPath, ['--input-type=module', '-e', imports], {
    cwd: join(root, LIB),
  });
  t.is(loaded.code, 0, loaded.stderr);
});

test('systemd-analyze verify accepts the installed units (their paths resolved in the tree)', async (t) => {
  if (!(await onPath('systemd-analyze')) || !(await onPath('systemctl'))) {
    t.log('systemd-analyze is not installed: the installed units were not verified');
    t.pass();
    return;
  }
  const { root } = await shared();
  const paths = await unitCopies(join(root, 'usr/lib/systemd/system'), join(root, LIB), await tempRoot(t));
  const verify = await run('systemd-analyze', ['verify', '--man=no', ...paths]);
  t.is(verify.code, 0, verify.stderr);
  t.is(verify.stderr.trim(), '', 'no warnings');
  if (await onPath('systemd-sysusers')) {
    // The installed sysusers file, applied to an empty root of its own.
    const users = await tempRoot(t);
    const dir = join(users, 'usr/lib/sysusers.d');
    await mkdir(dir, { recursive: true });
    await mkdir(join(users, 'etc'));
    await writeFile(join(dir, 'brindle.conf'), await readFile(join(root, 'usr/lib/sysusers.d/brindle.conf')));
    const sysusers = await run('systemd-sysusers', [`--root=${users}`]);
    t.is(sysusers.code, 0, sysusers.stderr);
    t.regex(
      await readFile(join(users, 'etc/passwd'), 'utf8'),
      /^brindle:x:\d+:\d+:[^:]*:\/var\/lib\/brindle:/m,
    );
  }
});

test('a second run changes nothing: every file keeps its inode', async (t) => {
  const { root } = await installed(t);
  const before = await manifest(root);
  const again = await install(root, '--mode', 'node');
  t.is(again.code, 0, again.stderr);
  t.deepEqual(await manifest(root), before);
  const lines = again.stdout.split('\n').filter((l) => /^ {2}\S/.test(l));
  t.true(lines.length >= 5, again.stdout);
  for (const line of lines) t.regex(line, /: unchanged/, line);
});

test('an existing config is never overwritten: the shipped one goes to .new', async (t) => {
  const { root } = await installed(t);
  const config = join(root, 'etc/brindle/brindle.yaml');
  const edited = `${await readFile(config, 'utf8')}# edited by the operator\n`;
  await writeFile(config, edited);

  const other = await install(root, '--mode', 'reflector');
  t.is(other.code, 0, other.stderr);
  t.is(await readFile(config, 'utf8'), edited);
  t.true(await same(join(ROOT, 'config/reflector.yaml'), `${config}.new`));
  t.regex(other.stdout, /kept \(not overwritten\).*brindle\.yaml\.new/);
  t.regex(other.stderr, /says mode: node, but --mode reflector was given/);

  const before = await manifest(root);
  const again = await install(root, '--mode', 'reflector');
  t.is(again.code, 0, again.stderr);
  t.is(await readFile(config, 'utf8'), edited);
  t.deepEqual(await manifest(root), before, 'the .new file is not rewritten either');
});

test('--prefix installs like DESTDIR; --dry-run prints and changes nothing', async (t) => {
  const root = await tempRoot(t);
  const dry = await install(undefined, '--mode', 'reflector', '--prefix', root, '--dry-run');
  t.is(dry.code, 0, dry.stderr);
  t.deepEqual(await readdir(root), [], 'nothing written');
  t.regex(dry.stdout, /tree +\/usr\/lib\/brindle: would be installed/);
  t.regex(
    dry.stdout,
    /would run: install -D -m 0644 \S+\/config\/reflector\.yaml \S+\/etc\/brindle\/brindle\.yaml/,
  );

  const real = await install(undefined, '--mode', 'reflector', `--prefix=${root}`);
  t.is(real.code, 0, real.stderr);
  t.true(await same(join(ROOT, 'config/reflector.yaml'), join(root, 'etc/brindle/brindle.yaml')));
  t.true(existsSync(join(root, LIB, 'bin/brindle')));
});

test('another file naming protocol 205 is reported', async (t) => {
  const root = await tempRoot(t);
  await mkdir(join(root, 'etc/iproute2/rt_protos.d'), { recursive: true });
  await writeFile(join(root, 'etc/iproute2/rt_protos.d/frr.conf'), '186  bgp\n205  other\n');
  const result = await install(root, '--mode', 'node', '--dry-run');
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /\/etc\/iproute2\/rt_protos\.d\/frr\.conf names 205 "other"/);
});

test('usage errors exit 2 and change nothing', async (t) => {
  const root = await tempRoot(t);
  for (const args of [
    [],
    ['--mode', 'router'],
    ['--mode', 'node', '--bogus'],
    ['--mode', 'node', '--enable'],
  ]) {
    const result = await install(root, ...args);
    t.is(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    t.regex(result.stderr, /^usage: scripts\/install\.sh/m);
  }
  t.deepEqual(await readdir(root), []);
});
