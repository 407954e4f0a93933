// Shared by the FIB's namespace tests: a fresh netns per test with veth gateways (both ends inside it,
// so nothing touches the root namespace), the engine in a child process under `ip netns exec`
// (fib-child.ts) driven over stdin, and `ip -N -j route` as the independent view of the kernel.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createNetns, createVeth, inNetns, run, waitFor } from '../helpers/netns.ts';
import type { Cleanup } from '../helpers/netns.ts';
import type { RouteJson, StartCommand } from './fib-child.ts';

export const TABLE = 100;
export const PROTOCOL = 196;

const CHILD = fileURLToPath(new URL('./fib-child.ts', import.meta.url));

/**
 * A namespace with `v0` 10.0.0.1/24 + 2001:db8:0::1/64 and `v1` 10.0.1.1/24 + 2001:db8:1::1/64 (veth
 * pairs whose far ends v0p/v1p sit in the same namespace, up), and with `tunl0` when asked: a tun
 * device standing in for the ipip tunl0 this kernel lacks (platform.md §2).
 */
export async function fibNetns(
  tag: string,
  cleanup: Cleanup,
  options: { tunl0?: boolean } = {},
): Promise<string> {
  const netns = await createNetns(tag, cleanup);
  await createVeth(
    { netns, ifname: 'v0', addresses: ['10.0.0.1/24', '2001:db8::1/64'] },
    { netns, ifname: 'v0p' },
  );
  await createVeth(
    { netns, ifname: 'v1', addresses: ['10.0.1.1/24', '2001:db8:1::1/64'] },
    { netns, ifname: 'v1p' },
  );
  if (options.tunl0) {
    await run('ip', ['-n', netns, 'tuntap', 'add', 'tunl0', 'mode', 'tun']);
    await run('ip', ['-n', netns, 'link', 'set', 'tunl0', 'up']);
  }
  return netns;
}

export interface IpRoute {
  readonly dst: string;
  readonly type?: string;
  readonly gateway?: string;
  readonly dev?: string;
  readonly protocol?: string;
  readonly metric?: number;
  readonly flags: string[];
  readonly nexthops?: { gateway?: string; dev?: string; weight?: number; flags: string[] }[];
}

/** `ip -N -j route show table T` (both families), numbers instead of names for protocols. */
export async function ipRoutes(netns: string, table = TABLE): Promise<IpRoute[]> {
  const routes: IpRoute[] = [];
  for (const family of ['-4', '-6']) {
    const { stdout } = await run('ip', [
      '-n',
      netns,
      '-N',
      '-j',
      family,
      'route',
      'show',
      'table',
      String(table),
    ]).catch((error: { stderr?: string }) => {
      // A table nothing was ever added to (in this family) does not exist yet.
      if (error.stderr?.includes('FIB table does not exist')) return { stdout: '[]' };
      throw error;
    });
    // -N prints the type as a number too: 6 is RTN_BLACKHOLE.
    for (const route of JSON.parse(stdout || '[]') as IpRoute[]) {
      routes.push(route.type === '6' ? { ...route, type: 'blackhole' } : route);
    }
  }
  return routes;
}

export async function ipRoute(netns: string, dst: string, table = TABLE): Promise<IpRoute | undefined> {
  return (await ipRoutes(netns, table)).find((r) => r.dst === dst);
}

/** `ip -n NS <args>`. */
export function ip(netns: string, ...args: string[]): Promise<unknown> {
  return run('ip', ['-n', netns, ...args]);
}

export interface FibChild {
  call<T = unknown>(cmd: string, args?: object): Promise<T>;
  start(command: StartCommand): Promise<Summary>;
  set(...routes: RouteJson[]): Promise<unknown>;
  /** Pushed {"event"} lines so far. */
  readonly events: Record<string, unknown>[];
  output(): string;
  /** Closes stdin (the child exits) and waits. */
  close(): Promise<void>;
}

export interface Summary {
  kept: number;
  added: number;
  replaced: number;
  deleted: number;
  failed: number;
}

export interface ChildStatus {
  status: {
    state: string;
    desired: number;
    installed: number;
    backlog: number;
    inFlight: number;
    failed: number;
  };
  counters: {
    routesWritten: number;
    routesDeleted: number;
    writeFailures: number;
    restored: number;
    resyncs: number;
  };
  failures: {
    prefix: string;
    errno: number;
    code: string;
    message?: string;
    attempts: number;
    retryInMs: number;
  }[];
  backend: { messagesSent: number; datagramsSent: number; eventsReceived: number; overruns: number };
}

export async function startFibChild(netns: string, cleanup: Cleanup): Promise<FibChild> {
  const [file, argv] = inNetns(netns, process.execPath, ['--import=tsx', CHILD]);
  const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env } });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  cleanup.add(async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-32_768)));
  const events: Record<string, unknown>[] = [];
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let ready = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    output = (output + line + '\n').slice(-32_768);
    const message = JSON.parse(line) as {
      id?: number;
      ok?: boolean;
      result?: unknown;
      error?: string;
      event?: string;
    };
    if (message.event === 'ready') ready = true;
    else if (message.event !== undefined) events.push(message);
    const pending = message.id === undefined ? undefined : waiting.get(message.id);
    if (!pending || message.id === undefined) return;
    waiting.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new Error(message.error));
  });
  void exited.then(() => {
    for (const pending of waiting.values()) pending.reject(new Error(`fib child exited: ${output}`));
    waiting.clear();
  });
  await waitFor(() => ready, { timeoutMs: 20_000, intervalMs: 20, what: 'the fib child to start' });
  let nextId = 1;
  const call = <T>(cmd: string, args: object = {}): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  return {
    call,
    start: (command) =>
      call<Summary>('start', {
        ...command,
        options: { table: TABLE, protocol: PROTOCOL, ...command.options },
      }),
    set: (...routes) => call('set', { routes }),
    events,
    output: () => output,
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
