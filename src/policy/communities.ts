// Communities as Calico writes them (calico-routing.md §2, §4.1): `aa:nn` is an RFC 1997 community,
// `aa:nn:mm` an RFC 8092 large community; and BGPConfiguration.prefixAdvertisements, which attaches
// them to every exported route inside a CIDR (confd's apply_communities()).

import type { LargeCommunity } from '../bgp/types.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import type { BGPConfiguration } from '../resources/types.ts';
import { cidrPrefix } from './prefix-set.ts';

/** Communities to add or to look for: standard ones as 32-bit numbers (AS << 16 | value), large ones. */
export interface CommunitySet {
  readonly standard: readonly number[];
  readonly large: readonly LargeCommunity[];
}

export const NO_COMMUNITIES: CommunitySet = Object.freeze({ standard: [], large: [] });

export type Community =
  | { readonly kind: 'standard'; readonly value: number }
  | { readonly kind: 'large'; readonly value: LargeCommunity };

/** `aa:nn` or `aa:nn:mm` (validated by the resource decoder), or undefined for anything else. */
export function parseCommunity(text: string): Community | undefined {
  const parts = text.split(':').map(Number);
  if (parts.some((p) => !Number.isInteger(p) || p < 0)) return undefined;
  if (parts.length === 2 && parts[0] <= 0xffff && parts[1] <= 0xffff)
    return { kind: 'standard', value: ((parts[0] << 16) | parts[1]) >>> 0 };
  if (parts.length === 3 && parts.every((p) => p <= 0xffffffff))
    return {
      kind: 'large',
      value: { globalAdministrator: parts[0], localData1: parts[1], localData2: parts[2] },
    };
  return undefined;
}

function sameLarge(a: LargeCommunity, b: LargeCommunity): boolean {
  return (
    a.globalAdministrator === b.globalAdministrator &&
    a.localData1 === b.localData1 &&
    a.localData2 === b.localData2
  );
}

export function hasCommunity(attributes: RouteAttributes, community: Community): boolean {
  if (community.kind === 'standard') return attributes.communities?.includes(community.value) ?? false;
  return attributes.largeCommunities?.some((c) => sameLarge(c, community.value)) ?? false;
}

/** BIRD's `bgp_community.add()` / `bgp_large_community.add()`: appended unless already present. */
export function addCommunities(attributes: RouteAttributes, set: CommunitySet): RouteAttributes {
  let communities = attributes.communities;
  let large = attributes.largeCommunities;
  for (const c of set.standard) if (!communities?.includes(c)) communities = [...(communities ?? []), c];
  for (const c of set.large) if (!large?.some((l) => sameLarge(l, c))) large = [...(large ?? []), c];
  if (communities === attributes.communities && large === attributes.largeCommunities) return attributes;
  return { ...attributes, communities, largeCommunities: large };
}

export function communitySet(communities: readonly Community[]): CommunitySet {
  return {
    standard: communities.flatMap((c) => (c.kind === 'standard' ? [c.value] : [])),
    large: communities.flatMap((c) => (c.kind === 'large' ? [c.value] : [])),
  };
}

/** One prefixAdvertisements entry, its community names resolved. */
export interface PrefixAdvertisement {
  readonly prefix: Prefix;
  readonly communities: CommunitySet;
}

/**
 * The prefixAdvertisements that act on `nodeName`: the node's `node.<name>` BGPConfiguration's list
 * when it has one (it replaces the global list entirely), else the `default` one's (§2). Community
 * names are looked up in the default configuration's `communities`; anything else must be a literal.
 */
export function prefixAdvertisements(
  configs: readonly BGPConfiguration[],
  nodeName: string,
): PrefixAdvertisement[] {
  const global = configs.find((c) => c.metadata.name === 'default');
  const own = configs.find((c) => c.metadata.name === `node.${nodeName}`);
  const entries = own?.spec.prefixAdvertisements ?? global?.spec.prefixAdvertisements ?? [];
  const named = new Map((global?.spec.communities ?? []).map((c) => [c.name, c.value]));
  const result: PrefixAdvertisement[] = [];
  for (const entry of entries) {
    const prefix = cidrPrefix(entry.cidr);
    if (!prefix) continue;
    const values = (entry.communities ?? []).map((name) => parseCommunity(named.get(name) ?? name));
    result.push({ prefix, communities: communitySet(values.filter((c) => c !== undefined)) });
  }
  return result;
}
