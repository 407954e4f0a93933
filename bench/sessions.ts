// Session scale (issue: "1,000 passive sessions established in under 5 s and under 50 KiB RSS per idle
// session"). Brindle runs in a child process pinned to core 0; this process is the load generator,
// pinned to core 1: it opens one TCP connection per peer from that peer's own loopback address, sends
// OPEN and KEEPALIVE, and answers Brindle's. Bounded: every wait has a deadline.
import { fork, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { MessageFramer } from '../src/bgp/codec/framer.ts';
import { encodeKeepalive } from '../src/bgp/codec/message.ts';
import { encodeOpen } from '../src/bgp/codec/open.ts';
import { MessageType } from '../src/bgp/constants.ts';
import { BgpError } from '../src/bgp/errors.ts';
import { generatorAddress, TARGET_ADDRESS, TARGET_PORT } from './session-addresses.ts';
import type { BenchRow } from './table.ts';

const SESSIONS = 1000;
const DEADLINE_MS = 60_000;

const OPEN = (i: number) =>
  encodeOpen({
    version: 4,
    myAutonomousSystem: 64512,
    holdTimeSec: 240,
    bgpIdentifier: 0x0b000000 + i,
    capabilities: [
      { code: 1, afi: 1, safi: 1 },
      { code: 1, afi: 2, safi: 1 },
      { code: 2 },
      { code: 65, asn: 64512 },
    ],
    unsupportedParameters: [],
    extendedParameters: false,
  });

function pin(pid: number, core: number): void {
  try {
    execFileSync('taskset', ['-acp', String(core), String(pid)], { stdio: 'ignore' });
  } catch {
    // taskset missing: run unpinned.
  }
}

/** One generated peer: connect, OPEN, answer Brindle's OPEN with KEEPALIVE. */
function generatedPeer(i: number, sockets: net.Socket[]): void {
  const socket = net.connect({ host: TARGET_ADDRESS, port: TARGET_PORT, localAddress: generatorAddress(i) });
  sockets.push(socket);
  const framer = new MessageFramer();
  socket.on('connect', () => socket.write(OPEN(i)));
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    framer.push(chunk);
    for (let m = framer.next(); m !== undefined && !(m instanceof BgpError); m = framer.next()) {
      if (m[18] === MessageType.Open) socket.write(encodeKeepalive());
    }
  });
}

function waitFor<T>(child: ChildProcess, kind: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${kind}' from the target`)), DEADLINE_MS);
    const onMessage = (m: { kind: string }) => {
      if (m.kind !== kind) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
  });
}

export async function runSessionBench(): Promise<BenchRow[]> {
  pin(process.pid, 1);
  const target = fork(new URL('./session-target.ts', import.meta.url), [String(SESSIONS)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const sockets: net.Socket[] = [];
  try {
    if (target.pid) pin(target.pid, 0);
    const ready = await waitFor<{ baseline: number; configured: number }>(target, 'ready');
    const allUp = waitFor<{ at: number }>(target, 'all-established');
    const start = Date.now();
    for (let i = 0; i < SESSIONS; i++) generatedPeer(i, sockets);
    const { at } = await allUp;
    const seconds = (at - start) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    target.send({ kind: 'measure' });
    const { rss } = await waitFor<{ rss: number }>(target, 'rss');
    const perSessionKiB = (rss - ready.baseline) / SESSIONS / 1024;
    const perConnectionKiB = (rss - ready.configured) / SESSIONS / 1024;
    return [
      {
        suite: 'sessions',
        case: `${SESSIONS} passive`,
        metric: 'time to all Established',
        value: seconds,
        unit: 's',
        target: '< 5',
        met: seconds < 5,
      },
      {
        suite: 'sessions',
        case: `${SESSIONS} passive`,
        metric: 'RSS per idle session',
        value: perSessionKiB,
        unit: 'KiB',
        target: '< 50',
        met: perSessionKiB < 50,
      },
      {
        suite: 'sessions',
        case: `${SESSIONS} passive`,
        metric: 'of which the TCP session',
        value: perConnectionKiB,
        unit: 'KiB',
      },
    ];
  } finally {
    for (const s of sockets) s.destroy();
    target.send({ kind: 'exit' });
    await Promise.race([new Promise((r) => target.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
    if (target.exitCode === null) target.kill('SIGKILL');
  }
}
