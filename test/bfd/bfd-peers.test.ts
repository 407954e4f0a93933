// Which BGP peers get a BFD session (daemon/bfd-peers.ts): the BGPPeer asks for it, its address is on
// a directly connected subnet, and a BFDConfiguration selecting this node matches that interface.
import test from 'ava';
import type { NetworkInterfaceInfo } from 'node:os';
import { connectedInterface, desiredBfdSessions } from '../../src/daemon/bfd-peers.ts';
import type { BfdInputs, InterfaceTable } from '../../src/daemon/bfd-peers.ts';
import { parseResources } from '../../src/resources/index.ts';
import type { BFDConfiguration, BGPPeer, Node } from '../../src/resources/index.ts';

function address(address: string, cidr: string): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return {
    address,
    cidr,
    netmask: '',
    mac: '00:00:00:00:00:00',
    internal: false,
    ...(v6 ? { family: 'IPv6', scopeid: 0 } : { family: 'IPv4' }),
  };
}

const INTERFACES: InterfaceTable = {
  lo: [{ ...address('127.0.0.1', '127.0.0.0/8'), internal: true }],
  eth0: [
    address('10.0.0.2', '10.0.0.2/24'),
    address('fd00::2', 'fd00::2/64'),
    address('fe80::1', 'fe80::1/64'),
  ],
  ens3: [address('192.168.1.2', '192.168.1.2/24')],
};

function parse<T>(yaml: string): T[] {
  const { resources, errors } = parseResources(yaml);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  return resources as T[];
}

const PEERS = parse<BGPPeer>(`
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: 10.0.0.1, asNumber: 65001, failureDetectionMode: BFDIfDirectlyConnected}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor6}
spec: {peerIP: "fd00::1", asNumber: 65001, failureDetectionMode: BFDIfDirectlyConnected}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: plain}
spec: {peerIP: 10.0.0.3, asNumber: 65001}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: far}
spec: {peerIP: 172.16.0.1, asNumber: 65001, failureDetectionMode: BFDIfDirectlyConnected}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: other-if}
spec: {peerIP: 192.168.1.1, asNumber: 65001, failureDetectionMode: BFDIfDirectlyConnected}
`);

const CONFIGS = parse<BFDConfiguration>(`
apiVersion: projectcalico.org/v3
kind: BFDConfiguration
metadata: {name: racks}
spec:
  nodeSelector: has(rack)
  interfaces:
  - {matchPattern: "eth*", minimumSendInterval: 100ms, minimumRecvInterval: 200ms, multiplier: 3, idleSendInterval: 2s}
`);

const NODES = parse<Node>(`
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: n1, labels: {rack: r1}}
`);

const inputs = (over: Partial<BfdInputs> = {}): BfdInputs => ({
  nodeName: 'n1',
  nodes: NODES,
  peers: PEERS,
  bfdConfigs: CONFIGS,
  peerings: ['10.0.0.1', 'fd00::1', '10.0.0.3', '172.16.0.1', '192.168.1.1'].map((remoteAddress, i) => ({
    remoteAddress,
    bgpPeer: PEERS[i].metadata.name,
  })),
  ...over,
});

const TIMERS = {
  detectMult: 3,
  desiredMinTxIntervalUs: 100_000,
  requiredMinRxIntervalUs: 200_000,
  idleTxIntervalUs: 2_000_000,
};

test('BFD for the directly connected peers that ask for it, on a matching interface, IPv4 and IPv6', (t) => {
  t.deepEqual(desiredBfdSessions(inputs(), INTERFACES), [
    {
      peerAddress: '10.0.0.1',
      localAddress: '10.0.0.2',
      interfaceName: 'eth0',
      timers: TIMERS,
    },
    {
      peerAddress: 'fd00::1',
      localAddress: 'fd00::2',
      interfaceName: 'eth0',
      timers: TIMERS,
    },
  ]);
});

test('no BFD when no BFDConfiguration selects the node, or for the mesh', (t) => {
  const unlabelled = parse<Node>('apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\n');
  t.deepEqual(desiredBfdSessions(inputs({ nodes: unlabelled }), INTERFACES), []);
  t.deepEqual(desiredBfdSessions(inputs({ peerings: [{ remoteAddress: '10.0.0.1' }] }), INTERFACES), []);
});

test('connectedInterface: the subnet holding the peer, never our own address or loopback', (t) => {
  t.deepEqual(connectedInterface(INTERFACES, '10.0.0.77'), {
    interfaceName: 'eth0',
    localAddress: '10.0.0.2',
  });
  t.deepEqual(connectedInterface(INTERFACES, '192.168.1.1'), {
    interfaceName: 'ens3',
    localAddress: '192.168.1.2',
  });
  t.is(connectedInterface(INTERFACES, '10.0.0.2'), undefined);
  t.is(connectedInterface(INTERFACES, '127.0.0.2'), undefined);
  t.is(connectedInterface(INTERFACES, '10.0.1.1'), undefined);
  t.is(connectedInterface(INTERFACES, 'fe80::2'), undefined);
});
