// What one stored path costs, and where the memory of a full-table load goes: the reflector's RIB in
// this process (a Loc-RIB, the RFC 4456 rules, an Adj-RIB-Out with `--members` sessions in one update
// group whose sockets take everything, and a subscriber to the best-path changes as the daemon's
// metrics have), fed the S1/S3 injector's UPDATE stream as a session feeds it: 64 KiB chunks through
// the framer and the decoder, at most 64 messages and 64 KiB per event-loop turn, reading held while
// the RIB is behind (rib/ingress-backlog.ts). IPv4 /24s from one peer in 4 attribute sets.
//
// For each size in `--paths` two fresh processes run:
// - the RSS census: RSS by part (memory-census.ts: V8's spaces, glibc's arena, other anonymous
//   mappings, code) before any route, at the peak (sampled every turn and every 50 ms), once
//   converged, after 20 s idle, and after a full garbage collection; per path, each part's growth;
// - the heap census: a heap snapshot before and after (converged, after a full GC), the growth per
//   path by object kind. Snapshots inflate RSS, hence a process of its own.
//
//   node --expose-gc --import tsx bench/reflector/path-memory.ts [--paths 100000,500000] [--members 10]
//
// `--census rss|heap --stream FILE` runs one census in this process (what each child runs).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import { decodeMessage } from '../../src/bgp/codec/message.ts';
import { MessageType } from '../../src/bgp/constants.ts';
import { BgpError } from '../../src/bgp/errors.ts';
import type { CodecContext, UpdateMessage } from '../../src/bgp/types.ts';
import { Afi, IPV4_UNICAST } from '../../src/lib/family.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { AdjRibOut } from '../../src/rib/adj-rib-out.ts';
import type { GroupMember } from '../../src/rib/adj-rib-out.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { IngressBacklog } from '../../src/rib/ingress-backlog.ts';
import type { IngressSource } from '../../src/rib/ingress-backlog.ts';
import { applyUpdate } from '../../src/rib/ingress.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { ReflectorExport, ReflectorIngress } from '../../src/reflector/reflection.ts';
import { CLIENT_CODEC, PrefixSpace } from './client.ts';
import { heapByKind, kindGrowth, RSS_ROWS, sampleMemory } from './memory-census.ts';
import type { MemorySample } from './memory-census.ts';
import { INJECTED_BASE, injectorStreams } from './scenarios.ts';

const SETS = 4;
/** What a session decodes per turn (bgp/session/connection.ts) and what one socket read hands it. */
const MAX_MESSAGES_PER_TURN = 64;
const MAX_OCTETS_PER_TURN = 64 * 1024;
const CHUNK_BYTES = 64 * 1024;
const SAMPLE_MS = 50;
/** How long the converged process idles before it is sampled again (V8's memory reducer starts 8 s after a full GC). */
const IDLE_MS = 20_000;
/** A new peak is sampled in full only when RSS rose this much since the last one (smaps costs ms). */
const PEAK_STEP = 1024 * 1024;
const MIB = 1024 * 1024;
const CONTEXT: CodecContext = CLIENT_CODEC;
const FAMILIES: ReadonlySet<number> = new Set([IPV4_UNICAST]);
const TARGET: ExportTarget = {
  external: false,
  routeReflectorClient: true,
  localAs: 64512,
  peerAs: 64512,
  nextHopMode: 'auto',
};

function peer(id: number): RibPeer {
  return {
    id,
    name: `client-${id}`,
    addressKey: String(id).padStart(10, '0'),
    bgpIdentifier: 0x0b000000 + id,
    external: false,
    peerAs: 64512,
    routeReflectorClient: true,
    local: false,
  };
}

/** A session whose socket takes everything at once; counts the octets. */
function member(id: number, written: { bytes: number }): GroupMember {
  return {
    name: `client-${id}`,
    families: FAMILIES,
    context: CONTEXT,
    send: (bytes) => {
      written.bytes += bytes.length;
      return true;
    },
    bufferedBytes: 0,
    sendRouteRefresh: () => undefined,
    ribPeer: peer(id),
  };
}

function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
}

/**
 * The injector's session as the daemon reads it: a fresh 64 KiB Buffer per socket read, whole
 * messages out of the framer, a bounded number decoded per turn, each UPDATE applied to the RIB; the
 * next turn is queued after the decision this one caused, as the connection queues it.
 */
class Feed implements IngressSource {
  readonly name = 'client-0';
  private readonly framer = new MessageFramer();
  private offset = 0;
  private held = false;
  private scheduled = false;
  private finish: () => void = () => undefined;

  constructor(
    private readonly stream: Buffer,
    private readonly apply: (update: UpdateMessage) => void,
    private readonly onTurn: () => void,
  ) {}

  run(): Promise<void> {
    return new Promise((resolve) => {
      this.finish = resolve;
      this.schedule();
    });
  }

  holdReading(): void {
    this.held = true;
  }

  releaseReading(): void {
    this.held = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.held) return;
    this.scheduled = true;
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.scheduled = false;
    let messages = 0;
    let octets = 0;
    while (!this.held && messages < MAX_MESSAGES_PER_TURN && octets < MAX_OCTETS_PER_TURN) {
      const frame = this.framer.next();
      if (frame === undefined && this.read()) continue;
      if (frame === undefined) break;
      if (frame instanceof BgpError) throw new Error(`the stream does not frame: ${frame.message}`);
      messages++;
      octets += frame.length;
      const decoded = decodeMessage(frame, CONTEXT, true);
      if (!decoded.ok || decoded.message.type !== MessageType.Update) throw new Error('not an UPDATE');
      this.apply(decoded.message);
    }
    this.onTurn();
    if (this.offset >= this.stream.length && this.framer.bufferedBytes === 0) this.finish();
    else this.schedule();
  }

  private read(): boolean {
    if (this.offset >= this.stream.length) return false;
    const end = Math.min(this.offset + CHUNK_BYTES, this.stream.length);
    this.framer.push(Buffer.from(this.stream.subarray(this.offset, end)));
    this.offset = end;
    return true;
  }
}

/** Keeps the sample taken at the highest RSS seen. */
class PeakTracker {
  peak: MemorySample | undefined;
  private peakRss = 0;

  check(): void {
    const rss = process.memoryUsage.rss();
    if (rss < this.peakRss + PEAK_STEP) return;
    this.peak = sampleMemory();
    this.peakRss = Math.max(rss, this.peak.rss.total);
  }
}

interface Reflector {
  readonly rib: LocRib;
  readonly out: AdjRibOut;
  readonly written: { bytes: number };
  /** Applies the whole announcement stream; resolves once every member has been sent everything. */
  load(onTurn: () => void): Promise<void>;
}

/**
 * The injector's announcement stream, encoded by the parent into `file`: encoding half a million
 * prefixes here would grow the young generation before the baseline is read.
 */
function reflector(paths: number, members: number, file: string): Reflector {
  const identity = { routerId: parseIpv4('10.0.0.254'), clusterId: parseIpv4('10.0.0.254'), localAs: 64512 };
  const rib = new LocRib();
  const out = new AdjRibOut(rib, new ReflectorExport(identity), silentLogger);
  const written = { bytes: 0 };
  for (let i = 1; i <= members; i++) out.addMember(member(i, written), TARGET);
  // What the daemon's metrics do with each batch of best-path changes (metrics/rib-census.ts).
  const changes = [0, 0];
  rib.bestPathChanges$.subscribe((batch) => {
    for (const change of batch) changes[change.prefix.afi === Afi.Ipv4 ? 0 : 1]++;
  });
  const announce = readFileSync(file);
  const ingress = new ReflectorIngress(identity);
  const source = peer(0);
  const backlog = new IngressBacklog(rib, out, systemClock, silentLogger);
  return {
    rib,
    out,
    written,
    async load(onTurn) {
      const feed: Feed = new Feed(
        announce,
        (update) => {
          applyUpdate(rib, source, update, ingress, FAMILIES);
          backlog.applied(feed);
        },
        onTurn,
      );
      await feed.run();
      await settle(rib, out, onTurn);
      backlog.close();
      if (rib.pathCount !== paths) throw new Error(`${rib.pathCount} paths stored, not ${paths}`);
    },
  };
}

async function settle(rib: LocRib, out: AdjRibOut, onTurn: () => void = () => undefined): Promise<void> {
  for (let turns = 0; turns < 1_000_000; turns++) {
    await rib.settled();
    if (out.idle) return;
    onTurn();
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('the Adj-RIB-Out never went idle');
}

function peakRssFromStatus(): number {
  const line = readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+)/m);
  return line ? Number(line[1]) * 1024 : NaN;
}

async function rssCensus(paths: number, members: number, file: string): Promise<void> {
  const r = reflector(paths, members, file);
  await settle(r.rib, r.out);
  fullGc();
  const before = sampleMemory();
  const tracker = new PeakTracker();
  const sampler = setInterval(() => tracker.check(), SAMPLE_MS);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await r.load(() => tracker.check());
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const converged = sampleMemory();
  // Idle, as a reflector is once converged: V8's memory reducer may collect and shrink meanwhile.
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idle = sampleMemory();
  fullGc();
  const collected = sampleMemory();
  const peak = tracker.peak ?? converged;
  console.log(
    `${paths.toLocaleString('en-US')} paths, ${members} members in ${r.out.groupCount} update group(s); ` +
      `${(r.written.bytes / members / MIB).toFixed(1)} MiB of UPDATEs to each; loaded in ${wallMs.toFixed(0)} ms ` +
      `(CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms); VmHWM ${(peakRssFromStatus() / MIB).toFixed(1)} MiB, ` +
      `the peak sample ${(peak.rss.total / MIB).toFixed(1)} MiB`,
  );
  console.log('');
  const idleLabel = `idle ${IDLE_MS / 1000} s`;
  console.log(
    `| part of RSS | before any route | peak | converged | ${idleLabel} | after full GC | per path: peak | converged | ${idleLabel} | after GC |`,
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const mib = (n: number) => `${(n / MIB).toFixed(1)} MiB`;
  const perPath = (n: number) => `${(n / paths).toFixed(0)} B`;
  for (const row of RSS_ROWS) {
    const [b, ...after] = [before, peak, converged, idle, collected].map(row.of);
    const cells = [...after.map(mib), ...after.map((n) => perPath(n - b))];
    console.log(`| ${row.part} | ${mib(b)} | ${cells.join(' | ')} |`);
  }
}

async function heapCensus(paths: number, members: number, file: string): Promise<void> {
  const r = reflector(paths, members, file);
  await settle(r.rib, r.out);
  fullGc();
  const heapBefore = process.memoryUsage().heapUsed;
  const kindsBefore = await heapByKind();
  fullGc();
  await r.load(() => undefined);
  fullGc();
  const heapAfter = process.memoryUsage().heapUsed;
  const growth = kindGrowth(kindsBefore, await heapByKind());
  console.log(
    `V8 heap used per path after a full GC: ${((heapAfter - heapBefore) / paths).toFixed(1)} B; ` +
      'heap snapshot, growth per path by kind:',
  );
  console.log('');
  console.log('| kind | objects | bytes per path |');
  console.log('|---|---|---|');
  for (const row of growth.slice(0, 14))
    if (row.bytes > paths)
      console.log(`| ${row.kind} | ${row.count} | ${(row.bytes / paths).toFixed(1)} B |`);
  const rest = growth.slice(14).reduce((n, row) => n + row.bytes, 0);
  console.log(`| everything else | | ${(rest / paths).toFixed(1)} B |`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      paths: { type: 'string' },
      members: { type: 'string' },
      census: { type: 'string' },
      stream: { type: 'string' },
    },
  });
  const sizes = (values.paths ?? '100000,500000').split(',').map(Number);
  const members = Number(values.members ?? 10);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(members >= 1))
    throw new Error('bad --paths or --members');
  if (values.census !== undefined) {
    if (values.stream === undefined) throw new Error('--census needs --stream FILE');
    if (values.census === 'rss') return rssCensus(sizes[0], members, values.stream);
    if (values.census === 'heap') return heapCensus(sizes[0], members, values.stream);
    throw new Error('--census rss or heap');
  }
  const dir = mkdtempSync(join(tmpdir(), 'path-memory-'));
  try {
    for (const paths of sizes) {
      const stream = join(dir, `announce-${paths}`);
      writeFileSync(stream, injectorStreams(new PrefixSpace(INJECTED_BASE, 24, paths), SETS).announce);
      for (const census of ['rss', 'heap']) {
        console.log(`\n### ${paths.toLocaleString('en-US')} paths: ${census} census\n`);
        const args = [process.argv[1], '--paths', String(paths), '--members', String(members)];
        args.push('--census', census, '--stream', stream);
        const child = spawnSync(process.execPath, [...process.execArgv, ...args], { stdio: 'inherit' });
        if (child.status !== 0) throw new Error(`the ${census} census of ${paths} paths failed`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
