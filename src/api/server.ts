// The daemon's API: one HTTP server on `api.listen` (loopback by default) for /metrics, the health
// endpoints and the read-only JSON API, and one on the unix socket `api.socket` that serves the same
// plus the commands that change state (reset a peer, reload, log level). Changing state needs access
// to the socket file (mode 0660), never just network reach to the TCP port.
//
// GET  /metrics                      Prometheus text exposition
// GET  /health/live | /health/ready  200 or 503 with a JSON body (health.ts)
// GET  /api/v1/status                every session, one line each (calicoctl node status)
// GET  /api/v1/peers[/NAME|ADDR]     session detail: capabilities, timers, counters, last error
// GET  /api/v1/peers/NAME|ADDR/received|advertised  ?accepted=true &after= &limit=; its Adj-RIB-In|Out
// GET  /api/v1/version               the daemon's version
// GET  /api/v1/routes                ?prefix=P|ADDR &match=exact|longest|longer &family= &peer= &community=
//                                    &nextHop= &after=P &limit=N &count=true; paths and why each lost
// GET  /api/v1/fib                  ?prefix=P|ADDR &family= &state= &limit=; kernel vs desired routes
//                                    (enabled: false without a FIB; 501 until the daemon says which)
// GET  /api/v1/ipam                  501 until IPAM registers a view
// GET  /api/v1/bfd                   BFD sessions: state, discriminators, intervals, last down (bfd-view.ts)
// GET  /api/v1/events/routes         Server-Sent Events of best-path changes
// GET  /api/v1/log-level
// GET  /ui/                          the read-only web console (ui-assets.ts); its own queries:
// GET  /api/v1/ui/overview | /api/v1/ui/routes | /api/v1/ui/peers/NAME|ADDR/timeline | /api/v1/ui/topology
// socket only:
// POST /api/v1/peers/NAME|ADDR/reset Cease/Administrative Reset, then the session starts again;
//                                    ?soft=in|out: ROUTE-REFRESH to the peer, or our routes sent again
// POST /api/v1/reload                re-read the config file, as SIGHUP does
// POST /api/v1/restart|stop          ?graceful=true: stop so that peers keep the routes (RFC 4724 §4),
//                                    then exit 75 for the service manager to restart it, or 0 (stop)
// PUT  /api/v1/log-level             {"level": "debug"}
// POST /api/v1/preview/sessions      {"operation": "apply"|"delete", "resources": [...]}: the sessions the
//                                    change would add, remove or reset; writes nothing (apply --dry-run)
// PUT|GET|DELETE /api/v1/ipam/handles/HANDLE  the CNI plugin's IPAM, node mode (ipam-api.ts)
// POST /api/v1/cni                   a whole CNI plugin run, for brindle-ipam's native front (ipam-api.ts)

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Peer } from '../bgp/session/peer.ts';
import { systemClock } from '../lib/clock.ts';
import { familyAfi, familyKeyName, familySafi } from '../lib/family.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { scrapedCounter, scrapedGauge } from '../metrics/collect.ts';
import type { BrindleMetrics } from '../metrics/registry.ts';
import type { BrindleSource } from '../metrics/source.ts';
import { READINESS_THRESHOLD_MS, readiness } from './health.ts';
import { HttpError, readJson, RouteTable, serve } from './http.ts';
import { assignHandle, handleAddresses, releaseHandle, runCniPlugin } from './ipam-api.ts';
import type { WorkloadApi } from './ipam-api.ts';
import type { ApiRequest, Reply } from './http.ts';
import { findPeer, peerDetail, sortedPeers, statusDocument } from './peer-view.ts';
import { checkParameters } from './query.ts';
import { RouteEvents } from './route-events.ts';
import type { RouteEventsOptions } from './route-events.ts';
import { parseRouteQuery, peerRoutes, queryRoutes } from './route-view.ts';
import { listenUnix, removeSocketFile } from './unix-socket.ts';
import { ConsoleAssets } from './ui-assets.ts';
import { overviewDocument } from './ui-overview.ts';
import { parseUiRouteSearch, searchRoutes } from './ui-routes.ts';
import { PeerTimeline } from './ui-timeline.ts';

const HANDLE = '/api/v1/ipam/handles/:handle';
const CNI = '/api/v1/cni';
const PREVIEW = '/api/v1/preview/sessions';
/** Per listener; Node closes connections beyond it at once. */
const MAX_CONNECTIONS = 256;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** What a reload did: the daemon's SIGHUP handler returns it too. */
export type ReloadResult =
  { readonly ok: true; readonly level: string } | { readonly ok: false; readonly errors: string[] };

/** A stop asked over the API: for a restart or for good, graceful (RFC 4724 §4) or not. */
export interface StopRequest {
  readonly graceful: boolean;
  readonly restart: boolean;
}

/** Carries out POST /api/v1/stop and /api/v1/restart (the process owns how it exits). */
export interface DaemonStopper {
  /** Why the request cannot be carried out (409), or undefined. */
  refusal(request: StopRequest): string | undefined;
  /** Starts the stop; called once the answer is written. */
  run(request: StopRequest): void;
}

/**
 * A module's read-only JSON view (the FIB's routes, IPAM's blocks), plugged in when the module runs;
 * it validates its own query string (an HttpError for a bad one).
 */
export type ExtensionView = (query: URLSearchParams) => unknown; // a value or a Promise of one

/**
 * Answers a request body the daemon validates itself (an HttpError for a bad one); nothing it does
 * changes state, but it reads what is submitted, so it lives on the control socket only.
 */
export type PreviewHandler = (body: unknown) => unknown;

export interface ApiServerOptions {
  readonly source: BrindleSource;
  readonly metrics: BrindleMetrics;
  /** The daemon's root logger: PUT /api/v1/log-level sets its level (children follow). */
  readonly log: Logger;
  /** "host:port" or "[v6]:port"; port 0 picks a free port. No TCP listener when absent. */
  readonly listen?: string;
  /** The control socket's path. No control socket when absent. */
  readonly socketPath?: string;
  readonly clock?: Clock;
  readonly readinessThresholdMs?: number;
  /** Re-reads the configuration (POST /api/v1/reload); 501 when absent. */
  readonly reload?: () => ReloadResult;
  /** Stops or restarts the daemon (POST /api/v1/stop|restart); 501 when absent. */
  readonly stop?: DaemonStopper;
  readonly events?: RouteEventsOptions;
  /** Where the built web console is (dist/ui by default). */
  readonly consoleDirectory?: string;
  /** The daemon's version (GET /api/v1/version, `brindlectl version`). */
  readonly version?: string;
}

export class ApiServer {
  private readonly events: RouteEvents;
  private readonly clock: Clock;
  private readonly startedAt: number;
  private tcp: Server | undefined;
  private unix: { server: Server; path: string; inode: number } | undefined;
  private fib: ExtensionView | undefined;
  private ipam: ExtensionView | undefined;
  private topology: ExtensionView | undefined;
  private bfd: ExtensionView | undefined;
  private sessionPreview: PreviewHandler | undefined;
  private workloads: WorkloadApi | undefined;
  private readonly timeline: PeerTimeline;
  private readonly console: ConsoleAssets;

  private constructor(private readonly options: ApiServerOptions) {
    this.clock = options.clock ?? systemClock;
    this.startedAt = this.clock.now();
    this.events = new RouteEvents(options.source, options.log, options.events);
    this.timeline = new PeerTimeline(options.source);
    this.console = new ConsoleAssets(options.consoleDirectory);
    this.registerMetrics();
  }

  /** The route event stream's own series (once per registry). */
  private registerMetrics(): void {
    const registry = this.options.metrics.registry;
    if (registry.getSingleMetric('brindle_api_route_event_clients')) return;
    scrapedGauge(
      registry,
      { name: 'brindle_api_route_event_clients', help: 'Clients of GET /api/v1/events/routes.' },
      (emit) => emit({}, this.events.clientCount),
    );
    scrapedCounter(
      registry,
      {
        name: 'brindle_api_route_event_clients_dropped_total',
        help: 'Route event clients disconnected for falling behind.',
      },
      (emit) => emit({}, this.events.dropped),
    );
  }

  static async start(options: ApiServerOptions): Promise<ApiServer> {
    const api = new ApiServer(options);
    try {
      if (options.listen !== undefined) await api.listenTcp(options.listen);
      if (options.socketPath !== undefined) await api.listenSocket(options.socketPath);
    } catch (error) {
      await api.close();
      throw error;
    }
    return api;
  }

  private async listenTcp(listen: string): Promise<void> {
    const { host, port } = parseListen(listen);
    const server = createServer(serve(this.routes('tcp'), this.options.log));
    server.maxConnections = MAX_CONNECTIONS;
    this.tcp = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.options.log.info({ event: 'api-listening', address: this.url }, 'API listening');
  }

  private async listenSocket(path: string): Promise<void> {
    const server = createServer(serve(this.routes('socket'), this.options.log));
    server.maxConnections = MAX_CONNECTIONS;
    const inode = await listenUnix(server, path);
    this.unix = { server, path, inode };
    this.options.log.info({ event: 'api-listening', socket: path }, 'control socket listening');
  }

  /** The TCP listener's address (with the port chosen when 0 was asked). */
  get address(): { host: string; port: number } | undefined {
    const address = this.tcp?.address() as AddressInfo | null | undefined;
    return address ? { host: address.address, port: address.port } : undefined;
  }

  get url(): string | undefined {
    const a = this.address;
    return a && `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  }

  get socketPath(): string | undefined {
    return this.unix?.path;
  }

  /** SSE clients now connected, and those dropped for falling behind. */
  get eventClients(): { connected: number; dropped: number } {
    return { connected: this.events.clientCount, dropped: this.events.dropped };
  }

  /** GET /api/v1/fib serves this view once the FIB runs (501 until then). */
  setFibView(view: ExtensionView | undefined): void {
    this.fib = view;
  }

  setIpamView(view: ExtensionView | undefined): void {
    this.ipam = view;
  }

  /** GET /api/v1/ui/topology: the cluster's sessions as the resources define them. */
  setTopologyView(view: ExtensionView | undefined): void {
    this.topology = view;
  }

  setBfdView(view: ExtensionView | undefined): void {
    this.bfd = view;
  }

  /** POST /api/v1/preview/sessions on the control socket (501 until the daemon plugs it in). */
  setSessionPreview(handler: PreviewHandler | undefined): void {
    this.sessionPreview = handler;
  }

  /** The CNI plugin's IPAM on the control socket (501 until a node-mode daemon plugs it in). */
  setWorkloadIpam(api: WorkloadApi | undefined): void {
    this.workloads = api;
  }

  private routes(listener: 'tcp' | 'socket'): RouteTable {
    const table = new RouteTable()
      .add('GET', '/metrics', () => this.metricsReply())
      .add('GET', '/health/live', () => this.live())
      .add('GET', '/health/ready', () => this.ready())
      .add('GET', '/api/v1', () => ({ body: { endpoints: ENDPOINTS } }))
      .add('GET', '/api/v1/version', () => ({ body: { version: this.options.version ?? 'unknown' } }))
      .add('GET', '/api/v1/status', async () => ({ body: await this.status() }))
      .add('GET', '/api/v1/peers', async () => ({ body: { peers: await this.peers() } }))
      .add('GET', '/api/v1/peers/:peer', async (r) => ({ body: await this.peer(r.params.peer) }))
      .add('GET', '/api/v1/peers/:peer/received', async (r) => this.peerRoutes(r, 'received'))
      .add('GET', '/api/v1/peers/:peer/advertised', async (r) => this.peerRoutes(r, 'advertised'))
      .add('GET', '/api/v1/routes', async (r) => this.routesReply(r))
      .add('GET', '/api/v1/fib', (r) => extension(this.fib, 'the FIB', r.query))
      .add('GET', '/api/v1/ipam', (r) => extension(this.ipam, 'IPAM', r.query))
      .add('GET', '/api/v1/bfd', (r) => extension(this.bfd, 'BFD', r.query))
      .add('GET', '/api/v1/events/routes', (r) => this.attachEvents(r))
      .add('GET', '/api/v1/log-level', () => ({ body: { level: this.options.log.level } }))
      .add('GET', '/api/v1/ui/overview', async () => ({ body: await this.overview() }))
      .add('GET', '/api/v1/ui/routes', async (r) => ({
        body: await searchRoutes(this.options.source.bgp, parseUiRouteSearch(r.query, this.peerName)),
      }))
      .add('GET', '/api/v1/ui/topology', (r) => extension(this.topology, 'The cluster topology', r.query))
      .add('GET', '/api/v1/ui/peers/:peer/timeline', (r) => ({ body: this.peerTimeline(r.params.peer) }))
      .add('GET', '/ui', (r) => this.console.redirect(r.response))
      .add('GET', '/ui/', (r) => this.console.page(r.response))
      .add('GET', '/ui/:file', (r) => this.console.asset(r.params.file, r.response));
    if (listener === 'tcp') {
      const refuse = () => {
        throw new HttpError(
          403,
          'commands that change state are accepted only on the control socket (api.socket)',
        );
      };
      return table
        .add('POST', '/api/v1/peers/:peer/reset', refuse)
        .add('POST', '/api/v1/reload', refuse)
        .add('POST', '/api/v1/restart', refuse)
        .add('POST', '/api/v1/stop', refuse)
        .add('PUT', '/api/v1/log-level', refuse)
        .add('POST', PREVIEW, refuse)
        .add('PUT', HANDLE, refuse)
        .add('GET', HANDLE, refuse)
        .add('DELETE', HANDLE, refuse)
        .add('POST', CNI, refuse);
    }
    return table
      .add('POST', '/api/v1/peers/:peer/reset', (r) => this.resetPeer(r.params.peer, r.query))
      .add('POST', '/api/v1/reload', () => this.reload())
      .add('POST', '/api/v1/restart', (r) => this.stopDaemon(r, true))
      .add('POST', '/api/v1/stop', (r) => this.stopDaemon(r, false))
      .add('PUT', '/api/v1/log-level', (r) => this.setLogLevel(r))
      .add('POST', PREVIEW, (r) => this.previewSessions(r))
      .add('PUT', HANDLE, (r) => assignHandle(this.workloads, r))
      .add('GET', HANDLE, (r) => handleAddresses(this.workloads, r))
      .add('DELETE', HANDLE, (r) => releaseHandle(this.workloads, r))
      .add('POST', CNI, (r) => runCniPlugin(this.workloads, r));
  }

  private async previewSessions(request: ApiRequest): Promise<Reply> {
    if (!this.sessionPreview) throw new HttpError(501, 'the session preview is not available yet');
    return { body: await this.sessionPreview(await readJson(request.raw)) };
  }

  private async metricsReply(): Promise<Reply> {
    const { contentType, body } = await this.options.metrics.exposition();
    return { body, contentType };
  }

  private live(): Reply {
    return {
      body: {
        live: true,
        uptimeSec: Math.round((this.clock.now() - this.startedAt) / 1000),
        datastore: this.options.metrics.datastore ?? 'unknown',
      },
    };
  }

  private ready(): Reply {
    const threshold = this.options.readinessThresholdMs ?? READINESS_THRESHOLD_MS;
    const result = readiness(this.options.source.bgp, this.clock.now() - this.startedAt, threshold);
    return { status: result.ready ? 200 : 503, body: result };
  }

  private async status() {
    const census = await this.options.metrics.rib.census();
    return statusDocument(this.options.source.bgp, Date.now(), census);
  }

  private async peers() {
    const census = await this.options.metrics.rib.census();
    const advertised = this.options.source.bgp?.adjRibOut.advertisedPrefixes?.();
    return sortedPeers(this.options.source.bgp).map((p) => peerDetail(p, census, Date.now(), advertised));
  }

  private async peer(key: string) {
    const peer = findPeer(this.options.source.bgp, key);
    if (!peer) throw new HttpError(404, `no peer named or at "${key}"`);
    const advertised = this.options.source.bgp?.adjRibOut.advertisedPrefixes?.();
    return peerDetail(peer, await this.options.metrics.rib.census(), Date.now(), advertised);
  }

  private async peerRoutes(request: ApiRequest, view: 'received' | 'advertised'): Promise<Reply> {
    const router = this.options.source.bgp;
    const peer = findPeer(router, request.params.peer);
    if (!peer) throw new HttpError(404, `no peer named or at "${request.params.peer}"`);
    return { body: await peerRoutes(router, peer, view, request.query) };
  }

  private async overview() {
    const census = await this.options.metrics.rib.census();
    const uptimeSec = Math.round((this.clock.now() - this.startedAt) / 1000);
    const views = {
      fib: this.fib !== undefined,
      ipam: this.ipam !== undefined,
      topology: this.topology !== undefined,
    };
    return { ...overviewDocument(this.options.source.bgp, census, this.timeline, uptimeSec), views };
  }

  private peerTimeline(key: string) {
    const peer = findPeer(this.options.source.bgp, key);
    if (!peer) throw new HttpError(404, `no peer named or at "${key}"`);
    return { peer: peer.config.name, transitions: this.timeline.transitions(peer) };
  }

  private async routesReply(request: ApiRequest): Promise<Reply> {
    const query = parseRouteQuery(request.query, this.peerName);
    return { body: await queryRoutes(this.options.source.bgp, query) };
  }

  /** A route filter's `peer`, a name or an address, as the name paths record. */
  private readonly peerName = (key: string): string | undefined =>
    findPeer(this.options.source.bgp, key)?.config.name;

  private attachEvents(request: ApiRequest): Reply {
    this.events.attach(request.response);
    return undefined;
  }

  private resetPeer(key: string, query: URLSearchParams): Reply {
    checkParameters(query, ['soft']);
    const soft = query.get('soft');
    if (soft !== null && soft !== 'in' && soft !== 'out')
      throw new HttpError(400, `soft must be in or out, not "${soft}"`);
    const peer = findPeer(this.options.source.bgp, key);
    if (!peer) throw new HttpError(404, `no peer named or at "${key}"`);
    const before = peer.state;
    const name = peer.config.name;
    this.options.log.info(
      { event: 'peer-reset', peer: name, state: before, soft: soft ?? undefined },
      soft ? `soft reset ${soft} requested` : 'peer reset requested',
    );
    if (soft !== null)
      return { status: 202, body: { peer: name, soft, families: this.softReset(peer, soft) } };
    peer.reset('reset by the operator');
    return {
      status: 202,
      body: { peer: name, remote: peer.config.remoteAddress, before, state: peer.state },
    };
  }

  /**
   * Soft reset, the session stays: `in` asks the peer to send its routes again (RFC 2918
   * ROUTE-REFRESH, per negotiated family), `out` sends it ours again. 409 when it cannot be done.
   */
  private softReset(peer: Peer, direction: 'in' | 'out'): string[] {
    const negotiated = peer.negotiated;
    if (!negotiated) throw new HttpError(409, `peer ${peer.config.name} is ${peer.state}, not Established`);
    const families = [...negotiated.families];
    if (direction === 'out') {
      if (!this.options.source.bgp?.resendRoutes?.(peer))
        throw new HttpError(409, `cannot send the routes to ${peer.config.name} again now`);
    } else if (!negotiated.routeRefresh) {
      throw new HttpError(409, `peer ${peer.config.name} did not negotiate route refresh (RFC 2918)`);
    } else {
      for (const family of families) peer.requestRouteRefresh(familyAfi(family), familySafi(family));
    }
    return families.map(familyKeyName);
  }

  private reload(): Reply {
    if (!this.options.reload) throw new HttpError(501, 'reload is not available in this process');
    const result = this.options.reload();
    if (!result.ok)
      return {
        status: 422,
        body: {
          error: 'the configuration is invalid; kept the running one',
          status: 422,
          errors: result.errors,
        },
      };
    return { body: { reloaded: true, level: result.level } };
  }

  /**
   * `brindlectl restart|stop [--graceful]`: answered 202 first, then the daemon stops; 409 when a
   * graceful restart could not be graceful (the stopper says why).
   */
  private stopDaemon(request: ApiRequest, restart: boolean): Reply {
    checkParameters(request.query, ['graceful']);
    const value = request.query.get('graceful');
    if (value !== null && value !== 'true' && value !== 'false')
      throw new HttpError(400, `graceful must be true or false, not "${value}"`);
    const stopper = this.options.stop;
    if (!stopper) throw new HttpError(501, 'stop and restart are not available in this process');
    const stop: StopRequest = { graceful: value === 'true', restart };
    const refusal = stopper.refusal(stop);
    if (refusal) throw new HttpError(409, `cannot restart gracefully: ${refusal}`);
    this.options.log.info({ event: 'stop-requested', ...stop }, `${restart ? 'restart' : 'stop'} requested`);
    request.response.once('finish', () => stopper.run(stop));
    return { status: 202, body: stop };
  }

  private async setLogLevel(request: ApiRequest): Promise<Reply> {
    const body = await readJson(request.raw);
    const level = (body as { level?: unknown } | null)?.level;
    if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level))
      throw new HttpError(400, `level must be one of ${LOG_LEVELS.join(', ')}`);
    const log = this.options.log;
    const previous = log.level;
    // `from`/`to`, not `level`: that field is pino's own.
    const say = () =>
      log.info({ event: 'log-level', from: previous, to: level }, `log level ${previous} -> ${level}`);
    // Said at info under whichever of the two levels shows info, so the change is on record.
    const infoShown = log.levels.values[level] <= log.levels.values.info;
    if (!infoShown) say();
    log.level = level;
    if (infoShown) say();
    return { body: { level, previous } };
  }

  async close(): Promise<void> {
    this.events.close();
    this.timeline.close();
    const servers = [this.tcp, this.unix?.server].filter((s) => s !== undefined);
    await Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    if (this.unix) removeSocketFile(this.unix.path, this.unix.inode);
    this.tcp = undefined;
    this.unix = undefined;
  }
}

const ENDPOINTS = [
  'GET /metrics',
  'GET /health/live',
  'GET /health/ready',
  'GET /api/v1/status',
  'GET /api/v1/peers',
  'GET /api/v1/peers/{name|address}',
  'GET /api/v1/peers/{name|address}/received?accepted=&after=&limit=',
  'GET /api/v1/peers/{name|address}/advertised?after=&limit=',
  'GET /api/v1/version',
  'GET /api/v1/routes?prefix=&match=exact|longest|longer&family=&peer=&community=&nextHop=&after=&limit=&count=true',
  'GET /api/v1/fib?prefix=&family=&state=&limit=',
  'GET /api/v1/ipam',
  'GET /api/v1/bfd',
  'GET /api/v1/events/routes',
  'GET /api/v1/log-level',
  'GET /api/v1/ui/overview',
  'GET /api/v1/ui/routes?prefix=&match=exact|longest|longer&family=&peer=&community=&nextHop=&offset=&limit=',
  'GET /api/v1/ui/peers/{name|address}/timeline',
  'GET /api/v1/ui/topology',
  'GET /ui/',
  'POST /api/v1/peers/{name|address}/reset?soft=in|out (control socket)',
  'POST /api/v1/reload (control socket)',
  'POST /api/v1/restart?graceful=true|false (control socket)',
  'POST /api/v1/stop?graceful=true|false (control socket)',
  'PUT /api/v1/log-level (control socket)',
  'POST /api/v1/preview/sessions (control socket)',
  'PUT|GET|DELETE /api/v1/ipam/handles/{handle} (control socket, node mode)',
  'POST /api/v1/cni (control socket, node mode)',
];

async function extension(
  view: ExtensionView | undefined,
  what: string,
  query: URLSearchParams,
): Promise<Reply> {
  if (!view) throw new HttpError(501, `${what} is not available yet`);
  return { body: await view(query) };
}

/** "127.0.0.1:9179", "[::1]:9179", "localhost:9179" → host and port. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new Error(`api.listen must be host:port or [v6]:port, not "${listen}"`);
  return { host: match[1] ?? match[2], port };
}
