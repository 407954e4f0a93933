// Checks across resources, run when resources are applied: what one resource cannot tell alone.
// Errors are what Calico refuses (IPPools that overlap); warnings are what Calico accepts but an
// operator almost certainly did not mean (two global BGPPeers for one address, a selector that
// matches no Node, a filter that does not exist). Each finding names every resource involved.
//
// The checks look at the datastore as it would be after the apply (`incoming` over `existing`) and
// report only findings that involve an incoming resource: a warning about resources the apply does
// not touch is not the apply's business.

import { parseSelector } from './selector.ts';
import type { Labels, Selector } from './selector.ts';
import type { BGPPeer, IPPool, Node, Resource } from './types.ts';
import { parseNetwork, parsePeerIp, prefixesOverlap } from './values.ts';

export interface CrossFinding {
  /** The incoming resource the finding is reported on, and its field. */
  readonly resource: Resource;
  readonly path: string;
  readonly reason: string;
}

export interface CrossCheckResult {
  readonly errors: CrossFinding[];
  readonly warnings: CrossFinding[];
}

const id = (r: Resource) => `${r.kind}/${r.metadata.name}`;

export function crossCheck(incoming: readonly Resource[], existing: readonly Resource[]): CrossCheckResult {
  const byId = new Map(existing.map((r) => [id(r), r]));
  for (const r of incoming) byId.set(id(r), r);
  const after = [...byId.values()];
  const touched = new Set(incoming.map(id));
  const of = <K extends Resource['kind']>(kind: K) =>
    after.filter((r): r is Extract<Resource, { kind: K }> => r.kind === kind);
  const nodes = of('Node');
  const findings = {
    errors: overlappingPools(of('IPPool'), touched),
    warnings: [
      ...competingGlobalPeers(of('BGPPeer'), touched),
      ...emptySelectors(after, nodes, touched),
      ...missingFilters(of('BGPPeer'), new Set(of('BGPFilter').map((f) => f.metadata.name)), touched),
    ],
  };
  return findings;
}

/** Calico refuses a pool whose CIDR overlaps another pool's (libcalico-go's IPPool validation). */
function overlappingPools(pools: readonly IPPool[], touched: ReadonlySet<string>): CrossFinding[] {
  const findings: CrossFinding[] = [];
  const networks = pools.map((p) => ({ pool: p, network: parseNetwork(p.spec.cidr) }));
  for (const [i, a] of networks.entries()) {
    if (!touched.has(id(a.pool)) || !a.network) continue;
    for (const [j, b] of networks.entries()) {
      if (i === j || !b.network || !prefixesOverlap(a.network.prefix, b.network.prefix)) continue;
      findings.push({
        resource: a.pool,
        path: 'spec.cidr',
        reason: `${a.pool.spec.cidr} overlaps IPPool/${b.pool.metadata.name} (${b.pool.spec.cidr}); pools may not overlap`,
      });
    }
  }
  return findings;
}

/** Two global BGPPeers for one address (and port): both would make the same session, one wins. */
function competingGlobalPeers(peers: readonly BGPPeer[], touched: ReadonlySet<string>): CrossFinding[] {
  const byAddress = new Map<string, BGPPeer[]>();
  for (const peer of peers) {
    const { node, nodeSelector, peerIP } = peer.spec;
    if (node || nodeSelector || !peerIP) continue;
    const address = parsePeerIp(peerIP);
    if (!address) continue;
    const key = `${address.address}|${address.port ?? 179}`;
    byAddress.set(key, [...(byAddress.get(key) ?? []), peer]);
  }
  const findings: CrossFinding[] = [];
  for (const group of byAddress.values()) {
    if (group.length < 2) continue;
    for (const peer of group.filter((p) => touched.has(id(p)))) {
      const others = group.filter((p) => p !== peer).map((p) => id(p));
      findings.push({
        resource: peer,
        path: 'spec.peerIP',
        reason: `${peer.spec.peerIP} is also the peerIP of global ${others.join(', ')}: only one session is made, with one of their settings`,
      });
    }
  }
  return findings;
}

/** Selectors that match no Node: the peering or pool they configure applies nowhere (yet). */
function emptySelectors(
  resources: readonly Resource[],
  nodes: readonly Node[],
  touched: ReadonlySet<string>,
): CrossFinding[] {
  // Before any Node exists (a new cluster gets its pools first) every selector matches nothing.
  if (nodes.length === 0) return [];
  const labels: Labels[] = nodes.map((n) => n.metadata.labels ?? {});
  const findings: CrossFinding[] = [];
  for (const resource of resources) {
    if (!touched.has(id(resource))) continue;
    for (const [path, text] of nodeSelectors(resource)) {
      const selector = parseSelector(text);
      if ('matches' in selector && !matchesAny(selector, labels))
        findings.push({
          resource,
          path,
          reason: `${JSON.stringify(text)} matches no Node (of ${nodes.length})`,
        });
    }
  }
  return findings;
}

function nodeSelectors(resource: Resource): [string, string][] {
  const found: [string, string | undefined][] =
    resource.kind === 'BGPPeer'
      ? [
          ['spec.nodeSelector', resource.spec.nodeSelector],
          ['spec.peerSelector', resource.spec.peerSelector],
        ]
      : resource.kind === 'IPPool'
        ? [['spec.nodeSelector', resource.spec.nodeSelector]]
        : [];
  return found.filter((f): f is [string, string] => f[1] !== undefined && f[1].trim() !== '');
}

function matchesAny(selector: Selector, labels: readonly Labels[]): boolean {
  return labels.some((l) => selector.matches(l));
}

/** A `filters` entry naming no BGPFilter is skipped, as Calico does; say so. */
function missingFilters(
  peers: readonly BGPPeer[],
  filters: ReadonlySet<string>,
  touched: ReadonlySet<string>,
): CrossFinding[] {
  return peers
    .filter((p) => touched.has(id(p)))
    .flatMap((peer) =>
      (peer.spec.filters ?? []).flatMap((name, i) =>
        filters.has(name)
          ? []
          : [
              {
                resource: peer,
                path: `spec.filters[${i}]`,
                reason: `names no BGPFilter "${name}": it is skipped`,
              },
            ],
      ),
    );
}
