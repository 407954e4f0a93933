/**
 * A network where a node is routed around, for the BFD reroute test and bench: Brindle as a node
 * (bin/brindle in node mode, programming the kernel FIB of its namespace A; resources applied with
 * brindlectl) has two eBGP upstreams, B and C (BIRD 2, both in AS 65001), each on a link of its own to
 * A and both on one segment with D. Both announce D's prefixes, IPv4 and IPv6, each over a session of
 * that family. BFD runs at 100 ms × 3 on all four sessions (Detection Time 300 ms); the BGP hold time
 * is 90 s, so only BFD can explain a switch within a second.
 *
 * Each link runs through a switch namespace, so B's cable can be pulled at the switch: A's own
 * interface stays up, and neither A's kernel nor Brindle's link watch sees anything; only BFD can. D
 * answers through C whatever happens (its only way back), so a gap in the replies of a ping from A is
 * Brindle's forward route alone. Everything lives in namespaces (100.64.63–66.0/24, fd00:63–66::/64):
 * nothing touches the root namespace, and the Cleanup removes it all.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BfdDocument, BfdSessionStatus } from '../../src/api/bfd-view.ts';
import { callDaemon } from '../../src/cli/socket.ts';
import { brindlectl, cleanEnv } from './brindle.ts';
import { createLan } from './lan.ts';
import type { Lan } from './lan.ts';
import { createNetns, run, sleep, startDaemon, waitFor } from './netns.ts';
import type { Cleanup, Daemon } from './netns.ts';
import { startBird } from './peers.ts';
import type { BirdHandle, PeerOptions } from './peers.ts';
import { startPing } from './ping.ts';
import type { Ping, PingResult } from './ping.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AS = 64512;
const UPSTREAM_AS = 65001;
/** 100.64.<i>.0/24 and fd00:<i>::/64: A–B, A–C, the segment of B, C and D, and D's own prefixes. */
const SUBNET = { ab: 63, ac: 64, bcd: 65 } as const;
/** Host numbers on every segment. */
const HOST = { a: 1, b: 2, c: 3, d: 4 } as const;
const DESTINATION = { ipv4: '100.64.66.1', ipv6: 'fd00:66::1' } as const;
const PREFIX = { ipv4: '100.64.66.0/24', ipv6: 'fd00:66::/64' } as const;
export type Family = keyof typeof PREFIX;
export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];
/** Interfaces of A, named so the BFDConfiguration's pattern matches them. */
const UPLINK = { b: 'upb', c: 'upc' } as const;
export type Upstream = keyof typeof UPLINK;
export const INTERVAL_MS = 100;
export const MULT = 3;
export const DETECTION_TIME_MS = INTERVAL_MS * MULT;
export const HOLD_TIME_SEC = 90;
const PING_INTERVAL_MS = 10;
const PROTO = '205';

interface Network {
  readonly netns: Record<'a' | 'b' | 'c' | 'd', string>;
  readonly ab: Lan;
  readonly ac: Lan;
  readonly bcd: Lan;
}

export interface Setup {
  readonly net: Network;
  readonly birds: Record<Upstream, BirdHandle>;
  readonly brindle: Daemon;
  readonly config: string;
  readonly socket: string;
  /** A's uplinks D's prefixes take while nothing failed. */
  readonly installed: readonly string[];
}

const lanFor = (net: Network, upstream: Upstream): Lan => (upstream === 'b' ? net.ab : net.ac);

async function network(cleanup: Cleanup): Promise<Network> {
  const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((n) => createNetns(`rr-${n}`, cleanup)));
  // Replies to B's link address come in on C's link: no reverse-path filter on A (before its
  // interfaces exist, so they take the default).
  await sysctl(a, ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
  for (const router of [b, c])
    await sysctl(router, ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  const lan = (tag: string, i: number) =>
    createLan({ tag, subnet4: `100.64.${i}.0/24`, subnet6: `fd00:${i}::/64` }, cleanup);
  const ab = await lan('rrab', SUBNET.ab);
  const ac = await lan('rrac', SUBNET.ac);
  const bcd = await lan('rrbcd', SUBNET.bcd);
  await ab.join(a, HOST.a, UPLINK.b);
  await ab.join(b, HOST.b, 'eth0');
  await ac.join(a, HOST.a, UPLINK.c);
  await ac.join(c, HOST.c, 'eth0');
  for (const [netns, host] of [
    [b, HOST.b],
    [c, HOST.c],
    [d, HOST.d],
  ] as const)
    await bcd.join(netns, host, 'eth1');
  const net = { netns: { a, b, c, d }, ab, ac, bcd };
  await routes(net);
  return net;
}

async function sysctl(netns: string, settings: readonly string[]): Promise<void> {
  await run('sysctl', ['-q', '-w', ...settings], { netns });
}

/** D's addresses, B's and C's static routes to them, and D's one way back: through C. */
async function routes({ netns, ac, bcd }: Network): Promise<void> {
  const ip = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
  await ip(netns.d, 'addr', 'add', `${DESTINATION.ipv4}/32`, 'dev', 'lo');
  await ip(netns.d, '-6', 'addr', 'add', `${DESTINATION.ipv6}/128`, 'dev', 'lo');
  await ip(netns.d, 'route', 'add', 'default', 'via', bcd.address4(HOST.c));
  await ip(netns.d, '-6', 'route', 'add', 'default', 'via', bcd.address6(HOST.c));
  for (const router of [netns.b, netns.c]) {
    await ip(router, 'route', 'add', PREFIX.ipv4, 'via', bcd.address4(HOST.d));
    await ip(router, '-6', 'route', 'add', PREFIX.ipv6, 'via', bcd.address6(HOST.d));
  }
  await ip(netns.c, 'route', 'add', `100.64.${SUBNET.ab}.0/24`, 'via', ac.address4(HOST.a));
  await ip(netns.c, '-6', 'route', 'add', `fd00:${SUBNET.ab}::/64`, 'via', ac.address6(HOST.a));
}

/** BIRD as upstream B or C: an IPv4 and an IPv6 session to A, D's prefixes with `med`, BFD on both. */
function upstreamOptions(net: Network, upstream: Upstream, med: number): PeerOptions {
  const lan = lanFor(net, upstream);
  const own = HOST[upstream];
  const session = { asn: AS, passive: true, holdTime: HOLD_TIME_SEC };
  const bfd = `protocol bfd {
  interface "eth0" { min rx interval ${INTERVAL_MS} ms; min tx interval ${INTERVAL_MS} ms; idle tx interval 1 s; multiplier ${MULT}; };
  neighbor ${lan.address4(HOST.a)} local ${lan.address4(own)};
  neighbor ${lan.address6(HOST.a)} local ${lan.address6(own)};
}
`;
  return {
    netns: net.netns[upstream],
    routerId: lan.address4(own),
    localAddress: lan.address4(own),
    asn: UPSTREAM_AS,
    neighbors: [
      { ...session, address: lan.address4(HOST.a), families: ['ipv4'] },
      { ...session, address: lan.address6(HOST.a), families: ['ipv6'], localAddress: lan.address6(own) },
    ],
    staticRoutes: FAMILIES.map((f) => ({ prefix: PREFIX[f], med })),
    extraConfig: bfd,
  };
}

const resource = (kind: string, name: string, spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: { name },
  spec,
});

/** One BGPPeer per upstream and family, with BFD; the session's source is the kernel's choice. */
function resources(net: Network): object[] {
  const peers = (['b', 'c'] as const).flatMap((u) => {
    const lan = lanFor(net, u);
    return FAMILIES.map((f) =>
      resource('BGPPeer', `${u}-${f}`, {
        peerIP: f === 'ipv4' ? lan.address4(HOST[u]) : lan.address6(HOST[u]),
        asNumber: UPSTREAM_AS,
        sourceAddress: 'None',
        failureDetectionMode: 'BFDIfDirectlyConnected',
      }),
    );
  });
  const interval = `${INTERVAL_MS}ms`;
  return [
    resource('BGPConfiguration', 'default', { asNumber: AS, nodeToNodeMeshEnabled: false }),
    resource('BFDConfiguration', 'uplinks', {
      interfaces: [
        {
          matchPattern: 'up*',
          minimumRecvInterval: interval,
          minimumSendInterval: interval,
          idleSendInterval: '1s',
          multiplier: MULT,
        },
      ],
    }),
    ...peers,
  ];
}

/** As an operator runs it: a config file, the resources applied with brindlectl, then bin/brindle. */
async function startBrindle(net: Network, cleanup: Cleanup) {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-reroute-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'brindle.yaml');
  const socket = join(dir, 'brindle.sock');
  await writeFile(
    config,
    [
      'mode: node',
      'nodeName: rr-node',
      `routerId: ${net.ab.address4(HOST.a)}`,
      `node: { ipv4Address: ${net.ab.address4(HOST.a)}/24, ipv6Address: ${net.ab.address6(HOST.a)}/64 }`,
      `datastore: { type: embedded, path: ${join(dir, 'store')} }`,
      `api: { socket: ${socket} }`,
      'log: { level: info, format: json }',
      'fib: { enabled: true, table: 254, keepRoutesOnStop: false }',
      '',
    ].join('\n'),
  );
  const file = join(dir, 'resources.yaml');
  await writeFile(
    file,
    resources(net)
      .map((r) => JSON.stringify(r))
      .join('\n---\n'),
  );
  await brindlectl(config, 'apply', '-f', file);
  const brindle = startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', config],
    { name: 'brindle', netns: net.netns.a, cwd: ROOT, env: cleanEnv() },
    cleanup,
  );
  return { brindle, config, socket };
}

/**
 * B announces with MED 10; C with `medC`: 20 makes B's the one path installed, 10 makes B's and C's
 * an ECMP pair (§9.1.2.2 ties through the IGP cost). Returns once Brindle runs; converged() says when
 * the routes are in.
 */
export async function startReroute(cleanup: Cleanup, medC = 20): Promise<Setup> {
  const net = await network(cleanup);
  const birds = {
    b: await startBird(upstreamOptions(net, 'b', 10), cleanup),
    c: await startBird(upstreamOptions(net, 'c', medC), cleanup),
  };
  const installed = medC === 10 ? [UPLINK.b, UPLINK.c] : [UPLINK.b];
  return { net, birds, installed, ...(await startBrindle(net, cleanup)) };
}

/** Four BFD sessions Up, D's prefixes in A's kernel through the uplinks they should take, C's paths in. */
export async function converged(s: Setup): Promise<void> {
  const { installed } = s;
  await waitFor(async () => (await bfdSessions(s)).filter((x) => x.state === 'Up').length === 4, {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'four BFD sessions Up',
  });
  for (const family of FAMILIES)
    await waitFor(async () => (await kernelDevices(s, family)).join() === installed.join(), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: `${PREFIX[family]} through ${installed.join(' and ')}`,
    });
  // C's paths must be there already: what is measured is the switch, not C's session coming up.
  for (const family of FAMILIES)
    await waitFor(async () => (await peer(s, 'c', family)).counts.accepted === 1, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: `C's ${family} path`,
    });
}

async function bfdSessions(s: Setup): Promise<readonly BfdSessionStatus[]> {
  return ((await callDaemon(s.socket, '/api/v1/bfd')) as BfdDocument).sessions;
}

/** The devices of Brindle's kernel route to D's prefix (one per next hop). */
async function kernelDevices(s: Setup, family: Family): Promise<string[]> {
  const args = ['-n', s.net.netns.a, family === 'ipv4' ? '-4' : '-6', 'route', 'show', PREFIX[family]];
  const { stdout } = await run('ip', [...args, 'proto', PROTO]);
  return [...stdout.matchAll(/ dev (\S+)/g)].map((m) => m[1]).sort();
}

const peerAddress = (lan: Lan, upstream: Upstream, family: Family) =>
  family === 'ipv4' ? lan.address4(HOST[upstream]) : lan.address6(HOST[upstream]);

export interface PeerDetail {
  readonly state: string;
  readonly info: string;
  readonly counts: { readonly accepted: number };
  readonly negotiated: { readonly holdTimeSec: number } | null;
  readonly counters: {
    readonly notificationsSent: Record<string, number>;
    readonly notificationsReceived: Record<string, number>;
    readonly transitions: Record<string, number>;
  };
}

export async function peer(s: Setup, upstream: Upstream, family: Family): Promise<PeerDetail> {
  const address = peerAddress(lanFor(s.net, upstream), upstream, family);
  return (await callDaemon(s.socket, `/api/v1/peers/${encodeURIComponent(address)}`)) as PeerDetail;
}

/** A ping per family from A to D, one every 10 ms, bounded by ping's own 60 s deadline. */
function startPings(s: Setup, cleanup: Cleanup): Record<Family, Ping> {
  const ping = (family: Family) =>
    startPing(
      {
        netns: s.net.netns.a,
        destination: DESTINATION[family],
        intervalMs: PING_INTERVAL_MS,
        deadlineSec: 60,
      },
      cleanup,
    );
  return { ipv4: ping('ipv4'), ipv6: ping('ipv6') };
}

export interface Failover {
  /** Wall clock just before the failure was caused. */
  readonly failedAtMs: number;
  /** When both prefixes were first seen through C (polled every 20 ms). */
  readonly switchedAtMs: number;
  readonly pings: Record<Family, PingResult>;
}

/** Pings flow through B, `fail` breaks B, and D's prefixes move to C; the pings' replies are kept. */
export async function failOver(s: Setup, cleanup: Cleanup, fail: () => unknown): Promise<Failover> {
  const pings = startPings(s, cleanup);
  await waitFor(() => FAMILIES.every((f) => pings[f].replies().length >= 50), {
    timeoutMs: 10_000,
    intervalMs: 50,
    what: 'replies from D',
  });
  const failedAtMs = Date.now();
  await fail();
  for (const family of FAMILIES)
    await waitFor(async () => (await kernelDevices(s, family)).join() === UPLINK.c, {
      timeoutMs: 5_000,
      intervalMs: 20,
      what: `${PREFIX[family]} through C`,
    });
  const switchedAtMs = Date.now();
  // Long enough for replies through C to show in the record.
  await sleep(500);
  return {
    failedAtMs,
    switchedAtMs,
    pings: { ipv4: await pings.ipv4.stop(), ipv6: await pings.ipv6.stop() },
  };
}

/** Brindle's BFD session and BGP session with B, per family (the BGP side as `brindlectl peers` shows it). */
export async function sessionsWithB(s: Setup, family: Family) {
  const address = peerAddress(s.net.ab, 'b', family);
  const bfd = (await bfdSessions(s)).find((x) => x.peer === address);
  const bgp = JSON.parse(await brindlectl(s.config, 'peers', address, '-o', 'json')) as PeerDetail;
  return { bfd, bgp };
}

/** B's cable pulled at the switch: A's interface stays up. */
export const pullB = (s: Setup) =>
  run('ip', ['-n', s.net.ab.switchNetns, 'link', 'set', `p${HOST.b}`, 'down']);
