// Graceful restart of a Brindle route reflector (RFC 4724 §4.1) with real clients: the reflector
// (`node bin/brindle`, reflector mode, `bgp.restartStateFile` set) reflects between a BIRD 2 and a
// GoBGP client, both with graceful restart on. It is SIGKILLed (no Cease: the clients keep its routes
// as stale) and started again while the BIRD client cannot be reached yet (its namespace drops
// TCP port 179). The restarted reflector must announce the Restart State bit (each client's CLI shows
// it), send GoBGP nothing — no UPDATE, not even End-of-RIB — while it waits for BIRD, and then
// send the table and End-of-RIB; at no moment may either client lose a route it had.
//
// A node (`bin/brindle` in node mode, in a namespace of its own) restarted the same way keeps its
// kernel routes while it waits (a ping through one of them loses nothing), and once its peer's
// End-of-RIB ends the wait, the route withdrawn while it was down leaves the kernel.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createLan } from '../helpers/lan.ts';
import type { Lan } from '../helpers/lan.ts';
import { Cleanup, run, sleep, waitFor } from '../helpers/netns.ts';
import type { Daemon } from '../helpers/netns.ts';
import { startBird, startGobgp } from '../helpers/peers.ts';
import type { BirdHandle, GobgpHandle, PeerOptions } from '../helpers/peers.ts';
import {
  birdPrefixes,
  blockBgp,
  brindleConfig as scenarioConfig,
  gobgpPrefixes,
  gobgpUpdatesReceived,
  kernelRoutes,
  resource,
  RibWatch,
  startBrindle,
} from '../helpers/restart-scenario.ts';
import type { BrindleMode } from '../helpers/restart-scenario.ts';

const AS = 64512;
const LAN_INDEX = 57;
const NODE_LAN_INDEX = 58;
const BRINDLE = 1;
const BIRD = 2;
const GOBGP = 3;
const BIRD_ROUTE = '198.18.2.0/24';
const GOBGP_ROUTE = '198.18.3.0/24';
/** Withdrawn by GoBGP while the node's Brindle is down. */
const GONE_ROUTE = '198.18.4.0/24';
/** An address inside GOBGP_ROUTE on GoBGP's host, pinged from the node. */
const PINGED = '198.18.3.1';

interface Setup {
  readonly lan: Lan;
  readonly config: string;
  readonly bird: BirdHandle;
  readonly gobgp: GobgpHandle;
  readonly cleanup: Cleanup;
}

function resources(lan: Lan): object[] {
  return [
    resource('BGPConfiguration', 'default', { asNumber: AS, nodeToNodeMeshEnabled: false }),
    resource('Node', 'rr1', {
      bgp: { ipv4Address: `${lan.address4(BRINDLE)}/24`, routeReflectorClusterID: '10.255.0.100' },
    }),
    resource('BGPPeer', 'bird', { peerIP: lan.address4(BIRD), asNumber: AS }),
    resource('BGPPeer', 'gobgp', { peerIP: lan.address4(GOBGP), asNumber: AS }),
  ];
}

function clientOptions(lan: Lan, index: number, netns: string | undefined, prefix: string): PeerOptions {
  return {
    netns,
    routerId: `10.255.0.${index}`,
    localAddress: lan.address4(index),
    asn: AS,
    neighbors: [
      { address: lan.address4(BRINDLE), asn: AS, passive: true, gracefulRestart: true, families: ['ipv4'] },
    ],
    staticRoutes: [{ prefix }],
  };
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const lan = await createLan(
    { tag: 'grr', subnet4: `100.64.${LAN_INDEX}.0/24`, subnet6: `fd00:${LAN_INDEX}::/64` },
    cleanup,
  );
  await lan.rootAddress(BRINDLE);
  const [birdHost, gobgpHost] = await Promise.all([lan.addHost('bird', BIRD), lan.addHost('gobgp', GOBGP)]);
  const bird = await startBird(clientOptions(lan, BIRD, birdHost.netns, BIRD_ROUTE), cleanup);
  const gobgp = await startGobgp(clientOptions(lan, GOBGP, gobgpHost.netns, GOBGP_ROUTE), cleanup);
  const config = await brindleConfig(lan, cleanup, 'reflector', resources(lan));
  return { lan, config, bird, gobgp, cleanup };
}

/** Writes the daemon config and the resources (applied with brindlectl) into a temp dir. */
async function brindleConfig(
  lan: Lan,
  cleanup: Cleanup,
  mode: BrindleMode,
  objects: readonly object[],
): Promise<string> {
  return (await scenarioConfig(lan, BRINDLE, cleanup, mode, objects)).config;
}

function brindle(config: string, cleanup: Cleanup, netns?: string): Daemon {
  return startBrindle(config, cleanup, netns);
}

const BOTH = [BIRD_ROUTE, GOBGP_ROUTE].sort();

test('a restarted reflector sets R, sends nothing until it relearned every client, and no client loses a route', async (t) => {
  const s = await setup(t);
  const brindle4 = s.lan.address4(BRINDLE);
  let daemon = brindle(s.config, s.cleanup);
  const converged = async (what: string) =>
    waitFor(
      async () =>
        (await birdPrefixes(s.bird)).join() === BOTH.join() &&
        (await gobgpPrefixes(s.gobgp)).join() === BOTH.join(),
      { timeoutMs: 30_000, intervalMs: 200, what },
    );
  await converged('each client to learn the other one’s route through Brindle').catch((e) => {
    t.log(daemon.output().slice(-3000));
    throw e;
  });

  const watch = new RibWatch(s, BOTH, 90_000);
  watch.phase = 'after the kill';
  process.kill(daemon.pid, 'SIGKILL'); // a crash: the clients' sessions end without a NOTIFICATION
  await daemon.exited;
  const birdNetns = s.lan.hosts.get(BIRD)?.netns;
  await blockBgp(birdNetns, true);
  const updatesBefore = await gobgpUpdatesReceived(s.gobgp, brindle4);

  daemon = brindle(s.config, s.cleanup);
  watch.phase = 'restarted, BIRD unreachable';
  await s.gobgp.waitEstablished(brindle4, 30_000);
  const gobgpView = await s.gobgp.gobgp('neighbor', brindle4);
  t.regex(
    gobgpView,
    /Remote: restart time \d+ sec, restart flag set(, notification flag set)?\s+ipv4-unicast, forward flag set/,
    'GoBGP sees the Restart State bit, and the Forwarding State bit for IPv4',
  );
  await sleep(3_000);
  t.is(
    await gobgpUpdatesReceived(s.gobgp, brindle4),
    updatesBefore,
    'no UPDATE, no End-of-RIB to GoBGP while BIRD is awaited',
  );
  t.true(daemon.output().includes('"event":"graceful-restart-restarting"'), 'Brindle knows it restarted');

  await blockBgp(birdNetns, false);
  watch.phase = 'BIRD reachable';
  await s.bird.waitEstablished(brindle4, 30_000);
  const birdView = await s.bird.birdc('show', 'protocols', 'all', 'n0');
  t.regex(birdView, /Restart recovery/, 'BIRD sees the Restart State bit');
  t.regex(birdView, /AF preserved:\s+ipv4/, 'and the Forwarding State bit for IPv4');
  await waitFor(async () => (await gobgpUpdatesReceived(s.gobgp, brindle4)) > updatesBefore, {
    timeoutMs: 20_000,
    intervalMs: 200,
    what: 'GoBGP to receive the table and End-of-RIB once BIRD is relearned',
  });
  await sleep(1_000);
  await watch.stop();
  t.log(`${watch.samples} samples of both clients' RIBs across the restart`);
  if (watch.losses.length > 0) {
    t.log(s.bird.daemon.output().slice(-6000));
    t.log(daemon.output().slice(-6000));
  }
  t.deepEqual(watch.losses, [], 'no client lost a route at any sample');
  t.deepEqual(await birdPrefixes(s.bird), BOTH);
  t.deepEqual(await gobgpPrefixes(s.gobgp), BOTH);
  const done = daemon.output().match(/"event":"selection-deferral-done"[^\n]*/)?.[0] ?? '';
  t.regex(done, /End-of-RIB received from every peer/);
  await daemon.stop();
});

test('a restarted node keeps its kernel routes while it waits, then removes the one its peer withdrew', async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const lan = await createLan(
    { tag: 'grn', subnet4: `100.64.${NODE_LAN_INDEX}.0/24`, subnet6: `fd00:${NODE_LAN_INDEX}::/64` },
    cleanup,
  );
  const [nodeHost, gobgpHost] = await Promise.all([
    lan.addHost('node', BRINDLE),
    lan.addHost('gobgp', GOBGP),
  ]);
  await run('ip', ['addr', 'add', `${PINGED}/32`, 'dev', 'lo'], { netns: gobgpHost.netns });
  const options = clientOptions(lan, GOBGP, gobgpHost.netns, GOBGP_ROUTE);
  const routes = [{ prefix: GOBGP_ROUTE }, { prefix: GONE_ROUTE }];
  const gobgp = await startGobgp({ ...options, staticRoutes: routes }, cleanup);
  const config = await brindleConfig(lan, cleanup, 'node', [
    resource('BGPConfiguration', 'default', { asNumber: AS, nodeToNodeMeshEnabled: false }),
    resource('Node', 'rr1', { bgp: { ipv4Address: `${lan.address4(BRINDLE)}/24` } }),
    resource('BGPPeer', 'gobgp', { peerIP: lan.address4(GOBGP), asNumber: AS }),
  ]);
  const netns = nodeHost.netns;
  let daemon = brindle(config, cleanup, netns);
  const learned = [GOBGP_ROUTE, GONE_ROUTE].sort();
  await waitFor(async () => (await kernelRoutes(netns)).join() === learned.join(), {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: "GoBGP's routes in the node's kernel",
  }).catch((e) => {
    t.log(daemon.output().slice(-3000));
    throw e;
  });

  // 0.1 s apart for at most 40 s: every reply across the restart is counted.
  const ping = run('ping', ['-n', '-q', '-i', '0.1', '-w', '40', PINGED], { netns, timeoutMs: 60_000 });
  process.kill(daemon.pid, 'SIGKILL');
  await daemon.exited;
  await gobgp.withdrawRoute({ prefix: GONE_ROUTE });
  await blockBgp(gobgpHost.netns, true);
  daemon = brindle(config, cleanup, netns);
  await waitFor(() => daemon.output().includes('"event":"graceful-restart-restarting"'), {
    timeoutMs: 20_000,
    intervalMs: 100,
    what: 'the node to find its kernel routes and defer',
  });
  await sleep(3_000);
  t.deepEqual(await kernelRoutes(netns), learned, 'every kernel route kept while the peer is awaited');

  await blockBgp(gobgpHost.netns, false);
  await gobgp.waitEstablished(lan.address4(BRINDLE), 30_000);
  const view = await gobgp.gobgp('neighbor', lan.address4(BRINDLE));
  t.regex(
    view,
    /restart flag set(, notification flag set)?\s+ipv4-unicast, forward flag set/,
    'GoBGP sees R and F',
  );
  await waitFor(async () => (await kernelRoutes(netns)).join() === GOBGP_ROUTE, {
    timeoutMs: 20_000,
    intervalMs: 100,
    what: 'the route withdrawn while Brindle was down to leave the kernel after End-of-RIB',
  });
  const { stdout } = await ping;
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  t.log(stdout.trim().split('\n').slice(-2).join(' | '));
  t.truthy(counts, 'ping summary');
  t.is(Number(counts?.[2]), Number(counts?.[1]), 'no ping lost across the restart');
  await daemon.stop();
});
