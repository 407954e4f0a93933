// BFD against BIRD 2's BFD and FRR's bfdd, each in a network namespace joined to the root namespace by
// a veth, where this process runs Brindle's BGP router and its BFD (daemon/bfd-peers.ts, configured
// from BGPPeer and BFDConfiguration resources as the daemon does). Sessions come Up over IPv4 and
// IPv6 in both directions; a change of the peer's interval and of ours runs a Poll Sequence without
// a flap; a packet with TTL 254 is refused (RFC 5881 §5); the peer's link going down, and its BFD
// daemon being SIGKILLed, bring BFD Down within the Detection Time and take the BGP session down with
// Cease/BFD Down (RFC 9384) and its routes out of the Loc-RIB at once. A multihop session (RFC 5883,
// port 4784) with bfdd comes Up beside the single-hop one.
//
// One setup for the file (BFD listens on port 3784 of the root namespace: the tests run serially).
import test from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BfdDocument } from '../../src/api/bfd-view.ts';
import { BfdState, Diag } from '../../src/bfd/packet.ts';
import { BfdSessions } from '../../src/bfd/sessions.ts';
import type { BfdSessionView } from '../../src/bfd/sessions.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { BfdPeers } from '../../src/daemon/bfd-peers.ts';
import type { BfdInputs } from '../../src/daemon/bfd-peers.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { Router } from '../../src/daemon/router.ts';
import { loadConfig } from '../../src/config/config.ts';
import { startDaemonApi } from '../../src/main/daemon-api.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { IPV4_UNICAST } from '../../src/lib/family.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { loadNative } from '../../src/lib/native.ts';
import { parseResources } from '../../src/resources/index.ts';
import type { BFDConfiguration, BGPPeer } from '../../src/resources/index.ts';
import { brindlectl } from '../helpers/brindle.ts';
import { Cleanup, createLinkedNetns, run, startDaemon, waitFor } from '../helpers/netns.ts';
import type { Daemon as Process } from '../helpers/netns.ts';
import { birdConfig, startBird, startFrr } from '../helpers/peers.ts';
import type { BirdHandle, FrrHandle, PeerOptions } from '../helpers/peers.ts';

const BRINDLE_AS = 64512;
const PEER_AS = 65001;
const SUBNETS = { bird: 40, frr: 41 } as const;
type Side = keyof typeof SUBNETS;

const addresses = (side: Side) => {
  const i = SUBNETS[side];
  return {
    brindle4: `100.64.${i}.1`,
    peer4: `100.64.${i}.2`,
    brindle6: `fd00:${i}::1`,
    peer6: `fd00:${i}::2`,
  };
};

const BIRD_BFD = (intervalMs: number) => {
  const a = addresses('bird');
  return `protocol bfd {
  interface "*" { min rx interval ${intervalMs} ms; min tx interval ${intervalMs} ms; idle tx interval 1 s; multiplier ${MULT}; };
  neighbor ${a.brindle4} local ${a.peer4};
  neighbor ${a.brindle6} local ${a.peer6};
}
`;
};

// bfdd asks us for no more than one packet per 300 ms: its Detection Time of 1.5 s rides out the
// scheduling delays of a loaded machine, which it would otherwise report as our failure.
const FRR_BFDD = (intervalMs: number) => {
  const a = addresses('frr');
  const peer = (remote: string, local: string) =>
    ` peer ${remote} local-address ${local}\n  receive-interval 300\n  transmit-interval ${intervalMs}\n  detect-multiplier ${MULT}\n exit\n`;
  // RFC 5883: a multihop session to the same address, on port 4784 (the multihop test brings it Up).
  const multihop = ` peer ${a.brindle4} multihop local-address ${a.peer4}\n  receive-interval 300\n  transmit-interval ${intervalMs}\n  detect-multiplier ${MULT}\n exit\n`;
  return `bfd\n${peer(a.brindle4, a.peer4)}${peer(a.brindle6, a.peer6)}${multihop}exit\n`;
};

// Calico Enterprise's default multiplier; 5 × 100 ms rides out scheduling delays on a busy machine.
const MULT = 5;

const ROUTE = { bird: '198.51.100.0/24', frr: '198.51.101.0/24' } as const;

interface Setup {
  readonly netns: Record<Side, string>;
  readonly bird: BirdHandle;
  readonly birdOptions: PeerOptions;
  readonly frr: FrrHandle;
  bfdd: Process;
  readonly bfddDir: string;
  readonly routers: Record<Side, Router>;
  readonly bfd: BfdPeers;
  readonly inputs: (intervalMs: number) => BfdInputs;
}

const native = loadNative();
const cleanup = new Cleanup();
let setup: Setup | undefined;

test.before(async () => {
  if (!native.ok) return;
  setup = await start();
});

test.after.always(async () => {
  setup?.bfd.close();
  for (const router of Object.values(setup?.routers ?? {})) await router.close();
  await cleanup.run();
});

const bfdTest = native.ok ? test.serial : test.skip;

function parse<T>(yaml: string): T[] {
  const { resources, errors } = parseResources(yaml);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  return resources as T[];
}

function bgpPeers(): BGPPeer[] {
  const docs = (['bird', 'frr'] as const).flatMap((side) => {
    const a = addresses(side);
    return [a.peer4, a.peer6].map(
      (ip, i) =>
        `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: ${side}-${i}}\n` +
        `spec: {peerIP: "${ip}", asNumber: ${PEER_AS}, failureDetectionMode: BFDIfDirectlyConnected}\n`,
    );
  });
  return parse<BGPPeer>(docs.join('---\n'));
}

function bfdConfigurationYaml(intervalMs: number): string {
  return `apiVersion: projectcalico.org/v3
kind: BFDConfiguration
metadata: {name: default}
spec:
  interfaces:
  - {matchPattern: "bfdt*", minimumRecvInterval: ${intervalMs}ms, minimumSendInterval: ${intervalMs}ms, idleSendInterval: 1s, multiplier: ${MULT}}
`;
}

function bfdConfiguration(intervalMs: number): BFDConfiguration[] {
  return parse<BFDConfiguration>(bfdConfigurationYaml(intervalMs));
}

async function start(): Promise<Setup> {
  const netns = {} as Record<Side, string>;
  for (const side of ['bird', 'frr'] as const) {
    const a = addresses(side);
    const i = SUBNETS[side];
    const linked = await createLinkedNetns(
      {
        tag: `bfd-${side}`,
        addresses: [`${a.peer4}/24`, `${a.peer6}/64`],
        peerAddresses: [`${a.brindle4}/24`, `${a.brindle6}/64`],
        peerIfname: `bfdt${process.pid % 100_000}${i}`,
      },
      cleanup,
    );
    netns[side] = linked.netns;
  }
  const routers = { bird: await router('bird'), frr: await router('frr') };
  const peers = bgpPeers();
  const inputs = (intervalMs: number): BfdInputs => ({
    nodeName: 'node-1',
    nodes: [],
    peers,
    bfdConfigs: bfdConfiguration(intervalMs),
    peerings: peers.map((p) => ({ remoteAddress: p.spec.peerIP!, bgpPeer: p.metadata.name })),
  });
  const bfd = new BfdPeers({
    log: silentLogger,
    onDown: (peer) => {
      for (const r of Object.values(routers)) r.bfdDown(peer);
    },
  });
  bfd.apply(inputs(100));
  const birdOptions: PeerOptions = { ...daemonOptions('bird', netns.bird), extraConfig: BIRD_BFD(100) };
  const bird = await startBird(birdOptions, cleanup);
  const frr = await startFrr(daemonOptions('frr', netns.frr), cleanup);
  const bfddDir = await mkdtemp(join(tmpdir(), 'brindle-bfdd-'));
  // bfdd drops to the frr user: its directory must be writable for it.
  await chmod(bfddDir, 0o777);
  cleanup.add(() => rm(bfddDir, { recursive: true, force: true }));
  const bfdd = await startBfdd(netns.frr, bfddDir, FRR_BFDD(100));
  return { netns, bird, birdOptions, frr, bfdd, bfddDir, routers, bfd, inputs };
}

/** The BGP side of BIRD or FRR: eBGP over IPv4, waiting for Brindle to connect, one route. */
function daemonOptions(side: Side, netns: string): PeerOptions {
  const a = addresses(side);
  return {
    netns,
    routerId: a.peer4,
    localAddress: a.peer4,
    asn: PEER_AS,
    neighbors: [{ address: a.brindle4, asn: BRINDLE_AS, passive: true, families: ['ipv4'] }],
    staticRoutes: [{ prefix: ROUTE[side] }],
  };
}

async function router(side: Side): Promise<Router> {
  const a = addresses(side);
  const r = new Router({ routerId: parseIpv4(a.brindle4), localAs: BRINDLE_AS });
  await r.listen(a.brindle4, 179);
  r.addPeer(
    peerConfig({
      name: side,
      remoteAddress: a.peer4,
      localAddress: a.brindle4,
      localAs: BRINDLE_AS,
      peerAs: PEER_AS,
      routerId: parseIpv4(a.brindle4),
      families: [IPV4_UNICAST],
      timers: { connectDelayTimeSec: 0, connectRetryTimeSec: 1, idleHoldTimeSec: 1 },
    }),
  );
  return r;
}

async function startBfdd(netns: string, dir: string, config: string): Promise<Process> {
  const conf = join(dir, 'bfdd.conf');
  await writeFile(conf, config);
  await chmod(conf, 0o644);
  const args = ['-u', 'frr', '-g', 'frr', '-f', conf, '-i', join(dir, 'bfdd.pid')];
  const daemon = startDaemon(
    '/usr/lib/frr/bfdd',
    [...args, '--vty_socket', dir, '-P', '0', '--log', 'stdout'],
    {
      name: 'bfdd',
      netns,
    },
  );
  cleanup.add(() => daemon.stop());
  return daemon;
}

function bfddShow(dir: string, command: string): Promise<string> {
  return run('vtysh', ['--vty_socket', dir, '-d', 'bfdd', '-c', command], { timeoutMs: 15_000 }).then(
    (r) => r.stdout,
  );
}

const view = (s: Setup, peer: string): BfdSessionView | undefined =>
  s.bfd.views().find((v) => v.peerAddress === peer);

async function waitBfd(
  s: Setup,
  peer: string,
  check: (v: BfdSessionView) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<BfdSessionView> {
  return waitFor(
    () => {
      const v = view(s, peer);
      return v !== undefined && check(v) ? v : undefined;
    },
    { timeoutMs, intervalMs: 20, what: `${what} (${peer})` },
  );
}

const up = (v: BfdSessionView) => v.state === BfdState.Up && !v.pollActive;

async function bgpEstablished(s: Setup, side: Side): Promise<void> {
  await waitFor(() => s.routers[side].getPeer(addresses(side).peer4)?.state === SessionState.Established, {
    timeoutMs: 30_000,
    what: `BGP with ${side} Established`,
  });
  await waitFor(() => s.routers[side].locRibSize() > 0, { timeoutMs: 15_000, what: `${side}'s route` });
}

/** The withdrawal walks the peer's paths in bounded steps: gone within a few event-loop turns. */
async function routesGone(r: Router): Promise<void> {
  await waitFor(() => r.locRibSize() === 0, {
    timeoutMs: 1000,
    intervalMs: 5,
    what: "the peer's routes to go",
  });
}

bfdTest('BIRD and FRR: sessions Up over IPv4 and IPv6, seen Up on both sides', async (t) => {
  const s = setup!;
  for (const side of ['bird', 'frr'] as const) {
    const a = addresses(side);
    for (const peer of [a.peer4, a.peer6]) {
      const v = await waitBfd(s, peer, up, 'BFD Up');
      t.is(v.remoteState, BfdState.Up, peer);
      t.not(v.remoteDiscr, 0);
      t.is(v.detectionTimeUs, MULT * 100_000, `${peer}: ${MULT} × 100 ms`);
    }
    await bgpEstablished(s, side);
  }
  const birdSessions = await s.bird.birdc('show', 'bfd', 'sessions');
  t.regex(birdSessions, new RegExp(`${addresses('bird').brindle4}\\s+\\S+\\s+Up`));
  t.regex(birdSessions, new RegExp(`${addresses('bird').brindle6}\\s+\\S+\\s+Up`));
  const frrPeers = await bfddShow(s.bfddDir, 'show bfd peers');
  t.is(frrPeers.match(/Status: up/g)?.length, 2, frrPeers);
});

bfdTest('a Control packet with TTL 254 is refused (RFC 5881 §5)', async (t) => {
  const s = setup!;
  const a = addresses('bird');
  const session = await waitBfd(s, a.peer4, up, 'BFD Up');
  const before = s.bfd.sessionTable!.badTtl;
  // A packet that would take the session Down if it were accepted: Your Discriminator is ours.
  const packet = Buffer.alloc(24);
  packet[0] = 0x20;
  packet[1] = BfdState.Down << 6;
  packet[2] = 3;
  packet[3] = 24;
  packet.writeUInt32BE(session.remoteDiscr, 4);
  packet.writeUInt32BE(session.localDiscr, 8);
  packet.writeUInt32BE(1_000_000, 12);
  packet.writeUInt32BE(1_000_000, 16);
  const script = [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `s.bind(('${a.peer4}', 0))`,
    's.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 254)',
    `s.sendto(bytes.fromhex('${packet.toString('hex')}'), ('${a.brindle4}', 3784))`,
  ].join('\n');
  await run('python3', ['-c', script], { netns: s.netns.bird });
  await waitFor(() => s.bfd.sessionTable!.badTtl > before, { timeoutMs: 5000, what: 'the TTL refusal' });
  t.is(view(s, a.peer4)?.state, BfdState.Up);
  t.is(view(s, a.peer4)?.stateChanges, session.stateChanges);
});

bfdTest("timer negotiation: the peer's new interval, then ours, via Poll/Final without a flap", async (t) => {
  const s = setup!;
  const bird = addresses('bird');
  const frr = addresses('frr');
  const changes = () => s.bfd.views().map((v) => v.stateChanges);
  const before = changes();
  // BIRD slows down to 200 ms: it polls, we answer Final, and our Detection Time follows.
  await writeFile(
    join(s.bird.dir, 'bird.conf'),
    birdConfig({ ...s.birdOptions, extraConfig: BIRD_BFD(200) }),
  );
  await s.bird.birdc('configure');
  const slowed = await waitBfd(
    s,
    bird.peer4,
    (v) => v.remoteDesiredMinTxIntervalUs === 200_000,
    'BIRD at 200 ms',
  );
  t.is(
    (await waitBfd(s, bird.peer4, (v) => v.detectionTimeUs === MULT * 200_000, 'detect 5 × 200 ms')).state,
    BfdState.Up,
  );
  t.is(slowed.transmitIntervalUs, 200_000, 'we send no faster than BIRD now receives');
  // Ours goes to 150 ms: we poll, bfdd answers Final; we still send no faster than its 300 ms.
  s.bfd.apply(s.inputs(150));
  t.true(view(s, frr.peer4)!.pollActive);
  const ours = await waitBfd(
    s,
    frr.peer4,
    (v) => up(v) && v.desiredMinTxIntervalUs === 150_000,
    'our 150 ms',
  );
  t.is(ours.transmitIntervalUs, 300_000);
  const frrPeers = await bfddShow(s.bfddDir, `show bfd peer ${frr.brindle4}`);
  t.regex(frrPeers, /Transmission interval: 150ms/);
  t.deepEqual(changes(), before, 'no session changed state');
});

bfdTest(
  "BIRD's link goes down: BFD Down within the Detection Time, BGP Cease/BFD Down, routes gone",
  async (t) => {
    const s = setup!;
    const a = addresses('bird');
    const r = s.routers.bird;
    await bgpEstablished(s, 'bird');
    const v = await waitBfd(s, a.peer4, up, 'BFD Up');
    const since = Date.now();
    await run('ip', ['-n', s.netns.bird, 'link', 'set', 'eth0', 'down']);
    const down = await waitBfd(s, a.peer4, (x) => x.state === BfdState.Down, 'BFD Down', 5000);
    const afterMs = Date.now() - since;
    t.log(`BFD Down ${afterMs} ms after the link went down (Detection Time ${v.detectionTimeUs / 1000} ms)`);
    t.is(down.lastDown?.diag, Diag.ControlDetectionTimeExpired);
    t.true(afterMs < v.detectionTimeUs / 1000 + 500, `${afterMs} ms`);
    t.is((await waitBfd(s, a.peer6, (x) => x.state === BfdState.Down, 'BFD Down')).state, BfdState.Down);
    const peer = r.getPeer(a.peer4)!;
    t.is(peer.counters.notificationsSent.get('6/10'), 1, 'Cease/BFD Down sent');
    t.not(peer.state, SessionState.Established);
    await routesGone(r);
  },
);

bfdTest(
  'multihop (RFC 5883): a session with bfdd on port 4784 comes Up beside the single-hop one',
  async (t) => {
    const s = setup!;
    const a = addresses('frr');
    const sessions = new BfdSessions({
      native: native.ok ? native.native : (undefined as never),
      clock: systemClock,
    });
    try {
      const timers = { detectMult: MULT, desiredMinTxIntervalUs: 100_000, requiredMinRxIntervalUs: 100_000 };
      sessions.add({
        peerAddress: a.peer4,
        localAddress: a.brindle4,
        interfaceName: '',
        timers,
        multihop: {},
      });
      const multihop = await waitFor(
        () => {
          const v = sessions.get(a.peer4);
          return v !== undefined && up(v) && v.remoteMinRxIntervalUs === 300_000 ? v : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 20, what: 'the multihop session Up' },
      );
      t.true(multihop.multihop);
      t.is(multihop.transmitIntervalUs, 300_000, "bfdd's multihop receive interval");
      const shown = await bfddShow(
        s.bfddDir,
        `show bfd peer ${a.brindle4} multihop local-address ${a.peer4}`,
      );
      t.regex(shown, /Status: up/);
      t.is(view(s, a.peer4)?.state, BfdState.Up, 'the single-hop session is unaffected');
    } finally {
      sessions.close();
    }
  },
);

bfdTest("FRR's bfdd is SIGKILLed: BFD Down, and FRR's bgpd receives Cease/BFD Down", async (t) => {
  const s = setup!;
  const a = addresses('frr');
  await bgpEstablished(s, 'frr');
  await waitBfd(s, a.peer4, up, 'BFD Up');
  const r = s.routers.frr;
  const ceases = () => r.getPeer(a.peer4)!.counters.notificationsSent.get('6/10') ?? 0;
  const before = ceases();
  process.kill(s.bfdd.pid, 'SIGKILL');
  const down = await waitBfd(s, a.peer4, (x) => x.state === BfdState.Down, 'BFD Down', 5000);
  t.is(down.lastDown?.diag, Diag.ControlDetectionTimeExpired);
  t.is(ceases(), before + 1, 'Cease/BFD Down sent');
  await routesGone(r);
  await waitFor(async () => /BFD Down/i.test(await s.frr.vtysh(`show bgp neighbors ${a.brindle4}`)), {
    timeoutMs: 10_000,
    what: "FRR's last reset reason",
  });
  // BGP retries as usual; without BFD Up again it establishes (only Up → Down takes it down).
  await bgpEstablished(s, 'frr');
  t.pass();
});

// The daemon as an operator runs it: resources applied with brindlectl, BFD seen with brindlectl bfd.
// Last in the file: it takes over BIRD's address and port 3784 from the setup's router and BFD.
bfdTest(
  'the daemon: resources from brindlectl apply, brindlectl bfd, link loss resets BGP with Cease/BFD Down',
  async (t) => {
    const s = setup!;
    s.bfd.close();
    await s.routers.bird.close();
    await run('ip', ['-n', s.netns.bird, 'link', 'set', 'eth0', 'up']);
    const a = addresses('bird');
    const dir = await mkdtemp(join(tmpdir(), 'brindle-bfd-daemon-'));
    cleanup.add(() => rm(dir, { recursive: true, force: true }));
    const configFile = join(dir, 'brindle.yaml');
    await writeFile(
      configFile,
      [
        'mode: reflector',
        'nodeName: bfd-node',
        `routerId: ${a.brindle4}`,
        `node: {ipv4Address: ${a.brindle4}/24}`,
        `datastore: {type: embedded, path: ${join(dir, 'store')}}`,
        `bgp: {listenAddress: ${a.brindle4}, listenPort: 179}`,
        `api: {socket: ${join(dir, 'brindle.sock')}}`,
        '',
      ].join('\n'),
    );
    const resources = join(dir, 'bfd.yaml');
    await writeFile(
      resources,
      `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: ${BRINDLE_AS}, nodeToNodeMeshEnabled: false}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: bird}
spec: {peerIP: ${a.peer4}, asNumber: ${PEER_AS}, failureDetectionMode: BFDIfDirectlyConnected}
---
${bfdConfigurationYaml(100)}`,
    );
    t.regex(
      await brindlectl(configFile, 'apply', '-f', resources),
      /Successfully applied 1 'BFDConfiguration'/,
    );
    const loaded = loadConfig(configFile, {});
    if (!loaded.ok) throw new Error(loaded.errors.join('; '));
    const daemon = await Daemon.start(loaded.config, silentLogger);
    const api = await startDaemonApi(daemon, silentLogger, () => ({ ok: true, level: 'info' }), 'test');
    cleanup.add(async () => {
      await api.close();
      await daemon.stop();
    });
    const session = async () =>
      (JSON.parse(await brindlectl(configFile, 'bfd', '-o', 'json')) as BfdDocument).sessions[0];
    await waitFor(async () => (await session())?.state === 'Up', { timeoutMs: 20_000, what: 'BFD Up' });
    const peer = () => daemon.bgp?.getPeer(a.peer4);
    await waitFor(() => peer()?.state === SessionState.Established, { timeoutMs: 30_000, what: 'BGP' });
    t.regex(
      await brindlectl(configFile, 'bfd'),
      new RegExp(`${a.peer4.replaceAll('.', '\\.')}\\s+bfdt\\d+\\s+Up\\s+0x`),
    );
    await run('ip', ['-n', s.netns.bird, 'link', 'set', 'eth0', 'down']);
    await waitFor(() => peer()?.counters.notificationsSent.get('6/10') === 1, {
      timeoutMs: 5_000,
      what: 'Cease/BFD Down',
    });
    const down = await session();
    t.is(down.state, 'Down');
    t.is(down.lastDown?.diagnostic, 'Control Detection Time Expired');
  },
);
