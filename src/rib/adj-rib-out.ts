// The Adj-RIB-Out (RFC 4271 §3.2), per update group: peers that would be sent the same UPDATEs share
// one group, so each UPDATE is built once and its bytes written to every member.
//
// - Staging coalesces: a changed destination is staged, and its export is computed only when the group
//   drains, so a prefix that flapped ten times is sent once, in its latest state; re-staging what was
//   already sent sends nothing.
// - Draining is bounded per event-loop turn and paced by the members' sockets: a group drains while
//   its members accept writes, and a member whose socket backs up is split into a group of its own
//   rather than holding the others back.
// - A new member starts in a group of its own with a walker over the Loc-RIB (the initial dump),
//   then End-of-RIB; once its group is idle it merges with an idle group of the same key.
// - Split horizon: a route is not sent back to the member it was learned from. RFC 4456 §6 would allow
//   reflecting a client's route to the client itself (it drops it by ORIGINATOR_ID, §8), but that is a
//   copy of its whole table sent for nothing; BIRD, GoBGP and OpenBGPD, which keep an Adj-RIB-Out per
//   peer, never send it, and FRR's update groups skip it only in a subgroup of one peer. Here the
//   group records with each advertisement the peer it came from, so what a member holds is "what the
//   group advertised, but for routes from the member itself"; each drain turn packs its UPDATEs once
//   per audience (everyone, everyone but the member a route came from, or that member alone when a
//   route moves to or from it) into one buffer, withdrawals first, and each member is written the
//   parts it is due.
// - Families: a member is sent only routes, withdrawals and End-of-RIB of the families its session
//   negotiated (RFC 4760 §6, RFC 4271 §9.2). The families are part of the group key, so every member
//   of a group has the same ones and the group exports nothing else. After our own restart a session
//   may be sent one family before the others (RFC 4724 §4.1); widen() adds the others later, sending
//   only them and their End-of-RIB.

import { RouteRefreshSubtype } from '../bgp/constants.ts';
import { encodeEndOfRib } from '../bgp/codec/update.ts';
import { encodeAttributeSet, UpdatePacker } from '../bgp/codec/update-packer.ts';
import type { EncodedAttributeSet } from '../bgp/codec/update-packer.ts';
import type { CodecContext } from '../bgp/types.ts';
import { Afi, familyKey, familyName, Safi } from '../lib/family.ts';
import type { Nlri } from '../lib/prefix.ts';
import type { Logger } from '../lib/log.ts';
import type { AttrSet, AttrSetDependent, AttrSetTable } from './attr-set.ts';
import type { ExportPolicy, ExportTarget, ExportVerdict } from './export.ts';
import { exportTargetKey } from './export.ts';
import type { DecidedBatch, LocRib } from './loc-rib.ts';
import { Walker } from './walker.ts';
import type { Dest, Path, RibPeer } from './route.ts';

/** RFC 7911 §3 ADD-PATH send: the best path only, every eligible path, or the multipath set. */
export type AddPathSendMode = 'best' | 'all' | 'ecmp';

/** One session as the Adj-RIB-Out sees it. */
export interface GroupMember {
  readonly name: string;
  /** Families negotiated on the session (familyKey()). */
  readonly families: ReadonlySet<number>;
  readonly context: CodecContext;
  /** Writes packed UPDATEs; false when the socket's buffer is full. */
  send(bytes: Buffer, messages: number): boolean;
  /** Octets queued on the socket and not yet written. */
  readonly bufferedBytes: number;
  /** Sends a ROUTE-REFRESH message: RFC 7313 BoRR and EoRR around a re-advertisement. */
  sendRouteRefresh(afi: number, safi: number, subtype: RouteRefreshSubtype): void;
  /**
   * The peer as the RIB files the paths learned on this session: they are not advertised back to it
   * (split horizon, see above). Without it the member is sent every route, its own included.
   */
  readonly ribPeer?: RibPeer;
}

/** How far behind one member is (see AdjRibOut.memberBacklogs). */
export interface MemberBacklog {
  /** Destinations staged for the member's update group and not yet exported. */
  readonly staged: number;
  /** Octets written to its socket and not yet taken by the peer. */
  readonly queuedBytes: number;
}

/** A re-advertisement asked for by the member (RFC 2918 / RFC 7313). */
interface RefreshRequest {
  readonly afi: number;
  readonly safi: number;
  /** Enhanced Route Refresh negotiated: BoRR before, EoRR after. */
  readonly enhanced: boolean;
}

export interface AdjRibOutOptions {
  /** Above this many queued octets a member of a shared group is split off; a group waits while a member is above it. */
  readonly memberBacklogLimit: number;
  /** Destinations the groups export per event-loop turn, all groups together (see drainTurn). */
  readonly destsPerTurn: number;
}

/**
 * Within a drain, the UPDATEs are written every this many destinations exported: the first reach the
 * sockets while the rest is exported, so the receivers read while the reflector works. Destinations
 * are exported in the order they were staged, so a withdrawal staged before a re-announcement (of a
 * new Dest for the same prefix, rib/loc-rib.ts) is still written first.
 */
const WRITE_EVERY = 4_096;

const DEFAULT_ADJ_RIB_OUT_OPTIONS: AdjRibOutOptions = {
  memberBacklogLimit: 4 * 1024 * 1024,
  destsPerTurn: 10_000,
};
/**
 * Path Identifier of the single best path on ADD-PATH sessions in 'best' mode: 0 (any value is valid,
 * RFC 7911 §3), so the Dest itself serves as the NLRI with no object per prefix.
 */
const BEST_PATH_ID = 0;
/** Staged destinations a group may collect before it first drops duplicates. */
const COMPACT_MIN = 10_000;

/**
 * A path as one group exports it: the interned attributes sent, and the peer the path was learned
 * from (for split horizon). One per source attribute set and source peer, from the export cache.
 */
class Exported {
  constructor(
    readonly attrs: AttrSet,
    readonly source: RibPeer,
  ) {}
}

/** Equal exports: the same attributes from the same peer (a cleared cache makes new objects). */
function sameExport(a: Exported | undefined, b: Exported | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.attrs === b.attrs && a.source === b.source);
}

type ExportsByPeer = Map<RibPeer, Exported | null>;
/** Per prefix verdict of the export policy (rib/export.ts): the source peer's exports. */
type ExportsByVerdict = Map<ExportVerdict, ExportsByPeer>;

/** ExportCache's last hit: the key get() was asked and what it found. */
interface LastExport {
  afi: number;
  source: AttrSet | undefined;
  verdict: ExportVerdict | undefined;
  peer: RibPeer | undefined;
  exported: Exported | null;
}

/**
 * One group's exports per source attribute set, prefix verdict and source peer, so export runs once
 * per set; one map per family, since the next hop a policy sets may depend on it. An entry lives
 * exactly as long as its source set: the cache registers with the set and drops the entry (and its
 * references on the exported sets) when the set is forgotten. So a group keeps what the routes in the
 * table use now, never what long-withdrawn routes once did (no trimming at a size: the size is the
 * table's).
 */
class ExportCache implements AttrSetDependent {
  private families = [new Map<AttrSet, ExportsByVerdict>(), new Map<AttrSet, ExportsByVerdict>()];
  /** The last entry get() found; `source` undefined when there is none (any change forgets it). */
  private readonly last: LastExport = {
    afi: 0,
    source: undefined,
    verdict: undefined,
    peer: undefined,
    exported: null,
  };

  constructor(private readonly attrSets: AttrSetTable) {}

  /** Source sets with an entry, over both families. */
  get size(): number {
    return this.families[0].size + this.families[1].size;
  }

  /** The cached export: null when the path is not exported, undefined when not cached. */
  get(afi: number, source: AttrSet, verdict: ExportVerdict, peer: RibPeer): Exported | null | undefined {
    // Consecutive destinations mostly share all four (one UPDATE's prefixes): the last hit answers.
    const last = this.last;
    if (last.source === source && last.verdict === verdict && last.peer === peer && last.afi === afi)
      return last.exported;
    const exported = this.families[familyIndex(afi)].get(source)?.get(verdict)?.get(peer);
    if (exported === undefined) return undefined;
    last.afi = afi;
    last.source = source;
    last.verdict = verdict;
    last.peer = peer;
    last.exported = exported;
    return exported;
  }

  /** Caches an export; it holds a reference on the exported set unless that is the source itself. */
  set(afi: number, source: AttrSet, verdict: ExportVerdict, peer: RibPeer, exported: Exported | null): void {
    this.last.source = undefined;
    const cache = this.families[familyIndex(afi)];
    let byVerdict = cache.get(source);
    if (!byVerdict) {
      byVerdict = new Map();
      cache.set(source, byVerdict);
      this.attrSets.depend(source, this);
    }
    let byPeer = byVerdict.get(verdict);
    if (!byPeer) byVerdict.set(verdict, (byPeer = new Map<RibPeer, Exported | null>()));
    byPeer.set(peer, exported);
  }

  forgotten(source: AttrSet): void {
    this.last.source = undefined;
    for (const cache of this.families) {
      const byVerdict = cache.get(source);
      if (!byVerdict) continue;
      cache.delete(source);
      this.releaseEntries(source, byVerdict);
    }
  }

  /** Forgets every entry (the group is dropped, or the policy changed). */
  clear(): void {
    this.last.source = undefined;
    const old = this.families;
    this.families = [new Map<AttrSet, ExportsByVerdict>(), new Map<AttrSet, ExportsByVerdict>()];
    for (const cache of old) {
      for (const [source, byVerdict] of cache) {
        this.attrSets.undepend(source, this);
        this.releaseEntries(source, byVerdict);
      }
    }
  }

  private releaseEntries(source: AttrSet, byVerdict: ExportsByVerdict): void {
    for (const byPeer of byVerdict.values())
      for (const exported of byPeer.values())
        if (exported && exported.attrs !== source) this.attrSets.release(exported.attrs);
  }
}

const familyIndex = (afi: number): number => (afi === Afi.Ipv4 ? 0 : 1);

/** What an advertisement carries, if there is one. */
function attrsOf(exported: Exported | undefined): AttrSet | undefined {
  return exported === undefined ? undefined : exported.attrs;
}

/** The member an exported path came from, if it came from a member of the group. */
function memberOf(group: UpdateGroup, exported: Exported | undefined): GroupMember | undefined {
  return exported === undefined ? undefined : group.memberFor(exported.source);
}

/**
 * What one group has advertised for a destination (kept on the Dest, see route.ts): its one path
 * (single-path families, the common case), or path id → path (ADD-PATH 'all'/'ecmp').
 */
type GroupAdvertised = Exported | Map<number, Exported>;

function exportsOf(advertised: GroupAdvertised): Iterable<Exported> {
  return advertised instanceof Map ? advertised.values() : [advertised];
}

/**
 * How many paths a group's slot holds, per family (IPv4, IPv6) and per source peer: a member is sent
 * all of them but its own routes (split horizon), so its count is the total less its source's.
 */
class SlotCount {
  readonly total = [0, 0];
  readonly bySource = new Map<RibPeer, number[]>();

  /**
   * One path of family `afi` replaced another in the slot: `from` the source of the one that left,
   * `to` of the one that came (undefined for none). Both through one call site of add(), so a
   * withdrawal, which a first table never made, finds the code V8 compiled for announcements.
   */
  move(afi: number, from: RibPeer | undefined, to: RibPeer | undefined): void {
    this.add(afi, from, -1);
    this.add(afi, to, 1);
  }

  private add(afi: number, source: RibPeer | undefined, n: number): void {
    if (source === undefined) return;
    const i = afi === Afi.Ipv4 ? 0 : 1;
    this.total[i] += n;
    let counts = this.bySource.get(source);
    if (!counts) this.bySource.set(source, (counts = [0, 0]));
    counts[i] += n;
    if ((counts[0] | counts[1]) === 0) this.bySource.delete(source);
  }

  /** What `member` holds of family index `i`. */
  of(member: GroupMember, i: number): number {
    const own = member.ribPeer ? (this.bySource.get(member.ribPeer)?.[i] ?? 0) : 0;
    return this.total[i] - own;
  }
}

/** Stands for the withdrawals where FamilyBatch compares attribute sets: always an object. */
const WITHDRAWN: object = Object.freeze({});

/** What one drain turn sends for one family. */
class FamilyBatch {
  readonly announce = new Map<AttrSet, Nlri[]>();
  readonly withdraw: Nlri[] = [];
  /** The attribute set of the last add(), or WITHDRAWN, and its list. */
  private lastKey: object = WITHDRAWN;
  private lastList: Nlri[] = this.withdraw;

  /**
   * Withdraws `nlri` (attrs undefined) or announces it, grouped by attribute set; consecutive prefixes
   * usually share one, so skip the lookup. One comparison of objects and one push for both, so the
   * first withdrawal runs code the first table's announcements compiled.
   */
  add(attrs: AttrSet | undefined, nlri: Nlri): void {
    const key = attrs ?? WITHDRAWN;
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.lastList = attrs === undefined ? this.withdraw : this.listOf(attrs);
    }
    this.lastList.push(nlri);
  }

  private listOf(attrs: AttrSet): Nlri[] {
    let list = this.announce.get(attrs);
    if (!list) {
      list = [];
      this.announce.set(attrs, list);
    }
    return list;
  }
}

/** What one drain turn sends to one audience. */
class Batch {
  readonly ipv4 = new FamilyBatch();
  readonly ipv6 = new FamilyBatch();

  /** Announces `nlri` with `attrs`, or withdraws it when `attrs` is undefined. */
  add(afi: number, nlri: Nlri, attrs: AttrSet | undefined): void {
    (afi === Afi.Ipv4 ? this.ipv4 : this.ipv6).add(attrs, nlri);
  }
}

/** Who a batch is for: every member, every member but one, or one member alone. */
interface Audience {
  readonly allBut?: GroupMember;
  readonly only?: GroupMember;
}

const EVERYONE: Audience = {};

function includes(audience: Audience, member: GroupMember): boolean {
  return audience.allBut !== member && (audience.only === undefined || audience.only === member);
}

/** One drain turn's changes by audience (see split horizon above). */
class Outbox {
  readonly batches = new Map<Audience, Batch>([[EVERYONE, new Batch()]]);
  /** Routes learned from the key member: for every member but it. */
  private readonly allBut = new Map<GroupMember, Batch>();
  /** For the key member alone. */
  private readonly only = new Map<GroupMember, Batch>();

  allBesides(member: GroupMember | undefined): Batch {
    if (!member) return this.batches.get(EVERYONE) as Batch;
    return this.batchOf(this.allBut, member, { allBut: member });
  }

  onlyTo(member: GroupMember): Batch {
    return this.batchOf(this.only, member, { only: member });
  }

  private batchOf(byMember: Map<GroupMember, Batch>, member: GroupMember, audience: Audience): Batch {
    let batch = byMember.get(member);
    if (!batch) {
      batch = new Batch();
      byMember.set(member, batch);
      this.batches.set(audience, batch);
    }
    return batch;
  }
}

/** A run of whole UPDATE messages in the buffer a drain turn packs, and who it is for. */
interface Part {
  readonly audience: Audience;
  readonly start: number;
  readonly end: number;
  readonly messages: number;
}

class UpdateGroup {
  private readonly memberSet = new Set<GroupMember>();
  /** Members by the RIB peer their session feeds (split horizon). */
  private readonly bySource = new Map<RibPeer, GroupMember>();
  /**
   * Destinations staged since the last drain, in order, from `cursor` on. A destination may appear
   * twice: export at drain time is idempotent, which is cheaper than keeping a set.
   */
  pending: Dest[] = [];
  cursor = 0;
  /** `pending` is a decision batch's own list (see stageAll): read, never written. */
  private borrowed = false;
  /** Held back by a member whose socket is full (see ready()). */
  waiting = false;
  /**
   * Split-off copies of this group's Adj-RIB-Out still being made (see AdjRibOut.split): this group
   * and the copy hold their drains until it is done, so the copy is of one moment.
   */
  copies = 0;
  /** See compactIfLarge(). */
  private compactAbove = COMPACT_MIN;
  walker: Iterator<Dest> | undefined;
  scheduled = false;
  /** Members still waiting for their End-of-RIB after the initial dump. */
  readonly awaitingEndOfRib = new Set<GroupMember>();
  /** Members whose dump answers a ROUTE-REFRESH rather than a new session. */
  readonly refreshing = new Map<GroupMember, RefreshRequest>();
  /** Shared by every group of the same key (see AdjRibOut.exportCaches). */
  exportCache: ExportCache;

  constructor(
    readonly id: number,
    /** Where this group's Adj-RIB-Out lives on each Dest (Dest.adv for 0, Dest.advMore for the rest). */
    readonly slot: number,
    /** Both change only when the group's one member is re-targeted (AdjRibOut.retarget). */
    public key: string,
    public target: ExportTarget,
    readonly context: CodecContext,
    readonly mode: AddPathSendMode,
    /** The families (familyKey()) every member negotiated: the only ones the group exports. */
    readonly families: ReadonlySet<number>,
    exportCache: ExportCache,
  ) {
    this.exportCache = exportCache;
  }

  /** The group sends routes of this destination's family. */
  carries(dest: Dest): boolean {
    return this.families.has(familyKey(dest.afi, Safi.Unicast));
  }

  get members(): ReadonlySet<GroupMember> {
    return this.memberSet;
  }

  join(member: GroupMember): void {
    this.memberSet.add(member);
    if (member.ribPeer) this.bySource.set(member.ribPeer, member);
  }

  leave(member: GroupMember): void {
    this.memberSet.delete(member);
    if (member.ribPeer && this.bySource.get(member.ribPeer) === member) this.bySource.delete(member.ribPeer);
  }

  /** The member whose session `peer`'s paths were learned on, if it is in this group. */
  memberFor(peer: RibPeer): GroupMember | undefined {
    return this.bySource.size === 0 ? undefined : this.bySource.get(peer);
  }

  get staged(): number {
    return this.pending.length - this.cursor;
  }

  get idle(): boolean {
    return !this.walker && this.staged === 0 && this.copies === 0;
  }

  stage(dest: Dest): void {
    if (this.borrowed) this.own();
    this.pending.push(dest);
  }

  /**
   * Stages a decision batch. With nothing else staged, `pending` becomes the batch's own list instead
   * of a copy: the drain in the same turn usually takes all of it, and a copy of a 20,000-destination
   * batch is a large object, which V8 promotes at the first scavenge it meets alive, to lie dead in
   * old space until the next full collection. A destination of a family the group does not carry is
   * skipped at export (AdjRibOut.exportDest).
   */
  stageAll(dests: readonly Dest[]): void {
    if (this.staged > 0) {
      for (const dest of dests) if (this.carries(dest)) this.stage(dest);
      return;
    }
    this.pending = dests as Dest[];
    this.cursor = 0;
    this.borrowed = true;
  }

  /** `pending` is about to change: a borrowed batch list is copied first (never written). */
  private own(): void {
    this.pending = this.remaining();
    this.cursor = 0;
    this.borrowed = false;
  }

  /** The staged destinations not yet exported (for a split-off copy). */
  remaining(): Dest[] {
    return this.pending.slice(this.cursor);
  }

  /**
   * A group waiting for its one member's socket keeps collecting changes, maybe of the same
   * destinations over and over: once it holds more than `compactAbove`, duplicates are dropped. The
   * bound doubles with what each compaction leaves, so the work stays linear in what is staged. A
   * group that drains is left alone: its duplicates are destinations that changed again before the
   * drain reached them, and compacting a full-table withdrawal (no duplicates, as long as the table)
   * turn after turn was most of what that withdrawal cost.
   */
  compactIfLarge(): void {
    if (!this.waiting || this.staged <= this.compactAbove) return;
    this.pending = [...new Set(this.remaining())];
    this.cursor = 0;
    this.borrowed = false;
    this.compactAbove = 2 * this.pending.length + COMPACT_MIN;
  }

  /** Everything staged was exported. */
  drained(): void {
    this.pending = [];
    this.cursor = 0;
    this.borrowed = false;
    this.compactAbove = COMPACT_MIN;
  }
}

/** The first `items.length` elements, counted when the iteration starts: what is pushed later is not met. */
function* upTo<T>(items: readonly T[]): IterableIterator<T> {
  const n = items.length;
  for (let i = 0; i < n; i++) yield items[i];
}

/** Peers with equal keys are sent the same UPDATEs and may share a group. */
function groupKey(
  target: ExportTarget,
  context: CodecContext,
  mode: AddPathSendMode,
  families: ReadonlySet<number>,
): string {
  return `${exportTargetKey(target)}|${[...context.addPath].sort().join(',')}|${context.fourOctetAs}|${context.maxMessageLength}|${mode}|${[...families].sort().join(',')}`;
}

function advertisedIn(dest: Dest, slot: number): GroupAdvertised | undefined {
  return (slot === 0 ? dest.adv : dest.advMore?.[slot - 1]) as GroupAdvertised | undefined;
}

function setAdvertised(dest: Dest, slot: number, value: GroupAdvertised | undefined): void {
  if (slot === 0) {
    dest.adv = value;
    return;
  }
  const more = dest.advMore;
  if (!more) {
    if (value === undefined) return;
    // Exact size: an array grown by assignment would reserve far more slots than groups exist.
    const fresh = new Array<GroupAdvertised | undefined>(slot).fill(undefined);
    fresh[slot - 1] = value;
    dest.advMore = fresh;
    return;
  }
  if (slot > more.length) more.length = slot;
  more[slot - 1] = value;
  if (value === undefined && more.every((v) => v === undefined)) dest.advMore = undefined;
}

export class AdjRibOut {
  private readonly groups = new Set<UpdateGroup>();
  private readonly groupOf = new Map<GroupMember, UpdateGroup>();
  private nextGroupId = 1;
  /** Update group slots in use on the Dests (see UpdateGroup.slot). */
  private readonly slotsInUse: boolean[] = [];
  private mergeScheduled = false;
  /** Dropping and splitting groups walk the Loc-RIB: a bounded number of destinations per turn. */
  private readonly walker: Walker<Dest>;
  /** Slots of dropped groups whose walk has not finished (see clearDropped). */
  private readonly droppedSlots: number[] = [];
  /** Members widened after their End-of-RIB (see widen()): the families still owed one. */
  private readonly endOfRibOwed = new WeakMap<GroupMember, readonly number[]>();
  /** UPDATE messages built (once per group, however many members). */
  messagesBuilt = 0;
  /** Per slot: the paths its group advertises (see SlotCount). */
  private readonly slotCounts: SlotCount[] = [];
  /** Exported sets referenced for one drain turn (see exported()). */
  private readonly turnExports: AttrSet[] = [];
  /** One packer for every group's writes: its scratch buffer is kept from turn to turn. */
  private packer: UpdatePacker | undefined;
  /** Groups waiting for their drain, in the order they asked (see drainTurn). */
  private readonly drainQueue: UpdateGroup[] = [];
  private drainTurnScheduled = false;
  /**
   * One export cache per group key, shared by the groups of that key: they export alike. Every new
   * session starts in a group of its own (its initial dump) until it merges, so a burst of sessions
   * with a cache each held one entry per source set per session, and dropped them all in one turn
   * when the groups merged.
   */
  private readonly exportCaches = new Map<string, { readonly cache: ExportCache; groups: number }>();

  constructor(
    private readonly rib: LocRib,
    private readonly policy: ExportPolicy,
    private readonly log: Logger,
    private readonly options: AdjRibOutOptions = DEFAULT_ADJ_RIB_OUT_OPTIONS,
  ) {
    this.walker = new Walker<Dest>(options.destsPerTurn);
    rib.decided$.subscribe((batch) => this.stage(batch));
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /** Destinations staged in all groups and not yet exported: the backlog. */
  get backlog(): number {
    let n = 0;
    for (const g of this.groups) n += g.staged;
    return n;
  }

  /**
   * Destinations staged in the group that drains with the most of them: how far export is behind
   * (rib/ingress-backlog.ts holds reading above a bound). Groups waiting for a member that does not
   * read are left out: their staging coalesces, bounded by the table.
   */
  get drainingBacklog(): number {
    let most = 0;
    for (const g of this.groups) if (!g.waiting && g.staged > most) most = g.staged;
    return most;
  }

  /** Per member name: destinations staged for its group and not yet sent, and octets on its socket. */
  memberBacklogs(): Map<string, MemberBacklog> {
    const backlogs = new Map<string, MemberBacklog>();
    for (const [member, group] of this.groupOf)
      backlogs.set(member.name, { staged: group.staged, queuedBytes: member.bufferedBytes });
    return backlogs;
  }

  /** Source attribute sets the groups' export caches hold entries for (both families, all groups). */
  get exportCacheSize(): number {
    let n = 0;
    for (const { cache } of this.exportCaches.values()) n += cache.size;
    return n;
  }

  /** Initial dumps or refreshes still walking the Loc-RIB. */
  get dumping(): number {
    let n = 0;
    for (const g of this.groups) if (g.walker) n++;
    return n;
  }

  /** Paths advertised to each member (by name), per family name ("ipv4-unicast"). */
  advertisedPrefixes(): Map<string, Map<string, number>> {
    const counts = new Map<string, Map<string, number>>();
    for (const [member, group] of this.groupOf) {
      const slot = this.slotCounts[group.slot];
      const byFamily = new Map<string, number>();
      for (const key of member.families) {
        const afi = key >> 8;
        if ((key & 0xff) === Safi.Unicast)
          byFamily.set(familyName(afi, Safi.Unicast), slot.of(member, afi === Afi.Ipv4 ? 0 : 1));
      }
      counts.set(member.name, byFamily);
    }
    return counts;
  }

  /**
   * What the session named `name` has been sent for a destination: the attribute sets and the peer
   * each path came from, one per path
   * (its Adj-RIB-Out as the member holds it); undefined when it is no member.
   */
  advertisedTo(name: string): ((dest: Dest) => { attrs: AttrSet; source: RibPeer }[]) | undefined {
    const member = [...this.groupOf.keys()].find((m) => m.name === name);
    const group = member && this.groupOf.get(member);
    if (!member || !group) return undefined;
    return (dest) => {
      const advertised = advertisedIn(dest, group.slot);
      if (advertised === undefined) return [];
      return [...exportsOf(advertised)].filter((e) => e.source !== member.ribPeer);
    };
  }

  /** Nothing staged, nothing being dumped, dropped or split: every group has sent everything. */
  get idle(): boolean {
    if (!this.walker.idle) return false;
    for (const g of this.groups) if (!g.idle || g.scheduled) return false;
    return true;
  }

  /** Adds an established session: it gets the whole table, then End-of-RIB, then changes as they come. */
  addMember(
    member: GroupMember,
    target: ExportTarget,
    mode: AddPathSendMode = 'best',
    refresh?: RefreshRequest,
  ): void {
    const group = this.newGroup(target, member.context, mode, member.families);
    group.join(member);
    this.groupOf.set(member, group);
    // A live iterator also visits destinations added later; on an empty table that would re-walk
    // everything staged anyway, so an empty Loc-RIB needs no dump at all.
    group.walker = this.rib.destCount > 0 ? this.rib.dests() : undefined;
    group.awaitingEndOfRib.add(member);
    if (refresh) {
      group.refreshing.set(member, refresh);
      if (refresh.enhanced) member.sendRouteRefresh(refresh.afi, refresh.safi, RouteRefreshSubtype.BoRR);
    }
    this.schedule(group);
  }

  removeMember(member: GroupMember): void {
    const group = this.groupOf.get(member);
    if (!group) return;
    this.groupOf.delete(member);
    group.leave(member);
    group.awaitingEndOfRib.delete(member);
    group.refreshing.delete(member);
    if (group.members.size === 0) this.dropGroup(group);
  }

  /**
   * RFC 4724 §4.1 per AFI/SAFI: the session `member` stands for is now sent more families, as
   * `wider`. It continues from what it was sent, in a group of its own holding a copy of that (as a
   * split does), and the walk of the Loc-RIB sends only what differs — the added families — then
   * End-of-RIB for those (for every family when its first dump had not finished).
   */
  widen(member: GroupMember, wider: GroupMember): boolean {
    const group = this.groupOf.get(member);
    if (!group) return false;
    this.groupOf.delete(member);
    group.leave(member);
    group.refreshing.delete(member);
    if (!group.awaitingEndOfRib.delete(member))
      this.endOfRibOwed.set(
        wider,
        [...wider.families].filter((f) => !member.families.has(f)),
      );
    const own = this.newGroup(group.target, wider.context, group.mode, wider.families);
    own.join(wider);
    this.groupOf.set(wider, own);
    own.walker = this.rib.dests();
    own.awaitingEndOfRib.add(wider);
    // A group left empty goes once its Adj-RIB-Out is copied.
    this.copyAdvertised(group, own, () => {
      if (group.members.size === 0) this.dropGroup(group);
    });
    return true;
  }

  /**
   * RFC 2918: the member asked for a family again. It is re-dumped in a group of its own (an empty
   * Adj-RIB-Out, so everything is sent again), bracketed by BoRR/EoRR under RFC 7313 §4.
   */
  refresh(member: GroupMember, afi: number, safi: number, enhanced: boolean): void {
    const group = this.groupOf.get(member);
    if (!group) return;
    this.removeMember(member);
    this.addMember(member, group.target, group.mode, { afi, safi, enhanced });
  }

  /**
   * The export policy changed (a BGPFilter, the pools, communities): every group forgets its cached
   * exports and walks the Loc-RIB again, sending only what differs from what it has advertised.
   */
  reevaluate(): void {
    for (const { cache } of this.exportCaches.values()) cache.clear();
    for (const group of this.groups) this.rewalk(group);
  }

  /**
   * A member's export target changed (its BGPFilters) on a running session: it continues with what it
   * was sent, in a group of its own under the new target, and gets only the differences. A group of
   * one changes in place; a shared group splits the member off with a copy of its Adj-RIB-Out first.
   */
  retarget(member: GroupMember, target: ExportTarget): void {
    const group = this.groupOf.get(member);
    if (!group || exportTargetKey(group.target) === exportTargetKey(target)) return;
    if (group.members.size === 1) {
      this.releaseExportCache(group.key);
      group.target = target;
      group.key = groupKey(target, group.context, group.mode, group.families);
      group.exportCache = this.takeExportCache(group.key);
      this.rewalk(group);
      return;
    }
    this.split(group, member, target);
    this.rewalk(this.groupOf.get(member) as UpdateGroup);
  }

  private rewalk(group: UpdateGroup): void {
    group.walker = this.rib.dests();
    this.schedule(group);
  }

  /** The member's socket drained: its group may continue. */
  writable(member: GroupMember): void {
    const group = this.groupOf.get(member);
    if (group) this.schedule(group);
  }

  private newGroup(
    target: ExportTarget,
    context: CodecContext,
    mode: AddPathSendMode,
    families: ReadonlySet<number>,
  ): UpdateGroup {
    const key = groupKey(target, context, mode, families);
    let slot = this.slotsInUse.indexOf(false);
    if (slot < 0) slot = this.slotsInUse.length;
    this.slotsInUse[slot] = true;
    this.slotCounts[slot] = new SlotCount();
    const group = new UpdateGroup(
      this.nextGroupId++,
      slot,
      key,
      target,
      context,
      mode,
      families,
      this.takeExportCache(key),
    );
    this.groups.add(group);
    return group;
  }

  private takeExportCache(key: string): ExportCache {
    let shared = this.exportCaches.get(key);
    if (!shared)
      this.exportCaches.set(key, (shared = { cache: new ExportCache(this.rib.attrSets), groups: 0 }));
    shared.groups++;
    return shared.cache;
  }

  /** The last group of a key gone, its cache's entries go (and their references on exported sets). */
  private releaseExportCache(key: string): void {
    const shared = this.exportCaches.get(key);
    if (!shared || --shared.groups > 0) return;
    this.exportCaches.delete(key);
    shared.cache.clear();
  }

  /**
   * Every Dest that may hold an update group's advertisements, for a bounded walk that does not wait
   * for the Loc-RIB to settle (under continuous churn it never does, and a split or a dropped group
   * waiting for it held its group, and its slot, for as long as the churn lasted): the table (live),
   * then the destinations waiting for a decision, then `staged()`, read when the walk gets there so it
   * holds what was decided meanwhile. A Dest that leaves the table before the walk meets it is queued
   * for a decision at that moment, so one of the later parts has it.
   */
  private *holders(staged: () => readonly Dest[]): IterableIterator<Dest> {
    yield* this.rib.dests();
    yield* this.rib.queuedDests();
    yield* upTo(staged());
  }

  /**
   * Forgets the group at once, and its Adj-RIB-Out in a bounded walk (see holders()). A destination
   * decided meanwhile is cleared when decided (see stage()); once the walk is done the slot is free.
   */
  private dropGroup(group: UpdateGroup): void {
    this.groups.delete(group);
    this.releaseExportCache(group.key);
    this.droppedSlots.push(group.slot);
    const done = () => {
      this.droppedSlots.splice(this.droppedSlots.indexOf(group.slot), 1);
      this.slotsInUse[group.slot] = false;
    };
    const clear = (dest: Dest) => this.clearSlot(dest, group.slot);
    this.walker.add(
      this.holders(() => group.remaining()),
      clear,
      done,
    );
  }

  private clearSlot(dest: Dest, slot: number): number {
    const advertised = advertisedIn(dest, slot);
    if (advertised === undefined) return 0;
    this.forEachAttrs(advertised, (attrs) => this.rib.attrSets.release(attrs));
    setAdvertised(dest, slot, undefined);
    return 1;
  }

  private forEachAttrs(advertised: GroupAdvertised, fn: (attrs: AttrSet) => void): void {
    if (advertised instanceof Map) for (const exported of advertised.values()) fn(exported.attrs);
    else fn(advertised.attrs);
  }

  /**
   * A group sending one path per destination needs only those whose best changed; an ADD-PATH group
   * sending more (RFC 7911) needs every destination whose paths changed.
   */
  private stage(batch: DecidedBatch): void {
    if (this.droppedSlots.length > 0) this.clearDropped(batch.pathsChanged);
    for (const group of this.groups) {
      const everyPath = group.mode !== 'best' && group.context.addPath.size > 0;
      const decided = everyPath ? batch.pathsChanged : batch.bestChanged;
      group.stageAll(decided);
      group.compactIfLarge();
      if (group.staged > 0) this.drainNow(group, decided.length);
    }
  }

  /**
   * The batch just decided goes out in the same turn, while its destinations are still in the cache:
   * a turn later, the socket would have read (and the RIB applied) more before anything is written.
   * The turn exports as many destinations as were decided (bounded by the Loc-RIB's decisions per
   * turn), so export keeps pace with the decision. A group already scheduled keeps its turn: a group
   * drains at most once per decision batch.
   */
  private drainNow(group: UpdateGroup, decided: number): void {
    if (!group.scheduled) this.drain(group, Math.max(this.options.destsPerTurn, decided));
  }

  /** Destinations gone from the Loc-RIB lose what dropped groups still held there. */
  private clearDropped(decided: readonly Dest[]): void {
    for (const dest of decided)
      if (dest.pathCount === 0) for (const slot of this.droppedSlots) this.clearSlot(dest, slot);
  }

  private schedule(group: UpdateGroup): void {
    if (group.scheduled) return;
    group.scheduled = true;
    this.drainQueue.push(group);
    this.scheduleDrainTurn();
  }

  private scheduleDrainTurn(): void {
    if (this.drainTurnScheduled) return;
    this.drainTurnScheduled = true;
    setImmediate(() => this.drainTurn());
  }

  /**
   * One event-loop turn of export: the groups in the order they asked, destsPerTurn destinations
   * among them all (each group at least one), the rest in later turns. A burst of new sessions, each
   * dumping the table in a group of its own, so takes turns with the sockets (their OPENs, the API)
   * instead of holding the loop for a table per session.
   */
  private drainTurn(): void {
    this.drainTurnScheduled = false;
    const queued = this.drainQueue.length;
    let budget = this.options.destsPerTurn;
    let taken = 0;
    while (taken < queued && budget > 0) {
      const group = this.drainQueue[taken++];
      group.scheduled = false;
      if (this.groups.has(group)) budget -= Math.max(1, this.drain(group, budget));
    }
    this.drainQueue.splice(0, taken);
    if (this.drainQueue.length > 0) this.scheduleDrainTurn();
  }

  /** Exports up to `budget` staged destinations, writes the UPDATEs to every member; how many. */
  private drain(group: UpdateGroup, budget: number): number {
    if (!this.ready(group)) return 0;
    let outbox = new Outbox();
    const limit = budget;
    const pending = group.pending;
    while (group.cursor < pending.length && budget-- > 0) {
      this.exportDest(group, pending[group.cursor++], outbox);
      if ((limit - budget) % WRITE_EVERY === 0) outbox = this.written(group, outbox);
    }
    if (group.cursor === pending.length) group.drained();
    while (group.walker && budget-- > 0) {
      const next = group.walker.next();
      if (next.done) group.walker = undefined;
      else this.exportDest(group, next.value, outbox);
      if ((limit - budget) % WRITE_EVERY === 0) outbox = this.written(group, outbox);
    }
    this.write(group, outbox);
    this.releaseTurnExports();
    if (!group.idle) this.schedule(group);
    else {
      this.finishDump(group);
      this.scheduleMerge();
    }
    return limit - Math.max(0, budget);
  }

  /** Writes what `outbox` holds; a fresh outbox for what comes next. */
  private written(group: UpdateGroup, outbox: Outbox): Outbox {
    this.write(group, outbox);
    return new Outbox();
  }

  /** A group drains while every member keeps up; a member that backs up leaves a shared group. */
  private ready(group: UpdateGroup): boolean {
    if (group.copies > 0) return false;
    group.waiting = false;
    for (const member of group.members) {
      if (member.bufferedBytes < this.options.memberBacklogLimit) continue;
      if (group.members.size === 1) {
        group.waiting = true;
        return false;
      }
      this.split(group, member);
    }
    // A member just split off: the copy of what the group advertised comes before any change to it.
    return group.members.size > 0 && group.copies === 0;
  }

  private split(group: UpdateGroup, member: GroupMember, target = group.target): void {
    this.log.info(
      { event: 'update-group-split', peer: member.name, group: group.id },
      target === group.target
        ? 'slow peer split from its update group'
        : 'peer split: its export policy changed',
    );
    group.leave(member);
    const own = this.newGroup(target, group.context, group.mode, group.families);
    own.join(member);
    this.groupOf.set(member, own);
    own.pending = group.remaining();
    own.walker = group.walker && group.awaitingEndOfRib.has(member) ? this.rib.dests() : undefined;
    if (group.awaitingEndOfRib.delete(member)) own.awaitingEndOfRib.add(member);
    this.copyAdvertised(group, own);
  }

  /**
   * Copies what `from` advertised to `to`, in a bounded walk (see holders()) during which neither
   * drains, so the copy is of one moment: the Loc-RIB, what waits for a decision, then what `to` has
   * staged (the changes `from` had not sent yet, and those decided during the walk).
   */
  private copyAdvertised(from: UpdateGroup, to: UpdateGroup, then?: () => void): void {
    from.copies++;
    to.copies++;
    const done = () => {
      from.copies--;
      to.copies--;
      then?.();
      this.schedule(from);
      this.schedule(to);
    };
    const copy = (dest: Dest) => this.copySlot(dest, from.slot, to.slot);
    this.walker.add(
      this.holders(() => to.pending),
      copy,
      done,
    );
  }

  /** Copies one destination's advertisement between slots, once (the walk may meet it twice). */
  private copySlot(dest: Dest, from: number, to: number): number {
    const advertised = advertisedIn(dest, from);
    if (advertised === undefined || advertisedIn(dest, to) !== undefined) return 0;
    this.forEachAttrs(advertised, (attrs) => this.rib.attrSets.retain(attrs));
    for (const exported of exportsOf(advertised))
      this.slotCounts[to].move(dest.afi, undefined, exported.source);
    setAdvertised(dest, to, advertised instanceof Map ? new Map(advertised) : advertised);
    return 1;
  }

  // --- export of one destination -----------------------------------------------------------------

  private exportDest(group: UpdateGroup, dest: Dest, outbox: Outbox): void {
    // The walker visits every family; staging already kept to the group's.
    if (!group.carries(dest)) return;
    const afi = dest.afi;
    const addPath = group.context.addPath.has(familyKey(afi, Safi.Unicast));
    if (group.mode === 'best' || !addPath)
      return this.exportSingle(group, dest, addPath ? BEST_PATH_ID : 0, outbox);
    const wanted = new Map<number, Exported>();
    const paths = group.mode === 'all' ? dest.paths.filter((p) => p.eligible) : dest.multipath;
    for (const path of paths) {
      const exported = this.exported(group, dest, path);
      if (exported) wanted.set(path.localPathId, exported);
    }
    const advertised =
      (advertisedIn(dest, group.slot) as Map<number, Exported> | undefined) ?? new Map<number, Exported>();
    for (const [pathId, exported] of wanted) {
      const previous = advertised.get(pathId);
      if (sameExport(previous, exported)) continue;
      this.record(group, dest, pathId, previous, exported, outbox);
      advertised.set(pathId, exported);
    }
    for (const [pathId, previous] of advertised) {
      if (wanted.has(pathId)) continue;
      this.record(group, dest, pathId, previous, undefined, outbox);
      advertised.delete(pathId);
    }
    setAdvertised(dest, group.slot, advertised.size > 0 ? advertised : undefined);
  }

  /** One path per destination: the best one, exported. */
  private exportSingle(group: UpdateGroup, dest: Dest, pathId: number, outbox: Outbox): void {
    const next = dest.best && this.exported(group, dest, dest.best);
    const previous = advertisedIn(dest, group.slot) as Exported | undefined;
    if (sameExport(previous, next)) return;
    this.record(group, dest, pathId, previous, next, outbox);
    setAdvertised(dest, group.slot, next);
  }

  /**
   * Puts one change of what the group advertises for (dest, pathId) in the outbox, and moves the
   * attribute-set reference. Every member holds the previous advertisement, but for the member it
   * came from (`from`), which holds nothing; the same goes for the next one and `to`.
   */
  private record(
    group: UpdateGroup,
    dest: Dest,
    pathId: number,
    previous: Exported | undefined,
    next: Exported | undefined,
    outbox: Outbox,
  ): void {
    const afi = dest.afi;
    const nlri = dest.nlri(pathId);
    // One call site each for both ends and one for the common change, so a first withdrawal runs
    // code a first table's announcements compiled (see the flag bits in rib/route.ts).
    const from = memberOf(group, previous);
    const to = memberOf(group, next);
    const attrs = attrsOf(next);
    // A change goes to everyone who held the previous route or gets the next: all but the member the
    // route comes from, or came from when it is gone. Its source (if a member) gets nothing.
    if (attrsOf(previous) !== attrs) outbox.allBesides(next ? to : from).add(afi, nlri, attrs);
    // Moved between members, unchanged: `from` held nothing and gets the route.
    else if (from !== to && from) outbox.onlyTo(from).add(afi, nlri, attrs);
    // Moved to `to`, which held the previous route: its own is not sent back.
    if (from !== to && to && previous) outbox.onlyTo(to).add(afi, nlri, undefined);
    if (next) this.rib.attrSets.retain(next.attrs);
    if (previous) this.rib.attrSets.release(previous.attrs);
    this.slotCounts[group.slot].move(afi, previous?.source, next?.source);
  }

  /**
   * How `path` is exported to this group as the route to `dest`: the policy's verdict for the prefix,
   * then the attributes (cached per family, source attribute set, verdict and source peer).
   */
  private exported(group: UpdateGroup, dest: Dest, path: Path): Exported | undefined {
    const verdict = this.policy.exportVerdict(dest, path, group.target);
    if (!verdict) return undefined;
    const afi = dest.afi;
    const source = path.attrs;
    const cached = group.exportCache.get(afi, source, verdict, path.peer);
    if (cached !== undefined) return cached ?? undefined;
    const attributes = this.policy.exportAttributes(path, afi, group.target, verdict);
    // A best path removed after its destination was staged (the decision to come stages it again) may
    // have taken its set with it: an entry for a forgotten set would never be dropped, so its export
    // is not cached, and holds its reference on the exported set only for this drain turn.
    const live = source.refs > 0;
    let exported: Exported | undefined;
    if (attributes) {
      const attrs = this.rib.attrSets.intern(attributes);
      if (!live) this.turnExports.push(attrs);
      // Exported unchanged: the entry lives as long as the source set, so it holds no reference on it.
      else if (attrs === source) this.rib.attrSets.release(attrs);
      exported = new Exported(attrs, path.peer);
    }
    if (live) group.exportCache.set(afi, source, verdict, path.peer, exported ?? null);
    return exported;
  }

  /** Drops the references exported() took for this drain turn only. */
  private releaseTurnExports(): void {
    for (const attrs of this.turnExports) this.rib.attrSets.release(attrs);
    this.turnExports.length = 0;
  }

  // --- writing ---------------------------------------------------------------------------------------

  /**
   * Packs the turn's UPDATEs once per audience into one buffer, all withdrawals first (a prefix may
   * be withdrawn for one audience and announced for another in the same turn: see LocRib.removeAt),
   * and writes each member the parts it is due, adjacent parts in one write.
   */
  private write(group: UpdateGroup, outbox: Outbox): void {
    const packer = (this.packer ??= new UpdatePacker(group.context));
    packer.begin(group.context);
    const parts: Part[] = [];
    for (const phase of ['withdraw', 'announce'] as const) {
      for (const [audience, batch] of outbox.batches) {
        const start = packer.pendingBytes;
        const before = packer.messageCount;
        this.pack(group, packer, batch, phase);
        if (packer.messageCount > before)
          parts.push({ audience, start, end: packer.pendingBytes, messages: packer.messageCount - before });
      }
    }
    if (parts.length === 0) return;
    this.messagesBuilt += packer.messageCount;
    const bytes = packer.take();
    for (const member of group.members) {
      let start = 0;
      let end = 0;
      let messages = 0;
      for (const part of parts) {
        if (!includes(part.audience, member)) continue;
        if (part.start !== end) {
          if (messages > 0) member.send(bytes.subarray(start, end), messages);
          start = part.start;
          messages = 0;
        }
        end = part.end;
        messages += part.messages;
      }
      if (messages > 0) member.send(bytes.subarray(start, end), messages);
    }
  }

  /** Packs one audience's withdrawals, or its announcements grouped by attribute set. */
  private pack(group: UpdateGroup, packer: UpdatePacker, batch: Batch, phase: 'withdraw' | 'announce'): void {
    for (const [afi, family] of [
      [Afi.Ipv4, batch.ipv4],
      [Afi.Ipv6, batch.ipv6],
    ] as const) {
      if (phase === 'withdraw' && family.withdraw.length > 0)
        packer.withdraw(afi, Safi.Unicast, family.withdraw);
      if (phase === 'announce')
        for (const [attrs, list] of family.announce) packer.announce(this.encoded(group, attrs, afi), list);
    }
  }

  private encoded(group: UpdateGroup, attrs: AttrSet, afi: number): EncodedAttributeSet {
    const key = `${group.key}#${afi}`;
    let encoded = attrs.encodings.get(key) as EncodedAttributeSet | undefined;
    if (!encoded) {
      const a = attrs.attributes;
      const mpNextHop = a.nextHop ? { nextHop: a.nextHop, linkLocalNextHop: a.linkLocalNextHop } : undefined;
      encoded = encodeAttributeSet(afi, Safi.Unicast, a, group.context, mpNextHop);
      attrs.encodings.set(key, encoded);
    }
    return encoded;
  }

  /**
   * Once a member's dump is written: End-of-RIB for every negotiated family after a new session (RFC
   * 4724 §2), EoRR after an enhanced route refresh (RFC 7313 §4), nothing after a plain one.
   */
  private finishDump(group: UpdateGroup): void {
    for (const member of group.awaitingEndOfRib) {
      const refresh = group.refreshing.get(member);
      if (refresh?.enhanced) member.sendRouteRefresh(refresh.afi, refresh.safi, RouteRefreshSubtype.EoRR);
      if (refresh) continue;
      for (const family of this.endOfRibOwed.get(member) ?? member.families)
        member.send(encodeEndOfRib(family >> 8, family & 0xff, member.context), 1);
      this.endOfRibOwed.delete(member);
    }
    group.awaitingEndOfRib.clear();
    group.refreshing.clear();
  }

  /**
   * Two idle groups with the same key hold the same Adj-RIB-Out: keep one. Checked a turn after a
   * group goes idle, so groups that finish in the same turn find each other.
   */
  private scheduleMerge(): void {
    if (this.mergeScheduled) return;
    this.mergeScheduled = true;
    setImmediate(() => {
      this.mergeScheduled = false;
      this.mergeIdleGroups();
    });
  }

  private mergeIdleGroups(): void {
    const keep = new Map<string, UpdateGroup>();
    // The survivor is the group with the lowest slot: slot 0 lives in Dest.adv, with no array.
    for (const group of [...this.groups].sort((a, b) => a.slot - b.slot)) {
      if (!group.idle || group.scheduled) continue;
      const survivor = keep.get(group.key);
      if (!survivor) {
        keep.set(group.key, group);
        continue;
      }
      for (const member of [...group.members]) {
        group.leave(member);
        survivor.join(member);
        this.groupOf.set(member, survivor);
      }
      this.dropGroup(group);
    }
  }
}
