// Shared by the API tests: a Router acting as a route reflector for two in-process speakers on loopback
// that announce a few routes (one prefix from both, so the decision process has a loser to explain),
// the API server over it on an ephemeral port and a temporary control socket, an HTTP client for
// either, and golden files with the run-dependent values (addresses, times) normalised.
import type { ExecutionContext } from 'ava';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { format } from 'prettier';
import { pino } from 'pino';
import { Origin } from '../../src/bgp/constants.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { Router } from '../../src/daemon/router.ts';
import { ApiServer } from '../../src/api/server.ts';
import type { ApiServerOptions } from '../../src/api/server.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import type { Logger } from '../../src/lib/log.ts';
import { BrindleMetrics } from '../../src/metrics/registry.ts';
import { routerSource } from '../../src/metrics/source.ts';
import type { BrindleSource } from '../../src/metrics/source.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';
import type { TestRoute } from '../helpers/routes.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../helpers/session.ts';
import type { Speaker } from '../helpers/session.ts';

export const AS = 64512;

/** Log lines, parsed, for tests that look at what was logged. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly log: Logger;

  constructor(level = 'info') {
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    this.log = pino({ level }, sink);
  }

  events(event: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.event === event);
  }
}

export interface Fixture {
  readonly router: Router;
  readonly routerAddress: string;
  readonly speakers: Speaker[];
  /** The speakers' sides of the sessions. */
  readonly remotes: Peer[];
  /** Actual address → stable placeholder, for goldens. */
  readonly placeholders: Map<string, string>;
}

function route(nextHop: string, prefix: string, extra: Partial<TestRoute['attributes']> = {}): TestRoute {
  return { prefix, attributes: { origin: Origin.Igp, asPath: [], nextHop, ...extra } };
}

/** Prefixes the fixture's Loc-RIB holds once every route has arrived. */
export const FIXTURE_PREFIXES = 6;

/**
 * A reflector with two clients: `Mesh_…` and `Node_…_port_…` (Calico's protocol names, so the peer type
 * is derived), each announcing routes; 10.244.9.0/24 and 10.244.8.0/24 come from both, and the first
 * speaker's copies lose at LOCAL_PREF and at AS_PATH length.
 */
export async function reflectorFixture(t: ExecutionContext, log?: Logger): Promise<Fixture> {
  const routerAddress = loopbackAddress();
  const router = new Router({
    routerId: parseIpv4('10.0.0.254'),
    localAs: AS,
    clusterId: parseIpv4('10.0.0.253'),
    log,
  });
  await router.listen(routerAddress, TEST_PORT);
  const speakers = [await speaker(), await speaker()];
  t.teardown(async () => {
    await Promise.all(speakers.map((s) => s.close()));
    await router.close();
  });
  const names = [
    `Mesh_${underscored(speakers[0].address)}`,
    `Node_${underscored(speakers[1].address)}_port_${TEST_PORT}`,
  ];
  for (const [i, s] of speakers.entries()) {
    router.addPeer({
      ...peerConfig({
        name: names[i],
        remoteAddress: s.address,
        remotePort: TEST_PORT,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive: true,
        timers: { idleHoldTimeSec: 1, connectDelayTimeSec: 0 },
      }),
      routeReflectorClient: true,
    });
  }
  const remotes = speakers.map((s) => s.peerWith(routerAddress, { localAs: AS, peerAs: AS }));
  await Promise.all(remotes.map((p) => (p.session ? Promise.resolve() : nextEvent(p, 'established'))));
  const [a, b] = speakers.map((s) => s.address);
  announce(remotes[0], [
    route(a, '10.244.1.0/26', { communities: [AS * 65536 + 7] }),
    route(a, '10.244.9.0/24', { localPref: 100 }),
    route(a, '10.244.8.0/24', { asPath: [{ type: 2, asns: [65001] }] }),
    { ...route(a, '2001:db8:1::/48'), nextHop6: '2001:db8::1' },
  ]);
  announce(remotes[1], [
    route(b, '10.244.2.0/26', { multiExitDisc: 5 }),
    route(b, '10.244.9.0/24', { localPref: 200 }),
    route(b, '10.244.8.0/24'),
  ]);
  router.originate('10.250.0.0/26', { nextHop: routerAddress });
  await waitFor(() => router.locRib.destCount === FIXTURE_PREFIXES && router.adjRibOut.idle, {
    timeoutMs: 10_000,
    what: 'every route in the Loc-RIB',
  });
  const placeholders = new Map([
    [routerAddress, '<router>'],
    [a, '<speaker-1>'],
    [b, '<speaker-2>'],
  ]);
  return { router, routerAddress, speakers, remotes, placeholders };
}

function underscored(address: string): string {
  return address.replace(/[.:]/g, '_');
}

export interface StartedApi {
  readonly api: ApiServer;
  readonly metrics: BrindleMetrics;
  readonly socketPath: string;
  readonly dir: string;
}

/** The API over `source` on 127.0.0.1:<ephemeral> and a control socket in a temporary directory. */
export async function startApi(
  t: ExecutionContext,
  source: BrindleSource | Router,
  options: Partial<ApiServerOptions> = {},
): Promise<StartedApi> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-api-'));
  const src = source instanceof Router ? routerSource(source) : source;
  const metrics = options.metrics ?? new BrindleMetrics(src, { processMetrics: false });
  const socketPath = join(dir, 'run', 'brindle.sock');
  const started: { api?: ApiServer } = {};
  t.teardown(async () => {
    await started.api?.close();
    metrics.close();
    await rm(dir, { recursive: true, force: true });
  });
  const api = await ApiServer.start({
    source: src,
    metrics,
    log: options.log ?? new LogCapture().log,
    listen: '127.0.0.1:0',
    socketPath,
    ...options,
  });
  started.api = api;
  return { api, metrics, socketPath, dir };
}

export interface Response {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

export type Target = { readonly url: string } | { readonly socketPath: string };

export function tcp(api: ApiServer): Target {
  return { url: api.url! };
}

/** One HTTP request to the TCP listener or the control socket, bounded by `timeoutMs`. */
export function call(
  target: Target,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const where = 'url' in target ? { ...urlParts(target.url) } : { socketPath: target.socketPath };
    const req = httpRequest(
      { ...where, method, path, headers: options.headers, timeout: options.timeoutMs ?? 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as never,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

function urlParts(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/** Compares with test/api/golden/NAME.json; UPDATE_GOLDEN=1 rewrites the file instead. */
export async function matchesGolden(t: ExecutionContext, name: string, value: unknown): Promise<void> {
  const file = new URL(`golden/${name}.json`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') {
    // Written as prettier formats JSON, so `prettier --check .` passes on regenerated goldens.
    const text = await format(JSON.stringify(value), { parser: 'json', filepath: fileURLToPath(file) });
    await writeFile(file, text);
    t.log(`wrote golden ${name}.json`);
    return;
  }
  const golden = JSON.parse(await readFile(file, 'utf8')) as unknown;
  t.deepEqual(value, golden, `differs from test/api/golden/${name}.json (UPDATE_GOLDEN=1 to rewrite)`);
}

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * Replaces what differs between runs: addresses (also in names, with `_` for `.`), ISO times,
 * durations, and the values at `volatile` paths ("counters.updatesSent", or a suffix of one such as
 * "messagesSent.update"): values that depend on timing.
 */
export function normalise(
  value: unknown,
  placeholders: ReadonlyMap<string, string>,
  volatile: readonly string[] = [],
): unknown {
  const replaceText = (text: string): string => {
    if (ISO_TIME.test(text)) return '<time>';
    let out = text.replace(/ for (\d+d)?(\d+h)?(\d+m)?\d+s$/, ' for <duration>');
    for (const [address, name] of placeholders) {
      out = out.split(address).join(name).split(underscored(address)).join(name);
    }
    return out;
  };
  const isVolatile = (path: string) => volatile.some((v) => path === v || path.endsWith(`.${v}`));
  const walk = (v: unknown, path: string): unknown => {
    if (isVolatile(path) && v !== null) return '<volatile>';
    if (typeof v === 'string') return replaceText(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, path));
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [replaceText(k), walk(x, path ? `${path}.${k}` : k)]),
      );
    return v;
  };
  return walk(value, '');
}
