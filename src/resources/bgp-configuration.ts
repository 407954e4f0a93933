// BGPConfiguration (calico-routing.md §2): the field schema and the rules across fields.

import { bool, crossChecked, integer, listOf, object, oneOf, text } from './checks.ts';
import type { Issue } from './checks.ts';
import { asNumber, cidr, communityValue, duration, ipAddress, password, resourceName } from './common.ts';
import {
  BIND_MODES,
  LOG_SEVERITIES,
  PROGRAM_CLUSTER_ROUTES,
  SERVICE_LOAD_BALANCER_AGGREGATIONS,
} from './types.ts';
import type {
  BGPConfiguration,
  BGPConfigurationSpec,
  Community,
  PrefixAdvertisement,
  ServiceIPBlock,
} from './types.ts';
import { isCommunityValue, isInterfacePattern, isResourceName } from './values.ts';

export const GLOBAL_CONFIG_NAME = 'default';
export const NODE_CONFIG_PREFIX = 'node.';

/** Route priorities are Linux route metrics that must leave room for 2147483647 − priority (§4.3). */
const routePriority = integer(1, 2147483646);

const serviceIPBlock = object<ServiceIPBlock>({ cidr: cidr() }, ['cidr']);

const community = object<Community>({ name: resourceName, value: communityValue }, ['name', 'value']);

const prefixAdvertisement = object<PrefixAdvertisement>(
  { cidr: cidr(), communities: listOf(text(), { max: 50 }) },
  ['cidr'],
);

const ignoredInterface = text(
  (value) => isInterfacePattern(value) && value !== '*',
  'is not an interface pattern (1–15 characters of [a-zA-Z0-9_.*-], and not "*")',
);

export const bgpConfigurationSpec = crossChecked(
  object<BGPConfigurationSpec>({
    logSeverityScreen: oneOf(LOG_SEVERITIES, true),
    nodeToNodeMeshEnabled: bool,
    asNumber,
    serviceClusterIPs: listOf(serviceIPBlock),
    serviceExternalIPs: listOf(serviceIPBlock),
    serviceLoadBalancerIPs: listOf(serviceIPBlock),
    serviceLoadBalancerAggregation: oneOf(SERVICE_LOAD_BALANCER_AGGREGATIONS),
    communities: listOf(community, { max: 500 }),
    prefixAdvertisements: listOf(prefixAdvertisement, { max: 500 }),
    listenPort: integer(1, 65535),
    nodeMeshPassword: password,
    nodeMeshMaxRestartTime: duration,
    bindMode: oneOf(BIND_MODES),
    ignoredInterfaces: listOf(ignoredInterface),
    localWorkloadPeeringIPV4: ipAddress(4),
    localWorkloadPeeringIPV6: ipAddress(6),
    programClusterRoutes: oneOf(PROGRAM_CLUSTER_ROUTES),
    ipv4NormalRoutePriority: routePriority,
    ipv6NormalRoutePriority: routePriority,
  }),
  (spec, path) => [...meshRules(spec, path), ...communityRules(spec, path)],
);

/** §2 CEL: the mesh password and restart time mean nothing without a mesh. */
function meshRules(spec: BGPConfigurationSpec, path: string): Issue[] {
  if (spec.nodeToNodeMeshEnabled !== false) return [];
  const fields = (['nodeMeshPassword', 'nodeMeshMaxRestartTime'] as const).filter(
    (f) => spec[f] !== undefined,
  );
  return fields.map((f) => ({
    path: `${path}.${f}`,
    reason: 'not allowed when nodeToNodeMeshEnabled is false',
  }));
}

/**
 * §2: named communities only make sense with prefixAdvertisements (CEL), and every community an
 * advertisement names must be a literal value or a name defined in this resource (Go validator).
 */
function communityRules(spec: BGPConfigurationSpec, path: string): Issue[] {
  const issues: Issue[] = [];
  if ((spec.communities?.length ?? 0) > 0 && (spec.prefixAdvertisements?.length ?? 0) === 0) {
    issues.push({ path: `${path}.communities`, reason: 'requires a non-empty prefixAdvertisements list' });
  }
  const names = new Set(spec.communities?.map((c) => c.name));
  spec.prefixAdvertisements?.forEach((advertisement, i) => {
    advertisement.communities?.forEach((entry, j) => {
      if (isCommunityValue(entry) || names.has(entry)) return;
      issues.push({
        path: `${path}.prefixAdvertisements[${i}].communities[${j}]`,
        reason: `${JSON.stringify(entry)} is neither a community value nor a name in spec.communities`,
      });
    });
  });
  return issues;
}

/** §2: `libcalico-go/lib/clientv3/bgpconfig.go` rejects these on any object but `default`. */
export const GLOBAL_ONLY_FIELDS = [
  'nodeToNodeMeshEnabled',
  'asNumber',
  'serviceLoadBalancerIPs',
  'serviceExternalIPs',
  'serviceClusterIPs',
  'nodeMeshPassword',
  'nodeMeshMaxRestartTime',
] as const satisfies readonly (keyof BGPConfigurationSpec)[];

/** The node a `node.<name>` configuration applies to, or undefined for `default` and bad names. */
export function configNodeName(name: string): string | undefined {
  if (!name.startsWith(NODE_CONFIG_PREFIX)) return undefined;
  const node = name.slice(NODE_CONFIG_PREFIX.length);
  return isResourceName(node) ? node : undefined;
}

export function bgpConfigurationRules(config: BGPConfiguration): Issue[] {
  const { name } = config.metadata;
  if (name === GLOBAL_CONFIG_NAME) return [];
  if (configNodeName(name) === undefined) {
    return [
      { path: 'metadata.name', reason: `${JSON.stringify(name)} is neither "default" nor "node.<nodename>"` },
    ];
  }
  return GLOBAL_ONLY_FIELDS.filter((field) => config.spec[field] !== undefined).map((field) => ({
    path: `spec.${field}`,
    reason: 'only allowed on the "default" BGPConfiguration',
  }));
}
