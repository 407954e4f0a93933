// Effective values: every default Calico applies to these resources lives in the one DEFAULTS
// table below (with the section of calico-routing.md that states it), and the accessors read a
// field through it. Defaults are not written into stored resources — Calico does not persist them
// either (§7.1) — `defaultsApplied` shows them when asked.

import { BGP_PORT } from '../bgp/constants.ts';
import { bfdConfigurationDefaults } from './bfd-configuration.ts';
import { GLOBAL_CONFIG_NAME, NODE_CONFIG_PREFIX } from './bgp-configuration.ts';
import type {
  BGPConfiguration,
  BGPConfigurationSpec,
  BGPPeerSpec,
  IPAMConfigurationSpec,
  IPPoolAllowedUse,
  IPPoolSpec,
  Resource,
} from './types.ts';
import { parseNetwork } from './values.ts';

export const DEFAULTS = {
  BGPConfiguration: {
    /** §1: confd seeds `as_num=64512`. */
    asNumber: 64512,
    /** §2, §1: confd seeds `node_mesh={"enabled":true}`. */
    nodeToNodeMeshEnabled: true,
    logSeverityScreen: 'Info',
    bindMode: 'None',
    serviceLoadBalancerAggregation: 'Enabled',
    /** §2: main (v3.33); v3.32 defaulted to Enabled. */
    programClusterRoutes: 'EnabledNoEncapOnly',
    ipv4NormalRoutePriority: 1024,
    ipv6NormalRoutePriority: 1024,
    /** §2: unset means BIRD's 179. */
    listenPort: BGP_PORT,
    /** §2: BIRD's graceful restart time when nodeMeshMaxRestartTime is unset. */
    nodeMeshMaxRestartTimeSec: 120,
  },
  BGPPeer: {
    sourceAddress: 'UseNodeIP',
    nextHopMode: 'Auto',
    reversePeering: 'Auto',
    keepOriginalNextHop: false,
    /** §3.1: BIRD's graceful restart time when maxRestartTime is unset. */
    maxRestartTimeSec: 120,
    /** Calico Enterprise: BIRD's long-lived stale time when restartMode is LongLivedGracefulRestart. */
    longLivedStaleTimeSec: 3600,
  },
  IPPool: {
    /** §6 */
    blockSizeV4: 26,
    blockSizeV6: 122,
    ipipMode: 'Never',
    vxlanMode: 'Never',
    natOutgoing: false,
    disabled: false,
    disableBGPExport: false,
    nodeSelector: 'all()',
    allowedUses: ['Workload', 'Tunnel'],
    assignmentMode: 'Automatic',
  },
  IPAMConfiguration: {
    /** §7.1: returned in memory when the resource is absent. */
    strictAffinity: false,
    autoAllocateBlocks: true,
    /** §7.1: 0 (or unset) means 20. */
    maxBlocksPerHost: 20,
    kubeVirtVMAddressPersistence: 'Enabled',
    ipCooldownSeconds: 0,
  },
} as const;

// --- BGPConfiguration: `default` for cluster-wide values, `node.<name>` overriding a few (§2) ---

export function globalConfig(configs: readonly BGPConfiguration[]): BGPConfiguration | undefined {
  return configs.find((c) => c.metadata.name === GLOBAL_CONFIG_NAME);
}

export function nodeConfig(
  configs: readonly BGPConfiguration[],
  nodeName: string,
): BGPConfiguration | undefined {
  return configs.find((c) => c.metadata.name === `${NODE_CONFIG_PREFIX}${nodeName}`);
}

/** Default local AS for nodes without spec.bgp.asNumber (§2). */
export function globalAsNumber(configs: readonly BGPConfiguration[]): number {
  return globalConfig(configs)?.spec.asNumber ?? DEFAULTS.BGPConfiguration.asNumber;
}

export function nodeToNodeMeshEnabled(configs: readonly BGPConfiguration[]): boolean {
  return globalConfig(configs)?.spec.nodeToNodeMeshEnabled ?? DEFAULTS.BGPConfiguration.nodeToNodeMeshEnabled;
}

/** §2: listenPort, node value wins, else global; undefined when neither sets it (BIRD's 179). */
export function configuredListenPort(
  configs: readonly BGPConfiguration[],
  nodeName: string,
): number | undefined {
  return nodeConfig(configs, nodeName)?.spec.listenPort ?? globalConfig(configs)?.spec.listenPort;
}

/** §2: logSeverityScreen, node value wins, else global, else Info. */
export function logSeverityScreen(configs: readonly BGPConfiguration[], nodeName: string): string {
  return (
    nodeConfig(configs, nodeName)?.spec.logSeverityScreen ??
    globalConfig(configs)?.spec.logSeverityScreen ??
    DEFAULTS.BGPConfiguration.logSeverityScreen
  );
}

export function bindMode(configs: readonly BGPConfiguration[]): 'None' | 'NodeIP' {
  return globalConfig(configs)?.spec.bindMode ?? DEFAULTS.BGPConfiguration.bindMode;
}

// --- BGPPeer, IPPool, IPAMConfiguration ---------------------------------------------------------

export function peerSourceAddress(spec: BGPPeerSpec): 'UseNodeIP' | 'None' {
  return spec.sourceAddress ?? DEFAULTS.BGPPeer.sourceAddress;
}

export function peerReversePeering(spec: BGPPeerSpec): 'Auto' | 'Manual' {
  return spec.reversePeering ?? DEFAULTS.BGPPeer.reversePeering;
}

export function ipPoolBlockSize(spec: IPPoolSpec): number {
  if (spec.blockSize !== undefined && spec.blockSize !== 0) return spec.blockSize;
  return parseNetwork(spec.cidr)?.family === 6 ? DEFAULTS.IPPool.blockSizeV6 : DEFAULTS.IPPool.blockSizeV4;
}

export function ipPoolAllowedUses(spec: IPPoolSpec): readonly IPPoolAllowedUse[] {
  return spec.allowedUses !== undefined && spec.allowedUses.length > 0
    ? spec.allowedUses
    : DEFAULTS.IPPool.allowedUses;
}

/** An empty selector is all() for IPPools (§6). */
export function ipPoolNodeSelector(spec: IPPoolSpec): string {
  return spec.nodeSelector === undefined || spec.nodeSelector.trim() === ''
    ? DEFAULTS.IPPool.nodeSelector
    : spec.nodeSelector;
}

export function ipamMaxBlocksPerHost(spec: IPAMConfigurationSpec | undefined): number {
  const configured = spec?.maxBlocksPerHost ?? 0;
  return configured > 0 ? configured : DEFAULTS.IPAMConfiguration.maxBlocksPerHost;
}

/**
 * The resource with every defaulted field written out. `node.<name>` BGPConfigurations are
 * returned as they are: their unset fields fall back to `default`, not to constants.
 */
export function defaultsApplied<R extends Resource>(resource: R): R {
  const r: Resource = resource;
  switch (r.kind) {
    case 'BGPConfiguration':
      return r.metadata.name === GLOBAL_CONFIG_NAME
        ? ({ ...r, spec: bgpConfigurationDefaults(r.spec) } as R)
        : resource;
    case 'BGPPeer': {
      const { sourceAddress, reversePeering } = DEFAULTS.BGPPeer;
      return { ...r, spec: { sourceAddress, reversePeering, ...r.spec } } as R;
    }
    case 'IPPool':
      return { ...r, spec: ipPoolDefaults(r.spec) } as R;
    case 'IPAMConfiguration':
      return {
        ...r,
        spec: { ...DEFAULTS.IPAMConfiguration, ...r.spec, maxBlocksPerHost: ipamMaxBlocksPerHost(r.spec) },
      } as R;
    case 'BFDConfiguration':
      return { ...r, spec: bfdConfigurationDefaults(r.spec) } as R;
    case 'BGPFilter':
    case 'Node':
      return resource;
  }
}

function bgpConfigurationDefaults(spec: BGPConfigurationSpec): BGPConfigurationSpec {
  const d = DEFAULTS.BGPConfiguration;
  return {
    logSeverityScreen: d.logSeverityScreen,
    nodeToNodeMeshEnabled: d.nodeToNodeMeshEnabled,
    asNumber: d.asNumber,
    bindMode: d.bindMode,
    serviceLoadBalancerAggregation: d.serviceLoadBalancerAggregation,
    programClusterRoutes: d.programClusterRoutes,
    ipv4NormalRoutePriority: d.ipv4NormalRoutePriority,
    ipv6NormalRoutePriority: d.ipv6NormalRoutePriority,
    ...spec,
  };
}

function ipPoolDefaults(spec: IPPoolSpec): IPPoolSpec {
  const d = DEFAULTS.IPPool;
  return {
    ...spec,
    blockSize: ipPoolBlockSize(spec),
    ipipMode: spec.ipipMode ?? d.ipipMode,
    vxlanMode: spec.vxlanMode ?? d.vxlanMode,
    natOutgoing: spec.natOutgoing ?? d.natOutgoing,
    disabled: spec.disabled ?? d.disabled,
    disableBGPExport: spec.disableBGPExport ?? d.disableBGPExport,
    nodeSelector: ipPoolNodeSelector(spec),
    allowedUses: [...ipPoolAllowedUses(spec)],
    assignmentMode: spec.assignmentMode ?? d.assignmentMode,
  };
}
