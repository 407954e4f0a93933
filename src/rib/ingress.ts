// From a received UPDATE to Loc-RIB operations (the Adj-RIB-In step of RFC 4271 §9.1): withdrawals,
// RFC 7606 treat-as-withdraw, and announcements with their attributes interned once per UPDATE. Loop
// checks come from an IngressPolicy the daemon plugs in (the reflector's RFC 4456 rules): a loop makes
// a path ineligible, it is not an error. So does a NEXT_HOP that is one of our own addresses (RFC 4271
// §6.3). NLRI of a family the session did not negotiate is ignored (RFC 4760 §7 allows treating it as an
// error; RFC 7606 §7.3 prefers not resetting the session).

import { ErrorAction } from '../bgp/errors.ts';
import type { MpReachNlri, UpdateMessage } from '../bgp/types.ts';
import { endOfRibFamily } from '../bgp/codec/update.ts';
import { familyKey, IPV4_UNICAST } from '../lib/family.ts';
import type { Family } from '../lib/family.ts';
import type { Nlri } from '../lib/prefix.ts';
import type { AttrSet, AttrSetTable, RouteAttributes } from './attr-set.ts';
import type { LocRib } from './loc-rib.ts';
import type { RibPeer } from './route.ts';

export interface IngressPolicy {
  /** False when a path with these attributes from this peer must not be used (a loop). */
  eligible(peer: RibPeer, attrs: AttrSet): boolean;
  /**
   * Import policy for one prefix of an eligible path: the attributes to keep (`attrs` itself when
   * unchanged, else a set interned in `table` that the caller releases), or undefined to reject. A
   * rejected path is kept as the peer sent it, ineligible like a loop, so a policy change can
   * re-evaluate it without asking the peer again.
   */
  imported?(peer: RibPeer, prefix: Nlri, attrs: AttrSet, table: AttrSetTable): AttrSet | undefined;
}

/**
 * RFC 4271 §6.3: a NEXT_HOP is semantically incorrect when it is "the IP address of the receiving
 * speaker". These are the session's own addresses (the session supplies them); told how many prefixes
 * carried one, so it can log the error once per session rather than per route.
 */
export interface LocalAddresses {
  has(address: string): boolean;
  nextHopIsLocal(prefixes: number): void;
}

const NO_LOCAL_ADDRESSES: LocalAddresses = { has: () => false, nextHopIsLocal: () => undefined };

export interface IngressResult {
  announced: number;
  withdrawn: number;
  /** Prefixes (announced or withdrawn) of a family not negotiated on the session, not applied. */
  ignored: number;
  /** RFC 4724 §2: the UPDATE is the End-of-RIB marker of this family. */
  endOfRib?: Family;
}

function withdrawEach(rib: LocRib, peer: RibPeer, prefixes: readonly Nlri[], result: IngressResult): void {
  for (const p of prefixes) rib.withdraw(peer, p);
  result.withdrawn += prefixes.length;
}

/**
 * RFC 4271 §6.3: "the route SHOULD be ignored", the session stays up and no NOTIFICATION is sent. The
 * path is kept ineligible, like a loop: it replaces what the peer sent before for the prefix (implicit
 * withdraw), never becomes best and is never reflected, and `show` still lists it.
 */
export function nextHopIsLocal(attributes: RouteAttributes, local: LocalAddresses): boolean {
  const { nextHop, linkLocalNextHop } = attributes;
  return (
    (nextHop !== undefined && local.has(nextHop)) ||
    (linkLocalNextHop !== undefined && local.has(linkLocalNextHop))
  );
}

function announceEach(
  rib: LocRib,
  peer: RibPeer,
  prefixes: readonly Nlri[],
  attributes: RouteAttributes,
  policy: IngressPolicy,
  local: LocalAddresses,
  result: IngressResult,
): void {
  if (prefixes.length === 0) return;
  const attrs = rib.attrSets.intern(attributes);
  const ownNextHop = nextHopIsLocal(attributes, local);
  if (ownNextHop) local.nextHopIsLocal(prefixes.length);
  const eligible = !ownNextHop && policy.eligible(peer, attrs);
  if (eligible && policy.imported) importEach(rib, peer, prefixes, attrs, policy);
  else for (const p of prefixes) rib.announce(peer, p, attrs, eligible);
  rib.attrSets.release(attrs);
  result.announced += prefixes.length;
}

function importEach(
  rib: LocRib,
  peer: RibPeer,
  prefixes: readonly Nlri[],
  attrs: AttrSet,
  policy: IngressPolicy,
) {
  for (const p of prefixes) {
    const kept = policy.imported!(peer, p, attrs, rib.attrSets);
    const changed = kept !== attrs ? kept : undefined;
    // The Adj-RIB-In keeps what the peer sent beside what policy made of it (a policy change judges it again).
    rib.announce(peer, p, kept ?? attrs, kept !== undefined, changed && attrs);
    if (changed) rib.attrSets.release(changed);
  }
}

/** IPv6 (and other MP) routes carry their next hop in MP_REACH_NLRI; the RIB keeps it with the attributes. */
function mpAttributes(update: UpdateMessage, mp: MpReachNlri): RouteAttributes {
  return { ...update.attributes, nextHop: mp.nextHop, linkLocalNextHop: mp.linkLocalNextHop };
}

/**
 * The parts of an UPDATE of negotiated families: the Withdrawn Routes and NLRI fields are IPv4 unicast
 * (RFC 4760 §1), MP_REACH_NLRI and MP_UNREACH_NLRI name theirs. The rest is counted in `result.ignored`.
 */
function negotiatedParts(update: UpdateMessage, families: ReadonlySet<number>, result: IngressResult) {
  const ipv4 = families.has(IPV4_UNICAST);
  const { mpReach, mpUnreach } = update;
  const reach = mpReach && families.has(familyKey(mpReach.afi, mpReach.safi)) ? mpReach : undefined;
  const unreach = mpUnreach && families.has(familyKey(mpUnreach.afi, mpUnreach.safi)) ? mpUnreach : undefined;
  if (!ipv4) result.ignored += update.withdrawnRoutes.length + update.nlri.length;
  if (mpReach && !reach) result.ignored += mpReach.nlri.length;
  if (mpUnreach && !unreach) result.ignored += mpUnreach.withdrawn.length;
  return {
    withdrawnRoutes: ipv4 ? update.withdrawnRoutes : [],
    nlri: ipv4 ? update.nlri : [],
    mpReach: reach,
    mpUnreach: unreach,
  };
}

/**
 * Applies one UPDATE from `peer`; `families` are those negotiated on its session (familyKey()), `local`
 * our own addresses on it.
 */
export function applyUpdate(
  rib: LocRib,
  peer: RibPeer,
  update: UpdateMessage,
  policy: IngressPolicy,
  families: ReadonlySet<number>,
  local: LocalAddresses = NO_LOCAL_ADDRESSES,
): IngressResult {
  const result: IngressResult = { announced: 0, withdrawn: 0, ignored: 0 };
  const endOfRib = endOfRibFamily(update);
  if (endOfRib) result.endOfRib = endOfRib;
  const { withdrawnRoutes, nlri, mpReach, mpUnreach } = negotiatedParts(update, families, result);
  withdrawEach(rib, peer, withdrawnRoutes, result);
  if (mpUnreach) withdrawEach(rib, peer, mpUnreach.withdrawn, result);
  // RFC 7606 §2: treat-as-withdraw withdraws every prefix the UPDATE announces (AFI/SAFI disable never
  // arrives: the codec answers it with a session reset).
  if (update.errorAction !== undefined && update.errorAction >= ErrorAction.TreatAsWithdraw) {
    withdrawEach(rib, peer, nlri, result);
    if (mpReach) withdrawEach(rib, peer, mpReach.nlri, result);
    return result;
  }
  announceEach(rib, peer, nlri, update.attributes, policy, local, result);
  if (mpReach) announceEach(rib, peer, mpReach.nlri, mpAttributes(update, mpReach), policy, local, result);
  return result;
}
