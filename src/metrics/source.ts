// What the metrics and the API read, as structural views: the running router (the daemon replaces it
// when the speaker's identity changes), the stream of routers, and the datastore's health. Depending on
// these shapes rather than on the daemon keeps both modules testable with a bare Router.

import { EMPTY } from 'rxjs/internal/observable/empty';
import { of } from 'rxjs/internal/observable/of';
import { switchMap } from 'rxjs/internal/operators/switchMap';
import type { Observable } from 'rxjs';
import type { StoreHealth } from '../datastore/store.ts';
import type { Peer } from '../bgp/session/peer.ts';
import type { AttrSet } from '../rib/attr-set.ts';
import type { BestPathChange, DecidedBatch, LocRib } from '../rib/loc-rib.ts';
import type { Dest, RibPeer } from '../rib/route.ts';
import type { DeferralStatus } from '../rib/selection-deferral.ts';

/** The Adj-RIB-Out figures the metrics read (rib/adj-rib-out.ts). */
export interface AdjRibOutView {
  readonly groupCount: number;
  /** Destinations staged and not yet exported, over all update groups. */
  readonly backlog: number;
  /** Initial dumps or refreshes still walking the Loc-RIB. */
  readonly dumping: number;
  /** UPDATE messages built, once per group however many members. */
  readonly messagesBuilt: number;
  /**
   * Prefixes advertised to each session (member name → family name → count), once the Adj-RIB-Out
   * keeps that count; until then brindle_bgp_prefixes_advertised has no series.
   */
  advertisedPrefixes?(): ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** What the session named `name` was sent for a destination (undefined: no such session up). */
  advertisedTo?(name: string): ((dest: Dest) => { attrs: AttrSet; source: RibPeer }[]) | undefined;
  /** Per member name: destinations staged for it and octets on its socket (rib/adj-rib-out.ts). */
  memberBacklogs?(): ReadonlyMap<string, { readonly staged: number; readonly queuedBytes: number }>;
}

/** The ingress backpressure per peer (rib/ingress-backlog.ts). */
export interface IngressBacklogView {
  backlog(peer: Peer): number;
  isHeld(peer: Peer): boolean;
  holds(peer: Peer): number;
}

/** The router as the metrics and the API see it (daemon/router.ts satisfies it). */
export interface RouterView {
  allPeers(): Peer[];
  readonly locRib: LocRib;
  readonly adjRibOut: AdjRibOutView;
  readonly ingressBacklog?: IngressBacklogView;
  readonly identity: { readonly routerId: number; readonly clusterId: number; readonly localAs: number };
  /** Soft reset out: sends the peer's session every route again (false when it is not up). */
  resendRoutes?(peer: Peer): boolean;
  /** RFC 4724 §4.1: the selection deferral after a graceful restart; undefined when none ran. */
  readonly selectionDeferral?: DeferralStatus;
}

export interface BrindleSource {
  /** The running router; undefined until this node's Node resource has been read. */
  readonly bgp: RouterView | undefined;
  /** Every router the daemon runs, in turn (a replayed current value first). */
  readonly router$: Observable<RouterView | undefined>;
  /** The datastore's health; absent when there is no datastore (a bare router in tests). */
  readonly datastoreHealth$?: Observable<StoreHealth>;
}

/** A source over one router that never changes (tests, benchmarks). */
export function routerSource(router: RouterView, datastoreHealth$?: Observable<StoreHealth>): BrindleSource {
  return {
    bgp: router,
    router$: of(router),
    datastoreHealth$,
  };
}

/**
 * Every decision batch of whichever router is running: the destinations decided, plain references into
 * the Loc-RIB (read them in the same turn). Unlike `ribChanges`, listening makes the Loc-RIB build
 * nothing.
 */
export function ribDecisions(source: BrindleSource): Observable<DecidedBatch> {
  return source.router$.pipe(switchMap((router) => router?.locRib.decided$ ?? EMPTY));
}

/**
 * Best-path changes of whichever router is running, batch by batch. While anybody listens, the Loc-RIB
 * builds a change object per changed destination: subscribe only while someone needs them.
 */
export function ribChanges(source: BrindleSource): Observable<readonly BestPathChange[]> {
  return source.router$.pipe(switchMap((router) => router?.locRib.bestPathChanges$ ?? EMPTY));
}

/** How a session came to be, from its name (Calico's BIRD protocol names, reflector/topology.ts). */
export type PeerType = 'mesh' | 'global' | 'node' | 'other';

export function peerType(name: string): PeerType {
  if (name.startsWith('Mesh_')) return 'mesh';
  if (name.startsWith('Global_')) return 'global';
  if (name.startsWith('Node_')) return 'node';
  return 'other';
}
