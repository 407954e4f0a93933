// The API and the metrics of a running Daemon, as main/brindle.ts starts them: the registry follows the
// daemon's routers and datastore health, the HTTP server listens on `api.listen` and the control
// socket on `api.socket`. Node mode adds the kernel FIB (brindle_fib_*, GET /api/v1/fib) and this
// node's IPAM figures (brindle_ipam_*, read from the datastore on scrape, cached) and the CNI plugin's
// allocations on the control socket (api/ipam-api.ts), whole plugin runs included (cni/daemon-side.ts,
// for brindle-ipam's native front). A daemon without a
// FIB answers GET /api/v1/fib with `enabled: false` and why — reflector mode, or fib.enabled false —
// so `brindlectl fib` says so plainly instead of reporting an error. Every mode serves the web
// console's cluster topology (from the resources) and IPAM page (from the datastore, loaded on first
// use).

import type { Daemon } from '../daemon/daemon.ts';
import type { Logger } from '../lib/log.ts';
import { BrindleMetrics } from '../metrics/registry.ts';
import type { BrindleSource } from '../metrics/source.ts';
import { fibDocument, noFibDocument, parseFibQuery } from '../api/fib-view.ts';
import { HttpError } from '../api/http.ts';
import { bfdDocument } from '../api/bfd-view.ts';
import { registerBfdMetrics } from '../metrics/bfd-metrics.ts';
import { registerMemoryTrimMetrics } from '../metrics/process-metrics.ts';
import { ApiServer } from '../api/server.ts';
import type { DaemonStopper, ExtensionView, PreviewHandler, ReloadResult } from '../api/server.ts';
import type { ClusterGraph } from '../reflector/cluster-graph.ts';
import { parsePreviewRequest, previewTopology } from '../reflector/session-preview.ts';

export interface DaemonApi {
  readonly metrics: BrindleMetrics;
  readonly api: ApiServer;
  close(): Promise<void>;
}

export function daemonSource(daemon: Daemon): BrindleSource {
  return {
    get bgp() {
      return daemon.bgp;
    },
    router$: daemon.router$,
    datastoreHealth$: daemon.cache.health$,
  };
}

/** `stop`: POST /api/v1/stop and /api/v1/restart, which main/brindle.ts carries out. */
export async function startDaemonApi(
  daemon: Daemon,
  log: Logger,
  reload: () => ReloadResult,
  version: string,
  stop?: DaemonStopper,
): Promise<DaemonApi> {
  const { config } = daemon;
  const source = daemonSource(daemon);
  const metrics = new BrindleMetrics(source, {
    build: { version, mode: config.mode, nodeName: config.nodeName, datastore: config.datastore.type },
  });
  const fib = daemon.fib;
  if (fib) metrics.registerFib(fib);
  registerBfdMetrics(metrics.registry, daemon.bfd);
  registerMemoryTrimMetrics(metrics.registry, daemon.memoryTrim);
  if (config.mode === 'node') {
    // Node mode only: a reflector has no IPAM blocks and never loads the IPAM modules.
    const { CachedIpamStats, readNodeIpamStats } = await import('../ipam/usage.ts');
    const read = () => readNodeIpamStats(daemon.store, config.nodeName);
    metrics.registerIpam(new CachedIpamStats(read, { log }));
  }
  try {
    const api = await ApiServer.start({
      source,
      metrics,
      log,
      listen: config.api.listen,
      socketPath: config.api.socket,
      reload,
      stop,
      version,
    });
    api.setBfdView(() => bfdDocument(daemon.bfd));
    if (fib) api.setFibView((query) => fibDocument(fib, config.fib, parseFibQuery(query)));
    else api.setFibView(() => noFibDocument(noFibReason(config.mode)));
    api.setTopologyView(topologyView(daemon));
    api.setIpamView(ipamView(daemon));
    api.setSessionPreview(sessionPreview(daemon));
    if (config.mode === 'node') {
      // The CNI plugin's fast path: pools from the resource cache, blocks remembered by the allocator.
      const { cachedResources } = await import('../ipam/resources.ts');
      const { WorkloadIpam } = await import('../ipam/workload.ts');
      const { daemonPlugin } = await import('../cni/daemon-side.ts');
      const resources = cachedResources(daemon.cache, daemon.store);
      const ipam = new WorkloadIpam({ store: daemon.store, resources });
      const plugin = daemonPlugin(ipam, config.nodeName);
      api.setWorkloadIpam({ ipam, node: config.nodeName, plugin });
    }
    return {
      metrics,
      api,
      async close() {
        await api.close();
        metrics.close();
      },
    };
  } catch (error) {
    metrics.close();
    throw error;
  }
}

/**
 * The cluster graph of the current resources, computed once per datastore revision (its module loads
 * on the first request, not at start).
 */
function topologyView(daemon: Daemon): ExtensionView {
  let last: { revision: number; graph: ClusterGraph } | undefined;
  return async () => {
    const snapshot = daemon.cache.current;
    if (!snapshot) throw new HttpError(503, 'the resources have not been read from the datastore yet');
    const { clusterGraph } = await import('../reflector/cluster-graph.ts');
    if (last?.revision !== snapshot.revision)
      last = { revision: snapshot.revision, graph: clusterGraph(snapshot, daemon.config.nodeName) };
    return last.graph;
  };
}

/**
 * What a submitted change would do (`apply --dry-run`): the sessions of this node it would add, remove
 * or reset, and per established session the routes it would be sent or accept differently — the
 * daemon's current resources with the change laid over them, computed as the daemon would apply it.
 */
function sessionPreview(daemon: Daemon): PreviewHandler {
  return async (body) => {
    const request = parsePreviewRequest(body);
    if ('errors' in request) throw new HttpError(400, request.errors.join('; '));
    const snapshot = daemon.cache.current;
    if (!snapshot) throw new HttpError(503, 'the resources have not been read from the datastore yet');
    const { nodeName, routerId } = daemon.config;
    const preview = previewTopology({
      ...request,
      snapshot,
      localNode: nodeName,
      routerId: routerId || undefined,
    });
    const routes = await daemon.previewRoutes(preview.candidate, preview.peerings);
    return { ...preview.sessions, ...(routes ? { routes } : {}) };
  };
}

/**
 * IPAM's pools, blocks, nodes and problems, from the datastore (any mode: with etcd a reflector sees
 * the cluster's IPAM too). The IPAM modules load on the first request, not at start.
 */
function ipamView(daemon: Daemon): ExtensionView {
  let read: (() => Promise<unknown>) | undefined;
  return async () => {
    if (!read) {
      const { cachedIpamOverview, ipamOverview } = await import('../ipam/overview.ts');
      const { existsSync } = await import('node:fs');
      const { DEFAULT_WORKLOAD_GRACE_MS } = await import('../ipam/check.ts');
      const workloads =
        daemon.config.mode === 'node'
          ? { node: daemon.config.nodeName, graceMs: DEFAULT_WORKLOAD_GRACE_MS, netnsExists: existsSync }
          : undefined;
      read = cachedIpamOverview(() => ipamOverview(daemon.store, { workloads }));
    }
    return read();
  };
}

function noFibReason(mode: 'node' | 'reflector'): string {
  return mode === 'reflector'
    ? 'reflector mode: a route reflector programs no kernel routes'
    : 'fib.enabled is false: this node programs no kernel routes';
}
