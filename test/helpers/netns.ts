/**
 * Network-namespace and process helpers for tests that run real daemons.
 *
 * Everything here needs root (CAP_NET_ADMIN). Namespace names embed the pid of the test process so
 * parallel runs never share one, and every namespace and daemon created here is also removed by a
 * synchronous last-resort hook when the process exits, even if a test forgot its teardown.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RunOptions {
  /** Run inside this namespace (via `ip netns exec`); the root namespace when absent. */
  readonly netns?: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** `ip netns exec NS cmd args`, or just `cmd args`; ip execs the command, so the pid stays the command's. */
export function inNetns(
  netns: string | undefined,
  command: string,
  args: readonly string[],
): [string, string[]] {
  return netns === undefined ? [command, [...args]] : ['ip', ['netns', 'exec', netns, command, ...args]];
}

/** Run a command to completion (bounded by timeoutMs) and return its output; rejects on a non-zero exit. */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const [file, argv] = inNetns(options.netns, command, args);
  const { stdout, stderr } = await execFileAsync(file, argv, {
    timeout: options.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
    env: options.env,
    cwd: options.cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { stdout, stderr };
}

// ---------------------------------------------------------------------------------------------------
// Cleanup

type Task = () => unknown;

/** LIFO teardown list: run() executes every task even when some fail, then reports the failures. */
export class Cleanup {
  private readonly tasks: Task[] = [];

  add(task: Task): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    while (this.tasks.length > 0) {
      const task = this.tasks.pop();
      try {
        await task?.();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} cleanup task(s) failed`);
  }
}

/** A Cleanup whose tasks run in the test's teardown (works with ava's `t`). */
export function withCleanup(t: { teardown(fn: () => Promise<void>): void }): Cleanup {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  return cleanup;
}

// Last resort for a crash or a forgotten teardown: only sync calls work in an 'exit' handler.
const liveNamespaces = new Set<string>();
const livePids = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of livePids) killQuietly(pid, 'SIGKILL');
    for (const name of liveNamespaces) {
      try {
        execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore', timeout: 5_000 });
      } catch {
        // Already gone.
      }
    }
  });
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // The process has already exited.
  }
}

// ---------------------------------------------------------------------------------------------------
// Namespaces

const NAME_PREFIX = 'brindle';

/** `brindle-<pid>-<tag>`: unique per test process. */
export function netnsName(tag: string): string {
  return `${NAME_PREFIX}-${process.pid}-${tag}`;
}

/** Create a namespace with `lo` up and IPv6 DAD off for every interface created in it later. */
export async function createNetns(tag: string, cleanup?: Cleanup): Promise<string> {
  const name = netnsName(tag);
  installExitHook();
  await run('ip', ['netns', 'add', name]);
  liveNamespaces.add(name);
  cleanup?.add(() => deleteNetns(name));
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  await disableDad(name, ['all', 'default']);
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  liveNamespaces.delete(name);
  await run('ip', ['netns', 'delete', name]).catch(() => undefined);
}

/** Namespaces left by earlier runs of this helper whose process no longer exists. */
export async function deleteStaleNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  const stale = stdout
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => {
      const match = new RegExp(`^${NAME_PREFIX}-(\\d+)-`).exec(name);
      return match !== null && !processExists(Number(match[1]));
    });
  for (const name of stale) await deleteNetns(name);
  return stale;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function disableDad(netns: string | undefined, interfaces: readonly string[]): Promise<void> {
  const settings = interfaces.map((i) => `net.ipv6.conf.${i}.accept_dad=0`);
  await run('sysctl', ['-q', '-w', ...settings], { netns });
}

export interface VethEnd {
  /** Namespace of this end; the root namespace when absent. */
  readonly netns?: string;
  /** Interface name (at most 15 characters). Defaults to a pid-based name, unique in the root namespace. */
  readonly ifname?: string;
  /** Addresses with prefix length, IPv4 or IPv6, e.g. `192.0.2.1/24`, `2001:db8::1/64`. */
  readonly addresses?: readonly string[];
}

let vethCounter = 0;

function defaultIfname(side: 'a' | 'b'): string {
  return `bv${process.pid % 10_000_000}${vethCounter}${side}`.slice(0, 15);
}

/**
 * Create a veth pair between two namespaces (either may be the root namespace), with DAD disabled
 * before any address is added so IPv6 addresses are usable at once. Returns the two interface names.
 * Deleting either namespace deletes the pair.
 */
export async function createVeth(a: VethEnd, b: VethEnd, cleanup?: Cleanup): Promise<[string, string]> {
  vethCounter += 1;
  const nameA = a.ifname ?? defaultIfname('a');
  const nameB = b.ifname ?? defaultIfname('b');
  const nsArg = (end: VethEnd): string[] => (end.netns === undefined ? [] : ['netns', end.netns]);
  // Creating each end directly in its namespace means names only need to be unique there.
  await run('ip', ['link', 'add', nameA, ...nsArg(a), 'type', 'veth', 'peer', 'name', nameB, ...nsArg(b)]);
  if (a.netns === undefined) cleanup?.add(() => run('ip', ['link', 'delete', nameA]).catch(() => undefined));
  else if (b.netns === undefined)
    cleanup?.add(() => run('ip', ['link', 'delete', nameB]).catch(() => undefined));
  await configureEnd(a, nameA);
  await configureEnd(b, nameB);
  return [nameA, nameB];
}

async function configureEnd(end: VethEnd, ifname: string): Promise<void> {
  const ns = end.netns === undefined ? [] : ['-n', end.netns];
  await disableDad(end.netns, [ifname]);
  for (const address of end.addresses ?? []) {
    const v6 = address.includes(':');
    await run('ip', [
      ...ns,
      v6 ? '-6' : '-4',
      'addr',
      'add',
      address,
      'dev',
      ifname,
      ...(v6 ? ['nodad'] : []),
    ]);
  }
  await run('ip', [...ns, 'link', 'set', ifname, 'up']);
}

/** Add more addresses to an existing interface (e.g. one source address per test session). */
export async function addAddresses(netns: string | undefined, ifname: string, addresses: readonly string[]) {
  await configureEnd({ netns, addresses }, ifname);
}

export interface LinkedNetnsOptions {
  readonly tag: string;
  /** The namespace at the other end of the veth; the root namespace when absent. */
  readonly peerNetns?: string;
  /** Addresses inside the new namespace. */
  readonly addresses: readonly string[];
  /** Addresses on the other end. */
  readonly peerAddresses?: readonly string[];
  readonly ifname?: string;
  readonly peerIfname?: string;
}

/** A new namespace joined by a veth pair to another namespace (or to the root namespace). */
export async function createLinkedNetns(
  options: LinkedNetnsOptions,
  cleanup?: Cleanup,
): Promise<{ netns: string; ifname: string; peerIfname: string }> {
  const netns = await createNetns(options.tag, cleanup);
  const [ifname, peerIfname] = await createVeth(
    { netns, ifname: options.ifname ?? 'eth0', addresses: options.addresses },
    { netns: options.peerNetns, ifname: options.peerIfname, addresses: options.peerAddresses },
    cleanup,
  );
  return { netns, ifname, peerIfname };
}

// ---------------------------------------------------------------------------------------------------
// Polling

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Named in the timeout error. */
  readonly what?: string;
}

/**
 * Poll `probe` until it returns something other than undefined/false/null, at most timeoutMs and at most
 * timeoutMs/intervalMs + 1 attempts. A throwing probe counts as "not yet"; its last error is reported.
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions,
): Promise<T> {
  const interval = options.intervalMs ?? 100;
  const deadline = Date.now() + options.timeoutMs;
  const maxAttempts = Math.ceil(options.timeoutMs / interval) + 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < maxAttempts; attempt += 1) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(
    `timed out after ${options.timeoutMs} ms waiting for ${options.what ?? 'condition'}${detail}`,
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A TCP port that is free on 127.0.0.1 right now (the root namespace's loopback). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Daemons

export interface DaemonOptions extends RunOptions {
  /** Used in messages. */
  readonly name: string;
  /** Grace period between SIGTERM and SIGKILL in stop(). */
  readonly stopTimeoutMs?: number;
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (or null after a signal) when the process ends. */
  readonly exited: Promise<number | null>;
  running(): boolean;
  /** The last 64 KiB of stdout and stderr, for diagnostics. */
  output(): string;
  /** SIGTERM, then SIGKILL after the grace period; only this daemon's own pid is signalled. */
  stop(): Promise<void>;
}

const OUTPUT_LIMIT = 64 * 1024;

/** Start a long-running process (in a namespace or not) in the foreground of a child process. */
export function startDaemon(
  command: string,
  args: readonly string[],
  options: DaemonOptions,
  cleanup?: Cleanup,
): Daemon {
  const [file, argv] = inNetns(options.netns, command, args);
  const child = spawn(file, argv, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name}: could not start ${command}`);
  installExitHook();
  livePids.add(pid);
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = exitOf(child).finally(() => livePids.delete(pid));
  let done = false;
  void exited.then(() => (done = true));
  const daemon: Daemon = {
    name: options.name,
    pid,
    exited,
    running: () => !done,
    output: () => output,
    stop: () => stopProcess(pid, exited, () => done, options.stopTimeoutMs ?? 5_000),
  };
  cleanup?.add(() => daemon.stop());
  return daemon;
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (code) => resolve(code));
  });
}

async function stopProcess(
  pid: number,
  exited: Promise<number | null>,
  isDone: () => boolean,
  graceMs: number,
): Promise<void> {
  if (isDone()) return;
  killQuietly(pid, 'SIGTERM');
  if (await settlesWithin(exited, graceMs)) return;
  killQuietly(pid, 'SIGKILL');
  if (!(await settlesWithin(exited, 5_000))) throw new Error(`process ${pid} survived SIGKILL`);
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
