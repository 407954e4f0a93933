/**
 * A timestamped ping from a namespace (iputils `ping -D`): the wall-clock arrival time of every echo
 * reply, so a test can measure how long a destination stayed unreachable while a path failed — the
 * gap between the last reply before the failure and the first one after it.
 *
 * The run is bounded by ping's own deadline (`-w`) and by the Cleanup; stop() ends it early with
 * SIGINT, which makes ping print its summary. Only this ping's own pid is ever signalled.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { inNetns } from './netns.ts';
import type { Cleanup } from './netns.ts';

export interface PingOptions {
  readonly netns?: string;
  readonly destination: string;
  /** Between two echo requests (iputils allows 2 ms and up to root). */
  readonly intervalMs: number;
  /** ping exits by itself after this long, whatever happens to the test. */
  readonly deadlineSec: number;
}

export interface PingReply {
  readonly seq: number;
  /** Wall clock (Date.now() scale) when ping read the reply. */
  readonly atMs: number;
}

export interface PingResult {
  readonly replies: readonly PingReply[];
  readonly transmitted: number;
  readonly received: number;
}

export interface Ping {
  /** Replies so far. */
  replies(): readonly PingReply[];
  /** Ends the run (SIGINT) and returns every reply with ping's own totals. */
  stop(): Promise<PingResult>;
}

/** `[1765101234.567890] 64 bytes from 100.64.66.1: icmp_seq=12 ttl=63 time=0.071 ms` */
const REPLY = /^\[(\d+)\.(\d{6})\] \d+ bytes from .*icmp_seq=(\d+) /;
const SUMMARY = /(\d+) packets transmitted, (\d+) received/;

export function startPing(options: PingOptions, cleanup?: Cleanup): Ping {
  const interval = (options.intervalMs / 1000).toFixed(3);
  const args = ['-D', '-n', '-i', interval, '-w', String(options.deadlineSec), options.destination];
  const [file, argv] = inNetns(options.netns, 'ping', args);
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const replies: PingReply[] = [];
  const totals = { transmitted: NaN, received: NaN };
  let stderr = '';
  createInterface({ input: child.stdout }).on('line', (line) => {
    const reply = REPLY.exec(line);
    if (reply) replies.push(replyAt(reply));
    const summary = SUMMARY.exec(line);
    if (summary) Object.assign(totals, { transmitted: Number(summary[1]), received: Number(summary[2]) });
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
  };
  cleanup?.add(async () => {
    signal('SIGKILL');
    await exited;
  });
  return {
    replies: () => replies,
    stop: async () => {
      signal('SIGINT');
      await exited;
      if (Number.isNaN(totals.received))
        throw new Error(`ping ${options.destination}: no summary: ${stderr}`);
      return { replies, ...totals };
    },
  };
}

function replyAt(match: RegExpExecArray): PingReply {
  return { seq: Number(match[3]), atMs: Number(match[1]) * 1000 + Number(match[2]) / 1000 };
}

export interface ReplyGap {
  /** The reply before the gap and the one that ended it (wall clock, ms). */
  readonly lastBeforeMs: number;
  readonly firstAfterMs: number;
  readonly gapMs: number;
  /** Echo requests lost in between, by sequence number. */
  readonly lost: number;
}

/**
 * The longest time without a reply that ended after `sinceMs` (a failure at that moment shows as the
 * gap it caused); undefined when fewer than two replies bracket it.
 */
export function longestReplyGap(replies: readonly PingReply[], sinceMs: number): ReplyGap | undefined {
  let longest: ReplyGap | undefined;
  for (let i = 1; i < replies.length; i++) {
    const [before, after] = [replies[i - 1], replies[i]];
    if (after.atMs <= sinceMs || (longest && after.atMs - before.atMs <= longest.gapMs)) continue;
    longest = {
      lastBeforeMs: before.atMs,
      firstAfterMs: after.atMs,
      gapMs: after.atMs - before.atMs,
      lost: after.seq - before.seq - 1,
    };
  }
  return longest;
}
