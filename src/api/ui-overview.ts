// GET /api/v1/ui/overview: what the web console's first page needs in one reply — this speaker's
// identity and role, sessions by state, the Loc-RIB's size per family and the latest session failures.
// The FIB and IPAM summaries come from their own endpoints, which answer 501 where they do not run.

import { SessionState } from '../bgp/session/fsm.ts';
import { formatIpv4 } from '../lib/address.ts';
import type { RibCensus } from '../metrics/rib-census.ts';
import type { RouterView } from '../metrics/source.ts';
import type { PeerTimeline } from './ui-timeline.ts';

const RECENT_FAILURES = 10;

export function overviewDocument(
  router: RouterView | undefined,
  census: RibCensus,
  timeline: PeerTimeline,
  uptimeSec: number,
) {
  const peers = router?.allPeers() ?? [];
  const sessions: Record<string, number> = Object.fromEntries(
    Object.values(SessionState).map((state) => [state, 0]),
  );
  for (const peer of peers) sessions[peer.state]++;
  const id = router?.identity;
  return {
    router: id
      ? { routerId: formatIpv4(id.routerId), clusterId: formatIpv4(id.clusterId), localAs: id.localAs }
      : null,
    // RFC 4456 §7: a speaker with clients is a route reflector; one without is a client or a mesh member.
    role: peers.some(isReflectorClient) ? 'route-reflector' : 'node',
    uptimeSec,
    peers: peers.length,
    sessions,
    locRib: Object.fromEntries(census.families),
    recentFailures: timeline.recentFailures(RECENT_FAILURES),
  };
}

function isReflectorClient(peer: { readonly config: object }): boolean {
  return 'routeReflectorClient' in peer.config && Boolean(peer.config.routeReflectorClient);
}
