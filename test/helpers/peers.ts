/**
 * Real BGP daemons (BIRD 2, GoBGP 3, FRR bgpd) as test peers. Each runs in the foreground as a child
 * process, optionally inside a network namespace, from a config written to a fresh temp dir.
 *
 * Gotchas these helpers handle:
 * - Every daemon binds only its own localAddress (BIRD `strict bind`, GoBGP local-address-list,
 *   bgpd `-l`), so several can share a namespace and none connects to itself.
 * - BIRD iBGP resolves next hops recursively: connected routes go to separate igp4/igp6 tables.
 * - BIRD and FRR need an explicit IPv6 next hop for IPv6 routes sent over an IPv4 session
 *   (bgpd runs without zebra, so it knows no interface addresses): pass localAddress6.
 * - GoBGP's gRPC API listens on all addresses by default: it is pinned to 127.0.0.1 and a free port.
 * - bgpd creates /var/run/frr and /var/tmp/frr (crash-log dir) itself when they are missing, and
 *   removes its per-pid crash-log subdir on a clean exit.
 * - NEXT_HOPs in 127/8 are treated as withdraws by GoBGP and answered with NOTIFICATION 3/8 by FRR:
 *   run the peers on a veth subnet inside a namespace (see netns.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, run, startDaemon, waitFor } from './netns.ts';
import type { Cleanup, Daemon, RunResult } from './netns.ts';

export type Family = 'ipv4' | 'ipv6';

export interface PeerNeighbor {
  readonly address: string;
  readonly asn: number;
  /** Wait for the neighbour to connect instead of connecting to it. */
  readonly passive?: boolean;
  /** The neighbour's TCP port (default 179). */
  readonly port?: number;
  readonly rrClient?: boolean;
  /** ADD-PATH: true = send and receive. */
  readonly addPath?: boolean | 'send' | 'receive';
  /** Address families of the session (default both, carried over one session). */
  readonly families?: readonly Family[];
  readonly holdTime?: number;
  /**
   * Announce graceful restart (RFC 4724). GoBGP sends End-of-RIB markers only when it is on; BIRD and
   * FRR send them regardless.
   */
  readonly gracefulRestart?: boolean;
  /** GoBGP and BIRD: the restart time it announces (default 120 s). */
  readonly restartTime?: number;
  /** GoBGP: the RFC 8538 N bit (notification-enabled). */
  readonly gracefulNotification?: boolean;
  /** GoBGP and BIRD: Long-Lived Graceful Restart (RFC 9494) with this long-lived stale time, per family. */
  readonly longLivedStaleTime?: number;
  /** RFC 2385 TCP MD5 password of the session. */
  readonly password?: string;
  /** BIRD: this session's own address when it is not PeerOptions.localAddress (an IPv6 session). */
  readonly localAddress?: string;
}

export interface PeerRoute {
  /** `198.51.100.0/24` or `2001:db8:100::/48`. */
  readonly prefix: string;
  readonly communities?: readonly string[];
  readonly largeCommunities?: readonly string[];
  readonly med?: number;
  readonly localPref?: number;
  /**
   * Routes with the same prefix and different sources become distinct paths (for ADD-PATH):
   * separate BIRD static protocols, GoBGP path identifiers. FRR supports one path per prefix.
   */
  readonly source?: number;
}

export interface PeerOptions {
  readonly netns?: string;
  readonly routerId: string;
  /** IPv4 address the daemon listens on and uses as its session source and IPv4 next hop. */
  readonly localAddress: string;
  /** IPv6 next hop for IPv6 routes. */
  readonly localAddress6?: string;
  readonly asn: number;
  /** Listening port (default 179). */
  readonly port?: number;
  readonly neighbors: readonly PeerNeighbor[];
  readonly staticRoutes?: readonly PeerRoute[];
  /** Route-reflector cluster id for rrClient neighbours (default routerId). */
  readonly clusterId?: string;
  /** Appended verbatim to the generated config. */
  readonly extraConfig?: string;
}

export interface PeerHandle {
  readonly kind: 'bird2' | 'gobgp' | 'frr';
  readonly daemon: Daemon;
  /** The temp dir holding config, sockets and pid file (removed by stop()). */
  readonly dir: string;
  readonly config: string;
  /** Human-readable RIB dump of one family. */
  rib(family?: Family): Promise<string>;
  /** Human-readable neighbour / session state. */
  neighbors(): Promise<string>;
  /** Resolves once the session with `address` is Established. */
  waitEstablished(address: string, timeoutMs?: number): Promise<void>;
  /** Administratively shut the session down, sending Cease 6/2 with `message` as shutdown communication. */
  shutdownNeighbor(address: string, message: string): Promise<void>;
  /** Start originating a route (matched by prefix and source). */
  announceRoute(route: PeerRoute): Promise<void>;
  /** Stop originating a route (matched by prefix and source). */
  withdrawRoute(route: PeerRoute): Promise<void>;
  stop(): Promise<void>;
}

const sameRoute = (a: PeerRoute, b: PeerRoute): boolean => a.prefix === b.prefix && a.source === b.source;
const familyOf = (prefix: string): Family => (prefix.includes(':') ? 'ipv6' : 'ipv4');
const familiesOf = (n: PeerNeighbor): readonly Family[] => n.families ?? ['ipv4', 'ipv6'];
const sendsAddPath = (n: PeerNeighbor): boolean => n.addPath === true || n.addPath === 'send';
const receivesAddPath = (n: PeerNeighbor): boolean => n.addPath === true || n.addPath === 'receive';

async function tempDir(kind: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `brindle-${kind}-`));
}

function stopAndRemove(daemon: Daemon, dir: string): () => Promise<void> {
  return async () => {
    await daemon.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

/** Starts the daemon and undoes everything if its first readiness check fails. */
async function started(
  handle: PeerHandle,
  ready: () => Promise<unknown>,
  cleanup?: Cleanup,
): Promise<PeerHandle> {
  cleanup?.add(() => handle.stop());
  try {
    await waitFor(
      async () => {
        if (!handle.daemon.running()) throw new Error(`${handle.kind} exited: ${handle.daemon.output()}`);
        await ready();
        return true;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: `${handle.kind} to start` },
    );
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}

// ---------------------------------------------------------------------------------------------------
// BIRD 2

/** BIRD protocol name of a neighbour (`n0`, `n1`, ...), in the order given. */
export function birdProtocolName(options: PeerOptions, address: string): string {
  const index = options.neighbors.findIndex((n) => n.address === address);
  if (index < 0) throw new Error(`no neighbour ${address}`);
  return `n${index}`;
}

function birdRouteAttributes(route: PeerRoute): string {
  const parts = [
    ...(route.communities ?? []).map((c) => `bgp_community.add((${c.replace(':', ',')}));`),
    ...(route.largeCommunities ?? []).map((c) => `bgp_large_community.add((${c.replaceAll(':', ',')}));`),
    route.med === undefined ? '' : `bgp_med = ${route.med};`,
    route.localPref === undefined ? '' : `bgp_local_pref = ${route.localPref};`,
  ].filter((p) => p !== '');
  return parts.length === 0 ? ';' : ` { ${parts.join(' ')} };`;
}

function birdStatics(routes: readonly PeerRoute[]): string {
  const groups = new Map<string, PeerRoute[]>();
  for (const route of routes) {
    const key = `${familyOf(route.prefix)}_${route.source ?? 0}`;
    groups.set(key, [...(groups.get(key) ?? []), route]);
  }
  return [...groups]
    .map(([key, list]) => {
      const lines = list.map((r) => `  route ${r.prefix} blackhole${birdRouteAttributes(r)}`);
      return `protocol static s_${key} {\n  ${key.split('_')[0]};\n${lines.join('\n')}\n}\n`;
    })
    .join('\n');
}

function birdChannel(options: PeerOptions, n: PeerNeighbor, family: Family): string {
  const ibgp = n.asn === options.asn;
  const addPath =
    n.addPath === true ? 'on' : n.addPath === 'send' ? 'tx' : n.addPath === 'receive' ? 'rx' : '';
  const lines = [
    'import all;',
    'export all;',
    addPath === '' ? '' : `add paths ${addPath};`,
    ibgp ? `igp table igp${family === 'ipv4' ? 4 : 6};` : '',
    family === 'ipv6' && options.localAddress6 !== undefined
      ? `next hop address ${options.localAddress6};`
      : '',
  ].filter((l) => l !== '');
  return `  ${family} { ${lines.join(' ')} };`;
}

export function birdConfig(options: PeerOptions): string {
  const port = options.port ?? 179;
  const protocols = options.neighbors.map((n, i) => {
    const lines = [
      `protocol bgp n${i} {`,
      `  local ${n.localAddress ?? options.localAddress} port ${port} as ${options.asn};`,
      `  neighbor ${n.address} port ${n.port ?? 179} as ${n.asn};`,
      '  strict bind yes;',
      n.passive === true ? '  passive on;' : '',
      n.holdTime === undefined ? '' : `  hold time ${n.holdTime};`,
      n.password === undefined ? '' : `  password "${n.password}";`,
      n.gracefulRestart === true ? '  graceful restart on;' : '',
      n.gracefulRestart === true && n.restartTime !== undefined
        ? `  graceful restart time ${n.restartTime};`
        : '',
      n.gracefulRestart === true && n.longLivedStaleTime !== undefined
        ? `  long lived graceful restart on;\n  long lived stale time ${n.longLivedStaleTime};`
        : '',
      n.rrClient === true ? `  rr client;\n  rr cluster id ${options.clusterId ?? options.routerId};` : '',
      ...familiesOf(n).map((f) => birdChannel(options, n, f)),
      '}',
    ];
    return lines.filter((l) => l !== '').join('\n');
  });
  return [
    'log stderr all;',
    `router id ${options.routerId};`,
    // iBGP next hops resolve through these tables; keeping connected routes out of master4/6
    // stops BIRD from advertising the connected subnets.
    'ipv4 table igp4;',
    'ipv6 table igp6;',
    'protocol device {}',
    'protocol direct { ipv4 { table igp4; }; ipv6 { table igp6; }; }',
    birdStatics(options.staticRoutes ?? []),
    ...protocols,
    options.extraConfig ?? '',
    '',
  ].join('\n');
}

export interface BirdHandle extends PeerHandle {
  readonly kind: 'bird2';
  readonly socket: string;
  birdc(...args: string[]): Promise<string>;
}

export async function startBird(options: PeerOptions, cleanup?: Cleanup): Promise<BirdHandle> {
  const dir = await tempDir('bird');
  const config = birdConfig(options);
  let routes = [...(options.staticRoutes ?? [])];
  const conf = join(dir, 'bird.conf');
  const socket = join(dir, 'bird.ctl');
  await writeFile(conf, config);
  const daemon = startDaemon('bird', ['-f', '-c', conf, '-s', socket, '-P', join(dir, 'bird.pid')], {
    name: 'bird',
    netns: options.netns,
  });
  // birdc talks over the Unix socket, so it needs no namespace.
  const birdc = async (...args: string[]): Promise<string> =>
    (await run('birdc', ['-s', socket, ...args], { timeoutMs: 15_000 })).stdout;
  const handle: BirdHandle = {
    kind: 'bird2',
    daemon,
    dir,
    config,
    socket,
    birdc,
    rib: (family) =>
      birdc('show', 'route', 'all', ...(family === undefined ? [] : ['table', `master${family[3]}`])),
    neighbors: () => birdc('show', 'protocols', 'all'),
    waitEstablished: async (address, timeoutMs = 30_000) => {
      const name = birdProtocolName(options, address);
      await waitFor(async () => /Established/.test(await birdc('show', 'protocols', name)), {
        timeoutMs,
        intervalMs: 250,
        what: `BIRD session ${name} with ${address}`,
      });
    },
    shutdownNeighbor: async (address, message) => {
      await birdc('disable', birdProtocolName(options, address), JSON.stringify(message));
    },
    // BIRD has no command to add a static route: rewrite the config and reload it.
    announceRoute: async (route) => {
      routes = [...routes.filter((r) => !sameRoute(r, route)), route];
      await writeFile(conf, birdConfig({ ...options, staticRoutes: routes }));
      await birdc('configure');
    },
    withdrawRoute: async (route) => {
      routes = routes.filter((r) => !sameRoute(r, route));
      await writeFile(conf, birdConfig({ ...options, staticRoutes: routes }));
      await birdc('configure');
    },
    stop: stopAndRemove(daemon, dir),
  };
  return (await started(handle, () => birdc('show', 'status'), cleanup)) as BirdHandle;
}

// ---------------------------------------------------------------------------------------------------
// GoBGP

const GOBGP_FAMILY: Readonly<Record<Family, string>> = { ipv4: 'ipv4-unicast', ipv6: 'ipv6-unicast' };

function gobgpNeighbor(options: PeerOptions, n: PeerNeighbor): string {
  const lines = [
    '[[neighbors]]',
    '  [neighbors.config]',
    `    neighbor-address = "${n.address}"`,
    `    peer-as = ${n.asn}`,
    '  [neighbors.transport.config]',
    `    local-address = "${options.localAddress}"`,
    `    remote-port = ${n.port ?? 179}`,
    n.passive === true ? '    passive-mode = true' : '',
  ];
  // GoBGP 3.10 makes its first connection attempt 5-9 s after start (not configurable) and retries
  // after connect-retry..2*connect-retry s, 120-240 s by default: keep the retries short.
  lines.push('  [neighbors.timers.config]', '    connect-retry = 5');
  if (n.holdTime !== undefined) lines.push(`    hold-time = ${n.holdTime}`);
  if (n.gracefulRestart === true) {
    lines.push('  [neighbors.graceful-restart.config]', '    enabled = true');
    lines.push(`    restart-time = ${n.restartTime ?? 120}`);
    if (n.gracefulNotification === true) lines.push('    notification-enabled = true');
    if (n.longLivedStaleTime !== undefined) lines.push('    long-lived-enabled = true');
  }
  if (n.rrClient === true) {
    lines.push(
      '  [neighbors.route-reflector.config]',
      '    route-reflector-client = true',
      `    route-reflector-cluster-id = "${options.clusterId ?? options.routerId}"`,
    );
  }
  for (const family of familiesOf(n)) {
    lines.push('  [[neighbors.afi-safis]]', '    [neighbors.afi-safis.config]');
    lines.push(`      afi-safi-name = "${GOBGP_FAMILY[family]}"`);
    if (n.gracefulRestart === true)
      lines.push('    [neighbors.afi-safis.mp-graceful-restart.config]', '      enabled = true');
    if (n.gracefulRestart === true && n.longLivedStaleTime !== undefined) {
      lines.push('    [neighbors.afi-safis.long-lived-graceful-restart.config]', '      enabled = true');
      lines.push(`      restart-time = ${n.longLivedStaleTime}`);
    }
    if (n.addPath !== undefined && n.addPath !== false) {
      lines.push('    [neighbors.afi-safis.add-paths.config]');
      if (receivesAddPath(n)) lines.push('      receive = true');
      if (sendsAddPath(n)) lines.push('      send-max = 8');
    }
  }
  return lines.filter((l) => l !== '').join('\n');
}

export function gobgpConfig(options: PeerOptions): string {
  const addresses = [
    options.localAddress,
    ...(options.localAddress6 === undefined ? [] : [options.localAddress6]),
  ];
  return [
    '[global.config]',
    `  as = ${options.asn}`,
    `  router-id = "${options.routerId}"`,
    `  port = ${options.port ?? 179}`,
    `  local-address-list = [${addresses.map((a) => `"${a}"`).join(', ')}]`,
    '',
    ...options.neighbors.map((n) => gobgpNeighbor(options, n)),
    options.extraConfig ?? '',
    '',
  ].join('\n');
}

/** `gobgp global rib add` arguments for one route. */
export function gobgpRouteArgs(options: PeerOptions, route: PeerRoute): string[] {
  const family = familyOf(route.prefix);
  const nextHop = family === 'ipv4' ? options.localAddress : options.localAddress6;
  if (nextHop === undefined) throw new Error(`GoBGP route ${route.prefix} needs localAddress6`);
  const args = ['global', 'rib', 'add', '-a', family, route.prefix, 'origin', 'igp', 'nexthop', nextHop];
  if (route.communities !== undefined) args.push('community', route.communities.join(','));
  if (route.largeCommunities !== undefined) args.push('large-community', route.largeCommunities.join(','));
  if (route.med !== undefined) args.push('med', String(route.med));
  if (route.localPref !== undefined) args.push('local-pref', String(route.localPref));
  if (route.source !== undefined) args.push('identifier', String(route.source));
  return args;
}

/** `gobgp global rib del` arguments for one route. */
function gobgpDeleteArgs(route: PeerRoute): string[] {
  const args = ['global', 'rib', 'del', '-a', familyOf(route.prefix), route.prefix];
  return route.source === undefined ? args : [...args, 'identifier', String(route.source)];
}

export interface GobgpHandle extends PeerHandle {
  readonly kind: 'gobgp';
  readonly apiPort: number;
  gobgp(...args: string[]): Promise<string>;
}

export async function startGobgp(options: PeerOptions, cleanup?: Cleanup): Promise<GobgpHandle> {
  const dir = await tempDir('gobgp');
  const config = gobgpConfig(options);
  const conf = join(dir, 'gobgpd.toml');
  await writeFile(conf, config);
  // Inside a namespace 127.0.0.1 is that namespace's own loopback, where any port is free.
  const apiPort = options.netns === undefined ? await freePort() : 50051;
  const api = ['--api-hosts', `127.0.0.1:${apiPort}`, '--pprof-disable'];
  const daemon = startDaemon('gobgpd', ['-f', conf, '-t', 'toml', '-l', 'warn', '-p', ...api], {
    name: 'gobgpd',
    netns: options.netns,
  });
  const gobgp = async (...args: string[]): Promise<string> =>
    (await run('gobgp', ['-u', '127.0.0.1', '-p', String(apiPort), ...args], { netns: options.netns }))
      .stdout;
  const handle: GobgpHandle = {
    kind: 'gobgp',
    daemon,
    dir,
    config,
    apiPort,
    gobgp,
    rib: (family = 'ipv4') => gobgp('global', 'rib', '-a', family),
    neighbors: () => gobgp('neighbor'),
    waitEstablished: async (address, timeoutMs = 30_000) => {
      await waitFor(async () => /BGP state\s*=\s*established/i.test(await gobgp('neighbor', address)), {
        timeoutMs,
        intervalMs: 250,
        what: `GoBGP session with ${address}`,
      });
    },
    // `shutdown` is deprecated (it prints a warning) but, unlike `disable` in 3.10, it puts --reason
    // into the Cease as the RFC 9003 shutdown communication.
    shutdownNeighbor: async (address, message) => {
      await gobgp('neighbor', address, 'shutdown', '--reason', message);
    },
    announceRoute: async (route) => void (await gobgp(...gobgpRouteArgs(options, route))),
    withdrawRoute: async (route) => void (await gobgp(...gobgpDeleteArgs(route))),
    stop: stopAndRemove(daemon, dir),
  };
  await started(handle, () => gobgp('global'), cleanup);
  for (const route of options.staticRoutes ?? []) await handle.announceRoute(route);
  return handle;
}

// ---------------------------------------------------------------------------------------------------
// FRR bgpd

function frrRouteMaps(options: PeerOptions): string[] {
  const lines: string[] = [];
  (options.staticRoutes ?? []).forEach((r, i) => {
    lines.push(`route-map RT${i} permit 10`);
    if (r.communities !== undefined) lines.push(` set community ${r.communities.join(' ')}`);
    if (r.largeCommunities !== undefined) lines.push(` set large-community ${r.largeCommunities.join(' ')}`);
    if (r.med !== undefined) lines.push(` set metric ${r.med}`);
    if (r.localPref !== undefined) lines.push(` set local-preference ${r.localPref}`);
    lines.push('exit', '!');
  });
  if (options.localAddress6 !== undefined) {
    lines.push('route-map NH6 permit 10', ` set ipv6 next-hop global ${options.localAddress6}`, 'exit', '!');
  }
  return lines;
}

function frrAddressFamily(options: PeerOptions, family: Family): string[] {
  const lines = [` address-family ${family} unicast`];
  const seen = new Set<string>();
  (options.staticRoutes ?? []).forEach((r, i) => {
    if (familyOf(r.prefix) !== family) return;
    if (seen.has(r.prefix)) throw new Error(`FRR helper: one path per prefix (${r.prefix})`);
    seen.add(r.prefix);
    lines.push(`  network ${r.prefix} route-map RT${i}`);
  });
  for (const n of options.neighbors.filter((x) => familiesOf(x).includes(family))) {
    lines.push(`  neighbor ${n.address} activate`);
    if (n.rrClient === true) lines.push(`  neighbor ${n.address} route-reflector-client`);
    if (sendsAddPath(n)) lines.push(`  neighbor ${n.address} addpath-tx-all-paths`);
    // Without zebra bgpd knows no interface address to use as IPv6 next hop.
    if (family === 'ipv6' && options.localAddress6 !== undefined) {
      lines.push(`  neighbor ${n.address} route-map NH6 out`);
    }
  }
  lines.push(' exit-address-family');
  return lines;
}

export function frrConfig(options: PeerOptions): string {
  const lines = ['hostname brindle-test-frr', 'log stdout informational', '!', ...frrRouteMaps(options)];
  lines.push(`router bgp ${options.asn}`, ` bgp router-id ${options.routerId}`);
  lines.push(' no bgp default ipv4-unicast', ' no bgp ebgp-requires-policy', ' no bgp network import-check');
  // The update-group coalesce timer (1 s by default, growing with the peer count) holds back the first
  // advertisements to a peer that just came up; 0 sends them at once, so tests need not wait for it.
  lines.push(' coalesce-time 0');
  if (options.neighbors.some((n) => n.rrClient === true)) {
    lines.push(` bgp cluster-id ${options.clusterId ?? options.routerId}`);
  }
  for (const n of options.neighbors) {
    lines.push(
      ` neighbor ${n.address} remote-as ${n.asn}`,
      ` neighbor ${n.address} update-source ${options.localAddress}`,
    );
    if (n.port !== undefined) lines.push(` neighbor ${n.address} port ${n.port}`);
    if (n.passive === true) lines.push(` neighbor ${n.address} passive`);
    if (n.password !== undefined) lines.push(` neighbor ${n.address} password ${n.password}`);
    if (n.holdTime !== undefined)
      lines.push(` neighbor ${n.address} timers ${Math.floor(n.holdTime / 3)} ${n.holdTime}`);
    if (n.gracefulRestart === true) lines.push(` neighbor ${n.address} graceful-restart`);
    // The eBGP default of 30 s between advertisements would make every test wait.
    lines.push(` neighbor ${n.address} advertisement-interval 0`);
  }
  for (const family of ['ipv4', 'ipv6'] as const) lines.push(...frrAddressFamily(options, family));
  lines.push('exit', '!', options.extraConfig ?? '', '');
  return lines.join('\n');
}

export interface FrrHandle extends PeerHandle {
  readonly kind: 'frr';
  readonly vtySocketDir: string;
  /** Runs each argument as one vtysh `-c` command, in order. */
  vtysh(...commands: string[]): Promise<string>;
}

export const FRR_BGPD = '/usr/lib/frr/bgpd';

/** `network` on or off; routes from the start-up options keep their attribute route-map. */
async function frrNetwork(
  options: PeerOptions,
  vtysh: (...commands: string[]) => Promise<string>,
  route: PeerRoute,
  no: '' | 'no ',
): Promise<void> {
  const index = (options.staticRoutes ?? []).findIndex((r) => sameRoute(r, route));
  const routeMap = index < 0 ? '' : ` route-map RT${index}`;
  const af = `address-family ${familyOf(route.prefix)} unicast`;
  await vtysh(
    'configure terminal',
    `router bgp ${options.asn}`,
    af,
    `${no}network ${route.prefix}${routeMap}`,
  );
}

export async function startFrr(options: PeerOptions, cleanup?: Cleanup): Promise<FrrHandle> {
  const dir = await tempDir('frr');
  const config = frrConfig(options);
  const conf = join(dir, 'bgpd.conf');
  await writeFile(conf, config);
  const port = String(options.port ?? 179);
  // -Z: no zebra (no FIB, every next hop valid); -S: stay root; -P 0: no vty TCP port.
  const args = ['-Z', '-S', '-l', options.localAddress, '-p', port, '-f', conf, '-i', join(dir, 'bgpd.pid')];
  args.push('--vty_socket', dir, '-P', '0');
  const daemon = startDaemon(FRR_BGPD, args, { name: 'bgpd', netns: options.netns });
  const vtysh = async (...commands: string[]): Promise<string> => {
    const argv = ['--vty_socket', dir, '-d', 'bgpd', ...commands.flatMap((c) => ['-c', c])];
    return (await run('vtysh', argv, { timeoutMs: 15_000 })).stdout;
  };
  const handle: FrrHandle = {
    kind: 'frr',
    daemon,
    dir,
    config,
    vtySocketDir: dir,
    vtysh,
    rib: (family = 'ipv4') => vtysh(`show bgp ${family} unicast`),
    neighbors: () => vtysh('show bgp neighbors'),
    waitEstablished: async (address, timeoutMs = 30_000) => {
      await waitFor(
        async () => /BGP state = Established/.test(await vtysh(`show bgp neighbors ${address}`)),
        {
          timeoutMs,
          intervalMs: 250,
          what: `FRR session with ${address}`,
        },
      );
    },
    shutdownNeighbor: async (address, message) => {
      await vtysh(
        'configure terminal',
        `router bgp ${options.asn}`,
        `neighbor ${address} shutdown message ${message}`,
      );
    },
    announceRoute: (route) => frrNetwork(options, vtysh, route, ''),
    withdrawRoute: (route) => frrNetwork(options, vtysh, route, 'no '),
    stop: stopAndRemove(daemon, dir),
  };
  return (await started(handle, () => vtysh('show bgp summary'), cleanup)) as FrrHandle;
}

// ---------------------------------------------------------------------------------------------------

/** Installed daemon versions, e.g. `{ bird2: '2.0.12', gobgp: '3.10.0', frr: '8.4.4' }` (missing ones omitted). */
export async function peerVersions(): Promise<Partial<Record<PeerHandle['kind'], string>>> {
  const probe = async (command: string, args: string[]): Promise<string | undefined> => {
    const result: RunResult | undefined = await run(command, args, { timeoutMs: 10_000 }).catch(
      () => undefined,
    );
    return /(\d+\.\d+\.\d+)/.exec(`${result?.stdout ?? ''} ${result?.stderr ?? ''}`)?.[1];
  };
  const entries = [
    ['bird2', await probe('bird', ['--version'])],
    ['gobgp', await probe('gobgpd', ['--version'])],
    ['frr', await probe(FRR_BGPD, ['--version'])],
  ] as const;
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined));
}
