import test from 'ava';
import { clusterGraph } from '../../src/reflector/cluster-graph.ts';
import type { ClusterGraph } from '../../src/reflector/cluster-graph.ts';
import { cluster as resources, MESH_OFF, node, peer } from './cluster-yaml.ts';

/** "a–b family kind [reflector]" per edge, sorted. */
function edges(graph: ClusterGraph): string[] {
  return graph.edges
    .map((e) =>
      [
        `${e.from}–${e.to}`,
        e.family,
        e.kind,
        e.external ? 'external' : '',
        e.reflector ? `rr ${e.reflector}` : '',
      ]
        .filter(Boolean)
        .join(' '),
    )
    .sort();
}

const THREE_NODES =
  node('n1', '{ipv4Address: 10.0.0.1/24, ipv6Address: "fd00::1/64"}') +
  node('n2', '{ipv4Address: 10.0.0.2/24}') +
  node('n3', '{ipv4Address: 10.0.0.3/24}');

test('a full mesh is one edge per pair and family, whichever side opened it', (t) => {
  const graph = clusterGraph(resources(THREE_NODES), 'n2');
  t.deepEqual(edges(graph), ['n1–n2 ipv4 mesh', 'n1–n3 ipv4 mesh', 'n2–n3 ipv4 mesh']);
  t.true(graph.meshEnabled);
  t.is(graph.localNode, 'n2');
  t.deepEqual(
    graph.nodes.map((n) => [n.name, n.ipv4, n.ipv6 ?? '-']),
    [
      ['n1', '10.0.0.1', 'fd00::1'],
      ['n2', '10.0.0.2', '-'],
      ['n3', '10.0.0.3', '-'],
    ],
  );
  t.deepEqual(graph.external, []);
  t.is(graph.truncated, 0);
});

test('route reflectors: clients peer with the reflector, which reflects to them; a ToR is external', (t) => {
  const yaml =
    MESH_OFF +
    THREE_NODES +
    node('rr1', '{ipv4Address: 10.0.0.20/24, routeReflectorClusterID: 224.0.0.1}', '{rr: "yes"}') +
    peer('to-rr', '{nodeSelector: "!has(rr)", peerSelector: "has(rr)"}') +
    peer('tor', '{peerIP: 10.0.0.254, asNumber: 64513}');
  const graph = clusterGraph(resources(yaml), 'rr1');
  t.false(graph.meshEnabled);
  t.deepEqual(edges(graph), [
    'n1–10.0.0.254 ipv4 global external',
    'n1–rr1 ipv4 node rr rr1',
    'n2–10.0.0.254 ipv4 global external',
    'n2–rr1 ipv4 node rr rr1',
    'n3–10.0.0.254 ipv4 global external',
    'n3–rr1 ipv4 node rr rr1',
    'rr1–10.0.0.254 ipv4 global external',
  ]);
  t.deepEqual(graph.external, [{ address: '10.0.0.254', asNumber: 64513, bgpPeers: ['tor'] }]);
  t.is(graph.nodes.find((n) => n.name === 'rr1')?.clusterId, '224.0.0.1');
});

test('bounded: beyond the limit only the first nodes and the local node are expanded', (t) => {
  const yaml = Array.from({ length: 12 }, (_, i) =>
    node(`n${String(i).padStart(2, '0')}`, `{ipv4Address: 10.0.1.${i + 1}/24}`),
  ).join('');
  const graph = clusterGraph(resources(yaml), 'n11', 4);
  t.is(graph.nodes.length, 12);
  t.is(graph.truncated, 7);
  // Each expanded node's mesh sessions reach every other node: 5 expanded, 11 edges each, shared
  // edges among the five counted once.
  t.is(graph.edges.length, 5 * 11 - (5 * 4) / 2);
});
