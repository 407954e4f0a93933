// The API and the metrics of a running Daemon, as main.ts starts them: the registry follows the
// daemon's routers and datastore health, the HTTP server listens on `api.listen` and the control
// socket on `api.socket`. The FIB and IPAM plug in through `metrics.registerFib/registerIpam` and
// `api.setFibView/setIpamView` when they run.

import type { Daemon } from '../daemon/daemon.ts';
import type { Logger } from '../lib/log.ts';
import { BrindleMetrics } from '../metrics/registry.ts';
import type { BrindleSource } from '../metrics/source.ts';
import { ApiServer } from './server.ts';
import type { ReloadResult } from './server.ts';

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

export async function startDaemonApi(
  daemon: Daemon,
  log: Logger,
  reload: () => ReloadResult,
  version: string,
): Promise<DaemonApi> {
  const { config } = daemon;
  const source = daemonSource(daemon);
  const metrics = new BrindleMetrics(source, {
    build: { version, mode: config.mode, nodeName: config.nodeName, datastore: config.datastore.type },
  });
  try {
    const api = await ApiServer.start({
      source,
      metrics,
      log,
      listen: config.api.listen,
      socketPath: config.api.socket,
      reload,
    });
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
