// Brindle's Prometheus registry: every `brindle_*` series (BGP sessions, Loc-RIB, Adj-RIB-Out, the
// datastore, build info) plus the usual process_* and nodejs_* series. Series are computed on scrape
// from the live objects; the registry holds a subscription to the Loc-RIB's changes (best-path change
// counts) and to the datastore's health, both released by close().

import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import type { StoreHealth } from '../datastore/store.ts';
import { formatIpv4 } from '../lib/address.ts';
import { systemClock } from '../lib/clock.ts';
import type { Clock } from '../lib/clock.ts';
import { registerBackpressureMetrics } from './backpressure-metrics.ts';
import { registerBgpMetrics } from './bgp-metrics.ts';
import { registerDeferralMetrics } from './deferral-metrics.ts';
import { scrapedCounter, scrapedGauge } from './collect.ts';
import { Registry } from './exposition.ts';
import { registerFibMetrics, registerIpamMetrics } from './extensions.ts';
import type { FibMetricsSource, IpamMetricsSource } from './extensions.ts';
import { RibWatcher } from './rib-census.ts';
import type { RibWatcherOptions } from './rib-census.ts';
import { registerProcessMetrics } from './process-metrics.ts';
import { registerRibMetrics } from './rib-metrics.ts';
import type { BrindleSource } from './source.ts';

export type { FibMetricsSource, IpamMetricsSource } from './extensions.ts';
export type { FibStats } from '../fib/stats.ts';
export type { IpamStats } from '../ipam/usage.ts';
export { registerFibMetrics, registerIpamMetrics } from './extensions.ts';

export interface BuildInfo {
  readonly version: string;
  readonly mode: string;
  readonly nodeName: string;
  readonly datastore: string;
}

export interface MetricsOptions {
  readonly build?: BuildInfo;
  /** The process_* and nodejs_* series (process-metrics.ts; default on). */
  readonly processMetrics?: boolean;
  readonly census?: RibWatcherOptions;
  /** Times the IPAM figures' reuse within one scrape (default: the system clock). */
  readonly clock?: Clock;
}

export class BrindleMetrics {
  readonly registry = new Registry();
  readonly rib: RibWatcher;
  private datastoreHealth: StoreHealth | undefined;
  private readonly subscription: Subscription | undefined;
  private fibRegistered = false;
  private ipamRegistered = false;
  private readonly clock: Clock;
  private readonly stopProcessMetrics: (() => void) | undefined;

  constructor(
    readonly source: BrindleSource,
    options: MetricsOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.rib = new RibWatcher(source, options.census);
    this.subscription = source.datastoreHealth$?.subscribe((h) => (this.datastoreHealth = h));
    registerBgpMetrics(this.registry, source, this.rib);
    registerRibMetrics(this.registry, source, this.rib);
    registerBackpressureMetrics(this.registry, source);
    registerDeferralMetrics(this.registry, source);
    this.registerDaemonMetrics(options.build);
    if (options.processMetrics ?? true) {
      this.stopProcessMetrics = registerProcessMetrics(this.registry);
      registerEventLoopUtilization(this.registry);
    }
  }

  private registerDaemonMetrics(build: BuildInfo | undefined): void {
    scrapedGauge(
      this.registry,
      {
        name: 'brindle_datastore_up',
        help: 'Whether the datastore answers (1) or not (0); Brindle keeps routing on its last good view meanwhile.',
        labelNames: ['datastore'],
      },
      (emit) => {
        const datastore = build?.datastore ?? 'unknown';
        if (this.datastoreHealth !== undefined) emit({ datastore }, this.datastoreHealth === 'up' ? 1 : 0);
      },
    );
    scrapedGauge(
      this.registry,
      {
        name: 'brindle_build_info',
        help: 'Version, mode and node of this Brindle (value 1).',
        labelNames: ['version', 'mode', 'node', 'datastore', 'nodejs'],
      },
      (emit) => {
        if (build) {
          const { version, mode, nodeName, datastore } = build;
          emit({ version, mode, node: nodeName, datastore, nodejs: process.version }, 1);
        }
      },
    );
    scrapedGauge(
      this.registry,
      {
        name: 'brindle_bgp_router_info',
        help: 'The running BGP speaker: router ID, cluster ID and local AS (value 1).',
        labelNames: ['router_id', 'cluster_id', 'local_as'],
      },
      (emit) => {
        const id = this.source.bgp?.identity;
        if (id)
          emit(
            {
              router_id: formatIpv4(id.routerId),
              cluster_id: formatIpv4(id.clusterId),
              local_as: String(id.localAs),
            },
            1,
          );
      },
    );
  }

  /** The datastore's last reported health; undefined before the first report or without a datastore. */
  get datastore(): StoreHealth | undefined {
    return this.datastoreHealth;
  }

  /** The FIB's series (brindle_fib_*): node mode registers them when it programs the kernel. */
  registerFib(fib: FibMetricsSource): void {
    if (this.fibRegistered) throw new Error('FIB metrics are already registered');
    this.fibRegistered = true;
    registerFibMetrics(this.registry, fib);
  }

  /** IPAM's series (brindle_ipam_*): node mode registers this node's figures (ipam/usage.ts). */
  registerIpam(ipam: IpamMetricsSource): void {
    if (this.ipamRegistered) throw new Error('IPAM metrics are already registered');
    this.ipamRegistered = true;
    registerIpamMetrics(this.registry, ipam, this.clock);
  }

  /** The text exposition format and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.subscription?.unsubscribe();
    this.stopProcessMetrics?.();
    this.rib.close();
    this.registry.clear();
  }
}

/**
 * Event-loop utilisation as two counters (performance.eventLoopUtilization since start): the share of
 * an interval the loop was busy is Δactive / (Δactive + Δidle), whoever scrapes and however often.
 * nodejs_eventloop_lag_* says how late timers fire, not how busy the loop is.
 */
function registerEventLoopUtilization(registry: Registry): void {
  const phases = [
    ['active', 'running callbacks'],
    ['idle', 'waiting in the poll phase for I/O or timers'],
  ] as const;
  for (const [phase, what] of phases)
    scrapedCounter(
      registry,
      {
        name: `brindle_event_loop_${phase}_seconds_total`,
        help: `Seconds the Node.js event loop spent ${what} since the process started.`,
      },
      (emit) => emit({}, performance.eventLoopUtilization()[phase] / 1000),
    );
}
