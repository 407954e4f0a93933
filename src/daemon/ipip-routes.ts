// Which kernel routes go through the IP-in-IP tunnel: Calico's `calico_kernel_programming` filter
// (calico-routing.md §7.5) sets BIRD's krt_tunnel for blocks of IPIP pools, so the route to a remote
// block reads `<block> via <node IP> dev tunl0 onlink`. ipipMode Always tunnels every such route;
// CrossSubnet only those whose next hop is outside this node's own subnet (its Node's ipv4Address
// with prefix length), so nodes on one L2 segment talk natively. IPIP is IPv4 only.

import { parseAddress, parseCidr, prefixContains, truncate } from '../ipam/cidr.ts';
import { Afi } from '../lib/family.ts';
import { formatPrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { IPPool } from '../resources/types.ts';

/** The tunnel device Calico's IPIP dataplane uses. */
export const IPIP_DEVICE = 'tunl0';

export interface IpipPolicy {
  /** Equal keys, equal policies: an unchanged policy rewrites nothing. */
  readonly key: string;
  /** Whether the route to `prefix` learned with BGP next hop `nextHop` goes through the tunnel. */
  tunnels(prefix: Prefix, nextHop: string): boolean;
}

/** No IPIP pool: every route is native. */
export const NO_IPIP: IpipPolicy = { key: '', tunnels: () => false };

interface IpipPool {
  readonly cidr: Prefix;
  readonly crossSubnetOnly: boolean;
}

/** The policy for these pools and this node's address with its subnet ("10.0.0.11/24"), if known. */
export function ipipPolicy(pools: readonly IPPool[], nodeAddress?: string): IpipPolicy {
  const tunnelled: IpipPool[] = [];
  for (const pool of pools) {
    const mode = pool.spec.ipipMode;
    const cidr = parseCidr(pool.spec.cidr);
    if (!cidr || cidr.afi !== Afi.Ipv4 || (mode !== 'Always' && mode !== 'CrossSubnet')) continue;
    tunnelled.push({ cidr, crossSubnetOnly: mode === 'CrossSubnet' });
  }
  if (tunnelled.length === 0) return NO_IPIP;
  const subnet = nodeSubnet(nodeAddress);
  const modes = tunnelled.map((p) => `${formatPrefix(p.cidr)}:${p.crossSubnetOnly ? 'cross' : 'always'}`);
  return {
    key: `${modes.join(',')} ${subnet ? formatPrefix(subnet) : '-'}`,
    tunnels(prefix, nextHop) {
      const pool = tunnelled.find((p) => prefixContains(p.cidr, prefix));
      if (!pool) return false;
      if (!pool.crossSubnetOnly) return true;
      const hop = parseAddress(nextHop);
      // Without a known subnet every next hop counts as remote, as BIRD's `~ <own subnet>` test
      // fails when confd has no network for the node.
      return !(subnet && hop && prefixContains(subnet, hop));
    },
  };
}

/** "10.0.0.11/24" → 10.0.0.0/24; a bare address has no subnet. */
function nodeSubnet(text: string | undefined): Prefix | undefined {
  const [address, length] = (text ?? '').split('/');
  const host = parseAddress(address);
  if (!host || host.afi !== Afi.Ipv4 || length === undefined) return undefined;
  const bits = Number(length);
  return Number.isInteger(bits) && bits >= 0 && bits <= 32 ? truncate(host, bits) : undefined;
}
