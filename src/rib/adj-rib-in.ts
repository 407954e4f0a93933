// The Adj-RIB-In judged again: import policy run over the paths a peer sent, as stored, when the
// policy changes (a BGPFilter edited, a BGPPeer's filters list changed). Nothing is asked of the peer
// (no ROUTE-REFRESH, RFC 2918): the RIB keeps what the peer sent before policy (a rejected path as
// sent and ineligible, a changed one beside its pre-policy set), so the new policy sees exactly what
// the old one saw. A bounded slice of destinations per event-loop turn; only paths whose verdict
// changes are replaced, and only their destinations are decided again.

import type { Nlri } from '../lib/prefix.ts';
import type { AttrSet, AttrSetTable } from './attr-set.ts';
import { nextHopIsLocal } from './ingress.ts';
import type { IngressPolicy, LocalAddresses } from './ingress.ts';
import type { LocRib } from './loc-rib.ts';
import type { Dest, RibPeer } from './route.ts';
import type { Walker } from './walker.ts';

/**
 * Import as ingress runs it, on one path as the peer sent it: the attributes to keep (`received`
 * itself when unchanged, else a set interned in `table` the caller releases), or undefined when the
 * path is unusable: a loop, our own NEXT_HOP (RFC 4271 §6.3), or rejected by the import filters.
 */
export function importedAttrs(
  peer: RibPeer,
  prefix: Nlri,
  received: AttrSet,
  policy: IngressPolicy,
  local: LocalAddresses,
  table: AttrSetTable,
): AttrSet | undefined {
  if (nextHopIsLocal(received.attributes, local) || !policy.eligible(peer, received)) return undefined;
  return policy.imported ? policy.imported(peer, prefix, received, table) : received;
}

/**
 * Judges every stored path of `peer` again with `policy`, a slice per turn on `walker`, while
 * `current()` holds (the session the paths belong to is still up). Resolves to how many paths changed.
 */
export function reimportPeer(
  rib: LocRib,
  peer: RibPeer,
  policy: IngressPolicy,
  local: LocalAddresses,
  walker: Walker<Dest>,
  current: () => boolean,
): Promise<number> {
  const visit = (dest: Dest): number => {
    if (!current()) return 0;
    let changed = 0;
    for (let i = 0; i < dest.pathCount; i++) {
      const path = dest.pathAt(i);
      if (path.peer !== peer) continue;
      const received = rib.receivedAttrs(path);
      const kept = importedAttrs(peer, dest.nlri(path.pathId), received, policy, local, rib.attrSets);
      const attrs = kept ?? received;
      if (attrs !== path.attrs || (kept !== undefined) !== path.loopFree) {
        rib.reimport(dest, i, attrs, kept !== undefined);
        changed++;
      }
      if (kept && kept !== received) rib.attrSets.release(kept);
    }
    return changed;
  };
  return new Promise((resolve) => walker.add(rib.dests(), visit, resolve));
}
