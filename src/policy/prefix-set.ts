// Prefixes as BIRD's filter language compares them (calico-routing.md §4.2): `net = C`, `net ~ C`
// (inside C, C itself included) and the prefix set `[ C{min,max} ]`; and interface patterns.

import { maxPrefixLength, parsePrefix, prefixContains } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';

export function samePrefix(a: Prefix, b: Prefix): boolean {
  return (
    a.afi === b.afi &&
    a.length === b.length &&
    a.w0 === b.w0 &&
    a.w1 === b.w1 &&
    a.w2 === b.w2 &&
    a.w3 === b.w3
  );
}

/** BIRD `net ~ outer`: `net` lies inside `outer` or is it. */
export function within(net: Prefix, outer: Prefix): boolean {
  return prefixContains(outer, net);
}

/** BIRD's prefix-set element `C{min,max}`: inside C with a length in [min, max]. */
export interface PrefixRange {
  readonly prefix: Prefix;
  readonly min: number;
  readonly max: number;
}

/**
 * BGPFilter `prefixLength` as confd renders it (`filterMatchPrefixLength`): min defaults to the CIDR's
 * length and is never below it; max defaults to the family's maximum and is never above it.
 */
export function prefixRange(prefix: Prefix, min?: number, max?: number): PrefixRange {
  return {
    prefix,
    min: Math.max(prefix.length, min ?? 0),
    max: Math.min(maxPrefixLength(prefix.afi), max ?? maxPrefixLength(prefix.afi)),
  };
}

export function inRange(net: Prefix, range: PrefixRange): boolean {
  return net.length >= range.min && net.length <= range.max && within(net, range.prefix);
}

/** The first of `prefixes` that holds `net`, or undefined. Lists here are short (pools, blocks). */
export function firstHolding<T extends { readonly prefix: Prefix }>(
  net: Prefix,
  entries: readonly T[],
): T | undefined {
  for (const entry of entries) if (within(net, entry.prefix)) return entry;
  return undefined;
}

/** A CIDR from a validated resource (host bits are masked, as BIRD masks them). */
export function cidrPrefix(text: string): Prefix | undefined {
  return parsePrefix(text);
}

/** BIRD's shell-like pattern (`ifname ~ "eth*"`): `*` stands for any run of characters, `?` for one. */
export function interfacePattern(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\-]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}
