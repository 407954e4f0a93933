import test from 'ava';
import { readFileSync } from 'node:fs';
import { DEFAULT_HOLD_TIME_SEC } from '../../src/bgp/session/peer-config.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import {
  computeTopology,
  desiredPeerings,
  diffPeerings,
  hashRouterId,
  speakerSettings,
  toPeerConfig,
} from '../../src/reflector/topology.ts';
import type { DesiredPeering } from '../../src/reflector/topology.ts';
import { cluster, config, MESH_OFF, node, peer } from './cluster-yaml.ts';
import type { Cluster } from './cluster-yaml.ts';

/** One line per session: name, remote, ASes, and the flags that differ from the defaults. */
function summary(p: DesiredPeering): string {
  const flags = [
    p.passive ? 'passive' : '',
    p.routeReflectorClient ? `rr-client ${p.clusterId}` : '',
    p.nextHopMode !== 'Auto' ? `next-hop ${p.nextHopMode}` : '',
  ].filter((f) => f !== '');
  return [`${p.name} ${p.remoteAddress}:${p.remotePort} as ${p.localAs}>${p.peerAs}`, ...flags].join(' ');
}

function sessions(input: Cluster, localNode: string): string[] {
  return desiredPeerings({ ...input, localNode }).map(summary);
}

// Scenarios: a cluster, and for each node the sessions it wants.
const SCENARIOS: readonly {
  name: string;
  yaml: string;
  expected: Readonly<Record<string, readonly string[]>>;
}[] = [
  {
    // §5.2: unidirectional mesh; the lexically larger address *string* waits ("10.0.0.10" < "10.0.0.2").
    name: 'mesh of three nodes',
    yaml:
      node('n1', '{ipv4Address: 10.0.0.1/24}') +
      node('n2', '{ipv4Address: 10.0.0.2/24}') +
      node('n3', '{ipv4Address: 10.0.0.10/24}'),
    expected: {
      n1: [
        'Mesh_10_0_0_10 10.0.0.10:179 as 64512>64512 passive',
        'Mesh_10_0_0_2 10.0.0.2:179 as 64512>64512 passive',
      ],
      n2: ['Mesh_10_0_0_1 10.0.0.1:179 as 64512>64512', 'Mesh_10_0_0_10 10.0.0.10:179 as 64512>64512'],
      n3: ['Mesh_10_0_0_1 10.0.0.1:179 as 64512>64512', 'Mesh_10_0_0_2 10.0.0.2:179 as 64512>64512 passive'],
    },
  },
  {
    // §5.2: nodes with their own AS form eBGP "mesh" sessions; a node without one uses the global AS.
    name: 'mesh across ASes',
    yaml:
      config('default', '{asNumber: 65000}') +
      node('a', '{ipv4Address: 10.0.0.1, asNumber: 65001}') +
      node('b', '{ipv4Address: 10.0.0.2}'),
    expected: {
      a: ['Mesh_10_0_0_2 10.0.0.2:179 as 65001>65000 passive'],
      b: ['Mesh_10_0_0_1 10.0.0.1:179 as 65000>65001'],
    },
  },
  {
    // §5.3: mesh on, but a route reflector builds no mesh and is left out of everyone else's.
    name: 'route reflectors never mesh',
    yaml:
      node('rr', '{ipv4Address: 10.0.0.1, routeReflectorClusterID: 244.0.0.1}') +
      node('c1', '{ipv4Address: 10.0.0.2}') +
      node('c2', '{ipv4Address: 10.0.0.3}'),
    expected: {
      rr: [],
      c1: ['Mesh_10_0_0_3 10.0.0.3:179 as 64512>64512 passive'],
      c2: ['Mesh_10_0_0_2 10.0.0.2:179 as 64512>64512'],
    },
  },
  {
    // §5.3 recipe: every node peers with the reflectors; reverse peering gives the reflectors their
    // side; reflectors sharing a cluster ID are each other's non-clients.
    name: 'route-reflector recipe, shared cluster ID',
    yaml:
      MESH_OFF +
      node(
        'rr-1',
        '{ipv4Address: 10.0.0.11/24, routeReflectorClusterID: 244.0.0.1}',
        '{route-reflector: "true"}',
      ) +
      node(
        'rr-2',
        '{ipv4Address: 10.0.0.12/24, routeReflectorClusterID: 244.0.0.1}',
        '{route-reflector: "true"}',
      ) +
      node('c1', '{ipv4Address: 10.0.0.21/24}') +
      node('c2', '{ipv4Address: 10.0.0.22/24}') +
      peer('peer-with-rrs', `{nodeSelector: all(), peerSelector: "route-reflector == 'true'"}`),
    expected: {
      'rr-1': [
        'Node_10_0_0_12 10.0.0.12:179 as 64512>64512',
        'Node_10_0_0_21 10.0.0.21:179 as 64512>64512 rr-client 244.0.0.1',
        'Node_10_0_0_22 10.0.0.22:179 as 64512>64512 rr-client 244.0.0.1',
      ],
      c1: ['Node_10_0_0_11 10.0.0.11:179 as 64512>64512', 'Node_10_0_0_12 10.0.0.12:179 as 64512>64512'],
    },
  },
  {
    name: 'route reflectors with different cluster IDs are each other’s clients',
    yaml:
      MESH_OFF +
      node('rr-1', '{ipv4Address: 10.0.0.11, routeReflectorClusterID: 244.0.0.1}', '{rr: "true"}') +
      node('rr-2', '{ipv4Address: 10.0.0.12, routeReflectorClusterID: 244.0.0.2}', '{rr: "true"}') +
      peer('rr-mesh', '{nodeSelector: has(rr), peerSelector: has(rr)}'),
    expected: {
      'rr-1': ['Node_10_0_0_12 10.0.0.12:179 as 64512>64512 rr-client 244.0.0.1'],
      'rr-2': ['Node_10_0_0_11 10.0.0.11:179 as 64512>64512 rr-client 244.0.0.2'],
    },
  },
  {
    // §3.1: a global peer (no node, no nodeSelector) on every node; eBGP to a ToR that is no Calico node.
    name: 'global peer to a ToR',
    yaml:
      node('n1', '{ipv4Address: 10.0.0.2/24}') +
      node('n2', '{ipv4Address: 10.0.0.3/24}') +
      peer('tor', '{peerIP: 10.0.0.1, asNumber: 65001}'),
    expected: {
      n1: [
        'Global_10_0_0_1 10.0.0.1:179 as 64512>65001',
        'Mesh_10_0_0_3 10.0.0.3:179 as 64512>64512 passive',
      ],
      n2: ['Global_10_0_0_1 10.0.0.1:179 as 64512>65001', 'Mesh_10_0_0_2 10.0.0.2:179 as 64512>64512'],
    },
  },
  {
    // §3.3: a global peer that is a Calico node follows the mesh rule; its owner gets the reverse.
    name: 'global peer that is a Calico node',
    yaml:
      MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      node('n2', '{ipv4Address: 10.0.0.3}') +
      peer('to-n2', '{peerIP: 10.0.0.3, asNumber: 64512}'),
    expected: {
      n1: ['Global_10_0_0_3 10.0.0.3:179 as 64512>64512 passive'],
      n2: ['Node_10_0_0_2 10.0.0.2:179 as 64512>64512'],
    },
  },
  {
    name: 'node-scoped peer',
    yaml:
      MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      node('n2', '{ipv4Address: 10.0.0.3}') +
      peer('n1-upstream', '{node: n1, peerIP: 192.0.2.1, asNumber: 65010}'),
    expected: { n1: ['Node_192_0_2_1 192.0.2.1:179 as 64512>65010'], n2: [] },
  },
  {
    name: 'peerIP with a port, IPv4 and [IPv6]',
    yaml:
      MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2, ipv6Address: "2001:db8::2/64"}') +
      peer('v4', '{peerIP: "10.0.0.1:1790", asNumber: 65001}') +
      peer('v6', '{peerIP: "[2001:DB8::1]:1790", asNumber: 65001}'),
    expected: {
      n1: [
        'Global_10_0_0_1_port_1790 10.0.0.1:1790 as 64512>65001',
        'Global_2001_db8__1_port_1790 2001:db8::1:1790 as 64512>65001',
      ],
    },
  },
  {
    // §2: listenPort is also the remote port others use (node.<name> wins, else default); mesh names
    // never carry the port, explicit ones do — including a peerIP that is a Calico node.
    name: 'listenPort propagation',
    yaml:
      config('default', '{listenPort: 1790}') +
      config('node.n2', '{listenPort: 1791}') +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      node('n2', '{ipv4Address: 10.0.0.3}') +
      node('n3', '{ipv4Address: 10.0.0.4}') +
      peer('n3-to-n2', '{node: n3, peerIP: 10.0.0.3, asNumber: 64512}'),
    expected: {
      n1: [
        'Mesh_10_0_0_3 10.0.0.3:1791 as 64512>64512 passive',
        'Mesh_10_0_0_4 10.0.0.4:1790 as 64512>64512 passive',
      ],
      n3: [
        'Mesh_10_0_0_2 10.0.0.2:1790 as 64512>64512',
        'Mesh_10_0_0_3 10.0.0.3:1791 as 64512>64512',
        'Node_10_0_0_3_port_1791 10.0.0.3:1791 as 64512>64512',
      ],
      n2: [
        'Mesh_10_0_0_2 10.0.0.2:1790 as 64512>64512',
        'Mesh_10_0_0_4 10.0.0.4:1790 as 64512>64512 passive',
        'Node_10_0_0_4_port_1790 10.0.0.4:1790 as 64512>64512',
      ],
    },
  },
  {
    // §12.1: effective local AS = localASNumber ?? node AS ?? global AS; the reverse side expects it.
    name: 'localASNumber',
    yaml:
      MESH_OFF +
      node('edge', '{ipv4Address: 10.0.0.2}', '{edge: "true"}') +
      node('rr', '{ipv4Address: 10.0.0.3}', '{rr: "true"}') +
      peer('upstream', '{peerIP: 192.0.2.1, asNumber: 65001, localASNumber: 65100}') +
      peer('edge-to-rr', '{nodeSelector: has(edge), peerSelector: has(rr), localASNumber: 65100}'),
    expected: {
      edge: ['Global_192_0_2_1 192.0.2.1:179 as 65100>65001', 'Node_10_0_0_3 10.0.0.3:179 as 65100>64512'],
      rr: ['Global_192_0_2_1 192.0.2.1:179 as 65100>65001', 'Node_10_0_0_2 10.0.0.2:179 as 64512>65100'],
    },
  },
  {
    // §3.1: nextHopMode as written; legacy keepOriginalNextHop means Keep on eBGP sessions only.
    name: 'keepOriginalNextHop and nextHopMode',
    yaml:
      MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}', '{a: "1"}') +
      node('n2', '{ipv4Address: 10.0.0.3}', '{b: "1"}') +
      peer('keep-ebgp', '{node: n1, peerIP: 192.0.2.1, asNumber: 65001, keepOriginalNextHop: true}') +
      peer('keep-ibgp', '{node: n1, peerIP: 192.0.2.2, asNumber: 64512, keepOriginalNextHop: true}') +
      peer('self', '{node: n1, peerIP: 192.0.2.3, asNumber: 65001, nextHopMode: Self}') +
      peer(
        'keep-selector',
        '{nodeSelector: has(a), peerSelector: has(b), nextHopMode: Keep, reversePeering: Manual}',
      ),
    expected: {
      n1: [
        'Node_10_0_0_3 10.0.0.3:179 as 64512>64512 next-hop Keep',
        'Node_192_0_2_1 192.0.2.1:179 as 64512>65001 next-hop Keep',
        'Node_192_0_2_2 192.0.2.2:179 as 64512>64512',
        'Node_192_0_2_3 192.0.2.3:179 as 64512>65001 next-hop Self',
      ],
      n2: [],
    },
  },
  {
    // §3.2 step 3: with reversePeering Auto the selected remote nodes get the reverse sessions; an
    // explicit forward peering to the same address wins over the synthesised one.
    name: 'reverse peering, and explicit wins over reverse',
    yaml:
      MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      node('n2', '{ipv4Address: 10.0.0.3}') +
      node('rr', '{ipv4Address: 10.0.0.4}', '{rr: "true"}') +
      peer('a-to-rr', '{nodeSelector: "!has(rr)", peerSelector: has(rr), keepaliveTime: 20s}') +
      peer('b-rr-to-n2', '{node: rr, peerIP: 10.0.0.3, asNumber: 64512, keepaliveTime: 5s}'),
    expected: {
      n1: ['Node_10_0_0_4 10.0.0.4:179 as 64512>64512'],
      rr: ['Node_10_0_0_2 10.0.0.2:179 as 64512>64512', 'Node_10_0_0_3 10.0.0.3:179 as 64512>64512'],
    },
  },
  {
    name: 'reversePeering Manual generates no reverse sessions',
    yaml:
      MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      node('rr', '{ipv4Address: 10.0.0.4}', '{rr: "true"}') +
      peer('to-rr', '{nodeSelector: "!has(rr)", peerSelector: has(rr), reversePeering: Manual}'),
    expected: { n1: ['Node_10_0_0_4 10.0.0.4:179 as 64512>64512'], rr: [] },
  },
  {
    // §3.2 step 1: a node-scoped peering whose address and port a global one already has is skipped.
    name: 'global wins over node-scoped on the same address and port',
    yaml:
      MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      peer('z-global', '{peerIP: 192.0.2.1, asNumber: 65001}') +
      peer('a-node', '{node: n1, peerIP: 192.0.2.1, asNumber: 65002}') +
      peer('a-node-other-port', '{node: n1, peerIP: "192.0.2.1:1790", asNumber: 65002}'),
    expected: {
      n1: [
        'Global_192_0_2_1 192.0.2.1:179 as 64512>65001',
        'Node_192_0_2_1_port_1790 192.0.2.1:1790 as 64512>65002',
      ],
    },
  },
  {
    // §5.1, §13.4: a node without an IPv4 address has no IPv4 sessions at all.
    name: 'IPv6-only node',
    yaml:
      node('v6a', '{ipv6Address: "fd00::1/64"}') +
      node('v6b', '{ipv6Address: "fd00::2/64"}') +
      node('dual', '{ipv4Address: 10.0.0.1, ipv6Address: "fd00::3/64"}') +
      peer('tor', '{peerIP: 10.0.0.254, asNumber: 65001}') +
      peer('tor6', '{peerIP: "fd00::fe", asNumber: 65001}'),
    expected: {
      v6a: [
        'Global_fd00__fe fd00::fe:179 as 64512>65001',
        'Mesh_fd00__2 fd00::2:179 as 64512>64512 passive',
        'Mesh_fd00__3 fd00::3:179 as 64512>64512 passive',
      ],
      dual: [
        'Global_10_0_0_254 10.0.0.254:179 as 64512>65001',
        'Global_fd00__fe fd00::fe:179 as 64512>65001',
        'Mesh_fd00__1 fd00::1:179 as 64512>64512',
        'Mesh_fd00__2 fd00::2:179 as 64512>64512',
      ],
    },
  },
];

test('desired sessions per node, scenario by scenario', (t) => {
  for (const scenario of SCENARIOS) {
    const input = cluster(scenario.yaml);
    for (const [localNode, expected] of Object.entries(scenario.expected)) {
      t.deepEqual(sessions(input, localNode), [...expected], `${scenario.name}, seen from ${localNode}`);
    }
  }
});

test('explicit wins over reverse: the session carries the explicit BGPPeer’s fields', (t) => {
  const input = cluster(SCENARIOS.find((s) => s.name.startsWith('reverse peering'))!.yaml);
  const fromRr = desiredPeerings({ ...input, localNode: 'rr' });
  t.deepEqual(
    fromRr.map((p) => [p.name, p.bgpPeer, p.keepaliveTimeSec]),
    [
      ['Node_10_0_0_2', 'a-to-rr', 20],
      ['Node_10_0_0_3', 'b-rr-to-n2', 5],
    ],
  );
});

test('BGPPeer fields are carried onto every session they generate', (t) => {
  const input = cluster(
    MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      peer(
        'tor',
        '{peerIP: 192.0.2.1, asNumber: 65001, sourceAddress: None, maxRestartTime: 2m, keepaliveTime: 1.4s, ttlSecurity: 1, numAllowedLocalASNumbers: 2, filters: [b, a], reachableBy: 10.0.0.1, password: {secretKeyRef: {name: bgp, key: tor}}}',
      ),
  );
  t.deepEqual(desiredPeerings({ ...input, localNode: 'n1' }), [
    {
      name: 'Global_192_0_2_1',
      kind: 'global',
      family: 'ipv4',
      remoteAddress: '192.0.2.1',
      remotePort: 179,
      localAs: 64512,
      peerAs: 65001,
      internal: false,
      passive: false,
      routeReflectorClient: false,
      nextHopMode: 'Auto',
      keepaliveTimeSec: 1,
      gracefulRestartTimeSec: 120,
      ttlSecurityHops: 1,
      numAllowedLocalASNumbers: 2,
      password: { name: 'bgp', key: 'tor' },
      filters: ['b', 'a'],
      reachableBy: '10.0.0.1',
      bgpPeer: 'tor',
    },
  ]);
});

test('mesh sessions take the mesh password and restart time from the default configuration', (t) => {
  const input = cluster(
    config(
      'default',
      '{nodeMeshMaxRestartTime: 90s, nodeMeshPassword: {secretKeyRef: {name: bgp, key: mesh}}}',
    ) +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      node('n2', '{ipv4Address: 10.0.0.3}'),
  );
  const [mesh] = desiredPeerings({ ...input, localNode: 'n1' });
  t.is(mesh.gracefulRestartTimeSec, 90);
  t.deepEqual(mesh.password, { name: 'bgp', key: 'mesh' });
  t.is(mesh.localAddress, '10.0.0.2');
  t.is(mesh.bgpPeer, undefined);
});

// §13.7, from confd's own test data: the route reflector's and a client's sessions in full.
const WORKED_EXAMPLE = cluster(
  readFileSync(new URL('fixtures/route-reflector.yaml', import.meta.url), 'utf8'),
);

function rrSession(name: string, family: 'ipv4' | 'ipv6', remote: string, local: string): DesiredPeering {
  return {
    name,
    kind: 'node',
    family,
    remoteAddress: remote,
    remotePort: 179,
    localAddress: local,
    localAs: 64532,
    peerAs: 64532,
    internal: true,
    passive: false,
    routeReflectorClient: true,
    clusterId: '10.0.0.1',
    nextHopMode: 'Auto',
    gracefulRestartTimeSec: 120,
    filters: [],
    bgpPeer: 'bgppeer-other-nodes',
  };
}

test('§13.7 worked example, seen from the route reflector', (t) => {
  const external = (
    name: string,
    family: 'ipv4' | 'ipv6',
    remote: string,
    port: number,
    local: string,
    bgpPeer: string,
  ) => ({
    name,
    kind: 'node' as const,
    family,
    remoteAddress: remote,
    remotePort: port,
    localAddress: local,
    localAs: 64532,
    peerAs: 64533,
    internal: false,
    passive: false,
    routeReflectorClient: false,
    nextHopMode: 'Auto' as const,
    gracefulRestartTimeSec: 120,
    filters: [],
    bgpPeer,
  });
  t.deepEqual(desiredPeerings({ ...WORKED_EXAMPLE, localNode: 'kube-master' }), [
    rrSession('Node_10_192_0_3', 'ipv4', '10.192.0.3', '10.192.0.2'),
    rrSession('Node_10_192_0_4', 'ipv4', '10.192.0.4', '10.192.0.2'),
    external('Node_172_19_4_87', 'ipv4', '172.19.4.87', 179, '10.192.0.2', 'bgppeer-1'),
    external('Node_ac13__57_port_50', 'ipv6', 'ac13::57', 50, 'fe0a::2', 'bgppeer-v6'),
    rrSession('Node_fe0a__3', 'ipv6', 'fe0a::3', 'fe0a::2'),
    rrSession('Node_fe0a__4', 'ipv6', 'fe0a::4', 'fe0a::2'),
  ]);
  t.deepEqual(speakerSettings({ ...WORKED_EXAMPLE, localNode: 'kube-master' }), {
    nodeName: 'kube-master',
    asNumber: 64532,
    routerId: '10.192.0.2',
    ipv4Address: '10.192.0.2',
    ipv6Address: 'fe0a::2',
    listenPort: 179,
    bindMode: 'None',
    routeReflectorClusterId: '10.0.0.1',
    logSeverityScreen: 'Info',
  });
});

test('§13.7 worked example, seen from a client: the reverse sessions to the reflector', (t) => {
  const toReflector = (
    name: string,
    family: 'ipv4' | 'ipv6',
    remote: string,
    local: string,
  ): DesiredPeering => ({
    ...rrSession(name, family, remote, local),
    routeReflectorClient: false,
    clusterId: undefined,
  });
  const expected = [
    toReflector('Node_10_192_0_2', 'ipv4', '10.192.0.2', '10.192.0.3'),
    toReflector('Node_fe0a__2', 'ipv6', 'fe0a::2', 'fe0a::3'),
  ].map((p) => JSON.parse(JSON.stringify(p)) as DesiredPeering);
  t.deepEqual(desiredPeerings({ ...WORKED_EXAMPLE, localNode: 'kube-node-1' }), expected);
});

test('speaker settings: listen port, bind mode and router ID rules', (t) => {
  const input = cluster(
    config('default', '{bindMode: NodeIP, listenPort: 1790, logSeverityScreen: Warning}') +
      config('node.n2', '{listenPort: 1791, logSeverityScreen: debug}') +
      node('n1', '{ipv4Address: 10.0.0.2/24, ipv6Address: "fd00::2/64", asNumber: 65010}') +
      node('n2', '{ipv4Address: 10.0.0.3/24}') +
      node('v6', '{ipv6Address: "fd00::9/64"}'),
  );
  const n1 = speakerSettings({ ...input, localNode: 'n1' });
  t.like(n1, {
    asNumber: 65010,
    routerId: '10.0.0.2',
    listenPort: 1790,
    bindMode: 'NodeIP',
    logSeverityScreen: 'Warning',
  });
  t.deepEqual(n1?.listenAddresses, ['10.0.0.2', 'fd00::2']);
  t.like(speakerSettings({ ...input, localNode: 'n2' }), { listenPort: 1791, logSeverityScreen: 'debug' });
  t.is(speakerSettings({ ...input, localNode: 'n1', routerId: '192.0.2.9' })?.routerId, '192.0.2.9');
  t.is(speakerSettings({ ...input, localNode: 'n1', routerId: 'hash' })?.routerId, hashRouterId('n1'));
  t.is(speakerSettings({ ...input, localNode: 'n1', routerId: 'bogus' })?.routerId, undefined);
  // An IPv6-only node has no IPv4 to use: Brindle falls back to the hash.
  t.is(speakerSettings({ ...input, localNode: 'v6' })?.routerId, hashRouterId('v6'));
  t.is(speakerSettings({ ...input, localNode: 'missing' }), undefined);
  for (const name of ['kube-master', 'n1', 'a-very-long-node-name.example.com']) {
    const octets = hashRouterId(name).split('.').map(Number);
    t.is(octets.length, 4);
    t.true(octets[0] <= 223 && octets.every((o) => o >= 0 && o <= 255), name);
  }
  t.deepEqual(
    computeTopology({ ...input, localNode: 'n2' }).speaker,
    speakerSettings({ ...input, localNode: 'n2' }),
  );
});

test('diffPeerings names what was added, removed and changed', (t) => {
  const before = cluster(
    MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      peer('a', '{peerIP: 192.0.2.1, asNumber: 65001}') +
      peer('b', '{peerIP: 192.0.2.2, asNumber: 65001}'),
  );
  const after = cluster(
    MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2}') +
      peer('a', '{peerIP: 192.0.2.1, asNumber: 65002, keepaliveTime: 10s}') +
      peer('c', '{peerIP: 192.0.2.3, asNumber: 65001}') +
      peer('d', '{peerIP: "192.0.2.2", asNumber: 65001}'),
  );
  const diff = diffPeerings(
    desiredPeerings({ ...before, localNode: 'n1' }),
    desiredPeerings({ ...after, localNode: 'n1' }),
  );
  t.deepEqual(
    diff.added.map((p) => p.name),
    ['Global_192_0_2_3'],
  );
  t.deepEqual(diff.removed, []);
  t.deepEqual(
    diff.changed.map((c) => [c.name, c.fields]),
    [
      ['Global_192_0_2_1', ['peerAs', 'keepaliveTimeSec']],
      ['Global_192_0_2_2', ['bgpPeer']],
    ],
  );
  t.deepEqual(diff.unchanged, []);
  const none = diffPeerings(desiredPeerings({ ...after, localNode: 'n1' }), []);
  t.is(none.removed.length, 3);
});

test('toPeerConfig maps a peering onto the session layer, one family per session', (t) => {
  const input = cluster(
    MESH_OFF +
      node('n1', '{ipv4Address: 10.0.0.2, ipv6Address: "fd00::2"}') +
      peer('tor', '{peerIP: "192.0.2.1:1790", asNumber: 65001, keepaliveTime: 20s, maxRestartTime: 60s}') +
      peer('tor6', '{peerIP: "fd00::1", asNumber: 65001}'),
  );
  const [v4, v6] = desiredPeerings({ ...input, localNode: 'n1' });
  const config4 = toPeerConfig(v4, '10.0.0.2');
  t.like(config4, {
    name: 'Global_192_0_2_1_port_1790',
    remoteAddress: '192.0.2.1',
    remotePort: 1790,
    localAddress: '10.0.0.2',
    localAs: 64512,
    peerAs: 65001,
    routerId: 0x0a000002,
    holdTimeSec: DEFAULT_HOLD_TIME_SEC,
    keepaliveTimeSec: 20,
    passive: false,
    gracefulRestartTimeSec: 60,
  });
  t.deepEqual(config4.families, [IPV4_UNICAST]);
  t.deepEqual([...config4.addPath.keys()], [IPV4_UNICAST]);
  const config6 = toPeerConfig(v6, 0x0a000002);
  t.deepEqual(config6.families, [IPV6_UNICAST]);
  t.is(config6.keepaliveTimeSec, undefined);
  t.throws(() => toPeerConfig(v4, 'not-an-ip'), { instanceOf: RangeError });
});
