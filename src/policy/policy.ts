// The routing policy of one Brindle, compiled from the resources as plain data and consulted per
// route: BGPFilter import and export (§4), Calico's export default (§7.5: confd's
// calico_export_to_bgp_peers), prefixAdvertisements communities (§2), route priority (§4.3) and the
// service ranges (§7.6). Pure: a new policy is built for every change of its inputs, and the daemon
// re-evaluates what it exports and imports against it.
//
// Per peer, export runs as confd renders a session's export filter: the BGPPeer's filters in order;
// the first rule that accepts or rejects decides; with no verdict, the export default (a node) or
// plain reflection (a dedicated route reflector, `mode: reflector`, which is not a Calico node and has
// no pools of its own to keep to); anything the default does not accept is rejected.

import type { Afi } from '../lib/family.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { AttrSet, AttrSetTable, RouteAttributes } from '../rib/attr-set.ts';
import { EXPORT_UNCHANGED } from '../rib/export.ts';
import type { ExportTarget, ExportVerdict, PrefixExportPolicy } from '../rib/export.ts';
import type { Path, RibPeer } from '../rib/route.ts';
import type { BGPConfiguration, BGPFilter, IPPool } from '../resources/types.ts';
import { addCommunities, prefixAdvertisements } from './communities.ts';
import type { PrefixAdvertisement } from './communities.ts';
import { applyOperations, compileFilter, evaluateFilters } from './filter.ts';
import type { CompiledFilter, CompiledRule, FilterRoute } from './filter.ts';
import { localPrefOf, normalPriorities, normalPriority, routePriority } from './priority.ts';
import type { NormalPriorities } from './priority.ts';
import { cidrPrefix, firstHolding, samePrefix, within } from './prefix-set.ts';
import { serviceRanges } from './services.ts';
import type { ServiceRanges } from './services.ts';

export interface PolicyInputs {
  /** A Calico node (the export default applies) or a dedicated route reflector (plain reflection). */
  readonly mode: 'node' | 'reflector';
  readonly nodeName: string;
  /** This node's labels (exclude-from-external-load-balancers). */
  readonly nodeLabels?: Readonly<Record<string, string>>;
  /** The node is a route reflector (it has a routeReflectorClusterID): it passes service ranges on. */
  readonly routeReflector?: boolean;
  readonly filters: readonly BGPFilter[];
  readonly pools: readonly IPPool[];
  readonly configs: readonly BGPConfiguration[];
  /** The node's own blocks (its affinities): exported as aggregates, nothing inside them. */
  readonly ownBlocks?: readonly Prefix[];
  /** Routes the daemon originates besides IPAM's: accepted like confd's static routes. */
  readonly staticRoutes?: readonly Prefix[];
}

interface PoolEntry {
  readonly prefix: Prefix;
}

/** confd's reject_tunnel_routes(): Felix's tunnel devices, never exported to iBGP peers. */
const TUNNEL_INTERFACE = /\.(cali|calico)$/;

export class RoutingPolicy implements PrefixExportPolicy {
  private readonly filters: ReadonlyMap<string, CompiledFilter>;
  private readonly chains = new Map<string, readonly CompiledFilter[]>();
  readonly normalPriorities: NormalPriorities;
  private readonly enabledPools: readonly PoolEntry[];
  private readonly disabledPools: readonly PoolEntry[];
  private readonly ownBlocks: readonly Prefix[];
  private readonly statics: readonly PoolEntry[];
  private readonly reflectorAllow: readonly PoolEntry[];
  private readonly advertisements: readonly PrefixAdvertisement[];
  readonly services: ServiceRanges;
  /** Export verdicts are shared objects (rib/export.ts): one per accepting rule, one per community set. */
  private readonly ruleVerdicts = new Map<CompiledRule, ExportVerdict>();
  private readonly communityVerdicts = new Map<string, ExportVerdict>();
  private readonly plain: ExportVerdict;
  /** A learned route's outgoing interface (node mode: the kernel's route to its next hop). */
  interfaceOf: (nextHop: string) => string | undefined = () => undefined;

  constructor(readonly inputs: PolicyInputs) {
    this.filters = new Map(inputs.filters.map((f) => [f.metadata.name, compileFilter(f)]));
    this.normalPriorities = normalPriorities(inputs.configs);
    const pools = inputs.pools.flatMap((p) => {
      const prefix = cidrPrefix(p.spec.cidr);
      return prefix ? [{ prefix, disabled: p.spec.disableBGPExport === true }] : [];
    });
    this.enabledPools = pools.filter((p) => !p.disabled);
    this.disabledPools = pools.filter((p) => p.disabled);
    this.ownBlocks = inputs.ownBlocks ?? [];
    this.services = serviceRanges(inputs.configs, inputs.nodeLabels);
    this.statics = [...this.services.advertise, ...(inputs.staticRoutes ?? [])].map((prefix) => ({ prefix }));
    this.reflectorAllow = inputs.routeReflector
      ? this.services.reflectorAllow.map((prefix) => ({ prefix }))
      : [];
    this.advertisements = prefixAdvertisements(inputs.configs, inputs.nodeName);
    this.plain = this.node ? { apply: (path, afi) => this.normalised(path, afi) } : EXPORT_UNCHANGED;
  }

  private get node(): boolean {
    return this.inputs.mode === 'node';
  }

  /** Names in `filters` with no BGPFilter: ignored, as confd ignores them (said by the daemon). */
  missingFilters(filters: readonly string[] | undefined): string[] {
    return (filters ?? []).filter((name) => !this.filters.has(name));
  }

  /** The existing filters among `names`, in order. */
  private chain(names: readonly string[] | undefined): readonly CompiledFilter[] {
    if (!names || names.length === 0) return [];
    const key = names.join(',');
    let chain = this.chains.get(key);
    if (!chain) {
      chain = names.flatMap((n) => this.filters.get(n) ?? []);
      this.chains.set(key, chain);
    }
    return chain;
  }

  // --- export ------------------------------------------------------------------------------------

  exportVerdict(prefix: Prefix, path: Path, target: ExportTarget): ExportVerdict | undefined {
    const chain = this.chain(target.filters);
    if (chain.length > 0) {
      const route = this.filterRoute(prefix, path.attrs.attributes, !path.peer.local, prefix.afi);
      const rule = evaluateFilters(chain, 'export', route, !target.external);
      if (rule) return rule.action === 'accept' ? this.ruleVerdict(rule) : undefined;
    }
    if (!this.node) return EXPORT_UNCHANGED;
    return this.exportDefault(prefix, path, target);
  }

  /**
   * §7.5, confd's calico_export_to_bgp_peers(internal) in its order: disabled pools, tunnel routes
   * (iBGP only), communities, the node's own blocks as aggregates, static (service) routes, a
   * reflector's service allow-list, enabled pools; everything else is rejected.
   */
  private exportDefault(prefix: Prefix, path: Path, target: ExportTarget): ExportVerdict | undefined {
    if (firstHolding(prefix, this.disabledPools)) return undefined;
    if (!target.external && this.tunnelRoute(path)) return undefined;
    for (const block of this.ownBlocks) {
      if (samePrefix(prefix, block)) return this.communityVerdict(prefix);
      if (within(prefix, block)) return undefined;
    }
    if (
      firstHolding(prefix, this.statics) ||
      firstHolding(prefix, this.reflectorAllow) ||
      firstHolding(prefix, this.enabledPools)
    )
      return this.communityVerdict(prefix);
    return undefined;
  }

  private tunnelRoute(path: Path): boolean {
    const nextHop = path.attrs.attributes.nextHop;
    if (path.peer.local || nextHop === undefined) return false;
    const device = this.interfaceOf(nextHop);
    return device !== undefined && TUNNEL_INTERFACE.test(device);
  }

  /** confd's apply_communities(): every prefixAdvertisements entry holding the prefix adds its communities. */
  private communityVerdict(prefix: Prefix): ExportVerdict {
    let key = '';
    for (let i = 0; i < this.advertisements.length; i++)
      if (within(prefix, this.advertisements[i].prefix)) key += `${i},`;
    if (key === '') return this.plain;
    let verdict = this.communityVerdicts.get(key);
    if (!verdict) {
      const entries = key
        .split(',')
        .filter(Boolean)
        .map((i) => this.advertisements[Number(i)]);
      verdict = {
        apply: (path, afi) =>
          entries.reduce((a, e) => addCommunities(a, e.communities), this.normalised(path, afi)),
      };
      this.communityVerdicts.set(key, verdict);
    }
    return verdict;
  }

  private ruleVerdict(rule: CompiledRule): ExportVerdict {
    let verdict = this.ruleVerdicts.get(rule);
    if (!verdict) {
      verdict =
        rule.operations.length === 0
          ? this.plain
          : { apply: (path, afi) => applyOperations(rule, this.normalised(path, afi)) };
      this.ruleVerdicts.set(rule, verdict);
    }
    return verdict;
  }

  /**
   * §4.3: confd's export filter starts with `bgp_local_pref = 2147483647 − krt_metric`, the normal
   * priority for a route this node originates; a learned route keeps the LOCAL_PREF it came with.
   */
  private normalised(path: Path, afi: Afi): RouteAttributes {
    const a = path.attrs.attributes;
    if (!this.node || !path.peer.local || a.localPref !== undefined) return a;
    return { ...a, localPref: localPrefOf(normalPriority(this.normalPriorities, afi)) };
  }

  // --- import ------------------------------------------------------------------------------------

  /**
   * The peer's import filters on one route: the attributes to keep (`attrs` itself when unchanged,
   * else a set interned in `table`), or undefined when a rule rejects it. No verdict accepts (§4.2).
   */
  importAttributes(
    filters: readonly string[] | undefined,
    peer: RibPeer,
    prefix: Prefix,
    attrs: AttrSet,
    table: AttrSetTable,
  ): AttrSet | undefined {
    const chain = this.chain(filters);
    if (chain.length === 0) return attrs;
    const route = this.filterRoute(prefix, attrs.attributes, true, prefix.afi);
    const rule = evaluateFilters(chain, 'import', route, !peer.external);
    if (!rule || (rule.action === 'accept' && rule.operations.length === 0)) return attrs;
    if (rule.action === 'reject') return undefined;
    return table.intern(applyOperations(rule, attrs.attributes));
  }

  private filterRoute(prefix: Prefix, attributes: RouteAttributes, fromBgp: boolean, afi: Afi): FilterRoute {
    const interfaceOf = this.interfaceOf;
    return {
      prefix,
      attributes,
      fromBgp,
      get interface() {
        return fromBgp && attributes.nextHop !== undefined ? interfaceOf(attributes.nextHop) : undefined;
      },
      priority: routePriority(attributes, !fromBgp, normalPriority(this.normalPriorities, afi)),
    };
  }
}
