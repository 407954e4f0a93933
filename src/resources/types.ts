// The projectcalico.org/v3 resources Brindle reads, typed as their YAML is written: field names,
// nesting and optionality as in Calico's API (api/pkg/apis/projectcalico/v3, calico-routing.md
// §2–§7). Each enum is one table; its type is derived from the table. Values keep their YAML spelling
// except AS numbers, which validation turns into numbers (the dotted `a.b` form included).

export const API_VERSION = 'projectcalico.org/v3';
/** The CRD group Calico stores resources under in Kubernetes; accepted on input as an alias. */
export const CRD_API_VERSION = 'crd.projectcalico.org/v1';
export const API_VERSIONS = [API_VERSION, CRD_API_VERSION] as const;

export const RESOURCE_KINDS = [
  'BGPConfiguration',
  'BGPPeer',
  'BGPFilter',
  'Node',
  'IPPool',
  'IPAMConfiguration',
  'BFDConfiguration',
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** A 32-bit AS number. YAML may write it plain (`64512`) or dotted (`1.10` = 1·65536 + 10). */
export type ASNumber = number;
/** A Go duration as metav1.Duration writes it: `120s`, `2m`, `1h30m`, `1.5s`. */
export type Duration = string;

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Read-only fields a `get -o yaml` round trip carries; stored, never interpreted. */
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
}

interface KindedResource<K extends ResourceKind, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
}

/** Kubernetes SecretKeySelector: the secret is read by whoever needs the password, not here. */
export interface SecretKeyRef {
  name: string;
  key: string;
  optional?: boolean;
}

export interface BGPPassword {
  secretKeyRef?: SecretKeyRef;
}

// --- BGPConfiguration (§2) ---------------------------------------------------------------------

export const LOG_SEVERITIES = ['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const;
export type LogSeverity = (typeof LOG_SEVERITIES)[number];
export const BIND_MODES = ['None', 'NodeIP'] as const;
export type BindMode = (typeof BIND_MODES)[number];
export const SERVICE_LOAD_BALANCER_AGGREGATIONS = ['Enabled', 'Disabled'] as const;
export type ServiceLoadBalancerAggregation = (typeof SERVICE_LOAD_BALANCER_AGGREGATIONS)[number];
export const PROGRAM_CLUSTER_ROUTES = [
  'Enabled',
  'Disabled',
  'EnabledIPIPOnly',
  'EnabledNoEncapOnly',
] as const;
export type ProgramClusterRoutes = (typeof PROGRAM_CLUSTER_ROUTES)[number];

export interface ServiceIPBlock {
  cidr: string;
}

export interface Community {
  name: string;
  /** `aa:nn` (standard, 16-bit parts) or `aa:nn:mm` (large, 32-bit parts). */
  value: string;
}

export interface PrefixAdvertisement {
  cidr: string;
  /** Names from spec.communities or literal community values. */
  communities?: string[];
}

export interface BGPConfigurationSpec {
  /** Case-insensitive on input (`info`, `Info`). */
  logSeverityScreen?: string;
  nodeToNodeMeshEnabled?: boolean;
  asNumber?: ASNumber;
  serviceClusterIPs?: ServiceIPBlock[];
  serviceExternalIPs?: ServiceIPBlock[];
  serviceLoadBalancerIPs?: ServiceIPBlock[];
  serviceLoadBalancerAggregation?: ServiceLoadBalancerAggregation;
  communities?: Community[];
  prefixAdvertisements?: PrefixAdvertisement[];
  listenPort?: number;
  nodeMeshPassword?: BGPPassword;
  nodeMeshMaxRestartTime?: Duration;
  bindMode?: BindMode;
  ignoredInterfaces?: string[];
  localWorkloadPeeringIPV4?: string;
  localWorkloadPeeringIPV6?: string;
  programClusterRoutes?: ProgramClusterRoutes;
  ipv4NormalRoutePriority?: number;
  ipv6NormalRoutePriority?: number;
}

/** Named `default` (cluster-wide) or `node.<nodename>` (per-node override). */
export type BGPConfiguration = KindedResource<'BGPConfiguration', BGPConfigurationSpec>;

// --- BGPPeer (§3) -----------------------------------------------------------------------------

export const SOURCE_ADDRESSES = ['UseNodeIP', 'None'] as const;
export type SourceAddress = (typeof SOURCE_ADDRESSES)[number];
export const NEXT_HOP_MODES = ['Auto', 'Self', 'Keep'] as const;
export type NextHopMode = (typeof NEXT_HOP_MODES)[number];
export const REVERSE_PEERINGS = ['Auto', 'Manual'] as const;
export type ReversePeering = (typeof REVERSE_PEERINGS)[number];
/** Calico Enterprise: BFD (RFC 5881) for a peer on a directly connected subnet. */
export const FAILURE_DETECTION_MODES = ['None', 'BFDIfDirectlyConnected'] as const;
export type FailureDetectionMode = (typeof FAILURE_DETECTION_MODES)[number];
/**
 * Calico Enterprise: graceful restart (RFC 4724) or long-lived graceful restart (RFC 9494) on the
 * sessions of a BGPPeer; Brindle's extension to Calico OSS's resource, with Enterprise's spelling.
 */
export const RESTART_MODES = ['GracefulRestart', 'LongLivedGracefulRestart'] as const;
export type RestartMode = (typeof RESTART_MODES)[number];

export interface BGPPeerSpec {
  node?: string;
  nodeSelector?: string;
  /** `ip`, `ipv4:port` or `[ipv6]:port`. */
  peerIP?: string;
  asNumber?: ASNumber;
  localASNumber?: ASNumber;
  peerSelector?: string;
  /** Deprecated in favour of nextHopMode. */
  keepOriginalNextHop?: boolean;
  nextHopMode?: NextHopMode;
  password?: BGPPassword;
  sourceAddress?: SourceAddress;
  maxRestartTime?: Duration;
  keepaliveTime?: Duration;
  numAllowedLocalASNumbers?: number;
  ttlSecurity?: number;
  reachableBy?: string;
  filters?: string[];
  localWorkloadSelector?: string;
  reversePeering?: ReversePeering;
  failureDetectionMode?: FailureDetectionMode;
  restartMode?: RestartMode;
}

export type BGPPeer = KindedResource<'BGPPeer', BGPPeerSpec>;

// --- BGPFilter (§4.1) -------------------------------------------------------------------------

export const FILTER_ACTIONS = ['Accept', 'Reject'] as const;
export type BGPFilterAction = (typeof FILTER_ACTIONS)[number];
export const MATCH_OPERATORS = ['Equal', 'NotEqual', 'In', 'NotIn'] as const;
export type BGPFilterMatchOperator = (typeof MATCH_OPERATORS)[number];
export const MATCH_SOURCES = ['RemotePeers'] as const;
export type BGPFilterMatchSource = (typeof MATCH_SOURCES)[number];
export const PEER_TYPES = ['eBGP', 'iBGP'] as const;
export type BGPFilterPeerType = (typeof PEER_TYPES)[number];

export interface BGPFilterPrefixLength {
  min?: number;
  max?: number;
}

export interface BGPFilterCommunityMatch {
  /** Exactly one value today. */
  values: string[];
}

export interface BGPFilterOperation {
  addCommunity?: { value: string };
  prependASPath?: { prefix: ASNumber[] };
  setPriority?: { value: number };
}

export interface BGPFilterRule {
  cidr?: string;
  prefixLength?: BGPFilterPrefixLength;
  source?: BGPFilterMatchSource;
  interface?: string;
  matchOperator?: BGPFilterMatchOperator;
  peerType?: BGPFilterPeerType;
  communities?: BGPFilterCommunityMatch;
  asPathPrefix?: ASNumber[];
  priority?: number;
  action: BGPFilterAction;
  operations?: BGPFilterOperation[];
}

export interface BGPFilterSpec {
  exportV4?: BGPFilterRule[];
  importV4?: BGPFilterRule[];
  exportV6?: BGPFilterRule[];
  importV6?: BGPFilterRule[];
}

export type BGPFilter = KindedResource<'BGPFilter', BGPFilterSpec>;

// --- Node (§5.1) ------------------------------------------------------------------------------

export interface NodeBGPSpec {
  asNumber?: ASNumber;
  /** The node's BGP address, with or without its subnet: `10.0.0.2/24` or `10.0.0.2`. */
  ipv4Address?: string;
  ipv6Address?: string;
  ipv4IPIPTunnelAddr?: string;
  /** An IPv4-formatted cluster ID; makes the node a route reflector. */
  routeReflectorClusterID?: string;
}

export interface NodeAddress {
  address: string;
  type?: string;
}

export interface NodeSpec {
  bgp?: NodeBGPSpec;
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
  orchRefs?: { nodeName?: string; orchestrator: string }[];
  wireguard?: { interfaceIPv4Address?: string; interfaceIPv6Address?: string };
  addresses?: NodeAddress[];
  interfaces?: { name?: string; addresses?: string[] }[];
}

export interface NodeStatus {
  wireguardPublicKey?: string;
  wireguardPublicKeyV6?: string;
  podCIDRs?: string[];
}

export type Node = KindedResource<'Node', NodeSpec> & { status?: NodeStatus };

// --- IPPool (§6) ------------------------------------------------------------------------------

export const ENCAPSULATION_MODES = ['Never', 'Always', 'CrossSubnet'] as const;
export type IPIPMode = (typeof ENCAPSULATION_MODES)[number];
export type VXLANMode = (typeof ENCAPSULATION_MODES)[number];
export const ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'] as const;
export type IPPoolAllowedUse = (typeof ALLOWED_USES)[number];
export const ASSIGNMENT_MODES = ['Automatic', 'Manual'] as const;
export type AssignmentMode = (typeof ASSIGNMENT_MODES)[number];

export interface IPPoolSpec {
  cidr: string;
  blockSize?: number;
  ipipMode?: IPIPMode;
  vxlanMode?: VXLANMode;
  natOutgoing?: boolean;
  disabled?: boolean;
  disableBGPExport?: boolean;
  nodeSelector?: string;
  namespaceSelector?: string;
  allowedUses?: IPPoolAllowedUse[];
  assignmentMode?: AssignmentMode;
}

export interface IPPoolCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export type IPPool = KindedResource<'IPPool', IPPoolSpec> & { status?: { conditions?: IPPoolCondition[] } };

// --- IPAMConfiguration (§7.1) -----------------------------------------------------------------

export const KUBEVIRT_VM_ADDRESS_PERSISTENCES = ['Enabled', 'Disabled'] as const;
export type KubeVirtVMAddressPersistence = (typeof KUBEVIRT_VM_ADDRESS_PERSISTENCES)[number];

export interface IPAMConfigurationSpec {
  strictAffinity?: boolean;
  autoAllocateBlocks?: boolean;
  /** 0 means the default, 20. */
  maxBlocksPerHost?: number;
  kubeVirtVMAddressPersistence?: KubeVirtVMAddressPersistence;
  ipCooldownSeconds?: number;
}

/** A singleton named `default`. */
export type IPAMConfiguration = KindedResource<'IPAMConfiguration', IPAMConfigurationSpec>;

// --- BFDConfiguration (Calico Enterprise's resource; bfd-configuration.ts) ---------------------

export interface BFDInterface {
  /** An interface name, a prefix ending in `*` (`eth*`), or `*` for every interface. */
  matchPattern: string;
  minimumRecvInterval?: Duration;
  minimumSendInterval?: Duration;
  idleSendInterval?: Duration;
  multiplier?: number;
}

export interface BFDConfigurationSpec {
  nodeSelector?: string;
  interfaces?: BFDInterface[];
}

export type BFDConfiguration = KindedResource<'BFDConfiguration', BFDConfigurationSpec>;

export type Resource =
  BGPConfiguration | BGPPeer | BGPFilter | Node | IPPool | IPAMConfiguration | BFDConfiguration;

export type ResourceOfKind<K extends ResourceKind> = Extract<Resource, { kind: K }>;

/** One thing wrong with one resource, named the way `brindlectl` prints it. */
export interface ValidationError {
  readonly kind: string;
  readonly name: string;
  /** The field path inside the resource (`spec.peerIP`, `spec.exportV4[0].cidr`); empty for the whole. */
  readonly path: string;
  readonly reason: string;
  /** Where the resource came from (`bgppeers.yaml:12`), when known. */
  readonly source?: string;
  /** `BGPPeer/rack1-tor: spec.peerIP: "10.0.0.300" is not an IP address or ip:port`. */
  readonly message: string;
}

export interface ParseResult {
  readonly resources: Resource[];
  readonly errors: ValidationError[];
  /** What is accepted but worth saying (an apiVersion read as another). */
  readonly warnings: ValidationError[];
  /** `file:line` of a field of one of `resources` (its document's first line without `path`). */
  readonly where: (resource: Resource, path?: string) => string;
}
