// From a received UPDATE to Loc-RIB operations (the Adj-RIB-In step of RFC 4271 §9.1): withdrawals,
// RFC 7606 treat-as-withdraw, and announcements with their attributes interned once per UPDATE. Loop
// checks come from an IngressPolicy the daemon plugs in (the reflector's RFC 4456 rules): a loop makes
// a path ineligible, it is not an error.

import { ErrorAction } from '../bgp/errors.ts';
import type { MpReachNlri, UpdateMessage } from '../bgp/types.ts';
import type { Nlri } from '../lib/prefix.ts';
import type { AttrSet, RouteAttributes } from './attr-set.ts';
import type { LocRib } from './loc-rib.ts';
import type { RibPeer } from './route.ts';

export interface IngressPolicy {
  /** False when a path with these attributes from this peer must not be used (a loop). */
  eligible(peer: RibPeer, attrs: AttrSet): boolean;
}

export interface IngressResult {
  announced: number;
  withdrawn: number;
}

function withdrawEach(rib: LocRib, peer: RibPeer, prefixes: readonly Nlri[], result: IngressResult): void {
  for (const p of prefixes) rib.withdraw(peer, p);
  result.withdrawn += prefixes.length;
}

function announceEach(
  rib: LocRib,
  peer: RibPeer,
  prefixes: readonly Nlri[],
  attributes: RouteAttributes,
  policy: IngressPolicy,
  result: IngressResult,
): void {
  if (prefixes.length === 0) return;
  const attrs = rib.attrSets.intern(attributes);
  const eligible = policy.eligible(peer, attrs);
  for (const p of prefixes) rib.announce(peer, p, attrs, eligible);
  rib.attrSets.release(attrs);
  result.announced += prefixes.length;
}

/** IPv6 (and other MP) routes carry their next hop in MP_REACH_NLRI; the RIB keeps it with the attributes. */
function mpAttributes(update: UpdateMessage, mp: MpReachNlri): RouteAttributes {
  return { ...update.attributes, nextHop: mp.nextHop, linkLocalNextHop: mp.linkLocalNextHop };
}

export function applyUpdate(
  rib: LocRib,
  peer: RibPeer,
  update: UpdateMessage,
  policy: IngressPolicy,
): IngressResult {
  const result: IngressResult = { announced: 0, withdrawn: 0 };
  withdrawEach(rib, peer, update.withdrawnRoutes, result);
  if (update.mpUnreach) withdrawEach(rib, peer, update.mpUnreach.withdrawn, result);
  // RFC 7606 §2: treat-as-withdraw (and, until families can be disabled per session, AFI/SAFI disable)
  // withdraws every prefix the UPDATE announces.
  if (update.errorAction !== undefined && update.errorAction >= ErrorAction.TreatAsWithdraw) {
    withdrawEach(rib, peer, update.nlri, result);
    if (update.mpReach) withdrawEach(rib, peer, update.mpReach.nlri, result);
    return result;
  }
  announceEach(rib, peer, update.nlri, update.attributes, policy, result);
  if (update.mpReach)
    announceEach(rib, peer, update.mpReach.nlri, mpAttributes(update, update.mpReach), policy, result);
  return result;
}
