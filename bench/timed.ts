// Short-lived programs (a CLI call, one CNI plugin run) timed as an operator's shell would time them:
// wall time from spawn to exit, and the program's own CPU time (user + system) and peak RSS as GNU
// time reports them, so a loaded machine's wall times can be read next to what the program itself
// cost.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const TIME = '/usr/bin/time';
const CALL_TIMEOUT_MS = 60_000;

export interface Sample {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly peakRssMb: number;
}

export interface TimedOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Written to the program's stdin. */
  readonly input?: string;
  /** Called with the program's stdout; throw to fail the sample (a CNI error result, say). */
  readonly check?: (stdout: string) => void;
}

export function requireGnuTime(): void {
  if (!existsSync(TIME)) throw new Error(`${TIME} (GNU time) is needed for CPU time and peak RSS`);
}

let reports = 0;

/** Runs `argv` to completion under GNU time; rejects when it exits non-zero or `check` throws. */
export async function timedRun(argv: readonly string[], options: TimedOptions = {}): Promise<Sample> {
  // One report file per call: calls run concurrently.
  const report = join(tmpdir(), `brindle-bench-time-${process.pid}-${reports++}`);
  const started = process.hrtime.bigint();
  try {
    const running = execFileAsync(TIME, ['-f', '%U %S %M', '-o', report, ...argv], {
      env: options.env ?? process.env,
      cwd: options.cwd,
      timeout: CALL_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    running.child.stdin?.on('error', () => undefined).end(options.input ?? '');
    const { stdout } = await running;
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const [user, system, maxKb] = (await readFile(report, 'utf8')).trim().split('\n').at(-1)!.split(' ');
    options.check?.(stdout);
    return { wallMs, cpuMs: (Number(user) + Number(system)) * 1000, peakRssMb: Number(maxKb) / 1024 };
  } finally {
    await rm(report, { force: true });
  }
}
