// Brindle as the route reflector of a LAN of real daemons: BIRD 2, GoBGP and FRR as iBGP clients, a
// second FRR as an iBGP non-client and a third as an eBGP peer (AS 65010), each in its own namespace
// on one bridged subnet with the in-process Router. Every daemon's own CLI must show exactly the
// routes RFC 4456 §6 and RFC 4271 §9.1.3 send it, with ORIGINATOR_ID, CLUSTER_LIST, NEXT_HOP and
// AS_PATH as reflected or exported (RFC 4456 §8, RFC 4271 §5.1); a withdrawal and a client going
// down (SIGKILL, and an administrative shutdown with Cease) reach everyone.
//
// The tests share one topology and run in order: each later test starts from the state the earlier
// ones leave (the withdrawn route is re-announced; the stopped clients stay down).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CeaseSubcode } from '../../src/bgp/constants.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import { createLan } from '../helpers/lan.ts';
import type { Lan, LanHost } from '../helpers/lan.ts';
import { Cleanup, waitFor } from '../helpers/netns.ts';
import { startBird, startFrr, startGobgp } from '../helpers/peers.ts';
import { nextEvent } from '../helpers/session.ts';
import type { BirdHandle, Family, FrrHandle, GobgpHandle, PeerOptions, PeerRoute } from '../helpers/peers.ts';

const AS = 64512;
const EBGP_AS = 65010;
const LAN_INDEX = 20;
const BRINDLE_INDEX = 1;
const BRINDLE_ROUTER_ID = '10.255.0.1';
const CLUSTER_ID = '10.255.0.100';

// --- The topology, as data ---------------------------------------------------------------------------

type NodeName = 'bird' | 'gobgp' | 'frr' | 'nonClient' | 'ebgp';
type Source = NodeName | 'brindle';
type Role = 'client' | 'non-client' | 'ebgp';

interface NodeSpec {
  readonly kind: 'bird2' | 'gobgp' | 'frr';
  /** Host index on the LAN: address .index / ::index, router ID 10.255.0.index. */
  readonly index: number;
  readonly asn: number;
  readonly role: Role;
  readonly routes: readonly PeerRoute[];
}

/** Each route carries its own community, AS:index*10+n, so two routes can never be mistaken. */
function routes(index: number, prefixes: readonly string[]): PeerRoute[] {
  return prefixes.map((prefix, n) => ({ prefix, communities: [`${AS}:${index * 10 + n}`] }));
}

const NODES: Readonly<Record<NodeName, NodeSpec>> = {
  bird: {
    kind: 'bird2',
    index: 2,
    asn: AS,
    role: 'client',
    routes: routes(2, ['198.18.2.0/24', '198.19.2.0/24', '2001:db8:2::/48']),
  },
  gobgp: {
    kind: 'gobgp',
    index: 3,
    asn: AS,
    role: 'client',
    routes: routes(3, ['198.18.3.0/24', '2001:db8:3::/48']),
  },
  frr: {
    kind: 'frr',
    index: 4,
    asn: AS,
    role: 'client',
    routes: routes(4, ['198.18.4.0/24', '2001:db8:4::/48']),
  },
  nonClient: {
    kind: 'frr',
    index: 5,
    asn: AS,
    role: 'non-client',
    routes: routes(5, ['198.18.5.0/24', '2001:db8:5::/48']),
  },
  ebgp: {
    kind: 'frr',
    index: 6,
    asn: EBGP_AS,
    role: 'ebgp',
    routes: routes(6, ['198.18.6.0/24', '198.19.6.0/24', '2001:db8:6::/48']),
  },
};
const NODE_NAMES = Object.keys(NODES) as NodeName[];

/** Brindle originates one route itself: a local route goes to every peer (RFC 4271 §9.1.3). */
const BRINDLE_ROUTE: PeerRoute = { prefix: '198.18.1.0/24', communities: [`${AS}:10`] };

/**
 * Whose routes each peer must hold, as learned from Brindle. RFC 4456 §6: a client's routes go to every
 * peer, clients and non-clients (and, RFC 4271, eBGP peers); a non-client's routes go to clients (and
 * eBGP peers) but not to other non-clients — there is one non-client here, so the non-client simply
 * misses nobody's. eBGP-learned and local routes go to every peer. Nobody is listed as its own source:
 * Brindle may send a client its own route back (RFC 4456 §6 allows it), and the client discards it on
 * its ORIGINATOR_ID (§8); an eBGP peer discards its own on the AS_PATH loop.
 */
const RECEIVES: Readonly<Record<NodeName, readonly Source[]>> = {
  bird: ['brindle', 'gobgp', 'frr', 'nonClient', 'ebgp'],
  gobgp: ['brindle', 'bird', 'frr', 'nonClient', 'ebgp'],
  frr: ['brindle', 'bird', 'gobgp', 'nonClient', 'ebgp'],
  nonClient: ['brindle', 'bird', 'gobgp', 'frr', 'ebgp'],
  ebgp: ['brindle', 'bird', 'gobgp', 'frr', 'nonClient'],
};

/** One route as a peer's CLI shows it, reduced to what reflection may change. */
interface TableRoute {
  readonly prefix: string;
  readonly nextHop: string;
  readonly asPath: readonly number[];
  readonly localPref: number | undefined;
  readonly communities: readonly string[];
  readonly originatorId: string | undefined;
  readonly clusterList: readonly string[];
}

// --- Shared state -------------------------------------------------------------------------------------

type Handle = BirdHandle | GobgpHandle | FrrHandle;

const cleanup = new Cleanup();
let lan: Lan;
/** The test process's own host on the LAN, where the Router listens. */
let brindle: LanHost;
let router: Router;
let handles: Record<NodeName, Handle>;
/** Brindle's side of each session. */
let peers: Record<NodeName, Peer>;
let setupMs = 0;
/** Nodes a test has taken down, and prefixes withdrawn at the moment. */
const down = new Set<NodeName>();
const withdrawn = new Set<string>();

const familyOf = (prefix: string): Family => (prefix.includes(':') ? 'ipv6' : 'ipv4');
const routerIdOf = (name: NodeName): string => `10.255.0.${NODES[name].index}`;
const addressOf = (source: Source, family: Family): string => {
  const index = source === 'brindle' ? BRINDLE_INDEX : NODES[source].index;
  return family === 'ipv4' ? lan.address4(index) : lan.address6(index);
};

function peerOptions(name: NodeName, host: LanHost): PeerOptions {
  const node = NODES[name];
  return {
    netns: host.netns,
    routerId: routerIdOf(name),
    localAddress: host.address4,
    localAddress6: host.address6,
    asn: node.asn,
    // Passive: Brindle connects at once (connect delay 0), which spares GoBGP's 5-9 s first connect.
    neighbors: [{ address: lan.address4(BRINDLE_INDEX), asn: AS, passive: true }],
    staticRoutes: node.routes,
  };
}

function startNode(name: NodeName, host: LanHost): Promise<Handle> {
  const options = peerOptions(name, host);
  switch (NODES[name].kind) {
    case 'bird2':
      return startBird(options, cleanup);
    case 'gobgp':
      return startGobgp(options, cleanup);
    case 'frr':
      return startFrr(options, cleanup);
  }
}

test.before(async () => {
  const started = Date.now();
  lan = await createLan(
    { tag: 'rr', subnet4: `100.64.${LAN_INDEX}.0/24`, subnet6: `fd00:${LAN_INDEX}::/64` },
    cleanup,
  );
  brindle = await lan.rootAddress(BRINDLE_INDEX);
  const hosts = await settled(NODE_NAMES.map((name) => lan.addHost(name, NODES[name].index)));
  // The daemons listen passively; they are up before Brindle connects, so no connect is refused.
  const daemons = await settled(NODE_NAMES.map((name, i) => startNode(name, hosts[i])));
  handles = Object.fromEntries(NODE_NAMES.map((name, i) => [name, daemons[i]])) as typeof handles;

  router = new Router({
    routerId: parseIpv4(BRINDLE_ROUTER_ID),
    localAs: AS,
    clusterId: parseIpv4(CLUSTER_ID),
  });
  cleanup.add(() => router.close());
  await router.listen(brindle.address4, 179);
  router.originate(BRINDLE_ROUTE.prefix, {
    nextHop: brindle.address4,
    communities: (BRINDLE_ROUTE.communities ?? []).map(communityValue),
  });
  peers = Object.fromEntries(NODE_NAMES.map((name) => [name, addPeer(name)])) as typeof peers;
  await waitFor(() => Object.values(peers).every((p) => p.state === SessionState.Established), {
    timeoutMs: 20_000,
    intervalMs: 50,
    what: 'every session Established on Brindle',
  });
  await settled(NODE_NAMES.map((name) => handles[name].waitEstablished(brindle.address4, 10_000)));
  setupMs = Date.now() - started;
});

test.after.always(async () => {
  await cleanup.run();
});

function addPeer(name: NodeName): Peer {
  const node = NODES[name];
  return router.addPeer({
    ...peerConfig({
      name,
      remoteAddress: lan.address4(node.index),
      localAddress: brindle.address4,
      localAs: AS,
      peerAs: node.asn,
      routerId: parseIpv4(BRINDLE_ROUTER_ID),
      timers: { connectDelayTimeSec: 0, connectRetryTimeSec: 1, idleHoldTimeSec: 1 },
    }),
    routeReflectorClient: node.role === 'client',
    // The sessions run over IPv4: IPv6 routes exported with next-hop-self (to eBGP) need an address.
    nextHopAddress6: brindle.address6,
  });
}

/**
 * Promise.all that waits for every promise before rejecting, so nothing is still starting (and about
 * to register in the Cleanup) when the teardown runs.
 */
async function settled<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function communityValue(text: string): number {
  const [high, low] = text.split(':').map(Number);
  return high * 65536 + low;
}

// --- What each peer should hold ------------------------------------------------------------------------

function routesOf(source: Source): readonly PeerRoute[] {
  const all = source === 'brindle' ? [BRINDLE_ROUTE] : NODES[source].routes;
  return all.filter((r) => !withdrawn.has(r.prefix));
}

/**
 * RFC 4456 §8: a route reflected between iBGP peers gets ORIGINATOR_ID (the originator's router ID)
 * and our CLUSTER_ID, next hop unchanged. RFC 4271 §5.1: towards eBGP, our AS first, our address as
 * next hop, no LOCAL_PREF and no RFC 4456 attributes; towards iBGP, LOCAL_PREF (default 100).
 */
function expectedRoute(receiver: NodeName, source: Source, route: PeerRoute): TableRoute {
  const family = familyOf(route.prefix);
  const toEbgp = NODES[receiver].role === 'ebgp';
  const reflected = source !== 'brindle' && NODES[source].role !== 'ebgp' && !toEbgp;
  const sourcePath = source !== 'brindle' && NODES[source].role === 'ebgp' ? [EBGP_AS] : [];
  return {
    prefix: route.prefix,
    nextHop: addressOf(toEbgp ? 'brindle' : source, family),
    asPath: toEbgp ? [AS, ...sourcePath] : sourcePath,
    localPref: toEbgp ? undefined : 100,
    communities: route.communities ?? [],
    originatorId: reflected ? routerIdOf(source) : undefined,
    clusterList: reflected ? [CLUSTER_ID] : [],
  };
}

function expectedTable(receiver: NodeName): TableRoute[] {
  return RECEIVES[receiver]
    .filter((source) => source === 'brindle' || !down.has(source))
    .flatMap((source) => routesOf(source).map((route) => expectedRoute(receiver, source, route)))
    .sort(byPrefix);
}

const byPrefix = (a: { prefix: string }, b: { prefix: string }): number => a.prefix.localeCompare(b.prefix);

// --- What each peer's CLI says it holds ----------------------------------------------------------------

interface BirdRoute {
  readonly prefix: string;
  readonly protocol: string;
  readonly via: string | undefined;
  readonly attrs: Map<string, string>;
}

/** `birdc show route all`: one entry per route, with its `BGP.*` attributes and `via` next hop. */
function parseBird(text: string): BirdRoute[] {
  const result: BirdRoute[] = [];
  let prefix = '';
  let current:
    { prefix: string; protocol: string; via: string | undefined; attrs: Map<string, string> } | undefined;
  for (const line of text.split('\n')) {
    const header = /^(\S+)?\s+(?:unicast|blackhole|unreachable|prohibited)\s+\[(\S+)/.exec(line);
    if (header) {
      prefix = header[1] ?? prefix;
      current = { prefix, protocol: header[2], via: undefined, attrs: new Map() };
      result.push(current);
      continue;
    }
    const via = /^\s+via (\S+) on /.exec(line);
    if (via && current) current.via = via[1];
    const attr = /^\s+(BGP\.\w+): ?(.*)$/.exec(line);
    if (attr && current) current.attrs.set(attr[1], attr[2].trim());
  }
  return result;
}

/** BIRD names its session with Brindle `n0` (the helper's first neighbour). */
async function birdRoutes(bird: BirdHandle): Promise<BirdRoute[]> {
  return parseBird(await bird.birdc('show', 'route', 'all')).filter((r) => r.protocol === 'n0');
}

function birdTableRoute(r: BirdRoute): TableRoute {
  const get = (name: string): string | undefined => r.attrs.get(`BGP.${name}`);
  const words = (name: string): string[] => (get(name) ?? '').split(/\s+/).filter((w) => w !== '');
  const localPref = get('local_pref');
  return {
    prefix: r.prefix,
    // An IPv6 next hop may be followed by a link-local one.
    nextHop: words('next_hop')[0] ?? '',
    asPath: words('as_path').map(Number),
    localPref: localPref === undefined ? undefined : Number(localPref),
    communities: [...(get('community') ?? '').matchAll(/\((\d+),(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`),
    originatorId: get('originator_id'),
    clusterList: words('cluster_list'),
  };
}

interface GobgpAttr {
  readonly type: number;
  readonly value?: unknown;
  readonly communities?: number[];
  readonly as_paths?: { segment_type: number; asns: number[] }[];
  readonly nexthop?: string;
}

interface GobgpPath {
  readonly nlri: { prefix: string };
  readonly attrs: GobgpAttr[];
  readonly 'neighbor-ip'?: string;
}

/** Path attribute type codes (RFC 4271, RFC 1997, RFC 4456, RFC 4760). */
const ATTR = {
  asPath: 2,
  nextHop: 3,
  localPref: 5,
  communities: 8,
  originatorId: 9,
  clusterList: 10,
  mpReach: 14,
};

/** `gobgp global rib -a FAMILY -j`, the paths learned from Brindle (locally added ones have no neighbor-ip). */
async function gobgpPaths(gobgp: GobgpHandle): Promise<GobgpPath[]> {
  const families: Family[] = ['ipv4', 'ipv6'];
  const ribs = await Promise.all(families.map((f) => gobgp.gobgp('global', 'rib', '-a', f, '-j')));
  return ribs
    .flatMap((text) => Object.values(JSON.parse(text.trim() || '{}') as Record<string, GobgpPath[]>))
    .flat()
    .filter((p) => p['neighbor-ip'] === brindle.address4);
}

function gobgpTableRoute(p: GobgpPath): TableRoute {
  const attr = (type: number): GobgpAttr | undefined => p.attrs.find((a) => a.type === type);
  const communities = attr(ATTR.communities)?.communities ?? [];
  return {
    prefix: p.nlri.prefix,
    nextHop: attr(ATTR.nextHop)?.nexthop ?? attr(ATTR.mpReach)?.nexthop ?? '',
    asPath: (attr(ATTR.asPath)?.as_paths ?? []).flatMap((s) => s.asns),
    localPref: attr(ATTR.localPref)?.value as number | undefined,
    communities: communities.map((c) => `${c >>> 16}:${c & 0xffff}`),
    originatorId: attr(ATTR.originatorId)?.value as string | undefined,
    clusterList: (attr(ATTR.clusterList)?.value as string[] | undefined) ?? [],
  };
}

/** One path of `show bgp <family> unicast <prefix> json` (FRR 8.4 field names). */
interface FrrPath {
  readonly aspath: { segments: { list: number[] }[] };
  readonly locPrf?: number;
  readonly community?: { list: string[] };
  readonly originatorId?: string;
  readonly clusterList?: { list: string[] };
  readonly nexthops: { ip: string; scope?: string }[];
  readonly peer: { peerId: string };
}

/** `show bgp <family> unicast json`: the prefixes FRR learned from Brindle (local ones say "(unspec)"). */
async function frrPrefixes(frr: FrrHandle): Promise<string[]> {
  const families: Family[] = ['ipv4', 'ipv6'];
  const tables = await Promise.all(families.map((f) => frr.vtysh(`show bgp ${f} unicast json`)));
  return tables.flatMap((text) => {
    const { routes = {} } = JSON.parse(text) as { routes?: Record<string, { peerId: string }[]> };
    return Object.entries(routes)
      .filter(([, paths]) => paths.some((p) => p.peerId === brindle.address4))
      .map(([prefix]) => prefix);
  });
}

/**
 * The full table needs `show bgp <family> unicast <prefix> json` per prefix (the table's JSON has no
 * communities): one vtysh run with a `-c` per prefix, whose answers come back as one JSON document each.
 */
async function frrTable(frr: FrrHandle): Promise<TableRoute[]> {
  const prefixes = await frrPrefixes(frr);
  if (prefixes.length === 0) return [];
  const text = await frr.vtysh(...prefixes.map((p) => `show bgp ${familyOf(p)} unicast ${p} json`));
  return jsonDocuments(text).map((doc, i) => frrTableRoute(prefixes[i], doc as { paths?: FrrPath[] }));
}

function frrTableRoute(prefix: string, view: { paths?: FrrPath[] }): TableRoute {
  const path = view.paths?.find((p) => p.peer.peerId === brindle.address4);
  if (!path) throw new Error(`FRR lost ${prefix} while reading it`);
  return {
    prefix,
    nextHop: (path.nexthops.find((h) => h.scope !== 'link-local') ?? path.nexthops[0]).ip,
    asPath: path.aspath.segments.flatMap((s) => s.list),
    localPref: path.locPrf,
    communities: path.community?.list ?? [],
    originatorId: path.originatorId,
    clusterList: path.clusterList?.list ?? [],
  };
}

/** Splits concatenated JSON objects (`{...}\n{...}\n`) at the braces that close them. */
function jsonDocuments(text: string): unknown[] {
  const docs: unknown[] = [];
  let depth = 0;
  let start = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) docs.push(JSON.parse(text.slice(start, i + 1)));
  }
  return docs;
}

/** The routes `name` learned from Brindle, read with its own CLI. */
async function peerTable(name: NodeName): Promise<TableRoute[]> {
  const handle = handles[name];
  switch (handle.kind) {
    case 'bird2':
      return (await birdRoutes(handle)).map(birdTableRoute).sort(byPrefix);
    case 'gobgp':
      return (await gobgpPaths(handle)).map(gobgpTableRoute).sort(byPrefix);
    case 'frr':
      return (await frrTable(handle)).sort(byPrefix);
  }
}

/** Just the prefixes: cheap enough to poll. */
async function peerPrefixes(name: NodeName): Promise<string[]> {
  const handle = handles[name];
  switch (handle.kind) {
    case 'bird2':
      return (await birdRoutes(handle)).map((r) => r.prefix).sort();
    case 'gobgp':
      return (await gobgpPaths(handle)).map((p) => p.nlri.prefix).sort();
    case 'frr':
      return (await frrPrefixes(handle)).sort();
  }
}

interface LocRibPath {
  readonly prefix: string;
  readonly from: string;
  readonly eligible: boolean;
  readonly best: boolean;
}

const byPrefixAndSource = (a: LocRibPath, b: LocRibPath): number =>
  byPrefix(a, b) || a.from.localeCompare(b.from);

/** Every path in Brindle's Loc-RIB, with the peer it came from ("local": originated). */
function locRibPaths(): LocRibPath[] {
  return [...router.locRib.dests()]
    .flatMap((dest) =>
      dest.paths.map((p) => ({
        prefix: formatPrefix(dest),
        from: p.peer.name,
        eligible: p.eligible,
        best: dest.best === p,
      })),
    )
    .sort(byPrefixAndSource);
}

const live = (): NodeName[] => NODE_NAMES.filter((name) => !down.has(name));

/** Waits until every live peer holds the expected prefixes; the error names who holds what. */
async function converged(what: string): Promise<void> {
  await waitFor(
    async () => {
      const names = live();
      const tables = await Promise.all(names.map(peerPrefixes));
      names.forEach((name, i) => {
        const actual = tables[i].join(' ');
        const expected = expectedTable(name)
          .map((r) => r.prefix)
          .sort()
          .join(' ');
        if (actual !== expected) throw new Error(`${name} holds [${actual}], expected [${expected}]`);
      });
      return true;
    },
    { timeoutMs: 15_000, intervalMs: 200, what },
  );
}

async function assertTables(t: ExecutionContext): Promise<void> {
  const names = live();
  const tables = await Promise.all(names.map(peerTable));
  names.forEach((name, i) => t.deepEqual(tables[i], expectedTable(name), `${name}'s table`));
}

// --- Tests ---------------------------------------------------------------------------------------------

for (const name of NODE_NAMES) {
  const node = NODES[name];
  test.serial(
    `${node.kind} as ${node.role === 'ebgp' ? 'eBGP peer' : `iBGP ${node.role}`} (${name}): holds exactly the routes RFC 4456 §6 sends it, as reflected`,
    async (t) => {
      await converged('the initial tables');
      if (name === NODE_NAMES[0]) t.log(`set-up (LAN, 5 daemons, sessions): ${setupMs} ms`);
      t.deepEqual(await peerTable(name), expectedTable(name));
    },
  );
}

test.serial('spot checks, spelled out: what a client, the non-client and the eBGP peer show', async (t) => {
  await converged('the initial tables');
  const net = `100.64.${LAN_INDEX}`;
  // GoBGP (client) sees FRR's (client) route reflected: ORIGINATOR_ID FRR, CLUSTER_LIST ours, next hop FRR.
  t.deepEqual(
    (await peerTable('gobgp')).find((r) => r.prefix === '198.18.4.0/24'),
    {
      prefix: '198.18.4.0/24',
      nextHop: `${net}.4`,
      asPath: [],
      localPref: 100,
      communities: ['64512:40'],
      originatorId: '10.255.0.4',
      clusterList: ['10.255.0.100'],
    },
  );
  // The non-client sees BIRD's IPv6 route reflected, next hop BIRD's IPv6 address.
  t.like(
    (await peerTable('nonClient')).find((r) => r.prefix === '2001:db8:2::/48'),
    {
      nextHop: `fd00:${LAN_INDEX}::2`,
      originatorId: '10.255.0.2',
      clusterList: ['10.255.0.100'],
    },
  );
  // BIRD (client) sees the eBGP route with the eBGP peer's next hop and no RFC 4456 attributes.
  t.like(
    (await peerTable('bird')).find((r) => r.prefix === '198.19.6.0/24'),
    {
      nextHop: `${net}.6`,
      asPath: [EBGP_AS],
      localPref: 100,
      originatorId: undefined,
      clusterList: [],
    },
  );
  // The eBGP peer sees the non-client's route from AS 64512, next hop Brindle, nothing of RFC 4456.
  t.deepEqual(
    (await peerTable('ebgp')).find((r) => r.prefix === '2001:db8:5::/48'),
    {
      prefix: '2001:db8:5::/48',
      nextHop: `fd00:${LAN_INDEX}::1`,
      asPath: [AS],
      localPref: undefined,
      communities: ['64512:51'],
      originatorId: undefined,
      clusterList: [],
    },
  );
});

test.serial('BIRD resolves every reflected next hop as directly connected on the LAN', async (t) => {
  await converged('the initial tables');
  const routes = await birdRoutes(handles.bird as BirdHandle);
  t.true(routes.length > 0);
  for (const r of routes)
    t.is(r.via, r.attrs.get('BGP.next_hop')?.split(' ')[0], `${r.prefix} via its next hop`);
});

test.serial(
  "Brindle's own view: the Loc-RIB holds every path; clients with one policy share an update group",
  async (t) => {
    await converged('the initial tables');
    const expected = [
      { prefix: BRINDLE_ROUTE.prefix, from: 'local', eligible: true, best: true },
      ...live().flatMap((name) =>
        routesOf(name).map((r) => ({ prefix: r.prefix, from: name, eligible: true, best: true })),
      ),
      // FRR advertises every route back to the eBGP peer it came from (it does no sender-side loop
      // detection unless configured to), so the eBGP peer echoes what it got from Brindle with AS_PATH
      // 65010 64512: held, but ineligible for the AS_PATH loop (RFC 4271 §9.1.2).
      ...expectedTable('ebgp').map((r) => ({ prefix: r.prefix, from: 'ebgp', eligible: false, best: false })),
    ].sort(byPrefixAndSource);
    // The echoes trail the eBGP peer's own table by a moment: wait (bounded), then compare.
    await waitFor(() => JSON.stringify(locRibPaths()) === JSON.stringify(expected), {
      timeoutMs: 5_000,
      what: 'the Loc-RIB',
    }).catch(() => undefined);
    t.deepEqual(locRibPaths(), expected);
    t.is(router.locRib.pathCount, expected.length);

    // Brindle groups peers whose export policy (here: the role) and UPDATE encoding (Extended Messages,
    // RFC 8654; ADD-PATH, RFC 7911) agree.
    const keys = new Map<string, NodeName[]>();
    for (const name of live()) {
      const n = peers[name].negotiated!;
      const key = `${NODES[name].role} ext-msg=${n.extendedMessage} add-path=${[...n.addPathSend].join(',') || 'none'}`;
      keys.set(key, [...(keys.get(key) ?? []), name]);
    }
    await waitFor(() => router.adjRibOut.groupCount === keys.size, {
      timeoutMs: 5_000,
      what: `${keys.size} update groups (${router.adjRibOut.groupCount} now)`,
    });
    t.log(
      `update groups: ${router.adjRibOut.groupCount}:`,
      [...keys].map(([k, v]) => `${v.join('+')} [${k}]`).join('; '),
    );
    t.true(router.adjRibOut.groupCount < live().length, 'the clients with one policy share a group');
  },
);

test.serial('a route withdrawn by a client (BIRD) disappears everywhere, and comes back', async (t) => {
  await converged('the initial tables');
  const bird = handles.bird as BirdHandle;
  const route = NODES.bird.routes[1];
  withdrawn.add(route.prefix);
  await bird.withdrawRoute(route);
  await converged(`${route.prefix} withdrawn everywhere`);
  await assertTables(t);
  // The eBGP peer's echo of the route (see above) goes a moment after its own copy.
  const paths = (): number => router.locRib.get(parsePrefix(route.prefix)!)?.paths.length ?? 0;
  await waitFor(() => paths() === 0, { timeoutMs: 5_000, what: 'the Loc-RIB' }).catch(() => undefined);
  t.is(paths(), 0, 'gone from the Loc-RIB');

  withdrawn.delete(route.prefix);
  await bird.announceRoute(route);
  await converged(`${route.prefix} back everywhere`);
  await assertTables(t);
});

test.serial('a client killed with SIGKILL (GoBGP) has its routes withdrawn from all others', async (t) => {
  await converged('the initial tables');
  const gobgp = handles.gobgp;
  const sessionDown = nextEvent(peers.gobgp, 'down', 10_000);
  process.kill(gobgp.daemon.pid, 'SIGKILL');
  await gobgp.daemon.exited;
  down.add('gobgp');
  // No NOTIFICATION, just the kernel closing GoBGP's socket; GoBGP announced no Graceful Restart (the
  // helper's default), so its routes are not kept as stale.
  t.like((await sessionDown).reason, { kind: 'connection-lost' });
  await converged("GoBGP's routes withdrawn");
  await assertTables(t);
});

test.serial(
  'a client that shuts its session down (FRR, Cease) has its routes withdrawn from all others',
  async (t) => {
    await converged('the tables so far');
    // FRR 8.4 killed with SIGTERM just closes its sockets; a shutdown neighbour sends the Cease.
    const sessionDown = nextEvent(peers.frr, 'down', 10_000);
    await handles.frr.shutdownNeighbor(brindle.address4, 'frr maintenance');
    down.add('frr');
    t.like((await sessionDown).reason, {
      kind: 'notification-received',
      notification: {
        code: 6,
        subcode: CeaseSubcode.AdministrativeShutdown,
        shutdownCommunication: 'frr maintenance',
      },
    });
    await converged("FRR's routes withdrawn");
    await assertTables(t);
  },
);
