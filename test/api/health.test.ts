// Readiness and liveness with calico-node's meaning: no peers → ready; within the threshold after start
// every peer must be Established; afterwards one is enough; the message names the peers that are not.
// Time is a manual clock, so the threshold passes without sleeping.
import test from 'ava';
import { ManualClock } from '../../src/lib/clock.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { Router } from '../../src/daemon/router.ts';
import { readiness } from '../../src/api/health.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { BrindleMetrics } from '../../src/metrics/registry.ts';
import { of } from 'rxjs';
import type { StoreHealth } from '../../src/datastore/store.ts';
import { routerSource } from '../../src/metrics/source.ts';
import { call, reflectorFixture, startApi, tcp } from './support.ts';

const AS = 64512;

test('no peers: ready; before the router exists: not ready', async (t) => {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: AS });
  t.teardown(() => router.close());
  t.like(readiness(router, 0, 30_000), { ready: true, message: 'no BGP peers configured' });
  t.like(readiness(undefined, 0, 30_000), { ready: false });
  const { api } = await startApi(t, router);
  const res = await call(tcp(api), 'GET', '/health/ready');
  t.is(res.status, 200);
  t.true(res.json<{ ready: boolean }>().ready);
});

test('within the threshold a peer down makes it not ready; after it, one Established peer is enough', async (t) => {
  const fixture = await reflectorFixture(t);
  // A third peer that never comes up (nothing listens there; passive, so it does not even try).
  fixture.router.addPeer(
    peerConfig({
      name: 'Global_192_0_2_1',
      remoteAddress: '192.0.2.1',
      localAs: AS,
      peerAs: 65001,
      routerId: 1,
      passive: true,
    }),
  );
  const clock = new ManualClock();
  const { api } = await startApi(t, fixture.router, { clock, readinessThresholdMs: 30_000 });

  const early = await call(tcp(api), 'GET', '/health/ready');
  t.is(early.status, 503);
  t.deepEqual(early.json(), {
    ready: false,
    message: 'BGP not established with 192.0.2.1',
    notEstablished: ['Global_192_0_2_1'],
  });

  clock.advance(30_000);
  const later = await call(tcp(api), 'GET', '/health/ready');
  t.is(later.status, 200);
  t.like(later.json(), { ready: true, message: 'BGP established with 2 of 3 peers' });

  // Every session down after the threshold: not ready, every address named.
  for (const s of fixture.speakers) await s.close();
  await Promise.all(
    fixture.router.allPeers().map(async (p) => {
      for (let i = 0; i < 100 && p.state === 'Established'; i++) await new Promise((r) => setTimeout(r, 20));
    }),
  );
  const down = await call(tcp(api), 'GET', '/health/ready');
  t.is(down.status, 503);
  const message = down.json<{ message: string }>().message;
  t.regex(message, /^BGP not established with /);
  t.is(message.split(' with ')[1].split(',').length, 3);
});

test('live answers while the event loop runs, whatever the datastore says', async (t) => {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: AS });
  t.teardown(() => router.close());
  const source = routerSource(router, of<StoreHealth>('down'));
  const metrics = new BrindleMetrics(source, { processMetrics: false });
  const { api } = await startApi(t, source, { metrics });
  const res = await call(tcp(api), 'GET', '/health/live');
  t.is(res.status, 200);
  t.like(res.json(), { live: true, datastore: 'down' });
});
