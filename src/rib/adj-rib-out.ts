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
import { familyKey, Safi } from '../lib/family.ts';
import type { Nlri } from '../lib/prefix.ts';
import type { Logger } from '../lib/log.ts';
import type { AttrSet } from './attr-set.ts';
import type { ExportPolicy, ExportTarget } from './export.ts';
import { exportTargetKey } from './export.ts';
import type { LocRib, RibChange } from './loc-rib.ts';
import { PrefixMap } from './route.ts';
import type { Dest, Path } from './route.ts';

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
}

/** Above this, a member of a shared group is split off; a group waits while a member is above it. */
const MEMBER_BACKLOG_LIMIT = 4 * 1024 * 1024;
/** Destinations a group exports per event-loop turn. */
const DESTS_PER_TURN = 10_000;
/** Path Identifier of the single best path on ADD-PATH sessions in 'best' mode. */
const BEST_PATH_ID = 1;

/**
 * What a group has advertised for a destination: the attributes of its one path (single-path
 * families, the common case, with no Map per prefix), or path id → attributes (ADD-PATH 'all'/'ecmp').
 */
type Advertised = AttrSet | Map<number, AttrSet>;

interface Batch {
  readonly announce: Map<AttrSet, Map<number, Nlri[]>>;
  readonly withdraw: Map<number, Nlri[]>;
}

class UpdateGroup {
  readonly members = new Set<GroupMember>();
  readonly sent = new PrefixMap<Advertised>();
  pending = new Set<Dest>();
  walker: Iterator<Dest> | undefined;
  scheduled = false;
  /** Members still waiting for their End-of-RIB after the initial dump. */
  readonly awaitingEndOfRib = new Set<GroupMember>();
  /** Exported attributes per (source attributes, source peer), so export runs once per set. */
  readonly exportCache = new Map<string, AttrSet | null>();

  constructor(
    readonly id: number,
    readonly key: string,
    readonly target: ExportTarget,
    readonly context: CodecContext,
    readonly mode: AddPathSendMode,
  ) {}

  get idle(): boolean {
    return !this.walker && this.pending.size === 0;
  }
}

export class AdjRibOut {
  private readonly groups = new Set<UpdateGroup>();
  private readonly groupOf = new Map<GroupMember, UpdateGroup>();
  private nextGroupId = 1;
  /** UPDATE messages built (once per group, however many members). */
  messagesBuilt = 0;

  constructor(
    private readonly rib: LocRib,
    private readonly policy: ExportPolicy,
    private readonly log: Logger,
  ) {
    rib.changes$.subscribe((changes) => this.stage(changes));
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /** Destinations staged in all groups and not yet exported: the backlog. */
  get backlog(): number {
    let n = 0;
    for (const g of this.groups) n += g.pending.size;
    return n;
  }

  /** Adds an established session: it gets the whole table, then End-of-RIB, then changes as they come. */
  addMember(member: GroupMember, target: ExportTarget, mode: AddPathSendMode = 'best'): void {
    const group = this.newGroup(target, member.context, mode);
    group.members.add(member);
    this.groupOf.set(member, group);
    group.walker = this.rib.dests();
    group.awaitingEndOfRib.add(member);
    this.schedule(group);
  }

  removeMember(member: GroupMember): void {
    const group = this.groupOf.get(member);
    if (!group) return;
    this.groupOf.delete(member);
    group.members.delete(member);
    group.awaitingEndOfRib.delete(member);
    if (group.members.size === 0) this.dropGroup(group);
  }

  /** RFC 2918: the member asked for the whole table again; it is re-dumped in a group of its own. */
  refresh(member: GroupMember): void {
    const group = this.groupOf.get(member);
    if (!group) return;
    this.removeMember(member);
    this.addMember(member, group.target, group.mode);
  }

  /** The member's socket drained: its group may continue. */
  writable(member: GroupMember): void {
    const group = this.groupOf.get(member);
    if (group) this.schedule(group);
  }

  private newGroup(target: ExportTarget, context: CodecContext, mode: AddPathSendMode): UpdateGroup {
    const key = `${exportTargetKey(target)}|${[...context.addPath].sort().join(',')}|${context.fourOctetAs}|${context.maxMessageLength}|${mode}`;
    const group = new UpdateGroup(this.nextGroupId++, key, target, context, mode);
    this.groups.add(group);
    return group;
  }

  private dropGroup(group: UpdateGroup): void {
    this.groups.delete(group);
    for (const advertised of group.sent.values())
      this.forEachAttrs(advertised, (attrs) => this.rib.attrSets.release(attrs));
    this.clearExportCache(group);
  }

  private forEachAttrs(advertised: Advertised, fn: (attrs: AttrSet) => void): void {
    if (advertised instanceof Map) advertised.forEach(fn);
    else fn(advertised);
  }

  private clearExportCache(group: UpdateGroup): void {
    for (const attrs of group.exportCache.values()) if (attrs) this.rib.attrSets.release(attrs);
    group.exportCache.clear();
  }

  private stage(changes: readonly RibChange[]): void {
    for (const group of this.groups) {
      const everyPath = group.mode !== 'best' && group.context.addPath.size > 0;
      for (const change of changes) if (change.bestChanged || everyPath) group.pending.add(change.dest);
      if (group.pending.size > 0) this.schedule(group);
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

  /** Exports up to DESTS_PER_TURN staged destinations and writes the UPDATEs to every member. */
  private drain(group: UpdateGroup): void {
    if (!this.ready(group)) return;
    const batch: Batch = { announce: new Map(), withdraw: new Map() };
    let budget = DESTS_PER_TURN;
    for (const dest of group.pending) {
      if (budget-- <= 0) break;
      group.pending.delete(dest);
      this.exportDest(group, dest, batch);
    }
    while (group.walker && budget-- > 0) {
      const next = group.walker.next();
      if (next.done) group.walker = undefined;
      else this.exportDest(group, next.value, batch);
    }
    this.write(group, batch);
    if (!group.idle) return this.schedule(group);
    this.finishDump(group);
    this.mergeIdle(group);
  }

  /** A group drains while every member keeps up; a member that backs up leaves a shared group. */
  private ready(group: UpdateGroup): boolean {
    for (const member of group.members) {
      if (member.bufferedBytes < MEMBER_BACKLOG_LIMIT) continue;
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
    for (const dest of group.pending) own.pending.add(dest);
    own.walker = group.walker && group.awaitingEndOfRib.has(member) ? this.rib.dests() : undefined;
    if (group.awaitingEndOfRib.delete(member)) own.awaitingEndOfRib.add(member);
    for (const [prefix, advertised] of group.sent.entries()) {
      this.forEachAttrs(advertised, (attrs) => this.rib.attrSets.retain(attrs));
      own.sent.set(prefix, advertised instanceof Map ? new Map(advertised) : advertised);
    }
  }

  // --- export of one destination -----------------------------------------------------------------

  private exportDest(group: UpdateGroup, dest: Dest, batch: Batch): void {
    const addPath = group.context.addPath.has(familyKey(dest.afi, Safi.Unicast));
    if (group.mode === 'best' || !addPath)
      return this.exportSingle(group, dest, addPath ? BEST_PATH_ID : 0, batch);
    const wanted = new Map<number, AttrSet>();
    const paths = group.mode === 'all' ? dest.paths.filter((p) => p.eligible) : dest.ecmp;
    for (const path of paths) {
      const attrs = this.exported(group, path);
      if (attrs) wanted.set(path.localPathId, attrs);
    }
    const advertised =
      (group.sent.get(dest) as Map<number, AttrSet> | undefined) ?? new Map<number, AttrSet>();
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
    if (advertised.size > 0) group.sent.set(dest, advertised);
    else group.sent.delete(dest);
  }

  /** One path per destination: the best one, exported. */
  private exportSingle(group: UpdateGroup, dest: Dest, pathId: number, batch: Batch): void {
    const attrs = dest.best && this.exported(group, dest.best);
    const previous = group.sent.get(dest) as AttrSet | undefined;
    if (previous === attrs) return;
    this.record(dest, previous, attrs, pathId, batch);
    if (attrs) group.sent.set(dest, attrs);
    else group.sent.delete(dest);
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
      pushTo(batch.announce, attrs, dest.afi, nlri);
    } else {
      pushList(batch.withdraw, dest.afi, nlri);
    }
    if (previous) this.rib.attrSets.release(previous);
  }

  /** The interned attributes `path` is exported with to this group (cached per source set and peer). */
  private exported(group: UpdateGroup, path: Path): AttrSet | undefined {
    const key = `${path.attrs.id}/${path.peer.id}`;
    const cached = group.exportCache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    if (group.exportCache.size > 100_000) this.clearExportCache(group);
    const attributes = this.policy.exportAttributes(path, group.target);
    const attrs = attributes ? this.rib.attrSets.intern(attributes) : undefined;
    group.exportCache.set(key, attrs ?? null);
    return attrs;
  }

  // --- writing ---------------------------------------------------------------------------------------

  private write(group: UpdateGroup, batch: Batch): void {
    if (batch.announce.size === 0 && batch.withdraw.size === 0) return;
    const packer = new UpdatePacker(group.context);
    for (const [afi, list] of batch.withdraw) packer.withdraw(afi, Safi.Unicast, list);
    for (const [attrs, byFamily] of batch.announce) {
      for (const [afi, list] of byFamily) packer.announce(this.encoded(group, attrs, afi), list);
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

  /** RFC 4724 §2: End-of-RIB for every negotiated family once a member's initial dump is written. */
  private finishDump(group: UpdateGroup): void {
    for (const member of group.awaitingEndOfRib) {
      for (const family of member.families)
        member.send(encodeEndOfRib(family >> 8, family & 0xff, member.context), 1);
    }
    group.awaitingEndOfRib.clear();
  }

  /** Two idle groups with the same key hold the same Adj-RIB-Out: keep one. */
  private mergeIdle(group: UpdateGroup): void {
    for (const other of this.groups) {
      if (other === group || other.key !== group.key || !other.idle || other.scheduled) continue;
      for (const member of group.members) {
        other.members.add(member);
        this.groupOf.set(member, other);
      }
      group.members.clear();
      this.dropGroup(group);
      return;
    }
  }
}

function pushTo(map: Map<AttrSet, Map<number, Nlri[]>>, attrs: AttrSet, afi: number, nlri: Nlri): void {
  let byFamily = map.get(attrs);
  if (!byFamily) {
    byFamily = new Map();
    map.set(attrs, byFamily);
  }
  pushList(byFamily, afi, nlri);
}

function pushList(map: Map<number, Nlri[]>, afi: number, nlri: Nlri): void {
  const list = map.get(afi);
  if (list) list.push(nlri);
  else map.set(afi, [nlri]);
}
