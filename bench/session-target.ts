// The Brindle side of the session scale benchmark, run as its own process (so its RSS is its own):
// N passive peers at 127.88.x.y behind one listener. Talks to the benchmark over IPC.
import { BgpListener } from '../src/bgp/session/listener.ts';
import { Peer } from '../src/bgp/session/peer.ts';
import { peerConfig } from '../src/bgp/session/peer-config.ts';
import { systemClock } from '../src/lib/clock.ts';
import { silentLogger } from '../src/lib/log.ts';
import { generatorAddress, TARGET_ADDRESS, TARGET_PORT } from './session-addresses.ts';

const count = Number(process.argv[2]);
const send = (m: object) => process.send?.(m);
const gc = (globalThis as { gc?: () => void }).gc;

function rss(): number {
  gc?.();
  return process.memoryUsage().rss;
}

const baseline = rss();
const peers = new Map<string, Peer>();
let established = 0;
for (let i = 0; i < count; i++) {
  const remoteAddress = generatorAddress(i);
  const peer = new Peer(
    peerConfig({
      name: `bench-${i}`,
      remoteAddress,
      localAs: 64512,
      peerAs: 64512,
      routerId: 0x0a0000fe,
      passive: true,
    }),
    systemClock,
    silentLogger,
  );
  peer.events$.subscribe((e) => {
    if (e.kind !== 'established') return;
    established++;
    if (established === count) send({ kind: 'all-established', at: Date.now() });
  });
  peers.set(remoteAddress, peer);
  peer.start();
}
const listener = new BgpListener(TARGET_ADDRESS, TARGET_PORT, (a) => peers.get(a), silentLogger);
await listener.listen();
const configured = rss();
send({ kind: 'ready', baseline, configured });

process.on('message', (m: { kind: string }) => {
  if (m.kind === 'measure') {
    setTimeout(() => send({ kind: 'rss', rss: rss(), established }), 500);
  }
  if (m.kind === 'exit') {
    for (const p of peers.values()) p.close();
    void listener.close().then(() => process.exit(0));
  }
});
