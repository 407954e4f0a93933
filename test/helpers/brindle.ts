// Running Brindle's own programs from tests as an operator does: the daemon's environment without the
// test run's BRINDLE_* settings, and `bin/brindlectl --config FILE ...` with a bound on each call.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The environment without any BRINDLE_* setting of the test run's own. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BRINDLE_')));
}

/** Each call is bounded in time and runs in the clean environment. */
const brindlectlOptions = () => ({ timeout: 30_000, killSignal: 'SIGKILL' as const, env: cleanEnv() });

const brindlectlArgs = (config: string, args: readonly string[]) => [
  join(ROOT, 'bin/brindlectl'),
  '--config',
  config,
  ...args,
];

/** `brindlectl --config FILE ARGS...`; its stdout, or a rejection carrying stderr and the exit code. */
export async function brindlectl(config: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, brindlectlArgs(config, args), brindlectlOptions());
  return stdout;
}

export interface BrindlectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `brindlectl --config FILE ARGS...` whatever its exit code: the code, stdout and stderr (warnings). */
export function brindlectlResult(config: string, ...args: string[]): Promise<BrindlectlResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, brindlectlArgs(config, args), brindlectlOptions(), (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
