// What a candidate routing policy would do to the routes of each established peer, computed over the
// running RIB without changing it (`brindlectl apply --dry-run`). It runs the code the real apply
// runs: import as the Adj-RIB-In re-evaluation judges a stored path (rib/adj-rib-in.ts, the policy's
// BGPFilter import), the decision process where an import verdict changes (rib/decision.ts), then
// the export verdict and attributes the Adj-RIB-Out asks of the policy (rib/export.ts). What differs
// is only where results go: sets are interned in a scratch table, paths are built beside the RIB's,
// and the outcome is compared with what each session has been sent (its Adj-RIB-Out). A bounded
// slice of destinations per event-loop turn, as every walk of the Loc-RIB.

import type { Afi } from '../lib/family.ts';
import { formatPrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import { importedAttrs } from '../rib/adj-rib-in.ts';
import type { AddPathSendMode } from '../rib/adj-rib-out.ts';
import { AttrSetTable, attributesKey } from '../rib/attr-set.ts';
import type { AttrSet } from '../rib/attr-set.ts';
import { decide } from '../rib/decision.ts';
import type { DecisionOptions } from '../rib/decision.ts';
import type { ExportPolicy, ExportTarget } from '../rib/export.ts';
import type { IngressPolicy, LocalAddresses } from '../rib/ingress.ts';
import type { LocRib } from '../rib/loc-rib.ts';
import { Dest, Path } from '../rib/route.ts';
import type { RibPeer } from '../rib/route.ts';

/** An established session as the preview sees it: now (what it was sent) and under the candidate. */
export interface PreviewPeer {
  readonly name: string;
  readonly remoteAddress: string;
  readonly ribPeer: RibPeer;
  /** The session's own addresses (a path with one as NEXT_HOP is unusable, RFC 4271 §6.3). */
  readonly local: LocalAddresses;
  /** Import under the candidate policy and the peer's candidate filters. */
  readonly ingress: IngressPolicy;
  /** Export under the candidate: the peer's update group target with its candidate filters. */
  readonly target: ExportTarget;
  /** What the session holds for a destination now, one entry per path (its Adj-RIB-Out). */
  readonly advertised: (dest: Dest) => readonly { readonly attrs: AttrSet }[];
  /** The paths sent per destination of a family: the best one, or ADD-PATH's when negotiated. */
  readonly sendMode: (afi: Afi) => AddPathSendMode;
}

export interface RoutePreviewInput {
  readonly rib: LocRib;
  readonly peers: readonly PreviewPeer[];
  /** Peers whose sessions the change removes: their paths leave the Loc-RIB. */
  readonly removed: ReadonlySet<RibPeer>;
  /** The candidate export: the policy's verdict, then RFC 4456 (what the Adj-RIB-Out would ask). */
  readonly exportPolicy: ExportPolicy;
  readonly decision: DecisionOptions;
  /** The routes this node would originate or withdraw under the candidate (service ranges, IPAM blocks). */
  readonly originated?: PreviewOrigination;
  /** Destinations visited per event-loop turn. */
  readonly visitsPerTurn?: number;
}

/** What the change does to the routes this node originates, and how it originates them. */
export interface PreviewOrigination {
  /** The Loc-RIB's peer for local routes. */
  readonly peer: RibPeer;
  /** The attributes of a newly originated route, as the daemon originates it. */
  readonly attributes: RouteAttributes;
  readonly announce: readonly Prefix[];
  /** Prefixes as text. */
  readonly withdraw: readonly string[];
}

/** Per peer: prefixes as text, in Loc-RIB order. */
export interface PeerRouteChanges {
  readonly peer: string;
  readonly remoteAddress: string;
  /** Sent now, not before. */
  readonly advertised: string[];
  /** Sent before, withdrawn. */
  readonly withdrawn: string[];
  /** Sent before and after, with different attributes. */
  readonly changed: string[];
  /** Learned from the peer: accepted now, rejected by the candidate import. */
  readonly importDropped: string[];
  /** Learned from the peer: rejected now, accepted by the candidate import. */
  readonly importAccepted: string[];
}

export interface RoutePreview {
  /** Destinations of the Loc-RIB walked. */
  readonly destinations: number;
  readonly peers: readonly PeerRouteChanges[];
}

const DEFAULT_VISITS_PER_TURN = 2_000;

/** Walks the Loc-RIB once, a slice per turn, and says per peer what the candidate would change. */
export async function previewRoutes(input: RoutePreviewInput): Promise<RoutePreview> {
  const byRibPeer = new Map(input.peers.map((p) => [p.ribPeer, changesOf(p)]));
  const walk = new PreviewWalk(input, byRibPeer);
  const perTurn = input.visitsPerTurn ?? DEFAULT_VISITS_PER_TURN;
  let destinations = 0;
  const dests = input.rib.dests();
  let next = dests.next();
  while (!next.done) {
    for (let n = 0; n < perTurn && !next.done; n++, next = dests.next()) {
      walk.visit(next.value);
      destinations++;
    }
    // The table is walked live, as the Loc-RIB's own walks are (a Map iterator sees later additions).
    if (!next.done) await new Promise((resolve) => setImmediate(resolve));
  }
  // Originated routes the Loc-RIB has no destination for yet: a destination of their own, outside it.
  for (const prefix of walk.unvisitedOriginated()) walk.visit(new Dest(prefix));
  return { destinations, peers: [...byRibPeer.values()] };
}

function changesOf(p: PreviewPeer): PeerRouteChanges {
  return {
    peer: p.name,
    remoteAddress: p.remoteAddress,
    advertised: [],
    withdrawn: [],
    changed: [],
    importDropped: [],
    importAccepted: [],
  };
}

/** One destination at a time: its candidate paths, their best, and what each peer would be sent. */
class PreviewWalk {
  /** Import's changed sets live here, never in the RIB's table. */
  private readonly scratch = new AttrSetTable();
  private readonly peerOf = new Map<RibPeer, PreviewPeer>();
  /** Originated routes to add, by prefix text, until their destination is visited. */
  private readonly announce = new Map<string, Prefix>();
  private readonly withdraw: ReadonlySet<string>;
  private readonly localAttrs: AttrSet | undefined;

  constructor(
    private readonly input: RoutePreviewInput,
    private readonly changes: ReadonlyMap<RibPeer, PeerRouteChanges>,
  ) {
    for (const p of input.peers) this.peerOf.set(p.ribPeer, p);
    const originated = input.originated;
    for (const prefix of originated?.announce ?? []) this.announce.set(formatPrefix(prefix), prefix);
    this.withdraw = new Set(originated?.withdraw);
    this.localAttrs = originated && this.scratch.intern(originated.attributes);
  }

  unvisitedOriginated(): Iterable<Prefix> {
    return this.announce.values();
  }

  visit(dest: Dest): void {
    const candidates = this.candidatePaths(dest) ?? this.originatedPaths(dest, dest.paths);
    const decided = candidates === undefined;
    const decision = decided ? undefined : decide(candidates, this.input.decision);
    const best = decided ? dest.best : decision?.best;
    const multipath = decided ? dest.multipath : decision!.ecmp;
    const paths = decided ? dest.paths : candidates;
    for (const peer of this.input.peers) {
      const after = this.exportKeys(peer, dest, best, multipath, paths);
      const before = peer.advertised(dest).map((e) => e.attrs.key);
      this.compare(this.changes.get(peer.ribPeer)!, formatPrefix(dest), before, after);
    }
  }

  /**
   * The destination's paths as the candidate would hold them, or undefined when none changes (the
   * Loc-RIB's decision stands). Import verdict changes are recorded on the peer they came from.
   */
  private candidatePaths(dest: Dest): Path[] | undefined {
    let changed = false;
    const paths: Path[] = [];
    for (const path of dest.paths) {
      if (this.input.removed.has(path.peer)) {
        changed = true;
        continue;
      }
      const judged = this.judged(dest, path);
      if (judged !== path) changed = true;
      paths.push(judged);
    }
    return changed ? (this.originatedPaths(dest, paths) ?? paths) : undefined;
  }

  /**
   * `paths` with this node's originated route added or removed as the candidate would, or undefined
   * when it changes nothing here.
   */
  private originatedPaths(dest: Dest, paths: readonly Path[]): Path[] | undefined {
    const originated = this.input.originated;
    if (!originated || (this.announce.size === 0 && this.withdraw.size === 0)) return undefined;
    const prefix = formatPrefix(dest);
    const local = paths.find((p) => p.peer === originated.peer);
    if (local && this.withdraw.has(prefix)) return paths.filter((p) => p !== local);
    if (!this.announce.delete(prefix) || local) return undefined;
    return [...paths, new Path(originated.peer, 0, this.localAttrs!, true)];
  }

  /** `path` as the candidate import would store it (itself when nothing changes). */
  private judged(dest: Dest, path: Path): Path {
    const peer = this.peerOf.get(path.peer);
    if (!peer) return path;
    const received = this.input.rib.receivedAttrs(path);
    const kept = importedAttrs(
      path.peer,
      dest.nlri(path.pathId),
      received,
      peer.ingress,
      peer.local,
      this.scratch,
    );
    const attrs = kept ?? received;
    const loopFree = kept !== undefined;
    if (loopFree !== path.loopFree) {
      const changes = this.changes.get(path.peer)!;
      (loopFree ? changes.importAccepted : changes.importDropped).push(formatPrefix(dest));
    }
    if (loopFree === path.loopFree && attrs.key === path.attrs.key) return path;
    const judged = new Path(path.peer, path.pathId, attrs, loopFree, path.nextHop, path.epoch);
    judged.localPathId = path.localPathId;
    return judged;
  }

  /** What `peer` would be sent for the destination: one attribute key per path, as the Adj-RIB-Out exports. */
  private exportKeys(
    peer: PreviewPeer,
    dest: Dest,
    best: Path | undefined,
    multipath: readonly Path[],
    paths: readonly Path[],
  ): string[] {
    const mode = peer.sendMode(dest.afi);
    const sent = mode === 'best' ? (best ? [best] : []) : mode === 'ecmp' ? multipath : paths;
    const keys: string[] = [];
    for (const path of sent) {
      // A session is never sent its own routes back (RFC 4456 §8, the Adj-RIB-Out's member rule).
      if (!path.eligible || path.peer === peer.ribPeer) continue;
      const verdict = this.input.exportPolicy.exportVerdict(dest, path, peer.target);
      const attributes =
        verdict && this.input.exportPolicy.exportAttributes(path, dest.afi, peer.target, verdict);
      if (attributes) keys.push(attributesKey(attributes));
    }
    return keys;
  }

  private compare(changes: PeerRouteChanges, prefix: string, before: string[], after: string[]): void {
    if (before.length === 0 && after.length === 0) return;
    if (before.length === 0) changes.advertised.push(prefix);
    else if (after.length === 0) changes.withdrawn.push(prefix);
    else if (!sameKeys(before, after)) changes.changed.push(prefix);
  }
}

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const sortedB = [...b].sort();
  return [...a].sort().every((k, i) => k === sortedB[i]);
}
