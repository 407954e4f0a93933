// One configured BGP neighbour: its FSM-driven connection, a second connection while a collision is
// being resolved (RFC 4271 §6.8), its counters, and the RxJS stream of session events the RIB consumes.

import type net from 'node:net';
import { Subject } from 'rxjs/internal/Subject';
import type { Observable } from 'rxjs';
import { CapabilityCode, CeaseSubcode, MessageType, RouteRefreshSubtype } from '../constants.ts';
import type { GracefulRestartCapability, OpenMessage } from '../types.ts';
import { encodeRouteRefresh } from '../codec/route-refresh.ts';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../../lib/address.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/log.ts';
import { Connection } from './connection.ts';
import type { ConnectionOwner, SessionEvent } from './connection.ts';
import { PeerCounters } from './counters.ts';
import { SessionState } from './fsm.ts';
import type { NegotiatedSession } from './negotiate.ts';
import { fsmConfig, localOpen } from './peer-config.ts';
import type { PeerConfig } from './peer-config.ts';

export type { SessionEvent };

const CONNECTED_STATES: ReadonlySet<SessionState> = new Set([
  SessionState.OpenSent,
  SessionState.OpenConfirm,
  SessionState.Established,
]);

/**
 * While a peer cannot be reached its FSM cycles Idle, Connect and Active every ConnectRetry interval:
 * those changes are logged at debug, and an info line says every UNREACHABLE_SUMMARY_MS that the peer
 * is still unreachable, with the last error.
 */
const UNREACHABLE_SUMMARY_MS = 60_000;

function isConnecting(state: SessionState): boolean {
  return !CONNECTED_STATES.has(state);
}

/** An address in the form the codec prints NEXT_HOPs in, or undefined when it is not one. */
function canonicalAddress(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const v4 = parseIpv4(text);
  if (v4 >= 0) return formatIpv4(v4);
  const v6 = parseIpv6(text);
  return v6 && formatIpv6(v6);
}

/**
 * This speaker's addresses on the current session, for RFC 4271 §6.3's semantic NEXT_HOP check (the
 * RIB's ingress asks): the connection's local address, the configured source address (the node's
 * address under Calico's sourceAddress UseNodeIP) and the router ID (the node's IPv4 address by
 * default). The error "SHOULD be logged": once per session, not per route.
 */
export class SessionLocalAddresses {
  private addresses: ReadonlySet<string> = new Set();
  private prefixes = 0;

  constructor(private readonly log: Logger) {}

  sessionUp(addresses: readonly (string | undefined)[]): void {
    const canonical = addresses.map(canonicalAddress).filter((a) => a !== undefined);
    this.addresses = new Set(canonical);
    this.prefixes = 0;
  }

  has(address: string): boolean {
    return this.addresses.has(address);
  }

  nextHopIsLocal(prefixes: number): void {
    if (this.prefixes === 0) {
      this.log.warn(
        { event: 'local-next-hop', prefixes, localAddresses: [...this.addresses] },
        'routes whose NEXT_HOP is our own address are ignored (RFC 4271 §6.3); said once per session',
      );
    }
    this.prefixes += prefixes;
  }

  /** Prefixes ignored for their NEXT_HOP on the current session. */
  get ignoredPrefixes(): number {
    return this.prefixes;
  }
}

export class Peer implements ConnectionOwner {
  readonly counters = new PeerCounters();
  private readonly subject = new Subject<SessionEvent>();
  /** Session events: state changes, established, updates, route refreshes, down, drain. */
  readonly events$: Observable<SessionEvent> = this.subject.asObservable();
  private primary: Connection;
  /** An accepted connection racing the primary one until §6.8 picks a winner. */
  private secondary: Connection | undefined;
  private readonly log: Logger;
  /** Since when connection attempts have failed (clock ms), and when that was last said at info. */
  private unreachableSince: number | undefined;
  private unreachableSaidAt = 0;
  private attemptsWhenUnreachable = 0;
  /** An administrative stop or reset is under way: what it ends is no failure. */
  private stopping = false;
  /** Our addresses on the current session (RFC 4271 §6.3), for the RIB's NEXT_HOP check. */
  readonly localAddresses: SessionLocalAddresses;

  private currentConfig: PeerConfig;

  constructor(
    config: PeerConfig,
    private readonly clock: Clock,
    log: Logger,
  ) {
    this.currentConfig = config;
    this.log = log.child({ peer: config.name, remote: config.remoteAddress });
    this.localAddresses = new SessionLocalAddresses(this.log);
    this.primary = this.newConnection();
  }

  get config(): PeerConfig {
    return this.currentConfig;
  }

  /**
   * RFC 4724 §4.1: the Restart State bit says "this speaker has restarted"; it is set only in the
   * OPENs sent while the restart's selection deferral runs. A session that comes up later (after a
   * flap) must not make its peer wait for our End-of-RIB again.
   */
  restartEnded(): void {
    if (!this.currentConfig.gracefulRestartState) return;
    this.currentConfig = { ...this.currentConfig, gracefulRestartState: false };
    const open = localOpen(this.currentConfig);
    this.primary.setLocalOpen(open);
    this.secondary?.setLocalOpen(open);
  }

  private newConnection(): Connection {
    return new Connection(this.config, fsmConfig(this.config), this.clock, this.log, this.counters, this);
  }

  get state(): SessionState {
    return this.primary.state;
  }

  get negotiated(): NegotiatedSession | undefined {
    return this.primary.state === SessionState.Established ? this.primary.negotiated : undefined;
  }

  get name(): string {
    return this.config.name;
  }

  /**
   * Stops reading from the peer (the RIB is behind on what it sent: rib/ingress-backlog.ts); TCP then
   * pushes back on it. A new connection starts reading again.
   */
  holdReading(): void {
    this.primary.holdReading();
  }

  releaseReading(): void {
    this.primary.releaseReading();
  }

  /** The established connection (for the Adj-RIB-Out to write to), if any. */
  get session(): Connection | undefined {
    return this.primary.state === SessionState.Established ? this.primary : undefined;
  }

  start(): void {
    if (this.config.configError !== undefined) {
      this.counters.error(this.config.configError);
      this.log.error({ event: 'config-error', reason: this.config.configError }, 'peer not started');
      return;
    }
    this.log.info({ event: 'start', passive: this.config.passive }, 'peer started');
    this.primary.input({ kind: 'start' });
  }

  /** Administrative shutdown: Cease to the peer (RFC 4486 subcode, RFC 9003 message), no restart. */
  stop(subcode: number = CeaseSubcode.AdministrativeShutdown, shutdownCommunication?: string): void {
    this.secondary?.input({ kind: 'stop', subcode, shutdownCommunication });
    this.secondary?.dispose();
    this.secondary = undefined;
    this.stopping = true;
    this.primary.input({ kind: 'stop', subcode, shutdownCommunication });
    this.stopping = false;
    this.unreachableSince = undefined;
  }

  /** Stops for good and completes the event stream. */
  close(subcode: number = CeaseSubcode.PeerDeConfigured, shutdownCommunication?: string): void {
    this.stop(subcode, shutdownCommunication);
    this.primary.dispose();
    this.subject.complete();
  }

  /**
   * This speaker is about to restart (RFC 4724 §4): the session ends so that a peer with Graceful
   * Restart keeps our routes (fsm.ts gracefulStop); one without gets Administrative Shutdown. Then as
   * close(): for good, the event stream completed.
   */
  closeForRestart(shutdownCommunication?: string): void {
    const input = {
      kind: 'stop',
      subcode: CeaseSubcode.AdministrativeShutdown,
      shutdownCommunication,
      graceful: true,
    } as const;
    this.stopping = true;
    this.secondary?.input(input);
    this.secondary?.dispose();
    this.secondary = undefined;
    this.primary.input(input);
    this.stopping = false;
    this.primary.dispose();
    this.subject.complete();
  }

  /**
   * Administrative reset: Cease/Administrative Reset (or `subcode`, e.g. BFD Down of RFC 9384), then
   * start again after the IdleHoldTimer.
   */
  reset(shutdownCommunication?: string, subcode: number = CeaseSubcode.AdministrativeReset): void {
    this.stopping = true;
    this.primary.input({
      kind: 'stop',
      subcode,
      shutdownCommunication,
      restart: true,
    });
    this.stopping = false;
  }

  /**
   * RFC 2918 / RFC 7313: asks the peer to send its routes of a family again; with the BoRR or EoRR
   * subtype (RFC 7313 §4), marks the start or end of our own re-advertisement of the family to it.
   */
  requestRouteRefresh(
    afi: number,
    safi: number,
    subtype: RouteRefreshSubtype = RouteRefreshSubtype.Normal,
  ): boolean {
    const session = this.session;
    if (!session?.negotiated?.routeRefresh) return false;
    session.sendRaw(encodeRouteRefresh({ afi, safi, subtype }), MessageType.RouteRefresh);
    return true;
  }

  /**
   * An accepted TCP connection from this peer's address. Returns false when it was refused (Idle, or
   * a collision already being resolved).
   */
  acceptIncoming(socket: net.Socket): boolean {
    const state = this.primary.state;
    if (state === SessionState.Idle || this.secondary) return false;
    if (state === SessionState.Connect || state === SessionState.Active) {
      this.primary.attach(socket);
      return true;
    }
    // OpenSent, OpenConfirm or Established: race it against the current connection (§6.8).
    const second = this.newConnection();
    this.secondary = second;
    second.input({ kind: 'start' });
    second.attach(socket);
    return true;
  }

  // --- ConnectionOwner ------------------------------------------------------------------------------

  onOpenReceived(connection: Connection, open: OpenMessage): boolean {
    const other = connection === this.primary ? this.secondary : this.primary;
    if (!other || !CONNECTED_STATES.has(other.state)) return true;
    const loser = this.collisionLoser(connection, other, open);
    this.log.info(
      { event: 'collision', kept: loser === other ? connection.direction : other.direction },
      'connection collision resolved',
    );
    if (loser === connection) return false;
    if (loser.state === SessionState.Established) {
      loser.input({
        kind: 'tcp-failed',
        reason: 'peer restarted: replaced by its new connection (RFC 4724 §4)',
      });
    } else {
      loser.input({ kind: 'collision-dump' });
    }
    return true;
  }

  /**
   * §6.8: against a connection in OpenSent/OpenConfirm, keep the one initiated by the speaker with the
   * higher BGP Identifier. Against an Established one, the new connection loses — unless the peer
   * restarted with Graceful Restart (RFC 4724 §4), when the new one replaces the old.
   */
  private collisionLoser(fresh: Connection, other: Connection, open: OpenMessage): Connection {
    if (other.state === SessionState.Established) {
      const gr = open.capabilities.find((c) => c.code === CapabilityCode.GracefulRestart) as
        GracefulRestartCapability | undefined;
      return gr ? other : fresh;
    }
    const localWins = this.config.routerId >>> 0 > open.bgpIdentifier >>> 0;
    const outbound = fresh.direction === 'outbound' ? fresh : other;
    const inbound = outbound === fresh ? other : fresh;
    return localWins ? inbound : outbound;
  }

  onEvent(connection: Connection, event: SessionEvent): void {
    if (event.kind === 'state') this.onStateChange(connection, event);
    if (event.kind === 'established') {
      const { localAddress, routerId } = this.config;
      this.localAddresses.sessionUp([connection.localAddress, localAddress, formatIpv4(routerId)]);
    }
    // Only the primary connection speaks for the peer (a promoted secondary is the primary by now).
    if (connection === this.primary) this.subject.next(event);
  }

  private onStateChange(connection: Connection, event: Extract<SessionEvent, { kind: 'state' }>): void {
    this.logStateChange(connection, event);
    if (event.to !== SessionState.Idle || !this.secondary) return;
    if (connection === this.secondary) {
      this.secondary.dispose();
      this.secondary = undefined;
      return;
    }
    // The primary lost (collision, or its connection failed) while the other races on: promote it.
    this.primary.dispose();
    this.primary = this.secondary;
    this.secondary = undefined;
  }

  /**
   * A session lost from Established is a warning with its reason (one we stop or reset ourselves is
   * info); reaching OpenSent and beyond is info;
   * the Idle/Connect/Active cycle of a peer that cannot be reached is debug, summarized (connectFailed).
   */
  private logStateChange(connection: Connection, { from, to }: { from: SessionState; to: SessionState }) {
    const reason = to === SessionState.Idle ? this.counters.lastError : undefined;
    const fields = { event: 'state', from, to, direction: connection.direction, reason };
    const text = `session ${from} -> ${to}`;
    if (from === SessionState.Established && !this.stopping) return this.log.warn(fields, text);
    if (isConnecting(from) && isConnecting(to)) {
      this.log.debug(fields, text);
      if (from === SessionState.Connect) this.connectFailed();
      return;
    }
    if (this.unreachableSince !== undefined) this.log.info(fields, `${text}: reachable again`);
    else this.log.info(fields, text);
    this.unreachableSince = undefined;
  }

  /** A connection attempt failed (Connect → Active or Idle): said at once, then once a minute. */
  private connectFailed(): void {
    if (this.stopping) return;
    const now = this.clock.now();
    const reason = this.counters.lastError;
    if (this.unreachableSince === undefined) {
      this.unreachableSince = this.unreachableSaidAt = now;
      this.attemptsWhenUnreachable = this.counters.connectAttempts;
      this.log.info(
        { event: 'unreachable', reason },
        `peer ${this.config.name} unreachable, last error: ${reason}; retries are logged at debug`,
      );
      return;
    }
    if (now - this.unreachableSaidAt < UNREACHABLE_SUMMARY_MS) return;
    this.unreachableSaidAt = now;
    const seconds = Math.round((now - this.unreachableSince) / 1000);
    const attempts = this.counters.connectAttempts - this.attemptsWhenUnreachable;
    this.log.info(
      { event: 'unreachable', reason, unreachableSec: seconds, attempts },
      `peer ${this.config.name} unreachable for ${seconds} s, last error: ${reason}`,
    );
  }
}
