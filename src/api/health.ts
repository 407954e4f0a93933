// Readiness and liveness with calico-node's meaning (calico-routing.md §9, node/pkg/health):
//
// Ready: no peers configured → ready. Within the threshold (30 s) of start, every peer must be
// Established; afterwards one Established peer is enough. Otherwise "BGP not established with a,b"
// (the peers' addresses, as Calico prints them). Calico also waits out a graceful restart in progress;
// Brindle does not keep a restarting peer's routes yet, so there is none to wait for. Before the
// router exists (no Node resource for this node read yet) nothing routes: not ready.
//
// Live: the event loop answered this request. The datastore is reported but does not count: Brindle
// keeps routing on its last good view while etcd is away, and a restart would not bring etcd back —
// it would only drop every session. (Calico's liveness likewise checks its own processes, not etcd.)

import { SessionState } from '../bgp/session/fsm.ts';
import type { Peer } from '../bgp/session/peer.ts';
import type { RouterView } from '../metrics/source.ts';

export const READINESS_THRESHOLD_MS = 30_000;

export interface Readiness {
  readonly ready: boolean;
  readonly message: string;
  /** Names of the peers not Established. */
  readonly notEstablished: readonly string[];
}

export function readiness(
  router: RouterView | undefined,
  sinceStartMs: number,
  thresholdMs: number,
): Readiness {
  if (!router)
    return {
      ready: false,
      message: 'BGP is not running yet (no Node resource for this node read)',
      notEstablished: [],
    };
  const peers = router.allPeers();
  const down = peers.filter((p) => p.state !== SessionState.Established);
  const names = down.map((p: Peer) => p.config.name);
  if (peers.length === 0) return { ready: true, message: 'no BGP peers configured', notEstablished: [] };
  const needAll = sinceStartMs < thresholdMs;
  const ready = needAll ? down.length === 0 : down.length < peers.length;
  if (ready)
    return {
      ready,
      message: `BGP established with ${peers.length - down.length} of ${peers.length} peers`,
      notEstablished: names,
    };
  return {
    ready,
    message: `BGP not established with ${down.map((p) => p.config.remoteAddress).join(',')}`,
    notEstablished: names,
  };
}
