// OpenBGPD 7.7 (Debian's openbgpd, the portable release) as the reflector under test: one group of
// passive neighbours with `route-reflector`, bound to the benchmark's address and port, `fib-update
// no` (nothing reaches the kernel), its control socket in a temp dir for bgpctl. bgpd runs as three
// processes (parent, session engine, route decision engine): CPU time and memory are summed over them.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../test/helpers/netns.ts';
import { launch } from './reflector.ts';
import type { ReflectorSetup, ReflectorUnderTest, RunningReflector } from './reflector.ts';

const BGPD = '/usr/sbin/bgpd';
const BGPCTL = '/usr/sbin/bgpctl';
/** The home of the _openbgpd user, where the session and decision engines chroot; systemd's unit creates it. */
const RUNTIME_DIRECTORY = '/run/openbgpd';

export function openbgpdReflectorConfig(setup: ReflectorSetup, socket: string): string {
  return [
    `AS ${setup.localAs}`,
    `router-id ${setup.routerId}`,
    `listen on ${setup.address} port ${setup.port}`,
    `socket "${socket}"`,
    'fib-update no',
    'group "clients" {',
    `  remote-as ${setup.localAs}`,
    `  route-reflector ${setup.clusterId}`,
    '  passive',
    '  holdtime 240',
    `  local-address ${setup.address}`,
    ...setup.clients.map((address) => `  neighbor ${address}`),
    '}',
    'allow from any',
    'allow to any',
    '',
  ].join('\n');
}

export const openbgpd: ReflectorUnderTest = {
  name: 'openbgpd',
  phaseCapSec: 60,
  unavailable: () =>
    Promise.resolve(
      existsSync(BGPD) && existsSync(BGPCTL) ? undefined : 'openbgpd not installed (npm run setup:test)',
    ),
  async start(setup: ReflectorSetup): Promise<RunningReflector> {
    const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-openbgpd-'));
    const conf = join(dir, 'bgpd.conf');
    const socket = join(dir, 'bgpd.sock');
    await writeFile(conf, openbgpdReflectorConfig(setup, socket), { mode: 0o600 });
    await mkdir(RUNTIME_DIRECTORY, { recursive: true, mode: 0o755 });
    const bgpctl = async (...a: string[]) =>
      (await run(BGPCTL, ['-s', socket, ...a], { timeoutMs: 30_000 })).stdout;
    const launched = await launch({
      name: 'openbgpd',
      command: BGPD,
      args: ['-d', '-f', conf], // -d: stay in the foreground, log to stderr
      dir,
      ready: async () => {
        const summary = await bgpctl('show', 'summary').catch(() => '');
        return summary.split('\n').filter((l) => /^\d/.test(l)).length === setup.clients.length;
      },
      readyTimeoutMs: 30_000,
    });
    return {
      ...launched,
      pathsStored: async () => {
        const match = /(\d+) IPv4 unicast network entries/.exec(await bgpctl('show', 'rib', 'memory'));
        return match ? Number(match[1]) : undefined;
      },
    };
  },
};
