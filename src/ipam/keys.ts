// Where IPAM lives in the Store: beside the routing resources (`v3/…`), under one prefix, so a single
// list of `ipam/v2/` is one consistent snapshot of blocks, affinities and handles (check.ts, show.ts
// and routes rely on that).
//
//   ipam/v2/block/<cidr, "/" as "-">                 AllocationBlock      ipam/v2/block/10.65.0.0-26
//   ipam/v2/affinity/host:<node>/<cidr, "/" as "-">  BlockAffinity        ipam/v2/affinity/host:n1/10.65.0.0-26
//   ipam/v2/handle/<handle id>                       IPAMHandle           ipam/v2/handle/k8s-pod-network.abc
//
// Calico's etcd v1 keys name blocks the same way (`…/block/<cidr with / as ->`, calico-routing.md §1).
// Affinities are grouped per host so "this host's affinities" is one prefix list (§7.2 step 4) and the
// `host:` in the path is the same string the block's `affinity` field holds. Node names are Kubernetes
// names (no "/"), so `host:<node>/` never prefixes another host's keys. Values are JSON (records.ts).

import type { Prefix } from '../lib/prefix.ts';
import { formatCidr, parseCidr } from './cidr.ts';
import { IpamError } from './errors.ts';

export const IPAM_PREFIX = 'ipam/v2/';
export const BLOCK_PREFIX = `${IPAM_PREFIX}block/`;
export const AFFINITY_PREFIX = `${IPAM_PREFIX}affinity/`;
export const HANDLE_PREFIX = `${IPAM_PREFIX}handle/`;

/** "10.65.0.0/26" → "10.65.0.0-26" (§7.1: the CRD name spells the CIDR with "-" too). */
export function cidrKeyPart(cidr: Prefix): string {
  return formatCidr(cidr).replace('/', '-');
}

export function cidrFromKeyPart(part: string): Prefix | undefined {
  const dash = part.lastIndexOf('-');
  return dash < 0 ? undefined : parseCidr(`${part.slice(0, dash)}/${part.slice(dash + 1)}`);
}

export function blockKey(cidr: Prefix): string {
  return BLOCK_PREFIX + cidrKeyPart(cidr);
}

/** The block affinity string Calico stores for a host (§7.1). */
export function hostAffinity(node: string): string {
  return `host:${node}`;
}

/** "host:n1" → "n1"; undefined for unaffine or `virtual:` blocks. */
export function affinityHost(affinity: string | undefined): string | undefined {
  return affinity?.startsWith('host:') ? affinity.slice('host:'.length) : undefined;
}

export function hostAffinityPrefix(node: string): string {
  return `${AFFINITY_PREFIX}${hostAffinity(node)}/`;
}

export function affinityKey(node: string, cidr: Prefix): string {
  return hostAffinityPrefix(node) + cidrKeyPart(cidr);
}

export function handleKey(handleId: string): string {
  return HANDLE_PREFIX + handleId;
}

/** Node names and handle ids become key parts: refuse what would break the layout above. */
export function checkNodeName(node: string): void {
  if (typeof node !== 'string' || node === '' || node.includes('/') || node.length > 253) {
    throw new IpamError('invalid-request', `invalid node name ${JSON.stringify(node)}`);
  }
}

export function checkHandleId(handleId: string): void {
  if (typeof handleId !== 'string' || handleId === '' || handleId.length > 512) {
    throw new IpamError('invalid-request', `invalid handle id ${JSON.stringify(handleId)}`);
  }
}
