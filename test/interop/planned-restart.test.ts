// A planned graceful restart (`brindlectl restart --graceful`) with real peers. A `bin/brindle`
// reflector reflects between a BIRD 2 client (Graceful Restart) and a GoBGP client (Graceful Restart
// with the N bit, RFC 8538). The restart ends GoBGP's session with Cease/Administrative Reset and
// BIRD's with no NOTIFICATION unless BIRD set N too; the daemon exits 75, as the systemd units
// expect, and is started again while BIRD cannot reach it yet. Meanwhile `brindlectl status` and
// the metrics show the deferred selection, the peer awaited and the time left. Both clients' RIBs,
// sampled every 100 ms with their own CLIs, never lose a route, and the restarted reflector sets the
// Restart State bit.
//
// A node (`bin/brindle` in node mode, in a namespace of its own) restarted the same way keeps its
// kernel routes: a ping every 0.1 s through a route learned from GoBGP loses nothing.
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brindlectl, brindlectlResult, daemonGet } from '../helpers/brindle.ts';
import { createLan } from '../helpers/lan.ts';
import type { Lan } from '../helpers/lan.ts';
import { Cleanup, run, sleep, waitFor } from '../helpers/netns.ts';
import type { Daemon } from '../helpers/netns.ts';
import { startBird, startGobgp } from '../helpers/peers.ts';
import type { PeerOptions } from '../helpers/peers.ts';
import {
  birdPrefixes,
  blockBgp,
  brindleConfig,
  gobgpPrefixes,
  kernelRoutes,
  resource,
  RibWatch,
  startBrindle,
} from '../helpers/restart-scenario.ts';

const AS = 64512;
const REFLECTOR_LAN = 60;
const NODE_LAN = 61;
const BRINDLE = 1;
const BIRD = 2;
const GOBGP = 3;
const BIRD_ROUTE = '198.18.12.0/24';
const GOBGP_ROUTE = '198.18.13.0/24';
const BOTH = [BIRD_ROUTE, GOBGP_ROUTE].sort();
/** An address inside GOBGP_ROUTE on GoBGP's host, pinged from the node. */
const PINGED = '198.18.13.1';
/** main/brindle.ts: the exit status of a stop for a restart (the units' RestartForceExitStatus). */
const EXIT_RESTART = 75;

function client(lan: Lan, index: number, netns: string | undefined, prefix: string): PeerOptions {
  const neighbor = { address: lan.address4(BRINDLE), asn: AS, passive: true, gracefulRestart: true };
  return {
    netns,
    routerId: `10.255.0.${index}`,
    localAddress: lan.address4(index),
    asn: AS,
    neighbors: [{ ...neighbor, gracefulNotification: index === GOBGP, families: ['ipv4'] }],
    staticRoutes: [{ prefix }],
  };
}

async function lanOf(index: number, tag: string, cleanup: Cleanup): Promise<Lan> {
  return createLan({ tag, subnet4: `100.64.${index}.0/24`, subnet6: `fd00:${index}::/64` }, cleanup);
}

const peerResources = (lan: Lan, ...indices: number[]) =>
  indices.map((i) =>
    resource('BGPPeer', i === BIRD ? 'bird' : 'gobgp', { peerIP: lan.address4(i), asNumber: AS }),
  );

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

/** `brindlectl restart --graceful`, then the daemon's exit status. */
async function restartGracefully(config: string, daemon: Daemon): Promise<number | null> {
  const out = await brindlectl(config, 'restart', '--graceful');
  if (!/restarting gracefully/.test(out)) throw new Error(`brindlectl restart said: ${out}`);
  return daemon.exited;
}

test('restart --graceful: no client withdraws a route, the reflector comes back with R, status and metrics show the wait', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const lan = await lanOf(REFLECTOR_LAN, 'pgr', cleanup);
  await lan.rootAddress(BRINDLE);
  const [birdHost, gobgpHost] = await Promise.all([lan.addHost('bird', BIRD), lan.addHost('gobgp', GOBGP)]);
  const bird = await startBird(client(lan, BIRD, birdHost.netns, BIRD_ROUTE), cleanup);
  const gobgp = await startGobgp(client(lan, GOBGP, gobgpHost.netns, GOBGP_ROUTE), cleanup);
  const { config, dir } = await brindleConfig(lan, BRINDLE, cleanup, 'reflector', [
    resource('BGPConfiguration', 'default', { asNumber: AS, nodeToNodeMeshEnabled: false }),
    resource('Node', 'rr1', {
      bgp: { ipv4Address: `${lan.address4(BRINDLE)}/24`, routeReflectorClusterID: '10.255.0.100' },
    }),
    ...peerResources(lan, BIRD, GOBGP),
  ]);
  const brindle4 = lan.address4(BRINDLE);
  let daemon = startBrindle(config, cleanup);
  await waitFor(
    async () =>
      (await birdPrefixes(bird)).join() === BOTH.join() &&
      (await gobgpPrefixes(gobgp)).join() === BOTH.join(),
    { timeoutMs: 30_000, intervalMs: 200, what: 'each client to learn the other one’s route' },
  ).catch((e) => {
    t.log(daemon.output().slice(-3000));
    throw e;
  });

  const watch = new RibWatch({ bird, gobgp }, BOTH, 90_000);
  watch.phase = 'restart --graceful';
  const asked = Date.now();
  t.is(await restartGracefully(config, daemon), EXIT_RESTART, 'exit status 75: the units restart it');
  const exitedMs = Date.now() - asked;
  const before = daemon.output();
  t.regex(before, /"event":"stop"[^\n]*"graceful":true/, 'the stop was the graceful one');
  await blockBgp(birdHost.netns, true);
  daemon = startBrindle(config, cleanup);
  watch.phase = 'restarted, BIRD unreachable';
  await gobgp.waitEstablished(brindle4, 30_000);
  t.regex(
    await gobgp.gobgp('neighbor', brindle4),
    /Remote: restart time \d+ sec, restart flag set, notification flag set\s+ipv4-unicast, forward flag set/,
    'GoBGP sees the Restart State bit',
  );
  t.regex(daemon.output(), /"event":"graceful-restart-restarting"[^\n]*"fromFile":true/);

  const socket = join(dir, 'brindle.sock');
  const status = await brindlectl(config, 'status');
  t.regex(status, /best-path selection deferred since \S+, \d+ s left of 120 s/, 'status says it defers');
  const bird4 = lan.address4(BIRD);
  t.true(status.includes(`(${bird4}): not Established yet`), `status says whom it awaits: ${status}`);
  const doc = JSON.parse(await brindlectl(config, 'status', '-o', 'json')) as {
    selectionDeferral: { active: boolean; awaiting: { remote: string }[]; remainingSec: number };
  };
  t.true(doc.selectionDeferral.active);
  t.deepEqual(
    doc.selectionDeferral.awaiting.map((a) => a.remote),
    [bird4],
  );
  t.true(doc.selectionDeferral.remainingSec > 0 && doc.selectionDeferral.remainingSec <= 120);
  const during = await daemonGet({ socketPath: socket }, '/metrics', 5_000);
  t.is(metric(during, 'brindle_selection_deferral_active'), 1);
  t.is(metric(during, 'brindle_selection_deferral_awaited_peers'), 1);

  // How BIRD saw the session end: no NOTIFICATION, or Administrative Reset if it set the N bit.
  const birdView = await bird.birdc('show', 'protocols', 'all', 'n0');
  t.log(`BIRD after the restart: ${/Last error:\s+(.*)/.exec(birdView)?.[1] ?? '-'}`);
  await blockBgp(birdHost.netns, false);
  watch.phase = 'BIRD reachable';
  await bird.waitEstablished(brindle4, 30_000);
  t.regex(await bird.birdc('show', 'protocols', 'all', 'n0'), /Restart recovery/, 'BIRD sees R too');
  await waitFor(() => daemon.output().includes('"event":"selection-deferral-done"'), {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: 'the deferral to end with BIRD’s End-of-RIB',
  });
  await sleep(1_000);
  await watch.stop();
  t.log(
    `${watch.samples} samples of both clients' RIBs across the restart; exit ${exitedMs} ms after the command`,
  );
  if (watch.losses.length > 0) t.log(before.slice(-4000), daemon.output().slice(-4000));
  t.deepEqual(watch.losses, [], 'no client lost a route at any sample');
  const after = await daemonGet({ socketPath: socket }, '/metrics', 5_000);
  t.is(metric(after, 'brindle_selection_deferral_active'), 0);
  const deferredSec = metric(after, 'brindle_selection_deferral_duration_seconds');
  t.true(deferredSec > 0, 'the last deferral’s duration');
  t.log(`selection deferred ${deferredSec} s (BIRD blocked for part of it)`);
  t.regex(
    await brindlectl(config, 'status'),
    /selection deferral ended after [\d.]+ s \(End-of-RIB received from every peer\)/,
  );
  await daemon.stop();
});

test('restart --graceful of a node: its kernel routes stay, a ping across the restart loses nothing', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const lan = await lanOf(NODE_LAN, 'pgn', cleanup);
  const [nodeHost, gobgpHost] = await Promise.all([
    lan.addHost('node', BRINDLE),
    lan.addHost('gobgp', GOBGP),
  ]);
  await run('ip', ['addr', 'add', `${PINGED}/32`, 'dev', 'lo'], { netns: gobgpHost.netns });
  const gobgp = await startGobgp(client(lan, GOBGP, gobgpHost.netns, GOBGP_ROUTE), cleanup);
  const { config } = await brindleConfig(lan, BRINDLE, cleanup, 'node', [
    resource('BGPConfiguration', 'default', { asNumber: AS, nodeToNodeMeshEnabled: false }),
    resource('Node', 'rr1', { bgp: { ipv4Address: `${lan.address4(BRINDLE)}/24` } }),
    ...peerResources(lan, GOBGP),
  ]);
  const netns = nodeHost.netns;
  let daemon = startBrindle(config, cleanup, netns);
  await waitFor(async () => (await kernelRoutes(netns)).join() === GOBGP_ROUTE, {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: "GoBGP's route in the node's kernel",
  }).catch((e) => {
    t.log(daemon.output().slice(-3000));
    throw e;
  });

  // 0.1 s apart for at most 30 s: every reply across the restart is counted.
  const ping = run('ping', ['-n', '-q', '-i', '0.1', '-w', '30', PINGED], { netns, timeoutMs: 60_000 });
  await sleep(1_000);
  t.is(await restartGracefully(config, daemon), EXIT_RESTART);
  t.deepEqual(await kernelRoutes(netns), [GOBGP_ROUTE], 'the kernel route stays while Brindle is down');
  daemon = startBrindle(config, cleanup, netns);
  await gobgp.waitEstablished(lan.address4(BRINDLE), 30_000);
  t.regex(await gobgp.gobgp('neighbor', lan.address4(BRINDLE)), /restart flag set/, 'R set');
  await waitFor(() => daemon.output().includes('"event":"selection-deferral-done"'), {
    timeoutMs: 30_000,
    intervalMs: 100,
    what: "the deferral to end with GoBGP's End-of-RIB",
  });
  t.deepEqual(await kernelRoutes(netns), [GOBGP_ROUTE], 'relearned, not removed');
  const { stdout } = await ping;
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  t.log(stdout.trim().split('\n').slice(-2).join(' | '));
  t.truthy(counts, 'ping summary');
  t.is(Number(counts?.[2]), Number(counts?.[1]), 'no ping lost across the restart');
  await daemon.stop();
});

test('restart --graceful is refused where peers would drop the routes; brindlectl stop exits 0', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const lan = await lanOf(62, 'pgs', cleanup);
  await lan.rootAddress(BRINDLE);
  const { config } = await brindleConfig(lan, BRINDLE, cleanup, 'reflector', [
    resource('BGPConfiguration', 'default', { asNumber: AS, nodeToNodeMeshEnabled: false }),
    resource('Node', 'rr1', { bgp: { ipv4Address: `${lan.address4(BRINDLE)}/24` } }),
  ]);
  await writeFile(
    config,
    (await readFile(config, 'utf8')).replace('bgp: {', 'bgp: { gracefulRestart: false,'),
  );
  const daemon = startBrindle(config, cleanup);
  await waitFor(async () => (await brindlectlResult(config, 'status')).code === 0, {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'the daemon to answer',
  });
  const refused = await brindlectlResult(config, 'restart', '--graceful');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /cannot restart gracefully: bgp.gracefulRestart is false/);
  t.true(daemon.running(), 'a refused restart leaves the daemon running');
  const stopped = await brindlectlResult(config, 'stop');
  t.is(stopped.code, 0, stopped.stderr);
  t.regex(stopped.stdout, /stopping: every peer gets Cease\/Administrative Shutdown/);
  t.is(await daemon.exited, 0, 'exit 0: the units leave it stopped');
});
