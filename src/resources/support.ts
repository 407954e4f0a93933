// What Brindle does with every field a resource may carry, so that no setting is stored and then
// silently ignored. Each field the decoder accepts (`acceptedFields`) is in exactly one of three
// tables: SUPPORTED (it acts), REFUSED (not implemented: `brindlectl apply` fails naming it, except
// for the values that ask for what Brindle does anyway) and IGNORED (Calico's routing ignores it
// too — Felix's, the operator's or a controller's field: accepted with a warning). An entry names a
// field, or a field whose value is an object or a list of objects, which covers everything inside it.
// README.md's "Calico fields" table is generated from these tables and a test keeps the two equal.

import { fieldPath, isRecord, show } from './checks.ts';
import type { CrossCheckResult, CrossFinding } from './cross-checks.ts';
import type { Resource, ResourceKind } from './types.ts';

export interface Supported {
  /** What the field does in Brindle. */
  readonly acts: string;
  /** Routing policy (BGPFilter, communities, service ranges, route priority): issue 14's engine. */
  readonly policy?: true;
}

export interface Refused {
  /** What the field would do, and why Brindle cannot. */
  readonly why: string;
  /** Values that ask for what Brindle does anyway (Calico's default, or nothing at all): accepted. */
  readonly allows?: readonly (string | number)[];
}

/**
 * Entries by kind. A kind may be missing (a kind added later): its fields are then undecided, which
 * the field audit test reports, rather than a type error that would stop every build.
 */
export type Table<T> = { readonly [K in ResourceKind]?: Readonly<Record<string, T>> };

/** One kind's entries of a table, in their order. */
export function tableEntries<T>(table: Table<T>, kind: ResourceKind): [string, T][] {
  return Object.entries(table[kind] ?? {});
}

const acts = (text: string): Supported => ({ acts: text });
const policy = (text: string): Supported => ({ acts: text, policy: true });

/** Object metadata, the same for every kind. */
const METADATA: Readonly<Record<string, Supported>> = {
  'metadata.name': acts(
    'names the resource (`default` and `node.<name>` for BGPConfiguration, `default` for IPAMConfiguration, the node name for Node)',
  ),
  'metadata.labels': acts('Node labels are what selectors match; on other kinds kept for people and tools'),
  'metadata.annotations': acts('kept for people and tools, as Kubernetes keeps them'),
  'metadata.resourceVersion': acts('the datastore revision the resource was read at'),
  'metadata.uid': acts('bookkeeping a `get -o yaml` round trip carries; stored as it is'),
  'metadata.creationTimestamp': acts('bookkeeping a `get -o yaml` round trip carries; stored as it is'),
  'metadata.generation': acts('bookkeeping a `get -o yaml` round trip carries; stored as it is'),
};

export const SUPPORTED: Table<Supported> = {
  BGPConfiguration: {
    ...METADATA,
    'spec.nodeToNodeMeshEnabled': acts('the full iBGP mesh between nodes'),
    'spec.asNumber': acts('the AS of every node without its own'),
    'spec.serviceClusterIPs': policy(
      'each range is originated by every node not excluded from load balancers',
    ),
    'spec.serviceExternalIPs': policy(
      'each range is originated by every node not excluded from load balancers',
    ),
    'spec.serviceLoadBalancerIPs': policy(
      'each range is originated by every node not excluded from load balancers',
    ),
    'spec.communities': policy('names for the communities prefixAdvertisements attach'),
    'spec.prefixAdvertisements': policy('communities attached to the exported routes inside each CIDR'),
    'spec.listenPort': acts('the port BGP listens on, and the port other nodes dial this node on'),
    'spec.nodeMeshPassword': acts('TCP MD5 on mesh sessions (the secret is read from `secrets.dir`)'),
    'spec.nodeMeshMaxRestartTime': acts('the graceful restart time announced on mesh sessions'),
    'spec.bindMode': acts('NodeIP: BGP listens on the node addresses only'),
    'spec.ignoredInterfaces': acts(
      'holds for any value: Brindle advertises no interface routes (its routes come from IPAM and BGP)',
    ),
    'spec.ipv4NormalRoutePriority': policy('the route priority that maps to the normal LOCAL_PREF'),
    'spec.ipv6NormalRoutePriority': policy('the route priority that maps to the normal LOCAL_PREF'),
  },
  BGPPeer: {
    ...METADATA,
    'spec.node': acts('the local side: this node'),
    'spec.nodeSelector': acts('the local side: the nodes it selects'),
    'spec.peerIP': acts('the remote address (and port)'),
    'spec.asNumber': acts('the remote AS'),
    'spec.localASNumber': acts('the local AS on these sessions'),
    'spec.peerSelector': acts('the remote side: the Calico nodes it selects'),
    'spec.keepOriginalNextHop': acts(
      'NEXT_HOP unchanged towards eBGP peers (the old form of nextHopMode Keep)',
    ),
    'spec.nextHopMode': acts('Self or Keep the NEXT_HOP on export'),
    'spec.password': acts('TCP MD5 (the secret is read from `secrets.dir`)'),
    'spec.sourceAddress': acts('UseNodeIP: sessions start from the node address'),
    'spec.maxRestartTime': acts(
      'the graceful restart time announced; with restartMode LongLivedGracefulRestart, the long-lived stale time (default 3600 s)',
    ),
    'spec.keepaliveTime': acts('the keepalive interval'),
    'spec.ttlSecurity': acts('GTSM (RFC 5082) for this many hops'),
    'spec.filters': policy('BGPFilters applied in order on import and export'),
    'spec.reversePeering': acts('Auto: the remote Calico nodes peer back'),
    'spec.failureDetectionMode': acts(
      'BFDIfDirectlyConnected: a BFD session (RFC 5881) when the peer is on a BFDConfiguration interface; BFD Down resets BGP with Cease/BFD Down',
    ),
    'spec.restartMode': acts(
      "Brindle's extension, spelled as in Calico Enterprise: LongLivedGracefulRestart announces and honours long-lived graceful restart (RFC 9494) after the graceful restart time (bgp.llgrRestartTimeSec, 120 s)",
    ),
  },
  BGPFilter: {
    ...METADATA,
    'spec.exportV4': policy('IPv4 export rules, evaluated in order'),
    'spec.importV4': policy('IPv4 import rules, evaluated in order'),
    'spec.exportV6': policy('IPv6 export rules, evaluated in order'),
    'spec.importV6': policy('IPv6 import rules, evaluated in order'),
  },
  Node: {
    ...METADATA,
    'spec.bgp.asNumber': acts("the node's AS"),
    'spec.bgp.ipv4Address': acts("the node's BGP address, with its subnet for IPIP CrossSubnet"),
    'spec.bgp.ipv6Address': acts("the node's BGP IPv6 address"),
    'spec.bgp.routeReflectorClusterID': acts('makes the node a route reflector with this CLUSTER_ID'),
  },
  IPPool: {
    ...METADATA,
    'spec.cidr': acts('the addresses IPAM hands out, and the routes a node exports'),
    'spec.blockSize': acts('the size of the blocks IPAM gives each node'),
    'spec.ipipMode': acts('node mode: routes to the blocks of other nodes go through tunl0'),
    'spec.disabled': acts('no new allocations; routes stay'),
    'spec.disableBGPExport': policy('nothing inside the pool is exported'),
    'spec.nodeSelector': acts('the nodes that may take blocks from the pool'),
    'spec.allowedUses': acts('Workload, Tunnel or LoadBalancer allocations'),
    'spec.assignmentMode': acts('Manual: used only when a request names the pool'),
  },
  IPAMConfiguration: {
    ...METADATA,
    'spec.strictAffinity': acts('no borrowing from the blocks of other nodes'),
    'spec.autoAllocateBlocks': acts('false: a node claims no new blocks'),
    'spec.maxBlocksPerHost': acts('the blocks one node may claim'),
  },
  BFDConfiguration: {
    ...METADATA,
    'spec.nodeSelector': acts('the nodes that run BFD with these settings'),
    'spec.interfaces[].matchPattern': acts('the interfaces whose directly connected peers get BFD'),
    'spec.interfaces[].minimumRecvInterval': acts('Required Min RX Interval (RFC 5880)'),
    'spec.interfaces[].minimumSendInterval': acts('Desired Min TX Interval while the session is Up'),
    'spec.interfaces[].idleSendInterval': acts('Desired Min TX Interval while it is not Up (at least 1 s)'),
    'spec.interfaces[].multiplier': acts('Detect Mult: missed intervals before the session goes Down'),
  },
};

const LOCAL_WORKLOADS = 'peering with local workloads (KubeVirt VMs running BGP) is not implemented';

export const REFUSED: Table<Refused> = {
  BGPConfiguration: {
    'spec.logSeverityScreen': {
      why: "Brindle's log level is `log.level` in its configuration, changeable at run time (PUT /api/v1/log-level)",
      allows: ['Info'],
    },
    'spec.serviceLoadBalancerAggregation': {
      why: 'Disabled advertises a /32 per LoadBalancer service, which needs a Kubernetes watch Brindle does not have',
      allows: ['Enabled'],
    },
    'spec.localWorkloadPeeringIPV4': { why: LOCAL_WORKLOADS },
    'spec.localWorkloadPeeringIPV6': { why: LOCAL_WORKLOADS },
    'spec.programClusterRoutes': {
      why: 'Brindle has no Felix to share cluster routes with: in node mode it programs the routes of IPIP and unencapsulated pools itself, as Enabled does',
      allows: ['Enabled'],
    },
  },
  BGPPeer: {
    'spec.numAllowedLocalASNumbers': {
      why: 'BIRD\'s "allow local as" is not implemented: an AS_PATH holding the local AS is always a loop',
      allows: [0],
    },
    'spec.reachableBy': { why: 'the static host route to the peer through this gateway is not implemented' },
    'spec.localWorkloadSelector': { why: LOCAL_WORKLOADS, allows: [''] },
  },
  IPPool: {
    'spec.vxlanMode': {
      why: "Brindle has no VXLAN dataplane (Felix's in Calico): in node mode it would route the pool's blocks unencapsulated",
      allows: ['Never'],
    },
    'spec.namespaceSelector': {
      why: "brindle-ipam does not know a pod's namespace labels (no Kubernetes watch), so the pool would never be chosen",
      allows: ['', 'all()'],
    },
  },
  IPAMConfiguration: {
    'spec.kubeVirtVMAddressPersistence': {
      why: "keeping a KubeVirt VM's address across restarts and migrations is not implemented; brindle-ipam behaves as Disabled",
      allows: ['Disabled'],
    },
    'spec.ipCooldownSeconds': {
      why: 'a released address can be handed out again at once; holding it back is not implemented',
      allows: [0],
    },
  },
};

const FELIX_VXLAN = "Felix's VXLAN device; Brindle has no VXLAN dataplane";
const FELIX_WIREGUARD = "Felix's WireGuard device; Brindle routes without WireGuard";

export const IGNORED: Table<string> = {
  Node: {
    'spec.bgp.ipv4IPIPTunnelAddr': "tunl0's address, which Felix sets; Brindle leaves the device to the host",
    'spec.ipv4VXLANTunnelAddr': FELIX_VXLAN,
    'spec.vxlanTunnelMACAddr': FELIX_VXLAN,
    'spec.ipv6VXLANTunnelAddr': FELIX_VXLAN,
    'spec.vxlanTunnelMACAddrV6': FELIX_VXLAN,
    'spec.orchRefs': "the orchestrator's name for the node, kept by Calico's controllers",
    'spec.wireguard': FELIX_WIREGUARD,
    'spec.addresses': "the host's addresses, for Felix; the BGP address is spec.bgp's",
    'spec.interfaces': "the host's interfaces, for Felix",
    'status.wireguardPublicKey': FELIX_WIREGUARD,
    'status.wireguardPublicKeyV6': FELIX_WIREGUARD,
    'status.podCIDRs': "Kubernetes' pod CIDRs for host-local IPAM; Brindle's addresses come from IPPools",
  },
  IPPool: {
    'spec.natOutgoing': 'masquerading is done by Felix; Brindle does not masquerade',
    'status.conditions': "written by Calico's IPPool controller; Brindle neither reads nor updates it",
  },
};

export interface FieldFinding {
  /** The field as it is in the resource (`spec.orchRefs[0]`). */
  readonly path: string;
  readonly reason: string;
}

/** The fields of one valid resource that Brindle refuses, and those it ignores (with why). */
export function fieldSupport(resource: Resource): { refused: FieldFinding[]; ignored: FieldFinding[] } {
  const refused = tableEntries(REFUSED, resource.kind).flatMap(([entry, rule]) =>
    present(resource, entry)
      .filter((o) => !allowed(rule, o.value))
      .map((o) => ({ path: o.path, reason: refusal(rule, o.value) })),
  );
  const ignored = tableEntries(IGNORED, resource.kind).flatMap(([entry, why]) =>
    present(resource, entry).map((o) => ({ path: o.path, reason: `accepted and ignored: ${why}` })),
  );
  const order = new Map(valuePaths(resource, '').map((path, i) => [path, i]));
  const byOrder = (a: FieldFinding, b: FieldFinding) => (order.get(a.path) ?? 0) - (order.get(b.path) ?? 0);
  return { refused: refused.sort(byOrder), ignored: ignored.sort(byOrder) };
}

/** Every path in a value, depth first: the order its fields were written in (YAML and JSON keep it). */
function valuePaths(value: unknown, path: string): string[] {
  const inner = Array.isArray(value)
    ? value.flatMap((item, i) => valuePaths(item, fieldPath(path, i)))
    : isRecord(value)
      ? Object.entries(value).flatMap(([key, field]) => valuePaths(field, fieldPath(path, key)))
      : [];
  return [path, ...inner];
}

/** `brindlectl apply`'s view: refused fields are errors, ignored ones warnings, each on its resource. */
export function checkFieldSupport(resources: readonly Resource[]): CrossCheckResult {
  const errors: CrossFinding[] = [];
  const warnings: CrossFinding[] = [];
  for (const resource of resources) {
    const { refused, ignored } = fieldSupport(resource);
    errors.push(...refused.map((f) => ({ resource, ...f })));
    warnings.push(...ignored.map((f) => ({ resource, ...f })));
  }
  return { errors, warnings };
}

function refusal(rule: Refused, value: unknown): string {
  if (rule.allows === undefined) return `not supported by Brindle: ${rule.why}`;
  const accepted = rule.allows.map((v) => show(v)).join(' or ');
  return `${show(value)} is not supported by Brindle (only ${accepted}): ${rule.why}`;
}

/** Enum spellings are already checked; selectors and log levels may differ in case and spacing. */
function allowed(rule: Refused, value: unknown): boolean {
  const fold = (v: unknown) => (typeof v === 'string' ? v.trim().toLowerCase() : v);
  return rule.allows?.some((v) => fold(v) === fold(value)) ?? false;
}

interface Occurrence {
  readonly path: string;
  readonly value: unknown;
}

/** Where an entry's field is set in a resource; `a[].b` yields one occurrence per item of `a`. */
function present(resource: Resource, entry: string): Occurrence[] {
  return occurrences(resource, entry.split('.'), '');
}

function occurrences(value: unknown, segments: readonly string[], path: string): Occurrence[] {
  if (segments.length === 0) return value === undefined ? [] : [{ path, value }];
  const [head, ...rest] = segments;
  const list = head.endsWith('[]');
  const name = list ? head.slice(0, -2) : head;
  const next = isRecord(value) ? value[name] : undefined;
  const at = fieldPath(path, name);
  if (!list) return occurrences(next, rest, at);
  return Array.isArray(next) ? next.flatMap((item, i) => occurrences(item, rest, fieldPath(at, i))) : [];
}
