// Interop with FRR 8.4 bgpd (Debian frr, run alone with -Z): sessions both ways, iBGP and eBGP, the
// capabilities each side read from the other's OPEN, IPv4 and IPv6 routes with communities and large
// communities in both directions, route refresh both ways (enhanced, RFC 7313), hold-timer expiry
// against a frozen bgpd, and Cease with a shutdown communication from either side.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { firstValueFrom, filter, takeWhile, timeout, toArray, take } from 'rxjs';
import { AsPathSegmentType, CapabilityCode, CeaseSubcode, Origin } from '../../src/bgp/constants.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import type { SessionEvent } from '../../src/bgp/session/peer.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import { formatPrefix } from '../../src/lib/prefix.ts';
import {
  BRINDLE_AS,
  brindleRoutes,
  daemonShutdown,
  freezeDaemon,
  interopScenario,
} from '../helpers/interop.ts';
import type { PairOptions } from '../helpers/interop.ts';
import { startFrr } from '../helpers/peers.ts';
import type { FrrHandle } from '../helpers/peers.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';
import type { RouteCollector } from '../helpers/routes.ts';

const FRR_EBGP_AS = 65001;
/** The FQDN capability each side announces (the helper's `hostname` line; Brindle's config). */
const FRR_HOSTNAME = 'brindle-test-frr';
const BRINDLE_HOSTNAME = 'brindle-test';

const scenario = interopScenario(13, 'frr', startFrr);
const net = scenario.net;

// --- FRR's JSON views ------------------------------------------------------------------------------

/** `advertised`, `received`, `advertisedAndReceived` (route refresh adds `Old`/`New`/`OldNew`). */
type CapabilityState = string;

/** The parts of `show bgp neighbors <addr> json` these tests read (FRR 8.4 field names). */
interface FrrNeighbor {
  bgpState: string;
  remoteAs: number;
  nbrInternalLink?: boolean;
  nbrExternalLink?: boolean;
  bgpTimerHoldTimeMsecs: number;
  portLocal?: number;
  portForeign?: number;
  neighborCapabilities?: {
    '4byteAs'?: CapabilityState;
    extendedMessage?: CapabilityState;
    addPath?: Record<string, { txAdvertisedAndReceived?: boolean; rxAdvertisedAndReceived?: boolean }>;
    longLivedGracefulRestart?: CapabilityState;
    /** `advertisedAndReceivedNew` when the peer announced only the RFC 2918 code (2), not Cisco's 128. */
    routeRefresh?: CapabilityState;
    enhancedRouteRefresh?: CapabilityState;
    multiprotocolExtensions?: Record<string, { advertisedAndReceived?: boolean }>;
    hostName?: { advHostName?: string; rcvHostName?: string };
    gracefulRestart?: CapabilityState;
    gracefulRestartRemoteTimerMsecs?: number;
  };
  messageStats: { routeRefreshRecv: number; notificationsRecv: number };
  /** Code and subcode of the last NOTIFICATION, four hex digits ("0602"). */
  lastErrorCodeSubcode?: string;
  lastNotificationReason?: string;
  /** The RFC 9003 shutdown communication of a received Cease 6/2 or 6/4. */
  lastShutdownDescription?: string;
  lastResetDueTo?: string;
}

async function frrNeighbor(frr: FrrHandle, address: string): Promise<FrrNeighbor> {
  const all = JSON.parse(await frr.vtysh(`show bgp neighbors ${address} json`)) as Record<
    string,
    FrrNeighbor
  >;
  const neighbor = all[address];
  if (neighbor === undefined) throw new Error(`FRR knows no neighbour ${address}`);
  return neighbor;
}

interface FrrSummaryPeer {
  state: string;
  remoteAs: number;
}

/** `show bgp summary json`: each family's view of one peer. */
async function frrSummary(frr: FrrHandle, address: string): Promise<Record<string, FrrSummaryPeer>> {
  const summary = JSON.parse(await frr.vtysh('show bgp summary json')) as Record<
    string,
    { peers?: Record<string, FrrSummaryPeer> }
  >;
  return Object.fromEntries(
    Object.entries(summary).flatMap(([family, view]) => {
      const peer = view.peers?.[address];
      return peer === undefined ? [] : [[family, peer]];
    }),
  );
}

/** One path of `show bgp <family> unicast <prefix> json` (FRR 8.4 field names). */
interface FrrPath {
  aspath: { string: string; segments: { type: string; list: number[] }[] };
  origin: string;
  med?: number;
  locPrf?: number;
  valid: boolean;
  community?: { list: string[] };
  largeCommunity?: { list: string[] };
  nexthops: { ip: string; accessible?: boolean }[];
  peer: { peerId: string; type: string; hostname?: string };
}

/** The path FRR holds for `prefix`, or undefined while it has none (FRR answers `{}` then). */
async function frrPath(frr: FrrHandle, prefix: string): Promise<FrrPath | undefined> {
  const family = prefix.includes(':') ? 'ipv6' : 'ipv4';
  const out = await frr.vtysh(`show bgp ${family} unicast ${prefix} json`);
  const view = JSON.parse(out) as { prefix?: string; paths?: FrrPath[] };
  return view.prefix === prefix ? view.paths?.[0] : undefined;
}

// --- a bgpd and a Brindle speaker, peered -----------------------------------------------------------

/** A bgpd in the namespace and a Brindle speaker in the root namespace, peered with each other. */
const pair = (t: ExecutionContext, options: Omit<PairOptions, 'hostname'>) =>
  scenario.pair(t, { ...options, hostname: BRINDLE_HOSTNAME });

const twoRoutes = (routes: RouteCollector) =>
  waitFor(() => routes.prefixes().length === 2, { timeoutMs: 10_000, what: 'routes from FRR' });

const frrHas = (frr: FrrHandle, prefix: string) =>
  waitFor(() => frrPath(frr, prefix), { timeoutMs: 10_000, what: `${prefix} in FRR's table` });

// --- tests ----------------------------------------------------------------------------------------

for (const [kind, frrAs] of [
  ['iBGP', BRINDLE_AS],
  ['eBGP', FRR_EBGP_AS],
] as const) {
  for (const brindlePassive of [false, true]) {
    test.serial(
      `${kind}, Brindle ${brindlePassive ? 'passive' : 'active'}: the session reaches Established on both sides`,
      async (t) => {
        const { daemon: frr, peer } = await pair(t, { asn: frrAs, brindlePassive });
        t.is(peer.state, SessionState.Established);
        t.is(peer.session?.direction, brindlePassive ? 'inbound' : 'outbound');
        t.is(peer.negotiated?.external, kind === 'eBGP');
        t.is(peer.negotiated?.peerAs, frrAs);
        // FRR's view: Established in both families, the right AS, link type and connection direction.
        const summary = await frrSummary(frr, net.brindle4);
        t.deepEqual(Object.keys(summary).sort(), ['ipv4Unicast', 'ipv6Unicast']);
        for (const view of Object.values(summary))
          t.like(view, { state: 'Established', remoteAs: BRINDLE_AS });
        const neighbor = await frrNeighbor(frr, net.brindle4);
        t.is(kind === 'eBGP' ? neighbor.nbrExternalLink : neighbor.nbrInternalLink, true);
        // The side that connected has the ephemeral port; the other answered on 179.
        t.is(brindlePassive ? neighbor.portForeign : neighbor.portLocal, 179);
        t.not(brindlePassive ? neighbor.portLocal : neighbor.portForeign, 179);
      },
    );
  }
}

test.serial(
  'iBGP, Brindle active: capabilities as both announced; routes both ways with their attributes',
  async (t) => {
    const { daemon: frr, peer, routes } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    const n = peer.negotiated!;
    t.false(n.external);
    t.deepEqual([...n.families].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.true(n.fourOctetAs && n.routeRefresh && n.enhancedRouteRefresh);
    t.true(
      n.peerCapabilities.some((c) => c.code === CapabilityCode.ExtendedMessage),
      'FRR announces extended messages',
    );
    t.true(n.extendedMessage);
    t.deepEqual([...n.addPathSend].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.deepEqual([...n.addPathReceive].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.truthy(n.peerGracefulRestart, 'FRR announced graceful restart');
    t.is(n.peerHostname, FRR_HOSTNAME);
    // FRR's default hold time (180 s) is below Brindle's 240 s.
    t.is(n.holdTimeSec, 180);
    t.is(n.keepaliveTimeSec, 60);

    // FRR's own reading of what Brindle announced.
    const neighbor = await frrNeighbor(frr, net.brindle4);
    t.is(neighbor.bgpTimerHoldTimeMsecs, 180_000);
    t.like(neighbor.neighborCapabilities, {
      '4byteAs': 'advertisedAndReceived',
      extendedMessage: 'advertisedAndReceived',
      addPath: {
        ipv4Unicast: { txAdvertisedAndReceived: true, rxAdvertisedAndReceived: true },
        ipv6Unicast: { txAdvertisedAndReceived: true, rxAdvertisedAndReceived: true },
      },
      routeRefresh: 'advertisedAndReceivedNew',
      enhancedRouteRefresh: 'advertisedAndReceived',
      multiprotocolExtensions: {
        ipv4Unicast: { advertisedAndReceived: true },
        ipv6Unicast: { advertisedAndReceived: true },
      },
      hostName: { advHostName: FRR_HOSTNAME, rcvHostName: BRINDLE_HOSTNAME },
      gracefulRestart: 'advertisedAndReceived',
      gracefulRestartRemoteTimerMsecs: 120_000,
      // Brindle announces no long-lived graceful restart.
      longLivedGracefulRestart: 'advertised',
    });

    await twoRoutes(routes);
    const [v4] = routes.get('198.51.100.0/24');
    t.is(v4.attributes.origin, Origin.Igp);
    t.deepEqual(v4.attributes.asPath, []);
    t.deepEqual(v4.attributes.communities, [64512 * 65536 + 100]);
    t.deepEqual(v4.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 1, localData2: 2 },
    ]);
    t.is(v4.attributes.multiExitDisc, 10);
    t.is(v4.attributes.localPref, 200);
    t.is(v4.nextHop, net.peer4);
    t.true(v4.pathId > 0, 'FRR sends path identifiers (ADD-PATH)');
    const [v6] = routes.get('2001:db8:100::/48');
    t.is(v6.nextHop, net.peer6);
    t.deepEqual(v6.attributes.communities, [64512 * 65536 + 101]);
    t.deepEqual(v6.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 3, localData2: 4 },
    ]);
    t.is(v6.attributes.multiExitDisc, 20);
    t.is(v6.attributes.localPref, 210);
    await waitFor(() => routes.endOfRib.has('ipv4-unicast') && routes.endOfRib.has('ipv6-unicast'), {
      timeoutMs: 5_000,
      what: 'End-of-RIB for both families',
    });

    announce(peer, brindleRoutes(net, { localPref: 150 }));
    const p4 = await frrHas(frr, '203.0.113.0/24');
    t.like(p4, {
      valid: true,
      origin: 'IGP',
      locPrf: 150,
      aspath: { string: 'Local' },
      community: { list: ['64512:300'] },
      largeCommunity: { list: ['64512:5:6'] },
      peer: { peerId: net.brindle4, type: 'internal', hostname: BRINDLE_HOSTNAME },
    });
    t.deepEqual(
      p4.nexthops.map((h) => h.ip),
      [net.brindle4],
    );
    const p6 = await frrHas(frr, '2001:db8:200::/48');
    t.like(p6, {
      valid: true,
      locPrf: 150,
      community: { list: ['64512:300'] },
      largeCommunity: { list: ['64512:5:6'] },
      peer: { type: 'internal' },
    });
    t.deepEqual(
      p6.nexthops.map((h) => h.ip),
      [net.brindle6],
    );
  },
);

test.serial(
  'eBGP, Brindle passive: FRR connects; AS_PATH and MED arrive, Brindle routes carry its AS',
  async (t) => {
    const { daemon: frr, peer, routes } = await pair(t, { asn: FRR_EBGP_AS, brindlePassive: true });
    t.true(peer.negotiated!.external);
    t.is(peer.negotiated!.peerAs, FRR_EBGP_AS);
    t.is(peer.session?.direction, 'inbound');
    await twoRoutes(routes);
    const [v4] = routes.get('198.51.100.0/24');
    t.deepEqual(v4.attributes.asPath, [{ type: AsPathSegmentType.AsSequence, asns: [FRR_EBGP_AS] }]);
    t.is(v4.attributes.multiExitDisc, 10);
    t.is(v4.attributes.localPref, undefined, 'no LOCAL_PREF over eBGP');
    t.deepEqual(v4.attributes.communities, [64512 * 65536 + 100]);
    t.deepEqual(v4.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 1, localData2: 2 },
    ]);
    t.is(v4.nextHop, net.peer4);
    const [v6] = routes.get('2001:db8:100::/48');
    t.deepEqual(v6.attributes.asPath, [{ type: AsPathSegmentType.AsSequence, asns: [FRR_EBGP_AS] }]);
    t.is(v6.attributes.multiExitDisc, 20);
    t.deepEqual(v6.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 3, localData2: 4 },
    ]);
    t.is(v6.nextHop, net.peer6);

    announce(peer, brindleRoutes(net, { asPath: [BRINDLE_AS] }));
    for (const [prefix, nextHop] of [
      ['203.0.113.0/24', net.brindle4],
      ['2001:db8:200::/48', net.brindle6],
    ] as const) {
      const path = await frrHas(frr, prefix);
      t.like(path, {
        valid: true,
        aspath: { string: String(BRINDLE_AS) },
        community: { list: ['64512:300'] },
        largeCommunity: { list: ['64512:5:6'] },
        peer: { peerId: net.brindle4, type: 'external' },
      });
      t.is(path.locPrf, undefined);
      t.deepEqual(
        path.nexthops.map((h) => h.ip),
        [nextHop],
      );
    }
  },
);

const isRefresh = (e: SessionEvent): e is Extract<SessionEvent, { kind: 'route-refresh' }> =>
  e.kind === 'route-refresh';

test.serial('route refresh both ways (RFC 2918, enhanced per RFC 7313)', async (t) => {
  const { daemon: frr, peer, routes } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
  await twoRoutes(routes);
  // FRR's first advertisement must be over (its End-of-RIB seen) before the refresh is asked for, or
  // the tail of that advertisement lands between BoRR and EoRR.
  await waitFor(() => routes.endOfRib.has('ipv4-unicast'), { timeoutMs: 5_000, what: 'End-of-RIB for IPv4' });
  // Brindle asks FRR to re-send IPv4: FRR answers with BoRR, the routes, EoRR.
  const answer = firstValueFrom(
    peer.events$.pipe(
      filter((e) => e.kind === 'update' || isRefresh(e)),
      takeWhile((e) => !(isRefresh(e) && e.message.subtype === 2), true),
      toArray(),
      timeout(10_000),
    ),
  );
  t.true(peer.requestRouteRefresh(1, 1));
  const events = await answer;
  const borr = events[0];
  const eorr = events.at(-1);
  t.like(borr, { kind: 'route-refresh', message: { afi: 1, safi: 1, subtype: 1 } });
  t.like(eorr, { kind: 'route-refresh', message: { afi: 1, safi: 1, subtype: 2 } });
  const resent = events
    .slice(1, -1)
    .flatMap((e) => (e.kind === 'update' ? e.update.nlri.map((p) => formatPrefix(p)) : []));
  // A prefix may be announced more than once in the refresh window (each replaces the one before,
  // RFC 4271 §3.1, and FRR occasionally sends it twice): what counts is the set re-sent.
  t.deepEqual([...new Set(resent)], ['198.51.100.0/24']);
  t.is((await frrNeighbor(frr, net.brindle4)).messageStats.routeRefreshRecv, 1);

  // FRR asks Brindle (`clear ... soft in`, no soft-reconfiguration inbound): a ROUTE-REFRESH per family.
  const requests = firstValueFrom(
    peer.events$.pipe(
      filter((e) => isRefresh(e) && e.message.subtype === 0),
      take(2),
      toArray(),
      timeout(10_000),
    ),
  );
  await frr.vtysh(`clear bgp ipv4 unicast ${net.brindle4} soft in`);
  await frr.vtysh(`clear bgp ipv6 unicast ${net.brindle4} soft in`);
  const families = (await requests).map((e) => (isRefresh(e) ? [e.message.afi, e.message.safi] : []));
  t.deepEqual(families, [
    [1, 1],
    [2, 1],
  ]);
});

test.serial('hold timer expiry: a bgpd frozen with SIGSTOP is detected', async (t) => {
  const session = await pair(t, {
    asn: BRINDLE_AS,
    brindlePassive: false,
    neighbor: { holdTime: 3 },
    holdTimeSec: 3,
  });
  t.is(session.peer.negotiated?.holdTimeSec, 3);
  t.is((await frrNeighbor(session.daemon, net.brindle4)).bgpTimerHoldTimeMsecs, 3_000);
  const { reason, afterMs } = await freezeDaemon(t, session);
  t.like(reason, { kind: 'hold-timer-expired' });
  t.true(afterMs < 4_500, 'within the 3 s hold time (plus scheduling)');
});

test.serial(
  'FRR shuts the session down: Brindle sees Cease/Administrative Shutdown with the message',
  async (t) => {
    const session = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    t.like(await daemonShutdown(net, session, 'frr maintenance'), {
      kind: 'notification-received',
      notification: {
        code: 6,
        subcode: CeaseSubcode.AdministrativeShutdown,
        shutdownCommunication: 'frr maintenance',
      },
    });
  },
);

test.serial(
  'Brindle shuts the session down: FRR reports Cease/Administrative Shutdown with the message',
  async (t) => {
    const { daemon: frr, peer } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    peer.stop(CeaseSubcode.AdministrativeShutdown, 'brindle maintenance');
    t.is(peer.state, SessionState.Idle);
    const neighbor = await waitFor(
      async () => {
        const n = await frrNeighbor(frr, net.brindle4);
        return n.bgpState !== 'Established' && n.lastErrorCodeSubcode !== undefined && n;
      },
      { timeoutMs: 10_000, what: 'FRR to see the Cease' },
    );
    t.like(neighbor, {
      lastErrorCodeSubcode: '0602',
      lastNotificationReason: 'Cease/Administrative Shutdown',
      lastShutdownDescription: 'brindle maintenance',
      lastResetDueTo: 'BGP Notification received',
    });
  },
);
