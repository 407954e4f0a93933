// A FibBackend over an in-memory kernel table, for engine tests that drive time (ManualClock) instead
// of a namespace. It keeps the rtnetlink semantics the engine relies on: routes keyed by table, prefix
// and metric; NLM_F_EXCL adds refuse an occupied key (EEXIST) whoever owns it; deletes name a protocol
// and refuse anyone else's route (ESRCH); an IPv4 gateway outside every connected network is
// ENETUNREACH; every change made by someone else is notified, a turn later, as the monitor socket
// would (a backend's own writes are not: NetlinkBackend counts their echoes out).
import { constants } from 'node:os';
import { parseIpv4 } from '../../src/lib/address.ts';
import { formatPrefix, maskWord, parsePrefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import { effectiveMetric } from '../../src/fib/desired.ts';
import { IFF_UP, RTN_UNICAST } from '../../src/fib/netlink.ts';
import { routeEvent } from '../../src/fib/types.ts';
import type {
  BackendCounters,
  FibBackend,
  FibOp,
  FibOpResult,
  KernelEvent,
  KernelLink,
  KernelRoute,
  RouteDumpFilter,
} from '../../src/fib/types.ts';

const { EEXIST, ENETUNREACH, ESRCH } = constants.errno;

export function prefix(text: string): Prefix {
  const parsed = parsePrefix(text);
  if (!parsed) throw new TypeError(text);
  return parsed;
}

function routeKey(route: KernelRoute): string {
  return `${route.table}|${formatPrefix(route.prefix)}|${effectiveMetric(route.prefix, route.metric)}`;
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class FakeKernel implements FibBackend {
  readonly routes = new Map<string, KernelRoute>();
  links: KernelLink[] = [
    { ifindex: 1, name: 'lo', flags: IFF_UP },
    { ifindex: 2, name: 'v0', flags: IFF_UP },
  ];
  /** IPv4 networks a gateway must be on (connected routes). */
  connected = ['10.0.0.0/24'];
  /** Every op applied, in order (what was "sent"). */
  readonly written: FibOp[] = [];
  applyCalls = 0;
  opened = 0;
  private readonly listeners = new Set<(event: KernelEvent) => void>();

  open(): Promise<void> {
    this.opened += 1;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.opened -= 1;
    return Promise.resolve();
  }

  get counters(): BackendCounters {
    return {
      messagesSent: this.written.length,
      datagramsSent: this.applyCalls,
      eventsReceived: 0,
      echoesDropped: 0,
      overruns: 0,
    };
  }

  subscribe(listener: (event: KernelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async apply(ops: readonly FibOp[]): Promise<FibOpResult[]> {
    this.applyCalls += 1;
    const results = ops.map((op) => {
      this.written.push(op);
      return this.applyOne(op);
    });
    await tick();
    return results;
  }

  async dumpRoutes(filter: RouteDumpFilter): Promise<KernelRoute[]> {
    await tick();
    return [...this.routes.values()].filter(
      (r) =>
        r.table === filter.table &&
        (filter.protocol === undefined || r.protocol === filter.protocol) &&
        (filter.family === undefined || (r.prefix.afi === 1 ? 4 : 6) === filter.family),
    );
  }

  async dumpLinks(): Promise<KernelLink[]> {
    await tick();
    return [...this.links];
  }

  /** What someone else (`ip route …`) does: change the table and notify. */
  external(action: 'new' | 'delete', route: KernelRoute, replaced = false): void {
    if (action === 'new') this.routes.set(routeKey(route), route);
    else this.routes.delete(routeKey(route));
    this.notify(routeEvent(action, route, replaced));
  }

  /** A link going down the IPv4 way: its routes vanish without a route notification. */
  linkDown(name: string): void {
    const link = this.links.find((l) => l.name === name);
    if (!link) return;
    const down = { ...link, flags: link.flags & ~IFF_UP };
    this.links = this.links.map((l) => (l === link ? down : l));
    for (const [key, route] of this.routes) {
      if (route.nextHops.some((h) => h.ifindex === link.ifindex || h.gateway?.startsWith('10.0.0.'))) {
        this.routes.delete(key);
      }
    }
    this.connected = this.connected.filter((c) => c !== '10.0.0.0/24');
    this.notify({ kind: 'link', action: 'new', link: down });
  }

  linkUp(name: string, network = '10.0.0.0/24'): void {
    const link = this.links.find((l) => l.name === name);
    if (!link) return;
    const up = { ...link, flags: link.flags | IFF_UP };
    this.links = this.links.map((l) => (l === link ? up : l));
    this.connected.push(network);
    this.notify({ kind: 'link', action: 'new', link: up });
  }

  addLink(link: KernelLink): void {
    this.links.push(link);
    this.notify({ kind: 'link', action: 'new', link });
  }

  find(text: string, table = 100): KernelRoute[] {
    return [...this.routes.values()].filter((r) => r.table === table && formatPrefix(r.prefix) === text);
  }

  private applyOne(op: FibOp): FibOpResult {
    const { route } = op;
    const key = routeKey(route);
    const existing = this.routes.get(key);
    if (op.op === 'delete') {
      if (!existing || existing.protocol !== route.protocol) return { ok: false, errno: ESRCH };
      this.routes.delete(key);
      return { ok: true }; // a backend does not notify its own writes
    }
    if (op.op === 'add' && existing) return { ok: false, errno: EEXIST, message: 'File exists' };
    if (route.type === RTN_UNICAST && !this.reachable(route)) {
      return { ok: false, errno: ENETUNREACH, message: 'Nexthop has invalid gateway' };
    }
    const stored = { ...route, metric: effectiveMetric(route.prefix, route.metric) };
    this.routes.set(key, stored);
    return { ok: true };
  }

  private reachable(route: KernelRoute): boolean {
    return route.nextHops.every((hop) => {
      if (hop.gateway === undefined || (hop.flags & 4) !== 0) return true;
      const gateway = parseIpv4(hop.gateway);
      if (gateway < 0) return true;
      return this.connected.some((network) => {
        const p = prefix(network);
        return maskWord(gateway, p.length) === p.w0;
      });
    });
  }

  private notify(event: KernelEvent): void {
    setImmediate(() => {
      for (const listener of this.listeners) listener(event);
    });
  }
}
