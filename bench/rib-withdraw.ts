// `npm run bench -- rib`: a peer's million paths withdrawn from the real Router's Loc-RIB while another
// session with a 3 s hold time watches. The withdrawal (what a lost session triggers) is a walk that
// yields after a bounded number of destinations; this measures the longest event-loop turn during it
// with perf_hooks.monitorEventLoopDelay (target ≤ 50 ms), and counts the KEEPALIVEs the watcher
// receives meanwhile (the session must stay up). For contrast, the same withdrawal with the walk's
// bound lifted (one turn, as before the walks were bounded).
//
// One process, loopback only (127.91.0.1 ↔ 127.91.0.2, port 17990): the watcher only frames what it
// receives and counts message types, so its share of each turn is small next to the RIB's.
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MessageFramer } from '../src/bgp/codec/framer.ts';
import { encodeKeepalive } from '../src/bgp/codec/message.ts';
import { encodeOpen } from '../src/bgp/codec/open.ts';
import { peerConfig } from '../src/bgp/session/peer-config.ts';
import { CapabilityCode, MessageType, Origin } from '../src/bgp/constants.ts';
import { Router } from '../src/daemon/router.ts';
import { parseIpv4 } from '../src/lib/address.ts';
import { ipv4Prefix } from '../src/lib/prefix.ts';
import type { RibPeer } from '../src/rib/route.ts';
import type { BenchRow } from './table.ts';

const ROUTER_ADDRESS = '127.91.0.1';
const WATCHER_ADDRESS = '127.91.0.2';
const PORT = 17990;
const LOCAL_AS = 64512;
const PATHS = process.env.BENCH_SCALE === 'small' ? 100_000 : 1_000_000;
const HOLD_TIME_SEC = 3;
const TARGET_MAX_DELAY_MS = 50;
/** Paths announced per turn while loading (the load is not what is measured). */
const LOAD_SLICE = 20_000;
const PHASE_CAP_MS = 120_000;

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A BGP session that only keeps itself up and counts what it receives. */
class Watcher {
  keepalives = 0;
  updates = 0;
  established = false;
  closed = false;
  private readonly framer = new MessageFramer();
  private readonly socket: net.Socket;
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    this.socket = net.connect({ host: ROUTER_ADDRESS, port: PORT, localAddress: WATCHER_ADDRESS });
    this.socket.on('connect', () => this.socket.write(this.open()));
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }

  private open(): Buffer {
    return encodeOpen({
      version: 4,
      myAutonomousSystem: LOCAL_AS,
      holdTimeSec: HOLD_TIME_SEC,
      bgpIdentifier: parseIpv4(WATCHER_ADDRESS),
      capabilities: [
        { code: CapabilityCode.Multiprotocol, afi: 1, safi: 1 },
        { code: CapabilityCode.FourOctetAs, asn: LOCAL_AS },
      ],
      unsupportedParameters: [],
      extendedParameters: false,
    });
  }

  private receive(chunk: Buffer): void {
    this.framer.push(chunk);
    for (let frame = this.framer.next(); frame !== undefined; frame = this.framer.next()) {
      if (frame instanceof Buffer) this.handle(frame[18]);
      else this.socket.destroy();
    }
  }

  private handle(type: number): void {
    if (type === MessageType.Open) {
      this.socket.write(encodeKeepalive());
      this.timer = setInterval(() => this.socket.write(encodeKeepalive()), (HOLD_TIME_SEC * 1000) / 3);
    } else if (type === MessageType.Keepalive) {
      this.keepalives++;
      this.established = true;
    } else if (type === MessageType.Update) {
      this.updates++;
    } else if (type === MessageType.Notification) {
      this.closed = true;
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }
}

/** Waits (a turn at a time) until `done`, for at most PHASE_CAP_MS. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + PHASE_CAP_MS;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${PHASE_CAP_MS / 1000} s`);
    await turn();
  }
}

const INJECTOR: RibPeer = {
  id: 1_000_000,
  name: 'injector',
  addressKey: '4:7f5b0003',
  bgpIdentifier: 0x7f5b0003,
  external: false,
  peerAs: LOCAL_AS,
  routeReflectorClient: true,
  local: false,
};

/** Loads PATHS /24s from the injector, a slice per turn, and waits until the watcher has them all. */
async function load(router: Router): Promise<void> {
  const rib = router.locRib;
  const sets = Array.from({ length: 10 }, (_, i) =>
    rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop: `100.65.0.${i + 1}`, localPref: 100 }),
  );
  for (let i = 0; i < PATHS; i++) {
    rib.announce(INJECTOR, ipv4Prefix((0x0b000000 + i * 256) >>> 0, 24), sets[i % 10], true);
    if (i % LOAD_SLICE === LOAD_SLICE - 1) await turn();
  }
  for (const set of sets) rib.attrSets.release(set);
  await rib.settled();
  await until(() => router.adjRibOut.idle, 'initial load');
}

/**
 * The longest turn by CPU time: a timer chain samples the process's CPU time every SAMPLE_MS, so
 * the most CPU spent between two samples bounds the longest turn, whatever other processes on the
 * machine take from its wall clock (the event-loop delay includes being preempted).
 */
export class TurnSampler {
  maxCpuMs = 0;
  private last = process.cpuUsage();
  private timer: NodeJS.Timeout | undefined;

  start(): void {
    this.last = process.cpuUsage();
    this.timer = setTimeout(() => this.sample(), SAMPLE_MS);
  }

  private sample(): void {
    const now = process.cpuUsage();
    const cpuMs = (now.user - this.last.user + now.system - this.last.system) / 1000;
    this.maxCpuMs = Math.max(this.maxCpuMs, cpuMs);
    this.last = now;
    this.timer = setTimeout(() => this.sample(), SAMPLE_MS);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

const SAMPLE_MS = 2;

interface Withdrawal {
  readonly seconds: number;
  readonly maxDelayMs: number;
  readonly p99DelayMs: number;
  readonly maxTurnCpuMs: number;
  readonly keepalives: number;
  readonly up: boolean;
}

async function withdraw(router: Router, watcher: Watcher, bounded: boolean): Promise<Withdrawal> {
  const rib = router.locRib;
  const visitsPerTurn = rib.maxVisitsPerTurn;
  if (!bounded) rib.maxVisitsPerTurn = Number.MAX_SAFE_INTEGER;
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  const keepalivesBefore = watcher.keepalives;
  const sampler = new TurnSampler();
  histogram.enable();
  sampler.start();
  const start = performance.now();
  rib.withdrawPeer(INJECTOR);
  await rib.settled();
  await until(() => router.adjRibOut.idle, 'withdrawal');
  const seconds = (performance.now() - start) / 1000;
  histogram.disable();
  sampler.stop();
  rib.maxVisitsPerTurn = visitsPerTurn;
  return {
    seconds,
    maxDelayMs: histogram.max / 1e6,
    p99DelayMs: histogram.percentile(99) / 1e6,
    maxTurnCpuMs: sampler.maxCpuMs,
    keepalives: watcher.keepalives - keepalivesBefore,
    up: watcher.established && !watcher.closed,
  };
}

function rows(label: string, w: Withdrawal, bounded: boolean): BenchRow[] {
  const kase = `${PATHS.toLocaleString('en-US')} paths, ${label}`;
  const row = (metric: string, value: number, unit: string, extra: Partial<BenchRow> = {}): BenchRow => ({
    suite: 'rib',
    case: kase,
    metric,
    value,
    unit,
    ...extra,
  });
  const target = bounded
    ? { target: `≤ ${TARGET_MAX_DELAY_MS}`, met: w.maxDelayMs <= TARGET_MAX_DELAY_MS }
    : { note: 'for contrast: the walk in one turn' };
  return [
    row('withdraw peer', w.seconds, 's'),
    row('max event-loop delay', w.maxDelayMs, 'ms', target),
    row('p99 event-loop delay', w.p99DelayMs, 'ms'),
    row('longest turn, CPU time', w.maxTurnCpuMs, 'ms'),
    row(`KEEPALIVEs received (hold ${HOLD_TIME_SEC} s)`, w.keepalives, 'messages'),
    row('watcher session up after', w.up ? 1 : 0, '1 = yes', { target: '1', met: w.up }),
  ];
}

export async function runRibWithdrawBench(): Promise<BenchRow[]> {
  const router = new Router({ routerId: parseIpv4(ROUTER_ADDRESS), localAs: LOCAL_AS });
  let watcher: Watcher | undefined;
  try {
    await router.listen(ROUTER_ADDRESS, PORT);
    router.addPeer({
      ...peerConfig({
        name: 'watcher',
        remoteAddress: WATCHER_ADDRESS,
        localAs: LOCAL_AS,
        peerAs: LOCAL_AS,
        routerId: parseIpv4(ROUTER_ADDRESS),
        passive: true,
        holdTimeSec: HOLD_TIME_SEC,
      }),
      routeReflectorClient: true,
    });
    const w = new Watcher();
    watcher = w;
    await until(() => w.established, 'watcher session');
    const result: BenchRow[] = [];
    for (const bounded of [true, false]) {
      await load(router);
      result.push(
        ...rows(bounded ? 'bounded walk' : 'unbounded walk', await withdraw(router, w, bounded), bounded),
      );
    }
    return result;
  } finally {
    watcher?.close();
    await router.close();
  }
}
