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
import type { BfdPeerSpec, BfdSessionChange, BfdSessionView } from '../bfd/sessions.ts';
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
  const wanting = new Set(
    input.peers
      .filter((p) => p.spec.failureDetectionMode === 'BFDIfDirectlyConnected')
      .map((p) => p.metadata.name),
  );
  const labels = input.nodes.find((n) => n.metadata.name === input.nodeName)?.metadata.labels ?? {};
  const specs: BfdPeerSpec[] = [];
  for (const peering of input.peerings) {
    if (peering.bgpPeer === undefined || !wanting.has(peering.bgpPeer)) continue;
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
}

export class BfdPeers {
  private sessions: BfdSessions | undefined;
  private subscription: Subscription | undefined;
  private inputs: BfdInputs | undefined;
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
  get sessionTable(): BfdSessions | undefined {
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
    const desired = desiredBfdSessions(this.inputs, (this.options.interfaces ?? networkInterfaces)());
    const table = desired.length > 0 ? this.openTable() : this.sessions;
    if (!table) return;
    const wanted = new Set(desired.map((d) => d.peerAddress));
    for (const view of table.sessions()) {
      if (wanted.has(view.peerAddress)) continue;
      this.options.log.info({ event: 'bfd-removed', peer: view.peerAddress }, 'BFD session removed');
      table.remove(view.peerAddress);
    }
    for (const spec of desired) this.start(table, spec);
  }

  private start(table: BfdSessions, spec: BfdPeerSpec): void {
    const existing = table.get(spec.peerAddress);
    try {
      table.add(spec);
      this.failed.delete(spec.peerAddress);
    } catch (error) {
      const reason = String(error);
      if (this.failed.get(spec.peerAddress) !== reason)
        this.options.log.warn(
          { event: 'bfd-failed', peer: spec.peerAddress, reason },
          'cannot open the BFD session; retrying',
        );
      this.failed.set(spec.peerAddress, reason);
      return;
    }
    if (!existing)
      this.options.log.info(
        { event: 'bfd-added', peer: spec.peerAddress, interface: spec.interfaceName, ...spec.timers },
        'BFD session added',
      );
  }

  /** The session table, opened on first use; undefined (said once) without the native addon. */
  private openTable(): BfdSessions | undefined {
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
    const sessions = new BfdSessions({ native: load.native, clock: this.options.clock ?? systemClock });
    this.subscription = sessions.changes$.subscribe((change) => this.changed(sessions, change));
    this.sessions = sessions;
    return sessions;
  }

  // RFC 5882 §3.2: a peer that signals AdminDown did not lose the path; the BGP session stays.
  private changed(sessions: BfdSessions, change: BfdSessionChange): void {
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
