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

import { encodeEndOfRib } from '../bgp/codec/update.ts';
import { encodeAttributeSet, UpdatePacker } from '../bgp/codec/update-packer.ts';
import type { EncodedAttributeSet } from '../bgp/codec/update-packer.ts';
import type { CodecContext } from '../bgp/types.ts';
import { Afi, familyKey, Safi } from '../lib/family.ts';
import type { Nlri } from '../lib/prefix.ts';
import type { Logger } from '../lib/log.ts';
import type { AttrSet } from './attr-set.ts';
import type { ExportPolicy, ExportTarget } from './export.ts';
import { exportTargetKey } from './export.ts';
import type { LocRib } from './loc-rib.ts';
import type { Advertised, Dest, Path, RibPeer } from './route.ts';

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
  /** Sends a ROUTE-REFRESH message: RFC 7313 BoRR (1) and EoRR (2) around a re-advertisement. */
  sendRouteRefresh(afi: number, safi: number, subtype: number): void;
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
  /** Destinations a group exports per event-loop turn. */
  readonly destsPerTurn: number;
}

export const DEFAULT_ADJ_RIB_OUT_OPTIONS: AdjRibOutOptions = {
  memberBacklogLimit: 4 * 1024 * 1024,
  destsPerTurn: 10_000,
};
/**
 * Path Identifier of the single best path on ADD-PATH sessions in 'best' mode: 0 (any value is valid,
 * RFC 7911 §3), so the Dest itself serves as the NLRI with no object per prefix.
 */
const BEST_PATH_ID = 0;

/** What one drain turn sends for one family. */
class FamilyBatch {
  readonly announce = new Map<AttrSet, Nlri[]>();
  readonly withdraw: Nlri[] = [];
  private lastAttrs: AttrSet | undefined;
  private lastList: Nlri[] = [];

  /** Groups prefixes by attribute set; consecutive prefixes usually share one, so skip the lookup. */
  add(attrs: AttrSet, nlri: Nlri): void {
    if (attrs !== this.lastAttrs) {
      let list = this.announce.get(attrs);
      if (!list) {
        list = [];
        this.announce.set(attrs, list);
      }
      this.lastAttrs = attrs;
      this.lastList = list;
    }
    this.lastList.push(nlri);
  }

  get empty(): boolean {
    return this.announce.size === 0 && this.withdraw.length === 0;
  }
}

class Batch {
  readonly ipv4 = new FamilyBatch();
  readonly ipv6 = new FamilyBatch();

  of(afi: number): FamilyBatch {
    return afi === Afi.Ipv4 ? this.ipv4 : this.ipv6;
  }
}

class UpdateGroup {
  readonly members = new Set<GroupMember>();
  /**
   * Destinations staged since the last drain, in order, from `cursor` on. A destination may appear
   * twice: export at drain time is idempotent, which is cheaper than keeping a set.
   */
  pending: Dest[] = [];
  cursor = 0;
  walker: Iterator<Dest> | undefined;
  scheduled = false;
  /** Members still waiting for their End-of-RIB after the initial dump. */
  readonly awaitingEndOfRib = new Set<GroupMember>();
  /** Members whose dump answers a ROUTE-REFRESH rather than a new session. */
  readonly refreshing = new Map<GroupMember, RefreshRequest>();
  /** Exported attributes per source attribute set and source peer, so export runs once per set. */
  readonly exportCache = new Map<AttrSet, Map<RibPeer, AttrSet | null>>();

  constructor(
    readonly id: number,
    /** Where this group's Adj-RIB-Out lives on each Dest (Dest.adv for 0, Dest.advMore for the rest). */
    readonly slot: number,
    readonly key: string,
    readonly target: ExportTarget,
    readonly context: CodecContext,
    readonly mode: AddPathSendMode,
  ) {}

  get staged(): number {
    return this.pending.length - this.cursor;
  }

  get idle(): boolean {
    return !this.walker && this.staged === 0;
  }

  stage(dest: Dest): void {
    this.pending.push(dest);
  }

  /** The staged destinations not yet exported (for a split-off copy). */
  remaining(): Dest[] {
    return this.pending.slice(this.cursor);
  }

  /** Drops duplicates when a blocked group keeps collecting changes of the same destinations. */
  compact(): void {
    this.pending = [...new Set(this.remaining())];
    this.cursor = 0;
  }
}

function advertisedIn(dest: Dest, slot: number): Advertised | undefined {
  return slot === 0 ? dest.adv : dest.advMore?.[slot - 1];
}

function setAdvertised(dest: Dest, slot: number, value: Advertised | undefined): void {
  if (slot === 0) {
    dest.adv = value;
    return;
  }
  const more = dest.advMore;
  if (!more) {
    if (value === undefined) return;
    // Exact size: an array grown by assignment would reserve far more slots than groups exist.
    const fresh = new Array<Advertised | undefined>(slot).fill(undefined);
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
  /** UPDATE messages built (once per group, however many members). */
  messagesBuilt = 0;

  constructor(
    private readonly rib: LocRib,
    private readonly policy: ExportPolicy,
    private readonly log: Logger,
    private readonly options: AdjRibOutOptions = DEFAULT_ADJ_RIB_OUT_OPTIONS,
  ) {
    rib.changes$.subscribe((changes) => this.stage(changes));
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

  /** Initial dumps or refreshes still walking the Loc-RIB. */
  get dumping(): number {
    let n = 0;
    for (const g of this.groups) if (g.walker) n++;
    return n;
  }

  /** Nothing staged, nothing being dumped: every group has sent everything. */
  get idle(): boolean {
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
    const group = this.newGroup(target, member.context, mode);
    group.members.add(member);
    this.groupOf.set(member, group);
    // A live iterator also visits destinations added later; on an empty table that would re-walk
    // everything staged anyway, so an empty Loc-RIB needs no dump at all.
    group.walker = this.rib.destCount > 0 ? this.rib.dests() : undefined;
    group.awaitingEndOfRib.add(member);
    if (refresh) {
      group.refreshing.set(member, refresh);
      if (refresh.enhanced) member.sendRouteRefresh(refresh.afi, refresh.safi, 1);
    }
    this.schedule(group);
  }

  removeMember(member: GroupMember): void {
    const group = this.groupOf.get(member);
    if (!group) return;
    this.groupOf.delete(member);
    group.members.delete(member);
    group.awaitingEndOfRib.delete(member);
    group.refreshing.delete(member);
    if (group.members.size === 0) this.dropGroup(group);
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

  /** The member's socket drained: its group may continue. */
  writable(member: GroupMember): void {
    const group = this.groupOf.get(member);
    if (group) this.schedule(group);
  }

  private newGroup(target: ExportTarget, context: CodecContext, mode: AddPathSendMode): UpdateGroup {
    const key = `${exportTargetKey(target)}|${[...context.addPath].sort().join(',')}|${context.fourOctetAs}|${context.maxMessageLength}|${mode}`;
    let slot = this.slotsInUse.indexOf(false);
    if (slot < 0) slot = this.slotsInUse.length;
    this.slotsInUse[slot] = true;
    const group = new UpdateGroup(this.nextGroupId++, slot, key, target, context, mode);
    this.groups.add(group);
    return group;
  }

  /** Every destination that may hold state of `group`: the Loc-RIB, and staged ones it no longer has. */
  private *destsOf(group: UpdateGroup): IterableIterator<Dest> {
    yield* this.rib.dests();
    for (const dest of group.remaining()) if (dest.paths.length === 0) yield dest;
  }

  /** Forgets the group and its Adj-RIB-Out (a walk over the table: groups go rarely). */
  private dropGroup(group: UpdateGroup): void {
    this.groups.delete(group);
    for (const dest of this.destsOf(group)) {
      const advertised = advertisedIn(dest, group.slot);
      if (advertised === undefined) continue;
      this.forEachAttrs(advertised, (attrs) => this.rib.attrSets.release(attrs));
      setAdvertised(dest, group.slot, undefined);
    }
    this.slotsInUse[group.slot] = false;
    this.clearExportCache(group);
  }

  private forEachAttrs(advertised: Advertised, fn: (attrs: AttrSet) => void): void {
    if (advertised instanceof Map) advertised.forEach(fn);
    else fn(advertised);
  }

  private clearExportCache(group: UpdateGroup): void {
    for (const byPeer of group.exportCache.values()) {
      for (const attrs of byPeer.values()) if (attrs) this.rib.attrSets.release(attrs);
    }
    group.exportCache.clear();
  }

  private stage(decided: readonly Dest[]): void {
    for (const group of this.groups) {
      const everyPath = group.mode !== 'best' && group.context.addPath.size > 0;
      for (const dest of decided) if (dest.bestChanged || everyPath) group.stage(dest);
      // A blocked group keeps collecting; duplicates are dropped before they outgrow the table.
      if (group.staged > 2 * this.rib.destCount + 10_000) group.compact();
      if (group.staged > 0) this.schedule(group);
    }
  }

  private schedule(group: UpdateGroup): void {
    if (group.scheduled) return;
    group.scheduled = true;
    setImmediate(() => {
      group.scheduled = false;
      if (this.groups.has(group)) this.drain(group);
    });
  }

  /** Exports up to destsPerTurn staged destinations and writes the UPDATEs to every member. */
  private drain(group: UpdateGroup): void {
    if (!this.ready(group)) return;
    const batch = new Batch();
    let budget = this.options.destsPerTurn;
    const pending = group.pending;
    while (group.cursor < pending.length && budget-- > 0)
      this.exportDest(group, pending[group.cursor++], batch);
    if (group.cursor === pending.length) {
      group.pending = [];
      group.cursor = 0;
    }
    while (group.walker && budget-- > 0) {
      const next = group.walker.next();
      if (next.done) group.walker = undefined;
      else this.exportDest(group, next.value, batch);
    }
    this.write(group, batch);
    if (!group.idle) return this.schedule(group);
    this.finishDump(group);
    this.scheduleMerge();
  }

  /** A group drains while every member keeps up; a member that backs up leaves a shared group. */
  private ready(group: UpdateGroup): boolean {
    for (const member of group.members) {
      if (member.bufferedBytes < this.options.memberBacklogLimit) continue;
      if (group.members.size === 1) return false;
      this.split(group, member);
    }
    return group.members.size > 0;
  }

  private split(group: UpdateGroup, member: GroupMember): void {
    this.log.info(
      { event: 'update-group-split', peer: member.name, group: group.id },
      'slow peer split from its update group',
    );
    group.members.delete(member);
    const own = this.newGroup(group.target, group.context, group.mode);
    own.members.add(member);
    this.groupOf.set(member, own);
    own.pending = group.remaining();
    own.walker = group.walker && group.awaitingEndOfRib.has(member) ? this.rib.dests() : undefined;
    if (group.awaitingEndOfRib.delete(member)) own.awaitingEndOfRib.add(member);
    for (const dest of this.destsOf(group)) {
      const advertised = advertisedIn(dest, group.slot);
      if (advertised === undefined) continue;
      this.forEachAttrs(advertised, (attrs) => this.rib.attrSets.retain(attrs));
      setAdvertised(dest, own.slot, advertised instanceof Map ? new Map(advertised) : advertised);
    }
  }

  // --- export of one destination -----------------------------------------------------------------

  private exportDest(group: UpdateGroup, dest: Dest, batch: Batch): void {
    const addPath = group.context.addPath.has(familyKey(dest.afi, Safi.Unicast));
    if (group.mode === 'best' || !addPath)
      return this.exportSingle(group, dest, addPath ? BEST_PATH_ID : 0, batch);
    const wanted = new Map<number, AttrSet>();
    const paths = group.mode === 'all' ? dest.paths.filter((p) => p.eligible) : dest.multipath;
    for (const path of paths) {
      const attrs = this.exported(group, path);
      if (attrs) wanted.set(path.localPathId, attrs);
    }
    const advertised =
      (advertisedIn(dest, group.slot) as Map<number, AttrSet> | undefined) ?? new Map<number, AttrSet>();
    for (const [pathId, attrs] of wanted) {
      if (advertised.get(pathId) === attrs) continue;
      this.record(dest, advertised.get(pathId), attrs, pathId, batch);
      advertised.set(pathId, attrs);
    }
    for (const [pathId, previous] of advertised) {
      if (wanted.has(pathId)) continue;
      this.record(dest, previous, undefined, pathId, batch);
      advertised.delete(pathId);
    }
    setAdvertised(dest, group.slot, advertised.size > 0 ? advertised : undefined);
  }

  /** One path per destination: the best one, exported. */
  private exportSingle(group: UpdateGroup, dest: Dest, pathId: number, batch: Batch): void {
    const attrs = dest.best && this.exported(group, dest.best);
    const previous = advertisedIn(dest, group.slot) as AttrSet | undefined;
    if (previous === attrs) return;
    this.record(dest, previous, attrs, pathId, batch);
    setAdvertised(dest, group.slot, attrs);
  }

  /** Adds an announcement or withdrawal to the batch and moves the attribute-set reference. */
  private record(
    dest: Dest,
    previous: AttrSet | undefined,
    attrs: AttrSet | undefined,
    pathId: number,
    batch: Batch,
  ): void {
    const nlri = dest.nlri(pathId);
    if (attrs) {
      this.rib.attrSets.retain(attrs);
      batch.of(dest.afi).add(attrs, nlri);
    } else {
      batch.of(dest.afi).withdraw.push(nlri);
    }
    if (previous) this.rib.attrSets.release(previous);
  }

  /** The interned attributes `path` is exported with to this group (cached per source set and peer). */
  private exported(group: UpdateGroup, path: Path): AttrSet | undefined {
    let byPeer = group.exportCache.get(path.attrs);
    const cached = byPeer?.get(path.peer);
    if (cached !== undefined) return cached ?? undefined;
    if (!byPeer) {
      if (group.exportCache.size > 100_000) this.clearExportCache(group);
      byPeer = new Map();
      group.exportCache.set(path.attrs, byPeer);
    }
    const attributes = this.policy.exportAttributes(path, group.target);
    const attrs = attributes ? this.rib.attrSets.intern(attributes) : undefined;
    byPeer.set(path.peer, attrs ?? null);
    return attrs;
  }

  // --- writing ---------------------------------------------------------------------------------------

  private write(group: UpdateGroup, batch: Batch): void {
    if (batch.ipv4.empty && batch.ipv6.empty) return;
    const packer = new UpdatePacker(group.context);
    for (const [afi, family] of [
      [Afi.Ipv4, batch.ipv4],
      [Afi.Ipv6, batch.ipv6],
    ] as const) {
      if (family.withdraw.length > 0) packer.withdraw(afi, Safi.Unicast, family.withdraw);
      for (const [attrs, list] of family.announce) packer.announce(this.encoded(group, attrs, afi), list);
    }
    const messages = packer.messageCount;
    const bytes = packer.take();
    this.messagesBuilt += messages;
    for (const member of group.members) member.send(bytes, messages);
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
      if (refresh?.enhanced) member.sendRouteRefresh(refresh.afi, refresh.safi, 2);
      if (refresh) continue;
      for (const family of member.families)
        member.send(encodeEndOfRib(family >> 8, family & 0xff, member.context), 1);
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
      for (const member of group.members) {
        survivor.members.add(member);
        this.groupOf.set(member, survivor);
      }
      group.members.clear();
      this.dropGroup(group);
    }
  }
}
