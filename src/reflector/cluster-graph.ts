// The cluster's BGP sessions as the resources define them, for a picture: every Node's desired
// peerings (topology.ts, the same computation each node's speaker runs) folded into one undirected
// graph of nodes, route reflectors and external peers (ToRs). A session both ends want (the mesh, a
// reflector and its client) is one edge; an edge to an address no Node owns ends at an external peer.
//
// Bounded: a 1,000-node mesh is half a million sessions, which no picture shows usefully. Up to
// MAX_GRAPH_NODES nodes are expanded (the local node always); the rest are listed and the graph says it
// was truncated.

import type { ResourceSnapshot } from '../resources/store.ts';
import { parseCidrOrIp } from '../resources/values.ts';
import { globalAsNumber, nodeToNodeMeshEnabled } from '../resources/defaults.ts';
import { desiredPeerings } from './topology.ts';
import type { DesiredPeering, PeeringFamily, PeeringKind } from './topology.ts';

export const MAX_GRAPH_NODES = 200;

export interface GraphNode {
  readonly name: string;
  readonly asNumber: number;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** spec.bgp.routeReflectorClusterID: this node reflects (RFC 4456). */
  readonly clusterId?: string;
}

/** A peer address no Node owns: a ToR, an external router. */
export interface GraphPeer {
  readonly address: string;
  readonly asNumber: number;
  /** The BGPPeer resources that name it. */
  readonly bgpPeers: readonly string[];
}

export interface GraphEdge {
  /** A node's name. */
  readonly from: string;
  /** A node's name, or an external peer's address. */
  readonly to: string;
  readonly external: boolean;
  readonly kind: PeeringKind;
  readonly family: PeeringFamily;
  /** The side that reflects to the other (the other is its route-reflector client). */
  readonly reflector?: string;
  readonly bgpPeer?: string;
}

export interface ClusterGraph {
  readonly localNode: string;
  readonly meshEnabled: boolean;
  readonly nodes: readonly GraphNode[];
  readonly external: readonly GraphPeer[];
  readonly edges: readonly GraphEdge[];
  /** Nodes whose sessions were not expanded (beyond MAX_GRAPH_NODES). */
  readonly truncated: number;
}

type Resources = Pick<ResourceSnapshot, 'nodes' | 'peers' | 'configs'>;

export function clusterGraph(
  resources: Resources,
  localNode: string,
  maxNodes = MAX_GRAPH_NODES,
): ClusterGraph {
  const globalAs = globalAsNumber(resources.configs);
  const nodes = resources.nodes
    .map((n) => graphNode(n, globalAs))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const owner = addressOwners(nodes);
  const expanded = nodes.filter((n, i) => i < maxNodes || n.name === localNode);
  const edges = new Map<string, GraphEdge>();
  const external = new Map<string, { asNumber: number; bgpPeers: Set<string> }>();
  for (const node of expanded) {
    for (const p of desiredPeerings({ ...resources, localNode: node.name })) {
      const to = owner.get(p.remoteAddress);
      if (to === undefined) noteExternal(external, p);
      addEdge(edges, node.name, to ?? p.remoteAddress, to === undefined, p);
    }
  }
  return {
    localNode,
    meshEnabled: nodeToNodeMeshEnabled(resources.configs),
    nodes,
    external: [...external].map(([address, e]) => ({
      address,
      asNumber: e.asNumber,
      bgpPeers: [...e.bgpPeers].sort(),
    })),
    edges: [...edges.values()],
    truncated: nodes.length - expanded.length,
  };
}

function graphNode(node: ResourceSnapshot['nodes'][number], globalAs: number): GraphNode {
  const bgp = node.spec.bgp;
  const ipv4 = bgp?.ipv4Address === undefined ? undefined : parseCidrOrIp(bgp.ipv4Address)?.address;
  const ipv6 = bgp?.ipv6Address === undefined ? undefined : parseCidrOrIp(bgp.ipv6Address)?.address;
  const clusterId = bgp?.routeReflectorClusterID || undefined;
  return {
    name: node.metadata.name,
    asNumber: bgp?.asNumber ?? globalAs,
    ...(ipv4 === undefined ? {} : { ipv4 }),
    ...(ipv6 === undefined ? {} : { ipv6 }),
    ...(clusterId === undefined ? {} : { clusterId }),
  };
}

/** Canonical address → the node that owns it (peerings name their remote by canonical address). */
function addressOwners(nodes: readonly GraphNode[]): Map<string, string> {
  const owner = new Map<string, string>();
  for (const n of nodes) {
    if (n.ipv4 !== undefined) owner.set(n.ipv4, n.name);
    if (n.ipv6 !== undefined) owner.set(n.ipv6, n.name);
  }
  return owner;
}

function noteExternal(
  external: Map<string, { asNumber: number; bgpPeers: Set<string> }>,
  p: DesiredPeering,
): void {
  const entry = external.get(p.remoteAddress) ?? { asNumber: p.peerAs, bgpPeers: new Set<string>() };
  if (p.bgpPeer !== undefined) entry.bgpPeers.add(p.bgpPeer);
  external.set(p.remoteAddress, entry);
}

/** One edge per unordered pair and family: both ends of a mesh or reflector session want it. */
function addEdge(
  edges: Map<string, GraphEdge>,
  from: string,
  to: string,
  external: boolean,
  p: DesiredPeering,
): void {
  const [a, b] = from < to ? [from, to] : [to, from];
  const key = `${a}\u0000${b}\u0000${p.family}`;
  const seen = edges.get(key);
  const reflector = p.routeReflectorClient ? from : seen?.reflector;
  const bgpPeer = seen?.bgpPeer ?? p.bgpPeer;
  edges.set(key, {
    from: seen?.from ?? from,
    to: seen?.to ?? to,
    external,
    kind: seen?.kind ?? p.kind,
    family: p.family,
    ...(reflector === undefined ? {} : { reflector }),
    ...(bgpPeer === undefined ? {} : { bgpPeer }),
  });
}
