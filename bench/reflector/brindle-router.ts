// Brindle's Router class alone, for contrast with the daemon (brindle.ts): brindle-target.ts runs the
// Router in its own Node process (so its RSS is its own) through its TypeScript API under tsx, pinned to
// core 0, and answers the benchmark over an IPC channel. Not what operators run (no datastore, no
// resources, no API, no metrics): only with BENCH_REFLECTORS=brindle-router.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pinned } from './reflector.ts';
import type { ReflectorSetup, ReflectorUnderTest, RunningReflector } from './reflector.ts';

const TARGET = fileURLToPath(new URL('./brindle-target.ts', import.meta.url));
const ROUTER = fileURLToPath(new URL('../../src/daemon/router.ts', import.meta.url));
const OUTPUT_LIMIT = 64 * 1024;
const START_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** What brindle-target.ts sends back over IPC. */
export type TargetMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'paths'; readonly count: number }
  | { readonly kind: 'settled' };

/** What the benchmark asks brindle-target.ts. */
export type TargetRequest =
  { readonly kind: 'paths' } | { readonly kind: 'settle' } | { readonly kind: 'exit' };

/** Resolves with the first message of `kind`; rejects when the child exits first or at the timeout. */
function reply<K extends TargetMessage['kind']>(
  child: ChildProcess,
  kind: K,
  timeoutMs: number,
  output: () => string,
): Promise<Extract<TargetMessage, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const timer = setTimeout(
      () => (done(), reject(new Error(`brindle-target: no '${kind}' in time`))),
      timeoutMs,
    );
    const onMessage = (m: TargetMessage) => {
      if (m.kind !== kind) return;
      done();
      resolve(m as Extract<TargetMessage, { kind: K }>);
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`brindle-target exited (${code}): ${output().trim().slice(-2000)}`));
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Sends over IPC unless the channel is gone; a send that fails (the child is exiting) is ignored. */
function request(child: ChildProcess, m: TargetRequest): void {
  if (child.connected) child.send(m, (error) => void error);
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const within = (ms: number) =>
    Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
    ]);
  request(child, { kind: 'exit' });
  if (await within(5_000)) return;
  if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  await within(5_000);
}

export const brindleRouter: ReflectorUnderTest = {
  name: 'brindle-router',
  phaseCapSec: 60,
  unavailable: () =>
    Promise.resolve(
      existsSync(ROUTER) ? undefined : 'router not available (src/daemon/router.ts does not exist yet)',
    ),
  async start(setup: ReflectorSetup): Promise<RunningReflector> {
    // BENCH_BRINDLE_NODE_FLAGS: extra Node flags for the target, e.g. "--cpu-prof --cpu-prof-dir=DIR".
    const extraFlags = process.env.BENCH_BRINDLE_NODE_FLAGS?.split(' ').filter((f) => f !== '') ?? [];
    const [command, args] = pinned(process.execPath, [
      '--import',
      'tsx',
      '--expose-gc',
      ...extraFlags,
      TARGET,
      JSON.stringify(setup),
    ]);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let output = '';
    const collect = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT));
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    // A failed spawn or IPC write arrives as 'error': keep it for the message, never let it throw.
    child.on('error', (e) => collect(Buffer.from(`\n[${e.message}]`)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const running = () => child.exitCode === null && child.signalCode === null;
    const stop = () => stopChild(child, exited);
    try {
      await reply(child, 'ready', START_TIMEOUT_MS, () => output);
    } catch (error) {
      await stop();
      throw error;
    }
    const pid = child.pid;
    if (pid === undefined) throw new Error('brindle-target: no pid');
    return {
      pid,
      running,
      output: () => output,
      pathsStored: async () => {
        request(child, { kind: 'paths' });
        return (await reply(child, 'paths', REQUEST_TIMEOUT_MS, () => output)).count;
      },
      settle: async () => {
        request(child, { kind: 'settle' });
        await reply(child, 'settled', REQUEST_TIMEOUT_MS, () => output);
      },
      stop,
    };
  },
};
