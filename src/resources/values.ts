// The text forms Calico resources carry — AS numbers, Go durations, IP[:port], CIDRs, Kubernetes
// names and labels, BGP communities — parsed into values, each parser returning undefined for text
// it does not accept. Addresses come back canonical (RFC 5952 for IPv6), as confd's Go code prints
// them, because confd compares and names peers by that text (calico-routing.md §3.3).

import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../lib/address.ts';
import { maskWord, parsePrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';

export type IpFamily = 4 | 6;

export interface IpAddress {
  /** Canonical text. */
  readonly address: string;
  readonly family: IpFamily;
}

export const MAX_AS_NUMBER = 0xffffffff;
const MAX_16_BIT = 0xffff;

/**
 * A 32-bit AS number from a YAML/JSON number or string: plain (`64512`, `"64512"`) or RFC 5396
 * asdot (`"1.10"` = 1·65536 + 10), as Calico's numorstring.ASNumber accepts.
 */
export function parseAsNumber(value: unknown): number | undefined {
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= 0 && value <= MAX_AS_NUMBER ? value : undefined;
  if (typeof value !== 'string') return undefined;
  if (/^\d{1,10}$/.test(value)) {
    const plain = Number(value);
    return plain <= MAX_AS_NUMBER ? plain : undefined;
  }
  const dotted = /^(\d{1,5})\.(\d{1,5})$/.exec(value);
  if (!dotted) return undefined;
  const high = Number(dotted[1]);
  const low = Number(dotted[2]);
  return high <= MAX_16_BIT && low <= MAX_16_BIT ? high * 65536 + low : undefined;
}

/** Go's time.ParseDuration units, in seconds. */
const DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6, // U+00B5 micro sign
  μs: 1e-6, // U+03BC Greek mu
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};
const DURATION_PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Go duration syntax (`120s`, `2m`, `1h30m`, `1.5s`, `-3s`, `0`) → seconds. */
export function parseDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let seconds = 0;
  while (rest !== '') {
    const part = DURATION_PART.exec(rest);
    if (!part) return undefined;
    seconds += Number(part[1]) * DURATION_UNITS[part[2]];
    rest = rest.slice(part[0].length);
  }
  return sign * seconds;
}

/** confd renders durations as whole seconds, rounding (`math.Round(d.Seconds())`). */
export function durationSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const seconds = parseDuration(text);
  return seconds === undefined ? undefined : Math.round(seconds);
}

export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return { address: formatIpv4(v4), family: 4 };
  const v6 = text.includes(':') ? parseIpv6(text) : undefined;
  return v6 ? { address: formatIpv6(v6), family: 6 } : undefined;
}

export function maxPrefixLengthOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

export interface CidrOrIp extends IpAddress {
  readonly prefixLength: number;
}

/** A node's BGP address: `10.0.0.2/24` or a bare `10.0.0.2` (Calico's cidrv4/cidrv6 accept both). */
export function parseCidrOrIp(text: string): CidrOrIp | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  if (slash < 0) return { ...ip, prefixLength: maxPrefixLengthOf(ip.family) };
  const lengthText = text.slice(slash + 1);
  const prefixLength = Number(lengthText);
  if (!/^\d{1,3}$/.test(lengthText) || prefixLength > maxPrefixLengthOf(ip.family)) return undefined;
  return { ...ip, prefixLength };
}

export interface Network {
  readonly prefix: Prefix;
  readonly family: IpFamily;
  /** False when the text had host bits set (`10.0.0.1/8`). */
  readonly masked: boolean;
}

export function parseNetwork(text: string): Network | undefined {
  const prefix = parsePrefix(text);
  if (!prefix) return undefined;
  const family: IpFamily = prefix.afi === 1 ? 4 : 6;
  const host = parsePrefix(`${text.slice(0, text.indexOf('/'))}/${maxPrefixLengthOf(family)}`);
  const masked = host !== undefined && sameWords(host, prefix);
  return { prefix, family, masked };
}

function sameWords(a: Prefix, b: Prefix): boolean {
  return a.w0 === b.w0 && a.w1 === b.w1 && a.w2 === b.w2 && a.w3 === b.w3;
}

function maskedWords(p: Prefix, length: number): readonly number[] {
  return [
    maskWord(p.w0, length),
    maskWord(p.w1, length - 32),
    maskWord(p.w2, length - 64),
    maskWord(p.w3, length - 96),
  ];
}

/** Two prefixes of one family overlap when one contains the other. */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.afi !== b.afi) return false;
  const length = Math.min(a.length, b.length);
  const wa = maskedWords(a, length);
  const wb = maskedWords(b, length);
  return wa.every((word, i) => word === wb[i]);
}

export interface PeerAddress extends IpAddress {
  /** Undefined when the text names no port. */
  readonly port?: number;
}

/** BGPPeer.peerIP: `ip`, `ipv4:port` or `[ipv6]:port`; the port must be 1–65535 (§3.1). */
export function parsePeerIp(text: string): PeerAddress | undefined {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  if (bracketed) return withPort(parseIp(bracketed[1]), bracketed[2], 6);
  const colon = text.indexOf(':');
  if (colon >= 0 && colon === text.lastIndexOf(':')) {
    return withPort(parseIp(text.slice(0, colon)), text.slice(colon + 1), 4);
  }
  return parseIp(text);
}

function withPort(ip: IpAddress | undefined, portText: string, family: IpFamily): PeerAddress | undefined {
  const port = Number(portText);
  if (!ip || ip.family !== family || !/^\d{1,5}$/.test(portText) || port < 1 || port > 65535)
    return undefined;
  return { ...ip, port };
}

/** RFC 1123 subdomain, as Kubernetes and Calico's `name` validator require for object names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function isResourceName(text: string): boolean {
  return text.length <= 253 && DNS_SUBDOMAIN.test(text);
}

/** Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain ≤253, name ≤63. */
export function isLabelKey(text: string): boolean {
  const slash = text.lastIndexOf('/');
  const name = text.slice(slash + 1);
  if (name.length > 63 || !LABEL_NAME.test(name)) return false;
  return slash < 0 || isResourceName(text.slice(0, slash));
}

export function isLabelValue(text: string): boolean {
  return text === '' || (text.length <= 63 && LABEL_NAME.test(text));
}

/** `aa:nn` (RFC 1997, 16-bit parts) or `aa:nn:mm` (RFC 8092 large community, 32-bit parts). */
export function isCommunityValue(text: string): boolean {
  const parts = text.split(':');
  if (parts.length !== 2 && parts.length !== 3) return false;
  const max = parts.length === 2 ? MAX_16_BIT : MAX_AS_NUMBER;
  return parts.every((part) => /^\d{1,10}$/.test(part) && Number(part) <= max);
}

/** BIRD interface pattern: 1–15 characters of `[a-zA-Z0-9_.*-]` (§2 ignoredInterfaces, §4.1). */
export function isInterfacePattern(text: string): boolean {
  return /^[a-zA-Z0-9_.*-]{1,15}$/.test(text);
}
