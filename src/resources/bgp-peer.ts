// BGPPeer (calico-routing.md §3.1): the field schema and the rules across fields — Calico's CEL
// rules (bgppeer.go XValidation) and Go validator checks, plus two of Brindle's own, marked below.

import { bool, crossChecked, integer, listOf, object, oneOf, text } from './checks.ts';
import type { Issue } from './checks.ts';
import { asNumber, duration, ipAddress, password, resourceName, selector } from './common.ts';
import {
  FAILURE_DETECTION_MODES,
  NEXT_HOP_MODES,
  RESTART_MODES,
  REVERSE_PEERINGS,
  SOURCE_ADDRESSES,
} from './types.ts';
import type { BGPPeerSpec } from './types.ts';
import { durationSeconds, parseIp, parsePeerIp } from './values.ts';

const peerIP = text((value) => parsePeerIp(value) !== undefined, 'is not an IP address or ip:port', 64);

export const bgpPeerSpec = crossChecked(
  object<BGPPeerSpec>({
    node: resourceName,
    nodeSelector: selector,
    peerIP,
    asNumber,
    localASNumber: asNumber,
    peerSelector: selector,
    keepOriginalNextHop: bool,
    nextHopMode: oneOf(NEXT_HOP_MODES),
    password,
    sourceAddress: oneOf(SOURCE_ADDRESSES),
    maxRestartTime: duration,
    keepaliveTime: duration,
    numAllowedLocalASNumbers: integer(0, 2147483647),
    ttlSecurity: integer(0, 255),
    reachableBy: ipAddress(),
    filters: listOf(resourceName),
    localWorkloadSelector: selector,
    reversePeering: oneOf(REVERSE_PEERINGS),
    failureDetectionMode: oneOf(FAILURE_DETECTION_MODES),
    restartMode: oneOf(RESTART_MODES),
  }),
  (spec, path) =>
    PEER_RULES.flatMap((rule) => rule(spec)).map((issue) => ({ ...issue, path: `${path}.${issue.path}` })),
);

type PeerRule = (spec: BGPPeerSpec) => Issue[];

const set = (value: string | undefined): boolean => value !== undefined && value !== '';

function exclusive(a: keyof BGPPeerSpec, b: keyof BGPPeerSpec): PeerRule {
  return (spec) => {
    const present = (field: keyof BGPPeerSpec) => spec[field] !== undefined && spec[field] !== '';
    return present(a) && present(b) ? [{ path: b, reason: `cannot be set together with ${a}` }] : [];
  };
}

const PEER_RULES: readonly PeerRule[] = [
  // CEL: the local side is one node or a selector, never both.
  exclusive('node', 'nodeSelector'),
  // CEL: the remote side is one address or a selector, never both.
  exclusive('peerIP', 'peerSelector'),
  // CEL: with peerSelector the remote AS is each selected node's own.
  (spec) =>
    set(spec.peerSelector) && spec.asNumber !== undefined
      ? [{ path: 'asNumber', reason: 'must be empty when peerSelector is set' }]
      : [],
  // CEL: local-workload peers come from workload status, with a fixed AS.
  exclusive('localWorkloadSelector', 'peerIP'),
  exclusive('localWorkloadSelector', 'peerSelector'),
  (spec) =>
    set(spec.localWorkloadSelector) && spec.asNumber === undefined
      ? [{ path: 'asNumber', reason: 'required when localWorkloadSelector is set' }]
      : [],
  // CEL: nextHopMode replaces the deprecated keepOriginalNextHop; not both.
  (spec) =>
    spec.keepOriginalNextHop === true && spec.nextHopMode !== undefined
      ? [{ path: 'nextHopMode', reason: 'cannot be combined with keepOriginalNextHop: true' }]
      : [],
  reachableByRule,
  // Brindle: a peer with no remote side generates nothing; confd skips it silently.
  (spec) =>
    !set(spec.peerIP) && !set(spec.peerSelector) && !set(spec.localWorkloadSelector)
      ? [{ path: 'peerIP', reason: 'one of peerIP, peerSelector or localWorkloadSelector is required' }]
      : [],
  restartTimeRule,
  // Brindle: confd would render `neighbor <ip> as 0`, which BIRD refuses, taking every session down.
  (spec) =>
    set(spec.peerIP) && spec.asNumber === undefined
      ? [{ path: 'asNumber', reason: 'required when peerIP is set' }]
      : [],
];

/** CEL + Go validator: reachableBy needs a peerIP of the same family (it becomes a host route). */
function reachableByRule(spec: BGPPeerSpec): Issue[] {
  if (spec.reachableBy === undefined) return [];
  const peer = spec.peerIP === undefined ? undefined : parsePeerIp(spec.peerIP);
  if (!peer) return [{ path: 'reachableBy', reason: 'requires peerIP' }];
  if (parseIp(spec.reachableBy)?.family !== peer.family) {
    return [
      {
        path: 'reachableBy',
        reason: `must be of the same address family as peerIP ${JSON.stringify(spec.peerIP)}`,
      },
    ];
  }
  return [];
}

/**
 * Brindle: maxRestartTime must fit the capability it is announced in — the 12-bit Restart Time of
 * RFC 4724 §3, or with restartMode LongLivedGracefulRestart the 24-bit Long-Lived Stale Time of
 * RFC 9494 §3.1 — or no session could be opened.
 */
function restartTimeRule(spec: BGPPeerSpec): Issue[] {
  const seconds = durationSeconds(spec.maxRestartTime);
  const longLived = spec.restartMode === 'LongLivedGracefulRestart';
  const max = longLived ? 0xffffff : 0xfff;
  if (seconds === undefined || seconds <= max) return [];
  const what = longLived ? 'a long-lived stale time' : 'a graceful restart time';
  return [{ path: 'maxRestartTime', reason: `${what} is at most ${max} s` }];
}
