// BFDConfiguration, Calico Enterprise's resource (its reference page, "BFD configuration"): which
// nodes run BFD on which interfaces, and with what timers. The field schema, the documented defaults,
// and the effective settings for one interface of one node, in the units BFD's wire uses
// (microseconds, RFC 5880 §4.1). A BGPPeer asks for BFD with failureDetectionMode.

import { integer, listOf, object, refine, text } from './checks.ts';
import type { Check } from './checks.ts';
import { selector } from './common.ts';
import { parseSelector, SelectorError } from './selector.ts';
import type { Labels } from './selector.ts';
import type { BFDConfiguration, BFDConfigurationSpec, BFDInterface, Duration } from './types.ts';
import { isInterfacePattern, parseDuration } from './values.ts';

/** The defaults Calico Enterprise documents for each BFDInterface field. */
export const BFD_INTERFACE_DEFAULTS = {
  minimumRecvInterval: '10ms',
  minimumSendInterval: '100ms',
  idleSendInterval: '1m',
  multiplier: 5,
} as const;

/** RFC 5880 §4.1: the intervals are 32-bit microsecond fields. */
const MAX_INTERVAL_US = 0xffffffff;

/** "a whole number of milliseconds greater than 0" (the reference page), within the 32-bit field. */
function intervalUs(value: Duration): number | undefined {
  const seconds = parseDuration(value);
  if (seconds === undefined) return undefined;
  const ns = Math.round(seconds * 1e9);
  if (ns <= 0 || ns % 1_000_000 !== 0 || ns / 1000 > MAX_INTERVAL_US) return undefined;
  return ns / 1000;
}

const interval: Check<string> = refine(
  text((value) => parseDuration(value) !== undefined, 'is not a duration (Go syntax: 10ms, 1s, 1m)'),
  (value) =>
    intervalUs(value) === undefined
      ? `${JSON.stringify(value)} is not a whole number of milliseconds between 1ms and 4294967ms`
      : undefined,
);

const matchPattern = text(
  isInterfacePattern,
  'is not an interface pattern (1–15 characters of [a-zA-Z0-9_.*-]: a name, a prefix ending in "*", or "*")',
);

const bfdInterface = object<BFDInterface>(
  {
    matchPattern,
    minimumRecvInterval: interval,
    minimumSendInterval: interval,
    idleSendInterval: interval,
    // RFC 5880 §4.1: Detect Mult is one octet and §6.8.6 discards a packet where it is zero.
    multiplier: integer(1, 255),
  },
  ['matchPattern'],
);

export const bfdConfigurationSpec = object<BFDConfigurationSpec>({
  nodeSelector: selector,
  interfaces: listOf(bfdInterface),
});

/** One interface's BFD settings with the defaults applied, in microseconds (RFC 5880 §6.8.1 names). */
export interface BfdInterfaceSettings {
  /** The BFDConfiguration and the pattern that matched, for logs and `brindlectl bfd`. */
  readonly configuration: string;
  readonly matchPattern: string;
  readonly detectMult: number;
  /** bfd.DesiredMinTxInterval while Up (minimumSendInterval). */
  readonly desiredMinTxIntervalUs: number;
  /** bfd.RequiredMinRxInterval (minimumRecvInterval). */
  readonly requiredMinRxIntervalUs: number;
  /** bfd.DesiredMinTxInterval while not Up (idleSendInterval; RFC 5880 §6.8.3 keeps it ≥ 1 s). */
  readonly idleTxIntervalUs: number;
}

export function bfdInterfaceSettings(configuration: string, i: BFDInterface): BfdInterfaceSettings {
  const d = BFD_INTERFACE_DEFAULTS;
  // A decoded resource's intervals always parse; the fallback only keeps the type a number.
  const us = (value: Duration | undefined, fallback: Duration) =>
    intervalUs(value ?? fallback) ?? intervalUs(fallback) ?? 0;
  return {
    configuration,
    matchPattern: i.matchPattern,
    detectMult: i.multiplier ?? d.multiplier,
    desiredMinTxIntervalUs: us(i.minimumSendInterval, d.minimumSendInterval),
    requiredMinRxIntervalUs: us(i.minimumRecvInterval, d.minimumRecvInterval),
    idleTxIntervalUs: us(i.idleSendInterval, d.idleSendInterval),
  };
}

/** An exact name, a prefix ending in `*`, or `*`: BIRD's interface patterns, as Calico uses them. */
export function interfaceMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(name);
}

function selectsNode(config: BFDConfiguration, labels: Labels): boolean {
  const parsed = parseSelector(config.spec.nodeSelector ?? '');
  return !(parsed instanceof SelectorError) && parsed.matches(labels);
}

/**
 * The BFD settings of one interface of the node with these labels, or undefined when no
 * BFDConfiguration selects the node or none of its patterns matches the interface. Calico Enterprise
 * does not say which of several matching configurations wins; Brindle takes them in name order and,
 * within one, the first interface entry that matches (written down so the choice is predictable).
 */
export function bfdSettingsFor(
  configs: readonly BFDConfiguration[],
  nodeLabels: Labels,
  interfaceName: string,
): BfdInterfaceSettings | undefined {
  const ordered = [...configs].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const config of ordered) {
    if (!selectsNode(config, nodeLabels)) continue;
    const match = config.spec.interfaces?.find((i) => interfaceMatches(i.matchPattern, interfaceName));
    if (match) return bfdInterfaceSettings(config.metadata.name, match);
  }
  return undefined;
}

/** `get -o yaml` with defaults shown: every interface entry with its documented defaults. */
export function bfdConfigurationDefaults(spec: BFDConfigurationSpec): BFDConfigurationSpec {
  return {
    nodeSelector: spec.nodeSelector ?? 'all()',
    interfaces: spec.interfaces?.map((i) => ({ ...BFD_INTERFACE_DEFAULTS, ...i })) ?? [],
  };
}
