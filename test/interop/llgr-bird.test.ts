// Long-lived graceful restart (RFC 9494) between `bin/brindle` and BIRD 2, both ways, IPv4. BIRD runs
// in a namespace of its own with `graceful restart on; long lived graceful restart on`, Brindle in the
// root namespace (node mode without a kernel FIB; it originates a service range) with a BGPPeer of
// `restartMode: LongLivedGracefulRestart`, each side announcing a restart time of 3 s and a long-lived
// stale time of 15 s:
// - BIRD is SIGKILLed: Brindle keeps its route unchanged for the restart time, then LLGR-stale (stale,
//   LLGR_STALE attached: `brindlectl routes`), and removes it when the long-lived stale time ends;
// - Brindle is SIGKILLed: BIRD keeps Brindle's route, shows it with the LLGR_STALE community (65535,6)
//   after the restart time (`birdc show route all`), removes it when the stale time ends, and takes it
//   fresh again when Brindle comes back.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brindlectl, cleanEnv } from '../helpers/brindle.ts';
import { interopNetwork } from '../helpers/interop.ts';
import type { InteropNetwork } from '../helpers/interop.ts';
import { Cleanup, startDaemon, waitFor } from '../helpers/netns.ts';
import type { Daemon } from '../helpers/netns.ts';
import { startBird } from '../helpers/peers.ts';
import type { BirdHandle } from '../helpers/peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NET_INDEX = 68;
const AS = 64512;
const RESTART_TIME_SEC = 3;
const STALE_TIME_SEC = 15;
/** BIRD's route to Brindle. */
const BIRD_ROUTE = '198.51.100.0/24';
/** Brindle's route to BIRD: a serviceClusterIPs range, which a node originates. */
const BRINDLE_ROUTE = '10.96.0.0/16';
/** RFC 9494 §2 LLGR_STALE as `brindlectl routes -o json` and `birdc` write it. */
const LLGR_STALE = '65535:6';
const BIRD_LLGR_STALE = /\(65535,\s*6\)/;

let net: InteropNetwork | undefined;
test.before(async () => {
  net = await interopNetwork(NET_INDEX, 'llb');
});
test.after.always(async () => {
  await net?.cleanup.run();
});

const resource = (kind: string, name: string, spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: { name },
  spec,
});

interface Setup {
  readonly cleanup: Cleanup;
  readonly config: string;
  readonly bird: BirdHandle;
}

/** BIRD in the namespace (passive, announcing BIRD_ROUTE) and Brindle's config and resources. */
async function setup(t: ExecutionContext): Promise<Setup> {
  const n = net!;
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const bird = await startBird(
    {
      netns: n.netns,
      routerId: '10.255.68.2',
      localAddress: n.peer4,
      asn: AS,
      neighbors: [
        {
          address: n.brindle4,
          asn: AS,
          passive: true,
          families: ['ipv4'],
          gracefulRestart: true,
          restartTime: RESTART_TIME_SEC,
          longLivedStaleTime: STALE_TIME_SEC,
        },
      ],
      staticRoutes: [{ prefix: BIRD_ROUTE }],
    },
    cleanup,
  );
  const dir = await mkdtemp(join(tmpdir(), 'brindle-llgr-bird-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'brindle.yaml');
  await writeFile(
    config,
    [
      'mode: node',
      'nodeName: brindle',
      `node: { ipv4Address: ${n.brindle4}/24 }`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `bgp: { listenAddress: ${n.brindle4}, listenPort: 179, llgrRestartTimeSec: ${RESTART_TIME_SEC} }`,
      `api: { listen: '127.0.0.1:0', socket: ${join(dir, 'brindle.sock')} }`,
      'log: { level: info, format: json }',
      'fib: { enabled: false }',
      '',
    ].join('\n'),
  );
  const objects = [
    resource('BGPConfiguration', 'default', {
      asNumber: AS,
      nodeToNodeMeshEnabled: false,
      serviceClusterIPs: [{ cidr: BRINDLE_ROUTE }],
    }),
    resource('Node', 'brindle', { bgp: { ipv4Address: `${n.brindle4}/24` } }),
    resource('BGPPeer', 'bird', {
      peerIP: n.peer4,
      asNumber: AS,
      restartMode: 'LongLivedGracefulRestart',
      maxRestartTime: `${STALE_TIME_SEC}s`,
    }),
  ];
  const file = join(dir, 'resources.yaml');
  await writeFile(file, objects.map((r) => JSON.stringify(r)).join('\n---\n'));
  await brindlectl(config, 'apply', '-f', file);
  return { cleanup, config, bird };
}

function startBrindle(s: Setup): Daemon {
  return startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', s.config],
    { name: 'brindle', cwd: ROOT, env: cleanEnv() },
    s.cleanup,
  );
}

/** Both sides Established, each holding the other's route. */
async function converged(t: ExecutionContext, s: Setup, brindle: Daemon): Promise<void> {
  try {
    await s.bird.waitEstablished(net!.brindle4, 45_000);
    await waitFor(async () => (await brindlePaths(s)).length === 1, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: "BIRD's route in Brindle's Loc-RIB",
    });
    await waitFor(async () => (await birdRoute(s)) !== undefined, {
      timeoutMs: 15_000,
      intervalMs: 200,
      what: "Brindle's route in BIRD's table",
    });
  } catch (error) {
    t.log(s.bird.daemon.output().slice(-3000));
    t.log(brindle.output().slice(-3000));
    throw error;
  }
}

interface PathView {
  readonly stale?: boolean;
  readonly attributes: { readonly communities?: readonly string[] };
}

/** Brindle's paths to BIRD_ROUTE, from `brindlectl routes -o json`. */
async function brindlePaths(s: Setup): Promise<readonly PathView[]> {
  const doc = JSON.parse(await brindlectl(s.config, 'routes', BIRD_ROUTE, '-o', 'json')) as {
    routes: { prefix: string; paths: PathView[] }[];
  };
  return doc.routes.find((r) => r.prefix === BIRD_ROUTE)?.paths ?? [];
}

/** BIRD's `show route all` of BRINDLE_ROUTE, or undefined when BIRD has no such route. */
async function birdRoute(s: Setup): Promise<string | undefined> {
  // birdc exits non-zero when it says "Network not found".
  const text = await s.bird.birdc('show', 'route', BRINDLE_ROUTE, 'all').catch((e: { stdout?: string }) => {
    if (e.stdout?.includes('Network not found')) return '';
    throw e;
  });
  return text.includes(BRINDLE_ROUTE) ? text : undefined;
}

const secondsSince = (at: number): number => (Date.now() - at) / 1000;

test.serial(
  'BIRD dies: Brindle keeps its route, LLGR-stale after the restart time, gone after the stale time',
  async (t) => {
    const s = await setup(t);
    const brindle = startBrindle(s);
    await converged(t, s, brindle);

    process.kill(s.bird.daemon.pid, 'SIGKILL');
    const killedAt = Date.now();
    await s.bird.daemon.exited;
    // RFC 4724 §4.2: kept and stale, its attributes unchanged, through the restart time.
    const [kept] = await waitFor(
      async () => {
        const paths = await brindlePaths(s);
        return paths.length === 1 && paths[0].stale === true ? paths : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 100, what: 'the route to be kept stale' },
    );
    const keptAfterSec = secondsSince(killedAt);
    if (keptAfterSec < RESTART_TIME_SEC - 0.5)
      t.false(
        (kept.attributes.communities ?? []).includes(LLGR_STALE),
        'no LLGR_STALE within the restart time',
      );

    // RFC 9494 §4.2: then LLGR_STALE attached, still there.
    await waitFor(
      async () => (await brindlePaths(s)).some((p) => (p.attributes.communities ?? []).includes(LLGR_STALE)),
      {
        timeoutMs: (RESTART_TIME_SEC + 10) * 1000,
        intervalMs: 200,
        what: 'LLGR_STALE on the kept route',
      },
    );
    const llgrAfterSec = secondsSince(killedAt);
    await waitFor(async () => (await brindlePaths(s)).length === 0, {
      timeoutMs: (STALE_TIME_SEC + 15) * 1000,
      intervalMs: 200,
      what: 'the route to go when the long-lived stale time ends',
    });
    const goneAfterSec = secondsSince(killedAt);
    t.log(
      `stale ${keptAfterSec.toFixed(1)} s, LLGR_STALE ${llgrAfterSec.toFixed(1)} s, gone ${goneAfterSec.toFixed(1)} s after the kill`,
    );
    t.true(llgrAfterSec >= RESTART_TIME_SEC - 0.2, 'LLGR-stale only after the restart time');
    t.true(
      goneAfterSec >= RESTART_TIME_SEC + STALE_TIME_SEC - 0.5,
      'kept until the long-lived stale time ended',
    );
    t.regex(brindle.output(), /"event":"llgr-stale"/);
  },
);

test.serial(
  'Brindle dies: BIRD keeps its route, LLGR_STALE after the restart time, gone after the stale time, fresh when Brindle is back',
  async (t) => {
    const s = await setup(t);
    let brindle = startBrindle(s);
    await converged(t, s, brindle);
    const before = (await birdRoute(s))!;
    t.notRegex(before, BIRD_LLGR_STALE);

    process.kill(brindle.pid, 'SIGKILL');
    const killedAt = Date.now();
    await brindle.exited;
    await waitFor(async () => !/Established/.test(await s.bird.birdc('show', 'protocols', 'n0')), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'BIRD to see the session down',
    });
    const within = await birdRoute(s);
    const withinSec = secondsSince(killedAt);
    t.truthy(within, 'BIRD keeps the route through the restart time');
    if (withinSec < RESTART_TIME_SEC - 0.5) t.notRegex(within ?? '', BIRD_LLGR_STALE, 'not LLGR-stale yet');

    const llgr = await waitFor(
      async () => {
        const text = await birdRoute(s);
        return text !== undefined && BIRD_LLGR_STALE.test(text) ? text : undefined;
      },
      {
        timeoutMs: (RESTART_TIME_SEC + 10) * 1000,
        intervalMs: 200,
        what: 'BIRD to show the route with LLGR_STALE',
      },
    );
    const llgrAfterSec = secondsSince(killedAt);
    t.log(llgr.trim());
    await waitFor(async () => (await birdRoute(s)) === undefined, {
      timeoutMs: (STALE_TIME_SEC + 15) * 1000,
      intervalMs: 200,
      what: 'BIRD to remove the route when the long-lived stale time ends',
    });
    const goneAfterSec = secondsSince(killedAt);
    t.log(
      `BIRD: within the restart time at ${withinSec.toFixed(1)} s, LLGR_STALE ${llgrAfterSec.toFixed(1)} s, gone ${goneAfterSec.toFixed(1)} s after the kill`,
    );
    t.true(llgrAfterSec >= RESTART_TIME_SEC - 0.2, 'LLGR-stale only after the restart time');
    t.true(
      goneAfterSec >= RESTART_TIME_SEC + STALE_TIME_SEC - 0.5,
      'kept until the long-lived stale time ended',
    );

    brindle = startBrindle(s);
    await converged(t, s, brindle);
    t.notRegex((await birdRoute(s))!, BIRD_LLGR_STALE, 'fresh again once Brindle is back');
  },
);
