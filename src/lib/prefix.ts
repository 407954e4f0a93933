// IP prefixes as the hot paths hold them: a fixed-shape object of four 32-bit words (IPv4 uses w0
// only), so V8 keeps one hidden class for both families and no prefix is ever parsed from text on the
// UPDATE path. Host bits beyond `length` are always zero (RFC 4271 §4.3: trailing bits are irrelevant).

import { Afi } from './family.ts';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from './address.ts';

export interface Prefix {
  readonly afi: Afi;
  /** Prefix length in bits. */
  readonly length: number;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** A prefix as carried in NLRI: with its RFC 7911 Path Identifier (0 when ADD-PATH is not in use). */
export interface Nlri extends Prefix {
  readonly pathId: number;
}

/** Keeps the top `length` bits of a 32-bit word (length 0..32). */
export function maskWord(word: number, length: number): number {
  if (length <= 0) return 0;
  if (length >= 32) return word >>> 0;
  return (word & (0xffffffff << (32 - length))) >>> 0;
}

/** True when `inner` lies inside `outer` (or equals it). */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.afi !== inner.afi || outer.length > inner.length) return false;
  const l = outer.length;
  return (
    maskWord(inner.w0, l) === outer.w0 &&
    maskWord(inner.w1, l - 32) === outer.w1 &&
    maskWord(inner.w2, l - 64) === outer.w2 &&
    maskWord(inner.w3, l - 96) === outer.w3
  );
}

export function ipv4Prefix(address: number, length: number, pathId = 0): Nlri {
  return { afi: Afi.Ipv4, length, w0: maskWord(address, length), w1: 0, w2: 0, w3: 0, pathId };
}

export function ipv6Prefix(words: readonly number[], length: number, pathId = 0): Nlri {
  return {
    afi: Afi.Ipv6,
    length,
    w0: maskWord(words[0], length),
    w1: maskWord(words[1], length - 32),
    w2: maskWord(words[2], length - 64),
    w3: maskWord(words[3], length - 96),
    pathId,
  };
}

export function maxPrefixLength(afi: Afi): number {
  return afi === Afi.Ipv4 ? 32 : 128;
}

export function prefixBytes(prefix: Prefix): Uint8Array {
  const out = new Uint8Array(prefix.afi === Afi.Ipv4 ? 4 : 16);
  const view = new DataView(out.buffer);
  view.setUint32(0, prefix.w0);
  if (prefix.afi === Afi.Ipv6) {
    view.setUint32(4, prefix.w1);
    view.setUint32(8, prefix.w2);
    view.setUint32(12, prefix.w3);
  }
  return out;
}

export function formatPrefix(prefix: Prefix): string {
  const address = prefix.afi === Afi.Ipv4 ? formatIpv4(prefix.w0) : formatIpv6(prefixBytes(prefix));
  return `${address}/${prefix.length}`;
}

/** "10.0.0.0/24" or "2001:db8::/32" → prefix (host bits cleared), or undefined when not a prefix. */
export function parsePrefix(text: string, pathId = 0): Nlri | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const lengthText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  const addressText = text.slice(0, slash);
  const v4 = parseIpv4(addressText);
  if (v4 >= 0) return length <= 32 ? ipv4Prefix(v4, length, pathId) : undefined;
  const v6 = parseIpv6(addressText);
  if (!v6 || length > 128) return undefined;
  const view = new DataView(v6.buffer);
  const words = [view.getUint32(0), view.getUint32(4), view.getUint32(8), view.getUint32(12)];
  return ipv6Prefix(words, length, pathId);
}

/**
 * A Map key per prefix: a number for IPv4 (length · 2³² + address, exact in a double and kept unboxed
 * by V8), a string for IPv6. Equal prefixes give equal keys; the type alone tells the family.
 */
export type PrefixKey = number | string;

export function prefixKey(prefix: Prefix): PrefixKey {
  return wordsKey(prefix.afi === Afi.Ipv4, prefix.length, prefix.w0, prefix.w1, prefix.w2, prefix.w3);
}

/** prefixKey() from the words themselves, for decoders that have no Prefix object yet. */
export function wordsKey(
  v4: boolean,
  length: number,
  w0: number,
  w1: number,
  w2: number,
  w3: number,
): PrefixKey {
  if (v4) return length * 0x1_0000_0000 + (w0 >>> 0);
  return `${w0 >>> 0}:${w1 >>> 0}:${w2 >>> 0}:${w3 >>> 0}/${length}`;
}
