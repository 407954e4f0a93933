// brindlectl's daemon commands against a running daemon process (its unix socket): status lists a
// configured peer, routes and peers answer, fib says a route reflector has no FIB, and a stopped daemon
// is a clear message with exit 3. (Goldens of every command's output: node-daemon.test.ts.)
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { freePort, waitFor } from '../helpers/netns.ts';

const exec = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const block = 60 + (process.pid % 150);

async function ctl(config: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await exec(
      'node',
      [join(ROOT, 'bin/brindlectl'), '--config', config, ...args],
      { timeout: 30_000 },
    );
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const error = e as { code: number; stdout: string; stderr: string };
    return { code: error.code, out: error.stdout, err: error.stderr };
  }
}

test('status, peers and routes from a running daemon; exit 3 once it stops', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-ctl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const address = `127.${block}.0.1`;
  const config = join(dir, 'brindle.yaml');
  const apiPort = await freePort();
  await writeFile(
    config,
    [
      'mode: reflector',
      'nodeName: ctl-test',
      `node: { ipv4Address: ${address}/32 }`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: ${address}, listenPort: 17991 }`,
      `api: { listen: '127.0.0.1:${apiPort}', socket: ${join(dir, 'brindle.sock')} }`,
      'log: { level: warn }',
    ].join('\n'),
  );
  const peer = join(dir, 'peer.yaml');
  await writeFile(
    peer,
    `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: tor }\nspec: { peerIP: '127.${block}.0.9', asNumber: 65001 }\n`,
  );
  t.is((await ctl(config, 'apply', '-f', peer)).code, 0);

  const daemon = spawn('node', [join(ROOT, 'bin/brindle'), '--config', config], { stdio: 'ignore' });
  let stopped = false;
  t.teardown(() => {
    if (!stopped) daemon.kill('SIGKILL');
  });
  await waitFor(async () => (await ctl(config, 'status')).code === 0, {
    timeoutMs: 30_000,
    intervalMs: 500,
    what: 'the daemon API',
  });

  const status = await ctl(config, 'status');
  t.regex(status.out, /Brindle is running \(router ID 127\.\d+\.0\.1, AS 64512\)/);
  t.regex(status.out, new RegExp(`127\\.${block}\\.0\\.9 +global +start`));
  const json = JSON.parse((await ctl(config, 'status', '-o', 'json')).out) as { peers: { name: string }[] };
  t.deepEqual(
    json.peers.map((p) => p.name),
    [`Global_127_${block}_0_9`],
  );
  t.regex((await ctl(config, 'peers', `127.${block}.0.9`)).out, /peerAs: 65001/);
  t.is((await ctl(config, 'routes')).code, 0);
  t.is((await ctl(config, 'peers', '192.0.2.77')).code, 1, 'an unknown peer is a failure, not a crash');
  const fib = await ctl(config, 'fib');
  t.is(fib.code, 0, 'no FIB is an answer, not an error');
  t.is(fib.out, 'No kernel FIB: reflector mode: a route reflector programs no kernel routes.\n');

  daemon.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => daemon.once('exit', resolve));
  stopped = true;
  t.is(code, 0, 'SIGTERM is an orderly exit');
  const down = await ctl(config, 'status');
  t.is(down.code, 3);
  t.regex(down.err, /Brindle is not running/);
});
