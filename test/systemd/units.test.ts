// The systemd units: `systemd-analyze verify` (offline: no systemd runs as PID 1 here) on copies whose
// install prefix /usr/lib/brindle/ is rewritten to this checkout, so verify also proves that ExecStart
// and ExecStartPost name executables that exist; the settings the design relies on; the offline
// security review's exposure; and brindle-wait-live against a live and an absent API.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { freePort } from '../helpers/netns.ts';
import { startApi } from '../api/support.ts';
import { unitCopies } from '../install/unit-copies.ts';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

async function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, {
      timeout: 30_000,
      killSignal: 'SIGKILL',
      env,
      cwd: ROOT,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The unit's [Service] settings; repeated keys are joined with a space. */
async function settings(unit: string): Promise<Map<string, string>> {
  const text = await readFile(join(ROOT, 'systemd', unit), 'utf8');
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1], out.has(m[1]) ? `${out.get(m[1])} ${m[2]}` : m[2]);
  }
  return out;
}

/** Copies of the units with the install prefix pointing at this checkout. */
async function installedCopies(t: { teardown(fn: () => Promise<void>): void }): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-units-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return unitCopies(join(ROOT, 'systemd'), ROOT, dir);
}

test('systemd-analyze verify accepts both units', async (t) => {
  const paths = await installedCopies(t);
  const result = await run('systemd-analyze', ['verify', '--man=no', ...paths]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stderr.trim(), '', 'no warnings');
});

test('the units run as brindle with only the capabilities each mode needs', async (t) => {
  const node = await settings('brindle-node.service');
  const reflector = await settings('brindle-reflector.service');
  for (const unit of [node, reflector]) {
    t.is(unit.get('Type'), 'exec');
    t.is(unit.get('Restart'), 'on-failure');
    t.is(unit.get('User'), 'brindle');
    t.is(unit.get('StateDirectory'), 'brindle');
    t.is(unit.get('ConfigurationDirectory'), 'brindle');
    t.is(unit.get('RuntimeDirectory'), 'brindle');
    t.is(unit.get('ProtectSystem'), 'strict');
    t.is(unit.get('NoNewPrivileges'), 'yes');
    t.is(unit.get('RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX AF_NETLINK');
    t.is(unit.get('SystemCallFilter'), '@system-service');
    t.false(unit.has('MemoryDenyWriteExecute'), "V8's JIT needs W+X memory");
    t.regex(
      unit.get('ExecStart') ?? '',
      /^\/usr\/lib\/brindle\/bin\/brindle --config \/etc\/brindle\/brindle\.yaml$/,
    );
    t.regex(unit.get('ExecStartPost') ?? '', /brindle-wait-live/);
  }
  t.is(node.get('AmbientCapabilities'), 'CAP_NET_ADMIN CAP_NET_BIND_SERVICE');
  t.is(node.get('CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_BIND_SERVICE');
  t.is(reflector.get('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  t.is(reflector.get('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
});

test('the offline security review rates both units OK or better', async (t) => {
  const paths = await installedCopies(t);
  for (const path of paths) {
    const result = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', path]);
    const match = /Overall exposure level for \S+: ([\d.]+) (\S+)/.exec(result.stdout);
    t.truthy(match, result.stdout + result.stderr);
    t.log(`${path.split('/').at(-1)}: exposure ${match?.[1]} ${match?.[2]}`);
    t.true(Number(match?.[1]) <= 3.0, `exposure ${match?.[1]}`);
  }
});

test('ExecStart’s command line is accepted by the daemon', async (t) => {
  for (const config of ['config/node.yaml', 'config/reflector.yaml']) {
    const result = await run(process.execPath, [
      join(ROOT, 'bin/brindle'),
      '--config',
      config,
      '--check-config',
    ]);
    t.is(result.code, 0, result.stderr);
  }
});

test('brindle-wait-live exits 0 once /health/live answers, 1 when nothing does', async (t) => {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: 64512 });
  t.teardown(() => router.close());
  const { api } = await startApi(t, router);
  const script = join(ROOT, 'systemd/brindle-wait-live');
  const env = (listen: string) => ({ ...process.env, BRINDLE_API_LISTEN: listen, BRINDLE_CONFIG: '' });

  const live = await run(script, ['--timeout', '10'], env(`127.0.0.1:${api.address!.port}`));
  t.is(live.code, 0, live.stderr);

  const started = Date.now();
  const absent = await run(script, ['--timeout', '1'], env(`127.0.0.1:${await freePort()}`));
  t.is(absent.code, 1);
  t.regex(absent.stderr, /did not answer 200 within 1 s/);
  t.true(Date.now() - started < 15_000, 'bounded by its timeout');
});
