// Query-string parameters the read-only endpoints share (GET /api/v1/routes, /api/v1/fib): anything
// unknown or malformed is a 400 naming the parameter, never a silent default.

import { isIpv4 } from '../lib/address.ts';
import { Afi } from '../lib/family.ts';
import { parsePrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import { HttpError } from './http.ts';

export function checkParameters(query: URLSearchParams, allowed: readonly string[]): void {
  for (const key of query.keys())
    if (!allowed.includes(key)) throw new HttpError(400, `unknown query parameter "${key}"`);
}

/** `family=ipv4|ipv6` (or `ipv4-unicast`, `ipv6-unicast`); undefined when absent. */
export function familyParameter(query: URLSearchParams): Afi | undefined {
  const family = query.get('family');
  if (family === null) return undefined;
  if (/^ipv4(-unicast)?$/.test(family)) return Afi.Ipv4;
  if (/^ipv6(-unicast)?$/.test(family)) return Afi.Ipv6;
  throw new HttpError(400, `family must be ipv4 or ipv6, not "${family}"`);
}

/** `limit=N`, 1 to `max`; `fallback` when absent. */
export function limitParameter(query: URLSearchParams, fallback: number, max: number): number {
  const text = query.get('limit');
  const limit = text === null ? fallback : Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > max)
    throw new HttpError(400, `limit must be an integer from 1 to ${max}`);
  return limit;
}

/** A prefix ("10.0.0.0/24": an exact match) or an address ("10.0.0.7": the longest covering one). */
export type Target =
  | { readonly prefix: Prefix; readonly host?: undefined }
  | { readonly host: Prefix; readonly prefix?: undefined };

export function parseTarget(text: string): Target {
  if (text.includes('/')) {
    const prefix = parsePrefix(text);
    if (!prefix) throw new HttpError(400, `not a prefix: "${text}"`);
    return { prefix };
  }
  const host = parsePrefix(`${text}/${isIpv4(text) ? 32 : 128}`);
  if (!host) throw new HttpError(400, `not a prefix or an address: "${text}"`);
  return { host };
}
