// The BGP half of the daemon: sessions, the Loc-RIB and the Adj-RIB-Out wired together, with the
// reflector's rules and the routing policy (src/policy) plugged in. For each peer: session events →
// ingress (loop checks, the peer's import filters) → Loc-RIB → best-path changes → Adj-RIB-Out (the
// policy's per-prefix verdict, then RFC 4456) → bytes on every session of the update group. No
// protocol logic of its own.

import type { Subscription } from 'rxjs';
import { isIpv4, parseIpv4, parseIpv6 } from '../lib/address.ts';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import { silentLogger } from '../lib/log.ts';
import type { Logger } from '../lib/log.ts';
import { parsePrefix } from '../lib/prefix.ts';
import type { Nlri } from '../lib/prefix.ts';
import { CeaseSubcode, Origin, RouteRefreshSubtype, Safi } from '../bgp/constants.ts';
import type { RouteRefreshMessage } from '../bgp/types.ts';
import type { DownReason } from '../bgp/session/fsm.ts';
import { familyKey } from '../lib/family.ts';
import { BgpListener } from '../bgp/session/listener.ts';
import { Peer } from '../bgp/session/peer.ts';
import type { SessionEvent } from '../bgp/session/peer.ts';
import type { PeerConfig } from '../bgp/session/peer-config.ts';
import type { NegotiatedSession } from '../bgp/session/negotiate.ts';
import type { Connection } from '../bgp/session/connection.ts';
import { AdjRibOut } from '../rib/adj-rib-out.ts';
import type { AddPathSendMode, AdjRibOutOptions, GroupMember } from '../rib/adj-rib-out.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import { DEFAULT_DECISION_OPTIONS } from '../rib/decision.ts';
import type { DecisionOptions } from '../rib/decision.ts';
import type { NextHopResolver } from '../rib/nexthop.ts';
import { EXPORT_UNCHANGED } from '../rib/export.ts';
import type { ExportTarget, NextHopMode, PrefixExportPolicy } from '../rib/export.ts';
import { reimportPeer } from '../rib/adj-rib-in.ts';
import { applyUpdate } from '../rib/ingress.ts';
import type { IngressPolicy } from '../rib/ingress.ts';
import { IngressBacklog } from '../rib/ingress-backlog.ts';
import type { IngressBacklogOptions } from '../rib/ingress-backlog.ts';
import { LocRib } from '../rib/loc-rib.ts';
import { GracefulRestartHelper, restartTerms } from '../rib/graceful-restart.ts';
import type { RestartTerms } from '../rib/graceful-restart.ts';
import type { DeferralStatus, SelectionDeferral } from '../rib/selection-deferral.ts';
import type { Dest, RibPeer } from '../rib/route.ts';
import { Walker } from '../rib/walker.ts';
import { ReflectorExport, ReflectorIngress } from '../reflector/reflection.ts';
import type { ReflectorIdentity } from '../reflector/reflection.ts';
import type { RoutingPolicy } from '../policy/policy.ts';
import { previewRoutes } from '../policy/route-preview.ts';
import type { OriginationChanges } from '../policy/services.ts';
import type { PreviewPeer, RoutePreview } from '../policy/route-preview.ts';

export interface RouterOptions {
  readonly routerId: number;
  readonly localAs: number;
  /** RFC 4456 §7: defaults to the router ID. */
  readonly clusterId?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly decision?: DecisionOptions;
  readonly adjRibOut?: AdjRibOutOptions;
  readonly ingressBacklog?: IngressBacklogOptions;
  /** How NEXT_HOPs resolve (the kernel's view on a node); every next hop is reachable by default. */
  readonly nextHops?: NextHopResolver;
  /** RFC 4724 §4.2: how long a restarted peer's stale paths wait for its End-of-RIB. */
  readonly stalePathTimeSec?: number;
  /** BGPFilters, the export default, communities; without one, RFC 4456 alone decides (setPolicy). */
  readonly policy?: RoutingPolicy;
  /**
   * RFC 4724 §4.1: this speaker restarted; sessions get their routes and End-of-RIB only once the
   * deferral ends (every peer's End-of-RIB, or its timer).
   */
  readonly selectionDeferral?: SelectionDeferral;
}

/** A peer as the router runs it: the session config plus its routing role. */
export interface RouterPeerOptions extends PeerConfig {
  /** RFC 4456: reflect routes to this peer as a client. */
  readonly routeReflectorClient?: boolean;
  readonly nextHopMode?: NextHopMode;
  /** What to send when ADD-PATH send is negotiated (Calico enables ADD-PATH on every session). */
  readonly addPathSend?: AddPathSendMode;
  /** Our NEXT_HOP for the family the session does not run over (next-hop-self, local routes). */
  readonly nextHopAddress4?: string;
  readonly nextHopAddress6?: string;
  /** BGPPeer.filters: the BGPFilters of this peer's import and export, in order (§4.2). */
  readonly filters?: readonly string[];
  /** RFC 9494 §4.6: long-lived stale routes go to this peer even without LLGR, depreferenced. */
  readonly llgrPartialDeployment?: boolean;
}

/** One peer's session and its RIB-side state while Established. */
class RoutedPeer {
  ribPeer: RibPeer | undefined;
  member: GroupMember | undefined;
  /** What the member's update group exports by (changes with the peer's filters). */
  target: ExportTarget | undefined;
  /** Loop checks, and the peer's import filters when it has any. */
  ingress: IngressPolicy;
  /** What the current session negotiated for graceful restart (RFC 4724, RFC 8538, RFC 9494). */
  restartTerms: RestartTerms | undefined;
  /** Prefixes received on this session in families it did not negotiate (ignored, logged once). */
  foreignFamilyPrefixes = 0;
  /** Established while the selection is deferred: its member joins the Adj-RIB-Out when that ends. */
  deferred = false;
  /**
   * The session as the Adj-RIB-Out knows it: `member`, or while the selection is deferred a copy
   * limited to the families already released (RFC 4724 §4.1, per AFI/SAFI); undefined until then.
   */
  advertising: GroupMember | undefined;
  /** The session's events, detached before a stop for a restart so that nothing is withdrawn. */
  events: Subscription | undefined;

  constructor(
    public options: RouterPeerOptions,
    readonly peer: Peer,
    ingress: IngressPolicy,
  ) {
    this.ingress = ingress;
  }
}

let nextRibPeerId = 1;

/** Stored destinations import policy judges again per event-loop turn (rib/adj-rib-in.ts). */
const REIMPORT_VISITS_PER_TURN = 5_000;

export class Router {
  readonly locRib: LocRib;
  readonly adjRibOut: AdjRibOut;
  /** Holds reading from a peer that sends more than the RIB takes. */
  readonly ingressBacklog: IngressBacklog;
  readonly identity: ReflectorIdentity;
  private readonly ingress: ReflectorIngress;
  private readonly peers = new Map<string, RoutedPeer>();
  private readonly listeners: BgpListener[] = [];
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly localPeer: RibPeer;
  private readonly gracefulRestart: GracefulRestartHelper;
  private readonly deferral: SelectionDeferral | undefined;
  private policy: RoutingPolicy | undefined;
  private readonly decision: DecisionOptions;
  /** Walks of the Adj-RIB-In when import policy changes, one after another. */
  private readonly reimports = new Walker<Dest>(REIMPORT_VISITS_PER_TURN);
  /** The last re-evaluation of import started. */
  private reimporting: Promise<unknown> = Promise.resolve();

  constructor(options: RouterOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.identity = {
      routerId: options.routerId,
      clusterId: options.clusterId ?? options.routerId,
      localAs: options.localAs,
    };
    this.decision = options.decision ?? DEFAULT_DECISION_OPTIONS;
    this.locRib = new LocRib(this.decision, options.nextHops);
    this.ingress = new ReflectorIngress(this.identity);
    this.policy = options.policy;
    // The policy in force when a route is exported: setPolicy() replaces it.
    const routing: PrefixExportPolicy = {
      exportVerdict: (prefix, path, target) =>
        this.policy ? this.policy.exportVerdict(prefix, path, target) : EXPORT_UNCHANGED,
    };
    this.adjRibOut = new AdjRibOut(
      this.locRib,
      new ReflectorExport(this.identity, routing),
      this.log,
      options.adjRibOut,
    );
    this.ingressBacklog = new IngressBacklog(
      this.locRib,
      this.adjRibOut,
      this.clock,
      this.log,
      options.ingressBacklog,
    );
    this.gracefulRestart = new GracefulRestartHelper(
      this.locRib,
      this.clock,
      this.log,
      options.stalePathTimeSec,
    );
    this.deferral = options.selectionDeferral;
    // §4.1: the selection completes first — routes that came with the last End-of-RIB included.
    this.deferral?.onDone(() => void this.locRib.settled().then(() => this.releaseDeferred()));
    // §4.1 per AFI/SAFI: a family complete before the others is sent without waiting for them.
    this.deferral?.onFamilyReleased(() => void this.locRib.settled().then(() => this.releaseFamily()));
    this.localPeer = {
      id: 0,
      name: 'local',
      addressKey: '',
      bgpIdentifier: options.routerId,
      external: false,
      peerAs: options.localAs,
      routeReflectorClient: false,
      local: true,
    };
  }

  /** Accepts BGP connections on address:port for the configured peers. */
  async listen(address: string, port: number): Promise<BgpListener> {
    const listener = new BgpListener(address, port, (remote) => this.peers.get(remote)?.peer, this.log);
    await listener.listen();
    this.listeners.push(listener);
    return listener;
  }

  addPeer(options: RouterPeerOptions): Peer {
    if (this.peers.has(options.remoteAddress))
      throw new Error(`a peer at ${options.remoteAddress} already exists`);
    const peer = new Peer(options, this.clock, this.log);
    const routed = new RoutedPeer(options, peer, this.ingressFor(options.filters));
    for (const listener of this.listeners) {
      if (options.md5Key) listener.setMd5Key(options.remoteAddress, options.md5Key);
      if (options.ttlSecurityHops !== undefined) listener.enableGtsm();
    }
    this.peers.set(options.remoteAddress, routed);
    // A peer that cannot start (its password unreadable) is not waited for.
    if (options.configError === undefined) this.deferral?.expect(options.remoteAddress);
    routed.events = peer.events$.subscribe((event) => this.onEvent(routed, event));
    peer.start();
    return peer;
  }

  /** Stops a peer for good (Cease/Peer De-configured unless told otherwise) and forgets it. */
  removePeer(remoteAddress: string, subcode?: number, shutdownCommunication?: string): void {
    const routed = this.peers.get(remoteAddress);
    if (!routed) return;
    routed.peer.close(subcode, shutdownCommunication);
    this.sessionDown(routed);
    this.gracefulRestart.remove(remoteAddress);
    this.peers.delete(remoteAddress);
    this.deferral?.forget(remoteAddress);
    if (routed.options.md5Key) for (const listener of this.listeners) listener.setMd5Key(remoteAddress, '');
  }

  /**
   * A new routing policy (a BGPFilter, the pools, communities, service ranges changed): every update
   * group exports the Loc-RIB again and sends only the differences; when what import reads changed,
   * the stored paths of peers with import filters are judged again (no ROUTE-REFRESH). No session
   * resets.
   */
  setPolicy(policy: RoutingPolicy, importChanged: boolean): void {
    this.policy = policy;
    this.adjRibOut.reevaluate();
    if (!importChanged) return;
    for (const routed of this.peers.values()) if (routed.options.filters?.length) this.reimport(routed);
  }

  /**
   * BGPPeer.filters changed on a configured peer: its export moves to the new filters (its own update
   * group, only the differences sent) and its routes are judged again on import. The session stays up.
   */
  setPeerFilters(remoteAddress: string, filters: readonly string[]): void {
    const routed = this.peers.get(remoteAddress);
    if (!routed) return;
    routed.options = { ...routed.options, filters };
    routed.ingress = this.ingressFor(filters);
    if (routed.target) {
      routed.target = { ...routed.target, filters };
      if (routed.advertising) this.adjRibOut.retarget(routed.advertising, routed.target);
    }
    this.reimport(routed);
  }

  /**
   * Import is judged again over what the peer sent, as the Adj-RIB-In keeps it (rib/adj-rib-in.ts):
   * nothing is asked of the peer, and only paths whose verdict changes are decided again.
   */
  private reimport(routed: RoutedPeer): void {
    const { ribPeer } = routed;
    if (!ribPeer) return;
    const done = reimportPeer(
      this.locRib,
      ribPeer,
      routed.ingress,
      routed.peer.localAddresses,
      this.reimports,
      () => routed.ribPeer === ribPeer,
    );
    // The walker runs its walks in order: the last one started finishes last.
    this.reimporting = done;
  }

  /** Resolves once every import re-evaluation started so far has walked the Adj-RIB-In. */
  async reimported(): Promise<void> {
    await this.reimporting;
  }

  /**
   * Loop checks, then the peer's import filters (BGPPeer.filters) when it has any, under the policy in
   * force (or the one `policyOf` names).
   */
  private ingressFor(
    filters: readonly string[] | undefined,
    policyOf: () => RoutingPolicy | undefined = () => this.policy,
  ): IngressPolicy {
    if (!filters || filters.length === 0) return this.ingress;
    return {
      eligible: (peer, attrs) => this.ingress.eligible(peer, attrs),
      imported: (peer, prefix, attrs, table) => {
        const policy = policyOf();
        return policy ? policy.importAttributes(filters, peer, prefix, attrs, table) : attrs;
      },
    };
  }

  /**
   * What `candidate` would change in the routes each established session is sent and accepts, with
   * each peer's filters from `filtersOf` (undefined: the change removes the session). Nothing changes.
   */
  previewRoutes(
    candidate: RoutingPolicy,
    filtersOf: (remoteAddress: string) => readonly string[] | undefined,
    originated: OriginationChanges = { announce: [], withdraw: [] },
  ): Promise<RoutePreview> {
    const peers: PreviewPeer[] = [];
    const removed = new Set<RibPeer>();
    for (const routed of this.peers.values()) {
      const filters = filtersOf(routed.options.remoteAddress);
      if (filters === undefined && routed.ribPeer) removed.add(routed.ribPeer);
      const peer = filters && this.previewPeer(routed, candidate, filters);
      if (peer) peers.push(peer);
    }
    return previewRoutes({
      rib: this.locRib,
      peers,
      removed,
      exportPolicy: new ReflectorExport(this.identity, candidate),
      decision: this.decision,
      originated: { peer: this.localPeer, attributes: originatedAttributes(), ...originated },
    });
  }

  private previewPeer(
    routed: RoutedPeer,
    candidate: RoutingPolicy,
    filters: readonly string[],
  ): PreviewPeer | undefined {
    const { ribPeer, member, target, options } = routed;
    const advertised = member && this.adjRibOut.advertisedTo(member.name);
    if (!ribPeer || !member || !target || !advertised) return undefined;
    const mode = options.addPathSend ?? 'best';
    return {
      name: options.name,
      remoteAddress: options.remoteAddress,
      ribPeer,
      local: routed.peer.localAddresses,
      ingress: this.ingressFor(filters, () => candidate),
      target: { ...target, filters },
      advertised,
      sendMode: (afi) => (member.context.addPath.has(familyKey(afi, Safi.Unicast)) ? mode : 'best'),
    };
  }

  /**
   * RFC 9384: BFD saw the path to the peer die: Cease/BFD Down at once, its routes withdrawn (a local
   * stop keeps none as stale), and the session starts again after its IdleHoldTimer as usual.
   */
  bfdDown(remoteAddress: string): void {
    this.peers.get(remoteAddress)?.peer.reset(undefined, CeaseSubcode.BfdDown);
  }

  /** RFC 4724 §4.1: the selection deferral this router ran after a restart, if any (API, metrics). */
  get selectionDeferral(): DeferralStatus | undefined {
    return this.deferral?.status;
  }

  getPeer(remoteAddress: string): Peer | undefined {
    return this.peers.get(remoteAddress)?.peer;
  }

  /**
   * Soft reset out: the session gets every route again, as for a plain ROUTE-REFRESH (RFC 2918); the
   * re-dump covers every family its update group carries, so one refresh does.
   */
  resendRoutes(peer: Peer): boolean {
    const routed = this.peers.get(peer.config.remoteAddress);
    const [family] = routed?.peer === peer ? (peer.negotiated?.families ?? []) : [];
    if (!routed?.advertising || family === undefined) return false;
    this.adjRibOut.refresh(routed.advertising, family >> 8, family & 0xff, false);
    return true;
  }

  allPeers(): Peer[] {
    return [...this.peers.values()].map((r) => r.peer);
  }

  /** Originates a route (an IPAM block, a static route): ORIGIN IGP and an empty AS_PATH by default. */
  originate(prefix: string | Nlri, attributes: RouteAttributes = {}): void {
    const nlri = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    if (!nlri) throw new Error(`not a prefix: ${prefix as string}`);
    const attrs = this.locRib.attrSets.intern(originatedAttributes(attributes));
    this.locRib.announce(this.localPeer, nlri, attrs, true);
    this.locRib.attrSets.release(attrs);
  }

  withdrawOriginated(prefix: string | Nlri): void {
    const nlri = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
    if (nlri) this.locRib.withdraw(this.localPeer, nlri);
  }

  locRibSize(): number {
    return this.locRib.pathCount;
  }

  /** Stops every session (Cease with `subcode`, Peer De-configured by default) and every listener. */
  async close(subcode?: number, shutdownCommunication?: string): Promise<void> {
    for (const routed of this.peers.values()) routed.peer.close(subcode, shutdownCommunication);
    await this.closed();
  }

  /**
   * A planned restart (RFC 4724 §4): every session ends so that its peer keeps our routes (Peer
   * closeForRestart). The RIB hears nothing of it — no path withdrawn, no best path changed — so no
   * withdrawal reaches a peer still up and the kernel keeps every route.
   */
  async closeForRestart(shutdownCommunication?: string): Promise<void> {
    for (const routed of this.peers.values()) {
      routed.events?.unsubscribe();
      routed.peer.closeForRestart(shutdownCommunication);
    }
    await this.closed();
  }

  private async closed(): Promise<void> {
    this.peers.clear();
    this.ingressBacklog.close();
    this.gracefulRestart.close();
    await Promise.all(this.listeners.map((l) => l.close()));
  }

  // --- per-peer wiring ---------------------------------------------------------------------------------

  private onEvent(routed: RoutedPeer, event: SessionEvent): void {
    switch (event.kind) {
      case 'established':
        return this.sessionUp(routed, event.negotiated);
      case 'update': {
        const { ribPeer, member } = routed;
        if (!ribPeer || !member) return;
        const result = applyUpdate(
          this.locRib,
          ribPeer,
          event.update,
          routed.ingress,
          member.families,
          routed.peer.localAddresses,
        );
        this.ingressBacklog.applied(routed.peer);
        if (result.ignored > 0) this.foreignFamily(routed, result.ignored);
        if (result.endOfRib) this.endOfRib(routed, result.endOfRib.afi, result.endOfRib.safi);
        return;
      }
      case 'route-refresh':
        return this.routeRefresh(routed, event.message);
      case 'drain':
        if (routed.advertising) this.adjRibOut.writable(routed.advertising);
        return;
      case 'down':
        return this.sessionDown(routed, event.reason);
      case 'state':
        return;
    }
  }

  /**
   * End-of-RIB from the peer: a restarted peer's ends the wait for its stale paths (RFC 4724 §4.2),
   * and while we restart, it counts towards ending our own deferral (§4.1).
   */
  private endOfRib(routed: RoutedPeer, afi: number, safi: number): void {
    this.gracefulRestart.endOfRib(routed.options.remoteAddress, afi);
    this.deferral?.endOfRib(routed.options.remoteAddress, familyKey(afi, safi));
  }

  /** RFC 4760 §7: NLRI of a family not negotiated is ignored rather than reset the session; said once. */
  private foreignFamily(routed: RoutedPeer, ignored: number): void {
    if (routed.foreignFamilyPrefixes === 0)
      this.log.warn(
        { event: 'foreign-family', peer: routed.options.name, prefixes: ignored },
        'UPDATE carries NLRI of a family not negotiated on the session: ignored',
      );
    routed.foreignFamilyPrefixes += ignored;
  }

  /**
   * A ROUTE-REFRESH from the peer: a request (subtype 0) re-advertises the family to it; BoRR and EoRR
   * (RFC 7313 §4.2) bracket the peer re-advertising to us: what it does not re-send by EoRR is stale.
   */
  private routeRefresh(routed: RoutedPeer, message: RouteRefreshMessage): void {
    const { member, ribPeer } = routed;
    const enhanced = routed.peer.negotiated?.enhancedRouteRefresh ?? false;
    if (!member || !ribPeer || !routed.peer.negotiated?.families.has(familyKey(message.afi, message.safi)))
      return;
    // §4.1: a session still deferred is sent the family once it is released, not before.
    if (message.subtype === RouteRefreshSubtype.Normal) {
      if (routed.advertising) this.adjRibOut.refresh(routed.advertising, message.afi, message.safi, enhanced);
    } else if (message.subtype === RouteRefreshSubtype.BoRR && enhanced)
      this.locRib.markStale(ribPeer, message.afi);
    else if (message.subtype === RouteRefreshSubtype.EoRR && enhanced)
      void this.locRib.sweepStale(ribPeer, message.afi);
  }

  private sessionUp(routed: RoutedPeer, negotiated: NegotiatedSession): void {
    const session = routed.peer.session;
    if (!session) return;
    const terms = restartTerms(negotiated);
    routed.restartTerms = terms;
    routed.ribPeer = this.ribPeerFor(routed, negotiated, terms);
    routed.member = groupMember(
      routed.options.name,
      routed.ribPeer,
      routed.peer,
      session,
      negotiated.families,
    );
    routed.target = this.exportTarget(routed, negotiated, session.localAddress);
    if (this.deferral?.active) {
      // §4.1: the session receives and processes UPDATEs now; it is sent only families released.
      routed.deferred = true;
      this.deferral.sessionUp(routed.options.remoteAddress, endOfRibFamilies(negotiated));
      return this.advertiseReleased(routed);
    }
    this.advertise(routed, routed.member);
  }

  /** A restarted peer takes its stale paths back: what it re-announces replaces them (RFC 4724 §4.2). */
  private ribPeerFor(routed: RoutedPeer, negotiated: NegotiatedSession, terms: RestartTerms): RibPeer {
    const { options } = routed;
    const routeReflectorClient = options.routeReflectorClient ?? false;
    const retained = this.gracefulRestart.sessionUp(
      options.remoteAddress,
      terms,
      (previous) =>
        previous.bgpIdentifier === negotiated.peerBgpIdentifier &&
        previous.peerAs === negotiated.peerAs &&
        previous.external === negotiated.external &&
        previous.routeReflectorClient === routeReflectorClient,
    );
    return (
      retained ?? {
        id: nextRibPeerId++,
        name: options.name,
        addressKey: addressKey(options.remoteAddress),
        bgpIdentifier: negotiated.peerBgpIdentifier,
        external: negotiated.external,
        peerAs: negotiated.peerAs,
        routeReflectorClient,
        local: false,
      }
    );
  }

  /**
   * The session joins the Adj-RIB-Out as `member`: the table, then End-of-RIB; or, in the Adj-RIB-Out
   * already with fewer families, it is widened to `member`'s: only the added families are sent.
   */
  private advertise(routed: RoutedPeer, member: GroupMember): void {
    const before = routed.advertising;
    routed.advertising = member;
    if (before && this.adjRibOut.widen(before, member)) return;
    if (routed.target) this.adjRibOut.addMember(member, routed.target, routed.options.addPathSend ?? 'best');
  }

  /**
   * §4.1 per AFI/SAFI: a deferred session is sent the families whose selection is complete, each
   * followed by its End-of-RIB; a family released later is added to what it was sent.
   */
  private advertiseReleased(routed: RoutedPeer): void {
    const { member, ribPeer } = routed;
    const session = routed.peer.session;
    const deferral = this.deferral;
    if (!member || !ribPeer || !session || !deferral) return;
    const released = new Set([...member.families].filter((f) => deferral.released(f)));
    if (released.size === 0 || released.size === routed.advertising?.families.size) return;
    if (released.size === member.families.size) return this.advertise(routed, member);
    this.advertise(routed, groupMember(member.name, ribPeer, routed.peer, session, released));
  }

  /** A family's selection is complete (§4.1): the deferred sessions that negotiated it are sent it. */
  private releaseFamily(): void {
    for (const routed of this.peers.values()) if (routed.deferred) this.advertiseReleased(routed);
  }

  /** §4.1: the deferral ended: every session up gets the table, then End-of-RIB. */
  private releaseDeferred(): void {
    for (const routed of this.peers.values()) {
      routed.peer.restartEnded();
      if (!routed.deferred || !routed.member) continue;
      routed.deferred = false;
      if (routed.advertising !== routed.member) this.advertise(routed, routed.member);
    }
  }

  private exportTarget(
    routed: RoutedPeer,
    negotiated: NegotiatedSession,
    localAddress: string | undefined,
  ): ExportTarget {
    const o = routed.options;
    const sessionV4 = localAddress !== undefined && isIpv4(localAddress);
    return {
      external: negotiated.external,
      routeReflectorClient: o.routeReflectorClient ?? false,
      localAs: o.localAs,
      peerAs: negotiated.peerAs,
      nextHopMode: o.nextHopMode ?? 'auto',
      localAddress4: o.nextHopAddress4 ?? (sessionV4 ? localAddress : undefined),
      localAddress6: o.nextHopAddress6 ?? (sessionV4 ? undefined : localAddress),
      filters: o.filters,
      longLivedGracefulRestart: negotiated.longLivedGracefulRestart,
      llgrPartialDeployment: o.llgrPartialDeployment,
    };
  }

  /** Without a reason (de-configured) or without graceful restart, the peer's paths go at once. */
  private sessionDown(routed: RoutedPeer, reason?: DownReason): void {
    if (routed.advertising) this.adjRibOut.removeMember(routed.advertising);
    this.ingressBacklog.forget(routed.peer);
    const { ribPeer } = routed;
    const kept =
      ribPeer !== undefined &&
      reason !== undefined &&
      this.gracefulRestart.sessionLost(routed.options.remoteAddress, ribPeer, routed.restartTerms, reason);
    if (ribPeer && !kept) this.locRib.withdrawPeer(ribPeer);
    if (reason !== undefined) this.deferral?.sessionDown(routed.options.remoteAddress);
    routed.deferred = false;
    routed.member = undefined;
    routed.advertising = undefined;
    routed.target = undefined;
    routed.ribPeer = undefined;
    routed.restartTerms = undefined;
    routed.foreignFamilyPrefixes = 0;
  }
}

/** One session as the Adj-RIB-Out sees it, sending the `families` given (a subset while deferred). */
function groupMember(
  name: string,
  ribPeer: RibPeer,
  peer: Peer,
  session: Connection,
  families: ReadonlySet<number>,
): GroupMember {
  return {
    name,
    // The Adj-RIB-Out keeps a member's own routes from being reflected back to it (RFC 4456 §8).
    ribPeer,
    families,
    context: session.encodeContext,
    send: (bytes, messages) => session.sendUpdates(bytes, messages),
    get bufferedBytes() {
      return session.bufferedBytes;
    },
    sendRouteRefresh: (afi, safi, subtype) => peer.requestRouteRefresh(afi, safi, subtype),
  };
}

/** Peer addresses compared as numbers of equal width (§9.1.2.2 g), IPv4 before IPv6. */
function addressKey(address: string): string {
  const v4 = parseIpv4(address);
  if (v4 >= 0) return `4:${v4.toString(16).padStart(8, '0')}`;
  return `6:${Buffer.from(parseIpv6(address) ?? []).toString('hex')}`;
}

/**
 * §4.1: the families whose End-of-RIB the deferral waits for: every negotiated one (§2: a speaker
 * with the capability sends End-of-RIB for each after its initial update); none — the peer is not
 * waited for — without the capability or with its Restart State bit set.
 */
function endOfRibFamilies(negotiated: NegotiatedSession): number[] | undefined {
  const capability = negotiated.peerGracefulRestart;
  if (!capability || capability.restartState) return undefined;
  return [...negotiated.families];
}

/** A route this node originates: ORIGIN IGP, an empty AS_PATH, unless told otherwise. */
function originatedAttributes(attributes: RouteAttributes = {}): RouteAttributes {
  return { origin: Origin.Igp, asPath: [], ...attributes };
}
