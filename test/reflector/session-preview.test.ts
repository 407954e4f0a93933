import test from 'ava';
import { parsePreviewRequest, previewSessions, resetFields } from '../../src/reflector/session-preview.ts';
import type { ResourceKind } from '../../src/resources/index.ts';
import { cluster, config, MESH_OFF, node, peer } from './cluster-yaml.ts';

const NODES = node('rr1', '{ipv4Address: 10.0.0.1/24}') + node('n2', '{ipv4Address: 10.0.0.2/24}');
const TOR = peer('tor', '{node: rr1, peerIP: 10.0.0.9, asNumber: 65009}');
const BEFORE = cluster(MESH_OFF + NODES + TOR);

function preview(yaml: string) {
  const change = cluster(yaml);
  const resources = [...change.nodes, ...change.peers, ...change.configs];
  return previewSessions({ snapshot: BEFORE, localNode: 'rr1', operation: 'apply', resources });
}

/** A delete names only kind and name. */
function deleting(kind: ResourceKind, name: string) {
  const resources = [{ kind, metadata: { name } }];
  return previewSessions({ snapshot: BEFORE, localNode: 'rr1', operation: 'delete', resources });
}

test('a new BGPPeer adds its session, the others are unchanged', (t) => {
  const p = preview(peer('spine', '{node: rr1, peerIP: 10.0.0.20, asNumber: 65020}'));
  t.deepEqual(p.added, [{ session: 'Node_10_0_0_20', bgpPeer: 'spine', remoteAddress: '10.0.0.20' }]);
  t.deepEqual([p.removed, p.reset, p.changedInPlace], [[], [], []]);
  t.is(p.unchanged, 1);
});

test('a changed asNumber resets the session and names the field', (t) => {
  const p = preview(peer('tor', '{node: rr1, peerIP: 10.0.0.9, asNumber: 65010}'));
  t.deepEqual(p.reset, [
    { session: 'Node_10_0_0_9', bgpPeer: 'tor', remoteAddress: '10.0.0.9', fields: ['peerAs'] },
  ]);
  t.deepEqual(p.added, []);
});

test('a changed peerIP removes the old session and adds the new one', (t) => {
  const p = preview(peer('tor', '{node: rr1, peerIP: 10.0.0.10, asNumber: 65009}'));
  t.deepEqual(
    p.removed.map((s) => s.session),
    ['Node_10_0_0_9'],
  );
  t.deepEqual(
    p.added.map((s) => s.session),
    ['Node_10_0_0_10'],
  );
  t.deepEqual(p.reset, []);
});

test('a filters-only change is made in place, without a reset', (t) => {
  const p = preview(peer('tor', '{node: rr1, peerIP: 10.0.0.9, asNumber: 65009, filters: [only-pods]}'));
  t.deepEqual(p.reset, []);
  t.deepEqual(p.changedInPlace, [
    { session: 'Node_10_0_0_9', bgpPeer: 'tor', remoteAddress: '10.0.0.9', fields: ['filters'] },
  ]);
});

test('deleting a BGPPeer removes its session; only kind and name count', (t) => {
  const p = deleting('BGPPeer', 'tor');
  t.deepEqual(p.removed, [{ session: 'Node_10_0_0_9', bgpPeer: 'tor', remoteAddress: '10.0.0.9' }]);
  t.is(p.unchanged, 0);
});

test('a new global AS restarts the speaker and every session', (t) => {
  const p = preview(config('default', '{nodeToNodeMeshEnabled: false, asNumber: 65100}'));
  t.deepEqual(p.speakerRestart, ['asNumber']);
  t.deepEqual(
    p.reset.map((s) => s.session),
    ['Node_10_0_0_9'],
  );
  t.true(p.reset[0].fields?.includes('localAs'));
});

test('deleting the own Node says the node would have no sessions', (t) => {
  const p = deleting('Node', 'rr1');
  t.deepEqual(
    p.removed.map((s) => s.session),
    ['Node_10_0_0_9'],
  );
  t.regex(p.note ?? '', /no Node resource for rr1/);
});

test('resetFields leaves out the informational and live fields', (t) => {
  t.deepEqual(resetFields(['bgpPeer', 'filters', 'peerAs']), ['peerAs']);
  t.deepEqual(resetFields(['filters']), []);
});

test('the request body is checked as a write would be', (t) => {
  t.deepEqual(parsePreviewRequest({ operation: 'write', resources: [] }), {
    errors: ['operation must be "apply" or "delete"'],
  });
  t.deepEqual(parsePreviewRequest({ operation: 'apply' }), { errors: ['resources must be an array'] });
  t.deepEqual(parsePreviewRequest({ operation: 'delete', resources: [{ kind: 'Pod', metadata: {} }] }), {
    errors: ['resources[0]: no kind and name'],
  });
  const bad = { apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: 'x' } };
  const invalid = parsePreviewRequest({
    operation: 'apply',
    resources: [{ ...bad, spec: { peerIP: 'no' } }],
  });
  t.true('errors' in invalid && invalid.errors.some((e) => e.includes('peerIP')));
  const valid = parsePreviewRequest({ operation: 'apply', resources: cluster(TOR).peers });
  t.deepEqual(valid, { operation: 'apply', resources: cluster(TOR).peers });
});
