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

/** `brindlectl --config FILE ARGS...`; its stdout, or a rejection carrying stderr and the exit code. */
export async function brindlectl(config: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec(
    process.execPath,
    [join(ROOT, 'bin/brindlectl'), '--config', config, ...args],
    {
      timeout: 30_000,
      killSignal: 'SIGKILL',
      env: cleanEnv(),
    },
  );
  return stdout;
}
