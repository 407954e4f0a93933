// Graceful restart scenarios against real peers (test/interop/graceful-restart.test.ts,
// planned-restart.test.ts): a `bin/brindle` with a config and resources written to a temp dir, its
// clients' RIBs read with their own CLIs (birdc, gobgp) and sampled every 100 ms across a restart,
// BGP blocked in a client's namespace, and Brindle's kernel routes in a node's namespace.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brindlectl, cleanEnv } from './brindle.ts';
import type { Lan } from './lan.ts';
import { run, sleep, startDaemon } from './netns.ts';
import type { Cleanup, Daemon } from './netns.ts';
import type { BirdHandle, GobgpHandle } from './peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Brindle's route protocol number (fib.protocol's default). */
const PROTO = '205';

export type BrindleMode = 'reflector' | 'node';

export interface ScenarioDaemon {
  /** The daemon config file (its dir holds the store, the socket and the restart state file). */
  readonly config: string;
  readonly dir: string;
}

function configText(lan: Lan, index: number, dir: string, mode: BrindleMode): string {
  return [
    `mode: ${mode}`,
    'nodeName: rr1',
    `node: { ipv4Address: ${lan.address4(index)}/24 }`,
    `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
    `bgp: { listenAddress: ${lan.address4(index)}, listenPort: 179, restartStateFile: ${join(dir, 'restart-state')}, selectionDeferralTimeSec: 120 }`,
    `api: { listen: '127.0.0.1:0', socket: ${join(dir, 'brindle.sock')} }`,
    'log: { level: info, format: json }',
    `fib: { enabled: ${mode === 'node'} }`,
    '',
  ].join('\n');
}

export const resource = (kind: string, name: string, spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: { name },
  spec,
});

/** Writes the daemon config (Brindle at host `index` of the LAN) and applies the resources. */
export async function brindleConfig(
  lan: Lan,
  index: number,
  cleanup: Cleanup,
  mode: BrindleMode,
  objects: readonly object[],
): Promise<ScenarioDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-grr-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'brindle.yaml');
  await writeFile(config, configText(lan, index, dir, mode));
  const file = join(dir, 'resources.yaml');
  await writeFile(file, objects.map((r) => JSON.stringify(r)).join('\n---\n'));
  await brindlectl(config, 'apply', '-f', file);
  return { config, dir };
}

/** `node bin/brindle --config FILE`, in `netns` when given. */
export function startBrindle(config: string, cleanup: Cleanup, netns?: string): Daemon {
  return startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', config],
    { name: 'brindle', cwd: ROOT, env: cleanEnv(), netns },
    cleanup,
  );
}

/** The prefixes of each client's IPv4 RIB, from its own CLI. */
export async function birdPrefixes(bird: BirdHandle): Promise<string[]> {
  const text = await bird.birdc('show', 'route', 'table', 'master4');
  return [...text.matchAll(/^(\d+\.\d+\.\d+\.\d+\/\d+)/gm)].map((m) => m[1]).sort();
}

export async function gobgpPrefixes(gobgp: GobgpHandle): Promise<string[]> {
  const text = await gobgp.gobgp('global', 'rib', '-a', 'ipv4');
  return [...new Set([...text.matchAll(/(\d+\.\d+\.\d+\.\d+\/\d+)/g)].map((m) => m[1]))].sort();
}

/** GoBGP's count of UPDATEs received from Brindle (End-of-RIB is one), from `gobgp neighbor ADDR`. */
export async function gobgpUpdatesReceived(gobgp: GobgpHandle, brindle: string): Promise<number> {
  const text = await gobgp.gobgp('neighbor', brindle);
  const match = /^\s*Updates:\s+(\d+)\s+(\d+)/m.exec(text);
  if (!match) throw new Error(`no Update counters in: ${text}`);
  return Number(match[2]);
}

/**
 * Samples both clients' RIBs every 100 ms until stopped (at most `limitMs`); a sample that is not
 * `expected` is recorded with the phase the test was in.
 */
export class RibWatch {
  readonly losses: string[] = [];
  samples = 0;
  /** What the test is doing now, for the record of a loss. */
  phase = 'before the kill';
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly clients: { readonly bird: BirdHandle; readonly gobgp: GobgpHandle },
    private readonly expected: readonly string[],
    limitMs: number,
  ) {
    // A client gone (the test failed and its cleanup ran) ends the sampling with a record, not a throw.
    this.done = this.sample(Date.now(), Date.now() + limitMs).catch((error: unknown) => {
      this.losses.push(`sampling stopped: ${String(error)}`);
    });
  }

  private async sample(started: number, until: number): Promise<void> {
    const want = this.expected.join();
    while (!this.stopped && Date.now() < until) {
      const [b, g] = await Promise.all([birdPrefixes(this.clients.bird), gobgpPrefixes(this.clients.gobgp)]);
      this.samples += 1;
      const at = `${Date.now() - started} ms ${this.phase}`;
      if (b.join() !== want) this.losses.push(`${at}: bird has ${b.join(' ')}`);
      if (g.join() !== want) this.losses.push(`${at}: gobgp has ${g.join(' ')}`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** Drops (or, `on` false, accepts again) TCP port 179 in the namespace. */
export async function blockBgp(netns: string | undefined, on: boolean): Promise<void> {
  const rule = ['INPUT', '-p', 'tcp', '--dport', '179', '-j', 'DROP'];
  await run('iptables', [on ? '-I' : '-D', ...rule], { netns });
}

/** Brindle's kernel routes in the node's namespace. */
export async function kernelRoutes(netns: string | undefined): Promise<string[]> {
  const { stdout } = await run('ip', ['-4', 'route', 'show', 'proto', PROTO], { netns });
  return [...stdout.matchAll(/^(\S+)/gm)].map((m) => m[1]).sort();
}
