// Per-session backpressure: how far the RIB is behind on what each peer sends, whether reading from it
// is held (rib/ingress-backlog.ts), and how far each session is behind on what it is sent (its update
// group's staged destinations, the octets waiting on its socket: rib/adj-rib-out.ts). Together with
// `brindle_bgp_notifications_sent_total{code="8"}` (RFC 9687 Send Hold Timer Expired: a client dropped
// for not reading), these show the bounded-memory policy at work. Labels: `peer` and `remote`, as on
// every per-session series.

import type { Registry } from './exposition.ts';
import type { Peer } from '../bgp/session/peer.ts';
import { scrapedCounter, scrapedGauge } from './collect.ts';
import type { Emit, Labels } from './collect.ts';
import type { BrindleSource, IngressBacklogView } from './source.ts';

const PEER = ['peer', 'remote'];

function peerLabels(peer: Peer): Labels {
  return { peer: peer.config.name, remote: peer.config.remoteAddress };
}

export function registerBackpressureMetrics(registry: Registry, source: BrindleSource): void {
  const eachIngress = (read: (view: IngressBacklogView, peer: Peer) => number) => (emit: Emit) => {
    const view = source.bgp?.ingressBacklog;
    if (!view) return;
    for (const peer of source.bgp?.allPeers() ?? []) emit(peerLabels(peer), read(view, peer));
  };
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_ingress_backlog_destinations',
      help: 'Destinations the Loc-RIB decides before the last change this peer sent is decided.',
      labelNames: PEER,
    },
    eachIngress((view, peer) => view.backlog(peer)),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_ingress_paused',
      help: 'Reading from the peer is held (1) because the RIB is behind on what it sent; TCP pushes back on it.',
      labelNames: PEER,
    },
    eachIngress((view, peer) => (view.isHeld(peer) ? 1 : 0)),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_ingress_pauses_total',
      help: 'Times reading from the peer was held, on its current session.',
      labelNames: PEER,
    },
    eachIngress((view, peer) => view.holds(peer)),
  );
  const eachMember = (pick: 'staged' | 'queuedBytes') => (emit: Emit) => {
    const backlogs = source.bgp?.adjRibOut.memberBacklogs?.();
    if (!backlogs) return;
    for (const peer of source.bgp?.allPeers() ?? []) {
      const backlog = backlogs.get(peer.config.name);
      if (backlog) emit(peerLabels(peer), backlog[pick]);
    }
  };
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_adj_rib_out_backlog_destinations',
      help: 'Destinations staged for the session (its update group) and not yet sent; coalesced, so at most the table.',
      labelNames: PEER,
    },
    eachMember('staged'),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_adj_rib_out_queued_bytes',
      help: 'Octets written to the session’s socket and not yet taken by the peer.',
      labelNames: PEER,
    },
    eachMember('queuedBytes'),
  );
}
