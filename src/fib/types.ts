// The FIB's vocabulary: the desired state the RIB adapter feeds in (FibRoute, keyed by prefix), the
// kernel-level writes a backend performs (FibOp → FibOpResult), and what a backend reports back
// (dumps and kernel events), and the engine's options and reports. The engine (fib.ts) speaks only
// these types to its backend, so a test backend (or, one day, an `ip -batch` one) can stand in for
// netlink.

import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import type { Prefix } from '../lib/prefix.ts';
import type { KernelAddress, KernelLink, KernelRoute, NetlinkError, RouteHead } from './netlink.ts';

export type {
  KernelAddress,
  KernelLink,
  KernelNextHop,
  KernelRoute,
  NetlinkError,
  RouteHead,
} from './netlink.ts';

/** Brindle's rtm_protocol unless configured otherwise (the daemon config's `fib.protocol`). */
export const DEFAULT_FIB_PROTOCOL = 205;

/** One way out of a route: a gateway, a device, or both. */
export interface FibNextHop {
  /** Same family as the prefix (RTA_VIA for mixed families is not supported). */
  readonly gateway?: string;
  /** Interface name, e.g. "eth0"; resolved to an ifindex when written. */
  readonly device?: string;
  /** RTNH_F_ONLINK: the gateway is on the link even without a covering connected route
   * (IP-in-IP `tunl0` style next hops); needs `device`. */
  readonly onlink?: boolean;
}

/** A route as Brindle wants it in the kernel. Several next hops make an ECMP (RTA_MULTIPATH) route. */
export interface FibRoute {
  readonly prefix: Prefix;
  readonly kind: 'unicast' | 'blackhole';
  /** Ignored for blackholes; at least one for unicast. */
  readonly nextHops: readonly FibNextHop[];
  /** RTA_PRIORITY, 0..2^32−1; absent: the kernel's default (IPv4 0, IPv6 1024). Part of the kernel's
   * key for the route, so a change is an add at the new metric, then a delete at the old one. */
  readonly metric?: number;
}

/** A kernel write. `add` creates only (NLM_F_CREATE|NLM_F_EXCL): it must not displace a route of
 * another protocol; `replace` (NLM_F_CREATE|NLM_F_REPLACE) is for a prefix known to hold our route. */
export type FibOp =
  | { readonly op: 'add' | 'replace'; readonly route: KernelRoute }
  | { readonly op: 'delete'; readonly route: KernelRoute };

/** Per-op outcome; `errno` is positive (ENETUNREACH, ENODEV, …). ENOBUFS means "unknown": the
 * kernel dropped replies, so the op may or may not have been applied. */
export type FibOpResult = { readonly ok: true } | ({ readonly ok: false } & NetlinkError);

export const OP_OK: FibOpResult = Object.freeze({ ok: true });

export interface RouteDumpFilter {
  readonly table: number;
  /** Only routes of this protocol (kernel-side filtering with strict checking). */
  readonly protocol?: number;
  /** Both families when absent. */
  readonly family?: 4 | 6;
}

/** A route notification. Most in a busy namespace concern other tables or protocols, so the head is
 * read up front and the rest only on demand. */
export interface RouteEvent {
  readonly kind: 'route';
  readonly action: 'new' | 'delete';
  /** RTM_NEWROUTE carried NLM_F_REPLACE: whatever held the same table/prefix/metric is gone. */
  readonly replaced: boolean;
  readonly head: RouteHead;
  /** The whole route, decoded on first call; callable only while the listener runs (the receive
   * buffer is reused afterwards), so a listener that keeps the route keeps this result. */
  route(): KernelRoute;
}

/** A RouteEvent for an already decoded route (tests, other backends). */
export function routeEvent(action: 'new' | 'delete', route: KernelRoute, replaced = false): RouteEvent {
  const head = { prefix: route.prefix, table: route.table, protocol: route.protocol, metric: route.metric };
  return { kind: 'route', action, replaced, head, route: () => route };
}

export type KernelEvent =
  | RouteEvent
  | { readonly kind: 'link'; readonly action: 'new' | 'delete'; readonly link: KernelLink }
  | { readonly kind: 'address'; readonly action: 'new' | 'delete'; readonly address: KernelAddress }
  /** The kernel dropped notifications (ENOBUFS): every view built from events must resynchronise. */
  | { readonly kind: 'overrun' };

export interface BackendCounters {
  /** rtnetlink messages sent (route writes and dump requests). */
  readonly messagesSent: number;
  /** sendto() calls. */
  readonly datagramsSent: number;
  /** Kernel notifications received. */
  readonly eventsReceived: number;
  /** Of those, echoes of our own writes, not delivered. */
  readonly echoesDropped: number;
  /** ENOBUFS on a socket. */
  readonly overruns: number;
}

/**
 * How the engine reaches the kernel. `open()`/`close()` are reference-counted so the engine and the
 * next-hop resolver can share one backend.
 */
export interface FibBackend {
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * Writes `ops` in order (the kernel applies them in order) and resolves with one result per op.
   * Never rejects: a failed send becomes a failed result for each op.
   */
  apply(ops: readonly FibOp[]): Promise<FibOpResult[]>;
  dumpRoutes(filter: RouteDumpFilter): Promise<KernelRoute[]>;
  dumpLinks(): Promise<KernelLink[]>;
  /**
   * Kernel route, link and address notifications; returns the unsubscribe function. Notifications
   * caused by this backend's own apply() are not delivered: the acknowledgement already said it.
   */
  subscribe(listener: (event: KernelEvent) => void): () => void;
  readonly counters: BackendCounters;
}

// ---------------------------------------------------------------------------------------------------
// The engine's options and what it reports (fib.ts)

export interface FibOptions {
  /** Kernel table (default 254, main). */
  readonly table?: number;
  /** rtm_protocol of Brindle's routes (default 205, the config's `fib.protocol`). */
  readonly protocol?: number;
  /** stop() leaves routes in place (graceful restart) unless told otherwise (default true). */
  readonly keepRoutesOnStop?: boolean;
  /** Datagrams written before waiting for their fences (default 8). */
  readonly maxBatchesInFlight?: number;
  /** Backoff for refused writes: initialMs · 2^(attempt-1), at most maxMs (defaults 1 s, 60 s). */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** Debounce before a resync triggered by link/address changes or lost notifications (100 ms). */
  readonly resyncDelayMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export type FibState = 'stopped' | 'starting' | 'running' | 'stopping';

export interface FibStatus {
  readonly state: FibState;
  /** Routes in the desired state. */
  readonly desired: number;
  /** Brindle routes the kernel holds (as far as acknowledgements and notifications say). */
  readonly installed: number;
  /** Prefixes waiting to be written, in flight included. */
  readonly backlog: number;
  readonly inFlight: number;
  /** Prefixes whose last write was refused, waiting for a retry. */
  readonly failed: number;
}

export interface FibCounters {
  /** Routes added or replaced (acknowledged). */
  readonly routesWritten: number;
  readonly routesDeleted: number;
  /** Refused writes (every attempt counts). */
  readonly writeFailures: number;
  /** Routes rewritten because someone else deleted or changed them. */
  readonly restored: number;
  readonly resyncs: number;
}

export interface FibFailure {
  readonly prefix: string;
  readonly errno: number;
  /** errno name, e.g. "ENETUNREACH". */
  readonly code: string;
  /** The kernel's extended-ack message, or why the engine did not write. */
  readonly message?: string;
  readonly attempts: number;
  readonly retryInMs: number;
}

export interface ReconcileSummary {
  /** Already in the kernel as desired: not rewritten. */
  readonly kept: number;
  readonly added: number;
  readonly replaced: number;
  /** Stale Brindle routes deleted (or left for prune() with `deferPrune`). */
  readonly deleted: number;
  /** Refused writes at the end of the initial reconcile. */
  readonly failed: number;
}

export interface StartOptions {
  /**
   * Graceful restart: leave Brindle routes that are not (yet) desired in place until prune() — the
   * daemon calls it once the RIB has converged (End-of-RIB), so forwarding never has a gap.
   */
  readonly deferPrune?: boolean;
}

/** Kernel writes by operation since the engine was created: acknowledged, and refused or unanswered. */
export type FibWriteTally = Readonly<Record<FibOp['op'], { readonly ok: number; readonly failed: number }>>;

/** Counts per IP version (the metrics label them with the family name). */
export interface FibFamilyCounts {
  readonly ipv4: number;
  readonly ipv6: number;
}

/** What the engine holds and has done, for the metrics (read on scrape; nothing is walked). */
export interface FibActivity {
  readonly desired: FibFamilyCounts;
  /** Brindle routes the kernel holds, as acknowledgements, dumps and notifications say. */
  readonly installed: FibFamilyCounts;
  readonly writes: FibWriteTally;
  /** Reconciles (kernel dump and diff) completed: the one at start and every resync. */
  readonly reconciles: number;
  /** The engine clock's time of the last completed reconcile. */
  readonly lastReconcileAt?: number;
  /** Times the kernel dropped route notifications (ENOBUFS), each answered by a resync. */
  readonly overruns: number;
}

/**
 * installed: the kernel holds Brindle's route as desired. pending: a write is queued or in flight.
 * failed: the last write was refused; it is retried with backoff. stale: Brindle's route is in the
 * kernel but no longer desired (kept until prune() after a restart, or being deleted).
 */
export type FibRouteState = 'installed' | 'pending' | 'failed' | 'stale';

/** One prefix as the engine sees it: what Brindle wants there and what the kernel holds. */
export interface FibRouteReport {
  readonly prefix: Prefix;
  readonly state: FibRouteState;
  readonly desired?: FibRoute;
  /** Brindle's route in the kernel, next hops named by device. */
  readonly kernel?: FibRoute;
  readonly failure?: FibFailure;
}
