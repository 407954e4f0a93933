// Running Brindle's own programs from tests as an operator does: the daemon's environment without the
// test run's BRINDLE_* settings, and `bin/brindlectl --config FILE ...` with a bound on each call; and
// a daemon in this process, as the multi-node tests on loopback start theirs.
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { loadConfig } from '../../src/config/config.ts';
import { Daemon } from '../../src/daemon/daemon.ts';
import { silentLogger } from '../../src/lib/log.ts';

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

/**
 * A daemon in this process for node `name`, speaking BGP on `address`, configured by `env` (its
 * datastore) like the service is by its environment: a reflector, or a node without its kernel FIB.
 */
export async function startLoopbackDaemon(
  name: string,
  address: string,
  env: Record<string, string>,
  mode: 'reflector' | 'node' = 'reflector',
): Promise<Daemon> {
  const loaded = loadConfig(undefined, {
    ...env,
    BRINDLE_NODE_NAME: name,
    BRINDLE_NODE_IPV4: `${address}/32`,
    BRINDLE_BGP_LISTEN_ADDRESS: address,
    BRINDLE_MODE: mode,
    ...(mode === 'node' ? { BRINDLE_FIB_ENABLED: 'false' } : {}),
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  return Daemon.start(loaded.config, silentLogger);
}

/** GET on a daemon's API (127.0.0.1:port) or its control socket; the body as text. */
export function daemonGet(
  target: { port: number } | { socketPath: string },
  path: string,
  timeoutMs = 30_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const where = 'port' in target ? { host: '127.0.0.1', port: target.port } : target;
    const req = request({ ...where, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}
