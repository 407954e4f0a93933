// FRR 8.4's bgpd as the reflector under test: run alone (`-Z`, no zebra: no FIB, so every next hop is
// valid — a reflector that installs nothing, like the others here), bound to the benchmark's address
// and port, one passive RR-client neighbour per client in one peer group. FRR holds back its first
// advertisements to peers that came up within the last ~10 s (update-group coalescing), so its
// scenarios wait that long after the sessions are up before injecting.
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRR_BGPD } from '../../test/helpers/peers.ts';
import { run } from '../../test/helpers/netns.ts';
import { commandExists, launch } from './reflector.ts';
import type { ReflectorSetup, ReflectorUnderTest, RunningReflector } from './reflector.ts';

const GROUP = 'CLIENTS';

export function frrReflectorConfig(setup: ReflectorSetup): string {
  return [
    'hostname brindle-bench-frr',
    'log stdout warnings',
    `router bgp ${setup.localAs}`,
    ` bgp router-id ${setup.routerId}`,
    ` bgp cluster-id ${setup.clusterId}`,
    ' no bgp default ipv4-unicast',
    ' no bgp ebgp-requires-policy',
    ` neighbor ${GROUP} peer-group`,
    ` neighbor ${GROUP} remote-as ${setup.localAs}`,
    ` neighbor ${GROUP} passive`,
    ` neighbor ${GROUP} timers 80 240`,
    ...setup.clients.map((address) => ` neighbor ${address} peer-group ${GROUP}`),
    ' address-family ipv4 unicast',
    `  neighbor ${GROUP} activate`,
    `  neighbor ${GROUP} route-reflector-client`,
    ' exit-address-family',
    '',
  ].join('\n');
}

interface Summary {
  readonly ipv4Unicast?: { readonly ribCount?: number; readonly peers?: Record<string, unknown> };
}

export const frr: ReflectorUnderTest = {
  name: 'frr',
  phaseCapSec: 60,
  settleAfterEstablishMs: 11_000,
  unavailable: () =>
    Promise.resolve(
      existsSync(FRR_BGPD) && commandExists('vtysh') ? undefined : 'frr not installed (npm run setup:test)',
    ),
  async start(setup: ReflectorSetup): Promise<RunningReflector> {
    const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-frr-'));
    const conf = join(dir, 'bgpd.conf');
    await writeFile(conf, frrReflectorConfig(setup));
    const summary = async (): Promise<Summary> => {
      const argv = ['--vty_socket', dir, '-d', 'bgpd', '-c', 'show bgp summary json'];
      return JSON.parse((await run('vtysh', argv, { timeoutMs: 30_000 })).stdout) as Summary;
    };
    const launched = await launch({
      name: 'frr',
      command: FRR_BGPD,
      // -S: stay root; -P 0: no vty TCP port; --vty_socket: vtysh talks to this instance only.
      args: [
        '-Z',
        '-S',
        '-l',
        setup.address,
        '-p',
        String(setup.port),
        '-f',
        conf,
        '-i',
        join(dir, 'bgpd.pid'),
      ].concat(['--vty_socket', dir, '-P', '0']),
      dir,
      ready: async () => {
        const peers = (await summary().catch((): Summary => ({}))).ipv4Unicast?.peers;
        return peers !== undefined && Object.keys(peers).length === setup.clients.length;
      },
      readyTimeoutMs: 30_000,
    });
    return { ...launched, pathsStored: async () => (await summary()).ipv4Unicast?.ribCount };
  },
};
