// Numeric address and CIDR math for IPAM, on lib/prefix.ts's four-word Prefix: an address is a host
// prefix (/32, /128), a block is a prefix, an ordinal is an offset inside a block. Nothing here goes
// through text or `ip-address` except parse and format at the edges. Block host bits are at most 12
// (§6: blockSize 20–32 / 116–128), so an ordinal always fits in the last word.

import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../lib/address.ts';
import { Afi } from '../lib/family.ts';
import {
  formatPrefix,
  maskWord,
  maxPrefixLength,
  parsePrefix,
  prefixBytes,
  prefixContains,
} from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';

export { prefixContains } from '../lib/prefix.ts';

export type IpFamily = 4 | 6;

export function familyOf(prefix: Prefix): IpFamily {
  return prefix.afi === Afi.Ipv4 ? 4 : 6;
}

/** A prefix as a plain object (no pathId), host bits cleared. */
export function makePrefix(afi: Afi, length: number, w0: number, w1 = 0, w2 = 0, w3 = 0): Prefix {
  if (afi === Afi.Ipv4) return { afi, length, w0: maskWord(w0, length), w1: 0, w2: 0, w3: 0 };
  return {
    afi,
    length,
    w0: maskWord(w0, length),
    w1: maskWord(w1, length - 32),
    w2: maskWord(w2, length - 64),
    w3: maskWord(w3, length - 96),
  };
}

/** `prefix` shortened to `length` bits. */
export function truncate(prefix: Prefix, length: number): Prefix {
  return makePrefix(prefix.afi, length, prefix.w0, prefix.w1, prefix.w2, prefix.w3);
}

/** "10.0.0.5" or "fd00::5" → the host prefix, or undefined. */
export function parseAddress(text: string): Prefix | undefined {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return makePrefix(Afi.Ipv4, 32, v4);
  const bytes = text.includes(':') ? parseIpv6(text) : undefined;
  if (bytes === undefined) return undefined;
  const view = new DataView(bytes.buffer);
  return makePrefix(
    Afi.Ipv6,
    128,
    view.getUint32(0),
    view.getUint32(4),
    view.getUint32(8),
    view.getUint32(12),
  );
}

/** "10.0.0.0/26" → the prefix, only when the text is a masked CIDR (no host bits set). */
export function parseCidr(text: string): Prefix | undefined {
  const parsed = parsePrefix(text);
  if (parsed === undefined) return undefined;
  const prefix = truncate(parsed, parsed.length);
  const host = parseAddress(text.slice(0, text.indexOf('/')));
  const masked =
    host !== undefined &&
    prefix.w0 === host.w0 &&
    prefix.w1 === host.w1 &&
    prefix.w2 === host.w2 &&
    prefix.w3 === host.w3;
  return masked ? prefix : undefined;
}

/** The address of a host prefix as text: "10.0.0.5", "fd00::5". */
export function formatAddress(prefix: Prefix): string {
  return prefix.afi === Afi.Ipv4 ? formatIpv4(prefix.w0) : formatIpv6(prefixBytes(prefix));
}

export { formatPrefix as formatCidr };

export function hostBits(prefix: Prefix): number {
  return maxPrefixLength(prefix.afi) - prefix.length;
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  return prefixContains(a, b) || prefixContains(b, a);
}

/** The host prefix at `ordinal` inside `block` (ordinal < 2^hostBits, checked by the caller). */
export function addressAt(block: Prefix, ordinal: number): Prefix {
  if (block.afi === Afi.Ipv4) return makePrefix(Afi.Ipv4, 32, block.w0 + ordinal);
  return makePrefix(Afi.Ipv6, 128, block.w0, block.w1, block.w2, block.w3 + ordinal);
}

/** The ordinal of `address` inside `block`, or -1 when it lies outside. */
export function ordinalOf(block: Prefix, address: Prefix): number {
  if (!prefixContains(block, address)) return -1;
  return block.afi === Afi.Ipv4 ? address.w0 - block.w0 : address.w3 - block.w3;
}

/** Sort order for prefixes: family, then address, then length. */
export function comparePrefixes(a: Prefix, b: Prefix): number {
  return a.afi - b.afi || a.w0 - b.w0 || a.w1 - b.w1 || a.w2 - b.w2 || a.w3 - b.w3 || a.length - b.length;
}

// ---------------------------------------------------------------------------------------------------
// 128-bit arithmetic for IPv6 block indexes (pool.ts): only per block, never per address.

export function toBigInt(prefix: Prefix): bigint {
  if (prefix.afi === Afi.Ipv4) return BigInt(prefix.w0);
  return (
    (BigInt(prefix.w0) << 96n) | (BigInt(prefix.w1) << 64n) | (BigInt(prefix.w2) << 32n) | BigInt(prefix.w3)
  );
}

export function fromBigInt(afi: Afi, value: bigint, length: number): Prefix {
  if (afi === Afi.Ipv4) return makePrefix(afi, length, Number(value));
  const word = (shift: bigint): number => Number((value >> shift) & 0xffffffffn);
  return makePrefix(afi, length, word(96n), word(64n), word(32n), word(0n));
}
