/**
 * A real etcd (Debian etcd-server 3.4) for one test: loopback only, free client and peer ports, its own
 * data dir in os.tmpdir(). kill() and restart() keep the data dir and ports, so a test can take etcd
 * away and bring the same cluster back; stop() ends it for good and removes the data dir it created.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, startDaemon, waitFor } from './netns.ts';
import type { Daemon } from './netns.ts';

export interface EtcdOptions {
  /** Reuse this data dir (never removed by stop()); a fresh one in os.tmpdir() when absent. */
  readonly dataDir?: string;
  /** How long start and restart wait for /health; 15 s when absent. */
  readonly readyTimeoutMs?: number;
  /**
   * More addresses to serve clients on besides 127.0.0.1 (e.g. the test's own address on a segment of
   * network namespaces, for daemons inside them); same port.
   */
  readonly clientAddresses?: readonly string[];
}

export interface EtcdHandle {
  /** `http://127.0.0.1:<client port>`, what the store's `endpoints` takes. */
  readonly endpoint: string;
  /** The client port, also served on every extra client address. */
  readonly clientPort: number;
  readonly dataDir: string;
  /** The current process id; changes on restart(). */
  pid(): number;
  running(): boolean;
  /** etcd's recent stdout and stderr, for assertion messages. */
  output(): string;
  /** SIGTERM, then SIGKILL after a grace period; removes the data dir when this helper created it. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); the data dir stays for restart(). */
  kill(): Promise<void>;
  /** Start again on the same data dir and ports (killing the old process first if it still runs). */
  restart(): Promise<void>;
  /** SIGSTOP, resolved once the process is stopped: its sockets stay open but nothing answers. */
  freeze(): Promise<void>;
  /** SIGCONT after freeze(). */
  thaw(): void;
}

const MEMBER_NAME = 'brindle-test';
const START_ATTEMPTS = 3;

/** Start etcd and wait until it answers /health. */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdHandle> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'brindle-etcd-')));
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  try {
    const extra = options.clientAddresses ?? [];
    const { daemon, ports } = await startOnFreePorts(dataDir, readyTimeoutMs, extra);
    return createHandle(daemon, ports, dataDir, ownsDataDir, readyTimeoutMs, extra);
  } catch (error) {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

interface Ports {
  readonly client: number;
  readonly peer: number;
}

/** Another process may take a port between freePort() and etcd's bind, so a failed start is retried. */
async function startOnFreePorts(
  dataDir: string,
  readyTimeoutMs: number,
  clientAddresses: readonly string[],
): Promise<{ daemon: Daemon; ports: Ports }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt += 1) {
    const ports = { client: await freePort(), peer: await freePort() };
    if (ports.client === ports.peer) continue;
    try {
      return { daemon: await launch(dataDir, ports, readyTimeoutMs, clientAddresses), ports };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError instanceof Error ? lastError : new Error('etcd: could not find free ports');
}

function etcdArgs(dataDir: string, ports: Ports, clientAddresses: readonly string[]): string[] {
  const clientUrl = ['127.0.0.1', ...clientAddresses].map((a) => `http://${a}:${ports.client}`).join(',');
  const peerUrl = `http://127.0.0.1:${ports.peer}`;
  return [
    `--name=${MEMBER_NAME}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${MEMBER_NAME}=${peerUrl}`,
    '--initial-cluster-state=new',
    '--logger=zap',
    '--log-level=warn',
  ];
}

/** Spawn etcd and wait for /health; on failure the process is stopped and its output is in the error. */
async function launch(
  dataDir: string,
  ports: Ports,
  readyTimeoutMs: number,
  clientAddresses: readonly string[],
): Promise<Daemon> {
  const daemon = startDaemon('etcd', etcdArgs(dataDir, ports, clientAddresses), {
    name: 'etcd',
    stopTimeoutMs: 5_000,
  });
  let outcome: 'healthy' | 'exited';
  try {
    // An early exit (port taken, bad flags) ends the wait at once instead of after the timeout.
    outcome = await waitFor(
      async () => (daemon.running() ? (await isHealthy(ports.client)) && 'healthy' : 'exited'),
      {
        timeoutMs: readyTimeoutMs,
        intervalMs: 100,
        what: `etcd on 127.0.0.1:${ports.client} to become healthy`,
      },
    );
  } catch (error) {
    await daemon.stop();
    throw new Error(`${(error as Error).message}\n${daemon.output()}`, { cause: error });
  }
  if (outcome === 'exited') throw new Error(`etcd exited during startup:\n${daemon.output()}`);
  return daemon;
}

async function isHealthy(clientPort: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${clientPort}/health`, {
    signal: AbortSignal.timeout(1_000),
  });
  if (!response.ok) return false;
  const body = (await response.json()) as { health?: unknown };
  return body.health === 'true';
}

function createHandle(
  first: Daemon,
  ports: Ports,
  dataDir: string,
  ownsDataDir: boolean,
  readyTimeoutMs: number,
  clientAddresses: readonly string[],
): EtcdHandle {
  let daemon = first;
  const signal = (name: NodeJS.Signals): void => {
    // Only this handle's own etcd, and only while it runs: a recycled pid must never be signalled.
    if (daemon.running()) process.kill(daemon.pid, name);
  };
  const kill = async (): Promise<void> => {
    signal('SIGKILL');
    await daemon.exited;
  };
  const stopProcess = async (): Promise<void> => {
    signal('SIGCONT'); // A frozen etcd would ignore SIGTERM until the grace period ran out.
    await daemon.stop();
  };
  return {
    endpoint: `http://127.0.0.1:${ports.client}`,
    clientPort: ports.client,
    dataDir,
    pid: () => daemon.pid,
    running: () => daemon.running(),
    output: () => daemon.output(),
    kill,
    async freeze() {
      signal('SIGSTOP');
      // Signal delivery is asynchronous: a request sent right after kill() could still be answered.
      await waitFor(() => processState(daemon.pid) === 'T', {
        timeoutMs: 5_000,
        intervalMs: 10,
        what: 'SIGSTOP',
      });
    },
    thaw: () => signal('SIGCONT'),
    async stop() {
      await stopProcess();
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await stopProcess();
      daemon = await launch(dataDir, ports, readyTimeoutMs, clientAddresses);
    },
  };
}

/** The state letter from /proc/PID/stat ('T' once stopped by a signal). */
function processState(pid: number): string | undefined {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces; the state follows it.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}
