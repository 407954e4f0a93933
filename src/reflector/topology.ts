// The BGP sessions one node wants, computed from the resources the way confd computes them
// (calico-routing.md §3.2, §3.3, §5, §12): the node-to-node mesh, global and node-scoped BGPPeers
// with confd's "first writer of a key wins", automatic reverse peerings, route-reflector client
// marking and BIRD's protocol names. A pure function of its input; the daemon diffs successive
// results (`diffPeerings`) and restarts only the sessions that changed.

import { createHash } from 'node:crypto';
import { BGP_PORT } from '../bgp/constants.ts';
import { peerConfig } from '../bgp/session/peer-config.ts';
import type { PeerConfig } from '../bgp/session/peer-config.ts';
import { parseIpv4 } from '../lib/address.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../lib/family.ts';
import {
  bindMode,
  configuredListenPort,
  DEFAULTS,
  globalAsNumber,
  globalConfig,
  logSeverityScreen,
  nodeToNodeMeshEnabled,
  peerReversePeering,
  peerSourceAddress,
} from '../resources/defaults.ts';
import type {
  BGPConfiguration,
  BGPPeer,
  BGPPeerSpec,
  BindMode,
  NextHopMode,
  Node,
  SecretKeyRef,
} from '../resources/types.ts';
import { durationSeconds, parseCidrOrIp, parseIp, parsePeerIp } from '../resources/values.ts';
import { parseSelector, SelectorError } from '../resources/selector.ts';
import type { Labels, Selector } from '../resources/selector.ts';

export type PeeringKind = 'mesh' | 'global' | 'node';
export type PeeringFamily = 'ipv4' | 'ipv6';

const FAMILIES: readonly PeeringFamily[] = ['ipv4', 'ipv6'];

/** One session this node wants; confd's v1 peer record (§13.2) resolved for the local node. */
export interface DesiredPeering {
  /** BIRD's protocol name: `Mesh_10_0_0_2`, `Global_…`, `Node_ac13__57_port_50` (§3.3). */
  readonly name: string;
  readonly kind: PeeringKind;
  /** The session's transport family; Calico's bird/bird6 split makes it the routed family too. */
  readonly family: PeeringFamily;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Source address (sourceAddress: UseNodeIP, always for the mesh); absent for None. */
  readonly localAddress?: string;
  readonly localAs: number;
  readonly peerAs: number;
  /** iBGP: peerAs equals the effective local AS (§12.1). */
  readonly internal: boolean;
  /** Wait for the remote side to connect. */
  readonly passive: boolean;
  /** RFC 4456: this node reflects routes to the peer (§3.3 `rr client`). */
  readonly routeReflectorClient: boolean;
  /** This node's cluster ID, present when routeReflectorClient is (§3.3 `rr cluster id`). */
  readonly clusterId?: string;
  readonly nextHopMode: NextHopMode;
  readonly keepaliveTimeSec?: number;
  readonly gracefulRestartTimeSec: number;
  /** RFC 9494 long-lived stale time (BGPPeer restartMode LongLivedGracefulRestart); absent: no LLGR. */
  readonly longLivedStaleTimeSec?: number;
  /** GTSM hop count; absent means `ttl security off` (every session is multihop, §3.3). */
  readonly ttlSecurityHops?: number;
  readonly numAllowedLocalASNumbers?: number;
  /** The MD5 password's secret, stored, not resolved. */
  readonly password?: SecretKeyRef;
  /** BGPFilter names, applied in this order (§4.2). */
  readonly filters: readonly string[];
  /** Gateway for a static host route to the peer (§3.1). */
  readonly reachableBy?: string;
  /** The BGPPeer that produced this session; absent for the mesh. */
  readonly bgpPeer?: string;
}

export interface TopologyInput {
  readonly localNode: string;
  readonly nodes: readonly Node[];
  readonly peers: readonly BGPPeer[];
  readonly configs: readonly BGPConfiguration[];
  /** CALICO_ROUTER_ID: an IPv4 address, `hash`, or undefined for the node's IPv4 address (§2). */
  readonly routerId?: string;
}

/** What the local BGP speaker itself is configured with, from Node and BGPConfiguration (§2). */
export interface SpeakerSettings {
  readonly nodeName: string;
  /** The node's AS: spec.bgp.asNumber, else the global AS, else 64512. */
  readonly asNumber: number;
  /** Dotted quad; undefined only when `routerId` was set to something that is not an IPv4 address. */
  readonly routerId?: string;
  readonly ipv4Address?: string;
  readonly ipv6Address?: string;
  /** node.<name> listenPort, else the default configuration's, else 179. */
  readonly listenPort: number;
  readonly bindMode: BindMode;
  /** bindMode NodeIP: listen on the node's addresses only; absent means every address. */
  readonly listenAddresses?: readonly string[];
  /** Set on route reflectors (§5.3). */
  readonly routeReflectorClusterId?: string;
  readonly logSeverityScreen: string;
}

export interface Topology {
  readonly speaker?: SpeakerSettings;
  readonly peerings: readonly DesiredPeering[];
}

export function computeTopology(input: TopologyInput): Topology {
  return { speaker: speakerSettings(input), peerings: desiredPeerings(input) };
}

// --- The cluster as confd's caches see it ----------------------------------------------------------

/** A Node reduced to what peering needs; addresses canonical, as confd's ip_addr_v4/v6 keys hold them. */
interface NodeView {
  readonly name: string;
  readonly labels: Labels;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** spec.bgp.asNumber, else the global AS. */
  readonly asNumber: number;
  readonly clusterId?: string;
  /** The node's listenPort (node.<name>, else default); undefined means 179 and no name suffix. */
  readonly listenPort?: number;
}

class Cluster {
  /** Sorted by name, so that "first writer wins" is deterministic (confd iterates Go maps). */
  readonly nodes: readonly NodeView[];
  readonly byName: ReadonlyMap<string, NodeView>;
  readonly globalAs: number;
  private readonly nodeAddresses: ReadonlySet<string>;
  private readonly selectors = new Map<string, Selector | undefined>();

  constructor(input: TopologyInput) {
    this.globalAs = globalAsNumber(input.configs);
    this.nodes = [...input.nodes]
      .sort((a, b) => compare(a.metadata.name, b.metadata.name))
      .map((node) => nodeView(node, this.globalAs, input.configs));
    this.byName = new Map(this.nodes.map((view) => [view.name, view]));
    this.nodeAddresses = new Set(this.nodes.flatMap((v) => [v.ipv4, v.ipv6].filter((a) => a !== undefined)));
  }

  /** §3.2 step 2: `calico_node` — the address belongs to some Calico node. */
  isNodeAddress(address: string): boolean {
    return this.nodeAddresses.has(address);
  }

  matches(selectorText: string, view: NodeView): boolean {
    if (!this.selectors.has(selectorText)) {
      const parsed = parseSelector(selectorText);
      this.selectors.set(selectorText, parsed instanceof SelectorError ? undefined : parsed);
    }
    return this.selectors.get(selectorText)?.matches(view.labels) ?? false;
  }

  matching(selectorText: string): NodeView[] {
    return this.nodes.filter((view) => this.matches(selectorText, view));
  }

  /**
   * confd's nodesWithIPPortAndAS: does peerIP (+ AS, + port when given) point at this node? A given
   * port is compared with the node's effective listen port (node.<name>, else default, else 179);
   * confd compares with the configured ports only, and lets a global port veto a matching node port.
   */
  isPeerIpOf(view: NodeView, address: string, asNumber: number, port: number | undefined): boolean {
    if (view.ipv4 !== address && view.ipv6 !== address) return false;
    return view.asNumber === asNumber && (port === undefined || port === (view.listenPort ?? BGP_PORT));
  }
}

function nodeView(node: Node, globalAs: number, configs: readonly BGPConfiguration[]): NodeView {
  const bgp = node.spec.bgp;
  const ipv4 = bgp?.ipv4Address === undefined ? undefined : parseCidrOrIp(bgp.ipv4Address)?.address;
  const ipv6 = bgp?.ipv6Address === undefined ? undefined : parseCidrOrIp(bgp.ipv6Address)?.address;
  return compact({
    name: node.metadata.name,
    labels: node.metadata.labels ?? {},
    ipv4,
    ipv6,
    asNumber: bgp?.asNumber ?? globalAs,
    clusterId: bgp?.routeReflectorClusterID || undefined,
    listenPort: configuredListenPort(configs, node.metadata.name),
  });
}

function addressOf(view: NodeView, family: PeeringFamily): string | undefined {
  return family === 'ipv4' ? view.ipv4 : view.ipv6;
}

function familyOf(address: string): PeeringFamily {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

// --- The desired sessions -----------------------------------------------------------------------

export function desiredPeerings(input: TopologyInput): DesiredPeering[] {
  const cluster = new Cluster(input);
  const local = cluster.byName.get(input.localNode);
  if (!local) return [];
  const peerings = [
    ...meshPeerings(cluster, local, input.configs),
    ...explicitPeerings(cluster, local, input.peers),
  ];
  return peerings.sort((a, b) => compare(a.name, b.name));
}

/**
 * §5.2: every node with an address in the family, minus self (by address) and minus route
 * reflectors; a route reflector builds no mesh at all. Mesh sessions are unidirectional: the side
 * whose address is the lexically larger string waits (string comparison, as confd does).
 */
function meshPeerings(
  cluster: Cluster,
  local: NodeView,
  configs: readonly BGPConfiguration[],
): DesiredPeering[] {
  if (!nodeToNodeMeshEnabled(configs) || local.clusterId !== undefined) return [];
  const global = globalConfig(configs)?.spec;
  return FAMILIES.flatMap((family) => {
    const own = addressOf(local, family);
    if (own === undefined) return [];
    return cluster.nodes.flatMap((remote) => {
      const address = addressOf(remote, family);
      if (address === undefined || address === own || remote.clusterId !== undefined) return [];
      const internal = remote.asNumber === local.asNumber;
      return [
        compact<DesiredPeering>({
          name: protocolName('mesh', address, undefined),
          kind: 'mesh',
          family,
          remoteAddress: address,
          remotePort: remote.listenPort ?? BGP_PORT,
          localAddress: own,
          localAs: local.asNumber,
          peerAs: remote.asNumber,
          internal,
          passive: address > own,
          routeReflectorClient: false,
          nextHopMode: 'Auto',
          gracefulRestartTimeSec:
            durationSeconds(global?.nodeMeshMaxRestartTime) ??
            DEFAULTS.BGPConfiguration.nodeMeshMaxRestartTimeSec,
          password: global?.nodeMeshPassword?.secretKeyRef,
          filters: [],
        }),
      ];
    });
  });
}

/** One entry of confd's v1 peer table: `peer_vN/<ip>[-<port>]` plus what it records (§13.2). */
interface Candidate {
  readonly family: PeeringFamily;
  readonly address: string;
  /** Undefined: BGP's 179, and no `_port_` suffix in the name. */
  readonly port?: number;
  readonly peerAs: number;
  /** The remote node's cluster ID (selector and reverse peers only, as in confd). */
  readonly rrClusterId?: string;
  readonly calicoNode: boolean;
  readonly localAs?: number;
  /** Legacy keepOriginalNextHop and numAllowedLocalASNumbers: peerIP peerings only, as in confd. */
  readonly keepNextHop: boolean;
  readonly numAllowedLocalASNumbers?: number;
  readonly peer: BGPPeer;
}

type PeerTable = Map<string, Candidate>;

/**
 * §3.2: three passes over the BGPPeers — global ones, then those scoped to this node, then the
 * synthesised reverse peerings. A key (address and port) is written once: the first writer wins,
 * so global beats node-scoped and an explicit forward peering beats a synthesised reverse one.
 */
function explicitPeerings(cluster: Cluster, local: NodeView, peers: readonly BGPPeer[]): DesiredPeering[] {
  const sorted = [...peers].sort((a, b) => compare(a.metadata.name, b.metadata.name));
  const global: PeerTable = new Map();
  const nodeScoped: PeerTable = new Map();
  const emit = (table: PeerTable, candidate: Candidate) => {
    const key = `${candidate.address}|${candidate.port ?? 0}`;
    if (!global.has(key) && !table.has(key)) table.set(key, candidate);
  };
  for (const peer of sorted.filter(isGlobalPeer)) {
    for (const candidate of forwardCandidates(cluster, peer)) emit(global, candidate);
  }
  for (const peer of sorted.filter((p) => !isGlobalPeer(p) && localSideIncludes(cluster, p.spec, local))) {
    for (const candidate of forwardCandidates(cluster, peer)) emit(nodeScoped, candidate);
  }
  for (const peer of sorted) {
    for (const candidate of reverseCandidates(cluster, peer, local)) emit(nodeScoped, candidate);
  }
  return [
    ...[...global.values()].map((c) => explicitPeering('global', c, local)),
    ...[...nodeScoped.values()].map((c) => explicitPeering('node', c, local)),
  ].filter((p) => p !== undefined);
}

/** §3.1: neither node nor nodeSelector means every node. */
function isGlobalPeer(peer: BGPPeer): boolean {
  return !peer.spec.node && !peer.spec.nodeSelector;
}

function localSideIncludes(cluster: Cluster, spec: BGPPeerSpec, view: NodeView): boolean {
  if (spec.nodeSelector) return cluster.matches(spec.nodeSelector, view);
  return spec.node === view.name;
}

/**
 * §3.2 step 2: the remote side of a BGPPeer. peerSelector → each matching node, in both families,
 * with its AS, cluster ID and listen port; peerIP → one peer, whose port defaults to the listen port
 * of the Calico node with that address and AS. localWorkloadSelector peers need workload status,
 * which this function does not have: they produce nothing here.
 */
function forwardCandidates(cluster: Cluster, peer: BGPPeer): Candidate[] {
  const spec = peer.spec;
  if (spec.localWorkloadSelector) return [];
  if (spec.peerSelector) {
    return cluster
      .matching(spec.peerSelector)
      .flatMap((view) => nodeCandidates(view, FAMILIES, peer, spec.localASNumber));
  }
  const remote = spec.peerIP === undefined ? undefined : parsePeerIp(spec.peerIP);
  if (!remote) return [];
  const peerAs = spec.asNumber ?? cluster.globalAs;
  const port =
    remote.port ??
    cluster.nodes.find((v) => cluster.isPeerIpOf(v, remote.address, peerAs, undefined))?.listenPort;
  return [
    compact<Candidate>({
      family: familyOf(remote.address),
      address: remote.address,
      port,
      peerAs,
      calicoNode: cluster.isNodeAddress(remote.address),
      localAs: spec.localASNumber,
      keepNextHop: spec.keepOriginalNextHop ?? false,
      numAllowedLocalASNumbers: spec.numAllowedLocalASNumbers,
      peer,
    }),
  ];
}

/** confd's nodeAsBGPPeers: a Calico node as the remote end of a session, in the given families. */
function nodeCandidates(
  view: NodeView,
  families: readonly PeeringFamily[],
  peer: BGPPeer,
  localAs: number | undefined,
): Candidate[] {
  return families.flatMap((family) => {
    const address = addressOf(view, family);
    if (address === undefined) return [];
    return [
      compact<Candidate>({
        family,
        address,
        port: view.listenPort,
        peerAs: view.asNumber,
        rrClusterId: view.clusterId,
        calicoNode: false,
        localAs,
        keepNextHop: false,
        peer,
      }),
    ];
  });
}

/**
 * §3.2 step 3: unless reversePeering is Manual, the nodes on the *remote* side of a BGPPeer
 * (peerSelector matches, or the node whose address, AS and port peerIP names) get node-scoped
 * peerings to the nodes on its *local* side (node / nodeSelector / every node). Selector peers
 * reverse in both families, peerIP peers only in the family of the address (§13.4).
 */
function reverseCandidates(cluster: Cluster, peer: BGPPeer, local: NodeView): Candidate[] {
  const spec = peer.spec;
  if (spec.localWorkloadSelector || peerReversePeering(spec) === 'Manual') return [];
  let families: readonly PeeringFamily[];
  if (spec.peerSelector) {
    if (!cluster.matches(spec.peerSelector, local)) return [];
    families = FAMILIES;
  } else {
    const remote = spec.peerIP === undefined ? undefined : parsePeerIp(spec.peerIP);
    if (!remote || !cluster.isPeerIpOf(local, remote.address, spec.asNumber ?? cluster.globalAs, remote.port))
      return [];
    families = [familyOf(remote.address)];
  }
  const localSide = spec.nodeSelector
    ? cluster.matching(spec.nodeSelector)
    : spec.node
      ? [cluster.byName.get(spec.node)].filter((v) => v !== undefined)
      : cluster.nodes;
  // The far end uses localASNumber as its own AS towards us, so that is the AS we expect from it.
  return localSide.flatMap((view) =>
    nodeCandidates(view, families, peer, undefined).map((c) =>
      spec.localASNumber === undefined ? c : { ...c, peerAs: spec.localASNumber },
    ),
  );
}

/** §3.3: one BIRD protocol from one peer-table entry, as seen from this node. */
function explicitPeering(kind: 'global' | 'node', c: Candidate, local: NodeView): DesiredPeering | undefined {
  const own = addressOf(local, c.family);
  // No address in this family: "IPv6 disabled on this node"; and never peer with ourselves.
  if (own === undefined || c.address === own) return undefined;
  const spec = c.peer.spec;
  // §12.1: effective local AS = localASNumber ?? node AS ?? global AS ?? 64512.
  const localAs = c.localAs ?? local.asNumber;
  const internal = c.peerAs === localAs;
  const routeReflectorClient = isRouteReflectorClient(local.clusterId, internal, c.rrClusterId);
  return compact<DesiredPeering>({
    name: protocolName(kind, c.address, c.port),
    kind,
    family: c.family,
    remoteAddress: c.address,
    remotePort: c.port ?? BGP_PORT,
    localAddress: peerSourceAddress(spec) === 'UseNodeIP' ? own : undefined,
    localAs,
    peerAs: c.peerAs,
    internal,
    // §3.3: global peers that are Calico nodes follow the mesh rule; node-scoped peers never wait.
    passive: kind === 'global' && c.calicoNode && c.address > own,
    routeReflectorClient,
    clusterId: routeReflectorClient ? local.clusterId : undefined,
    nextHopMode: nextHopMode(spec, c.keepNextHop, internal),
    keepaliveTimeSec: durationSeconds(spec.keepaliveTime),
    ...restartTimes(spec),
    ttlSecurityHops: spec.ttlSecurity ? spec.ttlSecurity : undefined,
    numAllowedLocalASNumbers: c.numAllowedLocalASNumbers ? c.numAllowedLocalASNumbers : undefined,
    password: spec.password?.secretKeyRef,
    filters: spec.filters ?? [],
    reachableBy: spec.reachableBy === undefined ? undefined : parseIp(spec.reachableBy)?.address,
    bgpPeer: c.peer.metadata.name,
  });
}

/**
 * Calico Enterprise's restartMode: with LongLivedGracefulRestart, maxRestartTime is the long-lived
 * stale time and the graceful restart time is BIRD's default (the daemon announces its own
 * `bgp.llgrRestartTimeSec` instead, which defaults to the same); otherwise it is the restart time.
 */
function restartTimes(
  spec: BGPPeerSpec,
): Pick<DesiredPeering, 'gracefulRestartTimeSec' | 'longLivedStaleTimeSec'> {
  const configured = durationSeconds(spec.maxRestartTime);
  if (spec.restartMode !== 'LongLivedGracefulRestart')
    return { gracefulRestartTimeSec: configured ?? DEFAULTS.BGPPeer.maxRestartTimeSec };
  return {
    gracefulRestartTimeSec: DEFAULTS.BGPPeer.maxRestartTimeSec,
    longLivedStaleTimeSec: configured ?? DEFAULTS.BGPPeer.longLivedStaleTimeSec,
  };
}

/**
 * §3.3, §5.3: a route reflector treats an iBGP peer as its client unless the peer is a reflector
 * with the same cluster ID; a peer without a cluster ID counts as different.
 */
function isRouteReflectorClient(
  ownClusterId: string | undefined,
  internal: boolean,
  peerClusterId: string | undefined,
): boolean {
  return ownClusterId !== undefined && internal && peerClusterId !== ownClusterId;
}

/** §3.1: nextHopMode Self/Keep as written; the legacy keepOriginalNextHop means Keep, for eBGP only. */
function nextHopMode(spec: BGPPeerSpec, keepNextHop: boolean, internal: boolean): NextHopMode {
  if (spec.nextHopMode === 'Self' || spec.nextHopMode === 'Keep') return spec.nextHopMode;
  return keepNextHop && !internal ? 'Keep' : 'Auto';
}

const NAME_PREFIX: Readonly<Record<PeeringKind, string>> = { mesh: 'Mesh', global: 'Global', node: 'Node' };

/** §3.3: `<Prefix>_<ip with . and : as _>[_port_<p>]`; mesh names never carry the port. */
export function protocolName(kind: PeeringKind, address: string, port: number | undefined): string {
  const suffix = kind !== 'mesh' && port !== undefined ? `_port_${port}` : '';
  return `${NAME_PREFIX[kind]}_${address.replace(/[.:]/g, '_')}${suffix}`;
}

// --- The speaker --------------------------------------------------------------------------------

export function speakerSettings(input: TopologyInput): SpeakerSettings | undefined {
  const cluster = new Cluster(input);
  const local = cluster.byName.get(input.localNode);
  if (!local) return undefined;
  const mode = bindMode(input.configs);
  const nodeAddresses = [local.ipv4, local.ipv6].filter((a) => a !== undefined);
  return compact<SpeakerSettings>({
    nodeName: local.name,
    asNumber: local.asNumber,
    routerId: routerIdFor(input.routerId, local),
    ipv4Address: local.ipv4,
    ipv6Address: local.ipv6,
    listenPort: local.listenPort ?? BGP_PORT,
    bindMode: mode,
    listenAddresses: mode === 'NodeIP' ? nodeAddresses : undefined,
    routeReflectorClusterId: local.clusterId,
    logSeverityScreen: logSeverityScreen(input.configs, local.name),
  });
}

/**
 * §2: CALICO_ROUTER_ID `hash` → an IPv4 derived from the node name; a literal → itself; unset → the
 * node's IPv4 address. Brindle departs for IPv6-only nodes with nothing set: it uses the hash, where
 * confd would render no configuration at all.
 */
function routerIdFor(setting: string | undefined, local: NodeView): string | undefined {
  if (setting === 'hash') return hashRouterId(local.name);
  if (setting !== undefined && setting !== '') return parseIpv4(setting) >= 0 ? setting : undefined;
  return local.ipv4 ?? hashRouterId(local.name);
}

/** confd's HashToIPv4: the first four bytes of SHA-256(name), first octet kept below 224. */
export function hashRouterId(nodeName: string): string {
  const bytes = createHash('sha256').update(nodeName).digest();
  const first = bytes[0] > 223 ? bytes[0] - 32 : bytes[0];
  return `${first}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

// --- Changes between two computations ---------------------------------------------------------------

export interface PeeringChange {
  readonly name: string;
  readonly before: DesiredPeering;
  readonly after: DesiredPeering;
  readonly fields: readonly (keyof DesiredPeering)[];
}

export interface PeeringDiff {
  readonly added: readonly DesiredPeering[];
  readonly removed: readonly DesiredPeering[];
  readonly changed: readonly PeeringChange[];
  readonly unchanged: readonly DesiredPeering[];
}

/** Sessions matched by name; `changed` lists the fields that differ, for the daemon to judge. */
export function diffPeerings(
  before: readonly DesiredPeering[],
  after: readonly DesiredPeering[],
): PeeringDiff {
  const old = new Map(before.map((p) => [p.name, p]));
  const next = new Map(after.map((p) => [p.name, p]));
  const changed: PeeringChange[] = [];
  const unchanged: DesiredPeering[] = [];
  for (const peering of after) {
    const previous = old.get(peering.name);
    if (!previous) continue;
    const fields = changedFields(previous, peering);
    if (fields.length === 0) unchanged.push(peering);
    else changed.push({ name: peering.name, before: previous, after: peering, fields });
  }
  return {
    added: after.filter((p) => !old.has(p.name)),
    removed: before.filter((p) => !next.has(p.name)),
    changed,
    unchanged,
  };
}

function changedFields(a: DesiredPeering, b: DesiredPeering): (keyof DesiredPeering)[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof DesiredPeering)[]);
  return [...keys].filter((key) => !sameValue(a[key], b[key]));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  const va = a as Record<string, unknown>;
  const vb = b as Record<string, unknown>;
  return ka.length === kb.length && ka.every((k) => sameValue(va[k], vb[k]));
}

// --- To the session layer ---------------------------------------------------------------------------

/**
 * Calico runs BIRD for IPv4 and BIRD6 for IPv6 (§13.4), so each session carries only the unicast
 * family of its own transport: an IPv4 session IPv4 unicast, an IPv6 session IPv6 unicast. Change
 * this table to carry both families on one session.
 */
export const SESSION_FAMILIES: Readonly<Record<PeeringFamily, readonly number[]>> = {
  ipv4: [IPV4_UNICAST],
  ipv6: [IPV6_UNICAST],
};

/** The session layer's PeerConfig for a desired peering (hold time stays the default 240 s). */
export function toPeerConfig(peering: DesiredPeering, routerId: number | string): PeerConfig {
  const id = typeof routerId === 'number' ? routerId : parseIpv4(routerId);
  if (id < 0) throw new RangeError(`router ID ${String(routerId)} is not an IPv4 address`);
  return peerConfig(
    compact({
      name: peering.name,
      remoteAddress: peering.remoteAddress,
      remotePort: peering.remotePort,
      localAddress: peering.localAddress,
      localAs: peering.localAs,
      peerAs: peering.peerAs,
      routerId: id,
      keepaliveTimeSec: peering.keepaliveTimeSec,
      passive: peering.passive,
      families: SESSION_FAMILIES[peering.family],
      gracefulRestartTimeSec: peering.gracefulRestartTimeSec,
      longLivedStaleTimeSec: peering.longLivedStaleTimeSec,
      bgpPeer: peering.bgpPeer,
    }),
  );
}

// --- Helpers ----------------------------------------------------------------------------------------

/** Byte order, as Go's string comparison and sort use. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Drops undefined fields, so that absent and unset compare (and print) the same. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
