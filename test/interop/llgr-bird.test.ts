// Long-lived graceful restart (RFC 9494) between `bin/brindle` and BIRD 2, both ways, IPv4 and IPv6.
// Two BIRDs run in a namespace, one per family as Calico runs bird and bird6, each with
// `graceful restart on; long lived graceful restart on`; Brindle runs in the root namespace (node
// mode without a kernel FIB; it originates a service range of each family) with a BGPPeer per BIRD
// of `restartMode: LongLivedGracefulRestart`, each side announcing a restart time of 3 s and a
// long-lived stale time of 15 s:
// - the BIRDs are SIGKILLed: Brindle keeps their routes unchanged for the restart time, then
//   LLGR-stale (stale, LLGR_STALE attached: `brindlectl routes`), and removes them when the
//   long-lived stale time ends;
// - Brindle is SIGKILLed: each BIRD keeps Brindle's route, shows it with the LLGR_STALE community
//   (65535,6) after the restart time (`birdc show route all`), removes it when the stale time ends,
//   and takes it fresh again when Brindle comes back.
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
/** RFC 9494 §2 LLGR_STALE as `brindlectl routes -o json` and `birdc` write it. */
const LLGR_STALE = '65535:6';
const BIRD_LLGR_STALE = /\(65535,\s*6\)/;

/** One session per family, with the route each side announces on it. */
interface Family {
  readonly name: 'IPv4' | 'IPv6';
  readonly family: 'ipv4' | 'ipv6';
  /** BIRD's route to Brindle. */
  readonly birdRoute: string;
  /** Brindle's route to BIRD: a serviceClusterIPs range, which a node originates. */
  readonly brindleRoute: string;
  readonly brindle: (n: InteropNetwork) => string;
  readonly bird: (n: InteropNetwork) => string;
}

const FAMILIES: readonly Family[] = [
  {
    name: 'IPv4',
    family: 'ipv4',
    birdRoute: '198.51.100.0/24',
    brindleRoute: '10.96.0.0/16',
    brindle: (n) => n.brindle4,
    bird: (n) => n.peer4,
  },
  {
    name: 'IPv6',
    family: 'ipv6',
    birdRoute: '2001:db8:100::/48',
    brindleRoute: 'fd00:96::/112',
    brindle: (n) => n.brindle6,
    bird: (n) => n.peer6,
  },
];

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
  /** One BIRD per family, in FAMILIES' order. */
  readonly birds: readonly BirdHandle[];
}

/** The BIRD of family `f` in the namespace: passive, announcing f.birdRoute. */
function startFamilyBird(n: InteropNetwork, f: Family, cleanup: Cleanup): Promise<BirdHandle> {
  return startBird(
    {
      netns: n.netns,
      routerId: f.family === 'ipv4' ? '10.255.68.2' : '10.255.68.6',
      localAddress: f.bird(n),
      asn: AS,
      neighbors: [
        {
          address: f.brindle(n),
          asn: AS,
          passive: true,
          families: [f.family],
          gracefulRestart: true,
          restartTime: RESTART_TIME_SEC,
          longLivedStaleTime: STALE_TIME_SEC,
        },
      ],
      staticRoutes: [{ prefix: f.birdRoute }],
    },
    cleanup,
  );
}

function brindleConfig(n: InteropNetwork, dir: string): string {
  return [
    'mode: node',
    'nodeName: brindle',
    `node: { ipv4Address: ${n.brindle4}/24, ipv6Address: '${n.brindle6}/64' }`,
    `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
    // The BIRDs are passive: Brindle connects, from its node address of each family.
    `bgp: { listenAddress: ${n.brindle4}, listenPort: 179, llgrRestartTimeSec: ${RESTART_TIME_SEC} }`,
    `api: { listen: '127.0.0.1:0', socket: ${join(dir, 'brindle.sock')} }`,
    'log: { level: info, format: json }',
    'fib: { enabled: false }',
    '',
  ].join('\n');
}

function brindleResources(n: InteropNetwork): object[] {
  return [
    resource('BGPConfiguration', 'default', {
      asNumber: AS,
      nodeToNodeMeshEnabled: false,
      serviceClusterIPs: FAMILIES.map((f) => ({ cidr: f.brindleRoute })),
    }),
    resource('Node', 'brindle', {
      bgp: { ipv4Address: `${n.brindle4}/24`, ipv6Address: `${n.brindle6}/64` },
    }),
    ...FAMILIES.map((f) =>
      resource('BGPPeer', `bird-${f.family}`, {
        peerIP: f.bird(n),
        asNumber: AS,
        restartMode: 'LongLivedGracefulRestart',
        maxRestartTime: `${STALE_TIME_SEC}s`,
      }),
    ),
  ];
}

/** The BIRDs, and Brindle's config and resources (applied with brindlectl). */
async function setup(t: ExecutionContext): Promise<Setup> {
  const n = net!;
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const birds = await Promise.all(FAMILIES.map((f) => startFamilyBird(n, f, cleanup)));
  const dir = await mkdtemp(join(tmpdir(), 'brindle-llgr-bird-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'brindle.yaml');
  await writeFile(config, brindleConfig(n, dir));
  const file = join(dir, 'resources.yaml');
  await writeFile(
    file,
    brindleResources(n)
      .map((r) => JSON.stringify(r))
      .join('\n---\n'),
  );
  await brindlectl(config, 'apply', '-f', file);
  return { cleanup, config, birds };
}

function startBrindle(s: Setup): Daemon {
  return startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', s.config],
    { name: 'brindle', cwd: ROOT, env: cleanEnv() },
    s.cleanup,
  );
}

/** Both sessions Established, each side holding the other's route. */
async function converged(t: ExecutionContext, s: Setup, brindle: Daemon): Promise<void> {
  try {
    await Promise.all(
      FAMILIES.map(async (f, i) => {
        await s.birds[i].waitEstablished(f.brindle(net!), 45_000);
        await waitFor(async () => (await brindlePaths(s, f)).length === 1, {
          timeoutMs: 15_000,
          intervalMs: 200,
          what: `BIRD's ${f.name} route in Brindle's Loc-RIB`,
        });
        await waitFor(async () => (await birdRoute(s, i)) !== undefined, {
          timeoutMs: 15_000,
          intervalMs: 200,
          what: `Brindle's ${f.name} route in BIRD's table`,
        });
      }),
    );
  } catch (error) {
    for (const bird of s.birds) t.log(bird.daemon.output().slice(-2000));
    t.log(brindle.output().slice(-3000));
    throw error;
  }
}

interface PathView {
  readonly stale?: boolean;
  readonly attributes: { readonly communities?: readonly string[] };
}

/** Brindle's paths to f.birdRoute, from `brindlectl routes -o json`. */
async function brindlePaths(s: Setup, f: Family): Promise<readonly PathView[]> {
  const doc = JSON.parse(await brindlectl(s.config, 'routes', f.birdRoute, '-o', 'json')) as {
    routes: { prefix: string; paths: PathView[] }[];
  };
  return doc.routes.find((r) => r.prefix === f.birdRoute)?.paths ?? [];
}

/** BIRD `i`'s `show route all` of Brindle's route, or undefined when it has no such route. */
async function birdRoute(s: Setup, i: number): Promise<string | undefined> {
  const prefix = FAMILIES[i].brindleRoute;
  // birdc exits non-zero when it says "Network not found".
  const text = await s.birds[i].birdc('show', 'route', prefix, 'all').catch((e: { stdout?: string }) => {
    if (e.stdout?.includes('Network not found')) return '';
    throw e;
  });
  return text.includes(prefix) ? text : undefined;
}

const secondsSince = (at: number): number => (Date.now() - at) / 1000;
const llgrStale = (p: PathView): boolean => (p.attributes.communities ?? []).includes(LLGR_STALE);

/** Brindle's view of family `f` after the BIRDs died: seconds after the kill of each step. */
async function brindleKeeps(t: ExecutionContext, s: Setup, f: Family, killedAt: number) {
  // RFC 4724 §4.2: kept and stale, its attributes unchanged, through the restart time.
  const [kept] = await waitFor(
    async () => {
      const paths = await brindlePaths(s, f);
      return paths.length === 1 && paths[0].stale === true ? paths : undefined;
    },
    { timeoutMs: 5_000, intervalMs: 100, what: `the ${f.name} route to be kept stale` },
  );
  const staleSec = secondsSince(killedAt);
  if (staleSec < RESTART_TIME_SEC - 0.5) t.false(llgrStale(kept), `${f.name}: no LLGR_STALE yet`);
  // RFC 9494 §4.2: then LLGR_STALE attached, still there, until the long-lived stale time ends.
  await waitFor(async () => (await brindlePaths(s, f)).some(llgrStale), {
    timeoutMs: (RESTART_TIME_SEC + 10) * 1000,
    intervalMs: 200,
    what: `LLGR_STALE on the kept ${f.name} route`,
  });
  const llgrSec = secondsSince(killedAt);
  await waitFor(async () => (await brindlePaths(s, f)).length === 0, {
    timeoutMs: (STALE_TIME_SEC + 15) * 1000,
    intervalMs: 200,
    what: `the ${f.name} route to go when the long-lived stale time ends`,
  });
  return { staleSec, llgrSec, goneSec: secondsSince(killedAt) };
}

/** BIRD `i`'s view of Brindle's route after Brindle died: seconds after the kill of each step. */
async function birdKeeps(t: ExecutionContext, s: Setup, i: number, killedAt: number) {
  const f = FAMILIES[i];
  await waitFor(async () => !/Established/.test(await s.birds[i].birdc('show', 'protocols', 'n0')), {
    timeoutMs: 10_000,
    intervalMs: 100,
    what: `BIRD to see the ${f.name} session down`,
  });
  const within = await birdRoute(s, i);
  const keptSec = secondsSince(killedAt);
  t.truthy(within, `BIRD keeps the ${f.name} route through the restart time`);
  if (keptSec < RESTART_TIME_SEC - 0.5) t.notRegex(within ?? '', BIRD_LLGR_STALE, 'not LLGR-stale yet');
  const llgr = await waitFor(
    async () => {
      const text = await birdRoute(s, i);
      return text !== undefined && BIRD_LLGR_STALE.test(text) ? text : undefined;
    },
    { timeoutMs: (RESTART_TIME_SEC + 10) * 1000, intervalMs: 200, what: `LLGR_STALE in BIRD (${f.name})` },
  );
  const llgrSec = secondsSince(killedAt);
  t.log(llgr.trim());
  await waitFor(async () => (await birdRoute(s, i)) === undefined, {
    timeoutMs: (STALE_TIME_SEC + 15) * 1000,
    intervalMs: 200,
    what: `BIRD to remove the ${f.name} route when the long-lived stale time ends`,
  });
  return { keptSec, llgrSec, goneSec: secondsSince(killedAt) };
}

/** The RFC 9494 §4.2 timeline: LLGR-stale only after the restart time, gone only after the stale time. */
function assertTimeline(t: ExecutionContext, name: string, times: { llgrSec: number; goneSec: number }) {
  t.true(times.llgrSec >= RESTART_TIME_SEC - 0.2, `${name}: LLGR-stale only after the restart time`);
  t.true(
    times.goneSec >= RESTART_TIME_SEC + STALE_TIME_SEC - 0.5,
    `${name}: kept until the long-lived stale time ended`,
  );
}

const figures = (times: Record<string, number>): string =>
  Object.entries(times)
    .map(([k, v]) => `${k.replace(/Sec$/, '')} ${v.toFixed(1)} s`)
    .join(', ');

test.serial(
  'the BIRDs die: Brindle keeps their routes, LLGR-stale after the restart time, gone after the stale time',
  async (t) => {
    const s = await setup(t);
    const brindle = startBrindle(s);
    await converged(t, s, brindle);

    for (const bird of s.birds) process.kill(bird.daemon.pid, 'SIGKILL');
    const killedAt = Date.now();
    await Promise.all(s.birds.map((bird) => bird.daemon.exited));
    const times = await Promise.all(FAMILIES.map((f) => brindleKeeps(t, s, f, killedAt)));
    FAMILIES.forEach((f, i) => {
      t.log(`${f.name}: ${figures(times[i])} after the kill`);
      assertTimeline(t, f.name, times[i]);
    });
    t.regex(brindle.output(), /"event":"llgr-stale"/);
  },
);

test.serial(
  'Brindle dies: the BIRDs keep its routes, LLGR_STALE after the restart time, gone after the stale time, fresh when Brindle is back',
  async (t) => {
    const s = await setup(t);
    let brindle = startBrindle(s);
    await converged(t, s, brindle);
    for (const i of FAMILIES.keys()) t.notRegex((await birdRoute(s, i))!, BIRD_LLGR_STALE);

    process.kill(brindle.pid, 'SIGKILL');
    const killedAt = Date.now();
    await brindle.exited;
    const times = await Promise.all(FAMILIES.map((_, i) => birdKeeps(t, s, i, killedAt)));
    FAMILIES.forEach((f, i) => {
      t.log(`BIRD ${f.name}: ${figures(times[i])} after the kill`);
      assertTimeline(t, f.name, times[i]);
    });

    brindle = startBrindle(s);
    await converged(t, s, brindle);
    for (const i of FAMILIES.keys())
      t.notRegex((await birdRoute(s, i))!, BIRD_LLGR_STALE, `${FAMILIES[i].name}: fresh again`);
  },
);
