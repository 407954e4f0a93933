// brindlectl against a running reflector with a few thousand routes from one BGP speaker (in this test
// process, on loopback): routes pages with a notice of how many more, --all pages through the table in
// prefix order, --count, longest match, --longer, filters; peers PEER received|advertised; reset
// (hard and soft), reload, log-level and version over the control socket; the completion script and
// the man page from the command table. Every child is stopped by its PID in the teardown.
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { Origin } from '../../src/bgp/constants.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import { call } from '../api/support.ts';
import { cleanEnv } from '../helpers/brindle.ts';
import { freePort, waitFor } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';
import type { TestRoute } from '../helpers/routes.ts';
import { speaker } from '../helpers/session.ts';
import type { Speaker } from '../helpers/session.ts';

const exec = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const block = 40 + (process.pid % 150);
const DAEMON = `127.${block}.7.1`;
const SPEAKER = `127.${block}.7.9`;
const SPEAKER_PORT = 17_000 + (process.pid % 500);
const DAEMON_PORT = 17_600 + (process.pid % 300);
/** /24s from 10.50.0.0/24 to 10.59.195.0/24, and 10.59.0.0/16, which covers the rest of 10.59. */
const ROUTES = 2500;

interface Cli {
  code: number;
  out: string;
  err: string;
}

async function ctl(config: string, ...args: string[]): Promise<Cli> {
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      [join(ROOT, 'bin/brindlectl'), '--config', config, ...args],
      { timeout: 30_000, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const error = e as { code: number; stdout: string; stderr: string };
    return { code: error.code, out: error.stdout, err: error.stderr };
  }
}

function testRoutes(): TestRoute[] {
  const routes: TestRoute[] = [];
  for (let i = 0; i < ROUTES; i++) {
    const prefix = `10.${50 + (i >> 8)}.${i & 255}.0/24`;
    const communities = i % 10 === 0 ? [65001 * 65536 + 10] : undefined;
    routes.push({
      prefix,
      attributes: { origin: Origin.Igp, asPath: [{ type: 2, asns: [65001] }], nextHop: SPEAKER, communities },
    });
  }
  routes.push({
    prefix: '10.59.0.0/16',
    attributes: { origin: Origin.Igp, asPath: [{ type: 2, asns: [65001] }], nextHop: SPEAKER },
  });
  return routes;
}

interface Fixture {
  config: string;
  socket: string;
  peer: Speaker;
}

let fixture: Promise<Fixture> | undefined;
const teardown: (() => Promise<void> | void)[] = [];
test.after.always(async () => {
  for (const step of teardown.reverse()) await step();
});

async function setup(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-ctl-op-'));
  teardown.push(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'brindle.yaml');
  await writeFile(
    config,
    [
      'mode: reflector',
      'nodeName: ctl-op',
      `node: { ipv4Address: ${DAEMON}/32 }`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: ${DAEMON}, listenPort: ${DAEMON_PORT} }`,
      `api: { listen: '127.0.0.1:${await freePort()}', socket: ${join(dir, 'brindle.sock')} }`,
      'log: { level: warn }',
    ].join('\n'),
  );
  const peerFile = join(dir, 'peer.yaml');
  await writeFile(
    peerFile,
    `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: upstream }\nspec: { peerIP: '${SPEAKER}:${SPEAKER_PORT}', asNumber: 65001 }\n`,
  );
  const applied = await ctl(config, 'apply', '-f', peerFile);
  if (applied.code !== 0) throw new Error(applied.err);

  const bgp = await speaker({ address: SPEAKER, port: SPEAKER_PORT });
  teardown.push(() => bgp.close());
  const peer = bgp.peerWith(DAEMON, {
    localAs: 65001,
    peerAs: 64512,
    passive: true,
    remotePort: DAEMON_PORT,
  });
  peer.events$.subscribe((event) => {
    if (event.kind === 'established') announce(peer, testRoutes());
  });

  const daemon = spawn(process.execPath, [join(ROOT, 'bin/brindle'), '--config', config], {
    stdio: 'ignore',
    env: cleanEnv(),
  });
  teardown.push(async () => {
    if (daemon.exitCode !== null) return;
    daemon.kill('SIGTERM');
    const timer = setTimeout(() => daemon.kill('SIGKILL'), 5_000);
    await new Promise((resolve) => daemon.once('exit', resolve));
    clearTimeout(timer);
  });
  await waitFor(
    async () => {
      if (peer.state !== SessionState.Established) return false;
      const count = await ctl(config, 'routes', '--count', '-o', 'json');
      return count.code === 0 && (JSON.parse(count.out) as { total: number }).total === ROUTES + 1;
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'the daemon to hold every route' },
  );
  return { config, socket: join(dir, 'brindle.sock'), peer: bgp };
}

function ready(): Promise<Fixture> {
  fixture ??= setup();
  return fixture;
}

const prefixesOf = (table: string) =>
  table
    .split('\n')
    .filter((line) => /^\d/.test(line))
    .map((line) => line.split(/\s+/)[0]);

test('routes: a default page says how many more; --limit, --all, --count', async (t) => {
  const { config } = await ready();
  const page = await ctl(config, 'routes');
  t.is(page.code, 0);
  t.is(prefixesOf(page.out).length, 1000);
  t.deepEqual(prefixesOf(page.out).slice(0, 2), ['10.50.0.0/24', '10.50.1.0/24'], 'prefix order');
  t.regex(page.out, /\.\.\. 1,501 more of 2,501 matching destinations: raise --limit, use --all/);

  const ten = await ctl(config, 'routes', '--limit', '10');
  t.deepEqual(prefixesOf(ten.out).slice(0, 3), ['10.50.0.0/24', '10.50.1.0/24', '10.50.2.0/24']);
  t.regex(ten.out, /2,491 more/);

  const all = await ctl(config, 'routes', '--all');
  t.is(all.code, 0);
  const listed = prefixesOf(all.out);
  t.is(listed.length, ROUTES + 1, 'every destination, once');
  t.is(new Set(listed).size, ROUTES + 1);
  t.notRegex(all.out, /more of/);
  t.is(all.out.match(/^PREFIX/gm)?.length, 1, 'one header');

  const json = JSON.parse((await ctl(config, 'routes', '--all', '-o', 'json')).out) as {
    count: number;
    routes: { prefix: string }[];
  };
  t.is(json.count, ROUTES + 1);
  t.is(json.routes.length, ROUTES + 1);

  const count = await ctl(config, 'routes', '--count');
  t.is(
    count.out,
    'FAMILY         DESTINATIONS   PATHS\nipv4-unicast   2,501          2,501\nipv6-unicast   0              0\ntotal          2,501          2,501\n',
  );
  const bad = await ctl(config, 'routes', '--limit', '0');
  t.is(bad.code, 2);
  t.is((await ctl(config, 'routes', '--all', '--limit', '5')).code, 2);
});

test('routes: longest match, --longer and the filters', async (t) => {
  const { config } = await ready();
  t.deepEqual(prefixesOf((await ctl(config, 'routes', 'for', '10.50.3.77')).out), ['10.50.3.0/24']);
  t.deepEqual(
    prefixesOf((await ctl(config, 'routes', '10.59.200.1')).out),
    ['10.59.0.0/16'],
    'the /16 covers what no /24 does',
  );
  const longer = prefixesOf((await ctl(config, 'routes', '10.51.0.0/16', '--longer', '--all')).out);
  t.is(longer.length, 256, 'the /24s of 10.51.0.0/16');
  const longer59 = prefixesOf((await ctl(config, 'routes', '10.59.0.0/16', '--longer')).out);
  t.deepEqual(
    longer59.slice(0, 2),
    ['10.59.0.0/16', '10.59.0.0/24'],
    'the prefix itself, then the more specifics',
  );
  t.is(longer59.length, 197);
  const community = await ctl(config, 'routes', '--community', '65001:10', '--count', '-o', 'json');
  t.is((JSON.parse(community.out) as { total: number }).total, ROUTES / 10);
  for (const peer of ['upstream', SPEAKER]) {
    const byPeer = await ctl(config, 'routes', '--peer', peer, '--count', '-o', 'json');
    t.is((JSON.parse(byPeer.out) as { total: number }).total, ROUTES + 1, `--peer ${peer}`);
  }
  const hop = await ctl(config, 'routes', '--next-hop', '192.0.2.1');
  t.is(hop.out, 'No matching routes.\n');
  t.is((await ctl(config, 'routes', '--family', 'ipx')).code, 2);
  t.is((await ctl(config, 'routes', '--longer')).code, 2);
});

test('peers PEER received and advertised', async (t) => {
  const { config } = await ready();
  const received = await ctl(config, 'peers', 'upstream', 'received', '--limit', '5');
  t.is(received.code, 0, received.err);
  t.regex(received.out, /^Received from Global_127_\d+_7_9_port_\d+ \(upstream\): 2501 destinations\./);
  t.is(prefixesOf(received.out).length, 5);
  const advertised = await ctl(config, 'peers', SPEAKER, 'advertised');
  t.is(advertised.code, 0, advertised.err);
  t.regex(advertised.out, /: 0 destinations\./, 'its own routes are not sent back to it');
  t.is((await ctl(config, 'peers', 'upstream', 'sideways')).code, 2);
});

test('status counts and names the BGPPeer; the metric counts what is advertised', async (t) => {
  const { config, socket } = await ready();
  const metrics = (await call({ socketPath: socket }, 'GET', '/metrics')).text;
  t.regex(
    metrics,
    /^brindle_bgp_prefixes_advertised\{peer="Global_[^"]+",remote="[^"]+",family="ipv4-unicast"\} 0$/m,
    'a sample: nothing goes back to the only peer (its own routes)',
  );
  const status = await ctl(config, 'status');
  t.regex(
    status.out,
    new RegExp(`${SPEAKER.replaceAll('.', '\\.')} +global +up +\\S+ +upstream +2501 +2501 +0 +Established`),
  );
});

test('reset, soft reset, reload, log-level and version over the control socket', async (t) => {
  const { config } = await ready();
  const version = await ctl(config, 'version');
  t.regex(version.out, /^Client Version: +\d+\.\d+\.\d+\nDaemon Version: +\d+\.\d+\.\d+\n$/);
  t.is(version.err, '');

  t.is((await ctl(config, 'log-level')).out, 'warn\n');
  t.is((await ctl(config, 'log-level', 'debug')).out, 'Log level warn -> debug.\n');
  t.is((await ctl(config, 'log-level')).out, 'debug\n');
  t.is((await ctl(config, 'log-level', 'loud')).code, 2);
  t.regex((await ctl(config, 'reload')).out, /^Reloaded the configuration \(log level warn\)\.\n$/);

  const softIn = await ctl(config, 'reset', 'upstream', '--soft', 'in');
  t.is(softIn.code, 0, softIn.err);
  t.regex(softIn.out, /send its routes again \(ipv4-unicast/);
  const softOut = await ctl(config, 'reset', SPEAKER, '--soft', 'out');
  t.is(softOut.code, 0, softOut.err);
  t.is((await ctl(config, 'reset', 'nobody')).code, 1);
  const hard = await ctl(config, 'reset', 'upstream');
  t.regex(hard.out, /^Reset Global_\S+ \(was Established\): Cease\/Administrative Reset sent/);
});

test('completion and man page come from the command table', async (t) => {
  const { config } = await ready();
  const bash = await ctl(config, 'completion', 'bash');
  t.is(bash.code, 0);
  for (const word of [
    'routes)',
    '--longer',
    '--soft) COMPREPLY=($(compgen -W "in out"',
    'complete -F _brindlectl brindlectl',
  ])
    t.true(bash.out.includes(word), word);
  // What bash offers after `brindlectl reset PEER --soft ` and after `brindlectl routes --fam`.
  const complete = (words: string) =>
    exec('bash', [
      '-c',
      `source /dev/stdin <<'EOS'\n${bash.out}EOS\nCOMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _brindlectl; echo "\${COMPREPLY[*]}"`,
    ]);
  t.is((await complete(`brindlectl --config x.yaml reset p --soft ''`)).stdout, 'in out\n');
  t.is((await complete('brindlectl routes --fam')).stdout, '--family\n');
  t.is((await complete('brindlectl re')).stdout, 'replace reset reload restart\n');
  t.regex((await ctl(config, 'completion', 'zsh')).out, /^#compdef brindlectl\n/);
  t.is((await ctl(config, 'completion', 'fish')).code, 2);
  const man = await ctl(config, 'man');
  t.regex(man.out, /^\.TH BRINDLECTL 8/m);
  t.regex(man.out, /^\.SS routes$/m);
  t.regex(man.out, /brindlectl routes 10\.0\.0\.0\/8 --longer/);
  const help = await ctl(config, 'routes', '--help');
  t.regex(help.out, /Examples:\n {2}brindlectl routes\n/);
});
