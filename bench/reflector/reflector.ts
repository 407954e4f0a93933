// What the benchmark needs from a reflector under test (BIRD 2, GoBGP, Brindle): start it as a child
// process pinned to core 0 with N passive route-reflector clients, read its memory by PID, stop it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
  /** Called before steady-state memory is read (Brindle collects garbage first). */
  settle?(): Promise<void>;
  /** Stops the process (by PID) and removes its temp dir. */
  stop(): Promise<void>;
}

export type ScenarioId = 'S1' | 'S2' | 'S3';

export interface ReflectorUnderTest {
  /** Shown in case names: `S1 100k→10 (bird2)`. */
  readonly name: string;
  /** How long one phase (convergence, one withdrawal) may take before it is reported unfinished. */
  readonly phaseCapSec: number;
  /** Why it cannot run here (binary missing, code not written yet), or undefined. */
  unavailable(): Promise<string | undefined>;
  /** A scenario left out by design, with the reason to print instead of numbers. */
  skip?(scenario: ScenarioId): string | undefined;
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

/** RSS and peak RSS of a process, from /proc/PID/status. */
export function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
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
