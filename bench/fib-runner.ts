// The FIB benchmark's inside half (bench/fib.ts starts it under `ip netns exec`, pinned to core 1):
// installs and then removes N IPv4 /32 routes via 10.0.0.2 dev v0 in table 100 with each subject in turn
// — Brindle's FIB engine (fib-subject.ts), `ip -force -batch -`, BIRD 2's kernel protocol — each subject
// pinned to core 0. Every phase is timed the same way, from outside the subject: from the command that
// starts it until this process has counted N route notifications of the subject's protocol in the table
// (a monitor socket; if the kernel drops notifications, polling a dump count instead), then verified
// with a dump count. Prints one JSON line per phase.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatIpv4 } from '../src/lib/address.ts';
import { requireNative } from '../src/lib/native.ts';
import {
  MessageWriter,
  RTM_DELROUTE,
  RTM_NEWROUTE,
  RTMGRP_IPV4_ROUTE,
  writeRouteDumpRequest,
} from '../src/fib/netlink.ts';
import { NetlinkSocket } from '../src/fib/netlink-socket.ts';

const ROUTES = Number(process.env.BENCH_FIB_ROUTES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_FIB_ROUNDS ?? 3);
const PHASE_CAP_MS = Number(process.env.BENCH_FIB_PHASE_CAP_SEC ?? 60) * 1000;
const TABLE = 100;
const BASE = 0x0a800000; // 10.128.0.0
const GATEWAY = '10.0.0.2';
const DEVICE = 'v0';
const SUBJECT_CORE = process.env.BENCH_FIB_SUBJECT_CORE ?? '0';
const PROTOCOL = { brindle: 196, ipBatch: 197, bird: 12 /* RTPROT_BIRD */ } as const;

const native = requireNative();
const print = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

// ---------------------------------------------------------------------------------------------------
// Watching the kernel

interface Waiter {
  readonly protocol: number;
  readonly type: number;
  readonly target: number;
  seen: number;
  readonly done: (at: number) => void;
}

let waiter: Waiter | undefined;
let overrun = false;
const monitor = new NetlinkSocket(native, {
  groups: RTMGRP_IPV4_ROUTE,
  rcvbufBytes: 64 << 20,
  maxDatagramsPerTurn: 1 << 20,
  onNotification: (type, _flags, buf, offset) => {
    const w = waiter;
    // rtmsg after the 16-byte header: table at +4, protocol at +5 (table 100 fits rtm_table).
    if (!w || type !== w.type || buf[offset + 20] !== TABLE || buf[offset + 21] !== w.protocol) return;
    if (++w.seen === w.target) w.done(performance.now());
  },
  onOverrun: () => (overrun = true),
});
const requests = new NetlinkSocket(native, { rcvbufBytes: 8 << 20 });
const writer = new MessageWriter();

/** Routes of `protocol` in the table, counted from a kernel-filtered dump (not decoded). */
async function dumpCount(protocol: number): Promise<number> {
  let count = 0;
  const seq = requests.reserveSeq(1);
  writer.reset();
  writeRouteDumpRequest(writer, seq, 4, { table: TABLE, protocol });
  await requests.dump(writer.datagram(), seq, (type) => {
    if (type === RTM_NEWROUTE) count += 1;
  });
  return count;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface PhaseResult {
  readonly seconds: number;
  /** The subject's CPU time over the phase (user + system: the kernel's route work runs in the
   * sender's system time), from /proc; what the machine's load cannot inflate. */
  cpuSeconds?: number;
  readonly verified: number;
  readonly method: 'notifications' | 'dump polling';
}

/**
 * Times `begin()` until N notifications (NEWROUTE for insert, DELROUTE for delete) of `protocol`
 * have arrived; falls back to polling a dump count if the kernel dropped notifications.
 */
async function timePhase(
  protocol: number,
  phase: 'insert' | 'delete',
  begin: () => void,
): Promise<PhaseResult> {
  overrun = false;
  const target = phase === 'insert' ? ROUTES : 0;
  let finished: number | undefined;
  waiter = {
    protocol,
    type: phase === 'insert' ? RTM_NEWROUTE : RTM_DELROUTE,
    target: ROUTES,
    seen: 0,
    done: (at) => (finished = at),
  };
  const started = performance.now();
  begin();
  let method: PhaseResult['method'] = 'notifications';
  while (finished === undefined) {
    if (performance.now() - started > PHASE_CAP_MS)
      throw new Error(`${phase} did not finish within ${PHASE_CAP_MS / 1000} s`);
    if (overrun) {
      method = 'dump polling';
      if ((await dumpCount(protocol)) === target) finished = performance.now();
    } else await sleep(1);
  }
  waiter = undefined;
  return { seconds: (finished - started) / 1000, verified: await dumpCount(protocol), method };
}

// ---------------------------------------------------------------------------------------------------
// Subjects

const TICKS_PER_SECOND = 100; // USER_HZ

/** utime + stime (fields 14, 15 of /proc/PID/stat), seconds; `children` adds cutime + cstime. */
function cpuSeconds(stat: string, children = false): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = (i: number) => Number(fields[i - 3]);
  return (ticks(14) + ticks(15) + (children ? ticks(16) + ticks(17) : 0)) / TICKS_PER_SECOND;
}

function processCpu(pid: number | undefined): number {
  return cpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** Times a phase of a long-running subject, CPU included. */
async function timeSubject(
  pid: number | undefined,
  protocol: number,
  phase: 'insert' | 'delete',
  begin: () => void,
): Promise<PhaseResult> {
  const before = processCpu(pid);
  const result = await timePhase(protocol, phase, begin);
  result.cpuSeconds = processCpu(pid) - before;
  return result;
}

function pinned(command: string, args: readonly string[]): ChildProcess {
  return spawn('taskset', ['-c', SUBJECT_CORE, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('close', (code) => resolve(code));
  });
}

function hostRoutes(line: (address: string) => string): string {
  const lines: string[] = [];
  for (let i = 0; i < ROUTES; i++) lines.push(line(formatIpv4(BASE + i)));
  return `${lines.join('\n')}\n`;
}

async function brindle(): Promise<Record<string, PhaseResult & { ownMs?: number }>> {
  const script = fileURLToPath(new URL('./fib-subject.ts', import.meta.url));
  const child = pinned(process.execPath, [
    '--import=tsx',
    script,
    String(ROUTES),
    String(BASE),
    String(TABLE),
    String(PROTOCOL.brindle),
    GATEWAY,
    DEVICE,
  ]);
  const replies: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    replies.push(JSON.parse(line) as Record<string, unknown>);
    wake?.();
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const reply = async (key: string) => {
    const deadline = performance.now() + PHASE_CAP_MS;
    for (;;) {
      const found = replies.find((r) => key in r || 'error' in r);
      if (found) {
        replies.splice(replies.indexOf(found), 1);
        if ('error' in found) throw new Error(String(found.error));
        return found;
      }
      if (child.exitCode !== null || performance.now() > deadline)
        throw new Error(`brindle subject: ${stderr}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  };
  try {
    await reply('ready');
    const results: Record<string, PhaseResult & { ownMs?: number }> = {};
    for (const [phase, command] of [
      ['insert', 'install'],
      ['delete', 'remove'],
    ] as const) {
      const result = await timeSubject(child.pid, PROTOCOL.brindle, phase, () =>
        child.stdin!.write(`${command}\n`),
      );
      const own = await reply('done');
      results[phase] = { ...result, ownMs: own.ms as number };
    }
    child.stdin!.write('stop\n');
    await exited(child);
    return results;
  } finally {
    child.kill('SIGKILL');
  }
}

async function ipBatch(): Promise<Record<string, PhaseResult>> {
  const table = `table ${TABLE} proto ${PROTOCOL.ipBatch}`;
  const add = hostRoutes((a) => `route add ${a}/32 via ${GATEWAY} dev ${DEVICE} ${table}`);
  const del = hostRoutes((a) => `route del ${a}/32 ${table}`);
  const results: Record<string, PhaseResult> = {};
  for (const [phase, text] of [
    ['insert', add],
    ['delete', del],
  ] as const) {
    let child: ChildProcess | undefined;
    let out = '';
    results[phase] = await timePhase(PROTOCOL.ipBatch, phase, () => {
      // The shell reports ip's CPU time (its children's, once waited for) from its own /proc stat.
      child = pinned('sh', ['-c', 'ip -force -batch - && cat /proc/$$/stat']);
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stdin!.end(text);
    });
    if (child && (await exited(child)) !== 0) throw new Error(`ip -batch exited with an error (${phase})`);
    results[phase].cpuSeconds = cpuSeconds(out.trim().split('\n').at(-1) ?? '', true);
  }
  return results;
}

/** BIRD's CLI on its control socket: connected and greeted first, so send() is one write. */
function birdCli(socket: string): Promise<{ send(command: string): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(socket);
    let text = '';
    let answer: ((reply: string) => void) | undefined;
    connection.on('data', (chunk) => {
      text += chunk.toString();
      if (!answer && /^0001 /m.test(text)) {
        text = '';
        resolve({
          send: (command) =>
            new Promise((done) => {
              answer = done;
              connection.write(`${command}\n`);
            }),
        });
      } else if (answer && /^\d{4} /m.test(text)) {
        connection.end();
        answer(text);
      }
    });
    connection.on('error', reject);
  });
}

async function bird(): Promise<Record<string, PhaseResult>> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-fib-bird-'));
  const config = [
    'log stderr { warning, error, fatal, bug };',
    'router id 10.0.0.1;',
    'protocol device { scan time 60; }',
    // No learning, no periodic scan during the run: only BIRD's exports reach the kernel.
    `protocol kernel k4 { kernel table ${TABLE}; scan time 600; learn off; persist off;`,
    '  ipv4 { import none; export all; }; }',
    'protocol static s4 {',
    '  disabled yes;',
    '  ipv4;',
    hostRoutes((a) => `  route ${a}/32 via ${GATEWAY};`),
    '}',
  ].join('\n');
  const conf = join(dir, 'bird.conf');
  const socket = join(dir, 'bird.ctl');
  await writeFile(conf, config);
  const child = pinned('bird', ['-f', '-c', conf, '-s', socket, '-P', join(dir, 'bird.pid')]);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const deadline = performance.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`bird exited: ${stderr}`);
      const up = await birdCli(socket)
        .then((cli) => cli.send('show status'))
        .catch(() => '');
      if (up.includes('Daemon is up')) break;
      if (performance.now() > deadline) throw new Error(`bird did not start: ${stderr}`);
      await sleep(50);
    }
    const results: Record<string, PhaseResult> = {};
    for (const [phase, command] of [
      ['insert', 'enable s4'],
      ['delete', 'disable s4'],
    ] as const) {
      const cli = await birdCli(socket);
      let reply: Promise<string> | undefined;
      results[phase] = await timeSubject(child.pid, PROTOCOL.bird, phase, () => {
        reply = cli.send(command);
      });
      await reply;
    }
    return results;
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited(child), sleep(5_000)]);
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------

const SUBJECTS = { brindle, 'ip -batch': ipBatch, bird2: bird } as const;

for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, subject] of Object.entries(SUBJECTS)) {
    try {
      const results = await subject();
      for (const [phase, result] of Object.entries(results)) print({ case: name, round, phase, ...result });
    } catch (error) {
      print({ case: name, round, error: error instanceof Error ? error.message : String(error) });
    }
  }
}
monitor.close();
requests.close();
print({ finished: true });
