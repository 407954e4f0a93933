// What the benchmark needs from a reflector under test (BIRD 2, GoBGP, FRR, OpenBGPD, Brindle): start
// it as a child process pinned to core 0 with N route-reflector clients, read its CPU time and memory
// by PID (summed over its processes: OpenBGPD runs three), stop it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { startDaemon, waitFor } from '../../test/helpers/netns.ts';

/** The reflector's side of every scenario: one passive iBGP session per client, all RR clients. */
export interface ReflectorSetup {
  readonly address: string;
  readonly port: number;
  readonly localAs: number;
  /** Dotted quad; also used as the cluster ID. */
  readonly routerId: string;
  readonly clusterId: string;
  /** Client source addresses, one passive session each. */
  readonly clients: readonly string[];
}

export interface RunningReflector {
  readonly pid: number;
  running(): boolean;
  /** Recent output of the process, for error messages. */
  output(): string;
  /** Paths the reflector reports holding (its main table / Loc-RIB), for a sanity check. */
  pathsStored(): Promise<number | undefined>;
  /** Called before steady-state memory is read (the Router contrast collects garbage first). */
  settle?(): Promise<void>;
  /** Where the reflector's time goes within a phase (Brindle only): started before, read after it. */
  diagnostics?: PhaseDiagnostics;
  /** Stops the process (by PID) and removes its temp dir. */
  stop(): Promise<void>;
}

/** Called around one phase: begin() just before its first byte is written, end() once it is over. */
export interface PhaseDiagnostics {
  begin(): Promise<void>;
  /** Figures of the phase, given its wall time as the generator measured it. */
  end(wallMs: number): Promise<DiagnosticFigure[]>;
}

export interface DiagnosticFigure {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
}

export type ScenarioId = 'S1' | 'S2' | 'S3' | 'S4' | 'S5';

export interface ReflectorUnderTest {
  /** Shown in case names: `S1 100k→10 (bird2)`. */
  readonly name: string;
  /** How long one phase (convergence, one withdrawal) may take before it is reported unfinished. */
  readonly phaseCapSec: number;
  /** Why it cannot run here (binary missing, code not written yet), or undefined. */
  unavailable(): Promise<string | undefined>;
  /** A scenario left out by design, with the reason to print instead of numbers. */
  skip?(scenario: ScenarioId): string | undefined;
  /**
   * How long to wait between the last session coming up and the first UPDATE: FRR holds back its
   * first advertisements to peers that came up within the last ~10 s (update-group coalescing).
   */
  readonly settleAfterEstablishMs?: number;
  start(setup: ReflectorSetup): Promise<RunningReflector>;
}

/** The core the reflector under test runs on; the generator takes the other one. */
export const REFLECTOR_CORE = 0;
export const GENERATOR_CORE = 1;

/** `taskset -c CORE command args`: taskset execs the command, so the PID stays the command's own. */
export function pinned(command: string, args: readonly string[]): [string, string[]] {
  return ['taskset', ['-c', String(REFLECTOR_CORE), command, ...args]];
}

export interface Memory {
  /** VmRSS, bytes. */
  readonly rss: number;
  /** VmHWM (peak RSS since the process started), bytes. */
  readonly peak: number;
}

/** A process and every descendant of it, from the parent PIDs in /proc/N/stat. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields === undefined) continue;
    const parent = Number(fields[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const pending = [pid];
  while (pending.length > 0 && tree.length < 1000) {
    const next = pending.pop()!;
    tree.push(next);
    pending.push(...(children.get(next) ?? []));
  }
  return tree;
}

/** Fields of /proc/PID/stat after the command name (state is [0]); undefined when it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/N/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_S = 100;

/** utime + stime of the reflector's processes (every thread), in seconds. */
export function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = statFields(pid);
    if (fields !== undefined) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS_PER_S;
}

/** The first two fields of /proc/PID/schedstat (the process's main thread), in ns; undefined when gone. */
function schedstat(pid: number): [runNs: number, waitNs: number] | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ');
    return [Number(run), Number(wait)];
  } catch {
    return undefined;
  }
}

/**
 * Seconds the reflector's processes spent runnable but waiting for a CPU (run-queue delay, the second
 * field of /proc/PID/schedstat): on a shared machine, the part of a phase's wall time that other
 * processes on its core took. The main thread of each process only: Node's and Go's helper threads
 * (garbage collection, the thread pool) wait too, and summing them would count one delay many times;
 * FRR's I/O thread is left out with them.
 */
export function runQueueWaitSeconds(pids: readonly number[]): number {
  let ns = 0;
  for (const pid of pids) ns += schedstat(pid)?.[1] ?? 0;
  return ns / 1e9;
}

/**
 * Seconds the main thread of each of the reflector's processes ran (the first field of
 * /proc/PID/schedstat): the rest of cpuSeconds is its helper threads', for Node V8's optimizing
 * compiler and garbage-collector threads.
 */
export function mainThreadCpuSeconds(pids: readonly number[]): number {
  let ns = 0;
  for (const pid of pids) ns += schedstat(pid)?.[0] ?? 0;
  return ns / 1e9;
}

/**
 * RSS and peak RSS of the reflector, from /proc/PID/status, summed over its processes (the peak of a
 * multi-process daemon is the sum of each process's own peak: an upper bound).
 */
export function readMemory(pid: number): Memory {
  let rss = 0;
  let peak = 0;
  for (const member of processTree(pid)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${member}/status`, 'utf8');
    } catch {
      continue;
    }
    const kib = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    rss += kib('VmRSS') * 1024;
    peak += kib('VmHWM') * 1024;
  }
  if (peak === 0) throw new Error(`no memory figures for process ${pid}`);
  return { rss, peak };
}

/** The current CPU affinity of this process (`taskset -pc`), to restore after the benchmark. */
export function currentAffinity(): string | undefined {
  try {
    const out = execFileSync('taskset', ['-pc', String(process.pid)], { encoding: 'utf8' });
    return /:\s*(\S+)\s*$/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** Pins every thread of this process to `cpus` ("1", "0-1"); false when taskset is missing. */
export function pinSelf(cpus: string): boolean {
  try {
    execFileSync('taskset', ['-apc', cpus, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface LaunchOptions {
  readonly name: string;
  /** The daemon's own command line: launch() pins it to the reflector's core. */
  readonly command: string;
  readonly args: readonly string[];
  /** Its temp dir, removed when it stops. */
  readonly dir: string;
  /** True once it is ready for the scenario's sessions; polled until `readyTimeoutMs`. */
  ready(): Promise<boolean>;
  readonly readyTimeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** The running daemon as a scenario sees it, less what only the reflector knows (its path count). */
export type Launched = Omit<RunningReflector, 'pathsStored'>;

/**
 * Starts a reflector pinned to its core and waits until it is ready; stops it (by PID) and removes its
 * temp dir when it exits or is not ready in time.
 */
export async function launch(options: LaunchOptions): Promise<Launched> {
  const [command, args] = pinned(options.command, options.args);
  const daemon = startDaemon(command, args, {
    name: options.name,
    env: options.env,
    cwd: options.cwd,
    stopTimeoutMs: 10_000,
  });
  const stop = async () => {
    await daemon.stop();
    await rm(options.dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (!daemon.running()) throw new Error(`${options.name} exited: ${daemon.output().slice(-2000)}`);
        return options.ready();
      },
      { timeoutMs: options.readyTimeoutMs, intervalMs: 100, what: `${options.name} to be ready` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { pid: daemon.pid, running: () => daemon.running(), output: () => daemon.output(), stop };
}
