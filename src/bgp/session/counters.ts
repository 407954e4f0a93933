// Per-peer counters, kept where the metrics registry and the CLI read them (plain numbers and maps;
// the metrics module turns them into Prometheus series on scrape).

import { SessionState } from './fsm.ts';

const CONNECTED: ReadonlySet<string> = new Set([
  SessionState.OpenSent,
  SessionState.OpenConfirm,
  SessionState.Established,
]);

const TYPE_NAMES = ['', 'open', 'update', 'notification', 'keepalive', 'route_refresh'];

export function messageTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type_${type}`;
}

export class PeerCounters {
  readonly messagesIn = new Map<string, number>();
  readonly messagesOut = new Map<string, number>();
  /** Keyed "code/subcode". */
  readonly notificationsSent = new Map<string, number>();
  readonly notificationsReceived = new Map<string, number>();
  readonly transitions = new Map<string, number>();
  updatesIn = 0;
  updatesOut = 0;
  /** UPDATEs handled with an RFC 7606 action weaker than session reset. */
  updateErrors = 0;
  connectAttempts = 0;
  establishedCount = 0;
  lastError = '';
  lastErrorAt?: Date;
  /** Date.now() of the last state change. */
  stateSince = Date.now();
  /**
   * Date.now() since when the session is down: the start, or the last time it fell from OpenSent or
   * beyond to Idle, Connect or Active. Connect retries do not move it (`brindlectl status` SINCE).
   */
  downSince = Date.now();
  establishedSince?: number;

  private bump(map: Map<string, number>, key: string, count = 1): void {
    map.set(key, (map.get(key) ?? 0) + count);
  }

  messageIn(type: number): void {
    this.bump(this.messagesIn, messageTypeName(type));
  }

  /** `count` messages of one type written at once (a packed run of UPDATEs). */
  messageOut(type: number, count = 1): void {
    this.bump(this.messagesOut, messageTypeName(type), count);
  }

  notificationSent(code: number, subcode: number): void {
    this.bump(this.notificationsSent, `${code}/${subcode}`);
  }

  notificationReceived(code: number, subcode: number): void {
    this.bump(this.notificationsReceived, `${code}/${subcode}`);
  }

  transition(from: SessionState, to: SessionState): void {
    this.bump(this.transitions, `${from}->${to}`);
    this.stateSince = Date.now();
    if (CONNECTED.has(from) && !CONNECTED.has(to)) this.downSince = this.stateSince;
  }

  error(text: string): void {
    this.lastError = text;
    this.lastErrorAt = new Date();
  }
}
