// Loaded into the Brindle daemon under test with `node --import` (plain JavaScript: the daemon runs the
// compiled dist/ with plain node, and loading tsx into it would change what is measured). It watches
// where a phase's time goes without changing the daemon's code: bytes read from and written to the
// BGP sockets (by Socket.push and Socket.write), the Loc-RIB's decision turns (LocRib.runQueue) and
// the Adj-RIB-Out's drain turns (AdjRibOut.drain, also when a decision turn runs one), each counted
// and timed in its own time, in 10 ms bins from the
// moment the benchmark resets it. It answers on a Unix socket (BRINDLE_BENCH_PROBE):
// `GET /reset` starts a phase, `GET /snapshot` returns the phase so far as JSON. Its own cost is one
// function call and a few additions per socket chunk and per turn.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import process from 'node:process';

const SOCKET = process.env.BRINDLE_BENCH_PROBE;
const DIST = process.env.BRINDLE_BENCH_DIST;
const BGP_PORT = Number(process.env.BRINDLE_BENCH_BGP_PORT);
const BIN_MS = 10;
/** 600 s of 10 ms bins: the longest phase cap of the benchmark. */
const MAX_BINS = 60_000;
const UPDATE = 2;

function freshPhase() {
  return {
    startedAt: performance.now(),
    /** CLOCK_MONOTONIC in µs, the clock of --cpu-prof's sample timestamps: to cut the profile to the phase. */
    startedMonotonicUs: Number(process.hrtime.bigint() / 1000n),
    elu: performance.eventLoopUtilization(),
    reads: { chunks: 0, bytes: 0, first: NaN, last: NaN },
    writes: { calls: 0, bytes: 0, refused: 0, first: NaN, last: NaN, firstUpdate: NaN, perSocket: new Map() },
    /** Event-loop utilisation from the reset to the last write: the phase as the receivers see it. */
    eluAtLastWrite: undefined,
    decisions: { turns: 0, ms: 0, first: NaN, last: NaN },
    drains: { turns: 0, ms: 0, first: NaN, last: NaN },
    bins: { read: [], written: [], decideMs: [], drainMs: [] },
  };
}

let phase = freshPhase();

function bin(series, at, amount) {
  const i = Math.floor(at / BIN_MS);
  if (i >= MAX_BINS) return;
  while (series.length <= i) series.push(0);
  series[i] += amount;
}

/** A BGP session's socket: the daemon's listener port or a connection to a peer's. */
function isBgp(socket) {
  return socket.localPort === BGP_PORT || socket.remotePort === BGP_PORT;
}

const originalPush = net.Socket.prototype.push;
net.Socket.prototype.push = function push(chunk, encoding) {
  if (chunk !== null && chunk !== undefined && isBgp(this)) {
    const at = performance.now() - phase.startedAt;
    const r = phase.reads;
    r.chunks++;
    r.bytes += chunk.length;
    if (Number.isNaN(r.first)) r.first = at;
    r.last = at;
    bin(phase.bins.read, at, chunk.length);
  }
  return originalPush.call(this, chunk, encoding);
};

const originalWrite = net.Socket.prototype.write;
net.Socket.prototype.write = function write(chunk, ...rest) {
  const accepted = originalWrite.call(this, chunk, ...rest);
  if (Buffer.isBuffer(chunk) && isBgp(this)) {
    const at = performance.now() - phase.startedAt;
    const w = phase.writes;
    w.calls++;
    w.bytes += chunk.length;
    if (!accepted) w.refused++;
    if (Number.isNaN(w.first)) w.first = at;
    w.last = at;
    if (Number.isNaN(w.firstUpdate) && chunk.length > 18 && chunk[18] === UPDATE) w.firstUpdate = at;
    w.perSocket.set(this, (w.perSocket.get(this) ?? 0) + 1);
    phase.eluAtLastWrite = performance.eventLoopUtilization(phase.elu);
    bin(phase.bins.written, at, chunk.length);
  }
  return accepted;
};

/** Time spent in timed turns so far: a turn run inside another (a drain inside a decision) counts once. */
let timedMs = 0;

/** Wraps prototype[method] to count its calls and their time into phase[key] and its bins. */
function timeTurns(prototype, method, key, binKey) {
  const original = prototype[method];
  if (typeof original !== 'function') {
    process.stderr.write(`daemon-probe: no ${method} to time; ${key} not counted\n`);
    return;
  }
  prototype[method] = function turn(...args) {
    const t0 = performance.now();
    const nestedBefore = timedMs;
    try {
      return original.apply(this, args);
    } finally {
      const t1 = performance.now();
      const own = t1 - t0 - (timedMs - nestedBefore);
      timedMs += own;
      const at = t0 - phase.startedAt;
      const s = phase[key];
      s.turns++;
      s.ms += own;
      if (Number.isNaN(s.first)) s.first = at;
      s.last = t1 - phase.startedAt;
      bin(phase.bins[binKey], at, own);
    }
  };
}

if (DIST) {
  const { LocRib } = await import(`${DIST}/rib/loc-rib.js`);
  const { AdjRibOut } = await import(`${DIST}/rib/adj-rib-out.js`);
  timeTurns(LocRib.prototype, 'runQueue', 'decisions', 'decideMs');
  timeTurns(AdjRibOut.prototype, 'drain', 'drains', 'drainMs');
}

function snapshot() {
  const elu = performance.eventLoopUtilization(phase.elu);
  const perSocket = [...phase.writes.perSocket.values()].sort((a, b) => a - b);
  const round = (series) => series.map((v) => Math.round(v * 100) / 100);
  return {
    now: performance.now() - phase.startedAt,
    startedMonotonicUs: phase.startedMonotonicUs,
    elu: { utilization: elu.utilization, activeMs: elu.active, idleMs: elu.idle },
    eluToLastWrite: phase.eluAtLastWrite?.utilization ?? NaN,
    reads: phase.reads,
    writes: {
      ...phase.writes,
      perSocket: undefined,
      sockets: perSocket.length,
      perSocketMin: perSocket[0] ?? 0,
      perSocketMedian: perSocket[Math.floor(perSocket.length / 2)] ?? 0,
      perSocketMax: perSocket.at(-1) ?? 0,
    },
    decisions: phase.decisions,
    drains: phase.drains,
    binMs: BIN_MS,
    bins: {
      read: phase.bins.read,
      written: phase.bins.written,
      decideMs: round(phase.bins.decideMs),
      drainMs: round(phase.bins.drainMs),
    },
  };
}

if (SOCKET) {
  const server = http.createServer((req, res) => {
    if (req.url === '/reset') phase = freshPhase();
    const body = req.url === '/snapshot' ? JSON.stringify(snapshot()) : '{}';
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  server.listen(SOCKET);
  // Never keeps the daemon alive on its own.
  server.unref();
}
