// The composition root: opens the datastore, follows the resources, computes this node's sessions
// (the topology) and applies only the difference to the router: new peers start, removed peers get a
// Cease, changed peers restart, and no other session flaps; a peer whose BGPFilters changed keeps its
// session. The routing policy (src/policy) is rebuilt from the resources and this node's routes when
// they change, and handed to the router. No protocol logic lives here.

import { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
import { Subscription } from 'rxjs/internal/Subscription';
import type { Observable } from 'rxjs';
import type { Logger } from '../lib/log.ts';
import { parseIpv4 } from '../lib/address.ts';
import { CeaseSubcode } from '../bgp/constants.ts';
import { openStore, storeConfig } from '../datastore/open.ts';
import type { Store } from '../datastore/store.ts';
import { ResourceCache, ResourceStore } from '../resources/store.ts';
import type { ResourceSnapshot } from '../resources/store.ts';
import type { Node } from '../resources/types.ts';
import { RoutingPolicy } from '../policy/policy.ts';
import type { PolicyInputs } from '../policy/policy.ts';
import type { RoutePreview } from '../policy/route-preview.ts';
import { originationChanges } from '../policy/services.ts';
import type { OriginationChanges } from '../policy/services.ts';
import { configuredListenPort } from '../resources/defaults.ts';
import { computeTopology, diffPeerings, toPeerConfig } from '../reflector/topology.ts';
import { resetFields } from '../reflector/session-preview.ts';
import { readSecret } from './secrets.ts';
import type { DesiredPeering, SpeakerSettings } from '../reflector/topology.ts';
import type { NextHopMode } from '../rib/export.ts';
import type { RouteAttributes } from '../rib/attr-set.ts';
import type { BrindleConfig } from '../config/config.ts';
import { Router } from './router.ts';
import { BfdPeers } from './bfd-peers.ts';
import { RestartStateFile, routesKeptSec } from './restart-state.ts';
import { SelectionDeferral } from '../rib/selection-deferral.ts';
import { systemClock } from '../lib/clock.ts';
import { MemoryTrim } from './memory-trim.ts';
// Node mode only (the kernel FIB, IPAM block routes): imported when node mode starts, so a reflector
// never loads them.
import type { NodeRouting } from './node-routing.ts';
import type { IpamRoutes } from './ipam-routes.ts';
import { ipipPolicy } from './ipip-routes.ts';
import type { IpipPolicy } from './ipip-routes.ts';
import type { NodeRoutes } from '../ipam/routes.ts';
import { formatPrefix, parsePrefix } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { RouterPeerOptions } from './router.ts';

/** How often the secrets in use are checked for a change (a changed password restarts its session). */
const SECRETS_POLL_MS = 10_000;

/**
 * A peering with its password read: the key, or why it cannot be read, takes part in the diff like
 * any other field, so a changed secret restarts exactly the sessions that use it.
 */
type ArmedPeering = DesiredPeering & {
  readonly md5Key?: string;
  readonly passwordError?: string;
  /** What the secret file looked like when read (changes with it). */
  readonly secretStamp?: string;
};

interface SpeakerIdentity {
  readonly routerId: number;
  readonly localAs: number;
  readonly clusterId: number | undefined;
  readonly listenAddresses: readonly string[];
  readonly listenPort: number;
}

function sameIdentity(a: SpeakerIdentity, b: SpeakerIdentity): boolean {
  return (
    a.routerId === b.routerId &&
    a.localAs === b.localAs &&
    a.clusterId === b.clusterId &&
    a.listenPort === b.listenPort &&
    a.listenAddresses.join() === b.listenAddresses.join()
  );
}

export class Daemon {
  private router: Router | undefined;
  private identity: SpeakerIdentity | undefined;
  /** The peerings the router runs, by name. */
  private peerings: ArmedPeering[] = [];
  private lastSnapshot: ResourceSnapshot | undefined;
  private secretsPoll: ReturnType<typeof setInterval> | undefined;
  /** Node mode: the kernel FIB and the routes of this node's IPAM blocks. */
  private nodeRouting: NodeRouting | undefined;
  private ipam: IpamRoutes | undefined;
  private readonly ipamOriginated = new Set<string>();
  /** This node's own blocks (its affinities), for the export default's aggregates. */
  private ownBlocks: readonly Prefix[] = [];
  /** Service ranges this node originates (§7.6). */
  private readonly serviceOriginated = new Set<string>();
  private policy: RoutingPolicy | undefined;
  /** What the policy was built from, to rebuild it only on a change. */
  private policyKey = '';
  private importKey = '';
  /** Routes this node originates (its address blocks); replayed into a new router. */
  private readonly originated = new Map<string, RouteAttributes>();
  private readonly subscription = new Subscription();
  private applying = Promise.resolve();
  private readonly routers = new BehaviorSubject<Router | undefined>(undefined);
  /** The running router, then each replacement (the metrics and the API follow it). */
  readonly router$: Observable<Router | undefined> = this.routers.asObservable();
  /** BFD for the peers that ask for it (failureDetectionMode); Up → Down takes the BGP session down. */
  readonly bfd: BfdPeers;
  /** RFC 4724 §4.1: this start is a graceful restart, and the first router defers its selection. */
  private deferral: SelectionDeferral | undefined;
  private restartState: RestartStateFile | undefined;
  /** The previous run's forwarding (node: its kernel routes) or routing (reflector) state is kept. */
  private restarted = false;
  /** Returns freed memory to the kernel once the daemon goes quiet. */
  readonly memoryTrim = new MemoryTrim();

  private constructor(
    readonly config: BrindleConfig,
    readonly store: Store,
    readonly resources: ResourceStore,
    readonly cache: ResourceCache,
    private readonly log: Logger,
  ) {
    this.bfd = new BfdPeers({ log, onDown: (peer) => this.router?.bfdDown(peer), thread: true });
  }

  static async start(config: BrindleConfig, log: Logger): Promise<Daemon> {
    const store = await openStore(storeConfig(config.datastore));
    const daemon = new Daemon(config, store, new ResourceStore(store), new ResourceCache(store, log), log);
    log.info(
      { event: 'start', mode: config.mode, node: config.nodeName, datastore: config.datastore.type },
      'brindle starting',
    );
    await daemon.registerNode();
    if (config.mode === 'node') await daemon.startNodeRouting();
    daemon.detectRestart();
    daemon.subscription.add(
      daemon.cache.health$.subscribe((health) =>
        log.info({ event: 'datastore', health }, `datastore ${health}`),
      ),
    );
    daemon.subscription.add(daemon.cache.snapshot$.subscribe((s) => s && daemon.enqueue(s)));
    daemon.watchSecrets();
    daemon.memoryTrim.start(log, daemon.router$);
    await daemon.cache.start();
    return daemon;
  }

  /**
   * Node mode: the kernel FIB (refusing to start without the native addon) and the routes this
   * node's IPAM blocks call for — originated over BGP, blackholed in the kernel.
   */
  private async startNodeRouting(): Promise<void> {
    const [{ NodeRouting }, { IpamRoutes }] = await Promise.all([
      import('./node-routing.ts'),
      import('./ipam-routes.ts'),
    ]);
    if (this.config.fib.enabled) this.nodeRouting = await NodeRouting.start(this.config, this.log);
    const ipam = new IpamRoutes(this.store, this.config.nodeName, this.log);
    this.ipam = ipam;
    this.subscription.add(this.cache.snapshot$.subscribe((s) => s && ipam.setPools(s.pools)));
    this.subscription.add(
      this.cache.snapshot$.subscribe((s) => s && this.nodeRouting?.setIpip(this.ipipPolicyOf(s))),
    );
    this.subscription.add(ipam.routes$.subscribe((routes) => this.applyIpamRoutes(routes)));
    await ipam.start();
  }

  /**
   * RFC 4724 §4.1: a node that finds its kernel routes, or a daemon whose restart state file says its
   * peers still hold its routes, restarted: the Restart State bit goes into its OPENs and its
   * selection waits for the peers' End-of-RIB (or the Selection_Deferral_Timer).
   */
  private detectRestart(): void {
    const { bgp } = this.config;
    if (bgp.restartStateFile) this.restartState = new RestartStateFile(bgp.restartStateFile, this.log);
    const kernelRoutes = this.nodeRouting?.preservedRoutes ?? 0;
    const fromFile = this.restartState?.previousRunRestarting() ?? false;
    this.restarted = bgp.gracefulRestart && (kernelRoutes > 0 || fromFile);
    if (!this.restarted || bgp.selectionDeferralTimeSec === 0) return;
    this.deferral = new SelectionDeferral(systemClock, this.log, bgp.selectionDeferralTimeSec);
    this.log.info(
      { event: 'graceful-restart-restarting', kernelRoutes, fromFile, timeSec: bgp.selectionDeferralTimeSec },
      'restarted: deferring route selection until every peer sent End-of-RIB (RFC 4724 §4.1)',
    );
  }

  /** IPIP pools tunnel their blocks' routes; CrossSubnet needs this node's subnet (its Node resource). */
  private ipipPolicyOf(snapshot: ResourceSnapshot): IpipPolicy {
    const node = snapshot.nodes.find((n) => n.metadata.name === this.config.nodeName);
    return ipipPolicy(snapshot.pools, node?.spec.bgp?.ipv4Address || this.config.node.ipv4Address);
  }

  private applyIpamRoutes(routes: NodeRoutes): void {
    this.moveOrigination(this.ipamOriginated, routes.originate);
    this.nodeRouting?.setBlackholes(routes.blackhole);
    this.ownBlocks = routes.blackhole;
    if (this.lastSnapshot) this.applyPolicy(this.lastSnapshot);
  }

  /** This node's Node resource carries the addresses from the daemon config (as calico-node writes them at start). */
  private async registerNode(): Promise<void> {
    const { ipv4Address, ipv6Address } = this.config.node;
    if (!ipv4Address && !ipv6Address) return;
    const current = (await this.resources.get('Node', this.config.nodeName)) as Node | undefined;
    const bgp = {
      ...current?.spec.bgp,
      ...(ipv4Address ? { ipv4Address } : {}),
      ...(ipv6Address ? { ipv6Address } : {}),
    };
    const metadata = current?.metadata.labels
      ? { name: this.config.nodeName, labels: current.metadata.labels }
      : { name: this.config.nodeName };
    const node = {
      apiVersion: 'projectcalico.org/v3',
      kind: 'Node',
      metadata,
      spec: { ...current?.spec, bgp },
    };
    const result = await this.resources.write(node, 'apply');
    if (!result.ok)
      this.log.error({ event: 'node-register', errors: result.errors }, 'cannot register this node');
  }

  /** Snapshots are applied one at a time, in order. */
  private enqueue(snapshot: ResourceSnapshot): void {
    this.applying = this.applying
      .then(() => this.apply(snapshot))
      .catch((error: unknown) =>
        this.log.error({ event: 'apply-failed', reason: String(error) }, 'could not apply resources'),
      );
  }

  private async apply(snapshot: ResourceSnapshot): Promise<void> {
    const topology = computeTopology({
      localNode: this.config.nodeName,
      nodes: snapshot.nodes,
      peers: snapshot.peers,
      configs: snapshot.configs,
      routerId: this.config.routerId || undefined,
    });
    const speaker = topology.speaker;
    if (!speaker) {
      this.log.warn(
        { event: 'no-node', node: this.config.nodeName },
        'no Node resource for this node yet; sessions unchanged',
      );
      return;
    }
    const identity = this.identityOf(speaker, snapshot);
    if (!identity) return;
    await this.ensureRouter(identity);
    this.lastSnapshot = snapshot;
    this.applyPolicy(snapshot);
    this.applyPeerings(
      dedupe(topology.peerings, this.log).map((p) => this.arm(this.withLlgrRestartTime(p))),
      identity,
    );
    const { nodes, peers, bfdConfigs } = snapshot;
    this.bfd.apply({ nodeName: this.config.nodeName, nodes, peers, bfdConfigs, peerings: this.peerings });
  }

  /**
   * Builds the routing policy from the resources and this node's routes, and hands it to the router
   * when anything it reads changed; in node mode also originates the service ranges and keeps learned
   * routes for them out of the kernel (§7.6).
   */
  private applyPolicy(snapshot: ResourceSnapshot): void {
    const inputs = this.policyInputs(snapshot);
    const key = JSON.stringify(inputs, (_k, v: unknown) => (isPrefix(v) ? formatPrefix(v) : v));
    if (key === this.policyKey && this.policy) return;
    this.policyKey = key;
    const policy = this.policyOf(inputs);
    this.policy = policy;
    if (this.config.mode === 'node') {
      this.applyServiceRanges(policy);
      this.nodeRouting?.setNormalPriorities(policy.normalPriorities);
    }
    const importKey = JSON.stringify([snapshot.filters, policy.normalPriorities]);
    const importChanged = importKey !== this.importKey;
    this.importKey = importKey;
    this.router?.setPolicy(policy, importChanged);
  }

  /** What the policy reads: the resources, and this node's own blocks and routes. */
  private policyInputs(snapshot: ResourceSnapshot): PolicyInputs {
    const node = snapshot.nodes.find((n) => n.metadata.name === this.config.nodeName);
    return {
      mode: this.config.mode,
      nodeName: this.config.nodeName,
      nodeLabels: node?.metadata.labels,
      routeReflector: Boolean(node?.spec.bgp?.routeReflectorClusterID),
      filters: snapshot.filters,
      pools: snapshot.pools,
      configs: snapshot.configs,
      ownBlocks: this.ownBlocks,
      staticRoutes: this.staticRoutes(),
    };
  }

  private policyOf(inputs: PolicyInputs): RoutingPolicy {
    const policy = new RoutingPolicy(inputs);
    policy.interfaceOf = (nextHop) => this.nodeRouting?.deviceOf(nextHop);
    return policy;
  }

  /**
   * `apply --dry-run`: what the resources in `candidate` would change in the routes each established
   * session is sent and accepts, `peerings` being the sessions they make. Changes nothing.
   */
  previewRoutes(
    candidate: ResourceSnapshot,
    peerings: readonly DesiredPeering[],
  ): Promise<RoutePreview> | undefined {
    // A second session to one address is ignored when applied (dedupe): the first one counts.
    const filters = new Map<string, readonly string[]>();
    for (const p of peerings) if (!filters.has(p.remoteAddress)) filters.set(p.remoteAddress, p.filters);
    const ipamRoutes = this.ipam?.routesFor(candidate.pools);
    const inputs = this.policyInputs(candidate);
    const policy = this.policyOf(ipamRoutes ? { ...inputs, ownBlocks: ipamRoutes.blackhole } : inputs);
    const originated = this.originationOf(policy, ipamRoutes);
    return this.router?.previewRoutes(policy, (address) => filters.get(address), originated);
  }

  /** How `policy` and the IPAM routes of the candidate pools would move this node's originated routes. */
  private originationOf(policy: RoutingPolicy, ipamRoutes: NodeRoutes | undefined): OriginationChanges {
    // Service ranges are originated in node mode only (applyPolicy).
    const services =
      this.config.mode === 'node'
        ? originationChanges(this.serviceOriginated, policy.services.advertise)
        : undefined;
    const blocks = ipamRoutes && originationChanges(this.ipamOriginated, ipamRoutes.originate);
    return {
      announce: [...(services?.announce ?? []), ...(blocks?.announce ?? [])],
      withdraw: [...(services?.withdraw ?? []), ...(blocks?.withdraw ?? [])],
    };
  }

  /** Routes originated here that IPAM did not ask for (Daemon.originate): confd's static routes. */
  private staticRoutes(): Prefix[] {
    const statics: Prefix[] = [];
    for (const prefix of this.originated.keys()) {
      if (this.ipamOriginated.has(prefix) || this.serviceOriginated.has(prefix)) continue;
      const parsed = parsePrefix(prefix);
      if (parsed) statics.push(parsed);
    }
    return statics;
  }

  private applyServiceRanges(policy: RoutingPolicy): void {
    this.moveOrigination(this.serviceOriginated, policy.services.advertise);
    this.nodeRouting?.setNoKernel(policy.services.noKernel);
  }

  /** Originates and withdraws so that the routes of one kind (`current`) become `wanted`. */
  private moveOrigination(current: Set<string>, wanted: readonly Prefix[]): void {
    const { announce, withdraw } = originationChanges(current, wanted);
    for (const prefix of withdraw) {
      current.delete(prefix);
      this.withdrawRoute(prefix);
    }
    for (const prefix of announce) {
      const text = formatPrefix(prefix);
      current.add(text);
      this.originateRoute(text);
    }
  }

  /**
   * RFC 9494 §4.2: on a long-lived graceful restart session the Restart Time is how long peers keep
   * the routes unchanged before they turn LLGR-stale; `bgp.llgrRestartTimeSec` (BIRD's 120 s unless set).
   */
  private withLlgrRestartTime(peering: DesiredPeering): DesiredPeering {
    if (peering.longLivedStaleTimeSec === undefined) return peering;
    return { ...peering, gracefulRestartTimeSec: this.config.bgp.llgrRestartTimeSec };
  }

  /** Reads the peering's password secret (`secrets.dir`); an unusable one is an error on the peer. */
  private arm(peering: DesiredPeering): ArmedPeering {
    const ref = peering.password;
    if (!ref) return peering;
    const read = readSecret(this.config.secrets.dir, ref);
    if (read.ok) return { ...peering, md5Key: read.value, secretStamp: read.stamp };
    // Kubernetes' `optional`: a secret that is not there means no password, said out loud.
    if (ref.optional === true && read.stamp === 'absent') {
      this.log.warn(
        { event: 'secret-optional', peer: peering.name, reason: read.reason },
        'optional password secret absent: no TCP MD5',
      );
      return { ...peering, secretStamp: read.stamp };
    }
    this.log.error(
      { event: 'secret-error', peer: peering.name, reason: read.reason },
      "cannot read the peer's password secret",
    );
    return { ...peering, passwordError: `TCP MD5 password: ${read.reason}`, secretStamp: read.stamp };
  }

  /** Re-applies the resources when a secret in use changed on disk (bounded: only the ones in use). */
  private watchSecrets(): void {
    this.secretsPoll = setInterval(() => {
      const changed = this.peerings.some(
        (p) =>
          p.password !== undefined && readSecret(this.config.secrets.dir, p.password).stamp !== p.secretStamp,
      );
      if (changed && this.lastSnapshot) this.enqueue(this.lastSnapshot);
    }, SECRETS_POLL_MS);
    this.secretsPoll.unref();
  }

  private identityOf(speaker: SpeakerSettings, snapshot: ResourceSnapshot): SpeakerIdentity | undefined {
    const routerId = speaker.routerId ? parseIpv4(speaker.routerId) : -1;
    if (routerId <= 0) {
      this.log.error(
        { event: 'no-router-id', node: speaker.nodeName },
        'no router ID: give the node an IPv4 address or set routerId',
      );
      return undefined;
    }
    const clusterId = speaker.routeReflectorClusterId
      ? parseIpv4(speaker.routeReflectorClusterId)
      : undefined;
    // BGPConfiguration's listenPort wins; without one the daemon config decides.
    const listenPort =
      configuredListenPort(snapshot.configs, this.config.nodeName) ?? this.config.bgp.listenPort;
    const listenAddresses = speaker.listenAddresses ?? [this.config.bgp.listenAddress];
    return { routerId, localAs: speaker.asNumber, clusterId, listenAddresses, listenPort };
  }

  /** A new router ID, AS, cluster ID or listen address means a new router: every session restarts. */
  private async ensureRouter(identity: SpeakerIdentity): Promise<void> {
    if (this.router && this.identity && sameIdentity(this.identity, identity)) return;
    if (this.router) {
      this.log.warn(
        { event: 'speaker-changed' },
        'router ID, AS, cluster ID or listen address changed: restarting every session',
      );
      await this.router.close(CeaseSubcode.OtherConfigurationChange);
      this.peerings = [];
    }
    // Only the first router runs the restart's deferral; a replacement restarts every session anyway.
    if (this.router && this.deferral?.active) this.deferral.finish('the speaker identity changed');
    const router = new Router({
      routerId: identity.routerId,
      localAs: identity.localAs,
      clusterId: identity.clusterId,
      log: this.log,
      nextHops: this.nodeRouting?.ribResolver(),
      policy: this.policy,
      selectionDeferral: this.deferral?.active ? this.deferral : undefined,
    });
    this.followWhenSelected(router);
    for (const address of identity.listenAddresses) await router.listen(address, identity.listenPort);
    for (const [prefix, attributes] of this.originated) router.originate(prefix, attributes);
    this.router = router;
    this.identity = identity;
    this.routers.next(router);
    this.log.info(
      { event: 'listening', addresses: identity.listenAddresses, port: identity.listenPort },
      'BGP listening',
    );
  }

  /**
   * Node mode: the kernel follows the Loc-RIB; after a restart only once the deferral ended (§4.1:
   * the forwarding state kept meanwhile), and then the kernel routes it did not relearn go.
   */
  private followWhenSelected(router: Router): void {
    const routing = this.nodeRouting;
    if (!routing) return;
    if (!this.deferral?.active) return routing.follow(router.locRib);
    // Decided first, so no route that came with the last End-of-RIB is pruned and added back.
    this.deferral.onDone(
      () =>
        void router.locRib.settled().then(() => {
          if (this.router !== router) return;
          routing.follow(router.locRib);
          routing.selectionDone();
        }),
    );
  }

  private applyPeerings(desired: ArmedPeering[], identity: SpeakerIdentity): void {
    const router = this.router!;
    const diff = diffPeerings(this.peerings, desired);
    for (const p of diff.removed) {
      this.log.info({ event: 'peer-removed', peer: p.name }, 'peer removed');
      router.removePeer(p.remoteAddress, CeaseSubcode.PeerDeConfigured);
    }
    for (const change of diff.changed) {
      if (resetFields(change.fields).length === 0) {
        if (change.fields.includes('filters')) this.changeFilters(change.after);
        continue;
      }
      this.log.info(
        { event: 'peer-changed', peer: change.name, fields: change.fields },
        'peer changed; restarting its session',
      );
      router.removePeer(change.before.remoteAddress, CeaseSubcode.OtherConfigurationChange);
      router.addPeer(routerPeer(change.after, identity, this.restartSettings()));
    }
    for (const p of diff.added) {
      this.log.info({ event: 'peer-added', peer: p.name, remote: p.remoteAddress }, 'peer added');
      router.addPeer(routerPeer(p, identity, this.restartSettings()));
    }
    this.peerings = desired;
    for (const p of desired) this.warnMissingFilters(p);
    // §4.1: the peers to wait for are known once the resources were applied.
    this.deferral?.configured();
    this.recordRestartTime(desired);
  }

  /** The restart state file holds how long the peers keep our routes at most (restart-state.ts). */
  private recordRestartTime(desired: readonly ArmedPeering[]): void {
    if (!this.restartState) return;
    const longest = this.config.bgp.gracefulRestart ? Math.max(0, ...desired.map(routesKeptSec)) : 0;
    this.restartState.alive(longest);
  }

  /** BGPPeer.filters changed: the session stays up, its routes are judged by the new list (§4.2). */
  private changeFilters(p: ArmedPeering): void {
    this.log.info(
      { event: 'peer-filters-changed', peer: p.name, filters: p.filters },
      "peer's BGPFilters changed; re-evaluating its routes without a session reset",
    );
    this.router?.setPeerFilters(p.remoteAddress, p.filters);
  }

  /**
   * A filter the BGPPeer names but no BGPFilter defines is ignored, as confd ignores it; said in the
   * log and on the peer (its last error, shown by `brindlectl peers NAME`).
   */
  private warnMissingFilters(p: ArmedPeering): void {
    const missing = this.policy?.missingFilters(p.filters) ?? [];
    if (missing.length === 0) return;
    const reason = `BGPFilter ${missing.map((n) => `"${n}"`).join(', ')} does not exist: ignored`;
    const peer = this.router?.getPeer(p.remoteAddress);
    if (peer?.counters.lastError === reason) return;
    this.log.warn({ event: 'filter-missing', peer: p.name, filters: missing }, reason);
    peer?.counters.error(reason);
  }

  /**
   * RFC 4724 §3: the capability when graceful restart is on; the Forwarding State bit only when the
   * kernel routes really survive a restart (node mode keeping its routes on stop). A route reflector
   * forwards nothing, and without deferring its best-path selection after a restart (§4.1) it does
   * not claim preserved state.
   */
  private restartSettings(): RestartSettings {
    const { bgp, fib, mode } = this.config;
    const keepsKernel = fib.enabled && fib.keepRoutesOnStop;
    // §4.1: after a restart, F only where the kernel routes really survived it.
    const kernelKept = !this.restarted || (this.nodeRouting?.preservedRoutes ?? 0) > 0;
    // A reflector forwards nothing; its state is the routes its clients hold. It claims F ("unless
    // allowed via configuration", §4.1) only when it can tell a restart and defers after one, so a
    // client keeps what it reflected until its End-of-RIB — sent once it relearned everything.
    const reflectorKeeps = bgp.restartStateFile !== '' && bgp.selectionDeferralTimeSec > 0;
    return {
      enabled: bgp.gracefulRestart,
      forwardingState: mode === 'node' ? keepsKernel && kernelKept : reflectorKeeps,
      restartState: this.deferral?.active ?? false,
      llgrPartialDeployment: bgp.llgrPartialDeployment,
    };
  }

  get bgp(): Router | undefined {
    return this.router;
  }

  /** Node mode's kernel FIB, for the metrics and the API; undefined in reflector mode or with fib.enabled false. */
  get fib(): NodeRouting | undefined {
    return this.nodeRouting;
  }

  /**
   * Originates a route from this node (kept across router restarts). The export default treats it as
   * one of confd's static routes: exported to every peer whatever the pools say.
   */
  originate(prefix: string, attributes: RouteAttributes = {}): void {
    this.originateRoute(prefix, attributes);
    if (this.lastSnapshot) this.applyPolicy(this.lastSnapshot);
  }

  withdrawOriginated(prefix: string): void {
    this.withdrawRoute(prefix);
    if (this.lastSnapshot) this.applyPolicy(this.lastSnapshot);
  }

  private originateRoute(prefix: string, attributes: RouteAttributes = {}): void {
    this.originated.set(prefix, attributes);
    this.router?.originate(prefix, attributes);
  }

  private withdrawRoute(prefix: string): void {
    this.originated.delete(prefix);
    this.router?.withdrawOriginated(prefix);
  }

  /**
   * SIGHUP: lists the resources again and applies them like any other snapshot, so only sessions whose
   * desired parameters changed restart. False when the datastore did not answer (the last good view
   * stays; the cache keeps retrying).
   */
  async reload(): Promise<boolean> {
    const listed = await this.cache.resync();
    await this.applying;
    return listed;
  }

  /** Administrative shutdown of every session, then the datastore. */
  async stop(message = 'brindle stopping'): Promise<void> {
    await this.stopFollowing();
    await this.router?.close(CeaseSubcode.AdministrativeShutdown, message);
    // Every peer got a Cease and dropped our routes: the next start is no graceful restart.
    this.restartState?.stoppedCleanly();
    this.routers.complete();
    await this.nodeRouting?.stop();
    await this.store.close();
  }

  /**
   * Why this daemon cannot stop for a graceful restart (RFC 4724 §4.1), or undefined when it can:
   * peers must keep its routes, and the next start must know it restarted (kernel routes or
   * `bgp.restartStateFile`) to set the Restart State bit and defer its selection.
   */
  gracefulRestartRefusal(): string | undefined {
    const { bgp, fib, mode } = this.config;
    if (!bgp.gracefulRestart) return 'bgp.gracefulRestart is false: peers would drop the routes at once';
    const kernelTells = mode === 'node' && fib.enabled;
    if (!kernelTells && !this.restartState)
      return 'bgp.restartStateFile is not set: the next start could not tell it is a graceful restart';
    return undefined;
  }

  /**
   * A planned graceful restart (`brindlectl restart --graceful`): the sessions end so that every
   * peer with Graceful Restart keeps our routes (Router.closeForRestart), the kernel routes stay, and
   * the restart state file says so, so the next start sets the Restart State bit and defers its
   * selection (§4.1). The RIB is not told: nothing is withdrawn on the way down.
   */
  async stopForRestart(message = 'brindle restarting'): Promise<void> {
    await this.stopFollowing();
    // The kernel first: it must not follow the RIB while the sessions close.
    await this.nodeRouting?.stop(true);
    await this.router?.closeForRestart(message);
    if (this.restartState && !this.restartState.stoppedForRestart())
      this.log.warn(
        { event: 'restart-state-file' },
        'no restart time announced yet: the next start may not be graceful',
      );
    this.routers.complete();
    await this.store.close();
  }

  /** The resources, secrets, IPAM, BFD and the deferral stop feeding the router. */
  private async stopFollowing(): Promise<void> {
    await this.applying;
    this.subscription.unsubscribe();
    clearInterval(this.secretsPoll);
    this.memoryTrim.stop();
    this.cache.stop();
    this.ipam?.stop();
    this.bfd.close();
    this.deferral?.close();
  }
}

/** Two peerings to one address (a mesh session and an explicit BGPPeer): the listener can take one. */
function dedupe(peerings: readonly DesiredPeering[], log: Logger): DesiredPeering[] {
  const seen = new Set<string>();
  return peerings.filter((p) => {
    if (!seen.has(p.remoteAddress)) return seen.add(p.remoteAddress);
    log.warn(
      { event: 'duplicate-peering', peer: p.name, remote: p.remoteAddress },
      'a second session to the same address is ignored',
    );
    return false;
  });
}

interface RestartSettings {
  readonly enabled: boolean;
  readonly forwardingState: boolean;
  /** §4.1 Restart State bit: the deferral after this restart is running. */
  readonly restartState: boolean;
  /** RFC 9494 §4.6 (bgp.llgrPartialDeployment). */
  readonly llgrPartialDeployment: boolean;
}

function routerPeer(p: ArmedPeering, identity: SpeakerIdentity, restart: RestartSettings): RouterPeerOptions {
  const config = toPeerConfig(p, identity.routerId);
  return {
    ...config,
    gracefulRestartTimeSec: restart.enabled ? config.gracefulRestartTimeSec : undefined,
    longLivedStaleTimeSec: restart.enabled ? config.longLivedStaleTimeSec : undefined,
    gracefulRestartForwarding: restart.forwardingState,
    gracefulRestartState: restart.restartState,
    routeReflectorClient: p.routeReflectorClient,
    nextHopMode: p.nextHopMode.toLowerCase() as NextHopMode,
    addPathSend: 'all',
    ttlSecurityHops: p.ttlSecurityHops,
    md5Key: p.md5Key,
    configError: p.passwordError,
    filters: p.filters,
    llgrPartialDeployment: restart.llgrPartialDeployment,
  };
}

function isPrefix(value: unknown): value is Prefix {
  return typeof value === 'object' && value !== null && 'afi' in value && 'w0' in value && 'length' in value;
}
