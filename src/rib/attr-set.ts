// Interned path attributes (OpenBGPD rde_attr.c, BIRD rta_lookup): equal attribute sets are one frozen
// object, so a million routes with a handful of distinct sets cost little more than their prefixes,
// "same attributes" is an identity test, and UPDATE packing groups prefixes by reference. Each set
// carries the values the decision process reads, computed once, and caches its wire encodings.
//
// A set lives exactly as long as something refers to it: paths, advertisements, and the exports other
// modules derive from it. When the last reference goes, the table forgets the set and tells its
// dependents (an update group's export cache), which drop what they keep for it: nothing outlives the
// routes that caused it, however many sessions and distinct sets came and went (OpenBGPD frees an
// attribute set with its last prefix the same way, rde_attr.c path_put).

import { AsPathSegmentType } from '../bgp/constants.ts';
import type { PathAttributes } from '../bgp/types.ts';
import type { NextHopState } from './nexthop.ts';

/** A route's attributes as the RIB holds them: the wire attributes plus the next hop of any family. */
export interface RouteAttributes extends PathAttributes {
  /** RFC 2545 §3: the IPv6 link-local next hop, when the peer sent one. */
  readonly linkLocalNextHop?: string;
}

/** RFC 4271 §5.1.5: LOCAL_PREF assumed when a route carries none. */
export const DEFAULT_LOCAL_PREF = 100;

/** Keeps something derived from attribute sets; told when a set it registered with is forgotten. */
export interface AttrSetDependent {
  forgotten(set: AttrSet): void;
}

export class AttrSet {
  /** Routes (and staged announcements) pointing at this set; 0 means it can be forgotten. */
  refs = 0;
  /** Who keeps state for this set (see AttrSetDependent); usually none or one. */
  dependents: AttrSetDependent[] | undefined;
  /** AS_PATH length for §9.1.2.2 (a): AS_SET counts 1, confederation segments 0 (RFC 5065 §5.3). */
  readonly asPathLength: number;
  /** The leftmost AS of the AS_PATH (§9.1.2.2 c), or 0 for a path originated within the AS. */
  readonly neighborAs: number;
  readonly localPref: number;
  /** Missing MED is treated as 0, the best value (RFC 4271 §9.1.2.2 c). */
  readonly med: number;
  /** Wire encodings per session context key (see encodedFor in rib/adj-rib-out). */
  readonly encodings = new Map<string, unknown>();
  /** The NEXT_HOP's resolution, valid while nextHopGeneration matches the RIB's (see loc-rib). */
  nextHopState: NextHopState | undefined;
  nextHopGeneration = -1;

  constructor(
    readonly id: number,
    readonly key: string,
    readonly attributes: Readonly<RouteAttributes>,
  ) {
    this.asPathLength = pathLength(attributes);
    this.neighborAs = leftmostAs(attributes);
    this.localPref = attributes.localPref ?? DEFAULT_LOCAL_PREF;
    this.med = attributes.multiExitDisc ?? 0;
  }

  hasCommunity(community: number): boolean {
    return this.attributes.communities?.includes(community) ?? false;
  }

  /** AS_PATH loop detection (RFC 4271 §9.1.2): does the path contain `asn`? */
  containsAs(asn: number): boolean {
    return this.attributes.asPath?.some((s) => s.asns.includes(asn)) ?? false;
  }
}

function pathLength(a: PathAttributes): number {
  let length = 0;
  for (const s of a.asPath ?? []) {
    if (s.type === AsPathSegmentType.AsSequence) length += s.asns.length;
    else if (s.type === AsPathSegmentType.AsSet) length += 1;
  }
  return length;
}

function leftmostAs(a: PathAttributes): number {
  for (const s of a.asPath ?? []) {
    if (s.type === AsPathSegmentType.AsConfedSequence || s.type === AsPathSegmentType.AsConfedSet) continue;
    return s.type === AsPathSegmentType.AsSequence ? s.asns[0] : 0;
  }
  return 0;
}

/** A canonical text for equality: every field in a fixed order, so equal sets have equal keys. */
export function attributesKey(a: RouteAttributes): string {
  const path = a.asPath?.map((s) => `${s.type}:${s.asns.join(',')}`).join(';');
  const aggregator = a.aggregator ? `${a.aggregator.asn}@${a.aggregator.address}` : '';
  const large = a.largeCommunities
    ?.map((c) => `${c.globalAdministrator}:${c.localData1}:${c.localData2}`)
    .join(',');
  const unknown = a.unknown
    ?.map((u) => `${u.flags}/${u.typeCode}/${Buffer.from(u.value).toString('hex')}`)
    .join(',');
  return [
    a.origin,
    path,
    a.nextHop,
    a.linkLocalNextHop,
    a.multiExitDisc,
    a.localPref,
    a.atomicAggregate ? 1 : '',
    aggregator,
    a.communities?.join(','),
    a.originatorId,
    a.clusterList?.join(','),
    a.extendedCommunities?.join(','),
    large,
    unknown,
  ]
    .map((v) => v ?? '')
    .join('|');
}

function freeze(a: RouteAttributes): Readonly<RouteAttributes> {
  for (const value of Object.values(a)) if (typeof value === 'object' && value !== null) Object.freeze(value);
  return Object.freeze({ ...a });
}

/** The table of interned attribute sets of one RIB. */
export class AttrSetTable {
  private readonly sets = new Map<string, AttrSet>();
  private nextId = 1;

  get size(): number {
    return this.sets.size;
  }

  /** The interned set equal to `attributes` (created on first use). The caller takes a reference. */
  intern(attributes: RouteAttributes): AttrSet {
    const key = attributesKey(attributes);
    let set = this.sets.get(key);
    if (!set) {
      set = new AttrSet(this.nextId++, key, freeze(attributes));
      this.sets.set(key, set);
    }
    set.refs++;
    return set;
  }

  /** Adds a reference to a set already interned. */
  retain(set: AttrSet): AttrSet {
    set.refs++;
    return set;
  }

  /** Drops a reference; the set is forgotten when none remain, and its dependents are told. */
  release(set: AttrSet): void {
    if (--set.refs > 0) return;
    // A set can be released twice to zero only through a bug upstream; forget it once.
    if (this.sets.get(set.key) !== set) return;
    this.sets.delete(set.key);
    const dependents = set.dependents;
    set.dependents = undefined;
    if (dependents) for (const dependent of dependents) dependent.forgotten(set);
  }

  /** `dependent` keeps state for `set` until the set is forgotten or it calls undepend(). */
  depend(set: AttrSet, dependent: AttrSetDependent): void {
    if (!set.dependents) set.dependents = [dependent];
    else if (!set.dependents.includes(dependent)) set.dependents.push(dependent);
  }

  undepend(set: AttrSet, dependent: AttrSetDependent): void {
    const list = set.dependents;
    const at = list?.indexOf(dependent) ?? -1;
    if (!list || at < 0) return;
    if (list.length === 1) set.dependents = undefined;
    else list.splice(at, 1);
  }
}
