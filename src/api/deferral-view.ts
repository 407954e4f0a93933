// The selection deferral after a graceful restart (RFC 4724 §4.1) as the status shows it: whether
// best-path results are still held back, since when, the time left on the Selection_Deferral_Timer,
// the families already released, and which peers' End-of-RIB is still awaited. A pure function of the
// deferral's status and the router's peers.

import type { Peer } from '../bgp/session/peer.ts';
import type { DeferralStatus } from '../rib/selection-deferral.ts';

export interface AwaitedPeerDocument {
  /** The session's name; its address when no configured session has it any more. */
  readonly peer: string;
  readonly remote: string;
  readonly established: boolean;
  /** Families whose End-of-RIB has not arrived ("ipv4-unicast"); empty while not Established. */
  readonly endOfRibAwaited: readonly string[];
}

export interface DeferralDocument {
  /** True while routes, End-of-RIB and kernel changes are held back. */
  readonly active: boolean;
  /** ISO 8601: when this start began deferring its selection. */
  readonly since: string;
  readonly timeSec: number;
  /** Seconds left before the Selection_Deferral_Timer ends the wait; 0 once it ended. */
  readonly remainingSec: number;
  /** How long the wait lasted, once it ended. */
  readonly durationSec?: number;
  /** Why it ended: every End-of-RIB, or the timer. */
  readonly reason?: string;
  readonly releasedFamilies: readonly string[];
  readonly awaiting: readonly AwaitedPeerDocument[];
}

export function deferralDocument(
  status: DeferralStatus,
  peers: readonly Peer[],
  now = Date.now(),
): DeferralDocument {
  const byAddress = new Map(peers.map((p) => [p.config.remoteAddress, p.config.name]));
  return {
    active: status.active,
    since: new Date(now - status.elapsedSec * 1000).toISOString(),
    timeSec: status.timeSec,
    remainingSec: Math.ceil(status.remainingSec),
    ...(status.durationSec === undefined
      ? {}
      : { durationSec: round(status.durationSec), reason: status.reason }),
    releasedFamilies: status.releasedFamilies,
    awaiting: status.awaited.map((a) => ({
      peer: byAddress.get(a.peer) ?? a.peer,
      remote: a.peer,
      established: a.established,
      endOfRibAwaited: a.endOfRibAwaited,
    })),
  };
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
