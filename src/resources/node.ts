// Node (calico-routing.md §5.1): the BGP fields Brindle routes by, plus the non-BGP fields a
// Calico Node carries, accepted so that `calicoctl get node -o yaml` output loads as it is.

import { crossChecked, listOf, object, text } from './checks.ts';
import { asNumber, cidr, cidrOrIp, ipAddress, resourceName } from './common.ts';
import type { NodeAddress, NodeBGPSpec, NodeSpec, NodeStatus } from './types.ts';

const macAddress = text(
  (value) => /^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/.test(value),
  'is not a MAC address',
);

const nodeBGPSpec = crossChecked(
  object<NodeBGPSpec>({
    asNumber,
    ipv4Address: cidrOrIp(4),
    ipv6Address: cidrOrIp(6),
    ipv4IPIPTunnelAddr: ipAddress(4),
    // An IPv4-formatted string; it becomes the RFC 4456 CLUSTER_ID.
    routeReflectorClusterID: ipAddress(4),
  }),
  // §5.1: an empty `bgp: {}` is rejected; a BGP spec exists to give the node an address.
  (bgp, path) =>
    bgp.ipv4Address === undefined && bgp.ipv6Address === undefined
      ? [{ path, reason: 'must set ipv4Address or ipv6Address' }]
      : [],
);

export const nodeSpec = object<NodeSpec>({
  bgp: nodeBGPSpec,
  ipv4VXLANTunnelAddr: ipAddress(4),
  vxlanTunnelMACAddr: macAddress,
  ipv6VXLANTunnelAddr: ipAddress(6),
  vxlanTunnelMACAddrV6: macAddress,
  orchRefs: listOf(
    object<{ nodeName?: string; orchestrator: string }>({ nodeName: text(), orchestrator: text() }, [
      'orchestrator',
    ]),
  ),
  wireguard: object<{ interfaceIPv4Address?: string; interfaceIPv6Address?: string }>({
    interfaceIPv4Address: ipAddress(4),
    interfaceIPv6Address: ipAddress(6),
  }),
  addresses: listOf(object<NodeAddress>({ address: text(), type: text() }, ['address'])),
  interfaces: listOf(
    object<{ name?: string; addresses?: string[] }>({ name: resourceName, addresses: listOf(text()) }),
  ),
});

export const nodeStatus = object<NodeStatus>({
  wireguardPublicKey: text(),
  wireguardPublicKeyV6: text(),
  podCIDRs: listOf(cidr()),
});
