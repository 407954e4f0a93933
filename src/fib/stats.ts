// The FIB's statistics as plain data: what the engine counts and reports on request; the metrics
// registry turns them into the brindle_fib_* series.

export interface FibWriteCounts {
  readonly ok: number;
  readonly failed: number;
}

export interface FibStats {
  /** Routes carrying Brindle's protocol id in its kernel table, by family name ("ipv4-unicast"). */
  readonly installedRoutes: ReadonlyMap<string, number>;
  /** Routes Brindle wants there (best paths and its blocks' blackholes), by family name. */
  readonly desiredRoutes: ReadonlyMap<string, number>;
  /** Prefixes waiting for a kernel write, those in flight included. */
  readonly pendingRoutes: number;
  /** Prefixes whose last write the kernel refused (retried with backoff). */
  readonly failedRoutes: number;
  /** Kernel writes since start, by operation. */
  readonly writes: Readonly<Record<'add' | 'replace' | 'delete', FibWriteCounts>>;
  /** Full resynchronisations (dump and diff) since start. */
  readonly reconciles: number;
  /** Unix time in ms of the last completed resynchronisation. */
  readonly lastReconcileAt?: number;
  /** Kernel notifications lost (ENOBUFS), each forcing a resynchronisation. */
  readonly overruns: number;
}
