// BFD's series (brindle_bfd_*), read from the session table on scrape. Per-session series carry the
// labels `peer` (the peer's address, as BFD knows it) and `interface`; the state is a one-hot state
// set like brindle_bgp_session_state, and `brindle_bfd_sessions` counts sessions by state.

import type { Registry } from './exposition.ts';
import { STATE_NAMES } from '../bfd/packet.ts';
import type { BfdSessionView, DemuxDiscard } from '../bfd/sessions.ts';
import { scrapedCounter, scrapedGauge } from './collect.ts';
import type { Emit, Labels } from './collect.ts';

/** What the daemon's BFD offers the metrics (daemon/bfd-peers.ts). */
export interface BfdMetricsSource {
  views(): BfdSessionView[];
  readonly sessionTable?: {
    readonly discarded: ReadonlyMap<DemuxDiscard, number>;
    readonly badTtl: number;
  };
}

const sessionLabels = (v: BfdSessionView): Labels => ({ peer: v.peerAddress, interface: v.interfaceName });

export function registerBfdMetrics(registry: Registry, bfd: BfdMetricsSource): void {
  const eachSession = (fill: (emit: Emit, v: BfdSessionView, labels: Labels) => void) => (emit: Emit) => {
    for (const v of bfd.views()) fill(emit, v, sessionLabels(v));
  };
  const SESSION = ['peer', 'interface'];
  scrapedGauge(
    registry,
    { name: 'brindle_bfd_sessions', help: 'BFD sessions by state (RFC 5880).', labelNames: ['state'] },
    (emit) => {
      const counts = new Map(STATE_NAMES.map((s) => [s, 0]));
      for (const v of bfd.views())
        counts.set(STATE_NAMES[v.state], (counts.get(STATE_NAMES[v.state]) ?? 0) + 1);
      for (const [state, n] of counts) emit({ state }, n);
    },
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bfd_session_state',
      help: 'The BFD session state, one series per state (1 for the current one).',
      labelNames: [...SESSION, 'state'],
    },
    eachSession((emit, v, labels) => {
      STATE_NAMES.forEach((state, i) => emit({ ...labels, state }, v.state === i ? 1 : 0));
    }),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bfd_session_state_changes_total',
      help: 'BFD session state changes since the session was created.',
      labelNames: SESSION,
    },
    eachSession((emit, v, labels) => emit(labels, v.stateChanges)),
  );
  scrapedGauge(
    registry,
    {
      name: 'brindle_bfd_detection_time_seconds',
      help: 'The negotiated Detection Time (RFC 5880 §6.8.4); 0 while the session is not Init or Up.',
      labelNames: SESSION,
    },
    eachSession((emit, v, labels) => emit(labels, v.detectionTimeUs / 1e6)),
  );
  registerPacketMetrics(registry, bfd, eachSession, SESSION);
}

function registerPacketMetrics(
  registry: Registry,
  bfd: BfdMetricsSource,
  eachSession: (fill: (emit: Emit, v: BfdSessionView, labels: Labels) => void) => (emit: Emit) => void,
  labelNames: string[],
): void {
  scrapedCounter(
    registry,
    { name: 'brindle_bfd_packets_sent_total', help: 'BFD Control packets sent.', labelNames },
    eachSession((emit, v, labels) => emit(labels, v.packetsSent)),
  );
  scrapedCounter(
    registry,
    { name: 'brindle_bfd_packets_received_total', help: 'BFD Control packets received.', labelNames },
    eachSession((emit, v, labels) => emit(labels, v.packetsReceived)),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bfd_late_transmissions_total',
      help: 'BFD Control packets sent after more than the negotiated interval (RFC 5880 §6.8.7).',
      labelNames,
    },
    eachSession((emit, v, labels) => emit(labels, v.lateTransmissions)),
  );
  scrapedCounter(
    registry,
    {
      name: 'brindle_bfd_packets_discarded_total',
      help: 'Received BFD packets discarded: TTL not 255 (RFC 5881 §5), §6.8.6 checks, or no session.',
      labelNames: ['reason'],
    },
    (emit) => {
      const table = bfd.sessionTable;
      if (!table) return;
      emit({ reason: 'ttl not 255' }, table.badTtl);
      for (const [reason, n] of table.discarded) emit({ reason }, n);
    },
  );
}
