// scripts/package.sh (`npm run package`): the Debian package it builds — in a network namespace of
// its own with nothing but loopback, so the build provably fetches nothing — holds the compiled tree
// and no TypeScript or development package, names its architecture and its Node.js dependency, and
// installs into a scratch root with `dpkg --root DIR --force-script-chrootless`, the maintainer
// scripts working inside DIR: the programs run from there, the units pass `systemd-analyze verify`,
// an operator's config survives a reinstall, and a purge leaves nothing of the package behind.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { UNITS, unitCopies } from './unit-copies.ts';

const execFileAsync = promisify(execFile);
const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const LIB = 'usr/lib/brindle';

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `file` with `input` on stdin (closed after it, so nothing waits for more). */
async function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  input = '',
): Promise<Result> {
  try {
    const running = execFileAsync(file, args, {
      timeout: 300_000,
      killSignal: 'SIGKILL',
      env,
      cwd: CHECKOUT,
      maxBuffer: 64 * 1024 * 1024,
    });
    // A program that exits without reading its stdin makes the write fail with EPIPE: no matter.
    running.child.stdin?.on('error', () => undefined).end(input);
    const { stdout, stderr } = await running;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function onPath(command: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${command}`])).code === 0;
}

const scratchDirs: string[] = [];
async function scratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratchDirs.push(dir);
  return dir;
}
test.after.always(async () => {
  for (const dir of scratchDirs) await rm(dir, { recursive: true, force: true });
});

/** The package, built once; fast compression (the default, xz -6, is for releases). */
let built: Promise<{ deb: string; result: Result }> | undefined;
function buildPackage(): Promise<{ deb: string; result: Result }> {
  built ??= (async () => {
    const out = await scratch('brindle-deb-');
    const env = { ...process.env, DPKG_DEB_COMPRESSOR_LEVEL: '1' };
    const result = await run('unshare', ['--net', 'bash', 'scripts/package.sh', '--out', out], env);
    return { deb: result.stdout.trim().split('\n').at(-1) ?? '', result };
  })();
  return built;
}

/** An empty root with a dpkg database of its own. */
async function scratchRoot(): Promise<string> {
  const root = await scratch('brindle-root-');
  for (const dir of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc'])
    await mkdir(join(root, dir), { recursive: true });
  await writeFile(join(root, 'var/lib/dpkg/status'), '');
  return root;
}

/** dpkg on `root`, maintainer scripts run outside a chroot with DPKG_ROOT set; Node.js is the host's. */
function dpkg(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return run('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', ...args], {
    ...process.env,
    ...env,
  });
}

async function installed(t: ExecutionContext, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { deb } = await buildPackage();
  const root = await scratchRoot();
  const result = await dpkg(root, ['-i', deb], env);
  t.is(result.code, 0, result.stderr);
  return root;
}

test('npm run package builds brindle_VERSION_ARCH.deb without a network', async (t) => {
  const { deb, result } = await buildPackage();
  t.is(result.code, 0, result.stderr);
  const pkg = JSON.parse(await readFile(join(CHECKOUT, 'package.json'), 'utf8')) as { version: string };
  const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim();
  t.is(deb.split('/').at(-1), `brindle_${pkg.version}_${arch}.deb`);
  t.true(existsSync(deb));
});

test('the package holds the compiled tree, the programs, units and configs, and no TypeScript', async (t) => {
  const { deb } = await buildPackage();
  const listing = await run('dpkg-deb', ['--contents', deb]);
  t.is(listing.code, 0, listing.stderr);
  const entries = new Map<string, string>();
  for (const line of listing.stdout.trim().split('\n')) {
    const [, path, target] = /^\S+ \S+ +\d+ \S+ \S+ \.\/(\S*)(?: -> (\S+))?$/.exec(line) ?? [];
    if (path !== undefined) entries.set(path.replace(/\/$/, ''), target ?? '');
  }
  for (const path of [
    `${LIB}/bin/brindle`,
    `${LIB}/dist/main/brindle.js`,
    `${LIB}/dist/cli/main.js`,
    `${LIB}/dist/cni/ipam-plugin.js`,
    `${LIB}/systemd/brindle-wait-live`,
    `${LIB}/build/Release/brindle_native.node`,
    `${LIB}/build/Release/brindle-ipam`,
    `${LIB}/node_modules/lmdb/package.json`,
    `${LIB}/node_modules/etcd3/package.json`,
    `${LIB}/config/node.yaml`,
    `${LIB}/config/reflector.yaml`,
    `${LIB}/config/examples/route-reflectors.yaml`,
    ...UNITS.map((unit) => `usr/lib/systemd/system/${unit}`),
    'usr/lib/sysusers.d/brindle.conf',
    'etc/iproute2/rt_protos.d/brindle.conf',
    'usr/share/doc/brindle/README.md',
    'usr/share/doc/brindle/copyright',
  ])
    t.true(entries.has(path), path);
  t.is(entries.get('usr/bin/brindle'), '../lib/brindle/bin/brindle');
  t.is(entries.get('usr/bin/brindlectl'), '../lib/brindle/bin/brindlectl');
  // The CNI plugin is its native front, which runs bin/brindle-ipam when no daemon answers.
  t.is(entries.get('opt/cni/bin/brindle-ipam'), '../../../usr/lib/brindle/build/Release/brindle-ipam');
  t.true(entries.has(`${LIB}/bin/brindle-ipam`));
  t.false(entries.has('etc/brindle/brindle.yaml'), 'postinst writes the config, only when absent');
  const unwanted = [...entries.keys()].filter(
    (path) =>
      /^usr\/lib\/brindle\/(bin|dist)\/.*(\.ts|\.map|tsbuildinfo)$/.test(path) ||
      /^usr\/lib\/brindle\/(src|test|bench|native|tsconfig\.json)(\/|$)/.test(path) ||
      /\/node_modules\/(tsx|esbuild|typescript|ava|eslint|prettier)(\/|$)/.test(path),
  );
  t.deepEqual(unwanted, [], 'no TypeScript, build leftovers or development packages');
});

test('the control data names the version, the architecture and Node.js ≥ 20.19', async (t) => {
  const { deb } = await buildPackage();
  const fields = await run('dpkg-deb', ['--field', deb]);
  t.is(fields.code, 0, fields.stderr);
  const pkg = JSON.parse(await readFile(join(CHECKOUT, 'package.json'), 'utf8')) as { version: string };
  const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim();
  t.regex(fields.stdout, /^Package: brindle$/m);
  t.regex(fields.stdout, new RegExp(`^Version: ${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
  t.regex(fields.stdout, new RegExp(`^Architecture: ${arch}$`, 'm'));
  t.regex(fields.stdout, /^Depends: nodejs \(>= 20\.19\)$/m);
  const control = await scratch('brindle-control-');
  t.is((await run('dpkg-deb', ['--control', deb, control])).code, 0);
  t.is(await readFile(join(control, 'conffiles'), 'utf8'), '/etc/iproute2/rt_protos.d/brindle.conf\n');
  t.deepEqual((await readdir(control)).sort(), ['conffiles', 'control', 'postinst', 'postrm', 'prerm']);
});

test('installed into a scratch root: the programs run, the config and user are made', async (t) => {
  const root = await installed(t);
  const pkg = JSON.parse(await readFile(join(CHECKOUT, 'package.json'), 'utf8')) as { version: string };
  const version = await run(join(root, 'usr/bin/brindle'), ['--version']);
  t.is(version.stdout.trim(), `brindle ${pkg.version}`, version.stderr);
  const ctl = await run(join(root, 'usr/bin/brindlectl'), ['version']);
  t.is(ctl.stdout.trim(), `Client Version:   ${pkg.version}`, ctl.stderr);
  const cni = await run(
    join(root, 'opt/cni/bin/brindle-ipam'),
    [],
    { ...process.env, CNI_COMMAND: 'VERSION' },
    '{"cniVersion": "1.0.0"}',
  );
  t.is(cni.code, 0, cni.stderr);
  t.regex(cni.stdout, /"supportedVersions"/);

  const config = join(root, 'etc/brindle/brindle.yaml');
  t.deepEqual(await readFile(config), await readFile(join(CHECKOUT, 'config/node.yaml')));
  const check = await run(join(root, 'usr/bin/brindle'), ['--config', config, '--check-config']);
  t.is(check.code, 0, check.stderr);
  if (await onPath('systemd-sysusers'))
    t.regex(
      await readFile(join(root, 'etc/passwd'), 'utf8'),
      /^brindle:x:\d+:\d+:[^:]*:\/var\/lib\/brindle:/m,
    );
});

test('BRINDLE_MODE=reflector installs the reflector config', async (t) => {
  const root = await installed(t, { BRINDLE_MODE: 'reflector' });
  t.deepEqual(
    await readFile(join(root, 'etc/brindle/brindle.yaml')),
    await readFile(join(CHECKOUT, 'config/reflector.yaml')),
  );
});

test('systemd-analyze verify accepts the installed units', async (t) => {
  if (!(await onPath('systemd-analyze'))) {
    t.log('systemd-analyze is not installed: the installed units were not verified');
    t.pass();
    return;
  }
  const root = await installed(t);
  const paths = await unitCopies(
    join(root, 'usr/lib/systemd/system'),
    join(root, LIB),
    await scratch('brindle-units-'),
  );
  const verify = await run('systemd-analyze', ['verify', '--man=no', ...paths]);
  t.is(verify.code, 0, verify.stderr);
  t.is(verify.stderr.trim(), '', 'no warnings');
});

test('a reinstall keeps the operator’s config; a purge leaves nothing of the package', async (t) => {
  const { deb } = await buildPackage();
  const root = await installed(t);
  const config = join(root, 'etc/brindle/brindle.yaml');
  const edited = `${await readFile(config, 'utf8')}# edited by the operator\n`;
  await writeFile(config, edited);
  const again = await dpkg(root, ['-i', deb]);
  t.is(again.code, 0, again.stderr);
  t.is(await readFile(config, 'utf8'), edited);
  t.deepEqual(await readFile(`${config}.new`), await readFile(join(CHECKOUT, 'config/node.yaml')));

  const purge = await dpkg(root, ['--purge', 'brindle']);
  t.is(purge.code, 0, purge.stderr);
  const left = (await readdir(root, { recursive: true })).filter(
    (path) => !path.startsWith('var') && !/^etc(\/(passwd|group|shadow|gshadow|\.pwd\.lock))?$/.test(path),
  );
  t.deepEqual(left, [], 'only the dpkg database and the brindle user remain');
});
