// BFD for the BGP peers that ask for it, as Calico Enterprise configures it: a BGPPeer with
// `failureDetectionMode: BFDIfDirectlyConnected` gets a BFD session (RFC 5881, single hop) when its
// address is on a directly connected subnet of an interface that a BFDConfiguration selecting this
// node matches; the interface entry gives the timers. A session that goes from Up to Down is handed
// to `onDown` (the daemon takes the BGP session down at once, RFC 9384's Cease "BFD Down").
//
// Interfaces and their addresses are read from the system on each apply and every few seconds, so an
// address that appears later (DHCP, a veth configured after start) is picked up without a resource
// change. Work per check is bounded by peers × interface addresses.

import { BlockList, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { NetworkInterfaceInfo } from 'node:os';
import type { Subscription } from 'rxjs';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { loadNative } from '../lib/native.ts';
import { BfdState, DIAG_NAMES, STATE_NAMES } from '../bfd/packet.ts';
import { BfdSessions } from '../bfd/sessions.ts';
import type { BfdPeerSpec, BfdSessionChange, BfdSessionTable, BfdSessionView } from '../bfd/sessions.ts';
import { BfdSessionsThread } from '../bfd/sessions-thread.ts';
import { bfdSettingsFor } from '../resources/bfd-configuration.ts';
import type { ResourceSnapshot } from '../resources/store.ts';
import type { DesiredPeering } from '../reflector/topology.ts';

/** How often interface addresses are looked at again between resource changes. */
const INTERFACE_CHECK_MS = 5_000;

/** What BFD needs of a desired BGP session: its address and BGPPeer (the mesh has none, so no BFD). */
export type BfdPeering = Pick<DesiredPeering, 'remoteAddress' | 'bgpPeer'>;

export type BfdInputs = Pick<ResourceSnapshot, 'nodes' | 'peers' | 'bfdConfigs'> & {
  readonly nodeName: string;
  readonly peerings: readonly BfdPeering[];
};

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The BFD sessions this node wants: one per peering whose BGPPeer asks for BFD and whose address is
 * on a subnet of an interface a BFDConfiguration for this node matches. Pure: interfaces are passed in.
 */
export function desiredBfdSessions(input: BfdInputs, interfaces: InterfaceTable): BfdPeerSpec[] {
  const wanting = peeringsWantingBfd(input);
  const labels = input.nodes.find((n) => n.metadata.name === input.nodeName)?.metadata.labels ?? {};
  const specs: BfdPeerSpec[] = [];
  for (const peering of input.peerings) {
    if (!wanting.has(peering.remoteAddress)) continue;
    const connected = connectedInterface(interfaces, peering.remoteAddress);
    if (!connected) continue;
    const settings = bfdSettingsFor(input.bfdConfigs, labels, connected.interfaceName);
    if (!settings) continue;
    const { detectMult, desiredMinTxIntervalUs, requiredMinRxIntervalUs, idleTxIntervalUs } = settings;
    specs.push({
      peerAddress: peering.remoteAddress,
      localAddress: connected.localAddress,
      interfaceName: connected.interfaceName,
      timers: { detectMult, desiredMinTxIntervalUs, requiredMinRxIntervalUs, idleTxIntervalUs },
    });
  }
  return specs;
}

/** The addresses of the peerings whose BGPPeer asks for BFD. */
function peeringsWantingBfd(input: BfdInputs): Set<string> {
  const names = new Set(
    input.peers
      .filter((p) => p.spec.failureDetectionMode === 'BFDIfDirectlyConnected')
      .map((p) => p.metadata.name),
  );
  const wanting = input.peerings.filter((p) => p.bgpPeer !== undefined && names.has(p.bgpPeer));
  return new Set(wanting.map((p) => p.remoteAddress));
}

/** The interface and our address on it whose subnet holds `peer` (not our own address). */
export function connectedInterface(
  interfaces: InterfaceTable,
  peer: string,
): { interfaceName: string; localAddress: string } | undefined {
  const type = isIPv6(peer) ? 'ipv6' : 'ipv4';
  for (const [interfaceName, addresses] of Object.entries(interfaces)) {
    for (const a of addresses ?? []) {
      if (a.internal || a.cidr === null || a.address === peer) continue;
      if ((a.family === 'IPv6') !== (type === 'ipv6')) continue;
      // Link-local IPv6 needs a scope a peer address of a BGPPeer does not carry.
      if (type === 'ipv6' && a.address.toLowerCase().startsWith('fe80:')) continue;
      const [network, length] = a.cidr.split('/');
      const subnet = new BlockList();
      subnet.addSubnet(network, Number(length), type);
      if (subnet.check(peer, type)) return { interfaceName, localAddress: a.address };
    }
  }
  return undefined;
}

export interface BfdPeersOptions {
  readonly log: Logger;
  /** Called when a session goes from Up to Down for a reason other than the peer's AdminDown. */
  readonly onDown: (peerAddress: string, change: BfdSessionChange) => void;
  readonly clock?: Clock;
  readonly interfaces?: () => InterfaceTable;
  /**
   * Run the sessions in a worker thread (the daemon does): their timers then keep their deadlines
   * while this event loop is busy converging a large table. Without it they share this loop (tests
   * that drive the sessions directly).
   */
  readonly thread?: boolean;
}

export class BfdPeers {
  private sessions: BfdSessionTable | undefined;
  private subscription: Subscription | undefined;
  private inputs: BfdInputs | undefined;
  /** The sessions last wanted, by peer: what a late report from the worker is about. */
  private desired = new Map<string, BfdPeerSpec>();
  private readonly timer: ReturnType<typeof setInterval>;
  private unavailable = false;
  /** Sessions that could not be opened, by peer, with why (retried on the next check). */
  readonly failed = new Map<string, string>();

  constructor(private readonly options: BfdPeersOptions) {
    this.timer = setInterval(() => this.check(), INTERFACE_CHECK_MS);
    this.timer.unref();
  }

  apply(inputs: BfdInputs): void {
    this.inputs = inputs;
    this.check();
  }

  views(): BfdSessionView[] {
    return this.sessions?.sessions() ?? [];
  }

  /** The session table (discards by reason, TTL refusals) for the metrics; undefined before use. */
  get sessionTable(): BfdSessionTable | undefined {
    return this.sessions;
  }

  close(): void {
    clearInterval(this.timer);
    this.subscription?.unsubscribe();
    this.sessions?.close();
    this.sessions = undefined;
  }

  private check(): void {
    if (!this.inputs) return;
    const interfaces = (this.options.interfaces ?? networkInterfaces)();
    const desired = desiredBfdSessions(this.inputs, interfaces);
    this.desired = new Map(desired.map((d) => [d.peerAddress, d]));
    const table = desired.length > 0 ? this.openTable() : this.sessions;
    if (!table) return;
    const wanted = new Set(desired.map((d) => d.peerAddress));
    // The system lists only interfaces that are up and running: a session whose interface lost its
    // carrier stays (Down, with its reason) while its BGPPeer still asks, and comes Up with the link.
    const stillAsked = peeringsWantingBfd(this.inputs);
    for (const view of table.sessions()) {
      if (wanted.has(view.peerAddress)) continue;
      if (interfaces[view.interfaceName] === undefined && stillAsked.has(view.peerAddress)) continue;
      this.options.log.info({ event: 'bfd-removed', peer: view.peerAddress }, 'BFD session removed');
      table.remove(view.peerAddress);
    }
    for (const spec of desired) this.start(table, spec);
  }

  private start(table: BfdSessionTable, spec: BfdPeerSpec): void {
    const known = table.get(spec.peerAddress) !== undefined;
    try {
      table.add(spec);
    } catch (error) {
      this.added(spec.peerAddress, String(error), known);
      return;
    }
    // A worker answers later (onAdded); an in-process table has opened the session by now.
    if (!(table instanceof BfdSessionsThread)) this.added(spec.peerAddress, undefined, known);
  }

  private added(peerAddress: string, error: string | undefined, known: boolean): void {
    const spec = this.desired.get(peerAddress);
    if (error !== undefined) {
      if (this.failed.get(peerAddress) !== error)
        this.options.log.warn(
          { event: 'bfd-failed', peer: peerAddress, reason: error },
          'cannot open the BFD session; retrying',
        );
      this.failed.set(peerAddress, error);
      return;
    }
    this.failed.delete(peerAddress);
    if (!known && spec)
      this.options.log.info(
        { event: 'bfd-added', peer: peerAddress, interface: spec.interfaceName, ...spec.timers },
        'BFD session added',
      );
  }

  /** The session table, opened on first use; undefined (said once) without the native addon. */
  private openTable(): BfdSessionTable | undefined {
    if (this.sessions || this.unavailable) return this.sessions;
    const load = loadNative();
    if (!load.ok) {
      this.unavailable = true;
      this.options.log.error(
        { event: 'bfd-unavailable', reason: load.reason },
        'BFD needs the native addon (received TTL); no BFD sessions',
      );
      return undefined;
    }
    const sessions: BfdSessionTable = this.options.thread
      ? new BfdSessionsThread({
          onAdded: (peer, error) => this.added(peer, error, this.sessions?.get(peer) !== undefined),
          onUnavailable: (reason) =>
            this.options.log.error({ event: 'bfd-unavailable', reason }, 'BFD stopped: no BFD sessions'),
        })
      : new BfdSessions({ native: load.native, clock: this.options.clock ?? systemClock });
    this.subscription = sessions.changes$.subscribe((change) => this.changed(sessions, change));
    this.sessions = sessions;
    return sessions;
  }

  // RFC 5882 §3.2: a peer that signals AdminDown did not lose the path; the BGP session stays.
  private changed(sessions: BfdSessionTable, change: BfdSessionChange): void {
    const fields = {
      event: 'bfd-state',
      peer: change.peerAddress,
      from: STATE_NAMES[change.from],
      to: STATE_NAMES[change.to],
      diag: DIAG_NAMES[change.diag],
    };
    const text = `BFD session ${fields.from} -> ${fields.to}`;
    if (change.from !== BfdState.Up || change.to !== BfdState.Down) {
      this.options.log.info(fields, text);
      return;
    }
    const remoteAdminDown = sessions.get(change.peerAddress)?.remoteState === BfdState.AdminDown;
    if (remoteAdminDown) {
      this.options.log.info(fields, `${text}: the peer is administratively down, BGP left alone`);
      return;
    }
    this.options.log.warn(fields, `${text}: taking the BGP session down`);
    this.options.onDown(change.peerAddress, change);
  }
}
