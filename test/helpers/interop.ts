// The setup of an interop test file. Its network: one namespace for the real daemon, joined by a veth
// pair to the root namespace, where the test process runs Brindle. Each test file passes its own
// index, so files running in parallel use distinct subnets (100.64.<index>.0/24 and fd00:<index>::/64,
// on our veths only). Its scenario: a BIRD, GoBGP or FRR in the namespace peered with a Brindle speaker,
// with the routes both sides announce, so that each test file states only what it tests.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AsPathSegmentType, Origin } from '../../src/bgp/constants.ts';
import type { PathAttributes } from '../../src/bgp/types.ts';
import type { Peer, SessionEvent } from '../../src/bgp/session/peer.ts';
import type { PeerConfig } from '../../src/bgp/session/peer-config.ts';
import { IPV6_UNICAST } from '../../src/lib/family.ts';
import { Cleanup, createLinkedNetns } from './netns.ts';
import type { PeerHandle, PeerNeighbor, PeerOptions, PeerRoute } from './peers.ts';
import { RouteCollector } from './routes.ts';
import type { TestRoute } from './routes.ts';
import { nextEvent, speaker } from './session.ts';
import type { Speaker } from './session.ts';

export interface InteropNetwork {
  readonly netns: string;
  /** Brindle's addresses (root namespace end of the veth). */
  readonly brindle4: string;
  readonly brindle6: string;
  /** The daemon's addresses (inside the namespace). */
  readonly peer4: string;
  readonly peer6: string;
  readonly cleanup: Cleanup;
}

type InteropAddresses = Omit<InteropNetwork, 'netns' | 'cleanup'>;

function interopAddresses(index: number): InteropAddresses {
  return {
    brindle4: `100.64.${index}.1`,
    brindle6: `fd00:${index}::1`,
    peer4: `100.64.${index}.2`,
    peer6: `fd00:${index}::2`,
  };
}

export async function interopNetwork(index: number, tag: string): Promise<InteropNetwork> {
  const cleanup = new Cleanup();
  const { netns } = await createLinkedNetns(
    {
      tag,
      addresses: [`100.64.${index}.2/24`, `fd00:${index}::2/64`],
      peerAddresses: [`100.64.${index}.1/24`, `fd00:${index}::1/64`],
    },
    cleanup,
  );
  return { netns, ...interopAddresses(index), cleanup };
}

/** Fails the test with the daemon's own output when `fn` throws, to make interop failures readable. */
export async function withDiagnostics<T>(
  t: ExecutionContext,
  output: () => string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    t.log(output().slice(-4000));
    throw error;
  }
}

// --- One real daemon against a Brindle speaker ------------------------------------------------------

export const BRINDLE_AS = 64512;
const BRINDLE_ROUTER_ID = '10.255.0.1';
const DAEMON_ROUTER_ID = '10.255.0.2';

/** What each daemon announces: one IPv4 and one IPv6 route with every attribute the tests compare. */
const PEER_ROUTES: readonly PeerRoute[] = [
  {
    prefix: '198.51.100.0/24',
    communities: ['64512:100'],
    largeCommunities: ['64512:1:2'],
    med: 10,
    localPref: 200,
  },
  {
    prefix: '2001:db8:100::/48',
    communities: ['64512:101'],
    largeCommunities: ['64512:3:4'],
    med: 20,
    localPref: 210,
  },
];

/** What Brindle announces: 203.0.113.0/24 and 2001:db8:200::/48 with communities and large
 * communities; AS_PATH and LOCAL_PREF as the scenario says (RFC 4271 §5.1.2, §5.1.5). */
export function brindleRoutes(
  net: InteropNetwork,
  { asPath = [], localPref }: { asPath?: readonly number[]; localPref?: number },
): TestRoute[] {
  const base: PathAttributes = {
    origin: Origin.Igp,
    asPath: asPath.length ? [{ type: AsPathSegmentType.AsSequence, asns: [...asPath] }] : [],
    ...(localPref === undefined ? {} : { localPref }),
    communities: [64512 * 65536 + 300],
    largeCommunities: [{ globalAdministrator: 64512, localData1: 5, localData2: 6 }],
  };
  return [
    { prefix: '203.0.113.0/24', attributes: { ...base, nextHop: net.brindle4 } },
    { prefix: '2001:db8:200::/48', attributes: base, nextHop6: net.brindle6 },
  ];
}

export interface PairOptions {
  /** The daemon's AS: BRINDLE_AS for iBGP. */
  readonly asn: number;
  /** Brindle waits for the daemon to connect (the daemon is then active, and the other way round). */
  readonly brindlePassive: boolean;
  /** The daemon's neighbour settings beyond the defaults (ADD-PATH and graceful restart on). */
  readonly neighbor?: Partial<PeerNeighbor>;
  readonly holdTimeSec?: number;
  /** Brindle's FQDN capability. */
  readonly hostname?: string;
  /** The session runs over IPv6 and carries IPv6 unicast only (as Calico runs bird6). */
  readonly ipv6Only?: boolean;
}

export interface Pair<D extends PeerHandle> {
  readonly daemon: D;
  readonly brindle: Speaker;
  readonly peer: Peer;
  readonly routes: RouteCollector;
}

export interface InteropScenario<D extends PeerHandle> {
  /** The file's network; its addresses are known at once, its namespace once the tests run. */
  readonly net: InteropNetwork;
  /** The daemon in the namespace and a Brindle speaker in the root namespace, Established on both
   * sides; both are stopped when the test ends, whatever happens. */
  readonly pair: (t: ExecutionContext, options: PairOptions) => Promise<Pair<D>>;
}

/**
 * The setup every interop test file shares: its own network (`index` keeps parallel files apart),
 * created before the file's tests and removed after them, and pairs of one `start`ed daemon and a
 * Brindle speaker. The passive side starts first, so the active one's first connection is never
 * refused (bgpd's ConnectRetry is 120 s: it would sit out the rest of the test).
 */
export function interopScenario<D extends PeerHandle>(
  index: number,
  tag: string,
  start: (options: PeerOptions) => Promise<D>,
): InteropScenario<D> {
  let created: InteropNetwork | undefined;
  const existing = (): InteropNetwork => {
    if (!created) throw new Error(`the ${tag} network exists only while the file's tests run`);
    return created;
  };
  const net: InteropNetwork = {
    ...interopAddresses(index),
    get netns() {
      return existing().netns;
    },
    get cleanup() {
      return existing().cleanup;
    },
  };
  test.before(async () => {
    created = await interopNetwork(index, tag);
  });
  test.after.always(async () => {
    await created?.cleanup.run();
  });
  return { net, pair: (t, options) => pair(t, net, start, options) };
}

async function pair<D extends PeerHandle>(
  t: ExecutionContext,
  net: InteropNetwork,
  start: (options: PeerOptions) => Promise<D>,
  options: PairOptions,
): Promise<Pair<D>> {
  const started: { daemon?: D; brindle?: Speaker } = {};
  t.teardown(async () => {
    await started.brindle?.close();
    await started.daemon?.stop();
  });
  const startDaemon = async () => (started.daemon = await start(daemonOptions(net, options)));
  const first = options.brindlePassive ? undefined : await startDaemon();
  const v6 = options.ipv6Only === true;
  const brindle = (started.brindle = await speaker({
    routerId: BRINDLE_ROUTER_ID,
    port: 179,
    address: v6 ? net.brindle6 : net.brindle4,
  }));
  const peer = brindle.peerWith(v6 ? net.peer6 : net.peer4, brindleSide(options));
  const routes = new RouteCollector(peer);
  const established = nextEvent(peer, 'established', 30_000);
  const daemon = first ?? (await startDaemon());
  await withDiagnostics(
    t,
    () => daemon.daemon.output(),
    async () => {
      await established;
      await daemon.waitEstablished(v6 ? net.brindle6 : net.brindle4);
    },
  );
  return { daemon, brindle, peer, routes };
}

function daemonOptions(net: InteropNetwork, options: PairOptions): PeerOptions {
  const v6 = options.ipv6Only === true;
  const neighbor: PeerNeighbor = v6
    ? { address: net.brindle6, asn: BRINDLE_AS, families: ['ipv6'] }
    : { address: net.brindle4, asn: BRINDLE_AS, addPath: true, gracefulRestart: true };
  return {
    netns: net.netns,
    routerId: DAEMON_ROUTER_ID,
    localAddress: v6 ? net.peer6 : net.peer4,
    localAddress6: net.peer6,
    asn: options.asn,
    neighbors: [{ ...neighbor, passive: !options.brindlePassive, ...options.neighbor }],
    staticRoutes: v6 ? PEER_ROUTES.filter((r) => r.prefix.includes(':')) : PEER_ROUTES,
  };
}

function brindleSide(options: PairOptions): Partial<PeerConfig> & { localAs: number; peerAs: number } {
  return {
    localAs: BRINDLE_AS,
    peerAs: options.asn,
    passive: options.brindlePassive,
    ...(options.holdTimeSec === undefined ? {} : { holdTimeSec: options.holdTimeSec }),
    ...(options.hostname === undefined ? {} : { hostname: options.hostname }),
    ...(options.ipv6Only === true ? { families: [IPV6_UNICAST] } : {}),
  };
}

export type DownReason = Extract<SessionEvent, { kind: 'down' }>['reason'];

/** Freezes the daemon with SIGSTOP (thawed when the test ends, before it is stopped) and resolves
 * when Brindle's session with it goes down, with how long after the freeze. */
export async function freezeDaemon(
  t: ExecutionContext,
  { daemon, peer }: Pair<PeerHandle>,
): Promise<{ reason: DownReason; afterMs: number }> {
  const down = nextEvent(peer, 'down', 10_000);
  process.kill(daemon.daemon.pid, 'SIGSTOP');
  // Teardowns run last-registered first: the daemon resumes before pair()'s teardown stops it.
  t.teardown(() => {
    if (daemon.daemon.running()) process.kill(daemon.daemon.pid, 'SIGCONT');
  });
  const frozenAt = Date.now();
  const { reason } = await down;
  return { reason, afterMs: Date.now() - frozenAt };
}

/** The daemon shuts the session down with `message` (a Cease with a shutdown communication);
 * resolves with the reason Brindle's session went down. */
export async function daemonShutdown(
  net: InteropNetwork,
  { daemon, peer }: Pair<PeerHandle>,
  message: string,
): Promise<DownReason> {
  const down = nextEvent(peer, 'down', 10_000);
  await daemon.shutdownNeighbor(net.brindle4, message);
  return (await down).reason;
}
