// BGPPeer.restartMode, Brindle's extension spelled as Calico Enterprise spells it: GracefulRestart or
// LongLivedGracefulRestart, with maxRestartTime as the long-lived stale time in the second mode
// (default 3600 s, the graceful restart time staying 120 s), down to the capabilities announced.
import test from 'ava';
import { localCapabilities } from '../../src/bgp/session/peer-config.ts';
import { desiredPeerings, toPeerConfig } from '../../src/reflector/topology.ts';
import { parseResources } from '../../src/resources/index.ts';
import { cluster, MESH_OFF, node, peer } from '../reflector/cluster-yaml.ts';

const bgpPeer = (spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n  peerIP: 10.0.0.1\n  asNumber: 64512\n${spec}`;

test('restartMode: GracefulRestart and LongLivedGracefulRestart, nothing else', (t) => {
  for (const mode of ['GracefulRestart', 'LongLivedGracefulRestart'])
    t.deepEqual(parseResources(bgpPeer(`  restartMode: ${mode}\n`)).errors, [], mode);
  t.deepEqual(
    parseResources(bgpPeer('  restartMode: LLGR\n')).errors.map((e) => e.path),
    ['spec.restartMode'],
  );
});

test('maxRestartTime must fit the capability it is announced in', (t) => {
  const errors = (spec: string) => parseResources(bgpPeer(spec)).errors.map((e) => `${e.path}: ${e.reason}`);
  t.deepEqual(errors('  maxRestartTime: 4095s\n'), []);
  t.deepEqual(errors('  maxRestartTime: 2h\n'), [
    'spec.maxRestartTime: a graceful restart time is at most 4095 s',
  ]);
  t.deepEqual(errors('  restartMode: LongLivedGracefulRestart\n  maxRestartTime: 24h\n'), []);
  t.deepEqual(errors('  restartMode: LongLivedGracefulRestart\n  maxRestartTime: 5000h\n'), [
    'spec.maxRestartTime: a long-lived stale time is at most 16777215 s',
  ]);
});

function sessionFor(spec: string) {
  const input = cluster(MESH_OFF + node('n1', '{ipv4Address: 10.0.0.2}') + peer('rr', spec));
  const [peering] = desiredPeerings({ ...input, localNode: 'n1' });
  return { peering, config: toPeerConfig(peering, '10.0.0.2') };
}

test('LongLivedGracefulRestart: maxRestartTime is the stale time; LLGR announced with GR and the N bit', (t) => {
  const { peering, config } = sessionFor(
    '{peerIP: 192.0.2.1, asNumber: 64512, restartMode: LongLivedGracefulRestart, maxRestartTime: 2h}',
  );
  t.like(peering, { gracefulRestartTimeSec: 120, longLivedStaleTimeSec: 7200 });
  const caps = localCapabilities(config);
  t.like(
    caps.find((c) => c.code === 64),
    { restartTimeSec: 120, notification: true },
  );
  t.deepEqual(
    caps.find((c) => c.code === 71),
    { code: 71, families: [{ afi: 1, safi: 1, forwardingState: false, staleTimeSec: 7200 }] },
  );
});

test('LongLivedGracefulRestart without maxRestartTime: BIRD’s 3600 s; GracefulRestart: no LLGR capability', (t) => {
  const llgr = sessionFor('{peerIP: 192.0.2.1, asNumber: 64512, restartMode: LongLivedGracefulRestart}');
  t.is(llgr.peering.longLivedStaleTimeSec, 3600);
  const gr = sessionFor(
    '{peerIP: 192.0.2.1, asNumber: 64512, restartMode: GracefulRestart, maxRestartTime: 90s}',
  );
  t.like(gr.peering, { gracefulRestartTimeSec: 90, longLivedStaleTimeSec: undefined });
  t.is(
    localCapabilities(gr.config).find((c) => c.code === 71),
    undefined,
  );
});

test('the N bit can be turned off; LLGR is never announced without Graceful Restart (RFC 9494 §4.1)', (t) => {
  const { config } = sessionFor(
    '{peerIP: 192.0.2.1, asNumber: 64512, restartMode: LongLivedGracefulRestart}',
  );
  t.like(
    localCapabilities({ ...config, gracefulRestartNotification: false }).find((c) => c.code === 64),
    { notification: false },
  );
  t.is(
    localCapabilities({ ...config, gracefulRestartTimeSec: undefined }).find((c) => c.code === 71),
    undefined,
  );
});
