// BFD sessions as JSON (GET /api/v1/bfd, `brindlectl bfd`): per session the state on both sides, the
// discriminators, the intervals each side advertises and the negotiated ones (RFC 5880 §6.8.4,
// §6.8.7), and the last time it went Down with the diagnostic. Intervals are in milliseconds here.

import { DIAG_NAMES, STATE_NAMES } from '../bfd/packet.ts';
import type { BfdSessionView } from '../bfd/sessions.ts';

export interface BfdSessionStatus {
  readonly peer: string;
  readonly local: string;
  readonly interface: string;
  /** RFC 5883 multihop (port 4784) rather than RFC 5881 single hop. */
  readonly multihop: boolean;
  readonly state: string;
  readonly remoteState: string;
  readonly localDiscriminator: number;
  readonly remoteDiscriminator: number;
  readonly detectMult: number;
  readonly remoteDetectMult: number;
  /** Negotiated: our transmit interval and the Detection Time (0 while not Init or Up). */
  readonly transmitIntervalMs: number;
  readonly detectionTimeMs: number;
  readonly desiredMinTxIntervalMs: number;
  readonly requiredMinRxIntervalMs: number;
  readonly remoteDesiredMinTxIntervalMs: number;
  readonly remoteMinRxIntervalMs: number;
  readonly pollActive: boolean;
  /** The last change to Down: when (ISO 8601) and the diagnostic (RFC 5880 §4.1). */
  readonly lastDown: { readonly at: string; readonly diagnostic: string } | null;
  readonly packetsSent: number;
  readonly packetsReceived: number;
  /** Our packets sent after more than the negotiated interval (RFC 5880 §6.8.7 allows no more). */
  readonly lateTransmissions: number;
  /** Of those, the gaps longer than the Detection Time the peer applies to us. */
  readonly txGapsBeyondDetectionTime: number;
  /** The longest gap between two of our packets while Up. */
  readonly longestTxGapMs: number;
}

export interface BfdDocument {
  readonly sessions: readonly BfdSessionStatus[];
  /** Sessions wanted but not opened (an address not there yet), with why. */
  readonly failed: readonly { readonly peer: string; readonly reason: string }[];
}

/** What the daemon's BFD offers the view (daemon/bfd-peers.ts). */
export interface BfdViewSource {
  views(): BfdSessionView[];
  readonly failed: ReadonlyMap<string, string>;
}

/** `monoNowMs` is the clock the sessions stamp their changes with (performance.now by default). */
export function bfdDocument(
  source: BfdViewSource,
  wallNowMs = Date.now(),
  monoNowMs = performance.now(),
): BfdDocument {
  const ms = (us: number) => us / 1000;
  const sessions = source
    .views()
    .sort((a, b) => a.peerAddress.localeCompare(b.peerAddress))
    .map((v): BfdSessionStatus => ({
      peer: v.peerAddress,
      local: v.localAddress,
      interface: v.interfaceName,
      multihop: v.multihop,
      state: STATE_NAMES[v.state],
      remoteState: STATE_NAMES[v.remoteState],
      localDiscriminator: v.localDiscr,
      remoteDiscriminator: v.remoteDiscr,
      detectMult: v.detectMult,
      remoteDetectMult: v.remoteDetectMult,
      transmitIntervalMs: ms(v.transmitIntervalUs),
      detectionTimeMs: ms(v.detectionTimeUs),
      desiredMinTxIntervalMs: ms(v.desiredMinTxIntervalUs),
      requiredMinRxIntervalMs: ms(v.requiredMinRxIntervalUs),
      remoteDesiredMinTxIntervalMs: ms(v.remoteDesiredMinTxIntervalUs),
      remoteMinRxIntervalMs: ms(v.remoteMinRxIntervalUs),
      pollActive: v.pollActive,
      lastDown: v.lastDown
        ? {
            at: new Date(wallNowMs - (monoNowMs - v.lastDown.atMs)).toISOString(),
            diagnostic: DIAG_NAMES[v.lastDown.diag] ?? String(v.lastDown.diag),
          }
        : null,
      packetsSent: v.packetsSent,
      packetsReceived: v.packetsReceived,
      lateTransmissions: v.lateTransmissions,
      txGapsBeyondDetectionTime: v.txGapsBeyondDetectionTime,
      longestTxGapMs: Math.round(v.longestTxGapUpUs) / 1000,
    }));
  const failed = [...source.failed].map(([peer, reason]) => ({ peer, reason }));
  return { sessions, failed };
}
