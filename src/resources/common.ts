// Checks for the value types several resources share: AS numbers, durations, addresses, CIDRs,
// selectors, names, labels, secret references, and the object metadata every resource carries.

import { parseSelector, SelectorError } from './selector.ts';
import { bool, integer, object, parsed, refine, stringMap, text } from './checks.ts';
import type { Check } from './checks.ts';
import type { BGPPassword, ObjectMeta, SecretKeyRef } from './types.ts';
import {
  isCommunityValue,
  isLabelKey,
  isLabelValue,
  isResourceName,
  parseAsNumber,
  parseCidrOrIp,
  parseDuration,
  parseIp,
  parseNetwork,
} from './values.ts';
import type { IpFamily } from './values.ts';

const FAMILY_NAME = { 4: 'IPv4', 6: 'IPv6' } as const;

/** RFC 7607 reserves AS 0: it can never be a peer's or a speaker's AS. */
export const asNumber: Check<number> = refine(
  parsed(parseAsNumber, 'an AS number (0–4294967295, or dotted a.b with 16-bit parts)'),
  (value) => (value === 0 ? 'AS 0 is reserved (RFC 7607)' : undefined),
);

export const duration: Check<string> = refine(
  text((value) => parseDuration(value) !== undefined, 'is not a duration (Go syntax: 120s, 2m, 1h30m)'),
  (value) => ((parseDuration(value) ?? 0) < 0 ? `${JSON.stringify(value)} is negative` : undefined),
);

export function ipAddress(family?: IpFamily): Check<string> {
  const what = family ? `an ${FAMILY_NAME[family]} address` : 'an IP address';
  return text((value) => {
    const ip = parseIp(value);
    return ip !== undefined && (family === undefined || ip.family === family);
  }, `is not ${what}`);
}

/** Node.spec.bgp.ipv4Address/ipv6Address: an address with or without its subnet. */
export function cidrOrIp(family: IpFamily): Check<string> {
  return text(
    (value) => parseCidrOrIp(value)?.family === family,
    `is not an ${FAMILY_NAME[family]} address or CIDR`,
  );
}

/** A CIDR of the given family (any family when omitted); `strict` also rejects set host bits. */
export function cidr(
  options: { family?: IpFamily; strict?: boolean; maxLength?: number } = {},
): Check<string> {
  const what = options.family ? `an ${FAMILY_NAME[options.family]} CIDR` : 'a CIDR';
  const check = text(
    (value) => {
      const network = parseNetwork(value);
      return network !== undefined && (options.family === undefined || network.family === options.family);
    },
    `is not ${what}`,
    options.maxLength,
  );
  if (!options.strict) return check;
  return refine(check, (value) =>
    parseNetwork(value)?.masked
      ? undefined
      : `${JSON.stringify(value)} has host bits set (not strictly masked)`,
  );
}

/** A Calico selector (calico-routing.md §3.1: at most 1024 characters). */
export const selector: Check<string> = (value, path, issues) => {
  const checked = text(() => true, '', 1024)(value, path, issues);
  if (checked === undefined) return undefined;
  const parsedSelector = parseSelector(checked);
  if (parsedSelector instanceof SelectorError) {
    issues.push({ path, reason: parsedSelector.message });
    return undefined;
  }
  return checked;
};

export const resourceName: Check<string> = text(
  isResourceName,
  'is not a valid name (lower-case letters, digits, "-" and ".", starting and ending alphanumeric, at most 253)',
);

export const communityValue: Check<string> = text(
  isCommunityValue,
  'is not a BGP community (aa:nn with 16-bit parts, or aa:nn:mm with 32-bit parts)',
);

const labels = stringMap(
  text(isLabelKey, 'is not a valid label key ([prefix/]name, name at most 63 characters)'),
  text(isLabelValue, 'is not a valid label value (at most 63 alphanumerics, "-", "_" or ".")'),
);

export const metadata: Check<ObjectMeta> = object<ObjectMeta>(
  {
    name: resourceName,
    labels,
    annotations: stringMap(text(), text()),
    resourceVersion: text(),
    uid: text(),
    creationTimestamp: text(),
    generation: integer(0, Number.MAX_SAFE_INTEGER),
  },
  ['name'],
);

const secretKeyRef = object<SecretKeyRef>({ name: resourceName, key: text(), optional: bool }, [
  'name',
  'key',
]);

export const password: Check<BGPPassword> = object<BGPPassword>({ secretKeyRef });
