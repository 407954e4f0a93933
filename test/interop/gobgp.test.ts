// Interop with GoBGP 3.10 (Debian gobgpd): sessions both ways, iBGP and eBGP, IPv4 and IPv6 routes with
// communities and large communities in both directions, route refresh, hold-timer expiry against a
// frozen gobgpd, and Cease with a shutdown communication from either side.
//
// GoBGP 3.10 differs from BIRD and FRR in ways these tests rely on:
// - It has no Enhanced Route Refresh (RFC 7313): it answers a ROUTE-REFRESH with its routes and an
//   End-of-RIB, and it does not know the Extended Message capability (it lists it as
//   UnknownCapability(6)).
// - It never sends a ROUTE-REFRESH: `gobgp neighbor ADDR softresetin` re-applies the import policy to
//   its own Adj-RIB-In, and gobgpd 3.10 has no code that builds a ROUTE-REFRESH message.
// - It sends End-of-RIB only with graceful restart on, and connects 5-9 s after it starts, so the
//   tests where Brindle is passive take that long to come up.
import { hostname } from 'node:os';
import test from 'ava';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { endOfRibFamily } from '../../src/bgp/codec/update.ts';
import { AsPathSegmentType, CeaseSubcode } from '../../src/bgp/constants.ts';
import type { UpdateMessage } from '../../src/bgp/types.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import type { SessionEvent } from '../../src/bgp/session/peer.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import {
  BRINDLE_AS,
  brindleRoutes,
  daemonShutdown,
  freezeDaemon,
  interopScenario,
} from '../helpers/interop.ts';
import { startGobgp } from '../helpers/peers.ts';
import type { Family, GobgpHandle } from '../helpers/peers.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';

const GOBGP_EBGP_AS = 65001;

const scenario = interopScenario(12, 'gobgp', startGobgp);
const net = scenario.net;
const pair = scenario.pair;

// --- GoBGP's JSON output ------------------------------------------------------------------------------

interface GobgpAttr {
  readonly type: number;
  readonly value?: unknown;
  readonly communities?: number[];
  readonly as_paths?: { segment_type: number; asns: number[] }[];
  readonly nexthop?: string;
  readonly metric?: number;
}

interface GobgpPath {
  readonly nlri: { prefix: string };
  readonly attrs: GobgpAttr[];
  readonly 'neighbor-ip'?: string;
}

/** `gobgp global rib -a FAMILY -j`: paths by prefix. */
async function gobgpRib(gobgp: GobgpHandle, family: Family): Promise<Record<string, GobgpPath[]>> {
  const text = await gobgp.gobgp('global', 'rib', '-a', family, '-j');
  return JSON.parse(text.trim() || '{}') as Record<string, GobgpPath[]>;
}

/** The path GoBGP learned from Brindle for `prefix`, if any. */
async function fromBrindle(gobgp: GobgpHandle, prefix: string): Promise<GobgpPath | undefined> {
  const rib = await gobgpRib(gobgp, prefix.includes(':') ? 'ipv6' : 'ipv4');
  return rib[prefix]?.find((p) => p['neighbor-ip'] === net.brindle4);
}

/** GoBGP's paths for Brindle's IPv4 and IPv6 test routes, once it has both. */
async function brindlePaths(gobgp: GobgpHandle): Promise<GobgpPath[] | undefined> {
  const paths = [await fromBrindle(gobgp, '203.0.113.0/24'), await fromBrindle(gobgp, '2001:db8:200::/48')];
  return paths.every((p) => p !== undefined) ? paths : undefined;
}

/** Path attribute type codes (RFC 4271, RFC 4760, RFC 8092). */
const ATTR = { asPath: 2, nextHop: 3, localPref: 5, communities: 8, mpReach: 14, largeCommunities: 32 };

function attr(path: GobgpPath, type: number): GobgpAttr | undefined {
  return path.attrs.find((a) => a.type === type);
}

interface GobgpNeighborJson {
  readonly state: {
    readonly session_state?: number;
    readonly messages: {
      readonly received: Record<string, number | undefined>;
      readonly sent: Record<string, number | undefined>;
    };
    readonly remote_cap?: { type_url: string; value?: string }[];
  };
}

async function gobgpNeighbor(gobgp: GobgpHandle): Promise<GobgpNeighborJson> {
  return JSON.parse(await gobgp.gobgp('-j', 'neighbor', net.brindle4)) as GobgpNeighborJson;
}

/** GoBGP's "Neighbor capabilities:" block of `gobgp neighbor ADDR`. */
async function capabilityTable(gobgp: GobgpHandle): Promise<string> {
  const text = await gobgp.gobgp('neighbor', net.brindle4);
  return /Neighbor capabilities:\n([\s\S]*?)\n\s*Message statistics:/.exec(text)?.[1] ?? '';
}

/** key=value fields of gobgpd's plain-format log lines whose message is `msg`. */
function logEntries(output: string, msg: string): Record<string, string>[] {
  return output
    .split('\n')
    .filter((line) => line.includes(`msg="${msg}"`))
    .map((line) =>
      Object.fromEntries(
        [...line.matchAll(/([\w-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)].map(([, key, value]) => [
          key,
          value.startsWith('"') ? (JSON.parse(value) as string) : value,
        ]),
      ),
    );
}

// --- Tests ----------------------------------------------------------------------------------------

for (const [kind, gobgpAs] of [
  ['iBGP', BRINDLE_AS],
  ['eBGP', GOBGP_EBGP_AS],
] as const) {
  for (const brindlePassive of [false, true]) {
    test.serial(
      `${kind}, Brindle ${brindlePassive ? 'passive' : 'active'}: the session reaches Established on both sides`,
      async (t) => {
        const { daemon: gobgp, peer } = await pair(t, { asn: gobgpAs, brindlePassive });
        t.is(peer.state, SessionState.Established);
        t.is(peer.session?.direction, brindlePassive ? 'inbound' : 'outbound');
        t.is(peer.negotiated?.external, kind === 'eBGP');
        t.is(peer.negotiated?.peerAs, gobgpAs);
        // GoBGP's own view: the summary row and the detail both say Established.
        const row = (await gobgp.neighbors()).split('\n').find((l) => l.startsWith(`${net.brindle4} `));
        t.regex(
          row ?? '',
          new RegExp(`^${net.brindle4.replaceAll('.', '\\.')}\\s+${BRINDLE_AS}\\s+\\S+\\s+Establ\\b`),
        );
        t.regex(await gobgp.gobgp('neighbor', net.brindle4), /BGP state = ESTABLISHED/);
      },
    );
  }
}

test.serial(
  'iBGP, Brindle active: capabilities as both announced; routes both ways with their attributes',
  async (t) => {
    const { daemon: gobgp, peer, routes } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    const n = peer.negotiated!;
    t.false(n.external);
    t.deepEqual([...n.families].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.true(n.fourOctetAs && n.routeRefresh);
    t.false(n.enhancedRouteRefresh, 'GoBGP has no enhanced route refresh');
    t.false(n.extendedMessage, 'GoBGP 3.10 has no extended messages');
    t.deepEqual([...n.addPathSend].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.deepEqual([...n.addPathReceive].sort(), [IPV4_UNICAST, IPV6_UNICAST]);
    t.is(n.peerGracefulRestart?.restartTimeSec, 120, 'GoBGP announced graceful restart');
    t.is(n.holdTimeSec, 90, "GoBGP's default hold time is below Brindle's 240 s");
    t.is(n.peerHostname, hostname(), 'GoBGP announces its host name (FQDN capability)');

    // GoBGP's reading of what Brindle announced ("received" = in Brindle's OPEN).
    const caps = await capabilityTable(gobgp);
    for (const cap of [
      /multiprotocol:\s+ipv4-unicast:\s+advertised and received\s+ipv6-unicast:\s+advertised and received/,
      /^\s*route-refresh:\s+advertised and received$/m,
      /^\s*4-octet-as:\s+advertised and received$/m,
      // RFC 8538: Brindle sets the N bit.
      /^\s*graceful-restart:\s+advertised and received\n[\s\S]*?Remote: restart time 120 sec, notification flag set\s+ipv4-unicast\s+ipv6-unicast/m,
      /^\s*add-path:\s+advertised and received\n[\s\S]*?Remote:\s+ipv4-unicast:\s+receive\/send\s+ipv6-unicast:\s+receive\/send/m,
      /^\s*enhanced-route-refresh:\s+received$/m,
      // Extended Message (RFC 8654, code 6): unknown to GoBGP 3.10, but listed as received.
      /^\s*(?:UnknownCapability\(6\)|extended-message):\s+(?:advertised and )?received$/m,
    ]) {
      t.regex(caps, cap);
    }
    const remoteCaps = (await gobgpNeighbor(gobgp)).state.remote_cap?.map((c) => c.type_url.split('.').pop());
    t.deepEqual(remoteCaps?.sort(), [
      'AddPathCapability',
      'EnhancedRouteRefreshCapability',
      'FourOctetASNCapability',
      'GracefulRestartCapability',
      'MultiProtocolCapability',
      'MultiProtocolCapability',
      'RouteRefreshCapability',
      'UnknownCapability',
    ]);

    // GoBGP's routes, with path identifiers (ADD-PATH) and End-of-RIB (graceful restart is on).
    await waitFor(() => routes.prefixes().length === 2 && routes.endOfRib.size === 2, {
      timeoutMs: 10_000,
      what: 'routes and End-of-RIB from GoBGP',
    });
    t.deepEqual([...routes.endOfRib].sort(), ['ipv4-unicast', 'ipv6-unicast']);
    const [v4, ...moreV4] = routes.get('198.51.100.0/24');
    t.is(moreV4.length, 0);
    t.true(v4.pathId > 0, 'sent with a path identifier');
    t.deepEqual(v4.attributes.communities, [64512 * 65536 + 100]);
    t.deepEqual(v4.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 1, localData2: 2 },
    ]);
    t.is(v4.attributes.multiExitDisc, 10);
    t.is(v4.attributes.localPref, 200);
    t.deepEqual(v4.attributes.asPath, []);
    t.is(v4.nextHop, net.peer4);
    const [v6] = routes.get('2001:db8:100::/48');
    t.true(v6.pathId > 0);
    t.is(v6.nextHop, net.peer6);
    t.deepEqual(v6.attributes.communities, [64512 * 65536 + 101]);
    t.deepEqual(v6.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 3, localData2: 4 },
    ]);
    t.is(v6.attributes.multiExitDisc, 20);
    t.is(v6.attributes.localPref, 210);

    // Brindle's routes in GoBGP's own table.
    announce(peer, brindleRoutes(net, { localPref: 150 }));
    const [p4, p6] = await waitFor(() => brindlePaths(gobgp), {
      timeoutMs: 10_000,
      what: 'Brindle routes in GoBGP',
    });
    for (const path of [p4, p6]) {
      t.deepEqual(attr(path, ATTR.communities)?.communities, [64512 * 65536 + 300]);
      t.deepEqual(attr(path, ATTR.largeCommunities)?.value, [{ ASN: 64512, LocalData1: 5, LocalData2: 6 }]);
      t.is(attr(path, ATTR.localPref)?.value, 150);
      t.deepEqual(attr(path, ATTR.asPath)?.as_paths, []);
    }
    t.is(attr(p4, ATTR.nextHop)?.nexthop, net.brindle4);
    t.is(attr(p6, ATTR.mpReach)?.nexthop, net.brindle6);
  },
);

test.serial(
  'eBGP, Brindle passive: GoBGP connects; AS_PATH and MED arrive, Brindle routes carry its AS',
  async (t) => {
    const { daemon: gobgp, peer, routes } = await pair(t, { asn: GOBGP_EBGP_AS, brindlePassive: true });
    t.true(peer.negotiated!.external);
    t.is(peer.negotiated!.peerAs, GOBGP_EBGP_AS);
    t.is(peer.session?.direction, 'inbound');
    await waitFor(() => routes.prefixes().length === 2, { timeoutMs: 10_000, what: 'routes from GoBGP' });
    const [v4] = routes.get('198.51.100.0/24');
    t.deepEqual(v4.attributes.asPath, [{ type: AsPathSegmentType.AsSequence, asns: [GOBGP_EBGP_AS] }]);
    t.is(v4.attributes.multiExitDisc, 10);
    t.is(v4.attributes.localPref, undefined, 'no LOCAL_PREF across ASes');
    t.deepEqual(v4.attributes.communities, [64512 * 65536 + 100]);
    t.deepEqual(v4.attributes.largeCommunities, [
      { globalAdministrator: 64512, localData1: 1, localData2: 2 },
    ]);
    t.is(v4.nextHop, net.peer4);
    const [v6] = routes.get('2001:db8:100::/48');
    t.deepEqual(v6.attributes.asPath, [{ type: AsPathSegmentType.AsSequence, asns: [GOBGP_EBGP_AS] }]);
    t.is(v6.nextHop, net.peer6);

    announce(peer, brindleRoutes(net, { asPath: [BRINDLE_AS] }));
    const [p4, p6] = await waitFor(() => brindlePaths(gobgp), {
      timeoutMs: 10_000,
      what: 'Brindle routes in GoBGP',
    });
    for (const path of [p4, p6]) {
      t.deepEqual(attr(path, ATTR.asPath)?.as_paths, [
        { segment_type: AsPathSegmentType.AsSequence, num: 1, asns: [BRINDLE_AS] },
      ]);
      t.deepEqual(attr(path, ATTR.communities)?.communities, [64512 * 65536 + 300]);
      t.deepEqual(attr(path, ATTR.largeCommunities)?.value, [{ ASN: 64512, LocalData1: 5, LocalData2: 6 }]);
    }
    t.is(attr(p4, ATTR.nextHop)?.nexthop, net.brindle4);
    t.is(attr(p6, ATTR.mpReach)?.nexthop, net.brindle6);
  },
);

test.serial(
  'route refresh (RFC 2918): GoBGP answers with its routes and End-of-RIB, no BoRR/EoRR; it never asks',
  async (t) => {
    const { daemon: gobgp, peer, routes } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    await waitFor(() => routes.prefixes().length === 2 && routes.endOfRib.size === 2, {
      timeoutMs: 10_000,
      what: 'routes and End-of-RIB from GoBGP',
    });
    const refreshes: SessionEvent[] = [];
    const updates: UpdateMessage[] = [];
    const watch = peer.events$.subscribe((e) => {
      if (e.kind === 'route-refresh') refreshes.push(e);
      if (e.kind === 'update') updates.push(e.update);
    });
    t.teardown(() => watch.unsubscribe());

    // GoBGP's soft reset in re-applies its import policy to its own Adj-RIB-In: no ROUTE-REFRESH. It
    // would be queued ahead of GoBGP's answer below, so that answer bounds the wait for it.
    await gobgp.gobgp('neighbor', net.brindle4, 'softresetin', '-a', 'ipv4');

    // Brindle asks GoBGP to re-send IPv4: its route again, then End-of-RIB (RFC 4724 marker).
    const ipv4EndOfRib = firstValueFrom(
      peer.events$.pipe(
        filter((e) => e.kind === 'update' && endOfRibFamily(e.update)?.afi === 1),
        timeout(10_000),
      ),
    );
    t.true(peer.requestRouteRefresh(1, 1));
    await ipv4EndOfRib;
    const resent = updates.flatMap((u) => u.nlri.map((p) => p.afi));
    t.true(resent.length > 0 && resent.every((afi) => afi === 1), 'IPv4 routes were re-sent');
    t.false(
      updates.some((u) => u.mpReach !== undefined),
      'no IPv6 routes were re-sent',
    );
    t.deepEqual(routes.get('198.51.100.0/24')[0]?.attributes.communities, [64512 * 65536 + 100]);
    t.deepEqual(refreshes, [], 'neither BoRR/EoRR nor a ROUTE-REFRESH from GoBGP');

    // GoBGP's counters agree: one ROUTE-REFRESH received, none sent; the session stayed up.
    const { state } = await gobgpNeighbor(gobgp);
    t.is(state.messages.received.refresh, 1);
    t.is(state.messages.sent.refresh ?? 0, 0);
    t.is(peer.state, SessionState.Established);
  },
);

test.serial('hold timer expiry: a gobgpd frozen with SIGSTOP is detected', async (t) => {
  const session = await pair(t, {
    asn: BRINDLE_AS,
    brindlePassive: false,
    neighbor: { holdTime: 3 },
    holdTimeSec: 3,
  });
  t.is(session.peer.negotiated?.holdTimeSec, 3);
  const { reason, afterMs } = await freezeDaemon(t, session);
  t.like(reason, { kind: 'hold-timer-expired' });
  t.true(afterMs < 4_500, 'within the 3 s hold time (plus scheduling)');
});

test.serial(
  'GoBGP shuts the session down: Brindle sees Cease/Administrative Shutdown with the message',
  async (t) => {
    const session = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    t.like(await daemonShutdown(net, session, 'gobgp maintenance'), {
      kind: 'notification-received',
      notification: {
        code: 6,
        subcode: CeaseSubcode.AdministrativeShutdown,
        shutdownCommunication: 'gobgp maintenance',
      },
    });
  },
);

test.serial(
  'Brindle shuts the session down: GoBGP reports Cease/Administrative Shutdown with the message',
  async (t) => {
    const { daemon: gobgp, peer } = await pair(t, { asn: BRINDLE_AS, brindlePassive: false });
    peer.stop(CeaseSubcode.AdministrativeShutdown, 'brindle maintenance');
    t.is(peer.state, SessionState.Idle);
    // gobgpd logs the NOTIFICATION it received, with the decoded shutdown communication.
    const [received] = await waitFor(
      () => {
        const entries = logEntries(gobgp.daemon.output(), 'received notification');
        return entries.length > 0 && entries;
      },
      { timeoutMs: 10_000, what: 'GoBGP to log the Cease' },
    );
    t.like(received, {
      Key: net.brindle4,
      Code: '6',
      Subcode: String(CeaseSubcode.AdministrativeShutdown),
      'Communicated-Reason': 'brindle maintenance',
    });
    const [peerDown] = await waitFor(
      () => {
        const entries = logEntries(gobgp.daemon.output(), 'Peer Down');
        return entries.length > 0 && entries;
      },
      { timeoutMs: 10_000, what: 'GoBGP to log the session going down' },
    );
    t.is(peerDown.Reason, 'notification-received code 6(cease) subcode 2(administrative shutdown)');
    const { state } = await gobgpNeighbor(gobgp);
    t.is(state.messages.received.notification, 1);
    t.not(state.session_state, 6, 'no longer Established');
  },
);
