// Floods and stalls (`npm run bench flood`): the real daemon (bin/brindle, resources applied with
// brindlectl) reflects for two clients, A that reads and B that stops reading after its session is up
// (it still sends KEEPALIVEs); an eBGP peer C announces and withdraws the same 5,000 /24s as fast as
// TCP lets it for 60 s, while 10 well-behaved iBGP peers announce and withdraw a hundred routes each
// every half second, and one of them announces a fresh marker route every second. Reported: peak RSS
// above idle (target ≤ 512 MB), the time from a marker's announcement to its arrival at A (target
// ≤ 1 s, the worst marker), how many markers arrived, and what happened to B (RFC 9687: the daemon
// closes a session whose socket takes nothing for its SendHoldTime, twice the HoldTime; B offers a
// 10 s HoldTime, so 20 s). BENCH_SCALE=small floods for 20 s. Bounded by counts and deadlines.

import { loadavg } from 'node:os';
import { decodeMessage } from '../src/bgp/codec/message.ts';
import { MessageType } from '../src/bgp/constants.ts';
import {
  announcements,
  AS,
  CTX,
  GeneratedPeer,
  MemorySampler,
  resources,
  SMALL,
  sleep,
  startBrindle,
  withdrawals,
} from './soak.ts';
import type { Started } from './soak.ts';
import type { BenchRow } from './table.ts';

const FLOOD_MS = SMALL ? 20_000 : 60_000;
const FLOOD_ROUTES = 5000;
const WELL_BEHAVED = 10;
const WELL_BEHAVED_ROUTES = 100;
const WELL_BEHAVED_PERIOD_MS = 500;
const MARKER_PERIOD_MS = 1000;
const FLOODER_AS = 65001;
const STALLED_HOLD_TIME_SEC = 10;
/** Route numbers (see soak.ts prefixOf): the flood, each well-behaved peer's, the markers. */
const WELL_BEHAVED_BASE = 100_000;
const MARKER_BASE = 1_000_000;

const READER = '127.89.0.1';
const STALLED = '127.89.0.2';
const FLOODER = '127.91.0.1';
const wellBehavedAddress = (i: number) => `127.91.1.${i + 1}`;

function peer(daemon: Started, localAddress: string, as: number, id: number, holdTimeSec = 90) {
  return new GeneratedPeer({
    host: '127.0.0.1',
    port: daemon.bgpPort,
    localAddress,
    as,
    bgpIdentifier: id,
    holdTimeSec,
  });
}

/** Route number of an IPv4 /24 from 20.0.0.0 on. */
function routeNumber(w0: number): number {
  return ((w0 >>> 0) - (20 << 24)) / 256;
}

async function flood(c: GeneratedPeer, until: number): Promise<number> {
  const announce = announcements(0, FLOOD_ROUTES, FLOODER, false, [FLOODER_AS]);
  const withdraw = withdrawals(0, FLOOD_ROUTES);
  let rounds = 0;
  for (; Date.now() < until && !c.closed && rounds < 10_000_000; rounds++) {
    await c.write(announce);
    await c.write(withdraw);
  }
  return rounds;
}

async function wellBehaved(
  peers: GeneratedPeer[],
  until: number,
  marked: Map<number, number>,
): Promise<void> {
  let turn = 0;
  let nextMarker = Date.now();
  for (; Date.now() < until && turn < 100_000; turn++) {
    peers.forEach((p, i) => {
      const first = WELL_BEHAVED_BASE + i * WELL_BEHAVED_ROUTES;
      void p.write(
        turn % 2 === 0
          ? announcements(first, WELL_BEHAVED_ROUTES, p.options.localAddress, false)
          : withdrawals(first, WELL_BEHAVED_ROUTES),
      );
    });
    if (Date.now() >= nextMarker) {
      const k = MARKER_BASE + marked.size;
      marked.set(k, Date.now());
      void peers[marked.size % peers.length].write(announcements(k, 1, peers[0].options.localAddress, false));
      nextMarker += MARKER_PERIOD_MS;
    }
    await sleep(WELL_BEHAVED_PERIOD_MS);
  }
}

export async function runFloodBench(): Promise<BenchRow[]> {
  const peers = [
    { address: FLOODER, as: FLOODER_AS },
    ...Array.from({ length: WELL_BEHAVED }, (_, i) => ({ address: wellBehavedAddress(i), as: AS })),
  ];
  const daemon = await startBrindle('flood', resources([READER, STALLED], peers));
  const sampler = new MemorySampler(daemon);
  const arrived = new Map<number, number>();
  const sessions: GeneratedPeer[] = [];
  try {
    const a = new GeneratedPeer({
      host: '127.0.0.1',
      port: daemon.bgpPort,
      localAddress: READER,
      as: AS,
      bgpIdentifier: 0x0c000001,
      holdTimeSec: 90,
      onUpdate: (frame) => {
        const decoded = decodeMessage(frame, CTX, true);
        if (!decoded.ok || decoded.message.type !== MessageType.Update) return;
        for (const p of decoded.message.nlri) {
          const k = routeNumber(p.w0);
          if (k >= MARKER_BASE && !arrived.has(k)) arrived.set(k, Date.now());
        }
      },
    });
    const b = peer(daemon, STALLED, AS, 0x0c000002, STALLED_HOLD_TIME_SEC);
    const c = peer(daemon, FLOODER, FLOODER_AS, 0x0d000001);
    const good = Array.from({ length: WELL_BEHAVED }, (_, i) =>
      peer(daemon, wellBehavedAddress(i), AS, 0x0e000000 + i),
    );
    sessions.push(a, b, c, ...good);
    await Promise.all(sessions.map((s) => s.up));
    for (const s of sessions) s.keepAlive();
    // B stops reading, but keeps sending KEEPALIVEs: only the daemon's SendHoldTimer can tell.
    b.socket.pause();
    let bClosedAt = 0;
    b.socket.on('close', () => (bClosedAt = Date.now()));
    await sleep(3000);
    const idle = await sampler.sample();
    const load = loadavg()[0];
    sampler.start();
    const started = Date.now();
    const until = started + FLOOD_MS;
    const marked = new Map<number, number>();
    const [rounds] = await Promise.all([flood(c, until), wellBehaved(good, until, marked)]);
    await sleep(2000);
    sampler.stop();
    const loadAfter = loadavg()[0];
    const latencies = [...marked].map(([k, at]) => (arrived.has(k) ? arrived.get(k)! - at : Infinity));
    const worst = Math.max(...latencies);
    const sorted = latencies.filter(Number.isFinite).sort((x, y) => x - y);
    const median = sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)] : NaN;
    const base = {
      suite: 'flood',
      case: `${FLOOD_MS / 1000} s flood, 1 stalled client, ${WELL_BEHAVED} well-behaved peers`,
    };
    const stalled = bClosedAt
      ? `dropped ${((bClosedAt - started) / 1000).toFixed(0)} s into the flood (SendHoldTime ${2 * STALLED_HOLD_TIME_SEC} s)`
      : 'still connected at the end, its updates held and coalesced';
    return [
      {
        ...base,
        metric: 'idle RSS',
        value: idle.rssMb,
        unit: 'MB',
        note: `load ${load.toFixed(1)} → ${loadAfter.toFixed(1)}; flooder sent ${rounds} announce+withdraw rounds of ${FLOOD_ROUTES}`,
      },
      {
        ...base,
        metric: 'peak RSS above idle',
        value: sampler.peakRssMb - idle.rssMb,
        unit: 'MB',
        target: '≤ 512',
        met: sampler.peakRssMb - idle.rssMb <= 512,
      },
      { ...base, metric: 'peak heap used', value: sampler.peakHeapMb, unit: 'MB' },
      { ...base, metric: 'marker to reading client, median', value: median, unit: 'ms' },
      {
        ...base,
        metric: 'marker to reading client, worst',
        value: worst,
        unit: 'ms',
        target: '≤ 1,000',
        met: worst <= 1000,
        note: `${sorted.length} of ${marked.size} markers arrived`,
      },
      {
        ...base,
        metric: 'stalled client',
        value: bClosedAt ? (bClosedAt - started) / 1000 : NaN,
        unit: 's',
        note: stalled,
      },
    ];
  } finally {
    sampler.stop();
    for (const s of sessions) s.close('reset');
    await daemon.stop();
  }
}
