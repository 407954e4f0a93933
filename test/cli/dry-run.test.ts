// `brindlectl apply|delete --dry-run` against a running daemon process: the daemon says which of its
// sessions a change would add, remove or reset, a filters-only change resets nothing, invalid input
// fails as without --dry-run, and the datastore is the same afterwards. Without a daemon, only
// validation is done and the output says so.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { brindlectlResult, cleanEnv } from '../helpers/brindle.ts';
import { freePort, waitFor } from '../helpers/netns.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const block = 60 + ((process.pid + 77) % 150);
const net = `127.${block}.0`;
const session = (last: number) => `Global_127_${block}_0_${last}`;

const peerYaml = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: ${name} }\nspec: ${spec}\n`;

test('apply --dry-run previews session changes from the running daemon and writes nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-dry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'brindle.yaml');
  const apiPort = await freePort();
  await writeFile(
    config,
    [
      'mode: reflector',
      'nodeName: dry-run',
      `node: { ipv4Address: ${net}.1/32 }`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: ${net}.1, listenPort: ${await freePort()} }`,
      `api: { listen: '127.0.0.1:${apiPort}', socket: ${join(dir, 'brindle.sock')} }`,
      'log: { level: warn }',
    ].join('\n'),
  );
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const ctl = (...args: string[]) => brindlectlResult(config, ...args);
  const tor = await file('tor.yaml', peerYaml('tor', `{ peerIP: '${net}.9', asNumber: 65001 }`));
  t.is((await ctl('apply', '-f', tor)).code, 0);

  const daemon = spawn(process.execPath, [join(ROOT, 'bin/brindle'), '--config', config], {
    stdio: 'ignore',
    env: cleanEnv(),
  });
  let stopped = false;
  t.teardown(() => {
    if (!stopped) daemon.kill('SIGKILL');
  });
  await waitFor(async () => (await ctl('status')).code === 0, {
    timeoutMs: 30_000,
    intervalMs: 500,
    what: 'the daemon API',
  });
  const stored = async () => (await ctl('get', 'bgppeer', '-o', 'yaml')).stdout;
  const before = await stored();

  const spine = await file('spine.yaml', peerYaml('spine', `{ peerIP: '${net}.20', asNumber: 65020 }`));
  const added = await ctl('apply', '-f', spine, '--dry-run');
  t.is(added.code, 0, added.stderr);
  t.regex(added.stdout, /^dry run: nothing was written$/m);
  t.regex(added.stdout, new RegExp(`^added +${session(20)} +spine +${net}\\.20$`, 'm'));
  t.regex(added.stdout, /^1 session\(s\) unchanged\.$/m);

  const newAs = await file('as.yaml', peerYaml('tor', `{ peerIP: '${net}.9', asNumber: 65002 }`));
  const reset = await ctl('create', '-f', newAs, '--dry-run');
  t.is(reset.code, 1, 'create --dry-run refuses what exists, as create does');
  t.regex(reset.stderr, /BGPPeer\/tor: already exists/);
  const replaced = await ctl('replace', '-f', newAs, '--dry-run');
  t.regex(replaced.stdout, new RegExp(`^reset +${session(9)} +tor +${net}\\.9 +peerAs$`, 'm'));

  const moved = await file('moved.yaml', peerYaml('tor', `{ peerIP: '${net}.10', asNumber: 65001 }`));
  const json = await ctl('apply', '-f', moved, '--dry-run', '-o', 'json');
  t.is(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as {
    written: boolean;
    sessions: { added: { session: string }[]; removed: { session: string }[]; reset: unknown[] };
  };
  t.false(doc.written);
  t.deepEqual(
    doc.sessions.added.map((s) => s.session),
    [session(10)],
  );
  t.deepEqual(
    doc.sessions.removed.map((s) => s.session),
    [session(9)],
  );
  t.deepEqual(doc.sessions.reset, []);

  const filters = await file(
    'filters.yaml',
    peerYaml('tor', `{ peerIP: '${net}.9', asNumber: 65001, filters: [only-pods] }`),
  );
  const inPlace = await ctl('apply', '-f', filters, '--dry-run');
  t.is(inPlace.code, 0, inPlace.stderr);
  t.regex(inPlace.stdout, new RegExp(`^in place +${session(9)} +tor +${net}\\.9 +filters$`, 'm'));
  t.notRegex(inPlace.stdout, /^reset/m);

  const overTcp = await fetch(`http://127.0.0.1:${apiPort}/api/v1/preview/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ operation: 'delete', resources: [] }),
  });
  t.is(overTcp.status, 403, 'the preview is served on the control socket only');

  const removed = await ctl('delete', 'bgppeer', 'tor', '--dry-run');
  t.regex(removed.stdout, new RegExp(`^removed +${session(9)} +tor +${net}\\.9$`, 'm'));

  const invalid = await file('bad.yaml', peerYaml('bad', `{ peerIP: 'not-an-ip', asNumber: 65001 }`));
  const failed = await ctl('apply', '-f', invalid, '--dry-run');
  t.is(failed.code, 1);
  t.regex(failed.stderr, /peerIP/);
  t.is((await ctl('apply', '-f', tor, '--dry-run', '-o', 'yaml')).code, 2, '-o is table or json');

  t.is(await stored(), before, 'the datastore is unchanged');
  const status = (await ctl('status', '-o', 'json')).stdout;
  t.deepEqual(
    (JSON.parse(status) as { peers: { name: string }[] }).peers.map((p) => p.name),
    [session(9)],
    "the daemon's sessions are unchanged",
  );

  daemon.kill('SIGTERM');
  await new Promise((resolve) => daemon.once('exit', resolve));
  stopped = true;
  const alone = await ctl('apply', '-f', spine, '--dry-run');
  t.is(alone.code, 0, alone.stderr);
  t.regex(alone.stdout, /^dry run: nothing was written$/m);
  t.regex(alone.stdout, /^No daemon answered, so only validation was done/m);
  t.is(await stored(), before);
});
