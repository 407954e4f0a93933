// Brindle as the reflector under test, run as its own process by brindle-router.ts: the daemon's Router with
// one passive route-reflector client per generated client, on the benchmark's loopback address. The
// setup arrives as JSON in argv[2]; requests and answers travel over the IPC channel.
import { Router } from '../../src/daemon/router.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { silentLogger } from '../../src/lib/log.ts';
import type { TargetMessage, TargetRequest } from './brindle-router.ts';
import type { ReflectorSetup } from './reflector.ts';

const setup = JSON.parse(process.argv[2]) as ReflectorSetup;
const send = (m: TargetMessage) => process.send?.(m);
const gc = (globalThis as { gc?: () => void }).gc;

const routerId = parseIpv4(setup.routerId) >>> 0;
const router = new Router({
  routerId,
  localAs: setup.localAs,
  clusterId: parseIpv4(setup.clusterId) >>> 0,
  log: silentLogger,
});
await router.listen(setup.address, setup.port);
for (const [i, remoteAddress] of setup.clients.entries()) {
  router.addPeer({
    ...peerConfig({
      name: `client-${i}`,
      remoteAddress,
      localAs: setup.localAs,
      peerAs: setup.localAs,
      routerId,
      passive: true,
    }),
    routeReflectorClient: true,
  });
}
send({ kind: 'ready' });

process.on('message', (m: TargetRequest) => {
  switch (m.kind) {
    case 'paths':
      send({ kind: 'paths', count: router.locRibSize() });
      break;
    case 'settle':
      // Steady-state memory is what the stored paths hold, not garbage a collection would free.
      gc?.();
      send({ kind: 'settled' });
      break;
    case 'exit':
      void router.close().finally(() => process.exit(0));
      break;
  }
});
// The parent died without asking: do not outlive it.
process.on('disconnect', () => process.exit(0));
