// The decision process: RFC 4271 §9.1.2.2 with the RFC 4456 §9 additions, written as the RFC writes
// it — successive elimination over the whole candidate set, one small rule per step in RFC order. The
// elimination form makes the result independent of the order paths arrived in (the MED rule is not a
// total order, so "compare with the best so far" would not be); it is what other implementations call
// deterministic MED.

import { WellKnownCommunity } from '../bgp/constants.ts';
import { DecisionStep } from './decision-step.ts';
import type { LostAt } from './decision-step.ts';
import type { Path } from './route.ts';

export { DecisionStep } from './decision-step.ts';
export type { LostAt } from './decision-step.ts';

export interface DecisionOptions {
  /** Compare MED between paths from different neighbouring ASes too. */
  readonly alwaysCompareMed: boolean;
}

export const DEFAULT_DECISION_OPTIONS: DecisionOptions = { alwaysCompareMed: false };

export interface Decision {
  readonly best: Path | undefined;
  /** Paths equal to the best through the IGP cost step (§9.1.2.2 e): the multipath set. */
  readonly ecmp: readonly Path[];
  /** The step that left one path standing. */
  readonly decidedBy: DecisionStep;
  /** Every other path and the step it lost at, recorded as the elimination ran (for `show` output). */
  readonly lostAt: ReadonlyMap<Path, LostAt>;
}

type Rule = (candidates: Path[], options: DecisionOptions) => Path[];

/** Keeps the candidates whose `value` is the lowest. */
function keepLowest(candidates: Path[], value: (p: Path) => number): Path[] {
  let lowest = Infinity;
  for (const p of candidates) lowest = Math.min(lowest, value(p));
  return candidates.filter((p) => value(p) === lowest);
}

/**
 * RFC 9494 §4.3–4.4: a route carrying LLGR_STALE (kept by long-lived graceful restart, here or
 * upstream) is less preferred than any route without it, before any other comparison.
 */
const llgrStale: Rule = (c) => {
  // No allocation in the common case, where no candidate is stale.
  if (!c.some(isLlgrStale)) return c;
  const fresh = c.filter((p) => !isLlgrStale(p));
  return fresh.length === 0 ? c : fresh;
};
function isLlgrStale(p: Path): boolean {
  return p.attrs.hasCommunity(WellKnownCommunity.LlgrStale);
}
/** §9.1.2.1: highest degree of preference, i.e. LOCAL_PREF. */
const localPref: Rule = (c) => keepLowest(c, (p) => -p.attrs.localPref);
/** §9.1.2.2 (a): shortest AS_PATH (AS_SET counts 1, confederation segments 0). */
const asPathLength: Rule = (c) => keepLowest(c, (p) => p.attrs.asPathLength);
/** §9.1.2.2 (b): lowest ORIGIN (IGP < EGP < INCOMPLETE). */
const origin: Rule = (c) => keepLowest(c, (p) => p.attrs.attributes.origin ?? 2);

/** §9.1.2.2 (c): remove a path when another from the same neighbouring AS has a lower MED. */
const med: Rule = (c, options) => {
  if (options.alwaysCompareMed) return keepLowest(c, (p) => p.attrs.med);
  const lowestByAs = new Map<number, number>();
  for (const p of c)
    lowestByAs.set(p.attrs.neighborAs, Math.min(lowestByAs.get(p.attrs.neighborAs) ?? Infinity, p.attrs.med));
  return c.filter((p) => p.attrs.med === lowestByAs.get(p.attrs.neighborAs));
};

/** §9.1.2.2 (d): prefer routes learned over eBGP. */
const external: Rule = (c) => keepLowest(c, (p) => (p.peer.external ? 0 : 1));
/** §9.1.2.2 (e): lowest interior cost to the NEXT_HOP. */
const igpCost: Rule = (c) => keepLowest(c, (p) => p.igpCost);
/** §9.1.2.2 (f) with RFC 4456 §9: lowest ORIGINATOR_ID, or the peer's BGP Identifier without one. */
const originatorId: Rule = (c) =>
  keepLowest(c, (p) => p.attrs.attributes.originatorId ?? p.peer.bgpIdentifier);
/** RFC 4456 §9: shortest CLUSTER_LIST. */
const clusterListLength: Rule = (c) => keepLowest(c, (p) => p.attrs.attributes.clusterList?.length ?? 0);

/** §9.1.2.2 (g): lowest peer address. */
const peerAddress: Rule = (c) => {
  let lowest = c[0].peer.addressKey;
  for (const p of c) if (p.peer.addressKey < lowest) lowest = p.peer.addressKey;
  return c.filter((p) => p.peer.addressKey === lowest);
};

/** Two paths from one peer (ADD-PATH): the lowest Path Identifier, so the result is still total. */
const pathId: Rule = (c) => keepLowest(c, (p) => p.pathId);

const BEFORE_MULTIPATH: readonly [DecisionStep, Rule][] = [
  [DecisionStep.LlgrStale, llgrStale],
  [DecisionStep.LocalPref, localPref],
  [DecisionStep.AsPathLength, asPathLength],
  [DecisionStep.Origin, origin],
  [DecisionStep.Med, med],
  [DecisionStep.External, external],
  [DecisionStep.IgpCost, igpCost],
];

const TIE_BREAKERS: readonly [DecisionStep, Rule][] = [
  [DecisionStep.OriginatorId, originatorId],
  [DecisionStep.ClusterListLength, clusterListLength],
  [DecisionStep.PeerAddress, peerAddress],
  [DecisionStep.PathId, pathId],
];

export const DECISION_STEPS: readonly DecisionStep[] = [...BEFORE_MULTIPATH, ...TIE_BREAKERS].map(([s]) => s);

/** Runs the decision process over a destination's paths, recording the step each loser lost at. */
export function decide(
  paths: readonly Path[],
  options: DecisionOptions = DEFAULT_DECISION_OPTIONS,
): Decision {
  const lostAt = new Map<Path, LostAt>();
  let candidates: Path[] = [];
  for (const p of paths) {
    if (p.eligible) candidates.push(p);
    else lostAt.set(p, 'ineligible');
  }
  if (candidates.length === 0) return { best: undefined, ecmp: [], decidedBy: DecisionStep.None, lostAt };
  if (candidates.length === 1)
    return { best: candidates[0], ecmp: candidates, decidedBy: DecisionStep.Only, lostAt };
  for (const [step, rule] of BEFORE_MULTIPATH) {
    candidates = eliminate(candidates, rule(candidates, options), step, lostAt);
    if (candidates.length === 1) return { best: candidates[0], ecmp: candidates, decidedBy: step, lostAt };
  }
  const ecmp = candidates;
  for (const [step, rule] of TIE_BREAKERS) {
    candidates = eliminate(candidates, rule(candidates, options), step, lostAt);
    if (candidates.length === 1) return { best: candidates[0], ecmp, decidedBy: step, lostAt };
  }
  // Distinct paths always differ in peer or path identifier: a full tie means the RIB is corrupt.
  throw new Error(`decision process tie between ${candidates.length} paths for one destination`);
}

/** Records the candidates a rule dropped as lost at `step`; returns those it kept. */
function eliminate(candidates: Path[], kept: Path[], step: DecisionStep, lostAt: Map<Path, LostAt>): Path[] {
  if (kept.length < candidates.length) for (const p of candidates) if (!kept.includes(p)) lostAt.set(p, step);
  return kept;
}
