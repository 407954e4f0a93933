// The names of the decision process's steps (RFC 9494 §4.4, RFC 4271 §9.1.2.2, RFC 4456 §9), in
// order: what a decision reports as deciding, and what `brindlectl routes` shows as the reason a
// path lost. Kept apart from rib/decision.ts so the RIB's objects (rib/route.ts) can hold a recorded
// decision.

export const DecisionStep = {
  None: 'no eligible path',
  Only: 'only eligible path',
  LlgrStale: 'LLGR_STALE',
  LocalPref: 'LOCAL_PREF',
  AsPathLength: 'AS_PATH length',
  Origin: 'ORIGIN',
  Med: 'MULTI_EXIT_DISC',
  External: 'eBGP over iBGP',
  IgpCost: 'IGP cost to NEXT_HOP',
  OriginatorId: 'ORIGINATOR_ID or BGP Identifier',
  ClusterListLength: 'CLUSTER_LIST length',
  PeerAddress: 'peer address',
  PathId: 'path identifier',
} as const;
export type DecisionStep = (typeof DecisionStep)[keyof typeof DecisionStep];

/** Why a path is not the best: the step that eliminated it, or that it could not take part. */
export type LostAt = DecisionStep | 'ineligible';
