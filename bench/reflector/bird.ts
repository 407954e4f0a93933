// BIRD 2 as the reflector under test: one `protocol bgp` per client from a template, passive, RR
// client, bound to the benchmark's loopback address and port.
//
// Next hops: BIRD resolves iBGP next hops recursively (`gateway recursive`; `gateway direct` is refused
// for multihop iBGP) through the channel's `igp table`. The generator's next hops are 100.65.x.y, which
// no interface here holds. BIRD 2.0.12 would still reflect such routes unchanged (tried: they show as
// "unreachable" in `show route` yet stay best and are exported with their NEXT_HOP), but a reflector
// in production resolves its next hops, so the IGP table gets one static device route,
// 100.64.0.0/10 via "lo": every route is "unicast dev lo" as on a real node. iBGP to a client keeps
// the NEXT_HOP; with no `protocol kernel` nothing ever reaches the kernel's FIB.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../test/helpers/netns.ts';
import { commandExists, launch } from './reflector.ts';
import type { ReflectorSetup, ReflectorUnderTest, RunningReflector } from './reflector.ts';

export function birdReflectorConfig(setup: ReflectorSetup): string {
  const clients = setup.clients.map(
    (address, i) => `protocol bgp c${i} from rr_client { neighbor ${address} as ${setup.localAs}; }`,
  );
  return [
    'log stderr { warning, error, fatal, bug };',
    `router id ${setup.routerId};`,
    'ipv4 table igp4;',
    'protocol device {}',
    // The IGP table that makes the generator's next hops resolvable (see the file comment).
    'protocol static next_hops { ipv4 { table igp4; }; route 100.64.0.0/10 via "lo"; }',
    'template bgp rr_client {',
    `  local ${setup.address} port ${setup.port} as ${setup.localAs};`,
    '  strict bind yes;',
    '  passive on;',
    '  hold time 240;',
    '  rr client;',
    `  rr cluster id ${setup.clusterId};`,
    '  ipv4 { import all; export all; igp table igp4; };',
    '}',
    ...clients,
    '',
  ].join('\n');
}

export const bird2: ReflectorUnderTest = {
  name: 'bird2',
  phaseCapSec: 60,
  unavailable: () =>
    Promise.resolve(commandExists('bird') ? undefined : 'bird not installed (npm run setup:test)'),
  async start(setup: ReflectorSetup): Promise<RunningReflector> {
    const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-bird-'));
    const conf = join(dir, 'bird.conf');
    const socket = join(dir, 'bird.ctl');
    await writeFile(conf, birdReflectorConfig(setup));
    const birdc = async (...a: string[]) =>
      (await run('birdc', ['-s', socket, ...a], { timeoutMs: 30_000 })).stdout;
    const launched = await launch({
      name: 'bird',
      command: 'bird',
      args: ['-f', '-c', conf, '-s', socket, '-P', join(dir, 'bird.pid')],
      dir,
      ready: async () => /Daemon is up/.test(await birdc('show', 'status').catch(() => '')),
      readyTimeoutMs: 15_000,
    });
    return {
      ...launched,
      pathsStored: async () => {
        const out = await birdc('show', 'route', 'table', 'master4', 'count');
        const match = /(\d+) of \d+ routes/.exec(out);
        return match ? Number(match[1]) : undefined;
      },
    };
  },
};
