// Per-session series, read from each Peer and its PeerCounters on scrape. Every per-peer series has the
// labels `peer` (the configured name, Calico's BIRD protocol name) and `remote` (the peer's address);
// the rest of what describes a peer is on `brindle_bgp_peer_info`. No label ever holds a prefix.
//
// The FSM state is a one-hot state set (`brindle_bgp_session_state{state="Established"} 1`, 0 for the
// five other states), the Prometheus idiom for an enum: queries select a state by name instead of
// decoding numbers. Time in state is exported as the Unix time of the last change (Prometheus: export
// when something happened, not how long ago): `time() - brindle_bgp_session_state_change_timestamp_seconds`.

import type { Registry } from './exposition.ts';
import { familyKeyName } from '../lib/family.ts';
import { notificationName } from '../bgp/constants.ts';
import { SessionState } from '../bgp/session/fsm.ts';
import type { Peer } from '../bgp/session/peer.ts';
import { messageTypeName } from '../bgp/session/counters.ts';
import { unconfiguredConnectionsTotal } from '../bgp/session/listener.ts';
import { emitMap, scrapedCounter, scrapedGauge } from './collect.ts';
import type { Emit, Labels } from './collect.ts';
import type { RibWatcher } from './rib-census.ts';
import { peerType } from './source.ts';
import type { BrindleSource } from './source.ts';

const STATES = Object.values(SessionState);
/** BGP message types 1–5, always exported so rates exist from the first scrape. */
const MESSAGE_TYPES = [1, 2, 3, 4, 5].map(messageTypeName);

function peerLabels(peer: Peer): Labels {
  return { peer: peer.config.name, remote: peer.config.remoteAddress };
}

/** "6/2" → code, subcode and their RFC names (RFC 4271 §4.5, RFC 4486, RFC 9384): `Cease/Administrative Shutdown`. */
function splitCodeSubcode(key: string): Labels {
  const [code, subcode] = key.split('/');
  return { code, subcode, name: notificationName(Number(code), Number(subcode)) };
}

function splitTransition(key: string): Labels {
  const [from, to] = key.split('->');
  return { from, to };
}

function withZeros(counts: ReadonlyMap<string, number>, keys: readonly string[]): Map<string, number> {
  const all = new Map(keys.map((k) => [k, 0]));
  for (const [k, v] of counts) all.set(k, v);
  return all;
}

export function registerBgpMetrics(registry: Registry, source: BrindleSource, rib: RibWatcher): void {
  const peers = (): Peer[] => source.bgp?.allPeers() ?? [];
  const eachPeer = (fill: (emit: Emit, peer: Peer, labels: Labels) => void) => (emit: Emit) => {
    for (const peer of peers()) fill(emit, peer, peerLabels(peer));
  };
  const PEER = ['peer', 'remote'];

  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_peer_info',
      help: 'Configured BGP peers (value 1): type is mesh, global, node or other (from the Calico peer name).',
      labelNames: [...PEER, 'type', 'local_as', 'peer_as', 'passive'],
    },
    eachPeer((emit, peer, labels) => {
      const c = peer.config;
      const info = { type: peerType(c.name), local_as: String(c.localAs), peer_as: String(c.peerAs) };
      emit({ ...labels, ...info, passive: String(c.passive) }, 1);
    }),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_peer_config_error',
      help: 'Peers that cannot start as configured (1), e.g. their password secret cannot be read; the reason is in the log and brindlectl peers.',
      labelNames: PEER,
    },
    eachPeer((emit, peer, labels) => emit(labels, peer.config.configError === undefined ? 0 : 1)),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_session_state',
      help: 'BGP FSM state of each session (RFC 4271 §8), one-hot: 1 for the current state, 0 for the others.',
      labelNames: [...PEER, 'state'],
    },
    eachPeer((emit, peer, labels) => {
      for (const state of STATES) emit({ ...labels, state }, peer.state === state ? 1 : 0);
    }),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_session_state_change_timestamp_seconds',
      help: 'Unix time of the last FSM state change; time in state is time() minus this.',
      labelNames: PEER,
    },
    eachPeer((emit, peer, labels) => emit(labels, peer.counters.stateSince / 1000)),
  );
  registerMessageCounters(registry, eachPeer);
  registerSessionCounters(registry, eachPeer);
  registerPrefixGauges(registry, source, rib);
}

type EachPeer = (fill: (emit: Emit, peer: Peer, labels: Labels) => void) => (emit: Emit) => void;

function registerMessageCounters(registry: Registry, eachPeer: EachPeer): void {
  const PEER = ['peer', 'remote'];
  const byType = (key: string): Labels => ({ type: key });
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_unconfigured_connections_total',
      help: 'BGP connections accepted from an address no peer is configured for, and closed at once.',
    },
    (emit) => emit({}, unconfiguredConnectionsTotal()),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_messages_received_total',
      help: 'BGP messages received, by type.',
      labelNames: [...PEER, 'type'],
    },
    eachPeer((emit, peer, labels) =>
      emitMap(emit, labels, withZeros(peer.counters.messagesIn, MESSAGE_TYPES), byType),
    ),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_messages_sent_total',
      help: 'BGP messages sent, by type.',
      labelNames: [...PEER, 'type'],
    },
    eachPeer((emit, peer, labels) =>
      emitMap(emit, labels, withZeros(peer.counters.messagesOut, MESSAGE_TYPES), byType),
    ),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_updates_received_total',
      help: 'UPDATE messages received and decoded.',
      labelNames: PEER,
    },
    eachPeer((emit, peer, labels) => emit(labels, peer.counters.updatesIn)),
  );
  scrapedCounter(
    registry,
    { name: 'brindle_bgp_updates_sent_total', help: 'UPDATE messages sent.', labelNames: PEER },
    eachPeer((emit, peer, labels) => emit(labels, peer.counters.updatesOut)),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_update_errors_total',
      help: 'UPDATEs with an RFC 7606 error handled without a session reset (treat-as-withdraw, attribute discard).',
      labelNames: PEER,
    },
    eachPeer((emit, peer, labels) => emit(labels, peer.counters.updateErrors)),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_notifications_sent_total',
      help: 'NOTIFICATION messages sent, by error code and subcode (RFC 4271 §4.5), name is their RFC name.',
      labelNames: [...PEER, 'code', 'subcode', 'name'],
    },
    eachPeer((emit, peer, labels) =>
      emitMap(emit, labels, peer.counters.notificationsSent, splitCodeSubcode),
    ),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_notifications_received_total',
      help: 'NOTIFICATION messages received, by error code and subcode (RFC 4271 §4.5), name is their RFC name.',
      labelNames: [...PEER, 'code', 'subcode', 'name'],
    },
    eachPeer((emit, peer, labels) =>
      emitMap(emit, labels, peer.counters.notificationsReceived, splitCodeSubcode),
    ),
  );
}

function registerSessionCounters(registry: Registry, eachPeer: EachPeer): void {
  const PEER = ['peer', 'remote'];
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_fsm_transitions_total',
      help: 'BGP FSM state transitions, by from and to state.',
      labelNames: [...PEER, 'from', 'to'],
    },
    eachPeer((emit, peer, labels) => emitMap(emit, labels, peer.counters.transitions, splitTransition)),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_connect_attempts_total',
      help: 'Outgoing TCP connection attempts.',
      labelNames: PEER,
    },
    eachPeer((emit, peer, labels) => emit(labels, peer.counters.connectAttempts)),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bgp_session_establishments_total',
      help: 'Times the session reached Established (flaps show as its rate).',
      labelNames: PEER,
    },
    eachPeer((emit, peer, labels) => emit(labels, peer.counters.establishedCount)),
  );
}

function registerPrefixGauges(registry: Registry, source: BrindleSource, rib: RibWatcher): void {
  const LABELS = ['peer', 'remote', 'family'];
  const figure = (pick: 'received' | 'accepted' | 'best') => async (emit: Emit) => {
    const census = await rib.census();
    for (const peer of source.bgp?.allPeers() ?? []) {
      const byFamily = census.peers.get(peer.config.name);
      const labels = peerLabels(peer);
      for (const family of familiesOf(peer, byFamily)) {
        emit({ ...labels, family }, byFamily?.get(family)?.[pick] ?? 0);
      }
    }
  };
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_prefixes_received',
      help: "Paths from this peer in the Loc-RIB (the peer's Adj-RIB-In), by family.",
      labelNames: LABELS,
    },
    figure('received'),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_prefixes_accepted',
      help: 'Paths from this peer eligible for the decision process (no AS_PATH, ORIGINATOR_ID or CLUSTER_LIST loop).',
      labelNames: LABELS,
    },
    figure('accepted'),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_prefixes_advertised',
      help: 'Paths advertised to this peer (its Adj-RIB-Out, less its own routes), by family.',
      labelNames: LABELS,
    },
    (emit) => {
      const advertised = source.bgp?.adjRibOut.advertisedPrefixes?.();
      if (!advertised) return;
      for (const peer of source.bgp?.allPeers() ?? []) {
        for (const [family, n] of advertised.get(peer.config.name) ?? [])
          emit({ ...peerLabels(peer), family }, n);
      }
    },
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bgp_prefixes_best',
      help: 'Paths from this peer chosen as best for their destination.',
      labelNames: LABELS,
    },
    figure('best'),
  );
}

/** The families a peer's prefix series are exported for: what it negotiated, else what it has paths in. */
function familiesOf(peer: Peer, byFamily: ReadonlyMap<string, unknown> | undefined): string[] {
  const families = new Set<string>(byFamily?.keys() ?? []);
  for (const key of peer.negotiated?.families ?? []) families.add(familyKeyName(key));
  return [...families].sort();
}
