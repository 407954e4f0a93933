// Signals to real daemon processes (`node bin/brindle --config FILE`, embedded store in a temp dir):
// SIGHUP re-reads the config file (the log level at once, other changes named as needing a restart)
// and lists the resources again, and only the sessions whose parameters changed restart; SIGTERM is a
// Cease/Administrative Shutdown with the shutdown communication, as BIRD 2 reports it, and exit 0
// within 5 s.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brindlectl, cleanEnv, daemonGet } from '../helpers/brindle.ts';
import { interopNetwork } from '../helpers/interop.ts';
import { startDaemon, waitFor, withCleanup } from '../helpers/netns.ts';
import type { Cleanup, Daemon } from '../helpers/netns.ts';
import { startBird } from '../helpers/peers.ts';
import { speaker } from '../helpers/session.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** BGP port of the SIGHUP test's speakers (each on its own loopback address). */
const PORT = 17_995;
const block = 90 + (process.pid % 150);
const ip = (host: number) => `127.${block}.0.${host}`;
/** The interop subnet of the SIGTERM test: 100.64.21.0/24 (test/helpers/interop.ts). */
const NET_INDEX = 21;

interface DaemonConfig {
  readonly name: string;
  readonly address: string;
  readonly prefixLength: number;
  readonly listenPort: number;
  readonly store: string;
  readonly socket: string;
  readonly logLevel: string;
  readonly fibTable?: number;
}

function configText(c: DaemonConfig): string {
  return [
    'mode: reflector',
    `nodeName: ${c.name}`,
    `node: { ipv4Address: ${c.address}/${c.prefixLength} }`,
    `datastore: { type: embedded, path: ${c.store} }`,
    `bgp: { listenAddress: ${c.address}, listenPort: ${c.listenPort} }`,
    `api: { listen: '127.0.0.1:0', socket: ${c.socket} }`,
    `log: { level: ${c.logLevel} }`,
    `fib: { enabled: false, table: ${c.fibTable ?? 254} }`,
    '',
  ].join('\n');
}

/** Resources as YAML documents, applied with `brindlectl apply -f`. */
async function apply(config: string, dir: string, resources: readonly object[]): Promise<void> {
  const file = join(dir, `resources-${Date.now()}.yaml`);
  await writeFile(file, resources.map((r) => JSON.stringify(r)).join('\n---\n'));
  await brindlectl(config, 'apply', '-f', file);
}

const bgpConfiguration = (spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'BGPConfiguration',
  metadata: { name: 'default' },
  spec,
});
const bgpPeer = (name: string, spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'BGPPeer',
  metadata: { name },
  spec,
});

function brindle(config: string, name: string, cleanup: Cleanup): Daemon {
  return startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', config],
    { name, cwd: ROOT, env: cleanEnv() },
    cleanup,
  );
}

interface PeerView {
  readonly name: string;
  readonly remote: string;
  readonly state: string;
  readonly establishedSince: string | null;
  readonly config: { readonly keepaliveTimeSec: number | null };
  readonly counters: { readonly establishedCount: number };
}

/** `brindlectl peers -o json`, by remote address. */
async function peers(config: string): Promise<Map<string, PeerView>> {
  const doc = JSON.parse(await brindlectl(config, 'peers', '-o', 'json')) as { peers: PeerView[] };
  return new Map(doc.peers.map((p) => [p.remote, p]));
}

/** `brindlectl status -o json`: every listed peer Established, and exactly these. */
async function allEstablished(config: string, remotes: readonly string[]): Promise<boolean> {
  const doc = JSON.parse(await brindlectl(config, 'status', '-o', 'json')) as {
    peers: { remote: string; state: string }[];
  };
  const up = doc.peers.filter((p) => p.state === 'Established').map((p) => p.remote);
  return doc.peers.length === remotes.length && remotes.every((r) => up.includes(r));
}

/** The daemon's JSON log lines with this `event`. */
function events(daemon: Daemon, event: string): Record<string, unknown>[] {
  return daemon
    .output()
    .split('\n')
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function logLevel(socketPath: string): Promise<string> {
  const body = await daemonGet({ socketPath }, '/api/v1/log-level', 5_000);
  return (JSON.parse(body) as { level: string }).level;
}

/** The establishment of each session: equal means the session did not restart in between. */
const establishment = (p: PeerView | undefined) => `${p?.establishedSince} #${p?.counters.establishedCount}`;

test('SIGHUP: a changed and an added BGPPeer start their sessions, the unchanged ones stay up', async (t) => {
  const cleanup = withCleanup(t);
  const dir = await mkdtemp(join(tmpdir(), 'brindle-sighup-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const store = join(dir, 'store');
  const node = (name: string, host: number, logLevel = 'info', fibTable?: number): DaemonConfig => ({
    name,
    address: ip(host),
    prefixLength: 32,
    listenPort: PORT,
    store,
    socket: join(dir, `${name}.sock`),
    logLevel,
    fibTable,
  });
  const configA = join(dir, 'a.yaml');
  const configB = join(dir, 'b.yaml');
  await writeFile(configA, configText(node('a', 1)));
  await writeFile(configB, configText(node('b', 2)));

  // A and B mesh; A also peers with two ToR routers (in-process speakers, passive): tor1 now, tor2
  // once added.
  const tor1 = { node: 'a', peerIP: `${ip(3)}:${PORT}`, asNumber: 65001, keepaliveTime: '30s' };
  const tor2 = { node: 'a', peerIP: `${ip(4)}:${PORT}`, asNumber: 65002 };
  await apply(configA, dir, [
    bgpConfiguration({ asNumber: 64512, nodeToNodeMeshEnabled: true, listenPort: PORT }),
    bgpPeer('tor1', tor1),
  ]);
  for (const [host, as] of [
    [3, 65001],
    [4, 65002],
  ]) {
    const tor = await speaker({ address: ip(host), port: PORT, routerId: ip(host) });
    cleanup.add(() => tor.close());
    tor.peerWith(ip(1), { localAs: as, peerAs: 64512, passive: true });
  }
  const a = brindle(configA, 'brindle-a', cleanup);
  const b = brindle(configB, 'brindle-b', cleanup);
  const diagnose = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      t.log(`A:\n${a.output().slice(-3000)}\nB:\n${b.output().slice(-3000)}`);
      throw error;
    }
  };

  await diagnose(() =>
    waitFor(async () => (await allEstablished(configA, [ip(2), ip(3)])) && allEstablished(configB, [ip(1)]), {
      timeoutMs: 45_000,
      intervalMs: 500,
      what: 'A to reach B and tor1, B to reach A',
    }),
  );
  const beforeA = await peers(configA);
  const beforeB = await peers(configB);
  t.is(beforeA.get(ip(3))?.config.keepaliveTimeSec, 30);

  // tor1's keepalive changes, tor2 is added, and A's config file changes its log level (applied at
  // once) and fib.table (needs a restart). Then SIGHUP.
  await apply(configA, dir, [bgpPeer('tor1', { ...tor1, keepaliveTime: '20s' }), bgpPeer('tor2', tor2)]);
  await writeFile(configA, configText(node('a', 1, 'debug', 100)));
  process.kill(a.pid, 'SIGHUP');

  await diagnose(() =>
    waitFor(() => events(a, 'resync').length === 1, { timeoutMs: 15_000, what: 'the re-sync' }),
  );
  await diagnose(() =>
    waitFor(
      async () =>
        (await allEstablished(configA, [ip(2), ip(3), ip(4)])) &&
        (await peers(configA)).get(ip(3))?.config.keepaliveTimeSec === 20,
      { timeoutMs: 30_000, intervalMs: 500, what: 'tor1 back with its new keepalive, and tor2' },
    ),
  );
  const afterA = await peers(configA);
  const afterB = await peers(configB);
  const mesh = beforeA.get(ip(2))!.name;
  t.is(establishment(afterA.get(ip(2))), establishment(beforeA.get(ip(2))), 'A–B did not restart (A)');
  t.is(establishment(afterB.get(ip(1))), establishment(beforeB.get(ip(1))), 'A–B did not restart (B)');
  t.true(
    Date.parse(afterA.get(ip(3))!.establishedSince!) > Date.parse(beforeA.get(ip(3))!.establishedSince!),
    'tor1 restarted',
  );
  const tor1Name = afterA.get(ip(3))!.name;
  const tor2Name = afterA.get(ip(4))!.name;
  t.deepEqual(
    events(a, 'peer-changed').map((e) => e.peer),
    [tor1Name],
    'one restart, of tor1 only',
  );
  t.deepEqual(
    events(a, 'peer-added')
      .map((e) => String(e.peer))
      .sort(),
    [mesh, beforeA.get(ip(3))!.name, tor2Name].sort(),
    'each session added once: B and tor1 at start, tor2 now',
  );
  t.deepEqual(events(a, 'peer-removed'), []);
  t.deepEqual(events(b, 'peer-changed'), []);

  // The config file: the level applies at once, fib.table is named as needing a restart.
  t.is(await logLevel(join(dir, 'a.sock')), 'debug');
  const reloads = events(a, 'reload');
  t.deepEqual(reloads.map((e) => e.needsRestart).filter(Boolean), [['fib.table']]);
  t.regex(a.output(), /"msg":"needs restart: fib\.table changed/);

  // A second SIGHUP with nothing changed restarts nothing.
  process.kill(a.pid, 'SIGHUP');
  await diagnose(() =>
    waitFor(() => events(a, 'resync').length === 2, { timeoutMs: 15_000, what: 'the second re-sync' }),
  );
  const again = await peers(configA);
  for (const remote of [ip(2), ip(3), ip(4)])
    t.is(establishment(again.get(remote)), establishment(afterA.get(remote)), `${remote} stayed up`);
  t.is(events(a, 'peer-changed').length, 1);
  t.is(events(a, 'peer-added').length, 3);
});

test('SIGTERM: BIRD sees Cease/Administrative Shutdown with "brindle stopping (SIGTERM)"; exit 0 within 5 s', async (t) => {
  const cleanup = withCleanup(t);
  const net = await interopNetwork(NET_INDEX, 'signals');
  cleanup.add(() => net.cleanup.run());
  const dir = await mkdtemp(join(tmpdir(), 'brindle-sigterm-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));

  const config = join(dir, 'brindle.yaml');
  await writeFile(
    config,
    configText({
      name: 'signals',
      address: net.brindle4,
      prefixLength: 24,
      listenPort: 17_996,
      store: join(dir, 'store'),
      socket: join(dir, 'brindle.sock'),
      logLevel: 'info',
    }),
  );
  await apply(config, dir, [
    bgpConfiguration({ asNumber: 64512, nodeToNodeMeshEnabled: false }),
    bgpPeer('bird', { peerIP: net.peer4, asNumber: 65001 }),
  ]);
  const bird = await startBird(
    {
      netns: net.netns,
      routerId: net.peer4,
      localAddress: net.peer4,
      asn: 65001,
      neighbors: [{ address: net.brindle4, asn: 64512, passive: true, families: ['ipv4'] }],
    },
    cleanup,
  );
  const daemon = brindle(config, 'brindle', cleanup);
  try {
    await bird.waitEstablished(net.brindle4, 45_000);
  } catch (error) {
    t.log(`brindle:\n${daemon.output().slice(-3000)}\nbird:\n${bird.daemon.output().slice(-3000)}`);
    throw error;
  }

  const sent = Date.now();
  process.kill(daemon.pid, 'SIGTERM');
  const code = await Promise.race([
    daemon.exited,
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 8_000).unref()),
  ]);
  const tookMs = Date.now() - sent;
  t.is(code, 0, daemon.output().slice(-3000));
  t.true(tookMs < 5_000, `exited after ${tookMs} ms`);

  await waitFor(
    async () => /Administrative shutdown/i.test(await bird.birdc('show', 'protocols', 'all', 'n0')),
    {
      timeoutMs: 10_000,
      what: 'BIRD to report the Cease',
    },
  );
  const view = await bird.birdc('show', 'protocols', 'all', 'n0');
  t.log(`exit 0 after ${tookMs} ms; BIRD: ${view.match(/^ *(Last error|Message):.*$/gm)?.join(' | ')}`);
  t.regex(view, /Administrative shutdown/i);
  t.regex(view, /brindle stopping \(SIGTERM\)/);
});
