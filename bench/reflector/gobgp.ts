// GoBGP 3 as the reflector under test: one passive RR-client neighbour per client, bound to the
// benchmark's loopback address and port; its gRPC API on a free 127.0.0.1 port. GoBGP sends one prefix
// per UPDATE and is about 100 times slower than BIRD as a reflector here, so its phases get a longer
// cap and are reported as unfinished past it rather than waited for.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, run } from '../../test/helpers/netns.ts';
import { commandExists, launch } from './reflector.ts';
import type { ReflectorSetup, ReflectorUnderTest, RunningReflector } from './reflector.ts';

const CAP_SEC = Number(process.env.BENCH_GOBGP_CAP_SEC ?? 120);
/** S3, S4 and S5 are left out unless asked for: see skip() below. */
const RUN_ALL = process.env.BENCH_GOBGP_ALL === '1';
const TOO_MANY_UPDATES: Partial<Record<string, string>> = {
  S3: '5M one-prefix UPDATEs (500k to 10 clients)',
  S4: '4M one-prefix UPDATEs (3,996 blocks to 1,000 clients)',
  S5: '10M one-prefix UPDATEs (10k to 1,000 clients)',
};

function neighbor(setup: ReflectorSetup, address: string): string {
  return [
    '[[neighbors]]',
    '  [neighbors.config]',
    `    neighbor-address = "${address}"`,
    `    peer-as = ${setup.localAs}`,
    '  [neighbors.transport.config]',
    `    local-address = "${setup.address}"`,
    '    passive-mode = true',
    '  [neighbors.timers.config]',
    '    hold-time = 240',
    '  [neighbors.route-reflector.config]',
    '    route-reflector-client = true',
    `    route-reflector-cluster-id = "${setup.clusterId}"`,
    '  [[neighbors.afi-safis]]',
    '    [neighbors.afi-safis.config]',
    '      afi-safi-name = "ipv4-unicast"',
  ].join('\n');
}

export function gobgpReflectorConfig(setup: ReflectorSetup): string {
  return [
    '[global.config]',
    `  as = ${setup.localAs}`,
    `  router-id = "${setup.routerId}"`,
    `  port = ${setup.port}`,
    `  local-address-list = ["${setup.address}"]`,
    '',
    ...setup.clients.map((address) => neighbor(setup, address)),
    '',
  ].join('\n');
}

export const gobgp: ReflectorUnderTest = {
  name: 'gobgp',
  phaseCapSec: CAP_SEC,
  // Measured here: GoBGP delivers about 30,000 one-prefix UPDATEs a second as a reflector (1,000,000
  // prefixes to 2 clients had not converged after 120 s, 83 % delivered, at 2.4 GiB RSS).
  skip: (scenario) => {
    const why = RUN_ALL ? undefined : TOO_MANY_UPDATES[scenario];
    return why === undefined ? undefined : `${why} take GoBGP minutes per phase (BENCH_GOBGP_ALL=1 runs it)`;
  },
  unavailable: () =>
    Promise.resolve(commandExists('gobgpd') ? undefined : 'gobgpd not installed (npm run setup:test)'),
  async start(setup: ReflectorSetup): Promise<RunningReflector> {
    const dir = await mkdtemp(join(tmpdir(), 'brindle-bench-gobgp-'));
    const conf = join(dir, 'gobgpd.toml');
    await writeFile(conf, gobgpReflectorConfig(setup));
    const apiPort = await freePort();
    const cli = async (...a: string[]) =>
      (await run('gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), ...a], { timeoutMs: 30_000 })).stdout;
    const launched = await launch({
      name: 'gobgpd',
      command: 'gobgpd',
      args: [
        '-f',
        conf,
        '-t',
        'toml',
        '--api-hosts',
        `127.0.0.1:${apiPort}`,
        '--pprof-disable',
        '-l',
        'warn',
      ],
      dir,
      // The neighbours are configured once the API lists them all.
      ready: async () => {
        const listed = (await cli('neighbor').catch(() => '')).split('\n').filter((l) => /^\s*127\./.test(l));
        return listed.length === setup.clients.length;
      },
      readyTimeoutMs: 30_000,
    });
    return {
      ...launched,
      pathsStored: async () => {
        const match = /Path:\s*(\d+)/.exec(await cli('global', 'rib', 'summary', '-a', 'ipv4'));
        return match ? Number(match[1]) : undefined;
      },
    };
  },
};
